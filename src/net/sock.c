/* sock.c - awaitable socket operations: asyncio's loop.sock_recv,
 * sock_sendall, sock_connect, sock_accept.
 *
 * Each operation is one pooled object: a future plus a readiness watcher.
 * The system call is tried at once; only EAGAIN makes it wait, and the
 * watcher's node retries it from the ready queue. EINTR is retried at once.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>
#include "net/net.h"

enum { OP_RECV, OP_SEND, OP_CONNECT, OP_ACCEPT };

typedef struct sock_op {
    cio_future fut;
    cio__io io;
    uint8_t kind;
    char *buf;
    size_t len, done;
} sock_op;

static int op_cancel(cio_future *f, const char *msg);
static void op_destroy(cio_future *f);

static const cio__future_vt op_vt = {
    .kind = "SockOp", .settable = 0, .cancel = op_cancel, .destroy = op_destroy
};

#define OP(f) ((sock_op *)(void *)(f))

int cio_sock_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -errno;
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
    {
        int one = 1;

        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
    }
#endif
    return 0;
}

static int op_cancel(cio_future *f, const char *msg)
{
    cio__io_stop(f->loop, &OP(f)->io);
    return cio__future_cancel_plain(f, msg);
}

static void op_destroy(cio_future *f)
{
    cio__io_stop(f->loop, &OP(f)->io);
    cio__pool_free(f->loop, f, sizeof(sock_op));
}

static void op_finish(sock_op *op, int err, ptrdiff_t i)
{
    cio_value v;

    cio__io_stop(op->fut.loop, &op->io);
    v.p = NULL;
    v.i = i;
    cio__future_finish(&op->fut, CIO__DONE, err, v);
}

/* One attempt: 1 done (finished), 0 would block. */
static int op_try(sock_op *op)
{
    int fd = op->io.fd;
    ssize_t n;

    for (;;) {
        switch (op->kind) {
        case OP_RECV:
            n = recv(fd, op->buf, op->len, 0);
            if (n >= 0) {
                op_finish(op, 0, n);
                return 1;
            }
            break;
        case OP_SEND:
            n = send(fd, op->buf + op->done, op->len - op->done, CIO__SEND_FLAGS);
            if (n >= 0) {
                op->done += (size_t)n;
                if (op->done == op->len) {
                    op_finish(op, 0, (ptrdiff_t)op->len);
                    return 1;
                }
                continue;               /* partial: go on in order */
            }
            break;
        case OP_CONNECT: {
            int soerr = 0;
            socklen_t sl = sizeof soerr;

            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            op_finish(op, soerr ? -soerr : 0, 0);
            return 1;
        }
        case OP_ACCEPT: {
            int c;
#ifdef SOCK_NONBLOCK
            c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
            c = accept(fd, NULL, NULL);
            if (c >= 0 && cio_sock_nonblocking(c) != 0) {
                close(c);
                c = -1;
            }
#endif
            if (c >= 0) {
                op_finish(op, 0, c);
                return 1;
            }
            if (errno == ECONNABORTED)
                continue;
            break;
        }
        }
        if (errno == EINTR)
            continue;
        if (CIO__WOULD_BLOCK(errno))
            return 0;
        op_finish(op, -errno, 0);
        return 1;
    }
}

static void op_ready(cio_loop *loop, cio__node *node)
{
    sock_op *op = CIO__CONTAINER_OF(node, sock_op, io.node);

    cio__io_take(&op->io);
    if (loop->closing || op->fut.state != CIO__PENDING)
        return;
    op_try(op);
}

static cio_future *op_start(cio_loop *loop, int fd, int kind, char *buf, size_t len)
{
    sock_op *op;
    int err;

    if (loop == NULL || loop->closed)
        return NULL;
    if (fd < 0)
        return cio__future_failed(loop, -EBADF);
    op = cio__pool_alloc(loop, sizeof *op);
    if (op == NULL)
        return NULL;
    cio__future_init(&op->fut, loop, &op_vt);
    cio__io_init(&op->io, fd, op_ready);
    op->kind = (uint8_t)kind;
    op->buf = buf;
    op->len = len;
    op->done = 0;
    if (kind == OP_CONNECT || !op_try(op)) {
        err = cio__io_set(loop, &op->io, kind == OP_SEND || kind == OP_CONNECT
                                         ? CIO__IO_WRITE : CIO__IO_READ);
        if (err != 0)
            op_finish(op, err, 0);
    }
    return &op->fut;
}

cio_future *cio_sock_recv(cio_loop *loop, int fd, void *buf, size_t len)
{
    if (buf == NULL && len > 0)
        return loop != NULL ? cio__future_failed(loop, CIO_EINVAL) : NULL;
    return op_start(loop, fd, OP_RECV, buf, len);
}

cio_future *cio_sock_sendall(cio_loop *loop, int fd, const void *buf, size_t len)
{
    cio_value v;

    if (buf == NULL && len > 0)
        return loop != NULL ? cio__future_failed(loop, CIO_EINVAL) : NULL;
    if (len == 0 && loop != NULL && !loop->closed) {
        v.p = NULL;
        v.i = 0;
        return cio__future_done(loop, v);
    }
    return op_start(loop, fd, OP_SEND, (char *)(uintptr_t)buf, len);
}

cio_future *cio_sock_accept(cio_loop *loop, int fd)
{
    return op_start(loop, fd, OP_ACCEPT, NULL, 0);
}

cio_future *cio_sock_connect(cio_loop *loop, int fd, const struct sockaddr *addr,
                             size_t addrlen)
{
    if (loop == NULL || loop->closed)
        return NULL;
    if (addr == NULL || addrlen == 0)
        return cio__future_failed(loop, CIO_EINVAL);
    for (;;) {
        if (connect(fd, addr, (socklen_t)addrlen) == 0) {
            cio_value v;

            v.p = NULL;
            v.i = 0;
            return cio__future_done(loop, v);
        }
        if (errno == EINTR)
            continue;   /* Linux: retrying gives EALREADY, handled below */
        if (errno == EINPROGRESS || errno == EALREADY || errno == EAGAIN)
            return op_start(loop, fd, OP_CONNECT, NULL, 0);
        return cio__future_failed(loop, -errno);
    }
}
