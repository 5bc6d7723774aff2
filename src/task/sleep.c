/* sleep.c - asyncio.sleep: a future completed by a timer.
 *
 * A sleep takes the current task's slot (slot.c), so
 * `CIO_AWAIT(cio_sleep(loop, d))` allocates nothing; a second sleep alive at
 * the same time, a sleep outside a task, and one with a result value use a
 * pooled slot (the value needs a place of its own: a pending future's result
 * field holds its callbacks). A sleep of 0 is lazy: awaited by a task it just
 * yields one iteration; anything else waiting on it arms it to complete on
 * the next iteration.
 */
#include "internal.h"

static int sleeper_cancel(cio_future *f, const char *msg);
static void sleeper_arm(cio_future *f);
static void sleeper_destroy(cio_future *f);

const cio__future_vt cio__sleeper_vt = {
    .kind = "Sleep", .cancel = sleeper_cancel, .arm = sleeper_arm,
    .destroy = sleeper_destroy
};

/* A pooled sleep: the slot and its result value. */
typedef struct valued_sleeper {
    cio__slot s;
    cio_value value;
} valued_sleeper;

#define SLOT(f) ((cio__slot *)(void *)(f))

static cio_value value_of(const cio__slot *s)
{
    cio_value zero;

    if (!cio__slot_embedded(s))
        return CIO__CONTAINER_OF(s, valued_sleeper, s)->value;
    zero.p = NULL;
    zero.i = 0;
    return zero;
}

void cio__sleeper_finish_now(cio_future *f)
{
    f->flags &= ~CIO__FF_LAZY;
    cio__future_finish(f, CIO__DONE, 0, value_of(SLOT(f)));
}

static void sleeper_fire(cio_loop *loop, cio__node *node)
{
    cio__slot *s = CIO__CONTAINER_OF(node, cio__slot, u.timer.node);

    cio__timer_fired(&s->u.timer);
    if (loop->closing || s->fut.state != CIO__PENDING)
        return;
    cio__future_finish(&s->fut, CIO__DONE, 0, value_of(s));
}

/* A cancelled timer reached the front of the ready queue. */
static void sleeper_dropped(cio_loop *loop, cio__node *node)
{
    cio__slot *s = CIO__CONTAINER_OF(node, cio__slot, u.timer.node);

    (void)loop;
    cio__timer_fired(&s->u.timer);
}

static void sleeper_arm(cio_future *f)
{
    cio__slot *s = SLOT(f);

    f->flags &= ~CIO__FF_LAZY;
    cio__timer_forget(f->loop, &s->u.timer);  /* a cancelled earlier use */
    s->u.timer.idx = CIO__TIMER_QUEUED;
    s->u.timer.node.run = sleeper_fire;
    cio__loop_schedule(f->loop, &s->u.timer.node);
}

static int sleeper_cancel(cio_future *f, const char *msg)
{
    cio__slot *s = SLOT(f);

    f->flags &= ~CIO__FF_LAZY;
    cio__timer_cancel(f->loop, &s->u.timer, sleeper_dropped);
    return cio__future_cancel_plain(f, msg);
}

static void sleeper_destroy(cio_future *f)
{
    cio__slot *s = SLOT(f);

    cio__timer_forget(f->loop, &s->u.timer);
    cio__slot_release(s, sizeof(valued_sleeper));
}

cio_future *cio_sleep_result(cio_loop *loop, double delay, cio_value result)
{
    cio__slot *s;
    int plain = result.p == NULL && result.i == 0;

    if (loop == NULL || loop->closed)
        return NULL;
    if (delay != delay)
        return cio__wait_failed(loop, CIO_EINVAL);  /* NaN: a clear error */
    if (delay < 0)
        delay = 0;                          /* negative counts as 0 */
    s = cio__slot_get(loop, &cio__sleeper_vt, sizeof(valued_sleeper), plain);
    if (s == NULL)
        return NULL;
    if (!cio__slot_embedded(s))
        CIO__CONTAINER_OF(s, valued_sleeper, s)->value = result;
    if (delay == 0) {
        s->fut.flags |= CIO__FF_LAZY;
        return &s->fut;
    }
    if (cio__timer_start(loop, &s->u.timer, cio_loop_time(loop) + delay, sleeper_fire) != 0) {
        s->fut.flags |= CIO__FF_RETRIEVED;
        cio_future_unref(&s->fut);
        return NULL;
    }
    return &s->fut;
}

cio_future *cio_sleep(cio_loop *loop, double delay)
{
    cio_value v;

    v.p = NULL;
    v.i = 0;
    return cio_sleep_result(loop, delay, v);
}
