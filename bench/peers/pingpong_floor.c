/* pingpong_floor.c - the floor under cio's pingpong: the least a round trip
 * can cost in cio's shape, as libev_timers.c is the floor under sleepers.
 *
 *   pingpong_floor pingpong N
 *
 * Two stackless tasks (frames resumed by a switch, as cio's coroutines are)
 * pass a counter N round trips through two queues of size 1. One FIFO ready
 * queue, run an iteration at a time (the snapshot of what was ready when it
 * started, as cio's loop runs it); a getter woken by a put has the item
 * kept for it and takes it when it runs, as in cio. Left out - and so the
 * price of asyncio's semantics in cio's figure - are futures, references,
 * cancellation at every await, lazy operations, done callbacks, error
 * paths, more than one waiter, and the event loop's polling.
 *
 * Prints one line: pingpong n=N wall=SECONDS ns_per_op=NS maxrss_kb=KB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

typedef struct task task;
struct task {
    task *next;                 /* ready queue link */
    int (*step)(task *t);       /* 1: suspended, 0: finished */
    int lc;                     /* where to resume */
    long i, n, value;
};

typedef struct {
    long item;
    int len, kept;              /* kept: promised to a woken getter */
    task *getter;               /* pingpong never has more than one */
} queue;

static task *ready_head, *ready_tail;
static queue to_pong, to_ping;

static void schedule(task *t)
{
    t->next = NULL;
    if (ready_tail != NULL)
        ready_tail->next = t;
    else
        ready_head = t;
    ready_tail = t;
}

/* Size 1 and the other side always waits first: there is room. */
static void put(queue *q, long v)
{
    q->item = v;
    q->len = 1;
    if (q->getter != NULL) {
        q->kept++;
        schedule(q->getter);
        q->getter = NULL;
    }
}

/* 1 with the item in *out, or 0: t waits. */
static int get_now(queue *q, task *t, long *out)
{
    if (q->len > q->kept) {
        q->len = 0;
        *out = q->item;
        return 1;
    }
    q->getter = t;
    return 0;
}

/* A woken getter takes the item kept for it. */
static long take(queue *q)
{
    q->kept--;
    q->len = 0;
    return q->item;
}

#define BEGIN(t) switch ((t)->lc) { case 0:
#define SUSPEND(t, n) do { (t)->lc = (n); return 1; case (n):; } while (0)
#define END(t) } (t)->lc = -1; return 0

#define GET(t, q, out)                                                        \
    do {                                                                      \
        if (!get_now((q), (t), (out))) {                                      \
            SUSPEND((t), __LINE__);                                           \
            *(out) = take(q);                                                 \
        }                                                                     \
    } while (0)

static int ping(task *t)
{
    BEGIN(t);
    for (t->i = 0; t->i < t->n; t->i++) {
        put(&to_pong, t->value);
        GET(t, &to_ping, &t->value);
    }
    END(t);
}

static int pong(task *t)
{
    BEGIN(t);
    for (t->i = 0; t->i < t->n; t->i++) {
        GET(t, &to_pong, &t->value);
        put(&to_ping, t->value + 1);
    }
    END(t);
}

/* One iteration: what was ready when it started. */
static void run_once(void)
{
    task *last = ready_tail, *t;

    while ((t = ready_head) != NULL) {
        ready_head = t->next;
        if (ready_head == NULL)
            ready_tail = NULL;
        t->step(t);
        if (t == last)
            break;
    }
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    task a, b;
    struct rusage ru;
    double t0, wall;
    long n;

    if (argc != 3 || strcmp(argv[1], "pingpong") != 0 || (n = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: pingpong_floor pingpong N\n");
        return 2;
    }
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.step = ping;
    a.n = n;
    b.step = pong;
    b.n = n;
    schedule(&b);                       /* the server waits first, as in cio_bench */
    schedule(&a);
    t0 = now();
    while (ready_head != NULL)
        run_once();
    wall = now() - t0;
    if (a.value != n) {
        fprintf(stderr, "pingpong_floor: counter %ld, expected %ld\n", a.value, n);
        return 1;
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("pingpong n=%ld wall=%.6f ns_per_op=%.1f maxrss_kb=%ld\n", n, wall, wall * 1e9 / n,
           ru.ru_maxrss);
    return 0;
}
