/* taskgroup.c - asyncio.TaskGroup: children, the first failure cancels the
 * rest, every error kept. */
#include <string.h>
#include "internal.h"

typedef struct tg_kid {
    cio__node node;             /* in the child's ring; run NULL once seen */
    cio_future *task;
    struct cio_taskgroup *g;
    struct tg_kid *next;
} tg_kid;

#define KEPT_ERRORS 16          /* errors kept beyond the count: the first 16 */

struct cio_taskgroup {
    cio_loop *loop;
    tg_kid *kids;
    size_t pending;             /* children still running */
    size_t nerrs;
    int errs[KEPT_ERRORS];
    cio__waitq waiters;
    unsigned char aborting;     /* a child failed or the wait was cancelled */
    unsigned char cancelled;    /* the wait was cancelled */
};

static int waiter_cancel(cio_future *f, const char *msg);
static void waiter_destroy(cio_future *f);

static const cio__future_vt wait_vt = {
    .kind = "TaskGroup.wait", .cancel = waiter_cancel, .destroy = waiter_destroy
};

#define SLOT(f) ((cio__slot *)(void *)(f))
#define GROUP_OF(s) CIO__CONTAINER_OF((s)->u.w.q, cio_taskgroup, waiters)

cio_taskgroup *cio_taskgroup_new(cio_loop *loop)
{
    cio_taskgroup *g;

    if (loop == NULL || (g = cio_alloc(sizeof *g)) == NULL)
        return NULL;
    memset(g, 0, sizeof *g);
    g->loop = loop;
    return g;
}

/* Cancel every child still running. */
static void abort_children(cio_taskgroup *g)
{
    tg_kid *k;

    g->aborting = 1;
    for (k = g->kids; k != NULL; k = k->next)
        if (k->node.run != NULL)
            cio_future_cancel(k->task, NULL);
}

/* Every child has ended: complete the waits. */
static void finish_waits(cio_taskgroup *g)
{
    cio__slot *s;

    while ((s = cio__waitq_pop(&g->waiters)) != NULL) {
        if (g->nerrs > 0)
            cio__wait_fail(s, g->errs[0]);
        else if (g->cancelled)
            cio__future_finish(&s->fut, CIO__CANCELLED, CIO_ECANCELLED, cio_ptr(NULL));
        else
            cio__wait_wake(s, cio_int(0));
        s->fut.flags |= CIO__FF_TAKEN;
    }
}

static void kid_done(cio_loop *loop, cio__node *node)
{
    tg_kid *k = CIO__CONTAINER_OF(node, tg_kid, node);
    cio_taskgroup *g = k->g;
    int err;

    node->run = NULL;
    if (loop->closing)
        return;
    g->pending--;
    err = cio_future_error(k->task);    /* the group answers for it */
    if (err != 0 && err != CIO_ECANCELLED) {
        if (g->nerrs < KEPT_ERRORS)
            g->errs[g->nerrs] = err;
        g->nerrs++;
        if (!g->aborting)
            abort_children(g);
    }
    if (g->pending == 0)
        finish_waits(g);
}

int cio_taskgroup_add(cio_taskgroup *g, cio_future *task)
{
    tg_kid *k;

    if (g == NULL || !cio_task_is_task(task) || task->loop != g->loop) {
        cio_future_unref(task);
        return CIO_EINVAL;
    }
    if (g->aborting) {
        cio_future_cancel(task, NULL);
        cio_future_unref(task);
        return CIO_EINVALSTATE;
    }
    k = cio__pool_alloc(g->loop, sizeof *k);
    if (k == NULL) {
        cio_future_unref(task);
        return CIO_ENOMEM;
    }
    k->task = task;
    k->g = g;
    k->node.next = NULL;
    k->node.run = kid_done;
    k->next = g->kids;
    g->kids = k;
    g->pending++;
    cio__future_add_waiter(task, &k->node);
    return 0;
}

cio_future *cio_taskgroup_wait(cio_taskgroup *g)
{
    cio_future *f;

    if (g == NULL)
        return NULL;
    f = cio__wait_new(g->loop, &wait_vt, &g->waiters, cio_int(0));
    if (f != NULL && g->pending == 0)
        finish_waits(g);
    return f;
}

/* The waiting task is cancelled: cancel the children, end when they have. */
static int waiter_cancel(cio_future *f, const char *msg)
{
    cio_taskgroup *g = GROUP_OF(SLOT(f));

    (void)msg;
    g->cancelled = 1;
    abort_children(g);
    if (g->pending == 0)
        finish_waits(g);
    return 1;
}

static void waiter_destroy(cio_future *f)
{
    cio__wait_release(SLOT(f));
}

size_t cio_taskgroup_errors(const cio_taskgroup *g, int *errs, size_t cap)
{
    size_t i;

    if (g == NULL)
        return 0;
    for (i = 0; i < cap && i < g->nerrs && i < KEPT_ERRORS; i++)
        errs[i] = g->errs[i];
    return g->nerrs;
}

int cio_taskgroup_free(cio_taskgroup *g)
{
    tg_kid *k, *next;

    if (g == NULL)
        return 0;
    if (g->pending > 0 || !cio__waitq_empty(&g->waiters))
        return CIO_EBUSY;
    for (k = g->kids; k != NULL; k = next) {
        next = k->next;
        cio_future_unref(k->task);
        cio__pool_free(g->loop, k, sizeof *k);
    }
    cio_free(g, sizeof *g);
    return 0;
}
