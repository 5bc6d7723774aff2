/* queue.c - asyncio.Queue, LifoQueue, PriorityQueue.
 *
 * Items live in one array: a ring (FIFO), a stack (LIFO) or a binary heap
 * ordered by (compare, put order) (priority). Waiting getters and putters
 * are FIFOs of slots. A put wakes the first getter and reserves an item for
 * it; the getter takes the item when it runs (the take hook), so a getter
 * cancelled in between leaves the item for the next one. Putters likewise
 * reserve room and add their item when they run.
 */
#include <string.h>
#include "internal.h"

typedef struct qitem {
    cio_value v;
    uint64_t seq;               /* put order: priority ties stay FIFO */
} qitem;

struct cio_queue {
    cio_loop *loop;
    cio_queue_kind kind;
    cio_queue_compare_fn cmp;
    size_t maxsize;             /* 0: unbounded */
    qitem *items;
    size_t cap, head, len;
    uint64_t seq;
    size_t reserved_items;      /* promised to woken getters */
    size_t reserved_room;       /* promised to woken putters */
    size_t unfinished;          /* put, not yet task_done */
    size_t lazy;                /* lazy waits not yet started (slot.c) */
    cio__waitq getters, putters, joiners;
    unsigned char shutdown;
    unsigned char in_storage;
};

typedef char queue_fits[((sizeof(cio_queue) + 15) & ~(size_t)15) <= 24 * sizeof(void *) ? 1 : -1];
typedef char item_fits[sizeof(qitem) <= 16 ? 1 : -1];

static void getter_take(cio_future *f);
static void getter_destroy(cio_future *f);
static void putter_take(cio_future *f);
static void putter_destroy(cio_future *f);
static void joiner_destroy(cio_future *f);
static void getter_arm(cio_future *f);
static int getter_now(cio_future *f, cio_coro *co);
static void putter_arm(cio_future *f);
static int putter_now(cio_future *f, cio_coro *co);

static const cio__future_vt get_vt = {
    .kind = "Queue.get", .cancel = cio__wait_cancel, .destroy = getter_destroy,
    .take = getter_take, .arm = getter_arm, .await_now = getter_now
};
static const cio__future_vt put_vt = {
    .kind = "Queue.put", .cancel = cio__wait_cancel, .destroy = putter_destroy,
    .take = putter_take, .arm = putter_arm, .await_now = putter_now
};
static const cio__future_vt join_vt = {
    .kind = "Queue.join", .cancel = cio__wait_cancel, .destroy = joiner_destroy
};

#define SLOT(f) ((cio__slot *)(void *)(f))

/* ---- the item array ---- */

static int by_int(cio_value a, cio_value b)
{
    return a.i < b.i ? -1 : a.i > b.i;
}

static int before(const cio_queue *q, const qitem *a, const qitem *b)
{
    int c = q->cmp(a->v, b->v);

    return c < 0 || (c == 0 && a->seq < b->seq);
}

/* The priority queue's heap: out of line, the FIFO's push and pop stay lean. */
static CIO__NOINLINE void heap_up(cio_queue *q, size_t i)
{
    qitem it = q->items[i];

    while (i > 0 && before(q, &it, &q->items[(i - 1) / 2])) {
        q->items[i] = q->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->items[i] = it;
}

static CIO__NOINLINE void heap_down(cio_queue *q, size_t i)
{
    qitem it = q->items[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= q->len)
            break;
        if (c + 1 < q->len && before(q, &q->items[c + 1], &q->items[c]))
            c++;
        if (!before(q, &q->items[c], &it))
            break;
        q->items[i] = q->items[c];
        i = c;
    }
    q->items[i] = it;
}

/* The ring's slot i places after the head (no division: cap is any size). */
static size_t ring_at(const cio_queue *q, size_t i)
{
    i += q->head;
    return i < q->cap ? i : i - q->cap;
}

/* Grow a full array (unbounded queues). */
static int grow(cio_queue *q)
{
    size_t cap, i;
    qitem *items;

    if (q->in_storage || q->cap > ((size_t)-1) / 2 / sizeof(qitem))
        return CIO_ENOMEM;
    cap = q->cap ? q->cap * 2 : 16;
    items = cio_alloc(cap * sizeof *items);
    if (items == NULL)
        return CIO_ENOMEM;
    for (i = 0; i < q->len; i++)            /* unroll the ring */
        items[i] = q->items[ring_at(q, i)];
    cio_free(q->items, q->cap * sizeof *items);
    q->items = items;
    q->cap = cap;
    q->head = 0;
    return 0;
}

/* Room for one more item in the array. */
static int reserve(cio_queue *q)
{
    return q->len < q->cap ? 0 : grow(q);
}

static CIO__NOINLINE void push_sorted(cio_queue *q, cio_value v)
{
    qitem it;

    it.v = v;
    it.seq = q->seq++;              /* ties: only a priority queue reads it */
    q->items[q->len++] = it;
    if (q->kind == CIO_QUEUE_PRIORITY)
        heap_up(q, q->len - 1);
}

/* Inline: the FIFO's is a few stores, on every put. */
static inline void push(cio_queue *q, cio_value v)
{
    if (q->kind == CIO_QUEUE_FIFO)
        q->items[ring_at(q, q->len++)].v = v;
    else
        push_sorted(q, v);
    q->unfinished++;
}

static CIO__NOINLINE cio_value pop_sorted(cio_queue *q)
{
    cio_value v;

    if (q->kind == CIO_QUEUE_LIFO)
        return q->items[--q->len].v;
    v = q->items[0].v;
    q->items[0] = q->items[--q->len];
    if (q->len > 0)
        heap_down(q, 0);
    return v;
}

static inline cio_value pop(cio_queue *q)
{
    cio_value v;

    if (q->kind != CIO_QUEUE_FIFO)
        return pop_sorted(q);
    v = q->items[q->head].v;
    q->head = ring_at(q, 1);
    q->len--;
    return v;
}

/* ---- waking ---- */

static int room(const cio_queue *q)
{
    return q->maxsize == 0 || q->len + q->reserved_room < q->maxsize;
}

/* Room for a put that comes now: room, and no putter waiting before it. */
static int room_now(const cio_queue *q)
{
    return room(q) && cio__waitq_empty(&q->putters);
}

/* Promise items to waiting getters. Returns CIO_CORO_DONE: a put done at
 * once ends with it (a tail call). */
static int wake_getters(cio_queue *q)
{
    cio__slot *s;

    while (q->len > q->reserved_items && (s = cio__waitq_pop(&q->getters)) != NULL) {
        q->reserved_items++;
        cio__wait_wake_inline(s, cio_int(0));
    }
    return CIO_CORO_DONE;
}

/* Promise room to waiting putters. */
static void wake_putters(cio_queue *q)
{
    cio__slot *s;

    if (cio__waitq_empty(&q->putters))
        return;
    while (room(q) && (s = cio__waitq_pop(&q->putters)) != NULL) {
        q->reserved_room++;
        cio__wait_wake_inline(s, cio_int(0));
    }
}

static cio_queue *owner(const cio__slot *s, size_t offset)
{
    return (cio_queue *)(void *)((char *)s->u.w.q - offset);
}

#define GETTERS_OF(s) owner((s), offsetof(cio_queue, getters))
#define PUTTERS_OF(s) owner((s), offsetof(cio_queue, putters))
#define JOINERS_OF(s) owner((s), offsetof(cio_queue, joiners))

static void getter_take(cio_future *f)
{
    cio_queue *q = GETTERS_OF(SLOT(f));

    q->reserved_items--;
    if (q->len == 0) {                  /* dropped by shutdown(immediate) */
        f->err = CIO_ESHUTDOWN;
        return;
    }
    f->result = pop(q);
    wake_putters(q);
}

static void getter_destroy(cio_future *f)
{
    cio__slot *s = SLOT(f);

    cio__wait_unlazy(f, &GETTERS_OF(s)->lazy);  /* never started */
    if (cio__wait_untaken(s)) {             /* woken, never ran: next one */
        cio_queue *q = GETTERS_OF(s);

        q->reserved_items--;
        wake_getters(q);
    }
    cio__wait_release(s);
}

static void putter_take(cio_future *f)
{
    cio__slot *s = SLOT(f);
    cio_queue *q = PUTTERS_OF(s);

    q->reserved_room--;
    f->result = cio_int(0);
    if (q->shutdown) {                      /* shut down since it was served */
        f->err = CIO_ESHUTDOWN;
        return;
    }
    if (reserve(q) != 0) {                  /* the array could not grow */
        f->err = CIO_ENOMEM;
        wake_putters(q);
        return;
    }
    push(q, s->u.w.arg);
    wake_getters(q);
}

static void putter_destroy(cio_future *f)
{
    cio__slot *s = SLOT(f);

    cio__wait_unlazy(f, &PUTTERS_OF(s)->lazy);  /* never started */
    if (cio__wait_untaken(s)) {             /* woken, never ran: its item stays out */
        cio_queue *q = PUTTERS_OF(s);

        q->reserved_room--;
        wake_putters(q);
    }
    cio__wait_release(s);
}

static void joiner_destroy(cio_future *f)
{
    cio__wait_release(SLOT(f));
}

/* ---- starting a wait: at once, or when a lazy one is armed ---- */

/* Put: room now (reserved like a woken putter's; the item goes in when
 * the result is read, so a put dropped unread puts nothing), or wait. */
static void put_start(cio__slot *s)
{
    cio_queue *q = PUTTERS_OF(s);

    if (q->shutdown) {
        cio__wait_fail(s, CIO_ESHUTDOWN);
    } else if (room_now(q)) {
        q->reserved_room++;
        cio__future_finish(&s->fut, CIO__DONE, 0, cio_int(0));
    } else {
        cio__waitq_push(&q->putters, s);
    }
}

/* Get: an item now (reserved like a woken getter's; it leaves the queue
 * when the result is read, and stays if never read), or wait. */
static void get_start(cio__slot *s)
{
    cio_queue *q = GETTERS_OF(s);

    if (q->len > q->reserved_items) {
        q->reserved_items++;
        cio__future_finish(&s->fut, CIO__DONE, 0, cio_int(0));
    } else if (q->shutdown) {
        cio__wait_fail(s, CIO_ESHUTDOWN);
    } else {
        cio__waitq_push(&q->getters, s);
    }
}

static void putter_arm(cio_future *f)
{
    cio__wait_arm(f, &PUTTERS_OF(SLOT(f))->lazy, put_start);
}

static void getter_arm(cio_future *f)
{
    cio__wait_arm(f, &GETTERS_OF(SLOT(f))->lazy, get_start);
}

/* Awaited lazily: with room now, the item goes straight in. */
static int putter_now(cio_future *f, cio_coro *co)
{
    cio__slot *s = SLOT(f);
    cio_queue *q = PUTTERS_OF(s);

    cio__wait_unlazy(f, &q->lazy);
    if (q->shutdown || !room_now(q) || reserve(q) != 0) {
        put_start(s);
        return 0;
    }
    push(q, s->u.w.arg);
    wake_getters(q);
    co->err = 0;
    co->result = cio_int(0);
    return 1;
}

/* Awaited lazily: with an item there, it comes straight out. */
static int getter_now(cio_future *f, cio_coro *co)
{
    cio_queue *q = GETTERS_OF(SLOT(f));

    cio__wait_unlazy(f, &q->lazy);
    if (q->len <= q->reserved_items) {
        get_start(SLOT(f));
        return 0;
    }
    co->err = 0;
    co->result = pop(q);
    wake_putters(q);
    return 1;
}

/* ---- the API ---- */

static cio_queue *setup(cio_queue *q, cio_loop *loop, size_t maxsize, cio_queue_kind kind)
{
    memset(q, 0, sizeof *q);
    q->loop = loop;
    q->kind = kind;
    q->maxsize = maxsize;
    q->cmp = by_int;
    return q;
}

cio_queue *cio_queue_new(cio_loop *loop, size_t maxsize, cio_queue_kind kind)
{
    cio_queue *q;

    if (loop == NULL || (unsigned)kind > CIO_QUEUE_PRIORITY
        || maxsize > ((size_t)-1) / 2 / sizeof(qitem))
        return NULL;
    q = cio_alloc(sizeof *q);
    if (q == NULL)
        return NULL;
    setup(q, loop, maxsize, kind);
    if (maxsize > 0) {                      /* bounded: the whole buffer now */
        q->items = cio_alloc(maxsize * sizeof *q->items);
        if (q->items == NULL) {
            cio_free(q, sizeof *q);
            return NULL;
        }
        q->cap = maxsize;
    }
    return q;
}

cio_queue *cio_queue_new_in(cio_loop *loop, size_t maxsize, cio_queue_kind kind,
                            void *storage, size_t size)
{
    cio_queue *q = storage;
    size_t head = (sizeof *q + 15) & ~(size_t)15;

    if (loop == NULL || (unsigned)kind > CIO_QUEUE_PRIORITY || maxsize == 0
        || maxsize > ((size_t)-1) / 4 / sizeof(qitem)
        || !cio__storage_ok(storage, size, head + maxsize * sizeof(qitem), 0))
        return NULL;
    setup(q, loop, maxsize, kind);
    q->items = (qitem *)(void *)((char *)storage + head);
    q->cap = maxsize;
    q->in_storage = 1;
    return q;
}

int cio_queue_free(cio_queue *q)
{
    if (q == NULL)
        return 0;
    if (!cio__waitq_empty(&q->getters) || !cio__waitq_empty(&q->putters)
        || !cio__waitq_empty(&q->joiners) || q->reserved_items || q->reserved_room
        || q->lazy)
        return CIO_EBUSY;
    if (!q->in_storage) {
        cio_free(q->items, q->cap * sizeof *q->items);
        cio_free(q, sizeof *q);
    }
    return 0;
}

void cio_queue_set_compare(cio_queue *q, cio_queue_compare_fn cmp)
{
    if (q != NULL && q->len == 0)
        q->cmp = cmp != NULL ? cmp : by_int;
}

int cio_queue_put_nowait(cio_queue *q, cio_value item)
{
    if (q == NULL)
        return CIO_EINVAL;
    if (q->shutdown)
        return CIO_ESHUTDOWN;
    if (!room_now(q))
        return CIO_EFULL;
    if (reserve(q) != 0)
        return CIO_ENOMEM;
    push(q, item);
    wake_getters(q);
    return 0;
}

cio_future *cio_queue_put(cio_queue *q, cio_value item)
{
    if (q == NULL)
        return NULL;
    return cio__wait_make(q->loop, &put_vt, &q->putters, item, &q->lazy, put_start);
}

int cio_queue_get_nowait(cio_queue *q, cio_value *out)
{
    cio_value v;

    if (q == NULL)
        return CIO_EINVAL;
    if (q->len <= q->reserved_items)
        return q->shutdown ? CIO_ESHUTDOWN : CIO_EEMPTY;
    v = pop(q);
    if (out != NULL)
        *out = v;
    wake_putters(q);
    return 0;
}

cio_future *cio_queue_get(cio_queue *q)
{
    if (q == NULL)
        return NULL;
    return cio__wait_make(q->loop, &get_vt, &q->getters, cio_int(0), &q->lazy, get_start);
}

/* ---- awaited in place: CIO_QUEUE_PUT / CIO_QUEUE_GET (internal.h) ---- */

int cio__queue_put_in(cio_coro *co, cio_loop *loop, cio_queue *q, cio_value item)
{
    cio__task *t;

    if (q == NULL)
        return cio__await_outcome(co, CIO_EINVAL, cio_int(0));
    t = cio__await_task(loop, q->loop);
    if (t == NULL || q->shutdown || !room_now(q) || reserve(q) != 0)
        return cio__await(co, loop, cio_queue_put(q, item));
    push(q, item);                          /* putter_now's work */
    cio__await_outcome(co, 0, cio_int(0));
    return wake_getters(q);
}

int cio__queue_get_in(cio_coro *co, cio_loop *loop, cio_queue *q)
{
    cio__task *t;

    if (q == NULL)
        return cio__await_outcome(co, CIO_EINVAL, cio_int(0));
    t = cio__await_task(loop, q->loop);
    if (t == NULL)
        return cio__await(co, loop, cio_queue_get(q));
    if (q->len > q->reserved_items) {       /* getter_now's work */
        cio_value v = pop(q);

        wake_putters(q);
        return cio__await_outcome(co, 0, v);
    }
    if (q->shutdown)
        return cio__await(co, loop, cio_queue_get(q));
    cio__own_wait_queue(t, co, &get_vt, &q->getters, cio_int(0));  /* get_start's */
    return CIO_CORO_PENDING;
}

/* getter_take and read_own_wait's work, with the item straight into co. */
void cio__queue_get_resume(cio_coro *co, cio_loop *loop)
{
    cio__task *t = cio__own_wait_woken(loop, co, &get_vt);
    cio_queue *q;

    if (t == NULL || (t->slot.fut.flags & CIO__FF_TAKEN)) {
        cio__await_resume(co, loop);
        return;
    }
    q = GETTERS_OF(&t->slot);
    q->reserved_items--;
    cio__own_wait_release(t, co);
    if (q->len == 0) {                      /* dropped by shutdown(immediate) */
        cio__await_outcome(co, CIO_ESHUTDOWN, cio_int(0));
        return;
    }
    cio__await_outcome(co, 0, pop(q));
    wake_putters(q);
}

int cio_queue_task_done(cio_queue *q)
{
    cio__slot *s;

    if (q == NULL)
        return CIO_EINVAL;
    if (q->unfinished == 0)
        return CIO_EOVERFLOW;
    if (--q->unfinished == 0)
        while ((s = cio__waitq_pop(&q->joiners)) != NULL)
            cio__wait_wake(s, cio_int(0));
    return 0;
}

cio_future *cio_queue_join(cio_queue *q)
{
    if (q == NULL)
        return NULL;
    if (q->unfinished == 0)
        return cio__wait_done(q->loop, cio_int(0));
    return cio__wait_new(q->loop, &join_vt, &q->joiners, cio_int(0));
}

void cio_queue_shutdown(cio_queue *q, int immediate)
{
    cio__slot *s;

    if (q == NULL)
        return;
    q->shutdown = 1;
    if (immediate) {
        /* drop every item, even those promised to woken getters (they then
         * fail), as asyncio 3.13 does; dropped items count as done */
        while (q->len > 0) {
            pop(q);
            if (q->unfinished > 0)
                q->unfinished--;
        }
        if (q->unfinished == 0)
            while ((s = cio__waitq_pop(&q->joiners)) != NULL)
                cio__wait_wake(s, cio_int(0));
    }
    /* Waiting getters find the queue empty (they would not wait otherwise);
     * waiting putters can never put now. */
    while ((s = q->getters.head) != NULL)
        cio__wait_fail(s, CIO_ESHUTDOWN);
    while ((s = q->putters.head) != NULL)
        cio__wait_fail(s, CIO_ESHUTDOWN);
}

size_t cio_queue_qsize(const cio_queue *q)
{
    return q != NULL ? q->len : 0;
}

size_t cio_queue_maxsize(const cio_queue *q)
{
    return q != NULL ? q->maxsize : 0;
}

int cio_queue_empty(const cio_queue *q)
{
    return q == NULL || q->len == 0;
}

int cio_queue_full(const cio_queue *q)
{
    return q != NULL && !room(q);
}
