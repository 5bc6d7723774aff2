/* test_bare.c - the bare backend (cio/bare.h): the virtual clock, an
 * application clock with an idle hook, wake-ups from "interrupts" (signal
 * handlers here). tests/test_noheap.c has the build without a heap.
 */
#include <signal.h>
#include <time.h>
#include <cio/bare.h>
#include "testutil.h"

static trace g_tr;

static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

CIO_ASYNC(sleeper, const char *name; double delay;)
{
    CIO_BEGIN();
    trace_addf(&g_tr, "start:%s@%g", self->name, cio_loop_time(loop));
    CIO_AWAIT(cio_sleep(loop, self->delay));
    trace_addf(&g_tr, "end:%s@%g", self->name, cio_loop_time(loop));
    CIO_RETURN((ptrdiff_t)(self->delay * 10));
    CIO_END();
}

/* ---- the virtual clock ---- */

START_TEST(test_virtual_hour_sleep_takes_no_time)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    double t0 = wall_now();

    g_tr.buf[0] = 0;
    ck_assert(cio_loop_time(loop) == 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop,
        CIO_START(loop, sleeper, .name = "h", .delay = 3600), NULL), 0);
    ck_assert(cio_loop_time(loop) == 3600);
    ck_assert_msg(wall_now() - t0 < 0.5, "an hour took %.3f s", wall_now() - t0);
    ck_assert_str_eq(g_tr.buf, "start:h@0 end:h@3600");
    loop_done(loop, &r, 0);
}
END_TEST

/* The sample on the virtual clock: the sleeps overlap, order is fixed. */
START_TEST(test_virtual_sample_order_and_overlap)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;

    g_tr.buf[0] = 0;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 3, (cio_future *[]){
        CIO_START(loop, sleeper, .name = "baidu", .delay = 1),
        CIO_START(loop, sleeper, .name = "bytedance", .delay = 1),
        CIO_START(loop, sleeper, .name = "weixin", .delay = 1) }), &v), 0);
    ck_assert(cio_loop_time(loop) == 1);
    ck_assert_str_eq(g_tr.buf, "start:baidu@0 start:bytedance@0 start:weixin@0 "
                               "end:baidu@1 end:bytedance@1 end:weixin@1");
    loop_done(loop, &r, 0);
}
END_TEST

/* Interleaved deadlines come out in deadline order, the same every run. */
START_TEST(test_virtual_deadline_order)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    g_tr.buf[0] = 0;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 4, (cio_future *[]){
        CIO_START(loop, sleeper, .name = "c", .delay = 30),
        CIO_START(loop, sleeper, .name = "a", .delay = 0.5),
        CIO_START(loop, sleeper, .name = "d", .delay = 86400),
        CIO_START(loop, sleeper, .name = "b", .delay = 2) }), NULL), 0);
    ck_assert_str_eq(g_tr.buf, "start:c@0 start:a@0 start:d@0 start:b@0 "
                               "end:a@0.5 end:b@2 end:c@30 end:d@86400");
    loop_done(loop, &r, 0);
}
END_TEST

START_TEST(test_virtual_nothing_to_wait_for_stops)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_future *f = cio_future_new(loop);

    /* nobody will ever complete f: the run ends instead of hanging */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(f), NULL), CIO_ESTOPPED);
    cio_future_unref(f);
    loop_done(loop, &r, 0);
}
END_TEST

START_TEST(test_virtual_advance)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    cio_bare_advance(loop, 5);
    cio_bare_advance(loop, -1);         /* ignored */
    ck_assert(cio_loop_time(loop) == 5);
    ck_assert_int_eq(cio_bare_set_clock(NULL, NULL, NULL, NULL), CIO_EINVAL);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- an application clock and idle hook ---- */

typedef struct fake_clock {
    double now;
    int idles;
    double timeouts[8];
} fake_clock;

static double fake_now(void *arg)
{
    return ((fake_clock *)arg)->now;
}

/* "Sleep" until the deadline: move the fake clock there. */
static void fake_idle(cio_loop *loop, double timeout, void *arg)
{
    fake_clock *c = arg;

    (void)loop;
    if (c->idles < 8)
        c->timeouts[c->idles] = timeout;
    c->idles++;
    if (timeout > 0)
        c->now += timeout;
}

START_TEST(test_app_clock_idle_gets_timeouts)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    fake_clock c = { 100, 0, { 0 } };

    g_tr.buf[0] = 0;
    ck_assert_int_eq(cio_bare_set_clock(loop, fake_now, fake_idle, &c), 0);
    ck_assert(cio_loop_time(loop) == 100);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, sleeper, .name = "a", .delay = 1.5),
        CIO_START(loop, sleeper, .name = "b", .delay = 4) }), NULL), 0);
    ck_assert_str_eq(g_tr.buf, "start:a@100 start:b@100 end:a@101.5 end:b@104");
    ck_assert_int_eq(c.idles, 2);
    ck_assert(c.timeouts[0] == 1.5);
    ck_assert(c.timeouts[1] == 2.5);
    /* back to the virtual clock: it goes on from the application's time */
    ck_assert_int_eq(cio_bare_set_clock(loop, NULL, NULL, NULL), 0);
    ck_assert(cio_loop_time(loop) == 104);
    loop_done(loop, &r, 0);
}
END_TEST

/* ---- wake-ups from interrupts (signal handlers stand in for ISRs) ---- */

static cio_bare_wakeup g_wake;
static volatile sig_atomic_t g_sent;

static void on_signal(int sig)
{
    (void)sig;
    g_sent++;
    cio_bare_wakeup_send(&g_wake);
}

typedef struct woke {
    int runs;
    cio_future *done;       /* completed by the wake-up callback */
} woke;

static int on_wake(cio_loop *loop, void *arg)
{
    woke *w = arg;

    (void)loop;
    w->runs++;
    trace_addf(&g_tr, "woke:%d", (int)g_sent);
    if (w->done != NULL && !cio_future_done(w->done))
        cio_future_set_int(w->done, 42);
    return 0;
}

/* The idle hook takes the "interrupt": what an ISR during WFI does. */
static void idle_with_interrupt(cio_loop *loop, double timeout, void *arg)
{
    fake_clock *c = arg;

    c->idles++;
    ck_assert(timeout < 0);             /* nothing scheduled: no deadline */
    ck_assert_int_eq(cio_bare_woken(loop), 0);
    raise(SIGUSR1);
    ck_assert_int_eq(cio_bare_woken(loop), 1);
}

START_TEST(test_wakeup_from_interrupt_while_idle)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    fake_clock c = { 0, 0, { 0 } };
    woke w = { 0, NULL };
    cio_value v;

    g_tr.buf[0] = 0;
    g_sent = 0;
    signal(SIGUSR1, on_signal);
    w.done = cio_future_new(loop);
    ck_assert_int_eq(cio_bare_wakeup_init(loop, &g_wake, on_wake, &w), 0);
    ck_assert_int_eq(cio_bare_set_clock(loop, fake_now, idle_with_interrupt, &c), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(w.done), &v), 0);
    ck_assert_int_eq(v.i, 42);
    ck_assert_int_eq(c.idles, 1);
    ck_assert_int_eq(w.runs, 1);
    ck_assert_str_eq(g_tr.buf, "woke:1");
    cio_bare_wakeup_close(&g_wake);
    cio_future_unref(w.done);
    signal(SIGUSR1, SIG_DFL);
    loop_done(loop, &r, 0);
}
END_TEST

/* Sends from inside callbacks, inside the wake-up's own callback and
 * between iterations: each is followed by a run of the callback. */
static int send_now(cio_loop *loop, void *arg)
{
    (void)loop, (void)arg;
    raise(SIGUSR1);
    return 0;
}

static int on_wake_resend_once(cio_loop *loop, void *arg)
{
    woke *w = arg;

    on_wake(loop, arg);
    if (w->runs == 2)
        raise(SIGUSR1);                 /* an interrupt while it runs */
    return 0;
}

START_TEST(test_wakeup_never_lost)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    woke w = { 0, NULL };

    g_tr.buf[0] = 0;
    g_sent = 0;
    signal(SIGUSR1, on_signal);
    ck_assert_int_eq(cio_bare_wakeup_init(loop, &g_wake, on_wake_resend_once, &w), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 1, send_now, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 2, send_now, NULL, NULL), 0);
    raise(SIGUSR1);                     /* before the loop runs */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 3), NULL), 0);
    ck_assert_str_eq(g_tr.buf, "woke:1 woke:2 woke:3 woke:4");
    ck_assert_int_eq(w.runs, 4);
    /* two sends before it runs are coalesced into one run */
    raise(SIGUSR1);
    raise(SIGUSR1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    ck_assert_int_eq(w.runs, 5);
    cio_bare_wakeup_close(&g_wake);
    raise(SIGUSR1);                     /* closed: ignored */
    ck_assert_int_eq(cio_bare_woken(loop), 0);
    signal(SIGUSR1, SIG_DFL);
    loop_done(loop, &r, 0);
}
END_TEST

static Suite *bare_suite(void)
{
    Suite *s = suite_create("bare");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_virtual_hour_sleep_takes_no_time);
    tcase_add_test(tc, test_virtual_sample_order_and_overlap);
    tcase_add_test(tc, test_virtual_deadline_order);
    tcase_add_test(tc, test_virtual_nothing_to_wait_for_stops);
    tcase_add_test(tc, test_virtual_advance);
    tcase_add_test(tc, test_app_clock_idle_gets_timeouts);
    tcase_add_test(tc, test_wakeup_from_interrupt_while_idle);
    tcase_add_test(tc, test_wakeup_never_lost);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(bare_suite);
}
