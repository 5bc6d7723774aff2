/* echo_server.c - a TCP echo server on cio's streams.
 *
 *   async def echo(reader, writer):
 *       while data := await reader.read(65536):
 *           writer.write(data)
 *           await writer.drain()
 *       writer.close()
 *
 * Usage: echo_server PORT [--host HOST]. Stops cleanly on SIGINT / SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cio.h>

CIO_ASYNC(echo, cio_stream *s; size_t len;)
{
    const char *data;
    int err;

    CIO_BEGIN();
    for (;;) {
        CIO_AWAIT(cio_stream_read(self->s, 65536));
        data = cio_stream_data(self->s, &self->len);
        if (self->len == 0)
            break;                              /* the peer closed */
        if ((err = cio_stream_write(self->s, data, self->len)) != 0)
            CIO_RAISE(err);
        CIO_AWAIT(cio_stream_drain(self->s));   /* waits only past 64 KiB */
    }
    CIO_FINALLY();
    cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *on_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, echo, .s = s);
}

static int on_signal(cio_loop *loop, void *arg)
{
    (void)arg;
    cio_loop_stop(loop);
    return 0;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: echo_server PORT [--host HOST]\n"
                "  Echo every byte back on each TCP connection to HOST:PORT\n"
                "  (default host: every address). SIGINT / SIGTERM stop it.\n");
}

int main(int argc, char **argv)
{
    const char *host = NULL;
    cio_server *srv;
    cio_loop *loop;
    cio_value v;
    int port = -1, i, err;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (port < 0 && argv[i][0] != '-') {
            port = atoi(argv[i]);
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (port < 0 || port > 65535) {
        usage(stderr);
        return 2;
    }
    loop = cio_loop_new();
    if (loop == NULL)
        return 1;
    err = cio_loop_run_until_complete(loop, cio_start_server(loop, host, port, on_client,
                                                             NULL, NULL), &v);
    if (err != 0) {
        fprintf(stderr, "echo_server: cannot listen on port %d: %s\n", port, cio_strerror(err));
        cio_loop_free(loop);
        return 1;
    }
    srv = v.p;
    printf("echo_server: listening on port %d\n", cio_server_port(srv));
    fflush(stdout);
    cio_loop_add_signal_handler(loop, SIGINT, on_signal, NULL);
    cio_loop_add_signal_handler(loop, SIGTERM, on_signal, NULL);
    cio_loop_run_forever(loop);
    cio_loop_run_until_complete(loop, cio_server_close(srv), NULL);
    cio_loop_free(loop);
    printf("echo_server: stopped\n");
    return 0;
}
