/* slot.c - the future a task waits on without allocating.
 *
 * Every task carries one slot (a future plus a timer or a wait-queue link)
 * in its own allocation. Sleeps and the waits of queues, locks, events and
 * channels take the current task's slot when it is free, so the common
 * `CIO_AWAIT(cio_queue_get(q))` costs no allocation; a second wait alive at
 * the same time (two sleeps in one gather) gets a pooled slot instead.
 */
#include <string.h>
#include "internal.h"

void cio__slot_init_embedded(cio__slot *s, cio_loop *loop)
{
    cio__future_init(&s->fut, loop, &cio__plain_future_vt);
    s->fut.refs = 0;                        /* free for use */
    s->fut.flags = CIO__FF_STATIC;
    cio__timer_init(&s->u.timer);
}

/* In use, or its timer still sits in the ready queue (a cancelled sleep
 * whose node has not been dropped yet). */
static int busy(const cio__slot *s)
{
    return s->fut.refs > 0 || s->u.timer.idx == CIO__TIMER_QUEUED;
}

cio__slot *cio__slot_get(cio_loop *loop, const cio__future_vt *vt, size_t size,
                         int embeddable)
{
    cio__task *t = loop->current;
    cio__slot *s;

    /* The task's last await is over (its result is in the frame): let it
     * go now, so the next wait finds the slot free. */
    if (t != NULL && CIO__TASK_AWAITING(t) == &t->slot.fut && t->slot.fut.refs == 1
        && t->slot.fut.state != CIO__PENDING)
        cio__await_release(loop);
    if (t != NULL && embeddable && !busy(&t->slot)) {
        s = &t->slot;
        cio__future_init(&s->fut, loop, vt);
        s->fut.flags = CIO__FF_STATIC;
        cio__pin(&t->fut);                  /* the slot pins its task */
        return s;
    }
    s = cio__pool_alloc(loop, size);
    if (s == NULL)
        return NULL;
    cio__future_init(&s->fut, loop, vt);
    cio__timer_init(&s->u.timer);
    return s;
}

void cio__slot_release(cio__slot *s, size_t size)
{
    cio_loop *loop = s->fut.loop;

    if (cio__slot_embedded(s)) {
        cio__task *t = CIO__CONTAINER_OF(s, cio__task, slot);

        s->fut.refs = 0;
        s->fut.flags = CIO__FF_STATIC;
        if (s->u.timer.idx != CIO__TIMER_QUEUED)
            cio__timer_init(&s->u.timer);   /* the union is a timer again */
        cio_future_unref(&t->fut);
    } else {
        cio__pool_free(loop, s, size);
    }
}

/* ---- wait queues: FIFO, O(1) removal from anywhere ---- */

void cio__waitq_push(cio__waitq *q, cio__slot *s)
{
    s->u.w.q = q;
    s->u.w.next = NULL;
    s->u.w.prev = q->tail;
    if (q->tail != NULL)
        q->tail->u.w.next = s;
    else
        q->head = s;
    q->tail = s;
}

void cio__waitq_remove(cio__slot *s)
{
    cio__waitq *q = s->u.w.q;

    if (q == NULL)
        return;
    if (s->u.w.prev != NULL)
        s->u.w.prev->u.w.next = s->u.w.next;
    else
        q->head = s->u.w.next;
    if (s->u.w.next != NULL)
        s->u.w.next->u.w.prev = s->u.w.prev;
    else
        q->tail = s->u.w.prev;
    s->u.w.q = NULL;
    s->u.w.prev = s->u.w.next = NULL;
}

cio__slot *cio__waitq_pop(cio__waitq *q)
{
    cio__slot *s = q->head;

    if (s != NULL)
        cio__waitq_remove(s);
    return s;
}
