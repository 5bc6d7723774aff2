/* cio_bench - cio's side of the benchmark workloads (DESIGN.md).
 *
 *   cio_bench spawn N      N tasks each sleep(0) once and return their
 *                          index; gather them; check the sum
 *   cio_bench sleepers N   N tasks each sleep(1.0), gathered
 *   cio_bench pingpong N   two tasks pass a counter N round trips through
 *                          two queues of size 1 (CIO_QUEUE_GET / _PUT)
 *   cio_bench chanpingpong N   the same through two unbuffered channels
 *                          (CIO_CHAN_RECV / _SEND: Go's statements)
 *   cio_bench awaitpingpong N  pingpong spelled as in asyncio,
 *                          CIO_AWAIT(cio_queue_get(q)): the future made
 *   cio_bench switch N     two tasks yield (sleep(0)) in turn N times each:
 *                          the two task switches of a round trip with no
 *                          queue, the floor under pingpong
 *
 * Prints one line: WORKLOAD n=N wall=SECONDS ns_per_op=NS maxrss_kb=KB,
 * the same as the peer programs in bench/peers/.
 *
 *   cio_bench sizeof       cio_task_size of the workloads' tasks (bookkeeping
 *                          and frame: what one takes in caller storage; from
 *                          the loop's pools, as here, a task takes two
 *                          pointers less), one line: sizeof sleeper=B
 *                          spawn=B frame_sleeper=B
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <cio.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long maxrss_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

CIO_ASYNC(spawn_child, ptrdiff_t index;)
{
    CIO_BEGIN();
    CIO_YIELD();                        /* await cio_sleep(loop, 0) */
    CIO_RETURN(self->index);
    CIO_END();
}

CIO_ASYNC(sleeper, int unused;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 1.0));
    CIO_END();
}

/* pingpong: the server echoes each counter back, incremented. */
CIO_ASYNC(pong, cio_queue *in; cio_queue *out; long n; long i;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        CIO_QUEUE_GET(self->in);
        CIO_QUEUE_PUT(self->out, cio_int(CIO_RESULT.i + 1));
    }
    CIO_END();
}

CIO_ASYNC(ping, cio_queue *in; cio_queue *out; long n; long i; long counter;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        CIO_QUEUE_PUT(self->out, cio_int(self->counter));
        CIO_QUEUE_GET(self->in);
        self->counter = CIO_RESULT.i;
    }
    CIO_RETURN(self->counter);
    CIO_END();
}

/* awaitpingpong: the same, each get and put a future awaited. */
CIO_ASYNC(apong, cio_queue *in; cio_queue *out; long n; long i;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        CIO_AWAIT(cio_queue_get(self->in));
        CIO_AWAIT(cio_queue_put(self->out, cio_int(CIO_RESULT.i + 1)));
    }
    CIO_END();
}

CIO_ASYNC(aping, cio_queue *in; cio_queue *out; long n; long i; long counter;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        CIO_AWAIT(cio_queue_put(self->out, cio_int(self->counter)));
        CIO_AWAIT(cio_queue_get(self->in));
        self->counter = CIO_RESULT.i;
    }
    CIO_RETURN(self->counter);
    CIO_END();
}

static int run_chanpingpong(cio_loop *loop, long n);

static int run_pingpong(cio_loop *loop, long n, int await_futures)
{
    cio_queue *a = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);
    cio_queue *b = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);
    cio_value v;
    int err = CIO_ENOMEM;

    if (a != NULL && b != NULL) {
        cio_future *pinger;

        if (await_futures) {
            cio_future_unref(CIO_START(loop, apong, .in = a, .out = b, .n = n));
            pinger = CIO_START(loop, aping, .in = b, .out = a, .n = n);
        } else {
            cio_future_unref(CIO_START(loop, pong, .in = a, .out = b, .n = n));
            pinger = CIO_START(loop, ping, .in = b, .out = a, .n = n);
        }
        err = cio_loop_run_until_complete(loop, pinger, &v);
        if (err == 0 && v.i != n)
            err = CIO_EINVALSTATE;
    }
    cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL);   /* let pong end */
    cio_queue_free(a);
    cio_queue_free(b);
    return err;
}

/* chanpingpong: the same through unbuffered channels of longs. */
CIO_ASYNC(cpong, cio_chan *in; cio_chan *out; long n; long i; long v;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        CIO_CHAN_RECV(self->in, &self->v);
        self->v++;
        CIO_CHAN_SEND(self->out, &self->v);
    }
    CIO_END();
}

CIO_ASYNC(cping, cio_chan *in; cio_chan *out; long n; long i; long v;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        CIO_CHAN_SEND(self->out, &self->v);
        CIO_CHAN_RECV(self->in, &self->v);
    }
    CIO_RETURN(self->v);
    CIO_END();
}

static int run_chanpingpong(cio_loop *loop, long n)
{
    cio_chan *a = cio_chan_new(loop, sizeof(long), 0);
    cio_chan *b = cio_chan_new(loop, sizeof(long), 0);
    cio_value v;
    int err = CIO_ENOMEM;

    if (a != NULL && b != NULL) {
        cio_future_unref(CIO_START(loop, cpong, .in = a, .out = b, .n = n));
        err = cio_loop_run_until_complete(loop, CIO_START(loop, cping, .in = b, .out = a, .n = n),
                                          &v);
        if (err == 0 && v.i != n)
            err = CIO_EINVALSTATE;
    }
    cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL);
    cio_chan_free(a);
    cio_chan_free(b);
    return err;
}

/* switch: a task that yields n times. */
CIO_ASYNC(yielder, long n; long i;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++)
        CIO_YIELD();
    CIO_RETURN(self->i);
    CIO_END();
}

static int run_switch(cio_loop *loop, long n)
{
    cio_value v;
    int err;

    cio_future_unref(CIO_START(loop, yielder, .n = n));
    err = cio_loop_run_until_complete(loop, CIO_START(loop, yielder, .n = n), &v);
    if (err == 0 && v.i != n)
        err = CIO_EINVALSTATE;
    cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL);   /* let the other end */
    return err;
}

/* Start n tasks, gather them, run to completion; for spawn, the sum of the
 * results. */
static int run_gathered(cio_loop *loop, size_t n, int spawn, long long *sum)
{
    cio_future **futs = malloc((n ? n : 1) * sizeof *futs);
    cio_value all;
    size_t i;
    int err;

    if (futs == NULL)
        return CIO_ENOMEM;
    for (i = 0; i < n; i++)
        futs[i] = spawn ? CIO_START(loop, spawn_child, .index = (ptrdiff_t)i)
                        : CIO_START(loop, sleeper, .unused = 0);
    err = cio_loop_run_until_complete(loop, cio_gather(loop, n, futs), &all);
    free(futs);
    *sum = 0;
    /* spawn checks its sum; sleepers only waits, as its peers do */
    for (i = 0; spawn && err == 0 && i < n; i++) {
        cio_value v;

        err = cio_gather_result(all.p, i, &v);
        *sum += v.i;
    }
    return err;
}

static int usage(void)
{
    fprintf(stderr, "usage: cio_bench spawn|sleepers|pingpong|chanpingpong|awaitpingpong|"
            "switch N | "
            "cio_bench sizeof\n");
    return 2;
}

int main(int argc, char **argv)
{
    cio_loop *loop;
    long long n, sum = 0;
    double t0, wall;
    int spawn = 0, pp = 0, err;

    if (argc == 2 && strcmp(argv[1], "sizeof") == 0) {
        printf("sizeof sleeper=%zu spawn=%zu frame_sleeper=%zu\n",
               cio_task_size(&sleeper__type), cio_task_size(&spawn_child__type), sizeof(sleeper));
        return 0;
    }
    if (argc != 3)
        return usage();
    n = atoll(argv[2]);
    if (n <= 0)
        return usage();
    if (strcmp(argv[1], "spawn") == 0)
        spawn = 1;
    else if (strcmp(argv[1], "sleepers") == 0)
        spawn = 0;
    else if (strcmp(argv[1], "pingpong") == 0)
        pp = 1;
    else if (strcmp(argv[1], "chanpingpong") == 0)
        pp = 2;
    else if (strcmp(argv[1], "switch") == 0)
        pp = 3;
    else if (strcmp(argv[1], "awaitpingpong") == 0)
        pp = 4;
    else
        return usage();
    loop = cio_loop_new();
    if (loop == NULL)
        return 1;
    t0 = now();
    if (pp == 1 || pp == 4)
        err = run_pingpong(loop, (long)n, pp == 4);
    else if (pp == 2)
        err = run_chanpingpong(loop, (long)n);
    else if (pp == 3)
        err = run_switch(loop, (long)n);
    else
        err = run_gathered(loop, (size_t)n, spawn, &sum);
    wall = now() - t0;
    cio_loop_free(loop);
    if (err != 0) {
        fprintf(stderr, "cio_bench: %s\n", cio_strerror(err));
        return 1;
    }
    if (spawn && sum != n * (n - 1) / 2) {
        fprintf(stderr, "cio_bench: wrong sum %lld\n", sum);
        return 1;
    }
    printf("%s n=%lld wall=%.6f ns_per_op=%.1f maxrss_kb=%ld\n", argv[1], n, wall,
           wall * 1e9 / (double)n, maxrss_kb());
    return 0;
}
