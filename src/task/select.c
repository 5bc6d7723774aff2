/* select.c - Go's select over channel cases.
 *
 * If cases are ready, one is chosen uniformly at random and done at once.
 * Otherwise the select queues one proxy slot per case on its channel; the
 * first channel to choose a proxy fires the select, which withdraws the
 * other proxies and completes. A buffered channel promises the proxy an
 * element (or room) that the select takes when its task runs, as any
 * waiter; a cancelled select gives it back.
 */
#include <string.h>
#include "internal.h"
#include "task/channel_impl.h"

typedef struct sel {
    cio__slot main;             /* the future awaited; its timer: the timeout */
    cio_select_case *cases;
    size_t n;
    size_t chosen;
    size_t size;                /* of this allocation */
    cio__slot *matched;         /* unbuffered recv: the sender matched */
    unsigned char fired;
    cio__slot proxies[1];       /* n of them */
} sel;

static int select_cancel(cio_future *f, const char *msg);
static void select_destroy(cio_future *f);
static void select_take(cio_future *f);

static const cio__future_vt select_vt = {
    .kind = "select", .cancel = select_cancel, .destroy = select_destroy,
    .take = select_take
};
const cio__future_vt cio__select_proxy_vt = { .kind = "select case" };

#define SEL(f) ((sel *)(void *)(f))

static sel *sel_of(const cio__slot *proxy)
{
    const cio__slot *first = proxy - proxy->u.w.arg.i;

    return (sel *)(void *)((char *)(uintptr_t)first - offsetof(sel, proxies));
}

int cio__select_waiting(const cio__slot *proxy)
{
    sel *x = sel_of(proxy);

    return !x->fired && x->main.fut.state == CIO__PENDING;
}

/* Withdraw every proxy still queued and the timeout. */
static void withdraw(sel *x)
{
    size_t i;

    for (i = 0; i < x->n; i++)
        cio__waitq_remove(&x->proxies[i]);
    cio__timer_forget(x->main.fut.loop, &x->main.u.timer);
}

/* Complete the select with case i: `taken` when nothing is left to do
 * when its task runs. */
static void complete(sel *x, size_t i, int taken)
{
    x->fired = 1;
    x->chosen = i;
    withdraw(x);
    if (taken)
        x->main.fut.flags |= CIO__FF_TAKEN;
    cio__future_finish(&x->main.fut, CIO__DONE, 0, cio_int((ptrdiff_t)i));
}

static size_t index_of(const cio__slot *proxy)
{
    return (size_t)proxy->u.w.arg.i;
}

void cio__select_fire(cio__slot *proxy, cio__slot *sender)
{
    sel *x = sel_of(proxy);

    x->matched = sender;
    complete(x, index_of(proxy), 0);
}

void cio__select_sent(cio__slot *proxy, void *dst, size_t elem)
{
    sel *x = sel_of(proxy);
    size_t i = index_of(proxy);

    memcpy(dst, x->cases[i].buf, elem);
    complete(x, i, 1);
}

void cio__select_send_to(cio__slot *proxy, cio__slot *r)
{
    sel *x = sel_of(proxy);
    size_t i = index_of(proxy);

    cio__chan_fill(r, x->cases[i].buf, x->cases[i].chan->elem);
    complete(x, i, 1);
}

void cio__select_filled(cio__slot *proxy, const void *elem, size_t size)
{
    sel *x = sel_of(proxy);
    size_t i = index_of(proxy);

    memcpy(x->cases[i].buf, elem, size);
    x->cases[i].ok = 1;
    complete(x, i, 1);
}

void cio__select_forget_sender(cio__slot *proxy)
{
    sel_of(proxy)->matched = NULL;
}

void cio__select_closed(cio__slot *proxy)
{
    sel *x = sel_of(proxy);
    size_t i = index_of(proxy);

    if (x->cases[i].op == CIO_SELECT_RECV) {
        x->cases[i].ok = 0;
        complete(x, i, 1);
        return;
    }
    x->fired = 1;
    withdraw(x);
    cio__future_finish(&x->main.fut, CIO__DONE, CIO_ECLOSED, cio_ptr(NULL));
}

/* The chosen case, promised by its channel: do it now. */
static void select_take(cio_future *f)
{
    sel *x = SEL(f);
    cio_select_case *k = &x->cases[x->chosen];
    cio_chan *c = k->chan;

    if (k->op == CIO_SELECT_RECV) {
        if (c->cap > 0) {
            c->reserved_items--;
            cio__chan_get(c, k->buf);
            cio__chan_wake_senders(c);
        } else {
            cio__slot *s = x->matched;

            x->matched = NULL;
            if (s == NULL) {
                f->err = CIO_EBROKEN;   /* its sender vanished (teardown) */
                return;
            }
            cio__chan_take_from(s, k->buf, c->elem);
        }
        k->ok = 1;
    } else {
        c->reserved_room--;
        cio__chan_put(c, k->buf);
        cio__chan_wake_receivers(c);
    }
}

/* Promised, never taken: give it back. */
static void give_back(sel *x)
{
    cio_select_case *k = &x->cases[x->chosen];
    cio_chan *c = k->chan;

    if (k->op == CIO_SELECT_SEND) {
        c->reserved_room--;
        cio__chan_wake_senders(c);
    } else if (c->cap > 0) {
        c->reserved_items--;
        cio__chan_wake_receivers(c);
    } else {
        cio__slot *s = x->matched;

        x->matched = NULL;
        cio__chan_unmatch(c, s);
    }
}

static int select_cancel(cio_future *f, const char *msg)
{
    withdraw(SEL(f));
    return cio__future_cancel_plain(f, msg);
}

static void select_destroy(cio_future *f)
{
    sel *x = SEL(f);

    withdraw(x);
    if (cio__wait_untaken(&x->main) && x->fired)
        give_back(x);
    cio__slot_release(&x->main, x->size);
}

static void timed_out(cio_loop *loop, cio__node *node)
{
    sel *x = CIO__CONTAINER_OF(node, sel, main.u.timer.node);

    cio__timer_fired(&x->main.u.timer);
    if (loop->closing || x->main.fut.state != CIO__PENDING)
        return;
    x->fired = 1;
    withdraw(x);
    cio__future_finish(&x->main.fut, CIO__DONE, CIO_ETIMEDOUT, cio_ptr(NULL));
}

/* ---- choosing ---- */

static int ready(const cio_select_case *k)
{
    const cio_chan *c = k->chan;

    if (c == NULL)
        return 0;
    if (c->closed)
        return 1;
    if (k->op == CIO_SELECT_RECV)
        return c->cap > 0 ? c->len > c->reserved_items : !cio__waitq_empty(&c->senders);
    return c->cap > 0 ? c->len + c->reserved_room < c->cap && cio__waitq_empty(&c->senders)
                      : !cio__waitq_empty(&c->receivers);
}

static uint32_t next_random(cio_loop *loop)
{
    uint32_t x = loop->rng ? loop->rng : 2463534242u;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    loop->rng = x;
    return x;
}

/* Do ready case k now: one that is not promisable and not a send on a
 * closed channel, so a send here goes to a waiting receiver. */
static void do_now(cio_select_case *k)
{
    cio_chan *c = k->chan;
    cio__slot *other;

    if (k->op == CIO_SELECT_SEND) {
        cio__chan_fill(cio__waitq_pop(&c->receivers), k->buf, c->elem);
        return;
    }
    k->ok = 1;
    if (c->cap > 0 && c->len > c->reserved_items) {
        cio__chan_get(c, k->buf);
        cio__chan_wake_senders(c);
    } else if (c->cap == 0 && (other = cio__waitq_pop(&c->senders)) != NULL) {
        cio__chan_take_from(other, k->buf, c->elem);
    } else {
        k->ok = 0;                      /* closed and drained */
    }
}

/* Ready case k can be promised now and done when the result is first read,
 * as a woken proxy's is (select_take), so a select dropped unread gives it
 * back (give_back). Not so: a closed channel (nothing to promise), an
 * unbuffered send to a waiting receiver, a receive from another select. */
static int promisable(const cio_select_case *k)
{
    const cio_chan *c = k->chan;

    if (c->closed)
        return 0;
    if (c->cap > 0)
        return 1;
    return k->op == CIO_SELECT_RECV && !cio__select_is_proxy(c->senders.head);
}

/* A select over n cases, its proxies set up but not queued; NULL if out
 * of memory. */
static sel *sel_new(cio_loop *loop, cio_select_case *cases, size_t n)
{
    size_t i, size;
    cio__slot *s;
    sel *x;

    if (n > (((size_t)-1) - sizeof(sel)) / sizeof(cio__slot))
        return NULL;
    size = offsetof(sel, proxies) + (n ? n : 1) * sizeof(cio__slot);
    s = cio__slot_get(loop, &select_vt, size, 0);
    if (s == NULL)
        return NULL;
    x = (sel *)(void *)s;
    x->cases = cases;
    x->n = n;
    x->chosen = 0;
    x->size = size;
    x->matched = NULL;
    x->fired = 0;
    for (i = 0; i < n; i++) {
        cio__slot *p = &x->proxies[i];

        cio__future_init(&p->fut, loop, &cio__select_proxy_vt);
        p->u.w.arg = cio_int((ptrdiff_t)i);
        p->u.w.prev = p->u.w.next = NULL;
        p->u.w.q = NULL;
    }
    return x;
}

/* Promise ready case i to x now, as its channel would a waiting proxy. */
static void promise(sel *x, size_t i)
{
    cio_select_case *k = &x->cases[i];
    cio_chan *c = k->chan;
    cio__slot *sender;

    if (k->op == CIO_SELECT_SEND) {
        c->reserved_room++;
    } else if (c->cap > 0) {
        c->reserved_items++;
    } else {
        sender = cio__waitq_pop(&c->senders);
        sender->u.w.prev = &x->proxies[i];     /* matched, as match_sender does */
        x->matched = sender;
    }
    complete(x, i, 0);
}

cio_future *cio_select(cio_loop *loop, cio_select_case *cases, size_t n, double timeout,
                       int nonblocking)
{
    size_t i, nready = 0, pick;
    cio_future *f;
    sel *x;

    if (loop == NULL)
        return NULL;
    if ((n > 0 && cases == NULL) || timeout != timeout)
        return cio__wait_failed(loop, CIO_EINVAL);
    for (i = 0; i < n; i++) {
        if (cases[i].chan != NULL && (cases[i].chan->loop != loop || cases[i].buf == NULL))
            return cio__wait_failed(loop, CIO_EINVAL);
        if (ready(&cases[i]))
            nready++;
    }
    if (nready > 0) {
        pick = next_random(loop) % nready;
        for (i = 0; i < n; i++)
            if (ready(&cases[i]) && pick-- == 0)
                break;
        if (promisable(&cases[i])) {
            x = sel_new(loop, cases, n);
            if (x == NULL)
                return NULL;
            promise(x, i);
            return &x->main.fut;
        }
        if (cases[i].op == CIO_SELECT_SEND && cases[i].chan->closed)
            return cio__wait_failed(loop, CIO_ECLOSED);
        /* The future first: out of memory must leave the case undone. */
        f = cio__wait_done(loop, cio_int((ptrdiff_t)i));
        if (f != NULL)
            do_now(&cases[i]);
        return f;
    }
    if (nonblocking)
        return cio__wait_done(loop, cio_int(-1));
    x = sel_new(loop, cases, n);
    if (x == NULL)
        return NULL;
    if (timeout >= 0
        && cio__timer_start(loop, &x->main.u.timer, cio_loop_time(loop) + timeout, timed_out) != 0) {
        cio__slot_release(&x->main, x->size);
        return NULL;
    }
    for (i = 0; i < n; i++)
        if (cases[i].chan != NULL)
            cio__waitq_push(cases[i].op == CIO_SELECT_RECV ? &cases[i].chan->receivers
                                                            : &cases[i].chan->senders,
                            &x->proxies[i]);
    return &x->main.fut;
}
