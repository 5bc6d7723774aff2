/* server.c - asyncio.start_server and open_connection.
 *
 * A server owns up to a few listening sockets, each with a watcher. On
 * readiness it accepts in a batch, makes a stream per connection and hands
 * it to the client function, whose task it watches (a node in the task's
 * ring: no allocation). When accept runs out of fds (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM) the listener stops watching and a timer resumes it, or
 * the next stream that closes its socket: no busy loop, and it recovers.
 *
 * open_connection and the binding part of start_server are cio tasks
 * themselves: resolve (off the loop thread for names), then connect or bind.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "net/stream.h"

#define MAX_LISTENERS 8
#define ACCEPT_BATCH 64
#define EMFILE_PAUSE 0.1        /* seconds before accepting again */

typedef struct listener {
    cio__io io;
    cio__timer resume;          /* EMFILE: when to try again */
    struct cio_server *srv;
    uint8_t paused;
} listener;

struct cio_server {
    cio_loop *loop;
    struct cio_server *prev, *next;     /* the loop's servers */
    cio_client_fn client;
    void *arg;
    size_t limit;
    size_t conns;               /* streams it accepted, still alive */
    int port;
    int nlisteners;
    uint8_t closing, tcp;
    char *unix_path;
    cio_future *closed;         /* cio_server_close's future */
    listener ls[MAX_LISTENERS];
};

static void srv_free(cio_server *srv);

/* ---- connections ---- */

static int quiet_error(int err)
{
    return err == CIO_ECANCELLED || err == -ECONNRESET || err == -EPIPE
        || err == CIO_ETIMEDOUT || err == CIO_ECLOSED || err == CIO_EINCOMPLETE;
}

/* The task serving a connection is done. */
static void handler_done(cio_loop *loop, cio__node *node)
{
    cio_stream *s = CIO__CONTAINER_OF(node, cio_stream, handler_done);
    cio_future *h = s->handler;
    int err;

    s->handler = NULL;
    if (loop->closing)
        return;
    err = cio_future_error(h);
    if (err != 0 && !quiet_error(err))
        cio__report(loop, "Unhandled error in client handler", err, NULL, h);
    cio_future_unref(h);
    if (!(s->flags & SF_GONE))
        cio_future_unref(cio_stream_close(s));
    cio__stream_unref(s);               /* the server's */
}

void cio__server_stream_gone(cio_server *srv)
{
    srv->conns--;
    if (srv->closing && srv->conns == 0)
        srv_free(srv);
}

static void listener_watch(listener *l)
{
    cio__io_set(l->srv->loop, &l->io, CIO__IO_READ);
}

static void resume_fire(cio_loop *loop, cio__node *node)
{
    listener *l = CIO__CONTAINER_OF(node, listener, resume.node);
    cio__net *net = loop->net;

    cio__timer_fired(&l->resume);
    if (loop->closing || !l->paused)
        return;
    l->paused = 0;
    if (net != NULL && net->accept_paused > 0)
        net->accept_paused--;
    if (!l->srv->closing)
        listener_watch(l);
}

void cio__servers_fd_freed(cio_loop *loop, cio__net *net)
{
    cio_server *srv;
    int i;

    (void)loop;
    for (srv = net->servers; srv != NULL; srv = srv->next) {
        for (i = 0; i < srv->nlisteners; i++) {
            listener *l = &srv->ls[i];

            if (!l->paused)
                continue;
            l->paused = 0;              /* its timer finds nothing to do */
            net->accept_paused--;
            if (!srv->closing)
                listener_watch(l);
        }
    }
}

static void accept_ready(cio_loop *loop, cio__node *node)
{
    listener *l = CIO__CONTAINER_OF(node, listener, io.node);
    cio_server *srv = l->srv;
    int i, c, one = 1;

    cio__io_take(&l->io);
    if (loop->closing || srv->closing)
        return;
    for (i = 0; i < ACCEPT_BATCH; i++) {
        cio_stream *s;
        cio_future *h;

        c = accept4(l->io.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of fds: the socket stays readable, so stop watching
                 * it for a while instead of spinning. */
                cio__io_set(loop, &l->io, 0);
                if (!l->paused) {
                    l->paused = 1;
                    loop->net ? ((cio__net *)loop->net)->accept_paused++ : 0;
                }
                cio__timer_start(loop, &l->resume, cio_loop_time(loop) + EMFILE_PAUSE,
                                 resume_fire);
                return;
            }
            if (!CIO__WOULD_BLOCK(errno))
                cio__report(loop, "accept failed", -errno, NULL, NULL);
            return;
        }
        if (srv->tcp)
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        s = cio__stream_new(loop, c, srv->limit);
        if (s == NULL) {
            close(c);
            continue;
        }
        s->server = srv;
        srv->conns++;
        h = srv->client(loop, s, srv->arg);
        if (h == NULL) {
            cio_future_unref(cio_stream_close(s));
            continue;
        }
        s->handler = h;
        s->refs++;                      /* the server's, until the task is done */
        s->handler_done.run = handler_done;
        cio__future_add_waiter(h, &s->handler_done);
    }
}

/* ---- binding ---- */

static int listen_on(cio_server *srv, int fd, int backlog)
{
    listener *l;

    if (listen(fd, backlog) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    l = &srv->ls[srv->nlisteners++];
    cio__io_init(&l->io, fd, accept_ready);
    cio__timer_init(&l->resume);
    l->srv = srv;
    l->paused = 0;
    listener_watch(l);
    return 0;
}

static cio_server *srv_new(cio_loop *loop, cio_client_fn client, void *arg,
                           const cio_server_options *opts)
{
    cio__net *net = cio__net_get(loop);
    cio_server *srv;

    if (net == NULL)
        return NULL;
    srv = cio_alloc(sizeof *srv);
    if (srv == NULL)
        return NULL;
    memset(srv, 0, sizeof *srv);
    srv->loop = loop;
    srv->client = client;
    srv->arg = arg;
    srv->limit = opts != NULL && opts->limit ? opts->limit : CIO_STREAM_LIMIT;
    srv->next = net->servers;
    if (net->servers != NULL)
        net->servers->prev = srv;
    net->servers = srv;
    return srv;
}

static void close_listeners(cio_server *srv)
{
    cio__net *net = srv->loop->net;
    int i;

    for (i = 0; i < srv->nlisteners; i++) {
        listener *l = &srv->ls[i];

        cio__io_stop(srv->loop, &l->io);
        cio__timer_forget(srv->loop, &l->resume);
        if (l->paused && net != NULL && net->accept_paused > 0)
            net->accept_paused--;
        l->paused = 0;
        close(l->io.fd);
    }
    srv->nlisteners = 0;
    if (srv->unix_path != NULL) {
        unlink(srv->unix_path);
        cio_free(srv->unix_path, strlen(srv->unix_path) + 1);
        srv->unix_path = NULL;
    }
}

static void srv_free(cio_server *srv)
{
    cio__net *net = srv->loop->net;
    cio_future *closed = srv->closed;

    close_listeners(srv);
    if (srv->prev != NULL)
        srv->prev->next = srv->next;
    else if (net != NULL)
        net->servers = srv->next;
    if (srv->next != NULL)
        srv->next->prev = srv->prev;
    cio_free(srv, sizeof *srv);
    if (closed != NULL) {
        cio_future_set_int(closed, 0);
        cio_future_unref(closed);
    }
}

void cio__servers_free_all(cio_loop *loop, cio__net *net)
{
    cio_stream *s;

    (void)loop;
    for (s = net->streams; s != NULL; s = s->next)
        s->server = NULL;
    while (net->servers != NULL) {
        cio_server *srv = net->servers;

        cio_future_unref(srv->closed);
        srv->closed = NULL;
        srv_free(srv);
    }
}

static int bind_tcp(cio_server *srv, struct addrinfo *ai, const cio_server_options *opts)
{
    int backlog = opts != NULL && opts->backlog > 0 ? opts->backlog : 511;
    int one = 1, err = 0, bound = 0;
    struct addrinfo *a;

    srv->tcp = 1;
    for (a = ai; a != NULL && srv->nlisteners < MAX_LISTENERS; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);

        if (fd < 0) {
            err = -errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (opts != NULL && opts->reuse_port) {
#ifdef SO_REUSEPORT
            if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
                err = -errno;
                close(fd);
                break;
            }
#else
            close(fd);
            err = CIO_ENOTSUP;
            break;
#endif
        }
        if (a->ai_family == AF_INET6) {
            /* Both families listen on their own socket, as asyncio does. */
            int v6only = 1;

            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
        }
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0) {
            err = -errno;
            close(fd);
            break;              /* asyncio: any failing address fails it all */
        }
        if (srv->port == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;

            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
                srv->port = ntohs(ss.ss_family == AF_INET6
                                  ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                  : ((struct sockaddr_in *)&ss)->sin_port);
        }
        if ((err = listen_on(srv, fd, backlog)) != 0)
            break;
        bound++;
        /* Port 0 on several addresses: the same port for all of them. */
        if (a->ai_next != NULL && srv->port != 0) {
            if (a->ai_next->ai_family == AF_INET6)
                ((struct sockaddr_in6 *)a->ai_next->ai_addr)->sin6_port = htons((uint16_t)srv->port);
            else if (a->ai_next->ai_family == AF_INET)
                ((struct sockaddr_in *)a->ai_next->ai_addr)->sin_port = htons((uint16_t)srv->port);
        }
    }
    if (err != 0 && a != NULL)
        return err;
    return bound > 0 ? 0 : (err != 0 ? err : -EADDRNOTAVAIL);
}

#define HOST_MAX 256

CIO_ASYNC(start_server_task,
          cio_server *srv; int port; cio_server_options opts;
          int has_opts; struct addrinfo *ai; char host[HOST_MAX];)
{
    int err;

    CIO_BEGIN();
    CIO_AWAIT(cio_getaddrinfo(loop, self->host[0] ? self->host : NULL, self->port,
                              AF_UNSPEC, SOCK_STREAM, AI_PASSIVE | AI_ADDRCONFIG));
    self->ai = CIO_RESULT.p;
    err = bind_tcp(self->srv, self->ai, self->has_opts ? &self->opts : NULL);
    if (err != 0)
        CIO_RAISE(err);
    CIO_RETURN_PTR(self->srv);
    CIO_FINALLY();
    cio_freeaddrinfo(self->ai);
    if (CIO_ERROR != 0 && self->srv != NULL) {
        srv_free(self->srv);
        self->srv = NULL;
    }
    CIO_END();
}

cio_future *cio_start_server(cio_loop *loop, const char *host, int port,
                             cio_client_fn client, void *arg,
                             const cio_server_options *opts)
{
    start_server_task fr;
    cio_server *srv;
    cio_future *t;

    if (loop == NULL || loop->closed)
        return NULL;
    if (client == NULL || port < 0 || port > 65535
        || (host != NULL && strlen(host) >= HOST_MAX))
        return cio__future_failed(loop, CIO_EINVAL);
    srv = srv_new(loop, client, arg, opts);
    if (srv == NULL)
        return NULL;
    memset(&fr, 0, sizeof fr);
    fr.srv = srv;
    fr.port = port;
    if (opts != NULL) {
        fr.opts = *opts;
        fr.has_opts = 1;
    }
    if (host != NULL)
        strcpy(fr.host, host);
    t = cio_task_new(loop, &start_server_task__type, &fr);
    if (t == NULL)
        srv_free(srv);
    return t;
}

cio_future *cio_start_unix_server(cio_loop *loop, const char *path, cio_client_fn client,
                                  void *arg, const cio_server_options *opts)
{
    struct sockaddr_un sun;
    cio_server *srv;
    struct stat st;
    cio_value v;
    int fd, err;

    if (loop == NULL || loop->closed)
        return NULL;
    if (client == NULL || path == NULL || strlen(path) >= sizeof sun.sun_path)
        return cio__future_failed(loop, CIO_EINVAL);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, path);
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cio__future_failed(loop, -errno);
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        err = -errno;
        close(fd);
        return cio__future_failed(loop, err);
    }
    srv = srv_new(loop, client, arg, opts);
    if (srv == NULL) {
        close(fd);
        unlink(path);
        return NULL;
    }
    srv->unix_path = cio_alloc(strlen(path) + 1);
    if (srv->unix_path != NULL)
        strcpy(srv->unix_path, path);
    err = listen_on(srv, fd, opts != NULL && opts->backlog > 0 ? opts->backlog : 511);
    if (err != 0) {
        srv_free(srv);
        return cio__future_failed(loop, err);
    }
    v.p = srv;
    {
        cio_future *f = cio__future_done(loop, v);

        if (f == NULL)
            srv_free(srv);
        return f;
    }
}

int cio_server_port(const cio_server *srv)
{
    return srv != NULL ? srv->port : 0;
}

size_t cio_server_connections(const cio_server *srv)
{
    return srv != NULL ? srv->conns : 0;
}

cio_future *cio_server_close(cio_server *srv)
{
    cio__net *net;
    cio_stream *s;
    cio_future *f;

    if (srv == NULL || srv->closing)
        return NULL;
    net = srv->loop->net;
    f = cio_future_new(srv->loop);
    srv->closing = 1;
    close_listeners(srv);
    for (s = net != NULL ? net->streams : NULL; s != NULL; s = s->next)
        if (s->server == srv && s->handler != NULL)
            cio_future_cancel(s->handler, NULL);
    if (f != NULL)
        srv->closed = cio_future_ref(f);
    if (srv->conns == 0)
        srv_free(srv);
    return f;
}

/* ---- open_connection ---- */

CIO_ASYNC(open_connection_task,
          int port; size_t limit; struct addrinfo *ai; struct addrinfo *a; int fd;
          int err; char path[108]; char host[HOST_MAX];)
{
    cio_stream *s;
    int one = 1;

    CIO_BEGIN();
    self->fd = -1;
    if (self->path[0] != '\0') {
        struct sockaddr_un sun;

        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        strcpy(sun.sun_path, self->path);
        self->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (self->fd < 0)
            CIO_RAISE(-errno);
        CIO_AWAIT(cio_sock_connect(loop, self->fd, (struct sockaddr *)&sun, sizeof sun));
    } else {
        CIO_AWAIT(cio_getaddrinfo(loop, self->host, self->port, AF_UNSPEC, SOCK_STREAM,
                                  0));
        self->ai = CIO_RESULT.p;
        self->err = -ENOENT;
        for (self->a = self->ai; self->a != NULL; self->a = self->a->ai_next) {
            self->fd = socket(self->a->ai_family,
                              self->a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                              self->a->ai_protocol);
            if (self->fd < 0) {
                self->err = -errno;
                continue;
            }
            CIO_AWAIT_TRY(cio_sock_connect(loop, self->fd, self->a->ai_addr,
                                           self->a->ai_addrlen));
            if (CIO_ERROR == 0)
                break;
            if (CIO_ERROR == CIO_ECANCELLED)
                CIO_RAISE(CIO_ECANCELLED);
            self->err = CIO_ERROR;
            close(self->fd);
            self->fd = -1;
        }
        if (self->fd < 0)
            CIO_RAISE(self->err);
        setsockopt(self->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    s = cio__stream_new(loop, self->fd, self->limit);
    if (s == NULL)
        CIO_RAISE(CIO_ENOMEM);
    self->fd = -1;                      /* the stream's now */
    CIO_RETURN_PTR(s);
    CIO_FINALLY();
    if (self->fd >= 0)
        close(self->fd);
    cio_freeaddrinfo(self->ai);
    CIO_END();
}

cio_future *cio_open_connection(cio_loop *loop, const char *host, int port, size_t limit)
{
    open_connection_task fr;

    if (loop == NULL || loop->closed)
        return NULL;
    if (host == NULL || strlen(host) >= HOST_MAX || port <= 0 || port > 65535)
        return cio__future_failed(loop, CIO_EINVAL);
    memset(&fr, 0, sizeof fr);
    strcpy(fr.host, host);
    fr.port = port;
    fr.limit = limit;
    return cio_task_new(loop, &open_connection_task__type, &fr);
}

cio_future *cio_open_unix_connection(cio_loop *loop, const char *path, size_t limit)
{
    open_connection_task fr;

    if (loop == NULL || loop->closed)
        return NULL;
    if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof fr.path)
        return cio__future_failed(loop, CIO_EINVAL);
    memset(&fr, 0, sizeof fr);
    strcpy(fr.path, path);
    fr.limit = limit;
    return cio_task_new(loop, &open_connection_task__type, &fr);
}
