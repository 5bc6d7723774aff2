/* test_oom.c - out of memory, SQLite-style, over whole scenarios.
 *
 * A counting allocator (cio_set_allocator) fails the Nth allocation, either
 * once (transient) or from then on (persistent). For each scenario a clean
 * run counts its allocations T; then N = 1 .. T + 1 is swept in both modes.
 * Every run must end in success or CIO_ENOMEM (for the peer of a socket
 * whose other end ran out of memory: the end of stream or a reset), with no
 * crash, no leak (blocks and bytes back to zero, sizes checked), no hang (an
 * alarm names the failure point), and with the loop still usable once
 * memory is back: every task left is cancelled and finishes, a fresh task
 * and timer run, and the loop frees cleanly. A run where no allocation
 * failed must succeed and report nothing.
 *
 * Scenarios: timers and callbacks; tasks with gather / wait / wait_for /
 * shield; queue and channel traffic; accepting a connection; an echo round
 * trip; an HTTP request. The sweep prints how many failure points it tried.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include "testutil.h"


/* tests/test_oom_direct: linked against libcio_direct, where every pooled
 * object comes from the allocator (a failure point each). */
#ifdef CIO_TEST_POOL_DIRECT
#  define LIBRARY "direct "
#else
#  define LIBRARY ""
#endif

/* ---- the allocator ---- */

typedef struct faults {
    long allocs;        /* allocations so far */
    long fail_at;       /* the first one to fail (1-based); 0 = never */
    int persistent;     /* fail every one from fail_at on */
    long failures;      /* how many were refused */
    long live;          /* blocks outstanding */
    long long bytes;    /* bytes outstanding */
    int size_mismatch;  /* a free/realloc named the wrong size */
} faults;

#define HDR 16          /* keeps the caller's block aligned for a double */

static faults fa;

static void *fault_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    faults *c = ctx;
    char *block = ptr != NULL ? (char *)ptr - HDR : NULL;

    if (block != NULL && *(size_t *)(void *)block != old_size)
        c->size_mismatch = 1;
    if (new_size == 0) {
        if (block != NULL) {
            c->live--;
            c->bytes -= (long long)old_size;
            free(block);
        }
        return NULL;
    }
    c->allocs++;
    if (c->fail_at != 0 && (c->allocs == c->fail_at
                            || (c->persistent && c->allocs > c->fail_at))) {
        c->failures++;
        return NULL;
    }
    block = realloc(block, new_size + HDR);
    if (block == NULL)
        return NULL;
    *(size_t *)(void *)block = new_size;
    if (ptr == NULL)
        c->live++;
    c->bytes += (long long)new_size - (long long)old_size;
    return block + HDR;
}

/* An error a step may end with: out of memory, or, on a socket whose
 * other end ran out of memory, what the peer sees of it. */
static int net_scenario;
static long point;              /* the failure point of this run */
static int point_persistent;
static const char *point_name;
static int recovering;          /* tasks left are being cancelled */

static int allowed(int err)
{
    if (err == 0 || err == CIO_ENOMEM || (recovering && err == CIO_ECANCELLED))
        return 1;
    return net_scenario && (err == CIO_EINCOMPLETE || err == -ECONNRESET
                            || err == -EPIPE || err == CIO_ECANCELLED);
}

#define CHECK_STEP(err)                                                       \
    ck_assert_msg(allowed(err), "%s, fail_at %ld%s%s: unexpected %s at line %d", \
                  point_name, point, point_persistent ? " (persistent)" : "",  \
                  recovering ? ", recovering" : "", cio_err_name(err), __LINE__)

/* Await fut; an error other than out of memory (and its consequences)
 * fails the test, an allowed one ends the coroutine with it. */
#define STEP(fut)                                                             \
    do {                                                                      \
        CIO_AWAIT_TRY(fut);                                                   \
        if (CIO_ERROR != 0) {                                                 \
            CHECK_STEP(CIO_ERROR);                                            \
            CIO_RAISE(CIO_ERROR);                                             \
        }                                                                     \
    } while (0)

/* A call returning 0 or a code. */
#define CALL(expr)                                                            \
    do {                                                                      \
        int e_ = (expr);                                                      \
        if (e_ != 0) {                                                        \
            CHECK_STEP(e_);                                                   \
            CIO_RAISE(e_);                                                    \
        }                                                                     \
    } while (0)

/* ---- 1. timers and callbacks ---- */

static char order[64];

static int note(cio_loop *loop, void *arg)
{
    size_t n = strlen(order);

    (void)loop;
    if (n + 1 < sizeof order) {
        order[n] = *(const char *)arg;
        order[n + 1] = '\0';
    }
    return 0;
}

static int timers_scenario(cio_loop *loop)
{
    cio_handle *h = NULL, *h2 = NULL;
    cio_future *f;
    int err, first = 0, i;
    double t0;

    order[0] = '\0';
#define TRY(expr)                                                             \
    do {                                                                      \
        int e_ = (expr);                                                      \
        if (e_ != 0) {                                                        \
            CHECK_STEP(e_);                                                   \
            first = first ? first : e_;                                       \
        }                                                                     \
    } while (0)
    t0 = cio_loop_time(loop);
    TRY(cio_loop_call_at(loop, t0 + 0.0004, note, W("c"), NULL));
    TRY(cio_loop_call_at(loop, t0 + 0.0002, note, W("b"), NULL));
    TRY(cio_loop_call_later(loop, -1, note, W("a"), NULL));
    TRY(cio_loop_call_at(loop, t0 + 0.0005, note, W("d"), NULL));
    TRY(cio_loop_call_later(loop, 0.0002, note, W("X"), &h));
    TRY(cio_loop_call_soon(loop, note, W("Y"), &h2));
    TRY(cio_loop_call_soon(loop, note, W("0"), NULL));
    TRY(cio_loop_call_at(loop, t0 + 0.0003, note, W("e"), NULL));
    for (i = 0; i < 200; i++)   /* enough to grow the timer heap */
        TRY(cio_loop_call_at(loop, t0 + 0.0006 + 0.00001 * (i % 13), note, W(""), NULL));
    if (h != NULL) {
        cio_handle_cancel(h);
        cio_handle_unref(h);
    }
    if (h2 != NULL) {
        cio_handle_cancel(h2);
        cio_handle_unref(h2);
    }
    f = cio_sleep(loop, 0.001);    /* after every deadline above */
    err = cio_loop_run_until_complete(loop, f, NULL);
    TRY(err);
    if (first == 0)
        ck_assert_str_eq(order, "0abecd");
#undef TRY
    return first;
}

/* ---- 2. tasks: gather, wait, wait_for, shield ---- */

#define MANY 200                /* children of the last gather */

CIO_ASYNC(worker, ptrdiff_t i; double d;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, self->d));
    CIO_AWAIT(cio_sleep(loop, 0));
    if (self->i < 0)
        CIO_RAISE(CIO_EINVAL);
    CIO_RETURN(self->i * 10);
    CIO_END();
}

CIO_ASYNC(tasks_main, cio_future *g; cio_future *a; cio_future *b; int e;)
{
    cio_value v;
    cio_future *const *pend;
    size_t i, n;

    CIO_BEGIN();
    STEP(cio_gather(loop, 4, (cio_future *[]){
        CIO_START(loop, worker, .i = 1, .d = 0.0002),
        CIO_START(loop, worker, .i = 2, .d = 0),
        CIO_START(loop, worker, .i = 3, .d = 0.0004),
        cio_sleep_result(loop, 0, cio_int(40)) }));
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(cio_gather_result(CIO_RESULT.p, i, &v), 0);
        ck_assert_int_eq(v.i, (ptrdiff_t)(i + 1) * 10);
    }
    /* return_exceptions: a child's error is a result */
    STEP(cio_gather_ex(loop, 2, (cio_future *[]){
        CIO_START(loop, worker, .i = -1, .d = 0),
        CIO_START(loop, worker, .i = 5, .d = 0) }, 1));
    self->e = cio_gather_result(CIO_RESULT.p, 0, NULL);
    if (self->e != CIO_EINVAL) {        /* the child ran out of memory */
        CHECK_STEP(self->e);
        CIO_RAISE(self->e);
    }
    /* wait FIRST_COMPLETED, then cancel what is pending */
    self->a = CIO_START(loop, worker, .i = 6, .d = 0.0002);
    self->b = CIO_START(loop, worker, .i = 7, .d = 10);
    if (self->a != NULL)
        cio_future_ref(self->a);
    if (self->b != NULL)
        cio_future_ref(self->b);
    CIO_AWAIT_TRY(cio_wait(loop, 2, (cio_future *[]){ self->a, self->b }, 1.0,
                           CIO_FIRST_COMPLETED));
    if (CIO_ERROR == 0) {
        pend = cio_wait_pending(CIO_RESULT.p, &n);
        ck_assert_uint_eq(n, 1);
        ck_assert_ptr_eq(pend[0], self->b);
    }
    if (self->b != NULL)
        cio_future_cancel(self->b, NULL);
    while ((self->a != NULL && !cio_future_done(self->a))
           || (self->b != NULL && !cio_future_done(self->b)))
        CIO_YIELD();
    cio_future_unref(self->a);
    cio_future_unref(self->b);
    self->a = self->b = NULL;
    if (CIO_ERROR != 0) {
        CHECK_STEP(CIO_ERROR);
        CIO_RAISE(CIO_ERROR);
    }
    /* wait_for: one times out, one does not */
    CIO_AWAIT_TRY(cio_wait_for(loop, CIO_START(loop, worker, .i = 8, .d = 10), 0.0005));
    if (CIO_ERROR != CIO_ETIMEDOUT) {
        CHECK_STEP(CIO_ERROR);
        ck_assert_int_ne(CIO_ERROR, 0);
        CIO_RAISE(CIO_ERROR);
    }
    STEP(cio_wait_for(loop, CIO_START(loop, worker, .i = 9, .d = 0), 1.0));
    ck_assert_int_eq(CIO_RESULT.i, 90);
    /* shield */
    STEP(cio_shield(loop, CIO_START(loop, worker, .i = 11, .d = 0)));
    ck_assert_int_eq(CIO_RESULT.i, 110);
    /* many children at once: pools grow */
    self->g = NULL;
    {
        cio_future *kids[MANY];

        for (i = 0; i < MANY; i++)
            kids[i] = CIO_START(loop, worker, .i = (ptrdiff_t)i, .d = 0.00002 * (double)(i % 7));
        self->g = cio_gather(loop, MANY, kids);
    }
    STEP(self->g);
    ck_assert_int_eq(cio_gather_result(CIO_RESULT.p, MANY - 1, &v), 0);
    ck_assert_int_eq(v.i, (MANY - 1) * 10);
    CIO_RETURN(1);
    CIO_END();
}

static int run_main(cio_loop *loop, cio_future *t)
{
    cio_value v;
    int err = cio_loop_run_until_complete(loop, t, &v);

    CHECK_STEP(err);
    return err;
}

static int tasks_scenario(cio_loop *loop)
{
    return run_main(loop, CIO_START(loop, tasks_main));
}

/* ---- 3. queue and channel traffic ---- */

static cio_queue *queues[3];
static cio_chan *chans[2];

CIO_ASYNC(producer, cio_queue *q; int n; int i;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++)
        STEP(cio_queue_put(self->q, cio_int(self->i)));
    CIO_END();
}

CIO_ASYNC(consumer, cio_queue *q; int n; int i; ptrdiff_t sum;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        STEP(cio_queue_get(self->q));
        self->sum += CIO_RESULT.i;
        cio_queue_task_done(self->q);
    }
    CIO_RETURN(self->sum);
    CIO_END();
}

CIO_ASYNC(chan_sender, cio_chan *c; int n; int i; int v;)
{
    CIO_BEGIN();
    for (self->i = 0; self->i < self->n; self->i++) {
        self->v = self->i;
        STEP(cio_chan_send(self->c, &self->v));
    }
    cio_chan_close(self->c);
    CIO_END();
}

CIO_ASYNC(chan_receiver, cio_chan *c; int v; ptrdiff_t sum;)
{
    CIO_BEGIN();
    for (;;) {
        CIO_AWAIT_TRY(cio_chan_recv(self->c, &self->v));
        if (CIO_ERROR == CIO_ECLOSED)
            break;
        if (CIO_ERROR != 0) {
            CHECK_STEP(CIO_ERROR);
            CIO_RAISE(CIO_ERROR);
        }
        self->sum += self->v;
    }
    CIO_RETURN(self->sum);
    CIO_END();
}

#define PAIRS 8

CIO_ASYNC(queues_main, int i; int v; cio_select_case cases[2]; int got; cio_future *g;
          ptrdiff_t sum;)
{
    cio_value r;

    CIO_BEGIN();
    /* a bounded queue between several producers and consumers */
    {
        cio_future *pc[2 * PAIRS];
        int k;

        for (k = 0; k < PAIRS; k++) {
            pc[2 * k] = CIO_START(loop, producer, .q = queues[0], .n = 30);
            pc[2 * k + 1] = CIO_START(loop, consumer, .q = queues[0], .n = 30);
        }
        self->g = cio_gather(loop, 2 * PAIRS, pc);
    }
    STEP(self->g);
    for (self->i = 0, self->sum = 0; self->i < PAIRS; self->i++) {
        ck_assert_int_eq(cio_gather_result(CIO_RESULT.p, 2 * (size_t)self->i + 1, &r), 0);
        self->sum += r.i;
    }
    ck_assert_int_eq(self->sum, 435 * PAIRS);
    STEP(cio_queue_join(queues[0]));
    /* an unbounded queue grows; a priority queue orders */
    for (self->i = 0; self->i < 200; self->i++)
        CALL(cio_queue_put_nowait(queues[1], cio_int(self->i)));
    for (self->i = 0; self->i < 200; self->i++) {
        ck_assert_int_eq(cio_queue_get_nowait(queues[1], &r), 0);
        ck_assert_int_eq(r.i, self->i);
    }
    for (self->i = 0; self->i < 100; self->i++)
        CALL(cio_queue_put_nowait(queues[2], cio_int((self->i * 37) % 100)));
    for (self->i = 0; self->i < 100; self->i++) {
        ck_assert_int_eq(cio_queue_get_nowait(queues[2], &r), 0);
        ck_assert_int_eq(r.i, self->i);
    }
    /* an unbuffered channel, closed by its sender */
    STEP(cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, chan_sender, .c = chans[0], .n = 20),
        CIO_START(loop, chan_receiver, .c = chans[0]) }));
    ck_assert_int_eq(cio_gather_result(CIO_RESULT.p, 1, &r), 0);
    ck_assert_int_eq(r.i, 190);
    /* select over a buffered channel and the closed one */
    self->v = 42;
    CALL(cio_chan_try_send(chans[1], &self->v));
    self->cases[0] = (cio_select_case){ .chan = chans[1], .op = CIO_SELECT_RECV, .buf = &self->got };
    self->cases[1] = (cio_select_case){ .chan = NULL, .op = CIO_SELECT_RECV, .buf = &self->v };
    STEP(cio_select(loop, self->cases, 2, 1.0, 0));
    ck_assert_int_eq(CIO_RESULT.i, 0);
    ck_assert_int_eq(self->got, 42);
    CIO_AWAIT_TRY(cio_select(loop, self->cases, 2, 0.0002, 0));
    if (CIO_ERROR != CIO_ETIMEDOUT) {
        CHECK_STEP(CIO_ERROR);
        CIO_RAISE(CIO_ERROR);
    }
    CIO_RETURN(1);
    CIO_END();
}

static int queues_scenario(cio_loop *loop)
{
    queues[0] = cio_queue_new(loop, 2, CIO_QUEUE_FIFO);
    queues[1] = cio_queue_new(loop, 0, CIO_QUEUE_FIFO);
    queues[2] = cio_queue_new(loop, 0, CIO_QUEUE_PRIORITY);
    chans[0] = cio_chan_new(loop, sizeof(int), 0);
    chans[1] = cio_chan_new(loop, sizeof(int), 4);
    if (!queues[0] || !queues[1] || !queues[2] || !chans[0] || !chans[1])
        return CIO_ENOMEM;
    return run_main(loop, CIO_START(loop, queues_main));
}

static void queues_cleanup(void)
{
    int i;

    for (i = 0; i < 3; i++) {
        if (queues[i] != NULL)
            ck_assert_int_eq(cio_queue_free(queues[i]), 0);
        queues[i] = NULL;
    }
    for (i = 0; i < 2; i++) {
        if (chans[i] != NULL)
            ck_assert_int_eq(cio_chan_free(chans[i]), 0);
        chans[i] = NULL;
    }
}

/* ---- 4. accepting a connection ---- */

CIO_ASYNC(hello_handler, cio_stream *s;)
{
    CIO_BEGIN();
    CALL(cio_stream_write(self->s, "hello\n", 6));
    CIO_FINALLY();
    cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *hello_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, hello_handler, .s = s);
}

/* Start a server on 127.0.0.1:0, connect to it; srv and s in the frame. */
#define SERVE_AND_CONNECT(client)                                             \
    do {                                                                      \
        STEP(cio_start_server(loop, "127.0.0.1", 0, (client), NULL, NULL));   \
        self->srv = CIO_RESULT.p;                                             \
        STEP(cio_open_connection(loop, "127.0.0.1", cio_server_port(self->srv), 0)); \
        self->s = CIO_RESULT.p;                                               \
    } while (0)

/* Close what is open, keeping the first error. */
#define CLOSE_ALL()                                                           \
    do {                                                                      \
        if (self->s != NULL)                                                  \
            cio_future_unref(cio_stream_close(self->s));                      \
        self->s = NULL;                                                       \
        if (self->srv != NULL)                                                \
            cio_future_unref(cio_server_close(self->srv));                    \
        self->srv = NULL;                                                     \
    } while (0)

CIO_ASYNC(accept_main, cio_server *srv; cio_stream *s;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    SERVE_AND_CONNECT(hello_client);
    STEP(cio_stream_readline(self->s));
    p = cio_stream_data(self->s, &len);
    if (len == 0)
        CIO_RAISE(CIO_EINCOMPLETE);     /* the server could not serve it */
    ck_assert_uint_eq(len, 6);
    ck_assert(memcmp(p, "hello\n", 6) == 0);
    CIO_AWAIT_TRY(cio_stream_close(self->s));
    self->s = NULL;
    CIO_AWAIT_TRY(cio_server_close(self->srv));
    self->srv = NULL;
    CIO_RETURN(1);
    CIO_FINALLY();
    CLOSE_ALL();
    CIO_END();
}

static int accept_scenario(cio_loop *loop)
{
    return run_main(loop, CIO_START(loop, accept_main));
}

/* ---- 5. an echo round trip ---- */

CIO_ASYNC(echo_handler, cio_stream *s; size_t len;)
{
    const char *p;

    CIO_BEGIN();
    for (;;) {
        STEP(cio_stream_read(self->s, 65536));
        p = cio_stream_data(self->s, &self->len);
        if (self->len == 0)
            break;
        CALL(cio_stream_write(self->s, p, self->len));
        STEP(cio_stream_drain(self->s));
    }
    CIO_FINALLY();
    cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *echo_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, echo_handler, .s = s);
}

#define ECHO_BYTES 100000
#define ECHO_CLIENTS 4
static char echo_data[ECHO_BYTES];

/* One client: a line, then ECHO_BYTES, every byte compared. */
CIO_ASYNC(echo_one, int port; cio_stream *s; size_t got;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    STEP(cio_open_connection(loop, "127.0.0.1", self->port, 0));
    self->s = CIO_RESULT.p;
    CALL(cio_stream_write(self->s, "ping\n", 5));
    STEP(cio_stream_readline(self->s));
    p = cio_stream_data(self->s, &len);
    if (len == 0)
        CIO_RAISE(CIO_EINCOMPLETE);     /* the server could not serve it */
    ck_assert(len == 5 && memcmp(p, "ping\n", 5) == 0);
    /* a bigger one: both sides' buffers grow */
    CALL(cio_stream_write(self->s, echo_data, ECHO_BYTES));
    CALL(cio_stream_write_eof(self->s));
    for (self->got = 0; self->got < ECHO_BYTES; self->got += len) {
        STEP(cio_stream_read(self->s, 70000));
        p = cio_stream_data(self->s, &len);
        if (len == 0)
            CIO_RAISE(CIO_EINCOMPLETE);
        ck_assert_uint_le(self->got + len, ECHO_BYTES);
        ck_assert(memcmp(p, echo_data + self->got, len) == 0);
    }
    STEP(cio_stream_read(self->s, -1));
    cio_stream_data(self->s, &len);
    ck_assert_uint_eq(len, 0);
    CIO_FINALLY();
    if (self->s != NULL)
        cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

CIO_ASYNC(echo_main, cio_server *srv; cio_stream *s; cio_future *g;)
{
    CIO_BEGIN();
    STEP(cio_start_server(loop, "127.0.0.1", 0, echo_client, NULL, NULL));
    self->srv = CIO_RESULT.p;
    {
        cio_future *c[ECHO_CLIENTS];
        int k;

        for (k = 0; k < ECHO_CLIENTS; k++)
            c[k] = CIO_START(loop, echo_one, .port = cio_server_port(self->srv));
        self->g = cio_gather(loop, ECHO_CLIENTS, c);
    }
    STEP(self->g);
    CIO_AWAIT_TRY(cio_server_close(self->srv));
    self->srv = NULL;
    CIO_RETURN(1);
    CIO_FINALLY();
    CLOSE_ALL();
    CIO_END();
}

static int echo_scenario(cio_loop *loop)
{
    return run_main(loop, CIO_START(loop, echo_main));
}

/* ---- 6. an HTTP request (keep-alive, two pipelined) ---- */

static const char http_response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world";

CIO_ASYNC(http_handler, cio_stream *s;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    cio_stream_set_timeout(self->s, 5);
    for (;;) {
        CIO_AWAIT_TRY(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
        if (CIO_ERROR == CIO_EINCOMPLETE)
            break;                      /* the client is done */
        if (CIO_ERROR != 0) {
            CHECK_STEP(CIO_ERROR);
            CIO_RAISE(CIO_ERROR);
        }
        p = cio_stream_data(self->s, &len);
        ck_assert(len > 14 && memcmp(p, "GET /", 5) == 0);
        CALL(cio_stream_write(self->s, http_response, sizeof http_response - 1));
        STEP(cio_stream_drain(self->s));
    }
    CIO_FINALLY();
    cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *http_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, http_handler, .s = s);
}

static const char http_requests[] =
    "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";

CIO_ASYNC(http_main, cio_server *srv; cio_stream *s; int i;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    SERVE_AND_CONNECT(http_client);
    CALL(cio_stream_write(self->s, http_requests, sizeof http_requests - 1));
    for (self->i = 0; self->i < 2; self->i++) {
        STEP(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
        p = cio_stream_data(self->s, &len);
        ck_assert(len >= 17 && memcmp(p, "HTTP/1.1 200 OK\r\n", 17) == 0);
        STEP(cio_stream_readexactly(self->s, 12));
        p = cio_stream_data(self->s, &len);
        ck_assert(len == 12 && memcmp(p, "hello, world", 12) == 0);
    }
    CIO_AWAIT_TRY(cio_stream_close(self->s));
    self->s = NULL;
    CIO_AWAIT_TRY(cio_server_close(self->srv));
    self->srv = NULL;
    CIO_RETURN(1);
    CIO_FINALLY();
    CLOSE_ALL();
    CIO_END();
}

static int http_scenario(cio_loop *loop)
{
    return run_main(loop, CIO_START(loop, http_main));
}

/* ---- the harness ---- */

typedef struct scenario {
    const char *name;
    int (*run)(cio_loop *loop);
    void (*cleanup)(void);
    int net;
} scenario;

static void quiet(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    (void)loop;
    (void)ctx;
    (*(int *)arg)++;
}

CIO_ASYNC(sanity_task, int n;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 0.001));
    CIO_YIELD();
    CIO_RETURN(self->n + 1);
    CIO_END();
}

static int bump(cio_loop *loop, void *arg)
{
    (void)loop;
    (*(int *)arg)++;
    return 0;
}

/* Memory is back: cancel every task left, let them finish, then show the
 * loop still works. */
static void recover(cio_loop *loop)
{
    cio_future *left[256];
    cio_value v;
    size_t n, i;
    int calls = 0, rounds;

    for (rounds = 0; rounds < 100; rounds++) {
        n = cio_loop_all_tasks(loop, left, 256);
        if (n == 0)
            break;
        ck_assert_uint_le(n, 256);
        for (i = 0; i < n; i++) {
            cio_future_ref(left[i]);
            cio_future_cancel(left[i], NULL);
        }
        ck_assert_int_eq(cio_loop_run_until_complete(
            loop, cio_gather_ex(loop, n, left, 1), NULL), 0);
    }
    ck_assert_uint_eq(cio_loop_all_tasks(loop, left, 0), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, bump, &calls, NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.0005, bump, &calls, NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, sanity_task, .n = 1),
                                                 &v), 0);
    ck_assert_int_eq(v.i, 2);
    ck_assert_int_eq(calls, 2);
}

static long scenario_allocs;    /* allocations before recovering */

static void on_alarm(int sig)
{
    char msg[128];
    int n = snprintf(msg, sizeof msg, "hang: scenario %s, fail_at %ld%s\n",
                     point_name, point, point_persistent ? " (persistent)" : "");

    (void)sig;
    if (n > 0)
        (void)!write(2, msg, (size_t)n);
    abort();
}

/* One run with fail_at (0: none); returns the scenario's error. */
static int run_once(const scenario *sc, long fail_at, int persistent)
{
    cio_loop *loop;
    int err, nreports = 0;

    memset(&fa, 0, sizeof fa);
    fa.fail_at = fail_at;
    fa.persistent = persistent;
    point = fail_at;
    point_persistent = persistent;
    point_name = sc->name;
    net_scenario = sc->net;
    cio_set_allocator(fault_realloc, &fa);
    alarm(10);
    loop = cio_loop_new();
    if (loop == NULL) {
        err = CIO_ENOMEM;
        ck_assert_int_gt(fa.failures, 0);
    } else {
        cio_loop_set_exception_handler(loop, quiet, &nreports);
        err = sc->run(loop);
        CHECK_STEP(err);
        scenario_allocs = fa.allocs;
        fa.fail_at = 0;                 /* memory is back */
        fa.persistent = 0;
        recovering = 1;
        recover(loop);
        recovering = 0;
        if (sc->cleanup != NULL)
            sc->cleanup();
        ck_assert_int_eq(cio_loop_free(loop), 0);
        if (fail_at == 0 || fa.failures == 0) {
            ck_assert_int_eq(err, 0);
            ck_assert_int_eq(nreports, 0);
        }
    }
    alarm(0);
    cio_set_allocator(NULL, NULL);
    ck_assert_msg(fa.live == 0 && fa.bytes == 0,
                  "%s, fail_at %ld%s: leaked %ld blocks, %lld bytes", sc->name, fail_at,
                  persistent ? "+" : "", fa.live, fa.bytes);
    ck_assert_msg(!fa.size_mismatch, "%s, fail_at %ld: a free named the wrong size",
                  sc->name, fail_at);
    return err;
}

static const scenario scenarios[] = {
    { "timers", timers_scenario, NULL, 0 },
    { "tasks", tasks_scenario, NULL, 0 },
    { "queues", queues_scenario, queues_cleanup, 0 },
    { "accept", accept_scenario, NULL, 1 },
    { "echo", echo_scenario, NULL, 1 },
    { "http", http_scenario, NULL, 1 },
};

#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

/* Sweep one scenario in one mode; returns the failure points tried. */
static long sweep(const scenario *sc, int persistent)
{
    long total, n, tried = 0, enomem = 0;
    int err;

    run_once(sc, 0, 0);                 /* a clean run counts allocations */
    total = scenario_allocs;
    ck_assert_int_gt(total, 0);
    for (n = 1; n <= total + 1; n++) {
        err = run_once(sc, n, persistent);
        if (fa.failures > 0) {
            tried++;
            enomem += err != 0;
        } else {
            ck_assert_int_eq(err, 0);
        }
    }
    printf("oom: %s%-7s %-10s %4ld allocations, %4ld failure points, %4ld ended in an error\n",
           LIBRARY, sc->name, persistent ? "persistent" : "transient", total, tried, enomem);
    fflush(stdout);
    return tried;
}

static void sweep_all(int persistent)
{
    long tried = 0;
    size_t i;

    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_DFL);           /* cio must never raise it */
    for (i = 0; i < NSCENARIOS; i++)
        tried += sweep(&scenarios[i], persistent);
    printf("oom: %s%s: %ld failure points tried over %zu scenarios\n", LIBRARY,
           persistent ? "persistent" : "transient", tried, NSCENARIOS);
    fflush(stdout);
}

START_TEST(test_oom_transient)
{
    sweep_all(0);
}
END_TEST

START_TEST(test_oom_persistent)
{
    sweep_all(1);
}
END_TEST

static Suite *oom_suite(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("oom");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_oom_transient);
    tcase_add_test(tc, test_oom_persistent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    size_t i;

    for (i = 0; i < ECHO_BYTES; i++)
        echo_data[i] = (char)('a' + (i * 7919) % 26);
    return run_suite(oom_suite);
}
