/* semaphore.c - asyncio.Semaphore and BoundedSemaphore.
 *
 * `value` counts free permits. A release wakes the first waiter and takes
 * a permit on its behalf; a waiter cancelled before it runs gives it back.
 */
#include <string.h>
#include "internal.h"

struct cio_semaphore {
    cio_loop *loop;
    cio__waitq waiters;
    int value;
    int bound;                  /* the initial value, for a bounded one */
    unsigned char bounded;
    unsigned char in_storage;
};

typedef char semaphore_fits[sizeof(cio_semaphore) <= CIO_SEMAPHORE_SIZE ? 1 : -1];

static void acquirer_destroy(cio_future *f);

static const cio__future_vt acquire_vt = {
    .kind = "Semaphore.acquire", .cancel = cio__wait_cancel, .destroy = acquirer_destroy
};

static cio_semaphore *setup(cio_semaphore *s, cio_loop *loop, int value, int bounded,
                            int in_storage)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->value = s->bound = value;
    s->bounded = bounded != 0;
    s->in_storage = (unsigned char)in_storage;
    return s;
}

cio_semaphore *cio_semaphore_new(cio_loop *loop, int value, int bounded)
{
    cio_semaphore *s;

    if (loop == NULL || value < 0 || (s = cio_alloc(sizeof *s)) == NULL)
        return NULL;
    return setup(s, loop, value, bounded, 0);
}

cio_semaphore *cio_semaphore_new_in(cio_loop *loop, int value, int bounded, void *storage,
                                    size_t size)
{
    if (loop == NULL || value < 0 || !cio__storage_ok(storage, size, sizeof(cio_semaphore), 0))
        return NULL;
    return setup(storage, loop, value, bounded, 1);
}

int cio_semaphore_free(cio_semaphore *s)
{
    if (s == NULL)
        return 0;
    if (!cio__waitq_empty(&s->waiters))
        return CIO_EBUSY;
    if (!s->in_storage)
        cio_free(s, sizeof *s);
    return 0;
}

/* Hand free permits to waiters, first come first served. */
static void wake(cio_semaphore *s)
{
    cio__slot *w;

    while (s->value > 0 && (w = cio__waitq_pop(&s->waiters)) != NULL) {
        s->value--;
        cio__wait_wake(w, cio_int(1));
    }
}

cio_future *cio_semaphore_acquire(cio_semaphore *s)
{
    if (s == NULL)
        return NULL;
    if (s->value > 0 && cio__waitq_empty(&s->waiters)) {
        /* no yield; dropped unread, the permit comes back (acquirer_destroy) */
        cio_future *f = cio__wait_served(s->loop, &acquire_vt, &s->waiters,
                                         cio_int(0), cio_int(1));

        if (f != NULL)
            s->value--;
        return f;
    }
    return cio__wait_new(s->loop, &acquire_vt, &s->waiters, cio_int(0));
}

int cio_semaphore_release(cio_semaphore *s)
{
    if (s == NULL)
        return CIO_EINVAL;
    if (s->bounded && s->value >= s->bound)
        return CIO_EOVERFLOW;
    if (s->value == 0x7fffffff)
        return CIO_EOVERFLOW;
    s->value++;
    wake(s);
    return 0;
}

static void acquirer_destroy(cio_future *f)
{
    cio__slot *w = (cio__slot *)(void *)f;

    if (cio__wait_untaken(w)) {             /* woken, never ran: give it back */
        cio_semaphore *s = CIO__CONTAINER_OF(w->u.w.q, cio_semaphore, waiters);

        s->value++;
        wake(s);
    }
    cio__wait_release(w);
}

int cio_semaphore_value(const cio_semaphore *s)
{
    return s != NULL ? s->value : 0;
}

int cio_semaphore_locked(const cio_semaphore *s)
{
    return s != NULL && (s->value == 0 || !cio__waitq_empty(&s->waiters));
}
