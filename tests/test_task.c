/* test_task.c - tasks, await, cancellation, sleep: asyncio-cases.md "Task".
 *
 * Built twice: with the default (labels-as-values) resume backend as
 * tests/test_task and with -DCIO_CORO_SWITCH as tests/test_tasks_switch, so
 * no body here awaits inside a `switch` statement.
 *
 * asyncio's exceptions are error codes: ValueError and KeyError are stood
 * for by negated errno values cio itself never produces.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"

#define VALUE_ERROR (-EDOM)     /* asyncio's ValueError('v') */
#define KEY_ERROR (-ENOENT)     /* asyncio's KeyError */

/* The order things happened in, reset before each test. */



static cio_value int_value(ptrdiff_t i)
{
    cio_value v;

    v.p = NULL;
    v.i = i;
    return v;
}

static cio_value ptr_value(const void *p)
{
    cio_value v;

    v.p = (void *)(uintptr_t)p;
    return v;
}

static double monotonic_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Run one task to completion and return its error; *v gets its result. */
#define RUN_TASK(loop, v, ...)                                                \
    cio_loop_run_until_complete((loop), CIO_START((loop), __VA_ARGS__), (v))

/* ------------------------------------------------------------------------
 * T1: tasks start in creation order, never synchronously
 * ------------------------------------------------------------------------ */

CIO_ASYNC(t1_child, const char *name;)
{
    CIO_BEGIN();
    trace_add(&tr, self->name);
    CIO_RETURN(1);
    CIO_END();
}

CIO_ASYNC(t1_main, cio_future *t1; cio_future *t2; unsigned long it;)
{
    CIO_BEGIN();
    self->t1 = CIO_START(loop, t1_child, .name = "t1");
    self->t2 = CIO_START(loop, t1_child, .name = "t2");
    ck_assert_ptr_nonnull(self->t1);
    ck_assert_ptr_nonnull(self->t2);
    trace_add(&tr, "after-create");
    /* a task that returns at once is done only after one iteration */
    ck_assert(!cio_future_done(self->t1));
    ck_assert(!cio_future_done(self->t2));
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(cio_sleep(loop, 0));
    trace_add(&tr, "main-resumed");
    ck_assert_uint_eq(cio_loop_iteration(loop), self->it + 1);
    ck_assert(cio_future_done(self->t1));
    ck_assert(cio_future_done(self->t2));
    CIO_AWAIT(self->t1);
    CIO_AWAIT(self->t2);
    CIO_RETURN(CIO_RESULT.i + 6);
    CIO_END();
}

START_TEST(test_T1_tasks_start_in_creation_order)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;

    ck_assert_int_eq(RUN_TASK(loop, &v, t1_main), 0);
    ck_assert_int_eq(v.i, 7);
    ck_assert_str_eq(tr.buf, "after-create t1 t2 main-resumed");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T2: cancelled before its first step, the body never runs
 * ------------------------------------------------------------------------ */

CIO_ASYNC(t2_body, int unused;)
{
    CIO_BEGIN();
    trace_add(&tr, "body-ran");
    CIO_FINALLY();
    trace_add(&tr, "body-finally");
    CIO_END();
}

CIO_ASYNC(t2_main, cio_future *t;)
{
    CIO_BEGIN();
    self->t = CIO_START(loop, t2_body);
    ck_assert_ptr_nonnull(self->t);
    trace_addf(&tr, "cancel=%ld", (long)cio_future_cancel(self->t, "why"));
    /* asyncio: the cancel is only requested, the task is still pending */
    trace_addf(&tr, "done=%ld", (long)cio_future_done(self->t));
    CIO_AWAIT_TRY(cio_future_ref(self->t));
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    trace_add(&tr, "main-saw-cancelled");
    ck_assert(cio_future_cancelled(self->t));
    ck_assert_str_eq(cio_future_cancel_message(self->t), "why");
    ck_assert_int_eq(cio_future_error(self->t), CIO_ECANCELLED);
    cio_future_unref(self->t);
    CIO_END();
}

START_TEST(test_T2_cancel_before_first_step)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;

    ck_assert_int_eq(RUN_TASK(loop, NULL, t2_main), 0);
    ck_assert_str_eq(tr.buf, "cancel=1 done=0 main-saw-cancelled");

    /* the same seen from run_until_complete */
    reset_trace();
    t = CIO_START(loop, t2_body);
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL),
                     CIO_ECANCELLED);
    ck_assert(cio_future_cancelled(t));
    ck_assert_str_eq(tr.buf, "");
    cio_future_unref(t);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T3 (and F13): cancelling a task sleeping in sleep(10)
 * ------------------------------------------------------------------------ */

CIO_ASYNC(t3_sleeper, int swallow;)
{
    CIO_BEGIN();
    trace_add(&tr, "sleeping");
    CIO_AWAIT_TRY(cio_sleep(loop, 10));
    if (CIO_ERROR == CIO_ECANCELLED) {
        trace_add(&tr, "caught");
        if (self->swallow)
            CIO_RETURN(42);
        CIO_RAISE(CIO_ERROR);
    }
    trace_add(&tr, "woke");
    CIO_FINALLY();
    trace_add(&tr, "finally");
    CIO_END();
}

CIO_ASYNC(t3_main, int swallow; cio_future *t;)
{
    CIO_BEGIN();
    self->t = CIO_START(loop, t3_sleeper, .swallow = self->swallow);
    ck_assert_ptr_nonnull(self->t);
    CIO_AWAIT(cio_sleep(loop, 0));          /* the task starts sleeping */
    trace_addf(&tr, "cancel=%ld", (long)cio_future_cancel(self->t, NULL));
    trace_addf(&tr, "cancelled=%ld", (long)cio_future_cancelled(self->t));
    trace_addf(&tr, "done=%ld", (long)cio_future_done(self->t));
    CIO_AWAIT_TRY(cio_future_ref(self->t));
    if (CIO_ERROR == CIO_ECANCELLED)
        trace_add(&tr, "main-saw-cancelled");
    else if (CIO_ERROR == 0)
        trace_addf(&tr, "main-got=%ld", (long)CIO_RESULT.i);
    else
        trace_addf(&tr, "main-got-error=%ld", (long)CIO_ERROR);
    trace_addf(&tr, "t-cancelled=%ld", (long)cio_future_cancelled(self->t));
    cio_future_unref(self->t);
    CIO_END();
}

START_TEST(test_T3_cancel_sleeping_task)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(RUN_TASK(loop, NULL, t3_main, .swallow = 0), 0);
    ck_assert_str_eq(tr.buf, "sleeping cancel=1 cancelled=0 done=0 caught finally "
                             "main-saw-cancelled t-cancelled=1");
    loop_done(loop, &r, 0);
}
END_TEST

/* F13 / T3: a task that handles CIO_ECANCELLED and returns is not cancelled. */
START_TEST(test_T3_task_handling_cancel_is_not_cancelled)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(RUN_TASK(loop, NULL, t3_main, .swallow = 1), 0);
    ck_assert_str_eq(tr.buf, "sleeping cancel=1 cancelled=0 done=0 caught finally "
                             "main-got=42 t-cancelled=0");
    loop_done(loop, &r, 0);
}
END_TEST

/* The awaited future completed, but the task has not resumed yet when it
 * is cancelled: the cancel wins, the await raises (asyncio's _must_cancel). */
CIO_ASYNC(await_future, cio_future *f;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(self->f);
    trace_addf(&tr, "await=%ld", (long)CIO_ERROR);
    CIO_RAISE(CIO_ERROR);
    CIO_END();
}

START_TEST(test_T3_cancel_after_awaited_future_completed)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f, *t;
    char expect[64];

    f = cio_future_new(loop);
    t = CIO_START(loop, await_future, .f = cio_future_ref(f));
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(cio_future_set_int(f, 5), 0);
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    ck_assert(!cio_future_cancelled(f));
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL),
                     CIO_ECANCELLED);
    ck_assert(cio_future_cancelled(t));
    snprintf(expect, sizeof expect, "await=%d", CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    cio_future_unref(t);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T7: self-cancellation; cancel() of a done task
 * ------------------------------------------------------------------------ */

CIO_ASYNC(t7_cancel_at_end, int unused;)
{
    CIO_BEGIN();
    ck_assert_ptr_nonnull(cio_task_current(loop));
    trace_addf(&tr, "self-cancel=%ld", (long)cio_future_cancel(cio_task_current(loop), NULL));
    CIO_RETURN('x');
    CIO_END();
}

CIO_ASYNC(t7_cancel_then_sleep, int unused;)
{
    CIO_BEGIN();
    trace_addf(&tr, "self-cancel=%ld", (long)cio_future_cancel(cio_task_current(loop), NULL));
    CIO_AWAIT(cio_sleep(loop, 0));
    trace_add(&tr, "not-reached");
    CIO_FINALLY();
    trace_addf(&tr, "finally=%ld", (long)CIO_ERROR);
    CIO_END();
}

CIO_ASYNC(t7_plain, int unused;)
{
    CIO_BEGIN();
    CIO_RETURN(5);
    CIO_END();
}

CIO_ASYNC(t7_main, cio_future *t;)
{
    CIO_BEGIN();
    /* cancel() then return 'x': still cancelled */
    self->t = CIO_START(loop, t7_cancel_at_end);
    CIO_AWAIT_TRY(cio_future_ref(self->t));
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    trace_add(&tr, "awaiter-saw-cancelled");
    ck_assert(cio_future_cancelled(self->t));
    /* cancel() of a done task: 0, and nothing changes */
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 0);
    ck_assert(cio_future_cancelled(self->t));
    cio_future_unref(self->t);

    /* cancel() then an await: the await raises */
    self->t = CIO_START(loop, t7_cancel_then_sleep);
    CIO_AWAIT_TRY(cio_future_ref(self->t));
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    trace_add(&tr, "awaiter-saw-cancelled");
    ck_assert(cio_future_cancelled(self->t));
    cio_future_unref(self->t);

    /* a task done with a result: cancel() is 0, its result stays */
    self->t = CIO_START(loop, t7_plain);
    CIO_AWAIT(cio_future_ref(self->t));
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 0);
    ck_assert(!cio_future_cancelled(self->t));
    ck_assert_int_eq(cio_future_int(self->t), 5);
    cio_future_unref(self->t);
    CIO_END();
}

START_TEST(test_T7_self_cancel_and_cancel_of_done_task)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[256];

    ck_assert_int_eq(RUN_TASK(loop, NULL, t7_main), 0);
    snprintf(expect, sizeof expect,
             "self-cancel=1 awaiter-saw-cancelled self-cancel=1 finally=%d "
             "awaiter-saw-cancelled", CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);

    /* run_until_complete of a self-cancelled task */
    ck_assert_int_eq(RUN_TASK(loop, NULL, t7_cancel_at_end), CIO_ECANCELLED);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T9: a task raises
 * ------------------------------------------------------------------------ */

CIO_ASYNC(raiser, int err; double delay;)
{
    CIO_BEGIN();
    if (self->delay > 0)
        CIO_AWAIT(cio_sleep(loop, self->delay));
    CIO_RAISE(self->err);
    CIO_END();
}

CIO_ASYNC(t9_main, cio_future *t;)
{
    CIO_BEGIN();
    self->t = CIO_START(loop, raiser, .err = VALUE_ERROR);
    CIO_AWAIT_TRY(cio_future_ref(self->t));
    ck_assert_int_eq(CIO_ERROR, VALUE_ERROR);
    trace_add(&tr, "await-raised");
    ck_assert(cio_future_done(self->t));
    ck_assert(!cio_future_cancelled(self->t));
    ck_assert_int_eq(cio_future_error(self->t), VALUE_ERROR);
    ck_assert_int_eq(cio_future_result(self->t, NULL), VALUE_ERROR);
    cio_future_unref(self->t);
    CIO_END();
}

START_TEST(test_T9_task_raises)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(RUN_TASK(loop, NULL, t9_main), 0);
    ck_assert_str_eq(tr.buf, "await-raised");
    /* run_until_complete raises it too (and so retrieves it) */
    ck_assert_int_eq(RUN_TASK(loop, NULL, raiser, .err = VALUE_ERROR, .delay = 0.001),
                     VALUE_ERROR);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T10: set_result / set_error on a task; a task awaiting itself
 * ------------------------------------------------------------------------ */

CIO_ASYNC(t10_body, int propagate;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_future_set_int(cio_task_current(loop), 1), CIO_ENOTSUP);
    ck_assert_int_eq(cio_future_set_error(cio_task_current(loop), VALUE_ERROR), CIO_ENOTSUP);
    CIO_AWAIT(cio_sleep(loop, 0));
    if (self->propagate) {
        CIO_AWAIT(cio_future_ref(cio_task_current(loop)));
        trace_add(&tr, "not-reached");
    }
    CIO_AWAIT_TRY(cio_future_ref(cio_task_current(loop)));
    ck_assert_int_eq(CIO_ERROR, CIO_ESELFAWAIT);
    trace_add(&tr, "self-await-refused");
    ck_assert(!cio_future_done(cio_task_current(loop)));
    CIO_RETURN(3);
    CIO_END();
}

START_TEST(test_T10_set_methods_and_self_await)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;
    cio_value v;

    t = CIO_START(loop, t10_body, .propagate = 0);
    ck_assert_ptr_nonnull(t);
    /* from outside, pending: refused, nothing changes */
    ck_assert_int_eq(cio_future_set_int(t, 9), CIO_ENOTSUP);
    ck_assert_int_eq(cio_future_set_ptr(t, &r), CIO_ENOTSUP);
    ck_assert_int_eq(cio_future_set_result(t, int_value(9)), CIO_ENOTSUP);
    ck_assert_int_eq(cio_future_set_error(t, VALUE_ERROR), CIO_ENOTSUP);
    ck_assert(!cio_future_done(t));
    v.i = 0;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), &v), 0);
    ck_assert_int_eq(v.i, 3);
    ck_assert_str_eq(tr.buf, "self-await-refused");
    /* done: still refused, the result stays */
    ck_assert_int_eq(cio_future_set_int(t, 9), CIO_ENOTSUP);
    ck_assert_int_eq(cio_future_set_error(t, VALUE_ERROR), CIO_ENOTSUP);
    ck_assert_int_eq(cio_future_int(t), 3);
    cio_future_unref(t);

    /* test_task_awaits_on_itself: uncaught, the error ends the task */
    reset_trace();
    ck_assert_int_eq(RUN_TASK(loop, NULL, t10_body, .propagate = 1), CIO_ESELFAWAIT);
    ck_assert_str_eq(tr.buf, "");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T11: current task; no running loop
 * ------------------------------------------------------------------------ */

static cio_future *current_seen;

static int record_current(cio_loop *loop, void *arg)
{
    *(cio_future **)arg = cio_task_current(loop);
    trace_add(&tr, "callback");
    return 0;
}

CIO_ASYNC(t11_inner, int unused;)
{
    CIO_BEGIN();
    /* an inline coroutine runs in its caller's task */
    ck_assert_ptr_eq(cio_task_current(loop), current_seen);
    CIO_AWAIT(cio_sleep(loop, 0));
    ck_assert_ptr_eq(cio_task_current(loop), current_seen);
    CIO_END();
}

CIO_ASYNC(t11_body, cio_future **in_callback; t11_inner inner;)
{
    CIO_BEGIN();
    current_seen = cio_task_current(loop);
    ck_assert_ptr_nonnull(current_seen);
    ck_assert(cio_task_is_task(current_seen));
    ck_assert_int_eq(cio_loop_call_soon(loop, record_current, self->in_callback, NULL), 0);
    CIO_AWAIT(cio_sleep(loop, 0.001));
    ck_assert_ptr_eq(cio_task_current(loop), current_seen);
    CIO_CALL(t11_inner, inner);
    trace_add(&tr, "task");
    CIO_END();
}

/* Awaiting outside any task: CIO_ENOLOOP. */
CIO_ASYNC(t11_outside, int unused;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 0.01));
    trace_add(&tr, "not-reached");
    CIO_END();
}

START_TEST(test_T11_current_task)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *in_callback = (cio_future *)&in_callback;    /* not NULL */
    cio_future *t;
    t11_outside fr;

    current_seen = NULL;
    ck_assert_ptr_null(cio_task_current(loop));            /* not running */
    ck_assert_ptr_null(cio_task_current(NULL));
    t = CIO_START(loop, t11_body, .in_callback = &in_callback);
    ck_assert_ptr_null(cio_task_current(loop));            /* not started */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL), 0);
    ck_assert_ptr_eq(current_seen, t);
    ck_assert_ptr_null(in_callback);        /* a plain callback has no task */
    ck_assert_ptr_null(cio_task_current(loop));
    ck_assert_str_eq(tr.buf, "callback task");
    cio_future_unref(t);

    /* a coroutine stepped by hand, with no task running */
    reset_trace();
    memset(&fr, 0, sizeof fr);
    ck_assert_int_eq(t11_outside__step(&fr.cio, loop), CIO_CORO_DONE);
    ck_assert(cio_coro_done(&fr.cio));
    ck_assert_int_eq(fr.cio.err, CIO_ENOLOOP);
    /* and with no loop at all */
    memset(&fr, 0, sizeof fr);
    ck_assert_int_eq(t11_outside__step(&fr.cio, NULL), CIO_CORO_DONE);
    ck_assert_int_eq(fr.cio.err, CIO_ENOLOOP);
    ck_assert_str_eq(tr.buf, "");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T12: sleep(0) yields exactly one iteration
 * ------------------------------------------------------------------------ */

CIO_ASYNC(t12_ab, const char *name; double delay;)
{
    CIO_BEGIN();
    tracef("%s1", self->name);
    CIO_AWAIT(cio_sleep(loop, self->delay));
    tracef("%s2", self->name);
    CIO_AWAIT(cio_sleep(loop, self->delay));
    tracef("%s3", self->name);
    CIO_END();
}

CIO_ASYNC(t12_count, unsigned long it;)
{
    CIO_BEGIN();
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(cio_sleep(loop, 0));
    trace_addf(&tr, "sleep0=%ld", (long)(cio_loop_iteration(loop) - self->it));
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(cio_sleep(loop, -5));
    trace_addf(&tr, "sleep-5=%ld", (long)(cio_loop_iteration(loop) - self->it));
    self->it = cio_loop_iteration(loop);
    CIO_YIELD();
    trace_addf(&tr, "yield=%ld", (long)(cio_loop_iteration(loop) - self->it));
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(cio_sleep_result(loop, 0, int_value(17)));
    trace_addf(&tr, "sleep0-result=%ld", (long)CIO_RESULT.i);
    trace_addf(&tr, "iterations=%ld", (long)(cio_loop_iteration(loop) - self->it));
    CIO_AWAIT(cio_sleep_result(loop, 0.01, ptr_value("val")));
    ck_assert_ptr_nonnull(CIO_RESULT.p);
    trace_add(&tr, (const char *)CIO_RESULT.p);
    CIO_END();
}

START_TEST(test_T12_sleep_zero_yields_one_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, t12_ab, .name = "a", .delay = 0),
        CIO_START(loop, t12_ab, .name = "b", .delay = 0) }), NULL), 0);
    ck_assert_str_eq(tr.buf, "a1 b1 a2 b2 a3 b3");

    /* sleep(-5) behaves like sleep(0) */
    reset_trace();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, t12_ab, .name = "a", .delay = -5),
        CIO_START(loop, t12_ab, .name = "b", .delay = -5) }), NULL), 0);
    ck_assert_str_eq(tr.buf, "a1 b1 a2 b2 a3 b3");

    reset_trace();
    ck_assert_int_eq(RUN_TASK(loop, NULL, t12_count), 0);
    ck_assert_str_eq(tr.buf, "sleep0=1 sleep-5=1 yield=1 sleep0-result=17 iterations=1 val");
    loop_done(loop, &r, 0);
}
END_TEST

/* sleep(0.01, result='val') returns 'val', in a task and outside one. */
START_TEST(test_T12_sleep_result_returns_value)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;

    v.p = NULL;
    ck_assert_int_eq(cio_loop_run_until_complete(loop,
                     cio_sleep_result(loop, 0.01, ptr_value("val")), &v), 0);
    ck_assert_ptr_nonnull(v.p);
    ck_assert_str_eq((const char *)v.p, "val");
    v.i = 0;
    ck_assert_int_eq(cio_loop_run_until_complete(loop,
                     cio_sleep_result(loop, 0, int_value(-8)), &v), 0);
    ck_assert_int_eq(v.i, -8);
    ck_assert_int_eq(RUN_TASK(loop, NULL, t12_count), 0);
    ck_assert_str_eq(tr.buf, "sleep0=1 sleep-5=1 yield=1 sleep0-result=17 iterations=1 val");
    loop_done(loop, &r, 0);
}
END_TEST

/* CIO_YIELD takes a path of its own (no sleep is made), and must be
 * awaiting sleep(0) in every way: its outcome, cancellation at it, a yield
 * in the finally section, a yield outside any task. Each body runs once
 * yielding with CIO_YIELD ("Y") and once awaiting sleep(0) ("S"). */
#define T12_YIELD(how)                                                        \
    do {                                                                      \
        if (how == 'Y')                                                       \
            CIO_YIELD();                                                      \
        else                                                                  \
            CIO_AWAIT(cio_sleep(loop, 0));                                    \
    } while (0)

CIO_ASYNC(t12_yielder, int how; int mode; long n;)
{
    CIO_BEGIN();
    if (self->mode == 3)
        T12_YIELD(self->how);           /* stepped outside a task */
    CIO_AWAIT(cio_sleep_result(loop, 0, int_value(17)));
    tracef("%c:got=%ld", self->how, (long)CIO_RESULT.i);
    T12_YIELD(self->how);               /* the last outcome goes */
    tracef("%c:after=%ld/%ld", self->how, (long)CIO_RESULT.i, (long)CIO_ERROR);
    while (self->mode == 1) {           /* cancelled at a yield */
        self->n++;
        T12_YIELD(self->how);
    }
    CIO_RETURN(self->n);
    CIO_FINALLY();
    tracef("%c:finally=%ld:n=%ld", self->how, (long)CIO_ERROR, self->n);
    if (self->mode == 2)
        T12_YIELD(self->how);           /* a finally section may not await */
    CIO_END();
}

START_TEST(test_T12_yield_is_sleep_zero)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t[2];
    t12_yielder fr;
    char expect[256];
    unsigned long it;
    int i;

    /* two of each, in lockstep: the same trace, one iteration per yield */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, t12_yielder, .how = 'Y'),
        CIO_START(loop, t12_yielder, .how = 'S') }), NULL), 0);
    ck_assert_str_eq(tr.buf, "Y:got=17 S:got=17 Y:after=0/0 Y:finally=0:n=0 "
                             "S:after=0/0 S:finally=0:n=0");

    /* cancelled while yielding: CIO_ECANCELLED at the yield, after as many
     * yields each (the five runs took ten iterations; two went to the
     * first await and the first yield) */
    reset_trace();
    t[0] = CIO_START(loop, t12_yielder, .how = 'Y', .mode = 1);
    t[1] = CIO_START(loop, t12_yielder, .how = 'S', .mode = 1);
    it = cio_loop_iteration(loop);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    ck_assert_uint_eq(cio_loop_iteration(loop) - it, 10);
    ck_assert_int_eq(cio_future_cancel(t[0], NULL), 1);
    ck_assert_int_eq(cio_future_cancel(t[1], NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        cio_future_ref(t[0]), cio_future_ref(t[1]) }), NULL), CIO_ECANCELLED);
    ck_assert(cio_future_cancelled(t[0]));
    ck_assert(cio_future_cancelled(t[1]));
    snprintf(expect, sizeof expect, "Y:got=17 S:got=17 Y:after=0/0 S:after=0/0 "
             "Y:finally=%d:n=8 S:finally=%d:n=8", CIO_ECANCELLED, CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    cio_future_unref(t[0]);
    cio_future_unref(t[1]);

    /* a yield in the finally section fails the task with CIO_EINVALSTATE */
    reset_trace();
    ck_assert_int_eq(RUN_TASK(loop, NULL, t12_yielder, .how = 'Y', .mode = 2), CIO_EINVALSTATE);
    ck_assert_int_eq(RUN_TASK(loop, NULL, t12_yielder, .how = 'S', .mode = 2), CIO_EINVALSTATE);
    ck_assert_str_eq(tr.buf, "Y:got=17 Y:after=0/0 Y:finally=0:n=0 "
                             "S:got=17 S:after=0/0 S:finally=0:n=0");

    /* stepped by hand, outside any task, a loop or none: CIO_ENOLOOP at
     * the yield */
    for (i = 0; i < 4; i++) {
        reset_trace();
        memset(&fr, 0, sizeof fr);
        fr.how = i % 2 ? 'S' : 'Y';
        fr.mode = 3;
        ck_assert_int_eq(t12_yielder__step(&fr.cio, i < 2 ? loop : NULL), CIO_CORO_DONE);
        ck_assert_int_eq(fr.cio.err, CIO_ENOLOOP);
        snprintf(expect, sizeof expect, "%c:finally=%d:n=0", fr.how, CIO_ENOLOOP);
        ck_assert_str_eq(tr.buf, expect);
    }
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T14: awaiting a plain coroutine (CIO_CALL) runs it inline
 * ------------------------------------------------------------------------ */

CIO_ASYNC(t14_leaf, int x;)
{
    CIO_BEGIN();
    trace_addf(&tr, "leaf%ld", (long)self->x);
    CIO_RETURN(self->x * 10);
    CIO_END();
}

CIO_ASYNC(t14_mid, int x; t14_leaf leaf;)
{
    CIO_BEGIN();
    CIO_CALL(t14_leaf, leaf, .x = self->x);
    CIO_RETURN(CIO_RESULT.i + 1);
    CIO_END();
}

CIO_ASYNC(t14_body, unsigned long it; ptrdiff_t sum; t14_mid mid; t14_leaf leaf;)
{
    CIO_BEGIN();
    self->it = cio_loop_iteration(loop);
    trace_add(&tr, "body-start");
    CIO_CALL(t14_mid, mid, .x = 1);
    self->sum = CIO_RESULT.i;
    CIO_CALL(t14_leaf, leaf, .x = 2); self->sum += CIO_RESULT.i; CIO_CALL(t14_leaf, leaf, .x = 3);
    self->sum += CIO_RESULT.i;
    ck_assert_uint_eq(cio_loop_iteration(loop), self->it);     /* never yielded */
    trace_add(&tr, "body-end");
    CIO_RETURN(self->sum);
    CIO_END();
}

CIO_ASYNC(t14_other, int unused;)
{
    CIO_BEGIN();
    trace_add(&tr, "other");
    CIO_END();
}

CIO_ASYNC(t14_main, cio_future *t; cio_future *o;)
{
    CIO_BEGIN();
    self->t = CIO_START(loop, t14_body);
    self->o = CIO_START(loop, t14_other);
    CIO_YIELD();
    /* a task whose body only awaits inline coroutines: done after one iteration */
    ck_assert(cio_future_done(self->t));
    trace_add(&tr, "main");
    CIO_AWAIT(self->o);
    CIO_AWAIT(self->t);
    CIO_RETURN(CIO_RESULT.i);
    CIO_END();
}

START_TEST(test_T14_await_coroutine_inline)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;

    ck_assert_int_eq(RUN_TASK(loop, &v, t14_main), 0);
    ck_assert_int_eq(v.i, 11 + 20 + 30);
    ck_assert_str_eq(tr.buf, "body-start leaf1 leaf2 leaf3 body-end other main");
    loop_done(loop, &r, 0);
}
END_TEST

/* An inline coroutine that suspends suspends its caller's task with it;
 * CIO_CALL propagates its error, CIO_CALL_TRY keeps it. */
CIO_ASYNC(call_child, int err; double delay;)
{
    CIO_BEGIN();
    trace_add(&tr, "child-start");
    CIO_AWAIT(cio_sleep(loop, self->delay));
    trace_add(&tr, "child-woke");
    if (self->err)
        CIO_RAISE(self->err);
    CIO_RETURN(21);
    CIO_FINALLY();
    trace_addf(&tr, "child-finally=%ld", (long)CIO_ERROR);
    CIO_END();
}

CIO_ASYNC(call_parent, int err; double delay; int try_; call_child child;)
{
    CIO_BEGIN();
    if (self->try_) {
        CIO_CALL_TRY(call_child, child, .err = self->err, .delay = self->delay);
        trace_addf(&tr, "parent-kept=%ld", (long)CIO_ERROR);
        CIO_RETURN(CIO_ERROR == 0 ? CIO_RESULT.i : 1);
    }
    CIO_CALL(call_child, child, .err = self->err, .delay = self->delay);
    trace_addf(&tr, "parent-got=%ld", (long)CIO_RESULT.i);
    CIO_RETURN(CIO_RESULT.i * 2);
    CIO_FINALLY();
    trace_addf(&tr, "parent-finally=%ld", (long)CIO_ERROR);
    CIO_END();
}

CIO_ASYNC(ticker, int n; int i;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        trace_addf(&tr, "tick%ld", (long)self->i);
        CIO_YIELD();
    }
    CIO_END();
}

START_TEST(test_T14_call_suspends_and_propagates)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;
    char expect[256];

    /* the child's sleep(0) suspends the task for one iteration */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, call_parent, .delay = 0),
        CIO_START(loop, ticker, .n = 2) }), &v), 0);
    ck_assert_int_eq(cio_gather_result(v.p, 0, &v), 0);
    ck_assert_int_eq(v.i, 42);
    ck_assert_str_eq(tr.buf, "child-start tick0 child-woke child-finally=0 parent-got=21 "
                             "parent-finally=0 tick1");

    reset_trace();
    ck_assert_int_eq(RUN_TASK(loop, NULL, call_parent, .err = VALUE_ERROR, .delay = 0.001),
                     VALUE_ERROR);
    snprintf(expect, sizeof expect, "child-start child-woke child-finally=%d parent-finally=%d",
             VALUE_ERROR, VALUE_ERROR);
    ck_assert_str_eq(tr.buf, expect);

    reset_trace();
    ck_assert_int_eq(RUN_TASK(loop, &v, call_parent, .err = VALUE_ERROR, .delay = 0.001,
                              .try_ = 1), 0);
    ck_assert_int_eq(v.i, 1);
    snprintf(expect, sizeof expect, "child-start child-woke child-finally=%d parent-kept=%d "
             "parent-finally=0", VALUE_ERROR, VALUE_ERROR);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* Cancelling a task whose inline coroutine sleeps: the child sees the
 * cancellation at its await, both finally sections run. */
START_TEST(test_T14_cancel_reaches_inline_coroutine)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;
    char expect[256];

    t = CIO_START(loop, call_parent, .delay = 10);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL),
                     CIO_ECANCELLED);
    ck_assert(cio_future_cancelled(t));
    snprintf(expect, sizeof expect, "child-start child-finally=%d parent-finally=%d",
             CIO_ECANCELLED, CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    cio_future_unref(t);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T15: cancelling a sleeping task cancels the sleep's timer
 * ------------------------------------------------------------------------ */

CIO_ASYNC(sleeper, double delay;)
{
    CIO_BEGIN();
    trace_add(&tr, "sleep");
    CIO_AWAIT(cio_sleep(loop, self->delay));
    trace_add(&tr, "woke");
    CIO_END();
}

START_TEST(test_T15_cancel_sleeping_task_cancels_timer)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;
    double start;

    /* a 10 s sleep, cancelled: the task finishes at once, not in 10 s */
    t = CIO_START(loop, sleeper, .delay = 10);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    start = monotonic_now();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, t, NULL), CIO_ECANCELLED);
    ck_assert_double_lt(monotonic_now() - start, 5.0);

    /* a 0.05 s sleep, cancelled: once the task is gone, the loop runs past
     * the old deadline and nothing fires (valgrind sees any stale timer) */
    t = CIO_START(loop, sleeper, .delay = stretch(0.05));
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, t, NULL), CIO_ECANCELLED);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, stretch(0.1)), NULL), 0);
    ck_assert_str_eq(tr.buf, "sleep sleep");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * T16: "Task exception was never retrieved"
 * ------------------------------------------------------------------------ */

START_TEST(test_T16_task_exception_never_retrieved)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;
    uintptr_t first, third;

    /* nobody holds it: reported when the task finishes and goes away */
    t = CIO_START(loop, raiser, .err = KEY_ERROR);
    first = (uintptr_t)t;
    cio_future_unref(t);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.messages[0], "Task exception was never retrieved");
    ck_assert_int_eq(r.errs[0], KEY_ERROR);
    ck_assert((uintptr_t)r.futures[0] == first);

    /* retrieved first: nothing reported */
    t = CIO_START(loop, raiser, .err = KEY_ERROR);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert(cio_future_done(t));
    ck_assert_int_eq(cio_future_error(t), KEY_ERROR);
    cio_future_unref(t);
    ck_assert_int_eq(r.count, 1);

    /* held past its end, then dropped unretrieved: reported at the drop */
    t = CIO_START(loop, raiser, .err = KEY_ERROR);
    third = (uintptr_t)t;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert(cio_future_done(t));
    ck_assert_int_eq(r.count, 1);
    cio_future_unref(t);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(r.messages[1], "Task exception was never retrieved");
    ck_assert_int_eq(r.errs[1], KEY_ERROR);
    ck_assert((uintptr_t)r.futures[1] == third);

    /* a cancelled task nobody awaits is not an error to report */
    t = CIO_START(loop, sleeper, .delay = 10);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    cio_future_unref(t);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    loop_done(loop, &r, 2);
}
END_TEST

/* ------------------------------------------------------------------------
 * T17: "Task was destroyed but it is pending!"
 * ------------------------------------------------------------------------ */

START_TEST(test_T17_task_destroyed_pending)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;
    uintptr_t sleeping, unstarted;
    int i;

    t = CIO_START(loop, sleeper, .delay = 10);
    sleeping = (uintptr_t)t;
    cio_future_unref(t);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    t = CIO_START(loop, sleeper, .delay = 10);              /* never started */
    unstarted = (uintptr_t)t;
    cio_future_unref(t);
    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert(cio_loop_is_closed(loop));
    ck_assert_int_eq(r.count, 0);
    ck_assert_ptr_null(CIO_START(loop, sleeper, .delay = 1));  /* closed: no task */
    loop_done(loop, &r, 2);
    for (i = 0; i < 2; i++) {
        ck_assert_str_eq(r.messages[i], "Task was destroyed but it is pending!");
        ck_assert((uintptr_t)r.futures[i] == sleeping || (uintptr_t)r.futures[i] == unstarted);
    }
    ck_assert(r.futures[0] != r.futures[1]);
    ck_assert_str_eq(tr.buf, "sleep");
}
END_TEST

/* ------------------------------------------------------------------------
 * The finally section; CIO_AWAIT vs CIO_AWAIT_TRY; two awaits on one line
 * ------------------------------------------------------------------------ */

CIO_ASYNC(fin_body, int mode; const char *name;)
{
    CIO_BEGIN();
    if (self->mode == 0)
        CIO_RETURN(5);
    if (self->mode == 1)
        CIO_RAISE(VALUE_ERROR);
    if (self->mode == 2)
        CIO_AWAIT(cio_sleep(loop, 10));     /* cancelled here */
    trace_add(&tr, "fell-through");
    CIO_FINALLY();
    tracef("%s:err=%ld:result=%ld", self->name, (long)CIO_ERROR, (long)CIO_RESULT.i);
    CIO_END();
}

START_TEST(test_finally_runs_on_return_error_and_cancel)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t[4];
    cio_value v;
    char expect[512];
    int i;

    t[0] = CIO_START(loop, fin_body, .mode = 0, .name = "ret");
    t[1] = CIO_START(loop, fin_body, .mode = 1, .name = "err");
    t[2] = CIO_START(loop, fin_body, .mode = 2, .name = "cancel");
    t[3] = CIO_START(loop, fin_body, .mode = 3, .name = "end");
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(t[2], NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t[2]), NULL),
                     CIO_ECANCELLED);
    snprintf(expect, sizeof expect,
             "ret:err=0:result=5 err:err=%d:result=0 fell-through end:err=0:result=0 "
             "cancel:err=%d:result=0", VALUE_ERROR, CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    v.i = 0;
    ck_assert_int_eq(cio_future_result(t[0], &v), 0);
    ck_assert_int_eq(v.i, 5);
    ck_assert_int_eq(cio_future_error(t[1]), VALUE_ERROR);
    ck_assert(cio_future_cancelled(t[2]));
    ck_assert_int_eq(cio_future_result(t[3], &v), 0);
    ck_assert_int_eq(v.i, 0);
    for (i = 0; i < 4; i++)
        cio_future_unref(t[i]);
    loop_done(loop, &r, 0);
}
END_TEST

CIO_ASYNC(prop_body, int try_;)
{
    CIO_BEGIN();
    if (self->try_) {
        CIO_AWAIT_TRY(CIO_START(loop, raiser, .err = VALUE_ERROR));
        trace_addf(&tr, "handled=%ld", (long)CIO_ERROR);
        CIO_AWAIT_TRY(CIO_START(loop, raiser, .err = KEY_ERROR, .delay = 0.001));
        trace_addf(&tr, "handled=%ld", (long)CIO_ERROR);
        CIO_RETURN(9);
    }
    CIO_AWAIT(CIO_START(loop, raiser, .err = VALUE_ERROR, .delay = 0.001));
    trace_add(&tr, "not-reached");
    CIO_FINALLY();
    trace_addf(&tr, "finally=%ld", (long)CIO_ERROR);
    CIO_END();
}

START_TEST(test_await_propagates_await_try_handles)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;
    char expect[256];

    ck_assert_int_eq(RUN_TASK(loop, NULL, prop_body, .try_ = 0), VALUE_ERROR);
    snprintf(expect, sizeof expect, "finally=%d", VALUE_ERROR);
    ck_assert_str_eq(tr.buf, expect);

    reset_trace();
    v.i = 0;
    ck_assert_int_eq(RUN_TASK(loop, &v, prop_body, .try_ = 1), 0);
    ck_assert_int_eq(v.i, 9);
    snprintf(expect, sizeof expect, "handled=%d handled=%d finally=0", VALUE_ERROR, KEY_ERROR);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

CIO_ASYNC(two_on_a_line, int unused;)
{
    CIO_BEGIN();
    /* keep these on one line: two resume points sharing __LINE__ */
    CIO_AWAIT(cio_sleep_result(loop, 0, int_value(1))); trace_addf(&tr, "r%ld", (long)CIO_RESULT.i); CIO_AWAIT(cio_sleep_result(loop, 0, int_value(2))); trace_addf(&tr, "r%ld", (long)CIO_RESULT.i);
    CIO_AWAIT_TRY(cio_sleep_result(loop, 0, int_value(3))); CIO_AWAIT_TRY(cio_sleep_result(loop, 0, int_value(4)));
    trace_addf(&tr, "r%ld", (long)CIO_RESULT.i);
    CIO_END();
}

START_TEST(test_two_awaits_on_one_line)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, two_on_a_line),
        CIO_START(loop, ticker, .n = 4) }), NULL), 0);
    ck_assert_str_eq(tr.buf, "tick0 r1 tick1 r2 tick2 tick3 r4");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Names and caller storage
 * ------------------------------------------------------------------------ */

CIO_ASYNC(named_body, int unused;)
{
    CIO_BEGIN();
    trace_add(&tr, cio_task_name(cio_task_current(loop)));
    CIO_AWAIT(cio_sleep(loop, 0));
    CIO_END();
}

START_TEST(test_task_set_name_and_name)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t, *f;
    char buf[16] = "worker-1";

    t = CIO_START(loop, named_body);
    ck_assert(cio_task_is_task(t));
    ck_assert_str_eq(cio_task_name(t), "named_body");
    ck_assert_int_eq(cio_task_set_name(t, buf), 0);
    buf[0] = 'X';                           /* the name was copied */
    ck_assert_str_eq(cio_task_name(t), "worker-1");
    ck_assert_int_eq(cio_task_set_name(t, "worker-2"), 0);
    ck_assert_str_eq(cio_task_name(t), "worker-2");
    ck_assert_int_lt(cio_task_set_name(t, NULL), 0);    /* refused, nothing changes */
    ck_assert_str_eq(cio_task_name(t), "worker-2");
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL), 0);
    ck_assert_str_eq(tr.buf, "worker-2");
    ck_assert_str_eq(cio_task_name(t), "worker-2");
    cio_future_unref(t);

    f = cio_future_new(loop);
    ck_assert(!cio_task_is_task(f));
    ck_assert_ptr_null(cio_task_name(f));
    ck_assert_int_eq(cio_task_set_name(f, "x"), CIO_ENOTTASK);
    ck_assert_int_eq(cio_task_set_name(NULL, "x"), CIO_ENOTTASK);
    ck_assert_ptr_null(cio_task_name(NULL));
    ck_assert(!cio_task_is_task(NULL));
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

CIO_ASYNC(in_storage, int x;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 0.001));
    CIO_AWAIT(cio_sleep(loop, 0));
    CIO_RETURN(self->x * 2);
    CIO_END();
}

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

START_TEST(test_task_new_in_caller_storage)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    union {
        double d;
        void *p;
        long long ll;
        unsigned char b[CIO_TASK_SIZE(in_storage)];
    } st, st2;
    cio_future *t, *t2;
    cio_value v;
    unsigned long before;

    ck_assert_uint_le(cio_task_size(&in_storage__type), CIO_TASK_SIZE(in_storage));
    /* too small, misaligned: NULL */
    ck_assert_ptr_null(CIO_START_IN(loop, st.b, cio_task_size(&in_storage__type) - 1,
                                    in_storage, .x = 1));
    ck_assert_ptr_null(CIO_START_IN(loop, st.b + 1, sizeof st.b - 1, in_storage, .x = 1));
    ck_assert_ptr_null(CIO_START_IN(loop, NULL, sizeof st.b, in_storage, .x = 1));

    /* exactly cio_task_size bytes, and no allocation */
    cio_set_allocator(counting_realloc, NULL);
    before = alloc_count;
    t = CIO_START_IN(loop, st.b, cio_task_size(&in_storage__type), in_storage, .x = 4);
    t2 = CIO_START_IN(loop, st2.b, sizeof st2.b, in_storage, .x = 5);
    ck_assert_uint_eq(alloc_count, before);
    cio_set_allocator(NULL, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(t2);
    ck_assert(cio_task_is_task(t));
    ck_assert_int_eq(cio_task_set_name(t2, "stored"), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        cio_future_ref(t), cio_future_ref(t2) }), &v), 0);
    ck_assert_int_eq(cio_future_int(t), 8);
    ck_assert_int_eq(cio_future_int(t2), 10);
    ck_assert_str_eq(cio_task_name(t2), "stored");
    cio_future_unref(t);
    cio_future_unref(t2);
    loop_done(loop, &r, 0);     /* before the storage goes */
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("task");

    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, reset_trace, NULL);
    tcase_add_test(tc, test_T1_tasks_start_in_creation_order);
    tcase_add_test(tc, test_T2_cancel_before_first_step);
    tcase_add_test(tc, test_T3_cancel_sleeping_task);
    tcase_add_test(tc, test_T3_task_handling_cancel_is_not_cancelled);
    tcase_add_test(tc, test_T3_cancel_after_awaited_future_completed);
    tcase_add_test(tc, test_T7_self_cancel_and_cancel_of_done_task);
    tcase_add_test(tc, test_T9_task_raises);
    tcase_add_test(tc, test_T10_set_methods_and_self_await);
    tcase_add_test(tc, test_T11_current_task);
    tcase_add_test(tc, test_T12_sleep_zero_yields_one_iteration);
    tcase_add_test(tc, test_T12_sleep_result_returns_value);
    tcase_add_test(tc, test_T12_yield_is_sleep_zero);
    tcase_add_test(tc, test_T14_await_coroutine_inline);
    tcase_add_test(tc, test_T14_call_suspends_and_propagates);
    tcase_add_test(tc, test_T14_cancel_reaches_inline_coroutine);
    tcase_add_test(tc, test_T15_cancel_sleeping_task_cancels_timer);
    tcase_add_test(tc, test_T16_task_exception_never_retrieved);
    tcase_add_test(tc, test_T17_task_destroyed_pending);
    tcase_add_test(tc, test_finally_runs_on_return_error_and_cancel);
    tcase_add_test(tc, test_await_propagates_await_try_handles);
    tcase_add_test(tc, test_two_awaits_on_one_line);
    tcase_add_test(tc, test_task_set_name_and_name);
    tcase_add_test(tc, test_task_new_in_caller_storage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(task_suite);
}
