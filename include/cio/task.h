/* cio/task.h - async functions, tasks, await, sleep.
 *
 * An async function is declared with CIO_ASYNC; its frame holds its
 * arguments and the locals it keeps across awaits (see the limits at the top
 * of cio/coro.h). Inside the body, `self` is the frame and `loop` the loop.
 *
 *     CIO_ASYNC(get_channel_user_info, const char *url;)
 *     {
 *         CIO_BEGIN();
 *         printf("request start %s\n", self->url);
 *         CIO_AWAIT(cio_sleep(loop, 1.0));      // an error propagates
 *         printf("request succ %s\n", self->url);
 *         CIO_END();
 *     }
 *
 *     cio_future *t = CIO_START(loop, get_channel_user_info, .url = "baidu");
 *
 * CIO_START makes a task (one allocation: the task and its frame); the task
 * starts on the next iteration, tasks in creation order. A task is a
 * cio_future (cio/future.h): await it, gather it, cancel it.
 *
 * Errors and cancellation: a body "raises" by finishing with a negative
 * code. CIO_AWAIT propagates the awaited error at once (running the finally
 * section); CIO_AWAIT_TRY leaves it in CIO_ERROR to handle. Cancelling a task
 * delivers CIO_ECANCELLED at its next await; a body that handles it and
 * returns normally is not cancelled (asyncio's T3, F13).
 */
#ifndef CIO_TASK_H
#define CIO_TASK_H

#include "cio/common.h"
#include "cio/coro.h"

CIO_EXTERN_C_BEGIN

/* What CIO_ASYNC generates for each async function. */
typedef struct cio_task_type {
    const char *name;                          /* the function's name */
    size_t frame_size;                         /* sizeof its frame */
    int (*step)(cio_coro *frame, cio_loop *loop); /* runs the body once */
} cio_task_type;

#if defined(__GNUC__) || defined(__clang__)
#  define CIO__UNUSED __attribute__((unused))
#else
#  define CIO__UNUSED
#endif

/* Declare an async function `name` whose frame has the given fields
 * (written as in a struct, each ending with ';'); the body follows. */
#define CIO_ASYNC(name, ...)                                                  \
    typedef struct name { cio_coro cio; __VA_ARGS__ } name;                   \
    static int name##__body(name *self, cio_loop *loop);                      \
    static CIO__UNUSED int name##__step(cio_coro *co, cio_loop *loop)         \
    {                                                                         \
        return name##__body((name *)(void *)co, loop);                        \
    }                                                                         \
    static CIO__UNUSED const cio_task_type name##__type =                     \
        { #name, sizeof(name), name##__step };                                \
    static int name##__body(name *self, cio_loop *loop)

/* Start async function `name` as a task; the remaining arguments are
 * designated initialisers for its frame (.url = "x"). Returns the task (a
 * new reference), or NULL if out of memory or the loop is closed. */
#define CIO_START(loop, name, ...)                                            \
    cio_task_new((loop), &name##__type, &(name){ .cio = { 0 }, __VA_ARGS__ })

/* The same in caller-owned storage of `size` bytes (no heap): needs
 * CIO_TASK_SIZE(name) bytes, aligned for a pointer and a double. The storage
 * must outlive the task's last reference. */
#define CIO_START_IN(loop, storage, size, name, ...)                          \
    cio_task_new_in((loop), &name##__type,                                    \
                    &(name){ .cio = { 0 }, __VA_ARGS__ }, (storage), (size))

/* Bytes of storage a task of async function `name` needs. */
#define CIO_TASK_SIZE(name) (CIO_TASK_HEADER_SIZE + sizeof(name))

/* A task's bookkeeping around its frame: 88 bytes on a 32-bit target, 136
 * on a 64-bit one (cio_task_size is exact; task.c checks this bound). */
#define CIO_TASK_HEADER_SIZE (12 * sizeof(void *) + 40)

/* Open / close a body. */
#define CIO_BEGIN() (void)loop; CIO_CORO_BEGIN(&self->cio)
#define CIO_END() CIO_CORO_END(&self->cio)

/* Start the finally section: runs on return, error and cancellation; may
 * not await. CIO_ERROR tells which (0, a code, CIO_ECANCELLED). */
#define CIO_FINALLY() CIO_CORO_FINALLY(&self->cio)

/* Finish with an integer / a pointer result, or with an error code. */
#define CIO_RETURN(v) CIO_CORO_RETURN(&self->cio, (v))
#define CIO_RETURN_PTR(p) CIO_CORO_RETURN_PTR(&self->cio, (p))
#define CIO_RAISE(err) CIO_CORO_RAISE(&self->cio, (err))

/* The outcome of the last await: its result (.i or .p) and its error. */
#define CIO_RESULT (self->cio.result)
#define CIO_ERROR (self->cio.err)

/* Await a future or task (taking the reference); an error propagates. The
 * awaited future stays referenced until the next await. */
#define CIO_AWAIT(fut)                                                        \
    do {                                                                      \
        CIO__AWAIT_N(CIO__ID, fut);                                           \
        if (self->cio.err) CIO_RAISE(self->cio.err);                          \
    } while (0)

/* Await without propagating: check CIO_ERROR afterwards. */
#define CIO_AWAIT_TRY(fut) CIO__AWAIT_N(CIO__ID, fut)

#define CIO__AWAIT_N(n, fut) CIO__SUSPEND_IF_N(n, cio__await(&self->cio, loop, (fut)))

/* Suspend at resume point n if `call` (cio__await, cio__yield) says so,
 * and read the outcome on resume. */
#define CIO__SUSPEND_IF_N(n, call) CIO__AWAIT_IN_N(n, call, cio__await_resume)

/* The same with the reader of its own: an awaiting statement of a
 * primitive (CIO_QUEUE_GET, CIO_CHAN_RECV...), where `run` does the
 * operation at once or starts it as the task's wait (CIO_CORO_PENDING) and
 * `resume(co, loop)` reads the outcome when the task runs again.
 * CIO__AWAIT_RAISE propagates an error. */
#define CIO__AWAIT_IN_N(n, run, resume)                                       \
    do {                                                                      \
        if ((run) == CIO_CORO_PENDING) {                                      \
            CIO__CORO_SUSPEND_N(&self->cio, n, self->cio.wait_on);            \
            resume(&self->cio, loop);                                         \
        }                                                                     \
    } while (0)
#define CIO__AWAIT_RAISE(stmt)                                                \
    do {                                                                      \
        stmt;                                                                 \
        if (self->cio.err) CIO_RAISE(self->cio.err);                          \
    } while (0)

/* Await async function `type` inline, without a task and without yielding
 * to the loop unless it suspends (asyncio's `await coro()`). Its frame lives
 * in this frame's field `field` (declared as `type field;`); the remaining
 * arguments initialise it. An error propagates; CIO_CALL_TRY keeps it. */
#define CIO_CALL(type, field, ...)                                            \
    do {                                                                      \
        CIO__CALL_N(CIO__ID, type, field, __VA_ARGS__);                       \
        if (self->cio.err) CIO_RAISE(self->cio.err);                          \
    } while (0)
#define CIO_CALL_TRY(type, field, ...) CIO__CALL_N(CIO__ID, type, field, __VA_ARGS__)

#define CIO__CALL_N(n, type, field, ...)                                      \
    do {                                                                      \
        cio__await_release(loop);                                             \
        self->field = (type){ .cio = { 0 }, __VA_ARGS__ };                    \
        CIO__CORO_CALL_N(&self->cio, n, &self->field.cio,                     \
                         type##__step(&self->field.cio, loop));               \
    } while (0)

/* Yield to the loop for exactly one iteration: CIO_AWAIT(cio_sleep(loop,
 * 0)), the same in every way (a cancellation arrives here), without making
 * the sleep. */
#define CIO_YIELD()                                                           \
    do {                                                                      \
        CIO__SUSPEND_IF_N(CIO__ID, cio__yield(&self->cio, loop));             \
        if (self->cio.err) CIO_RAISE(self->cio.err);                          \
    } while (0)

/* Make a task running `type` with its frame copied from `frame` (made by
 * CIO_START). NULL if out of memory or the loop is closed. */
CIO_API cio_future *cio_task_new(cio_loop *loop, const cio_task_type *type,
                                 const void *frame);

/* The same in caller storage (no allocation); NULL if size is too small or
 * storage is misaligned. The task never frees the storage. */
CIO_API cio_future *cio_task_new_in(cio_loop *loop, const cio_task_type *type,
                                    const void *frame, void *storage, size_t size);

/* Bytes of storage a task of `type` needs (cio_task_new_in). */
CIO_API size_t cio_task_size(const cio_task_type *type);

/* Nonzero if f is a task. */
CIO_API int cio_task_is_task(const cio_future *f);

/* The task running now on loop, or NULL (borrowed). */
CIO_API cio_future *cio_task_current(cio_loop *loop);

/* A task's name: the one set, else its async function's; NULL if f is not
 * a task. */
CIO_API const char *cio_task_name(const cio_future *task);

/* Name a task (the string is copied). CIO_ENOTTASK, CIO_ENOMEM. */
CIO_API int cio_task_set_name(cio_future *task, const char *name);

/* How many cancellations of the task are pending (asyncio's cancelling()). */
CIO_API int cio_task_cancelling(const cio_future *task);

/* Take one cancellation request back; returns how many remain. At zero a
 * cancellation not yet delivered is dropped (asyncio 3.12's uncancel). */
CIO_API int cio_task_uncancel(cio_future *task);

/* Run async function `type` as the main task of a new loop, like
 * asyncio.run: run it to completion, then cancel and finish every task
 * left, and free the loop. Returns main's error (CIO_ENOMEM if no loop or
 * task could be made); its result in *result. */
CIO_API int cio_run(const cio_task_type *type, const void *frame, cio_value *result);

/* cio_run for async function `name`: CIO_RUN(&result, main, .arg = 1). */
#define CIO_RUN(result, name, ...)                                            \
    cio_run(&name##__type, &(name){ .cio = { 0 }, __VA_ARGS__ }, (result))

/* A future done after delay seconds (negative counts as 0; NaN: a future
 * failed with CIO_EINVAL). Awaited in a task it allocates nothing (each
 * task has one built-in sleep); 0 yields exactly one iteration. NULL if
 * out of memory. */
CIO_API cio_future *cio_sleep(cio_loop *loop, double delay);

/* The same, done with `result` as its result. */
CIO_API cio_future *cio_sleep_result(cio_loop *loop, double delay, cio_value result);

/* Internals of CIO_AWAIT / CIO_YIELD / CIO_CALL (not for direct use). */
CIO__STMT_API int cio__await(cio_coro *co, cio_loop *loop, cio_future *f);
CIO__STMT_API void cio__await_resume(cio_coro *co, cio_loop *loop);
CIO__STMT_API int cio__yield(cio_coro *co, cio_loop *loop);
CIO_API void cio__await_release(cio_loop *loop);

CIO_EXTERN_C_END

#endif /* CIO_TASK_H */
