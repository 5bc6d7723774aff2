/* timeout.c - timeout scopes (asyncio.timeout): the deadline cancels the
 * task; leaving the scope uncancels it and reports CIO_ETIMEDOUT, unless
 * somebody else cancelled the task too (asyncio 3.11's rule). */
#include "internal.h"

enum { OPEN = 1, EXPIRED = 2, CLOSED = 3, CLOSED_EXPIRED = 4 };

typedef struct scope {
    cio_loop *loop;
    cio__task *task;
    cio__timer timer;
    unsigned cancelling;        /* the task's cancel requests at entry */
    unsigned char state;
} scope;

typedef char scope_fits[sizeof(scope) <= sizeof(cio_timeout) ? 1 : -1];

#define SCOPE(t) ((scope *)(void *)(t))

static void expired(cio_loop *loop, cio__node *node)
{
    scope *s = CIO__CONTAINER_OF(node, scope, timer.node);

    cio__timer_fired(&s->timer);
    if (loop->closing || s->state != OPEN)
        return;
    s->state = EXPIRED;
    cio_future_cancel(&s->task->fut, NULL);
}

static int arm(scope *s, double when)
{
    cio__timer_forget(s->loop, &s->timer);
    if (when < 0 || when != when)
        return 0;
    if (when <= cio_loop_time(s->loop)) {
        /* already past: expire before the task's next step (asyncio's
         * reschedule does call_soon(on_timeout)) */
        s->timer.when = when;
        s->timer.idx = CIO__TIMER_QUEUED;
        s->timer.node.run = expired;
        cio__loop_schedule(s->loop, &s->timer.node);
        return 0;
    }
    return cio__timer_start(s->loop, &s->timer, when, expired);
}

int cio_timeout_enter_at(cio_loop *loop, cio_timeout *t, double when)
{
    scope *s = SCOPE(t);
    int err;

    if (t == NULL || when != when)
        return CIO_EINVAL;
    if (loop == NULL || loop->current == NULL)
        return CIO_ENOLOOP;
    s->loop = loop;
    s->task = loop->current;
    s->cancelling = cio__cancels(&s->task->fut);
    s->state = OPEN;
    cio__timer_init(&s->timer);
    err = arm(s, when);
    if (err != 0)
        s->state = CLOSED;
    return err;
}

int cio_timeout_enter(cio_loop *loop, cio_timeout *t, double delay)
{
    if (loop == NULL)
        return CIO_ENOLOOP;
    if (delay != delay)
        return CIO_EINVAL;
    return cio_timeout_enter_at(loop, t, delay < 0 ? -1 : cio_loop_time(loop) + delay);
}

int cio_timeout_reschedule(cio_timeout *t, double when)
{
    scope *s = SCOPE(t);

    if (t == NULL || when != when)
        return CIO_EINVAL;
    if (s->state != OPEN)
        return CIO_EINVALSTATE;
    return arm(s, when);
}

double cio_timeout_when(const cio_timeout *t)
{
    const scope *s = (const scope *)(const void *)t;

    return t != NULL && (s->state == OPEN || s->state == EXPIRED)
                   && s->timer.idx != CIO__TIMER_IDLE
               ? s->timer.when : -1;
}

int cio_timeout_expired(const cio_timeout *t)
{
    const scope *s = (const scope *)(const void *)t;

    return t != NULL && (s->state == EXPIRED || s->state == CLOSED_EXPIRED);
}

int cio_timeout_exit(cio_timeout *t, int err)
{
    scope *s = SCOPE(t);

    if (t == NULL || (s->state != OPEN && s->state != EXPIRED))
        return err;
    cio__timer_forget(s->loop, &s->timer);
    if (s->state == OPEN) {
        s->state = CLOSED;
        return err;
    }
    s->state = CLOSED_EXPIRED;
    if (cio_task_uncancel(&s->task->fut) <= (int)s->cancelling && err == CIO_ECANCELLED)
        return CIO_ETIMEDOUT;
    return err;
}
