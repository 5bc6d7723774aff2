/* test_edge.c - edge cases from real event-loop bugs, one test each.
 *
 *  - a callback that cancels and frees hundreds of pending callbacks,
 *    timers and tasks in the same pass;
 *  - huge, infinite, NaN and negative timeouts: no early firing, no
 *    overflow, no busy loop, CIO_EINVAL where a NaN cannot mean anything;
 *  - a million timers, 90% cancelled: the rest fire in order, and the
 *    memory is reused by the next million;
 *  - a peer that half-closes (both ways);
 *  - an fd closed and its number reused while an event for it is pending;
 *  - a slowloris client against examples/http_server: closed by the
 *    header timeout while normal clients are served.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"


static void setup(void)
{
    signal(SIGPIPE, SIG_DFL);   /* cio must never raise it */
}

/* ------------------------------------------------------------------------
 * Cancel and free hundreds of pending callbacks and tasks in one pass
 * ------------------------------------------------------------------------ */

#define HUNDREDS 600

static cio_handle *soon[HUNDREDS], *later[HUNDREDS];
static cio_future *tasks[HUNDREDS];
static int ran_callbacks, ran_bodies, killed;

static int must_not_run(cio_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    ran_callbacks++;
    return 0;
}

CIO_ASYNC(victim, int i;)
{
    CIO_BEGIN();
    ran_bodies++;
    CIO_AWAIT(cio_sleep(loop, 0.001));
    CIO_END();
}

/* Runs first in its iteration: everything after it in the same snapshot
 * is cancelled and its last reference dropped before it would run. */
static int killer(cio_loop *loop, void *arg)
{
    int i;

    (void)loop;
    (void)arg;
    for (i = 0; i < HUNDREDS; i++) {
        cio_handle_cancel(soon[i]);
        cio_handle_unref(soon[i]);
        soon[i] = NULL;
        cio_handle_cancel(later[i]);
        cio_handle_unref(later[i]);
        later[i] = NULL;
        cio_future_cancel(tasks[i], "killed");
        if (i % 2 == 0) {           /* half: dropped, freed once done */
            cio_future_unref(tasks[i]);
            tasks[i] = NULL;
        }
    }
    killed = 1;
    return 0;
}

START_TEST(test_cancel_and_free_hundreds_in_one_pass)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    int i, round;

    for (round = 0; round < 3; round++) {
        ran_callbacks = ran_bodies = killed = 0;
        ck_assert_int_eq(cio_loop_call_soon(loop, killer, NULL, NULL), 0);
        for (i = 0; i < HUNDREDS; i++) {
            ck_assert_int_eq(cio_loop_call_soon(loop, must_not_run, NULL, &soon[i]), 0);
            /* due already: queued in the same pass as the killer */
            ck_assert_int_eq(cio_loop_call_later(loop, i % 2 ? -1 : 0, must_not_run, NULL,
                                                 &later[i]), 0);
            tasks[i] = CIO_START(loop, victim, .i = i);
            ck_assert_ptr_nonnull(tasks[i]);
        }
        ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL), 0);
        ck_assert_int_eq(killed, 1);
        ck_assert_int_eq(ran_callbacks, 0);
        ck_assert_uint_eq(cio_loop_all_tasks(loop, NULL, 0), 0);
        for (i = 0; i < HUNDREDS; i++) {
            if (tasks[i] == NULL)
                continue;
            ck_assert(cio_future_cancelled(tasks[i]));
            ck_assert_str_eq(cio_future_cancel_message(tasks[i]), "killed");
            cio_future_unref(tasks[i]);
            tasks[i] = NULL;
        }
        /* a task cancelled before its first step never runs its body */
        ck_assert_int_eq(ran_bodies, 0);
    }
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Huge, infinite, NaN and negative timeouts
 * ------------------------------------------------------------------------ */

static char fired[64];

static int mark(cio_loop *loop, void *arg)
{
    size_t n = strlen(fired);

    (void)loop;
    if (n + 1 < sizeof fired) {
        fired[n] = *(const char *)arg;
        fired[n + 1] = '\0';
    }
    return 0;
}

CIO_ASYNC(sleep_for, double d;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, self->d));
    CIO_RETURN(1);
    CIO_END();
}

CIO_ASYNC(scope_nan_main, cio_timeout scope;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_timeout_enter(loop, &self->scope, NAN), CIO_EINVAL);
    ck_assert_int_eq(cio_timeout_enter(loop, &self->scope, -1), 0);
    ck_assert(cio_timeout_when(&self->scope) < 0);      /* no deadline */
    ck_assert_int_eq(cio_timeout_reschedule(&self->scope, NAN), CIO_EINVAL);
    CIO_AWAIT(cio_sleep(loop, 0.01));
    ck_assert_int_eq(cio_timeout_exit(&self->scope, 0), 0);
    CIO_END();
}

START_TEST(test_huge_infinite_nan_negative_timeouts)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *h;
    cio_stream *s;
    cio_value v;
    double t0, t1;
    unsigned long it;
    size_t n;

    fired[0] = '\0';
    /* NaN: a clear error, nothing scheduled */
    ck_assert_int_eq(cio_loop_call_later(loop, NAN, mark, W("N"), NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_at(loop, NAN, mark, W("N"), NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_call_later(loop, -NAN, mark, W("N"), NULL), CIO_EINVAL);
    /* huge and infinite: accepted, never due */
    t0 = cio_loop_time(loop);
    ck_assert_int_eq(cio_loop_call_later(loop, INFINITY, mark, W("I"), &h), 0);
    ck_assert(isinf(cio_handle_when(h)));
    cio_handle_unref(h);
    ck_assert_int_eq(cio_loop_call_later(loop, DBL_MAX, mark, W("M"), &h), 0);
    ck_assert(cio_handle_when(h) >= DBL_MAX / 2);       /* no wrap to the past */
    cio_handle_unref(h);
    ck_assert_int_eq(cio_loop_call_later(loop, 1e300, mark, W("H"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 1e18, mark, W("E"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 4.3e9, mark, W("U"), NULL), 0);   /* > 2^32 s */
    ck_assert_int_eq(cio_loop_call_later(loop, 2.2e6, mark, W("W"), NULL), 0);   /* > 2^31 ms */
    ck_assert_int_eq(cio_loop_call_at(loop, 1e308, mark, W("A"), NULL), 0);
    /* negative: due now, before later deadlines, even -inf */
    ck_assert_int_eq(cio_loop_call_later(loop, 0.02, mark, W("z"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, -1, mark, W("c"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, -1e300, mark, W("b"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, -INFINITY, mark, W("a"), NULL), 0);
    ck_assert_int_eq(cio_loop_call_at(loop, -DBL_MAX, mark, W("d"), NULL), 0);
    it = cio_loop_iteration(loop);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.2), NULL), 0);
    t1 = cio_loop_time(loop);
    ck_assert(t1 - t0 >= 0.19);
    /* -inf < -DBL_MAX < -1e300 < now - 1; then z; nothing huge fired */
    ck_assert_str_eq(fired, "adbcz");
    /* and the loop slept instead of spinning on an overflowed deadline */
    ck_assert_uint_lt(cio_loop_iteration(loop) - it, 20);

    /* sleeps: huge and infinite wait (cut by wait_for), negative and NaN
     * count as 0 (cio_sleep's documented rule) */
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, cio_wait_for(loop, CIO_START(loop, sleep_for, .d = INFINITY), 0.02), NULL),
        CIO_ETIMEDOUT);
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, cio_wait_for(loop, CIO_START(loop, sleep_for, .d = 1e300), 0.02), NULL),
        CIO_ETIMEDOUT);
    it = cio_loop_iteration(loop);
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, CIO_START(loop, sleep_for, .d = -INFINITY), &v), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, sleep_for, .d = NAN),
                                                 &v), CIO_EINVAL);
    ck_assert_uint_lt(cio_loop_iteration(loop) - it, 10);
    /* wait_for: infinite is no timeout, NaN an error; wait: inf is none,
     * NaN an error */
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, cio_wait_for(loop, CIO_START(loop, sleep_for, .d = 0.01), NAN), &v), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, cio_wait_for(loop, CIO_START(loop, sleep_for, .d = 0.01), INFINITY), &v), 0);
    ck_assert_int_eq(v.i, 1);
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, cio_wait(loop, 1, (cio_future *[]){ CIO_START(loop, sleep_for, .d = 0.01) }, NAN,
                       CIO_ALL_COMPLETED), &v), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, cio_wait(loop, 1, (cio_future *[]){ CIO_START(loop, sleep_for, .d = 0.01) },
                       INFINITY, CIO_ALL_COMPLETED), &v), 0);
    cio_wait_done(v.p, &n);
    ck_assert_uint_eq(n, 1);
    /* a timeout scope refuses NaN */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, scope_nan_main), NULL), 0);
    /* stream deadlines: NaN refused, infinite is none */
    s = cio_stream_new(loop, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(cio_stream_set_timeout(s, NAN), CIO_EINVAL);
    ck_assert_int_eq(cio_stream_set_timeout(s, INFINITY), 0);
    cio_future_unref(cio_stream_close(s));
    ck_assert_str_eq(fired, "adbcz");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A million timers, 90% cancelled: the rest fire in order; memory reused
 * ------------------------------------------------------------------------ */

#define MILLION 1000000

typedef struct tick {
    double when;
    int i;
} tick;

static tick *ticks;
static int last_i;
static double last_when;
static long nfired, out_of_order;

static int on_tick(cio_loop *loop, void *arg)
{
    const tick *t = arg;

    (void)loop;
    if (t->when < last_when || (t->when == last_when && t->i < last_i))
        out_of_order++;
    last_when = t->when;
    last_i = t->i;
    nfired++;
    return 0;
}

typedef struct mem {
    long long bytes, peak;
} mem;

static void *mem_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    mem *m = ctx;
    void *p;

    if (new_size == 0) {
        free(ptr);
        m->bytes -= (long long)old_size;
        return NULL;
    }
    p = realloc(ptr, new_size);
    if (p == NULL)
        return NULL;
    m->bytes += (long long)new_size - (long long)(ptr != NULL ? old_size : 0);
    if (m->bytes > m->peak)
        m->peak = m->bytes;
    return p;
}

static void million_round(cio_loop *loop, cio_handle **hs)
{
    double t0 = cio_loop_time(loop);
    int i;

    nfired = out_of_order = 0;
    last_when = -1;
    last_i = -1;
    for (i = 0; i < MILLION; i++) {
        /* 1,000 distinct deadlines: equal ones must keep call order */
        ticks[i].when = t0 + 0.05 + (double)(((long)i * 7919) % 1000) * 1e-5;
        ticks[i].i = i;
        ck_assert_int_eq(cio_loop_call_at(loop, ticks[i].when, on_tick, &ticks[i], &hs[i]), 0);
    }
    for (i = 0; i < MILLION; i++) {
        if (i % 10 != 0)
            cio_handle_cancel(hs[i]);
        cio_handle_unref(hs[i]);
    }
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.1), NULL), 0);
    ck_assert_int_eq(nfired, MILLION / 10);
    ck_assert_int_eq(out_of_order, 0);
}

START_TEST(test_million_timers_90_percent_cancelled)
{
    reports r;
    cio_loop *loop;
    cio_handle **hs = malloc(MILLION * sizeof *hs);
    mem m = { 0, 0 };
    long long after1, peak1;

    ticks = malloc(MILLION * sizeof *ticks);
    ck_assert(hs != NULL && ticks != NULL);
    cio_set_allocator(mem_realloc, &m);
    loop = loop_with_reports(&r);
    million_round(loop, hs);
    after1 = m.bytes;
    peak1 = m.peak;
    /* a second million reuses what the first one left: no growth */
    million_round(loop, hs);
    ck_assert_int_le(m.bytes, after1);
    ck_assert_int_le(m.peak, peak1);
    ck_assert_int_lt(peak1, 200LL << 20);       /* bounded: < 200 bytes a timer */
    loop_done(loop, &r, 0);
    cio_set_allocator(NULL, NULL);
    ck_assert_int_eq(m.bytes, 0);               /* all of it back */
    free(hs);
    free(ticks);
}
END_TEST

/* Timers started in deadline order behind a live one and nearly all
 * cancelled at once: the in-order ring squeezes out what they leave
 * instead of doubling for ever, and the survivors fire in order. */
#define CHURN 200000

START_TEST(test_timer_churn_keeps_the_ring_small)
{
    reports r;
    cio_loop *loop;
    mem m = { 0, 0 };
    cio_handle *h;
    double t0;
    int i;

    ticks = malloc(CHURN * sizeof *ticks);
    ck_assert(ticks != NULL);
    cio_set_allocator(mem_realloc, &m);
    loop = loop_with_reports(&r);
    nfired = out_of_order = 0;
    last_when = -1;
    last_i = -1;
    t0 = cio_loop_time(loop);
    for (i = 0; i < CHURN; i++) {
        ticks[i].when = t0 + 0.05 + (double)i * 1e-7;
        ticks[i].i = i;
        ck_assert_int_eq(cio_loop_call_at(loop, ticks[i].when, on_tick, &ticks[i], &h), 0);
        if (i % 100 != 0)
            cio_handle_cancel(h);   /* one in a hundred lives, the first included */
        cio_handle_unref(h);
    }
    /* 2,000 live timers: a ring that only doubled would hold 200,000 */
    ck_assert_int_lt(m.peak, 1LL << 20);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.1), NULL), 0);
    ck_assert_int_eq(nfired, CHURN / 100);
    ck_assert_int_eq(out_of_order, 0);
    loop_done(loop, &r, 0);
    cio_set_allocator(NULL, NULL);
    ck_assert_int_eq(m.bytes, 0);
    free(ticks);
}
END_TEST

/* The in-order ring grows while its front has moved on: the timers past
 * the end of the old ring, kept at the start of the array, must move to
 * their place in the doubled one. 32 fire at once, 32 wait; 64 more join.
 * The waiting ones are due 500 ms on: under valgrind on a loaded machine
 * 50 ms passed before the first run once, and they fired with the rest. */
START_TEST(test_timer_ring_grows_wrapped)
{
    reports r;
    cio_loop *loop;
    cio_handle *h;
    double t0;
    int i;

    ticks = malloc(128 * sizeof *ticks);
    ck_assert(ticks != NULL);
    loop = loop_with_reports(&r);
    nfired = out_of_order = 0;
    last_when = -1;
    last_i = -1;
    t0 = cio_loop_time(loop);
    for (i = 0; i < 128; i++) {
        /* the first 32 are due now; the rest 500 ms on, 1 us apart */
        ticks[i].when = i < 32 ? t0 - 1 + (double)i * 1e-6 : t0 + 0.5 + (double)i * 1e-6;
        ticks[i].i = i;
    }
    for (i = 0; i < 64; i++) {
        ck_assert_int_eq(cio_loop_call_at(loop, ticks[i].when, on_tick, &ticks[i], &h), 0);
        cio_handle_unref(h);
    }
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    ck_assert_int_eq(nfired, 32);
    for (i = 64; i < 128; i++) {    /* the 64-slot ring wraps, then doubles */
        ck_assert_int_eq(cio_loop_call_at(loop, ticks[i].when, on_tick, &ticks[i], &h), 0);
        cio_handle_unref(h);
    }
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.6), NULL), 0);
    ck_assert_int_eq(nfired, 128);
    ck_assert_int_eq(out_of_order, 0);
    ck_assert_int_eq(last_i, 127);
    loop_done(loop, &r, 0);
    free(ticks);
}
END_TEST

/* ------------------------------------------------------------------------
 * A peer that half-closes
 * ------------------------------------------------------------------------ */

/* Reads everything until the client's end of stream, then answers with
 * the byte count and closes: the answer must still reach the client. */
CIO_ASYNC(count_handler, cio_stream *s; size_t total;)
{
    char buf[32];
    size_t len;

    CIO_BEGIN();
    for (;;) {
        CIO_AWAIT(cio_stream_read(self->s, 65536));
        cio_stream_data(self->s, &len);
        if (len == 0)
            break;
        self->total += len;
    }
    ck_assert(cio_stream_at_eof(self->s));
    snprintf(buf, sizeof buf, "%zu\n", self->total);
    ck_assert_int_eq(cio_stream_write(self->s, buf, strlen(buf)), 0);
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *count_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, count_handler, .s = s);
}

/* Half-closes first, then keeps reading what the client sends. */
CIO_ASYNC(early_eof_handler, cio_stream *s;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    ck_assert_int_eq(cio_stream_write(self->s, "bye\n", 4), 0);
    ck_assert_int_eq(cio_stream_write_eof(self->s), 0);
    CIO_AWAIT(cio_stream_readline(self->s));
    p = cio_stream_data(self->s, &len);
    ck_assert(len == 6 && memcmp(p, "still\n", 6) == 0);
    CIO_AWAIT(cio_stream_readline(self->s));
    cio_stream_data(self->s, &len);
    ck_assert_uint_eq(len, 0);
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *early_eof_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, early_eof_handler, .s = s);
}

#define HALF_BYTES (3u << 20)

CIO_ASYNC(half_close_main, cio_server *srv; cio_stream *s; char *data;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    /* the client half-closes after 3 MiB; the answer still comes back */
    CIO_AWAIT(cio_start_server(loop, "127.0.0.1", 0, count_client, NULL, NULL));
    self->srv = CIO_RESULT.p;
    CIO_AWAIT(cio_open_connection(loop, "127.0.0.1", cio_server_port(self->srv), 0));
    self->s = CIO_RESULT.p;
    self->data = calloc(1, HALF_BYTES);
    ck_assert_ptr_nonnull(self->data);
    ck_assert_int_eq(cio_stream_write(self->s, self->data, HALF_BYTES), 0);
    free(self->data);
    ck_assert_int_eq(cio_stream_write_eof(self->s), 0);
    CIO_AWAIT(cio_stream_readline(self->s));
    p = cio_stream_data(self->s, &len);
    ck_assert(len == 8 && memcmp(p, "3145728\n", 8) == 0);
    CIO_AWAIT(cio_stream_read(self->s, -1));
    ck_assert(cio_stream_at_eof(self->s));
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_AWAIT(cio_server_close(self->srv));
    /* the server half-closes first; the client goes on writing */
    CIO_AWAIT(cio_start_server(loop, "127.0.0.1", 0, early_eof_client, NULL, NULL));
    self->srv = CIO_RESULT.p;
    CIO_AWAIT(cio_open_connection(loop, "127.0.0.1", cio_server_port(self->srv), 0));
    self->s = CIO_RESULT.p;
    CIO_AWAIT(cio_stream_readline(self->s));
    CIO_AWAIT(cio_stream_readline(self->s));
    cio_stream_data(self->s, &len);
    ck_assert_uint_eq(len, 0);                  /* its end of stream */
    ck_assert_int_eq(cio_stream_write(self->s, "still\n", 6), 0);
    CIO_AWAIT(cio_stream_drain(self->s));
    CIO_AWAIT(cio_stream_close(self->s));
    while (cio_server_connections(self->srv) > 0)
        CIO_AWAIT(cio_sleep(loop, 0.005));
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

START_TEST(test_peer_half_closes)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, half_close_main), NULL), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * An fd closed and its number reused while an event for it is pending
 * ------------------------------------------------------------------------ */

static int pa[2], pb[2], fresh[2];
static int calls_a, calls_b, calls_fresh, swapped;

static int on_fresh(cio_loop *loop, void *arg)
{
    char c;

    (void)loop;
    (void)arg;
    calls_fresh++;
    /* called only once the new socket has data */
    ck_assert_int_eq(read(fresh[0], &c, 1), 1);
    ck_assert_int_eq(c, 'F');
    cio_loop_stop(loop);
    return 0;
}

/* Whichever of a and b runs first closes the other (whose readiness is
 * already queued for this pass) and puts a new, idle socket at its
 * number, watched by on_fresh. */
static int on_ready(cio_loop *loop, void *arg)
{
    int *me = arg, *other = me == pa ? pb : pa;
    char c;
    int sv[2];

    ++*(me == pa ? &calls_a : &calls_b);
    if (swapped)
        return 0;
    ck_assert_int_eq(read(me[0], &c, 1), 1);
    ck_assert_int_eq(cio_loop_remove_reader(loop, other[0]), 1);
    close(other[0]);
    close(other[1]);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (sv[0] != other[0]) {                                /* the same number */
        ck_assert_int_eq(dup2(sv[0], other[0]), other[0]);
        close(sv[0]);
    }
    fresh[0] = other[0];
    fresh[1] = sv[1];
    ck_assert_int_eq(cio_loop_add_reader(loop, fresh[0], on_fresh, NULL), 0);
    swapped = 1;
    return 0;
}

static int send_fresh(cio_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    ck_assert_int_eq(calls_fresh, 0);       /* the stale event did not call it */
    ck_assert_int_eq(write(fresh[1], "F", 1), 1);
    return 0;
}

CIO_ASYNC(recv_reuse_main, int a[2]; int b[2]; cio_future *old; char buf[8];)
{
    int sv[2];

    CIO_BEGIN();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, self->a), 0);
    ck_assert_int_eq(cio_sock_nonblocking(self->a[0]), 0);
    /* a recv waiting on a[0] */
    self->old = cio_sock_recv(loop, self->a[0], self->buf, sizeof self->buf);
    ck_assert_ptr_nonnull(self->old);
    CIO_YIELD();
    ck_assert(!cio_future_done(self->old));
    /* data arrives (readiness queued), then the recv is cancelled and the
     * fd closed and reused before the loop polls again */
    ck_assert_int_eq(write(self->a[1], "old", 3), 3);
    cio_future_cancel(self->old, NULL);
    close(self->a[0]);
    close(self->a[1]);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (sv[0] != self->a[0]) {
        ck_assert_int_eq(dup2(sv[0], self->a[0]), self->a[0]);
        close(sv[0]);
    }
    self->b[0] = self->a[0];
    self->b[1] = sv[1];
    ck_assert_int_eq(cio_sock_nonblocking(self->b[0]), 0);
    ck_assert_int_eq(write(self->b[1], "new", 3), 3);
    CIO_AWAIT(cio_sock_recv(loop, self->b[0], self->buf, sizeof self->buf));
    ck_assert_int_eq(CIO_RESULT.i, 3);
    ck_assert(memcmp(self->buf, "new", 3) == 0);
    ck_assert(cio_future_cancelled(self->old));
    cio_future_unref(self->old);
    close(self->b[0]);
    close(self->b[1]);
    CIO_END();
}

START_TEST(test_fd_reused_while_event_pending)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    calls_a = calls_b = calls_fresh = swapped = 0;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pa), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pb), 0);
    ck_assert_int_eq(write(pa[1], "a", 1), 1);
    ck_assert_int_eq(write(pb[1], "b", 1), 1);
    ck_assert_int_eq(cio_loop_add_reader(loop, pa[0], on_ready, pa), 0);
    ck_assert_int_eq(cio_loop_add_reader(loop, pb[0], on_ready, pb), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.05, send_fresh, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_int_eq(swapped, 1);
    ck_assert_int_eq(calls_a + calls_b, 1);    /* the closed one never ran */
    ck_assert_int_eq(calls_fresh, 1);
    ck_assert_int_eq(cio_loop_remove_reader(loop, fresh[0]), 1);
    /* the survivor's reader: remove it too */
    cio_loop_remove_reader(loop, calls_a ? pa[0] : pb[0]);
    close(pa[0] == fresh[0] ? pb[0] : pa[0]);
    close(pa[0] == fresh[0] ? pb[1] : pa[1]);
    close(fresh[0]);
    close(fresh[1]);
    /* the same with an awaitable recv */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, recv_reuse_main), NULL), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A slowloris client against examples/http_server
 * ------------------------------------------------------------------------ */

static pid_t server_pid;

/* Start examples/http_server on a free port; returns the port. */
static int spawn_http_server(double header_timeout)
{
    const char *top = getenv("top_builddir");
    char path[4096], ht[32], line[256];
    int out[2], n = 0, port = 0;
    FILE *f;

    snprintf(path, sizeof path, "%s/examples/http_server", top != NULL ? top : ".");
    if (access(path, X_OK) != 0)
        return -1;
    snprintf(ht, sizeof ht, "%g", header_timeout);
    ck_assert_int_eq(pipe(out), 0);
    server_pid = fork();
    ck_assert_int_ge(server_pid, 0);
    if (server_pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execl(path, path, "0", "--host", "127.0.0.1", "--header-timeout", ht,
              "--idle-timeout", "30", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    f = fdopen(out[0], "r");
    ck_assert_ptr_nonnull(f);
    if (fgets(line, sizeof line, f) != NULL)
        n = sscanf(line, "http_server: listening on port %d", &port);
    fclose(f);
    ck_assert_int_eq(n, 1);
    return port;
}

/* Sends a head one line at a time, every 0.2 s, never finishing it;
 * returns how long the server let it go on. */
CIO_ASYNC(slowloris, int port; cio_stream *s; double t0; int lines; int closed;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_open_connection(loop, "127.0.0.1", self->port, 0));
    self->s = CIO_RESULT.p;
    self->t0 = cio_loop_time(loop);
    if (cio_stream_write(self->s, "GET / HTTP/1.1\r\n", 16) != 0)
        CIO_RAISE(CIO_EINVALSTATE);
    for (self->lines = 0; self->lines < 50; self->lines++) {
        CIO_AWAIT_TRY(cio_wait_for(loop, cio_stream_read(self->s, 100), 0.2));
        if (CIO_ERROR == 0 || CIO_ERROR == -ECONNRESET) {
            self->closed = 1;           /* the server gave up on us */
            break;
        }
        ck_assert_int_eq(CIO_ERROR, CIO_ETIMEDOUT);
        if (cio_stream_write(self->s, "X-Slow: 1\r\n", 11) != 0) {
            self->closed = 1;
            break;
        }
    }
    ck_assert_int_eq(self->closed, 1);
    ck_assert_int_ge(self->lines, 3);       /* it was trickling for a while */
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_RETURN((ptrdiff_t)((cio_loop_time(loop) - self->t0) * 1000));
    CIO_END();
}

/* A normal client: keep-alive requests, one after another, each answered
 * quickly while the slowloris is hanging on. */
CIO_ASYNC(normal_client, int port; cio_stream *s; int i; double worst; double t;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    CIO_AWAIT(cio_open_connection(loop, "127.0.0.1", self->port, 0));
    self->s = CIO_RESULT.p;
    for (self->i = 0; self->i < 20; self->i++) {
        self->t = cio_loop_time(loop);
        ck_assert_int_eq(cio_stream_write(self->s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27), 0);
        CIO_AWAIT(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
        p = cio_stream_data(self->s, &len);
        ck_assert(len > 15 && memcmp(p, "HTTP/1.1 200 OK", 15) == 0);
        CIO_AWAIT(cio_stream_readexactly(self->s, 12));
        if (cio_loop_time(loop) - self->t > self->worst)
            self->worst = cio_loop_time(loop) - self->t;
        CIO_AWAIT(cio_sleep(loop, 0.05));
    }
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_RETURN((ptrdiff_t)(self->worst * 1000));
    CIO_END();
}

START_TEST(test_slowloris_against_http_server)
{
    reports r;
    cio_loop *loop;
    cio_value v, res;
    int port = spawn_http_server(1.0), status, i;

    if (port < 0) {
        fprintf(stderr, "skip: examples/http_server not built\n");
        return;
    }
    loop = loop_with_reports(&r);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 3, (cio_future *[]){
        CIO_START(loop, slowloris, .port = port),
        CIO_START(loop, normal_client, .port = port),
        CIO_START(loop, normal_client, .port = port) }), &v), 0);
    ck_assert_int_eq(cio_gather_result(v.p, 0, &res), 0);
    /* closed by the 1 s header timeout, not before, not much after */
    ck_assert_int_ge(res.i, 900);
    ck_assert_int_le(res.i, 2000);
    for (i = 1; i < 3; i++) {
        ck_assert_int_eq(cio_gather_result(v.p, (size_t)i, &res), 0);
        ck_assert_int_lt(res.i, 500);       /* served meanwhile */
    }
    loop_done(loop, &r, 0);
    kill(server_pid, SIGTERM);
    ck_assert_int_eq(waitpid(server_pid, &status, 0), server_pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* ---- fork with a live loop: child and parent both keep working ---- */

CIO_ASYNC(fork_sleeper, double d; int *done;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, self->d));
    *self->done = 1;
    CIO_RETURN(7);
    CIO_END();
}

static int slow_job(void *arg, cio_value *result)
{
    (void)arg;
    usleep(200000);
    result->i = 1;
    return 0;
}

START_TEST(test_fork_with_live_loop)
{
    cio_loop *loop = cio_loop_new();
    int done = 0, status;
    cio_future *t, *job;
    cio_value v;
    pid_t pid;

    ck_assert_ptr_nonnull(loop);
    /* live: the backend has polled, a timer is armed, a task sleeps in it */
    t = CIO_START(loop, fork_sleeper, .d = 0.05, .done = &done);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0.001), NULL), 0);
    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int ok = cio_loop_fork(loop) == 0
                 && cio_loop_run_until_complete(loop, cio_future_ref(t), &v) == 0 && v.i == 7
                 && done == 1
                 && cio_loop_run_until_complete(loop, cio_sleep(loop, 0.01), NULL) == 0;

        cio_future_unref(t);
        cio_loop_free(loop);
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(cio_loop_run_until_complete(loop, t, &v), 0);
    ck_assert_int_eq(v.i, 7);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);

    /* work on the executor's threads cannot follow into a child: refused,
     * nothing changed (the job still completes here) */
    job = cio_loop_run_in_executor(loop, slow_job, NULL);
    ck_assert_ptr_nonnull(job);
    ck_assert_int_eq(cio_loop_fork(loop), CIO_EBUSY);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, job, &v), 0);
    ck_assert_int_eq(v.i, 1);
    ck_assert_int_eq(cio_loop_fork(NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_free(loop), 0);
}
END_TEST

static Suite *edge_suite(void)
{
    Suite *s = suite_create("edge");
    TCase *tc = tcase_create("edge");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cancel_and_free_hundreds_in_one_pass);
    tcase_add_test(tc, test_huge_infinite_nan_negative_timeouts);
    tcase_add_test(tc, test_million_timers_90_percent_cancelled);
    tcase_add_test(tc, test_timer_churn_keeps_the_ring_small);
    tcase_add_test(tc, test_timer_ring_grows_wrapped);
    tcase_add_test(tc, test_peer_half_closes);
    tcase_add_test(tc, test_fd_reused_while_event_pending);
    tcase_add_test(tc, test_slowloris_against_http_server);
    tcase_add_test(tc, test_fork_with_live_loop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(edge_suite);
}
