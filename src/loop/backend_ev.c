/* backend_ev.c - the libev backend: the only file that includes <ev.h>.
 *
 * libev drives; cio's iteration runs from an ev_prepare watcher, just
 * before libev would block. An ev_idle is active only while the ready queue
 * is not empty, so libev polls without blocking then and the loop never
 * spins when idle. One ev_timer is armed for the earliest cio deadline.
 * Watcher callbacks only wake libev up: no cio callback runs inside them.
 */
#include <errno.h>
#include <time.h>
#include <ev.h>
#include "loop/backend.h"

typedef struct evb {
    struct ev_loop *ev;
    ev_prepare prepare;     /* runs cio's iteration */
    ev_idle idle;           /* keeps libev from blocking while work is ready */
    ev_timer timer;         /* the earliest cio deadline */
    ev_async async;         /* wake-ups from other threads */
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

static void async_cb(struct ev_loop *ev, ev_async *w, int revents)
{
    (void)ev, (void)w, (void)revents;
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
    ev_async_init(&b->async, async_cb);
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
