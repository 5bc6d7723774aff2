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
 * trip; an HTTP request; scopes: task groups (a failing child, a cancelled
 * wait, groups in a group), timeout scopes, as_completed, shield, and the
 * lock, condition, semaphores, barrier and event with several waiting
 * tasks each; clients: eight at once, each an echo connection with a few
 * round trips and then an HTTP keep-alive connection with a few requests.
 * The sweep prints how many failure points it tried.
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

/* STEP, where a failed step must have given back what it set aside:
 * `given_back` holds when it ends in an error. */
#define STEP_GIVING_BACK(fut, given_back)                                     \
    do {                                                                      \
        CIO_AWAIT_TRY(fut);                                                   \
        if (CIO_ERROR != 0) {                                                 \
            CHECK_STEP(CIO_ERROR);                                            \
            ck_assert(given_back);                                            \
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
    /* an item ready for a get through a combinator: if the combinator
     * runs out of memory, the item stays in the queue */
    CALL(cio_queue_put_nowait(queues[1], cio_int(7)));
    STEP_GIVING_BACK(cio_wait_for(loop, cio_queue_get(queues[1]), 1.0),
                     cio_queue_qsize(queues[1]) == 1);
    ck_assert_int_eq(CIO_RESULT.i, 7);
    /* a put through a combinator: on its failure nothing was put, so a
     * retry would not duplicate the item */
    STEP_GIVING_BACK(cio_wait_for(loop, cio_queue_put(queues[1], cio_int(8)), 1.0),
                     cio_queue_qsize(queues[1]) == 0);
    ck_assert_int_eq(cio_queue_get_nowait(queues[1], &r), 0);
    ck_assert_int_eq(r.i, 8);
    /* the same for an element of a buffered channel */
    self->v = 5;
    CALL(cio_chan_try_send(chans[1], &self->v));
    self->got = 0;
    STEP_GIVING_BACK(cio_wait_for(loop, cio_chan_recv(chans[1], &self->got), 1.0),
                     cio_chan_len(chans[1]) == 1);
    ck_assert_int_eq(self->got, 5);
    /* and through a select */
    CALL(cio_chan_try_send(chans[1], &self->v));
    self->cases[0] = (cio_select_case){ .chan = chans[1], .op = CIO_SELECT_RECV, .buf = &self->got };
    self->got = 0;
    STEP_GIVING_BACK(cio_wait_for(loop, cio_select(loop, self->cases, 1, -1, 0), 1.0),
                     cio_chan_len(chans[1]) == 1);
    ck_assert_int_eq(self->got, 5);
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

/* ---- 7. scopes: task groups, a timeout scope, as_completed, shield and
 * the synchronisation primitives, each with several waiting tasks ---- */

/* What scopes_main makes and may leave behind when it ends early: a group
 * or an iterator can still hold running children then, and a primitive
 * still have waiters, so they are freed by scopes_cleanup once recover()
 * has finished every task. The counters check the primitives' promises. */
static struct {
    cio_taskgroup *groups[4];
    cio_taskgroup *inner[3];    /* of the children of groups[3] */
    cio_as_completed *iters[2];
    cio_lock *lock;
    cio_cond *cond;             /* with a lock of its own */
    cio_cond *cond2;            /* on `lock` */
    cio_semaphore *sems[2];
    cio_barrier *barrier;
    cio_event *event;
    int inside;                 /* tasks holding the lock */
    int active;                 /* tasks holding a permit */
    int tokens;                 /* what the condition guards */
} objs;

/* A constructor's NULL is running out of memory. */
#define MAKE(var, expr)                                                       \
    do {                                                                      \
        if (((var) = (expr)) == NULL)                                         \
            CIO_RAISE(CIO_ENOMEM);                                            \
    } while (0)

/* The last await should have failed with `expected`; another error STEP
 * allows ends the coroutine with it, success fails the test. */
#define OUTCOME(expected)                                                     \
    do {                                                                      \
        if (CIO_ERROR != (expected)) {                                        \
            CHECK_STEP(CIO_ERROR);                                            \
            ck_assert_int_ne(CIO_ERROR, 0);                                   \
            CIO_RAISE(CIO_ERROR);                                             \
        }                                                                     \
    } while (0)

/* Await fut, which should fail with `expected`. */
#define EXPECT(fut, expected)                                                 \
    do {                                                                      \
        CIO_AWAIT_TRY(fut);                                                   \
        OUTCOME(expected);                                                    \
    } while (0)

/* Start n tasks of async function `name` into self->g, gathered; a task
 * that could not be made is a child failed with CIO_ENOMEM. */
#define GATHER_N(n, name, ...)                                                \
    do {                                                                      \
        cio_future *kids_[n];                                                 \
        int k_;                                                               \
                                                                              \
        for (k_ = 0; k_ < (n); k_++)                                          \
            kids_[k_] = CIO_START(loop, name, __VA_ARGS__);                   \
        self->g = cio_gather(loop, (n), kids_);                               \
    } while (0)

/* A future kept in the frame, handed over once (to an await): the frame
 * no longer owns it, so its finally section does not release it again. */
static cio_future *take(cio_future **f)
{
    cio_future *t = *f;

    *f = NULL;
    return t;
}

/* A fresh task into a group; NULL is a task that could not be made
 * (cio_taskgroup_add would call it CIO_EINVAL). A name, if given, is an
 * allocation of its own; a task that cannot have it is cancelled. */
static int group_add(cio_taskgroup *g, cio_future *task, const char *name)
{
    int err;

    if (task == NULL)
        return CIO_ENOMEM;
    if (name != NULL) {
        if ((err = cio_task_set_name(task, name)) != 0) {
            cio_future_cancel(task, NULL);
            cio_future_unref(task);
            return err;
        }
        ck_assert_str_eq(cio_task_name(task), name);
    }
    return cio_taskgroup_add(g, task);
}

static int set_event(cio_loop *loop, void *arg)
{
    (void)loop;
    cio_event_set(arg);
    return 0;
}

/* Holds the lock across a yield: the others must queue meanwhile. */
CIO_ASYNC(locker, int held;)
{
    CIO_BEGIN();
    STEP(cio_lock_acquire(objs.lock));
    self->held = 1;
    ck_assert_int_eq(objs.inside, 0);
    objs.inside = 1;
    STEP(cio_sleep(loop, 0));
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->held) {                   /* also when cancelled inside */
        objs.inside = 0;
        ck_assert_int_eq(cio_lock_release(objs.lock), 0);
    }
    CIO_END();
}

/* Takes a token, waiting on the condition while there is none. A wait
 * that fails (cancelled) still ends with the lock held. */
CIO_ASYNC(token_taker, int held;)
{
    CIO_BEGIN();
    STEP(cio_lock_acquire(cio_cond_lock(objs.cond)));
    self->held = 1;
    while (objs.tokens == 0)
        STEP(cio_cond_wait(objs.cond));
    objs.tokens--;
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->held)
        ck_assert_int_eq(cio_lock_release(cio_cond_lock(objs.cond)), 0);
    CIO_END();
}

/* Holds a permit of s across a yield; never more than `limit` at once. */
CIO_ASYNC(permit_user, cio_semaphore *s; int limit; int held;)
{
    CIO_BEGIN();
    STEP(cio_semaphore_acquire(self->s));
    self->held = 1;
    ck_assert_int_lt(objs.active, self->limit);
    objs.active++;
    STEP(cio_sleep(loop, 0));
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->held) {
        objs.active--;
        ck_assert_int_eq(cio_semaphore_release(self->s), 0);
    }
    CIO_END();
}

/* `rounds` rounds at the barrier; returns the sum of its arrival indices.
 * Once the barrier is aborted, it ends with CIO_EBROKEN. */
CIO_ASYNC(party, int rounds; int round; ptrdiff_t sum;)
{
    CIO_BEGIN();
    for (self->round = 0; self->round < self->rounds; self->round++) {
        CIO_AWAIT_TRY(cio_barrier_wait(objs.barrier));
        if (CIO_ERROR == CIO_EBROKEN && cio_barrier_broken(objs.barrier))
            CIO_RAISE(CIO_EBROKEN);
        if (CIO_ERROR != 0) {
            CHECK_STEP(CIO_ERROR);
            CIO_RAISE(CIO_ERROR);
        }
        self->sum += CIO_RESULT.i;
    }
    CIO_RETURN(self->sum);
    CIO_END();
}

/* Waits on a condition nobody notifies, under a timeout scope of its
 * own: the deadline cancels the wait, which still ends with the lock
 * held (asyncio re-acquires before raising). */
CIO_ASYNC(impatient, cio_timeout tmo; int open; int held;)
{
    CIO_BEGIN();
    STEP(cio_lock_acquire(cio_cond_lock(objs.cond2)));
    self->held = 1;
    CALL(cio_timeout_enter(loop, &self->tmo, 0.0003));
    self->open = 1;
    CIO_AWAIT(cio_cond_wait(objs.cond2));
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->open)
        CIO_ERROR = (short)cio_timeout_exit(&self->tmo, CIO_ERROR);
    if (self->held) {
        ck_assert(cio_lock_locked(objs.lock));
        ck_assert_int_eq(cio_lock_release(objs.lock), 0);
    }
    CIO_END();
}

CIO_ASYNC(event_waiter, int unused;)
{
    CIO_BEGIN();
    STEP(cio_event_wait(objs.event));
    CIO_RETURN(CIO_RESULT.i);
    CIO_END();
}

/* Two sleeps under one timeout scope (delay < 0: no deadline at entry);
 * late >= 0 moves the deadline to that many seconds from now between
 * them. Awaits propagate: the deadline's cancellation must reach the
 * scope's exit to become CIO_ETIMEDOUT. Called inline (CIO_CALL), so the
 * scope belongs to the calling task. */
CIO_ASYNC(timed_steps, double delay; double late; double second; cio_timeout tmo; int open;)
{
    CIO_BEGIN();
    CALL(cio_timeout_enter(loop, &self->tmo, self->delay));
    self->open = 1;
    CIO_AWAIT(cio_sleep(loop, 0.0002));
    if (self->late >= 0)
        CALL(cio_timeout_reschedule(&self->tmo, cio_loop_time(loop) + self->late));
    CIO_AWAIT(cio_sleep(loop, self->second));
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->open)
        CIO_ERROR = (short)cio_timeout_exit(&self->tmo, CIO_ERROR);
    CIO_END();
}

#define GROUP_KIDS 6
#define NESTED 3                /* children of the outer group */
#define AC_KIDS 8
#define CONTENDERS 8            /* tasks at each primitive */
#define PERMITS 2

/* A child of the outer group running a group of its own: a sleeper and a
 * worker that fails when `fail` is set. The wait ends only with an error:
 * that failure, or the cancellation the outer group passes down (which
 * must reach the sleeper). */
CIO_ASYNC(nested, int id; int fail;)
{
    CIO_BEGIN();
    MAKE(objs.inner[self->id], cio_taskgroup_new(loop));
    CALL(group_add(objs.inner[self->id], CIO_START(loop, worker, .i = 1, .d = 10), NULL));
    CALL(group_add(objs.inner[self->id],
                   CIO_START(loop, worker, .i = self->fail ? -1 : 2, .d = 0.0002), NULL));
    CIO_AWAIT(cio_taskgroup_wait(objs.inner[self->id]));
    ck_abort_msg("nested %d: the sleeper ended on its own", self->id);
    CIO_END();
}

CIO_ASYNC(scopes_main, int i; ptrdiff_t sum; int failed; cio_future *g; cio_future *slow;
          cio_lock *held; int permits; cio_handle *timer; timed_steps scope;)
{
    cio_value v;
    int errs[4], err;
    size_t n, k;

    CIO_BEGIN();
    /* a group whose children all succeed */
    MAKE(objs.groups[0], cio_taskgroup_new(loop));
    for (self->i = 0; self->i < GROUP_KIDS; self->i++)
        CALL(group_add(objs.groups[0], CIO_START(loop, worker, .i = self->i,
                                               .d = 0.0001 * self->i), "kid"));
    STEP(cio_taskgroup_wait(objs.groups[0]));
    ck_assert_uint_eq(cio_taskgroup_errors(objs.groups[0], NULL, 0), 0);
    /* a child fails: its sleeping siblings are cancelled, the wait fails
     * with its error */
    MAKE(objs.groups[1], cio_taskgroup_new(loop));
    for (self->i = 0; self->i < GROUP_KIDS - 1; self->i++)
        CALL(group_add(objs.groups[1], CIO_START(loop, worker, .i = 1, .d = 10), NULL));
    CALL(group_add(objs.groups[1], CIO_START(loop, worker, .i = -1, .d = 0.0002), NULL));
    EXPECT(cio_taskgroup_wait(objs.groups[1]), CIO_EINVAL);
    n = cio_taskgroup_errors(objs.groups[1], errs, 4);
    ck_assert_uint_ge(n, 1);
    ck_assert_int_eq(errs[0], CIO_EINVAL);
    for (k = 1; k < n && k < 4; k++)   /* a sibling out of memory, at most */
        ck_assert_int_eq(errs[k], CIO_ENOMEM);
    if (fa.failures == 0)
        ck_assert_uint_eq(n, 1);
    /* it is shutting down: a new child is refused, and cancelled */
    self->slow = CIO_START(loop, worker, .i = 3, .d = 10);
    if (self->slow == NULL)
        CIO_RAISE(CIO_ENOMEM);
    cio_future_ref(self->slow);
    ck_assert_int_eq(cio_taskgroup_add(objs.groups[1], self->slow), CIO_EINVALSTATE);
    EXPECT(take(&self->slow), CIO_ECANCELLED);
    /* the wait cancelled (by wait_for's timeout) cancels the children */
    MAKE(objs.groups[2], cio_taskgroup_new(loop));
    for (self->i = 0; self->i < GROUP_KIDS - 1; self->i++)
        CALL(group_add(objs.groups[2], CIO_START(loop, worker, .i = 2, .d = 10), NULL));
    EXPECT(cio_wait_for(loop, cio_taskgroup_wait(objs.groups[2]), 0.0003), CIO_ETIMEDOUT);
    ck_assert_uint_eq(cio_taskgroup_errors(objs.groups[2], NULL, 0), 0);
    /* groups in a group: a failure two levels down cancels the
     * grandchildren on every branch */
    MAKE(objs.groups[3], cio_taskgroup_new(loop));
    for (self->i = 0; self->i < NESTED; self->i++)
        CALL(group_add(objs.groups[3], CIO_START(loop, nested, .id = self->i,
                                                 .fail = self->i == NESTED - 1), NULL));
    EXPECT(cio_taskgroup_wait(objs.groups[3]), CIO_EINVAL);
    n = cio_taskgroup_errors(objs.groups[3], errs, 4);
    ck_assert_int_eq(errs[0], CIO_EINVAL);
    if (fa.failures == 0)
        ck_assert_uint_eq(n, 1);

    /* a timeout scope over two sleeps that fit, one that expires after
     * its deadline was set late, and one entered with its deadline due */
    CIO_CALL_TRY(timed_steps, scope, .delay = 5, .late = -1, .second = 0.0002);
    CALL(CIO_ERROR);
    CIO_CALL_TRY(timed_steps, scope, .delay = -1, .late = 0.0005, .second = 10);
    OUTCOME(CIO_ETIMEDOUT);
    CIO_CALL_TRY(timed_steps, scope, .delay = 0, .late = -1, .second = 10);
    OUTCOME(CIO_ETIMEDOUT);

    /* as_completed over children finishing in reverse order of creation,
     * one of them failing: its error is an outcome like the results */
    {
        cio_future *kids[AC_KIDS];

        for (k = 0; k < AC_KIDS; k++)
            kids[k] = CIO_START(loop, worker, .i = k == 2 ? -1 : (ptrdiff_t)k,
                                .d = 0.0001 * (double)(AC_KIDS - k));
        MAKE(objs.iters[0], cio_as_completed_new(loop, AC_KIDS, kids, 5.0));
    }
    for (self->i = 0, self->sum = 0, self->failed = 0; self->i < AC_KIDS; self->i++) {
        CIO_AWAIT_TRY(cio_as_completed_next(objs.iters[0]));
        if (CIO_ERROR == CIO_EINVAL) {
            self->failed++;
        } else if (CIO_ERROR != 0) {
            CHECK_STEP(CIO_ERROR);
            CIO_RAISE(CIO_ERROR);
        } else {
            self->sum += CIO_RESULT.i;
        }
        ck_assert_ptr_nonnull(cio_as_completed_last(objs.iters[0]));
    }
    ck_assert_int_eq(self->failed, 1);
    ck_assert_int_eq(self->sum, 10 * (AC_KIDS * (AC_KIDS - 1) / 2 - 2));
    EXPECT(cio_as_completed_next(objs.iters[0]), CIO_EEMPTY);
    /* ... and one whose timeout runs out first */
    self->slow = CIO_START(loop, worker, .i = 1, .d = 10);
    if (self->slow != NULL)
        cio_future_ref(self->slow);     /* the frame's, to cancel it */
    MAKE(objs.iters[1], cio_as_completed_new(loop, 1, &self->slow, 0.0005));
    EXPECT(cio_as_completed_next(objs.iters[1]), CIO_ETIMEDOUT);
    cio_future_cancel(self->slow, NULL);
    EXPECT(take(&self->slow), CIO_ECANCELLED);

    /* shield: its timeout cancels the shield, the child runs on */
    self->slow = CIO_START(loop, worker, .i = 12, .d = 0.005);
    if (self->slow != NULL)
        cio_future_ref(self->slow);
    EXPECT(cio_wait_for(loop, cio_shield(loop, self->slow), 0.0003), CIO_ETIMEDOUT);
    STEP(take(&self->slow));
    ck_assert_int_eq(CIO_RESULT.i, 120);

    /* a lock contended by several tasks, queued behind main, which queues
     * once more behind them and gives up */
    MAKE(objs.lock, cio_lock_new(loop));
    /* a free lock taken through a combinator that may run out of memory:
     * then the lock must be free again (scopes_cleanup checks) */
    STEP(cio_wait_for(loop, cio_lock_acquire(objs.lock), 1.0));
    ck_assert_int_eq(cio_lock_release(objs.lock), 0);
    STEP(cio_lock_acquire(objs.lock));
    self->held = objs.lock;
    GATHER_N(CONTENDERS, locker, .held = 0);
    if (self->g == NULL)
        CIO_RAISE(CIO_ENOMEM);
    STEP(cio_sleep(loop, 0));
    EXPECT(cio_wait_for(loop, cio_lock_acquire(objs.lock), 0.0003), CIO_ETIMEDOUT);
    ck_assert_int_eq(cio_lock_release(self->held), 0);
    self->held = NULL;
    STEP(take(&self->g));
    ck_assert(!cio_lock_locked(objs.lock));
    /* a condition on that lock, whose waiter times out */
    MAKE(objs.cond2, cio_cond_new(loop, objs.lock));
    EXPECT(CIO_START(loop, impatient, .open = 0), CIO_ETIMEDOUT);
    ck_assert(!cio_lock_locked(objs.lock));

    /* a condition: one token with notify, the rest with notify_all */
    MAKE(objs.cond, cio_cond_new(loop, NULL));
    GATHER_N(CONTENDERS, token_taker, .held = 0);
    if (self->g == NULL)
        CIO_RAISE(CIO_ENOMEM);
    STEP(cio_sleep(loop, 0));           /* the takers start waiting */
    STEP(cio_lock_acquire(cio_cond_lock(objs.cond)));
    self->held = cio_cond_lock(objs.cond);
    objs.tokens = 1;
    ck_assert_int_eq(cio_cond_notify(objs.cond, 1), 0);
    ck_assert_int_eq(cio_lock_release(self->held), 0);
    self->held = NULL;
    STEP(cio_sleep(loop, 0));
    STEP(cio_lock_acquire(cio_cond_lock(objs.cond)));
    self->held = cio_cond_lock(objs.cond);
    objs.tokens += CONTENDERS - 1;
    ck_assert_int_eq(cio_cond_notify_all(objs.cond), 0);
    ck_assert_int_eq(cio_lock_release(self->held), 0);
    self->held = NULL;
    STEP(take(&self->g));
    ck_assert_int_eq(objs.tokens, 0);
    /* a wait through a combinator: whatever it ends with (its timeout, or
     * the combinator out of memory before the wait began), main holds the
     * lock afterwards, never some other state */
    STEP(cio_lock_acquire(cio_cond_lock(objs.cond)));
    self->held = cio_cond_lock(objs.cond);
    CIO_AWAIT_TRY(cio_wait_for(loop, cio_cond_wait(objs.cond), 0.0003));
    ck_assert(cio_lock_locked(self->held));
    if (CIO_ERROR != CIO_ETIMEDOUT) {
        CHECK_STEP(CIO_ERROR);
        ck_assert_int_ne(CIO_ERROR, 0);
        CIO_RAISE(CIO_ERROR);
    }
    ck_assert_int_eq(cio_lock_release(self->held), 0);
    self->held = NULL;

    /* a semaphore and a bounded one, PERMITS holders at a time; main
     * holds every permit of the first at the start, gives up waiting for
     * one more, then hands its permits to the queued tasks */
    MAKE(objs.sems[0], cio_semaphore_new(loop, PERMITS, 0));
    /* likewise a permit: back if the combinator runs out of memory */
    STEP(cio_wait_for(loop, cio_semaphore_acquire(objs.sems[0]), 1.0));
    ck_assert_int_eq(cio_semaphore_release(objs.sems[0]), 0);
    for (self->i = 0; self->i < PERMITS; self->i++) {
        STEP(cio_semaphore_acquire(objs.sems[0]));
        self->permits++;
    }
    EXPECT(cio_wait_for(loop, cio_semaphore_acquire(objs.sems[0]), 0.0003), CIO_ETIMEDOUT);
    GATHER_N(CONTENDERS, permit_user, .s = objs.sems[0], .limit = PERMITS);
    if (self->g == NULL)
        CIO_RAISE(CIO_ENOMEM);
    STEP(cio_sleep(loop, 0));
    for (; self->permits > 0; self->permits--)
        ck_assert_int_eq(cio_semaphore_release(objs.sems[0]), 0);
    STEP(take(&self->g));
    ck_assert_int_eq(cio_semaphore_value(objs.sems[0]), PERMITS);
    MAKE(objs.sems[1], cio_semaphore_new(loop, PERMITS, 1));
    GATHER_N(CONTENDERS, permit_user, .s = objs.sems[1], .limit = PERMITS);
    STEP(take(&self->g));
    ck_assert_int_eq(cio_semaphore_value(objs.sems[1]), PERMITS);
    ck_assert_int_eq(cio_semaphore_release(objs.sems[1]), CIO_EOVERFLOW);

    /* a barrier for CONTENDERS parties, two rounds */
    MAKE(objs.barrier, cio_barrier_new(loop, CONTENDERS));
    GATHER_N(CONTENDERS, party, .rounds = 2);
    STEP(take(&self->g));
    for (k = 0, self->sum = 0; k < CONTENDERS; k++) {
        ck_assert_int_eq(cio_gather_result(CIO_RESULT.p, k, &v), 0);
        self->sum += v.i;
    }
    ck_assert_int_eq(self->sum, CONTENDERS * (CONTENDERS - 1));
    /* main gives up waiting (leaving the round), a round short of one
     * party is aborted, and reset mends the barrier */
    EXPECT(cio_wait_for(loop, cio_barrier_wait(objs.barrier), 0.0003), CIO_ETIMEDOUT);
    ck_assert_uint_eq(cio_barrier_n_waiting(objs.barrier), 0);
    {
        cio_future *kids[CONTENDERS - 1];

        for (k = 0; k < CONTENDERS - 1; k++)
            kids[k] = CIO_START(loop, party, .rounds = 1);
        self->g = cio_gather_ex(loop, CONTENDERS - 1, kids, 1);
    }
    if (self->g == NULL)
        CIO_RAISE(CIO_ENOMEM);
    STEP(cio_sleep(loop, 0));
    cio_barrier_abort(objs.barrier);
    STEP(take(&self->g));
    for (k = 0; k < CONTENDERS - 1; k++) {
        err = cio_gather_result(CIO_RESULT.p, k, NULL);
        if (err != CIO_EBROKEN) {       /* the party could not be made */
            ck_assert_int_ne(err, 0);
            CALL(err);
        }
    }
    ck_assert_uint_eq(cio_barrier_n_waiting(objs.barrier), 0);
    cio_barrier_reset(objs.barrier);
    ck_assert(!cio_barrier_broken(objs.barrier));

    /* an event set while several tasks wait */
    MAKE(objs.event, cio_event_new(loop));
    GATHER_N(CONTENDERS, event_waiter, .unused = 0);
    if (self->g == NULL)
        CIO_RAISE(CIO_ENOMEM);
    STEP(cio_sleep(loop, 0));
    cio_event_set(objs.event);
    STEP(take(&self->g));
    /* cleared again: a wait gives up */
    cio_event_clear(objs.event);
    EXPECT(cio_wait_for(loop, cio_event_wait(objs.event), 0.0003), CIO_ETIMEDOUT);
    /* several waits of main alive at once: all but the first take a slot
     * of their own, which can fail to be made; a timer sets them off */
    CALL(cio_loop_call_later(loop, 0.0003, set_event, objs.event, &self->timer));
    self->g = cio_gather(loop, 3, (cio_future *[]){ cio_event_wait(objs.event),
                                                    cio_event_wait(objs.event),
                                                    cio_event_wait(objs.event) });
    STEP(take(&self->g));
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->timer != NULL) {
        cio_handle_cancel(self->timer);
        cio_handle_unref(self->timer);
    }
    /* ended early: let go of what the frame holds, so the tasks left can
     * finish when recover() cancels them */
    if (self->held != NULL)
        cio_lock_release(self->held);
    for (; self->permits > 0; self->permits--)
        cio_semaphore_release(objs.sems[0]);
    cio_future_unref(self->g);
    cio_future_unref(self->slow);
    CIO_END();
}

static int scopes_scenario(cio_loop *loop)
{
    memset(&objs, 0, sizeof objs);
    return run_main(loop, CIO_START(loop, scopes_main));
}

static void scopes_cleanup(void)
{
    size_t i;

    for (i = 0; i < 4; i++)
        ck_assert_int_eq(cio_taskgroup_free(objs.groups[i]), 0);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(cio_taskgroup_free(objs.inner[i]), 0);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(cio_as_completed_free(objs.iters[i]), 0);
    /* every task is done, cancelled or not: none may have left a lock
     * held or a permit taken (sync.h's promise) */
    ck_assert(!cio_lock_locked(objs.lock));
    ck_assert(!cio_lock_locked(cio_cond_lock(objs.cond)));
    for (i = 0; i < 2; i++)
        if (objs.sems[i] != NULL)
            ck_assert_int_eq(cio_semaphore_value(objs.sems[i]), PERMITS);
    ck_assert_int_eq(cio_lock_free(objs.lock), 0);
    ck_assert_int_eq(cio_cond_free(objs.cond), 0);
    ck_assert_int_eq(cio_cond_free(objs.cond2), 0);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(cio_semaphore_free(objs.sems[i]), 0);
    ck_assert_int_eq(cio_barrier_free(objs.barrier), 0);
    ck_assert_int_eq(cio_event_free(objs.event), 0);
    ck_assert_int_eq(objs.inside, 0);
    ck_assert_int_eq(objs.active, 0);
    memset(&objs, 0, sizeof objs);
}

/* ---- 8. clients: many clients at once, each with an echo connection and
 * then an HTTP keep-alive connection ---- */

#define CLIENTS 8
#define ROUNDS 4

/* Round r's block: 1500, 6000, 24000, 96000 bytes, so that the read
 * buffer (4 KiB at first) grows while it holds a partial result, and the
 * last is more than a socket takes at once. */
#define BLOCK(r) ((size_t)1500 << (2 * (r)))

/* An echo connection: ROUNDS times a line, then a block read back whole;
 * then the end of stream both ways. */
CIO_ASYNC(chatty_one, int port; int id; cio_stream *s; int round; char line[32];
          size_t len; const char *block;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    STEP(cio_open_connection(loop, "127.0.0.1", self->port, 0));
    self->s = CIO_RESULT.p;
    for (self->round = 0; self->round < ROUNDS; self->round++) {
        self->len = (size_t)snprintf(self->line, sizeof self->line, "client %d, round %d\n",
                                     self->id, self->round);
        CALL(cio_stream_write(self->s, self->line, self->len));
        STEP(cio_stream_readline(self->s));
        p = cio_stream_data(self->s, &len);
        if (len == 0 || p[len - 1] != '\n')
            CIO_RAISE(CIO_EINCOMPLETE); /* the server could not serve it */
        ck_assert(len == self->len && memcmp(p, self->line, len) == 0);
        self->block = echo_data + 400 * self->id;
        CALL(cio_stream_write(self->s, self->block, BLOCK(self->round)));
        STEP(cio_stream_readexactly(self->s, BLOCK(self->round)));
        p = cio_stream_data(self->s, &len);
        ck_assert(len == BLOCK(self->round)
                  && memcmp(p, self->block, BLOCK(self->round)) == 0);
    }
    CALL(cio_stream_write_eof(self->s));
    STEP(cio_stream_read(self->s, -1));
    cio_stream_data(self->s, &len);
    ck_assert_uint_eq(len, 0);
    CIO_FINALLY();
    if (self->s != NULL)
        cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

#define REQUESTS 3
#define PAD 3000                /* request i has a header of i * PAD bytes */

/* A keep-alive connection: a request, its response, the next request.
 * The requests grow, so that the server's buffer grows while it looks for
 * the end of a header. */
CIO_ASYNC(keepalive_one, int port; cio_stream *s; int i; char req[64]; size_t len;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    STEP(cio_open_connection(loop, "127.0.0.1", self->port, 0));
    self->s = CIO_RESULT.p;
    for (self->i = 0; self->i < REQUESTS; self->i++) {
        self->len = (size_t)snprintf(self->req, sizeof self->req,
                                     "GET /%d HTTP/1.1\r\nHost: x\r\nX-Pad: ", self->i);
        CALL(cio_stream_write(self->s, self->req, self->len));
        CALL(cio_stream_write(self->s, echo_data, (size_t)self->i * PAD));
        CALL(cio_stream_write(self->s, "\r\n\r\n", 4));
        STEP(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
        p = cio_stream_data(self->s, &len);
        ck_assert(len >= 17 && memcmp(p, "HTTP/1.1 200 OK\r\n", 17) == 0);
        STEP(cio_stream_readexactly(self->s, 12));
        p = cio_stream_data(self->s, &len);
        ck_assert(len == 12 && memcmp(p, "hello, world", 12) == 0);
    }
    CIO_AWAIT_TRY(cio_stream_close(self->s));
    self->s = NULL;
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->s != NULL)
        cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

/* One client: the echo connection, closed, then the keep-alive one (both
 * called inline: their frames live in this one). */
CIO_ASYNC(client_one, int echo_port; int web_port; int id; chatty_one echo;
          keepalive_one web;)
{
    CIO_BEGIN();
    CIO_CALL(chatty_one, echo, .port = self->echo_port, .id = self->id);
    CIO_CALL(keepalive_one, web, .port = self->web_port);
    CIO_RETURN(1);
    CIO_END();
}

/* The clients are gathered with return_exceptions: when one fails the
 * others run to their end before the servers close, so none of them
 * connects to a closed port (a refusal is no consequence of running out of
 * memory the sweep could allow). */
CIO_ASYNC(clients_main, cio_server *srv; cio_server *web; cio_future *g;)
{
    size_t i;

    CIO_BEGIN();
    STEP(cio_start_server(loop, "127.0.0.1", 0, echo_client, NULL, NULL));
    self->srv = CIO_RESULT.p;
    STEP(cio_start_server(loop, "127.0.0.1", 0, http_client, NULL, NULL));
    self->web = CIO_RESULT.p;
    {
        cio_future *c[CLIENTS];
        int k;

        for (k = 0; k < CLIENTS; k++)
            c[k] = CIO_START(loop, client_one, .echo_port = cio_server_port(self->srv),
                             .web_port = cio_server_port(self->web), .id = k);
        self->g = cio_gather_ex(loop, CLIENTS, c, 1);
    }
    STEP(self->g);
    for (i = 0; i < CLIENTS; i++)
        CALL(cio_gather_result(CIO_RESULT.p, i, NULL));
    CIO_AWAIT_TRY(cio_server_close(self->srv));
    self->srv = NULL;
    CIO_AWAIT_TRY(cio_server_close(self->web));
    self->web = NULL;
    CIO_RETURN(1);
    CIO_FINALLY();
    if (self->srv != NULL)
        cio_future_unref(cio_server_close(self->srv));
    if (self->web != NULL)
        cio_future_unref(cio_server_close(self->web));
    CIO_END();
}

static int clients_scenario(cio_loop *loop)
{
    return run_main(loop, CIO_START(loop, clients_main));
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
    { "scopes", scopes_scenario, scopes_cleanup, 0 },
    { "clients", clients_scenario, NULL, 1 },
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
