/* test_stream.c - streams and servers: asyncio-cases.md "Streams" (N*), an
 * 8 MiB echo through every stream method, a peer that stops reading, a
 * peer that resets, an accept that runs out of fds (EMFILE).
 *
 * Everything listens on 127.0.0.1, port 0 (or a Unix socket in /tmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "testutil.h"


/* Append a read's bytes to the trace, quoted ("" for none). */
static void trace_data(cio_stream *s)
{
    size_t len;
    const char *p = cio_stream_data(s, &len);
    char word[80];
    size_t i, o = 0;

    word[o++] = '\'';
    for (i = 0; i < len && o < sizeof word - 4; i++) {
        if (p[i] == '\n') {
            word[o++] = '\\';
            word[o++] = 'n';
        } else {
            word[o++] = p[i];
        }
    }
    word[o++] = '\'';
    word[o] = '\0';
    trace_add(&tr, word);
}

static void setup(void)
{
    memset(&tr, 0, sizeof tr);
    signal(SIGPIPE, SIG_DFL);   /* cio must never raise it */
}

/* A server on 127.0.0.1:0 serving with `client`; aborts the test on error. */
#define START_SERVER(client, arg)                                             \
    do {                                                                      \
        CIO_AWAIT(cio_start_server(loop, "127.0.0.1", 0, (client), (arg), NULL)); \
        self->srv = CIO_RESULT.p;                                             \
        ck_assert_int_gt(cio_server_port(self->srv), 0);                      \
    } while (0)

#define CONNECT(field)                                                        \
    do {                                                                      \
        CIO_AWAIT(cio_open_connection(loop, "127.0.0.1",                      \
                                      cio_server_port(self->srv), 0));        \
        self->field = CIO_RESULT.p;                                           \
    } while (0)

/* ------------------------------------------------------------------------
 * N1: readline x4 over 'line1\nline2\npartial' then EOF
 * ------------------------------------------------------------------------ */

CIO_ASYNC(n1_handler, cio_stream *s;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_stream_write(self->s, "line1\nline2\npartial", 19), 0);
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *n1_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, n1_handler, .s = s);
}

CIO_ASYNC(n1_main, cio_server *srv; cio_stream *s; int i;)
{
    CIO_BEGIN();
    START_SERVER(n1_client, NULL);
    CONNECT(s);
    for (self->i = 0; self->i < 4; self->i++) {
        CIO_AWAIT(cio_stream_readline(self->s));
        trace_data(self->s);
    }
    trace_addf(&tr, "at_eof=%d", cio_stream_at_eof(self->s));
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

START_TEST(test_N1_readline_until_eof)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, n1_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "'line1\\n' 'line2\\n' 'partial' '' at_eof=1");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * N2: readexactly(5) after 'abc' and EOF: CIO_EINCOMPLETE, partial 'abc'
 * ------------------------------------------------------------------------ */

CIO_ASYNC(n2_main, cio_stream *s;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_stream_readexactly(self->s, 5));
    ck_assert_int_eq(CIO_ERROR, CIO_EINCOMPLETE);
    trace_data(self->s);
    trace_addf(&tr, "at_eof=%d", cio_stream_at_eof(self->s));
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_END();
}

START_TEST(test_N2_readexactly_at_eof_is_incomplete)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    int sv[2];
    cio_stream *s;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(write(sv[1], "abc", 3), 3);
    close(sv[1]);
    s = cio_stream_from_fd(loop, sv[0], 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, n2_main, .s = s),
                                                 NULL), 0);
    ck_assert_str_eq(tr.buf, "'abc' at_eof=1");
    ck_assert_str_eq(cio_strerror(CIO_EINCOMPLETE),
                     "incomplete read: end of stream before enough data");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * N3: an upper-casing echo server; readexactly, readuntil, write_eof, read
 * ------------------------------------------------------------------------ */

CIO_ASYNC(upper_handler, cio_stream *s; size_t len;)
{
    char buf[256];
    const char *p;
    size_t i;

    CIO_BEGIN();
    for (;;) {
        CIO_AWAIT(cio_stream_readline(self->s));
        p = cio_stream_data(self->s, &self->len);
        if (self->len == 0)
            break;
        ck_assert_uint_lt(self->len, sizeof buf);
        for (i = 0; i < self->len; i++)
            buf[i] = (p[i] >= 'a' && p[i] <= 'z') ? (char)(p[i] - 32) : p[i];
        ck_assert_int_eq(cio_stream_write(self->s, buf, self->len), 0);
        CIO_AWAIT(cio_stream_drain(self->s));
    }
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *upper_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, upper_handler, .s = s);
}

CIO_ASYNC(n3_main, cio_server *srv; cio_stream *s;)
{
    CIO_BEGIN();
    START_SERVER(upper_client, NULL);
    CONNECT(s);
    ck_assert_int_eq(cio_stream_write(self->s, "hello\nworld\n", 12), 0);
    CIO_AWAIT(cio_stream_drain(self->s));
    CIO_AWAIT(cio_stream_readexactly(self->s, 6));
    trace_data(self->s);
    CIO_AWAIT(cio_stream_readuntil(self->s, "\n", 1));
    trace_data(self->s);
    ck_assert_int_eq(cio_stream_write_eof(self->s), 0);
    ck_assert_int_eq(cio_stream_write(self->s, "x", 1), CIO_ECLOSED);
    CIO_AWAIT(cio_stream_read(self->s, -1));
    trace_data(self->s);
    trace_addf(&tr, "at_eof=%d", cio_stream_at_eof(self->s));
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

START_TEST(test_N3_echo_round_trip)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, n3_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "'HELLO\\n' 'WORLD\\n' '' at_eof=1");
    loop_done(loop, &r, 0);
}
END_TEST

/* The same over a Unix socket. */
CIO_ASYNC(n3_unix_main, cio_server *srv; cio_stream *s; const char *path;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_start_unix_server(loop, self->path, upper_client, NULL, NULL));
    self->srv = CIO_RESULT.p;
    CIO_AWAIT(cio_open_unix_connection(loop, self->path, 0));
    self->s = CIO_RESULT.p;
    ck_assert_int_eq(cio_stream_write(self->s, "unix\n", 5), 0);
    CIO_AWAIT(cio_stream_readline(self->s));
    trace_data(self->s);
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

START_TEST(test_N3_echo_over_unix_socket)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    char path[64];

    snprintf(path, sizeof path, "/tmp/cio-test-%d.sock", (int)getpid());
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, CIO_START(loop, n3_unix_main, .path = path), NULL), 0);
    ck_assert_str_eq(tr.buf, "'UNIX\\n'");
    ck_assert_int_ne(access(path, F_OK), 0);    /* closing removed it */
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * N5: reading at EOF and by size, on streams fed by hand
 * ------------------------------------------------------------------------ */

CIO_ASYNC(n5_main, cio_stream *a; cio_stream *b;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_stream_readuntil(self->a, "\n", 1));
    ck_assert_int_eq(CIO_ERROR, CIO_EINCOMPLETE);
    trace_data(self->a);
    CIO_AWAIT(cio_stream_read(self->a, -1));
    trace_data(self->a);
    trace_addf(&tr, "at_eof=%d", cio_stream_at_eof(self->a));
    CIO_AWAIT(cio_stream_read(self->b, 3));
    trace_data(self->b);
    CIO_AWAIT(cio_stream_read(self->b, 10));
    trace_data(self->b);
    CIO_AWAIT(cio_stream_read(self->b, 0));
    trace_data(self->b);
    CIO_END();
}

START_TEST(test_N5_read_at_eof_and_by_size)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_stream *a = cio_stream_new(loop, 0), *b = cio_stream_new(loop, 0);

    ck_assert_int_eq(cio_stream_feed_data(a, "ab", 2), 0);
    ck_assert_int_eq(cio_stream_feed_eof(a), 0);
    ck_assert_int_eq(cio_stream_feed_data(a, "x", 1), CIO_EINVALSTATE);
    ck_assert_int_eq(cio_stream_feed_data(b, "12345", 5), 0);
    ck_assert_int_eq(cio_stream_write(b, "x", 1), CIO_ENOTSUP);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, n5_main, .a = a, .b = b),
                                                 NULL), 0);
    ck_assert_str_eq(tr.buf, "'ab' '' at_eof=1 '123' '45' ''");
    cio_future_unref(cio_stream_close(a));
    cio_future_unref(cio_stream_close(b));
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * N7: connection refused, set_error, iterating lines
 * ------------------------------------------------------------------------ */

CIO_ASYNC(n7_main, cio_stream *err; cio_stream *lines; size_t len;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_open_connection(loop, "127.0.0.1", 1, 0));
    ck_assert_int_eq(CIO_ERROR, -ECONNREFUSED);
    trace_add(&tr, "refused");
    ck_assert_int_eq(cio_stream_set_error(self->err, -ECONNRESET), 0);
    CIO_AWAIT_TRY(cio_stream_readline(self->err));
    ck_assert_int_eq(CIO_ERROR, -ECONNRESET);
    trace_add(&tr, "reset");
    for (;;) {                                  /* async for line in reader */
        CIO_AWAIT(cio_stream_readline(self->lines));
        cio_stream_data(self->lines, &self->len);
        if (self->len == 0)
            break;
        trace_data(self->lines);
    }
    CIO_END();
}

START_TEST(test_N7_refused_set_error_and_iteration)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_stream *e = cio_stream_new(loop, 0), *l = cio_stream_new(loop, 0);

    cio_stream_feed_data(l, "a\nb\n", 4);
    cio_stream_feed_eof(l);
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, CIO_START(loop, n7_main, .err = e, .lines = l), NULL), 0);
    ck_assert_str_eq(tr.buf, "refused reset 'a\\n' 'b\\n'");
    cio_future_unref(cio_stream_close(e));
    cio_future_unref(cio_stream_close(l));
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Limits: readline / readuntil beyond the limit keep the data
 * (asyncio's test_readline_limit / test_read_limit)
 * ------------------------------------------------------------------------ */

CIO_ASYNC(limit_main, cio_stream *s;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_stream_readline(self->s));
    ck_assert_int_eq(CIO_ERROR, CIO_ELIMIT);
    ck_assert_uint_eq(cio_stream_buffered(self->s), 10);
    CIO_AWAIT_TRY(cio_stream_readuntil(self->s, "gh", 2));
    ck_assert_int_eq(CIO_ERROR, CIO_ELIMIT);
    CIO_AWAIT(cio_stream_readuntil(self->s, "cd", 2));     /* within the limit */
    trace_data(self->s);
    CIO_AWAIT(cio_stream_read(self->s, 100));               /* read() has no limit */
    trace_data(self->s);
    CIO_AWAIT_TRY(cio_stream_readuntil(self->s, NULL, 0));
    ck_assert_int_eq(CIO_ERROR, CIO_EINVAL);
    CIO_END();
}

START_TEST(test_N_limit_keeps_data_in_buffer)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_stream *s = cio_stream_new(loop, 5);

    cio_stream_feed_data(s, "abcdefghi\n", 10);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, limit_main, .s = s),
                                                 NULL), 0);
    ck_assert_str_eq(tr.buf, "'abcd' 'efghi\\n'");
    cio_future_unref(cio_stream_close(s));
    loop_done(loop, &r, 0);
}
END_TEST

/* A second read while one is pending is refused; a read deadline. */
CIO_ASYNC(busy_main, cio_stream *s; cio_future *first;)
{
    CIO_BEGIN();
    self->first = cio_stream_readline(self->s);
    CIO_AWAIT_TRY(cio_stream_read(self->s, 1));
    ck_assert_int_eq(CIO_ERROR, CIO_EBUSY);
    ck_assert_int_eq(cio_stream_set_timeout(self->s, 0.05), 0);
    CIO_AWAIT_TRY(self->first);
    ck_assert_int_eq(CIO_ERROR, CIO_ETIMEDOUT);
    cio_stream_set_timeout(self->s, -1);
    cio_stream_feed_data(self->s, "late\n", 5);
    CIO_AWAIT(cio_stream_readline(self->s));
    trace_data(self->s);
    CIO_END();
}

START_TEST(test_N_one_read_at_a_time_and_deadline)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_stream *s = cio_stream_new(loop, 0);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, busy_main, .s = s),
                                                 NULL), 0);
    ck_assert_str_eq(tr.buf, "'late\\n'");
    cio_future_unref(cio_stream_close(s));
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * 8 MiB echo through every stream method, every byte compared
 * ------------------------------------------------------------------------ */

#define BIG (8u << 20)
static char *big;

static void make_big(void)
{
    uint32_t x = 2463534242u;
    size_t i;

    big = malloc(BIG);
    ck_assert_ptr_nonnull(big);
    for (i = 0; i < BIG; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        /* a newline about every 500 bytes, so readline stays in its limit */
        big[i] = (x % 500 == 0) ? '\n' : (char)('a' + x % 26);
    }
    big[BIG - 1] = '\n';
}

CIO_ASYNC(echo_handler, cio_stream *s; size_t len;)
{
    const char *p;

    CIO_BEGIN();
    for (;;) {
        CIO_AWAIT(cio_stream_read(self->s, 65536));
        p = cio_stream_data(self->s, &self->len);
        if (self->len == 0)
            break;
        ck_assert_int_eq(cio_stream_write(self->s, p, self->len), 0);
        CIO_AWAIT(cio_stream_drain(self->s));
    }
    ck_assert_int_eq(cio_stream_write_eof(self->s), 0);
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *echo_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, echo_handler, .s = s);
}

CIO_ASYNC(big_writer, cio_stream *s; size_t off; size_t n;)
{
    CIO_BEGIN();
    for (self->off = 0; self->off < BIG; self->off += self->n) {
        self->n = BIG - self->off < 100000 ? BIG - self->off : 100000;
        ck_assert_int_eq(cio_stream_write(self->s, big + self->off, self->n), 0);
        ck_assert_uint_le(cio_stream_write_buffered(self->s), 65536 + 100000);
        CIO_AWAIT(cio_stream_drain(self->s));
    }
    ck_assert_int_eq(cio_stream_write_eof(self->s), 0);
    CIO_END();
}

CIO_ASYNC(big_reader, cio_stream *s; size_t off; int i; int methods;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    for (self->i = 0; ; self->i++) {
        if (self->i % 5 == 0)
            CIO_AWAIT(cio_stream_readexactly(self->s, BIG - self->off < 3000 ? BIG - self->off : 3000));
        else if (self->i % 5 == 1)
            CIO_AWAIT(cio_stream_readline(self->s));
        else if (self->i % 5 == 2)
            CIO_AWAIT(cio_stream_readuntil(self->s, "\n", 1));
        else if (self->i % 5 == 3)
            CIO_AWAIT(cio_stream_read(self->s, 70000));
        else
            CIO_AWAIT(cio_stream_wait_data(self->s));
        if (self->i % 5 == 4)
            continue;                           /* consumed nothing */
        p = cio_stream_data(self->s, &len);
        if (len == 0)
            break;
        self->methods |= 1 << (self->i % 5);
        ck_assert_uint_le(self->off + len, BIG);
        ck_assert(memcmp(p, big + self->off, len) == 0);
        self->off += len;
        if (self->off == BIG) {
            CIO_AWAIT(cio_stream_read(self->s, -1));       /* then EOF */
            cio_stream_data(self->s, &len);
            ck_assert_uint_eq(len, 0);
            break;
        }
    }
    ck_assert_uint_eq(self->off, BIG);
    ck_assert_int_eq(self->methods, 15);
    ck_assert(cio_stream_at_eof(self->s));
    CIO_RETURN((ptrdiff_t)self->off);
    CIO_END();
}

CIO_ASYNC(big_main, cio_server *srv; cio_stream *s;)
{
    CIO_BEGIN();
    START_SERVER(echo_client, NULL);
    CONNECT(s);
    CIO_AWAIT(cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, big_writer, .s = self->s),
        CIO_START(loop, big_reader, .s = self->s) }));
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

START_TEST(test_echo_8MiB_through_every_method)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    make_big();
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, big_main), NULL), 0);
    free(big);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A peer that stops reading: the echo server's buffers stay bounded
 * ------------------------------------------------------------------------ */

static cio_stream *served;      /* the server side of the connection */

static cio_future *echo_client_kept(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    served = s;
    return CIO_START(loop, echo_handler, .s = s);
}

CIO_ASYNC(stall_main, cio_server *srv; int fd; size_t sent; int stuck; size_t rbuf, wbuf;)
{
    static char chunk[65536];
    struct sockaddr_in sin;
    ssize_t n;

    CIO_BEGIN();
    START_SERVER(echo_client_kept, NULL);
    self->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(self->fd, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)cio_server_port(self->srv));
    ck_assert_int_eq(cio_sock_nonblocking(self->fd), 0);
    CIO_AWAIT(cio_sock_connect(loop, self->fd, (struct sockaddr *)&sin, sizeof sin));
    /* Send without ever reading, until nothing moves for a while. */
    while (self->stuck < 20 && self->sent < (256u << 20)) {
        n = send(self->fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n > 0) {
            self->sent += (size_t)n;
            self->stuck = 0;
        } else {
            ck_assert(errno == EAGAIN);
            self->stuck++;
            CIO_AWAIT(cio_sleep(loop, 0.01));
        }
    }
    ck_assert_ptr_nonnull(served);
    self->rbuf = cio_stream_buffered(served);
    self->wbuf = cio_stream_write_buffered(served);
    /* bounded: at most what the buffers hold (kernel's included), never
     * everything the peer offered */
    ck_assert_uint_lt(self->sent, 64u << 20);
    ck_assert_uint_le(self->rbuf, 2 * CIO_STREAM_LIMIT + 65536);
    ck_assert_uint_le(self->wbuf, 65536 + 65536);
    close(self->fd);
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

START_TEST(test_peer_that_stops_reading)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    served = NULL;
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, stall_main), NULL), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * A peer that resets: the pending read fails with -ECONNRESET, no crash
 * ------------------------------------------------------------------------ */

CIO_ASYNC(reset_handler, cio_stream *s;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_stream_readline(self->s));
    trace_data(self->s);
    CIO_AWAIT_TRY(cio_stream_readline(self->s));
    trace_add(&tr, cio_err_name(CIO_ERROR));
    trace_addf(&tr, "write=%s", cio_err_name(cio_stream_write(self->s, "x", 1)));
    CIO_AWAIT_TRY(cio_stream_drain(self->s));
    trace_addf(&tr, "drain=%s", cio_err_name(CIO_ERROR));
    CIO_RAISE(CIO_ERROR);               /* the server reports nothing for it */
    CIO_END();
}

static cio_future *reset_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, reset_handler, .s = s);
}

CIO_ASYNC(reset_main, cio_server *srv; cio_stream *s;)
{
    struct linger lg = { 1, 0 };

    CIO_BEGIN();
    START_SERVER(reset_client, NULL);
    CONNECT(s);
    ck_assert_int_eq(cio_stream_write(self->s, "hi\n", 3), 0);
    CIO_AWAIT(cio_sleep(loop, 0.05));
    /* SO_LINGER 0: close sends a reset */
    setsockopt(cio_stream_fd(self->s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    cio_stream_abort(self->s);
    while (cio_server_connections(self->srv) > 0)
        CIO_AWAIT(cio_sleep(loop, 0.01));
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

START_TEST(test_peer_that_resets)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, reset_main), NULL), 0);
    ck_assert_str_eq(tr.buf, "'hi\\n' ECONNRESET write=ECONNRESET drain=ECONNRESET");
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * EMFILE: accept runs out of fds; the loop does not spin and recovers
 * ------------------------------------------------------------------------ */

#define EMFILE_CLIENTS 4

CIO_ASYNC(hello_handler, cio_stream *s;)
{
    CIO_BEGIN();
    ck_assert_int_eq(cio_stream_write(self->s, "hello\n", 6), 0);
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *hello_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, hello_handler, .s = s);
}

CIO_ASYNC(emfile_main, cio_server *srv; int fds[EMFILE_CLIENTS]; int filler[4096];
          int nfill; int i; unsigned long it; char buf[16];)
{
    struct sockaddr_in sin;
    struct rlimit rl;
    int fd;

    CIO_BEGIN();
    START_SERVER(hello_client, NULL);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)cio_server_port(self->srv));
    for (self->i = 0; self->i < EMFILE_CLIENTS; self->i++) {
        self->fds[self->i] = socket(AF_INET, SOCK_STREAM, 0);
        ck_assert_int_eq(connect(self->fds[self->i], (struct sockaddr *)&sin, sizeof sin), 0);
    }
    /* A low limit, then every fd below it taken. */
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 256;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    while ((fd = dup(0)) >= 0) {
        ck_assert_int_lt(self->nfill, 4096);
        self->filler[self->nfill++] = fd;
    }
    ck_assert_int_eq(errno, EMFILE);
    self->it = cio_loop_iteration(loop);
    CIO_AWAIT(cio_sleep(loop, 0.3));
    /* paused: a few retries, not a busy loop */
    ck_assert_uint_lt(cio_loop_iteration(loop) - self->it, 30);
    ck_assert_uint_eq(cio_server_connections(self->srv), 0);
    while (self->nfill > 0)
        close(self->filler[--self->nfill]);
    for (self->i = 0; self->i < EMFILE_CLIENTS; self->i++) {
        ck_assert_int_eq(cio_sock_nonblocking(self->fds[self->i]), 0);
        CIO_AWAIT(cio_sock_recv(loop, self->fds[self->i], self->buf, sizeof self->buf));
        ck_assert_int_eq(CIO_RESULT.i, 6);
        close(self->fds[self->i]);
    }
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

START_TEST(test_accept_emfile_pauses_and_recovers)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    struct rlimit saved;

    /* valgrind emulates RLIMIT_NOFILE: it closes an accepted fd above the
     * limit itself, which the kernel never does */
    if (getenv("LD_PRELOAD") != NULL && strstr(getenv("LD_PRELOAD"), "vgpreload") != NULL) {
        fprintf(stderr, "skip: EMFILE test under valgrind (it emulates fd limits)\n");
        loop_done(loop, &r, 0);
        return;
    }
    getrlimit(RLIMIT_NOFILE, &saved);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, emfile_main), NULL), 0);
    setrlimit(RLIMIT_NOFILE, &saved);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * Freeing the loop closes what is left open; close of a server cancels
 * the tasks serving it
 * ------------------------------------------------------------------------ */

CIO_ASYNC(left_open_main, cio_server *srv; cio_stream *s;)
{
    CIO_BEGIN();
    START_SERVER(upper_client, NULL);
    CONNECT(s);
    ck_assert_int_eq(cio_stream_write(self->s, "a\n", 2), 0);
    CIO_AWAIT(cio_stream_readline(self->s));
    ck_assert_uint_eq(cio_server_connections(self->srv), 1);
    CIO_RETURN_PTR(self->srv);
    CIO_END();
}

START_TEST(test_loop_free_closes_streams_and_servers)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_value v;
    cio_server *srv;

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, left_open_main), &v), 0);
    srv = v.p;
    /* close the server: the handler blocked in readline is cancelled */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_server_close(srv), NULL), 0);
    /* the client stream is still open: freeing the loop closes it */
    ck_assert_int_eq(cio_loop_free(loop), 0);
    ck_assert_int_eq(r.count, 0);
}
END_TEST

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("streams");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_N1_readline_until_eof);
    tcase_add_test(tc, test_N2_readexactly_at_eof_is_incomplete);
    tcase_add_test(tc, test_N3_echo_round_trip);
    tcase_add_test(tc, test_N3_echo_over_unix_socket);
    tcase_add_test(tc, test_N5_read_at_eof_and_by_size);
    tcase_add_test(tc, test_N7_refused_set_error_and_iteration);
    tcase_add_test(tc, test_N_limit_keeps_data_in_buffer);
    tcase_add_test(tc, test_N_one_read_at_a_time_and_deadline);
    tcase_add_test(tc, test_echo_8MiB_through_every_method);
    tcase_add_test(tc, test_peer_that_stops_reading);
    tcase_add_test(tc, test_peer_that_resets);
    tcase_add_test(tc, test_loop_free_closes_streams_and_servers);
    suite_add_tcase(s, tc);
    tc = tcase_create("emfile");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_accept_emfile_pauses_and_recovers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(stream_suite);
}
