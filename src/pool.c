/* pool.c - per-loop pools of fixed-size slots for the small objects a loop
 * makes by the million: tasks, futures, callbacks, handles.
 *
 * A loop in caller storage (cio_loop_new_in) carves slots from the rest of
 * that storage first; built without a heap (CIO_NO_HEAP), only from there.
 *
 * 32 size classes up to 512 bytes (class_of); a slot costs exactly its
 * class (malloc would add a header and round up), and taking one is a
 * pointer pop or bump. Slabs come from cio_alloc, doubling in size up to
 * 1 MiB, and go back only when the loop is freed: after a burst of a
 * million tasks the memory stays with the loop for its next burst (as
 * malloc's arenas mostly do too).
 *
 * Tasks from the heap have pools of their own (allocated with the first
 * task): every slot there is a live task or a free one, so the loop finds
 * its tasks by walking those slabs (cio__pool_walk_tasks) and a task needs
 * no link in a list of the loop's - 16 bytes and two stores less a task.
 */
#include <string.h>
#include "internal.h"

#define SLAB_MIN  (4u << 10)
#define SLAB_MAX  (1u << 20)

typedef struct slab {
    struct slab *next;
    size_t size;
} slab;

#define SLAB_HDR ((sizeof(slab) + 15) & ~(size_t)15)

#ifdef CIO_NO_HEAP
#  define HEAP_ALLOC(size) NULL     /* the arena is all there is */
#else
#  define HEAP_ALLOC(size) cio_alloc(size)
#endif

/* The size class of an object: 16-byte steps up to 128 bytes, 8-byte steps
 * up to 256 (a task with a small frame lands here, so it carries no slack:
 * a million 168-byte tasks take 168 MB, not 176), 32-byte steps up to 512.
 * 32 classes; -1 beyond. *slot: the class's size. Every slot is aligned
 * for a pointer and a double, as an object of cio's needs. */
static int class_of(size_t size, size_t *slot)
{
    size_t c;

    if (size == 0 || size > CIO__POOL_MAX)
        return -1;
    if (size <= 128) {
        c = (size + 15) / 16;                   /* 1..8 */
        *slot = c * 16;
        return (int)c - 1;                      /* 0..7 */
    }
    if (size <= 256) {
        c = (size - 128 + 7) / 8;               /* 1..16 */
        *slot = 128 + c * 8;
        return (int)c + 7;                      /* 8..23 */
    }
    c = (size - 256 + 31) / 32;                 /* 1..8 */
    *slot = 256 + c * 32;
    return (int)c + 23;                         /* 24..31 */
}

static cio__pool *pool_for(cio_loop *loop, size_t size, size_t *slot)
{
    int cls = class_of(size, slot);

#ifdef CIO_POOL_DIRECT
    /* A test build (tests/test_oom): every object comes straight from the
     * allocator, so each one is a failure point and a size check. */
    (void)loop;
    (void)cls;
    return NULL;
#endif

    if (cls < 0)
        return NULL;
    return &loop->pools[cls];
}

/* Out of free slots and bump room: the arena, else a new slab. */
static CIO__NOINLINE void *refill(cio_loop *loop, cio__pool *p, size_t slot)
{
    void *obj;

    if ((size_t)(loop->arena_end - loop->arena) >= slot) {
        obj = loop->arena;              /* cio_loop_new_in's storage first */
        loop->arena += slot;
        return obj;
    }
    {
        size_t bytes = p->next_slab ? p->next_slab : SLAB_MIN;
        slab *s;

        if (bytes < SLAB_HDR + slot)
            bytes = SLAB_HDR + slot;
        s = HEAP_ALLOC(bytes);
        if (s == NULL)
            return NULL;
        cio__alloc_prefault(s, bytes);  /* it will be used whole */
        s->next = p->slabs;
        s->size = bytes;
        p->slabs = s;
        p->bump = (char *)s + SLAB_HDR;
        p->end = (char *)s + bytes;
        p->next_slab = bytes < SLAB_MAX ? bytes * 2 : SLAB_MAX;
    }
    obj = p->bump;
    p->bump += slot;
    return obj;
}

/* A slot of p (of `slot` bytes): a free one, else the bump room, else a
 * refill. */
static inline void *take(cio_loop *loop, cio__pool *p, size_t slot)
{
    void *obj;

    if (p->free != NULL) {
        obj = p->free;
        p->free = *(void **)obj;
        return obj;
    }
    if ((size_t)(p->end - p->bump) < slot)
        return refill(loop, p, slot);
    obj = p->bump;
    p->bump += slot;
    return obj;
}

void *cio__pool_alloc(cio_loop *loop, size_t size)
{
    size_t slot;
    cio__pool *p = pool_for(loop, size, &slot);

    if (p == NULL)
        return HEAP_ALLOC(size);
    return take(loop, p, slot);
}

void cio__pool_free(cio_loop *loop, void *obj, size_t size)
{
    cio__pool *p;
    size_t slot;

    if (obj == NULL)
        return;
    p = pool_for(loop, size, &slot);
    if (p == NULL) {
        cio_free(obj, size);
        return;
    }
    *(void **)obj = p->free;
    p->free = obj;
}

/* ---- the task pools ---- */

#if CIO__TASK_POOLS
/* The size of class c's slots (class_of's inverse). */
static size_t slot_of(int c)
{
    if (c < 8)
        return (size_t)(c + 1) * 16;
    if (c < 24)
        return 128 + (size_t)(c - 7) * 8;
    return 256 + (size_t)(c - 23) * 32;
}

void *cio__pool_alloc_task(cio_loop *loop, size_t size)
{
    size_t slot = 0;
    int cls = class_of(size, &slot);
    void *obj;

    if (loop->task_pools == NULL) {
        size_t bytes = CIO__POOL_CLASSES * sizeof *loop->task_pools;

        loop->task_pools = cio_alloc(bytes);
        if (loop->task_pools == NULL)
            return NULL;
        memset(loop->task_pools, 0, bytes);
    }
    /* no arena here (cio__pool_task_walkable): refill takes a slab */
    obj = take(loop, &loop->task_pools[cls], slot);
    if (obj != NULL)
        loop->pooled_tasks++;
    return obj;
}

void cio__pool_free_task(cio_loop *loop, void *obj, size_t size)
{
    size_t slot = 0;
    cio__pool *p = &loop->task_pools[class_of(size, &slot)];

    *(void **)obj = p->free;
    p->free = obj;
    loop->pooled_tasks--;
}

void cio__pool_walk_tasks(cio_loop *loop, const void *tag, void (*visit)(void *obj, void *arg),
                          void *arg)
{
    int c;

    for (c = 0; c < CIO__POOL_CLASSES && loop->pooled_tasks > 0; c++) {
        cio__pool *p = &loop->task_pools[c];
        size_t slot = slot_of(c);
        slab *s;

        for (s = p->slabs; s != NULL; s = s->next) {
            char *obj = (char *)s + SLAB_HDR;
            /* the newest slab is carved up to bump; older ones whole */
            char *end = s == p->slabs ? p->bump
                                      : obj + (s->size - SLAB_HDR) / slot * slot;

            for (; obj < end; obj += slot)      /* a free slot's first word
                                                   is a free-list link */
                if (*(const void *const *)(void *)obj == tag)
                    visit(obj, arg);
        }
    }
}
#endif

static void free_slabs(cio__pool *pools)
{
    size_t i;

    for (i = 0; i < CIO__POOL_CLASSES; i++) {
        cio__pool *p = &pools[i];
        slab *s, *next;

        for (s = p->slabs; s != NULL; s = next) {
            next = s->next;
            cio_free(s, s->size);
        }
        p->slabs = NULL;
        p->free = NULL;
        p->bump = p->end = NULL;
        p->next_slab = 0;
    }
}

void cio__pools_free(cio_loop *loop)
{
    free_slabs(loop->pools);
#if CIO__TASK_POOLS
    if (loop->task_pools != NULL) {
        free_slabs(loop->task_pools);
        cio_free(loop->task_pools, CIO__POOL_CLASSES * sizeof *loop->task_pools);
        loop->task_pools = NULL;
    }
#endif
}
