/* test_combinators.c - gather and wait: asyncio-cases.md "Combinators".
 *
 * Children are tasks that sleep, then return a value or raise; they trace
 * their name when they return, "<name>-raise" when they raise and
 * "<name>-cancelled" from their finally section when cancelled. Traces give
 * the order; results are read with cio_gather_result / cio_wait_done.
 *
 * asyncio's ValueError and KeyError are stood for by negated errno values
 * cio itself never produces.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include "testutil.h"

#define VALUE_ERROR (-EDOM)
#define KEY_ERROR (-ENOENT)




CIO_ASYNC(child, const char *name; double delay; int err; ptrdiff_t value;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, stretch(self->delay)));
    if (self->err) {
        tracef("%s-raise", self->name);
        CIO_RAISE(self->err);
    }
    trace_add(&tr, self->name);
    CIO_RETURN(self->value);
    CIO_FINALLY();
    if (CIO_ERROR == CIO_ECANCELLED)
        tracef("%s-cancelled", self->name);
    CIO_END();
}

/* A child returning `v` after `d` seconds / raising `e` after `d` seconds. */
#define KID(loop, nm, d, v) CIO_START((loop), child, .name = (nm), .delay = (d), .value = (v))
#define BAD(loop, nm, d, e) CIO_START((loop), child, .name = (nm), .delay = (d), .err = (e))

/* Trace child i's outcome in gather g: its value as a character, or its
 * error code. */
static void trace_gather_results(const cio_future *g)
{
    size_t i, n = cio_gather_size(g);

    for (i = 0; i < n; i++) {
        cio_value v;
        int err;

        v.i = 0;
        err = cio_gather_result(g, i, &v);
        if (err == 0)
            tracef("r%zu=%c", i, (int)v.i);
        else
            tracef("r%zu=%d", i, err);
    }
}

/* ------------------------------------------------------------------------
 * C1: results in argument order, whatever the completion order
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c1_main, cio_future *g;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_gather(loop, 3, (cio_future *[]){
        KID(loop, "a", 0.03, 'a'), KID(loop, "b", 0.01, 'b'), KID(loop, "c", 0.02, 'c') }));
    self->g = CIO_RESULT.p;
    ck_assert_ptr_nonnull(self->g);
    ck_assert_uint_eq(cio_gather_size(self->g), 3);
    trace_add(&tr, "gathered");
    trace_gather_results(self->g);
    CIO_END();
}

START_TEST(test_C1_gather_results_in_argument_order)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c1_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "b c a gathered r0=a r1=b r2=c");

    /* the same from run_until_complete's result */
    reset_trace();
    v.p = NULL;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 3, (cio_future *[]){
        KID(loop, "a", 0.03, 'a'), KID(loop, "b", 0.01, 'b'), KID(loop, "c", 0.02, 'c') }),
        &v), 0);
    ck_assert_ptr_nonnull(v.p);
    ck_assert_uint_eq(cio_gather_size(v.p), 3);
    trace_gather_results(v.p);
    ck_assert_str_eq(tr.buf, "b c a r0=a r1=b r2=c");
    ck_assert_ptr_nonnull(cio_gather_child(v.p, 2));
    ck_assert_int_eq(cio_future_int(cio_gather_child(v.p, 2)), 'c');
    ck_assert_ptr_null(cio_gather_child(v.p, 3));
    ck_assert_int_eq(cio_gather_result(v.p, 3, NULL), CIO_EINVAL);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C2: the first error fails the gather at once; the others go on
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c2_main, cio_future *tc;)
{
    CIO_BEGIN();
    self->tc = KID(loop, "c", 0.05, 'c');
    CIO_AWAIT_TRY(cio_gather(loop, 3, (cio_future *[]){
        KID(loop, "a", 0.01, 'a'), BAD(loop, "b", 0.02, VALUE_ERROR),
        cio_future_ref(self->tc) }));
    ck_assert_int_eq(CIO_ERROR, VALUE_ERROR);
    trace_add(&tr, "gather-raised");
    trace_addf(&tr, "c-done=%ld", (long)cio_future_done(self->tc));
    CIO_AWAIT_TRY(self->tc);
    ck_assert_int_eq(CIO_ERROR, 0);
    trace_addf(&tr, "c-result=%c", (int)CIO_RESULT.i);
    CIO_END();
}

CIO_ASYNC(c2_marking, int unused;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_gather(loop, 2, (cio_future *[]){
        BAD(loop, "x", 0.01, VALUE_ERROR), BAD(loop, "y", 0.02, KEY_ERROR) }));
    trace_add(&tr, "not-reached");
    CIO_END();
}

START_TEST(test_C2_gather_first_error_does_not_cancel_others)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c2_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "a b-raise gather-raised c-done=0 c c-result=c");
    loop_done(loop, &r, 0);
}
END_TEST

/* test_exception_marking: the awaiter fails with the first error and drops
 * the gather; the second child's later error is still marked retrieved. */
START_TEST(test_C2_gather_later_errors_marked_retrieved)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c2_marking), NULL),
                     VALUE_ERROR);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, stretch(0.05)), NULL), 0);
    ck_assert_str_eq(tr.buf, "x-raise y-raise");
    if (r.count > 0)
        fprintf(stderr, "C2: reported \"%s\" (err %d)\n", r.messages[0], r.errs[0]);
    loop_done(loop, &r, 0);     /* frees the loop first, then counts */
}
END_TEST

/* ------------------------------------------------------------------------
 * C3: return_exceptions: errors are results, in argument order
 * ------------------------------------------------------------------------ */

START_TEST(test_C3_gather_return_exceptions)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;
    char expect[128];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather_ex(loop, 3, (cio_future *[]){
        KID(loop, "a", 0.01, 'a'), BAD(loop, "b", 0.02, VALUE_ERROR), KID(loop, "c", 0.03, 'c') },
        1), &v), 0);
    trace_gather_results(v.p);
    snprintf(expect, sizeof expect, "a b-raise c r0=a r1=%d r2=c", VALUE_ERROR);
    ck_assert_str_eq(tr.buf, expect);
    ck_assert_int_eq(cio_future_error(cio_gather_child(v.p, 1)), VALUE_ERROR);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C4: cancelling a gather cancels every child
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c4_main, cio_future *k[3]; cio_future *g; int i;)
{
    CIO_BEGIN();
    self->k[0] = KID(loop, "t0", 10, 0);
    self->k[1] = KID(loop, "t1", 10, 1);
    self->k[2] = KID(loop, "t2", 10, 2);
    CIO_YIELD();                            /* all three are sleeping */
    self->g = cio_gather(loop, 3, (cio_future *[]){
        cio_future_ref(self->k[0]), cio_future_ref(self->k[1]), cio_future_ref(self->k[2]) });
    trace_addf(&tr, "cancel=%ld", (long)cio_future_cancel(self->g, NULL));
    CIO_AWAIT_TRY(cio_future_ref(self->g));
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    trace_add(&tr, "await-raised-cancelled");
    trace_addf(&tr, "cancel-again=%ld", (long)cio_future_cancel(self->g, NULL));
    for (self->i = 0; self->i < 3; self->i++) {
        trace_addf(&tr, "cancelled=%ld", (long)cio_future_cancelled(self->k[self->i]));
        cio_future_unref(self->k[self->i]);
    }
    cio_future_unref(self->g);
    CIO_END();
}

START_TEST(test_C4_cancel_gather_cancels_children)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c4_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "cancel=1 t0-cancelled t1-cancelled t2-cancelled "
                             "await-raised-cancelled cancel-again=0 "
                             "cancelled=1 cancelled=1 cancelled=1");
    loop_done(loop, &r, 0);
}
END_TEST

/* Plain futures, one of them done already: the pending ones are cancelled,
 * the done one keeps its result; the gather raises CIO_ECANCELLED. */
START_TEST(test_gather_cancel_cancels_every_pending_child)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f[3], *g;
    int i;

    for (i = 0; i < 3; i++) {
        f[i] = cio_future_new(loop);
        ck_assert_ptr_nonnull(f[i]);
    }
    ck_assert_int_eq(cio_future_set_int(f[1], 11), 0);
    g = cio_gather(loop, 3, (cio_future *[]){
        cio_future_ref(f[0]), cio_future_ref(f[1]), cio_future_ref(f[2]) });
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(cio_future_cancel(g, "stop"), 1);
    ck_assert(cio_future_cancelled(f[0]));
    ck_assert(!cio_future_cancelled(f[1]));
    ck_assert(cio_future_cancelled(f[2]));
    ck_assert_str_eq(cio_future_cancel_message(f[0]), "stop");
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(g), NULL),
                     CIO_ECANCELLED);
    ck_assert_int_eq(cio_future_cancel(g, NULL), 0);
    ck_assert_int_eq(cio_future_int(f[1]), 11);
    for (i = 0; i < 3; i++)
        cio_future_unref(f[i]);
    cio_future_unref(g);
    loop_done(loop, &r, 0);
}
END_TEST

/* With return_exceptions too, a cancelled gather raises CIO_ECANCELLED. */
START_TEST(test_gather_return_exceptions_cancelled_raises)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *g;

    g = cio_gather_ex(loop, 2, (cio_future *[]){
        KID(loop, "t0", 10, 0), KID(loop, "t1", 10, 1) }, 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, stretch(0.001)), NULL), 0);
    ck_assert_int_eq(cio_future_cancel(g, NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(g), NULL),
                     CIO_ECANCELLED);
    ck_assert(cio_future_cancelled(cio_gather_child(g, 0)));
    ck_assert(cio_future_cancelled(cio_gather_child(g, 1)));
    ck_assert_str_eq(tr.buf, "t0-cancelled t1-cancelled");
    cio_future_unref(g);
    loop_done(loop, &r, 0);
}
END_TEST

/* The same future twice (test_duplicate_coroutines): its result twice. */
START_TEST(test_gather_duplicate_future)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t;
    cio_value v;

    t = KID(loop, "a", 0.01, 'a');
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        t, cio_future_ref(t) }), &v), 0);
    trace_gather_results(v.p);
    ck_assert_str_eq(tr.buf, "a r0=a r1=a");
    loop_done(loop, &r, 0);
}
END_TEST

/* Sleeps as children, in a task (the task's own sleep and allocated ones)
 * and outside one; sleep(0) too. */
CIO_ASYNC(gather_sleeps, int unused;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_gather(loop, 3, (cio_future *[]){
        cio_sleep_result(loop, stretch(0.02), (cio_value){ .i = 'x' }),
        cio_sleep_result(loop, stretch(0.01), (cio_value){ .i = 'y' }),
        cio_sleep_result(loop, 0, (cio_value){ .i = 'z' }) }));
    trace_gather_results(CIO_RESULT.p);
    CIO_AWAIT(cio_sleep_result(loop, stretch(0.001), (cio_value){ .i = 'w' }));
    trace_addf(&tr, "then=%c", (int)CIO_RESULT.i);
    CIO_END();
}

START_TEST(test_gather_of_sleeps)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, gather_sleeps), NULL), 0);
    ck_assert_str_eq(tr.buf, "r0=x r1=y r2=z then=w");
    reset_trace();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        cio_sleep_result(loop, 0, (cio_value){ .i = 'p' }),
        cio_sleep_result(loop, stretch(0.01), (cio_value){ .i = 'q' }) }), &v), 0);
    trace_gather_results(v.p);
    ck_assert_str_eq(tr.buf, "r0=p r1=q");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C5: cancelling a task that awaits a gather cancels the children
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c5_outer, cio_future *k0; cio_future *k1;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_gather(loop, 2, (cio_future *[]){ self->k0, self->k1 }));
    trace_add(&tr, "outer-not-reached");
    CIO_FINALLY();
    trace_addf(&tr, "outer-finally=%ld", (long)CIO_ERROR);
    CIO_END();
}

CIO_ASYNC(c5_main, cio_future *k0; cio_future *k1; cio_future *outer;)
{
    CIO_BEGIN();
    self->k0 = KID(loop, "t0", 10, 0);
    self->k1 = KID(loop, "t1", 10, 1);
    self->outer = CIO_START(loop, c5_outer, .k0 = cio_future_ref(self->k0),
                            .k1 = cio_future_ref(self->k1));
    CIO_AWAIT(cio_sleep(loop, stretch(0.005)));      /* everyone is waiting */
    trace_addf(&tr, "cancel=%ld", (long)cio_future_cancel(self->outer, NULL));
    CIO_AWAIT_TRY(cio_future_ref(self->outer));
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    trace_add(&tr, "outer-raised-cancelled");
    trace_addf(&tr, "outer-cancelled=%ld", (long)cio_future_cancelled(self->outer));
    trace_addf(&tr, "t0-cancelled=%ld", (long)cio_future_cancelled(self->k0));
    trace_addf(&tr, "t1-cancelled=%ld", (long)cio_future_cancelled(self->k1));
    cio_future_unref(self->outer);
    cio_future_unref(self->k0);
    cio_future_unref(self->k1);
    CIO_END();
}

START_TEST(test_C5_cancel_task_awaiting_gather)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[256];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c5_main), NULL), 0);
    snprintf(expect, sizeof expect, "cancel=1 t0-cancelled t1-cancelled outer-finally=%d "
             "outer-raised-cancelled outer-cancelled=1 t0-cancelled=1 t1-cancelled=1",
             CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C7: return_exceptions with a cancelled child: [0, CancelledError, 2]
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c7_main, cio_future *k1;)
{
    CIO_BEGIN();
    self->k1 = KID(loop, "t1", 10, 1);
    CIO_AWAIT(cio_sleep(loop, 0));          /* t1 starts sleeping */
    trace_addf(&tr, "cancel=%ld", (long)cio_future_cancel(self->k1, NULL));
    CIO_AWAIT(cio_gather_ex(loop, 3, (cio_future *[]){
        KID(loop, "t0", 0.01, '0'), self->k1, KID(loop, "t2", 0.02, '2') }, 1));
    trace_add(&tr, "gathered");
    trace_gather_results(CIO_RESULT.p);
    CIO_END();
}

START_TEST(test_C7_gather_return_exceptions_with_cancelled_child)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char expect[256];

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c7_main), NULL), 0);
    snprintf(expect, sizeof expect, "cancel=1 t1-cancelled t0 t2 gathered r0=0 r1=%d r2=2",
             CIO_ECANCELLED);
    ck_assert_str_eq(tr.buf, expect);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C8: gather() of nothing
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c8_main, unsigned long it;)
{
    CIO_BEGIN();
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(cio_gather(loop, 0, NULL));
    ck_assert_ptr_nonnull(CIO_RESULT.p);
    ck_assert_uint_eq(cio_gather_size(CIO_RESULT.p), 0);
    /* done already: awaiting it does not yield */
    ck_assert_uint_eq(cio_loop_iteration(loop), self->it);
    trace_add(&tr, "empty-gathered");
    CIO_END();
}

START_TEST(test_C8_gather_of_nothing)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *g;
    cio_value v;
    unsigned long it;

    g = cio_gather(loop, 0, NULL);
    ck_assert_ptr_nonnull(g);
    ck_assert(cio_future_done(g));
    ck_assert(!cio_future_cancelled(g));
    v.p = NULL;
    ck_assert_int_eq(cio_future_result(g, &v), 0);
    ck_assert_ptr_eq(v.p, g);
    ck_assert_uint_eq(cio_gather_size(g), 0);
    ck_assert_int_eq(cio_gather_result(g, 0, NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_future_cancel(g, NULL), 0);
    /* run_until_complete of a done future: one iteration */
    it = cio_loop_iteration(loop);
    v.p = NULL;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, g, &v), 0);
    ck_assert_ptr_eq(v.p, g);
    ck_assert_uint_eq(cio_loop_iteration(loop), it + 1);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c8_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "empty-gathered");
    loop_done(loop, &r, 0);
}
END_TEST

/* A NULL entry (a future that could not be created) is a child failed with
 * CIO_ENOMEM: it fails a plain gather at once and is a result with
 * return_exceptions. */
START_TEST(test_gather_null_entry_is_enomem_child)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *g;
    cio_value v;

    g = cio_gather(loop, 2, (cio_future *[]){ KID(loop, "a", 0.01, 'a'), NULL });
    ck_assert_ptr_nonnull(g);
    ck_assert(cio_future_done(g));
    ck_assert_int_eq(cio_loop_run_until_complete(loop, g, NULL), CIO_ENOMEM);
    /* the other child was not cancelled and finishes unreported */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, stretch(0.02)), NULL), 0);
    ck_assert_str_eq(tr.buf, "a");

    reset_trace();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather_ex(loop, 2, (cio_future *[]){
        NULL, KID(loop, "b", 0.01, 'b') }, 1), &v), 0);
    ck_assert_uint_eq(cio_gather_size(v.p), 2);
    ck_assert_ptr_null(cio_gather_child(v.p, 0));
    ck_assert_ptr_nonnull(cio_gather_child(v.p, 1));
    trace_gather_results(v.p);
    {
        char expect[64];

        snprintf(expect, sizeof expect, "b r0=%d r1=b", CIO_ENOMEM);
        ck_assert_str_eq(tr.buf, expect);
    }
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * wait: C10 FIRST_COMPLETED
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c10_main, cio_future *fast; cio_future *slow;)
{
    cio_future *const *set;
    size_t n;

    CIO_BEGIN();
    self->fast = KID(loop, "fast", 0.01, 'f');
    self->slow = KID(loop, "slow", 0.05, 's');
    CIO_AWAIT(cio_wait(loop, 2, (cio_future *[]){
        cio_future_ref(self->fast), cio_future_ref(self->slow) }, -1, CIO_FIRST_COMPLETED));
    trace_add(&tr, "wait-done");
    set = cio_wait_done(CIO_RESULT.p, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_eq(set[0], self->fast);
    set = cio_wait_pending(CIO_RESULT.p, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_eq(set[0], self->slow);
    ck_assert(!cio_future_done(self->slow));
    CIO_AWAIT(self->fast);
    trace_addf(&tr, "fast=%c", (int)CIO_RESULT.i);
    CIO_AWAIT(cio_future_ref(self->slow));      /* not cancelled */
    trace_addf(&tr, "slow=%c", (int)CIO_RESULT.i);
    ck_assert(!cio_future_cancelled(self->slow));
    cio_future_unref(self->slow);
    CIO_END();
}

START_TEST(test_C10_wait_first_completed)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c10_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "fast wait-done fast=f slow slow=s");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C11: FIRST_EXCEPTION
 * ------------------------------------------------------------------------ */

START_TEST(test_C11_wait_first_exception)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *ok, *bad, *slow, *const *set;
    cio_value v;
    size_t n;

    ok = KID(loop, "ok", 0.01, 'o');
    bad = BAD(loop, "bad", 0.02, VALUE_ERROR);
    slow = KID(loop, "slow", 0.05, 's');
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_wait(loop, 3, (cio_future *[]){
        cio_future_ref(ok), cio_future_ref(bad), cio_future_ref(slow) },
        -1, CIO_FIRST_EXCEPTION), &v), 0);
    trace_add(&tr, "wait-done");
    set = cio_wait_done(v.p, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_eq(set[0], ok);
    ck_assert_ptr_eq(set[1], bad);
    set = cio_wait_pending(v.p, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_eq(set[0], slow);
    ck_assert(!cio_future_done(slow));
    ck_assert_int_eq(cio_future_error(bad), VALUE_ERROR);   /* still in the task */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(slow), NULL), 0);
    ck_assert(!cio_future_cancelled(slow));
    ck_assert_str_eq(tr.buf, "ok bad-raise wait-done slow");
    cio_future_unref(ok);
    cio_future_unref(bad);
    cio_future_unref(slow);

    /* nothing raises: like ALL_COMPLETED */
    reset_trace();
    ok = KID(loop, "ok", 0.01, 'o');
    slow = KID(loop, "slow", 0.02, 's');
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_wait(loop, 2, (cio_future *[]){
        cio_future_ref(ok), cio_future_ref(slow) }, -1, CIO_FIRST_EXCEPTION), &v), 0);
    trace_add(&tr, "wait-done");
    set = cio_wait_done(v.p, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_ptr_eq(set[0], ok);
    ck_assert_ptr_eq(set[1], slow);
    ck_assert_ptr_nonnull(cio_wait_pending(v.p, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_str_eq(tr.buf, "ok slow wait-done");
    cio_future_unref(ok);
    cio_future_unref(slow);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C12: ALL_COMPLETED with an error: the wait does not raise
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c12_main, cio_future *a; cio_future *b;)
{
    size_t nd, np;

    CIO_BEGIN();
    self->a = KID(loop, "a", 0.01, 'a');
    self->b = BAD(loop, "b", 0.02, VALUE_ERROR);
    CIO_AWAIT_TRY(cio_wait(loop, 2, (cio_future *[]){
        cio_future_ref(self->a), cio_future_ref(self->b) }, -1, CIO_ALL_COMPLETED));
    ck_assert_int_eq(CIO_ERROR, 0);
    ck_assert_ptr_nonnull(cio_wait_done(CIO_RESULT.p, &nd));
    cio_wait_pending(CIO_RESULT.p, &np);
    trace_addf(&tr, "done=%ld", (long)nd);
    trace_addf(&tr, "pending=%ld", (long)np);
    /* the error stays in the task */
    ck_assert_int_eq(cio_future_error(self->b), VALUE_ERROR);
    ck_assert_int_eq(cio_future_int(self->a), 'a');
    cio_future_unref(self->a);
    cio_future_unref(self->b);
    CIO_END();
}

START_TEST(test_C12_wait_all_completed_does_not_raise)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c12_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "a b-raise done=2 pending=0");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C13: a timeout ends the wait without an error or a cancel
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c13_main, cio_future *a; cio_future *b;)
{
    cio_future *const *set;
    size_t n;

    CIO_BEGIN();
    self->a = KID(loop, "a", 0.01, 'a');
    self->b = KID(loop, "b", 0.2, 'b');
    CIO_AWAIT_TRY(cio_wait(loop, 2, (cio_future *[]){
        cio_future_ref(self->a), cio_future_ref(self->b) }, stretch(0.05), CIO_ALL_COMPLETED));
    ck_assert_int_eq(CIO_ERROR, 0);
    trace_add(&tr, "wait-done");
    set = cio_wait_done(CIO_RESULT.p, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_eq(set[0], self->a);
    set = cio_wait_pending(CIO_RESULT.p, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_ptr_eq(set[0], self->b);
    CIO_AWAIT(self->a);
    CIO_AWAIT(self->b);                     /* not cancelled: returns 'b' */
    trace_addf(&tr, "b=%c", (int)CIO_RESULT.i);
    CIO_END();
}

START_TEST(test_C13_wait_timeout)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c13_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "a wait-done b b=b");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * C14: wait of nothing, a bad return_when: a future failed with CIO_EINVAL
 * ------------------------------------------------------------------------ */

CIO_ASYNC(c14_main, int unused;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_wait(loop, 0, NULL, -1, CIO_ALL_COMPLETED));
    trace_addf(&tr, "empty=%ld", (long)CIO_ERROR);
    CIO_AWAIT(cio_wait(loop, 0, NULL, 1.0, CIO_FIRST_COMPLETED));
    trace_add(&tr, "not-reached");
    CIO_END();
}

START_TEST(test_C14_wait_errors)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *w, *f;
    size_t n = 99;
    char expect[64];

    w = cio_wait(loop, 0, NULL, -1, CIO_ALL_COMPLETED);
    ck_assert_ptr_nonnull(w);
    ck_assert(cio_future_done(w));
    ck_assert(!cio_future_cancelled(w));
    ck_assert_ptr_null(cio_wait_done(w, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(cio_future_error(w), CIO_EINVAL);
    cio_future_unref(w);

    /* a bad return_when: refused, the future given is released, untouched */
    f = cio_future_new(loop);
    w = cio_wait(loop, 1, (cio_future *[]){ cio_future_ref(f) }, -1, (cio_return_when)7);
    ck_assert_ptr_nonnull(w);
    ck_assert(cio_future_done(w));
    ck_assert_int_eq(cio_future_error(w), CIO_EINVAL);
    cio_future_unref(w);
    w = cio_wait(loop, 1, (cio_future *[]){ cio_future_ref(f) }, -1, (cio_return_when)-1);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(cio_future_error(w), CIO_EINVAL);
    cio_future_unref(w);
    ck_assert(!cio_future_done(f));
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);
    cio_future_unref(f);

    /* awaited in a task, and through run_until_complete */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, c14_main), NULL),
                     CIO_EINVAL);
    snprintf(expect, sizeof expect, "empty=%d", CIO_EINVAL);
    ck_assert_str_eq(tr.buf, expect);
    ck_assert_int_eq(cio_loop_run_until_complete(loop,
                     cio_wait(loop, 0, NULL, -1, CIO_ALL_COMPLETED), NULL), CIO_EINVAL);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *combinators_suite(void)
{
    Suite *s = suite_create("combinators");
    TCase *tc = tcase_create("combinators");

    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, reset_trace, NULL);
    tcase_add_test(tc, test_C1_gather_results_in_argument_order);
    tcase_add_test(tc, test_C2_gather_first_error_does_not_cancel_others);
    tcase_add_test(tc, test_C2_gather_later_errors_marked_retrieved);
    tcase_add_test(tc, test_C3_gather_return_exceptions);
    tcase_add_test(tc, test_C4_cancel_gather_cancels_children);
    tcase_add_test(tc, test_gather_cancel_cancels_every_pending_child);
    tcase_add_test(tc, test_gather_return_exceptions_cancelled_raises);
    tcase_add_test(tc, test_gather_duplicate_future);
    tcase_add_test(tc, test_gather_of_sleeps);
    tcase_add_test(tc, test_C5_cancel_task_awaiting_gather);
    tcase_add_test(tc, test_C7_gather_return_exceptions_with_cancelled_child);
    tcase_add_test(tc, test_C8_gather_of_nothing);
    tcase_add_test(tc, test_gather_null_entry_is_enomem_child);
    tcase_add_test(tc, test_C10_wait_first_completed);
    tcase_add_test(tc, test_C11_wait_first_exception);
    tcase_add_test(tc, test_C12_wait_all_completed_does_not_raise);
    tcase_add_test(tc, test_C13_wait_timeout);
    tcase_add_test(tc, test_C14_wait_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(combinators_suite);
}
