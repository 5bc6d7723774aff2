/* cio/common.h - types and macros shared by every cio header.
 *
 * Everything here is plain C99 and compiles as C++.
 */
#ifndef CIO_COMMON_H
#define CIO_COMMON_H

#include <stddef.h>
#include "cio/coro.h"   /* cio_value; coro.h needs nothing but <stddef.h> */

/* CIO_API marks the functions libcio exports; everything else is hidden. */
#if defined(CIO_BUILD) && defined(__GNUC__)
#  define CIO_API __attribute__((visibility("default")))
#else
#  define CIO_API
#endif

/* CIO__STMT_API marks the internals an awaiting statement (CIO_AWAIT,
 * CIO_QUEUE_GET...) calls from the user's code at every step: called
 * through the GOT, not the PLT (one jump less a call), where GCC can. */
#if defined(__has_attribute)
#  if __has_attribute(noplt)
#    define CIO__NOPLT __attribute__((noplt))
#  endif
#endif
#ifndef CIO__NOPLT
#  define CIO__NOPLT
#endif
#define CIO__STMT_API CIO_API CIO__NOPLT

/* CIO_EXTERN_C_BEGIN / CIO_EXTERN_C_END wrap every header's declarations:
 * extern "C" in C++, nothing in C. */
#ifdef __cplusplus
#  define CIO_EXTERN_C_BEGIN extern "C" {
#  define CIO_EXTERN_C_END }
#else
#  define CIO_EXTERN_C_BEGIN
#  define CIO_EXTERN_C_END
#endif

CIO_EXTERN_C_BEGIN

/* A cio_value from an integer: cio_queue_put(q, cio_int(5)). */
static inline cio_value cio_int(ptrdiff_t i)
{
    cio_value v;

    v.p = NULL;
    v.i = i;
    return v;
}

/* A cio_value from a pointer: cio_queue_put(q, cio_ptr(job)). */
static inline cio_value cio_ptr(void *p)
{
    cio_value v;

    v.p = p;
    return v;
}

typedef struct cio_loop cio_loop;       /* an event loop (cio/loop.h) */
typedef struct cio_future cio_future;   /* a future or a task (cio/future.h) */
typedef struct cio_handle cio_handle;   /* a scheduled callback (cio/loop.h) */

CIO_EXTERN_C_END

#endif /* CIO_COMMON_H */
