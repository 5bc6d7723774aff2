/* test_channel.c - Go's channels and select (cio/channel.h).
 *
 * Go's semantics, traced: an unbuffered send completes when a receiver
 * takes the value; a buffered one when the value is in the buffer; close
 * lets receivers drain the buffer, then fails them with CIO_ECLOSED (Go's
 * ok == false); sending on a closed channel fails with CIO_ECLOSED (Go
 * panics); a NULL channel is never ready; select chooses uniformly among
 * ready cases. A task cancelled while blocked leaves the channel as if it
 * had never come.
 */
#include <stdarg.h>
#include <stdint.h>
#include "testutil.h"



static const char *ename(int err)
{
    return err == 0 ? "ok" : cio_err_name(err);
}

#define RUN_TASK(loop, v, ...)                                                \
    cio_loop_run_until_complete((loop), CIO_START((loop), __VA_ARGS__), (v))

#define YIELD_N(n)                                                            \
    for (self->i = 0; self->i < (n); self->i++)                               \
        CIO_YIELD()

/* Every send and recv a task awaits is spelled one of two ways, with the
 * same expected outcomes and traces: CIO_AWAIT of the future cio_chan_send /
 * cio_chan_recv make, or Go's statement run in place (CIO_CHAN_SEND /
 * CIO_CHAN_RECV). Each test runs once each way: _i of tcase_add_loop_test
 * picks. */
static int in_place;

#define SEND_TRY(c, p)                                                        \
    SPELLING(in_place, CIO_CHAN_SEND_TRY(c, p), CIO_AWAIT_TRY(cio_chan_send(c, p)))
#define RECV_TRY(c, p)                                                        \
    SPELLING(in_place, CIO_CHAN_RECV_TRY(c, p), CIO_AWAIT_TRY(cio_chan_recv(c, p)))
#define SEND(c, p) SPELLING(in_place, CIO_CHAN_SEND(c, p), CIO_AWAIT(cio_chan_send(c, p)))
#define RECV(c, p) SPELLING(in_place, CIO_CHAN_RECV(c, p), CIO_AWAIT(cio_chan_recv(c, p)))

/* ------------------------------------------------------------------------
 * Workers (int channels)
 * ------------------------------------------------------------------------ */

/* Send `count` ints from `first` on: trace name-start, then sentN or
 * name-ERROR. */
CIO_ASYNC(int_sender, cio_chan *c; const char *name; int first; int count; int v; int n;)
{
    CIO_BEGIN();
    trace_addf(&tr, "%s-start", self->name);
    for (self->n = 0; self->n < self->count; self->n++) {
        self->v = self->first + self->n;
        SEND_TRY(self->c, &self->v);
        if (CIO_ERROR != 0) {
            trace_addf(&tr, "%s-%s", self->name, ename(CIO_ERROR));
            CIO_RAISE(CIO_ERROR);
        }
        trace_addf(&tr, "%s-sent%d", self->name, self->v);
    }
    CIO_END();
}

/* Receive one int: trace name-start, then name=N or name-ERROR. */
CIO_ASYNC(int_receiver, cio_chan *c; const char *name; int v;)
{
    CIO_BEGIN();
    trace_addf(&tr, "%s-start", self->name);
    self->v = -1;
    RECV_TRY(self->c, &self->v);
    if (CIO_ERROR != 0) {
        trace_addf(&tr, "%s-%s", self->name, ename(CIO_ERROR));
        CIO_RAISE(CIO_ERROR);
    }
    ck_assert_int_eq(CIO_RESULT.i, 1);
    trace_addf(&tr, "%s=%d", self->name, self->v);
    CIO_RETURN(self->v);
    CIO_END();
}

/* Select over `n` cases (kept by pointer): trace name=index or name-ERROR. */
CIO_ASYNC(selector, cio_select_case *cases; size_t n; const char *name;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_select(loop, self->cases, self->n, -1, 0));
    if (CIO_ERROR != 0) {
        trace_addf(&tr, "%s-%s", self->name, ename(CIO_ERROR));
        CIO_RAISE(CIO_ERROR);
    }
    trace_addf(&tr, "%s=%ld", self->name, (long)CIO_RESULT.i);
    CIO_RETURN(CIO_RESULT.i);
    CIO_END();
}

/* ------------------------------------------------------------------------
 * Unbuffered: a send blocks until a receiver takes the value
 * ------------------------------------------------------------------------ */

CIO_ASYNC(unbuffered_main, cio_chan *c; cio_future *t; int v; int i;)
{
    CIO_BEGIN();
    /* the sender comes first and blocks */
    self->t = CIO_START(loop, int_sender, .c = self->c, .name = "s", .first = 42, .count = 1);
    YIELD_N(3);
    ck_assert(!cio_future_done(self->t));
    ck_assert_uint_eq(cio_chan_len(self->c), 0);
    trace_add(&tr, "recv-start");
    RECV(self->c, &self->v);
    trace_addf(&tr, "recv=%d", self->v);
    CIO_AWAIT(self->t);
    trace_add(&tr, "|");

    /* the receiver comes first and blocks; the send completes when the
     * receiver has taken the value */
    self->t = CIO_START(loop, int_receiver, .c = self->c, .name = "r");
    YIELD_N(3);
    ck_assert(!cio_future_done(self->t));
    trace_add(&tr, "send-start");
    self->v = 7;
    SEND(self->c, &self->v);
    trace_add(&tr, "send-done");
    self->v = 8;                            /* too late to change what was sent */
    CIO_AWAIT(self->t);
    ck_assert_int_eq(CIO_RESULT.i, 7);
    CIO_END();
}

START_TEST(test_unbuffered_send_blocks_until_received)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c = cio_chan_new(loop, sizeof(int), 0);

    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(cio_chan_cap(c), 0);
    ck_assert_int_eq(RUN_TASK(loop, NULL, unbuffered_main, .c = c), 0);
    /* a receiver finding a sender waiting takes the value at once; a
     * sender finding a receiver waiting completes once that receiver has
     * taken the value, when it runs */
    ck_assert_str_eq(tr.buf, "s-start recv-start recv=42 s-sent42 | "
                             "r-start send-start r=7 send-done");
    ck_assert_int_eq(cio_chan_free(c), 0);
    ck_assert_ptr_null(cio_chan_new(loop, 0, 0));
    ck_assert_ptr_null(cio_chan_new(loop, 0, 4));
    loop_done(loop, &r, 0);
}
END_TEST

/* Ping-pong over two unbuffered channels: strict alternation. */
CIO_ASYNC(pong, cio_chan *in; cio_chan *out; int v; int n;)
{
    CIO_BEGIN();
    for (self->n = 0; self->n < 3; self->n++) {
        RECV(self->in, &self->v);
        trace_addf(&tr, "pong%d", self->v);
        self->v++;
        SEND(self->out, &self->v);
    }
    CIO_END();
}

/* pong run inline (CIO_CALL) in another task: its receives and sends
 * wait in that task's own slot from the child's frame. */
CIO_ASYNC(pong_caller, cio_chan *in; cio_chan *out; pong sub;)
{
    CIO_BEGIN();
    CIO_CALL(pong, sub, .in = self->in, .out = self->out);
    trace_add(&tr, "pong-done");
    CIO_END();
}

CIO_ASYNC(ping_main, cio_chan *a; cio_chan *b; int inline_pong; cio_future *t; int v; int n;)
{
    CIO_BEGIN();
    if (self->inline_pong)
        self->t = CIO_START(loop, pong_caller, .in = self->a, .out = self->b);
    else
        self->t = CIO_START(loop, pong, .in = self->a, .out = self->b);
    self->v = 0;
    for (self->n = 0; self->n < 3; self->n++) {
        trace_addf(&tr, "ping%d", self->v);
        SEND(self->a, &self->v);
        RECV(self->b, &self->v);
        self->v++;
    }
    CIO_AWAIT(self->t);
    CIO_END();
}

START_TEST(test_unbuffered_ping_pong)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *a = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 0);

    ck_assert_int_eq(RUN_TASK(loop, NULL, ping_main, .a = a, .b = b), 0);
    ck_assert_str_eq(tr.buf, "ping0 pong0 ping2 pong2 ping4 pong4");
    reset_trace();
    ck_assert_int_eq(RUN_TASK(loop, NULL, ping_main, .a = a, .b = b, .inline_pong = 1), 0);
    ck_assert_str_eq(tr.buf, "ping0 pong0 ping2 pong2 ping4 pong4 pong-done");
    ck_assert_int_eq(cio_chan_free(a), 0);
    ck_assert_int_eq(cio_chan_free(b), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Buffered, capacity 2: the third send blocks
 * ------------------------------------------------------------------------ */

CIO_ASYNC(buffered_main, cio_chan *c; cio_future *t; int v; int i;)
{
    CIO_BEGIN();
    self->t = CIO_START(loop, int_sender, .c = self->c, .name = "s", .first = 1, .count = 3);
    YIELD_N(3);
    ck_assert(!cio_future_done(self->t));
    ck_assert_uint_eq(cio_chan_len(self->c), 2);
    trace_add(&tr, "main");
    RECV(self->c, &self->v);
    trace_addf(&tr, "got%d", self->v);
    YIELD_N(2);
    ck_assert(cio_future_done(self->t));
    ck_assert_uint_eq(cio_chan_len(self->c), 2);
    RECV(self->c, &self->v);
    trace_addf(&tr, "got%d", self->v);
    RECV(self->c, &self->v);
    trace_addf(&tr, "got%d", self->v);
    ck_assert_uint_eq(cio_chan_len(self->c), 0);
    CIO_AWAIT(self->t);
    CIO_END();
}

START_TEST(test_buffered_capacity_two)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c = cio_chan_new(loop, sizeof(int), 2);

    ck_assert_uint_eq(cio_chan_cap(c), 2);
    ck_assert_uint_eq(cio_chan_len(c), 0);
    ck_assert_int_eq(RUN_TASK(loop, NULL, buffered_main, .c = c), 0);
    ck_assert_str_eq(tr.buf, "s-start s-sent1 s-sent2 main got1 s-sent3 got2 got3");
    ck_assert_int_eq(cio_chan_free(c), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A struct element type is copied intact
 * ------------------------------------------------------------------------ */

typedef struct order {
    int id;
    double amount;
    char customer[24];
    unsigned char flags[5];
} order;

CIO_ASYNC(order_sender, cio_chan *c; order o; int n;)
{
    CIO_BEGIN();
    for (self->n = 0; self->n < 3; self->n++) {
        memset(&self->o, 0, sizeof self->o);
        self->o.id = 100 + self->n;
        self->o.amount = 1.5 * (self->n + 1);
        snprintf(self->o.customer, sizeof self->o.customer, "customer-%d", self->n);
        memset(self->o.flags, 0xA0 + self->n, sizeof self->o.flags);
        SEND(self->c, &self->o);
        memset(&self->o, 0xFF, sizeof self->o);     /* the channel has a copy */
    }
    CIO_END();
}

CIO_ASYNC(order_main, cio_chan *c; cio_future *t; order o; int n;)
{
    CIO_BEGIN();
    self->t = CIO_START(loop, order_sender, .c = self->c);
    for (self->n = 0; self->n < 3; self->n++) {
        memset(&self->o, 0, sizeof self->o);
        RECV(self->c, &self->o);
        ck_assert_int_eq(self->o.flags[0], 0xA0 + self->n);
        ck_assert_int_eq(self->o.flags[4], 0xA0 + self->n);
        trace_addf(&tr, "%d/%.1f/%s", self->o.id, self->o.amount, self->o.customer);
    }
    CIO_AWAIT(self->t);
    CIO_END();
}

START_TEST(test_struct_elements_copied_intact)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c;
    size_t cap;

    for (cap = 0; cap <= 3; cap += 3) {
        reset_trace();
        c = cio_chan_new(loop, sizeof(order), cap);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(RUN_TASK(loop, NULL, order_main, .c = c), 0);
        ck_assert_str_eq(tr.buf, "100/1.5/customer-0 101/3.0/customer-1 "
                                 "102/4.5/customer-2");
        ck_assert_int_eq(cio_chan_free(c), 0);
    }
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * close
 * ------------------------------------------------------------------------ */

CIO_ASYNC(close_waiters_main, cio_chan *c; cio_chan *u; cio_future *t[3]; int i;)
{
    CIO_BEGIN();
    self->t[0] = CIO_START(loop, int_receiver, .c = self->c, .name = "r1");
    self->t[1] = CIO_START(loop, int_receiver, .c = self->c, .name = "r2");
    self->t[2] = CIO_START(loop, int_sender, .c = self->u, .name = "s", .first = 1, .count = 1);
    YIELD_N(3);
    trace_add(&tr, "close");
    ck_assert_int_eq(cio_chan_close(self->c), 0);
    ck_assert_int_eq(cio_chan_close(self->u), 0);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECLOSED);
    CIO_AWAIT_TRY(self->t[1]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECLOSED);
    CIO_AWAIT_TRY(self->t[2]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECLOSED);
    CIO_END();
}

START_TEST(test_close_fails_waiting_receivers_and_senders)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c = cio_chan_new(loop, sizeof(int), 2);
    cio_chan *u = cio_chan_new(loop, sizeof(int), 0);

    ck_assert_int_eq(RUN_TASK(loop, NULL, close_waiters_main, .c = c, .u = u), 0);
    ck_assert_str_eq(tr.buf, "r1-start r2-start s-start close r1-CIO_ECLOSED r2-CIO_ECLOSED "
                             "s-CIO_ECLOSED");
    ck_assert_int_eq(cio_chan_free(c), 0);
    ck_assert_int_eq(cio_chan_free(u), 0);
    loop_done(loop, &r, 0);
}
END_TEST

CIO_ASYNC(close_drain_main, cio_chan *c; int v; int i;)
{
    CIO_BEGIN();
    for (self->i = 1; self->i <= 3; self->i++)
        ck_assert_int_eq(cio_chan_try_send(self->c, &self->i), 0);
    ck_assert_int_eq(cio_chan_close(self->c), 0);
    ck_assert_uint_eq(cio_chan_len(self->c), 3);
    RECV(self->c, &self->v);
    trace_addf(&tr, "recv=%d", self->v);
    ck_assert_int_eq(cio_chan_try_recv(self->c, &self->v), 0);
    trace_addf(&tr, "try=%d", self->v);
    RECV(self->c, &self->v);
    trace_addf(&tr, "recv=%d", self->v);
    trace_addf(&tr, "try=%s", ename(cio_chan_try_recv(self->c, &self->v)));
    RECV_TRY(self->c, &self->v);
    trace_addf(&tr, "recv=%s", ename(CIO_ERROR));
    RECV_TRY(self->c, &self->v);
    trace_addf(&tr, "recv=%s", ename(CIO_ERROR));
    CIO_END();
}

START_TEST(test_close_with_buffered_items_drains_then_closed)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c = cio_chan_new(loop, sizeof(int), 4);

    ck_assert_int_eq(RUN_TASK(loop, NULL, close_drain_main, .c = c), 0);
    ck_assert_str_eq(tr.buf, "recv=1 try=2 recv=3 try=CIO_ECLOSED recv=CIO_ECLOSED "
                             "recv=CIO_ECLOSED");
    ck_assert_uint_eq(cio_chan_len(c), 0);
    ck_assert_int_eq(cio_chan_free(c), 0);
    loop_done(loop, &r, 0);
}
END_TEST

CIO_ASYNC(send_closed_main, cio_chan *c; int v;)
{
    CIO_BEGIN();
    self->v = 1;
    ck_assert_int_eq(cio_chan_close(self->c), 0);
    SEND_TRY(self->c, &self->v);
    trace_addf(&tr, "send=%s", ename(CIO_ERROR));
    trace_addf(&tr, "try_send=%s", ename(cio_chan_try_send(self->c, &self->v)));
    trace_addf(&tr, "close=%s", ename(cio_chan_close(self->c)));
    trace_addf(&tr, "try_recv=%s", ename(cio_chan_try_recv(self->c, &self->v)));
    CIO_END();
}

START_TEST(test_send_on_closed_and_close_twice)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 2);

    ck_assert_int_eq(RUN_TASK(loop, NULL, send_closed_main, .c = c), 0);
    ck_assert_int_eq(RUN_TASK(loop, NULL, send_closed_main, .c = b), 0);
    ck_assert_str_eq(tr.buf, "send=CIO_ECLOSED try_send=CIO_ECLOSED close=CIO_ECLOSED "
                             "try_recv=CIO_ECLOSED "
                             "send=CIO_ECLOSED try_send=CIO_ECLOSED close=CIO_ECLOSED "
                             "try_recv=CIO_ECLOSED");
    ck_assert_uint_eq(cio_chan_len(b), 0);
    ck_assert_int_eq(cio_chan_free(c), 0);
    ck_assert_int_eq(cio_chan_free(b), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * try_send / try_recv
 * ------------------------------------------------------------------------ */

CIO_ASYNC(try_main, cio_chan *u; cio_chan *b; cio_future *t; int v; int i;)
{
    CIO_BEGIN();
    /* unbuffered, nobody waiting: both would block */
    self->v = 1;
    trace_addf(&tr, "u-send=%s", ename(cio_chan_try_send(self->u, &self->v)));
    trace_addf(&tr, "u-recv=%s", ename(cio_chan_try_recv(self->u, &self->v)));
    /* unbuffered with a receiver waiting: try_send hands the value over */
    self->t = CIO_START(loop, int_receiver, .c = self->u, .name = "r");
    YIELD_N(2);
    self->v = 5;
    trace_addf(&tr, "u-send=%s", ename(cio_chan_try_send(self->u, &self->v)));
    trace_addf(&tr, "u-send=%s", ename(cio_chan_try_send(self->u, &self->v)));
    CIO_AWAIT(self->t);
    /* unbuffered with a sender waiting: try_recv takes its value */
    self->t = CIO_START(loop, int_sender, .c = self->u, .name = "s", .first = 9, .count = 1);
    YIELD_N(2);
    self->v = 0;
    trace_addf(&tr, "u-recv=%s", ename(cio_chan_try_recv(self->u, &self->v)));
    trace_addf(&tr, "v=%d", self->v);
    trace_addf(&tr, "u-recv=%s", ename(cio_chan_try_recv(self->u, &self->v)));
    CIO_AWAIT(self->t);
    /* buffered, capacity 1 */
    self->v = 3;
    trace_addf(&tr, "b-send=%s", ename(cio_chan_try_send(self->b, &self->v)));
    self->v = 4;
    trace_addf(&tr, "b-send=%s", ename(cio_chan_try_send(self->b, &self->v)));
    ck_assert_uint_eq(cio_chan_len(self->b), 1);
    trace_addf(&tr, "b-recv=%s", ename(cio_chan_try_recv(self->b, &self->v)));
    trace_addf(&tr, "v=%d", self->v);
    trace_addf(&tr, "b-recv=%s", ename(cio_chan_try_recv(self->b, &self->v)));
    CIO_END();
}

START_TEST(test_try_send_try_recv_codes)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *u = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 1);

    ck_assert_int_eq(RUN_TASK(loop, NULL, try_main, .u = u, .b = b), 0);
    ck_assert_str_eq(tr.buf, "u-send=CIO_EFULL u-recv=CIO_EEMPTY r-start u-send=ok "
                             "u-send=CIO_EFULL r=5 s-start u-recv=ok v=9 u-recv=CIO_EEMPTY "
                             "s-sent9 b-send=ok b-send=CIO_EFULL b-recv=ok v=3 "
                             "b-recv=CIO_EEMPTY");
    ck_assert_int_eq(cio_chan_free(u), 0);
    ck_assert_int_eq(cio_chan_free(b), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * select
 * ------------------------------------------------------------------------ */

CIO_ASYNC(select_ready_main, cio_chan *c1; cio_chan *c2; cio_chan *c3; cio_select_case cs[3];
          int in1; int in2; int out; unsigned long it;)
{
    CIO_BEGIN();
    /* a recv case ready: chosen, with its value and ok = 1 */
    self->out = 5;
    ck_assert_int_eq(cio_chan_try_send(self->c2, &self->out), 0);
    self->cs[0] = (cio_select_case){ .chan = self->c1, .op = CIO_SELECT_RECV, .buf = &self->in1 };
    self->cs[1] = (cio_select_case){ .chan = self->c2, .op = CIO_SELECT_RECV, .buf = &self->in2 };
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(cio_select(loop, self->cs, 2, -1, 0));
    ck_assert_uint_eq(cio_loop_iteration(loop), self->it);
    trace_addf(&tr, "chose=%ld in2=%d ok=%d", (long)CIO_RESULT.i, self->in2, self->cs[1].ok);
    ck_assert_uint_eq(cio_chan_len(self->c2), 0);

    /* a send case ready (room in c3): chosen, the value is in c3 */
    self->out = 6;
    self->cs[0] = (cio_select_case){ .chan = self->c1, .op = CIO_SELECT_RECV, .buf = &self->in1 };
    self->cs[1] = (cio_select_case){ .chan = self->c3, .op = CIO_SELECT_SEND, .buf = &self->out };
    CIO_AWAIT(cio_select(loop, self->cs, 2, -1, 1));    /* nonblocking, but ready */
    trace_addf(&tr, "chose=%ld", (long)CIO_RESULT.i);
    ck_assert_int_eq(cio_chan_try_recv(self->c3, &self->in1), 0);
    trace_addf(&tr, "c3=%d", self->in1);

    /* nonblocking, nothing ready: -1 at once */
    self->cs[0] = (cio_select_case){ .chan = self->c1, .op = CIO_SELECT_RECV, .buf = &self->in1 };
    self->cs[1] = (cio_select_case){ .chan = self->c2, .op = CIO_SELECT_RECV, .buf = &self->in2 };
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(cio_select(loop, self->cs, 2, -1, 1));
    ck_assert_uint_eq(cio_loop_iteration(loop), self->it);
    trace_addf(&tr, "chose=%ld", (long)CIO_RESULT.i);

    /* timeout, nothing ready: CIO_ETIMEDOUT */
    CIO_AWAIT_TRY(cio_select(loop, self->cs, 2, 0.005, 0));
    trace_addf(&tr, "timeout=%s", ename(CIO_ERROR));
    /* a ready case wins over the timeout */
    ck_assert_int_eq(cio_chan_try_send(self->c1, &self->out), 0);
    CIO_AWAIT(cio_select(loop, self->cs, 2, 0.005, 0));
    trace_addf(&tr, "chose=%ld in1=%d", (long)CIO_RESULT.i, self->in1);
    CIO_END();
}

START_TEST(test_select_ready_nonblocking_timeout)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c1 = cio_chan_new(loop, sizeof(int), 1);
    cio_chan *c2 = cio_chan_new(loop, sizeof(int), 1);
    cio_chan *c3 = cio_chan_new(loop, sizeof(int), 1);

    ck_assert_int_eq(RUN_TASK(loop, NULL, select_ready_main, .c1 = c1, .c2 = c2, .c3 = c3), 0);
    ck_assert_str_eq(tr.buf, "chose=1 in2=5 ok=1 chose=1 c3=6 chose=-1 "
                             "timeout=CIO_ETIMEDOUT chose=0 in1=6");
    ck_assert_int_eq(cio_chan_free(c1), 0);
    ck_assert_int_eq(cio_chan_free(c2), 0);
    ck_assert_int_eq(cio_chan_free(c3), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A blocked select completes when a case becomes ready: a recv case when
 * someone sends, a send case when someone receives. */
CIO_ASYNC(select_wait_main, cio_chan *c1; cio_chan *c2; cio_select_case cs[2]; cio_future *t;
          int in1; int in2; int out; int i;)
{
    CIO_BEGIN();
    self->cs[0] = (cio_select_case){ .chan = self->c1, .op = CIO_SELECT_RECV, .buf = &self->in1 };
    self->cs[1] = (cio_select_case){ .chan = self->c2, .op = CIO_SELECT_RECV, .buf = &self->in2 };
    self->t = CIO_START(loop, selector, .cases = self->cs, .n = 2, .name = "sel");
    YIELD_N(2);
    ck_assert(!cio_future_done(self->t));
    trace_add(&tr, "send-c2");
    self->out = 77;
    SEND(self->c2, &self->out);
    trace_add(&tr, "sent");
    CIO_AWAIT(self->t);
    trace_addf(&tr, "in2=%d ok=%d", self->in2, self->cs[1].ok);

    /* a send case: completes when a receiver comes */
    self->out = 88;
    self->cs[0] = (cio_select_case){ .chan = self->c1, .op = CIO_SELECT_SEND, .buf = &self->out };
    self->cs[1] = (cio_select_case){ .chan = NULL, .op = CIO_SELECT_RECV, .buf = &self->in2 };
    self->t = CIO_START(loop, selector, .cases = self->cs, .n = 2, .name = "sel");
    YIELD_N(2);
    ck_assert(!cio_future_done(self->t));
    trace_add(&tr, "recv-c1");
    RECV(self->c1, &self->in1);
    trace_addf(&tr, "in1=%d", self->in1);
    CIO_AWAIT(self->t);
    CIO_END();
}

START_TEST(test_select_waits_for_a_case)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c1 = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *c2 = cio_chan_new(loop, sizeof(int), 0);

    ck_assert_int_eq(RUN_TASK(loop, NULL, select_wait_main, .c1 = c1, .c2 = c2), 0);
    ck_assert_str_eq(tr.buf, "send-c2 sel=1 sent in2=77 ok=1 recv-c1 in1=88 sel=0");
    ck_assert_int_eq(cio_chan_free(c1), 0);
    ck_assert_int_eq(cio_chan_free(c2), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A NULL channel's case is never chosen; a select of NULL channels only
 * waits for its timeout. */
CIO_ASYNC(select_null_main, cio_chan *c; cio_select_case cs[3]; int in; int out; int n;
          int chosen[3];)
{
    CIO_BEGIN();
    self->out = 1;
    self->cs[0] = (cio_select_case){ .chan = NULL, .op = CIO_SELECT_RECV, .buf = &self->in };
    self->cs[1] = (cio_select_case){ .chan = self->c, .op = CIO_SELECT_RECV, .buf = &self->in };
    self->cs[2] = (cio_select_case){ .chan = NULL, .op = CIO_SELECT_SEND, .buf = &self->out };
    for (self->n = 0; self->n < 200; self->n++) {
        ck_assert_int_eq(cio_chan_try_send(self->c, &self->out), 0);
        CIO_AWAIT(cio_select(loop, self->cs, 3, -1, 0));
        ck_assert_int_ge(CIO_RESULT.i, 0);
        ck_assert_int_lt(CIO_RESULT.i, 3);
        self->chosen[CIO_RESULT.i]++;
    }
    trace_addf(&tr, "chosen=%d/%d/%d", self->chosen[0], self->chosen[1], self->chosen[2]);
    /* nothing but NULL channels */
    self->cs[1].chan = NULL;
    CIO_AWAIT(cio_select(loop, self->cs, 3, -1, 1));
    trace_addf(&tr, "nonblocking=%ld", (long)CIO_RESULT.i);
    CIO_AWAIT_TRY(cio_select(loop, self->cs, 3, 0.002, 0));
    trace_addf(&tr, "timeout=%s", ename(CIO_ERROR));
    CIO_END();
}

START_TEST(test_select_null_channel_never_chosen)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c = cio_chan_new(loop, sizeof(int), 1);

    ck_assert_int_eq(RUN_TASK(loop, NULL, select_null_main, .c = c), 0);
    ck_assert_str_eq(tr.buf, "chosen=0/200/0 nonblocking=-1 timeout=CIO_ETIMEDOUT");
    ck_assert_int_eq(cio_chan_free(c), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Closed channels: a send case fails with CIO_ECLOSED; a recv case is
 * chosen with ok = 0 (Go's v, ok := <-c). */
CIO_ASYNC(select_closed_main, cio_chan *open; cio_chan *closed; cio_select_case cs[2];
          int in; int out;)
{
    CIO_BEGIN();
    self->out = 3;
    ck_assert_int_eq(cio_chan_close(self->closed), 0);
    self->cs[0] = (cio_select_case){ .chan = self->open, .op = CIO_SELECT_RECV, .buf = &self->in };
    self->cs[1] = (cio_select_case){ .chan = self->closed, .op = CIO_SELECT_SEND,
                                     .buf = &self->out };
    CIO_AWAIT_TRY(cio_select(loop, self->cs, 2, -1, 0));
    trace_addf(&tr, "send-case=%s", ename(CIO_ERROR));

    self->cs[1] = (cio_select_case){ .chan = self->closed, .op = CIO_SELECT_RECV,
                                     .buf = &self->in, .ok = 7 };
    CIO_AWAIT(cio_select(loop, self->cs, 2, -1, 0));
    trace_addf(&tr, "recv-case=%ld ok=%d", (long)CIO_RESULT.i, self->cs[1].ok);
    CIO_END();
}

START_TEST(test_select_closed_channel_cases)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *open = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *closed = cio_chan_new(loop, sizeof(int), 1);

    ck_assert_int_eq(RUN_TASK(loop, NULL, select_closed_main, .open = open, .closed = closed), 0);
    ck_assert_str_eq(tr.buf, "send-case=CIO_ECLOSED recv-case=1 ok=0");
    ck_assert_int_eq(cio_chan_free(open), 0);
    ck_assert_int_eq(cio_chan_free(closed), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Fairness: two always-ready cases, 2000 rounds; each is chosen 40%-60% of
 * the time (for a fair coin the chance to leave that band is ~1e-19). */
CIO_ASYNC(fairness_main, cio_chan *c1; cio_chan *c2; cio_select_case cs[2]; int in; int one;
          int n; int count[2];)
{
    CIO_BEGIN();
    self->one = 1;
    ck_assert_int_eq(cio_chan_try_send(self->c1, &self->one), 0);
    ck_assert_int_eq(cio_chan_try_send(self->c2, &self->one), 0);
    self->cs[0] = (cio_select_case){ .chan = self->c1, .op = CIO_SELECT_RECV, .buf = &self->in };
    self->cs[1] = (cio_select_case){ .chan = self->c2, .op = CIO_SELECT_RECV, .buf = &self->in };
    for (self->n = 0; self->n < 2000; self->n++) {
        CIO_AWAIT(cio_select(loop, self->cs, 2, -1, 0));
        ck_assert(CIO_RESULT.i == 0 || CIO_RESULT.i == 1);
        self->count[CIO_RESULT.i]++;
        /* refill the channel that was drained */
        ck_assert_int_eq(cio_chan_try_send(CIO_RESULT.i == 0 ? self->c1 : self->c2,
                                           &self->one), 0);
    }
    ck_assert_int_eq(self->count[0] + self->count[1], 2000);
    ck_assert_int_ge(self->count[0], 800);
    ck_assert_int_le(self->count[0], 1200);
    ck_assert_int_ge(self->count[1], 800);
    ck_assert_int_le(self->count[1], 1200);
    trace_add(&tr, "fair");
    CIO_END();
}

START_TEST(test_select_fairness)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c1 = cio_chan_new(loop, sizeof(int), 1);
    cio_chan *c2 = cio_chan_new(loop, sizeof(int), 1);

    ck_assert_int_eq(RUN_TASK(loop, NULL, fairness_main, .c1 = c1, .c2 = c2), 0);
    ck_assert_str_eq(tr.buf, "fair");
    ck_assert_int_eq(cio_chan_free(c1), 0);
    ck_assert_int_eq(cio_chan_free(c2), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A task cancelled while blocked in send / recv / select leaves the
 * channel consistent: the next send and recv work
 * ------------------------------------------------------------------------ */

CIO_ASYNC(cancel_blocked_main, cio_chan *u; cio_chan *b; cio_chan *u2; cio_select_case cs[2];
          cio_future *t; cio_future *t2; int v; int w; int i;)
{
    CIO_BEGIN();
    /* blocked in send: its value is never delivered */
    self->t = CIO_START(loop, int_sender, .c = self->u, .name = "s", .first = 1, .count = 1);
    YIELD_N(2);
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 1);
    CIO_AWAIT_TRY(self->t);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    trace_addf(&tr, "try_recv=%s", ename(cio_chan_try_recv(self->u, &self->v)));
    self->t = CIO_START(loop, int_receiver, .c = self->u, .name = "r");
    YIELD_N(2);
    self->v = 2;
    SEND(self->u, &self->v);
    CIO_AWAIT(self->t);

    /* blocked in recv: it takes nothing */
    self->t = CIO_START(loop, int_receiver, .c = self->u, .name = "r");
    YIELD_N(2);
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 1);
    CIO_AWAIT_TRY(self->t);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    self->v = 3;
    trace_addf(&tr, "try_send=%s", ename(cio_chan_try_send(self->u, &self->v)));
    self->t = CIO_START(loop, int_sender, .c = self->u, .name = "s", .first = 4, .count = 1);
    YIELD_N(2);
    RECV(self->u, &self->v);
    trace_addf(&tr, "recv=%d", self->v);
    CIO_AWAIT(self->t);

    /* blocked in send on a full buffered channel: the buffer is unchanged */
    self->v = 5;
    ck_assert_int_eq(cio_chan_try_send(self->b, &self->v), 0);
    self->t = CIO_START(loop, int_sender, .c = self->b, .name = "s", .first = 6, .count = 1);
    YIELD_N(2);
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 1);
    CIO_AWAIT_TRY(self->t);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    trace_addf(&tr, "len=%zu", cio_chan_len(self->b));
    RECV(self->b, &self->v);
    trace_addf(&tr, "recv=%d", self->v);
    trace_addf(&tr, "try_recv=%s", ename(cio_chan_try_recv(self->b, &self->v)));

    /* blocked in select (recv on u, send on u2): neither case happens */
    self->w = 9;
    self->cs[0] = (cio_select_case){ .chan = self->u, .op = CIO_SELECT_RECV, .buf = &self->v };
    self->cs[1] = (cio_select_case){ .chan = self->u2, .op = CIO_SELECT_SEND, .buf = &self->w };
    self->t = CIO_START(loop, selector, .cases = self->cs, .n = 2, .name = "sel");
    YIELD_N(2);
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 1);
    CIO_AWAIT_TRY(self->t);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    self->v = 10;
    trace_addf(&tr, "try_send=%s", ename(cio_chan_try_send(self->u, &self->v)));
    trace_addf(&tr, "try_recv=%s", ename(cio_chan_try_recv(self->u2, &self->v)));
    /* both channels still work */
    self->t = CIO_START(loop, int_receiver, .c = self->u, .name = "r");
    self->t2 = CIO_START(loop, int_sender, .c = self->u2, .name = "s", .first = 11, .count = 1);
    YIELD_N(2);
    self->v = 12;
    SEND(self->u, &self->v);
    RECV(self->u2, &self->w);
    trace_addf(&tr, "recv=%d", self->w);
    CIO_AWAIT(self->t);
    CIO_AWAIT(self->t2);
    CIO_END();
}

START_TEST(test_cancelled_while_blocked_leaves_channel_consistent)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *u = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 1);
    cio_chan *u2 = cio_chan_new(loop, sizeof(int), 0);

    ck_assert_int_eq(RUN_TASK(loop, NULL, cancel_blocked_main, .u = u, .b = b, .u2 = u2), 0);
    ck_assert_str_eq(tr.buf,
                     "s-start s-CIO_ECANCELLED try_recv=CIO_EEMPTY r-start r=2 "
                     "r-start r-CIO_ECANCELLED try_send=CIO_EFULL s-start recv=4 s-sent4 "
                     "s-start s-CIO_ECANCELLED len=1 recv=5 try_recv=CIO_EEMPTY "
                     "sel-CIO_ECANCELLED try_send=CIO_EFULL try_recv=CIO_EEMPTY "
                     "r-start s-start r=12 recv=11 s-sent11");
    ck_assert_int_eq(cio_chan_free(u), 0);
    ck_assert_int_eq(cio_chan_free(b), 0);
    ck_assert_int_eq(cio_chan_free(u2), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A receiver woken with a value and cancelled before it runs must not lose
 * the value: try_send said it was sent, so exactly one receiver gets it
 * (the cancelled one, or the next one waiting). The same when the value
 * comes from a select's send case, and for a buffered channel. The
 * receivers here trace nothing; main counts who got the value. */
CIO_ASYNC(quiet_receiver, cio_chan *c; int v;)
{
    CIO_BEGIN();
    self->v = -1;
    RECV(self->c, &self->v);
    CIO_RETURN(self->v);
    CIO_END();
}

/* How many of r1, r2 got `want` (cancelling r2 if it still waits). */
CIO_ASYNC(count_delivered, cio_future *r1; cio_future *r2; int want; int got;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(self->r1);
    self->got = CIO_ERROR == 0 && CIO_RESULT.i == self->want;
    CIO_YIELD();
    CIO_YIELD();
    if (!cio_future_done(self->r2))
        cio_future_cancel(self->r2, NULL);
    CIO_AWAIT_TRY(self->r2);
    self->got += CIO_ERROR == 0 && CIO_RESULT.i == self->want;
    CIO_RETURN(self->got);
    CIO_END();
}

CIO_ASYNC(woken_receiver_cancel_main, cio_chan *u; cio_chan *b; cio_select_case cs[1];
          count_delivered sub; cio_future *r1; cio_future *r2; int v; int i;)
{
    CIO_BEGIN();
    /* try_send on an unbuffered channel: r1 is matched, then cancelled */
    self->r1 = CIO_START(loop, quiet_receiver, .c = self->u);
    self->r2 = CIO_START(loop, quiet_receiver, .c = self->u);
    YIELD_N(2);
    self->v = 5;
    trace_addf(&tr, "try_send=%s", ename(cio_chan_try_send(self->u, &self->v)));
    ck_assert_int_eq(cio_future_cancel(self->r1, NULL), 1);
    CIO_CALL_TRY(count_delivered, sub, .r1 = self->r1, .r2 = self->r2, .want = 5);
    trace_addf(&tr, "delivered=%ld", (long)CIO_RESULT.i);

    /* a select's send case, matched to r1, which is then cancelled */
    self->r1 = CIO_START(loop, quiet_receiver, .c = self->u);
    self->r2 = CIO_START(loop, quiet_receiver, .c = self->u);
    YIELD_N(2);
    self->v = 6;
    self->cs[0] = (cio_select_case){ .chan = self->u, .op = CIO_SELECT_SEND, .buf = &self->v };
    CIO_AWAIT(cio_select(loop, self->cs, 1, -1, 1));
    trace_addf(&tr, "select=%ld", (long)CIO_RESULT.i);
    ck_assert_int_eq(cio_future_cancel(self->r1, NULL), 1);
    CIO_CALL_TRY(count_delivered, sub, .r1 = self->r1, .r2 = self->r2, .want = 6);
    trace_addf(&tr, "delivered=%ld", (long)CIO_RESULT.i);

    /* buffered */
    self->r1 = CIO_START(loop, quiet_receiver, .c = self->b);
    self->r2 = CIO_START(loop, quiet_receiver, .c = self->b);
    YIELD_N(2);
    self->v = 7;
    trace_addf(&tr, "try_send=%s", ename(cio_chan_try_send(self->b, &self->v)));
    ck_assert_int_eq(cio_future_cancel(self->r1, NULL), 1);
    CIO_CALL_TRY(count_delivered, sub, .r1 = self->r1, .r2 = self->r2, .want = 7);
    trace_addf(&tr, "delivered=%ld", (long)CIO_RESULT.i);
    trace_addf(&tr, "len=%zu", cio_chan_len(self->b));
    CIO_END();
}

START_TEST(test_woken_receiver_cancelled_loses_nothing)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *u = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 1);

    ck_assert_int_eq(RUN_TASK(loop, NULL, woken_receiver_cancel_main, .u = u, .b = b), 0);
    ck_assert_str_eq(tr.buf, "try_send=ok delivered=1 select=0 delivered=1 "
                             "try_send=ok delivered=1 len=0");
    ck_assert_int_eq(cio_chan_free(u), 0);
    ck_assert_int_eq(cio_chan_free(b), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A sender woken for room in the buffer and cancelled before it runs puts
 * nothing: the next sender's element goes in, once. A receiver matched to a
 * sender and cancelled before it runs takes nothing: the sender is matched
 * again. */
CIO_ASYNC(woken_sender_cancel_main, cio_chan *u; cio_chan *b; cio_future *t[2]; int v; int i;)
{
    CIO_BEGIN();
    /* buffered, full; s1 and s2 wait; a recv frees room for s1; s1 cancelled */
    self->v = 0;
    ck_assert_int_eq(cio_chan_try_send(self->b, &self->v), 0);
    self->t[0] = CIO_START(loop, int_sender, .c = self->b, .name = "s1", .first = 1, .count = 1);
    self->t[1] = CIO_START(loop, int_sender, .c = self->b, .name = "s2", .first = 2, .count = 1);
    YIELD_N(2);
    ck_assert_int_eq(cio_chan_try_recv(self->b, &self->v), 0);
    trace_addf(&tr, "got%d", self->v);
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    CIO_AWAIT(self->t[1]);
    RECV(self->b, &self->v);
    trace_addf(&tr, "got%d", self->v);
    trace_addf(&tr, "len=%zu", cio_chan_len(self->b));

    /* unbuffered: r waits, s5 sends and is matched to r, r is cancelled
     * before it runs: s5 goes back to the line, the next receiver gets its
     * element, and only then does s5's send complete */
    self->t[0] = CIO_START(loop, int_receiver, .c = self->u, .name = "r");
    YIELD_N(2);
    self->t[1] = CIO_START(loop, int_sender, .c = self->u, .name = "s5", .first = 5, .count = 1);
    YIELD_N(1);                             /* s5 runs and is matched to r */
    ck_assert_int_eq(cio_future_cancel(self->t[0], NULL), 1);
    CIO_AWAIT_TRY(self->t[0]);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    YIELD_N(2);
    ck_assert(!cio_future_done(self->t[1]));
    RECV(self->u, &self->v);
    trace_addf(&tr, "got%d", self->v);
    CIO_AWAIT(self->t[1]);
    CIO_END();
}

START_TEST(test_woken_sender_or_matched_receiver_cancelled)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *u = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 1);

    ck_assert_int_eq(RUN_TASK(loop, NULL, woken_sender_cancel_main, .u = u, .b = b), 0);
    ck_assert_str_eq(tr.buf, "s1-start s2-start got0 s1-CIO_ECANCELLED s2-sent2 got2 len=0 "
                             "r-start s5-start r-CIO_ECANCELLED got5 s5-sent5");
    ck_assert_int_eq(cio_chan_free(u), 0);
    ck_assert_int_eq(cio_chan_free(b), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A select woken by a case (a sender came, an element or room appeared)
 * and cancelled before it runs does nothing: the element stays for the
 * next receiver, the matched sender goes back to the line, no element is
 * put for a send case. */
CIO_ASYNC(select_woken_cancel_main, cio_chan *u; cio_chan *b; cio_chan *full;
          cio_select_case cs[2]; cio_future *t; cio_future *s; int in; int out; int v; int i;)
{
    CIO_BEGIN();
    /* recv case on an unbuffered channel, matched to a blocking sender */
    self->cs[0] = (cio_select_case){ .chan = self->u, .op = CIO_SELECT_RECV, .buf = &self->in };
    self->t = CIO_START(loop, selector, .cases = self->cs, .n = 1, .name = "sel");
    YIELD_N(2);
    self->s = CIO_START(loop, int_sender, .c = self->u, .name = "s", .first = 1, .count = 1);
    YIELD_N(1);                             /* s runs and meets the select */
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 1);
    CIO_AWAIT_TRY(self->t);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    YIELD_N(2);
    ck_assert(!cio_future_done(self->s));
    RECV(self->u, &self->v);
    trace_addf(&tr, "got%d", self->v);
    CIO_AWAIT(self->s);

    /* recv case on a buffered channel: the element stays */
    self->cs[0] = (cio_select_case){ .chan = self->b, .op = CIO_SELECT_RECV, .buf = &self->in };
    self->t = CIO_START(loop, selector, .cases = self->cs, .n = 1, .name = "sel");
    YIELD_N(2);
    self->v = 2;
    ck_assert_int_eq(cio_chan_try_send(self->b, &self->v), 0);
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 1);
    CIO_AWAIT_TRY(self->t);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    YIELD_N(2);
    trace_addf(&tr, "len=%zu", cio_chan_len(self->b));
    trace_addf(&tr, "try_recv=%s", ename(cio_chan_try_recv(self->b, &self->v)));
    trace_addf(&tr, "v=%d", self->v);

    /* send case on a full buffered channel: room appears, the select is
     * cancelled: its element is not put */
    self->v = 3;
    ck_assert_int_eq(cio_chan_try_send(self->full, &self->v), 0);
    self->out = 4;
    self->cs[0] = (cio_select_case){ .chan = self->full, .op = CIO_SELECT_SEND, .buf = &self->out };
    self->t = CIO_START(loop, selector, .cases = self->cs, .n = 1, .name = "sel");
    YIELD_N(2);
    ck_assert_int_eq(cio_chan_try_recv(self->full, &self->v), 0);
    trace_addf(&tr, "got%d", self->v);
    ck_assert_int_eq(cio_future_cancel(self->t, NULL), 1);
    CIO_AWAIT_TRY(self->t);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    YIELD_N(2);
    trace_addf(&tr, "len=%zu", cio_chan_len(self->full));
    self->v = 5;
    trace_addf(&tr, "try_send=%s", ename(cio_chan_try_send(self->full, &self->v)));
    ck_assert_int_eq(cio_chan_try_recv(self->full, &self->v), 0);
    trace_addf(&tr, "got%d", self->v);
    CIO_END();
}

START_TEST(test_select_woken_then_cancelled_does_nothing)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *u = cio_chan_new(loop, sizeof(int), 0);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 1);
    cio_chan *full = cio_chan_new(loop, sizeof(int), 1);

    ck_assert_int_eq(RUN_TASK(loop, NULL, select_woken_cancel_main, .u = u, .b = b,
                              .full = full), 0);
    ck_assert_str_eq(tr.buf, "s-start sel-CIO_ECANCELLED got1 s-sent1 "
                             "sel-CIO_ECANCELLED len=1 try_recv=ok v=2 "
                             "got3 sel-CIO_ECANCELLED len=0 try_send=ok got5");
    ck_assert_int_eq(cio_chan_free(u), 0);
    ck_assert_int_eq(cio_chan_free(b), 0);
    ck_assert_int_eq(cio_chan_free(full), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Freeing with waiters; caller storage
 * ------------------------------------------------------------------------ */

CIO_ASYNC(free_busy_main, cio_chan *c; cio_future *t; int v; int i;)
{
    CIO_BEGIN();
    self->t = CIO_START(loop, int_receiver, .c = self->c, .name = "r");
    YIELD_N(2);
    ck_assert_int_eq(cio_chan_free(self->c), CIO_EBUSY);
    trace_add(&tr, "busy");
    self->v = 1;
    SEND(self->c, &self->v);
    CIO_AWAIT(self->t);
    /* with elements buffered but nobody waiting, free is fine (later) */
    self->v = 2;
    ck_assert_int_eq(cio_chan_try_send(self->c, &self->v), 0);
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

/* A select with a ready case that cannot get memory for its future does
 * nothing: the element stays in the channel. */
START_TEST(test_select_out_of_memory_does_nothing)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c = cio_chan_new(loop, sizeof(int), 2);
    cio_select_case cs[1];
    int v = 5, got = 0;
    cio_future *f;

    ck_assert_int_eq(cio_chan_try_send(c, &v), 0);
    cs[0] = (cio_select_case){ .chan = c, .op = CIO_SELECT_RECV, .buf = &got };
    cio_set_allocator(refusing_realloc, NULL);
    f = cio_select(loop, cs, 1, -1, 0);     /* outside a task: a pooled slot */
    cio_set_allocator(NULL, NULL);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(got, 0);
    ck_assert_uint_eq(cio_chan_len(c), 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_select(loop, cs, 1, -1, 0), NULL), 0);
    ck_assert_int_eq(got, 5);
    ck_assert_int_eq(cio_chan_free(c), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A select whose ready case is promised at once does it when its result
 * is first read; dropped unread, it does nothing: a buffered element or
 * room stays, a waiting sender keeps waiting for the next receiver. */
START_TEST(test_select_dropped_unread_does_nothing)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 1);
    cio_chan *u = cio_chan_new(loop, sizeof(int), 0);
    cio_select_case cs[1];
    cio_future *f, *sender;
    int v = 5, got = 0;

    cs[0] = (cio_select_case){ .chan = b, .op = CIO_SELECT_SEND, .buf = &v };
    f = cio_select(loop, cs, 1, -1, 0);
    ck_assert(cio_future_done(f));
    cio_future_unref(f);                /* never read: nothing sent */
    ck_assert_uint_eq(cio_chan_len(b), 0);
    ck_assert_int_eq(cio_chan_try_send(b, &v), 0);
    cs[0] = (cio_select_case){ .chan = b, .op = CIO_SELECT_RECV, .buf = &got };
    f = cio_select(loop, cs, 1, -1, 0);
    cio_future_unref(f);                /* never read: nothing received */
    ck_assert_int_eq(got, 0);
    ck_assert_uint_eq(cio_chan_len(b), 1);
    f = cio_select(loop, cs, 1, -1, 0);
    ck_assert_int_eq(cio_future_result(f, NULL), 0);   /* read: received */
    cio_future_unref(f);
    ck_assert_int_eq(got, 5);
    ck_assert(cs[0].ok);
    ck_assert_uint_eq(cio_chan_len(b), 0);

    sender = CIO_START(loop, int_sender, .c = u, .name = "s", .first = 9, .count = 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    got = 0;
    cs[0] = (cio_select_case){ .chan = u, .op = CIO_SELECT_RECV, .buf = &got };
    f = cio_select(loop, cs, 1, -1, 0);
    ck_assert(cio_future_done(f));
    cio_future_unref(f);
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    ck_assert(!cio_future_done(sender));
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_select(loop, cs, 1, -1, 0), NULL), 0);
    ck_assert_int_eq(got, 9);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, sender, NULL), 0);
    ck_assert_str_eq(tr.buf, "s-start s-sent9");
    ck_assert_int_eq(cio_chan_free(b), 0);
    ck_assert_int_eq(cio_chan_free(u), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* A receive served at once copies the element when its result is read;
 * dropped unread, the element stays: in the buffer, or with its sender,
 * which then completes with the next receiver. A buffered send served at
 * once likewise sends nothing if dropped unread. */
START_TEST(test_recv_or_send_dropped_unread_changes_nothing)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *b = cio_chan_new(loop, sizeof(int), 2);
    cio_chan *u = cio_chan_new(loop, sizeof(int), 0);
    cio_future *f, *sender;
    int v = 5, got = 0;

    ck_assert_int_eq(cio_chan_try_send(b, &v), 0);
    f = cio_chan_recv(b, &got);
    ck_assert(cio_future_done(f));
    cio_future_unref(f);                /* never read */
    ck_assert_int_eq(got, 0);
    ck_assert_uint_eq(cio_chan_len(b), 1);
    ck_assert_int_eq(cio_chan_try_recv(b, &got), 0);
    ck_assert_int_eq(got, 5);
    f = cio_chan_send(b, &v);           /* a send dropped unread sends nothing */
    ck_assert(cio_future_done(f));
    cio_future_unref(f);
    ck_assert_uint_eq(cio_chan_len(b), 0);

    sender = CIO_START(loop, int_sender, .c = u, .name = "s", .first = 9, .count = 1);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    got = 0;
    f = cio_chan_recv(u, &got);         /* matched with the waiting sender */
    ck_assert(cio_future_done(f));
    cio_future_unref(f);
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    ck_assert(!cio_future_done(sender));        /* still waiting to be received */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_chan_recv(u, &got), NULL), 0);
    ck_assert_int_eq(got, 9);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, sender, NULL), 0);
    ck_assert_str_eq(tr.buf, "s-start s-sent9");
    ck_assert_int_eq(cio_chan_free(b), 0);
    ck_assert_int_eq(cio_chan_free(u), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* Inside a task, a send or receive made in the task's own slot is lazy
 * (slot.c): nothing happens until it is awaited or used otherwise, and the
 * channel counts it, so it cannot be freed under it. Awaited, it finishes
 * at once when it can (a buffered element or room, a sender waiting). */
CIO_ASYNC(lazy_chan_main, cio_chan *c; cio_chan *unbuf; cio_future *f; int v; int two;
          cio_future *s;)
{
    CIO_BEGIN();
    self->f = cio_chan_recv(self->c, &self->v);
    ck_assert(!cio_future_done(self->f));           /* not started */
    ck_assert_int_eq(cio_chan_free(self->c), CIO_EBUSY);
    cio_future_unref(self->f);                      /* dropped: nothing */
    self->v = 1;
    ck_assert_int_eq(cio_chan_try_send(self->c, &self->v), 0);
    self->two = 2;
    self->f = cio_chan_send(self->c, &self->two);
    ck_assert_int_eq(cio_future_cancel(self->f, NULL), 1);
    CIO_AWAIT_TRY(self->f);
    trace_addf(&tr, "send-%s len=%zu", ename(CIO_ERROR), cio_chan_len(self->c));
    self->v = 0;
    RECV(self->c, &self->v);    /* buffered: at once */
    trace_addf(&tr, "v=%d", self->v);
    SEND(self->c, &self->two);  /* room: at once */
    trace_addf(&tr, "len=%zu", cio_chan_len(self->c));
    /* unbuffered: a receive finds a sender waiting and takes at once */
    self->s = CIO_START(loop, int_sender, .c = self->unbuf, .name = "s", .first = 7,
                        .count = 1);
    CIO_YIELD();
    RECV(self->unbuf, &self->v);
    trace_addf(&tr, "got%d", self->v);
    CIO_AWAIT(self->s);
    /* closed between making and awaiting: the receive fails */
    self->f = cio_chan_recv(self->unbuf, &self->v);
    ck_assert_int_eq(cio_chan_close(self->unbuf), 0);
    CIO_AWAIT_TRY(self->f);
    trace_addf(&tr, "recv-%s", ename(CIO_ERROR));
    CIO_END();
}

START_TEST(test_lazy_waits_in_a_task)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_chan *c = cio_chan_new(loop, sizeof(int), 1);
    cio_chan *unbuf = cio_chan_new(loop, sizeof(int), 0);
    int v = 0;

    ck_assert_int_eq(RUN_TASK(loop, NULL, lazy_chan_main, .c = c, .unbuf = unbuf), 0);
    ck_assert_str_eq(tr.buf, "send-CIO_ECANCELLED len=1 v=1 len=1 s-start got7 s-sent7 "
                             "recv-CIO_ECLOSED");
    ck_assert_int_eq(cio_chan_try_recv(c, &v), 0);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(cio_chan_free(c), 0);
    ck_assert_int_eq(cio_chan_free(unbuf), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* The edges of the two spellings, which agree on each: a lazy recv alive in
 * the task's own slot is started first; a channel of another loop; a closed
 * channel (send fails; recv fails once drained); an error propagates. */
CIO_ASYNC(chan_edges_main, cio_chan *c; cio_chan *other; cio_future *f; int v; int w;)
{
    CIO_BEGIN();
    self->v = 1;
    ck_assert_int_eq(cio_chan_try_send(self->c, &self->v), 0);
    self->f = cio_chan_recv(self->c, &self->w);     /* lazy, in the own slot */
    self->v = 2;
    SEND(self->c, &self->v);        /* starts f first: it is promised the 1 */
    ck_assert(cio_future_done(self->f));
    ck_assert_int_eq(cio_future_error(self->f), 0);
    cio_future_unref(self->f);
    self->v = 0;
    RECV(self->c, &self->v);
    trace_addf(&tr, "f=%d got=%d", self->w, self->v);

    SEND_TRY(self->other, &self->v);
    trace_addf(&tr, "other-send-%s", ename(CIO_ERROR));
    RECV_TRY(self->other, &self->v);
    trace_addf(&tr, "other-recv-%s", ename(CIO_ERROR));

    self->v = 3;
    ck_assert_int_eq(cio_chan_try_send(self->c, &self->v), 0);
    ck_assert_int_eq(cio_chan_close(self->c), 0);
    SEND_TRY(self->c, &self->v);
    trace_addf(&tr, "send-%s", ename(CIO_ERROR));
    RECV_TRY(self->c, &self->v);
    trace_addf(&tr, "recv=%d", self->v);
    RECV(self->c, &self->v);
    trace_add(&tr, "not reached");
    CIO_END();
}

/* The statements' own error: a NULL channel or pointer. */
CIO_ASYNC(chan_null_main, cio_chan *c; int v;)
{
    CIO_BEGIN();
    CIO_CHAN_SEND_TRY(NULL, &self->v);
    trace_addf(&tr, "send-%s", ename(CIO_ERROR));
    CIO_CHAN_SEND_TRY(self->c, NULL);
    trace_addf(&tr, "send-%s", ename(CIO_ERROR));
    CIO_CHAN_RECV_TRY(NULL, &self->v);
    trace_addf(&tr, "recv-%s", ename(CIO_ERROR));
    CIO_CHAN_RECV(self->c, NULL);
    trace_add(&tr, "not reached");
    CIO_END();
}

/* Stepped by hand, outside any task. */
CIO_ASYNC(chan_outside, cio_chan *c; int v;)
{
    CIO_BEGIN();
    SEND_TRY(self->c, &self->v);
    trace_addf(&tr, "send-%s", ename(CIO_ERROR));
    RECV_TRY(self->c, &self->v);
    trace_addf(&tr, "recv-%s", ename(CIO_ERROR));
    CIO_END();
}

START_TEST(test_awaiting_statement_edges)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_loop *loop2 = cio_loop_new();
    cio_chan *c = cio_chan_new(loop, sizeof(int), 2);
    cio_chan *other = cio_chan_new(loop2, sizeof(int), 1);
    chan_outside fr;

    ck_assert_int_eq(RUN_TASK(loop, NULL, chan_edges_main, .c = c, .other = other),
                     CIO_ECLOSED);
    ck_assert_str_eq(tr.buf, "f=1 got=2 other-send-CIO_EWRONGLOOP other-recv-CIO_EWRONGLOOP "
                             "send-CIO_ECLOSED recv=3");
    ck_assert_uint_eq(cio_chan_len(other), 0);      /* nothing sent there */
    ck_assert_int_eq(cio_chan_free(c), 0);

    reset_trace();
    c = cio_chan_new(loop, sizeof(int), 0);
    memset(&fr, 0, sizeof fr);
    fr.c = c;
    ck_assert_int_eq(chan_outside__step(&fr.cio, loop), CIO_CORO_DONE);
    ck_assert_str_eq(tr.buf, "send-CIO_ENOLOOP recv-CIO_ENOLOOP");

    if (in_place) {
        reset_trace();
        ck_assert_int_eq(RUN_TASK(loop, NULL, chan_null_main, .c = c), CIO_EINVAL);
        ck_assert_str_eq(tr.buf, "send-CIO_EINVAL send-CIO_EINVAL recv-CIO_EINVAL");
    }
    ck_assert_int_eq(cio_chan_free(c), 0);
    ck_assert_int_eq(cio_chan_free(other), 0);
    ck_assert_int_eq(cio_loop_free(loop2), 0);
    loop_done(loop, &r, 0);
}
END_TEST

START_TEST(test_free_busy_and_caller_storage)
{
    in_place = _i;
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    union {
        void *p;
        double d;
        long long ll;
        unsigned char b[CIO_CHAN_SIZE(sizeof(order), 3)];
    } st;
    cio_chan *c;
    order o = { 0 }, got;
    unsigned long before;
    int i;

    c = cio_chan_new(loop, sizeof(int), 2);
    ck_assert_int_eq(RUN_TASK(loop, NULL, free_busy_main, .c = c), 0);
    ck_assert_str_eq(tr.buf, "r-start busy r=1");
    ck_assert_uint_eq(cio_chan_len(c), 1);
    ck_assert_int_eq(cio_chan_free(c), 0);

    /* refused: too small, no storage, elem_size 0 */
    ck_assert_ptr_null(cio_chan_new_in(loop, sizeof(order), 3, st.b, 1));
    ck_assert_ptr_null(cio_chan_new_in(loop, sizeof(order), 3, NULL, sizeof st.b));
    ck_assert_ptr_null(cio_chan_new_in(loop, 0, 3, st.b, sizeof st.b));

    cio_set_allocator(counting_realloc, NULL);
    before = alloc_count;
    c = cio_chan_new_in(loop, sizeof(order), 3, st.b, sizeof st.b);
    ck_assert_uint_eq(alloc_count, before);
    cio_set_allocator(NULL, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(cio_chan_cap(c), 3);
    for (i = 0; i < 3; i++) {
        o.id = i;
        o.amount = i * 2.0;
        ck_assert_int_eq(cio_chan_try_send(c, &o), 0);
    }
    ck_assert_int_eq(cio_chan_try_send(c, &o), CIO_EFULL);
    for (i = 0; i < 3; i++) {
        memset(&got, 0, sizeof got);
        ck_assert_int_eq(cio_chan_try_recv(c, &got), 0);
        ck_assert_int_eq(got.id, i);
        ck_assert(got.amount == i * 2.0);
    }
    ck_assert_int_eq(cio_chan_try_recv(c, &got), CIO_EEMPTY);
    /* and through tasks */
    reset_trace();
    ck_assert_int_eq(RUN_TASK(loop, NULL, order_main, .c = c), 0);
    ck_assert_str_eq(tr.buf, "100/1.5/customer-0 101/3.0/customer-1 102/4.5/customer-2");
    ck_assert_int_eq(cio_chan_free(c), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *channel_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("channel");

    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, reset_trace, NULL);
    tcase_add_loop_test(tc, test_unbuffered_send_blocks_until_received, 0, 2);
    tcase_add_loop_test(tc, test_unbuffered_ping_pong, 0, 2);
    tcase_add_loop_test(tc, test_buffered_capacity_two, 0, 2);
    tcase_add_loop_test(tc, test_struct_elements_copied_intact, 0, 2);
    tcase_add_loop_test(tc, test_close_fails_waiting_receivers_and_senders, 0, 2);
    tcase_add_loop_test(tc, test_close_with_buffered_items_drains_then_closed, 0, 2);
    tcase_add_loop_test(tc, test_send_on_closed_and_close_twice, 0, 2);
    tcase_add_loop_test(tc, test_try_send_try_recv_codes, 0, 2);
    tcase_add_loop_test(tc, test_select_ready_nonblocking_timeout, 0, 2);
    tcase_add_loop_test(tc, test_select_waits_for_a_case, 0, 2);
    tcase_add_loop_test(tc, test_select_null_channel_never_chosen, 0, 2);
    tcase_add_loop_test(tc, test_select_closed_channel_cases, 0, 2);
    tcase_add_loop_test(tc, test_select_fairness, 0, 2);
    tcase_add_loop_test(tc, test_cancelled_while_blocked_leaves_channel_consistent, 0, 2);
    tcase_add_loop_test(tc, test_woken_receiver_cancelled_loses_nothing, 0, 2);
    tcase_add_loop_test(tc, test_woken_sender_or_matched_receiver_cancelled, 0, 2);
    tcase_add_loop_test(tc, test_select_woken_then_cancelled_does_nothing, 0, 2);
    tcase_add_loop_test(tc, test_recv_or_send_dropped_unread_changes_nothing, 0, 2);
    tcase_add_loop_test(tc, test_select_out_of_memory_does_nothing, 0, 2);
    tcase_add_loop_test(tc, test_select_dropped_unread_does_nothing, 0, 2);
    tcase_add_loop_test(tc, test_free_busy_and_caller_storage, 0, 2);
    tcase_add_loop_test(tc, test_lazy_waits_in_a_task, 0, 2);
    tcase_add_loop_test(tc, test_awaiting_statement_edges, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(channel_suite);
}
