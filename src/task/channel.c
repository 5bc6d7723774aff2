/* channel.c - Go's channels.
 *
 * Buffered (cap > 0): a ring of elements, managed like a queue (queue.c):
 * a waiter woken for an element (or for room) is promised it and takes it
 * when it runs, so a cancelled waiter loses nothing.
 *
 * Unbuffered (cap 0): a rendezvous. A receiver waiting when a send comes is
 * woken and matched with that sender, which waits until the receiver takes
 * the element (the copy happens then, sender to receiver). A receiver that
 * finds a sender waiting copies at once and lets it go. A woken receiver
 * cancelled before it runs sends its sender back to the front of the line.
 *
 * select (select.c) joins the same queues with proxy slots; the wake paths
 * here hand a proxy to cio__select_fire instead of waking it.
 */
#include <string.h>
#include "internal.h"
#include "task/channel_impl.h"

static void recv_take(cio_future *f);
static void recv_destroy(cio_future *f);
static int send_cancel(cio_future *f, const char *msg);
static void send_take(cio_future *f);
static void send_destroy(cio_future *f);
static void recv_arm(cio_future *f);
static int recv_now(cio_future *f, cio_coro *co);
static void send_arm(cio_future *f);
static int send_now(cio_future *f, cio_coro *co);

static const cio__future_vt recv_vt = {
    .kind = "chan.recv", .cancel = cio__wait_cancel, .destroy = recv_destroy,
    .take = recv_take, .arm = recv_arm, .await_now = recv_now
};
static const cio__future_vt send_vt = {
    .kind = "chan.send", .cancel = send_cancel, .destroy = send_destroy,
    .take = send_take, .arm = send_arm, .await_now = send_now
};

#define SLOT(f) ((cio__slot *)(void *)(f))
#define CHAN_OF_RECV(s) CIO__CONTAINER_OF((s)->u.w.q, cio_chan, receivers)
#define CHAN_OF_SEND(s) CIO__CONTAINER_OF((s)->u.w.q, cio_chan, senders)

/* Copy one element: a word or less inline (memcpy of a constant size
 * compiles to a move), the rest through memcpy. */
static inline void copy_elem(void *dst, const void *src, size_t size)
{
    if (size == sizeof(void *))
        memcpy(dst, src, sizeof(void *));
    else if (size == 4)
        memcpy(dst, src, 4);
    else
        memcpy(dst, src, size);
}

static char *elem_at(cio_chan *c, size_t i)
{
    return c->buf + ((c->head + i) % c->cap) * c->elem;
}

void cio__chan_put(cio_chan *c, const void *src)
{
    copy_elem(elem_at(c, c->len), src, c->elem);
    c->len++;
}

void cio__chan_get(cio_chan *c, void *dst)
{
    copy_elem(dst, elem_at(c, 0), c->elem);
    c->head = (c->head + 1) % c->cap;
    c->len--;
}

/* ---- buffered: promises, as in queue.c ---- */

/* Room for a send that comes now: room, and no sender waiting before it. */
static int room_now(const cio_chan *c)
{
    return c->len + c->reserved_room < c->cap && cio__waitq_empty(&c->senders);
}

void cio__chan_wake_receivers(cio_chan *c)
{
    cio__slot *s;

    while (c->len > c->reserved_items && (s = cio__waitq_pop(&c->receivers)) != NULL) {
        c->reserved_items++;
        if (cio__select_is_proxy(s))
            cio__select_fire(s, NULL);
        else
            cio__wait_wake_inline(s, cio_int(1));
    }
}

void cio__chan_wake_senders(cio_chan *c)
{
    cio__slot *s;

    while (c->len + c->reserved_room < c->cap && (s = cio__waitq_pop(&c->senders)) != NULL) {
        c->reserved_room++;
        if (cio__select_is_proxy(s))
            cio__select_fire(s, NULL);
        else
            cio__wait_wake_inline(s, cio_int(0));
    }
}

/* ---- unbuffered: matching ---- */

/* Sender s (a plain sender slot, not queued) meets the first waiting
 * receiver, if any: that receiver is woken, matched to s. 1 if matched.
 * `running`: the loop, when a task's step on it sends (else NULL). */
static inline int match_sender(cio_chan *c, cio__slot *s, cio_loop *running)
{
    cio__slot *r = cio__waitq_pop(&c->receivers);

    if (r == NULL)
        return 0;
    s->u.w.prev = r;                    /* s is out of any queue: free links */
    r->u.w.next = s;
    if (cio__select_is_proxy(r))
        cio__select_fire(r, s);
    else
        cio__wait_wake_out(r, cio_int(1), running);
    return 1;
}

/* A woken receiver will never take: its sender (if still waiting) meets
 * the next receiver, or goes back to the front of the line. A select's send
 * proxy never waits matched: a receiver waiting gets its element now. */
void cio__chan_unmatch(cio_chan *c, cio__slot *s)
{
    cio__slot *r;

    if (s == NULL)
        return;
    s->u.w.prev = NULL;
    if (cio__select_is_proxy(s)) {
        if (!cio__select_waiting(s))
            return;
        if ((r = cio__waitq_pop(&c->receivers)) != NULL)
            cio__select_send_to(s, r);
        else
            cio__waitq_push_front(&c->senders, s);
        return;
    }
    if (s->fut.state != CIO__PENDING)
        return;
    if (!match_sender(c, s, NULL))
        cio__waitq_push_front(&c->senders, s);
}

/* A receiver takes from the matched sender s: copy, and let s go (inline:
 * a receive that finds its sender waiting does it). `running` as for
 * match_sender. */
static inline void take_from(cio__slot *s, void *dst, size_t elem, cio_loop *running)
{
    if (cio__select_is_proxy(s)) {
        cio__select_sent(s, dst, elem);
        return;
    }
    copy_elem(dst, s->u.w.arg.p, elem);
    s->u.w.prev = NULL;
    s->fut.flags |= CIO__FF_TAKEN;
    cio__wait_wake_out(s, cio_int(0), running);        /* popped, or matched */
}

void cio__chan_take_from(cio__slot *s, void *dst, size_t elem)
{
    take_from(s, dst, elem, NULL);
}

/* ---- the waits ---- */

/* The receive's take; `running` as for match_sender. */
static inline void recv_take_in(cio_future *f, cio_loop *running)
{
    cio__slot *r = SLOT(f);
    cio_chan *c = CHAN_OF_RECV(r);

    if (c->cap > 0) {
        c->reserved_items--;
        cio__chan_get(c, r->u.w.arg.p);
        cio__chan_wake_senders(c);
    } else if (r->fut.flags & CIO__FF_MARK) {
        /* filled already (try_send, select) */
    } else if (r->u.w.next != NULL) {
        cio__slot *s = r->u.w.next;

        r->u.w.next = NULL;
        take_from(s, r->u.w.arg.p, c->elem, running);
    } else {
        f->err = CIO_EBROKEN;           /* its sender vanished (loop teardown) */
        return;
    }
    f->result = cio_int(1);
}

static void recv_take(cio_future *f)
{
    recv_take_in(f, NULL);
}

static void recv_destroy(cio_future *f)
{
    cio__slot *r = SLOT(f);

    cio__wait_unlazy(f, &CHAN_OF_RECV(r)->lazy);    /* never started */
    if (cio__wait_untaken(r)) {
        cio_chan *c = CHAN_OF_RECV(r);

        if (c->cap > 0) {
            c->reserved_items--;
            cio__chan_wake_receivers(c);
        } else if (!(r->fut.flags & CIO__FF_MARK)) {
            cio__slot *s = r->u.w.next;

            r->u.w.next = NULL;
            cio__chan_unmatch(c, s);
        } else {
            /* try_send or a select filled it: the value goes to the next
             * receiver waiting; with none, it is dropped (the one case a
             * cancellation loses an element: documented in channel.h) */
            cio__slot *next = cio__waitq_pop(&c->receivers);

            if (next != NULL)
                cio__chan_fill(next, r->u.w.arg.p, c->elem);
        }
    }
    cio__wait_release(r);
}

/* A matched sender's element is promised: the send completes when its
 * receiver takes it; a cancel then is refused (it arrives at the next
 * await instead). */
static int send_cancel(cio_future *f, const char *msg)
{
    cio__slot *s = SLOT(f);

    if (!(s->fut.flags & CIO__FF_QUEUED) && s->u.w.prev != NULL)
        return 0;
    return cio__wait_cancel(f, msg);
}

static void send_take(cio_future *f)
{
    cio__slot *s = SLOT(f);
    cio_chan *c = CHAN_OF_SEND(s);

    if (c->cap > 0 && !(s->fut.flags & CIO__FF_MARK)) {
        c->reserved_room--;
        cio__chan_put(c, s->u.w.arg.p);
        cio__chan_wake_receivers(c);
    }
    f->result = cio_int(0);
}

static void send_destroy(cio_future *f)
{
    cio__slot *s = SLOT(f);
    cio_chan *c = CHAN_OF_SEND(s);

    cio__wait_unlazy(f, &c->lazy);      /* never started */
    if (s->u.w.prev != NULL) {          /* matched, pending: teardown */
        if (cio__select_is_proxy(s->u.w.prev))
            cio__select_forget_sender(s->u.w.prev);
        else
            s->u.w.prev->u.w.next = NULL;
        s->u.w.prev = NULL;
    }
    if (cio__wait_untaken(s) && c->cap > 0 && !(s->fut.flags & CIO__FF_MARK)) {
        c->reserved_room--;
        cio__chan_wake_senders(c);
    }
    cio__wait_release(s);
}

/* ---- the API ---- */

static cio_chan *setup(cio_chan *c, cio_loop *loop, size_t elem, size_t cap, char *buf)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->elem = elem;
    c->cap = cap;
    c->buf = buf;
    return c;
}

cio_chan *cio_chan_new(cio_loop *loop, size_t elem, size_t cap)
{
    cio_chan *c;
    char *buf = NULL;

    if (loop == NULL || elem == 0 || (cap > 0 && elem > ((size_t)-1) / 2 / cap))
        return NULL;
    c = cio_alloc(sizeof *c);
    if (c == NULL)
        return NULL;
    if (cap > 0 && (buf = cio_alloc(elem * cap)) == NULL) {
        cio_free(c, sizeof *c);
        return NULL;
    }
    return setup(c, loop, elem, cap, buf);
}

cio_chan *cio_chan_new_in(cio_loop *loop, size_t elem, size_t cap, void *storage, size_t size)
{
    size_t head = (sizeof(cio_chan) + 15) & ~(size_t)15;
    cio_chan *c;

    if (loop == NULL || elem == 0 || (cap > 0 && elem > ((size_t)-1) / 4 / cap)
        || !cio__storage_ok(storage, size, head + elem * cap, 0))
        return NULL;
    c = setup(storage, loop, elem, cap, (char *)storage + head);
    c->in_storage = 1;
    return c;
}

int cio_chan_free(cio_chan *c)
{
    if (c == NULL)
        return 0;
    if (!cio__waitq_empty(&c->senders) || !cio__waitq_empty(&c->receivers)
        || c->reserved_items || c->reserved_room || c->lazy)
        return CIO_EBUSY;
    if (!c->in_storage) {
        cio_free(c->buf, c->elem * c->cap);
        cio_free(c, sizeof *c);
    }
    return 0;
}

int cio_chan_try_send(cio_chan *c, const void *elem)
{
    cio__slot *r;

    if (c == NULL || elem == NULL)
        return CIO_EINVAL;
    if (c->closed)
        return CIO_ECLOSED;
    if (c->cap > 0) {
        if (!room_now(c))
            return CIO_EFULL;
        cio__chan_put(c, elem);
        cio__chan_wake_receivers(c);
        return 0;
    }
    /* unbuffered: hand it straight to a waiting receiver */
    r = cio__waitq_pop(&c->receivers);
    if (r == NULL)
        return CIO_EFULL;
    cio__chan_fill(r, elem, c->elem);
    return 0;
}

/* Give a waiting receiver (or recv proxy) an element now. */
void cio__chan_fill(cio__slot *r, const void *elem, size_t size)
{
    if (cio__select_is_proxy(r)) {
        cio__select_filled(r, elem, size);
        return;
    }
    copy_elem(r->u.w.arg.p, elem, size);
    r->fut.flags |= CIO__FF_MARK;
    cio__wait_wake_inline(r, cio_int(1));
}

/* Send: buffered, room now (reserved like a woken sender's; the element
 * is copied in when the result is read, never if it is not); unbuffered,
 * matched with a waiting receiver; else wait. */
static void send_start(cio__slot *s)
{
    cio_chan *c = CHAN_OF_SEND(s);

    if (c->closed) {
        cio__wait_fail(s, CIO_ECLOSED);
    } else if (c->cap > 0) {
        if (room_now(c)) {
            c->reserved_room++;
            cio__future_finish(&s->fut, CIO__DONE, 0, cio_int(0));
        } else {
            cio__waitq_push(&c->senders, s);
        }
    } else if (!match_sender(c, s, NULL)) {
        cio__waitq_push(&c->senders, s);
    }
}

static void send_arm(cio_future *f)
{
    cio__wait_arm(f, &CHAN_OF_SEND(SLOT(f))->lazy, send_start);
}

/* Awaited lazily: buffered with room, the element goes straight in (an
 * unbuffered send always waits for its receiver to take it). */
static int send_now(cio_future *f, cio_coro *co)
{
    cio__slot *s = SLOT(f);
    cio_chan *c = CHAN_OF_SEND(s);

    cio__wait_unlazy(f, &c->lazy);
    if (c->cap == 0 || cio_chan_try_send(c, s->u.w.arg.p) != 0) {
        send_start(s);
        return 0;
    }
    co->err = 0;
    co->result = cio_int(0);
    return 1;
}

cio_future *cio_chan_send(cio_chan *c, const void *elem)
{
    if (c == NULL || elem == NULL)
        return NULL;
    return cio__wait_make(c->loop, &send_vt, &c->senders, cio_ptr((void *)(uintptr_t)elem),
                          &c->lazy, send_start);
}

/* cio_chan_try_recv's work (inline: a statement's receive does it too);
 * `running` as for match_sender. */
static inline int try_recv(cio_chan *c, void *dst, cio_loop *running)
{
    cio__slot *s;

    if (c->cap > 0) {
        if (c->len > c->reserved_items) {
            cio__chan_get(c, dst);
            cio__chan_wake_senders(c);
            return 0;
        }
    } else if ((s = cio__waitq_pop(&c->senders)) != NULL) {
        take_from(s, dst, c->elem, running);
        return 0;
    }
    return c->closed ? CIO_ECLOSED : CIO_EEMPTY;
}

int cio_chan_try_recv(cio_chan *c, void *dst)
{
    if (c == NULL || dst == NULL)
        return CIO_EINVAL;
    return try_recv(c, dst, NULL);
}

/* Receive: an element ready (reserved like a woken receiver's, so it is
 * copied when the result is read and stays in the channel, or with its
 * sender, if it never is); else wait, or fail once closed and drained. */
static void recv_start(cio__slot *r)
{
    cio_chan *c = CHAN_OF_RECV(r);
    cio__slot *s;
    int err;

    if (c->cap > 0 && c->len > c->reserved_items) {
        c->reserved_items++;
        cio__future_finish(&r->fut, CIO__DONE, 0, cio_int(1));
    } else if (c->cap == 0 && (s = c->senders.head) != NULL && !cio__select_is_proxy(s)) {
        cio__waitq_remove(s);           /* matched, as match_sender does */
        s->u.w.prev = r;
        r->u.w.next = s;
        cio__future_finish(&r->fut, CIO__DONE, 0, cio_int(1));
    } else if ((err = try_recv(c, r->u.w.arg.p, NULL)) == 0) {
        r->fut.flags |= CIO__FF_TAKEN;  /* a select's send: copied already */
        cio__future_finish(&r->fut, CIO__DONE, 0, cio_int(1));
    } else if (err != CIO_EEMPTY) {
        cio__wait_fail(r, err);
    } else {
        cio__waitq_push(&c->receivers, r);
    }
}

static void recv_arm(cio_future *f)
{
    cio__wait_arm(f, &CHAN_OF_RECV(SLOT(f))->lazy, recv_start);
}

/* Awaited lazily: an element ready (buffered, or a sender waiting) is
 * copied straight out. */
static int recv_now(cio_future *f, cio_coro *co)
{
    cio__slot *r = SLOT(f);

    cio__wait_unlazy(f, &CHAN_OF_RECV(r)->lazy);
    if (cio_chan_try_recv(CHAN_OF_RECV(r), r->u.w.arg.p) != 0) {
        recv_start(r);
        return 0;
    }
    co->err = 0;
    co->result = cio_int(1);
    return 1;
}

cio_future *cio_chan_recv(cio_chan *c, void *dst)
{
    if (c == NULL || dst == NULL)
        return NULL;
    return cio__wait_make(c->loop, &recv_vt, &c->receivers, cio_ptr(dst), &c->lazy,
                          recv_start);
}

/* ---- awaited in place: CIO_CHAN_SEND / CIO_CHAN_RECV (internal.h) ---- */

/* The generic ways: CIO_AWAIT of the future. */
static CIO__NOINLINE int send_generic(cio_coro *co, cio_loop *loop, cio_chan *c,
                                      const void *elem)
{
    return cio__await(co, loop, cio_chan_send(c, elem));
}

static CIO__NOINLINE int recv_generic(cio_coro *co, cio_loop *loop, cio_chan *c, void *dst)
{
    return cio__await(co, loop, cio_chan_recv(c, dst));
}

/* The last await still to let go of, or no task: let go, then the fast way
 * if it is open now (queue.c's get_in_slow). */
static CIO__NOINLINE int send_in_slow(cio_coro *co, cio_loop *loop, cio_chan *c,
                                      const void *elem)
{
    if (cio__await_task(loop, c->loop) != NULL)
        return cio__chan_send_in(co, loop, c, elem);
    return send_generic(co, loop, c, elem);
}

static CIO__NOINLINE int recv_in_slow(cio_coro *co, cio_loop *loop, cio_chan *c, void *dst)
{
    if (cio__await_task(loop, c->loop) != NULL)
        return cio__chan_recv_in(co, loop, c, dst);
    return recv_generic(co, loop, c, dst);
}

/* A buffered send with room, done at once: out of line, so the
 * unbuffered send, which waits, saves no registers for its calls. */
static CIO__NOINLINE int send_buffered_now(cio_coro *co, cio_chan *c, const void *elem)
{
    cio__chan_put(c, elem);
    cio__chan_wake_receivers(c);
    return cio__await_outcome(co, 0, cio_int(0));
}

int cio__chan_send_in(cio_coro *co, cio_loop *loop, cio_chan *c, const void *elem)
{
    cio__task *t;
    cio__slot *s;

    if (c == NULL || elem == NULL)
        return cio__await_outcome(co, CIO_EINVAL, cio_int(0));
    if ((t = cio__await_task_now(loop, c->loop)) == NULL)
        return send_in_slow(co, loop, c, elem);
    if (c->closed)
        return send_generic(co, loop, c, elem);
    if (c->cap > 0 && room_now(c))          /* send_now's work */
        return send_buffered_now(co, c, elem);
    if (c->cap > 0 || cio__waitq_empty(&c->receivers)) {    /* send_start's */
        cio__own_wait_queue(t, co, &send_vt, &c->senders, cio_ptr((void *)(uintptr_t)elem));
        return CIO_CORO_PENDING;
    }
    s = cio__own_wait_claim(t, co, &send_vt, &c->senders, cio_ptr((void *)(uintptr_t)elem));
    s->u.w.next = NULL;                     /* as a made wait has it */
    match_sender(c, s, loop);               /* a receiver waits: matched */
    return CIO_CORO_PENDING;
}

/* The hot case: an unbuffered send its receiver took (anything else,
 * a buffered one's take included: cio__await_resume). */
void cio__chan_send_resume(cio_coro *co, cio_loop *loop)
{
    cio__task *t = cio__own_wait_woken(co, &send_vt, 1);

    if (t == NULL) {
        cio__await_resume(co, loop);
        return;
    }
    cio__own_wait_release(t, co);
    cio__await_outcome(co, 0, cio_int(0));
}

int cio__chan_recv_in(cio_coro *co, cio_loop *loop, cio_chan *c, void *dst)
{
    cio__task *t;
    int err;

    if (c == NULL || dst == NULL)
        return cio__await_outcome(co, CIO_EINVAL, cio_int(0));
    if ((t = cio__await_task_now(loop, c->loop)) == NULL)
        return recv_in_slow(co, loop, c, dst);
    err = try_recv(c, dst, loop);           /* recv_now's work */
    if (err == 0)
        return cio__await_outcome(co, 0, cio_int(1));
    if (err != CIO_EEMPTY)                  /* closed and drained */
        return cio__await_outcome(co, err, cio_int(0));
    cio__own_wait_queue(t, co, &recv_vt, &c->receivers, cio_ptr(dst));    /* recv_start's */
    return CIO_CORO_PENDING;
}

void cio__chan_recv_resume(cio_coro *co, cio_loop *loop)
{
    cio__task *t = cio__own_wait_woken(co, &recv_vt, -1);
    int err;

    if (t == NULL) {
        cio__await_resume(co, loop);
        return;
    }
    if (cio__own_wait_untaken(&t->slot.fut))
        recv_take_in(&t->slot.fut, loop);   /* the copy, from buffer or sender */
    err = t->slot.fut.err;
    cio__own_wait_release(t, co);
    cio__await_outcome(co, err, cio_int(err == 0));
}

int cio_chan_close(cio_chan *c)
{
    cio__slot *s;

    if (c == NULL)
        return CIO_EINVAL;
    if (c->closed)
        return CIO_ECLOSED;
    c->closed = 1;
    /* Waiting receivers find nothing to drain (they would not wait). */
    while ((s = c->receivers.head) != NULL) {
        if (cio__select_is_proxy(s)) {
            cio__waitq_remove(s);
            cio__select_closed(s);
        } else {
            cio__wait_fail(s, CIO_ECLOSED);
        }
    }
    while ((s = c->senders.head) != NULL) {
        if (cio__select_is_proxy(s)) {
            cio__waitq_remove(s);
            cio__select_closed(s);
        } else {
            cio__wait_fail(s, CIO_ECLOSED);
        }
    }
    return 0;
}

size_t cio_chan_len(const cio_chan *c)
{
    return c != NULL ? c->len : 0;
}

size_t cio_chan_cap(const cio_chan *c)
{
    return c != NULL ? c->cap : 0;
}
