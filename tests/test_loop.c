/* test_loop.c - the event loop: ready queue, timers, handles, run / stop /
 * close, the exception handler (asyncio-cases.md, section "Loop": L1, L3,
 * L4, L7-L14, L16, L17), plus handles, stop semantics, argument checks and
 * the idle loop's CPU use.
 *
 * Orders are checked by recording a trace and comparing the whole string.
 * Time is only ever checked as a lower bound ("never early") or as a bound
 * on CPU use, never as a speed. Every test frees its loop(s) with
 * loop_done() and states how many reports the exception handler must have
 * received.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <time.h>
#include "testutil.h"


/* ---- helpers ---- */

static trace g_tr;          /* the trace of the running test */

static void setup(void)
{
    memset(&g_tr, 0, sizeof g_tr);
}

static double mono_now(void)
{
    struct timespec ts;

    ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;

    ck_assert_int_eq(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Records its argument (a word). */
static int rec(cio_loop *loop, void *arg)
{
    (void)loop;
    trace_add(&g_tr, arg);
    return 0;
}

/* Records its argument (an integer). */
static int rec_num(cio_loop *loop, void *arg)
{
    (void)loop;
    trace_addf(&g_tr, "%ld", (long)(intptr_t)arg);
    return 0;
}

/* Records its argument and "raises" (ZeroDivisionError: -EDOM). */
static int bad(cio_loop *loop, void *arg)
{
    (void)loop;
    trace_add(&g_tr, arg);
    return -EDOM;
}

static int stop_cb(cio_loop *loop, void *arg)
{
    (void)arg;
    cio_loop_stop(loop);
    return 0;
}

/* Records "running=N" from inside the loop. */
static int note_running(cio_loop *loop, void *arg)
{
    (void)arg;
    trace_addf(&g_tr, "running=%ld", (long)cio_loop_is_running(loop));
    return 0;
}

/* Records its argument, then schedules rec("later") for the next iteration. */
static int rec_and_schedule(cio_loop *loop, void *arg)
{
    trace_add(&g_tr, arg);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("later"), NULL), 0);
    return 0;
}

static int rec_done(cio_future *f, void *arg)
{
    (void)f;
    trace_add(&g_tr, arg);
    return 0;
}

/* Run exactly one iteration of the loop. */
static void run_one_iteration(cio_loop *loop)
{
    unsigned long before = cio_loop_iteration(loop);

    cio_loop_stop(loop);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_uint_eq(cio_loop_iteration(loop), before + 1);
}

/* reports plus the handle of each report (L9). */
typedef struct hreports {
    reports r;
    cio_handle *handles[16];
} hreports;

static void record_with_handle(cio_loop *loop, const cio_exception_context *ctx,
                               void *arg)
{
    hreports *hr = arg;

    if (hr->r.count < 16)
        hr->handles[hr->r.count] = ctx->handle;
    record_report(loop, ctx, &hr->r);
}

/* ---- L1: call_soon is FIFO ---- */

START_TEST(test_L1_call_soon_fifo)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("a"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("b"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("c"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, stop_cb, NULL, NULL), 0);
    ck_assert_str_eq(g_tr.buf, "");             /* nothing runs inline */
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "a b c");
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L3: timers run in deadline order ---- */

START_TEST(test_L3_call_later_deadline_order)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    /* each delay counts from its own call: the later one stays later even
     * if the test stalls between the two calls (valgrind on a loaded CI) */
    ck_assert_int_eq(cio_loop_call_later(loop, stretch(0.05), rec, W("late"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.01, rec, W("early"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, stretch(0.05) + 0.01, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "early late");
    loop_done(loop, &r, 0);
}
END_TEST

/* Timers that are all due at once still run in deadline order, after the
 * callbacks that were already ready. */
START_TEST(test_L3_due_timers_run_in_deadline_order)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    double now = cio_loop_time(loop);

    ck_assert_int_eq(cio_loop_call_later(loop, 0, rec, W("zero"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, now - 1, rec, W("past1"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, now - 2, rec, W("past2"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("soon"), NULL), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "soon past2 past1 zero");
    loop_done(loop, &r, 0);
}
END_TEST

/* A timer started while an iteration runs, already due, waits for the
 * next iteration, even when it is due before timers that run in this one
 * (asyncio moves due timers to _ready when an iteration begins): "A"
 * schedules "C" and a timer "B" due a second before "O", the timer due
 * when the iteration began; "O" schedules "D". */
static int rec_then_soon_d(cio_loop *loop, void *arg)
{
    trace_add(&g_tr, arg);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("D"), NULL), 0);
    return 0;
}

static int rec_then_c_and_past_b(cio_loop *loop, void *arg)
{
    trace_add(&g_tr, arg);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("C"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, cio_loop_time(loop) - 2, rec, W("B"), NULL), 0);
    return 0;
}

START_TEST(test_L3_timer_started_due_waits_for_next_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_call_soon(loop, rec_then_c_and_past_b, W("A"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, cio_loop_time(loop) - 1, rec_then_soon_d, W("O"),
                                      NULL), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "A O");
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "A O C D B");
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L4: equal deadlines run FIFO ---- */

START_TEST(test_L4_equal_deadlines_fifo)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    double t = cio_loop_time(loop) + 0.01;
    long i;

    for (i = 0; i < 10; i++)
        ck_assert_int_eq(cio_loop_call_at(loop, t, rec_num, (void *)(intptr_t)i, NULL), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, t, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "0 1 2 3 4 5 6 7 8 9");
    loop_done(loop, &r, 0);
}
END_TEST

/* Five zero-delay timers (libev's own heap ran them 0,4,3,2,1). */
START_TEST(test_L4_zero_delay_timers_fifo)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    long i;

    for (i = 0; i < 5; i++)
        ck_assert_int_eq(cio_loop_call_later(loop, 0, rec_num, (void *)(intptr_t)i, NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "0 1 2 3 4");
    loop_done(loop, &r, 0);
}
END_TEST

/* Many timers on three interleaved deadlines (the heap grows past its
 * first allocation): deadline order first, then call order. */
START_TEST(test_L4_many_timers_deadline_then_fifo)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    double t = cio_loop_time(loop) + 0.005;
    trace expected;
    long i, d;

    memset(&expected, 0, sizeof expected);
    for (i = 0; i < 150; i++)
        ck_assert_int_eq(cio_loop_call_at(loop, t + (double)(2 - i % 3) * 0.002, rec_num,
                                          (void *)(intptr_t)i, NULL), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, t + 0.004, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    for (d = 2; d >= 0; d--)
        for (i = d; i < 150; i += 3)
            trace_addf(&expected, "%ld", i);
    ck_assert_str_eq(g_tr.buf, expected.buf);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L7: cancelling handles ---- */

START_TEST(test_L7_cancelled_handles_never_run)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *hs = NULL, *hl = NULL, *ha = NULL;

    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("soon"), &hs), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.001, rec, W("later"), &hl), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, cio_loop_time(loop) - 1, rec, W("past"), &ha), 0);
    ck_assert_ptr_nonnull(hs);
    ck_assert_ptr_nonnull(hl);
    ck_assert_ptr_nonnull(ha);
    ck_assert_int_eq(cio_handle_cancelled(hs), 0);
    ck_assert_int_eq(cio_handle_cancelled(hl), 0);
    cio_handle_cancel(hs);
    cio_handle_cancel(hl);
    cio_handle_cancel(ha);
    cio_handle_cancel(ha);                      /* twice: harmless */
    ck_assert_int_eq(cio_handle_cancelled(hs), 1);
    ck_assert_int_eq(cio_handle_cancelled(hl), 1);
    ck_assert_int_eq(cio_handle_cancelled(ha), 1);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("y"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.02, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "y");
    ck_assert_int_eq(cio_handle_cancelled(hs), 1);
    cio_handle_unref(hs);
    cio_handle_unref(hl);
    cio_handle_unref(ha);
    loop_done(loop, &r, 0);
}
END_TEST

/* cancel() after the callback ran has no other effect. */
START_TEST(test_L7_cancel_after_run_is_harmless)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *hs = NULL, *hl = NULL;

    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("soon"), &hs), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0, rec, W("timer"), &hl), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "soon timer");
    cio_handle_cancel(hs);
    cio_handle_cancel(hl);
    ck_assert_int_eq(cio_handle_cancelled(hs), 1);  /* as asyncio: the flag is set */
    ck_assert_int_eq(cio_handle_cancelled(hl), 1);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "soon timer");
    cio_handle_unref(hs);
    cio_handle_unref(hl);
    loop_done(loop, &r, 0);
}
END_TEST

/* A callback cancels handles that are already in this iteration's queue
 * (a call_soon and a timer that came due): they are skipped. */
typedef struct cancel_pair {
    cio_handle *a, *b;
} cancel_pair;

static int cancel_both(cio_loop *loop, void *arg)
{
    cancel_pair *p = arg;

    (void)loop;
    trace_add(&g_tr, "canceller");
    cio_handle_cancel(p->a);
    cio_handle_cancel(p->b);
    return 0;
}

START_TEST(test_L7_cancel_queued_handles_in_same_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cancel_pair p = { NULL, NULL };

    ck_assert_int_eq(cio_loop_call_soon(loop, cancel_both, &p, NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("soon"), &p.a), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, cio_loop_time(loop) - 1, rec, W("due"), &p.b), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("after"), NULL), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "canceller after");
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "canceller after");
    cio_handle_unref(p.a);
    cio_handle_unref(p.b);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L8: when() and timers never fire early ---- */

START_TEST(test_L8_when_is_time_plus_delay)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *h = NULL, *ha = NULL;
    double before, after, t;

    before = cio_loop_time(loop);
    ck_assert_int_eq(cio_loop_call_later(loop, 10, rec, W("never"), &h), 0);
    after = cio_loop_time(loop);
    ck_assert_ptr_nonnull(h);
    ck_assert(cio_handle_when(h) >= before + 10);
    ck_assert(cio_handle_when(h) <= after + 10);
    t = after + 123.25;
    ck_assert_int_eq(cio_loop_call_at(loop, t, rec, W("never"), &ha), 0);
    ck_assert(cio_handle_when(ha) == t);
    cio_handle_cancel(h);
    cio_handle_cancel(ha);
    cio_handle_unref(h);
    cio_handle_unref(ha);
    ck_assert_str_eq(g_tr.buf, "");
    loop_done(loop, &r, 0);
}
END_TEST

typedef struct timing {
    cio_handle *h;
    double start;       /* monotonic clock before call_later */
    double delay;
    double fired_loop;  /* loop time when it ran */
    double fired_mono;  /* monotonic clock when it ran */
    int runs;
} timing;

static int note_time(cio_loop *loop, void *arg)
{
    timing *t = arg;

    t->fired_loop = cio_loop_time(loop);
    t->fired_mono = mono_now();
    t->runs++;
    return 0;
}

START_TEST(test_L8_timers_never_fire_early)
{
    static const double delays[] = { 0.001, 0.003, 0.01, 0.02, 0.05 };
    enum { N = sizeof delays / sizeof delays[0] };
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    timing t[N];
    double start;
    int i;

    memset(t, 0, sizeof t);
    for (i = 0; i < N; i++) {
        t[i].delay = delays[i];
        t[i].start = mono_now();
        ck_assert_int_eq(cio_loop_call_later(loop, delays[i], note_time, &t[i], &t[i].h), 0);
    }
    ck_assert_int_eq(cio_loop_call_later(loop, 0.06, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(t[i].runs, 1);
        ck_assert_msg(t[i].fired_loop >= cio_handle_when(t[i].h),
                      "timer %d fired early: %.9f < %.9f", i, t[i].fired_loop,
                      cio_handle_when(t[i].h));
#ifndef CIO_TEST_BARE   /* the virtual clock takes no real time */
        ck_assert_msg(t[i].fired_mono - t[i].start >= t[i].delay,
                      "timer %d fired after %.9f s < %.3f s", i,
                      t[i].fired_mono - t[i].start, t[i].delay);
#endif
        cio_handle_unref(t[i].h);
    }

    /* sleep(0.05), measured with a monotonic clock, takes >= 0.05 s */
    start = mono_now();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.05), NULL), 0);
#ifndef CIO_TEST_BARE
    ck_assert_msg(mono_now() - start >= 0.05, "sleep(0.05) took %.9f s",
                  mono_now() - start);
#endif
    (void)start;
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L9: a raising callback ---- */

START_TEST(test_L9_raising_callback_reported_loop_goes_on)
{
    hreports hr;
    cio_loop *loop = loop_with_reports(&hr.r);
    cio_handle *h = NULL, *ht = NULL;

    memset(hr.handles, 0, sizeof hr.handles);
    cio_loop_set_exception_handler(loop, record_with_handle, &hr);
    ck_assert_int_eq(cio_loop_call_soon(loop, bad, W("bad"), &h), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("next"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.005, bad, W("tbad"), &ht), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.01, rec, W("timer"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.02, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "bad next tbad timer");
    ck_assert_int_eq(hr.r.count, 2);
    ck_assert_str_eq(hr.r.messages[0], "Exception in callback");
    ck_assert_int_eq(hr.r.errs[0], -EDOM);
    ck_assert_ptr_eq(hr.handles[0], h);
    ck_assert_ptr_null(hr.r.futures[0]);
    ck_assert_str_eq(hr.r.messages[1], "Exception in callback");
    ck_assert_int_eq(hr.r.errs[1], -EDOM);
    ck_assert_ptr_eq(hr.handles[1], ht);
    ck_assert_ptr_null(hr.r.futures[1]);
    cio_handle_unref(h);
    cio_handle_unref(ht);
    loop_done(loop, &hr.r, 2);
}
END_TEST

/* ---- L10 / L11: run_until_complete on a coroutine ---- */

CIO_ASYNC(return_42, int unused;)
{
    CIO_BEGIN();
    trace_add(&g_tr, "start");
    CIO_YIELD();
    trace_add(&g_tr, "resumed");
    CIO_RETURN(42);
    CIO_END();
}

START_TEST(test_L10_run_until_complete_returns_result)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v = { .i = 0 };

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, return_42, .unused = 0),
                                                 &v), 0);
    ck_assert_int_eq(v.i, 42);
    ck_assert_str_eq(g_tr.buf, "start resumed");
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Running the same (now done) task again returns the same result in one
 * iteration. */
START_TEST(test_L10_run_same_task_twice)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t = CIO_START(loop, return_42, .unused = 0);
    cio_value v = { .i = 0 };
    unsigned long it0;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), &v), 0);
    ck_assert_int_eq(v.i, 42);
    v.i = 0;
    it0 = cio_loop_iteration(loop);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), &v), 0);
    ck_assert_int_eq(v.i, 42);
    ck_assert_uint_eq(cio_loop_iteration(loop), it0 + 1);
    ck_assert_str_eq(g_tr.buf, "start resumed");
    cio_future_unref(t);
    loop_done(loop, &r, 0);
}
END_TEST

CIO_ASYNC(raise_boom, int unused;)
{
    CIO_BEGIN();
    CIO_YIELD();
    trace_add(&g_tr, "raising");
    CIO_RAISE(CIO_EINVAL);
    CIO_END();
}

START_TEST(test_L11_run_until_complete_returns_error)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t = CIO_START(loop, raise_boom, .unused = 0);

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL), CIO_EINVAL);
    ck_assert_str_eq(g_tr.buf, "raising");
    ck_assert_int_eq(cio_future_done(t), 1);
    ck_assert_int_eq(cio_future_cancelled(t), 0);
    ck_assert_int_eq(cio_future_error(t), CIO_EINVAL);
    cio_future_unref(t);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L12: a future that is done already ---- */

START_TEST(test_L12_done_future_costs_one_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_value v = { .i = 0 };
    unsigned long it0;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_set_int(f, 7), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec_and_schedule, W("queued"), NULL), 0);
    it0 = cio_loop_iteration(loop);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, f, &v), 0);
    ck_assert_int_eq(v.i, 7);
    ck_assert_uint_eq(cio_loop_iteration(loop), it0 + 1);
    ck_assert_str_eq(g_tr.buf, "queued");       /* "later" waits for the next one */
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "queued later");
    loop_done(loop, &r, 0);
}
END_TEST

/* The same with a future done with an error. */
START_TEST(test_L12_done_future_with_error_one_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    unsigned long it0;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_future_set_error(f, -ECONNRESET), 0);
    it0 = cio_loop_iteration(loop);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, f, NULL), -ECONNRESET);
    ck_assert_uint_eq(cio_loop_iteration(loop), it0 + 1);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L13: running the loop from inside itself ---- */

typedef struct nested {
    cio_future *f;
    int ruc, rf, running;
} nested;

static int nested_runs(cio_loop *loop, void *arg)
{
    nested *n = arg;

    n->running = cio_loop_is_running(loop);
    n->ruc = cio_loop_run_until_complete(loop, cio_future_ref(n->f), NULL);
    n->rf = cio_loop_run_forever(loop);
    trace_add(&g_tr, "nested");
    ck_assert_int_eq(cio_future_set_int(n->f, 3), 0);
    return 0;
}

START_TEST(test_L13_run_inside_running_loop_is_busy)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    nested n = { NULL, 0, 0, 0 };
    cio_value v = { .i = 0 };

    n.f = cio_future_new(loop);
    ck_assert_ptr_nonnull(n.f);
    ck_assert_int_eq(cio_loop_call_soon(loop, nested_runs, &n, NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(n.f), &v), 0);
    ck_assert_int_eq(n.running, 1);
    ck_assert_int_eq(n.ruc, CIO_EBUSY);
    ck_assert_int_eq(n.rf, CIO_EBUSY);
    ck_assert_int_eq(v.i, 3);                   /* the outer run was not disturbed */
    ck_assert_str_eq(g_tr.buf, "nested");
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    cio_future_unref(n.f);
    loop_done(loop, &r, 0);
}
END_TEST

CIO_ASYNC(nested_runner, int ruc; int rf;)
{
    CIO_BEGIN();
    self->ruc = cio_loop_run_until_complete(loop, cio_future_new(loop), NULL);
    self->rf = cio_loop_run_forever(loop);
    trace_addf(&g_tr, "ruc=%ld", (long)self->ruc);
    trace_addf(&g_tr, "rf=%ld", (long)self->rf);
    CIO_YIELD();
    CIO_RETURN(self->ruc == CIO_EBUSY && self->rf == CIO_EBUSY);
    CIO_END();
}

START_TEST(test_L13_run_inside_task_is_busy)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v = { .i = 0 };

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, nested_runner, .ruc = 0),
                                                 &v), 0);
    ck_assert_int_eq(v.i, 1);
    ck_assert_str_eq(g_tr.buf, "ruc=-4004 rf=-4004");
    loop_done(loop, &r, 0);
}
END_TEST

/* Another loop cannot run while one runs on this thread (asyncio:
 * 'Cannot run the event loop while another loop is running'). */
static int run_other_loop(cio_loop *loop, void *arg)
{
    cio_loop *other = arg;

    (void)loop;
    trace_addf(&g_tr, "rf=%ld", (long)cio_loop_run_forever(other));
    trace_addf(&g_tr, "ruc=%ld", (long)cio_loop_run_until_complete(other, cio_sleep(other, 0), NULL));
    return 0;
}

START_TEST(test_L13_other_loop_inside_running_loop_is_busy)
{
    reports r, r2;
    cio_loop *loop = loop_with_reports(&r);
    cio_loop *other = loop_with_reports(&r2);

    ck_assert_int_eq(cio_loop_call_soon(loop, run_other_loop, other, NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    ck_assert_str_eq(g_tr.buf, "rf=-4004 ruc=-4004");
    /* once the first loop is done, the other one runs */
    ck_assert_int_eq(cio_loop_run_until_complete(other, cio_sleep(other, 0), NULL), 0);
    loop_done(other, &r2, 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L14: stopped before the future completed ---- */

CIO_ASYNC(stop_then_sleep, int unused;)
{
    CIO_BEGIN();
    trace_add(&g_tr, "stopping");
    cio_loop_stop(loop);
    CIO_AWAIT(cio_sleep(loop, 1.0));
    trace_add(&g_tr, "not-reached");
    CIO_FINALLY();
    trace_addf(&g_tr, "finally=%ld", (long)CIO_ERROR);
    CIO_END();
}

START_TEST(test_L14_stop_before_complete_is_stopped)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *t = CIO_START(loop, stop_then_sleep, .unused = 0);

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL), CIO_ESTOPPED);
    ck_assert_str_eq(g_tr.buf, "stopping");
    ck_assert_int_eq(cio_future_done(t), 0);
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    /* clean up like asyncio would: cancel it and let it finish */
    ck_assert_int_eq(cio_future_cancel(t, NULL), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(t), NULL), CIO_ECANCELLED);
    ck_assert_str_eq(g_tr.buf, "stopping finally=-4001");
    ck_assert_int_eq(cio_future_cancelled(t), 1);
    cio_future_unref(t);
    loop_done(loop, &r, 0);
}
END_TEST

/* stop() before run_until_complete of a pending future: one iteration, then
 * CIO_ESTOPPED; the loop is usable afterwards. */
START_TEST(test_L14_stop_before_run_until_complete)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    unsigned long it0;
    cio_value v = { .i = 0 };

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("a"), NULL), 0);
    cio_loop_stop(loop);
    it0 = cio_loop_iteration(loop);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(f), NULL), CIO_ESTOPPED);
    ck_assert_uint_eq(cio_loop_iteration(loop), it0 + 1);
    ck_assert_str_eq(g_tr.buf, "a");
    ck_assert_int_eq(cio_future_done(f), 0);
    /* the stop was consumed: a later run completes normally */
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("done")), 0);
    ck_assert_int_eq(cio_future_set_int(f, 9), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(f), &v), 0);
    ck_assert_int_eq(v.i, 9);
    ck_assert_str_eq(g_tr.buf, "a done");
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* stop() in the iteration where the future completes: its result wins. */
static int stop_and_set(cio_loop *loop, void *arg)
{
    cio_loop_stop(loop);
    ck_assert_int_eq(cio_future_set_int(arg, 8), 0);
    trace_add(&g_tr, "set");
    return 0;
}

START_TEST(test_L14_stop_in_completing_iteration_returns_result)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);
    cio_value v = { .i = 0 };

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_loop_call_soon(loop, stop_and_set, f, NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(f), &v), 0);
    ck_assert_int_eq(v.i, 8);
    ck_assert_str_eq(g_tr.buf, "set");
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L16: closing ---- */

START_TEST(test_L16_close_drops_pending_and_rejects_use)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *hs = NULL, *hl = NULL, *sentinel = (cio_handle *)(uintptr_t)0x1;
    cio_handle *h = sentinel;
    cio_future *f = cio_future_new(loop);
    cio_future *g = cio_future_new(loop);

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("soon"), &hs), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.001, rec, W("later"), &hl), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, cio_loop_time(loop) - 1, rec, W("past"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 100, rec, W("far"), NULL), 0);
    ck_assert_int_eq(cio_future_add_done_callback(f, rec_done, W("fcb")), 0);
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);    /* fcb is queued */
    ck_assert_int_eq(cio_loop_is_closed(loop), 0);

    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert_int_eq(cio_loop_is_closed(loop), 1);
    ck_assert_str_eq(g_tr.buf, "");

    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("x"), &h), CIO_ECLOSED);
    ck_assert_int_eq(cio_loop_call_later(loop, 0, rec, W("x"), &h), CIO_ECLOSED);
    ck_assert_int_eq(cio_loop_call_at(loop, 0, rec, W("x"), &h), CIO_ECLOSED);
    ck_assert_ptr_eq(h, sentinel);
    ck_assert_int_eq(cio_loop_run_forever(loop), CIO_ECLOSED);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, g, NULL), CIO_ECLOSED);
    ck_assert_int_eq(cio_loop_close(loop), 0);        /* a no-op */
    ck_assert_int_eq(cio_loop_is_closed(loop), 1);
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    ck_assert_str_eq(g_tr.buf, "");

    /* handles of dropped callbacks stay usable until released */
    cio_handle_cancel(hs);
    cio_handle_cancel(hl);
    ck_assert_int_eq(cio_handle_cancelled(hs), 1);
    ck_assert_int_eq(cio_handle_cancelled(hl), 1);
    cio_handle_unref(hs);
    cio_handle_unref(hl);
    ck_assert_int_eq(cio_future_int(f), 1);
    cio_future_unref(f);
    ck_assert_str_eq(g_tr.buf, "");
    loop_done(loop, &r, 0);
}
END_TEST

/* close() and free() while running: CIO_EBUSY, nothing changes. */
typedef struct close_attempt {
    int close_err, free_err, closed;
} close_attempt;

static int try_close(cio_loop *loop, void *arg)
{
    close_attempt *c = arg;

    c->close_err = cio_loop_close(loop);
    c->free_err = cio_loop_free(loop);
    c->closed = cio_loop_is_closed(loop);
    trace_add(&g_tr, "tried");
    return 0;
}

START_TEST(test_L16_close_while_running_is_busy)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    close_attempt c = { 0, 0, -1 };

    ck_assert_int_eq(cio_loop_call_soon(loop, try_close, &c, NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("same"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.001, rec, W("timer"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.005, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_int_eq(c.close_err, CIO_EBUSY);
    ck_assert_int_eq(c.free_err, CIO_EBUSY);
    ck_assert_int_eq(c.closed, 0);
    ck_assert_str_eq(g_tr.buf, "tried same timer");
    ck_assert_int_eq(cio_loop_is_closed(loop), 0);
    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert_int_eq(cio_loop_is_closed(loop), 1);
    loop_done(loop, &r, 0);
}
END_TEST

START_TEST(test_close_twice_is_noop)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("never"), NULL), 0);
    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert_int_eq(cio_loop_is_closed(loop), 1);
    ck_assert_str_eq(g_tr.buf, "");
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- L17: futures of another loop ---- */

CIO_ASYNC(await_other, cio_future *fut;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_future_ref(self->fut));
    trace_addf(&g_tr, "err=%ld", (long)CIO_ERROR);
    CIO_AWAIT(cio_future_ref(self->fut));
    trace_add(&g_tr, "not-reached");
    CIO_END();
}

START_TEST(test_L17_future_of_another_loop)
{
    reports ra, rb;
    cio_loop *a = loop_with_reports(&ra);
    cio_loop *b = loop_with_reports(&rb);
    cio_future *fb = cio_future_new(b);
    cio_future *t;
    unsigned long ita, itb;

    ck_assert_ptr_nonnull(fb);
    ck_assert_int_eq(cio_loop_call_soon(a, rec, W("a-soon"), NULL), 0);
    ita = cio_loop_iteration(a);
    itb = cio_loop_iteration(b);
    ck_assert_int_eq(cio_loop_run_until_complete(a, cio_future_ref(fb), NULL), CIO_EWRONGLOOP);
    ck_assert_uint_eq(cio_loop_iteration(a), ita);  /* nothing ran */
    ck_assert_str_eq(g_tr.buf, "");
    ck_assert_int_eq(cio_future_done(fb), 0);

    /* a task awaiting it gets CIO_EWRONGLOOP at the await */
    t = CIO_START(a, await_other, .fut = fb);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(cio_loop_run_until_complete(a, cio_future_ref(t), NULL), CIO_EWRONGLOOP);
    ck_assert_str_eq(g_tr.buf, "a-soon err=-4009");
    ck_assert_int_eq(cio_future_error(t), CIO_EWRONGLOOP);
    ck_assert_int_eq(cio_future_done(fb), 0);
    ck_assert_uint_eq(cio_loop_iteration(b), itb);
    cio_future_unref(t);

    /* fb is still fine on its own loop */
    ck_assert_int_eq(cio_future_set_int(fb, 4), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(b, cio_future_ref(fb), NULL), 0);
    cio_future_unref(fb);
    loop_done(a, &ra, 0);
    loop_done(b, &rb, 0);
}
END_TEST

/* ---- handles ---- */

START_TEST(test_handles_when_and_unref)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *hs = NULL, *hl = NULL, *hn = NULL, *ha = NULL;
    double before, after, t;

    before = cio_loop_time(loop);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("soon"), &hs), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 2, rec, W("two"), &hl), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, -1, rec, W("neg"), &hn), 0);
    after = cio_loop_time(loop);
    t = after + 5;
    ck_assert_int_eq(cio_loop_call_at(loop, t, rec, W("at"), &ha), 0);

    ck_assert(cio_handle_when(hs) == -1);      /* not a timer */
    ck_assert(cio_handle_when(hl) >= before + 2 && cio_handle_when(hl) <= after + 2);
    ck_assert(cio_handle_when(hn) >= before - 1 && cio_handle_when(hn) <= after - 1);
    ck_assert(cio_handle_when(ha) == t);
    ck_assert_int_eq(cio_handle_cancelled(hs), 0);

    /* dropping our reference does not unschedule the callback */
    cio_handle_unref(hs);
    cio_handle_unref(hn);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "soon neg");
    cio_handle_cancel(hl);
    cio_handle_cancel(ha);
    ck_assert(cio_handle_when(hl) >= before + 2);   /* when() survives cancel */
    cio_handle_unref(hl);
    cio_handle_unref(ha);
    loop_done(loop, &r, 0);
}
END_TEST

/* A handle cancelled from inside its own callback: harmless. */
static int cancel_self(cio_loop *loop, void *arg)
{
    cio_handle **h = arg;

    (void)loop;
    trace_add(&g_tr, "self");
    cio_handle_cancel(*h);
    return 0;
}

START_TEST(test_handle_cancel_from_own_callback)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *hs = NULL, *ht = NULL;

    ck_assert_int_eq(cio_loop_call_soon(loop, cancel_self, &hs, &hs), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0, cancel_self, &ht, &ht), 0);
    run_one_iteration(loop);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "self self");
    ck_assert_int_eq(cio_handle_cancelled(hs), 1);
    cio_handle_unref(hs);
    cio_handle_unref(ht);
    loop_done(loop, &r, 0);
}
END_TEST

/* Negative delays are deadlines in the past: both run on the next
 * iteration, the earlier deadline first (CPython's
 * test_call_later_negative_delays: b, a). */
START_TEST(test_call_later_negative_delays_run_next_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_call_later(loop, -1, rec, W("a"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, -2, rec, W("b"), NULL), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "b a");
    loop_done(loop, &r, 0);
}
END_TEST

/* Handles stay usable after cio_loop_close (until the caller releases
 * them, before cio_loop_free): the dropped callbacks never run. */
START_TEST(test_handles_usable_after_close)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *hs = NULL, *hl = NULL, *hd = NULL, *hr = NULL;

    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("ran"), &hr), 0);
    run_one_iteration(loop);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("soon"), &hs), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 50, rec, W("later"), &hl), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, cio_loop_time(loop) - 1, rec, W("due"), &hd), 0);
    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert_str_eq(g_tr.buf, "ran");
    ck_assert_int_eq(cio_handle_cancelled(hl), 0);
    cio_handle_cancel(hs);
    cio_handle_cancel(hl);
    cio_handle_cancel(hd);
    cio_handle_cancel(hr);
    ck_assert_int_eq(cio_handle_cancelled(hl), 1);
    ck_assert(cio_handle_when(hs) == -1);
    ck_assert(cio_handle_when(hl) > cio_loop_time(loop));
    cio_handle_unref(hs);
    cio_handle_unref(hl);
    cio_handle_unref(hd);
    cio_handle_unref(hr);
    ck_assert_str_eq(g_tr.buf, "ran");
    loop_done(loop, &r, 0);
}
END_TEST

/* Cancelling most of many timers (the heap compacts itself): the others
 * still run, in deadline-then-FIFO order, and the cancelled ones never do. */
START_TEST(test_many_cancelled_timers_rest_run_in_order)
{
    enum { N = 300 };
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *h[N];
    double t = cio_loop_time(loop) + 0.005;
    trace expected;
    long i, d;

    memset(&expected, 0, sizeof expected);
    for (i = 0; i < N; i++)
        ck_assert_int_eq(cio_loop_call_at(loop, t + (double)(i % 4) * 0.001, rec_num,
                                          (void *)(intptr_t)i, &h[i]), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, t + 0.004, stop_cb, NULL, NULL), 0);
    /* keep every fifth one */
    for (i = 0; i < N; i++)
        if (i % 5 != 0)
            cio_handle_cancel(h[i]);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    for (d = 0; d < 4; d++)
        for (i = d; i < N; i += 4)
            if (i % 5 == 0)
                trace_addf(&expected, "%ld", i);
    ck_assert_str_eq(g_tr.buf, expected.buf);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(cio_handle_cancelled(h[i]), i % 5 != 0);
        cio_handle_unref(h[i]);
    }
    loop_done(loop, &r, 0);
}
END_TEST

/* A timer that will never come due (infinite or huge delay) does not
 * disturb the others. */
START_TEST(test_far_timers_do_not_disturb)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_call_later(loop, INFINITY, rec, W("inf"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 1e300, rec, W("huge"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.005, rec, W("soon"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.01, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "soon");
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- run_forever and stop ---- */

START_TEST(test_run_forever_until_stop)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *after = NULL;

    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, note_running, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.01, rec, W("timer"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.02, stop_cb, NULL, NULL), 0);
    /* far enough not to come due in the stopping iteration */
    ck_assert_int_eq(cio_loop_call_later(loop, stretch(0.2), rec, W("after-stop"), &after), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "running=1 timer");
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    /* a second run picks up where the first stopped */
    ck_assert_int_eq(cio_loop_call_at(loop, cio_handle_when(after), stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "running=1 timer after-stop");
    cio_handle_unref(after);
    loop_done(loop, &r, 0);
}
END_TEST

/* stop() from a callback: the rest of the iteration still runs; what it
 * scheduled waits for the next run. */
START_TEST(test_stop_finishes_current_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    unsigned long it0 = cio_loop_iteration(loop);

    ck_assert_int_eq(cio_loop_call_soon(loop, rec_and_schedule, W("a"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, stop_cb, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("b"), NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(g_tr.buf, "a b");
    ck_assert_uint_eq(cio_loop_iteration(loop), it0 + 1);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "a b later");
    loop_done(loop, &r, 0);
}
END_TEST

/* stop() before run_forever: exactly one iteration (test_run_forever_pre_stopped). */
START_TEST(test_stop_before_run_forever_runs_one_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    unsigned long it0;

    /* with nothing scheduled at all: returns after one iteration */
    it0 = cio_loop_iteration(loop);
    cio_loop_stop(loop);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_uint_eq(cio_loop_iteration(loop), it0 + 1);

    /* with work: runs what was ready, not what that scheduled */
    ck_assert_int_eq(cio_loop_call_soon(loop, rec_and_schedule, W("a"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 10, rec, W("far"), NULL), 0);
    cio_loop_stop(loop);
    it0 = cio_loop_iteration(loop);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_uint_eq(cio_loop_iteration(loop), it0 + 1);
    ck_assert_str_eq(g_tr.buf, "a");

    /* the stop was consumed: the next run goes on until stopped again */
    ck_assert_int_eq(cio_loop_call_later(loop, stretch(0.05), stop_cb, NULL, NULL), 0);
    it0 = cio_loop_iteration(loop);     /* not due at the first iteration */
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_uint_gt(cio_loop_iteration(loop), it0 + 1);
    ck_assert_str_eq(g_tr.buf, "a later");
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- state queries and argument checks ---- */

START_TEST(test_is_running_is_closed)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_is_running(NULL), 0);
    ck_assert_int_eq(cio_loop_is_closed(NULL), 0);
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    ck_assert_int_eq(cio_loop_is_closed(loop), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, note_running, NULL, NULL), 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "running=1");
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    ck_assert_int_eq(cio_loop_close(loop), 0);
    ck_assert_int_eq(cio_loop_is_closed(loop), 1);
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    loop_done(loop, &r, 0);
}
END_TEST

START_TEST(test_invalid_arguments_change_nothing)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *sentinel = (cio_handle *)(uintptr_t)0x1, *h = sentinel;
    cio_future *f = cio_future_new(loop);
    cio_exception_context ctx = { "x", CIO_EINVAL, NULL, NULL, 0 };
    unsigned long it0 = cio_loop_iteration(loop);
    double nan = NAN;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cio_loop_call_soon(NULL, rec, W("x"), &h), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_soon(loop, NULL, W("x"), &h), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_later(NULL, 0, rec, W("x"), &h), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_later(loop, 0, NULL, W("x"), &h), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_later(loop, nan, rec, W("x"), &h), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_at(NULL, 0, rec, W("x"), &h), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_at(loop, 0, NULL, W("x"), &h), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_at(loop, nan, rec, W("x"), &h), CIO_EINVAL);
    ck_assert_ptr_eq(h, sentinel);
    ck_assert_int_eq(cio_loop_run_forever(NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_run_until_complete(NULL, cio_future_ref(f), NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_close(NULL), CIO_EINVAL);
    ck_assert_uint_eq(cio_loop_iteration(NULL), 0);
    cio_loop_stop(NULL);
    cio_loop_set_exception_handler(NULL, record_report, &r);
    cio_loop_call_exception_handler(NULL, &ctx);
    cio_loop_call_exception_handler(loop, NULL);
    cio_loop_default_exception_handler(loop, NULL);
    cio_handle_cancel(NULL);
    ck_assert_int_eq(cio_handle_cancelled(NULL), 0);
    ck_assert(cio_handle_when(NULL) == -1);
    cio_handle_unref(NULL);

    /* nothing changed: no iteration ran, nothing is queued, f is pending */
    ck_assert_uint_eq(cio_loop_iteration(loop), it0);
    ck_assert_int_eq(cio_future_done(f), 0);
    ck_assert_int_eq(cio_loop_is_closed(loop), 0);
    ck_assert_int_eq(r.count, 0);
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "");
    ck_assert_int_eq(cio_future_set_int(f, 1), 0);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

START_TEST(test_run_until_complete_null_is_nomem)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v = { .i = 11 };
    unsigned long it0 = cio_loop_iteration(loop);

    ck_assert_int_eq(cio_loop_call_soon(loop, rec, W("a"), NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, NULL, &v), CIO_ENOMEM);
    ck_assert_int_eq(v.i, 11);
    ck_assert_uint_eq(cio_loop_iteration(loop), it0);
    ck_assert_str_eq(g_tr.buf, "");
    ck_assert_int_eq(cio_loop_is_running(loop), 0);
    /* the loop is fine */
    run_one_iteration(loop);
    ck_assert_str_eq(g_tr.buf, "a");
    loop_done(loop, &r, 0);
}
END_TEST

/* The exception handler: set, call, restore. */
START_TEST(test_exception_handler_set_and_call)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_exception_context ctx = { "custom", CIO_ETIMEDOUT, NULL, NULL, 0 };

    cio_loop_call_exception_handler(loop, &ctx);
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.messages[0], "custom");
    ck_assert_int_eq(r.errs[0], CIO_ETIMEDOUT);
    ck_assert_ptr_null(r.futures[0]);
    loop_done(loop, &r, 1);
}
END_TEST

/* ---- the idle loop does not spin ---- */

START_TEST(test_idle_loop_does_not_spin)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    double cpu0, cpu;
    unsigned long it0, iterations;

    /* warm up the code paths (matters under valgrind) */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL), 0);
    it0 = cio_loop_iteration(loop);
    cpu0 = cpu_now();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.2), NULL), 0);
    cpu = cpu_now() - cpu0;
    iterations = cio_loop_iteration(loop) - it0;
    ck_assert_msg(cpu < 0.05, "sleep(0.2) used %.3f s of CPU in %lu iterations",
                  cpu, iterations);
    ck_assert_msg(iterations < 100, "sleep(0.2) took %lu iterations", iterations);
    loop_done(loop, &r, 0);
}
END_TEST

/* The loop's clock is monotonic. */
START_TEST(test_loop_time_monotonic)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    double a = cio_loop_time(loop), b = cio_loop_time(loop);

    ck_assert(b >= a);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL), 0);
    ck_assert(cio_loop_time(loop) >= b + 0.01);
    loop_done(loop, &r, 0);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");

    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_L1_call_soon_fifo);
    tcase_add_test(tc, test_L3_call_later_deadline_order);
    tcase_add_test(tc, test_L3_due_timers_run_in_deadline_order);
    tcase_add_test(tc, test_L3_timer_started_due_waits_for_next_iteration);
    tcase_add_test(tc, test_L4_equal_deadlines_fifo);
    tcase_add_test(tc, test_L4_zero_delay_timers_fifo);
    tcase_add_test(tc, test_L4_many_timers_deadline_then_fifo);
    tcase_add_test(tc, test_L7_cancelled_handles_never_run);
    tcase_add_test(tc, test_L7_cancel_after_run_is_harmless);
    tcase_add_test(tc, test_L7_cancel_queued_handles_in_same_iteration);
    tcase_add_test(tc, test_L8_when_is_time_plus_delay);
    tcase_add_test(tc, test_L8_timers_never_fire_early);
    tcase_add_test(tc, test_L9_raising_callback_reported_loop_goes_on);
    tcase_add_test(tc, test_L10_run_until_complete_returns_result);
    tcase_add_test(tc, test_L10_run_same_task_twice);
    tcase_add_test(tc, test_L11_run_until_complete_returns_error);
    tcase_add_test(tc, test_L12_done_future_costs_one_iteration);
    tcase_add_test(tc, test_L12_done_future_with_error_one_iteration);
    tcase_add_test(tc, test_L13_run_inside_running_loop_is_busy);
    tcase_add_test(tc, test_L13_run_inside_task_is_busy);
    tcase_add_test(tc, test_L13_other_loop_inside_running_loop_is_busy);
    tcase_add_test(tc, test_L14_stop_before_complete_is_stopped);
    tcase_add_test(tc, test_L14_stop_before_run_until_complete);
    tcase_add_test(tc, test_L14_stop_in_completing_iteration_returns_result);
    tcase_add_test(tc, test_L16_close_drops_pending_and_rejects_use);
    tcase_add_test(tc, test_L16_close_while_running_is_busy);
    tcase_add_test(tc, test_close_twice_is_noop);
    tcase_add_test(tc, test_L17_future_of_another_loop);
    tcase_add_test(tc, test_handles_when_and_unref);
    tcase_add_test(tc, test_handle_cancel_from_own_callback);
    tcase_add_test(tc, test_call_later_negative_delays_run_next_iteration);
    tcase_add_test(tc, test_handles_usable_after_close);
    tcase_add_test(tc, test_many_cancelled_timers_rest_run_in_order);
    tcase_add_test(tc, test_far_timers_do_not_disturb);
    tcase_add_test(tc, test_run_forever_until_stop);
    tcase_add_test(tc, test_stop_finishes_current_iteration);
    tcase_add_test(tc, test_stop_before_run_forever_runs_one_iteration);
    tcase_add_test(tc, test_is_running_is_closed);
    tcase_add_test(tc, test_invalid_arguments_change_nothing);
    tcase_add_test(tc, test_run_until_complete_null_is_nomem);
    tcase_add_test(tc, test_exception_handler_set_and_call);
    tcase_add_test(tc, test_idle_loop_does_not_spin);
    tcase_add_test(tc, test_loop_time_monotonic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(loop_suite);
}
