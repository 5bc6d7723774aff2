/* test_semantics.c - the asyncio semantics of issue 3 not covered by the
 * other suites: wait_for, as_completed, shield, timeout scopes, task
 * groups, cio_run, cancellation counts and messages, reporting through the
 * exception handler, introspection and debug mode (asyncio-cases.md: C15,
 * C16, C18, C20-C25, L18, T3's message).
 *
 * Where asyncio-cases.md is silent the expected outcome is what a small
 * asyncio program did on CPython 3.11 (quoted next to each test).
 *
 * Children are tasks that sleep, then return a value or raise; they trace
 * their name when they return, "<name>-raise" when they raise and
 * "<name>-cancelled" from their finally section when cancelled. asyncio's
 * ValueError and KeyError are stood for by negated errno values cio itself
 * never produces. Times are only checked as "not before" bounds and
 * generous upper bounds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"

#define VALUE_ERROR (-EDOM)
#define KEY_ERROR (-ENOENT)





static double monotonic_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Trace "<name><suffix>"; a child without a name traces nothing. */
static void kid_trace(const char *name, const char *suffix)
{
    if (name != NULL)
        tracef("%s%s", name, suffix);
}

/* A child: sleeps `delay`, then returns `value` or raises `err`. Cancelled
 * at its sleep it re-raises, unless `on_cancel_return` (it then returns
 * `value`, asyncio's task ignoring the cancel) or `on_cancel_raise` (it
 * raises that instead). */
CIO_ASYNC(child, const char *name; double delay; int err; ptrdiff_t value;
          int on_cancel_return; int on_cancel_raise;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_sleep(loop, self->delay));
    if (CIO_ERROR == CIO_ECANCELLED && self->on_cancel_return) {
        kid_trace(self->name, "-ignores");
        CIO_RETURN(self->value);
    }
    if (CIO_ERROR == CIO_ECANCELLED && self->on_cancel_raise) {
        kid_trace(self->name, "-raise");
        CIO_RAISE(self->on_cancel_raise);
    }
    if (CIO_ERROR)
        CIO_RAISE(CIO_ERROR);
    if (self->err) {
        kid_trace(self->name, "-raise");
        CIO_RAISE(self->err);
    }
    kid_trace(self->name, "");
    CIO_RETURN(self->value);
    CIO_FINALLY();
    if (CIO_ERROR == CIO_ECANCELLED)
        kid_trace(self->name, "-cancelled");
    CIO_END();
}

#define KID(loop, nm, d, v) CIO_START((loop), child, .name = (nm), .delay = (d), .value = (v))
#define BAD(loop, nm, d, e) CIO_START((loop), child, .name = (nm), .delay = (d), .err = (e))

/* A child that waits for future `go` (taking the reference), then raises. */
CIO_ASYNC(gated, const char *name; cio_future *go; int err;)
{
    CIO_BEGIN();
    CIO_AWAIT(self->go);
    tracef("%s-raise", self->name);
    CIO_RAISE(self->err);
    CIO_END();
}

static int set_future_cb(cio_loop *loop, void *arg)
{
    (void)loop;
    ck_assert_int_eq(cio_future_set_int(arg, 1), 0);
    return 0;
}

/* ========================================================================
 * Cancellation: counts, messages, what a cancel reaches
 * ======================================================================== */

/* asyncio 3.11: cancel() twice -> cancelling() 2; uncancel() -> 1; the
 * awaiter gets CancelledError; afterwards cancelled() and cancelling() 1. */
CIO_ASYNC(counts_main, cio_future *t;)
{
    CIO_BEGIN();
    self->t = KID(loop, "t", 10, 't');
    ck_assert_int_eq(cio_task_cancelling(self->t), 0);
    CIO_YIELD();                            /* t sleeps */
    tracef("cancel=%d", cio_future_cancel(self->t, NULL));
    tracef("cancelling=%d", cio_task_cancelling(self->t));
    tracef("cancel=%d", cio_future_cancel(self->t, NULL));
    tracef("cancelling=%d", cio_task_cancelling(self->t));
    tracef("uncancel=%d", cio_task_uncancel(self->t));
    tracef("cancelling=%d", cio_task_cancelling(self->t));
    CIO_AWAIT_TRY(cio_future_ref(self->t));
    tracef("await=%d", CIO_ERROR);
    tracef("cancelled=%d", cio_future_cancelled(self->t));
    tracef("cancelling=%d", cio_task_cancelling(self->t));
    cio_future_unref(self->t);
    CIO_END();
}

/* A task that handles its cancellation, takes the request back and goes
 * on awaiting (the pattern cancelling/uncancel exist for). */
CIO_ASYNC(uncancel_body, int unused;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_sleep(loop, 10));
    tracef("caught=%d", CIO_ERROR);
    tracef("cancelling=%d", cio_task_cancelling(cio_task_current(loop)));
    tracef("uncancel=%d", cio_task_uncancel(cio_task_current(loop)));
    CIO_AWAIT(cio_sleep(loop, 0.001));      /* not cancelled again */
    trace_add(&tr, "slept-again");
    CIO_RETURN(8);
    CIO_END();
}

START_TEST(test_cancelling_and_uncancel_counts)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t, *f;
    cio_value v;
    char expect[256];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, counts_main), NULL), 0);
    snprintf(expect, sizeof expect, "cancel=1 cancelling=1 cancel=1 cancelling=2 uncancel=1 "
             "cancelling=1 t-cancelled await=%d cancelled=1 cancelling=1", CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);

    reset_trace();
    t = CIO_START(loop, uncancel_body);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    v.i = 0;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), &v), 0);
    ck_assert_int_eq(v.i, 8);
    ck_assert(!cio_future_cancelled(t));
    ck_assert_int_eq(cio_task_cancelling(t), 0);
    snprintf(expect, sizeof expect, "caught=%d cancelling=1 uncancel=0 slept-again",
             CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    cio_future_unref(t);

    /* cio follows asyncio 3.12: uncancel() down to zero before the task
     * ran drops the cancellation (3.11 still delivered it) */
    reset_trace();
    t = KID(loop, "late", 0.001, 'l');
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    ck_assert_int_eq(cio_task_cancelling(t), 1);
    ck_assert_int_eq(cio_task_uncancel(t), 0);
    ck_assert_int_eq(cio_task_uncancel(t), 0);      /* never below zero */
    v.i = 0;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), &v), 0);
    ck_assert_int_eq(v.i, 'l');
    ck_assert_str_eq(tr.buf, "late");
    cio_future_unref(t);

    /* not a task */
    f = cio_future_new(loop);
    ck_assert_int_eq(cio_task_cancelling(f), 0);
    ck_assert_int_eq(cio_task_uncancel(f), CIO_ENOTTASK);
    ck_assert_int_eq(cio_task_uncancel(NULL), CIO_ENOTTASK);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* T3 with a message: cancel('why') on a sleeping task; the awaiter gets
 * CancelledError and the message is on the task. asyncio 3.11: an awaiter
 * that lets it propagate is cancelled with the same message ('why',). */
CIO_ASYNC(propagate, cio_future *t;)
{
    CIO_BEGIN();
    CIO_AWAIT(self->t);
    trace_add(&tr, "not-reached");
    CIO_FINALLY();
    tracef("mid-finally=%d", CIO_ERROR);
    CIO_END();
}

CIO_ASYNC(t3msg_main, cio_future *t; cio_future *mid;)
{
    CIO_BEGIN();
    self->t = KID(loop, "t", 10, 't');
    self->mid = CIO_START(loop, propagate, .t = cio_future_ref(self->t));
    CIO_YIELD();                            /* t sleeps, mid awaits it */
    tracef("cancel=%d", cio_future_cancel(self->t, "why"));
    tracef("done=%d", cio_future_done(self->t));
    CIO_AWAIT_TRY(cio_future_ref(self->t));
    tracef("main-saw=%d", CIO_ERROR);
    ck_assert(cio_future_cancelled(self->t));
    ck_assert_ptr_nonnull(cio_future_cancel_message(self->t));
    tracef("t-msg=%s", cio_future_cancel_message(self->t));
    CIO_AWAIT_TRY(cio_future_ref(self->mid));
    tracef("mid-saw=%d", CIO_ERROR);
    ck_assert(cio_future_cancelled(self->mid));
    tracef("mid-msg=%s", cio_future_cancel_message(self->mid) != NULL
                         ? cio_future_cancel_message(self->mid) : "(null)");
    cio_future_unref(self->t);
    cio_future_unref(self->mid);
    CIO_END();
}

START_TEST(test_T3_cancel_message_reaches_the_awaiter)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[256];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, t3msg_main), NULL), 0);
    snprintf(expect, sizeof expect, "cancel=1 done=0 t-cancelled mid-finally=%d main-saw=%d "
             "t-msg=why mid-saw=%d mid-msg=why",
             CIO_ECANCELLED, CIO_ECANCELLED, CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* Cancelling a task cancels the future it waits on at once (asyncio:
 * f.cancelled() True right after t.cancel('m2'), t not done yet). */
CIO_ASYNC(await_future, cio_future *f;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(self->f);
    tracef("task-saw=%d", CIO_ERROR);
    CIO_RAISE(CIO_ERROR);
    CIO_END();
}

START_TEST(test_cancel_task_cancels_awaited_future_at_once)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f, *t;
    char expect[64];

    f = cio_future_new(loop);
    t = CIO_START(loop, await_future, .f = cio_future_ref(f));
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert(!cio_future_done(f));
    ck_assert_int_eq(cio_future_cancel(t, "m2"), 1);
    ck_assert(cio_future_cancelled(f));             /* at once */
    ck_assert_str_eq(cio_future_cancel_message(f), "m2");
    ck_assert(!cio_future_done(t));
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL),
                     CIO_ECANCELLED);
    ck_assert(cio_future_cancelled(t));
    ck_assert_str_eq(cio_future_cancel_message(t), "m2");
    snprintf(expect, sizeof expect, "task-saw=%d", CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    cio_future_unref(t);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ========================================================================
 * wait_for: C15, C16, C18
 * ======================================================================== */

/* C15: wait_for(slow(), 0.02) -> ['inner cancelled', TimeoutError]; the
 * inner has finished before the timeout reaches the caller. */
CIO_ASYNC(c15_main, cio_future *inner; double start;)
{
    CIO_BEGIN();
    self->inner = KID(loop, "inner", 1, 'i');
    self->start = monotonic_now();
    CIO_AWAIT_TRY(cio_wait_for(loop, cio_future_ref(self->inner), 0.02));
    tracef("wait_for=%d", CIO_ERROR);
    tracef("inner-done=%d", cio_future_done(self->inner));
    tracef("inner-cancelled=%d", cio_future_cancelled(self->inner));
#ifndef CIO_TEST_BARE
    ck_assert_msg(monotonic_now() - self->start >= 0.02, "timed out after %.6f s",
                  monotonic_now() - self->start);
    ck_assert_msg(monotonic_now() - self->start < 0.9, "timed out after %.6f s",
                  monotonic_now() - self->start);
#endif
    cio_future_unref(self->inner);
    CIO_END();
}

START_TEST(test_C15_wait_for_timeout_cancels_inner_first)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[128];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c15_main), NULL), 0);
    snprintf(expect, sizeof expect, "inner-cancelled wait_for=%d inner-done=1 inner-cancelled=1",
             CIO_ETIMEDOUT);
    ck_assert_str_eq(tr.buf, expect);
    /* from run_until_complete too */
    reset_trace();
    ck_assert_int_eq(cio_loop_run_until_complete(loop,
                     cio_wait_for(loop, KID(loop, "inner", 1, 'i'), 0.01), NULL),
                     CIO_ETIMEDOUT);
    ck_assert_str_eq(tr.buf, "inner-cancelled");
    loop_done(loop, &r, 0);
}
END_TEST

/* C16: a task done in time -> its result; no timeout is a plain await (the
 * same future); wait_for(done, 0) -> its result; wait_for(sleep(1), 0) ->
 * TimeoutError; an inner error passes through; an inner that ignores the
 * cancel and returns gives its value (asyncio 3.11 and 3.12: 7). */
CIO_ASYNC(c16_main, cio_future *f; cio_future *x;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_wait_for(loop, KID(loop, "fast", 0.01, 'f'), 1.0));
    tracef("in-time=%c", (int)CIO_RESULT.i);

    self->x = KID(loop, "plain", 0.001, 'p');
    ck_assert_ptr_eq(cio_wait_for(loop, cio_future_ref(self->x), -1), self->x);
    cio_future_unref(self->x);              /* the reference wait_for gave back */
    CIO_AWAIT(self->x);
    tracef("no-timeout=%c", (int)CIO_RESULT.i);

    self->f = cio_future_new(loop);
    ck_assert_int_eq(cio_future_set_int(self->f, 5), 0);
    CIO_AWAIT(cio_wait_for(loop, cio_future_ref(self->f), 0));
    tracef("done-future=%d", (int)CIO_RESULT.i);
    cio_future_unref(self->f);

    self->f = cio_future_new(loop);
    ck_assert_int_eq(cio_future_set_error(self->f, KEY_ERROR), 0);
    CIO_AWAIT_TRY(cio_wait_for(loop, self->f, 0));
    tracef("done-error=%d", CIO_ERROR);

    CIO_AWAIT_TRY(cio_wait_for(loop, cio_sleep(loop, 1), 0));
    tracef("sleep-0=%d", CIO_ERROR);

    CIO_AWAIT_TRY(cio_wait_for(loop, BAD(loop, "bad", 0.01, VALUE_ERROR), 1.0));
    tracef("inner-error=%d", CIO_ERROR);

    CIO_AWAIT_TRY(cio_wait_for(loop, CIO_START(loop, child, .name = "stubborn", .delay = 1,
                                               .value = 7, .on_cancel_return = 1), 0.02));
    tracef("ignored=%d/%d", CIO_ERROR, (int)CIO_RESULT.i);
    CIO_END();
}

START_TEST(test_C16_wait_for_variants)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[256];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c16_main), NULL), 0);
    snprintf(expect, sizeof expect, "fast in-time=f plain no-timeout=p done-future=5 "
             "done-error=%d sleep-0=%d bad-raise inner-error=%d stubborn-ignores ignored=0/7",
             KEY_ERROR, CIO_ETIMEDOUT, VALUE_ERROR);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* C18: cancelling the task that runs wait_for(inner(), 10) ->
 * ['inner cancelled', 'outer CancelledError']. */
CIO_ASYNC(c18_outer, int unused;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_wait_for(loop, KID(loop, "inner", 10, 'i'), 10));
    trace_add(&tr, "not-reached");
    CIO_FINALLY();
    if (CIO_ERROR == CIO_ECANCELLED)
        trace_add(&tr, "outer-cancelled");
    CIO_END();
}

START_TEST(test_C18_cancel_task_running_wait_for)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *o;
    double start;

    o = CIO_START(loop, c18_outer);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(o, NULL), 1);
    start = monotonic_now();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(o), NULL),
                     CIO_ECANCELLED);
    ck_assert_double_lt(monotonic_now() - start, 5.0);
    ck_assert(cio_future_cancelled(o));
    ck_assert_str_eq(tr.buf, "inner-cancelled outer-cancelled");
    cio_future_unref(o);
    loop_done(loop, &r, 0);
}
END_TEST

/* ========================================================================
 * as_completed: C20, C21
 * ======================================================================== */

CIO_ASYNC(c20_main, cio_as_completed *it; int i;)
{
    CIO_BEGIN();
    /* unnamed children: the trace is what next() gives, in order; they
     * finish 100 ms apart (asyncio's case: 10 ms) so that valgrind on a
     * loaded machine cannot reorder them */
    self->it = cio_as_completed_new(loop, 3, (cio_future *[]){
        KID(loop, NULL, 0.3, 'c'), KID(loop, NULL, 0.1, 'a'), KID(loop, NULL, 0.2, 'b') }, -1);
    ck_assert_ptr_nonnull(self->it);
    ck_assert_ptr_null(cio_as_completed_last(self->it));
    for (self->i = 0; self->i < 3; self->i++) {
        CIO_AWAIT(cio_as_completed_next(self->it));
        tracef("got=%c", (int)CIO_RESULT.i);
        ck_assert_ptr_nonnull(cio_as_completed_last(self->it));
        ck_assert_int_eq(cio_future_int(cio_as_completed_last(self->it)), CIO_RESULT.i);
    }
    CIO_AWAIT_TRY(cio_as_completed_next(self->it));
    tracef("after-last=%d", CIO_ERROR);
    ck_assert_int_eq(cio_as_completed_free(self->it), 0);
    CIO_END();
}

START_TEST(test_C20_as_completed_in_completion_order)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[128];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c20_main), NULL), 0);
    snprintf(expect, sizeof expect, "got=a got=b got=c after-last=%d", CIO_EEMPTY);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* C21: as_completed([a(0.01), b(1)], timeout=0.05): 'a', then TimeoutError;
 * b is neither done nor cancelled (asyncio 3.11: "timeout False False").
 * Here with a 0.2 s timeout (stretched under valgrind: its timer starts
 * before a's first step) and b at 5 s. */
CIO_ASYNC(c21_main, cio_as_completed *it; cio_future *b; double start;)
{
    CIO_BEGIN();
    self->b = KID(loop, "b", 5, 'b');
    self->start = monotonic_now();
    self->it = cio_as_completed_new(loop, 2, (cio_future *[]){
        KID(loop, "a", 0.01, 'a'), cio_future_ref(self->b) }, stretch(0.2));
    ck_assert_ptr_nonnull(self->it);
    CIO_AWAIT(cio_as_completed_next(self->it));
    tracef("got=%c", (int)CIO_RESULT.i);
    CIO_AWAIT_TRY(cio_as_completed_next(self->it));
    tracef("next=%d", CIO_ERROR);
#ifndef CIO_TEST_BARE
    ck_assert_msg(monotonic_now() - self->start >= stretch(0.2), "timed out after %.6f s",
                  monotonic_now() - self->start);
    ck_assert_msg(monotonic_now() - self->start < 4.0, "timed out after %.6f s",
                  monotonic_now() - self->start);
#endif
    tracef("b-done=%d", cio_future_done(self->b));
    CIO_AWAIT_TRY(cio_as_completed_next(self->it));
    tracef("again=%d", CIO_ERROR);
    ck_assert_int_eq(cio_as_completed_free(self->it), 0);
    cio_future_cancel(self->b, NULL);
    CIO_AWAIT_TRY(self->b);
    tracef("b=%d", CIO_ERROR);
    CIO_END();
}

START_TEST(test_C21_as_completed_with_timeout)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[128];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c21_main), NULL), 0);
    snprintf(expect, sizeof expect, "a got=a next=%d b-done=0 again=%d b-cancelled b=%d",
             CIO_ETIMEDOUT, CIO_ETIMEDOUT, CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* ========================================================================
 * shield: C22, C23
 * ======================================================================== */

/* C22: task w awaits shield(inner), then w.cancel() -> w raises
 * CancelledError, inner.cancelled() is False and inner later returns 'R'
 * (here 'R' comes at 0.3 s rather than 0.03 s: room for valgrind). */
CIO_ASYNC(shield_waiter, cio_future *inner;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_shield(loop, self->inner));
    tracef("w-saw=%d", CIO_ERROR);
    if (CIO_ERROR)
        CIO_RAISE(CIO_ERROR);
    CIO_RETURN(CIO_RESULT.i);
    CIO_END();
}

CIO_ASYNC(c22_main, cio_future *inner; cio_future *w;)
{
    CIO_BEGIN();
    self->inner = KID(loop, "inner", 0.3, 'R');
    self->w = CIO_START(loop, shield_waiter, .inner = cio_future_ref(self->inner));
    CIO_AWAIT(cio_sleep(loop, 0.01));
    tracef("cancel=%d", cio_future_cancel(self->w, NULL));
    CIO_AWAIT_TRY(cio_future_ref(self->w));
    tracef("w=%d", CIO_ERROR);
    tracef("w-cancelled=%d", cio_future_cancelled(self->w));
    tracef("inner-cancelled=%d", cio_future_cancelled(self->inner));
    tracef("inner-done=%d", cio_future_done(self->inner));
    CIO_AWAIT(self->inner);                 /* it goes on and returns 'R' */
    tracef("inner=%c", (int)CIO_RESULT.i);
    cio_future_unref(self->w);
    CIO_END();
}

START_TEST(test_C22_cancel_outer_of_shield_leaves_inner_running)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *w;
    char expect[256];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c22_main), NULL), 0);
    snprintf(expect, sizeof expect, "cancel=1 w-saw=%d w=%d w-cancelled=1 inner-cancelled=0 "
             "inner-done=0 inner inner=R", CIO_ECANCELLED, CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);

    /* the shield answers for an inner error nobody is left to see
     * (asyncio's shield marks it retrieved): nothing reported */
    reset_trace();
    w = CIO_START(loop, shield_waiter, .inner = BAD(loop, "inner", 0.2, VALUE_ERROR));
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.005), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(w, NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(w), NULL),
                     CIO_ECANCELLED);
    cio_future_unref(w);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.3), NULL), 0);
    snprintf(expect, sizeof expect, "w-saw=%d inner-raise", CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* C23: the inner of s = shield(inner) cancelled -> await s raises
 * CancelledError and s.cancelled(); shield(done future) is that future. */
CIO_ASYNC(c23_main, cio_future *inner; cio_future *s;)
{
    CIO_BEGIN();
    self->inner = KID(loop, "inner", 10, 'i');
    self->s = cio_shield(loop, cio_future_ref(self->inner));
    ck_assert_ptr_nonnull(self->s);
    ck_assert_ptr_ne(self->s, self->inner);
    CIO_YIELD();
    tracef("cancel-inner=%d", cio_future_cancel(self->inner, NULL));
    CIO_AWAIT_TRY(cio_future_ref(self->s));
    tracef("s=%d", CIO_ERROR);
    tracef("s-cancelled=%d", cio_future_cancelled(self->s));
    cio_future_unref(self->s);
    cio_future_unref(self->inner);
    CIO_END();
}

START_TEST(test_C23_cancel_inner_of_shield_cancels_outer)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f, *s;
    char expect[128];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c23_main), NULL), 0);
    snprintf(expect, sizeof expect, "cancel-inner=1 inner-cancelled s=%d s-cancelled=1",
             CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);

    f = cio_future_new(loop);
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);
    s = cio_shield(loop, cio_future_ref(f));
    ck_assert_ptr_eq(s, f);
    cio_future_unref(s);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ========================================================================
 * Timeout scopes: C24 and the rest of asyncio.timeout / timeout_at
 * ======================================================================== */

/* A body in a scope: enter with `delay` (or at `at` when use_at), await
 * sleep(first); optionally move the deadline to now + `move_to`; then
 * sleep(second); trace what the awaits and the exit saw. */
CIO_ASYNC(scoped, cio_timeout tmo; double delay; int use_at; double at;
          double first; double move_to; int move; double second; int entered;)
{
    CIO_BEGIN();
    if (self->use_at)
        self->entered = cio_timeout_enter_at(loop, &self->tmo, self->at);
    else
        self->entered = cio_timeout_enter(loop, &self->tmo, self->delay);
    ck_assert_int_eq(self->entered, 0);
    CIO_AWAIT_TRY(cio_sleep(loop, self->first));
    if (CIO_ERROR) {
        tracef("body-saw=%d", CIO_ERROR);
        CIO_RAISE(CIO_ERROR);
    }
    if (self->move) {
        ck_assert_int_eq(cio_timeout_reschedule(&self->tmo, self->move_to < 0 ? -1
                             : cio_loop_time(loop) + self->move_to), 0);
        trace_add(&tr, "moved");
    }
    CIO_AWAIT_TRY(cio_sleep(loop, self->second));
    if (CIO_ERROR) {
        tracef("body-saw=%d", CIO_ERROR);
        CIO_RAISE(CIO_ERROR);
    }
    trace_add(&tr, "body-done");
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->entered == 0) {
        tracef("expired-in=%d", cio_timeout_expired(&self->tmo));
        CIO_ERROR = cio_timeout_exit(&self->tmo, CIO_ERROR);
        tracef("exit=%d", CIO_ERROR);
        tracef("expired=%d", cio_timeout_expired(&self->tmo));
        tracef("cancelling=%d", cio_task_cancelling(cio_task_current(loop)));
        /* after the scope: moving it is refused */
        ck_assert_int_eq(cio_timeout_reschedule(&self->tmo, -1), CIO_EINVALSTATE);
    }
    CIO_END();
}

/* asyncio 3.11: ['body cancelled', 'TimeoutError' (cause CancelledError)],
 * cm.expired() True afterwards; timeout(None): expired() False, when()
 * None; finished in time: expired() False. */
START_TEST(test_C24_timeout_scope)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[256];
    double start;

    start = monotonic_now();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, scoped,
                     .delay = 0.02, .first = 1, .second = 0), NULL), CIO_ETIMEDOUT);
#ifndef CIO_TEST_BARE
    ck_assert_double_ge(monotonic_now() - start, 0.02);
    ck_assert_double_lt(monotonic_now() - start, 0.9);
#endif
    (void)start;
    snprintf(expect, sizeof expect, "body-saw=%d expired-in=1 exit=%d expired=1 cancelling=0",
             CIO_ECANCELLED, CIO_ETIMEDOUT);
    ck_assert_str_eq(tr.buf, expect);

    /* timeout(None) never fires */
    reset_trace();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, scoped,
                     .delay = -1, .first = 0.02, .second = 0.01), NULL), 0);
    ck_assert_str_eq(tr.buf, "body-done expired-in=0 exit=0 expired=0 cancelling=0");

    /* the body finishes in time over several awaits: not expired */
    reset_trace();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, scoped,
                     .delay = 1, .first = 0.01, .second = 0.01), NULL), 0);
    ck_assert_str_eq(tr.buf, "body-done expired-in=0 exit=0 expired=0 cancelling=0");
    /* and its timer is gone: nothing fires later */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Moved while running (asyncio 3.11: a 0.02 s deadline pushed to 0.1 s
 * after 0.01 s lets a further 0.03 s sleep finish, 'survived', expired()
 * False; timeout(None) rescheduled to now + 0.02 fires). Here a 0.2 s
 * deadline is moved to 1.5 s after one iteration and a 0.3 s sleep
 * survives: room for valgrind on a loaded machine. */
START_TEST(test_timeout_scope_rescheduled_while_running)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[256];
    double start;

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, scoped,
                     .delay = 0.2, .first = 0, .move = 1, .move_to = 1.5,
                     .second = 0.3), NULL), 0);
    ck_assert_str_eq(tr.buf, "moved body-done expired-in=0 exit=0 expired=0 cancelling=0");

    /* from no deadline to one */
    reset_trace();
    start = monotonic_now();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, scoped,
                     .delay = -1, .first = 0, .move = 1, .move_to = 0.02, .second = 1), NULL),
                     CIO_ETIMEDOUT);
#ifndef CIO_TEST_BARE
    ck_assert_double_ge(monotonic_now() - start, 0.02);
    ck_assert_double_lt(monotonic_now() - start, 0.9);
#endif
    (void)start;
    snprintf(expect, sizeof expect, "moved body-saw=%d expired-in=1 exit=%d expired=1 "
             "cancelling=0", CIO_ECANCELLED, CIO_ETIMEDOUT);
    ck_assert_str_eq(tr.buf, expect);

    /* and from one to none: never fires */
    reset_trace();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, scoped,
                     .delay = 0.05, .first = 0, .move = 1, .move_to = -1, .second = 0.1),
                     NULL), 0);
    ck_assert_str_eq(tr.buf, "moved body-done expired-in=0 exit=0 expired=0 cancelling=0");
    loop_done(loop, &r, 0);
}
END_TEST

/* timeout_at(loop.time() + 0.3) over sleep(0.01), sleep(1) -> TimeoutError;
 * when() is the deadline given; moving an expired scope is refused
 * (asyncio: RuntimeError 'Cannot change state of expired Timeout'). */
CIO_ASYNC(at_main, cio_timeout tmo; double when;)
{
    CIO_BEGIN();
    self->when = cio_loop_time(loop) + 0.3;
    ck_assert_int_eq(cio_timeout_enter_at(loop, &self->tmo, self->when), 0);
    ck_assert(cio_timeout_when(&self->tmo) == self->when);
    CIO_AWAIT(cio_sleep(loop, 0.01));
    trace_add(&tr, "first");
    CIO_AWAIT_TRY(cio_sleep(loop, 1));
    tracef("second=%d", CIO_ERROR);
    ck_assert(cio_timeout_expired(&self->tmo));
    tracef("reschedule=%d", cio_timeout_reschedule(&self->tmo, cio_loop_time(loop) + 1));
    CIO_RAISE(cio_timeout_exit(&self->tmo, CIO_ERROR));
    CIO_END();
}

START_TEST(test_timeout_at)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[128];
    cio_timeout tmo;

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, at_main), NULL),
                     CIO_ETIMEDOUT);
    snprintf(expect, sizeof expect, "first second=%d reschedule=%d",
             CIO_ECANCELLED, CIO_EINVALSTATE);
    ck_assert_str_eq(tr.buf, expect);

    /* outside a task: refused */
    ck_assert_int_eq(cio_timeout_enter(loop, &tmo, 1), CIO_ENOLOOP);
    ck_assert_int_eq(cio_timeout_enter_at(loop, &tmo, 1), CIO_ENOLOOP);
    loop_done(loop, &r, 0);
}
END_TEST

/* A deadline already past: asyncio schedules the expiry with call_soon, so
 * the body runs up to its first await, which is cancelled (asyncio 3.11:
 * ['body runs', 'TE'] for timeout_at(loop.time() - 1) over sleep(0)). */
CIO_ASYNC(past_main, cio_timeout tmo;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_timeout_enter_at(loop, &self->tmo, cio_loop_time(loop) - 1), 0);
    trace_add(&tr, "body-runs");
    CIO_AWAIT(cio_sleep(loop, 0));
    trace_add(&tr, "not-reached");
    CIO_FINALLY();
    CIO_ERROR = cio_timeout_exit(&self->tmo, CIO_ERROR);
    tracef("exit=%d", CIO_ERROR);
    CIO_END();
}

START_TEST(test_timeout_at_past_deadline_cancels_first_await)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[64];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, past_main), NULL),
                     CIO_ETIMEDOUT);
    snprintf(expect, sizeof expect, "body-runs exit=%d", CIO_ETIMEDOUT);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* Somebody else cancels the task inside an open scope: leaving it keeps
 * CIO_ECANCELLED (asyncio: CancelledError propagates, not TimeoutError). */
START_TEST(test_timeout_scope_outside_cancel_stays_cancel)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;
    char expect[128];

    t = CIO_START(loop, scoped, .delay = 1, .first = 10, .second = 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.005), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL),
                     CIO_ECANCELLED);
    ck_assert(cio_future_cancelled(t));
    snprintf(expect, sizeof expect, "body-saw=%d expired-in=0 exit=%d expired=0 cancelling=1",
             CIO_ECANCELLED, CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    cio_future_unref(t);
    loop_done(loop, &r, 0);
}
END_TEST

/* ========================================================================
 * Task groups: C25 and every error reported
 * ======================================================================== */

CIO_ASYNC(c25_main, cio_taskgroup *g; int errs[4]; cio_future *s;)
{
    size_t n;

    CIO_BEGIN();
    self->g = cio_taskgroup_new(loop);
    ck_assert_ptr_nonnull(self->g);
    self->s = KID(loop, "s", 1, 's');
    ck_assert_int_eq(cio_taskgroup_add(self->g, BAD(loop, "a", 0.01, VALUE_ERROR)), 0);
    ck_assert_int_eq(cio_taskgroup_add(self->g, cio_future_ref(self->s)), 0);
    CIO_AWAIT_TRY(cio_taskgroup_wait(self->g));
    tracef("wait=%d", CIO_ERROR);
    n = cio_taskgroup_errors(self->g, self->errs, 4);
    tracef("errors=%d", (int)n);
    tracef("e0=%d", self->errs[0]);
    tracef("s-cancelled=%d", cio_future_cancelled(self->s));
    /* shutting down: a new child is refused and cancelled */
    ck_assert_int_eq(cio_taskgroup_add(self->g, cio_future_ref(self->s)), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_taskgroup_free(self->g), 0);
    cio_future_unref(self->s);
    CIO_END();
}

START_TEST(test_C25_taskgroup_child_error_cancels_sibling)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[128];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c25_main), NULL), 0);
    snprintf(expect, sizeof expect, "a-raise s-cancelled wait=%d errors=1 e0=%d s-cancelled=1",
             VALUE_ERROR, VALUE_ERROR);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* Two children fail in the same iteration; a third one is cancelled:
 * asyncio 3.11 -> ['a-raise', 'b-raise', 's-cancelled',
 * ExceptionGroup([ValueError, KeyError])]. A child that turns its
 * cancellation into another error is reported too (asyncio: [ValueError,
 * KeyError]). */
CIO_ASYNC(tg_two_main, int mode; cio_taskgroup *g; cio_future *go; int errs[4];)
{
    size_t n, i;

    CIO_BEGIN();
    self->g = cio_taskgroup_new(loop);
    ck_assert_ptr_nonnull(self->g);
    if (self->mode == 0) {
        self->go = cio_future_new(loop);
        ck_assert_int_eq(cio_taskgroup_add(self->g, CIO_START(loop, gated, .name = "a",
                         .go = cio_future_ref(self->go), .err = VALUE_ERROR)), 0);
        ck_assert_int_eq(cio_taskgroup_add(self->g, CIO_START(loop, gated, .name = "b",
                         .go = cio_future_ref(self->go), .err = KEY_ERROR)), 0);
        ck_assert_int_eq(cio_taskgroup_add(self->g, KID(loop, "s", 1, 's')), 0);
        ck_assert_int_eq(cio_loop_call_later(loop, 0.01, set_future_cb, self->go, NULL), 0);
    } else {
        ck_assert_int_eq(cio_taskgroup_add(self->g, BAD(loop, "a", 0.01, VALUE_ERROR)), 0);
        ck_assert_int_eq(cio_taskgroup_add(self->g, CIO_START(loop, child, .name = "stub",
                         .delay = 1, .on_cancel_raise = KEY_ERROR)), 0);
    }
    CIO_AWAIT_TRY(cio_taskgroup_wait(self->g));
    tracef("wait=%d", CIO_ERROR);
    n = cio_taskgroup_errors(self->g, self->errs, 4);
    tracef("errors=%d", (int)n);
    for (i = 0; i < n && i < 4; i++)
        tracef("e%d=%d", (int)i, self->errs[i]);
    ck_assert_uint_eq(cio_taskgroup_errors(self->g, NULL, 0), n);
    ck_assert_int_eq(cio_taskgroup_free(self->g), 0);
    cio_future_unref(self->go);
    CIO_END();
}

START_TEST(test_taskgroup_every_child_error_reported)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[256];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, tg_two_main, .mode = 0),
                                                 NULL), 0);
    snprintf(expect, sizeof expect, "a-raise b-raise s-cancelled wait=%d errors=2 e0=%d e1=%d",
             VALUE_ERROR, VALUE_ERROR, KEY_ERROR);
    ck_assert_str_eq(tr.buf, expect);

    reset_trace();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, tg_two_main, .mode = 1),
                                                 NULL), 0);
    snprintf(expect, sizeof expect, "a-raise stub-raise wait=%d errors=2 e0=%d e1=%d",
             VALUE_ERROR, VALUE_ERROR, KEY_ERROR);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);     /* the group answered for every error */
}
END_TEST

/* Every child succeeds: the scope ends when the last one has
 * (asyncio: ['y', 'x', 'end']). */
CIO_ASYNC(tg_ok_main, cio_taskgroup *g; cio_future *x; cio_future *y;)
{
    CIO_BEGIN();
    self->g = cio_taskgroup_new(loop);
    self->x = KID(loop, "x", 0.2, 'x');       /* asyncio's case: 0.02 / 0.01 */
    self->y = KID(loop, "y", 0.02, 'y');
    ck_assert_int_eq(cio_taskgroup_add(self->g, cio_future_ref(self->x)), 0);
    ck_assert_int_eq(cio_taskgroup_add(self->g, cio_future_ref(self->y)), 0);
    ck_assert_int_eq(cio_taskgroup_free(self->g), CIO_EBUSY);  /* children run */
    CIO_AWAIT(cio_taskgroup_wait(self->g));
    trace_add(&tr, "end");
    tracef("errors=%d", (int)cio_taskgroup_errors(self->g, NULL, 0));
    tracef("x=%c", (int)cio_future_int(self->x));
    tracef("y=%c", (int)cio_future_int(self->y));
    /* an empty-again group's wait is done at once */
    CIO_AWAIT(cio_taskgroup_wait(self->g));
    ck_assert_int_eq(cio_taskgroup_free(self->g), 0);
    cio_future_unref(self->x);
    cio_future_unref(self->y);
    CIO_END();
}

START_TEST(test_taskgroup_all_children_succeed)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, tg_ok_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "y x end errors=0 x=x y=y");
    loop_done(loop, &r, 0);
}
END_TEST

/* The task waiting on the group is cancelled: the children are cancelled,
 * the wait ends once they have ended (asyncio: both children cancelled,
 * then 'parent-cancelled', 'main saw cancelled'). The order the children
 * are cancelled in is a set's in asyncio, so only their count is traced. */
static int members_cancelled;

CIO_ASYNC(tg_member, int unused;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 10));
    CIO_FINALLY();
    if (CIO_ERROR == CIO_ECANCELLED)
        members_cancelled++;
    CIO_END();
}

CIO_ASYNC(tg_parent, cio_taskgroup *g;)
{
    CIO_BEGIN();
    self->g = cio_taskgroup_new(loop);
    ck_assert_int_eq(cio_taskgroup_add(self->g, CIO_START(loop, tg_member)), 0);
    ck_assert_int_eq(cio_taskgroup_add(self->g, CIO_START(loop, tg_member)), 0);
    CIO_AWAIT(cio_taskgroup_wait(self->g));
    trace_add(&tr, "not-reached");
    CIO_FINALLY();
    tracef("members-cancelled=%d", members_cancelled);
    tracef("parent-finally=%d", CIO_ERROR);
    ck_assert_int_eq(cio_taskgroup_free(self->g), 0);
    CIO_END();
}

START_TEST(test_taskgroup_cancelled_wait_cancels_children)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *p;
    char expect[128];

    members_cancelled = 0;
    p = CIO_START(loop, tg_parent);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(p, NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(p), NULL),
                     CIO_ECANCELLED);
    trace_add(&tr, "main-saw-cancelled");
    ck_assert(cio_future_cancelled(p));
    snprintf(expect, sizeof expect, "members-cancelled=2 parent-finally=%d main-saw-cancelled",
             CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    cio_future_unref(p);
    loop_done(loop, &r, 0);
}
END_TEST

/* ========================================================================
 * cio_run: L18
 * ======================================================================== */

static reports run_reports;

/* main leaves a task sleeping, then returns 42 or raises; `left_raise`:
 * the sleeper turns its cancellation into KEY_ERROR. (A task created just
 * before main returns still starts in asyncio, and the order leftovers are
 * cancelled in is a set's: one leftover keeps the trace exact.) */
CIO_ASYNC(l18_main, int raise_; int left_raise;)
{
    CIO_BEGIN();
    cio_loop_set_exception_handler(loop, record_report, &run_reports);
    cio_future_unref(CIO_START(loop, child, .name = "left", .delay = 10,
                               .on_cancel_raise = self->left_raise));
    CIO_YIELD();                            /* it sleeps */
    trace_add(&tr, "main-return");
    if (self->raise_)
        CIO_RAISE(VALUE_ERROR);
    CIO_RETURN(42);
    CIO_END();
}

/* asyncio 3.11: asyncio.run(main()) -> 42, ['main-return', 'a-finally'];
 * a leftover that raises while being cancelled -> one report,
 * 'unhandled exception during asyncio.run() shutdown'. */
START_TEST(test_L18_run_returns_main_result_and_cancels_leftovers)
{
    reports r;
    cio_loop *loop;
    cio_value v;

    memset(&run_reports, 0, sizeof run_reports);
    v.i = 0;
    ck_assert_int_eq(CIO_RUN(&v, l18_main), 0);
    ck_assert_int_eq(v.i, 42);
    ck_assert_str_eq(tr.buf, "main-return left-cancelled");
    ck_assert_int_eq(run_reports.count, 0);

    /* main raises: cio_run returns its error, the leftover is still
     * cancelled before it returns */
    reset_trace();
    ck_assert_int_eq(CIO_RUN(NULL, l18_main, .raise_ = 1), VALUE_ERROR);
    ck_assert_str_eq(tr.buf, "main-return left-cancelled");
    ck_assert_int_eq(run_reports.count, 0);

    /* a leftover that fails during the shutdown: reported once */
    reset_trace();
    v.i = 0;
    ck_assert_int_eq(CIO_RUN(&v, l18_main, .left_raise = KEY_ERROR), 0);
    ck_assert_int_eq(v.i, 42);
    ck_assert_str_eq(tr.buf, "main-return left-raise");
    ck_assert_int_eq(run_reports.count, 1);
    ck_assert_int_eq(run_reports.errs[0], KEY_ERROR);

    loop = loop_with_reports(&r);
    loop_done(loop, &r, 0);
}
END_TEST

/* asyncio.run() from a running loop: RuntimeError, main never runs. */
CIO_ASYNC(run_inside, int unused;)
{
    CIO_BEGIN();
    tracef("nested=%d", CIO_RUN(NULL, l18_main));
    CIO_END();
}

START_TEST(test_L18_run_inside_running_loop_is_busy)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[64], err[256];
    FILE *cap;
    int saved;
    size_t n;

    memset(&run_reports, 0, sizeof run_reports);
    /* the nested loop's default handler would print to stderr: capture it */
    fflush(stderr);
    cap = tmpfile();
    ck_assert_ptr_nonnull(cap);
    saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(cap), STDERR_FILENO), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, run_inside), NULL), 0);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(cap);
    n = fread(err, 1, sizeof err - 1, cap);
    err[n] = '\0';
    fclose(cap);
    snprintf(expect, sizeof expect, "nested=%d", CIO_EBUSY);
    ck_assert_str_eq(tr.buf, expect);       /* main's body never ran */
    ck_assert_msg(n == 0, "cio_run from a running loop printed: %s", err);
    loop_done(loop, &r, 0);
}
END_TEST

/* ========================================================================
 * Reporting, exactly once
 * ======================================================================== */

static int failing_cb(cio_loop *loop, void *arg)
{
    (void)loop;
    trace_add(&tr, arg);
    return VALUE_ERROR;
}

static int tracing_cb(cio_loop *loop, void *arg)
{
    (void)loop;
    trace_add(&tr, arg);
    return 0;
}

START_TEST(test_report_callback_error_exactly_once)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_call_soon(loop, failing_cb, W("bad"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, tracing_cb, W("next"), NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL), 0);
    ck_assert_str_eq(tr.buf, "bad next");
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.messages[0], "Exception in callback");
    ck_assert_int_eq(r.errs[0], VALUE_ERROR);
    ck_assert_ptr_null(r.futures[0]);
    loop_done(loop, &r, 1);
}
END_TEST

CIO_ASYNC(retrieve_by_await, cio_future *f;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(self->f);
    tracef("awaited=%d", CIO_ERROR);
    CIO_END();
}

START_TEST(test_report_unretrieved_future_error_exactly_once)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f, *g;
    char expect[64];

    /* freed unretrieved: one report, at the last reference */
    f = cio_future_new(loop);
    ck_assert_int_eq(cio_future_set_error(f, VALUE_ERROR), 0);
    cio_future_ref(f);
    cio_future_unref(f);
    ck_assert_int_eq(r.count, 0);
    cio_future_unref(f);
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.messages[0], "Future exception was never retrieved");
    ck_assert_int_eq(r.errs[0], VALUE_ERROR);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(r.count, 1);

    /* retrieved with cio_future_error / cio_future_result: none */
    f = cio_future_new(loop);
    g = cio_future_new(loop);
    ck_assert_int_eq(cio_future_set_error(f, VALUE_ERROR), 0);
    ck_assert_int_eq(cio_future_set_error(g, KEY_ERROR), 0);
    ck_assert_int_eq(cio_future_error(f), VALUE_ERROR);
    ck_assert_int_eq(cio_future_result(g, NULL), KEY_ERROR);
    cio_future_unref(f);
    cio_future_unref(g);
    ck_assert_int_eq(r.count, 1);

    /* retrieved by an await: none */
    f = cio_future_new(loop);
    ck_assert_int_eq(cio_future_set_error(f, KEY_ERROR), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop,
                     CIO_START(loop, retrieve_by_await, .f = f), NULL), 0);
    snprintf(expect, sizeof expect, "awaited=%d", KEY_ERROR);
    ck_assert_str_eq(tr.buf, expect);

    /* a cancelled future is not an error to report */
    f = cio_future_new(loop);
    ck_assert_int_eq(cio_future_cancel(f, NULL), 1);
    cio_future_unref(f);

    /* a wait_for that timed out: the cancelled inner is not reported */
    ck_assert_int_eq(cio_loop_run_until_complete(loop,
                     cio_wait_for(loop, KID(loop, "inner", 1, 'i'), 0.001), NULL),
                     CIO_ETIMEDOUT);
    loop_done(loop, &r, 1);
}
END_TEST

START_TEST(test_report_pending_task_at_close_exactly_once)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;

    t = KID(loop, "p", 10, 'p');
    cio_future_unref(t);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert_int_eq(cio_loop_close(loop), 0);      /* a second close: no-op */
    loop_done(loop, &r, 1);
    ck_assert_str_eq(r.messages[0], "Task was destroyed but it is pending!");
    ck_assert((uintptr_t)r.futures[0] == (uintptr_t)t);
}
END_TEST

/* ========================================================================
 * Introspection: all tasks, names; debug mode
 * ======================================================================== */

CIO_ASYNC(all_main, cio_future *x; cio_future *y; cio_future *q;)
{
    cio_future *out[8];
    size_t n, i;
    int seen_main, seen_x, seen_y;

    CIO_BEGIN();
    self->x = KID(loop, "x", 10, 'x');
    self->y = KID(loop, "y", 10, 'y');
    self->q = KID(loop, "quick", 0, 'q');
    ck_assert_int_eq(cio_task_set_name(self->x, "sleeper-1"), 0);
    ck_assert_int_eq(cio_task_set_name(self->y, "sleeper-2"), 0);
    /* not started yet: pending all the same */
    ck_assert_uint_eq(cio_loop_all_tasks(loop, NULL, 0), 4);
    CIO_AWAIT(cio_sleep(loop, 0.005));
    ck_assert(cio_future_done(self->q));
    n = cio_loop_all_tasks(loop, out, 8);
    ck_assert_uint_eq(n, 3);
    seen_main = seen_x = seen_y = 0;
    for (i = 0; i < n; i++) {
        if (out[i] == cio_task_current(loop)) {
            seen_main++;
            ck_assert_str_eq(cio_task_name(out[i]), "all_main");
        } else if (out[i] == self->x) {
            seen_x++;
            ck_assert_str_eq(cio_task_name(out[i]), "sleeper-1");
        } else if (out[i] == self->y) {
            seen_y++;
            ck_assert_str_eq(cio_task_name(out[i]), "sleeper-2");
        }
    }
    ck_assert(seen_main == 1 && seen_x == 1 && seen_y == 1);
    /* a short array: the count all the same, the first `cap` filled */
    out[0] = out[1] = NULL;
    ck_assert_uint_eq(cio_loop_all_tasks(loop, out, 1), 3);
    ck_assert_ptr_nonnull(out[0]);
    ck_assert_ptr_null(out[1]);
    cio_future_cancel(self->x, NULL);
    cio_future_cancel(self->y, NULL);
    CIO_AWAIT_TRY(self->x);
    CIO_AWAIT_TRY(self->y);
    CIO_AWAIT(self->q);
    ck_assert_uint_eq(cio_loop_all_tasks(loop, out, 8), 1);
    ck_assert_ptr_eq(out[0], cio_task_current(loop));
    CIO_END();
}

START_TEST(test_all_tasks_lists_pending_tasks)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_uint_eq(cio_loop_all_tasks(loop, NULL, 0), 0);
    ck_assert_uint_eq(cio_loop_all_tasks(NULL, NULL, 0), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, all_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "quick x-cancelled y-cancelled");
    ck_assert_uint_eq(cio_loop_all_tasks(loop, NULL, 0), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* all_tasks and loop free find every task wherever it lives: tasks of
 * several sizes over many slabs of the task pools, with freed slots between
 * them, a task too large for a pool and tasks in caller storage (these two
 * kept in the loop's list). */
CIO_ASYNC(parked, int finish; char pad[8];)
{
    CIO_BEGIN();
    if (self->finish)
        CIO_AWAIT(cio_sleep(loop, 0));
    else
        CIO_AWAIT(cio_sleep(loop, 3600));
    CIO_END();
}

CIO_ASYNC(parked_wide, int finish; char pad[200];)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 3600));
    CIO_END();
}

CIO_ASYNC(parked_huge, int finish; char pad[1024];)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 3600));
    CIO_END();
}

#define WALK_SMALL 3000
#define WALK_WIDE 1000
#define WALK_HUGE 3
#define WALK_STORED 2
#define WALK_PENDING (WALK_SMALL / 2 + WALK_WIDE + WALK_HUGE + WALK_STORED)

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(cio_future *const *)a, y = (uintptr_t)*(cio_future *const *)b;

    return x < y ? -1 : x > y;
}

static void count_pending_reports(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    (void)loop;
    if (ctx->message != NULL && strstr(ctx->message, "destroyed but it is pending") != NULL)
        (*(int *)arg)++;
}

START_TEST(test_all_tasks_finds_tasks_wherever_they_live)
{
    static cio_future *mine[WALK_PENDING], *seen[WALK_PENDING + 1];
    static unsigned char stored[WALK_STORED][CIO_TASK_SIZE(parked)];
    cio_loop *loop = cio_loop_new();
    size_t n = 0, i;
    int reported = 0;

    ck_assert_ptr_nonnull(loop);
    cio_loop_set_exception_handler(loop, count_pending_reports, &reported);
    for (i = 0; i < WALK_SMALL; i++) {
        cio_future *t = CIO_START(loop, parked, .finish = (int)(i % 2));

        ck_assert_ptr_nonnull(t);
        if (i % 2)
            cio_future_unref(t);    /* ends at once: its slot goes free */
        else
            mine[n++] = t;
        if (i % 3 == 0 && n < WALK_PENDING - WALK_HUGE - WALK_STORED
            && i / 3 < WALK_WIDE) {
            mine[n] = CIO_START(loop, parked_wide, .finish = 0);
            ck_assert_ptr_nonnull(mine[n]);
            n++;
        }
    }
    for (i = 0; i < WALK_HUGE; i++) {
        mine[n] = CIO_START(loop, parked_huge, .finish = 0);
        ck_assert_ptr_nonnull(mine[n]);
        n++;
    }
    for (i = 0; i < WALK_STORED; i++) {
        mine[n] = CIO_START_IN(loop, stored[i], sizeof stored[i], parked, .finish = 0);
        ck_assert_ptr_nonnull(mine[n]);
        n++;
    }
    ck_assert_uint_eq(n, WALK_PENDING);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    /* each pending task exactly once, none of the finished ones */
    ck_assert_uint_eq(cio_loop_all_tasks(loop, seen, WALK_PENDING + 1), WALK_PENDING);
    qsort(mine, WALK_PENDING, sizeof mine[0], by_address);
    qsort(seen, WALK_PENDING, sizeof seen[0], by_address);
    for (i = 0; i < WALK_PENDING; i++)
        ck_assert_ptr_eq(seen[i], mine[i]);
    /* still pending at loop free: each reported and freed once */
    for (i = 0; i < WALK_PENDING; i++)
        cio_future_unref(mine[i]);
    ck_assert_int_eq(cio_loop_free(loop), 0);
    ck_assert_int_eq(reported, WALK_PENDING);
}
END_TEST

/* Debug mode: what the handler saw, with the slow callback's duration. */
typedef struct debug_reports {
    reports r;
    double seconds[16];
} debug_reports;

static void record_debug(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    debug_reports *d = arg;

    if (d->r.count < 16)
        d->seconds[d->r.count] = ctx->seconds;
    record_report(loop, ctx, &d->r);
}

static int spin_cb(cio_loop *loop, void *arg)
{
    double until = monotonic_now() + stretch(0.05);

    (void)loop;
    trace_add(&tr, arg);
    while (monotonic_now() < until)
        ;
    return 0;
}

CIO_ASYNC(spinning_task, int unused;)
{
    double until;

    CIO_BEGIN();
    until = monotonic_now() + stretch(0.05);
    while (monotonic_now() < until)
        ;
    trace_add(&tr, "task-spun");
    CIO_END();
}

/* Queue three fast callbacks and, if `slow`, one spinning 0.05 s; run. */
static void run_callbacks(cio_loop *loop, int slow)
{
    ck_assert_int_eq(cio_loop_call_soon(loop, tracing_cb, W("f1"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, tracing_cb, W("f2"), NULL), 0);
    if (slow)
        ck_assert_int_eq(cio_loop_call_soon(loop, spin_cb, W("spin"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.001, tracing_cb, W("f3"), NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.002), NULL), 0);
}

START_TEST(test_debug_mode_reports_slow_callbacks)
{
    debug_reports d;
    cio_loop *loop = loop_with_reports(&d.r);
    cio_future *t;

    cio_loop_set_exception_handler(loop, record_debug, &d);
    run_callbacks(loop, 0);                 /* warm up, debug off */
    ck_assert_int_eq(d.r.count, 0);

    /* fast callbacks: nothing */
    reset_trace();
    cio_loop_set_debug(loop, stretch(0.01));   /* a fast step under valgrind: below it */
    run_callbacks(loop, 0);
    ck_assert_str_eq(tr.buf, "f1 f2 f3");
    ck_assert_int_eq(d.r.count, 0);

    /* one slow callback: exactly one report, with how long it ran */
    reset_trace();
    run_callbacks(loop, 1);
    ck_assert_str_eq(tr.buf, "f1 f2 spin f3");
    ck_assert_int_eq(d.r.count, 1);
    ck_assert_msg(strncmp(d.r.messages[0], "Executing", 9) == 0, "message: %s",
                  d.r.messages[0]);
    ck_assert_int_eq(d.r.errs[0], 0);
    ck_assert_ptr_null(d.r.futures[0]);
    ck_assert_double_ge(d.seconds[0], stretch(0.01));
    ck_assert_double_ge(d.seconds[0], stretch(0.05) - 0.001);   /* it spun that long */

    /* a slow task step: reported with its task */
    reset_trace();
    t = CIO_START(loop, spinning_task);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL), 0);
    ck_assert_str_eq(tr.buf, "task-spun");
    ck_assert_int_eq(d.r.count, 2);
    ck_assert_msg(strncmp(d.r.messages[1], "Executing", 9) == 0, "message: %s",
                  d.r.messages[1]);
    ck_assert_ptr_eq(d.r.futures[1], t);
    ck_assert_double_ge(d.seconds[1], stretch(0.05) - 0.001);
    cio_future_unref(t);

    /* debug off again: a slow callback goes unreported */
    reset_trace();
    cio_loop_set_debug(loop, -1);
    run_callbacks(loop, 1);
    ck_assert_str_eq(tr.buf, "f1 f2 spin f3");
    loop_done(loop, &d.r, 2);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *semantics_suite(void)
{
    Suite *s = suite_create("semantics");
    TCase *tc = tcase_create("semantics");

    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, reset_trace, NULL);
    tcase_add_test(tc, test_cancelling_and_uncancel_counts);
    tcase_add_test(tc, test_T3_cancel_message_reaches_the_awaiter);
    tcase_add_test(tc, test_cancel_task_cancels_awaited_future_at_once);
    tcase_add_test(tc, test_C15_wait_for_timeout_cancels_inner_first);
    tcase_add_test(tc, test_C16_wait_for_variants);
    tcase_add_test(tc, test_C18_cancel_task_running_wait_for);
    tcase_add_test(tc, test_C20_as_completed_in_completion_order);
    tcase_add_test(tc, test_C21_as_completed_with_timeout);
    tcase_add_test(tc, test_C22_cancel_outer_of_shield_leaves_inner_running);
    tcase_add_test(tc, test_C23_cancel_inner_of_shield_cancels_outer);
    tcase_add_test(tc, test_C24_timeout_scope);
    tcase_add_test(tc, test_timeout_scope_rescheduled_while_running);
    tcase_add_test(tc, test_timeout_at);
    tcase_add_test(tc, test_timeout_at_past_deadline_cancels_first_await);
    tcase_add_test(tc, test_timeout_scope_outside_cancel_stays_cancel);
    tcase_add_test(tc, test_C25_taskgroup_child_error_cancels_sibling);
    tcase_add_test(tc, test_taskgroup_every_child_error_reported);
    tcase_add_test(tc, test_taskgroup_all_children_succeed);
    tcase_add_test(tc, test_taskgroup_cancelled_wait_cancels_children);
    tcase_add_test(tc, test_L18_run_returns_main_result_and_cancels_leftovers);
    tcase_add_test(tc, test_L18_run_inside_running_loop_is_busy);
    tcase_add_test(tc, test_report_callback_error_exactly_once);
    tcase_add_test(tc, test_report_unretrieved_future_error_exactly_once);
    tcase_add_test(tc, test_report_pending_task_at_close_exactly_once);
    tcase_add_test(tc, test_all_tasks_lists_pending_tasks);
    tcase_add_test(tc, test_all_tasks_finds_tasks_wherever_they_live);
    tcase_add_test(tc, test_debug_mode_reports_slow_callbacks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(semantics_suite);
}
