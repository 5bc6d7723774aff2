/* cio/coro.h - stackless coroutines: frames and resume points.
 *
 * Header-only; needs nothing but <stddef.h>; usable without the rest of cio
 * (no loop, no OS, no heap). A coroutine is a C function whose suspended
 * state is a small frame struct that starts with a `cio_coro` header. The
 * function is re-entered from the top each time it resumes and jumps to where
 * it left off (protothreads / Duff's device).
 *
 * LIMITS - read these before writing a coroutine:
 *  1. Only the frame survives a suspension. Arguments and every local a body
 *     needs after a suspension point live in its frame (self->x); a plain C
 *     local holds garbage after one. (Assigning a local *after* the resume,
 *     e.g. from CIO_RESULT, is fine.)
 *  2. Switch backend (CIO_CORO_SWITCH, portable C99): a suspension point must
 *     not sit inside a `switch` statement of the body - its `case` label would
 *     join that switch. The compiler cannot catch this. The labels-as-values
 *     backend (CIO_CORO_LABELS, GCC and Clang, the default there) has no such
 *     limit.
 *  3. Suspension points are numbered with __COUNTER__ where the compiler has
 *     it (GCC, Clang, MSVC), so several may share a line. Without it they use
 *     __LINE__ and two on one line fail to compile (duplicate case / label).
 *  4. Never `return` from a body: finish with CIO_CORO_RETURN, _RETURN_PTR,
 *     _RAISE, or by reaching CIO_CORO_END (which returns 0).
 *  5. A finally section runs synchronously: it cannot suspend. A suspension
 *     point reached inside it ends the coroutine with CIO_CORO_EINVALSTATE.
 *  6. Bodies are C, not C++: resuming jumps over initialisations.
 *  7. A body has at most one CIO_CORO_FINALLY, at its top level.
 *  8. Error codes are negative and fit in a short (cio's and errno's do).
 *
 * Protocol: a coroutine function returns CIO_CORO_PENDING when it suspended
 * (frame->wait_on says on what, NULL for a plain yield) and CIO_CORO_DONE when
 * it finished (frame->err is 0 or a negative error code, frame->result its
 * value). Calling it again resumes it; calling a finished one returns DONE.
 */
#ifndef CIO_CORO_H
#define CIO_CORO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A result: an integer or a pointer, read back without casts (.i or .p). */
typedef union cio_value {
    ptrdiff_t i;    /* an integer result */
    void *p;        /* a pointer result */
} cio_value;

/* Backend selection: define CIO_CORO_SWITCH or CIO_CORO_LABELS to choose. */
#if !defined(CIO_CORO_SWITCH) && !defined(CIO_CORO_LABELS)
#  if defined(__GNUC__) || defined(__clang__)
#    define CIO_CORO_LABELS 1
#  else
#    define CIO_CORO_SWITCH 1
#  endif
#endif
#if defined(CIO_CORO_SWITCH) && defined(CIO_CORO_LABELS)
#  error "define only one of CIO_CORO_SWITCH and CIO_CORO_LABELS"
#endif

/* The header every frame starts with. Zero-initialised means "not started".
 * 24 bytes on a 64-bit target, 16 on a 32-bit one. */
typedef struct cio_coro {
    void *wait_on;      /* what it last suspended on (NULL: a yield); a task
                           keeps its reference to the awaited future here */
    cio_value result;   /* last await's result; at the end, the return value */
    int lc;             /* where to resume: a case number or a label offset */
    short err;          /* last await's error; at the end, the error raised */
    unsigned short flags; /* CIO_CORO_F_* */
} cio_coro;

/* What a coroutine function returns: it finished (DONE) or suspended
 * (PENDING). */
enum { CIO_CORO_DONE = 0, CIO_CORO_PENDING = 1 };

#define CIO_CORO_F_FINISHING 1u /* returning or raising: err/result are final */
#define CIO_CORO_F_FINALLY   2u /* running the finally section */
#define CIO_CORO_F_CANCEL    4u /* deliver a cancellation at the next resume */
#define CIO_CORO_F_DONE      8u /* finished */

/* The two codes this header produces; equal to CIO_ECANCELLED and
 * CIO_EINVALSTATE of cio/error.h. */
#define CIO_CORO_ECANCELLED  (-4001)
#define CIO_CORO_EINVALSTATE (-4003)

/* Reset a frame header so the coroutine starts from the top. */
static inline void cio_coro_init(cio_coro *co)
{
    co->lc = 0;
    co->wait_on = NULL;
    co->result.p = NULL;
    co->result.i = 0;
    co->err = 0;
    co->flags = 0;
}

/* Nonzero once the coroutine has finished. */
static inline int cio_coro_done(const cio_coro *co)
{
    return (co->flags & CIO_CORO_F_DONE) != 0;
}

/* Ask for a cancellation: the next resume sees CIO_CORO_ECANCELLED at its
 * suspension point (a task layer delivers cancels this way). */
static inline void cio_coro_cancel(cio_coro *co)
{
    co->flags |= CIO_CORO_F_CANCEL;
}

/* ---- local continuations: the only part that differs per backend ---- */

#define CIO__CAT_(a, b) a##b
#define CIO__CAT(a, b) CIO__CAT_(a, b)

#ifdef __COUNTER__
#  define CIO__ID __COUNTER__
#else
#  define CIO__ID __LINE__
#endif

#if defined(__GNUC__) && __GNUC__ >= 7
#  define CIO__FALLTHROUGH __attribute__((fallthrough))
#else
#  define CIO__FALLTHROUGH ((void)0)
#endif

/* labels-as-values keeps a label's offset from cio__lc_base, an int, like
 * the switch backend's case number (the idiom of GCC's manual). */
#ifdef CIO_CORO_SWITCH
#  define CIO__LC_BEGIN(co) cio__dispatch: switch ((co)->lc) { case 0:
#  define CIO__LC_SET(co, n) ((co)->lc = (n) + 1)
#  define CIO__LC_LABEL(co, n) case (n) + 1:
#  define CIO__LC_GOTO_FINALLY(co) do { (co)->lc = -1; goto cio__dispatch; } while (0)
#  define CIO__LC_FINALLY(co) case -1:
#  define CIO__LC_END(co) default: ; }
#  define CIO__LC_FALL CIO__FALLTHROUGH
#else
#  define CIO__LC_BEGIN(co)                                                   \
    int cio__to_finally = 0;                                                  \
    goto *((char *)&&cio__lc_base + (co)->lc);  /* 0: right below */          \
    cio__lc_base:                                                             \
    cio__dispatch: switch (cio__to_finally) { case 0:
#  define CIO__LC_SET(co, n)                                                  \
    ((co)->lc = (int)((char *)&&CIO__CAT(cio__rp_, n) - (char *)&&cio__lc_base))
#  define CIO__LC_LABEL(co, n) CIO__CAT(cio__rp_, n):
#  define CIO__LC_GOTO_FINALLY(co) do { cio__to_finally = 1; goto cio__dispatch; } while (0)
#  define CIO__LC_FINALLY(co) case 1:
#  define CIO__LC_END(co) default: ; }
#  define CIO__LC_FALL ((void)0)
#endif

/* ---- the coroutine macros; `co` is a cio_coro * ---- */

/* Open a body: resume where the coroutine left off. */
#define CIO_CORO_BEGIN(co)                                                    \
    if ((co)->flags & CIO_CORO_F_DONE) return CIO_CORO_DONE;                  \
    CIO__LC_BEGIN(co)

/* Finish with err/result already set: run the finally section, then end. */
#define CIO__CORO_FINISH(co)                                                  \
    do {                                                                      \
        if ((co)->flags & CIO_CORO_F_FINALLY) goto cio__end;                  \
        (co)->flags |= CIO_CORO_F_FINISHING;                                  \
        CIO__LC_GOTO_FINALLY(co);                                             \
    } while (0)

/* Finish returning integer v. */
#define CIO_CORO_RETURN(co, v)                                                \
    do { (co)->result.i = (v); (co)->err = 0; CIO__CORO_FINISH(co); } while (0)

/* Finish returning pointer p. */
#define CIO_CORO_RETURN_PTR(co, ptr)                                          \
    do { (co)->result.p = (ptr); (co)->err = 0; CIO__CORO_FINISH(co); } while (0)

/* Finish with error e (negative; 0 means a plain return of 0). */
#define CIO_CORO_RAISE(co, e)                                                 \
    do { (co)->err = (e); (co)->result.i = 0; CIO__CORO_FINISH(co); } while (0)

/* Suspend on `what` (NULL for a yield); resume on the next call. Inside a
 * finally section this ends the coroutine with CIO_CORO_EINVALSTATE. */
#define CIO_CORO_SUSPEND(co, what) CIO__CORO_SUSPEND_N(co, CIO__ID, what)
#define CIO__CORO_SUSPEND_N(co, n, what)                                      \
    do {                                                                      \
        if ((co)->flags & CIO_CORO_F_FINALLY) {                               \
            (co)->err = CIO_CORO_EINVALSTATE;                                 \
            goto cio__end;                                                    \
        }                                                                     \
        (co)->wait_on = (what);                                               \
        CIO__LC_SET(co, n);                                                   \
        return CIO_CORO_PENDING;                                              \
        CIO__LC_LABEL(co, n);                                                 \
    } while (0)

/* Raise CIO_CORO_ECANCELLED if a cancellation is waiting. */
#define CIO_CORO_CHECK_CANCEL(co)                                             \
    do {                                                                      \
        if ((co)->flags & CIO_CORO_F_CANCEL) {                                \
            (co)->flags &= ~CIO_CORO_F_CANCEL;                                \
            CIO_CORO_RAISE(co, CIO_CORO_ECANCELLED);                          \
        }                                                                     \
    } while (0)

/* Give control back once; a cancellation raises here. */
#define CIO_CORO_YIELD(co)                                                    \
    do { CIO_CORO_SUSPEND(co, NULL); CIO_CORO_CHECK_CANCEL(co); } while (0)

/* Suspend until cond is true (checked first, then after every resume). */
#define CIO_CORO_WAIT_UNTIL(co, cond)                                         \
    do {                                                                      \
        while (!(cond)) CIO_CORO_YIELD(co);                                   \
    } while (0)

/* Run a child coroutine inline until it finishes: `call` steps it and yields
 * CIO_CORO_PENDING/DONE, `child` is its cio_coro *. While the child is
 * suspended this coroutine is suspended on the same thing; a cancellation
 * is passed down to the child. Afterwards err/result hold the child's. */
#define CIO_CORO_CALL(co, child, call) CIO__CORO_CALL_N(co, CIO__ID, child, call)
#define CIO__CORO_CALL_N(co, n, child, call)                                  \
    do {                                                                      \
        CIO__LC_SET(co, n);                                                   \
        CIO__LC_FALL;                                                         \
        CIO__LC_LABEL(co, n);                                                 \
        (child)->flags |= (co)->flags & CIO_CORO_F_CANCEL;                    \
        (co)->flags &= ~CIO_CORO_F_CANCEL;                                    \
        if ((call) == CIO_CORO_PENDING) {                                     \
            if ((co)->flags & CIO_CORO_F_FINALLY) {                           \
                (co)->err = CIO_CORO_EINVALSTATE;                             \
                goto cio__end;                                                \
            }                                                                 \
            (co)->wait_on = (child)->wait_on;                                 \
            return CIO_CORO_PENDING;                                          \
        }                                                                     \
        (co)->err = (child)->err;                                             \
        (co)->result = (child)->result;                                       \
    } while (0)

/* Start the finally section: it runs after a return, a raise (including a
 * cancellation) or when the body reaches it. err/result hold the outcome. */
#define CIO_CORO_FINALLY(co)                                                  \
    CIO__FALLTHROUGH;                                                         \
    CIO__LC_FINALLY(co)                                                       \
    if (!((co)->flags & CIO_CORO_F_FINISHING)) {                              \
        (co)->err = 0;                                                        \
        (co)->result.i = 0;                                                   \
    }                                                                         \
    (co)->flags |= CIO_CORO_F_FINISHING | CIO_CORO_F_FINALLY

/* Close a body. Reaching it is a return of 0. */
#define CIO_CORO_END(co)                                                      \
    CIO__FALLTHROUGH;                                                         \
    CIO__LC_END(co)                                                           \
    if (!((co)->flags & CIO_CORO_F_FINISHING)) {                              \
        (co)->err = 0;                                                        \
        (co)->result.i = 0;                                                   \
    }                                                                         \
    goto cio__end;                                                            \
    cio__end:                                                                 \
    if (0) goto cio__dispatch;                                                \
    (co)->flags = (unsigned short)(((co)->flags | CIO_CORO_F_DONE             \
                  | CIO_CORO_F_FINISHING)                                     \
                  & ~(CIO_CORO_F_CANCEL | CIO_CORO_F_FINALLY));               \
    return CIO_CORO_DONE

#ifdef __cplusplus
}
#endif

#endif /* CIO_CORO_H */
