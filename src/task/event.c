/* event.c - asyncio.Event: set wakes every waiter. */
#include <string.h>
#include "internal.h"

struct cio_event {
    cio_loop *loop;
    cio__waitq waiters;
    unsigned char set;
    unsigned char in_storage;
};

typedef char event_fits[sizeof(cio_event) <= CIO_EVENT_SIZE ? 1 : -1];

static void waiter_destroy(cio_future *f)
{
    cio__wait_release((cio__slot *)(void *)f);
}

static const cio__future_vt wait_vt = {
    .kind = "Event.wait", .cancel = cio__wait_cancel, .destroy = waiter_destroy
};

static cio_event *setup(cio_event *e, cio_loop *loop, int in_storage)
{
    memset(e, 0, sizeof *e);
    e->loop = loop;
    e->in_storage = (unsigned char)in_storage;
    return e;
}

cio_event *cio_event_new(cio_loop *loop)
{
    cio_event *e;

    if (loop == NULL || (e = cio_alloc(sizeof *e)) == NULL)
        return NULL;
    return setup(e, loop, 0);
}

cio_event *cio_event_new_in(cio_loop *loop, void *storage, size_t size)
{
    if (loop == NULL || !cio__storage_ok(storage, size, sizeof(cio_event), 0))
        return NULL;
    return setup(storage, loop, 1);
}

int cio_event_free(cio_event *e)
{
    if (e == NULL)
        return 0;
    if (!cio__waitq_empty(&e->waiters))
        return CIO_EBUSY;
    if (!e->in_storage)
        cio_free(e, sizeof *e);
    return 0;
}

cio_future *cio_event_wait(cio_event *e)
{
    if (e == NULL)
        return NULL;
    if (e->set)
        return cio__wait_done(e->loop, cio_int(1));
    return cio__wait_new(e->loop, &wait_vt, &e->waiters, cio_int(0));
}

void cio_event_set(cio_event *e)
{
    cio__slot *s;

    if (e == NULL || e->set)
        return;
    e->set = 1;
    while ((s = cio__waitq_pop(&e->waiters)) != NULL)
        cio__wait_wake(s, cio_int(1));
}

void cio_event_clear(cio_event *e)
{
    if (e != NULL)
        e->set = 0;
}

int cio_event_is_set(const cio_event *e)
{
    return e != NULL && e->set;
}
