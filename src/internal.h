/* internal.h - private layouts shared by libcio's sources.
 *
 * Three visibility levels, as in Lua: the public API (include/), the names
 * here (cio__, shared between files, hidden from the shared library), and
 * static functions.
 */
#ifndef CIO_INTERNAL_H
#define CIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "cio.h"

#ifdef CIO_NO_HEAP
/* Built without a heap: what would still allocate calls a function that
 * exists nowhere, so reaching it from a program is a link error that names
 * it; freeing is a no-op (nothing came from a heap). */
void *cio__no_heap_build_cannot_allocate(size_t size);
#  define cio_alloc(size) cio__no_heap_build_cannot_allocate(size)
#  define cio_realloc(ptr, old_size, new_size)                                \
    ((void)(ptr), (void)(old_size), cio__no_heap_build_cannot_allocate(new_size))
#  define cio_free(ptr, size) ((void)(ptr), (void)(size))
#endif

/* Start fetching the cache line at p: for walks over a million objects
 * that no cache holds (a hint; nothing where the compiler has none). */
#if defined(__GNUC__) || defined(__clang__)
#  define CIO__PREFETCH(p) __builtin_prefetch(p)
#else
#  define CIO__PREFETCH(p) ((void)0)
#endif
#define CIO__PREFETCH_AHEAD 8

/* Keep a rare path out of its hot caller, which then saves no registers. */
/* And a hot path into its caller, whatever the compiler's size limits. */
#if defined(__GNUC__) || defined(__clang__)
#  define CIO__NOINLINE __attribute__((noinline))
#  define CIO__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#  define CIO__NOINLINE
#  define CIO__ALWAYS_INLINE inline
#endif

#define CIO__CONTAINER_OF(ptr, type, member)                                  \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Caller storage fit for an object of `need` bytes: present, big enough,
 * aligned for a pointer (and for a double too, with `doubles`). */
static inline int cio__storage_ok(const void *storage, size_t size, size_t need, int doubles)
{
    uintptr_t a = (uintptr_t)storage;

    return storage != NULL && size >= need && (a & (sizeof(void *) - 1)) == 0
           && (!doubles || (a & (sizeof(double) - 1)) == 0);
}

/* ---- nodes: what the ready queue and a future's callback ring hold ---- */

typedef struct cio__node cio__node;

/* Run a node taken off the ready queue. While the loop is closing (and
 * loop->closing is set) it must only release what the node holds. */
typedef void (*cio__run_fn)(cio_loop *loop, cio__node *node);

struct cio__node {
    cio__node *next;    /* ready queue / callback ring link */
    cio__run_fn run;    /* NULL: cancelled, skip it */
};

/* ---- timers: a node with a deadline, kept in the loop's heap ---- */

#define CIO__TIMER_IDLE   UINT32_MAX        /* neither in the heap nor queued */
#define CIO__TIMER_QUEUED (UINT32_MAX - 1)  /* due, waiting in the ready queue */

typedef struct cio__timer {
    cio__node node;         /* queued when due; run is the drop function once cancelled */
    double when;            /* deadline, loop time */
    uint32_t seq : 31;      /* tie-breaker: equal deadlines run FIFO (wraps) */
    uint32_t cancelled : 1; /* cancelled while in the heap */
    uint32_t idx;           /* heap index, or CIO__TIMER_IDLE / _QUEUED */
} cio__timer;

/* ---- futures ---- */

enum { CIO__PENDING = 0, CIO__DONE = 1, CIO__CANCELLED = 2 };

#define CIO__FF_RETRIEVED 1u  /* the error was looked at: do not report it */
#define CIO__FF_LAZY      2u  /* arm() before the first waiter (zero sleep,
                                 a lazy wait) */
#define CIO__FF_STATIC    4u  /* storage is not ours to free */
/* bits 8..64 are the task's (CIO__TF_*); a slot (never a task) has its own */
#define CIO__FF_TAKEN   128u  /* take() ran: the result was handed over */
#define CIO__FF_QUEUED    8u  /* a slot (never a task): in its wait queue */
#define CIO__FF_MARK     16u  /* a slot: meaning up to its primitive */
#define CIO__FF_UNPINNED 32u  /* an own slot not pinning its task: an awaiting
                                 statement's wait, which only its task reaches
                                 (released before the task can go) */

typedef struct cio__future_vt {
    const char *kind;                 /* "Future", "Task", ... for reports */
    int settable;                     /* set_result/set_error allowed */
    /* cancel a pending future (NULL: plain cancel); returns 1 or 0 */
    int (*cancel)(cio_future *f, const char *msg);
    /* make a lazily started future run (NULL if never lazy) */
    void (*arm)(cio_future *f);
    /* the last reference went: release and free (NULL: plain free) */
    void (*destroy)(cio_future *f);
    /* the result is read for the first time: hand it over now (a queue's
     * item, a lock): waiters take what they were woken for when they run,
     * so a waiter cancelled in between loses nothing (NULL: nothing) */
    void (*take)(cio_future *f);
    /* a lazy wait (cio__wait_make) awaited by its own task now: finish it
     * at once if it can (1, its outcome in co, nothing left to release
     * but the slot), else start it as arm does (0). NULL: never lazy so;
     * a vt with await_now has arm and take too */
    int (*await_now)(cio_future *f, cio_coro *co);
} cio__future_vt;

struct cio_future {
    const cio__future_vt *vt;
    cio_loop *loop;
    union {                 /* one or the other: 8 bytes less per future */
        cio__node *cb_tail; /* pending: ring of done callbacks (tail->next is head) */
        cio_value result;   /* done: the result; cancelled: the message */
    };
    int16_t err;            /* error when done with one */
    uint8_t state;          /* CIO__PENDING / _DONE / _CANCELLED */
    uint8_t flags;          /* CIO__FF_*, and CIO__TF_* for a task */
    uint32_t rc;            /* references (low 24 bits) and a task's cancel
                               requests (high 8), both saturating: a future
                               that reaches the maximum is never freed rather
                               than freed too early. One word always read and
                               written whole: bitfields let the compiler merge
                               a narrow store with `flags`, and the next load
                               of the word then stalls (store forwarding) */
};

#define CIO__REFS_MAX 0xffffffu
#define CIO__CANCELS_MAX 0xffu

/* A future's references. */
static inline uint32_t cio__refs(const cio_future *f)
{
    return f->rc & CIO__REFS_MAX;
}

static inline void cio__set_refs(cio_future *f, uint32_t n)
{
    f->rc = (f->rc & ~CIO__REFS_MAX) | n;
}

/* A task's pending cancel requests. */
static inline uint32_t cio__cancels(const cio_future *f)
{
    return f->rc >> 24;
}

static inline void cio__set_cancels(cio_future *f, uint32_t n)
{
    f->rc = (f->rc & CIO__REFS_MAX) | (n << 24);
}

/* Take a reference (saturating). */
static inline void cio__pin(cio_future *f)
{
    if (cio__refs(f) < CIO__REFS_MAX)
        f->rc++;
}

/* Drop a reference: inline when it is not the last (mostly someone else -
 * a gather, the caller - holds one), else cio_future_unref. */
static inline void cio__unpin(cio_future *f)
{
    if (cio__refs(f) > 1 && cio__refs(f) < CIO__REFS_MAX)
        f->rc--;
    else
        cio_future_unref(f);
}

extern const cio__future_vt cio__plain_future_vt;

/* A pending future with one reference (inline: every wait makes one). */
static inline void cio__future_init(cio_future *f, cio_loop *loop, const cio__future_vt *vt)
{
    f->vt = vt;
    f->loop = loop;
    f->cb_tail = NULL;          /* and result: one union */
    f->err = 0;
    f->state = CIO__PENDING;
    f->flags = 0;
    f->rc = 1;                  /* one reference, no cancel request */
}
/* A future's err, state, flags and rc as one word (they fill 8 bytes): a
 * resume tests them with one load and one compare. */
typedef char cio__future_word_fits[offsetof(cio_future, rc) + sizeof(uint32_t)
                                   - offsetof(cio_future, err) == 8 ? 1 : -1];
static inline uint64_t cio__future_word(const cio_future *f)
{
    uint64_t w;

    memcpy(&w, (const char *)f + offsetof(cio_future, err), sizeof w);
    return w;
}

static inline void cio__future_set_word(cio_future *f, uint64_t w)
{
    memcpy((char *)f + offsetof(cio_future, err), &w, sizeof w);
}

/* The word a future with these fields has (constants fold). */
static inline uint64_t cio__future_word_of(int err, unsigned state, unsigned flags, uint32_t rc)
{
    cio_future g;

    g.err = (int16_t)err;
    g.state = (uint8_t)state;
    g.flags = (uint8_t)flags;
    g.rc = rc;
    return cio__future_word(&g);
}

/* Complete f (pending) and schedule its callbacks (cio__future_finish_inline,
 * after the loop's layout, is the same inline: for the hot paths of queues
 * and channels). */
void cio__future_finish(cio_future *f, int state, int err, cio_value v);
/* What a public done callback's node runs (future.c). */
void cio__future_cb_run(cio_loop *loop, cio__node *node);
/* The rest of finishing: a ring of callbacks, or a public one. */
void cio__future_finish_ring(cio_future *f, cio__node *tail);
/* Register an internal waiter node (the waiter holds its own reference).
 * Inline for the common case, the first waiter of a pending future that
 * is not lazy; the rest in cio__future_add_waiter_any. */
void cio__future_add_waiter_any(cio_future *f, cio__node *node);
static inline void cio__future_add_waiter(cio_future *f, cio__node *node)
{
    if (f->state == CIO__PENDING && f->cb_tail == NULL && !(f->flags & CIO__FF_LAZY)) {
        node->next = node;              /* a ring of one */
        f->cb_tail = node;
        return;
    }
    cio__future_add_waiter_any(f, node);
}
/* Unlink node from f's ring if it is there; 1 if it was. */
int cio__future_remove_waiter(cio_future *f, cio__node *node);
/* Take a waiter node off f wherever it is now: f's ring, or the ready
 * queue if f completed and the node has not run yet. */
void cio__future_detach(cio_future *f, cio__node *node);
/* Plain cancel of a pending future: 1, or 0 if done. */
int cio__future_cancel_plain(cio_future *f, const char *msg);
/* Outcome without marking it retrieved (for internal readers); runs take()
 * the first time. Inline: a gather reads a million of them. */
static inline int cio__future_outcome(cio_future *f, cio_value *out)
{
    if (f->state == CIO__PENDING)
        return CIO_EINVALSTATE;
    if (f->state == CIO__DONE && f->err == 0 && !(f->flags & CIO__FF_TAKEN)) {
        f->flags |= CIO__FF_TAKEN;      /* read once: what it was woken for is its own */
        if (f->vt->take != NULL)
            f->vt->take(f);
    }
    if (f->state == CIO__CANCELLED)
        return CIO_ECANCELLED;
    if (f->err == 0 && out != NULL)
        *out = f->result;
    return f->err;
}

/* ---- slots: a future a task waits on without allocating (slot.c) ---- */

typedef struct cio__slot cio__slot;

/* A FIFO of slots waiting on a queue, lock, channel... */
typedef struct cio__waitq {
    cio__slot *head, *tail;
} cio__waitq;

struct cio__slot {
    cio_future fut;
    union {
        cio__timer timer;       /* a sleep */
        struct {                /* a waiter of a primitive */
            cio__slot *prev, *next;
            cio__waitq *q;      /* the queue it waits in, NULL if none */
            cio_value arg;      /* what it brings (a put's item, a buffer) */
        } w;
    } u;
};

/* A wait of a queue or channel, of vt, on q (its owner), bringing arg:
 * started at once (start, which does what the wait does: served, queued
 * or failed), or - made by a task whose own slot is free - lazy: queued
 * nowhere, waiting for nothing until its task awaits it (vt->await_now)
 * or anything else starts it (vt->arm, cio__wait_arm): asyncio's
 * `q.get()`, a coroutine that runs when awaited. *lazy counts the owner's
 * lazy waits (it cannot be freed under one). NULL if out of memory. */
cio_future *cio__wait_make(cio_loop *loop, const cio__future_vt *vt, cio__waitq *q,
                           cio_value arg, size_t *lazy, void (*start)(cio__slot *s));
/* vt->arm of such a wait: start it, if it is still lazy. */
void cio__wait_arm(cio_future *f, size_t *lazy, void (*start)(cio__slot *s));
/* A lazy wait stops being lazy (it starts, finishes, or goes): 1 if it
 * was, clearing the mark and counting it out of *lazy. */
static inline int cio__wait_unlazy(cio_future *f, size_t *lazy)
{
    if (!(f->flags & CIO__FF_LAZY))
        return 0;
    f->flags &= ~CIO__FF_LAZY;
    (*lazy)--;
    return 1;
}
/* Every task carries one slot; with `embeddable` this gives it out when
 * free (the task is pinned while it is used), else a pooled one of `size`
 * bytes (at least sizeof(cio__slot)). vt's destroy must end with
 * cio__slot_release. NULL if out of memory. */
cio__slot *cio__slot_get(cio_loop *loop, const cio__future_vt *vt, size_t size,
                         int embeddable);
/* Give a slot back (embedded: free again; else to the pool). */
void cio__slot_release(cio__slot *s, size_t size);
/* A task's own slot, at creation: only what is read while the slot is
 * free; cio__slot_get sets the rest when it hands it out (a million tasks:
 * fewer stores). */
static inline void cio__slot_init_embedded(cio__slot *s, cio_loop *loop)
{
    s->fut.loop = loop;
    s->fut.state = CIO__PENDING;
    s->fut.flags = CIO__FF_STATIC;
    s->fut.rc = 0;                          /* free for use */
    s->u.timer.cancelled = 0;
    s->u.timer.idx = CIO__TIMER_IDLE;
}
/* A task's own slot is free again (the union an idle timer again; its
 * flags stay: TAKEN, if set, too). */
static inline void cio__own_slot_free(cio__slot *s)
{
    cio__set_refs(&s->fut, 0);
    s->u.timer.seq = 0;                 /* whole words: no read-modify-write */
    s->u.timer.cancelled = 0;
    s->u.timer.idx = CIO__TIMER_IDLE;
}
/* ... and its pin on the task goes. */
static inline void cio__own_slot_release(cio__slot *s, cio_future *task)
{
    cio__own_slot_free(s);
    if (!(s->fut.flags & CIO__FF_UNPINNED))
        cio__unpin(task);
}
/* Whether the slot is embedded in a task. */
static inline int cio__slot_embedded(const cio__slot *s)
{
    return (s->fut.flags & CIO__FF_STATIC) != 0;
}

/* Wait queues. A slot remembers its queue (u.w.q) after leaving it, so a
 * primitive finds its waiter's owner; CIO__FF_QUEUED says if it is in.
 * cio__waitq_link is cio__waitq_push without the flag, for a slot whose
 * flags say QUEUED already. */
static inline void cio__waitq_link(cio__waitq *q, cio__slot *s)
{
    s->u.w.q = q;
    s->u.w.next = NULL;
    s->u.w.prev = q->tail;
    if (q->tail != NULL)
        q->tail->u.w.next = s;
    else
        q->head = s;
    q->tail = s;
}

static inline void cio__waitq_push(cio__waitq *q, cio__slot *s)
{
    s->fut.flags |= CIO__FF_QUEUED;
    cio__waitq_link(q, s);
}
void cio__waitq_push_front(cio__waitq *q, cio__slot *s);
/* Leave its queue, if in one (O(1), inline: every wake does it). */
static inline void cio__waitq_remove(cio__slot *s)
{
    cio__waitq *q = s->u.w.q;

    if (!(s->fut.flags & CIO__FF_QUEUED))
        return;
    s->fut.flags &= ~CIO__FF_QUEUED;
    if (s->u.w.prev != NULL)
        s->u.w.prev->u.w.next = s->u.w.next;
    else
        q->head = s->u.w.next;
    if (s->u.w.next != NULL)
        s->u.w.next->u.w.prev = s->u.w.prev;
    else
        q->tail = s->u.w.prev;
    s->u.w.prev = s->u.w.next = NULL;     /* u.w.q stays: the owner */
}
/* The first waiter, out of the queue; NULL if none. (cio__waitq_remove
 * with what the head implies: queued, no previous one.) */
static inline cio__slot *cio__waitq_pop(cio__waitq *q)
{
    cio__slot *s = q->head;

    if (s == NULL)
        return NULL;
    s->fut.flags &= ~CIO__FF_QUEUED;
    q->head = s->u.w.next;
    if (q->head != NULL)
        q->head->u.w.prev = NULL;
    else
        q->tail = NULL;
    s->u.w.next = NULL;
    return s;
}
static inline int cio__waitq_empty(const cio__waitq *q)
{
    return q->head == NULL;
}

/* The common shapes of a primitive's wait (slot.c). A slot of vt for a
 * wait on q, bringing arg: pending, queued nowhere yet. NULL if out of
 * memory. */
cio__slot *cio__wait_slot(cio_loop *loop, const cio__future_vt *vt, cio__waitq *q,
                          cio_value arg);
/* A new waiter slot of vt for the current task (pending, queued on q). */
cio_future *cio__wait_new(cio_loop *loop, const cio__future_vt *vt, cio__waitq *q,
                          cio_value arg);
/* A future already done with v (an immediate event wait, join...): nothing
 * left to take. Or failed with err. NULL only when out of memory. */
cio_future *cio__wait_done(cio_loop *loop, cio_value v);
/* A waiter of vt served at once (a free lock, an item ready): done with v
 * but not yet taken, exactly like a woken waiter of q, so a future dropped
 * unread gives back what the primitive set aside for it (vt's destroy) -
 * a lock is never left held, an item never lost. NULL if out of memory:
 * the caller sets nothing aside until it has the future. */
cio_future *cio__wait_served(cio_loop *loop, const cio__future_vt *vt, cio__waitq *q,
                             cio_value arg, cio_value v);
cio_future *cio__wait_failed(cio_loop *loop, int err);
/* Wake a waiter: it is done with v and will take() what it was woken for
 * when it runs. (cio__wait_wake_inline, after the loop's layout, is the
 * same inline: for the hot paths of queues and channels.) */
void cio__wait_wake(cio__slot *s, cio_value v);
/* Fail a waiter (removing it from its queue). */
void cio__wait_fail(cio__slot *s, int err);
/* Woken but never taken (cancelled before it ran): give back. */
static inline int cio__wait_untaken(const cio__slot *s)
{
    return s->fut.state == CIO__DONE && s->fut.err == 0
           && !(s->fut.flags & CIO__FF_TAKEN);
}
/* vt pieces: cancel = leave the queue and cancel; release the slot. */
int cio__wait_cancel(cio_future *f, const char *msg);
void cio__wait_release(cio__slot *s);

/* A sleep of 0 nobody waits on yet: its awaiting task yields instead. */
extern const cio__future_vt cio__sleeper_vt;
static inline int cio__sleeper_is_zero(const cio_future *f)
{
    return f->vt == &cio__sleeper_vt && (f->flags & CIO__FF_LAZY) != 0;
}
/* Complete such a sleep at once. */
void cio__sleeper_finish_now(cio_future *f);

/* ---- tasks ---- */

/* A task's flags live in its future's flags (caller storage: FF_STATIC). */
#define CIO__TF_STARTED      8u  /* the body ran at least once */
#define CIO__TF_MUST_CANCEL 16u  /* deliver a cancel at the next step */
#define CIO__TF_WAITING     32u  /* step is in the awaited future's ring */
#define CIO__TF_EXTRAS      64u  /* type points into our cio__task_extras */

/* The future a task awaits lives in its frame's wait_on (it holds one
 * reference): one pointer less per task. */
typedef struct cio__task {
    cio_future fut;
    cio__node step;             /* ready queue / awaited future's ring */
    const cio_task_type *type;  /* inside cio__task_extras once it has some */
    cio__slot slot;             /* the built-in wait: no allocation */
    /* the frame follows, aligned; a task outside the task pools then has
     * a link in the loop's list of them (task.c) */
} cio__task;
#define CIO__TASK_AWAITING(t) (CIO__TASK_FRAME(t)->wait_on)

/* f is the task's own slot, and nobody else holds it. */
static inline int cio__own_slot_alone(const cio__task *t, const cio_future *f)
{
    return f == &t->slot.fut && cio__refs(f) == 1;
}

extern const cio__future_vt cio__task_vt;
#define CIO__TASK_FRAME(t) ((cio_coro *)(void *)((char *)(t) + CIO__TASK_FRAME_OFFSET))
#define CIO__TASK_FRAME_OFFSET                                                \
    ((sizeof(cio__task) + sizeof(double) - 1) & ~(sizeof(double) - 1))

/* The task whose step node n is, or NULL. */
cio_future *cio__task_of_node(cio__node *n);
/* Free every task still alive (the loop is closing). */
void cio__tasks_destroy_all(cio_loop *loop);

/* ---- the scheduler, as the task layer sees it ---- */

/* A heap entry: the timer and a copy of its deadline, so ordering the heap
 * reads the array only (libev's ANHE) - a million timers out of order do
 * not cost a cache miss per comparison. */
typedef struct cio__heap_entry {
    double when;
    cio__timer *t;
} cio__heap_entry;

/* The loop's timers (loop/timer_queue.h): an in-order ring and a heap. */
typedef struct cio__timer_queue {
    cio__heap_entry *heap;      /* 4-ary: the children of i are 4i+1..4i+4 */
    uint32_t heap_len, heap_cap;
    cio__timer **ring;          /* slots; NULL marks a removed timer */
    uint32_t ring_cap;          /* a power of two, or 0 */
    uint32_t ring_head, ring_tail;  /* free-running counters */
    uint32_t ring_len;          /* live timers in the ring */
    uint32_t ncancelled;        /* cancelled timers still queued */
    cio__timer last;            /* key of the ring's last timer */
} cio__timer_queue;

/* A pool of same-size slots (pool.c). */
typedef struct cio__pool {
    void *free;                 /* free slots, linked through their first word */
    char *bump, *end;           /* the unused end of the newest slab */
    void *slabs;                /* every slab, for cio__pools_free */
    size_t next_slab;           /* bytes of the next slab */
} cio__pool;

#define CIO__POOL_CLASSES 32    /* size classes (pool.c) */
#define CIO__POOL_MAX 512       /* the largest pooled object */

/* Tasks have pools of their own where there are pools from the heap: not
 * without a heap, nor in the test build that allocates every object
 * directly (CIO_POOL_DIRECT). */
#if !defined(CIO_NO_HEAP) && !defined(CIO_POOL_DIRECT)
#  define CIO__TASK_POOLS 1
#else
#  define CIO__TASK_POOLS 0
#endif

/* A slot of at least size bytes from loop's pools (cio_alloc beyond the
 * largest class); NULL if out of memory. */
void *cio__pool_alloc(cio_loop *loop, size_t size);
/* Give back what cio__pool_alloc returned, with the same size. */
void cio__pool_free(cio_loop *loop, void *obj, size_t size);
#if CIO__TASK_POOLS
/* A slot for a task from the task pools (only where walkable); NULL if out
 * of memory. Every slot there is a task (its first word its vt) or free. */
void *cio__pool_alloc_task(cio_loop *loop, size_t size);
void cio__pool_free_task(cio_loop *loop, void *obj, size_t size);
/* visit(obj, arg) each task pool slot whose first word is tag: the live
 * tasks. visit may free obj or other tasks, not allocate one. */
void cio__pool_walk_tasks(cio_loop *loop, const void *tag, void (*visit)(void *obj, void *arg),
                          void *arg);
#endif
/* Fault a block's pages in at once (alloc.c; a no-op where there is no
 * heap or no such system call). */
#ifndef CIO_NO_HEAP
void cio__alloc_prefault(void *ptr, size_t size);
#else
static inline void cio__alloc_prefault(void *ptr, size_t size)
{
    (void)ptr;
    (void)size;
}
#endif
/* Release every slab (the loop is being freed). */
void cio__pools_free(cio_loop *loop);

#ifdef CIO_BACKEND_BARE
#include "cio/bare.h"
/* The bare backend's state (backend_bare.c), inside the loop: a loop in
 * caller storage needs nothing else. */
typedef struct cio__bare {
    cio_bare_clock_fn clock;    /* NULL: the virtual clock */
    cio_bare_idle_fn idle;
    void *arg;
    double now;                 /* the virtual clock's time */
    cio_bare_wakeup *wakeups;   /* registered wake-ups */
    volatile int woken;         /* a wake-up was sent (set from ISRs) */
} cio__bare;
#endif

struct cio_loop {
    cio__node *ready_head, *ready_tail;
    cio__node *run_last;        /* the end of the running iteration's snapshot */
    cio__timer_queue timers;
    uint32_t timer_seq;
    /* Timers due when an iteration began run at the end of its snapshot,
     * from due_node (loop.c), straight from the timer queue */
    cio__node due_node;
    double due_now;             /* the iteration's start: what is due */
    uint32_t due_seq;           /* timers from this seq on started during it */
    unsigned long due_ran;      /* how many due_node ran */
    cio__node *carry_head, *carry_tail; /* started during it and due already:
                                           for the next iteration */
    unsigned long iteration;
    cio__task *current;         /* the task being stepped */
    uint32_t rng;               /* xorshift state: select's fair choice */
    double debug_slow;          /* debug mode: report steps slower than this */
    cio__task *tasks;           /* live tasks outside the task pools (task.c) */
    cio_future *last_run;       /* future of the last run_until_complete */
    cio__node stop_node;        /* in last_run's ring: stops the loop */
    cio_exception_handler_fn exc_handler;
    void *exc_arg;
    unsigned running : 1, stopping : 1, closed : 1, closing : 1;
    unsigned debug : 1;         /* debug mode: on (a bit the hot path tests) */
    unsigned in_storage : 1;    /* cio_loop_new_in: the loop's memory is not ours */
    void *backend;              /* the backend's state (backend.h) */
    void *net;                  /* the net layer's state (src/net), or NULL */
    void (*net_free)(cio_loop *loop);   /* releases it when the loop is freed */
    void *threads;              /* cross-thread helpers' state (thread/threads.h), or NULL */
    void (*threads_free)(cio_loop *loop);   /* releases it, first thing in cio_loop_free */
    char *arena, *arena_end;    /* cio_loop_new_in: the pools' free memory */
#ifdef CIO_BACKEND_BARE
    cio__bare bare;
#endif
    cio__pool pools[CIO__POOL_CLASSES];
#if CIO__TASK_POOLS
    cio__pool *task_pools;      /* CIO__POOL_CLASSES, with the first task */
    size_t pooled_tasks;        /* live tasks in them */
#endif
};

/* Whether a task of size bytes comes from the task pools, where the loop
 * finds it by walking the slabs; else from cio__pool_alloc, and the task
 * carries a link in the loop's list (task.c). Always the same answer for
 * one loop and size: a loop in caller storage carves its tasks from there,
 * as the rest. */
static inline int cio__pool_task_walkable(const cio_loop *loop, size_t size)
{
#if CIO__TASK_POOLS
    return loop->arena_end == NULL && size <= CIO__POOL_MAX;
#else
    (void)loop;
    (void)size;
    return 0;
#endif
}

/* Append node to the list *head..*tail. */
static inline void cio__node_append(cio__node **head, cio__node **tail, cio__node *node)
{
    node->next = NULL;
    if (*tail != NULL)
        (*tail)->next = node;
    else
        *head = node;
    *tail = node;
}

/* Append a node to the ready queue (FIFO). Inline: every wake does it;
 * a closed loop that is not running lets the node go at once instead. */
void cio__loop_schedule_closed(cio_loop *loop, cio__node *node);
static inline void cio__loop_schedule(cio_loop *loop, cio__node *node)
{
    if (loop->closed && !loop->running) {
        cio__loop_schedule_closed(loop, node);
        return;
    }
    cio__node_append(&loop->ready_head, &loop->ready_tail, node);
}
/* A task's step node runs this (task.c): cio__task_step_inline, which the
 * loop's iteration also runs in place for a task's node (a switch between
 * two tasks then makes no call and saves no registers). */
void cio__task_step(cio_loop *loop, cio__node *node);
/* Its rare sides, out of line (task.c): a step that may not run as usual
 * (the loop closing, the task done, a cancel to deliver; 0: do not run it),
 * a step that ended the task or yielded, a cancel that came while it ran. */
int cio__task_step_enter(cio_loop *loop, cio__task *t);
void cio__task_step_ended(cio_loop *loop, cio__task *t, int rc);
void cio__task_step_cancel_awaited(cio__task *t, cio_future *f);

/* One step of a task: run its coroutine once, then wait on what it awaits
 * (asyncio's Task.__step and its done callback). `running`: called from
 * the loop's iterations, so the loop is not closing (it closes only while
 * it does not run). */
static inline void cio__task_step_inline(cio_loop *loop, cio__node *node, int running)
{
    cio__task *t = CIO__CONTAINER_OF(node, cio__task, step);
    cio_future *f;
    int rc;

    /* not pending, or a cancel to deliver: one test of the word */
    if (((!running && loop->closing)
         || (cio__future_word(&t->fut) & cio__future_word_of(0, 0xff, CIO__TF_MUST_CANCEL, 0)))
        && !cio__task_step_enter(loop, t))
        return;
    t->fut.flags = (uint8_t)((t->fut.flags & ~CIO__TF_WAITING) | CIO__TF_STARTED);
    loop->current = t;
    rc = t->type->step(CIO__TASK_FRAME(t), loop);
    loop->current = NULL;   /* steps run from the loop only: no task around */
    f = CIO__TASK_AWAITING(t);
    if (rc == CIO_CORO_DONE || f == NULL || f->state != CIO__PENDING) {
        cio__task_step_ended(loop, t, rc);
        return;
    }
    t->fut.flags |= CIO__TF_WAITING;
    cio__future_add_waiter(f, node);
    if (t->fut.flags & CIO__TF_MUST_CANCEL)
        cio__task_step_cancel_awaited(t, f);
}

/* Complete f and schedule its waiters; `running`: the loop, known to be
 * running (a task's step wakes f: it cannot be closed), or NULL. */
static inline void cio__future_finish_to(cio_future *f, int state, int err, cio_value v,
                                         cio_loop *running)
{
    cio__node *tail = f->cb_tail;

    f->state = (uint8_t)state;
    f->err = (int16_t)err;
    f->result = v;          /* replaces cb_tail */
    if (tail == NULL)
        return;
    /* one internal waiter (a task): the common case; an awaiting
     * statement's own slot (unpinned) has only its task's */
    if ((f->flags & CIO__FF_UNPINNED) || (tail->next == tail && tail->run != cio__future_cb_run)) {
        if (running != NULL)
            cio__node_append(&running->ready_head, &running->ready_tail, tail);
        else
            cio__loop_schedule(f->loop, tail);
        return;
    }
    cio__future_finish_ring(f, tail);
}

static inline void cio__future_finish_inline(cio_future *f, int state, int err, cio_value v)
{
    cio__future_finish_to(f, state, err, v, NULL);
}

/* Wake a waiter already out of its queue (popped, or matched): done with
 * v; `running` as for cio__future_finish_to. */
static inline void cio__wait_wake_out(cio__slot *s, cio_value v, cio_loop *running)
{
    cio__future_finish_to(&s->fut, CIO__DONE, 0, v, running);
}

static inline void cio__wait_wake_inline(cio__slot *s, cio_value v)
{
    cio__waitq_remove(s);
    cio__wait_wake_out(s, v, NULL);
}

/* ---- waits awaited in place (CIO_QUEUE_GET, CIO_CHAN_RECV...) ----
 *
 * An awaiting statement runs its operation at once, as CIO_AWAIT does with
 * the lazy wait cio_queue_get makes, without making it: finished at once,
 * its outcome goes straight into the frame; else the task's own slot
 * becomes the wait (cio__own_wait_claim), as await_now would have left it.
 * Anything off this path (no task, a busy own slot, another loop, an error
 * to report) takes the generic way, CIO_AWAIT of the future, which then
 * behaves exactly as written out. */

/* The current task, awaiting a primitive of loop `home` (never NULL), with
 * nothing left of its last await (mostly: a statement's wait goes when it
 * is read) and its own slot free; else NULL. Calls nothing. */
static inline cio__task *cio__await_task_now(cio_loop *loop, const cio_loop *home)
{
    cio__task *t;

    if (home != loop || (t = loop->current) == NULL || CIO__TASK_AWAITING(t) != NULL
        || cio__refs(&t->slot.fut) != 0)
        return NULL;
    return t;
}

/* The same after letting go of the last await; NULL - no task, another
 * loop, a busy slot - means: take the generic way. */
static inline cio__task *cio__await_task(cio_loop *loop, const cio_loop *home)
{
    if (home == loop && loop->current != NULL && CIO__TASK_AWAITING(loop->current) != NULL)
        cio__await_release(loop);
    return cio__await_task_now(loop, home);
}

/* Task t's free own slot as a started wait of vt on q, bringing arg, with
 * `flags` beside its own (cio__own_wait_claim: none); t
 * awaits it from frame co (its own or an inline CIO_CALL's). Its links
 * are the caller's to set: it queues the slot (cio__waitq_push) or
 * matches it (a channel's rendezvous). */
static inline cio__slot *cio__own_wait_claim_as(cio__task *t, cio_coro *co,
                                                const cio__future_vt *vt, cio__waitq *q,
                                                cio_value arg, unsigned flags)
{
    cio__slot *s = &t->slot;

    s->fut.vt = vt;                 /* cio__future_init's work, loop kept */
    s->fut.cb_tail = NULL;
    cio__future_set_word(&s->fut, cio__future_word_of(0, CIO__PENDING,
                                                       CIO__FF_STATIC | CIO__FF_UNPINNED | flags,
                                                       1));
    s->u.w.q = q;
    s->u.w.arg = arg;
    CIO__TASK_AWAITING(t) = &s->fut;
    co->wait_on = &s->fut;
    return s;
}

static inline cio__slot *cio__own_wait_claim(cio__task *t, cio_coro *co,
                                             const cio__future_vt *vt, cio__waitq *q,
                                             cio_value arg)
{
    return cio__own_wait_claim_as(t, co, vt, q, arg, 0);
}

/* The same, queued last on q (its flags written once, QUEUED with them). */
static inline void cio__own_wait_queue(cio__task *t, cio_coro *co, const cio__future_vt *vt,
                                       cio__waitq *q, cio_value arg)
{
    cio__waitq_link(q, cio__own_wait_claim_as(t, co, vt, q, arg, CIO__FF_QUEUED));
}

/* On resume, the hot case: the frame awaits its task's own slot as a
 * statement's wait of vt (unpinned: no future was made), done without
 * error, nobody else holding it, its TAKEN flag as `taken` says (-1:
 * either), no cancellation to deliver. Then the caller reads it as
 * cio__await_resume would - vt's take if not taken yet
 * (cio__own_wait_untaken), the outcome into co - and frees the slot
 * (cio__own_wait_release): t. Else NULL: cio__await_resume. The slot is
 * found from co->wait_on: only cio__own_wait_claim_as makes a slot unpinned,
 * and a frame runs in the task it suspended in. */
static inline cio__task *cio__own_wait_woken(cio_coro *co, const cio__future_vt *vt, int taken)
{
    unsigned fmask = CIO__FF_UNPINNED | (taken >= 0 ? CIO__FF_TAKEN : 0);
    unsigned fwant = CIO__FF_UNPINNED | (taken > 0 ? CIO__FF_TAKEN : 0);
    cio_future *f = co->wait_on;

    if (f == NULL || f->vt != vt
        || (cio__future_word(f) & cio__future_word_of(-1, 0xff, fmask, CIO__REFS_MAX))
               != cio__future_word_of(0, CIO__DONE, fwant, 1)
        || (co->flags & CIO_CORO_F_CANCEL))
        return NULL;
    return CIO__CONTAINER_OF(f, cio__task, slot.fut);
}

/* Whether vt's take is still to run (it then runs, once). */
static inline int cio__own_wait_untaken(cio_future *f)
{
    if (f->flags & CIO__FF_TAKEN)
        return 0;
    f->flags |= CIO__FF_TAKEN;
    return 1;
}

/* The slot read by the caller, its outcome put into co: the slot is free
 * again (unpinned: nothing else to let go of). */
static inline void cio__own_wait_release(cio__task *t, cio_coro *co)
{
    t->slot.fut.flags |= CIO__FF_TAKEN | CIO__FF_RETRIEVED;
    co->wait_on = NULL;
    CIO__TASK_AWAITING(t) = NULL;
    cio__own_slot_free(&t->slot);
}

/* An outcome straight into the frame. */
static inline int cio__await_outcome(cio_coro *co, int err, cio_value v)
{
    co->err = (short)err;
    co->result = v;
    return CIO_CORO_DONE;
}

/* Take a node out of the ready queue: O(n), for rare teardown paths only.
 * 1 if it was there. */
int cio__loop_unschedule(cio_loop *loop, cio__node *node);
/* Splice a ring (given by its tail) onto the ready queue, in ring order. */
void cio__loop_schedule_ring(cio_loop *loop, cio__node *tail);
/* Arm timer t at loop time `when`, running `run` when due (run must call
 * cio__timer_fired first). CIO_ENOMEM if the heap cannot grow. */
int cio__timer_start(cio_loop *loop, cio__timer *t, double when, cio__run_fn run);
/* A due timer's run function calls this first: t may be started again. */
static inline void cio__timer_fired(cio__timer *t)
{
    t->idx = CIO__TIMER_IDLE;
}
/* Cancel t: its run will not be called; `drop` (may be NULL) is called
 * instead when the loop lets go of it (lazy removal from the heap). */
void cio__timer_cancel(cio_loop *loop, cio__timer *t, cio__run_fn drop);
/* Forget t entirely before its memory goes (removes it from the heap). */
void cio__timer_forget(cio_loop *loop, cio__timer *t);
void cio__timer_init(cio__timer *t);
/* One iteration: queue due timers, run what was ready when it started. */
unsigned long cio__loop_run_once(cio_loop *loop);
/* Up to a few iterations while work is ready: what a backend runs between
 * two polls. */
void cio__loop_run_batch(cio_loop *loop);
/* Seconds until the loop has something to do: 0 if the ready queue is not
 * empty, -1 if nothing is scheduled at all. */
double cio__loop_timeout(cio_loop *loop);
/* Nonzero if a loop runs on this thread now. */
int cio__loop_running_here(void);
/* Report to the exception handler with a message and optional objects. */
void cio__report(cio_loop *loop, const char *message, int err,
                 cio_handle *handle, cio_future *future);

#endif /* CIO_INTERNAL_H */
