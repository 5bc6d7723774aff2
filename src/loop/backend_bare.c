/* backend_bare.c - the bare backend: no OS, no libev, no heap.
 *
 * The application supplies the clock and an idle hook (cio/bare.h); without
 * them the loop runs on a virtual clock that jumps to the next deadline
 * whenever nothing is ready. Interrupt handlers reach the loop only through
 * wake-ups: send sets the wake-up's flag, then the loop's; the loop clears
 * its flag, then scans the wake-ups, so a send that lands at any point is
 * seen by this scan or the next one (never lost). The scan is O(wake-ups)
 * per woken iteration: fine for the handful an embedded program has.
 */
#include "loop/backend.h"
#include "loop/timer_queue.h"

#if defined(__GNUC__) || defined(__clang__)
#  define BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#  define BARRIER() ((void)0)
#endif

int cio__backend_init(cio_loop *loop)
{
    loop->bare.clock = NULL;
    loop->bare.idle = NULL;
    loop->bare.arg = NULL;
    loop->bare.now = 0;
    loop->bare.wakeups = NULL;
    loop->bare.woken = 0;
    loop->backend = &loop->bare;
    return 0;
}

void cio__backend_free(cio_loop *loop)
{
    cio_bare_wakeup *w;

    while ((w = loop->bare.wakeups) != NULL) {
        loop->bare.wakeups = w->next;
        w->loop = NULL;
        w->next = NULL;
    }
    loop->backend = NULL;
}

double cio__backend_now(cio_loop *loop)
{
    if (loop->bare.clock != NULL)
        return loop->bare.clock(loop->bare.arg);
    return loop->bare.now;
}

/* Run the callbacks of the wake-ups that were sent. */
static void take_wakeups(cio_loop *loop)
{
    cio_bare_wakeup *w;

    if (!loop->bare.woken)
        return;
    loop->bare.woken = 0;
    BARRIER();
    for (w = loop->bare.wakeups; w != NULL; w = w->next) {
        int err;

        if (!w->pending)
            continue;
        w->pending = 0;
        BARRIER();
        err = w->fn(loop, w->arg);
        if (err < 0)
            cio__report(loop, "Exception in wake-up callback", err, NULL, NULL);
    }
}

/* The virtual clock jumps to the earliest deadline; 0 if there is none. */
static int advance(cio_loop *loop)
{
    cio__timer *t = cio__tq_top(&loop->timers);

    if (loop->ready_head != NULL)
        return 1;
    if (t == NULL)
        return 0;
    if (t->when > loop->bare.now)
        loop->bare.now = t->when;
    return 1;
}

int cio__backend_run(cio_loop *loop)
{
    for (;;) {      /* a stop asked before the run still runs one iteration */
        double timeout;

        take_wakeups(loop);
        cio__loop_run_once(loop);
        if (loop->stopping)
            break;
        if (loop->bare.woken)
            continue;
        timeout = cio__loop_timeout(loop);
        if (timeout == 0)
            continue;
        if (loop->bare.idle != NULL)
            loop->bare.idle(loop, timeout, loop->bare.arg);
        if (loop->bare.clock == NULL && !loop->bare.woken && !advance(loop))
            return CIO_ESTOPPED;        /* nothing can ever happen */
    }
    return 0;
}

/* ---- cio/bare.h ---- */

int cio_bare_set_clock(cio_loop *loop, cio_bare_clock_fn clock,
                       cio_bare_idle_fn idle, void *arg)
{
    if (loop == NULL)
        return CIO_EINVAL;
    if (loop->running)
        return CIO_EBUSY;
    if (clock == NULL && loop->bare.clock != NULL)
        loop->bare.now = loop->bare.clock(loop->bare.arg);  /* go on from there */
    loop->bare.clock = clock;
    loop->bare.idle = idle;
    loop->bare.arg = arg;
    return 0;
}

void cio_bare_advance(cio_loop *loop, double seconds)
{
    if (loop != NULL && loop->bare.clock == NULL && seconds > 0)
        loop->bare.now += seconds;
}

int cio_bare_woken(const cio_loop *loop)
{
    return loop != NULL && loop->bare.woken;
}

int cio_bare_wakeup_init(cio_loop *loop, cio_bare_wakeup *w, cio_callback_fn fn, void *arg)
{
    if (loop == NULL || w == NULL || fn == NULL)
        return CIO_EINVAL;
    if (loop->closed)
        return CIO_ECLOSED;
    w->pending = 0;
    w->loop = loop;
    w->fn = fn;
    w->arg = arg;
    w->next = loop->bare.wakeups;
    loop->bare.wakeups = w;
    return 0;
}

void cio_bare_wakeup_send(cio_bare_wakeup *w)
{
    cio_loop *loop = w != NULL ? w->loop : NULL;

    if (loop == NULL)
        return;
    w->pending = 1;
    BARRIER();
    loop->bare.woken = 1;
}

void cio_bare_wakeup_close(cio_bare_wakeup *w)
{
    cio_bare_wakeup **p;

    if (w == NULL || w->loop == NULL)
        return;
    for (p = &w->loop->bare.wakeups; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    w->loop = NULL;
    w->next = NULL;
    w->pending = 0;
}

/* ---- fd readiness, signals, calls from other threads: no OS here ---- */

void cio__io_init(cio__io *io, int fd, cio__run_fn run)
{
    io->node.next = NULL;
    io->node.run = run;
    io->fd = fd;
    io->events = io->revents = io->queued = 0;
}

int cio__io_set(cio_loop *loop, cio__io *io, unsigned events)
{
    (void)loop, (void)io;
    return events == 0 ? 0 : CIO_ENOTSUP;
}

void cio__io_stop(cio_loop *loop, cio__io *io)
{
    (void)loop;
    io->events = io->revents = io->queued = 0;
}

int cio__sig_start(cio_loop *loop, cio__sig *s, int signum, cio__run_fn run)
{
    (void)loop, (void)s, (void)signum, (void)run;
    return CIO_ENOTSUP;
}

void cio__sig_stop(cio_loop *loop, cio__sig *s)
{
    (void)loop, (void)s;
}

/* ISR-safe wake-ups are cio_bare_wakeup_*; this one takes no lock. */
int cio__backend_call_threadsafe(cio_loop *loop, cio__node *node)
{
    (void)loop, (void)node;
    return CIO_ENOTSUP;
}

int cio__backend_fork(cio_loop *loop)
{
    (void)loop;
    return CIO_ENOTSUP;         /* no processes here */
}
