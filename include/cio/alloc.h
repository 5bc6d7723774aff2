/* cio/alloc.h - the allocator every cio allocation goes through.
 *
 * One function does everything, as in Lua: realloc(ctx, ptr, old, new)
 * allocates when ptr is NULL, frees when new is 0 (returning NULL), and
 * resizes otherwise; it returns NULL when it cannot allocate. cio handles
 * every NULL it gets back. Tasks can also live in caller storage
 * (cio_task_new_in), which needs no allocator at all.
 */
#ifndef CIO_ALLOC_H
#define CIO_ALLOC_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

/* An allocator: allocate (ptr NULL), free (new_size 0, returns NULL) or
 * resize; NULL when it cannot allocate. */
typedef void *(*cio_realloc_fn)(void *ctx, void *ptr, size_t old_size, size_t new_size);

/* Route every cio allocation through fn (NULL restores malloc/free). Set it
 * before creating any loop; it is process-wide and not thread-safe. */
CIO_API void cio_set_allocator(cio_realloc_fn fn, void *ctx);

/* Allocate size bytes through the current allocator; NULL if it fails. */
CIO_API void *cio_alloc(size_t size);

/* Free what cio_alloc returned; size must be the size asked for. */
CIO_API void cio_free(void *ptr, size_t size);

/* Resize a cio_alloc block; NULL (ptr untouched) if it fails. */
CIO_API void *cio_realloc(void *ptr, size_t old_size, size_t new_size);

CIO_EXTERN_C_END

#endif /* CIO_ALLOC_H */
