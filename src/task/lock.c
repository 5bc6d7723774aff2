/* lock.c - asyncio.Lock and asyncio.Condition.
 *
 * A lock is a flag and a FIFO of waiting slots. Release hands the lock to
 * the first waiter (it stays locked, promised to it); the waiter owns it
 * once it runs. One cancelled before that hands it on. A condition's waiter
 * first waits for a notify, then queues for the lock like any acquirer.
 */
#include <string.h>
#include "internal.h"

struct cio_lock {
    cio_loop *loop;
    cio__waitq waiters;
    unsigned char locked;
    unsigned char in_storage;
};

struct cio_cond {
    cio_loop *loop;
    cio_lock *lock;
    cio__waitq waiters;         /* waiting for a notify */
    unsigned char in_storage;
    cio_lock own;               /* the lock, when the condition has its own */
};

typedef char lock_fits[sizeof(cio_lock) <= CIO_LOCK_SIZE ? 1 : -1];
typedef char cond_fits[sizeof(cio_cond) <= CIO_COND_SIZE ? 1 : -1];

static void acquirer_destroy(cio_future *f);
static void cond_waiter_destroy(cio_future *f);
static int cond_waiter_cancel(cio_future *f, const char *msg);
static void cond_waiter_arm(cio_future *f);

static const cio__future_vt acquire_vt = {
    .kind = "Lock.acquire", .cancel = cio__wait_cancel, .destroy = acquirer_destroy
};

/* A condition waiter: u.w.arg.p is its condition; CIO__FF_LAZY until it is
 * first awaited (armed); CIO__FF_MARK once it waits for the lock; NOTIFIED
 * if a notify sent it there (else it was cancelled); CANCELLED once
 * cancelled (it ends so, holding the lock). */
#define NOTIFIED  32u
#define CANCELLED 64u
static const cio__future_vt cond_wait_vt = {
    .kind = "Condition.wait", .cancel = cond_waiter_cancel, .destroy = cond_waiter_destroy,
    .arm = cond_waiter_arm
};

#define SLOT(f) ((cio__slot *)(void *)(f))
#define LOCK_OF(s) CIO__CONTAINER_OF((s)->u.w.q, cio_lock, waiters)

static void lock_setup(cio_lock *l, cio_loop *loop, int in_storage)
{
    memset(l, 0, sizeof *l);
    l->loop = loop;
    l->in_storage = (unsigned char)in_storage;
}

cio_lock *cio_lock_new(cio_loop *loop)
{
    cio_lock *l;

    if (loop == NULL || (l = cio_alloc(sizeof *l)) == NULL)
        return NULL;
    lock_setup(l, loop, 0);
    return l;
}

cio_lock *cio_lock_new_in(cio_loop *loop, void *storage, size_t size)
{
    if (loop == NULL || !cio__storage_ok(storage, size, sizeof(cio_lock), 0))
        return NULL;
    lock_setup(storage, loop, 1);
    return storage;
}

int cio_lock_free(cio_lock *l)
{
    if (l == NULL)
        return 0;
    if (!cio__waitq_empty(&l->waiters))
        return CIO_EBUSY;
    if (!l->in_storage)
        cio_free(l, sizeof *l);
    return 0;
}

int cio_lock_locked(const cio_lock *l)
{
    return l != NULL && l->locked;
}

/* The lock is free: promise it to the first waiter, if any. A cancelled
 * condition waiter gets it too, then ends cancelled (asyncio re-acquires
 * before raising). */
static void hand_on(cio_lock *l)
{
    cio__slot *s = cio__waitq_pop(&l->waiters);

    if (s == NULL)
        return;
    l->locked = 1;
    if (s->fut.vt == &cond_wait_vt) {
        s->fut.flags |= CIO__FF_TAKEN;      /* the waiter owns it, come what may */
        if (s->fut.flags & CANCELLED) {
            cio__future_finish(&s->fut, CIO__CANCELLED, CIO_ECANCELLED, cio_ptr(NULL));
            return;
        }
    }
    cio__wait_wake(s, cio_int(1));
}

cio_future *cio_lock_acquire(cio_lock *l)
{
    if (l == NULL)
        return NULL;
    if (!l->locked && cio__waitq_empty(&l->waiters)) {
        /* no yield (S3); dropped unread, it unlocks (acquirer_destroy) */
        cio_future *f = cio__wait_served(l->loop, &acquire_vt, &l->waiters,
                                         cio_int(0), cio_int(1));

        if (f != NULL)
            l->locked = 1;
        return f;
    }
    return cio__wait_new(l->loop, &acquire_vt, &l->waiters, cio_int(0));
}

int cio_lock_release(cio_lock *l)
{
    if (l == NULL)
        return CIO_EINVAL;
    if (!l->locked)
        return CIO_EINVALSTATE;
    l->locked = 0;
    hand_on(l);
    return 0;
}

/* An acquirer goes away: promised the lock but never ran? Pass it on. */
static void acquirer_destroy(cio_future *f)
{
    cio__slot *s = SLOT(f);

    if (cio__wait_untaken(s)) {
        cio_lock *l = LOCK_OF(s);

        l->locked = 0;
        hand_on(l);
    }
    cio__wait_release(s);
}

/* ---- Condition ---- */

static cio_cond *cond_setup(cio_cond *c, cio_loop *loop, cio_lock *lock, int in_storage)
{
    memset(c, 0, sizeof *c);
    c->loop = loop;
    c->in_storage = (unsigned char)in_storage;
    if (lock == NULL) {
        lock_setup(&c->own, loop, 1);
        lock = &c->own;
    }
    c->lock = lock;
    return c;
}

cio_cond *cio_cond_new(cio_loop *loop, cio_lock *lock)
{
    cio_cond *c;

    if (loop == NULL || (lock != NULL && lock->loop != loop)
        || (c = cio_alloc(sizeof *c)) == NULL)
        return NULL;
    return cond_setup(c, loop, lock, 0);
}

cio_cond *cio_cond_new_in(cio_loop *loop, cio_lock *lock, void *storage, size_t size)
{
    if (loop == NULL || (lock != NULL && lock->loop != loop)
        || !cio__storage_ok(storage, size, sizeof(cio_cond), 0))
        return NULL;
    return cond_setup(storage, loop, lock, 1);
}

int cio_cond_free(cio_cond *c)
{
    if (c == NULL)
        return 0;
    if (!cio__waitq_empty(&c->waiters) || !cio__waitq_empty(&c->own.waiters))
        return CIO_EBUSY;
    if (!c->in_storage)
        cio_free(c, sizeof *c);
    return 0;
}

cio_lock *cio_cond_lock(cio_cond *c)
{
    return c != NULL ? c->lock : NULL;
}

/* Move a condition waiter from the notify queue to the lock's queue;
 * `notified` 1, or 0 when it was cancelled. */
static void to_lock(cio_cond *c, cio__slot *s, int notified)
{
    cio__waitq_remove(s);
    s->fut.flags |= CIO__FF_MARK | (notified ? NOTIFIED : CANCELLED);
    cio__waitq_push(&c->lock->waiters, s);
    if (!c->lock->locked && c->lock->waiters.head == s)
        hand_on(c->lock);
}

/* The lock is released when the wait is first awaited (armed), as
 * asyncio's wait() releases it when it starts to run: a future dropped
 * before that - by a combinator out of memory - changed nothing, so
 * whatever a wait ends with, its caller holds the lock. */
cio_future *cio_cond_wait(cio_cond *c)
{
    cio__slot *s;

    if (c == NULL)
        return NULL;
    if (!c->lock->locked)
        return cio__wait_failed(c->loop, CIO_EINVALSTATE);
    s = cio__slot_get(c->loop, &cond_wait_vt, sizeof(cio__slot), 1);
    if (s == NULL)
        return NULL;
    s->u.w.arg = cio_ptr(c);
    s->u.w.q = &c->waiters;             /* leads back to the condition */
    s->u.w.prev = s->u.w.next = NULL;
    s->fut.flags |= CIO__FF_LAZY;
    return &s->fut;
}

static void cond_waiter_arm(cio_future *f)
{
    cio__slot *s = SLOT(f);
    cio_cond *c = s->u.w.arg.p;

    f->flags &= ~CIO__FF_LAZY;
    if (!c->lock->locked) {             /* released since: not ours to wait with */
        cio__future_finish(f, CIO__DONE, CIO_EINVALSTATE, cio_ptr(NULL));
        return;
    }
    cio__waitq_push(&c->waiters, s);
    cio_lock_release(c->lock);
}

static cio_cond *cond_of(cio__slot *s)
{
    return s->u.w.arg.p;
}

/* Cancelled while waiting for a notify: queue for the lock and end
 * cancelled once it is held. Cancelled while queued for the lock: the same,
 * just marked. Either way the cancel is accepted. */
static int cond_waiter_cancel(cio_future *f, const char *msg)
{
    cio__slot *s = SLOT(f);

    if (s->fut.flags & CIO__FF_LAZY) {  /* never awaited: the lock stays */
        s->fut.flags &= ~CIO__FF_LAZY;
        return cio__future_cancel_plain(f, msg);
    }
    if (!(s->fut.flags & CIO__FF_MARK)) {
        to_lock(cond_of(s), s, 0);
        return 1;
    }
    s->fut.flags |= CANCELLED;
    if (s->fut.flags & NOTIFIED) {      /* asyncio 3.13: pass the notify on */
        cio_cond *c = cond_of(s);

        s->fut.flags &= ~NOTIFIED;
        if (c->waiters.head != NULL)
            to_lock(c, c->waiters.head, 1);
    }
    return 1;
}

static void cond_waiter_destroy(cio_future *f)
{
    cio__slot *s = SLOT(f);

    cio__wait_release(s);
}

int cio_cond_notify(cio_cond *c, size_t n)
{
    if (c == NULL)
        return CIO_EINVAL;
    if (!c->lock->locked)
        return CIO_EINVALSTATE;
    while (n-- > 0 && c->waiters.head != NULL)
        to_lock(c, c->waiters.head, 1);
    return 0;
}

int cio_cond_notify_all(cio_cond *c)
{
    return cio_cond_notify(c, (size_t)-1);
}
