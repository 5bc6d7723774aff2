/* get_channel_user_info_http.c - the sample with real HTTP GETs.
 *
 *   async def get_channel_user_info(url):
 *       print("request start ", url)
 *       reader, writer = await asyncio.open_connection(host, port)
 *       writer.write(b"GET /" + url + b" HTTP/1.1\r\n...")
 *       head = await reader.readuntil(b"\r\n\r\n")      # the slow third party
 *       body = await reader.readexactly(length)
 *       print("request succ ", url)
 *
 * The "third party" is a local HTTP server started in the same loop (on
 * 127.0.0.1, a free port), answering each request after --delay seconds
 * (default 1). The three requests overlap: about 1 second, not 3. With
 * --port P the requests go to a server already listening on 127.0.0.1:P.
 */
#define _GNU_SOURCE 1      /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cio.h>

static double delay = 1.0;

/* ---- the slow third party: GET /NAME -> "user info of NAME" ---- */

CIO_ASYNC(third_party, cio_stream *s; char body[64]; int blen;)
{
    char head[128];
    const char *req, *sp;
    size_t len;
    int hl;

    CIO_BEGIN();
    CIO_AWAIT(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
    req = cio_stream_data(self->s, &len);
    sp = memchr(req + 5, ' ', len - 5);         /* "GET /NAME HTTP/1.1" */
    self->blen = snprintf(self->body, sizeof self->body, "user info of %.*s",
                          sp != NULL ? (int)(sp - req - 5) : 0, req + 5);
    CIO_AWAIT(cio_sleep(loop, delay));          /* the slow part */
    hl = snprintf(head, sizeof head,
                  "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                  self->blen);
    cio_stream_write(self->s, head, (size_t)hl);
    cio_stream_write(self->s, self->body, (size_t)self->blen);
    CIO_FINALLY();
    cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

static cio_future *on_client(cio_loop *loop, cio_stream *s, void *arg)
{
    (void)arg;
    return CIO_START(loop, third_party, .s = s);
}

/* ---- the sample ---- */

CIO_ASYNC(get_channel_user_info, const char *url; int port; cio_stream *s;)
{
    char req[256];
    const char *head, *cl;
    size_t len;
    int n;

    CIO_BEGIN();
    printf("request start %s\n", self->url);
    CIO_AWAIT(cio_open_connection(loop, "127.0.0.1", self->port, 0));
    self->s = CIO_RESULT.p;
    n = snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", self->url);
    cio_stream_write(self->s, req, (size_t)n);
    CIO_AWAIT(cio_stream_readuntil(self->s, "\r\n\r\n", 4));
    head = cio_stream_data(self->s, &len);
    cl = memmem(head, len, "Content-Length: ", 16);
    if (strncmp(head, "HTTP/1.1 200", 12) != 0 || cl == NULL)
        CIO_RAISE(CIO_EINVAL);
    CIO_AWAIT(cio_stream_readexactly(self->s, (size_t)atoi(cl + 16)));
    head = cio_stream_data(self->s, &len);
    if (len < 13 || memcmp(head, "user info of ", 13) != 0)
        CIO_RAISE(CIO_EINVAL);
    printf("request succ %s\n", self->url);
    CIO_FINALLY();
    if (self->s != NULL)
        cio_future_unref(cio_stream_close(self->s));
    CIO_END();
}

int main(int argc, char **argv)
{
    cio_server *srv = NULL;
    cio_loop *loop;
    cio_value v;
    int port = 0, i, err;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: get_channel_user_info_http [--delay SECONDS] [--port PORT]\n"
                   "  The asyncio sample with HTTP GETs: three requests to a local\n"
                   "  server that answers after SECONDS (default 1), concurrently.\n"
                   "  --port: use the HTTP server on 127.0.0.1:PORT instead.\n");
            return 0;
        } else if (strcmp(argv[i], "--delay") == 0 && i + 1 < argc) {
            delay = atof(argv[++i]);
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: get_channel_user_info_http [--delay SECONDS] [--port PORT]\n");
            return 2;
        }
    }
    loop = cio_loop_new();
    if (loop == NULL)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (port == 0) {
        err = cio_loop_run_until_complete(loop, cio_start_server(loop, "127.0.0.1", 0,
                                                                 on_client, NULL, NULL), &v);
        if (err != 0) {
            fprintf(stderr, "get_channel_user_info_http: %s\n", cio_strerror(err));
            cio_loop_free(loop);
            return 1;
        }
        srv = v.p;
        port = cio_server_port(srv);
    }
    err = cio_loop_run_until_complete(loop, cio_gather(loop, 3, (cio_future *[]){
        CIO_START(loop, get_channel_user_info, .url = "baidu", .port = port),
        CIO_START(loop, get_channel_user_info, .url = "bytedance", .port = port),
        CIO_START(loop, get_channel_user_info, .url = "weixin", .port = port) }), NULL);
    if (srv != NULL)
        cio_loop_run_until_complete(loop, cio_server_close(srv), NULL);
    cio_loop_free(loop);
    if (err != 0)
        fprintf(stderr, "get_channel_user_info_http: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
