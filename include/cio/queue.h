/* cio/queue.h - asyncio.Queue, LifoQueue and PriorityQueue.
 *
 * Items are cio_values (cio_int(5), cio_ptr(p)). maxsize 0 is unbounded
 * (the buffer grows; a put can then fail with CIO_ENOMEM); otherwise put
 * waits while the queue is full. Getters and putters are served FIFO; a
 * woken waiter takes its item (or its place) when it runs, and one
 * cancelled before that takes nothing: no item is lost, duplicated or
 * reordered by a cancellation.
 *
 * put/get/join return futures to await (allocation-free in a task); the
 * _nowait forms return at once with a code. Made in a task, a put or get
 * is lazy, as asyncio's `q.put(x)` is a coroutine: it does nothing until
 * the task awaits it (then, room or an item there, it completes at once)
 * or it is used otherwise (a combinator waits on it, a done callback is
 * added, the task makes its next wait), and until then it is pending.
 * Made outside a task, it starts at once.
 */
#ifndef CIO_QUEUE_H
#define CIO_QUEUE_H

#include "cio/common.h"
#include "cio/task.h"

CIO_EXTERN_C_BEGIN

/* A queue (asyncio.Queue and its kinds). */
typedef struct cio_queue cio_queue;

/* Which order items come out in. */
typedef enum cio_queue_kind {
    CIO_QUEUE_FIFO = 0,       /* asyncio.Queue */
    CIO_QUEUE_LIFO = 1,       /* asyncio.LifoQueue */
    CIO_QUEUE_PRIORITY = 2    /* asyncio.PriorityQueue: smallest first */
} cio_queue_kind;

/* Bytes of caller storage a bounded queue of maxsize items needs. */
#define CIO_QUEUE_SIZE(maxsize) (24 * sizeof(void *) + 16 * (maxsize))

/* A new queue; NULL if kind is unknown or out of memory. */
CIO_API cio_queue *cio_queue_new(cio_loop *loop, size_t maxsize, cio_queue_kind kind);
/* The same in caller storage of CIO_QUEUE_SIZE(maxsize) bytes (maxsize > 0:
 * the buffer cannot grow there). */
CIO_API cio_queue *cio_queue_new_in(cio_loop *loop, size_t maxsize, cio_queue_kind kind,
                                    void *storage, size_t size);
/* Free it (with any items left): 0, or CIO_EBUSY if tasks wait on it or
 * a lazy put or get for it is alive. */
CIO_API int cio_queue_free(cio_queue *q);

/* Order of a priority queue: negative if a comes first (default: by .i).
 * Equal items come out in put order. */
typedef int (*cio_queue_compare_fn)(cio_value a, cio_value b);
CIO_API void cio_queue_set_compare(cio_queue *q, cio_queue_compare_fn cmp);

/* Put item, waiting while the queue is full; it goes in when the result is
 * first read (dropped unread, the put puts nothing). Fails with
 * CIO_ESHUTDOWN once shut down, CIO_ENOMEM if the queue cannot grow. */
CIO_API cio_future *cio_queue_put(cio_queue *q, cio_value item);
/* Put without waiting: 0, CIO_EFULL, CIO_ESHUTDOWN or CIO_ENOMEM. */
CIO_API int cio_queue_put_nowait(cio_queue *q, cio_value item);
/* Get an item (the future's result), waiting while the queue is empty.
 * Fails with CIO_ESHUTDOWN once shut down and empty. The item leaves the
 * queue when the result is first read; a future dropped unread leaves it. */
CIO_API cio_future *cio_queue_get(cio_queue *q);
/* Get without waiting: 0 and *out, CIO_EEMPTY or CIO_ESHUTDOWN. */
CIO_API int cio_queue_get_nowait(cio_queue *q, cio_value *out);

/* In a task body, await a put / a get with the operation run in place:
 * CIO_AWAIT(cio_queue_put(q, item)) and CIO_AWAIT(cio_queue_get(q)) in
 * every outcome, error and cancellation, without making the future - the
 * fast way to use a queue from a task (about a quarter less work a round
 * trip). The item got is in CIO_RESULT. An error propagates; the _TRY
 * forms leave it in CIO_ERROR. A NULL queue fails with CIO_EINVAL. */
#define CIO_QUEUE_PUT(q, item) CIO__AWAIT_RAISE(CIO_QUEUE_PUT_TRY(q, item))
#define CIO_QUEUE_PUT_TRY(q, item)                                            \
    CIO__AWAIT_IN_N(CIO__ID, cio__queue_put_in(&self->cio, loop, (q), (item)), \
                    cio__await_resume)
#define CIO_QUEUE_GET(q) CIO__AWAIT_RAISE(CIO_QUEUE_GET_TRY(q))
#define CIO_QUEUE_GET_TRY(q)                                                  \
    CIO__AWAIT_IN_N(CIO__ID, cio__queue_get_in(&self->cio, loop, (q)),        \
                    cio__queue_get_resume)

/* Internals of CIO_QUEUE_PUT / CIO_QUEUE_GET (not for direct use). */
CIO__STMT_API int cio__queue_put_in(cio_coro *co, cio_loop *loop, cio_queue *q, cio_value item);
CIO__STMT_API int cio__queue_get_in(cio_coro *co, cio_loop *loop, cio_queue *q);
CIO__STMT_API void cio__queue_get_resume(cio_coro *co, cio_loop *loop);

/* One item got earlier is processed. CIO_EOVERFLOW if called more times
 * than items were put. */
CIO_API int cio_queue_task_done(cio_queue *q);
/* Done when every item put has been marked task_done. */
CIO_API cio_future *cio_queue_join(cio_queue *q);

/* Shut down (asyncio 3.13): puts fail with CIO_ESHUTDOWN; gets drain what
 * is left, then fail with it. With `immediate`, the items left are dropped
 * (counted as done for join), and getters waiting or woken for them fail
 * too. */
CIO_API void cio_queue_shutdown(cio_queue *q, int immediate);

/* Items in the queue now. */
CIO_API size_t cio_queue_qsize(const cio_queue *q);
/* The maxsize it was made with (0: unbounded). */
CIO_API size_t cio_queue_maxsize(const cio_queue *q);
/* Nonzero if it holds no item. */
CIO_API int cio_queue_empty(const cio_queue *q);
/* Nonzero if a put would wait (never for an unbounded queue). */
CIO_API int cio_queue_full(const cio_queue *q);

CIO_EXTERN_C_END

#endif /* CIO_QUEUE_H */
