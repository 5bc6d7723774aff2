/* threadsafe.c - stop from another thread, run_coroutine_threadsafe and its
 * thread futures, and the per-loop state they share with the worker pool.
 *
 * A thread future is shared by the caller's thread and the loop's, so it is
 * reference counted under its own mutex: one reference for the caller (until
 * cio_thread_future_free), one for the loop side (until the task is done or
 * the loop goes), one for a cancel request in flight. Its outcome, its
 * state and `loop_live` (the loop side may still post to the loop) are read
 * and written under the mutex; the rest (task, phase) belongs to the loop
 * thread. Every thread future the loop side holds is in the loop's list, so
 * cio_loop_free finds them all, completes them with CIO_ECLOSED and clears
 * loop_live before the backend goes: after that nobody posts to the loop.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <string.h>
#include <time.h>
#include "thread/threads.h"

/* ---- the per-loop state ---- */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static void tf_loop_gone(cio_loop *loop, cio_thread_future *tf);
static void threads_free(cio_loop *loop);

cio__threads *cio__threads_get(cio_loop *loop)
{
    cio__threads *st;

    pthread_mutex_lock(&init_lock);
    st = loop->threads;
    if (st == NULL) {           /* (loop->closed is the loop thread's to read) */
        st = cio_alloc(sizeof *st);
        if (st != NULL) {
            memset(st, 0, sizeof *st);
            if (pthread_mutex_init(&st->lock, NULL) != 0) {
                cio_free(st, sizeof *st);
                st = NULL;
            } else if (pthread_cond_init(&st->work, NULL) != 0) {
                pthread_mutex_destroy(&st->lock);
                cio_free(st, sizeof *st);
                st = NULL;
            } else {
                loop->threads = st;
                loop->threads_free = threads_free;
            }
        }
    }
    pthread_mutex_unlock(&init_lock);
    return st;
}

/* ---- thread futures ---- */

enum { TF_PENDING, TF_DONE, TF_CANCELLED };
enum { PH_QUEUED, PH_RUNNING, PH_FINISHED };   /* the loop side's progress */

struct cio_thread_future {
    cio__node start;            /* posted to the loop: create the task */
    cio__node cancel_node;      /* posted to the loop: cancel the task */
    pthread_mutex_t lock;
    pthread_cond_t cond;        /* signalled when done */
    unsigned refs;
    int state;                  /* TF_* */
    int err;
    cio_value result;
    /* separate bytes: they are guarded by different locks */
    unsigned char loop_live;    /* the loop side may still post to the loop */
    unsigned char cancel_posted;
    unsigned char listed;       /* in the loop's list (under the list's lock) */
    cio_thread_future *prev, *next;
    cio_loop *loop;
    const cio_task_type *type;
    cio_future *task;           /* loop thread only */
    int phase;                  /* loop thread only: PH_* */
    size_t size;                /* of this allocation */
    /* the copied frame follows, aligned */
};

#define TF_FRAME_OFFSET                                                       \
    ((sizeof(cio_thread_future) + sizeof(double) - 1) & ~(sizeof(double) - 1))
#define TF_FRAME(tf) ((void *)((char *)(tf) + TF_FRAME_OFFSET))

static void tf_unref(cio_thread_future *tf)
{
    unsigned refs;

    pthread_mutex_lock(&tf->lock);
    refs = --tf->refs;
    pthread_mutex_unlock(&tf->lock);
    if (refs > 0)
        return;
    pthread_cond_destroy(&tf->cond);
    pthread_mutex_destroy(&tf->lock);
    cio_free(tf, tf->size);
}

/* Complete tf if it is pending (any thread); call with tf->lock held. */
static void tf_complete_locked(cio_thread_future *tf, int state, int err, cio_value v)
{
    if (tf->state != TF_PENDING)
        return;
    tf->state = state;
    tf->err = err;
    tf->result = v;
    pthread_cond_broadcast(&tf->cond);
}

/* Take tf out of the loop's list (loop thread). */
static void tf_unlist(cio_loop *loop, cio_thread_future *tf)
{
    cio__threads *st = loop->threads;

    if (st == NULL)
        return;
    pthread_mutex_lock(&st->lock);
    if (tf->listed) {
        if (tf->prev != NULL)
            tf->prev->next = tf->next;
        else
            st->tfs = tf->next;
        if (tf->next != NULL)
            tf->next->prev = tf->prev;
        tf->prev = tf->next = NULL;
        tf->listed = 0;
    }
    pthread_mutex_unlock(&st->lock);
}

/* The loop side is done with tf: complete it (if still pending) with err
 * and v, then let go (loop thread). */
static void tf_finish(cio_loop *loop, cio_thread_future *tf, int err, cio_value v)
{
    if (tf->listed)
        tf_unlist(loop, tf);
    pthread_mutex_lock(&tf->lock);
    tf_complete_locked(tf, err == CIO_ECANCELLED ? TF_CANCELLED : TF_DONE, err, v);
    tf->loop_live = 0;
    pthread_mutex_unlock(&tf->lock);
    if (tf->task != NULL) {
        cio_future_unref(tf->task);
        tf->task = NULL;
    }
    tf->phase = PH_FINISHED;
    tf_unref(tf);
}

static int tf_task_done(cio_future *task, void *arg)
{
    cio_thread_future *tf = arg;
    cio_value v = cio_int(0);
    int err = cio_future_result(task, &v);     /* marks the error retrieved */

    tf_finish(task->loop, tf, err, v);
    return 0;
}

/* On the loop thread: create the task (the start node). */
static void tf_start(cio_loop *loop, cio__node *node)
{
    cio_thread_future *tf = CIO__CONTAINER_OF(node, cio_thread_future, start);
    cio_future *task;
    int pending;

    if (loop->closing) {                /* the loop is closed or being freed */
        tf_finish(loop, tf, CIO_ECLOSED, cio_int(0));
        return;
    }
    pthread_mutex_lock(&tf->lock);
    pending = tf->state == TF_PENDING;
    pthread_mutex_unlock(&tf->lock);
    if (!pending) {                     /* cancelled before it started */
        tf_finish(loop, tf, CIO_ECANCELLED, cio_int(0));
        return;
    }
    task = cio_task_new(loop, tf->type, TF_FRAME(tf));
    if (task == NULL) {
        tf_finish(loop, tf, loop->closed ? CIO_ECLOSED : CIO_ENOMEM, cio_int(0));
        return;
    }
    if (cio_future_add_done_callback(task, tf_task_done, tf) != 0) {
        cio_future_cancel(task, NULL);
        cio_future_unref(task);
        tf_finish(loop, tf, CIO_ENOMEM, cio_int(0));
        return;
    }
    tf->task = task;
    tf->phase = PH_RUNNING;
}

/* On the loop thread: a cancel request (the cancel node). */
static void tf_cancel_run(cio_loop *loop, cio__node *node)
{
    cio_thread_future *tf = CIO__CONTAINER_OF(node, cio_thread_future, cancel_node);

    if (!loop->closing && tf->phase == PH_RUNNING && tf->task != NULL)
        cio_future_cancel(tf->task, NULL);
    tf_unref(tf);
}

/* cio_loop_free: the loop side of tf lets go (loop thread). */
static void tf_loop_gone(cio_loop *loop, cio_thread_future *tf)
{
    pthread_mutex_lock(&tf->lock);
    tf->loop_live = 0;                  /* nobody posts to this loop any more */
    pthread_mutex_unlock(&tf->lock);
    if (tf->phase == PH_RUNNING) {
        cio_future *task = tf->task;
        cio_value v = cio_int(0);
        int err = CIO_ECLOSED;

        cio_future_remove_done_callback(task, tf_task_done, tf);
        if (cio_future_done(task))      /* done, its callback dropped unrun */
            err = cio_future_result(task, &v);
        tf_finish(loop, tf, err, v);
    } else {
        /* PH_QUEUED: its start node is still queued; it runs (closing) and
         * finishes tf when the backend lets go of it. Complete it now. */
        pthread_mutex_lock(&tf->lock);
        tf_complete_locked(tf, TF_DONE, CIO_ECLOSED, cio_int(0));
        pthread_mutex_unlock(&tf->lock);
    }
}

cio_thread_future *cio_run_coroutine_threadsafe(cio_loop *loop, const cio_task_type *type,
                                                const void *frame)
{
    cio_thread_future *tf;
    cio__threads *st;
    size_t size;
    int closed;

    if (loop == NULL || type == NULL || type->step == NULL || frame == NULL
        || type->frame_size < sizeof(cio_coro))
        return NULL;
    st = cio__threads_get(loop);
    if (st == NULL)
        return NULL;
    size = TF_FRAME_OFFSET + type->frame_size;
    tf = cio_alloc(size);
    if (tf == NULL)
        return NULL;
    memset(tf, 0, TF_FRAME_OFFSET);
    if (pthread_mutex_init(&tf->lock, NULL) != 0) {
        cio_free(tf, size);
        return NULL;
    }
    {
        pthread_condattr_t attr;
        int rc = pthread_condattr_init(&attr);

        if (rc == 0) {
            pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
            rc = pthread_cond_init(&tf->cond, &attr);
            pthread_condattr_destroy(&attr);
        }
        if (rc != 0) {
            pthread_mutex_destroy(&tf->lock);
            cio_free(tf, size);
            return NULL;
        }
    }
    memcpy(TF_FRAME(tf), frame, type->frame_size);
    tf->size = size;
    tf->refs = 2;                       /* the caller's and the loop side's */
    tf->state = TF_PENDING;
    tf->loop_live = 1;
    tf->loop = loop;
    tf->type = type;
    tf->phase = PH_QUEUED;
    tf->start.run = tf_start;
    tf->cancel_node.run = tf_cancel_run;

    pthread_mutex_lock(&st->lock);
    closed = st->closed;
    if (!closed) {
        tf->next = st->tfs;
        if (st->tfs != NULL)
            st->tfs->prev = tf;
        st->tfs = tf;
        tf->listed = 1;
    }
    pthread_mutex_unlock(&st->lock);
    if (closed || cio__backend_call_threadsafe(loop, &tf->start) != 0) {
        if (!closed) {
            pthread_mutex_lock(&st->lock);
            if (tf->prev != NULL)
                tf->prev->next = tf->next;
            else
                st->tfs = tf->next;
            if (tf->next != NULL)
                tf->next->prev = tf->prev;
            pthread_mutex_unlock(&st->lock);
        }
        pthread_cond_destroy(&tf->cond);
        pthread_mutex_destroy(&tf->lock);
        cio_free(tf, size);
        return NULL;
    }
    return tf;
}

int cio_thread_future_wait(cio_thread_future *tf, double timeout, cio_value *result)
{
    struct timespec deadline;
    int err;

    if (tf == NULL)
        return CIO_EINVAL;
    if (timeout >= 0) {
        double whole;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        if (timeout > 1e9)
            timeout = 1e9;
        whole = (double)(time_t)timeout;
        deadline.tv_sec += (time_t)whole;
        deadline.tv_nsec += (long)((timeout - whole) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&tf->lock);
    while (tf->state == TF_PENDING) {
        if (timeout < 0) {
            pthread_cond_wait(&tf->cond, &tf->lock);
        } else if (pthread_cond_timedwait(&tf->cond, &tf->lock, &deadline) == ETIMEDOUT
                   && tf->state == TF_PENDING) {
            pthread_mutex_unlock(&tf->lock);
            return CIO_ETIMEDOUT;
        }
    }
    err = tf->err;
    if (err == 0 && result != NULL)
        *result = tf->result;
    pthread_mutex_unlock(&tf->lock);
    return err;
}

int cio_thread_future_done(cio_thread_future *tf)
{
    int done;

    if (tf == NULL)
        return 0;
    pthread_mutex_lock(&tf->lock);
    done = tf->state != TF_PENDING;
    pthread_mutex_unlock(&tf->lock);
    return done;
}

int cio_thread_future_cancel(cio_thread_future *tf)
{
    if (tf == NULL)
        return 0;
    pthread_mutex_lock(&tf->lock);
    if (tf->state != TF_PENDING) {
        pthread_mutex_unlock(&tf->lock);
        return 0;
    }
    tf_complete_locked(tf, TF_CANCELLED, CIO_ECANCELLED, cio_int(0));
    if (tf->loop_live && !tf->cancel_posted) {
        /* Posted under the lock: cio_loop_free clears loop_live under it
         * too, before the backend (which lets go of the node) goes. */
        tf->cancel_posted = 1;
        tf->refs++;
        if (cio__backend_call_threadsafe(tf->loop, &tf->cancel_node) != 0)
            tf->refs--;
    }
    pthread_mutex_unlock(&tf->lock);
    return 1;
}

void cio_thread_future_free(cio_thread_future *tf)
{
    if (tf != NULL)
        tf_unref(tf);
}

/* ---- stop from another thread ---- */

static int stop_cb(cio_loop *loop, void *arg)
{
    (void)arg;
    cio_loop_stop(loop);
    return 0;
}

int cio_loop_stop_threadsafe(cio_loop *loop)
{
    return cio_loop_call_soon_threadsafe(loop, stop_cb, NULL);
}

/* ---- cio_loop_free ---- */

static void threads_free(cio_loop *loop)
{
    cio__threads *st = loop->threads;
    cio_thread_future *tf, *next;

    if (st == NULL)
        return;
    pthread_mutex_lock(&st->lock);
    st->closed = 1;
    tf = st->tfs;
    st->tfs = NULL;
    for (next = tf; next != NULL; next = next->next)
        next->listed = 0;
    pthread_mutex_unlock(&st->lock);
    for (; tf != NULL; tf = next) {
        next = tf->next;
        tf->prev = tf->next = NULL;
        tf_loop_gone(loop, tf);
    }
    cio__executor_shutdown(loop, st);
    pthread_mutex_lock(&init_lock);
    loop->threads = NULL;
    loop->threads_free = NULL;
    pthread_mutex_unlock(&init_lock);
    pthread_cond_destroy(&st->work);
    pthread_mutex_destroy(&st->lock);
    cio_free(st, sizeof *st);
}
