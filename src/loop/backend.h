/* backend.h - what the scheduler needs from a backend (chosen at build time).
 *
 * libev (backend_ev.c): fd readiness, signals, cross-thread wake-ups.
 * bare (backend_bare.c): no OS; the application supplies clock and idle hook.
 * The scheduler (loop.c) knows nothing else about either.
 */
#ifndef CIO_BACKEND_H
#define CIO_BACKEND_H

#include "internal.h"

/* Set up loop->backend; 0 or a negative code. */
int cio__backend_init(cio_loop *loop);
/* Release loop->backend. */
void cio__backend_free(cio_loop *loop);
/* The monotonic clock, in seconds. */
double cio__backend_now(cio_loop *loop);
/* Run iterations (cio__loop_run_once) until loop->stopping, sleeping in
 * between for at most cio__loop_timeout(loop). */
int cio__backend_run(cio_loop *loop);

/* ---- fd readiness, signals, wake-ups from other threads ----
 *
 * Only the libev backend has these; the bare one returns CIO_ENOTSUP. A
 * watcher never runs anything inside the backend: when it fires it records
 * what happened and puts its node on the ready queue (once), and the loop
 * runs node.run on its next iteration. The owner embeds the watcher. */

#define CIO__IO_READ  1u
#define CIO__IO_WRITE 2u

/* A readiness watcher on one fd (libev: an ev_io kept in impl). */
typedef struct cio__io {
    cio__node node;         /* queued when the fd became ready; run: the owner's */
    int fd;
    uint8_t events;         /* CIO__IO_* watched now (0: stopped) */
    uint8_t revents;        /* became ready since the node last ran */
    uint8_t queued;         /* node is in the ready queue */
    void *impl[6];          /* the backend's watcher */
} cio__io;

/* A signal watcher (libev: an ev_signal kept in impl). */
typedef struct cio__sig {
    cio__node node;         /* queued when the signal arrived; run: the owner's */
    int signum;
    uint8_t queued;
    uint8_t active;
    void *impl[6];
} cio__sig;

/* Prepare io for fd; run is called from the ready queue with &io->node. */
void cio__io_init(cio__io *io, int fd, cio__run_fn run);
/* Watch io->fd for `events` (CIO__IO_*; 0 stops). 0 or CIO_ENOTSUP. */
int cio__io_set(cio_loop *loop, cio__io *io, unsigned events);
/* Stop watching and forget a queued readiness: call before closing the fd
 * or freeing io. */
void cio__io_stop(cio_loop *loop, cio__io *io);
/* What became ready since the node last ran; clears it (call from run). */
static inline unsigned cio__io_take(cio__io *io)
{
    unsigned r = io->revents;

    io->revents = 0;
    io->queued = 0;
    return r;
}

/* Watch signal signum (installs the process's handler for it). 0,
 * CIO_ENOTSUP, or CIO_EBUSY if another loop watches it. */
int cio__sig_start(cio_loop *loop, cio__sig *s, int signum, cio__run_fn run);
/* Stop (restores the default disposition) and forget a queued delivery. */
void cio__sig_stop(cio_loop *loop, cio__sig *s);

/* From any thread: put node on loop's ready queue and wake the loop up.
 * node->run is called on the loop thread; it runs with loop->closing set
 * if the loop is freed first. 0 or CIO_ENOTSUP. */
int cio__backend_call_threadsafe(cio_loop *loop, cio__node *node);

/* In a child after fork(): make the backend's OS state the child's own.
 * CIO_EBUSY (nothing changed) while other threads have work in flight;
 * CIO_ENOTSUP where there is no fork (bare). */
int cio__backend_fork(cio_loop *loop);

#endif
