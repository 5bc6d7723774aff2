/* timer_list.c - the timer queue of a build without a heap (CIO_NO_HEAP):
 * the interface of timer_queue.h over a sorted, intrusive singly linked
 * list, so timers need no memory but their own.
 *
 * A timer in the queue does not use its node's link (that is for the ready
 * queue once it is due), so the list runs through node.next. q->last serves
 * as the head sentinel and q->heap_len counts the timers. The earliest
 * timer is the head: taking it is O(1). A start walks past every timer due
 * no later (equal deadlines stay FIFO) and an out-of-order removal walks
 * to its predecessor: O(n) each. Fine for the dozens of timers of an
 * embedded program; the ring and heap of timer_queue.c are for the
 * millions of a server.
 */
#ifdef CIO_NO_HEAP
#include "loop/timer_queue.h"

#define IN_LIST 0u          /* idx of a timer in the list */

/* a before b? Sequence numbers wrap at 2^31: compare their distance. */
static int before(const cio__timer *a, const cio__timer *b)
{
    if (a->when != b->when)
        return a->when < b->when;
    return ((uint32_t)(a->seq - b->seq) & 0x40000000u) != 0;
}

#define HEAD(q) (&(q)->last.node)
#define TIMER(n) CIO__CONTAINER_OF((n), cio__timer, node)

int cio__tq_push(cio__timer_queue *q, cio__timer *t)
{
    cio__node *prev = HEAD(q);

    while (prev->next != NULL && !before(t, TIMER(prev->next)))
        prev = prev->next;
    t->node.next = prev->next;
    prev->next = &t->node;
    t->idx = IN_LIST;
    q->heap_len++;
    return 0;
}

cio__timer *cio__tq_top(cio__timer_queue *q)
{
    return HEAD(q)->next != NULL ? TIMER(HEAD(q)->next) : NULL;
}

cio__timer *cio__tq_pop_due(cio__timer_queue *q, double now)
{
    cio__timer *t = cio__tq_top(q);

    if (t == NULL || t->when > now)
        return NULL;
    cio__tq_remove(q, t);
    return t;
}

void cio__tq_remove(cio__timer_queue *q, cio__timer *t)
{
    cio__node *prev = HEAD(q);

    while (prev->next != NULL && prev->next != &t->node)
        prev = prev->next;
    if (prev->next == NULL)
        return;
    prev->next = t->node.next;
    t->node.next = NULL;
    t->idx = CIO__TIMER_IDLE;
    q->heap_len--;
}

void cio__tq_filter(cio__timer_queue *q, int (*drop)(cio__timer *t, void *arg), void *arg)
{
    cio__node *prev = HEAD(q), *n;

    while ((n = prev->next) != NULL) {
        cio__node *next = n->next;

        if (drop(TIMER(n), arg)) {      /* n may be gone: do not touch it */
            prev->next = next;
            q->heap_len--;
        } else {
            prev = n;
        }
    }
}

void cio__tq_free(cio__timer_queue *q)
{
    HEAD(q)->next = NULL;
    q->heap_len = 0;
}
#else
typedef int cio__timer_list_unused;     /* ISO C: no empty file */
#endif /* CIO_NO_HEAP */
