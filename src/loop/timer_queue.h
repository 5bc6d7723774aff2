/* timer_queue.h - the loop's timers, ordered by (deadline, sequence).
 *
 * Two structures behind one interface:
 *  - a ring of timers started in deadline order: the common case (many
 *    timers with the same delay: sleeps, timeouts) appends and pops in O(1),
 *    touching memory in order;
 *  - a 4-ary min-heap for timers that arrive out of order, O(log n); its
 *    entries carry a copy of the deadline, so ordering reads the array.
 * The earliest timer is the earlier of the two fronts. Equal deadlines pop
 * in start order (the sequence number): asyncio leaves that unspecified and
 * we promise it (case L4). Every timer knows its place (idx), so it can be
 * removed in O(1) (ring: a tombstone) or O(log n) (heap).
 */
#ifndef CIO_TIMER_QUEUE_H
#define CIO_TIMER_QUEUE_H

#include "internal.h"

/* Add t (t->when, t->seq set); CIO_ENOMEM if it cannot grow. */
int cio__tq_push(cio__timer_queue *q, cio__timer *t);
/* The earliest timer, or NULL. */
cio__timer *cio__tq_top(cio__timer_queue *q);
/* The earliest timer if it is due at `now`, taken out (t->idx becomes
 * CIO__TIMER_IDLE); NULL if none is due. */
cio__timer *cio__tq_pop_due(cio__timer_queue *q, double now);
/* Take t out (it is in the queue); t->idx becomes CIO__TIMER_IDLE. */
void cio__tq_remove(cio__timer_queue *q, cio__timer *t);
/* Timers in the queue. */
static inline uint32_t cio__tq_len(const cio__timer_queue *q)
{
    return q->heap_len + q->ring_len;
}
/* Call drop(t) for every timer, in any order; where it returns nonzero the
 * queue forgets t without touching it again (drop sets t->idx to
 * CIO__TIMER_IDLE and may free t). drop may not touch the queue. */
void cio__tq_filter(cio__timer_queue *q, int (*drop)(cio__timer *t, void *arg), void *arg);
void cio__tq_free(cio__timer_queue *q);

#endif
