/* cio/error.h - error codes.
 *
 * Every cio function that can fail returns 0 or a negative code. cio's own
 * codes live below -4000; a system error is the negated errno value
 * (-ECONNREFUSED, ...). One table gives the names and the messages.
 */
#ifndef CIO_ERROR_H
#define CIO_ERROR_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

/* The table of cio's codes, X(name, value, message) per code: CIO_E<name>
 * is the enumerator, message what cio_strerror returns. */
#define CIO_ERRNO_MAP(X)                                                          \
    X(CANCELLED,  -4001, "operation cancelled")                                 \
    X(TIMEDOUT,   -4002, "operation timed out")                                 \
    X(INVALSTATE, -4003, "invalid state for this operation")                    \
    X(BUSY,       -4004, "event loop is already running")                       \
    X(CLOSED,     -4005, "closed")                                              \
    X(NOMEM,      -4006, "out of memory")                                       \
    X(INVAL,      -4007, "invalid argument")                                    \
    X(STOPPED,    -4008, "event loop stopped before the future completed")      \
    X(WRONGLOOP,  -4009, "future is attached to a different loop")             \
    X(SELFAWAIT,  -4010, "task cannot await on itself")                         \
    X(NOLOOP,     -4011, "no running event loop")                               \
    X(NOTTASK,    -4012, "not a task")                                          \
    X(FULL,       -4013, "full")                                                \
    X(EMPTY,      -4014, "empty")                                               \
    X(LIMIT,      -4015, "limit exceeded")                                      \
    X(INCOMPLETE, -4016, "incomplete read: end of stream before enough data")   \
    X(NOTSUP,     -4017, "operation not supported")                           \
    X(SHUTDOWN,   -4018, "shut down")                                         \
    X(BROKEN,     -4019, "broken: a waiter left or the object was reset")     \
    X(OVERFLOW,   -4020, "released or counted too many times")

/* cio's error codes (negative; 0 is success). */
enum cio_error {
#define CIO__ERR_ENUM(name, value, msg) CIO_E##name = (value),
    CIO_ERRNO_MAP(CIO__ERR_ENUM)
#undef CIO__ERR_ENUM
    CIO_ERR_FIRST = -4001   /* the first (highest) of cio's codes */
};

/* The message for err: cio's codes, negated errno values, or "unknown error". */
CIO_API const char *cio_strerror(int err);

/* The name for err ("CIO_ECANCELLED", "ECONNREFUSED", ...), or "UNKNOWN". */
CIO_API const char *cio_err_name(int err);

CIO_EXTERN_C_END

#endif /* CIO_ERROR_H */
