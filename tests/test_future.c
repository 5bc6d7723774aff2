/* test_future.c - futures: states, results, errors, cancellation and done
 * callbacks (asyncio-cases.md, section "Future": F1-F7, F9, F12, F13),
 * plus remove_done_callback, argument checks and reference handling.
 *
 * Orders are checked by recording a trace and comparing the whole string.
 * Every test frees its loop with loop_done() and states how many reports the
 * exception handler must have received.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include "testutil.h"


/* ---- helpers ---- */

static trace g_tr;          /* the trace of the running test */

static void setup(void)
{
    memset(&g_tr, 0, sizeof g_tr);
}

/* A loop callback that records its argument (a word). */
static int rec(cio_loop *loop, void *arg)
{
    (void)loop;
    trace_add(&g_tr, arg);
    return 0;
}

/* A loop callback that stops the loop. */
static int stop_cb(cio_loop *loop, void *arg)
{
    (void)arg;
    cio_loop_stop(loop);
    return 0;
}

/* A done callback that records its argument (a word). */
static int rec_done(cio_future *f, void *arg)
{
    ck_assert_ptr_nonnull(f);
    ck_assert(cio_future_done(f));
    trace_add(&g_tr, arg);
    return 0;
}

/* A done callback that records its argument and "raises" (-EDOM). */
static int bad_done(cio_future *f, void *arg)
{
    (void)f;
    trace_add(&g_tr, arg);
    return -EDOM;
}

/* Run exactly one iteration of the loop. */
static void run_one_iteration(cio_loop *loop)
{
    unsigned long before = cio_loop_iteration(loop);

    cio_loop_stop(loop);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_uint_eq(cio_loop_iteration(loop), before + 1);
}

/* ---- F1: a new future ---- */

START_TEST(test_F1_new_future_is_pending)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_value v = { .i = 99 };

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_eq(cio_future_loop(f), loop);
    ck_assert_int_eq(cio_future_done(f), 0);
    ck_assert_int_eq(cio_future_cancelled(f), 0);
    ck_assert_int_eq(cio_future_result(f, &v), CIO_EINVALSTATE);
    ck_assert_int_eq(v.i, 99);                  /* untouched */
    ck_assert_int_eq(cio_future_error(f), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_future_int(f), 0);
    ck_assert_ptr_null(cio_future_ptr(f));
    ck_assert_ptr_null(cio_future_cancel_message(f));
    /* asking did not change anything */
    ck_assert_int_eq(cio_future_done(f), 0);
    ck_assert_int_eq(cio_future_cancelled(f), 0);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- F2: set_result ---- */

START_TEST(test_F2_set_result_makes_done)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_value v = { .i = 0 };

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);
    ck_assert_int_eq(cio_future_done(f), 1);
    ck_assert_int_eq(cio_future_cancelled(f), 0);
    ck_assert_int_eq(cio_future_result(f, &v), 0);
    ck_assert_int_eq(v.i, 1);
    ck_assert_int_eq(cio_future_int(f), 1);
    ck_assert_int_eq(cio_future_error(f), 0);
    ck_assert_int_eq(cio_future_cancel(f, NULL), 0);
    /* the failed cancel changed nothing */
    ck_assert_int_eq(cio_future_cancelled(f), 0);
    ck_assert_int_eq(cio_future_int(f), 1);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* Pointer and cio_value results. */
START_TEST(test_F2_pointer_and_value_results)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_future *g = cio_future_new(loop);
    cio_value v = { .p = NULL };
    int x = 0;

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(cio_future_set_ptr(f, &x), 0);
    ck_assert_ptr_eq(cio_future_ptr(f), &x);
    ck_assert_int_eq(cio_future_result(f, &v), 0);
    ck_assert_ptr_eq(v.p, &x);
    ck_assert_int_eq(cio_future_result(f, NULL), 0);    /* out may be NULL */

    v.i = -12345;
    ck_assert_int_eq(cio_future_set_result(g, v), 0);
    v.i = 0;
    ck_assert_int_eq(cio_future_result(g, &v), 0);
    ck_assert_int_eq(v.i, -12345);
    ck_assert_int_eq(cio_future_int(g), -12345);
    cio_future_unref(f);
    cio_future_unref(g);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- F3: completing twice ---- */

START_TEST(test_F3_set_twice_or_after_cancel_is_invalid_state)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *a = cio_future_new(loop);
    cio_future *b = cio_future_new(loop);
    cio_value v;

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);

    /* set_result twice; set_exception after set_result */
    ck_assert_int_eq(cio_future_set_int(a, 1), 0);
    ck_assert_int_eq(cio_future_set_int(a, 2), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_future_set_ptr(a, &v), CIO_EINVALSTATE);
    v.i = 3;
    ck_assert_int_eq(cio_future_set_result(a, v), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_future_set_error(a, CIO_EINVAL), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_future_int(a), 1);     /* the first result stays */
    ck_assert_int_eq(cio_future_error(a), 0);

    /* set_result / set_exception after cancel() */
    ck_assert_int_eq(cio_future_cancel(b, NULL), 1);
    ck_assert_int_eq(cio_future_set_int(b, 1), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_future_set_error(b, CIO_EINVAL), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_future_cancelled(b), 1);
    ck_assert_int_eq(cio_future_error(b), CIO_ECANCELLED);

    cio_future_unref(a);
    cio_future_unref(b);
    loop_done(loop, &r, 0);
}
END_TEST

/* set_result after set_error keeps the error. */
START_TEST(test_F3_set_result_after_error_is_invalid_state)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_set_error(f, CIO_ETIMEDOUT), 0);
    ck_assert_int_eq(cio_future_set_int(f, 1), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_future_set_error(f, CIO_EINVAL), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_future_cancel(f, NULL), 0);
    ck_assert_int_eq(cio_future_cancelled(f), 0);
    ck_assert_int_eq(cio_future_error(f), CIO_ETIMEDOUT);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- F4: set_exception ---- */

START_TEST(test_F4_set_error_and_invalid_codes)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_future *g = cio_future_new(loop);
    cio_value v = { .i = 77 };

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(g);

    /* set_exception(ValueError): result() raises it, exception() returns it */
    ck_assert_int_eq(cio_future_set_error(f, CIO_EINVAL), 0);
    ck_assert_int_eq(cio_future_done(f), 1);
    ck_assert_int_eq(cio_future_cancelled(f), 0);
    ck_assert_int_eq(cio_future_result(f, &v), CIO_EINVAL);
    ck_assert_int_eq(v.i, 77);                  /* no result stored */
    ck_assert_int_eq(cio_future_error(f), CIO_EINVAL);
    ck_assert_int_eq(cio_future_int(f), 0);

    /* a system error (negated errno) works the same way */
    ck_assert_int_eq(cio_future_set_error(g, -ECONNREFUSED), 0);
    ck_assert_int_eq(cio_future_error(g), -ECONNREFUSED);
    cio_future_unref(g);

    /* the C stand-in for set_exception(StopIteration()): a code that is not
     * an error is rejected and changes nothing */
    g = cio_future_new(loop);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(cio_future_set_error(g, 0), CIO_EINVAL);
    ck_assert_int_eq(cio_future_set_error(g, 1), CIO_EINVAL);
    ck_assert_int_eq(cio_future_set_error(g, INT_MAX), CIO_EINVAL);
    ck_assert_int_eq(cio_future_done(g), 0);
    ck_assert_int_eq(cio_future_cancelled(g), 0);
    ck_assert_int_eq(cio_future_error(g), CIO_EINVALSTATE);
    /* still usable */
    ck_assert_int_eq(cio_future_set_int(g, 5), 0);
    ck_assert_int_eq(cio_future_int(g), 5);

    /* rejected on a done future too, and the outcome stays */
    ck_assert_int_eq(cio_future_set_error(f, 0), CIO_EINVAL);
    ck_assert_int_eq(cio_future_error(f), CIO_EINVAL);

    cio_future_unref(f);
    cio_future_unref(g);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- F5: cancel ---- */

START_TEST(test_F5_cancel_pending_future)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    static const char why[] = "why";
    cio_value v = { .i = 5 };

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_cancel(f, why), 1);
    ck_assert_int_eq(cio_future_cancelled(f), 1);
    ck_assert_int_eq(cio_future_done(f), 1);
    ck_assert_int_eq(cio_future_result(f, &v), CIO_ECANCELLED);
    ck_assert_int_eq(v.i, 5);
    ck_assert_int_eq(cio_future_error(f), CIO_ECANCELLED);
    ck_assert_ptr_eq(cio_future_cancel_message(f), why);
    ck_assert_str_eq(cio_future_cancel_message(f), "why");
    ck_assert_int_eq(cio_future_int(f), 0);
    ck_assert_ptr_null(cio_future_ptr(f));
    /* a second cancel returns False and keeps the first message */
    ck_assert_int_eq(cio_future_cancel(f, "again"), 0);
    ck_assert_ptr_eq(cio_future_cancel_message(f), why);
    ck_assert_int_eq(cio_future_cancelled(f), 1);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* cancel(NULL): no message. */
START_TEST(test_F5_cancel_without_message)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_cancel(f, NULL), 1);
    ck_assert_ptr_null(cio_future_cancel_message(f));
    ck_assert_int_eq(cio_future_error(f), CIO_ECANCELLED);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- F6: done callbacks are scheduled, in registration order ---- */

START_TEST(test_F6_callbacks_scheduled_in_order)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("A"), NULL), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("cb1")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("cb2")), 0);
    ck_assert_int_eq(cio_future_set_int(f, 17), 0);
    ck_assert_int_eq(cio_future_int(f), 17);    /* the result, not the callbacks */
    trace_add(&g_tr, "X");                      /* nothing ran inline */
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("B"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "X A cb1 cb2 B");
    ck_assert_int_eq(cio_future_int(f), 17);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* The same for set_error and cancel. */
START_TEST(test_F6_set_error_and_cancel_schedule_in_order)
{
    static const char bye[] = "bye";
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *e = cio_future_new(loop);
    cio_future *c = cio_future_new(loop);

    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("A"), NULL), 0);
    ck_assert_int_eq(cio_future_add_done_callback(e, rec_done, W("e1")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(c, rec_done, W("c1")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(e, rec_done, W("e2")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(c, rec_done, W("c2")), 0);
    ck_assert_int_eq(cio_future_cancel(c, bye), 1);
    ck_assert_ptr_eq(cio_future_cancel_message(c), bye);
    trace_add(&g_tr, "X");
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("B"), NULL), 0);
    ck_assert_int_eq(cio_future_set_error(e, CIO_EINVAL), 0);
    trace_add(&g_tr, "Y");
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("C"), NULL), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "X Y A c1 c2 B e1 e2 C");
    ck_assert_int_eq(cio_future_error(e), CIO_EINVAL);
    ck_assert_int_eq(cio_future_error(c), CIO_ECANCELLED);
    ck_assert_ptr_eq(cio_future_cancel_message(c), bye);
    cio_future_unref(e);
    cio_future_unref(c);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- F7: add_done_callback on a done future ---- */

START_TEST(test_F7_callback_on_done_future_is_scheduled)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_future *c = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(cio_future_set_int(f, 3), 0);
    ck_assert_int_eq(cio_future_cancel(c, NULL), 1);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("A"), NULL), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("cb")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(c, rec_done, W("ccb")), 0);
    ck_assert_str_eq(g_tr.buf, "");             /* not called inline */
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("B"), NULL), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "A cb ccb B");
    /* each ran exactly once */
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "A cb ccb B");
    cio_future_unref(f);
    cio_future_unref(c);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- F9: a raising callback ---- */

START_TEST(test_F9_raising_callback_reported_others_run)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("cb1")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, bad_done, W("bad")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("cb3")), 0);
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);
    ck_assert_int_eq(r.count, 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "cb1 bad cb3");
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.messages[0], "Exception in callback");
    ck_assert_int_eq(r.errs[0], -EDOM);
    ck_assert_ptr_eq(r.futures[0], f);
    /* the loop keeps going */
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("next"), NULL), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "cb1 bad cb3 next");
    cio_future_unref(f);
    loop_done(loop, &r, 1);
}
END_TEST

/* ---- F12: exception never retrieved ---- */

START_TEST(test_F12_unretrieved_error_reported_on_destroy)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_future *saved = f;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_set_error(f, CIO_EINVAL), 0);
    ck_assert_int_eq(r.count, 0);
    cio_future_unref(f);
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.messages[0], "Future exception was never retrieved");
    ck_assert_int_eq(r.errs[0], CIO_EINVAL);
    ck_assert_ptr_eq(r.futures[0], saved);
    loop_done(loop, &r, 1);
}
END_TEST

/* Retrieving with result() or exception() first suppresses the report;
 * results and cancellations are never reported. */
START_TEST(test_F12_retrieved_error_not_reported)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *a = cio_future_new(loop);
    cio_future *b = cio_future_new(loop);
    cio_future *c = cio_future_new(loop);
    cio_future *d = cio_future_new(loop);
    cio_future *e = cio_future_new(loop);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(cio_future_set_error(a, CIO_EINVAL), 0);
    ck_assert_int_eq(cio_future_result(a, NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_future_set_error(b, CIO_EINVAL), 0);
    ck_assert_int_eq(cio_future_error(b), CIO_EINVAL);
    ck_assert_int_eq(cio_future_set_int(c, 1), 0);
    ck_assert_int_eq(cio_future_cancel(d, NULL), 1);
    /* e stays pending */
    cio_future_unref(a);
    cio_future_unref(b);
    cio_future_unref(c);
    cio_future_unref(d);
    cio_future_unref(e);
    ck_assert_int_eq(r.count, 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* The report comes with the last reference, not the first unref. */
START_TEST(test_F12_report_on_last_reference_only)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_eq(cio_future_ref(f), f);
    ck_assert_int_eq(cio_future_set_error(f, -EIO), 0);
    cio_future_unref(f);
    ck_assert_int_eq(r.count, 0);
    cio_future_unref(f);
    ck_assert_int_eq(r.count, 1);
    ck_assert_int_eq(r.errs[0], -EIO);
    loop_done(loop, &r, 1);
}
END_TEST

/* A future destroyed because the loop closes (its last reference was a
 * scheduled done callback) is reported too: asyncio reports it when the
 * closed loop drops the callback (checked on CPython 3.11). */
START_TEST(test_F12_unretrieved_error_reported_when_loop_closes)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_future *saved = f;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_set_error(f, CIO_EINVAL), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("never")), 0);
    cio_future_unref(f);                        /* the callback holds it */
    ck_assert_int_eq(r.count, 0);
    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert_int_eq(cio_loop_free(loop), 0);   /* free first: no leak if it fails */
    ck_assert_str_eq(g_tr.buf, "");
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.messages[0], "Future exception was never retrieved");
    ck_assert_int_eq(r.errs[0], CIO_EINVAL);
    ck_assert_ptr_eq(r.futures[0], saved);
}
END_TEST

/* ---- F13: cancelling the future a task awaits ---- */

CIO_ASYNC(await_fut, cio_future *fut; int catch_it;)
{
    CIO_BEGIN();
    trace_add(&g_tr, "awaiting");
    if (self->catch_it) {
        CIO_AWAIT_TRY(cio_future_ref(self->fut));
        if (CIO_ERROR == CIO_ECANCELLED) {
            trace_add(&g_tr, "caught");
            CIO_RETURN(5);
        }
        trace_addf(&g_tr, "err=%ld", (long)CIO_ERROR);
        CIO_RETURN(-1);
    }
    CIO_AWAIT(cio_future_ref(self->fut));
    trace_add(&g_tr, "not-reached");
    CIO_FINALLY();
    trace_addf(&g_tr, "finally=%ld", (long)CIO_ERROR);
    CIO_END();
}

START_TEST(test_F13_cancelled_awaited_future_caught_task_not_cancelled)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_future *t;
    cio_value v = { .i = 0 };

    ck_assert_ptr_nonnull(f);
    t = CIO_START(loop, await_fut, .fut = f, .catch_it = 1);
    ck_assert_ptr_nonnull(t);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "awaiting");
    ck_assert_int_eq(cio_future_done(t), 0);
    ck_assert_int_eq(cio_future_cancel(f, "stop"), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), &v), 0);
    ck_assert_int_eq(v.i, 5);
    ck_assert_str_eq(g_tr.buf, "awaiting caught finally=0");
    ck_assert_int_eq(cio_future_cancelled(t), 0);
    ck_assert_int_eq(cio_future_done(t), 1);
    ck_assert_int_eq(cio_future_int(t), 5);
    cio_future_unref(t);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* Not caught: the cancellation propagates and the task ends cancelled. */
START_TEST(test_F13_cancelled_awaited_future_uncaught_cancels_task)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_future *t;

    ck_assert_ptr_nonnull(f);
    t = CIO_START(loop, await_fut, .fut = f, .catch_it = 0);
    ck_assert_ptr_nonnull(t);
    run_one_iteration(loop);
    ck_assert_int_eq(cio_future_cancel(f, NULL), 1);
    ck_assert_int_eq(cio_future_done(t), 0);    /* delivered at its await */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL),
                     CIO_ECANCELLED);
    ck_assert_str_eq(g_tr.buf, "awaiting finally=-4001");
    ck_assert_int_eq(cio_future_cancelled(t), 1);
    ck_assert_int_eq(cio_future_error(t), CIO_ECANCELLED);
    cio_future_unref(t);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- remove_done_callback ---- */

/* Callback arguments compared by identity. */
static char word_a[] = "a", word_x[] = "x";

START_TEST(test_remove_done_callback_counts_and_prevents_run)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, word_a), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("b")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, word_a), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, bad_done, word_a), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("c")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, word_a), 0);
    /* only (rec_done, "a") matches: three registrations */
    ck_assert_int_eq(cio_future_remove_done_callback(f, rec_done, word_a), 3);
    ck_assert_int_eq(cio_future_remove_done_callback(f, rec_done, word_a), 0);
    ck_assert_int_eq(cio_future_remove_done_callback(f, rec_done, W("zzz")), 0);
    /* remove the bad one too: it must not run nor be reported */
    ck_assert_int_eq(cio_future_remove_done_callback(f, bad_done, word_a), 1);
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "b c");
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* Removing every callback, then adding again. */
START_TEST(test_remove_done_callback_all_then_add)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_remove_done_callback(f, rec_done, word_x), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, word_x), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, word_x), 0);
    ck_assert_int_eq(cio_future_remove_done_callback(f, rec_done, word_x), 2);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("y")), 0);
    ck_assert_int_eq(cio_future_cancel(f, NULL), 1);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "y");
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- references and lifetimes ---- */

/* A scheduled done callback keeps its future alive. */
START_TEST(test_callbacks_keep_future_alive)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_future *g = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("f")), 0);
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);
    cio_future_unref(f);                        /* the callback still holds it */
    ck_assert_int_eq(cio_future_set_int(g, 2), 0);
    ck_assert_int_eq(cio_future_add_done_callback(g, rec_done, W("g")), 0);
    cio_future_unref(g);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "f g");
    loop_done(loop, &r, 0);
}
END_TEST

/* A pending future freed with callbacks registered: they never run. */
START_TEST(test_pending_future_freed_callbacks_never_run)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("never")), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, bad_done, W("never")), 0);
    cio_future_unref(f);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "");
    loop_done(loop, &r, 0);
}
END_TEST

/* A callback added from a done callback runs on the next iteration. */
static cio_future *g_again;

static int add_again(cio_future *f, void *arg)
{
    (void)arg;
    trace_add(&g_tr, "first");
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("second")), 0);
    trace_add(&g_tr, "added");
    g_again = f;
    return 0;
}

START_TEST(test_callback_added_from_callback_runs_next_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    g_again = NULL;
    ck_assert_int_eq(cio_future_add_done_callback(f, add_again, NULL), 0);
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "first added");
    ck_assert_ptr_eq(g_again, f);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "first added second");
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- invalid arguments ---- */

START_TEST(test_invalid_arguments_change_nothing)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_value v = { .i = 0 };

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_null(cio_future_new(NULL));
    ck_assert_int_eq(cio_future_add_done_callback(f, NULL, NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_future_add_done_callback(NULL, rec_done, W("x")), CIO_EINVAL);
    ck_assert_int_eq(cio_future_remove_done_callback(NULL, rec_done, W("x")), 0);
    ck_assert_int_eq(cio_future_set_int(NULL, 1), CIO_EINVAL);
    ck_assert_int_eq(cio_future_set_ptr(NULL, NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_future_set_result(NULL, v), CIO_EINVAL);
    ck_assert_int_eq(cio_future_set_error(NULL, CIO_EINVAL), CIO_EINVAL);
    ck_assert_int_eq(cio_future_cancel(NULL, NULL), 0);
    ck_assert_int_eq(cio_future_result(NULL, &v), CIO_EINVAL);
    ck_assert_int_eq(cio_future_done(NULL), 0);
    ck_assert_int_eq(cio_future_cancelled(NULL), 0);
    ck_assert_ptr_null(cio_future_loop(NULL));
    ck_assert_ptr_null(cio_future_ref(NULL));
    cio_future_unref(NULL);
    /* f is untouched: pending, no callback registered */
    ck_assert_int_eq(cio_future_done(f), 0);
    ck_assert_int_eq(cio_future_set_int(f, 4), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "");
    ck_assert_int_eq(cio_future_int(f), 4);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

static Suite *future_suite(void)
{
    Suite *s = suite_create("future");
    TCase *tc = tcase_create("future");

    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_F1_new_future_is_pending);
    tcase_add_test(tc, test_F2_set_result_makes_done);
    tcase_add_test(tc, test_F2_pointer_and_value_results);
    tcase_add_test(tc, test_F3_set_twice_or_after_cancel_is_invalid_state);
    tcase_add_test(tc, test_F3_set_result_after_error_is_invalid_state);
    tcase_add_test(tc, test_F4_set_error_and_invalid_codes);
    tcase_add_test(tc, test_F5_cancel_pending_future);
    tcase_add_test(tc, test_F5_cancel_without_message);
    tcase_add_test(tc, test_F6_callbacks_scheduled_in_order);
    tcase_add_test(tc, test_F6_set_error_and_cancel_schedule_in_order);
    tcase_add_test(tc, test_F7_callback_on_done_future_is_scheduled);
    tcase_add_test(tc, test_F9_raising_callback_reported_others_run);
    tcase_add_test(tc, test_F12_unretrieved_error_reported_on_destroy);
    tcase_add_test(tc, test_F12_retrieved_error_not_reported);
    tcase_add_test(tc, test_F12_report_on_last_reference_only);
    tcase_add_test(tc, test_F12_unretrieved_error_reported_when_loop_closes);
    tcase_add_test(tc, test_F13_cancelled_awaited_future_caught_task_not_cancelled);
    tcase_add_test(tc, test_F13_cancelled_awaited_future_uncaught_cancels_task);
    tcase_add_test(tc, test_remove_done_callback_counts_and_prevents_run);
    tcase_add_test(tc, test_remove_done_callback_all_then_add);
    tcase_add_test(tc, test_callbacks_keep_future_alive);
    tcase_add_test(tc, test_pending_future_freed_callbacks_never_run);
    tcase_add_test(tc, test_callback_added_from_callback_runs_next_iteration);
    tcase_add_test(tc, test_invalid_arguments_change_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(future_suite);
}
