/* timer_heap.c - binary min-heap of timers, (deadline, sequence) order. */
#include "loop/timer_heap.h"

/* a before b? Sequence numbers wrap at 2^31: compare their distance. */
static int before(const cio__timer *a, const cio__timer *b)
{
    if (a->when != b->when)
        return a->when < b->when;
    return ((uint32_t)(a->seq - b->seq) & 0x40000000u) != 0;
}

static void put(cio__timer_heap *h, uint32_t i, cio__timer *t)
{
    h->items[i] = t;
    t->idx = i;
}

static void sift_up(cio__timer_heap *h, uint32_t i)
{
    cio__timer *t = h->items[i];

    while (i > 0) {
        uint32_t parent = (i - 1) / 2;

        if (!before(t, h->items[parent]))
            break;
        put(h, i, h->items[parent]);
        i = parent;
    }
    put(h, i, t);
}

static void sift_down(cio__timer_heap *h, uint32_t i)
{
    cio__timer *t = h->items[i];

    for (;;) {
        uint32_t child = 2 * i + 1;

        if (child >= h->len)
            break;
        if (child + 1 < h->len && before(h->items[child + 1], h->items[child]))
            child++;
        if (!before(h->items[child], t))
            break;
        put(h, i, h->items[child]);
        i = child;
    }
    put(h, i, t);
}

int cio__heap_reserve(cio__timer_heap *h, uint32_t extra)
{
    uint32_t cap;
    cio__timer **items;

    if (h->len + extra <= h->cap)
        return 0;
    if (h->len > UINT32_MAX / 4 - extra)
        return CIO_ENOMEM;
    cap = h->cap ? h->cap : 64;
    while (cap < h->len + extra)
        cap *= 2;
    items = cio_realloc(h->items, (size_t)h->cap * sizeof *items,
                        (size_t)cap * sizeof *items);
    if (items == NULL)
        return CIO_ENOMEM;
    h->items = items;
    h->cap = cap;
    return 0;
}

int cio__heap_push(cio__timer_heap *h, cio__timer *t)
{
    if (cio__heap_reserve(h, 1) != 0)
        return CIO_ENOMEM;
    put(h, h->len++, t);
    sift_up(h, t->idx);
    return 0;
}

void cio__heap_remove(cio__timer_heap *h, cio__timer *t)
{
    uint32_t i = t->idx;
    cio__timer *last = h->items[--h->len];

    t->idx = CIO__TIMER_IDLE;
    if (last == t)
        return;
    put(h, i, last);
    cio__heap_fix(h, last);
}

void cio__heap_fix(cio__timer_heap *h, cio__timer *t)
{
    uint32_t i = t->idx;

    if (i > 0 && before(t, h->items[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

void cio__heap_rebuild(cio__timer_heap *h)
{
    uint32_t i;

    for (i = 0; i < h->len; i++)
        h->items[i]->idx = i;
    for (i = h->len / 2; i-- > 0;)
        sift_down(h, i);
}

void cio__heap_free(cio__timer_heap *h)
{
    cio_free(h->items, (size_t)h->cap * sizeof *h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
