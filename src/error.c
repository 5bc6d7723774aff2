/* error.c - names and messages for error codes, from one table. */
#include <string.h>
#include "cio/error.h"

#ifndef CIO_BACKEND_BARE
#  include <errno.h>
#  define CIO__HAVE_ERRNO 1
#endif

#ifdef CIO__HAVE_ERRNO
/* The errno names worth spelling out; others print as "errno". */
#define CIO__ERRNO_NAMES(X)                                                   \
    X(EPERM) X(ENOENT) X(EINTR) X(EIO) X(EBADF) X(EAGAIN) X(ENOMEM)           \
    X(EACCES) X(EFAULT) X(EBUSY) X(EEXIST) X(EINVAL) X(ENFILE) X(EMFILE)      \
    X(ENOSPC) X(EPIPE) X(ERANGE) X(ENOSYS) X(ENOTSOCK) X(EADDRINUSE)          \
    X(EADDRNOTAVAIL) X(ENETUNREACH) X(ECONNABORTED) X(ECONNRESET) X(ENOBUFS)  \
    X(EISCONN) X(ENOTCONN) X(ETIMEDOUT) X(ECONNREFUSED) X(EHOSTUNREACH)       \
    X(EALREADY) X(EINPROGRESS) X(ECANCELED)
#endif

const char *cio_err_name(int err)
{
    switch (err) {
#define CIO__ERR_NAME(name, value, msg) case value: return "CIO_E" #name;
    CIO_ERRNO_MAP(CIO__ERR_NAME)
#undef CIO__ERR_NAME
    case 0:
        return "OK";
    default:
        break;
    }
#ifdef CIO__HAVE_ERRNO
    switch (-err) {
#define CIO__ERRNO_NAME(name) case name: return #name;
    CIO__ERRNO_NAMES(CIO__ERRNO_NAME)
#undef CIO__ERRNO_NAME
    default:
        break;
    }
#endif
    return "UNKNOWN";
}

const char *cio_strerror(int err)
{
    switch (err) {
#define CIO__ERR_MSG(name, value, msg) case value: return msg;
    CIO_ERRNO_MAP(CIO__ERR_MSG)
#undef CIO__ERR_MSG
    case 0:
        return "success";
    default:
        break;
    }
#ifdef CIO__HAVE_ERRNO
    if (err < 0 && err > -4000)
        return strerror(-err);
#endif
    return "unknown error";
}
