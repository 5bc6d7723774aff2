/* test_queue.c - Queue, LifoQueue, PriorityQueue: asyncio-cases.md "Queues"
 * (Q1, Q2, Q4, Q6), plus backpressure, the cancellation races of a woken
 * getter or putter (no item lost, duplicated or reordered), shutdown
 * (asyncio 3.13), task_done/join, freeing with waiters and caller storage.
 *
 * Items are strings (cio_ptr("x")) where a trace shows them, integers
 * elsewhere.
 */
#include <stdarg.h>
#include <stdint.h>
#include "testutil.h"



static const char *ename(int err)
{
    return err == 0 ? "ok" : cio_err_name(err);
}

static cio_value str(const char *s)
{
    return cio_ptr((void *)(uintptr_t)s);
}

#define RUN_TASK(loop, v, ...)                                                \
    cio_loop_run_until_complete((loop), CIO_START((loop), __VA_ARGS__), (v))

#define YIELD_N(n)                                                            \
    for (self->i = 0; self->i < (n); self->i++)                               \
        CIO_YIELD()

/* Every get and put a task awaits is spelled one of two ways, with the same
 * expected outcomes and traces: CIO_AWAIT of the future cio_queue_get /
 * cio_queue_put make, or the awaiting statement run in place
 * (CIO_QUEUE_GET / CIO_QUEUE_PUT). Each test runs once each way: _i of
 * tcase_add_loop_test picks. */
static int in_place;

#define GET_TRY(q) SPELLING(in_place, CIO_QUEUE_GET_TRY(q), CIO_AWAIT_TRY(cio_queue_get(q)))
#define PUT_TRY(q, item)                                                      \
    SPELLING(in_place, CIO_QUEUE_PUT_TRY(q, item), CIO_AWAIT_TRY(cio_queue_put(q, item)))
#define GET(q) SPELLING(in_place, CIO_QUEUE_GET(q), CIO_AWAIT(cio_queue_get(q)))
#define PUT(q, item) SPELLING(in_place, CIO_QUEUE_PUT(q, item), CIO_AWAIT(cio_queue_put(q, item)))

/* get_nowait of a string item into the trace: "get=x" or "get-ERROR". */
static void trace_get_nowait(cio_queue *q, const char *label)
{
    cio_value v;
    int err = cio_queue_get_nowait(q, &v);

    if (err == 0)
        trace_addf(&tr, "%s=%s", label, (const char *)v.p);
    else
        trace_addf(&tr, "%s-%s", label, ename(err));
}

/* ------------------------------------------------------------------------
 * Workers
 * ------------------------------------------------------------------------ */

/* Get one string item: trace name=item, or name-ERROR. */
CIO_ASYNC(getter, cio_queue *q; const char *name;)
{
    CIO_BEGIN();
    GET_TRY(self->q);
    if (CIO_ERROR != 0) {
        trace_addf(&tr, "%s-%s", self->name, ename(CIO_ERROR));
        CIO_RAISE(CIO_ERROR);
    }
    trace_addf(&tr, "%s=%s", self->name, (const char *)CIO_RESULT.p);
    CIO_RETURN_PTR(CIO_RESULT.p);
    CIO_END();
}

/* Get one integer item: trace name=N. */
CIO_ASYNC(int_getter, cio_queue *q; const char *name;)
{
    CIO_BEGIN();
    GET(self->q);
    trace_addf(&tr, "%s=%ld", self->name, (long)CIO_RESULT.i);
    CIO_RETURN(CIO_RESULT.i);
    CIO_END();
}

/* Put one item: trace name-put=ok or name-put=ERROR. */
CIO_ASYNC(putter, cio_queue *q; const char *name; cio_value item;)
{
    CIO_BEGIN();
    PUT_TRY(self->q, self->item);
    trace_addf(&tr, "%s-put=%s", self->name, ename(CIO_ERROR));
    CIO_RAISE(CIO_ERROR);
    CIO_END();
}

/* ------------------------------------------------------------------------
 * Q1: ordering; Queue() is unbounded
 * ------------------------------------------------------------------------ */

static void drain_ints(cio_queue *q, const char *label)
{
    cio_value v;

    trace_add(&tr, label);
    while (cio_queue_get_nowait(q, &v) == 0)
        trace_addf(&tr, "%ld", (long)v.i);
}

START_TEST(test_Q1_queue_order)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q;
    int i;

    /* FIFO: 0, 1, 2 */
    q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    ck_assert_ptr_nonnull(q);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(i)), 0);
    ck_assert_uint_eq(cio_queue_qsize(q), 3);
    drain_ints(q, "fifo:");
    ck_assert(cio_queue_empty(q));
    ck_assert_int_eq(cio_queue_free(q), 0);

    /* LIFO: 2, 3, 1 in -> 1, 3, 2 out */
    q = cio_queue_new(loop, 0, CIO_QUEUE_LIFO);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(2)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(3)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(1)), 0);
    drain_ints(q, "lifo:");
    ck_assert_int_eq(cio_queue_free(q), 0);

    /* Priority: 2, 3, 1 in -> 1, 2, 3 out */
    q = cio_queue_new(loop, 0, CIO_QUEUE_PRIORITY);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(2)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(3)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(1)), 0);
    drain_ints(q, "prio:");
    ck_assert_int_eq(cio_queue_free(q), 0);

    ck_assert_str_eq(tr.buf, "fifo: 0 1 2 lifo: 1 3 2 prio: 1 2 3");

    /* Queue() (maxsize 0) is unbounded: full() is always false */
    q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    ck_assert_uint_eq(cio_queue_maxsize(q), 0);
    for (i = 0; i < 1000; i++) {
        ck_assert(!cio_queue_full(q));
        ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(i)), 0);
    }
    ck_assert(!cio_queue_full(q));
    ck_assert_uint_eq(cio_queue_qsize(q), 1000);
    for (i = 0; i < 1000; i++) {
        cio_value v;

        ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
        ck_assert_int_eq(v.i, i);
    }
    ck_assert_int_eq(cio_queue_free(q), 0);

    /* an unknown kind is refused */
    ck_assert_ptr_null(cio_queue_new(loop, 0, (cio_queue_kind)7));
    loop_done(loop, &r, 0);
}
END_TEST

/* More LIFO and priority orders, with puts and gets interleaved; the
 * default priority order is by .i (negative numbers too). */
START_TEST(test_lifo_and_priority_order)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q;
    cio_value v;
    static const int in[] = { 5, -1, 4, 2, 3, 0, -7 };
    size_t i;

    q = cio_queue_new(loop, 0, CIO_QUEUE_PRIORITY);
    for (i = 0; i < sizeof in / sizeof in[0]; i++)
        ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(in[i])), 0);
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    trace_addf(&tr, "%ld", (long)v.i);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(-3)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(10)), 0);
    drain_ints(q, "|");
    ck_assert_int_eq(cio_queue_free(q), 0);

    q = cio_queue_new(loop, 3, CIO_QUEUE_LIFO);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(1)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(2)), 0);
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    trace_addf(&tr, "lifo: %ld", (long)v.i);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(3)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(4)), 0);
    ck_assert(cio_queue_full(q));
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(5)), CIO_EFULL);
    drain_ints(q, "|");
    ck_assert_int_eq(cio_queue_free(q), 0);

    ck_assert_str_eq(tr.buf, "-7 | -3 -1 0 2 3 4 5 10 lifo: 2 | 4 3 1");
    loop_done(loop, &r, 0);
}
END_TEST

/* Priority ties come out in put order. */
typedef struct job {
    int prio;
    const char *name;
} job;

static int by_prio(cio_value a, cio_value b)
{
    const job *x = a.p, *y = b.p;

    return (x->prio > y->prio) - (x->prio < y->prio);
}

START_TEST(test_priority_ties_in_put_order)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    static job jobs[] = {
        { 1, "a" }, { 0, "b" }, { 1, "c" }, { 0, "d" }, { 2, "e" },
        { 1, "f" }, { 0, "g" }, { 2, "h" }, { 1, "i" }, { 0, "j" },
    };
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_PRIORITY);
    cio_value v;
    size_t i;

    cio_queue_set_compare(q, by_prio);
    for (i = 0; i < sizeof jobs / sizeof jobs[0]; i++)
        ck_assert_int_eq(cio_queue_put_nowait(q, cio_ptr(&jobs[i])), 0);
    while (cio_queue_get_nowait(q, &v) == 0)
        trace_add(&tr, ((const job *)v.p)->name);
    ck_assert_str_eq(tr.buf, "b d g j a c f i e h");

    /* ties stay in put order across interleaved puts and gets */
    memset(&tr, 0, sizeof tr);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_ptr(&jobs[0])), 0);   /* 1 a */
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_ptr(&jobs[2])), 0);   /* 1 c */
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_ptr(&jobs[1])), 0);   /* 0 b */
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    trace_add(&tr, ((const job *)v.p)->name);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_ptr(&jobs[5])), 0);   /* 1 f */
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_ptr(&jobs[3])), 0);   /* 0 d */
    while (cio_queue_get_nowait(q, &v) == 0)
        trace_add(&tr, ((const job *)v.p)->name);
    ck_assert_str_eq(tr.buf, "b d a c f");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Q2: put_nowait on a full queue, get_nowait on an empty one
 * ------------------------------------------------------------------------ */

START_TEST(test_Q2_nowait_full_and_empty)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);
    cio_value v;

    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(cio_queue_maxsize(q), 1);
    ck_assert(cio_queue_empty(q));
    ck_assert(!cio_queue_full(q));
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), CIO_EEMPTY);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(7)), 0);
    ck_assert(cio_queue_full(q));
    ck_assert(!cio_queue_empty(q));
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(8)), CIO_EFULL);
    ck_assert_uint_eq(cio_queue_qsize(q), 1);
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    ck_assert_int_eq(v.i, 7);
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), CIO_EEMPTY);
    ck_assert(cio_queue_empty(q));
    ck_assert_uint_eq(cio_queue_qsize(q), 0);
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Q4: get() blocks; getters are served FIFO
 * ------------------------------------------------------------------------ */

CIO_ASYNC(q4_main, cio_queue *q; cio_future *t[2]; int i;)
{
    CIO_BEGIN();
    self->t[0] = CIO_START(loop, getter, .q = self->q, .name = "g1");
    self->t[1] = CIO_START(loop, getter, .q = self->q, .name = "g2");
    YIELD_N(3);
    ck_assert(!cio_future_done(self->t[0]));
    ck_assert(!cio_future_done(self->t[1]));
    trace_add(&tr, "put");
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("x")), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("y")), 0);
    CIO_AWAIT(cio_gather(loop, 2, self->t));
    ck_assert(cio_queue_empty(self->q));
    CIO_END();
}

START_TEST(test_Q4_blocking_get_fifo_getters)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, q4_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "put g1=x g2=y");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A getter takes its item when it runs: of a priority queue, the smallest
 * there is then (asyncio's getter calls get_nowait once woken). */
CIO_ASYNC(prio_getter_main, cio_queue *q; cio_future *g; int i;)
{
    CIO_BEGIN();
    self->g = CIO_START(loop, int_getter, .q = self->q, .name = "g");
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, cio_int(3)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, cio_int(1)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, cio_int(2)), 0);
    CIO_AWAIT(self->g);
    drain_ints(self->q, "left:");
    CIO_END();
}

START_TEST(test_priority_getter_takes_smallest_when_it_runs)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_PRIORITY);

    ck_assert_int_eq(RUN_TASK(loop, NULL, prio_getter_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "g=1 left: 2 3");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Q6: task_done and join
 * ------------------------------------------------------------------------ */

CIO_ASYNC(q6_worker, cio_queue *q; int n; ptrdiff_t item;)
{
    CIO_BEGIN();
    for (self->n = 0; self->n < 3; self->n++) {
        GET(self->q);
        self->item = CIO_RESULT.i;
        CIO_YIELD();                        /* "processing" */
        trace_addf(&tr, "done%ld", (long)self->item);
        ck_assert_int_eq(cio_queue_task_done(self->q), 0);
    }
    CIO_END();
}

CIO_ASYNC(q6_main, cio_queue *q; cio_future *w; cio_future *j; cio_queue *fresh;
          unsigned long it; int i;)
{
    CIO_BEGIN();
    /* join() on a fresh queue is done at once */
    self->j = cio_queue_join(self->fresh);
    ck_assert_ptr_nonnull(self->j);
    ck_assert(cio_future_done(self->j));
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(self->j);
    ck_assert_uint_eq(cio_loop_iteration(loop), self->it);

    for (self->i = 0; self->i < 3; self->i++)
        ck_assert_int_eq(cio_queue_put_nowait(self->q, cio_int(self->i)), 0);
    self->w = CIO_START(loop, q6_worker, .q = self->q);
    CIO_AWAIT(cio_queue_join(self->q));
    trace_add(&tr, "joined");
    ck_assert(cio_future_done(self->w));
    CIO_AWAIT(self->w);
    /* all done: join is done at once again */
    self->j = cio_queue_join(self->q);
    ck_assert(cio_future_done(self->j));
    cio_future_unref(self->j);
    CIO_END();
}

START_TEST(test_Q6_task_done_and_join)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    cio_queue *fresh = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, q6_main, .q = q, .fresh = fresh), 0);
    ck_assert_str_eq(tr.buf, "done0 done1 done2 joined");
    /* an extra task_done() */
    ck_assert_int_eq(cio_queue_task_done(q), CIO_EOVERFLOW);
    ck_assert_int_eq(cio_queue_free(q), 0);
    ck_assert_int_eq(cio_queue_free(fresh), 0);
    loop_done(loop, &r, 0);
}
END_TEST

START_TEST(test_Q6_task_done_underflow)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    cio_future *j;
    cio_value v;

    ck_assert_int_eq(cio_queue_task_done(q), CIO_EOVERFLOW);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(1)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(2)), 0);
    j = cio_queue_join(q);
    ck_assert(!cio_future_done(j));
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    ck_assert_int_eq(cio_queue_task_done(q), 0);
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    ck_assert_int_eq(cio_queue_task_done(q), 0);
    ck_assert_int_eq(cio_queue_task_done(q), CIO_EOVERFLOW);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, j, NULL), 0);
    /* the refused task_done changed nothing: a new item is unfinished */
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(3)), 0);
    j = cio_queue_join(q);
    ck_assert(!cio_future_done(j));
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    ck_assert_int_eq(cio_queue_task_done(q), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, j, NULL), 0);
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * maxsize: a putter waits while the queue is full; putters are FIFO
 * ------------------------------------------------------------------------ */

CIO_ASYNC(backpressure_main, cio_queue *q; cio_future *t[2]; int i;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("0")), 0);
    self->t[0] = CIO_START(loop, putter, .q = self->q, .name = "p1", .item = str("a"));
    self->t[1] = CIO_START(loop, putter, .q = self->q, .name = "p2", .item = str("b"));
    YIELD_N(3);
    ck_assert(!cio_future_done(self->t[0]));
    ck_assert(!cio_future_done(self->t[1]));
    ck_assert_uint_eq(cio_queue_qsize(self->q), 1);
    trace_get_nowait(self->q, "get");
    YIELD_N(3);
    ck_assert(!cio_future_done(self->t[1]));
    ck_assert(cio_queue_full(self->q));
    trace_get_nowait(self->q, "get");
    YIELD_N(3);
    trace_get_nowait(self->q, "get");
    trace_get_nowait(self->q, "get");
    CIO_AWAIT(cio_gather(loop, 2, self->t));
    CIO_END();
}

START_TEST(test_maxsize_backpressure_fifo_putters)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, backpressure_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "get=0 p1-put=ok get=a p2-put=ok get=b get-CIO_EEMPTY");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* put() on a queue with room completes without yielding; get() on a queue
 * with items too. */
CIO_ASYNC(no_yield_main, cio_queue *q; unsigned long it;)
{
    CIO_BEGIN();
    self->it = cio_loop_iteration(loop);
    PUT(self->q, cio_int(1));
    PUT(self->q, cio_int(2));
    GET(self->q);
    ck_assert_int_eq(CIO_RESULT.i, 1);
    GET(self->q);
    ck_assert_int_eq(CIO_RESULT.i, 2);
    ck_assert_uint_eq(cio_loop_iteration(loop), self->it);
    CIO_END();
}

START_TEST(test_put_and_get_without_waiting_do_not_yield)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 2, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, no_yield_main, .q = q), 0);
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Cancellation: a getter cancelled while waiting loses nothing
 * ------------------------------------------------------------------------ */

CIO_ASYNC(getter_cancel_waiting_main, cio_queue *q; cio_future *t[2]; int i;)
{
    CIO_BEGIN();
    self->t[0] = CIO_START(loop, getter, .q = self->q, .name = "g1");
    self->t[1] = CIO_START(loop, getter, .q = self->q, .name = "g2");
    YIELD_N(2);
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    YIELD_N(2);
    trace_add(&tr, "put");
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("x")), 0);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    CIO_AWAIT(self->t[1]);
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q));
    CIO_END();
}

START_TEST(test_getter_cancelled_while_waiting_loses_nothing)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, getter_cancel_waiting_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "g1-CIO_ECANCELLED put g2=x qsize=0");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A getter woken by a put but cancelled before it runs leaves the item for
 * the next getter: no loss, no duplicate, order kept (asyncio's
 * test_get_cancelled_race). */
CIO_ASYNC(getter_woken_cancel_main, cio_queue *q; cio_future *t[2]; int i;)
{
    CIO_BEGIN();
    /* two items for two getters; the first getter is cancelled */
    self->t[0] = CIO_START(loop, getter, .q = self->q, .name = "g1");
    self->t[1] = CIO_START(loop, getter, .q = self->q, .name = "g2");
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("x")), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("y")), 0);
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    trace_add(&tr, "put-x-y-cancel");
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    CIO_AWAIT(self->t[1]);
    YIELD_N(2);
    trace_get_nowait(self->q, "left");
    trace_get_nowait(self->q, "left");

    /* one item; the woken getter is cancelled: the next one gets it */
    self->t[0] = CIO_START(loop, getter, .q = self->q, .name = "g3");
    self->t[1] = CIO_START(loop, getter, .q = self->q, .name = "g4");
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("z")), 0);
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    trace_add(&tr, "put-z-cancel");
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    CIO_AWAIT(self->t[1]);
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q));

    /* one item, one getter, cancelled: the item stays */
    self->t[0] = CIO_START(loop, getter, .q = self->q, .name = "g5");
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("w")), 0);
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    YIELD_N(2);
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q));
    trace_get_nowait(self->q, "left");
    CIO_END();
}

START_TEST(test_getter_woken_then_cancelled_leaves_item)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, getter_woken_cancel_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "put-x-y-cancel g1-CIO_ECANCELLED g2=x left=y "
                             "left-CIO_EEMPTY put-z-cancel g3-CIO_ECANCELLED g4=z qsize=0 "
                             "g5-CIO_ECANCELLED qsize=1 left=w");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A put that finds a FIFO empty and a getter waiting hands the item to
 * that getter. Until the getter runs, the item still counts: qsize 1, a
 * queue of maxsize 1 full, get_nowait finds nothing free. A handed getter
 * cancelled before it runs puts the item back in front of those put after
 * it, and the next getters take them in put order. */
CIO_ASYNC(handed_item_main, cio_queue *one; cio_queue *q; cio_future *t[3]; int i;)
{
    CIO_BEGIN();
    self->t[0] = CIO_START(loop, getter, .q = self->one, .name = "g1");
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->one, str("x")), 0);
    trace_addf(&tr, "qsize=%zu full=%d empty=%d", cio_queue_qsize(self->one),
               cio_queue_full(self->one), cio_queue_empty(self->one));
    trace_addf(&tr, "put=%s", ename(cio_queue_put_nowait(self->one, str("y"))));
    trace_get_nowait(self->one, "get");
    ck_assert_int_eq(cio_queue_free(self->one), CIO_EBUSY);
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    trace_addf(&tr, "qsize=%zu full=%d", cio_queue_qsize(self->one), cio_queue_full(self->one));
    trace_get_nowait(self->one, "get");

    /* a: handed to g2; b, c: in the array, promised to g3 and g4 */
    self->t[0] = CIO_START(loop, getter, .q = self->q, .name = "g2");
    self->t[1] = CIO_START(loop, getter, .q = self->q, .name = "g3");
    self->t[2] = CIO_START(loop, getter, .q = self->q, .name = "g4");
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("a")), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("b")), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("c")), 0);
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q));
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    CIO_AWAIT(self->t[1]);
    CIO_AWAIT(self->t[2]);
    trace_get_nowait(self->q, "left");
    trace_get_nowait(self->q, "left");
    CIO_END();
}

START_TEST(test_handed_item_counts_and_comes_back_in_order)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *one = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, handed_item_main, .one = one, .q = q), 0);
    ck_assert_str_eq(tr.buf, "qsize=1 full=1 empty=0 put=CIO_EFULL get-CIO_EEMPTY "
                             "g1-CIO_ECANCELLED qsize=1 full=1 get=x qsize=3 "
                             "g2-CIO_ECANCELLED g3=a g4=b left=c left-CIO_EEMPTY");
    ck_assert_int_eq(cio_queue_free(one), 0);
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Putters: one cancelled while waiting, and one woken by a get but
 * cancelled before it runs: neither item is put; the next putter's is. */
CIO_ASYNC(putter_cancel_main, cio_queue *q; cio_future *t[3]; int i;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("0")), 0);
    self->t[0] = CIO_START(loop, putter, .q = self->q, .name = "p1", .item = str("a"));
    self->t[1] = CIO_START(loop, putter, .q = self->q, .name = "p2", .item = str("b"));
    self->t[2] = CIO_START(loop, putter, .q = self->q, .name = "p3", .item = str("c"));
    YIELD_N(2);
    /* p1 cancelled while waiting */
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    YIELD_N(2);
    ck_assert_uint_eq(cio_queue_qsize(self->q), 1);
    /* a get wakes p2, which is cancelled before it runs */
    trace_get_nowait(self->q, "get");
    ck_assert_int_eq(cio_future_cancel(self->t[1], NULL), 1);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    CIO_AWAIT_TRY(self->t[1]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    CIO_AWAIT(self->t[2]);
    trace_get_nowait(self->q, "get");
    trace_get_nowait(self->q, "get");

    /* a lone woken putter cancelled: its place is not kept */
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("1")), 0);
    self->t[0] = CIO_START(loop, putter, .q = self->q, .name = "p4", .item = str("d"));
    YIELD_N(2);
    trace_get_nowait(self->q, "get");
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    YIELD_N(2);
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q));
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("2")), 0);
    trace_get_nowait(self->q, "get");
    CIO_END();
}

START_TEST(test_putter_cancelled_puts_nothing)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, putter_cancel_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "p1-put=CIO_ECANCELLED get=0 p2-put=CIO_ECANCELLED "
                             "p3-put=ok get=c get-CIO_EEMPTY get=1 "
                             "p4-put=CIO_ECANCELLED qsize=0 get=2");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * shutdown (asyncio 3.13)
 * ------------------------------------------------------------------------ */

CIO_ASYNC(shutdown_main, cio_queue *q; cio_queue *q2; cio_future *p; cio_future *g;
          cio_future *j; int i;)
{
    CIO_BEGIN();
    /* q: full with 1, 2 and a putter of 3 waiting; q2: empty, a getter waits */
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("1")), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("2")), 0);
    self->p = CIO_START(loop, putter, .q = self->q, .name = "p", .item = str("3"));
    self->g = CIO_START(loop, getter, .q = self->q2, .name = "g");
    YIELD_N(2);
    self->j = cio_queue_join(self->q);
    trace_add(&tr, "shutdown");
    cio_queue_shutdown(self->q, 0);
    cio_queue_shutdown(self->q2, 0);
    CIO_AWAIT_TRY(self->p);
    ck_assert_int_eq(CIO_ERROR, CIO_ESHUTDOWN);
    CIO_AWAIT_TRY(self->g);
    ck_assert_int_eq(CIO_ERROR, CIO_ESHUTDOWN);
    /* puts fail */
    trace_addf(&tr, "put_nowait=%s", ename(cio_queue_put_nowait(self->q, str("4"))));
    PUT_TRY(self->q, str("5"));
    trace_addf(&tr, "put=%s", ename(CIO_ERROR));
    /* gets drain what is left, then fail */
    trace_get_nowait(self->q, "get");
    GET(self->q);
    trace_addf(&tr, "get=%s", (const char *)CIO_RESULT.p);
    trace_get_nowait(self->q, "get");
    GET_TRY(self->q);
    trace_addf(&tr, "get=%s", ename(CIO_ERROR));
    /* join still counts the items got without task_done */
    ck_assert(!cio_future_done(self->j));
    ck_assert_int_eq(cio_queue_task_done(self->q), 0);
    ck_assert_int_eq(cio_queue_task_done(self->q), 0);
    CIO_AWAIT(self->j);
    trace_add(&tr, "joined");
    /* shutting down twice is harmless */
    cio_queue_shutdown(self->q, 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("6")), CIO_ESHUTDOWN);
    CIO_END();
}

START_TEST(test_shutdown_puts_fail_gets_drain)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 2, CIO_QUEUE_FIFO);
    cio_queue *q2 = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, shutdown_main, .q = q, .q2 = q2), 0);
    ck_assert_str_eq(tr.buf, "shutdown p-put=CIO_ESHUTDOWN g-CIO_ESHUTDOWN "
                             "put_nowait=CIO_ESHUTDOWN put=CIO_ESHUTDOWN get=1 get=2 "
                             "get-CIO_ESHUTDOWN get=CIO_ESHUTDOWN joined");
    ck_assert_int_eq(cio_queue_free(q), 0);
    ck_assert_int_eq(cio_queue_free(q2), 0);
    loop_done(loop, &r, 0);
}
END_TEST

CIO_ASYNC(shutdown_immediate_main, cio_queue *q; cio_queue *q2; cio_future *g;
          cio_future *j; int i;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("1")), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("2")), 0);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("3")), 0);
    trace_get_nowait(self->q, "get");         /* got, not task_done yet */
    self->g = CIO_START(loop, getter, .q = self->q2, .name = "g");
    YIELD_N(2);
    self->j = cio_queue_join(self->q);
    trace_add(&tr, "shutdown");
    cio_queue_shutdown(self->q, 1);
    cio_queue_shutdown(self->q2, 1);
    /* the items left are dropped */
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q));
    trace_get_nowait(self->q, "get");
    CIO_AWAIT_TRY(self->g);
    ck_assert_int_eq(CIO_ERROR, CIO_ESHUTDOWN);
    /* dropped items count as done; the one got earlier does not */
    YIELD_N(2);
    ck_assert(!cio_future_done(self->j));
    ck_assert_int_eq(cio_queue_task_done(self->q), 0);
    CIO_AWAIT(self->j);
    trace_add(&tr, "joined");
    ck_assert_int_eq(cio_queue_task_done(self->q), CIO_EOVERFLOW);
    CIO_END();
}

START_TEST(test_shutdown_immediate_drops_items)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    cio_queue *q2 = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, shutdown_immediate_main, .q = q, .q2 = q2), 0);
    ck_assert_str_eq(tr.buf, "get=1 shutdown qsize=0 get-CIO_ESHUTDOWN g-CIO_ESHUTDOWN "
                             "joined");
    ck_assert_int_eq(cio_queue_free(q), 0);
    ck_assert_int_eq(cio_queue_free(q2), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Immediate shutdown of a full queue with a putter waiting: the putter
 * fails, the items go. */
CIO_ASYNC(shutdown_full_main, cio_queue *q; cio_future *p; int i;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("1")), 0);
    self->p = CIO_START(loop, putter, .q = self->q, .name = "p", .item = str("2"));
    YIELD_N(2);
    cio_queue_shutdown(self->q, 1);
    CIO_AWAIT_TRY(self->p);
    ck_assert_int_eq(CIO_ERROR, CIO_ESHUTDOWN);
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q));
    CIO_AWAIT(cio_queue_join(self->q));
    trace_add(&tr, "joined");
    CIO_END();
}

START_TEST(test_shutdown_immediate_fails_waiting_putter)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, shutdown_full_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "p-put=CIO_ESHUTDOWN qsize=0 joined");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A getter woken by a put, then the queue is shut down before it runs:
 * plain shutdown lets it take the item; immediate drops the item and the
 * getter fails (asyncio 3.13's get() re-checks after waking). */
CIO_ASYNC(shutdown_woken_main, cio_queue *q; cio_queue *q2; cio_future *g; cio_future *j; int i;)
{
    CIO_BEGIN();
    self->g = CIO_START(loop, getter, .q = self->q, .name = "g1");
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("x")), 0);
    cio_queue_shutdown(self->q, 0);
    CIO_AWAIT(self->g);

    self->g = CIO_START(loop, getter, .q = self->q2, .name = "g2");
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q2, str("y")), 0);
    cio_queue_shutdown(self->q2, 1);
    CIO_AWAIT_TRY(self->g);                 /* g2 traces its outcome */
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q2));
    self->j = cio_queue_join(self->q2);
    YIELD_N(2);
    trace_addf(&tr, "joined=%d", cio_future_done(self->j) != 0);
    if (!cio_future_done(self->j))
        cio_queue_task_done(self->q2);      /* let it end */
    CIO_AWAIT(self->j);
    CIO_END();
}

START_TEST(test_shutdown_with_a_woken_getter)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    cio_queue *q2 = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, shutdown_woken_main, .q = q, .q2 = q2), 0);
    ck_assert_str_eq(tr.buf, "g1=x g2-CIO_ESHUTDOWN qsize=0 joined=1");
    ck_assert_int_eq(cio_queue_free(q), 0);
    ck_assert_int_eq(cio_queue_free(q2), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Freeing a queue that tasks wait on: CIO_EBUSY; with items left: 0
 * ------------------------------------------------------------------------ */

CIO_ASYNC(free_busy_main, cio_queue *q; cio_queue *full; cio_future *g; cio_future *p;
          int i;)
{
    CIO_BEGIN();
    self->g = CIO_START(loop, getter, .q = self->q, .name = "g");
    ck_assert_int_eq(cio_queue_put_nowait(self->full, str("1")), 0);
    self->p = CIO_START(loop, putter, .q = self->full, .name = "p", .item = str("2"));
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_free(self->q), CIO_EBUSY);
    ck_assert_int_eq(cio_queue_free(self->full), CIO_EBUSY);
    trace_add(&tr, "busy");
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("x")), 0);
    trace_get_nowait(self->full, "get");
    CIO_AWAIT(self->g);
    CIO_AWAIT(self->p);
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->full));
    CIO_END();
}

/* A get served at once (an item was there) takes the item when its result
 * is read; dropped unread - by a combinator out of memory, say - it leaves
 * the item in the queue, in its place. A put likewise puts nothing. */
START_TEST(test_get_or_put_dropped_unread_changes_nothing)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    cio_future *f;
    cio_value v;

    ck_assert_int_eq(cio_queue_put_nowait(q, str("x")), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, str("y")), 0);
    f = cio_queue_get(q);
    ck_assert(cio_future_done(f));
    cio_future_unref(f);                /* never read */
    ck_assert_uint_eq(cio_queue_qsize(q), 2);
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    ck_assert_str_eq(v.p, "x");
    f = cio_queue_get(q);               /* read: the item is the reader's */
    ck_assert_int_eq(cio_future_result(f, &v), 0);
    ck_assert_str_eq(v.p, "y");
    cio_future_unref(f);
    ck_assert_uint_eq(cio_queue_qsize(q), 0);
    /* a put dropped unread puts nothing (a retry never duplicates) */
    f = cio_queue_put(q, str("z"));
    ck_assert(cio_future_done(f));
    cio_future_unref(f);
    ck_assert_uint_eq(cio_queue_qsize(q), 0);
    f = cio_queue_put(q, str("z"));
    ck_assert_int_eq(cio_future_result(f, NULL), 0);
    cio_future_unref(f);
    ck_assert_uint_eq(cio_queue_qsize(q), 1);
    ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
    ck_assert_str_eq(v.p, "z");
    ck_assert_int_eq(cio_queue_task_done(q), 0);
    ck_assert_int_eq(cio_queue_task_done(q), 0);
    ck_assert_int_eq(cio_queue_task_done(q), 0);
    ck_assert_int_eq(cio_queue_task_done(q), CIO_EOVERFLOW);  /* three were put */
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

START_TEST(test_free_with_waiters_is_busy)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    cio_queue *full = cio_queue_new(loop, 1, CIO_QUEUE_LIFO);
    char *heap_item;

    ck_assert_int_eq(RUN_TASK(loop, NULL, free_busy_main, .q = q, .full = full), 0);
    ck_assert_str_eq(tr.buf, "busy get=1 g=x p-put=ok qsize=1");
    ck_assert_int_eq(cio_queue_free(q), 0);
    ck_assert_int_eq(cio_queue_free(full), 0);      /* with an item left */

    /* items left in an unbounded queue go with it (the queue does not own
     * what they point to) */
    q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    heap_item = malloc(8);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_ptr(heap_item)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(3)), 0);
    ck_assert_int_eq(cio_queue_free(q), 0);
    free(heap_item);
    loop_done(loop, &r, 0);
}
END_TEST

/* Inside a task, a get or put made in the task's own slot is lazy, like
 * asyncio's `q.get()` coroutine: it does nothing until awaited or used.
 * Started by the next wait the task makes, waits still start in the order
 * they were made; cancelled or dropped before, it changes nothing; the
 * queue counts it, so it cannot be freed under it. */
CIO_ASYNC(lazy_main, cio_queue *q; cio_future *f1; cio_future *f2; cio_future *all;)
{
    cio_value v;

    CIO_BEGIN();
    self->f1 = cio_queue_get(self->q);
    ck_assert(!cio_future_done(self->f1));          /* not started */
    ck_assert_int_eq(cio_queue_free(self->q), CIO_EBUSY);
    self->f2 = cio_queue_get(self->q);              /* starts f1 first */
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("x")), 0);
    ck_assert(cio_future_done(self->f1));           /* the first in line */
    ck_assert(!cio_future_done(self->f2));
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("y")), 0);
    ck_assert(cio_future_done(self->f2));
    ck_assert_int_eq(cio_future_result(self->f1, &v), 0);
    trace_addf(&tr, "f1=%s", (const char *)v.p);
    cio_future_unref(self->f1);
    CIO_AWAIT(self->f2);
    trace_addf(&tr, "f2=%s", (const char *)CIO_RESULT.p);

    /* dropped or cancelled before it started: nothing put, nothing got */
    cio_future_unref(cio_queue_put(self->q, str("lost")));
    self->f1 = cio_queue_get(self->q);
    ck_assert_int_eq(cio_future_cancel(self->f1, NULL), 1);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("z")), 0);
    CIO_AWAIT_TRY(self->f1);
    trace_addf(&tr, "cancelled=%s", ename(CIO_ERROR));
    trace_addf(&tr, "qsize=%zu", cio_queue_qsize(self->q));

    /* given to a combinator, it starts when the combinator waits on it */
    self->all = cio_gather(loop, 1, (cio_future *[]){ cio_queue_get(self->q) });
    CIO_AWAIT(self->all);               /* referenced until the next await */
    ck_assert_int_eq(cio_gather_result(self->all, 0, &v), 0);
    trace_addf(&tr, "gathered=%s", (const char *)v.p);
    self->all = cio_gather(loop, 1, (cio_future *[]){ cio_queue_get(self->q) });
    CIO_YIELD();
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("late")), 0);
    CIO_AWAIT(self->all);
    ck_assert_int_eq(cio_gather_result(self->all, 0, &v), 0);
    trace_addf(&tr, "gathered=%s", (const char *)v.p);

    /* the queue shut down between making and awaiting: the put fails */
    self->f1 = cio_queue_put(self->q, str("after"));
    cio_queue_shutdown(self->q, 0);
    CIO_AWAIT_TRY(self->f1);
    trace_addf(&tr, "put-%s", ename(CIO_ERROR));
    CIO_END();
}

START_TEST(test_lazy_waits_in_a_task)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, lazy_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "f1=x f2=y cancelled=CIO_ECANCELLED qsize=1 gathered=z "
                             "gathered=late put-CIO_ESHUTDOWN");
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Two tasks pass a counter through two queues of size 1 (cio_bench
 * pingpong): each get waits, each put wakes the other task; the trace
 * records every step with its loop iteration. */
CIO_ASYNC(pp_pong, cio_queue *in; cio_queue *out; int n; int i;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        GET(self->in);
        trace_addf(&tr, "pong%ld@%lu", (long)CIO_RESULT.i, cio_loop_iteration(loop));
        PUT(self->out, cio_int(CIO_RESULT.i + 1));
    }
    CIO_END();
}

CIO_ASYNC(pp_ping, cio_queue *in; cio_queue *out; int n; int i; ptrdiff_t counter;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        PUT(self->out, cio_int(self->counter));
        GET(self->in);
        self->counter = CIO_RESULT.i;
        trace_addf(&tr, "ping%ld@%lu", (long)self->counter, cio_loop_iteration(loop));
    }
    CIO_RETURN(self->counter);
    CIO_END();
}

START_TEST(test_pingpong_trace)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *a = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);
    cio_queue *b = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);
    cio_future *pong = CIO_START(loop, pp_pong, .in = a, .out = b, .n = 3);
    cio_value v;

    ck_assert_int_eq(RUN_TASK(loop, &v, pp_ping, .in = b, .out = a, .n = 3), 0);
    ck_assert_int_eq(v.i, 3);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, pong, NULL), 0);
    ck_assert_str_eq(tr.buf, "pong0@1 ping1@2 pong1@3 ping2@4 pong2@5 ping3@6");
    ck_assert_int_eq(cio_queue_free(a), 0);
    ck_assert_int_eq(cio_queue_free(b), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* The edges of the two spellings, which agree on each: a lazy wait alive in
 * the task's own slot is started first (waits start in the order they were
 * made); a queue of another loop; a shut-down queue; an error propagates;
 * a get in the finally
 * section finishes if it need not wait, else ends the task with
 * CIO_EINVALSTATE and leaves no waiter behind. */
CIO_ASYNC(edges_main, cio_queue *q; cio_queue *other; cio_queue *shut; cio_future *f1;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("x")), 0);
    self->f1 = cio_queue_get(self->q);              /* lazy, in the own slot */
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("y")), 0);
    GET(self->q);                                   /* starts f1 first */
    ck_assert(cio_future_done(self->f1));
    trace_addf(&tr, "f1=%s", (const char *)cio_future_ptr(self->f1));
    trace_addf(&tr, "got=%s", (const char *)CIO_RESULT.p);
    cio_future_unref(self->f1);

    ck_assert_int_eq(cio_queue_put_nowait(self->other, str("o")), 0);
    GET_TRY(self->other);
    trace_addf(&tr, "other-%s", ename(CIO_ERROR));
    PUT_TRY(self->other, str("p"));
    trace_addf(&tr, "other-put-%s", ename(CIO_ERROR));

    /* right after an await whose future the task still holds (the
     * statements let go of it first) */
    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("after")), 0);
    self->f1 = cio_future_new(loop);
    ck_assert_int_eq(cio_future_set_ptr(self->f1, (void *)(uintptr_t)"set"), 0);
    CIO_AWAIT(cio_future_ref(self->f1));
    cio_future_unref(self->f1);                     /* the await holds it */
    GET(self->q);
    trace_addf(&tr, "got=%s", (const char *)CIO_RESULT.p);
    self->f1 = cio_future_new(loop);
    ck_assert_int_eq(cio_future_set_ptr(self->f1, NULL), 0);
    CIO_AWAIT(self->f1);
    PUT(self->q, str("again"));
    GET(self->q);
    trace_addf(&tr, "got=%s", (const char *)CIO_RESULT.p);

    cio_queue_shutdown(self->shut, 0);
    GET_TRY(self->shut);
    trace_addf(&tr, "shut-%s", ename(CIO_ERROR));
    PUT_TRY(self->shut, str("s"));
    trace_addf(&tr, "shut-put-%s", ename(CIO_ERROR));

    ck_assert_int_eq(cio_queue_put_nowait(self->q, str("z")), 0);
    CIO_RAISE(CIO_ELIMIT);
    CIO_FINALLY();
    GET_TRY(self->q);                               /* "z": no wait */
    trace_addf(&tr, "finally=%s", CIO_ERROR == 0 ? (const char *)CIO_RESULT.p : "?");
    GET_TRY(self->q);               /* would wait: the task ends with
                                       CIO_EINVALSTATE (cio/coro.h) */
    trace_add(&tr, "not reached");
    CIO_END();
}

/* The statement's own error: a NULL queue. */
CIO_ASYNC(null_queue_main, int unused;)
{
    CIO_BEGIN();
    CIO_QUEUE_GET_TRY(NULL);
    trace_addf(&tr, "get-%s", ename(CIO_ERROR));
    CIO_QUEUE_PUT_TRY(NULL, cio_int(1));
    trace_addf(&tr, "put-%s", ename(CIO_ERROR));
    CIO_QUEUE_GET(NULL);
    trace_add(&tr, "not reached");
    CIO_END();
}

/* Stepped by hand, outside any task. */
CIO_ASYNC(outside_getter, cio_queue *q;)
{
    CIO_BEGIN();
    GET_TRY(self->q);
    trace_addf(&tr, "outside-%s", ename(CIO_ERROR));
    CIO_END();
}

START_TEST(test_awaiting_statement_edges)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_loop *loop2 = cio_loop_new();
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    cio_queue *other = cio_queue_new(loop2, 0, CIO_QUEUE_FIFO);
    cio_queue *shut = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    outside_getter fr;

    ck_assert_int_eq(RUN_TASK(loop, NULL, edges_main, .q = q, .other = other, .shut = shut),
                     CIO_EINVALSTATE);
    /* f1, started first, was promised an item; a promise is a count, and
     * each takes the head when it reads (asyncio's woken getter too) */
    ck_assert_str_eq(tr.buf, "f1=y got=x other-CIO_EWRONGLOOP other-put-CIO_EWRONGLOOP "
                             "got=after got=again shut-CIO_ESHUTDOWN shut-put-CIO_ESHUTDOWN "
                             "finally=z");
    ck_assert_int_eq(cio_queue_free(shut), 0);
    ck_assert_uint_eq(cio_queue_qsize(q), 0);
    ck_assert_uint_eq(cio_queue_qsize(other), 1);   /* the item stayed */
    ck_assert_int_eq(cio_queue_free(q), 0);         /* no waiter left */

    reset_trace();
    q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    memset(&fr, 0, sizeof fr);
    fr.q = q;
    ck_assert_int_eq(outside_getter__step(&fr.cio, loop), CIO_CORO_DONE);
    ck_assert_str_eq(tr.buf, "outside-CIO_ENOLOOP");
    ck_assert_int_eq(cio_queue_free(q), 0);

    if (in_place) {
        reset_trace();
        ck_assert_int_eq(RUN_TASK(loop, NULL, null_queue_main, .unused = 0), CIO_EINVAL);
        ck_assert_str_eq(tr.buf, "get-CIO_EINVAL put-CIO_EINVAL");
    }
    ck_assert_int_eq(cio_queue_free(other), 0);
    ck_assert_int_eq(cio_loop_free(loop2), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Gets and puts awaited in an async function called inline (CIO_CALL):
 * they wait in the task's own slot from the child's frame, which the
 * resume finds from that frame. Cancelled while the child waits, with an
 * item handed to it, the item goes back. */
CIO_ASYNC(get_two_put_sum, cio_queue *q; cio_queue *out; long sum;)
{
    CIO_BEGIN();
    GET(self->q);
    self->sum = CIO_RESULT.i;
    GET(self->q);
    self->sum += CIO_RESULT.i;
    PUT(self->out, cio_int(self->sum));
    CIO_RETURN(self->sum);
    CIO_END();
}

CIO_ASYNC(call_child_main, cio_queue *q; cio_queue *out; get_two_put_sum sub;)
{
    CIO_BEGIN();
    CIO_CALL_TRY(get_two_put_sum, sub, .q = self->q, .out = self->out);
    if (CIO_ERROR != 0)
        trace_addf(&tr, "child-%s", ename(CIO_ERROR));
    else
        trace_addf(&tr, "sum=%ld", (long)CIO_RESULT.i);
    CIO_END();
}

CIO_ASYNC(call_child_driver, cio_queue *q; cio_queue *out; cio_future *t; cio_value v; int i;)
{
    CIO_BEGIN();
    self->t = CIO_START(loop, call_child_main, .q = self->q, .out = self->out);
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, cio_int(3)), 0);
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, cio_int(4)), 0);
    GET(self->out);                         /* the child's put wakes us */
    trace_addf(&tr, "out=%ld", (long)CIO_RESULT.i);
    CIO_AWAIT(self->t);

    self->t = CIO_START(loop, call_child_main, .q = self->q, .out = self->out);
    YIELD_N(2);
    ck_assert_int_eq(cio_queue_put_nowait(self->q, cio_int(5)), 0);    /* handed */
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 1);
    CIO_AWAIT_TRY(self->t);
    trace_addf(&tr, "task-%s qsize=%zu", ename(CIO_ERROR), cio_queue_qsize(self->q));
    ck_assert_int_eq(cio_queue_get_nowait(self->q, &self->v), 0);
    trace_addf(&tr, "left=%ld", (long)self->v.i);
    CIO_END();
}

START_TEST(test_statements_in_an_inline_call)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);
    cio_queue *out = cio_queue_new(loop, 1, CIO_QUEUE_FIFO);

    ck_assert_int_eq(RUN_TASK(loop, NULL, call_child_driver, .q = q, .out = out), 0);
    /* the child's put finds room: it ends before the driver runs again;
     * the task swallows the cancellation its child raised (CIO_CALL_TRY) */
    ck_assert_str_eq(tr.buf, "sum=7 out=7 child-CIO_ECANCELLED task-ok qsize=1 left=5");
    ck_assert_int_eq(cio_queue_free(q), 0);
    ck_assert_int_eq(cio_queue_free(out), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A task still waiting when its loop is freed: reported, its wait leaves
 * the queue, nothing leaks (the sanitizers and valgrind check). */
START_TEST(test_waiting_getter_at_loop_free)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_queue *q = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    cio_future *g = CIO_START(loop, getter, .q = q, .name = "g");

    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    ck_assert(!cio_future_done(g));
    ck_assert_int_eq(cio_queue_free(q), CIO_EBUSY);
    cio_future_unref(g);
    loop_done(loop, &r, 1);
    ck_assert_str_eq(r.messages[0], "Task was destroyed but it is pending!");
    ck_assert_int_eq(cio_queue_free(q), 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Caller storage: cio_queue_new_in with CIO_QUEUE_SIZE(maxsize)
 * ------------------------------------------------------------------------ */

static unsigned long alloc_count;

static void *counting_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    (void)ctx;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    alloc_count++;
    return realloc(ptr, new_size);
}

#define STORAGE(n) union { void *p; double d; long long ll; unsigned char b[n]; }

CIO_ASYNC(storage_main, cio_queue *q; cio_future *p; int i;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < 4; self->i++)
        PUT(self->q, cio_int(self->i));
    self->p = CIO_START(loop, putter, .q = self->q, .name = "p", .item = cio_int(4));
    YIELD_N(2);
    ck_assert(!cio_future_done(self->p));
    for (self->i = 0; self->i < 5; self->i++) {
        GET(self->q);
        trace_addf(&tr, "%ld", (long)CIO_RESULT.i);
        CIO_YIELD();
    }
    CIO_AWAIT(self->p);
    CIO_END();
}

START_TEST(test_queue_in_caller_storage)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    STORAGE(CIO_QUEUE_SIZE(4)) st;
    STORAGE(CIO_QUEUE_SIZE(3)) st3;
    cio_queue *q;
    cio_value v;
    unsigned long before;
    int i;

    /* refused: too small, no storage, unbounded (cannot grow there) */
    ck_assert_ptr_null(cio_queue_new_in(loop, 4, CIO_QUEUE_FIFO, st.b, 1));
    ck_assert_ptr_null(cio_queue_new_in(loop, 4, CIO_QUEUE_FIFO, NULL, sizeof st.b));
    ck_assert_ptr_null(cio_queue_new_in(loop, 0, CIO_QUEUE_FIFO, st.b, sizeof st.b));

    cio_set_allocator(counting_realloc, NULL);
    before = alloc_count;
    q = cio_queue_new_in(loop, 4, CIO_QUEUE_FIFO, st.b, sizeof st.b);
    ck_assert_uint_eq(alloc_count, before);
    cio_set_allocator(NULL, NULL);
    ck_assert_ptr_nonnull(q);
    ck_assert_uint_eq(cio_queue_maxsize(q), 4);
    ck_assert_int_eq(RUN_TASK(loop, NULL, storage_main, .q = q), 0);
    ck_assert_str_eq(tr.buf, "0 p-put=ok 1 2 3 4");
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(i)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(9)), CIO_EFULL);
    ck_assert_int_eq(cio_queue_free(q), 0);

    /* a priority queue in caller storage */
    q = cio_queue_new_in(loop, 3, CIO_QUEUE_PRIORITY, st3.b, sizeof st3.b);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(3)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(1)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(2)), 0);
    ck_assert_int_eq(cio_queue_put_nowait(q, cio_int(0)), CIO_EFULL);
    for (i = 1; i <= 3; i++) {
        ck_assert_int_eq(cio_queue_get_nowait(q, &v), 0);
        ck_assert_int_eq(v.i, i);
    }
    ck_assert_int_eq(cio_queue_free(q), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");

    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, reset_trace, NULL);
    tcase_add_loop_test(tc, test_Q1_queue_order, 0, 2);
    tcase_add_loop_test(tc, test_lifo_and_priority_order, 0, 2);
    tcase_add_loop_test(tc, test_priority_ties_in_put_order, 0, 2);
    tcase_add_loop_test(tc, test_Q2_nowait_full_and_empty, 0, 2);
    tcase_add_loop_test(tc, test_Q4_blocking_get_fifo_getters, 0, 2);
    tcase_add_loop_test(tc, test_priority_getter_takes_smallest_when_it_runs, 0, 2);
    tcase_add_loop_test(tc, test_Q6_task_done_and_join, 0, 2);
    tcase_add_loop_test(tc, test_Q6_task_done_underflow, 0, 2);
    tcase_add_loop_test(tc, test_maxsize_backpressure_fifo_putters, 0, 2);
    tcase_add_loop_test(tc, test_put_and_get_without_waiting_do_not_yield, 0, 2);
    tcase_add_loop_test(tc, test_getter_cancelled_while_waiting_loses_nothing, 0, 2);
    tcase_add_loop_test(tc, test_getter_woken_then_cancelled_leaves_item, 0, 2);
    tcase_add_loop_test(tc, test_handed_item_counts_and_comes_back_in_order, 0, 2);
    tcase_add_loop_test(tc, test_putter_cancelled_puts_nothing, 0, 2);
    tcase_add_loop_test(tc, test_shutdown_puts_fail_gets_drain, 0, 2);
    tcase_add_loop_test(tc, test_shutdown_immediate_drops_items, 0, 2);
    tcase_add_loop_test(tc, test_shutdown_immediate_fails_waiting_putter, 0, 2);
    tcase_add_loop_test(tc, test_shutdown_with_a_woken_getter, 0, 2);
    tcase_add_loop_test(tc, test_get_or_put_dropped_unread_changes_nothing, 0, 2);
    tcase_add_loop_test(tc, test_free_with_waiters_is_busy, 0, 2);
    tcase_add_loop_test(tc, test_lazy_waits_in_a_task, 0, 2);
    tcase_add_loop_test(tc, test_pingpong_trace, 0, 2);
    tcase_add_loop_test(tc, test_awaiting_statement_edges, 0, 2);
    tcase_add_loop_test(tc, test_statements_in_an_inline_call, 0, 2);
    tcase_add_loop_test(tc, test_waiting_getter_at_loop_free, 0, 2);
    tcase_add_loop_test(tc, test_queue_in_caller_storage, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(queue_suite);
}
