/* http_server.c - an HTTP/1.1 "hello, world" server on cio's streams.
 *
 * Keep-alive and pipelining (requests are answered in order, as they are
 * read from the buffer); a request that cannot be parsed gets 400 and the
 * connection is closed; a head longer than 8 KiB gets 431. Timeouts: a
 * keep-alive connection idle for --idle-timeout seconds is closed, and a
 * request head must arrive within --header-timeout seconds of its first
 * byte. --workers N runs N processes, each with its own loop, sharing the
 * port through SO_REUSEPORT.
 *
 * Usage: http_server PORT [--host HOST] [--workers N] [--idle-timeout S]
 *                         [--header-timeout S]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cio.h>

#define HEAD_LIMIT 8192
#define BODY_MAX (1 << 20)

static double idle_timeout = 60, header_timeout = 10;

static const char hello[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 12\r\n"
    "\r\n"
    "hello, world";

static const char hello_close[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 12\r\n"
    "Connection: close\r\n"
    "\r\n"
    "hello, world";

static const char bad_request[] =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 12\r\n"
    "Connection: close\r\n"
    "\r\n"
    "bad request\n";

static const char too_large[] =
    "HTTP/1.1 431 Request Header Fields Too Large\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n"
    "\r\n";

static const char body_too_large[] =
    "HTTP/1.1 413 Content Too Large\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n"
    "\r\n";

static const char not_implemented[] =
    "HTTP/1.1 501 Not Implemented\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n"
    "\r\n";

/* What parsing a request head found. */
enum { REQ_OK, REQ_BAD, REQ_CHUNKED };

typedef struct request {
    int keep_alive;
    long content_length;
} request;

static int is_token_char(char c)
{
    return c > ' ' && c < 127 && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* Does the comma-separated header value contain token tok? */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;

    while (i < n) {
        size_t j;

        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        j = i;
        while (j < n && v[j] != ',')
            j++;
        {
            size_t e = j;

            while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t'))
                e--;
            if (e - i == tl && strncasecmp(v + i, tok, tl) == 0)
                return 1;
        }
        i = j;
    }
    return 0;
}

/* Parse a head (request line and headers, ending with an empty line). */
static int parse_head(const char *p, size_t len, request *rq)
{
    const char *end = p + len, *line, *eol, *sp1, *sp2;
    int minor;

    rq->content_length = 0;
    /* request line: METHOD SP TARGET SP HTTP/1.x */
    eol = memchr(p, '\n', len);
    if (eol == NULL || eol == p || eol[-1] != '\r')
        return REQ_BAD;
    for (sp1 = p; sp1 < eol && is_token_char(*sp1); sp1++)
        ;
    if (sp1 == p || *sp1 != ' ')
        return REQ_BAD;
    for (sp2 = sp1 + 1; sp2 < eol && *sp2 > ' ' && *sp2 < 127; sp2++)
        ;
    if (sp2 == sp1 + 1 || *sp2 != ' ' || eol - 1 - (sp2 + 1) != 8
        || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return REQ_BAD;
    minor = sp2[8] - '0';
    rq->keep_alive = minor == 1;
    for (line = eol + 1; line < end; line = eol + 1) {
        const char *colon, *v, *ve;

        eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL || eol[-1] != '\r')
            return REQ_BAD;
        if (eol - 1 == line)
            break;                                  /* the empty line */
        for (colon = line; colon < eol - 1 && is_token_char(*colon); colon++)
            ;
        if (colon == line || *colon != ':')
            return REQ_BAD;                         /* no name, or a space before ':' */
        for (v = colon + 1; v < eol - 1 && (*v == ' ' || *v == '\t'); v++)
            ;
        for (ve = eol - 1; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
            ;
        if (colon - line == 10 && strncasecmp(line, "connection", 10) == 0) {
            if (has_token(v, (size_t)(ve - v), "close"))
                rq->keep_alive = 0;
            else if (has_token(v, (size_t)(ve - v), "keep-alive"))
                rq->keep_alive = 1;
        } else if (colon - line == 14 && strncasecmp(line, "content-length", 14) == 0) {
            long n = 0;
            const char *d;

            if (v == ve || ve - v > 12)
                return REQ_BAD;
            for (d = v; d < ve; d++) {
                if (*d < '0' || *d > '9')
                    return REQ_BAD;
                n = n * 10 + (*d - '0');
            }
            rq->content_length = n;
        } else if (colon - line == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            return REQ_CHUNKED;
        }
    }
    return REQ_OK;
}

CIO_ASYNC(serve, cio_stream *s; request rq; long body; const char *last;)
{
    const char *head;
    size_t len;
    int kind;

    CIO_BEGIN();
    for (;;) {
        if (cio_stream_buffered(self->s) == 0) {
            /* between requests: the idle timeout */
            cio_stream_set_timeout(self->s, idle_timeout);
            CIO_AWAIT_TRY(cio_stream_wait_data(self->s));
            if (CIO_ERROR != 0 || CIO_RESULT.i == 0)
                break;                              /* idle, closed or reset */
        }
        /* the head, from its first byte: the header timeout */
        cio_stream_set_timeout(self->s, header_timeout);
        CIO_AWAIT_TRY(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
        if (CIO_ERROR == CIO_ELIMIT) {
            self->last = too_large;
            break;
        }
        if (CIO_ERROR != 0)
            break;                  /* truncated (EOF), timed out or reset: just close */
        head = cio_stream_data(self->s, &len);
        kind = parse_head(head, len, &self->rq);
        if (kind != REQ_OK) {
            self->last = kind == REQ_BAD ? bad_request : not_implemented;
            break;
        }
        if (self->rq.content_length > 0) {           /* a body: read and ignore it */
            if (self->rq.content_length > BODY_MAX) {
                self->last = body_too_large;
                break;
            }
            CIO_AWAIT_TRY(cio_stream_readexactly(self->s, (size_t)self->rq.content_length));
            if (CIO_ERROR != 0)
                break;
        }
        if (!self->rq.keep_alive) {
            self->last = hello_close;
            break;
        }
        if (cio_stream_write(self->s, hello, sizeof hello - 1) != 0)
            break;
        if (cio_stream_write_buffered(self->s) > 0)
            CIO_AWAIT(cio_stream_drain(self->s));   /* a slow reader: wait */
    }
    if (self->last != NULL)
        cio_stream_write(self->s, self->last, strlen(self->last));
    CIO_FINALLY();
    cio_future_unref(cio_stream_close(self->s));    /* sends what is buffered */
    CIO_END();
}

static cio_future *on_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, serve, .s = s);
}

static int on_signal(cio_loop *loop, void *arg)
{
    (void)arg;
    cio_loop_stop(loop);
    return 0;
}

/* One process: one loop, serving until SIGINT / SIGTERM. */
static int run_worker(const char *host, int port, int reuse_port, int quiet)
{
    cio_server_options opts;
    cio_loop *loop = cio_loop_new();
    cio_value v;
    int err;

    if (loop == NULL)
        return 1;
    memset(&opts, 0, sizeof opts);
    opts.reuse_port = reuse_port;
    opts.limit = HEAD_LIMIT;
    opts.backlog = 4096;
    err = cio_loop_run_until_complete(loop, cio_start_server(loop, host, port, on_client,
                                                             NULL, &opts), &v);
    if (err != 0) {
        fprintf(stderr, "http_server: cannot listen on port %d: %s\n", port, cio_strerror(err));
        cio_loop_free(loop);
        return 1;
    }
    if (!quiet) {
        printf("http_server: listening on port %d\n", cio_server_port(v.p));
        fflush(stdout);
    }
    cio_loop_add_signal_handler(loop, SIGINT, on_signal, NULL);
    cio_loop_add_signal_handler(loop, SIGTERM, on_signal, NULL);
    cio_loop_run_forever(loop);
    cio_loop_run_until_complete(loop, cio_server_close(v.p), NULL);
    cio_loop_free(loop);
    return 0;
}

static volatile sig_atomic_t got_signal;

static void parent_signal(int sig)
{
    got_signal = sig;
}

/* N processes sharing the port: the parent forwards SIGINT / SIGTERM. */
static int run_workers(const char *host, int port, int n)
{
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    struct sigaction sa;
    int i, status, failed = 0, alive = 0;

    if (pids == NULL)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = parent_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            _exit(run_worker(host, port, 1, 1));
        }
        if (pids[i] < 0) {
            perror("http_server: fork");
            failed = 1;
            break;
        }
        alive++;
    }
    if (!failed) {
        printf("http_server: listening on port %d with %d workers\n", port, n);
        fflush(stdout);
    }
    while (alive > 0) {
        pid_t p = wait(&status);

        if (p < 0) {
            if (errno != EINTR)
                break;
            for (i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], got_signal ? (int)got_signal : SIGTERM);
            continue;
        }
        for (i = 0; i < n; i++)
            if (pids[i] == p)
                pids[i] = 0;
        alive--;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            failed = 1;
            for (i = 0; i < n; i++)     /* one failed: stop the others */
                if (pids[i] > 0)
                    kill(pids[i], SIGTERM);
        }
    }
    free(pids);
    return failed;
}

static void usage(FILE *to)
{
    fprintf(to,
        "usage: http_server PORT [--host HOST] [--workers N]\n"
        "                        [--idle-timeout SECONDS] [--header-timeout SECONDS]\n"
        "  Answer every HTTP/1.1 request with `hello, world' (keep-alive and\n"
        "  pipelining). --workers N: N processes, each with its own loop, sharing\n"
        "  the port through SO_REUSEPORT (port 0 needs N = 1). Timeouts default to\n"
        "  60 s idle and 10 s for a request head. SIGINT / SIGTERM stop it.\n");
}

int main(int argc, char **argv)
{
    const char *host = NULL;
    int port = -1, workers = 1, i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            workers = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--idle-timeout") == 0 && i + 1 < argc) {
            idle_timeout = atof(argv[++i]);
        } else if (strcmp(argv[i], "--header-timeout") == 0 && i + 1 < argc) {
            header_timeout = atof(argv[++i]);
        } else if (port < 0 && argv[i][0] != '-') {
            port = atoi(argv[i]);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (port < 0 || port > 65535 || workers < 1 || workers > 256
        || (workers > 1 && port == 0) || !(idle_timeout > 0) || !(header_timeout > 0)) {
        usage(stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (workers == 1)
        return run_worker(host, port, 0, 0);
    return run_workers(host, port, workers);
}
