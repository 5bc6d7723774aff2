/* sleep.c - asyncio.sleep: a future completed by a timer.
 *
 * Every task carries one sleep (future + timer) in its own allocation, so
 * `CIO_AWAIT(cio_sleep(loop, d))` allocates nothing; a second sleep alive at
 * the same time (two sleeps in one gather), a sleep outside a task, and one
 * with a result value are allocated (the value needs a place of its own: a
 * pending future's result slot holds its callbacks). A sleep of 0 is
 * lazy: awaited by its task it just yields one iteration; anything else
 * waiting on it arms it to complete on the next iteration.
 */
#include "internal.h"

static int sleeper_cancel(cio_future *f, const char *msg);
static void sleeper_arm(cio_future *f);
static void sleeper_destroy(cio_future *f);

static const cio__future_vt sleeper_vt = {
    "Sleep", 0, sleeper_cancel, sleeper_arm, sleeper_destroy
};

#define SLEEPER(f) ((cio__sleeper *)(void *)(f))

/* An allocated sleep, with its result value. */
typedef struct valued_sleeper {
    cio__sleeper s;
    cio_value value;
} valued_sleeper;

static cio_value value_of(const cio__sleeper *s)
{
    cio_value zero;

    if (!(s->fut.flags & CIO__FF_STATIC))
        return CIO__CONTAINER_OF(s, valued_sleeper, s)->value;
    zero.p = NULL;
    zero.i = 0;
    return zero;
}

/* Whether s is the one built into a task. */
static int embedded(const cio__sleeper *s)
{
    return (s->fut.flags & CIO__FF_STATIC) != 0;
}

void cio__sleeper_init_embedded(cio__sleeper *s, cio_loop *loop)
{
    cio__future_init(&s->fut, loop, &sleeper_vt);
    s->fut.refs = 0;                        /* free for use */
    s->fut.flags = CIO__FF_STATIC;
    cio__timer_init(&s->timer);
}

int cio__sleeper_busy(const cio__sleeper *s)
{
    return s->fut.refs > 0 || s->timer.idx == CIO__TIMER_QUEUED;
}

int cio__sleeper_is_zero(const cio_future *f)
{
    return f->vt == &sleeper_vt && (f->flags & CIO__FF_LAZY) != 0;
}

void cio__sleeper_finish_now(cio_future *f)
{
    cio__sleeper *s = SLEEPER(f);

    s->fut.flags &= ~CIO__FF_LAZY;
    cio__future_finish(&s->fut, CIO__DONE, 0, value_of(s));
}

static void sleeper_fire(cio_loop *loop, cio__node *node)
{
    cio__sleeper *s = CIO__CONTAINER_OF(node, cio__sleeper, timer.node);

    cio__timer_fired(&s->timer);
    if (loop->closing || s->fut.state != CIO__PENDING)
        return;
    cio__future_finish(&s->fut, CIO__DONE, 0, value_of(s));
}

/* A cancelled timer reached the front of the ready queue. */
static void sleeper_dropped(cio_loop *loop, cio__node *node)
{
    cio__sleeper *s = CIO__CONTAINER_OF(node, cio__sleeper, timer.node);

    (void)loop;
    cio__timer_fired(&s->timer);
}

static void sleeper_arm(cio_future *f)
{
    cio__sleeper *s = SLEEPER(f);

    f->flags &= ~CIO__FF_LAZY;
    cio__timer_forget(f->loop, &s->timer);  /* a cancelled earlier use */
    s->timer.idx = CIO__TIMER_QUEUED;
    s->timer.node.run = sleeper_fire;
    cio__loop_schedule(f->loop, &s->timer.node);
}

static int sleeper_cancel(cio_future *f, const char *msg)
{
    cio__sleeper *s = SLEEPER(f);

    f->flags &= ~CIO__FF_LAZY;
    cio__timer_cancel(f->loop, &s->timer, sleeper_dropped);
    return cio__future_cancel_plain(f, msg);
}

static void sleeper_destroy(cio_future *f)
{
    cio__sleeper *s = SLEEPER(f);

    cio__timer_forget(f->loop, &s->timer);
    if (embedded(s)) {
        /* free for the task's next sleep; it pinned its task meanwhile */
        cio__task *t = CIO__CONTAINER_OF(s, cio__task, sleeper);

        f->refs = 0;
        f->flags = CIO__FF_STATIC;
        cio_future_unref(&t->fut);
    } else {
        cio__pool_free(f->loop, CIO__CONTAINER_OF(s, valued_sleeper, s), sizeof(valued_sleeper));
    }
}

cio_future *cio_sleep_result(cio_loop *loop, double delay, cio_value result)
{
    cio__task *t;
    cio__sleeper *s;

    if (loop == NULL || loop->closed)
        return NULL;
    if (!(delay > 0))
        delay = 0;                          /* negative and NaN count as 0 */
    t = loop->current;
    if (t != NULL && CIO__TASK_AWAITING(t) == &t->sleeper.fut && t->sleeper.fut.refs == 1)
        cio__await_release(loop);           /* the last sleep's result is read */
    if (t != NULL && !cio__sleeper_busy(&t->sleeper) && result.p == NULL && result.i == 0) {
        s = &t->sleeper;
        cio__future_init(&s->fut, loop, &sleeper_vt);
        s->fut.flags = CIO__FF_STATIC;
        cio__pin(&t->fut);                  /* the sleep pins its task */
    } else {
        valued_sleeper *vs = cio__pool_alloc(loop, sizeof *vs);

        if (vs == NULL)
            return NULL;
        s = &vs->s;
        vs->value = result;
        cio__future_init(&s->fut, loop, &sleeper_vt);
        cio__timer_init(&s->timer);
    }
    if (delay == 0) {
        s->fut.flags |= CIO__FF_LAZY;
        return &s->fut;
    }
    if (cio__timer_start(loop, &s->timer, cio_loop_time(loop) + delay, sleeper_fire) != 0) {
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
