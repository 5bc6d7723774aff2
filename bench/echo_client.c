/* echo_client.c - the load client of the echo workload: plain C on epoll,
 * one thread, so it is never the bottleneck and hides no error.
 *
 *   echo_client PORT [-c CONNECTIONS] [-s SIZE] [-d SECONDS] [--host ADDR]
 *
 * Opens CONNECTIONS (default 100) TCP connections to ADDR:PORT (default
 * 127.0.0.1; loopback only), then on each, until SECONDS (default 5) have
 * passed: sends SIZE bytes (default 1024) and waits until the same SIZE bytes
 * came back. Every byte is checked against what was sent (a pattern that
 * differs per connection and per round trip). Prints one line:
 *
 *   echo n=TRIPS wall=SECONDS trips_per_s=R errors=E conns=C size=S
 *
 * Exit status 0 only if no byte was wrong, no connection failed and at
 * least one round trip completed. A hard alarm ends it SECONDS + 20 s after
 * its start whatever the server does.
 *
 * Build: cc -O2 -o echo_client bench/echo_client.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct client {
    int fd, id;
    unsigned long seq;          /* round trips completed */
    size_t sent, got;           /* of the current message */
    unsigned char *msg;         /* the current message */
    int done, want_out;
} client;

static size_t size = 1024;
static long errors;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void on_alarm(int sig)
{
    static const char m[] = "echo_client: hard time limit reached\n";

    (void)sig;
    if (write(2, m, sizeof m - 1) < 0) {
        /* nothing more to do */
    }
    _exit(3);
}

/* The message of round trip seq on connection id: every byte depends on
 * both, so a byte from another connection or round trip is caught. */
static void fill(client *c)
{
    unsigned long x = (unsigned long)c->id * 2654435761ul + c->seq * 40503ul + 1;
    size_t i;

    for (i = 0; i < size; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        c->msg[i] = (unsigned char)(x >> 56);
    }
    c->sent = c->got = 0;
}

static int ep;

/* Watch for EPOLLOUT only while part of the message is not sent yet. */
static int watch(client *c, int out)
{
    struct epoll_event ev;

    if (out == c->want_out)
        return 0;
    c->want_out = out;
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int send_some(client *c)
{
    while (c->sent < size) {
        ssize_t w = write(c->fd, c->msg + c->sent, size - c->sent);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return watch(c, 1);
            fprintf(stderr, "echo_client: conn %d: write: %s\n", c->id, strerror(errno));
            return -1;
        }
        c->sent += (size_t)w;
    }
    return watch(c, 0);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = -1, nconns = 100, i, active, one = 1;
    double seconds = 5, t0, deadline, wall;
    unsigned long trips = 0;
    struct sockaddr_in sa;
    struct epoll_event ev, evs[256];
    static unsigned char buf[65536];
    client *cs;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            nconns = atoi(argv[++i]);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            size = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc)
            host = argv[++i];
        else if (port < 0 && argv[i][0] != '-')
            port = atoi(argv[i]);
        else
            port = -2;
    }
    if (port <= 0 || port > 65535 || nconns < 1 || size < 1 || !(seconds > 0)) {
        fprintf(stderr, "usage: echo_client PORT [-c CONNECTIONS] [-s SIZE] [-d SECONDS]"
                        " [--host ADDR]\n");
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1
        || (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "echo_client: %s: a numeric loopback address (127.x.x.x) only\n", host);
        return 2;
    }
    signal(SIGALRM, on_alarm);
    alarm((unsigned)seconds + 20);
    signal(SIGPIPE, SIG_IGN);
    if ((ep = epoll_create1(0)) < 0 || (cs = calloc((size_t)nconns, sizeof *cs)) == NULL) {
        perror("echo_client");
        return 1;
    }
    for (i = 0; i < nconns; i++) {
        client *c = &cs[i];

        c->id = i;
        c->msg = malloc(size);
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (c->msg == NULL || c->fd < 0
            || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            fprintf(stderr, "echo_client: connect %d: %s\n", i, strerror(errno));
            return 1;
        }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0) {
            perror("echo_client: fcntl");
            return 1;
        }
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            perror("echo_client: epoll_ctl");
            return 1;
        }
    }
    t0 = now();
    deadline = t0 + seconds;
    for (i = 0; i < nconns; i++) {
        fill(&cs[i]);
        if (send_some(&cs[i]) != 0)
            return 1;
    }
    active = nconns;
    while (active > 0) {
        int n = epoll_wait(ep, evs, 256, 1000), k;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("echo_client: epoll_wait");
            return 1;
        }
        if (n == 0 && now() > deadline + 10) {
            fprintf(stderr, "echo_client: no answer for 10 s past the deadline\n");
            return 1;
        }
        for (k = 0; k < n; k++) {
            client *c = evs[k].data.ptr;
            ssize_t r;

            if (c->done)
                continue;
            if (c->sent < size && send_some(c) != 0)
                return 1;
            r = read(c->fd, buf, sizeof buf);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                fprintf(stderr, "echo_client: conn %d: %s after %lu round trips\n", c->id,
                        r == 0 ? "closed by the server" : strerror(errno), c->seq);
                return 1;
            }
            if (c->got + (size_t)r > c->sent) {
                fprintf(stderr, "echo_client: conn %d: %zu bytes back, only %zu sent\n",
                        c->id, c->got + (size_t)r, c->sent);
                errors++;
                return 1;
            }
            if (memcmp(buf, c->msg + c->got, (size_t)r) != 0) {
                size_t j = 0;

                while (buf[j] == c->msg[c->got + j])
                    j++;
                fprintf(stderr, "echo_client: conn %d: wrong byte at offset %zu of round trip "
                        "%lu\n", c->id, c->got + j, c->seq);
                errors++;
                return 1;
            }
            c->got += (size_t)r;
            if (c->got < size)
                continue;
            c->seq++;
            trips++;
            if (now() >= deadline) {            /* this connection is done */
                c->done = 1;
                active--;
                continue;
            }
            fill(c);
            if (send_some(c) != 0)
                return 1;
        }
    }
    wall = now() - t0;
    for (i = 0; i < nconns; i++)
        close(cs[i].fd);
    printf("echo n=%lu wall=%.6f trips_per_s=%.0f errors=%ld conns=%d size=%zu\n", trips, wall,
           (double)trips / wall, errors, nconns, size);
    return trips > 0 && errors == 0 ? 0 : 1;
}
