/* cio/loop.h - the event loop.
 *
 * Like asyncio's loop: a single-threaded scheduler with one FIFO ready queue
 * and a timer heap, backed by libev (or, built --without-libev, by a bare
 * backend). Callbacks and task steps run only from the loop's run-once step,
 * each iteration running what was ready when it started.
 *
 * Errors: CIO_ECLOSED after cio_loop_close, CIO_EBUSY when the loop is run
 * from inside itself, CIO_ENOMEM when an allocation fails. A failing call
 * changes nothing.
 */
#ifndef CIO_LOOP_H
#define CIO_LOOP_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

/* A callback for call_soon/call_later/call_at; a negative return is
 * reported to the exception handler and the loop goes on. */
typedef int (*cio_callback_fn)(cio_loop *loop, void *arg);

/* What the exception handler is told (asyncio's context dict). */
typedef struct cio_exception_context {
    const char *message;   /* "Exception in callback", ... */
    int err;               /* the error code */
    cio_handle *handle;    /* the callback's handle, or NULL */
    cio_future *future;    /* the future or task concerned, or NULL */
    double seconds;        /* debug mode's slow callback: how long it ran */
} cio_exception_context;

/* An exception handler: told about errors nobody else will see. */
typedef void (*cio_exception_handler_fn)(cio_loop *loop,
                                         const cio_exception_context *ctx,
                                         void *arg);

/* A new loop; NULL if out of memory or the backend failed to start. */
CIO_API cio_loop *cio_loop_new(void);

/* A new loop in caller storage of `size` bytes (aligned for a pointer and a
 * double): no heap. At least CIO_LOOP_SIZE bytes; what is left beyond the
 * loop itself is where its futures, callbacks, handles, gathers and waits
 * (objects up to 512 bytes) are carved from before any heap is used. NULL if
 * storage is too small or misaligned. cio_loop_free never frees storage. */
CIO_API cio_loop *cio_loop_new_in(void *storage, size_t size);

/* Bytes the loop itself takes in cio_loop_new_in storage (an upper bound). */
#define CIO_LOOP_SIZE (200 * sizeof(void *) + 128)

/* Close (if needed) and free the loop: pending callbacks never run, tasks
 * still pending are reported and freed. Every future, task and handle of
 * the loop goes with it: release your references first. CIO_EBUSY (nothing
 * done) if running. */
CIO_API int cio_loop_free(cio_loop *loop);

/* Close the loop: drop pending callbacks and timers unrun. A second close is
 * a no-op. CIO_EBUSY if the loop is running. */
CIO_API int cio_loop_close(cio_loop *loop);

/* Run until f is done (taking the caller's reference to f); return f's error
 * (0 on success) and store its result in *result (may be NULL). A future that
 * is done already costs exactly one iteration. CIO_ESTOPPED if the loop was
 * stopped first, CIO_EBUSY if a loop runs already, CIO_ECLOSED after close, CIO_EWRONGLOOP if f belongs to another loop, CIO_ENOMEM for
 * a NULL f. The future stays referenced by the loop until the next run or
 * cio_loop_free, so a pointer result into it (a gather's) stays valid. */
CIO_API int cio_loop_run_until_complete(cio_loop *loop, cio_future *f, cio_value *result);

/* Run until cio_loop_stop. CIO_EBUSY if this loop, or another one on this
 * thread, is already running; CIO_ECLOSED after close. */
CIO_API int cio_loop_run_forever(cio_loop *loop);

/* Call in the child after fork() (asyncio has no equivalent; libev's
 * ev_loop_fork): the loop gets its own OS resources and goes on with its
 * tasks and timers, in both processes. CIO_EBUSY if the loop is running
 * or run_in_executor / run_coroutine_threadsafe work is in flight (it
 * cannot follow into the child; nothing changes), CIO_ECLOSED, and
 * CIO_ENOTSUP on the bare backend. */
CIO_API int cio_loop_fork(cio_loop *loop);

/* Stop after the current iteration (before the next one if not running). */
CIO_API void cio_loop_stop(cio_loop *loop);

/* Nonzero while the loop runs / after it was closed. */
CIO_API int cio_loop_is_running(const cio_loop *loop);
CIO_API int cio_loop_is_closed(const cio_loop *loop);

/* The loop's monotonic clock, in seconds. */
CIO_API double cio_loop_time(cio_loop *loop);

/* The loop's pending tasks (asyncio.all_tasks): how many there are; the
 * first `cap` go to out (borrowed). */
CIO_API size_t cio_loop_all_tasks(cio_loop *loop, cio_future **out, size_t cap);

/* Debug mode: report every callback or task step that runs longer than
 * `slow` seconds to the exception handler ("Executing ... took ...
 * seconds", err 0). slow < 0 turns it off (the default). */
CIO_API void cio_loop_set_debug(cio_loop *loop, double slow);

/* How many iterations (run-once steps) the loop has run. */
CIO_API unsigned long cio_loop_iteration(const cio_loop *loop);

/* Schedule cb(loop, arg) for the next iteration, FIFO. If handle is not
 * NULL it receives a reference to a cancellable handle (cio_handle_unref).
 * 0, CIO_EINVAL (cb NULL), CIO_ECLOSED, CIO_ENOMEM; the same for
 * call_later and call_at (and CIO_EINVAL for a NaN time). */
CIO_API int cio_loop_call_soon(cio_loop *loop, cio_callback_fn cb, void *arg,
                               cio_handle **handle);

/* Schedule cb after delay seconds (a negative delay is in the past: it runs
 * on the next iteration, before later deadlines, as in asyncio). */
CIO_API int cio_loop_call_later(cio_loop *loop, double delay, cio_callback_fn cb,
                                void *arg, cio_handle **handle);

/* Schedule cb at loop time `when`; equal deadlines run in call order. */
CIO_API int cio_loop_call_at(cio_loop *loop, double when, cio_callback_fn cb,
                             void *arg, cio_handle **handle);

/* Cancel: the callback will not run (no effect if it ran already). */
CIO_API void cio_handle_cancel(cio_handle *h);

/* Nonzero if the handle was cancelled. */
CIO_API int cio_handle_cancelled(const cio_handle *h);

/* A timer handle's deadline in loop time; -1 for a call_soon handle. */
CIO_API double cio_handle_when(const cio_handle *h);

/* Drop the reference call_soon/later/at gave (NULL is ignored). */
CIO_API void cio_handle_unref(cio_handle *h);

/* Replace the exception handler (NULL restores the default, which prints
 * to stderr). */
CIO_API void cio_loop_set_exception_handler(cio_loop *loop,
                                            cio_exception_handler_fn fn, void *arg);

/* Report ctx to the loop's exception handler. */
CIO_API void cio_loop_call_exception_handler(cio_loop *loop,
                                             const cio_exception_context *ctx);

/* The default handler: one line on stderr. */
CIO_API void cio_loop_default_exception_handler(cio_loop *loop,
                                                const cio_exception_context *ctx);

/* ---- fd readiness, signals, other threads: libev builds only (a
 * --without-libev build has none of these; see cio/bare.h for its
 * wake-ups). Callbacks run from the loop, never inside a signal handler or
 * a libev callback. Remove a watcher before closing its fd. ---- */

/* Call cb(loop, arg) on every iteration while fd is readable; replaces an
 * earlier reader of fd. 0, CIO_EINVAL (fd < 0, cb NULL), CIO_ECLOSED,
 * CIO_ENOMEM. */
CIO_API int cio_loop_add_reader(cio_loop *loop, int fd, cio_callback_fn cb, void *arg);

/* Stop watching fd for reading: 1 if a reader was removed, 0 if none. */
CIO_API int cio_loop_remove_reader(cio_loop *loop, int fd);

/* The same for writability. */
CIO_API int cio_loop_add_writer(cio_loop *loop, int fd, cio_callback_fn cb, void *arg);
CIO_API int cio_loop_remove_writer(cio_loop *loop, int fd);

/* Run cb(loop, arg) from the loop after signal signum arrives (several
 * arrivals before it runs count once); replaces an earlier handler. Sets
 * the process's disposition for signum while installed. CIO_EINVAL (not a
 * signal number), CIO_ENOTSUP (SIGKILL, SIGSTOP), CIO_EINVALSTATE (not
 * the main thread), CIO_EBUSY (another loop handles it), CIO_ENOMEM. */
CIO_API int cio_loop_add_signal_handler(cio_loop *loop, int signum,
                                        cio_callback_fn cb, void *arg);

/* Remove the handler of signum (the default disposition comes back): 1 if
 * one was removed, 0 if none, CIO_EINVAL if signum is not a signal. */
CIO_API int cio_loop_remove_signal_handler(cio_loop *loop, int signum);

/* From any thread: run cb(loop, arg) on the loop thread in its next
 * iteration, waking the loop up if it is blocked. The loop must outlive the
 * call. 0, CIO_EINVAL, CIO_ENOMEM. */
CIO_API int cio_loop_call_soon_threadsafe(cio_loop *loop, cio_callback_fn cb, void *arg);

/* From any thread: stop the loop, waking it up if it is blocked (a plain
 * cio_loop_stop from another thread may not wake it). Same returns. */
CIO_API int cio_loop_stop_threadsafe(cio_loop *loop);

/* Run fn(arg, &result) in a new thread (asyncio's to_thread): the future
 * is done with result, or fails with fn's negative return. fn must not
 * touch the loop; freeing the loop waits for the thread. NULL if out of
 * memory or no thread could be started. */
CIO_API cio_future *cio_loop_run_in_thread(cio_loop *loop,
                                           int (*fn)(void *arg, cio_value *result),
                                           void *arg);

CIO_EXTERN_C_END

#endif /* CIO_LOOP_H */
