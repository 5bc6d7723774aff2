/* queue.c - asyncio.Queue, LifoQueue, PriorityQueue.
 *
 * Items live in one array: a ring (FIFO), a stack (LIFO) or a binary heap
 * ordered by (compare, put order) (priority). Waiting getters and putters
 * are FIFOs of slots. A put wakes the first getter and reserves an item for
 * it; the getter takes the item when it runs (the take hook), so a getter
 * cancelled in between leaves the item for the next one. Putters likewise
 * reserve room and add their item when they run.
 *
 * One item at a time may skip the array: a FIFO's put that finds it empty
 * and a getter waiting hands the item to that getter (in its result, the
 * slot marked CIO__FF_MARK; q->handed points to it), as a channel does.
 * The item is older than any in the array then, so a getter cancelled
 * before it runs puts it back at the front: nothing is reordered. It still
 * counts in qsize and against maxsize.
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
    cio__slot *handed;          /* the woken getter holding an item, or NULL */
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

/* Room for one more item in the array, and still one for a handed item
 * to come back to. */
static int reserve(cio_queue *q)
{
    return q->len + (q->handed != NULL) < q->cap ? 0 : grow(q);
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

/* Put an item back at the front of a FIFO's ring (the array has room:
 * it came out of it, or was handed past it). */
static void unpop(cio_queue *q, cio_value v)
{
    q->head = q->head > 0 ? q->head - 1 : q->cap - 1;
    q->items[q->head].v = v;
    q->len++;
}

/* ---- waking ---- */

/* Items in the queue: the array's and a handed one. */
static size_t count(const cio_queue *q)
{
    return q->len + (q->handed != NULL);
}

static int room(const cio_queue *q)
{
    return q->maxsize == 0 || count(q) + q->reserved_room < q->maxsize;
}

/* Room for a put that comes now: room, and no putter waiting before it. */
static int room_now(const cio_queue *q)
{
    return room(q) && cio__waitq_empty(&q->putters);
}

/* Promise the item one push brought to the first waiting getter: a getter
 * waits only while every item is promised, so a push frees one at most.
 * Returns CIO_CORO_DONE: a put done at once ends with it (a tail call, out
 * of line: the put saves no registers). */
static CIO__NOINLINE int wake_getters(cio_queue *q)
{
    cio__slot *s;

    if (q->len > q->reserved_items && (s = cio__waitq_pop(&q->getters)) != NULL) {
        q->reserved_items++;
        cio__wait_wake_inline(s, cio_int(0));
    }
    return CIO_CORO_DONE;
}

/* Whether a FIFO's new item goes straight to a waiting getter: the array
 * is empty and nothing is handed yet. */
static inline int can_hand(const cio_queue *q)
{
    return q->len == 0 && q->handed == NULL && !cio__waitq_empty(&q->getters);
}

/* Hand it (can_hand): the getter's take then only reads it. `running`:
 * the loop, when a task's step on it puts (cio__future_finish_to). */
static CIO__ALWAYS_INLINE void hand_item(cio_queue *q, cio_value v, cio_loop *running)
{
    cio__slot *s = q->getters.head;

    s->fut.flags |= CIO__FF_MARK;           /* with pop's, one store */
    cio__waitq_pop(&q->getters);
    q->unfinished++;
    q->handed = s;
    cio__wait_wake_out(s, v, running);
}


/* A new item (room made for it): handed to a getter if it can be, else
 * into the array, waking a getter. */
static CIO__NOINLINE void put_item(cio_queue *q, cio_value v)
{
    if (q->kind == CIO_QUEUE_FIFO && can_hand(q)) {
        hand_item(q, v, NULL);
        return;
    }
    push(q, v);
    wake_getters(q);
}

/* Promise room to waiting putters. */
static CIO__NOINLINE void wake_putters_now(cio_queue *q)
{
    cio__slot *s;

    while (room(q) && (s = cio__waitq_pop(&q->putters)) != NULL) {
        q->reserved_room++;
        cio__wait_wake_inline(s, cio_int(0));
    }
}

/* Inline, the test whether any putter waits. */
static inline void wake_putters(cio_queue *q)
{
    if (!cio__waitq_empty(&q->putters))
        wake_putters_now(q);
}

/* The handed item's getter took it: the room it held is free. */
static void handed_taken(cio_queue *q)
{
    q->handed = NULL;
    wake_putters(q);
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

    if (f->flags & CIO__FF_MARK) {      /* handed: the result is the item */
        handed_taken(q);
        return;
    }
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

        if (s->fut.flags & CIO__FF_MARK) {  /* older than any in the array */
            q->handed = NULL;
            unpop(q, s->fut.result);
        } else {
            q->reserved_items--;
        }
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
    put_item(q, s->u.w.arg);
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
    put_item(q, s->u.w.arg);
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
        || q->handed != NULL || q->lazy)
        return CIO_EBUSY;
    if (!q->in_storage) {
        cio_free(q->items, q->cap * sizeof *q->items);
        cio_free(q, sizeof *q);
    }
    return 0;
}

void cio_queue_set_compare(cio_queue *q, cio_queue_compare_fn cmp)
{
    if (q != NULL && count(q) == 0)
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
    put_item(q, item);
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

/* Room for the put now (putter_now's test); `grow`: an unbounded queue
 * may grow its array for it (a call: the slow path only). */
static int put_fits(cio_queue *q, int grow)
{
    /* bounded, the array holds maxsize: room is room in it */
    return !q->shutdown && room_now(q)
        && (q->maxsize != 0 || count(q) < q->cap || (grow && reserve(q) == 0));
}

/* Off the fast path: let go of the last await, then the fast way if it is
 * open now, else the generic one. Out of line, so the fast path saves no
 * registers. */
static CIO__NOINLINE int put_in_slow(cio_coro *co, cio_loop *loop, cio_queue *q, cio_value item)
{
    if (cio__await_task(loop, q->loop) != NULL && put_fits(q, 1)) {
        put_item(q, item);                  /* any kind */
        return cio__await_outcome(co, 0, cio_int(0));
    }
    return cio__await(co, loop, cio_queue_put(q, item));
}

/* putter_now's work for a FIFO, in place: handed to a waiting getter (the
 * queue empty, so room unless promised to woken putters; an array for the
 * item to come back to, which an unbounded queue may not have yet), or
 * into the array. */
int cio__queue_put_in(cio_coro *co, cio_loop *loop, cio_queue *q, cio_value item)
{
    if (q == NULL)
        return cio__await_outcome(co, CIO_EINVAL, cio_int(0));
    if (cio__await_task_now(loop, q->loop) == NULL || q->kind != CIO_QUEUE_FIFO)
        return put_in_slow(co, loop, q, item);  /* a sorted push is a call */
    if (can_hand(q) && !q->shutdown && q->reserved_room == 0 && q->cap != 0
        && cio__waitq_empty(&q->putters)) {     /* room_now, the queue empty */
        cio__await_outcome(co, 0, cio_int(0));  /* first: co is not kept */
        hand_item(q, item, loop);
        return CIO_CORO_DONE;
    }
    if (!put_fits(q, 0))
        return put_in_slow(co, loop, q, item);
    push(q, item);
    cio__await_outcome(co, 0, cio_int(0));
    return wake_getters(q);                 /* a tail call */
}

/* The generic way: CIO_AWAIT of the future. */
static CIO__NOINLINE int get_generic(cio_coro *co, cio_loop *loop, cio_queue *q)
{
    return cio__await(co, loop, cio_queue_get(q));
}

/* A LIFO's or priority queue's item at once (a call: out of line). */
static CIO__NOINLINE int get_now_sorted(cio_coro *co, cio_queue *q)
{
    cio__await_outcome(co, 0, pop_sorted(q));
    wake_putters(q);
    return CIO_CORO_DONE;
}

/* The last await still to let go of, or no task: let go, then the fast way
 * if it is open now. */
static CIO__NOINLINE int get_in_slow(cio_coro *co, cio_loop *loop, cio_queue *q)
{
    if (cio__await_task(loop, q->loop) != NULL)
        return cio__queue_get_in(co, loop, q);
    return get_generic(co, loop, q);
}

int cio__queue_get_in(cio_coro *co, cio_loop *loop, cio_queue *q)
{
    cio__task *t;

    if (q == NULL)
        return cio__await_outcome(co, CIO_EINVAL, cio_int(0));
    t = cio__await_task_now(loop, q->loop);
    if (t == NULL)
        return get_in_slow(co, loop, q);
    if (q->len > q->reserved_items) {       /* getter_now's work */
        if (q->kind != CIO_QUEUE_FIFO)
            return get_now_sorted(co, q);
        cio__await_outcome(co, 0, pop(q));
        wake_putters(q);
        return CIO_CORO_DONE;
    }
    if (q->shutdown)
        return get_generic(co, loop, q);
    cio__own_wait_queue(t, co, &get_vt, &q->getters, cio_int(0));  /* get_start's */
    return CIO_CORO_PENDING;
}

/* getter_take and read_own_wait's work, with the item straight into co:
 * a FIFO's item (any other: cio__await_resume). */
void cio__queue_get_resume(cio_coro *co, cio_loop *loop)
{
    cio__task *t = cio__own_wait_woken(co, &get_vt, 0);
    cio_queue *q;

    if (t == NULL) {
        cio__await_resume(co, loop);
        return;
    }
    q = GETTERS_OF(&t->slot);
    if (t->slot.fut.flags & CIO__FF_MARK) {     /* handed: getter_take's */
        cio__await_outcome(co, 0, t->slot.fut.result);
        cio__own_wait_release(t, co);
        handed_taken(q);
        return;
    }
    if (q->kind != CIO_QUEUE_FIFO) {
        cio__await_resume(co, loop);
        return;
    }
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
        if (q->handed != NULL) {    /* its getter fails as a reserved one */
            q->handed->fut.flags &= ~CIO__FF_MARK;
            q->handed = NULL;
            q->reserved_items++;
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
    return q != NULL ? count(q) : 0;
}

size_t cio_queue_maxsize(const cio_queue *q)
{
    return q != NULL ? q->maxsize : 0;
}

int cio_queue_empty(const cio_queue *q)
{
    return q == NULL || count(q) == 0;
}

int cio_queue_full(const cio_queue *q)
{
    return q != NULL && !room(q);
}
