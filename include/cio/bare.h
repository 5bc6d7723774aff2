/* cio/bare.h - the bare backend: no OS, the application supplies the time.
 *
 * Only in a libcio built `./configure --without-libev'. The loop then calls
 * nothing of the OS: the application gives it a monotonic clock and an
 * idle hook (sleep until a deadline or an interrupt). Without a clock the
 * loop runs on a virtual clock: it starts at 0 and, whenever nothing is
 * ready, jumps straight to the next deadline, so a task that sleeps an hour
 * finishes at once and every run happens in the same order (tests).
 *
 * Interrupt handlers wake the loop with cio_bare_wakeup_send, which never
 * allocates, takes no lock and is never lost: each send is followed by at
 * least one run of the wake-up's callback on the loop (sends that arrive
 * before it runs are coalesced, like ev_async).
 *
 * Without a heap (see cio/loop.h, cio_loop_new_in) a loop and everything it
 * creates can live in storage the application owns.
 */
#ifndef CIO_BARE_H
#define CIO_BARE_H

#include "cio/common.h"
#include "cio/loop.h"

CIO_EXTERN_C_BEGIN

/* The application's monotonic clock, in seconds. */
typedef double (*cio_bare_clock_fn)(void *arg);

/* Called when nothing is ready: sleep for at most `timeout` seconds
 * (< 0: no deadline) or until an interrupt, then return. To close the race
 * with interrupts, check cio_bare_woken with interrupts masked before
 * sleeping (Cortex-M: cpsid i; if (!woken) wfi; cpsie i). Returning early is
 * always fine. */
typedef void (*cio_bare_idle_fn)(cio_loop *loop, double timeout, void *arg);

/* Give loop a clock and an idle hook (arg goes to both). clock NULL selects
 * the virtual clock (the default); idle NULL busy-waits on a real clock.
 * Call before running the loop; CIO_EBUSY while it runs, CIO_EINVAL for a
 * NULL loop. A virtual loop with nothing scheduled and no idle hook would
 * wait forever: its run returns CIO_ESTOPPED instead. */
CIO_API int cio_bare_set_clock(cio_loop *loop, cio_bare_clock_fn clock,
                               cio_bare_idle_fn idle, void *arg);

/* Move the virtual clock forward by `seconds` (ignored with a real clock or
 * a negative value). Timers that come due run on the next iteration. */
CIO_API void cio_bare_advance(cio_loop *loop, double seconds);

/* Nonzero if a wake-up was sent that the loop has not handled yet (for the
 * idle hook: do not sleep then). Safe anywhere. */
CIO_API int cio_bare_woken(const cio_loop *loop);

/* A wake-up: an interrupt handler sends it, the loop runs fn(loop, arg).
 * Lives in the application's storage; its fields are private. */
typedef struct cio_bare_wakeup {
    volatile int pending;             /* set by send, cleared by the loop */
    cio_loop *loop;                   /* the loop it wakes */
    cio_callback_fn fn;               /* what the loop runs */
    void *arg;                        /* fn's argument */
    struct cio_bare_wakeup *next;     /* the loop's list of wake-ups */
} cio_bare_wakeup;

/* Register w on loop: each send runs fn(loop, arg) on the loop (a negative
 * return goes to the exception handler). CIO_EINVAL, CIO_ECLOSED. */
CIO_API int cio_bare_wakeup_init(cio_loop *loop, cio_bare_wakeup *w,
                                 cio_callback_fn fn, void *arg);

/* Wake the loop and have w's callback run. ISR-safe: two plain stores, no
 * allocation, no lock. */
CIO_API void cio_bare_wakeup_send(cio_bare_wakeup *w);

/* Unregister w (a pending send is dropped). Not from an ISR. */
CIO_API void cio_bare_wakeup_close(cio_bare_wakeup *w);

CIO_EXTERN_C_END

#endif /* CIO_BARE_H */
