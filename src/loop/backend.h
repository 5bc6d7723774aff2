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

#endif
