/* loop.c - the scheduler: ready queue, timers, run / stop / close.
 *
 * One FIFO ready queue of intrusive nodes and one timer queue. An iteration
 * (cio__loop_run_once) runs the nodes that were ready when it started, then
 * the timers that were due then - "the only place where callbacks are
 * actually called", as asyncio's _run_once says. Knows nothing of libev:
 * backend.h is all it sees.
 */
#ifndef CIO_BACKEND_BARE
#include <stdio.h>
#endif
#include <string.h>
#include "internal.h"
#include "loop/backend.h"
#include "loop/timer_queue.h"

/* ---- the ready queue ---- */

/* Nothing will run again: let the node release what it holds. */
void cio__loop_schedule_closed(cio_loop *loop, cio__node *node)
{
    unsigned closing = loop->closing;

    loop->closing = 1;
    if (node->run != NULL)
        node->run(loop, node);
    loop->closing = closing;
}

void cio__loop_schedule_ring(cio_loop *loop, cio__node *tail)
{
    cio__node *head = tail->next;

    if (loop->closed && !loop->running) {
        cio__node *n = head, *next;

        tail->next = NULL;
        for (; n != NULL; n = next) {
            next = n->next;
            cio__loop_schedule(loop, n);
        }
        return;
    }
    tail->next = NULL;
    if (loop->ready_tail != NULL)
        loop->ready_tail->next = head;
    else
        loop->ready_head = head;
    loop->ready_tail = tail;
}

/* Unlink node from the list *head..*tail (O(n)); *prev gets the node
 * before it. 1 if it was there. */
static int unlink_node(cio__node **head, cio__node **tail, cio__node *node, cio__node **prev)
{
    cio__node *n;

    *prev = NULL;
    for (n = *head; n != NULL; *prev = n, n = n->next) {
        if (n != node)
            continue;
        if (*prev != NULL)
            (*prev)->next = n->next;
        else
            *head = n->next;
        if (*tail == n)
            *tail = *prev;
        n->next = NULL;
        return 1;
    }
    return 0;
}

int cio__loop_unschedule(cio_loop *loop, cio__node *node)
{
    cio__node *prev;

    if (!unlink_node(&loop->ready_head, &loop->ready_tail, node, &prev))
        return 0;
    if (loop->run_last == node)         /* the running snapshot ends earlier */
        loop->run_last = prev;
    return 1;
}

/* ---- timers ---- */

void cio__timer_init(cio__timer *t)
{
    t->node.next = NULL;
    t->node.run = NULL;
    t->when = 0;
    t->seq = 0;
    t->cancelled = 0;
    t->idx = CIO__TIMER_IDLE;
}

int cio__timer_start(cio_loop *loop, cio__timer *t, double when, cio__run_fn run)
{
    if (t->idx == CIO__TIMER_QUEUED)
        return CIO_EBUSY;
    if (t->idx != CIO__TIMER_IDLE) {         /* still queued: take it out */
        if (t->cancelled) {
            t->cancelled = 0;
            loop->timers.ncancelled--;
        }
        cio__tq_remove(&loop->timers, t);
    }
    t->when = when;
    t->seq = loop->timer_seq++ & 0x7fffffffu;
    t->node.run = run;
    return cio__tq_push(&loop->timers, t);
}

/* Let the loop forget a timer: it is cancelled (drop what it holds) or the
 * loop is closing (its run sees loop->closing). */
static int let_go(cio__timer *t, void *arg)
{
    cio_loop *loop = arg;

    if (!t->cancelled && !loop->closing)
        return 0;
    t->cancelled = 0;
    t->idx = CIO__TIMER_IDLE;
    if (t->node.run != NULL)
        t->node.run(loop, &t->node);
    return 1;
}

/* Drop cancelled timers once they are most of the queue (asyncio does the
 * same): O(n), paid for by the n/2 cancels that made it necessary. */
static void compact_timers(cio_loop *loop)
{
    cio__tq_filter(&loop->timers, let_go, loop);
    loop->timers.ncancelled = 0;
}

void cio__timer_cancel(cio_loop *loop, cio__timer *t, cio__run_fn drop)
{
    if (t->idx == CIO__TIMER_IDLE)
        return;
    t->node.run = drop;
    if (t->idx == CIO__TIMER_QUEUED || t->cancelled)
        return;
    t->cancelled = 1;
    loop->timers.ncancelled++;
    if (cio__tq_len(&loop->timers) > 64
        && loop->timers.ncancelled > cio__tq_len(&loop->timers) / 2)
        compact_timers(loop);
}

void cio__timer_forget(cio_loop *loop, cio__timer *t)
{
    if (t->idx == CIO__TIMER_IDLE)
        return;
    if (t->idx == CIO__TIMER_QUEUED) {
        /* Rare: the owner dies in the iteration its timer came due (the
         * timer is in the ready queue, or set aside by run_due_timers). */
        cio__node *prev;

        if (!cio__loop_unschedule(loop, &t->node))
            unlink_node(&loop->carry_head, &loop->carry_tail, &t->node, &prev);
        t->idx = CIO__TIMER_IDLE;
        return;
    }
    if (t->cancelled) {
        t->cancelled = 0;
        loop->timers.ncancelled--;
    }
    cio__tq_remove(&loop->timers, t);
}

/* Started at or after seq `from` (31-bit sequence numbers that wrap). */
static int started_since(uint32_t seq, uint32_t from)
{
    return ((seq - from) & 0x7fffffffu) < 0x40000000u;
}

static void run_timed(cio_loop *loop, cio__node *n);

/* Run a node (one without a run, which its owner is done with, does
 * nothing); in debug mode timed, each due timer too, but not due_node,
 * which only runs them. With `steps_inline` (a constant), a task's step
 * runs in place: a task switch makes no call. The batch's iterations do
 * that; cio__loop_run_once (the bare backend's) and the timers do not,
 * for code size. */
static CIO__ALWAYS_INLINE void run_node(cio_loop *loop, cio__node *n, int steps_inline)
{
    if (steps_inline && n->run == cio__task_step && !loop->debug) {
        cio__task_step_inline(loop, n, 1);     /* the hot case first */
        return;
    }
    if (n->run == NULL)
        return;
    if (loop->debug && n != &loop->due_node)
        run_timed(loop, n);
    else
        n->run(loop, n);
}

/* due_node's run, at the end of the iteration's snapshot: run the timers
 * that were due when the iteration began, in (deadline, seq) order - where
 * asyncio's _run_once runs the handles it moved from its heap to _ready.
 * They are run straight from the timer queue: a million sleepers firing
 * are visited once, not queued and visited again. One started during the
 * iteration and due already runs in the next one, as in asyncio. */
static void run_due_timers(cio_loop *loop, cio__node *node)
{
    cio__timer *t;
    unsigned long ran = 0;

    (void)node;
    if (loop->closing)
        return;
    while ((t = cio__tq_pop_due(&loop->timers, loop->due_now)) != NULL) {
        if (t->cancelled) {
            t->cancelled = 0;
            loop->timers.ncancelled--;
            if (t->node.run != NULL)
                t->node.run(loop, &t->node);
            continue;
        }
        t->node.next = NULL;
        if (started_since(t->seq, loop->due_seq)) {
            t->idx = CIO__TIMER_QUEUED;
            cio__node_append(&loop->carry_head, &loop->carry_tail, &t->node);
            continue;
        }
        run_node(loop, &t->node, 0);
        ran++;
    }
    loop->due_ran = ran;
    if (loop->carry_head != NULL) {
        cio__node *tail = loop->carry_tail;

        tail->next = loop->carry_head;      /* a ring, as schedule_ring wants */
        loop->carry_head = loop->carry_tail = NULL;
        cio__loop_schedule_ring(loop, tail);
    }
}

/* If a timer is due at `now`, have due_node run it (and any other due)
 * at the end of this iteration. */
static void queue_due_timers(cio_loop *loop, double now)
{
    cio__timer *t = cio__tq_top(&loop->timers);

    if (t == NULL || t->when > now)
        return;
    loop->due_now = now;
    loop->due_seq = loop->timer_seq & 0x7fffffffu;
    loop->due_node.run = run_due_timers;
    cio__loop_schedule(loop, &loop->due_node);
}

double cio__loop_timeout(cio_loop *loop)
{
    cio__timer *t;
    double d;

    if (loop->ready_head != NULL || loop->stopping)
        return 0;
    t = cio__tq_top(&loop->timers);
    if (t == NULL)
        return -1;
    d = t->when - cio__backend_now(loop);
    return d > 0 ? d : 0;
}

/* Debug mode: run a node and report it if it was slow. */
static void run_timed(cio_loop *loop, cio__node *n)
{
    cio_future *task = cio__task_of_node(n);
    double t0 = cio__backend_now(loop), dt;
    cio_exception_context ctx;

    if (task != NULL)
        cio_future_ref(task);           /* it may end in this step */
    n->run(loop, n);
    dt = cio__backend_now(loop) - t0;
    if (dt > loop->debug_slow) {
        ctx.message = task != NULL ? "Executing a task step took too long"
                                   : "Executing a callback took too long";
        ctx.err = 0;
        ctx.handle = NULL;
        ctx.future = task;
        ctx.seconds = dt;
        cio_loop_call_exception_handler(loop, &ctx);
    }
    cio_future_unref(task);
}

void cio_loop_set_debug(cio_loop *loop, double slow)
{
    if (loop == NULL)
        return;
    loop->debug = slow >= 0;
    loop->debug_slow = slow;
}

/* One iteration, adding the nodes it ran (due timers included) to *ran:
 * a counter of the caller's, so that the batch keeps one register less. */
static CIO__ALWAYS_INLINE void run_once(cio_loop *loop, int steps_inline, unsigned long *ran)
{
    cio__node *n, *next;

    if (cio__tq_len(&loop->timers) > 0)
        queue_due_timers(loop, cio__backend_now(loop));
    n = loop->ready_head;
    if (!steps_inline && n != NULL && n == loop->ready_tail) {
        /* One node (two tasks passing a value; run_batch has its own):
         * the snapshot is empty once it is out, and its next is NULL
         * already (it is the tail). */
        loop->ready_head = loop->ready_tail = NULL;
        run_node(loop, n, steps_inline);
        (*ran)++;
    } else {
        /* The snapshot ends at run_last; unscheduling that node moves it
         * back (cio__loop_unschedule), so a node taken out mid-iteration is
         * safe. */
        loop->run_last = loop->ready_tail;
        while (loop->run_last != NULL) {
            n = loop->ready_head;
            next = n->next;
            loop->ready_head = next;
            if (n == loop->run_last) {
                loop->run_last = NULL;
                if (next == NULL)
                    loop->ready_tail = NULL;
            } else {
                CIO__PREFETCH(next);    /* the next node: a task no cache
                                           holds any more (not NULL:
                                           run_last follows) */
            }
            n->next = NULL;
            run_node(loop, n, steps_inline);
            (*ran)++;
        }
    }
    loop->iteration++;
    *ran += loop->due_ran;
    loop->due_ran = 0;
}

unsigned long cio__loop_run_once(cio_loop *loop)
{
    unsigned long ran = 0;

    run_once(loop, 0, &ran);
    return ran;
}

/* Iterations in a row, between two polls for I/O: asyncio polls before every
 * iteration, which costs a system call each; running a few back to back
 * while work is ready changes no order (each still runs its snapshot) and
 * delays I/O readiness by a bounded amount of work. The work is what
 * bounds it: two tasks passing a value make an iteration of one node, and
 * at 64 iterations a poll (150-180 ns here) came every 32 round trips,
 * about 7% of their time. */
#define BATCH_ITERATIONS 1024
#define BATCH_NODES 4096

void cio__loop_run_batch(cio_loop *loop)
{
    unsigned long nodes = 0;
    unsigned i;

    for (i = 0; i < BATCH_ITERATIONS && nodes < BATCH_NODES; i++) {
        cio__node *n = loop->ready_head;

        if (i > 0 && (loop->stopping || n == NULL))
            break;
        if (n != NULL && n == loop->ready_tail && cio__tq_len(&loop->timers) == 0
            && n->run == cio__task_step && !loop->debug) {
            /* the hot case, two tasks passing a value: one node, a task's
             * step, no timer to queue (so none runs) - run_once's
             * iteration without its bookkeeping */
            loop->ready_head = loop->ready_tail = NULL;
            cio__task_step_inline(loop, n, 1);
            loop->iteration++;
            nodes++;
            continue;
        }
        run_once(loop, 1, &nodes);      /* any other: its steps inline too */
    }
}

/* ---- the loop's life ---- */

cio_loop *cio_loop_new(void)
{
    cio_loop *loop = cio_alloc(sizeof *loop);

    if (loop == NULL)
        return NULL;
    memset(loop, 0, sizeof *loop);
    if (cio__backend_init(loop) != 0) {
        cio_free(loop, sizeof *loop);
        return NULL;
    }
    return loop;
}

/* CIO_LOOP_SIZE (cio/loop.h) must cover the loop. */
typedef char cio__loop_size_ok[sizeof(cio_loop) <= CIO_LOOP_SIZE ? 1 : -1];

cio_loop *cio_loop_new_in(void *storage, size_t size)
{
    cio_loop *loop = storage;
    size_t head = (sizeof *loop + 15) & ~(size_t)15;

    if (!cio__storage_ok(storage, size, sizeof *loop, 1))
        return NULL;
    memset(loop, 0, sizeof *loop);
    loop->in_storage = 1;
    if (size > head) {
        loop->arena = (char *)storage + head;
        loop->arena_end = (char *)storage + size;
    }
    if (cio__backend_init(loop) != 0)
        return NULL;
    return loop;
}

/* Let go of every queued node and timer without running them. */
static void drop_scheduled(cio_loop *loop)
{
    cio__node *n;

    loop->closing = 1;
    cio__tq_filter(&loop->timers, let_go, loop);
    loop->timers.ncancelled = 0;
    while ((n = loop->ready_head) != NULL) {
        loop->ready_head = n->next;
        if (loop->ready_head == NULL)
            loop->ready_tail = NULL;
        n->next = NULL;
        if (n->run != NULL)
            n->run(loop, n);
    }
    loop->closing = 0;
}

int cio_loop_close(cio_loop *loop)
{
    if (loop == NULL)
        return CIO_EINVAL;
    if (loop->running)
        return CIO_EBUSY;
    if (loop->closed)
        return 0;
    loop->closed = 1;
    drop_scheduled(loop);
    return 0;
}

int cio_loop_free(cio_loop *loop)
{
    int err;

    if (loop == NULL)
        return 0;
    err = cio_loop_close(loop);
    if (err != 0)
        return err;
    if (loop->threads_free != NULL)
        loop->threads_free(loop);   /* thread futures, worker pool: while tasks live */
    cio_future_unref(loop->last_run);
    loop->last_run = NULL;
    cio__tasks_destroy_all(loop);
    drop_scheduled(loop);   /* whatever destroying tasks released */
    if (loop->net_free != NULL)
        loop->net_free(loop);   /* streams, servers, watchers still open */
    cio__tq_free(&loop->timers);
    cio__backend_free(loop);
    cio__pools_free(loop);
    if (!loop->in_storage)
        cio_free(loop, sizeof *loop);
    return 0;
}

/* The loop running on this thread: one at a time, as in asyncio. */
#if defined(CIO_BACKEND_BARE) || !defined(__GNUC__)
static cio_loop *running_here;          /* no threads there */
#else
static __thread cio_loop *running_here;
#endif

int cio__loop_running_here(void)
{
    return running_here != NULL;
}

int cio_loop_run_forever(cio_loop *loop)
{
    int err;

    if (loop == NULL)
        return CIO_EINVAL;
    if (loop->closed)
        return CIO_ECLOSED;
    if (loop->running || running_here != NULL)
        return CIO_EBUSY;
    loop->running = 1;
    running_here = loop;
    err = cio__backend_run(loop);
    running_here = NULL;
    loop->running = 0;
    loop->stopping = 0;
    return err;
}

/* run_until_complete's future is done: stop (no allocation: the node is
 * the loop's own). */
static void stop_when_done(cio_loop *loop, cio__node *node)
{
    (void)node;
    if (!loop->closing)
        cio_loop_stop(loop);
}

int cio_loop_run_until_complete(cio_loop *loop, cio_future *f, cio_value *result)
{
    int err;

    if (loop == NULL) {
        cio_future_unref(f);
        return CIO_EINVAL;
    }
    if (loop->closed || loop->running || running_here != NULL) {
        cio_future_unref(f);
        return loop->closed ? CIO_ECLOSED : CIO_EBUSY;
    }
    if (f == NULL)
        return CIO_ENOMEM;
    if (f->loop != loop) {
        cio_future_unref(f);
        return CIO_EWRONGLOOP;
    }
    cio_future_unref(loop->last_run);
    loop->last_run = f;     /* keeps a pointer result (a gather's) valid */
    loop->stop_node.run = stop_when_done;
    cio__future_add_waiter(f, &loop->stop_node);
    err = cio_loop_run_forever(loop);
    if (!cio_future_done(f)) {
        cio__future_detach(f, &loop->stop_node);
        return err != 0 ? err : CIO_ESTOPPED;
    }
    cio__loop_unschedule(loop, &loop->stop_node);  /* stopped by someone else */
    return cio_future_result(f, result);
}

int cio_loop_fork(cio_loop *loop)
{
    if (loop == NULL)
        return CIO_EINVAL;
    if (loop->running)
        return CIO_EBUSY;
    if (loop->closed)
        return CIO_ECLOSED;
    return cio__backend_fork(loop);
}

void cio_loop_stop(cio_loop *loop)
{
    if (loop != NULL)
        loop->stopping = 1;
}

int cio_loop_is_running(const cio_loop *loop)
{
    return loop != NULL && loop->running;
}

int cio_loop_is_closed(const cio_loop *loop)
{
    return loop != NULL && loop->closed;
}

double cio_loop_time(cio_loop *loop)
{
    return cio__backend_now(loop);
}

unsigned long cio_loop_iteration(const cio_loop *loop)
{
    return loop != NULL ? loop->iteration : 0;
}

/* ---- reporting ---- */

void cio_loop_set_exception_handler(cio_loop *loop, cio_exception_handler_fn fn, void *arg)
{
    if (loop == NULL)
        return;
    loop->exc_handler = fn;
    loop->exc_arg = arg;
}

void cio_loop_default_exception_handler(cio_loop *loop, const cio_exception_context *ctx)
{
    (void)loop;
    if (ctx == NULL)
        return;
#ifndef CIO_BACKEND_BARE      /* no OS: nowhere to print; set a handler */
    fprintf(stderr, "cio: %s", ctx->message != NULL ? ctx->message : "error");
    if (ctx->err != 0)
        fprintf(stderr, ": %s (%s)", cio_err_name(ctx->err), cio_strerror(ctx->err));
    if (ctx->future != NULL && cio_task_is_task(ctx->future))
        fprintf(stderr, " [task %s]", cio_task_name(ctx->future));
    fputc('\n', stderr);
#endif
}

void cio_loop_call_exception_handler(cio_loop *loop, const cio_exception_context *ctx)
{
    if (loop == NULL || ctx == NULL)
        return;
    if (loop->exc_handler != NULL)
        loop->exc_handler(loop, ctx, loop->exc_arg);
    else
        cio_loop_default_exception_handler(loop, ctx);
}

void cio__report(cio_loop *loop, const char *message, int err,
                 cio_handle *handle, cio_future *future)
{
    cio_exception_context ctx;

    ctx.message = message;
    ctx.err = err;
    ctx.handle = handle;
    ctx.future = future;
    ctx.seconds = 0;
    cio_loop_call_exception_handler(loop, &ctx);
}
