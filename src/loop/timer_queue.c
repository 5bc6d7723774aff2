/* timer_queue.c - timers by (deadline, sequence): an in-order ring plus a
 * 4-ary heap for the rest (see timer_queue.h). */
#include "loop/timer_queue.h"

#ifndef CIO_NO_HEAP     /* without a heap: timer_list.c */

#define RING_BIT 0x80000000u    /* idx of a ring timer: RING_BIT | ticket */
#define TICKET_MASK 0x3fffffffu /* a ticket: the ring counter when it was
                                   pushed, 30 bits (never CIO__TIMER_IDLE or
                                   _QUEUED once tagged); its slot is
                                   ticket & (ring_cap - 1) at any capacity */

/* a before b? Sequence numbers wrap at 2^31: compare their distance. */
static int before(const cio__timer *a, const cio__timer *b)
{
    if (a->when != b->when)
        return a->when < b->when;
    return ((uint32_t)(a->seq - b->seq) & 0x40000000u) != 0;
}

/* ---- the heap ---- */

/* Four children a node: half the depth of a binary heap, and the four
 * entries (16 bytes each) share one cache line. */
#define ARITY 4
#define PARENT(i) (((i) - 1) / ARITY)
#define FIRST_CHILD(i) (ARITY * (i) + 1)

/* entry a before entry b? The copied deadline decides; the timers are
 * only looked at for a tie. */
static int entry_before(const cio__heap_entry *a, const cio__heap_entry *b)
{
    if (a->when != b->when)
        return a->when < b->when;
    return before(a->t, b->t);
}

static void put(cio__timer_queue *q, uint32_t i, cio__heap_entry e)
{
    q->heap[i] = e;
    e.t->idx = i;
}

static void sift_up(cio__timer_queue *q, uint32_t i)
{
    cio__heap_entry e = q->heap[i];

    while (i > 0 && entry_before(&e, &q->heap[PARENT(i)])) {
        put(q, i, q->heap[PARENT(i)]);
        i = PARENT(i);
    }
    put(q, i, e);
}

static void sift_down(cio__timer_queue *q, uint32_t i)
{
    cio__heap_entry e = q->heap[i];

    for (;;) {
        uint32_t c = FIRST_CHILD(i), best, k;

        if (c >= q->heap_len)
            break;
        best = c;
        for (k = c + 1; k < c + ARITY && k < q->heap_len; k++)
            if (entry_before(&q->heap[k], &q->heap[best]))
                best = k;
        if (!entry_before(&q->heap[best], &e))
            break;
        put(q, i, q->heap[best]);
        i = best;
    }
    put(q, i, e);
}

static int heap_push(cio__timer_queue *q, cio__timer *t)
{
    cio__heap_entry e;

    if (q->heap_len == q->heap_cap) {
        uint32_t cap = q->heap_cap ? q->heap_cap * 2 : 64;
        cio__heap_entry *items;

        if (q->heap_cap >= RING_BIT / 2)
            return CIO_ENOMEM;
        items = cio_realloc(q->heap, (size_t)q->heap_cap * sizeof *items,
                            (size_t)cap * sizeof *items);
        if (items == NULL)
            return CIO_ENOMEM;
        q->heap = items;
        q->heap_cap = cap;
    }
    e.when = t->when;
    e.t = t;
    put(q, q->heap_len++, e);
    sift_up(q, t->idx);
    return 0;
}

static void heap_remove(cio__timer_queue *q, cio__timer *t)
{
    uint32_t i = t->idx;
    cio__heap_entry last = q->heap[--q->heap_len];

    t->idx = CIO__TIMER_IDLE;
    if (last.t == t)
        return;
    put(q, i, last);
    if (i > 0 && entry_before(&last, &q->heap[PARENT(i)]))
        sift_up(q, i);
    else
        sift_down(q, i);
}

/* ---- the ring ---- */

static uint32_t ring_used(const cio__timer_queue *q)
{
    return q->ring_tail - q->ring_head;
}

/* Make room for one more. Mostly tombstones: squeeze them out in place,
 * handing the live timers new tickets (paid for by the removals that left
 * the tombstones). Else double: every timer keeps its ticket, its place is
 * ticket & (cap - 1), so growing touches no timer - a million sleeping
 * tasks are not all visited again at each doubling. */
static int ring_grow(cio__timer_queue *q)
{
    uint32_t cap = q->ring_cap, n = 0, i;
    cio__timer **items;

    if (cap > 0 && q->ring_len <= cap / 2) {
        for (i = q->ring_head; i != q->ring_tail; i++) {
            cio__timer *t = q->ring[i & (cap - 1)];

            if (t == NULL)
                continue;
            q->ring[(q->ring_head + n) & (cap - 1)] = t;
            t->idx = RING_BIT | ((q->ring_head + n) & TICKET_MASK);
            n++;
        }
        q->ring_tail = q->ring_head + n;
        return 0;
    }
    if (cap >= RING_BIT / 4)
        return CIO_ENOMEM;
    cap = cap ? cap * 2 : 64;
    /* realloc: a large ring grows in place (no copy, no fresh pages for
     * the old half); a timer whose ticket has the old capacity's bit set
     * moves up by that much, into the new half */
    items = cio_realloc(q->ring, (size_t)q->ring_cap * sizeof *items, (size_t)cap * sizeof *items);
    if (items == NULL)
        return CIO_ENOMEM;
    for (i = q->ring_head; i != q->ring_tail; i++)
        if (i & q->ring_cap)
            items[i & (cap - 1)] = items[i & (q->ring_cap - 1)];
    q->ring = items;
    q->ring_cap = cap;
    return 0;
}

/* Skip removed timers at the front. */
static void ring_trim(cio__timer_queue *q)
{
    while (q->ring_head != q->ring_tail && q->ring[q->ring_head & (q->ring_cap - 1)] == NULL)
        q->ring_head++;
}

static int ring_push(cio__timer_queue *q, cio__timer *t)
{
    uint32_t ticket;

    if (q->ring_len == 0)
        q->ring_head = q->ring_tail;    /* only tombstones left: drop them */
    if (ring_used(q) == q->ring_cap && ring_grow(q) != 0)
        return CIO_ENOMEM;
    ticket = q->ring_tail++ & TICKET_MASK;
    q->ring[ticket & (q->ring_cap - 1)] = t;
    t->idx = RING_BIT | ticket;
    q->ring_len++;
    q->last.when = t->when;
    q->last.seq = t->seq;
    return 0;
}

static void ring_remove(cio__timer_queue *q, cio__timer *t)
{
    q->ring[t->idx & (q->ring_cap - 1)] = NULL;
    t->idx = CIO__TIMER_IDLE;
    q->ring_len--;
    ring_trim(q);
}

/* ---- the queue ---- */

int cio__tq_push(cio__timer_queue *q, cio__timer *t)
{
    if (q->ring_len == 0 || !before(t, &q->last)) {
        if (ring_push(q, t) == 0)
            return 0;
    }
    return heap_push(q, t);
}

/* The ring's earliest timer (tombstones skipped), or NULL. */
static cio__timer *ring_front(cio__timer_queue *q)
{
    if (q->ring_len == 0)
        return NULL;
    ring_trim(q);
    return q->ring[q->ring_head & (q->ring_cap - 1)];
}

/* The earliest timer, or NULL; *in_ring: it is the ring's front (else
 * the heap's top). */
static cio__timer *front(cio__timer_queue *q, int *in_ring)
{
    cio__timer *r = ring_front(q), *h = q->heap_len ? q->heap[0].t : NULL;

    *in_ring = r != NULL && (h == NULL || !before(h, r));
    return *in_ring ? r : h;
}

cio__timer *cio__tq_top(cio__timer_queue *q)
{
    int in_ring;

    return front(q, &in_ring);
}

/* Take the ring's front timer t out (no lookup, no trim yet). */
static cio__timer *ring_pop(cio__timer_queue *q, cio__timer *t)
{
    q->ring[q->ring_head++ & (q->ring_cap - 1)] = NULL;
    t->idx = CIO__TIMER_IDLE;
    q->ring_len--;
    return t;
}

cio__timer *cio__tq_pop_due(cio__timer_queue *q, double now)
{
    int in_ring;
    cio__timer *t;

    if (q->heap_len == 0) {             /* the common case: the ring alone */
        t = ring_front(q);
        return t != NULL && t->when <= now ? ring_pop(q, t) : NULL;
    }
    t = front(q, &in_ring);
    if (t == NULL || t->when > now)
        return NULL;
    if (in_ring)
        return ring_pop(q, t);
    heap_remove(q, t);
    return t;
}

void cio__tq_remove(cio__timer_queue *q, cio__timer *t)
{
    if (t->idx & RING_BIT)
        ring_remove(q, t);
    else
        heap_remove(q, t);
}

void cio__tq_filter(cio__timer_queue *q, int (*drop)(cio__timer *t, void *arg), void *arg)
{
    uint32_t i, kept = 0;

    for (i = q->ring_head; i != q->ring_tail; i++) {
        uint32_t slot = i & (q->ring_cap - 1);
        cio__timer *t = q->ring[slot];

        if (t != NULL && drop(t, arg)) {
            q->ring[slot] = NULL;       /* t may be gone: do not touch it */
            q->ring_len--;
        }
    }
    if (q->ring_len > 0)
        ring_trim(q);
    else
        q->ring_head = q->ring_tail;
    for (i = 0; i < q->heap_len; i++) {
        cio__heap_entry e = q->heap[i];

        if (!drop(e.t, arg))
            q->heap[kept++] = e;
    }
    q->heap_len = kept;
    for (i = 0; i < kept; i++)
        q->heap[i].t->idx = i;
    for (i = kept > 1 ? PARENT(kept - 1) + 1 : 0; i-- > 0;)
        sift_down(q, i);
}

void cio__tq_free(cio__timer_queue *q)
{
    cio_free(q->heap, (size_t)q->heap_cap * sizeof *q->heap);
    cio_free(q->ring, (size_t)q->ring_cap * sizeof *q->ring);
    q->heap = NULL;
    q->ring = NULL;
    q->heap_len = q->heap_cap = q->ring_cap = 0;
    q->ring_head = q->ring_tail = q->ring_len = 0;
}
#endif /* !CIO_NO_HEAP */
