/* http_bench.c - an HTTP/1.1 load generator on cio's streams.
 *
 * C keep-alive connections, each a task sending GET requests one after
 * the other until N requests were sent in all. A connection the server
 * closes is opened again. On a terminal a progress line is kept up to
 * date; at the end: requests/s, errors, and latency percentiles.
 *
 * Usage: http_bench URL -n REQUESTS -c CONNECTIONS [-t SECONDS]
 *   URL is http://HOST[:PORT][/PATH]; -t stops early after SECONDS.
 */
#define _GNU_SOURCE 1      /* memmem */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cio.h>

static char host[256], path[1024];
static int port = 80;
static long total, conns = 1, issued, done_ok, non2xx, errors, reconnects;
static double max_seconds = 0, t_start;
static double *latency;         /* seconds, one per completed request */
static char request[2048];
static size_t request_len;
static int stopping;

static int parse_url(const char *url)
{
    const char *p, *slash, *colon;
    size_t hl;

    if (strncmp(url, "http://", 7) != 0)
        return -1;
    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL)
        slash = p + strlen(p);
    colon = memchr(p, ':', (size_t)(slash - p));
    if (*p == '[') {                            /* [::1]:8080 */
        const char *rb = memchr(p, ']', (size_t)(slash - p));

        if (rb == NULL)
            return -1;
        hl = (size_t)(rb - p - 1);
        if (hl >= sizeof host)
            return -1;
        memcpy(host, p + 1, hl);
        host[hl] = '\0';
        colon = rb[1] == ':' ? rb + 1 : NULL;
    } else {
        hl = (size_t)((colon != NULL ? colon : slash) - p);
        if (hl == 0 || hl >= sizeof host)
            return -1;
        memcpy(host, p, hl);
        host[hl] = '\0';
    }
    if (colon != NULL) {
        port = atoi(colon + 1);
        if (port <= 0 || port > 65535)
            return -1;
    }
    snprintf(path, sizeof path, "%s", *slash ? slash : "/");
    return 0;
}

/* The status code and Content-Length of a response head; -1 if bad. */
static int parse_response(const char *p, size_t len, long *content_length, int *close_after)
{
    const char *end = p + len, *line, *eol;
    int status;

    *content_length = -1;
    *close_after = 0;
    if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return -1;
    status = atoi(p + 9);
    if (p[7] == '0')
        *close_after = 1;
    for (line = (const char *)memchr(p, '\n', len) + 1; line < end; line = eol + 1) {
        eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            break;
        if (strncasecmp(line, "content-length:", 15) == 0)
            *content_length = atol(line + 15);
        else if (strncasecmp(line, "connection:", 11) == 0
                 && memmem(line, (size_t)(eol - line), "close", 5) != NULL)
            *close_after = 1;
    }
    return status;
}

CIO_ASYNC(client, cio_stream *s; double sent; long clen; int close_after; int status;)
{
    CIO_BEGIN();
    while (!stopping && issued < total) {
        if (self->s == NULL) {
            CIO_AWAIT_TRY(cio_open_connection(loop, host, port, 0));
            if (CIO_ERROR != 0) {
                errors++;
                if (done_ok == 0 && errors >= conns)
                    CIO_RAISE(CIO_ERROR);       /* nothing answers at all */
                CIO_AWAIT(cio_sleep(loop, 0.01));
                continue;
            }
            self->s = CIO_RESULT.p;
        }
        issued++;
        self->sent = cio_loop_time(loop);
        if (cio_stream_write(self->s, request, request_len) != 0)
            goto failed;
        CIO_AWAIT_TRY(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
        if (CIO_ERROR != 0)
            goto failed;
        {
            size_t len;
            const char *head = cio_stream_data(self->s, &len);

            self->status = parse_response(head, len, &self->clen, &self->close_after);
        }
        if (self->status < 0 || self->clen < 0)
            goto failed;
        if (self->clen > 0) {
            CIO_AWAIT_TRY(cio_stream_readexactly(self->s, (size_t)self->clen));
            if (CIO_ERROR != 0)
                goto failed;
        }
        latency[done_ok + non2xx] = cio_loop_time(loop) - self->sent;
        if (self->status >= 200 && self->status < 300)
            done_ok++;
        else
            non2xx++;
        if (self->close_after) {
            cio_future_unref(cio_stream_close(self->s));
            self->s = NULL;
            reconnects++;
        }
        continue;
    failed:
        errors++;
        cio_stream_abort(self->s);
        self->s = NULL;
        reconnects++;
    }
    CIO_FINALLY();
    if (self->s != NULL)
        cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

static int progress(cio_loop *loop, void *arg)
{
    double el = cio_loop_time(loop) - t_start;

    (void)arg;
    fprintf(stderr, "\r%ld/%ld requests, %ld errors, %.0f req/s  ", done_ok + non2xx, total,
            errors, el > 0 ? (double)(done_ok + non2xx) / el : 0.0);
    return cio_loop_call_later(loop, 0.25, progress, NULL, NULL);
}

static int time_up(cio_loop *loop, void *arg)
{
    (void)loop, (void)arg;
    stopping = 1;
    return 0;
}

static int on_signal(cio_loop *loop, void *arg)
{
    (void)loop, (void)arg;
    stopping = 1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
    long i = (long)(p / 100.0 * (double)(n - 1) + 0.5);

    return n > 0 ? v[i] * 1e3 : 0;
}

static void usage(FILE *to)
{
    fprintf(to,
        "usage: http_bench URL -n REQUESTS -c CONNECTIONS [-t SECONDS]\n"
        "  Send REQUESTS GET requests to URL (http://HOST[:PORT][/PATH]) over\n"
        "  CONNECTIONS keep-alive connections; print requests/s, errors and\n"
        "  latency percentiles. -t: stop after SECONDS even if not done.\n");
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    cio_future **tasks;
    cio_handle *prog = NULL, *timer = NULL;
    cio_loop *loop;
    double elapsed;
    long i, n;
    int err, tty = isatty(2);

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            total = atol(argv[++i]);
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            conns = atol(argv[++i]);
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            max_seconds = atof(argv[++i]);
        } else if (url == NULL && argv[i][0] != '-') {
            url = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (url == NULL || parse_url(url) != 0 || total <= 0 || conns <= 0 || conns > 100000) {
        usage(stderr);
        return 2;
    }
    if (conns > total)
        conns = total;
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: cio-http_bench\r\n\r\n",
                                   path, host, port);
    latency = malloc((size_t)total * sizeof *latency);
    tasks = malloc((size_t)conns * sizeof *tasks);
    loop = cio_loop_new();
    if (latency == NULL || tasks == NULL || loop == NULL)
        return 1;
    cio_loop_add_signal_handler(loop, SIGINT, on_signal, NULL);
    cio_loop_add_signal_handler(loop, SIGTERM, on_signal, NULL);
    for (i = 0; i < conns; i++)
        tasks[i] = CIO_START(loop, client, .s = NULL);
    t_start = cio_loop_time(loop);
    if (tty)
        cio_loop_call_later(loop, 0.25, progress, NULL, &prog);
    if (max_seconds > 0)
        cio_loop_call_later(loop, max_seconds, time_up, NULL, &timer);
    err = cio_loop_run_until_complete(loop, cio_gather_ex(loop, (size_t)conns, tasks, 0), NULL);
    elapsed = cio_loop_time(loop) - t_start;
    cio_handle_cancel(prog);
    cio_handle_unref(prog);
    cio_handle_cancel(timer);
    cio_handle_unref(timer);
    if (tty)
        fprintf(stderr, "\r%60s\r", "");
    cio_loop_free(loop);
    free(tasks);
    if (err != 0 && done_ok + non2xx == 0) {
        fprintf(stderr, "http_bench: %s:%d: %s\n", host, port, cio_strerror(err));
        free(latency);
        return 1;
    }
    n = done_ok + non2xx;
    qsort(latency, (size_t)n, sizeof *latency, cmp_double);
    printf("%ld requests in %.3f s over %ld connections\n", n, elapsed, conns);
    printf("requests/s: %.0f\n", elapsed > 0 ? (double)n / elapsed : 0.0);
    printf("2xx: %ld  non-2xx: %ld  errors: %ld  reconnects: %ld\n", done_ok, non2xx, errors,
           reconnects);
    printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", pct(latency, n, 50),
           pct(latency, n, 90), pct(latency, n, 99), pct(latency, n, 100));
    free(latency);
    return errors == 0 && non2xx == 0 && n == total ? 0 : 1;
}
