/* soak_client.c - the soak test's client (tests/soak/run.sh, `make soak').
 *
 * Opens N connections (default 1000) to an echo server at 127.0.0.1:PORT
 * and, for SECONDS, sends each one pseudo-random bytes in random-sized
 * chunks (1 byte to 16 KiB, at most 128 KiB in flight per connection),
 * reading the echo back all the while. Then it half-closes each connection
 * and reads until the server closes it. Per connection, a SHA-256 of every
 * byte sent and one of every byte received must match, as must the
 * counts. A plain epoll client, independent of cio.
 *
 * Usage: soak_client PORT [SECONDS] [CONNECTIONS]
 * Prints key=value figures; exits 0 only if every connection was accepted
 * and completed with matching data.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- SHA-256 (FIPS 180-4), a small public-domain style implementation ---- */

typedef struct sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
} sha256;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(sha256 *c, const uint8_t *p)
{
    uint32_t w[64], a, b, cc, d, e, f, g, h, t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16
             | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);

        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g, g = f, f = e, e = d + t1, d = cc, cc = b, b = a, a = t1 + t2;
    }
    c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d;
    c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

static void sha256_init(sha256 *c)
{
    static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

    memcpy(c->h, h0, sizeof h0);
    c->len = 0;
    c->n = 0;
}

static void sha256_update(sha256 *c, const void *data, size_t len)
{
    const uint8_t *p = data;

    c->len += len;
    if (c->n > 0) {
        size_t k = 64 - c->n < len ? 64 - c->n : len;

        memcpy(c->buf + c->n, p, k);
        c->n += k, p += k, len -= k;
        if (c->n < 64)
            return;
        sha256_block(c, c->buf);
        c->n = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha256_block(c, p);
    memcpy(c->buf, p, len);
    c->n = len;
}

static void sha256_final(sha256 *c, uint8_t out[32])
{
    uint64_t bits = c->len * 8;
    uint8_t pad[72] = { 0x80 };
    size_t padlen = (c->n < 56 ? 56 : 120) - c->n;
    int i;

    for (i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, pad, padlen + 8);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

/* ---- the client ---- */

#define CHUNK_MAX 16384
#define INFLIGHT_MAX (128 * 1024)

enum { C_CONNECTING, C_RUNNING, C_DRAINING, C_DONE, C_FAILED };

typedef struct conn {
    int fd, state;
    uint64_t rng;
    uint64_t sent, received;
    sha256 hs, hr;
    uint8_t chunk[CHUNK_MAX];
    size_t chunk_len, chunk_off;       /* the chunk being sent */
} conn;

static uint64_t next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void new_chunk(conn *c)
{
    size_t i, n = 1 + next(&c->rng) % CHUNK_MAX;

    if (next(&c->rng) % 4 == 0)
        n = 1 + n % 64;                         /* many small ones too */
    for (i = 0; i + 8 <= n; i += 8) {
        uint64_t r = next(&c->rng);

        memcpy(c->chunk + i, &r, 8);
    }
    for (; i < n; i++)
        c->chunk[i] = (uint8_t)next(&c->rng);
    c->chunk_len = n;
    c->chunk_off = 0;
}

static int want_events(const conn *c, int sending)
{
    int ev = EPOLLIN;

    if (c->state == C_CONNECTING)
        return EPOLLOUT;
    if (sending && c->state == C_RUNNING && c->sent - c->received < INFLIGHT_MAX)
        ev |= EPOLLOUT;
    return ev;
}

static void fail(conn *c, const char *what, int err, long *failed)
{
    if (c->state != C_FAILED) {
        fprintf(stderr, "soak_client: connection fd %d: %s: %s\n", c->fd, what,
                strerror(err));
        c->state = C_FAILED;
        (*failed)++;
        close(c->fd);
    }
}

int main(int argc, char **argv)
{
    int port, nconn = 1000, ep, i, sending = 1;
    double seconds = 60, start, stop_at, deadline;
    long accepted = 0, completed = 0, failed = 0, mismatched = 0, open_conns;
    uint64_t total_sent = 0, total_received = 0, chunks = 0;
    struct sockaddr_in addr;
    struct epoll_event *evs;
    conn *cs;
    static uint8_t rbuf[65536];

    if (argc < 2) {
        fprintf(stderr, "usage: soak_client PORT [SECONDS] [CONNECTIONS]\n");
        return 2;
    }
    {                                           /* the hash itself first */
        static const uint8_t abc[32] = {
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde,
            0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
            0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
        sha256 h;
        uint8_t d[32];

        sha256_init(&h);
        sha256_update(&h, "a", 1);
        sha256_update(&h, "bc", 2);
        sha256_final(&h, d);
        if (memcmp(d, abc, 32) != 0) {
            fprintf(stderr, "soak_client: SHA-256 self-test failed\n");
            return 1;
        }
    }
    port = atoi(argv[1]);
    if (argc > 2)
        seconds = atof(argv[2]);
    if (argc > 3)
        nconn = atoi(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconn + 64) {
            rl.rlim_cur = (rlim_t)nconn + 64;
            if (rl.rlim_max < rl.rlim_cur)
                rl.rlim_max = rl.rlim_cur;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                perror("soak_client: setrlimit(RLIMIT_NOFILE)");
        }
    }
    cs = calloc((size_t)nconn, sizeof *cs);
    evs = calloc((size_t)nconn, sizeof *evs);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (cs == NULL || evs == NULL || ep < 0) {
        perror("soak_client");
        return 1;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    start = now();
    for (i = 0; i < nconn; i++) {
        conn *c = &cs[i];
        struct epoll_event ev;

        c->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1) ^ (uint64_t)time(NULL);
        if (c->rng == 0)
            c->rng = 1;
        sha256_init(&c->hs);
        sha256_init(&c->hr);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            fprintf(stderr, "soak_client: socket: %s\n", strerror(errno));
            c->state = C_FAILED;
            failed++;
            continue;
        }
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
            fail(c, "connect", errno, &failed);
            continue;
        }
        c->state = C_CONNECTING;
        ev.events = EPOLLOUT;
        ev.data.ptr = c;
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    stop_at = start + seconds;
    deadline = stop_at + 30;                    /* the drain must finish by then */
    open_conns = nconn - failed;
    while (open_conns > 0) {
        int n, k;
        double t = now();

        if (sending && t >= stop_at) {          /* time is up: half-close all */
            sending = 0;
            for (i = 0; i < nconn; i++) {
                conn *c = &cs[i];
                struct epoll_event ev;

                if (c->state == C_CONNECTING) {
                    fail(c, "never connected", ETIMEDOUT, &failed);
                    open_conns--;
                    continue;
                }
                if (c->state != C_RUNNING)
                    continue;
                /* finish the chunk in progress first (blocking briefly) */
                while (c->chunk_off < c->chunk_len) {
                    ssize_t w = send(c->fd, c->chunk + c->chunk_off,
                                     c->chunk_len - c->chunk_off, MSG_NOSIGNAL);

                    if (w > 0) {
                        sha256_update(&c->hs, c->chunk + c->chunk_off, (size_t)w);
                        c->chunk_off += (size_t)w;
                        c->sent += (uint64_t)w;
                        continue;
                    }
                    if (w < 0 && errno == EAGAIN) {
                        /* read some echo to make room */
                        ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);

                        if (r > 0) {
                            sha256_update(&c->hr, rbuf, (size_t)r);
                            c->received += (uint64_t)r;
                        }
                        continue;
                    }
                    break;
                }
                shutdown(c->fd, SHUT_WR);
                c->state = C_DRAINING;
                ev.events = EPOLLIN;
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            continue;
        }
        if (!sending && t >= deadline) {
            for (i = 0; i < nconn; i++)
                if (cs[i].state == C_DRAINING) {
                    fail(&cs[i], "no end of stream from the server", ETIMEDOUT, &failed);
                    open_conns--;
                }
            break;
        }
        n = epoll_wait(ep, evs, nconn, 100);
        for (k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            struct epoll_event ev;

            if (c->state == C_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;

                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err != 0) {
                    fail(c, "connect", err, &failed);
                    open_conns--;
                    continue;
                }
                accepted++;
                c->state = sending ? C_RUNNING : C_DRAINING;
                new_chunk(c);
                ev.events = (uint32_t)want_events(c, sending);
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                continue;
            }
            if (c->state != C_RUNNING && c->state != C_DRAINING)
                continue;
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);

                    if (r > 0) {
                        sha256_update(&c->hr, rbuf, (size_t)r);
                        c->received += (uint64_t)r;
                        if (c->received > c->sent) {
                            fail(c, "more bytes back than sent", EPROTO, &failed);
                            open_conns--;
                            break;
                        }
                        continue;
                    }
                    if (r == 0) {               /* the server closed */
                        uint8_t a[32], b[32];

                        if (c->state != C_DRAINING) {
                            fail(c, "closed by the server early", ECONNRESET, &failed);
                            open_conns--;
                            break;
                        }
                        sha256_final(&c->hs, a);
                        sha256_final(&c->hr, b);
                        if (c->sent != c->received || memcmp(a, b, 32) != 0) {
                            fprintf(stderr, "soak_client: fd %d: sent %llu bytes, got %llu,"
                                    " digests %s\n", c->fd, (unsigned long long)c->sent,
                                    (unsigned long long)c->received,
                                    memcmp(a, b, 32) ? "differ" : "match");
                            mismatched++;
                        } else {
                            completed++;
                        }
                        total_sent += c->sent;
                        total_received += c->received;
                        c->state = C_DONE;
                        close(c->fd);
                        open_conns--;
                        break;
                    }
                    if (errno == EAGAIN || errno == EINTR)
                        break;
                    fail(c, "recv", errno, &failed);
                    open_conns--;
                    break;
                }
                if (c->state != C_RUNNING && c->state != C_DRAINING)
                    continue;
            }
            if (c->state == C_RUNNING && sending && (evs[k].events & EPOLLOUT)) {
                while (c->sent - c->received < INFLIGHT_MAX) {
                    ssize_t w = send(c->fd, c->chunk + c->chunk_off,
                                     c->chunk_len - c->chunk_off, MSG_NOSIGNAL);

                    if (w < 0) {
                        if (errno != EAGAIN && errno != EINTR) {
                            fail(c, "send", errno, &failed);
                            open_conns--;
                        }
                        break;
                    }
                    sha256_update(&c->hs, c->chunk + c->chunk_off, (size_t)w);
                    c->chunk_off += (size_t)w;
                    c->sent += (uint64_t)w;
                    if (c->chunk_off == c->chunk_len) {
                        chunks++;
                        new_chunk(c);
                    }
                }
            }
            if (c->state == C_RUNNING) {
                ev.events = (uint32_t)want_events(c, sending);
                ev.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
    }
    printf("connections=%d\naccepted=%ld\ncompleted=%ld\nfailed=%ld\nmismatched=%ld\n"
           "bytes_sent=%llu\nbytes_received=%llu\nchunks=%llu\nseconds=%.1f\n",
           nconn, accepted, completed, failed, mismatched,
           (unsigned long long)total_sent, (unsigned long long)total_received,
           (unsigned long long)chunks, now() - start);
    return accepted == nconn && completed == nconn && failed == 0 && mismatched == 0 ? 0 : 1;
}
