/* executor.c - the loop's worker pool: asyncio's run_in_executor(None, ...).
 *
 * Up to CIO_EXECUTOR_THREADS workers, started on demand (a job queued while
 * no worker is idle starts one), share one FIFO of jobs under the state's
 * mutex. A worker runs a job's function, then hands the job back to the loop
 * through the cross-thread queue (cio__backend_call_threadsafe); the loop
 * thread completes the future. A job holds no pointer into the pool, so a
 * job handed back while the loop is being freed only releases itself.
 */
#include <string.h>
#include "thread/threads.h"

struct cio__job {
    cio__node node;         /* handed back to the loop when done */
    cio__job *next;         /* the queue */
    cio_loop *loop;
    cio_future *fut;        /* the job's reference */
    int (*fn)(void *arg, cio_value *result);
    void *arg;
    int err;
    cio_value result;
};

static void job_free(cio__job *j)
{
    cio_free(j, sizeof *j);
}

/* Back on the loop thread: complete the future (unless cancelled). */
static void job_done(cio_loop *loop, cio__node *node)
{
    cio__job *j = CIO__CONTAINER_OF(node, cio__job, node);

    if (!loop->closing && j->fut->state == CIO__PENDING) {
        if (j->err != 0)
            cio_future_set_error(j->fut, j->err);
        else
            cio_future_set_result(j->fut, j->result);
    }
    cio_future_unref(j->fut);
    job_free(j);
}

static void *worker_main(void *p)
{
    cio__threads *st = p;
    cio__job *j;

    pthread_mutex_lock(&st->lock);
    for (;;) {
        while (st->head == NULL && !st->closed) {
            st->idle++;
            pthread_cond_wait(&st->work, &st->lock);
            st->idle--;
        }
        if (st->closed)
            break;
        j = st->head;
        st->head = j->next;
        if (st->head == NULL)
            st->tail = NULL;
        st->queued--;
        pthread_mutex_unlock(&st->lock);

        j->result = cio_int(0);
        j->err = j->fn(j->arg, &j->result);
        if (j->err > 0)
            j->err = CIO_EINVAL;
        cio__backend_call_threadsafe(j->loop, &j->node);

        pthread_mutex_lock(&st->lock);
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

/* Start one more worker; call with st->lock held. 0 or CIO_ENOMEM. */
static int worker_start(cio__threads *st)
{
    pthread_attr_t attr;
    int rc;

    if (pthread_attr_init(&attr) != 0)
        return CIO_ENOMEM;
    pthread_attr_setstacksize(&attr, 256 * 1024);
    rc = pthread_create(&st->workers[st->nworkers], &attr, worker_main, st);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return CIO_ENOMEM;
    st->nworkers++;
    return 0;
}

cio_future *cio_loop_run_in_executor(cio_loop *loop, int (*fn)(void *arg, cio_value *result),
                                     void *arg)
{
    cio__threads *st;
    cio__job *j;
    cio_future *fut;
    int ok;

    if (loop == NULL || fn == NULL || loop->closed)
        return NULL;
    st = cio__threads_get(loop);
    if (st == NULL)
        return NULL;
    fut = cio_future_new(loop);
    if (fut == NULL)
        return NULL;
    j = cio_alloc(sizeof *j);
    if (j == NULL) {
        cio_future_unref(fut);
        return NULL;
    }
    memset(j, 0, sizeof *j);
    j->node.run = job_done;
    j->loop = loop;
    j->fut = cio_future_ref(fut);
    j->fn = fn;
    j->arg = arg;

    pthread_mutex_lock(&st->lock);
    ok = !st->closed;
    if (ok && (size_t)st->idle <= st->queued && st->nworkers < CIO_EXECUTOR_THREADS
        && worker_start(st) != 0)
        ok = st->nworkers > 0;          /* the workers there will do */
    if (ok) {
        if (st->tail != NULL)
            st->tail->next = j;
        else
            st->head = j;
        st->tail = j;
        st->queued++;
        pthread_cond_signal(&st->work);
    }
    pthread_mutex_unlock(&st->lock);
    if (!ok) {
        fut->flags |= CIO__FF_RETRIEVED;
        cio_future_unref(fut);
        cio_future_unref(fut);
        job_free(j);
        return NULL;
    }
    return fut;
}

void cio__executor_shutdown(cio_loop *loop, cio__threads *st)
{
    cio__job *j, *next;
    int i, n;

    pthread_mutex_lock(&st->lock);     /* st->closed is set */
    j = st->head;
    st->head = st->tail = NULL;
    st->queued = 0;
    n = st->nworkers;
    st->nworkers = 0;
    pthread_cond_broadcast(&st->work);
    pthread_mutex_unlock(&st->lock);
    for (; j != NULL; j = next) {      /* never started: cancelled */
        next = j->next;
        cio_future_cancel(j->fut, NULL);
        cio_future_unref(j->fut);
        job_free(j);
    }
    /* Running jobs finish first; they hand themselves back to the backend,
     * which lets go of them when it is freed. */
    for (i = 0; i < n; i++)
        pthread_join(st->workers[i], NULL);
    (void)loop;
}

/* The child after fork(): the workers are the parent's (none exist here),
 * so the pool starts over empty - unless work was in flight, which would
 * be lost: then CIO_EBUSY and nothing changes. */
int cio__threads_fork(cio_loop *loop)
{
    cio__threads *st = loop->threads;

    if (st == NULL)
        return 0;
    if (st->queued > 0 || st->idle < st->nworkers || st->tfs != NULL)
        return CIO_EBUSY;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->work, NULL);
    st->nworkers = 0;
    st->idle = 0;
    return 0;
}
