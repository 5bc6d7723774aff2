/* test_net.c - readiness callbacks, awaitable socket operations, signals,
 * other threads: asyncio-cases.md "Threads and signals" (X*) and the
 * sock_* / add_reader parts of asyncio's loop.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "testutil.h"


static void setup(void)
{
    memset(&tr, 0, sizeof tr);
    signal(SIGPIPE, SIG_DFL);   /* cio must never raise it */
}

/* ------------------------------------------------------------------------
 * add_reader / add_writer: called while ready, replaced, removed
 * ------------------------------------------------------------------------ */

static int fds[2];
static int reads;

static int on_readable(cio_loop *loop, void *arg)
{
    char c;

    (void)arg;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    trace_addf(&tr, "read-%c", c);
    if (++reads == 2) {
        ck_assert_int_eq(cio_loop_remove_reader(loop, fds[0]), 1);  /* from inside */
        cio_loop_stop(loop);
    }
    return 0;
}

static int on_writable(cio_loop *loop, void *arg)
{
    (void)arg;
    trace_add(&tr, "writable");
    ck_assert_int_eq(write(fds[1], "ab", 2), 2);
    ck_assert_int_eq(cio_loop_remove_writer(loop, fds[1]), 1);
    return 0;
}

START_TEST(test_add_reader_and_writer)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    reads = 0;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ck_assert_int_eq(cio_loop_add_reader(loop, fds[0], on_readable, NULL), 0);
    ck_assert_int_eq(cio_loop_add_writer(loop, fds[1], on_writable, NULL), 0);
    ck_assert_int_eq(cio_loop_add_reader(loop, -1, on_readable, NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_add_reader(loop, fds[0], NULL, NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    /* level-triggered: one byte per call, both read */
    ck_assert_str_eq(tr.buf, "writable read-a read-b");
    ck_assert_int_eq(cio_loop_remove_reader(loop, fds[0]), 0);
    ck_assert_int_eq(cio_loop_remove_writer(loop, fds[1]), 0);
    /* a reader left installed is released with the loop */
    ck_assert_int_eq(cio_loop_add_reader(loop, fds[0], on_readable, NULL), 0);
    close(fds[0]);
    close(fds[1]);
    loop_done(loop, &r, 0);
}
END_TEST

/* While work is always ready, I/O is still polled, after a bounded batch:
 * the loop runs up to 1,024 iterations (4,096 nodes) between two polls, as
 * asyncio polls before each one but at a system call each. A task yielding
 * until a ready reader has run makes one-node iterations. */
static unsigned long reader_iteration;

static int on_readable_once(cio_loop *loop, void *arg)
{
    char c;

    (void)arg;
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
    reader_iteration = cio_loop_iteration(loop);
    ck_assert_int_eq(cio_loop_remove_reader(loop, fds[0]), 1);
    return 0;
}

CIO_ASYNC(yield_until_read, int unused;)
{
    CIO_BEGIN();
    while (reader_iteration == 0)
        CIO_YIELD();
    CIO_END();
}

START_TEST(test_io_polled_while_work_is_ready)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    unsigned long it0 = cio_loop_iteration(loop);

    reader_iteration = 0;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);     /* readable from the start */
    ck_assert_int_eq(cio_loop_add_reader(loop, fds[0], on_readable_once, NULL), 0);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, yield_until_read), NULL), 0);
    /* the first poll comes after the first batch: neither never nor at once */
    ck_assert_uint_gt(reader_iteration - it0, 64);
    ck_assert_uint_le(reader_iteration - it0, 1024 + 2);
    close(fds[0]);
    close(fds[1]);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * sock_accept / sock_connect / sock_sendall / sock_recv
 * ------------------------------------------------------------------------ */

#define SOCK_BYTES (4u << 20)

CIO_ASYNC(sock_server, int lfd; int fd; char *buf; size_t got;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sock_accept(loop, self->lfd));
    self->fd = (int)CIO_RESULT.i;
    self->buf = malloc(SOCK_BYTES);
    while (self->got < SOCK_BYTES) {
        CIO_AWAIT(cio_sock_recv(loop, self->fd, self->buf + self->got, SOCK_BYTES - self->got));
        ck_assert_int_gt(CIO_RESULT.i, 0);
        self->got += (size_t)CIO_RESULT.i;
    }
    CIO_AWAIT(cio_sock_recv(loop, self->fd, self->buf, 1));
    ck_assert_int_eq(CIO_RESULT.i, 0);                  /* EOF */
    CIO_RETURN_PTR(self->buf);
    CIO_FINALLY();
    close(self->fd);
    CIO_END();
}

CIO_ASYNC(sock_client, int port; int fd; char *data;)
{
    struct sockaddr_in sin;

    CIO_BEGIN();
    self->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(cio_sock_nonblocking(self->fd), 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)self->port);
    CIO_AWAIT(cio_sock_connect(loop, self->fd, (struct sockaddr *)&sin, sizeof sin));
    /* much more than the socket buffers: partial writes, resumed in order */
    CIO_AWAIT(cio_sock_sendall(loop, self->fd, self->data, SOCK_BYTES));
    ck_assert_int_eq(CIO_RESULT.i, SOCK_BYTES);
    CIO_FINALLY();
    close(self->fd);
    CIO_END();
}

START_TEST(test_sock_accept_connect_sendall_recv)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    cio_future *srv, *g;
    char *data = malloc(SOCK_BYTES), *got;
    size_t i;
    int lfd;

    for (i = 0; i < SOCK_BYTES; i++)
        data[i] = (char)(i * 7 + i / 251);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    ck_assert_int_eq(cio_sock_nonblocking(lfd), 0);
    getsockname(lfd, (struct sockaddr *)&sin, &sl);
    srv = CIO_START(loop, sock_server, .lfd = lfd, .fd = -1);
    g = cio_gather(loop, 2, (cio_future *[]){ cio_future_ref(srv),
        CIO_START(loop, sock_client, .port = ntohs(sin.sin_port), .data = data) });
    ck_assert_int_eq(cio_loop_run_until_complete(loop, g, NULL), 0);
    got = cio_future_ptr(srv);
    ck_assert(memcmp(got, data, SOCK_BYTES) == 0);
    cio_future_unref(srv);
    /* errors: a bad fd */
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sock_recv(loop, -1, data, 1), NULL),
                     -EBADF);
    free(got);
    free(data);
    close(lfd);
    loop_done(loop, &r, 0);
}
END_TEST

/* cancelling a pending sock_recv stops its watcher */
CIO_ASYNC(cancel_recv_main, int fd; cio_future *f; char c;)
{
    CIO_BEGIN();
    self->f = cio_sock_recv(loop, self->fd, &self->c, 1);
    CIO_AWAIT(cio_sleep(loop, 0.01));
    ck_assert(!cio_future_done(self->f));
    ck_assert_int_eq(cio_future_cancel(self->f, NULL), 1);
    CIO_AWAIT_TRY(self->f);
    ck_assert_int_eq(CIO_ERROR, CIO_ECANCELLED);
    CIO_END();
}

START_TEST(test_sock_recv_cancelled)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cio_sock_nonblocking(sv[0]);
    ck_assert_int_eq(cio_loop_run_until_complete(
        loop, CIO_START(loop, cancel_recv_main, .fd = sv[0]), NULL), 0);
    close(sv[0]);
    close(sv[1]);
    loop_done(loop, &r, 0);
}
END_TEST

/* Name resolution off the loop thread; numeric hosts without a thread. */
CIO_ASYNC(resolve_main, int unused;)
{
    struct addrinfo *ai;

    CIO_BEGIN();
    CIO_AWAIT(cio_getaddrinfo(loop, "localhost", 80, AF_INET, SOCK_STREAM, 0));
    ai = CIO_RESULT.p;
    ck_assert_ptr_nonnull(ai);
    ck_assert_int_eq(ai->ai_family, AF_INET);
    cio_freeaddrinfo(ai);
    CIO_AWAIT(cio_getaddrinfo(loop, "::1", 80, AF_UNSPEC, SOCK_STREAM, 0));
    ai = CIO_RESULT.p;
    ck_assert_int_eq(ai->ai_family, AF_INET6);
    cio_freeaddrinfo(ai);
    CIO_AWAIT_TRY(cio_getaddrinfo(loop, "no-such-host.invalid", 80, AF_UNSPEC, SOCK_STREAM, 0));
    ck_assert_int_ne(CIO_ERROR, 0);
    CIO_END();
}

START_TEST(test_getaddrinfo_off_the_loop)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);

    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, resolve_main), NULL), 0);
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * X1: call_soon_threadsafe wakes a blocked loop; it can stop the loop
 * ------------------------------------------------------------------------ */

static pthread_t loop_thread;
static int ran_on_loop_thread;

static int x1_cb(cio_loop *loop, void *arg)
{
    (void)loop;
    ran_on_loop_thread = pthread_equal(pthread_self(), loop_thread);
    trace_add(&tr, arg);
    return 0;
}

static int x1_stop(cio_loop *loop, void *arg)
{
    (void)arg;
    trace_add(&tr, "stop");
    cio_loop_stop(loop);
    return 0;
}

static void *x1_thread(void *arg)
{
    cio_loop *loop = arg;
    struct timespec ts = { 0, 50 * 1000 * 1000 };

    nanosleep(&ts, NULL);           /* the loop is blocked by now */
    ck_assert_int_eq(cio_loop_call_soon_threadsafe(loop, x1_cb, (void *)(uintptr_t)"cb"), 0);
    ck_assert_int_eq(cio_loop_call_soon_threadsafe(loop, x1_stop, NULL), 0);
    return NULL;
}

static int keep_alive(cio_loop *loop, void *arg)
{
    (void)loop, (void)arg;
    return 0;
}

START_TEST(test_X1_call_soon_threadsafe_wakes_blocked_loop)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    cio_handle *h;
    pthread_t t;

    loop_thread = pthread_self();
    ran_on_loop_thread = 0;
    /* nothing due for 10 s: the loop blocks */
    ck_assert_int_eq(cio_loop_call_later(loop, 10, keep_alive, NULL, &h), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, x1_thread, loop), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    pthread_join(t, NULL);
    ck_assert_str_eq(tr.buf, "cb stop");
    ck_assert(ran_on_loop_thread);
    ck_assert_int_eq(cio_loop_call_soon_threadsafe(loop, NULL, NULL), CIO_EINVAL);
    cio_handle_cancel(h);
    cio_handle_unref(h);
    loop_done(loop, &r, 0);
}
END_TEST

/* X2 (to_thread part): run a function in a thread, await its result. */
static int sum3(void *arg, cio_value *out)
{
    int *v = arg;

    out->i = v[0] + v[1] + v[2];
    return 0;
}

static int fails(void *arg, cio_value *out)
{
    (void)arg, (void)out;
    return -EDOM;
}

START_TEST(test_X2_run_in_thread)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    int v[3] = { 1, 2, 3 };
    cio_value res;

    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_loop_run_in_thread(loop, sum3, v),
                                                 &res), 0);
    ck_assert_int_eq(res.i, 6);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_loop_run_in_thread(loop, fails, NULL),
                                                 NULL), -EDOM);
    /* a thread still running when the loop is freed is waited for */
    cio_future_unref(cio_loop_run_in_thread(loop, sum3, v));
    loop_done(loop, &r, 0);
}
END_TEST

/* ------------------------------------------------------------------------
 * X3: signal handlers run later, through the loop
 * ------------------------------------------------------------------------ */

static int on_usr1(cio_loop *loop, void *arg)
{
    (void)arg;
    trace_add(&tr, "usr1");
    cio_loop_stop(loop);
    return 0;
}

static int kill_self(cio_loop *loop, void *arg)
{
    (void)loop, (void)arg;
    kill(getpid(), SIGUSR1);
    trace_add(&tr, "after-kill");
    return 0;
}

START_TEST(test_X3_signal_handler_runs_through_the_loop)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    struct sigaction sa;

    ck_assert_int_eq(cio_loop_add_signal_handler(loop, SIGUSR1, on_usr1, NULL), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, kill_self, NULL, NULL), 0);
    ck_assert_int_eq(cio_loop_run_forever(loop), 0);
    ck_assert_str_eq(tr.buf, "after-kill usr1");
    ck_assert_int_eq(cio_loop_remove_signal_handler(loop, SIGUSR1), 1);
    ck_assert_int_eq(cio_loop_remove_signal_handler(loop, SIGUSR1), 0);
    sigaction(SIGUSR1, NULL, &sa);
    ck_assert(sa.sa_handler == SIG_DFL);        /* the default is back */
    ck_assert_int_eq(cio_loop_add_signal_handler(loop, SIGKILL, on_usr1, NULL), CIO_ENOTSUP);
    ck_assert_int_eq(cio_loop_add_signal_handler(loop, 999, on_usr1, NULL), CIO_EINVAL);
    ck_assert_int_eq(cio_loop_remove_signal_handler(loop, 999), CIO_EINVAL);
    /* one installed at free time is removed with the loop */
    ck_assert_int_eq(cio_loop_add_signal_handler(loop, SIGUSR2, on_usr1, NULL), 0);
    loop_done(loop, &r, 0);
    sigaction(SIGUSR2, NULL, &sa);
    ck_assert(sa.sa_handler == SIG_DFL);
}
END_TEST

/* X4: add_signal_handler from another thread is refused */
static void *x4_thread(void *arg)
{
    return (void *)(intptr_t)cio_loop_add_signal_handler(arg, SIGUSR1, on_usr1, NULL);
}

START_TEST(test_X4_signal_handler_only_from_main_thread)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    pthread_t t;
    void *rc;

    ck_assert_int_eq(pthread_create(&t, NULL, x4_thread, loop), 0);
    pthread_join(t, &rc);
    ck_assert_int_eq((int)(intptr_t)rc, CIO_EINVALSTATE);
    loop_done(loop, &r, 0);
}
END_TEST

/* SIGPIPE is never raised: writing to a closed peer is an error code. */
CIO_ASYNC(pipe_main, int fd;)
{
    CIO_BEGIN();
    CIO_AWAIT_TRY(cio_sock_sendall(loop, self->fd, "x", 1));
    ck_assert_int_eq(CIO_ERROR, -EPIPE);
    CIO_END();
}

START_TEST(test_no_sigpipe)
{
    reports r;
    cio_loop *loop = loop_with_reports(&r);
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    cio_sock_nonblocking(sv[0]);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, pipe_main, .fd = sv[0]),
                                                 NULL), 0);
    close(sv[0]);
    loop_done(loop, &r, 0);
}
END_TEST

static Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_add_reader_and_writer);
    tcase_add_test(tc, test_io_polled_while_work_is_ready);
    tcase_add_test(tc, test_sock_accept_connect_sendall_recv);
    tcase_add_test(tc, test_sock_recv_cancelled);
    tcase_add_test(tc, test_getaddrinfo_off_the_loop);
    tcase_add_test(tc, test_X1_call_soon_threadsafe_wakes_blocked_loop);
    tcase_add_test(tc, test_X2_run_in_thread);
    tcase_add_test(tc, test_X3_signal_handler_runs_through_the_loop);
    tcase_add_test(tc, test_X4_signal_handler_only_from_main_thread);
    tcase_add_test(tc, test_no_sigpipe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(net_suite);
}
