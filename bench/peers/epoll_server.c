/* epoll_server.c - the floor for the echo and http workloads: one thread,
 * plain epoll (level-triggered), non-blocking sockets, no runtime, no
 * coroutines. What any event-loop server pays at least in system calls.
 *
 *   epoll_server echo PORT   echo every byte back
 *   epoll_server http PORT   answer each request head ("...\r\n\r\n") with
 *                            "hello, world" (keep-alive, pipelining; no
 *                            parsing beyond finding the end of the head)
 *
 * Listens on 127.0.0.1:PORT (0: any free port) and prints
 * "listening on port N". Runs until killed (SIGTERM).
 *
 * Build: cc -O2 -o epoll_server bench/peers/epoll_server.c
 */
#define _GNU_SOURCE 1           /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_LIMIT 8192

static const char hello[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 12\r\n"
    "\r\n"
    "hello, world";

typedef struct conn {
    int fd;
    int want_out;               /* EPOLLOUT registered */
    char *in;                   /* http: the unparsed part of the stream */
    size_t in_len;
    char *out;                  /* what could not be written yet */
    size_t out_len, out_cap;
} conn;

static int http_mode, ep;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void conn_close(conn *c)
{
    close(c->fd);               /* also removes it from the epoll set */
    free(c->in);
    free(c->out);
    free(c);
}

static int out_append(conn *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        char *q;

        while (cap < c->out_len + n)
            cap *= 2;
        if ((q = realloc(c->out, cap)) == NULL)
            return -1;
        c->out = q;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* Write what is pending; watch for EPOLLOUT while something remains. */
static int flush(conn *c)
{
    size_t off = 0;
    struct epoll_event ev;

    while (off < c->out_len) {
        ssize_t w = write(c->fd, c->out + off, c->out_len - off);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return -1;
        }
        off += (size_t)w;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    if ((c->out_len > 0) != c->want_out) {
        c->want_out = c->out_len > 0;
        ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
            return -1;
    }
    return 0;
}

/* Echo: write straight from the read buffer; keep only what is left over. */
static int on_echo(conn *c, const char *buf, size_t n)
{
    size_t off = 0;

    if (c->out_len == 0) {
        while (off < n) {
            ssize_t w = write(c->fd, buf + off, n - off);

            if (w < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    break;
                return -1;
            }
            off += (size_t)w;
        }
        if (off == n)
            return 0;
    }
    if (out_append(c, buf + off, n - off) != 0)
        return -1;
    return flush(c);
}

/* HTTP: one response per complete head, in order. */
static int on_http(conn *c, const char *buf, size_t n)
{
    char *p, *end, *q;
    size_t answered = 0, nreq = 0;

    if ((q = realloc(c->in, c->in_len + n)) == NULL)
        return -1;
    c->in = q;
    memcpy(c->in + c->in_len, buf, n);
    c->in_len += n;
    p = c->in;
    end = c->in + c->in_len;
    while ((q = memmem(p, (size_t)(end - p), "\r\n\r\n", 4)) != NULL) {
        p = q + 4;
        nreq++;
    }
    answered = (size_t)(p - c->in);
    memmove(c->in, p, c->in_len - answered);
    c->in_len -= answered;
    if (c->in_len > HEAD_LIMIT)
        return -1;
    if (nreq == 1 && c->out_len == 0) {     /* the usual case: one write */
        ssize_t w = write(c->fd, hello, sizeof hello - 1);

        if (w == (ssize_t)(sizeof hello - 1))
            return 0;
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (w < 0)
            w = 0;
        return out_append(c, hello + w, sizeof hello - 1 - (size_t)w) != 0 ? -1 : flush(c);
    }
    while (nreq-- > 0)
        if (out_append(c, hello, sizeof hello - 1) != 0)
            return -1;
    return flush(c);
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    struct epoll_event ev, evs[256];
    static char buf[65536];
    int lfd, one = 1, i, n;

    if (argc != 3 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "http") != 0)) {
        fprintf(stderr, "usage: epoll_server echo|http PORT\n");
        return 2;
    }
    http_mode = strcmp(argv[1], "http") == 0;
    if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
        die("socket");
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(argv[2]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0)
        die("bind/listen");
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    printf("epoll_server: listening on port %d\n", ntohs(sa.sin_port));
    fflush(stdout);
    if ((ep = epoll_create1(0)) < 0)
        die("epoll_create1");
    ev.events = EPOLLIN;
    ev.data.ptr = NULL;                         /* NULL: the listening socket */
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl");
    for (;;) {
        n = epoll_wait(ep, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;

            if (c == NULL) {                    /* accept all that are waiting */
                int fd;

                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if ((c = calloc(1, sizeof *c)) == NULL) {
                        close(fd);
                        continue;
                    }
                    c->fd = fd;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    ev.events = EPOLLIN;
                    ev.data.ptr = c;
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                        conn_close(c);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (flush(c) != 0) {
                    conn_close(c);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(c->fd, buf, sizeof buf);

                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                if (r <= 0 || (http_mode ? on_http(c, buf, (size_t)r)
                                         : on_echo(c, buf, (size_t)r)) != 0)
                    conn_close(c);
            }
        }
    }
}
