/* test_syscall_faults.c - system calls that fail the way real ones do.
 *
 * Linked statically against libcio with -Wl,--wrap=recv,--wrap=send,
 * --wrap=accept4,--wrap=connect (the calls src/net makes), so every one of
 * them goes through a shim here first. The shim makes chosen calls fail
 * with EINTR or EAGAIN (without touching the socket), return fewer bytes
 * than asked (a short read or a short write of a few bytes), fail an
 * accept with EMFILE, ECONNABORTED or EINTR, or a connect with EINTR.
 *
 * An 8 MiB echo through all of that must come back identical (a 64-bit
 * FNV-1a hash of everything sent and received compared, and every byte),
 * and a connection whose recv fails with ECONNRESET fails cleanly while the
 * others go on. The test prints how many faults it injected.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include "testutil.h"

/* ---- the shim ---- */

ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
int __real_accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags);
int __real_connect(int fd, const struct sockaddr *addr, socklen_t alen);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags);
int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t alen);

static int active;              /* inject faults */
static int reset_fd = -1;       /* recv on this fd fails with ECONNRESET */
static uint32_t rng = 12345;
static long calls, injected, n_eintr, n_eagain, n_short, n_emfile, n_reset;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
    uint32_t r;

    calls++;
    if (fd == reset_fd) {
        injected++, n_reset++;
        errno = ECONNRESET;
        return -1;
    }
    if (!active)
        return __real_recv(fd, buf, len, flags);
    r = next_rand() % 100;
    if (r < 10) {
        injected++, n_eintr++;
        errno = EINTR;
        return -1;
    }
    if (r < 20) {
        injected++, n_eagain++;
        errno = EAGAIN;
        return -1;
    }
    if (r < 40 && len > 7) {            /* a short read */
        injected++, n_short++;
        len = 1 + next_rand() % 7;
    }
    return __real_recv(fd, buf, len, flags);
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
    uint32_t r;

    calls++;
    if (!active)
        return __real_send(fd, buf, len, flags);
    r = next_rand() % 100;
    if (r < 10) {
        injected++, n_eintr++;
        errno = EINTR;
        return -1;
    }
    if (r < 20) {
        injected++, n_eagain++;
        errno = EAGAIN;
        return -1;
    }
    if (r < 40 && len > 7) {            /* a short write of a few bytes */
        injected++, n_short++;
        len = 1 + next_rand() % 7;
    }
    return __real_send(fd, buf, len, flags);
}

static int n_accepts;            /* accept4 calls since the test began */

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
    uint32_t r;

    calls++;
    if (!active)
        return __real_accept4(fd, addr, alen, flags);
    r = next_rand() % 100;
    switch (n_accepts++) {              /* each kind at least once, first */
    case 0: r = 40; break;
    case 1: r = 0; break;
    case 2: r = 25; break;
    default: break;
    }
    if (r < 20) {
        injected++, n_eintr++;
        errno = EINTR;
        return -1;
    }
    if (r < 30) {
        injected++, n_eintr++;
        errno = ECONNABORTED;
        return -1;
    }
    if (r < 45) {
        injected++, n_emfile++;
        errno = EMFILE;                 /* the server pauses, then retries */
        return -1;
    }
    return __real_accept4(fd, addr, alen, flags);
}

int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t alen)
{
    calls++;
    if (active && next_rand() % 100 < 30) {
        injected++, n_eintr++;
        errno = EINTR;
        return -1;
    }
    return __real_connect(fd, addr, alen);
}

/* ---- an echo server and its clients ---- */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

#define FNV0 14695981039346656037ull
#define BIG (8u << 20)
static char *big;

/* The reset client's peer goes while its handler works: a write may find
 * the reset already read (the stream reads ahead), and then ends the
 * handler with it as a failed read or drain does. The server keeps
 * ECONNRESET quiet; any other error is reported and fails the test, and
 * the echo clients check every byte they get back. */
CIO_ASYNC(echo_handler, cio_stream *s; size_t len; int err;)
{
    const char *p;

    CIO_BEGIN();
    for (;;) {
        CIO_AWAIT(cio_stream_read(self->s, 65536));
        p = cio_stream_data(self->s, &self->len);
        if (self->len == 0)
            break;
        if ((self->err = cio_stream_write(self->s, p, self->len)) != 0)
            CIO_RAISE(self->err);
        CIO_AWAIT(cio_stream_drain(self->s));
    }
    if ((self->err = cio_stream_write_eof(self->s)) != 0)
        CIO_RAISE(self->err);
    CIO_FINALLY();
    cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *echo_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, echo_handler, .s = s);
}

CIO_ASYNC(writer, cio_stream *s; size_t off; size_t n; uint64_t *hash;)
{
    CIO_BEGIN();
    for (self->off = 0; self->off < BIG; self->off += self->n) {
        self->n = BIG - self->off < 100000 ? BIG - self->off : 100000;
        *self->hash = fnv1a(*self->hash, big + self->off, self->n);
        ck_assert_int_eq(cio_stream_write(self->s, big + self->off, self->n), 0);
        CIO_AWAIT(cio_stream_drain(self->s));
    }
    ck_assert_int_eq(cio_stream_write_eof(self->s), 0);
    CIO_END();
}

CIO_ASYNC(reader, cio_stream *s; size_t off; uint64_t *hash;)
{
    const char *p;
    size_t len;

    CIO_BEGIN();
    for (;;) {
        CIO_AWAIT(cio_stream_read(self->s, 70000));
        p = cio_stream_data(self->s, &len);
        if (len == 0)
            break;
        ck_assert_uint_le(self->off + len, BIG);
        ck_assert(memcmp(p, big + self->off, len) == 0);
        *self->hash = fnv1a(*self->hash, p, len);
        self->off += len;
    }
    CIO_RETURN((ptrdiff_t)self->off);
    CIO_END();
}

CIO_ASYNC(one_client, int port; cio_stream *s; uint64_t sent; uint64_t got;)
{
    CIO_BEGIN();
    self->sent = self->got = FNV0;
    CIO_AWAIT(cio_open_connection(loop, "127.0.0.1", self->port, 0));
    self->s = CIO_RESULT.p;
    CIO_AWAIT(cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, writer, .s = self->s, .hash = &self->sent),
        CIO_START(loop, reader, .s = self->s, .hash = &self->got) }));
    ck_assert_int_eq(cio_gather_result(CIO_RESULT.p, 1, NULL), 0);
    ck_assert(self->sent == self->got);
    CIO_AWAIT(cio_stream_close(self->s));
    CIO_RETURN(1);
    CIO_END();
}

/* A connection whose recv fails with ECONNRESET. */
CIO_ASYNC(reset_client, int port; cio_stream *s;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_open_connection(loop, "127.0.0.1", self->port, 0));
    self->s = CIO_RESULT.p;
    reset_fd = cio_stream_fd(self->s);
    ck_assert_int_eq(cio_stream_write(self->s, "x\n", 2), 0);
    CIO_AWAIT_TRY(cio_stream_readline(self->s));
    ck_assert_int_eq(CIO_ERROR, -ECONNRESET);
    ck_assert_int_eq(cio_stream_error(self->s), -ECONNRESET);
    reset_fd = -1;
    cio_stream_abort(self->s);
    CIO_END();
}

CIO_ASYNC(faults_main, cio_server *srv;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_start_server(loop, "127.0.0.1", 0, echo_client, NULL, NULL));
    self->srv = CIO_RESULT.p;
    active = 1;
    CIO_AWAIT(cio_gather(loop, 3, (cio_future *[]){
        CIO_START(loop, one_client, .port = cio_server_port(self->srv)),
        CIO_START(loop, one_client, .port = cio_server_port(self->srv)),
        CIO_START(loop, reset_client, .port = cio_server_port(self->srv)) }));
    active = 0;
    CIO_AWAIT(cio_server_close(self->srv));
    CIO_END();
}

static void quiet(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    (void)loop;
    (void)ctx;
    (*(int *)arg)++;
}

START_TEST(test_echo_8MiB_through_faulty_syscalls)
{
    cio_loop *loop = cio_loop_new();
    uint32_t x = 2463534242u;
    size_t i;
    int nreports = 0;

    ck_assert_ptr_nonnull(loop);
    calls = injected = n_eintr = n_eagain = n_short = n_emfile = n_reset = 0;
    n_accepts = 0;
    rng = 12345;                        /* the same faults on every run */
    cio_loop_set_exception_handler(loop, quiet, &nreports);
    big = malloc(BIG);
    ck_assert_ptr_nonnull(big);
    for (i = 0; i < BIG; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        big[i] = (char)x;
    }
    ck_assert_int_eq(cio_loop_run_until_complete(loop, CIO_START(loop, faults_main), NULL), 0);
    ck_assert_int_eq(cio_loop_free(loop), 0);
    free(big);
    ck_assert_int_eq(nreports, 0);
    ck_assert_int_gt(n_eintr, 0);
    ck_assert_int_gt(n_eagain, 0);
    ck_assert_int_gt(n_short, 0);
    ck_assert_int_gt(n_emfile, 0);
    ck_assert_int_eq(n_reset, 1);
    printf("syscall faults: %ld calls, %ld faults injected (EINTR/ECONNABORTED %ld, "
           "EAGAIN %ld, short %ld, EMFILE %ld, ECONNRESET %ld); 2 x 8 MiB echoed, hashes equal\n",
           calls, injected, n_eintr, n_eagain, n_short, n_emfile, n_reset);
}
END_TEST

static Suite *syscall_faults_suite(void)
{
    Suite *s = suite_create("syscall_faults");
    TCase *tc = tcase_create("faults");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_echo_8MiB_through_faulty_syscalls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL);           /* cio must never raise it */
    return run_suite(syscall_faults_suite);
}
