/* cio/sync.h - asyncio's synchronisation primitives: Lock, Event,
 * Condition, Semaphore, BoundedSemaphore, Barrier.
 *
 * Waiters are served first come, first served. A waiter that is woken takes
 * what it was woken for (the lock, a permit) when it runs; if it is
 * cancelled before that, it takes nothing and the next waiter is woken: a
 * cancellation never leaves a lock or a permit held, and a newcomer never
 * barges ahead of a woken waiter (asyncio 3.11+'s semantics).
 *
 * The waits return futures to await (CIO_AWAIT); in a task they use the
 * task's built-in slot and allocate nothing. Each object belongs to one loop
 * and can live in caller storage (the _new_in functions, no heap). Freeing
 * one that tasks still wait on returns CIO_EBUSY and changes nothing.
 */
#ifndef CIO_SYNC_H
#define CIO_SYNC_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

typedef struct cio_lock cio_lock;             /* asyncio.Lock */
typedef struct cio_event cio_event;           /* asyncio.Event */
typedef struct cio_cond cio_cond;             /* asyncio.Condition */
typedef struct cio_semaphore cio_semaphore;   /* asyncio.(Bounded)Semaphore */
typedef struct cio_barrier cio_barrier;       /* asyncio.Barrier */

/* Upper bounds of each object's size, for caller storage. */
#define CIO_LOCK_SIZE      (8 * sizeof(void *))
#define CIO_EVENT_SIZE     (8 * sizeof(void *))
#define CIO_COND_SIZE      (16 * sizeof(void *))
#define CIO_SEMAPHORE_SIZE (8 * sizeof(void *))
#define CIO_BARRIER_SIZE   (12 * sizeof(void *))

/* ---- Lock ---- */

/* A new unlocked lock; NULL if out of memory. */
CIO_API cio_lock *cio_lock_new(cio_loop *loop);
/* The same in caller storage (CIO_LOCK_SIZE bytes, pointer-aligned). */
CIO_API cio_lock *cio_lock_new_in(cio_loop *loop, void *storage, size_t size);
/* Free it: 0, or CIO_EBUSY if tasks wait on it. */
CIO_API int cio_lock_free(cio_lock *l);
/* Acquire: done at once (no yield) when free and nobody waits, else when
 * the lock is handed over, FIFO. Result 1. A future dropped before its
 * result is read gives the lock back. */
CIO_API cio_future *cio_lock_acquire(cio_lock *l);
/* Release; wakes the first waiter. CIO_EINVALSTATE if not locked. */
CIO_API int cio_lock_release(cio_lock *l);
/* Nonzero while locked (or promised to a woken waiter). */
CIO_API int cio_lock_locked(const cio_lock *l);

/* ---- Event ---- */

/* A new event, not set; NULL if out of memory. */
CIO_API cio_event *cio_event_new(cio_loop *loop);
/* The same in caller storage (CIO_EVENT_SIZE bytes, pointer-aligned). */
CIO_API cio_event *cio_event_new_in(cio_loop *loop, void *storage, size_t size);
/* Free it: 0, or CIO_EBUSY if tasks wait on it. */
CIO_API int cio_event_free(cio_event *e);
/* Wait until set: done at once if set. Result 1. */
CIO_API cio_future *cio_event_wait(cio_event *e);
/* Set it: wakes every waiter (even if cleared again before they run). */
CIO_API void cio_event_set(cio_event *e);
/* Clear it: later waits block again. */
CIO_API void cio_event_clear(cio_event *e);
/* Nonzero while set. */
CIO_API int cio_event_is_set(const cio_event *e);

/* ---- Condition ---- */

/* A condition on `lock` (NULL: a lock of its own); NULL if out of memory. */
CIO_API cio_cond *cio_cond_new(cio_loop *loop, cio_lock *lock);
/* The same in caller storage (CIO_COND_SIZE bytes, pointer-aligned). */
CIO_API cio_cond *cio_cond_new_in(cio_loop *loop, cio_lock *lock, void *storage, size_t size);
/* Free it (and its own lock): 0, or CIO_EBUSY if tasks wait on it. */
CIO_API int cio_cond_free(cio_cond *c);
/* Its lock (to acquire and release around waits and notifies). */
CIO_API cio_lock *cio_cond_lock(cio_cond *c);
/* Release the lock, wait for a notify, re-acquire the lock, then complete
 * (result 1). Also on cancellation the lock is re-acquired before the wait
 * ends (with CIO_ECANCELLED). Fails with CIO_EINVALSTATE if not locked.
 * The lock is released when the wait is first awaited: whatever it ends
 * with, even dropped unawaited, the caller holds the lock afterwards. */
CIO_API cio_future *cio_cond_wait(cio_cond *c);
/* Wake up to n waiters (FIFO). CIO_EINVALSTATE if the lock is not held. */
CIO_API int cio_cond_notify(cio_cond *c, size_t n);
/* Wake every waiter. CIO_EINVALSTATE if the lock is not held. */
CIO_API int cio_cond_notify_all(cio_cond *c);

/* ---- Semaphore, BoundedSemaphore ---- */

/* A semaphore with `value` permits; bounded: releasing above the initial
 * value is an error. NULL if value < 0 or out of memory. */
CIO_API cio_semaphore *cio_semaphore_new(cio_loop *loop, int value, int bounded);
CIO_API cio_semaphore *cio_semaphore_new_in(cio_loop *loop, int value, int bounded,
                                            void *storage, size_t size);
/* Free it: 0, or CIO_EBUSY if tasks wait on it. */
CIO_API int cio_semaphore_free(cio_semaphore *s);
/* Take a permit: at once (no yield) when one is free and nobody waits,
 * else FIFO. Result 1. A future dropped before its result is read gives
 * the permit back. */
CIO_API cio_future *cio_semaphore_acquire(cio_semaphore *s);
/* Give a permit back (wakes the first waiter). CIO_EOVERFLOW (nothing
 * changes) when a bounded semaphore would exceed its initial value. */
CIO_API int cio_semaphore_release(cio_semaphore *s);
/* Permits free now. */
CIO_API int cio_semaphore_value(const cio_semaphore *s);
/* Nonzero if an acquire would wait. */
CIO_API int cio_semaphore_locked(const cio_semaphore *s);

/* ---- Barrier ---- */

/* A barrier for `parties` tasks; NULL if parties < 1 or out of memory. */
CIO_API cio_barrier *cio_barrier_new(cio_loop *loop, size_t parties);
CIO_API cio_barrier *cio_barrier_new_in(cio_loop *loop, size_t parties, void *storage,
                                        size_t size);
/* Free it: 0, or CIO_EBUSY if tasks wait on it. */
CIO_API int cio_barrier_free(cio_barrier *b);
/* Wait until `parties` tasks wait; result: this task's arrival index
 * (0 .. parties-1). Fails with CIO_EBROKEN if the barrier is broken (by
 * abort or reset) while waiting or before. A cancelled waiter just leaves
 * (the round then needs one more arrival), as in asyncio. */
CIO_API cio_future *cio_barrier_wait(cio_barrier *b);
/* Break the barrier: waiters and later waits fail with CIO_EBROKEN. */
CIO_API void cio_barrier_abort(cio_barrier *b);
/* Back to the empty state; current waiters fail with CIO_EBROKEN. */
CIO_API void cio_barrier_reset(cio_barrier *b);
/* Tasks waiting in the current round. */
CIO_API size_t cio_barrier_n_waiting(const cio_barrier *b);
/* Nonzero once broken (until reset). */
CIO_API int cio_barrier_broken(const cio_barrier *b);

CIO_EXTERN_C_END

#endif /* CIO_SYNC_H */
