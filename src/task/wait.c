/* wait.c - asyncio.wait: done when return_when is met or the timeout runs
 * out; never fails, never cancels a child.
 *
 * When it completes, the children are split into a done set and a pending
 * set (each in argument order), read with cio_wait_done / cio_wait_pending.
 * The wait's result (.p) is the wait itself.
 */
#include "internal.h"

typedef struct waiter waiter;

typedef struct wait_kid {
    cio__node node;     /* in the child's ring, then queued; run NULL once seen */
    cio_future *child;
    waiter *w;
} wait_kid;

struct waiter {
    cio_future fut;
    cio__timer timer;           /* the timeout, if any */
    size_t n;
    size_t nseen;               /* children whose completion we saw */
    size_t ndone;               /* size of the done set once complete */
    cio_future **sets;          /* done set, then pending set */
    int return_when;
    wait_kid kids[1];           /* n of them; then the sets array */
};

static int wait_cancel(cio_future *f, const char *msg);
static void wait_destroy(cio_future *f);

static const cio__future_vt wait_vt = {
    .kind = "Wait", .cancel = wait_cancel, .destroy = wait_destroy
};

static size_t kids_bytes(size_t n)
{
    return offsetof(waiter, kids) + n * sizeof(wait_kid);
}

static size_t wait_size(size_t n)
{
    return kids_bytes(n) + n * sizeof(cio_future *);
}

/* Stop listening to the children still pending. */
static void detach(waiter *w)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        wait_kid *k = &w->kids[i];

        if (k->node.run == NULL)
            continue;
        cio__future_detach(k->child, &k->node);
        k->node.run = NULL;
    }
}

static void wait_complete(waiter *w)
{
    size_t i, d = 0, p;
    cio_value v;

    cio__timer_cancel(w->fut.loop, &w->timer, NULL);
    cio__timer_forget(w->fut.loop, &w->timer);
    detach(w);
    for (i = 0; i < w->n; i++)
        if (w->kids[i].child->state != CIO__PENDING)
            d++;
    w->ndone = d;
    p = d;
    d = 0;
    for (i = 0; i < w->n; i++) {
        cio_future *c = w->kids[i].child;

        w->sets[c->state != CIO__PENDING ? d++ : p++] = c;
    }
    v.p = w;
    cio__future_finish(&w->fut, CIO__DONE, 0, v);
}

static void kid_done(cio_loop *loop, cio__node *node)
{
    wait_kid *k = CIO__CONTAINER_OF(node, wait_kid, node);
    waiter *w = k->w;
    cio_future *c = k->child;

    node->run = NULL;
    if (loop->closing || w->fut.state != CIO__PENDING)
        return;
    w->nseen++;
    if (w->return_when == CIO_FIRST_COMPLETED
        || (w->return_when == CIO_FIRST_EXCEPTION && c->state == CIO__DONE && c->err != 0)) {
        wait_complete(w);
        return;
    }
    if (w->nseen == w->n)
        wait_complete(w);
}

static void timeout_fired(cio_loop *loop, cio__node *node)
{
    waiter *w = CIO__CONTAINER_OF(node, waiter, timer.node);

    cio__timer_fired(&w->timer);
    if (!loop->closing && w->fut.state == CIO__PENDING)
        wait_complete(w);
}

static cio_future *failed(cio_loop *loop, int err)
{
    cio_future *f = cio_future_new(loop);

    if (f != NULL)
        cio_future_set_error(f, err);
    return f;
}

cio_future *cio_wait(cio_loop *loop, size_t n, cio_future *const *futs,
                     double timeout, cio_return_when return_when)
{
    waiter *w;
    size_t i;
    int err = 0;

    if (loop == NULL || loop->closed) {
        if (futs != NULL)
            for (i = 0; i < n; i++)
                cio_future_unref(futs[i]);
        return NULL;
    }
    if (n == 0 || futs == NULL || timeout != timeout)
        err = CIO_EINVAL;
    else if (return_when != CIO_ALL_COMPLETED && return_when != CIO_FIRST_COMPLETED
             && return_when != CIO_FIRST_EXCEPTION)
        err = CIO_EINVAL;
    for (i = 0; err == 0 && i < n; i++)
        if (futs[i] == NULL)
            err = CIO_ENOMEM;
        else if (futs[i]->loop != loop)
            err = CIO_EWRONGLOOP;
    if (err == 0 && n > (SIZE_MAX - sizeof(waiter)) / (sizeof(wait_kid) + sizeof(void *)))
        err = CIO_ENOMEM;
    w = err == 0 ? cio__pool_alloc(loop, wait_size(n)) : NULL;
    if (w == NULL) {
        if (futs != NULL)
            for (i = 0; i < n; i++)
                cio_future_unref(futs[i]);
        return err != 0 ? failed(loop, err) : NULL;
    }
    cio__alloc_prefault(w, wait_size(n));       /* written whole, now */
    cio__future_init(&w->fut, loop, &wait_vt);
    cio__timer_init(&w->timer);
    w->n = n;
    w->nseen = 0;
    w->ndone = 0;
    w->sets = (cio_future **)(void *)((char *)w + kids_bytes(n));
    w->return_when = return_when;
    for (i = 0; i < n; i++) {
        w->kids[i].w = w;
        w->kids[i].child = futs[i];
        w->kids[i].node.run = kid_done;
        w->kids[i].node.next = NULL;
    }
    if (timeout >= 0
        && cio__timer_start(loop, &w->timer, cio_loop_time(loop) + timeout, timeout_fired) != 0) {
        cio__pool_free(loop, w, wait_size(n));
        for (i = 0; i < n; i++)
            cio_future_unref(futs[i]);
        return NULL;
    }
    for (i = 0; i < n; i++)
        cio__future_add_waiter(futs[i], &w->kids[i].node);
    return &w->fut;
}

/* Cancelling a wait (its awaiting task was cancelled) leaves the children. */
static int wait_cancel(cio_future *f, const char *msg)
{
    waiter *w = (waiter *)(void *)f;

    cio__timer_cancel(f->loop, &w->timer, NULL);
    cio__timer_forget(f->loop, &w->timer);
    detach(w);
    return cio__future_cancel_plain(f, msg);
}

static void wait_destroy(cio_future *f)
{
    waiter *w = (waiter *)(void *)f;
    size_t i;

    cio__timer_forget(f->loop, &w->timer);
    detach(w);
    for (i = 0; i < w->n; i++)
        cio_future_unref(w->kids[i].child);
    cio__pool_free(f->loop, w, wait_size(w->n));
}

static const waiter *as_wait(const cio_future *f)
{
    return f != NULL && f->vt == &wait_vt && f->state == CIO__DONE
               ? (const waiter *)(const void *)f : NULL;
}

cio_future *const *cio_wait_done(const cio_future *f, size_t *n)
{
    const waiter *w = as_wait(f);

    if (n != NULL)
        *n = w != NULL ? w->ndone : 0;
    return w != NULL ? w->sets : NULL;
}

cio_future *const *cio_wait_pending(const cio_future *f, size_t *n)
{
    const waiter *w = as_wait(f);

    if (n != NULL)
        *n = w != NULL ? w->n - w->ndone : 0;
    return w != NULL ? w->sets + w->ndone : NULL;
}
