/* go_style.c - Go's goroutines and channels, asyncio's queues, with cio.
 *
 * Part 1, "notify after the order shipped" (the seed article's Go snippet):
 *
 *     done := make(chan result, 1)
 *     go func() { done <- notifyChannel(order) }()  // cio: CIO_START(loop, notify, ...)
 *     ... the order flow goes on ...
 *     r := <-done                                   // cio: CIO_CHAN_RECV(done, &r)
 *
 *   go func()            -> CIO_START (asyncio: create_task); the task runs
 *                           on the same thread, interleaved at awaits
 *   make(chan T, 1)      -> cio_chan_new(loop, sizeof(T), 1)
 *   ch <- v / <-ch       -> CIO_CHAN_SEND / CIO_CHAN_RECV (or the futures
 *                           cio_chan_send / cio_chan_recv, awaited)
 *   time.Sleep / the slow third-party call -> cio_sleep (asyncio.sleep)
 *
 * Part 2, a producer / worker-pool / collector pipeline:
 *
 *   jobs queue           -> cio_queue of maxsize 4 (asyncio.Queue(4); Go: a
 *                           buffered chan of 4): put waits while it is full
 *   3 workers            -> 3 tasks looping on CIO_QUEUE_GET (Go: 3
 *                           goroutines ranging over the jobs channel)
 *   q.task_done/q.join   -> cio_queue_task_done / cio_queue_join (Go: a
 *                           sync.WaitGroup)
 *   close(jobs)          -> cio_queue_shutdown (asyncio 3.13's
 *                           Queue.shutdown): workers drain, then get fails
 *                           with CIO_ESHUTDOWN and they return
 *   results channel      -> cio_chan of struct result; close(results) ->
 *                           cio_chan_close; the collector's `for r := range
 *                           results` ends when recv fails with CIO_ECLOSED
 *
 * The output is deterministic and the run takes a few tens of milliseconds.
 */
#include <stdio.h>
#include <string.h>
#include <cio.h>

/* ------------------------------------------------------------------------
 * Part 1: go func() { done <- notifyChannel(order) }()
 * ------------------------------------------------------------------------ */

typedef struct notify_result {
    int order_id;
    int status;                 /* the partner's answer, e.g. HTTP 200 */
} notify_result;

/* The background job: tell the third party the order shipped. */
CIO_ASYNC(notify_channel, cio_chan *done; int order_id; notify_result r;)
{
    CIO_BEGIN();
    printf("  [notify] calling the channel partner for order %d\n", self->order_id);
    CIO_AWAIT(cio_sleep(loop, 0.05));           /* the slow third-party call */
    self->r.order_id = self->order_id;
    self->r.status = 200;
    printf("  [notify] partner answered %d\n", self->r.status);
    CIO_CHAN_SEND(self->done, &self->r);                /* done <- r */
    CIO_END();
}

CIO_ASYNC(ship_order, int order_id; cio_chan *done; cio_future *bg; notify_result r;)
{
    CIO_BEGIN();
    self->done = cio_chan_new(loop, sizeof(notify_result), 1);
    if (self->done == NULL)
        CIO_RAISE(CIO_ENOMEM);
    printf("[main] order %d shipped\n", self->order_id);
    /* go func() { ... }() */
    self->bg = CIO_START(loop, notify_channel, .done = self->done, .order_id = self->order_id);
    if (self->bg == NULL)
        CIO_RAISE(CIO_ENOMEM);
    printf("[main] notification started in the background; the order flow goes on\n");
    CIO_AWAIT(cio_sleep(loop, 0.01));           /* other work: invoice, e-mail */
    printf("[main] invoice sent, waiting for the notification outcome\n");
    CIO_CHAN_RECV(self->done, &self->r);                /* r := <-done */
    printf("[main] order %d: partner notified, status %d\n", self->r.order_id, self->r.status);
    CIO_AWAIT(self->bg);                        /* the goroutine has returned */
    self->bg = NULL;
    CIO_FINALLY();
    cio_future_unref(self->bg);                 /* only if we failed early */
    if (self->done != NULL)
        cio_chan_free(self->done);
    CIO_END();
}

/* ------------------------------------------------------------------------
 * Part 2: producer -> jobs queue (maxsize 4) -> 3 workers -> results -> collector
 * ------------------------------------------------------------------------ */

enum { N_JOBS = 20, N_WORKERS = 3, QUEUE_MAX = 4 };

typedef struct result {
    int job;
    int worker;
    long value;
} result;

static size_t max_qsize;        /* the longest the jobs queue ever was */

CIO_ASYNC(producer, cio_queue *jobs; int i;)
{
    CIO_BEGIN();
    for (self->i = 1; self->i <= N_JOBS; self->i++) {
        CIO_QUEUE_PUT(self->jobs, cio_int(self->i));    /* waits while full */
        if (cio_queue_qsize(self->jobs) > max_qsize)
            max_qsize = cio_queue_qsize(self->jobs);
    }
    printf("  [producer] %d jobs queued\n", N_JOBS);
    CIO_AWAIT(cio_queue_join(self->jobs));      /* every job processed */
    printf("  [producer] all jobs done, closing the queue\n");
    cio_queue_shutdown(self->jobs, 0);          /* close(jobs) */
    CIO_END();
}

CIO_ASYNC(worker, cio_queue *jobs; cio_chan *results; int id; int done; result r;)
{
    CIO_BEGIN();
    for (;;) {
        CIO_QUEUE_GET_TRY(self->jobs);
        if (CIO_ERROR == CIO_ESHUTDOWN)
            break;                              /* the queue was closed and drained */
        if (CIO_ERROR != 0)
            CIO_RAISE(CIO_ERROR);
        self->r.job = (int)CIO_RESULT.i;
        self->r.worker = self->id;
        self->r.value = (long)self->r.job * self->r.job;
        CIO_AWAIT(cio_sleep(loop, 0.002));      /* the work */
        CIO_CHAN_SEND(self->results, &self->r);
        cio_queue_task_done(self->jobs);
        self->done++;
    }
    CIO_RETURN(self->done);
    CIO_END();
}

CIO_ASYNC(collector, cio_chan *results; result r; int count; long sum; int seen[N_JOBS + 1];)
{
    CIO_BEGIN();
    for (;;) {                                  /* for r := range results */
        CIO_CHAN_RECV_TRY(self->results, &self->r);
        if (CIO_ERROR == CIO_ECLOSED)
            break;
        if (CIO_ERROR != 0)
            CIO_RAISE(CIO_ERROR);
        self->count++;
        self->sum += self->r.value;
        if (self->r.job >= 1 && self->r.job <= N_JOBS)
            self->seen[self->r.job]++;
    }
    {
        int j, once = 1;

        for (j = 1; j <= N_JOBS; j++)
            once = once && self->seen[j] == 1;
        printf("  [collector] %d results, every job exactly once: %s, sum of squares %ld\n",
               self->count, once ? "yes" : "no", self->sum);
    }
    CIO_RETURN(self->count);
    CIO_END();
}

CIO_ASYNC(pipeline, cio_queue *jobs; cio_chan *results; cio_future *coll;
          cio_future *group[N_WORKERS + 1]; int i; int total;)
{
    CIO_BEGIN();
    self->jobs = cio_queue_new(loop, QUEUE_MAX, CIO_QUEUE_FIFO);
    self->results = cio_chan_new(loop, sizeof(result), 0);
    if (self->jobs == NULL || self->results == NULL)
        CIO_RAISE(CIO_ENOMEM);
    printf("[main] pipeline: 1 producer, %d workers, jobs queue of %d, %d jobs\n",
           N_WORKERS, QUEUE_MAX, N_JOBS);
    self->coll = CIO_START(loop, collector, .results = self->results);
    for (self->i = 0; self->i < N_WORKERS; self->i++)
        self->group[self->i] = CIO_START(loop, worker, .jobs = self->jobs,
                                         .results = self->results, .id = self->i + 1);
    self->group[N_WORKERS] = CIO_START(loop, producer, .jobs = self->jobs);
    /* wg.Wait(): the producer and every worker have returned */
    CIO_AWAIT(cio_gather(loop, N_WORKERS + 1, self->group));
    cio_chan_close(self->results);              /* close(results) */
    CIO_AWAIT(self->coll);
    self->coll = NULL;
    self->total = (int)CIO_RESULT.i;
    printf("[main] pipeline done: %d results; the jobs queue never held more than %d: %s\n",
           self->total, QUEUE_MAX, max_qsize <= QUEUE_MAX ? "yes" : "no");
    CIO_FINALLY();
    cio_future_unref(self->coll);
    if (self->results != NULL)
        cio_chan_free(self->results);
    if (self->jobs != NULL)
        cio_queue_free(self->jobs);
    CIO_END();
}

/* ------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: go_style [--help]\n"
            "\n"
            "Go-style concurrency with cio, in two parts:\n"
            "  1. go func() { done <- notifyChannel(order) }(): a background task\n"
            "     notifies a partner after an order shipped and sends its outcome\n"
            "     back over a channel.\n"
            "  2. a producer putting 20 jobs into a queue of maxsize 4, a pool of\n"
            "     3 workers, and a collector receiving the results over a channel.\n");
}

int main(int argc, char **argv)
{
    cio_loop *loop;
    int err;

    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    loop = cio_loop_new();
    if (loop == NULL)
        return 1;
    printf("== part 1: go func() and a channel ==\n");
    err = cio_loop_run_until_complete(loop, CIO_START(loop, ship_order, .order_id = 1001), NULL);
    if (err == 0) {
        printf("== part 2: producer, worker pool, collector ==\n");
        err = cio_loop_run_until_complete(loop, CIO_START(loop, pipeline), NULL);
    }
    cio_loop_free(loop);
    if (err != 0)
        fprintf(stderr, "go_style: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
