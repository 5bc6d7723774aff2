/* as_completed.c - asyncio.as_completed: outcomes in completion order.
 *
 * Each child's completion appends it to `order`; next() gives the next one
 * in that order (at once if it is there, else when it comes), or fails with
 * CIO_ETIMEDOUT once the timeout ran out, or with CIO_EEMPTY after the last.
 */
#include <string.h>
#include "internal.h"

typedef struct ac_kid {
    cio__node node;             /* in the child's ring; run NULL once seen */
    cio_future *child;
    struct cio_as_completed *it;
} ac_kid;

struct cio_as_completed {
    cio_loop *loop;
    size_t n, ndone, given;
    size_t *order;              /* child indices, in completion order */
    cio_future *last;           /* the child the last next() gave */
    cio__waitq waiters;         /* pending next()s, FIFO */
    cio__timer timer;
    unsigned char timed_out;
    ac_kid kids[1];
};

static void next_destroy(cio_future *f)
{
    cio__wait_release((cio__slot *)(void *)f);
}

static const cio__future_vt next_vt = {
    .kind = "as_completed.next", .cancel = cio__wait_cancel, .destroy = next_destroy
};

static size_t it_size(size_t n)
{
    return offsetof(cio_as_completed, kids) + (n ? n : 1) * (sizeof(ac_kid) + sizeof(size_t));
}

/* The next child's outcome as a waiter's result. */
static void deliver(cio_as_completed *it, cio__slot *s)
{
    cio_future *c = it->kids[it->order[it->given++]].child;
    cio_value v;
    int err;

    it->last = c;
    v.p = NULL;
    err = cio_future_result(c, &v);
    if (err != 0)
        cio__wait_fail(s, err);
    else
        cio__wait_wake(s, v);
    s->fut.flags |= CIO__FF_TAKEN;
}

static void kid_done(cio_loop *loop, cio__node *node)
{
    ac_kid *k = CIO__CONTAINER_OF(node, ac_kid, node);
    cio_as_completed *it = k->it;
    cio__slot *s;

    node->run = NULL;
    if (loop->closing)
        return;
    it->order[it->ndone++] = (size_t)(k - it->kids);
    if (!it->timed_out && (s = cio__waitq_pop(&it->waiters)) != NULL)
        deliver(it, s);
}

static void timed_out(cio_loop *loop, cio__node *node)
{
    cio_as_completed *it = CIO__CONTAINER_OF(node, cio_as_completed, timer.node);
    cio__slot *s;

    cio__timer_fired(&it->timer);
    if (loop->closing)
        return;
    it->timed_out = 1;
    while ((s = it->waiters.head) != NULL)
        cio__wait_fail(s, CIO_ETIMEDOUT);
}

cio_as_completed *cio_as_completed_new(cio_loop *loop, size_t n, cio_future *const *futs,
                                       double timeout)
{
    cio_as_completed *it;
    size_t i;

    if (loop == NULL || (n > 0 && futs == NULL) || timeout != timeout
        || n > ((size_t)-1 - sizeof *it) / (sizeof(ac_kid) + sizeof(size_t)))
        goto fail;
    for (i = 0; i < n; i++)
        if (futs[i] == NULL || futs[i]->loop != loop)
            goto fail;
    it = cio_alloc(it_size(n));
    if (it == NULL)
        goto fail;
    cio__alloc_prefault(it, it_size(n));        /* written whole, now */
    memset(it, 0, offsetof(cio_as_completed, kids));
    it->loop = loop;
    it->n = n;
    it->order = (size_t *)(void *)&it->kids[n ? n : 1];
    cio__timer_init(&it->timer);
    if (timeout >= 0
        && cio__timer_start(loop, &it->timer, cio_loop_time(loop) + timeout, timed_out) != 0) {
        cio_free(it, it_size(n));
        goto fail;
    }
    for (i = 0; i < n; i++) {
        it->kids[i].child = futs[i];
        it->kids[i].it = it;
        it->kids[i].node.run = kid_done;
        it->kids[i].node.next = NULL;
    }
    for (i = 0; i < n; i++)
        cio__future_add_waiter(futs[i], &it->kids[i].node);
    return it;
fail:
    if (futs != NULL)
        for (i = 0; i < n; i++)
            cio_future_unref(futs[i]);
    return NULL;
}

cio_future *cio_as_completed_next(cio_as_completed *it)
{
    cio_future *f;

    if (it == NULL)
        return NULL;
    if (it->given < it->ndone && cio__waitq_empty(&it->waiters)) {
        f = cio__wait_new(it->loop, &next_vt, &it->waiters, cio_int(0));
        if (f != NULL)
            deliver(it, cio__waitq_pop(&it->waiters));
        return f;
    }
    if (it->given >= it->n)
        return cio__wait_failed(it->loop, CIO_EEMPTY);
    if (it->timed_out)
        return cio__wait_failed(it->loop, CIO_ETIMEDOUT);
    return cio__wait_new(it->loop, &next_vt, &it->waiters, cio_int(0));
}

cio_future *cio_as_completed_last(const cio_as_completed *it)
{
    return it != NULL ? it->last : NULL;
}

int cio_as_completed_free(cio_as_completed *it)
{
    size_t i;

    if (it == NULL)
        return 0;
    if (!cio__waitq_empty(&it->waiters))
        return CIO_EBUSY;
    cio__timer_forget(it->loop, &it->timer);
    for (i = 0; i < it->n; i++) {
        ac_kid *k = &it->kids[i];

        if (k->node.run != NULL)
            cio__future_detach(k->child, &k->node);
        cio_future_unref(k->child);
    }
    cio_free(it, it_size(it->n));
    return 0;
}
