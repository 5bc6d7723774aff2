/* wait_for.c - asyncio.wait_for and asyncio.shield.
 *
 * wait_for: the inner future's outcome, unless the timeout runs out first:
 * then the inner is cancelled, and once it has finished the wait fails with
 * CIO_ETIMEDOUT - or, if the inner ignored the cancel and returned, gives
 * that value (asyncio 3.12). Cancelling the wait cancels the inner and ends
 * cancelled once the inner has finished.
 *
 * shield: an outer future that follows the inner; cancelling the outer
 * leaves the inner running; the inner cancelled cancels the outer.
 */
#include "internal.h"

typedef struct waitfor {
    cio_future fut;
    cio_future *inner;
    cio__node node;             /* in the inner's callback ring */
    cio__timer timer;
    unsigned char timed_out;    /* we cancelled the inner for the timeout */
    unsigned char shield;       /* a shield: no timer, never cancels inner */
} waitfor;

static int waitfor_cancel(cio_future *f, const char *msg);
static void waitfor_destroy(cio_future *f);

static const cio__future_vt waitfor_vt = {
    .kind = "wait_for", .cancel = waitfor_cancel, .destroy = waitfor_destroy
};

#define WF(f) ((waitfor *)(void *)(f))

/* The inner finished: pass its outcome on. */
static void inner_done(cio_loop *loop, cio__node *node)
{
    waitfor *w = CIO__CONTAINER_OF(node, waitfor, node);
    cio_future *in = w->inner;
    cio_value v;
    int err;

    node->run = NULL;
    if (loop->closing)
        return;
    if (w->fut.state != CIO__PENDING) {     /* a cancelled shield */
        in->flags |= CIO__FF_RETRIEVED;
        return;
    }
    cio__timer_forget(loop, &w->timer);
    if (in->state == CIO__CANCELLED) {
        in->flags |= CIO__FF_RETRIEVED;
        if (w->timed_out) {
            v.p = NULL;
            cio__future_finish(&w->fut, CIO__DONE, CIO_ETIMEDOUT, v);
        } else {
            cio__future_cancel_plain(&w->fut, cio_future_cancel_message(in));
        }
        return;
    }
    v.p = NULL;
    err = cio_future_result(in, &v);    /* the wait answers for its error */
    cio__future_finish(&w->fut, CIO__DONE, err, v);
}

static void timed_out(cio_loop *loop, cio__node *node)
{
    waitfor *w = CIO__CONTAINER_OF(node, waitfor, timer.node);

    cio__timer_fired(&w->timer);
    if (loop->closing || w->fut.state != CIO__PENDING)
        return;
    w->timed_out = 1;
    cio_future_cancel(w->inner, NULL);  /* its end completes the wait */
}

static int waitfor_cancel(cio_future *f, const char *msg)
{
    waitfor *w = WF(f);

    if (w->shield)                      /* the inner goes on */
        return cio__future_cancel_plain(f, msg);
    if (w->inner->state != CIO__PENDING)
        return 0;       /* its outcome is on the way; the cancel comes after */
    cio__timer_forget(f->loop, &w->timer);
    w->timed_out = 0;
    cio_future_cancel(w->inner, msg);   /* inner_done ends the wait cancelled */
    return 1;
}

static void waitfor_destroy(cio_future *f)
{
    waitfor *w = WF(f);

    cio__timer_forget(f->loop, &w->timer);
    if (w->node.run != NULL) {
        /* we answer for the inner's error even if we go first (asyncio's
         * callback outlives the outer future) */
        w->inner->flags |= CIO__FF_RETRIEVED;
        cio__future_detach(w->inner, &w->node);
    }
    cio_future_unref(w->inner);
    cio__pool_free(f->loop, w, sizeof *w);
}

static waitfor *waitfor_new(cio_loop *loop, cio_future *inner)
{
    waitfor *w = cio__pool_alloc(loop, sizeof *w);

    if (w == NULL)
        return NULL;
    cio__future_init(&w->fut, loop, &waitfor_vt);
    w->inner = inner;
    w->node.next = NULL;
    w->node.run = inner_done;
    cio__timer_init(&w->timer);
    w->timed_out = 0;
    w->shield = 0;
    return w;
}

cio_future *cio_wait_for(cio_loop *loop, cio_future *inner, double timeout)
{
    waitfor *w;

    if (loop == NULL || inner == NULL || inner->loop != loop) {
        cio_future_unref(inner);
        return inner == NULL || loop == NULL ? NULL : cio__wait_failed(loop, CIO_EWRONGLOOP);
    }
    if (timeout != timeout) {           /* NaN: a clear error */
        cio_future_unref(inner);
        return cio__wait_failed(loop, CIO_EINVAL);
    }
    if (timeout < 0)
        return inner;                   /* no timeout: a plain await */
    w = waitfor_new(loop, inner);
    if (w == NULL) {
        cio_future_unref(inner);
        return NULL;
    }
    if (inner->state == CIO__PENDING && timeout == 0) {
        w->timed_out = 1;               /* wait_for(x, 0): cancel now */
        cio_future_cancel(inner, NULL);
    } else if (inner->state == CIO__PENDING
               && cio__timer_start(loop, &w->timer, cio_loop_time(loop) + timeout,
                                   timed_out) != 0) {
        cio_future_unref(&w->fut);
        return NULL;
    }
    cio__future_add_waiter(inner, &w->node);
    return &w->fut;
}

cio_future *cio_shield(cio_loop *loop, cio_future *inner)
{
    waitfor *w;

    if (loop == NULL || inner == NULL || inner->loop != loop) {
        cio_future_unref(inner);
        return inner == NULL || loop == NULL ? NULL : cio__wait_failed(loop, CIO_EWRONGLOOP);
    }
    if (inner->state != CIO__PENDING)
        return inner;                   /* shield(done) is done (C23) */
    w = waitfor_new(loop, inner);
    if (w == NULL) {
        cio_future_unref(inner);
        return NULL;
    }
    w->shield = 1;
    cio__future_add_waiter(inner, &w->node);
    return &w->fut;
}
