/* cio/combinators.h - gather and wait.
 *
 * Both take over the caller's references to the futures they are given
 * (see cio/future.h) and keep them while they live; results are read from
 * the gather / wait future while you hold it (after CIO_AWAIT, until the
 * next await).
 */
#ifndef CIO_COMBINATORS_H
#define CIO_COMBINATORS_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

/* asyncio.gather: done when all of futs are, results in argument order.
 * The first error completes the gather with that error at once, without
 * cancelling the others (their later errors count as retrieved). Cancelling
 * the gather cancels every child. n == 0 gives a future done at once. A NULL
 * entry counts as a child failed with CIO_ENOMEM. NULL if out of memory (the
 * futures are then released). */
CIO_API cio_future *cio_gather(cio_loop *loop, size_t n, cio_future *const *futs);

/* The same; with return_exceptions nonzero, child errors (and
 * cancellations) are results too and the gather never fails. */
CIO_API cio_future *cio_gather_ex(cio_loop *loop, size_t n, cio_future *const *futs,
                                  int return_exceptions);

/* Number of children of a gather (0 if g is not one). */
CIO_API size_t cio_gather_size(const cio_future *g);

/* Child i's outcome: 0 and *out (may be NULL), its error, CIO_EINVALSTATE if
 * pending, CIO_EINVAL if g is not a gather or i is out of range. */
CIO_API int cio_gather_result(const cio_future *g, size_t i, cio_value *out);

/* Child i of a gather (borrowed), or NULL. */
CIO_API cio_future *cio_gather_child(const cio_future *g, size_t i);

/* When cio_wait returns. */
typedef enum cio_return_when {
    CIO_ALL_COMPLETED = 0,
    CIO_FIRST_COMPLETED = 1,
    CIO_FIRST_EXCEPTION = 2
} cio_return_when;

/* asyncio.wait: a future done when return_when is met or timeout seconds
 * passed (timeout < 0: no timeout). It never fails and never cancels a
 * child; read the done and pending sets from it. n == 0 or a bad return_when
 * gives a future failed with CIO_EINVAL. NULL if out of memory (the futures
 * are then released). */
CIO_API cio_future *cio_wait(cio_loop *loop, size_t n, cio_future *const *futs,
                             double timeout, cio_return_when return_when);

/* The done set of a completed wait, in argument order (borrowed): *n gets
 * its size. NULL and 0 if w is not a done wait. */
CIO_API cio_future *const *cio_wait_done(const cio_future *w, size_t *n);

/* The pending set of a completed wait, in argument order (borrowed). */
CIO_API cio_future *const *cio_wait_pending(const cio_future *w, size_t *n);

CIO_EXTERN_C_END

#endif /* CIO_COMBINATORS_H */
