/* cio/timeout.h - timeout scopes, like asyncio.timeout / timeout_at.
 *
 * A deadline over several awaits of one coroutine. When it passes, the task
 * is cancelled (its current await sees CIO_ECANCELLED); leaving the scope
 * turns that cancellation into CIO_ETIMEDOUT. The deadline can be moved
 * while the scope is open. Keep the scope in the frame, enter it in the
 * body and leave it where the outcome is known - typically the finally
 * section, which also runs when the cancellation propagates:
 *
 *     CIO_ASYNC(fetch, cio_timeout tmo;)
 *     {
 *         CIO_BEGIN();
 *         cio_timeout_enter(loop, &self->tmo, 0.5);
 *         CIO_AWAIT(step_one(...));
 *         CIO_AWAIT(step_two(...));
 *         CIO_FINALLY();
 *         CIO_ERROR = cio_timeout_exit(&self->tmo, CIO_ERROR);
 *         CIO_END();
 *     }
 */
#ifndef CIO_TIMEOUT_H
#define CIO_TIMEOUT_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

/* Storage for a scope (its layout is private). */
typedef struct cio_timeout {
    double opaque_[8];  /* private */
} cio_timeout;

/* Open a scope in the running task with a deadline `delay` seconds from
 * now (delay < 0: no deadline yet). CIO_ENOLOOP outside a task,
 * CIO_EINVAL for a NaN delay. */
CIO_API int cio_timeout_enter(cio_loop *loop, cio_timeout *scope, double delay);
/* The same with an absolute deadline in loop time (when < 0: none). */
CIO_API int cio_timeout_enter_at(cio_loop *loop, cio_timeout *scope, double when);
/* Move the deadline of an open scope (when < 0: none). CIO_EINVALSTATE if
 * the scope is not open or has expired already. */
CIO_API int cio_timeout_reschedule(cio_timeout *scope, double when);
/* The deadline in loop time, or -1. */
CIO_API double cio_timeout_when(const cio_timeout *scope);
/* Nonzero once the deadline passed while the scope was open. */
CIO_API int cio_timeout_expired(const cio_timeout *scope);
/* Close the scope given the body's outcome `err`; returns the outcome to
 * use: CIO_ETIMEDOUT for the cancellation the deadline caused, else err. */
CIO_API int cio_timeout_exit(cio_timeout *scope, int err);

CIO_EXTERN_C_END

#endif /* CIO_TIMEOUT_H */
