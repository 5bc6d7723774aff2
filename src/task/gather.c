/* gather.c - asyncio.gather: wait for all children, results in order.
 *
 * One allocation: the gather future plus one record per child, which is
 * both the child pointer and the node registered in the child's callback
 * ring. The gather's result (.p) is the gather itself: read each child's
 * outcome with cio_gather_result while you hold it.
 */
#include "internal.h"

typedef struct gather gather;

/* Once a child is seen done, its outcome is kept in its record (error in
 * node.next, result in u.result): reading the results back touches the
 * records only, not a million children no cache holds any more. */
typedef struct gather_kid {
    cio__node node;     /* in the child's ring, then queued; run NULL once seen */
    cio_future *child;  /* NULL: failed at creation, error in node.next */
    union {
        gather *g;          /* until seen */
        cio_value result;   /* once seen */
    } u;
} gather_kid;

struct gather {
    cio_future fut;
    size_t n;
    size_t pending;             /* children not seen done yet */
    unsigned char return_exceptions;
    unsigned char cancel_requested;
    gather_kid kids[1];         /* n of them */
};

static int gather_cancel(cio_future *f, const char *msg);
static void gather_destroy(cio_future *f);

static const cio__future_vt gather_vt = {
    .kind = "Gather", .cancel = gather_cancel, .destroy = gather_destroy
};

#define GATHER(f) ((gather *)(void *)(f))

static size_t gather_size(size_t n)
{
    return offsetof(gather, kids) + (n ? n : 1) * sizeof(gather_kid);
}

static void release_all(size_t n, cio_future *const *futs)
{
    size_t i;

    for (i = 0; i < n; i++)
        cio_future_unref(futs[i]);
}

static int kid_error(const gather_kid *k)
{
    return (int)(intptr_t)k->node.next;
}

/* The child is seen done (or failed at creation) with err: its node is
 * out of every ring and queue, so it keeps the error. */
static void kid_mark_seen(gather_kid *k, int err)
{
    k->node.run = NULL;
    k->node.next = (cio__node *)(intptr_t)err;
}

static void gather_complete(gather *g, int err)
{
    cio_value v;

    v.p = err == 0 ? g : NULL;
    cio__future_finish(&g->fut, CIO__DONE, err, v);
}

/* A child finished (or failed at creation): count it, maybe finish. */
static void kid_seen(gather *g, int err)
{
    g->pending--;
    if (g->fut.state != CIO__PENDING)
        return;
    if (err != 0 && !g->return_exceptions) {
        gather_complete(g, err);    /* the first error, at once (C2) */
        return;
    }
    if (g->pending == 0)
        gather_complete(g, g->cancel_requested ? CIO_ECANCELLED : 0);
}

static void kid_done(cio_loop *loop, cio__node *node)
{
    gather_kid *k = CIO__CONTAINER_OF(node, gather_kid, node);
    gather *g = k->u.g;
    cio_value v;
    int err;

    v.p = NULL;
    v.i = 0;
    err = cio__future_outcome(k->child, &v);
    kid_mark_seen(k, err);
    k->u.result = v;
    if (loop->closing)
        return;
    /* The gather answers for its children's errors: none is reported as
     * never retrieved, even after the gather failed (C2). */
    k->child->flags |= CIO__FF_RETRIEVED;
    kid_seen(g, err);
}

cio_future *cio_gather_ex(cio_loop *loop, size_t n, cio_future *const *futs,
                          int return_exceptions)
{
    gather *g;
    size_t i;

    if (loop == NULL || loop->closed || (n > 0 && futs == NULL)
        || n > (SIZE_MAX - sizeof(gather)) / sizeof(gather_kid)) {
        if (futs != NULL)
            release_all(n, futs);
        return NULL;
    }
    g = cio__pool_alloc(loop, gather_size(n));
    if (g == NULL) {
        release_all(n, futs);
        return NULL;
    }
    cio__alloc_prefault(g, gather_size(n));     /* written whole, now */
    cio__future_init(&g->fut, loop, &gather_vt);
    g->n = n;
    g->pending = n;
    g->return_exceptions = return_exceptions != 0;
    g->cancel_requested = 0;
    /* One pass: each record is set up and registered at once, failures at
     * creation counted in argument order (a child done already is only
     * scheduled: nothing runs before we return). Each child is touched
     * once (a million children do not fit in a cache: a second pass would
     * miss on every one again), and a few ahead are fetched meanwhile. */
    for (i = 0; i < n; i++) {
        gather_kid *k = &g->kids[i];

        if (i + CIO__PREFETCH_AHEAD < n && futs[i + CIO__PREFETCH_AHEAD] != NULL)
            CIO__PREFETCH(futs[i + CIO__PREFETCH_AHEAD]);
        k->u.g = g;
        k->child = futs[i];
        k->node.run = kid_done;
        k->node.next = NULL;
        if (k->child == NULL || k->child->loop != loop) {
            int err = k->child == NULL ? CIO_ENOMEM : CIO_EWRONGLOOP;

            cio_future_unref(k->child);
            k->child = NULL;
            kid_mark_seen(k, err);
            kid_seen(g, err);
        } else {
            cio__future_add_waiter(k->child, &k->node);
        }
    }
    if (n == 0)
        gather_complete(g, 0);
    return &g->fut;
}

cio_future *cio_gather(cio_loop *loop, size_t n, cio_future *const *futs)
{
    return cio_gather_ex(loop, n, futs, 0);
}

static int gather_cancel(cio_future *f, const char *msg)
{
    gather *g = GATHER(f);
    size_t i;
    int ret = 0;

    for (i = 0; i < g->n; i++)
        if (g->kids[i].child != NULL && cio_future_cancel(g->kids[i].child, msg))
            ret = 1;
    if (ret)
        g->cancel_requested = 1;
    return ret;
}

static void gather_destroy(cio_future *f)
{
    gather *g = GATHER(f);
    size_t i;

    for (i = 0; i < g->n; i++) {
        gather_kid *k = &g->kids[i];

        if (k->child == NULL)
            continue;
        if (k->node.run != NULL) {
            /* Not seen done yet: the gather still answers for its error,
             * as CPython's callback, which outlives the gather, does. */
            k->child->flags |= CIO__FF_RETRIEVED;
            cio__future_detach(k->child, &k->node);
        }
        cio_future_unref(k->child);
    }
    cio__pool_free(f->loop, g, gather_size(g->n));
}

static const gather *as_gather(const cio_future *f)
{
    return f != NULL && f->vt == &gather_vt ? (const gather *)(const void *)f : NULL;
}

size_t cio_gather_size(const cio_future *f)
{
    const gather *g = as_gather(f);

    return g != NULL ? g->n : 0;
}

cio_future *cio_gather_child(const cio_future *f, size_t i)
{
    const gather *g = as_gather(f);

    return g != NULL && i < g->n ? g->kids[i].child : NULL;
}

int cio_gather_result(const cio_future *f, size_t i, cio_value *out)
{
    const gather *g = as_gather(f);
    const gather_kid *k;

    if (g == NULL || i >= g->n)
        return CIO_EINVAL;
    k = &g->kids[i];
    if (k->child != NULL && k->node.run != NULL)        /* not seen done yet */
        return cio__future_outcome(k->child, out);      /* may take() */
    if (k->child != NULL && kid_error(k) == 0 && out != NULL)
        *out = k->u.result;
    return kid_error(k);
}
