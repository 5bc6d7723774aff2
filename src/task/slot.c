/* slot.c - the future a task waits on without allocating.
 *
 * Every task carries one slot (a future plus a timer or a wait-queue link)
 * in its own allocation. Sleeps and the waits of queues, locks, events and
 * channels take the current task's slot when it is free, so the common
 * `CIO_AWAIT(cio_queue_get(q))` costs no allocation; a second wait alive at
 * the same time (two sleeps in one gather) gets a pooled slot instead.
 *
 * A queue's or a channel's wait made in the own slot is lazy, as asyncio's
 * `q.get()` is a coroutine that does nothing until awaited: awaited at once
 * by its task (the common case) it runs then and, when it can finish at
 * once, hands its item over directly, with no promise to keep and nothing
 * to take later; used any other way (a gather's child, a done callback) it is
 * started first (arm), and then behaves as a wait made eagerly. Until
 * then it is pending, like a coroutine not yet started.
 */
#include <string.h>
#include "internal.h"

/* In use. (A sleep forgets its timer before its slot is released.) */
static int busy(const cio__slot *s)
{
    return cio__refs(&s->fut) > 0;
}

/* The own slot is busy: with the task's last await, which is over (its
 * result is in the frame): let it go now (mostly it went when its result
 * was read); with a lazy wait: start it, so waits start in the order they
 * were made. 1 if the slot is free now. */
static CIO__NOINLINE int free_own_slot(cio_loop *loop, cio__task *t)
{
    cio__slot *s = &t->slot;

    if (cio__own_slot_alone(t, CIO__TASK_AWAITING(t)) && s->fut.state != CIO__PENDING)
        cio__await_release(loop);
    else if ((s->fut.flags & CIO__FF_LAZY) && s->fut.vt->await_now != NULL)
        s->fut.vt->arm(&s->fut);
    return !busy(s);
}

/* Hand the own slot s of task t out as a future of vt (pending, with
 * `flags`); it pins its task. */
static inline cio__slot *claim(cio_loop *loop, cio__task *t, const cio__future_vt *vt,
                               uint8_t flags)
{
    cio__slot *s = &t->slot;

    cio__future_init(&s->fut, loop, vt);
    s->fut.flags = flags;
    cio__pin(&t->fut);                  /* the slot pins its task */
    return s;
}

/* The current task's own slot if it is free (or can be freed), claimed;
 * else NULL. */
static inline cio__slot *own_slot(cio_loop *loop, const cio__future_vt *vt, uint8_t flags)
{
    cio__task *t = loop->current;

    if (t == NULL || (busy(&t->slot) && !free_own_slot(loop, t)))
        return NULL;
    return claim(loop, t, vt, flags);
}

/* Inline in cio__wait_make: every queue and channel operation. */
static inline cio__slot *own_slot_if_free(cio_loop *loop, const cio__future_vt *vt,
                                          uint8_t flags)
{
    cio__task *t = loop->current;

    if (t == NULL || busy(&t->slot))
        return NULL;
    return claim(loop, t, vt, flags);
}

cio__slot *cio__slot_get(cio_loop *loop, const cio__future_vt *vt, size_t size,
                         int embeddable)
{
    cio__slot *s = embeddable ? own_slot(loop, vt, CIO__FF_STATIC) : NULL;

    if (s != NULL)
        return s;
    s = cio__pool_alloc(loop, size);
    if (s == NULL)
        return NULL;
    cio__future_init(&s->fut, loop, vt);
    cio__timer_init(&s->u.timer);
    return s;
}

/* A wait on q (its owner, even while not queued), bringing arg. */
static void wait_setup(cio__slot *s, cio__waitq *q, cio_value arg)
{
    s->u.w.q = q;
    s->u.w.prev = s->u.w.next = NULL;
    s->u.w.arg = arg;
}

/* cio__wait_make with no task or a busy own slot: out of the hot path. */
static CIO__NOINLINE cio_future *wait_make_slow(cio_loop *loop, const cio__future_vt *vt,
                                                cio__waitq *q, cio_value arg, size_t *lazy,
                                                void (*start)(cio__slot *s))
{
    cio__slot *s = own_slot(loop, vt, CIO__FF_STATIC | CIO__FF_LAZY);

    if (s != NULL) {
        wait_setup(s, q, arg);
        (*lazy)++;
        return &s->fut;
    }
    if ((s = cio__wait_slot(loop, vt, q, arg)) == NULL)
        return NULL;
    start(s);
    return &s->fut;
}

cio_future *cio__wait_make(cio_loop *loop, const cio__future_vt *vt, cio__waitq *q,
                           cio_value arg, size_t *lazy, void (*start)(cio__slot *s))
{
    cio__slot *s = own_slot_if_free(loop, vt, CIO__FF_STATIC | CIO__FF_LAZY);

    if (s == NULL)
        return wait_make_slow(loop, vt, q, arg, lazy, start);
    wait_setup(s, q, arg);
    (*lazy)++;
    return &s->fut;
}

void cio__wait_arm(cio_future *f, size_t *lazy, void (*start)(cio__slot *s))
{
    if (cio__wait_unlazy(f, lazy) && f->state == CIO__PENDING)
        start((cio__slot *)(void *)f);
}

void cio__slot_release(cio__slot *s, size_t size)
{
    cio_loop *loop = s->fut.loop;

    if (cio__slot_embedded(s)) {
        cio__own_slot_release(s, &CIO__CONTAINER_OF(s, cio__task, slot)->fut);
    } else {
        cio__pool_free(loop, s, size);
    }
}

/* ---- wait queues: FIFO, O(1) removal from anywhere ---- */

void cio__waitq_push_front(cio__waitq *q, cio__slot *s)
{
    s->u.w.q = q;
    s->u.w.prev = NULL;
    s->u.w.next = q->head;
    if (q->head != NULL)
        q->head->u.w.prev = s;
    else
        q->tail = s;
    q->head = s;
    s->fut.flags |= CIO__FF_QUEUED;
}

/* ---- the shapes of a primitive's wait ---- */

cio__slot *cio__wait_slot(cio_loop *loop, const cio__future_vt *vt, cio__waitq *q,
                          cio_value arg)
{
    cio__slot *s = cio__slot_get(loop, vt, sizeof(cio__slot), 1);

    if (s == NULL)
        return NULL;
    wait_setup(s, q, arg);
    return s;
}

cio_future *cio__wait_new(cio_loop *loop, const cio__future_vt *vt, cio__waitq *q,
                          cio_value arg)
{
    cio__slot *s = cio__wait_slot(loop, vt, q, arg);

    if (s == NULL)
        return NULL;
    cio__waitq_push(q, s);
    return &s->fut;
}

static void done_destroy(cio_future *f)
{
    cio__slot_release((cio__slot *)(void *)f, sizeof(cio__slot));
}

static const cio__future_vt finished_vt = { .kind = "Wait", .destroy = done_destroy };

cio_future *cio__wait_done(cio_loop *loop, cio_value v)
{
    cio__slot *s = cio__slot_get(loop, &finished_vt, sizeof(cio__slot), 1);

    if (s == NULL)
        return NULL;
    cio__future_finish(&s->fut, CIO__DONE, 0, v);
    return &s->fut;
}

cio_future *cio__wait_served(cio_loop *loop, const cio__future_vt *vt, cio__waitq *q,
                             cio_value arg, cio_value v)
{
    cio__slot *s = cio__wait_slot(loop, vt, q, arg);

    if (s == NULL)
        return NULL;
    cio__future_finish(&s->fut, CIO__DONE, 0, v);   /* never queued */
    return &s->fut;
}

cio_future *cio__wait_failed(cio_loop *loop, int err)
{
    cio__slot *s = cio__slot_get(loop, &finished_vt, sizeof(cio__slot), 1);
    cio_value v;

    if (s == NULL)
        return NULL;
    v.p = NULL;
    cio__future_finish(&s->fut, CIO__DONE, err, v);
    return &s->fut;
}

void cio__wait_wake(cio__slot *s, cio_value v)
{
    cio__wait_wake_inline(s, v);
}

void cio__wait_fail(cio__slot *s, int err)
{
    cio_value v;

    v.p = NULL;
    cio__waitq_remove(s);
    cio__future_finish(&s->fut, CIO__DONE, err, v);
}

int cio__wait_cancel(cio_future *f, const char *msg)
{
    cio__waitq_remove((cio__slot *)(void *)f);
    return cio__future_cancel_plain(f, msg);
}

void cio__wait_release(cio__slot *s)
{
    cio__waitq_remove(s);
    cio__slot_release(s, sizeof(cio__slot));
}
