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

/* asyncio.wait_for: inner's outcome, or after `timeout` seconds (< 0: no
 * timeout, a plain await; 0: now; NaN: fails with CIO_EINVAL) the inner is cancelled and, once it has
 * finished, the future fails with CIO_ETIMEDOUT - unless the inner ignored
 * the cancel and returned, whose value it then gives. Cancelling it
 * cancels the inner, and it ends cancelled once the inner has finished.
 * Takes the reference to inner. */
CIO_API cio_future *cio_wait_for(cio_loop *loop, cio_future *inner, double timeout);

/* asyncio.shield: a future with inner's outcome; cancelling it leaves the
 * inner running; the inner cancelled cancels it. shield of a done future
 * is that future. Takes the reference to inner. */
CIO_API cio_future *cio_shield(cio_loop *loop, cio_future *inner);

/* asyncio.as_completed: an iterator over the outcomes of futs in the order
 * they complete, with an optional timeout (< 0: none). Takes the
 * references; NULL (references released) on a NULL entry, a future of
 * another loop, a NaN timeout, or out of memory. */
typedef struct cio_as_completed cio_as_completed;
CIO_API cio_as_completed *cio_as_completed_new(cio_loop *loop, size_t n, cio_future *const *futs,
                                               double timeout);
/* The next outcome: the next child's result or error; CIO_ETIMEDOUT once
 * the timeout ran out, CIO_EEMPTY after the last. */
CIO_API cio_future *cio_as_completed_next(cio_as_completed *it);
/* The child the last next() gave (borrowed), or NULL. */
CIO_API cio_future *cio_as_completed_last(const cio_as_completed *it);
/* Free it (and its references): 0, or CIO_EBUSY while a next() waits. */
CIO_API int cio_as_completed_free(cio_as_completed *it);

/* When cio_wait returns. */
typedef enum cio_return_when {
    CIO_ALL_COMPLETED = 0,
    CIO_FIRST_COMPLETED = 1,
    CIO_FIRST_EXCEPTION = 2
} cio_return_when;

/* asyncio.wait: a future done when return_when is met or timeout seconds
 * passed (timeout < 0: no timeout; NaN: failed with CIO_EINVAL). It never fails and never cancels a
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
