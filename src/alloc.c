/* alloc.c - the one allocator every cio allocation goes through.
 *
 * Built without a heap (CIO_NO_HEAP) there is none: this file is empty, so
 * a program that calls cio_alloc, cio_set_allocator, ... does not link. */
#ifndef CIO_NO_HEAP
#include <stdlib.h>
#include "cio/alloc.h"
#include "internal.h"
#if defined(__linux__) && !defined(CIO_BACKEND_BARE)   /* bare: no OS calls */
#  include <sys/mman.h>
#endif

static void *default_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    (void)ctx;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

static cio_realloc_fn current = default_realloc;
static void *current_ctx;

void cio_set_allocator(cio_realloc_fn fn, void *ctx)
{
    current = fn != NULL ? fn : default_realloc;
    current_ctx = fn != NULL ? ctx : NULL;
}

void *cio_alloc(size_t size)
{
    return current(current_ctx, NULL, 0, size ? size : 1);
}

void cio_free(void *ptr, size_t size)
{
    if (ptr != NULL)
        current(current_ctx, ptr, size, 0);
}

/* A block about to be used whole (a pool slab): fault its pages in with one
 * system call instead of one fault per page - a third cheaper for the
 * memory a million tasks take. Only for the default allocator, on Linux;
 * a hint: failure changes nothing. */
void cio__alloc_prefault(void *ptr, size_t size)
{
#if defined(__linux__) && !defined(CIO_BACKEND_BARE) && defined(MADV_POPULATE_WRITE)
    uintptr_t start = ((uintptr_t)ptr + 4095) & ~(uintptr_t)4095;
    uintptr_t end = ((uintptr_t)ptr + size) & ~(uintptr_t)4095;

    if (current == default_realloc && size >= (64u << 10) && end > start)
        (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
    (void)ptr;
    (void)size;
#endif
}

void *cio_realloc(void *ptr, size_t old_size, size_t new_size)
{
    if (new_size == 0) {
        cio_free(ptr, old_size);
        return NULL;
    }
    return current(current_ctx, ptr, old_size, new_size);
}
#else
typedef int cio__alloc_unused;      /* ISO C: no empty file */
#endif /* CIO_NO_HEAP */
