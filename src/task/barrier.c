/* barrier.c - asyncio.Barrier: `parties` tasks wait for each other.
 *
 * Each arrival gets its index; the last one releases the round. A waiter
 * that is cancelled leaves (the round needs one more arrival), as in
 * asyncio. abort and reset fail the waiters with CIO_EBROKEN.
 */
#include <string.h>
#include "internal.h"

struct cio_barrier {
    cio_loop *loop;
    cio__waitq waiters;
    size_t parties;
    size_t count;               /* arrived in this round */
    unsigned char broken;
    unsigned char in_storage;
};

typedef char barrier_fits[sizeof(cio_barrier) <= CIO_BARRIER_SIZE ? 1 : -1];

static int waiter_cancel(cio_future *f, const char *msg);
static void waiter_destroy(cio_future *f);

static const cio__future_vt wait_vt = {
    .kind = "Barrier.wait", .cancel = waiter_cancel, .destroy = waiter_destroy
};

static cio_barrier *setup(cio_barrier *b, cio_loop *loop, size_t parties, int in_storage)
{
    memset(b, 0, sizeof *b);
    b->loop = loop;
    b->parties = parties;
    b->in_storage = (unsigned char)in_storage;
    return b;
}

cio_barrier *cio_barrier_new(cio_loop *loop, size_t parties)
{
    cio_barrier *b;

    if (loop == NULL || parties < 1 || (b = cio_alloc(sizeof *b)) == NULL)
        return NULL;
    return setup(b, loop, parties, 0);
}

cio_barrier *cio_barrier_new_in(cio_loop *loop, size_t parties, void *storage, size_t size)
{
    if (loop == NULL || parties < 1 || !cio__storage_ok(storage, size, sizeof(cio_barrier), 0))
        return NULL;
    return setup(storage, loop, parties, 1);
}

int cio_barrier_free(cio_barrier *b)
{
    if (b == NULL)
        return 0;
    if (!cio__waitq_empty(&b->waiters))
        return CIO_EBUSY;
    if (!b->in_storage)
        cio_free(b, sizeof *b);
    return 0;
}

cio_future *cio_barrier_wait(cio_barrier *b)
{
    cio__slot *s;
    cio_future *f;
    size_t index;

    if (b == NULL)
        return NULL;
    if (b->broken)
        return cio__wait_failed(b->loop, CIO_EBROKEN);
    index = b->count;
    if (index + 1 < b->parties) {
        f = cio__wait_new(b->loop, &wait_vt, &b->waiters, cio_int((ptrdiff_t)index));
        if (f != NULL)
            b->count++;
        return f;
    }
    /* the last arrival: its future first (out of memory must leave the
     * round as it was), then release the round, in arrival order */
    f = cio__wait_done(b->loop, cio_int((ptrdiff_t)index));
    if (f == NULL)
        return NULL;
    b->count = 0;
    while ((s = cio__waitq_pop(&b->waiters)) != NULL)
        cio__wait_wake(s, s->u.w.arg);
    return f;
}

static void fail_all(cio_barrier *b)
{
    cio__slot *s;

    while ((s = b->waiters.head) != NULL)
        cio__wait_fail(s, CIO_EBROKEN);
    b->count = 0;
}

void cio_barrier_abort(cio_barrier *b)
{
    if (b == NULL)
        return;
    b->broken = 1;
    fail_all(b);
}

void cio_barrier_reset(cio_barrier *b)
{
    if (b == NULL)
        return;
    fail_all(b);
    b->broken = 0;
}

static int waiter_cancel(cio_future *f, const char *msg)
{
    cio__slot *s = (cio__slot *)(void *)f;
    cio_barrier *b = CIO__CONTAINER_OF(s->u.w.q, cio_barrier, waiters);

    if (s->fut.flags & CIO__FF_QUEUED)
        b->count--;
    return cio__wait_cancel(f, msg);
}

static void waiter_destroy(cio_future *f)
{
    cio__slot *s = (cio__slot *)(void *)f;

    if (s->fut.flags & CIO__FF_QUEUED)
        CIO__CONTAINER_OF(s->u.w.q, cio_barrier, waiters)->count--;
    cio__wait_release(s);
}

size_t cio_barrier_n_waiting(const cio_barrier *b)
{
    return b != NULL ? b->count : 0;
}

int cio_barrier_broken(const cio_barrier *b)
{
    return b != NULL && b->broken;
}
