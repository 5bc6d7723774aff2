/* backend_ev.c - the libev backend: the only file that includes <ev.h>.
 *
 * libev drives; cio's iteration runs from an ev_prepare watcher, just
 * before libev would block. An ev_idle is active only while the ready queue
 * is not empty, so libev polls without blocking then and the loop never
 * spins when idle. One ev_timer is armed for the earliest cio deadline.
 * Watcher callbacks only wake libev up: no cio callback runs inside them.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <ev.h>
#include "loop/backend.h"
#include "thread/threads.h"

/* cio__io and cio__sig keep an ev_io / ev_signal in their impl storage. */
typedef char cio__ev_io_fits[sizeof(ev_io) <= sizeof(((cio__io *)0)->impl) ? 1 : -1];
typedef char cio__ev_sig_fits[sizeof(ev_signal) <= sizeof(((cio__sig *)0)->impl) ? 1 : -1];

typedef struct evb {
    struct ev_loop *ev;
    ev_prepare prepare;     /* runs cio's iteration */
    ev_idle idle;           /* keeps libev from blocking while work is ready */
    ev_timer timer;         /* the earliest cio deadline */
    ev_async async;         /* wake-ups from other threads */
    pthread_mutex_t lock;   /* guards the two below */
    cio__node *ts_head, *ts_tail;   /* call_threadsafe nodes not yet queued */
} evb;

/* The idle, timer and async watchers exist only to wake libev up. */
static void idle_cb(struct ev_loop *ev, ev_idle *w, int revents)
{
    (void)ev, (void)w, (void)revents;
}

static void timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev, (void)w, (void)revents;
}

/* Move the nodes other threads handed over onto the ready queue. */
static void take_threadsafe(cio_loop *loop, evb *b)
{
    cio__node *head, *n, *next;

    pthread_mutex_lock(&b->lock);
    head = b->ts_head;
    b->ts_head = b->ts_tail = NULL;
    pthread_mutex_unlock(&b->lock);
    for (n = head; n != NULL; n = next) {
        next = n->next;
        cio__loop_schedule(loop, n);
    }
}

static void async_cb(struct ev_loop *ev, ev_async *w, int revents)
{
    cio_loop *loop = w->data;

    (void)ev, (void)revents;
    take_threadsafe(loop, loop->backend);
}

static void prepare_cb(struct ev_loop *ev, ev_prepare *w, int revents)
{
    cio_loop *loop = w->data;
    evb *b = loop->backend;
    double timeout;

    (void)revents;
    cio__loop_run_batch(loop);
    if (loop->stopping) {
        ev_break(ev, EVBREAK_ONE);
        return;
    }
    timeout = cio__loop_timeout(loop);
    if (timeout == 0) {
        if (!ev_is_active(&b->idle))
            ev_idle_start(ev, &b->idle);
    } else if (ev_is_active(&b->idle)) {
        ev_idle_stop(ev, &b->idle);
    }
    if (timeout > 0) {
        ev_now_update(ev);
        ev_timer_stop(ev, &b->timer);
        ev_timer_set(&b->timer, timeout, 0.);
        ev_timer_start(ev, &b->timer);
    } else if (ev_is_active(&b->timer)) {
        ev_timer_stop(ev, &b->timer);
    }
}

int cio__backend_init(cio_loop *loop)
{
    evb *b = cio_alloc(sizeof *b);

    if (b == NULL)
        return CIO_ENOMEM;
    b->ev = ev_loop_new(EVFLAG_AUTO);
    if (b->ev == NULL) {
        cio_free(b, sizeof *b);
        return CIO_ENOMEM;
    }
    ev_prepare_init(&b->prepare, prepare_cb);
    b->prepare.data = loop;
    ev_idle_init(&b->idle, idle_cb);
    ev_timer_init(&b->timer, timer_cb, 0., 0.);
    if (pthread_mutex_init(&b->lock, NULL) != 0) {
        ev_loop_destroy(b->ev);
        cio_free(b, sizeof *b);
        return CIO_ENOMEM;
    }
    b->ts_head = b->ts_tail = NULL;
    ev_async_init(&b->async, async_cb);
    b->async.data = loop;
    ev_async_start(b->ev, &b->async);
    ev_unref(b->ev);        /* the async watcher alone must not keep ev_run going */
    loop->backend = b;
    return 0;
}

void cio__backend_free(cio_loop *loop)
{
    evb *b = loop->backend;

    if (b == NULL)
        return;
    ev_ref(b->ev);
    ev_async_stop(b->ev, &b->async);
    take_threadsafe(loop, b);   /* the loop is closed: each node releases itself */
    pthread_mutex_destroy(&b->lock);
    ev_loop_destroy(b->ev);
    cio_free(b, sizeof *b);
    loop->backend = NULL;
}

double cio__backend_now(cio_loop *loop)
{
    struct timespec ts;

    (void)loop;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cio__backend_run(cio_loop *loop)
{
    evb *b = loop->backend;

    ev_prepare_start(b->ev, &b->prepare);
    ev_run(b->ev, 0);
    ev_prepare_stop(b->ev, &b->prepare);
    ev_idle_stop(b->ev, &b->idle);
    ev_timer_stop(b->ev, &b->timer);
    return 0;
}

/* ---- fd readiness ---- */

#define IO_WATCHER(io) ((ev_io *)(void *)(io)->impl)

static void io_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    cio__io *io = CIO__CONTAINER_OF((void *)w, cio__io, impl);

    (void)ev;
    if (revents & EV_READ)
        io->revents |= CIO__IO_READ;
    if (revents & EV_WRITE)
        io->revents |= CIO__IO_WRITE;
    if (!io->queued) {
        io->queued = 1;
        cio__loop_schedule(w->data, &io->node);
    }
}

void cio__io_init(cio__io *io, int fd, cio__run_fn run)
{
    io->node.next = NULL;
    io->node.run = run;
    io->fd = fd;
    io->events = 0;
    io->revents = 0;
    io->queued = 0;
    ev_io_init(IO_WATCHER(io), io_cb, fd, 0);
}

int cio__io_set(cio_loop *loop, cio__io *io, unsigned events)
{
    evb *b = loop->backend;
    ev_io *w = IO_WATCHER(io);

    events &= CIO__IO_READ | CIO__IO_WRITE;
    if (events == io->events)
        return 0;
    if (io->events != 0)
        ev_io_stop(b->ev, w);
    io->events = (uint8_t)events;
    if (events == 0)
        return 0;
    ev_io_set(w, io->fd, ((events & CIO__IO_READ) ? EV_READ : 0)
                         | ((events & CIO__IO_WRITE) ? EV_WRITE : 0));
    w->data = loop;
    ev_io_start(b->ev, w);
    return 0;
}

void cio__io_stop(cio_loop *loop, cio__io *io)
{
    cio__io_set(loop, io, 0);
    if (io->queued) {
        cio__loop_unschedule(loop, &io->node);
        io->queued = 0;
    }
    io->revents = 0;
}

/* ---- signals ---- */

#define SIG_WATCHER(s) ((ev_signal *)(void *)(s)->impl)

/* libev lets one loop watch a signal; which one does, process-wide. */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static cio_loop *sig_owner[NSIG];

static void sig_cb(struct ev_loop *ev, ev_signal *w, int revents)
{
    cio__sig *s = CIO__CONTAINER_OF((void *)w, cio__sig, impl);

    (void)ev, (void)revents;
    if (!s->queued) {
        s->queued = 1;
        cio__loop_schedule(w->data, &s->node);
    }
}

int cio__sig_start(cio_loop *loop, cio__sig *s, int signum, cio__run_fn run)
{
    evb *b = loop->backend;
    int busy;

    if (signum <= 0 || signum >= NSIG)
        return CIO_EINVAL;
    pthread_mutex_lock(&sig_lock);
    busy = sig_owner[signum] != NULL && sig_owner[signum] != loop;
    if (!busy)
        sig_owner[signum] = loop;
    pthread_mutex_unlock(&sig_lock);
    if (busy)
        return CIO_EBUSY;
    s->node.next = NULL;
    s->node.run = run;
    s->signum = signum;
    s->queued = 0;
    ev_signal_init(SIG_WATCHER(s), sig_cb, signum);
    SIG_WATCHER(s)->data = loop;
    ev_signal_start(b->ev, SIG_WATCHER(s));
    ev_unref(b->ev);        /* a signal handler alone does not keep the loop running */
    s->active = 1;
    return 0;
}

void cio__sig_stop(cio_loop *loop, cio__sig *s)
{
    evb *b = loop->backend;

    if (s->active) {
        ev_ref(b->ev);
        ev_signal_stop(b->ev, SIG_WATCHER(s));
        s->active = 0;
        pthread_mutex_lock(&sig_lock);
        if (sig_owner[s->signum] == loop)
            sig_owner[s->signum] = NULL;
        pthread_mutex_unlock(&sig_lock);
    }
    if (s->queued) {
        cio__loop_unschedule(loop, &s->node);
        s->queued = 0;
    }
}

/* ---- fork ---- */

int cio__backend_fork(cio_loop *loop)
{
    evb *b = loop->backend;
    int err = cio__threads_fork(loop);

    if (err != 0)
        return err;
    /* Only this thread exists now: a lock held by another thread at the
     * fork would never be released, so start from a fresh one. */
    pthread_mutex_init(&b->lock, NULL);
    ev_loop_fork(b->ev);        /* new epoll fd, signal pipes: on the next run */
    return 0;
}

/* ---- wake-ups from other threads ---- */

int cio__backend_call_threadsafe(cio_loop *loop, cio__node *node)
{
    evb *b = loop->backend;

    node->next = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->ts_tail != NULL)
        b->ts_tail->next = node;
    else
        b->ts_head = node;
    b->ts_tail = node;
    /* Sent under the lock: the loop cannot take the node, run it and be
     * freed while this thread still touches it. */
    ev_async_send(b->ev, &b->async);
    pthread_mutex_unlock(&b->lock);
    return 0;
}
