/* threads.h - the per-loop state of the cross-thread helpers (libev builds
 * only): thread futures of run_coroutine_threadsafe (threadsafe.c) and the
 * worker pool of run_in_executor (executor.c). Made on first use, from any
 * thread; released by cio_loop_free through loop->threads_free.
 */
#ifndef CIO_THREADS_INTERNAL_H
#define CIO_THREADS_INTERNAL_H

#include <pthread.h>
#include "internal.h"
#include "loop/backend.h"
#include "cio/thread.h"

typedef struct cio__job cio__job;

typedef struct cio__threads {
    pthread_mutex_t lock;           /* guards everything below */
    int closed;                     /* the loop is being freed */
    cio_thread_future *tfs;         /* thread futures the loop side holds */
    /* the worker pool */
    pthread_cond_t work;            /* workers wait here for jobs */
    cio__job *head, *tail;          /* queued jobs, FIFO */
    size_t queued;
    int nworkers, idle;
    pthread_t workers[CIO_EXECUTOR_THREADS];
} cio__threads;

/* The loop's state, made on first use (any thread); NULL if out of memory
 * or the loop is being freed. */
cio__threads *cio__threads_get(cio_loop *loop);

/* The pool's part of cio_loop_free: cancel queued jobs, join the workers
 * (executor.c). Called with st->closed set. */
void cio__executor_shutdown(cio_loop *loop, cio__threads *st);

/* The pool's part of cio_loop_fork in the child (executor.c): 0, or
 * CIO_EBUSY if work is in flight. */
int cio__threads_fork(cio_loop *loop);

#endif
