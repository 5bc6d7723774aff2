/* future.c - the future state machine and its done callbacks.
 *
 * A future is pending, then done (result or error) or cancelled, once.
 * Completing it moves its callback ring onto the loop's ready queue in one
 * splice, so callbacks run on the next iteration in registration order and
 * never inside set_result (asyncio's F6). Tasks, sleeps and gathers embed a
 * cio_future and customise it through a small vtable.
 */
#include <limits.h>
#include "internal.h"

/* A done callback registered through the public API. */
typedef struct cio__cb {
    cio__node node;
    cio_future *fut;
    cio_done_fn fn;
    void *arg;
} cio__cb;


const cio__future_vt cio__plain_future_vt = { .kind = "Future", .settable = 1 };

cio_future *cio_future_new(cio_loop *loop)
{
    cio_future *f;

    if (loop == NULL || loop->closed)
        return NULL;
    f = cio__pool_alloc(loop, sizeof *f);
    if (f == NULL)
        return NULL;
    cio__future_init(f, loop, &cio__plain_future_vt);
    return f;
}

/* CIO_FUTURE_SIZE (cio/future.h) must cover a future. */
typedef char cio__future_size_ok[sizeof(cio_future) <= CIO_FUTURE_SIZE ? 1 : -1];

cio_future *cio_future_new_in(cio_loop *loop, void *storage, size_t size)
{
    cio_future *f = storage;

    if (loop == NULL || loop->closed || !cio__storage_ok(storage, size, sizeof *f, 1))
        return NULL;
    cio__future_init(f, loop, &cio__plain_future_vt);
    f->flags = CIO__FF_STATIC;
    return f;
}

cio_future *cio_future_ref(cio_future *f)
{
    if (f != NULL)
        cio__pin(f);
    return f;
}

/* Free the ring's public callbacks: the future goes away still pending. */
static void drop_callbacks(cio_future *f)
{
    cio__node *tail, *n, *next;

    if (f->state != CIO__PENDING || (tail = f->cb_tail) == NULL)
        return;
    n = tail->next;
    f->cb_tail = NULL;
    for (;;) {
        next = n->next;
        if (n->run == cio__future_cb_run)
            cio__pool_free(f->loop, CIO__CONTAINER_OF(n, cio__cb, node), sizeof(cio__cb));
        if (n == tail)
            break;
        n = next;
    }
}

void cio_future_unref(cio_future *f)
{
    if (f == NULL || cio__refs(f) == CIO__REFS_MAX || (--f->rc & CIO__REFS_MAX) > 0)
        return;
    if (f->state == CIO__DONE && f->err != 0 && !(f->flags & CIO__FF_RETRIEVED)) {
        cio__set_refs(f, 1); /* keep it whole while the handler looks at it */
        cio__report(f->loop,
                    f->vt == &cio__task_vt ? "Task exception was never retrieved"
                                           : "Future exception was never retrieved",
                    f->err, NULL, f);
        if ((--f->rc & CIO__REFS_MAX) > 0)
            return;
    }
    drop_callbacks(f);
    if (f->vt->destroy != NULL)
        f->vt->destroy(f);
    else if (!(f->flags & CIO__FF_STATIC))
        cio__pool_free(f->loop, f, sizeof *f);
}

cio_loop *cio_future_loop(const cio_future *f)
{
    return f != NULL ? f->loop : NULL;
}

int cio_future_done(const cio_future *f)
{
    return f != NULL && f->state != CIO__PENDING;
}

int cio_future_cancelled(const cio_future *f)
{
    return f != NULL && f->state == CIO__CANCELLED;
}

int cio_future_result(cio_future *f, cio_value *out)
{
    int err;

    if (f == NULL)
        return CIO_EINVAL;
    err = cio__future_outcome(f, out);
    if (f->state != CIO__PENDING)       /* after: flags is stored last */
        f->flags |= CIO__FF_RETRIEVED;
    return err;
}

int cio_future_error(cio_future *f)
{
    return cio_future_result(f, NULL);
}

ptrdiff_t cio_future_int(cio_future *f)
{
    cio_value v;

    v.i = 0;
    return cio_future_result(f, &v) == 0 ? v.i : 0;
}

void *cio_future_ptr(cio_future *f)
{
    cio_value v;

    v.p = NULL;
    return cio_future_result(f, &v) == 0 ? v.p : NULL;
}

void cio__future_finish(cio_future *f, int state, int err, cio_value v)
{
    cio__future_finish_inline(f, state, err, v);
}

void cio__future_finish_ring(cio_future *f, cio__node *tail)
{
    cio__node *n = tail;

    /* Each public callback pins the future until it has run. */
    do {
        n = n->next;
        if (n->run == cio__future_cb_run)
            cio__pin(f);
    } while (n != tail);
    cio__loop_schedule_ring(f->loop, tail);
}

static int set_checked(cio_future *f, int err, cio_value v)
{
    if (f == NULL)
        return CIO_EINVAL;
    if (!f->vt->settable)
        return CIO_ENOTSUP;
    if (f->state != CIO__PENDING)
        return CIO_EINVALSTATE;
    cio__future_finish(f, CIO__DONE, err, v);
    return 0;
}

int cio_future_set_result(cio_future *f, cio_value v)
{
    return set_checked(f, 0, v);
}

int cio_future_set_int(cio_future *f, ptrdiff_t i)
{
    cio_value v;

    v.p = NULL;
    v.i = i;
    return set_checked(f, 0, v);
}

int cio_future_set_ptr(cio_future *f, void *p)
{
    cio_value v;

    v.p = p;
    return set_checked(f, 0, v);
}

int cio_future_set_error(cio_future *f, int err)
{
    cio_value v;

    if (err >= 0 || err < INT16_MIN)
        return CIO_EINVAL;
    v.p = NULL;
    return set_checked(f, err, v);
}

int cio__future_cancel_plain(cio_future *f, const char *msg)
{
    cio_value v;

    if (f->state != CIO__PENDING)
        return 0;
    v.p = (void *)(uintptr_t)msg; /* a cancelled future keeps its message here */
    cio__future_finish(f, CIO__CANCELLED, CIO_ECANCELLED, v);
    return 1;
}

int cio_future_cancel(cio_future *f, const char *msg)
{
    if (f == NULL || f->state != CIO__PENDING)
        return 0;
    if (f->vt->cancel != NULL)
        return f->vt->cancel(f, msg);
    return cio__future_cancel_plain(f, msg);
}

const char *cio_future_cancel_message(const cio_future *f)
{
    if (f == NULL || f->state != CIO__CANCELLED)
        return NULL;
    return (const char *)f->result.p;
}

/* ---- the callback ring ---- */

static void ring_append(cio_future *f, cio__node *node)
{
    if (f->cb_tail == NULL) {
        node->next = node;
    } else {
        node->next = f->cb_tail->next;
        f->cb_tail->next = node;
    }
    f->cb_tail = node;
}

void cio__future_add_waiter_any(cio_future *f, cio__node *node)
{
    if ((f->flags & CIO__FF_LAZY) && f->vt->arm != NULL)
        f->vt->arm(f);
    if (f->state != CIO__PENDING) {
        node->next = NULL;
        cio__loop_schedule(f->loop, node);
        return;
    }
    ring_append(f, node);
}

int cio__future_remove_waiter(cio_future *f, cio__node *node)
{
    cio__node *tail, *prev, *n;

    if (f->state != CIO__PENDING || (tail = f->cb_tail) == NULL)
        return 0;
    prev = tail;
    do {
        n = prev->next;
        if (n == node) {
            if (n == prev) {            /* the only one */
                f->cb_tail = NULL;
            } else {
                prev->next = n->next;
                if (n == tail)
                    f->cb_tail = prev;
            }
            n->next = NULL;
            return 1;
        }
        prev = n;
    } while (prev != tail);
    return 0;
}

void cio__future_detach(cio_future *f, cio__node *node)
{
    if (!cio__future_remove_waiter(f, node))
        cio__loop_unschedule(f->loop, node);
}

void cio__future_cb_run(cio_loop *loop, cio__node *node)
{
    cio__cb *cb = CIO__CONTAINER_OF(node, cio__cb, node);
    cio_future *f = cb->fut;
    int err;

    if (!loop->closing) {
        err = cb->fn(f, cb->arg);
        if (err < 0)
            cio__report(loop, "Exception in callback", err, NULL, f);
    }
    cio__pool_free(loop, cb, sizeof *cb);
    cio_future_unref(f);
}

int cio_future_add_done_callback(cio_future *f, cio_done_fn fn, void *arg)
{
    cio__cb *cb;

    if (f == NULL || fn == NULL)
        return CIO_EINVAL;
    if (f->state != CIO__PENDING && f->loop->closed)
        return CIO_ECLOSED;
    cb = cio__pool_alloc(f->loop, sizeof *cb);
    if (cb == NULL)
        return CIO_ENOMEM;
    cb->node.run = cio__future_cb_run;
    cb->fut = f;
    cb->fn = fn;
    cb->arg = arg;
    if (f->state != CIO__PENDING)
        cio__pin(f);    /* scheduled now: it pins the future like finish does */
    cio__future_add_waiter(f, &cb->node);
    return 0;
}

int cio_future_remove_done_callback(cio_future *f, cio_done_fn fn, void *arg)
{
    cio__node *tail, *n, *next;
    int removed = 0;

    if (f == NULL || f->state != CIO__PENDING || f->cb_tail == NULL)
        return 0;
    tail = f->cb_tail;
    n = tail->next;
    for (;;) {
        int last = (n == tail);

        next = n->next;
        if (n->run == cio__future_cb_run) {
            cio__cb *cb = CIO__CONTAINER_OF(n, cio__cb, node);

            if (cb->fn == fn && cb->arg == arg) {
                cio__future_remove_waiter(f, n);
                cio__pool_free(f->loop, cb, sizeof *cb);
                removed++;
            }
        }
        if (last || f->state != CIO__PENDING || f->cb_tail == NULL)
            break;
        n = next;
    }
    return removed;
}
