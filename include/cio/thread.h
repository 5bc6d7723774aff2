/* cio/thread.h - loops and other threads: run a coroutine on a loop from
 * another thread and wait for it there; run blocking functions on the
 * loop's small worker pool (libev builds only, like the rest of the
 * cross-thread API in cio/loop.h).
 *
 * From a thread that is not the loop's:
 *
 *     cio_thread_future *tf = CIO_RUN_THREADSAFE(loop, fetch, .url = "x");
 *     cio_value v;
 *     int err = cio_thread_future_wait(tf, 1.0, &v);   // blocks this thread
 *     cio_thread_future_free(tf);
 *
 * On the loop thread (asyncio's run_in_executor(None, fn, arg)):
 *
 *     CIO_AWAIT(cio_loop_run_in_executor(loop, sum, numbers));
 *
 * Asyncio's run_coroutine_threadsafe and its concurrent future. The frame
 * is copied in the calling thread; the task is created on the loop thread
 * (through call_soon_threadsafe's queue); its outcome reaches the waiter
 * through a mutex and a condition variable. The thread future is reference
 * counted between the caller and the loop, so either side may go first: the
 * waiter may time out and free it while the task runs on, and a loop freed
 * before the task finished completes it with CIO_ECLOSED.
 */
#ifndef CIO_THREAD_H
#define CIO_THREAD_H

#include "cio/common.h"
#include "cio/task.h"

CIO_EXTERN_C_BEGIN

/* A coroutine's outcome, waited for from another thread. */
typedef struct cio_thread_future cio_thread_future;

/* From any thread: start a task of async function `type` (frame copied
 * from `frame`, made like CIO_START's) on `loop` in its next iteration,
 * waking it up. The loop must outlive the call. NULL if out of memory,
 * arguments are bad, or the loop is being freed. */
CIO_API cio_thread_future *cio_run_coroutine_threadsafe(cio_loop *loop,
                                                        const cio_task_type *type,
                                                        const void *frame);

/* cio_run_coroutine_threadsafe for async function `name`:
 * CIO_RUN_THREADSAFE(loop, fetch, .url = "x"). */
#define CIO_RUN_THREADSAFE(loop, name, ...)                                   \
    cio_run_coroutine_threadsafe((loop), &name##__type,                       \
                                 &(name){ .cio = { 0 }, __VA_ARGS__ })

/* Block the calling thread until the task is done, at most `timeout`
 * seconds (< 0: no limit). Returns the task's error (0: *result, may be
 * NULL, holds its result), CIO_ECANCELLED, CIO_ECLOSED (the loop was freed
 * first), or CIO_ETIMEDOUT (still running; wait again or free). Never call
 * it on the loop's own thread with a timeout < 0: the loop cannot run. */
CIO_API int cio_thread_future_wait(cio_thread_future *tf, double timeout,
                                   cio_value *result);

/* Nonzero once tf is done (with an outcome or cancelled). */
CIO_API int cio_thread_future_done(cio_thread_future *tf);

/* From any thread: cancel. tf is cancelled at once (waiters get
 * CIO_ECANCELLED) and the task is cancelled on the loop thread. 1, or 0 if
 * tf was done already. Call it while the loop exists. */
CIO_API int cio_thread_future_cancel(cio_thread_future *tf);

/* Drop the caller's reference (NULL is ignored). It does not cancel: the
 * task runs on and its outcome is dropped. */
CIO_API void cio_thread_future_free(cio_thread_future *tf);

/* On the loop thread: run fn(arg, &result) on the loop's worker pool (up to
 * CIO_EXECUTOR_THREADS threads, started on first use; jobs run FIFO). The
 * future is done with result, or fails with fn's negative return; fn must
 * not touch the loop. Cancelling the future does not stop fn once it runs.
 * cio_loop_free cancels jobs still queued and waits for running ones. NULL
 * if out of memory, fn is NULL, the loop is closed or no thread could be
 * started. */
CIO_API cio_future *cio_loop_run_in_executor(cio_loop *loop,
                                             int (*fn)(void *arg, cio_value *result),
                                             void *arg);

/* The size of the worker pool. */
#define CIO_EXECUTOR_THREADS 4

CIO_EXTERN_C_END

#endif /* CIO_THREAD_H */
