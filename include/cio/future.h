/* cio/future.h - futures: a result that arrives later.
 *
 * Like asyncio.Future. A future is pending, then done with a result (an
 * integer or a pointer), done with an error code, or cancelled. Tasks are
 * futures too, so every function here takes a task.
 *
 * Ownership: futures are reference counted. A function that returns a
 * cio_future * gives the caller one reference. Anything that takes a future
 * to await it (CIO_AWAIT, cio_gather, cio_wait, cio_loop_run_until_complete)
 * takes that reference over; call cio_future_ref first to keep one. A NULL
 * future stands for "could not be created" and is awaited as CIO_ENOMEM.
 * Futures live in their loop's memory: release them before cio_loop_free.
 *
 * Done callbacks never run inside set_result/set_error/cancel: they are
 * scheduled on the loop, in registration order (asyncio's F6).
 */
#ifndef CIO_FUTURE_H
#define CIO_FUTURE_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

/* A done callback; a negative return is reported to the exception handler. */
typedef int (*cio_done_fn)(cio_future *f, void *arg);

/* A new pending future bound to loop; NULL if out of memory. */
CIO_API cio_future *cio_future_new(cio_loop *loop);

/* The same in caller storage of `size` >= CIO_FUTURE_SIZE bytes, aligned for
 * a pointer and a double (no heap); the last reference never frees it. NULL
 * if storage is too small or misaligned, or the loop is closed. */
CIO_API cio_future *cio_future_new_in(cio_loop *loop, void *storage, size_t size);
#define CIO_FUTURE_SIZE (4 * sizeof(void *) + 16)

/* Take one more reference to f; returns f. */
CIO_API cio_future *cio_future_ref(cio_future *f);

/* Drop a reference; the last one frees f (NULL is ignored). Freeing a future
 * whose error nobody retrieved reports it to the loop's exception handler. */
CIO_API void cio_future_unref(cio_future *f);

/* The loop f belongs to. */
CIO_API cio_loop *cio_future_loop(const cio_future *f);

/* Nonzero once f is done (with a result, an error, or cancelled). */
CIO_API int cio_future_done(const cio_future *f);

/* Nonzero if f was cancelled. */
CIO_API int cio_future_cancelled(const cio_future *f);

/* Get f's outcome: 0 and *out (may be NULL) on a result; f's error code;
 * CIO_ECANCELLED if cancelled; CIO_EINVALSTATE if still pending. */
CIO_API int cio_future_result(cio_future *f, cio_value *out);

/* f's error: 0 for a result, its code, CIO_ECANCELLED, or CIO_EINVALSTATE
 * if pending. Marks the error as retrieved (asyncio's exception()). */
CIO_API int cio_future_error(cio_future *f);

/* f's result as an integer / a pointer (0 / NULL unless done with a result). */
CIO_API ptrdiff_t cio_future_int(cio_future *f);
CIO_API void *cio_future_ptr(cio_future *f);

/* Complete f with a result. CIO_EINVALSTATE if f is done already, CIO_ENOTSUP
 * for a task (a task's result is what its coroutine returns). */
CIO_API int cio_future_set_result(cio_future *f, cio_value v);
CIO_API int cio_future_set_int(cio_future *f, ptrdiff_t i);
CIO_API int cio_future_set_ptr(cio_future *f, void *p);

/* Complete f with error err (< 0, else CIO_EINVAL); same states as above. */
CIO_API int cio_future_set_error(cio_future *f, int err);

/* Cancel f: 1 if it is now cancelled (or, for a task, will be), 0 if it was
 * done already. msg (kept by pointer, may be NULL) is the cancel message. */
CIO_API int cio_future_cancel(cio_future *f, const char *msg);

/* The message given to cio_future_cancel, or NULL. */
CIO_API const char *cio_future_cancel_message(const cio_future *f);

/* Call cb(f, arg) on the loop once f is done (at once scheduled if it is).
 * 0, CIO_EINVAL (cb NULL) or CIO_ENOMEM. */
CIO_API int cio_future_add_done_callback(cio_future *f, cio_done_fn cb, void *arg);

/* Remove every registration of (cb, arg); returns how many were removed. */
CIO_API int cio_future_remove_done_callback(cio_future *f, cio_done_fn cb, void *arg);

CIO_EXTERN_C_END

#endif /* CIO_FUTURE_H */
