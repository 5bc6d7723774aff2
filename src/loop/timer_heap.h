/* timer_heap.h - a binary min-heap of timers keyed by (deadline, sequence).
 *
 * Equal deadlines pop in start order (the sequence number), which asyncio
 * leaves unspecified and we promise (case L4). Each timer knows its index,
 * so one can be re-keyed or removed in O(log n).
 */
#ifndef CIO_TIMER_HEAP_H
#define CIO_TIMER_HEAP_H

#include "internal.h"

/* Insert t (t->when and t->seq set); CIO_ENOMEM if the array cannot grow. */
int cio__heap_push(cio__timer_heap *h, cio__timer *t);
/* The earliest timer, or NULL. */
static inline cio__timer *cio__heap_top(const cio__timer_heap *h)
{
    return h->len ? h->items[0] : NULL;
}
/* Remove t (which is in the heap). */
void cio__heap_remove(cio__timer_heap *h, cio__timer *t);
/* Restore order after t's key changed. */
void cio__heap_fix(cio__timer_heap *h, cio__timer *t);
/* Make room for one more timer ahead of time; CIO_ENOMEM. */
int cio__heap_reserve(cio__timer_heap *h, uint32_t extra);
/* Re-heapify after removing entries in place (compaction). */
void cio__heap_rebuild(cio__timer_heap *h);
void cio__heap_free(cio__timer_heap *h);

#endif
