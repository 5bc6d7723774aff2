/* cio/channel.h - Go's channels and select.
 *
 * A channel carries elements of a fixed size. Unbuffered (capacity 0): a
 * send completes when a receiver takes the element; buffered: when the
 * element is in the buffer. Close: receivers drain what is buffered, then
 * fail with CIO_ECLOSED; sending on a closed channel fails with CIO_ECLOSED
 * (Go panics). A NULL channel is never ready (Go's nil channel).
 *
 * Pointers given to send and recv (and to select's cases) must stay valid
 * until the operation completes: keep them in the task's frame.
 *
 * Made in a task, a send or recv is lazy (as a queue's put and get are,
 * cio/queue.h): nothing happens until the task awaits it or it is used
 * otherwise; awaited, it completes at once when it can.
 */
#ifndef CIO_CHANNEL_H
#define CIO_CHANNEL_H

#include "cio/common.h"
#include "cio/task.h"

CIO_EXTERN_C_BEGIN

/* A channel (Go's chan T). */
typedef struct cio_chan cio_chan;

/* Bytes of caller storage for a channel (cio_chan_new_in). */
#define CIO_CHAN_SIZE(elem_size, capacity) (16 * sizeof(void *) + (elem_size) * (capacity))

/* A new channel of elements of elem_size bytes, buffering `capacity` of
 * them; NULL if elem_size is 0 or out of memory. */
CIO_API cio_chan *cio_chan_new(cio_loop *loop, size_t elem_size, size_t capacity);
CIO_API cio_chan *cio_chan_new_in(cio_loop *loop, size_t elem_size, size_t capacity,
                                  void *storage, size_t size);
/* Free it: 0, or CIO_EBUSY if tasks wait on it or a lazy send or recv for
 * it is alive. */
CIO_API int cio_chan_free(cio_chan *c);

/* Send the element at `elem` (copied when it is taken or buffered; into a
 * buffer when the result is first read: dropped unread, it sends nothing).
 * Fails with CIO_ECLOSED if the channel is (or gets) closed first. */
CIO_API cio_future *cio_chan_send(cio_chan *c, const void *elem);
/* Receive into `dst`; result 1. Fails with CIO_ECLOSED once closed and
 * drained. The element is copied when the result is first read; a future
 * dropped unread leaves it in the channel. */
CIO_API cio_future *cio_chan_recv(cio_chan *c, void *dst);
/* In a task body, Go's `ch <- v` and `v = <-ch`: await a send / a recv
 * with the operation run in place - CIO_AWAIT(cio_chan_send(c, elem)) and
 * CIO_AWAIT(cio_chan_recv(c, dst)) in every outcome, error and
 * cancellation, without making the future (the fast way to use a channel
 * from a task). An error propagates; the _TRY forms leave it in CIO_ERROR
 * (CIO_ECLOSED: Go's `v, ok := <-ch` with ok false). A NULL channel or
 * pointer fails with CIO_EINVAL. */
#define CIO_CHAN_SEND(c, elem) CIO__AWAIT_RAISE(CIO_CHAN_SEND_TRY(c, elem))
#define CIO_CHAN_SEND_TRY(c, elem)                                            \
    CIO__AWAIT_IN_N(CIO__ID, cio__chan_send_in(&self->cio, loop, (c), (elem)), \
                    cio__chan_send_resume)
#define CIO_CHAN_RECV(c, dst) CIO__AWAIT_RAISE(CIO_CHAN_RECV_TRY(c, dst))
#define CIO_CHAN_RECV_TRY(c, dst)                                             \
    CIO__AWAIT_IN_N(CIO__ID, cio__chan_recv_in(&self->cio, loop, (c), (dst)), \
                    cio__chan_recv_resume)

/* Internals of CIO_CHAN_SEND / CIO_CHAN_RECV (not for direct use). */
CIO__STMT_API int cio__chan_send_in(cio_coro *co, cio_loop *loop, cio_chan *c, const void *elem);
CIO__STMT_API void cio__chan_send_resume(cio_coro *co, cio_loop *loop);
CIO__STMT_API int cio__chan_recv_in(cio_coro *co, cio_loop *loop, cio_chan *c, void *dst);
CIO__STMT_API void cio__chan_recv_resume(cio_coro *co, cio_loop *loop);

/* Without waiting: 0, CIO_EFULL (would block), CIO_ECLOSED. Unbuffered, it
 * succeeds when a receiver waits, copying the element to it at once; if
 * that receiver is cancelled before it runs, the element goes to the next
 * waiting receiver, or is dropped when none waits. */
CIO_API int cio_chan_try_send(cio_chan *c, const void *elem);
/* Without waiting: 0, CIO_EEMPTY (would block), CIO_ECLOSED (drained). */
CIO_API int cio_chan_try_recv(cio_chan *c, void *dst);
/* Close: waiting receivers fail with CIO_ECLOSED, waiting senders too.
 * CIO_ECLOSED if closed already. */
CIO_API int cio_chan_close(cio_chan *c);
/* Elements buffered / the capacity. */
CIO_API size_t cio_chan_len(const cio_chan *c);
CIO_API size_t cio_chan_cap(const cio_chan *c);

/* ---- select ---- */

/* What a select case does: receive or send. */
typedef enum cio_select_op { CIO_SELECT_RECV = 0, CIO_SELECT_SEND = 1 } cio_select_op;

/* One case of cio_select. */
typedef struct cio_select_case {
    cio_chan *chan;     /* NULL: never ready */
    cio_select_op op;   /* CIO_SELECT_RECV or CIO_SELECT_SEND */
    void *buf;          /* recv: where the element goes; send: the element */
    int ok;             /* set by select for the chosen recv: 1 a value, 0 closed */
} cio_select_case;

/* Go's select: wait until one case can proceed and do it; the result (.i)
 * is the index of the chosen case. Among several ready cases one is chosen
 * uniformly at random. With `nonblocking` (Go's default case) it completes
 * at once with -1 if none is ready; with timeout >= 0 it fails with
 * CIO_ETIMEDOUT after that many seconds (a NaN timeout: CIO_EINVAL). A send
 * case on a closed channel fails with CIO_ECLOSED. `cases` must stay valid
 * until the result is read: a buffered case, or a receive from a waiting
 * sender, is done then (dropped unread, the select does nothing). */
CIO_API cio_future *cio_select(cio_loop *loop, cio_select_case *cases, size_t n,
                               double timeout, int nonblocking);

CIO_EXTERN_C_END

#endif /* CIO_CHANNEL_H */
