/* handle.c - call_soon / call_later / call_at and their handles.
 *
 * A handle is a node (call_soon) or a timer (call_later/at) plus the
 * callback. The loop holds one reference while the handle is scheduled and
 * the caller one if it asked for the handle; cancelling only marks it, and
 * the loop lets go when it reaches it (lazy removal, as asyncio does).
 */
#include "internal.h"

struct cio_handle {
    cio__timer timer;       /* .node alone for call_soon */
    cio_callback_fn fn;
    void *arg;
    cio_loop *loop;
    uint32_t refs;
    uint8_t is_timer;
    uint8_t cancelled;
};

static void handle_release(cio_loop *loop, cio__node *node);

void cio_handle_unref(cio_handle *h)
{
    if (h == NULL || --h->refs > 0)
        return;
    cio__pool_free(h->loop, h, sizeof *h);
}

static void handle_run(cio_loop *loop, cio__node *node)
{
    cio_handle *h = CIO__CONTAINER_OF(node, cio_handle, timer.node);
    int err;

    if (h->is_timer)
        cio__timer_fired(&h->timer);
    if (!loop->closing && !h->cancelled) {
        err = h->fn(loop, h->arg);
        if (err < 0)
            cio__report(loop, "Exception in callback", err, h, NULL);
    }
    cio_handle_unref(h);
}

/* A cancelled handle leaves the loop: drop the loop's reference. */
static void handle_release(cio_loop *loop, cio__node *node)
{
    cio_handle *h = CIO__CONTAINER_OF(node, cio_handle, timer.node);

    (void)loop;
    cio_handle_unref(h);
}

static cio_handle *handle_new(cio_loop *loop, cio_callback_fn fn, void *arg)
{
    cio_handle *h = cio__pool_alloc(loop, sizeof *h);

    if (h == NULL)
        return NULL;
    cio__timer_init(&h->timer);
    h->fn = fn;
    h->arg = arg;
    h->loop = loop;
    h->refs = 1;
    h->is_timer = 0;
    h->cancelled = 0;
    return h;
}

static int check(cio_loop *loop, cio_callback_fn fn)
{
    if (loop == NULL || fn == NULL)
        return CIO_EINVAL;
    return loop->closed ? CIO_ECLOSED : 0;
}

static void give(cio_handle *h, cio_handle **out)
{
    if (out != NULL) {
        h->refs++;
        *out = h;
    }
}

int cio_loop_call_soon(cio_loop *loop, cio_callback_fn fn, void *arg, cio_handle **out)
{
    cio_handle *h;
    int err = check(loop, fn);

    if (err != 0)
        return err;
    h = handle_new(loop, fn, arg);
    if (h == NULL)
        return CIO_ENOMEM;
    h->timer.node.run = handle_run;
    give(h, out);
    cio__loop_schedule(loop, &h->timer.node);
    return 0;
}

int cio_loop_call_at(cio_loop *loop, double when, cio_callback_fn fn, void *arg,
                     cio_handle **out)
{
    cio_handle *h;
    int err = check(loop, fn);

    if (err != 0)
        return err;
    if (when != when)   /* NaN */
        return CIO_EINVAL;
    h = handle_new(loop, fn, arg);
    if (h == NULL)
        return CIO_ENOMEM;
    h->is_timer = 1;
    if (cio__timer_start(loop, &h->timer, when, handle_run) != 0) {
        cio__pool_free(loop, h, sizeof *h);
        return CIO_ENOMEM;
    }
    give(h, out);
    return 0;
}

int cio_loop_call_later(cio_loop *loop, double delay, cio_callback_fn fn, void *arg,
                        cio_handle **out)
{
    int err = check(loop, fn);

    if (err != 0)
        return err;
    if (delay != delay)
        return CIO_EINVAL;
    return cio_loop_call_at(loop, cio_loop_time(loop) + delay, fn, arg, out);
}

void cio_handle_cancel(cio_handle *h)
{
    if (h == NULL || h->cancelled)
        return;
    h->cancelled = 1;
    if (h->is_timer && h->timer.idx != CIO__TIMER_IDLE && h->timer.idx != CIO__TIMER_QUEUED)
        cio__timer_cancel(h->loop, &h->timer, handle_release);
}

int cio_handle_cancelled(const cio_handle *h)
{
    return h != NULL && h->cancelled;
}

double cio_handle_when(const cio_handle *h)
{
    if (h == NULL || !h->is_timer)
        return -1;
    return h->timer.when;
}
