/* stream.c - buffered streams: asyncio's StreamReader and StreamWriter.
 *
 * One watcher per stream, on for reading while the buffer is below twice
 * the limit (or a read needs more) and for writing while bytes wait to be
 * sent. Readiness runs from the ready queue: one recv per readiness, then
 * the pending read is tried. A read's bytes are never copied: they stay in
 * the buffer (rbuf[res_off, +res_len)) until the next read call, and the
 * buffer is compacted only behind them.
 *
 * Each stream has three built-in futures (read, drain, close), handed out
 * without allocating when free; a second one alive at the same time comes
 * from the pool. A future handed out pins the stream.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "net/stream.h"

enum { OP_NONE, OP_READ, OP_EXACTLY, OP_UNTIL, OP_LINE, OP_WAIT };

#define RECV_MIN  2048u         /* free space a recv wants */
#define RBUF_MIN  4096u         /* first read buffer */

static void stream_free(cio_stream *s);
static void close_fd(cio_stream *s);
static void update_io(cio_stream *s);
static int rfut_cancel(cio_future *f, const char *msg);
static int dfut_cancel(cio_future *f, const char *msg);
static void rfut_destroy(cio_future *f);
static void dfut_destroy(cio_future *f);
static void cfut_destroy(cio_future *f);

static const cio__future_vt rfut_vt = {
    .kind = "StreamRead", .cancel = rfut_cancel, .destroy = rfut_destroy
};
static const cio__future_vt dfut_vt = {
    .kind = "StreamDrain", .cancel = dfut_cancel, .destroy = dfut_destroy
};
static const cio__future_vt cfut_vt = {
    .kind = "StreamClose", .destroy = cfut_destroy
};

static cio_value int_value(ptrdiff_t i)
{
    cio_value v;

    v.p = NULL;
    v.i = i;
    return v;
}

static void stream_pin(cio_stream *s)
{
    s->refs++;
}

void cio__stream_unref(cio_stream *s)
{
    if (--s->refs == 0)
        stream_free(s);
}

/* ---- built-in futures ---- */

static void rfut_destroy(cio_future *f)
{
    cio__stream_unref(CIO__CONTAINER_OF(f, cio_stream, rfut));
}

static void dfut_destroy(cio_future *f)
{
    cio__stream_unref(CIO__CONTAINER_OF(f, cio_stream, dfut));
}

static void cfut_destroy(cio_future *f)
{
    cio__stream_unref(CIO__CONTAINER_OF(f, cio_stream, cfut));
}

/* A future for the stream: the built-in one if free (pinning the stream),
 * else a pooled one; `hold` takes a reference for the stream too. */
static cio_future *stream_future(cio_stream *s, cio_future *builtin,
                                 const cio__future_vt *vt, int hold)
{
    cio_future *f;

    cio__release_if_awaited(s->loop, builtin);
    if (cio__refs(builtin) == 0) {
        cio__future_init(builtin, s->loop, vt);
        builtin->flags = CIO__FF_STATIC;
        stream_pin(s);
        return builtin;
    }
    f = cio_future_new(s->loop);
    if (f != NULL && hold)
        cio_future_ref(f);
    return f;
}

/* Let go of the stream's own hold on f (pooled futures only). */
static void future_drop(cio_stream *s, cio_future *f, cio_future *builtin)
{
    (void)s;
    if (f != builtin)
        cio_future_unref(f);
}

/* ---- reading ---- */

static size_t unread(const cio_stream *s)
{
    return s->rend - s->rpos;
}

static int want_read(const cio_stream *s)
{
    if (s->fd < 0 || (s->flags & (SF_EOF | SF_GONE)) || s->err != 0)
        return 0;
    return s->op != OP_NONE || unread(s) < 2 * s->limit;
}

static void update_io(cio_stream *s)
{
    unsigned ev = 0;

    if (s->fd < 0)
        return;
    if (want_read(s))
        ev |= CIO__IO_READ;
    if (s->wend > s->wpos)
        ev |= CIO__IO_WRITE;
    cio__io_set(s->loop, &s->io, ev);
}

/* Finish the pending read with err and a result of len bytes. */
static void op_complete(cio_stream *s, int err, size_t len)
{
    cio_future *f = s->op_fut;

    s->op = OP_NONE;
    s->op_fut = NULL;
    if (f == NULL)
        return;
    if (f->state == CIO__PENDING)
        cio__future_finish(f, CIO__DONE, err, int_value(err ? 0 : (ptrdiff_t)len));
    future_drop(s, f, &s->rfut);
}

/* Consume len bytes as the read's result. */
static void take(cio_stream *s, size_t len)
{
    s->res_off = s->rpos;
    s->res_len = len;
    s->rpos += len;
}

static const char *find_sep(const cio_stream *s, size_t from)
{
    const char *p, *end;

    if (s->rbuf == NULL || s->rpos + from >= s->rend)
        return NULL;
    p = s->rbuf + s->rpos + from;
    end = s->rbuf + s->rend;
    if (s->seplen == 1)
        return memchr(p, s->sep[0], (size_t)(end - p));
    while ((size_t)(end - p) >= s->seplen) {
        const char *q = memchr(p, s->sep[0], (size_t)(end - p) - s->seplen + 1);

        if (q == NULL)
            return NULL;
        if (memcmp(q, s->sep, s->seplen) == 0)
            return q;
        p = q + 1;
    }
    return NULL;
}

/* Try to complete the pending read from the buffer: 1 if it completed. */
static int try_op(cio_stream *s)
{
    size_t avail = unread(s);
    int eof = (s->flags & SF_EOF) != 0;

    if (s->op_fut != NULL && s->op_fut->state != CIO__PENDING) {
        op_complete(s, 0, 0);           /* a pooled future was cancelled */
        return 1;
    }
    if (s->err != 0) {
        op_complete(s, s->err, 0);
        return 1;
    }
    switch (s->op) {
    case OP_NONE:
        return 1;
    case OP_READ:
        if (s->op_n == 0 || (s->op_n != (size_t)-1 && avail > 0)) {
            size_t n = avail < s->op_n ? avail : s->op_n;

            take(s, n);
            op_complete(s, 0, n);
            return 1;
        }
        if (eof) {
            take(s, avail);
            op_complete(s, 0, avail);
            return 1;
        }
        return 0;
    case OP_EXACTLY:
        if (avail >= s->op_n) {
            take(s, s->op_n);
            op_complete(s, 0, s->op_n);
            return 1;
        }
        if (eof) {
            take(s, avail);
            op_complete(s, CIO_EINCOMPLETE, 0);
            return 1;
        }
        return 0;
    case OP_UNTIL:
    case OP_LINE: {
        const char *p = find_sep(s, s->scan);

        if (p != NULL) {
            size_t len = (size_t)(p - (s->rbuf + s->rpos)) + s->seplen;

            if (len > s->limit) {
                op_complete(s, CIO_ELIMIT, 0);     /* the data stays */
                return 1;
            }
            take(s, len);
            op_complete(s, 0, len);
            return 1;
        }
        s->scan = avail >= s->seplen ? avail - s->seplen + 1 : 0;
        if (s->scan > s->limit) {
            op_complete(s, CIO_ELIMIT, 0);
            return 1;
        }
        if (eof) {
            take(s, avail);
            if (s->op == OP_LINE)
                op_complete(s, 0, avail);           /* readline: what is left */
            else
                op_complete(s, CIO_EINCOMPLETE, 0);
            return 1;
        }
        return 0;
    }
    case OP_WAIT:
        if (avail > 0 || eof) {
            op_complete(s, 0, avail);
            return 1;
        }
        return 0;
    }
    return 1;
}

/* Make room for a recv (or for readexactly's n bytes). */
static int make_room(cio_stream *s)
{
    size_t keep = s->res_len ? s->res_off : s->rpos;
    size_t live = s->rend - keep, need, cap;
    char *nb;

    if (keep == s->rend) {                  /* nothing to keep */
        s->rpos = s->rend = s->res_off = 0;
        keep = 0;
        live = 0;
    }
    need = live + RECV_MIN;
    if (s->op == OP_EXACTLY && s->op_n + (s->rpos - keep) > live)
        need = s->op_n + (s->rpos - keep);
    if (s->rcap - s->rend >= RECV_MIN && s->rcap - keep >= need)
        return 0;
    if (keep > 0 && s->rcap >= need) {      /* slide down, behind the result */
        memmove(s->rbuf, s->rbuf + keep, live);
        s->rpos -= keep;
        s->rend -= keep;
        s->res_off = s->res_off >= keep ? s->res_off - keep : 0;
        return 0;
    }
    cap = s->rcap ? s->rcap * 2 : RBUF_MIN;
    while (cap < need)
        cap *= 2;
    nb = cio_alloc(cap);
    if (nb == NULL)
        return CIO_ENOMEM;
    if (live > 0)
        memcpy(nb, s->rbuf + keep, live);
    if (s->rbuf != NULL)
        cio_free(s->rbuf, s->rcap);
    s->rbuf = nb;
    s->rcap = cap;
    s->rpos -= keep;
    s->rend -= keep;
    s->res_off = s->res_off >= keep ? s->res_off - keep : 0;
    return 0;
}

static void set_error(cio_stream *s, int err);

static void do_recv(cio_stream *s)
{
    size_t room;
    ssize_t n;
    int err;

    if ((err = make_room(s)) != 0) {
        set_error(s, err);
        return;
    }
    /* Without a read waiting, buffer ahead only up to twice the limit. */
    room = s->rcap - s->rend;
    if (s->op == OP_NONE) {
        size_t ahead = unread(s) < 2 * s->limit ? 2 * s->limit - unread(s) : 0;

        if (ahead < RECV_MIN)
            ahead = RECV_MIN;
        if (room > ahead)
            room = ahead;
    }
    for (;;) {
        n = recv(s->fd, s->rbuf + s->rend, room, 0);
        if (n > 0) {
            s->rend += (size_t)n;
            return;
        }
        if (n == 0) {
            s->flags |= SF_EOF;
            return;
        }
        if (errno == EINTR)
            continue;
        if (!CIO__WOULD_BLOCK(errno))
            set_error(s, -errno);
        return;
    }
}

/* ---- the read deadline ---- */

static void deadline_fire(cio_loop *loop, cio__node *node)
{
    cio_stream *s = CIO__CONTAINER_OF(node, cio_stream, dl.node);

    cio__timer_fired(&s->dl);
    if (loop->closing || s->op == OP_NONE || s->deadline <= 0)
        return;
    if (cio_loop_time(loop) >= s->deadline) {
        op_complete(s, CIO_ETIMEDOUT, 0);
        update_io(s);
    } else {
        cio__timer_start(loop, &s->dl, s->deadline, deadline_fire);
    }
}

/* The pending read waits: make the deadline count. 1 if it passed. */
static int arm_deadline(cio_stream *s)
{
    if (s->deadline <= 0)
        return 0;
    if (cio_loop_time(s->loop) >= s->deadline)
        return 1;
    if (s->dl.idx == CIO__TIMER_IDLE
        || (s->dl.idx != CIO__TIMER_QUEUED && s->dl.when > s->deadline))
        cio__timer_start(s->loop, &s->dl, s->deadline, deadline_fire);
    return 0;
}

int cio_stream_set_timeout(cio_stream *s, double seconds)
{
    if (s == NULL || seconds != seconds)
        return CIO_EINVAL;
    s->deadline = seconds < 0 ? 0 : cio_loop_time(s->loop) + seconds;
    if (s->op != OP_NONE && arm_deadline(s)) {
        op_complete(s, CIO_ETIMEDOUT, 0);
        update_io(s);
    }
    return 0;
}

/* ---- starting a read ---- */

static cio_future *start_read(cio_stream *s, int op, size_t n, const void *sep, size_t seplen)
{
    cio_future *f;

    if (s == NULL)
        return NULL;
    if (s->op != OP_NONE && s->op_fut != NULL && s->op_fut->state != CIO__PENDING)
        op_complete(s, 0, 0);           /* its pooled future was cancelled */
    if (s->op != OP_NONE)
        return cio__future_failed(s->loop, CIO_EBUSY);
    if (s->flags & SF_GONE)
        return cio__future_failed(s->loop, CIO_ECLOSED);
    s->res_len = 0;                     /* the last result goes */
    f = stream_future(s, &s->rfut, &rfut_vt, 1);
    if (f == NULL)
        return NULL;
    s->op = (uint8_t)op;
    s->op_n = n;
    s->scan = 0;
    s->seplen = (uint8_t)seplen;
    if (seplen > 0)
        memcpy(s->sep, sep, seplen);
    s->op_fut = f;
    if (!try_op(s) && arm_deadline(s))
        op_complete(s, CIO_ETIMEDOUT, 0);
    update_io(s);
    return f;
}

cio_future *cio_stream_read(cio_stream *s, ptrdiff_t n)
{
    return start_read(s, OP_READ, n < 0 ? (size_t)-1 : (size_t)n, NULL, 0);
}

cio_future *cio_stream_readexactly(cio_stream *s, size_t n)
{
    return start_read(s, OP_EXACTLY, n, NULL, 0);
}

cio_future *cio_stream_readuntil(cio_stream *s, const void *sep, size_t seplen)
{
    if (s != NULL && (sep == NULL || seplen == 0 || seplen > CIO__SEP_MAX))
        return cio__future_failed(s->loop, CIO_EINVAL);
    return start_read(s, OP_UNTIL, 0, sep, seplen);
}

cio_future *cio_stream_readline(cio_stream *s)
{
    return start_read(s, OP_LINE, 0, "\n", 1);
}

cio_future *cio_stream_wait_data(cio_stream *s)
{
    return start_read(s, OP_WAIT, 0, NULL, 0);
}

static int rfut_cancel(cio_future *f, const char *msg)
{
    cio_stream *s = CIO__CONTAINER_OF(f, cio_stream, rfut);

    if (s->op_fut == f) {
        s->op = OP_NONE;
        s->op_fut = NULL;
        update_io(s);
    }
    return cio__future_cancel_plain(f, msg);
}

const char *cio_stream_data(const cio_stream *s, size_t *len)
{
    if (s == NULL || s->res_len == 0) {
        if (len != NULL)
            *len = 0;
        return s != NULL && s->rbuf != NULL ? s->rbuf + s->res_off : "";
    }
    if (len != NULL)
        *len = s->res_len;
    return s->rbuf + s->res_off;
}

int cio_stream_at_eof(const cio_stream *s)
{
    return s != NULL && (s->flags & SF_EOF) && unread(s) == 0;
}

size_t cio_stream_buffered(const cio_stream *s)
{
    return s != NULL ? unread(s) : 0;
}

int cio_stream_error(const cio_stream *s)
{
    return s != NULL ? s->err : CIO_EINVAL;
}

int cio_stream_fd(const cio_stream *s)
{
    return s != NULL ? s->fd : -1;
}

/* ---- feeding by hand ---- */

int cio_stream_feed_data(cio_stream *s, const void *data, size_t len)
{
    int err;

    if (s == NULL || (data == NULL && len > 0))
        return CIO_EINVAL;
    if (!(s->flags & SF_FED))
        return CIO_ENOTSUP;
    if (s->flags & SF_EOF)
        return CIO_EINVALSTATE;
    if (len == 0)
        return 0;
    if (s->rcap - s->rend < len) {
        size_t keep = s->res_len ? s->res_off : s->rpos;

        if (s->rcap - (s->rend - keep) < len || keep == 0) {
            size_t cap = s->rcap ? s->rcap : RBUF_MIN;
            char *nb;

            while (cap < s->rend - keep + len)
                cap *= 2;
            nb = cio_alloc(cap);
            if (nb == NULL)
                return CIO_ENOMEM;
            if (s->rend > keep)
                memcpy(nb, s->rbuf + keep, s->rend - keep);
            cio_free(s->rbuf, s->rcap);
            s->rbuf = nb;
            s->rcap = cap;
        } else {
            memmove(s->rbuf, s->rbuf + keep, s->rend - keep);
        }
        s->rpos -= keep;
        s->rend -= keep;
        s->res_off = s->res_off >= keep ? s->res_off - keep : 0;
    }
    memcpy(s->rbuf + s->rend, data, len);
    s->rend += len;
    if (s->op != OP_NONE)
        try_op(s);
    (void)err;
    return 0;
}

int cio_stream_feed_eof(cio_stream *s)
{
    if (s == NULL)
        return CIO_EINVAL;
    if (!(s->flags & SF_FED))
        return CIO_ENOTSUP;
    s->flags |= SF_EOF;
    if (s->op != OP_NONE)
        try_op(s);
    return 0;
}

/* ---- errors ---- */

static void drain_finish(cio_stream *s, int err)
{
    cio_future *f = s->drain_fut;

    if (f == NULL)
        return;
    s->drain_fut = NULL;
    if (f->state == CIO__PENDING)
        cio__future_finish(f, CIO__DONE, err, int_value(0));
    future_drop(s, f, &s->dfut);
}

static void set_error(cio_stream *s, int err)
{
    if (s->err == 0)
        s->err = err;
    s->wpos = s->wend = 0;              /* nothing more will be sent */
    if (s->op != OP_NONE)
        op_complete(s, s->err, 0);
    drain_finish(s, s->err);
    if (s->flags & SF_GONE)
        close_fd(s);
    else
        update_io(s);
}

int cio_stream_set_error(cio_stream *s, int err)
{
    if (s == NULL || err >= 0)
        return CIO_EINVAL;
    set_error(s, err);
    return 0;
}

/* ---- writing ---- */

/* Send what is buffered; may close the socket (closing) or fail it. */
static void do_send(cio_stream *s)
{
    ssize_t n;

    while (s->wpos < s->wend) {
        n = send(s->fd, s->wbuf + s->wpos, s->wend - s->wpos, CIO__SEND_FLAGS);
        if (n > 0) {
            s->wpos += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (CIO__WOULD_BLOCK(errno)))
            break;
        set_error(s, n < 0 ? -errno : -EPIPE);
        return;
    }
    if (s->wpos == s->wend) {
        s->wpos = s->wend = 0;
        if (s->wcap > (1u << 20)) {     /* a burst is over: give it back */
            cio_free(s->wbuf, s->wcap);
            s->wbuf = NULL;
            s->wcap = 0;
        }
        if ((s->flags & (SF_WEOF | SF_WEOF_SENT)) == SF_WEOF) {
            shutdown(s->fd, SHUT_WR);
            s->flags |= SF_WEOF_SENT;
        }
    }
    if (s->drain_fut != NULL && s->wend - s->wpos <= s->low)
        drain_finish(s, 0);
    if (s->wpos == s->wend && (s->flags & SF_GONE))
        close_fd(s);
}

int cio_stream_write(cio_stream *s, const void *data, size_t len)
{
    const char *p = data;
    ssize_t n;

    if (s == NULL || (data == NULL && len > 0))
        return CIO_EINVAL;
    if (s->flags & SF_FED)
        return CIO_ENOTSUP;
    if (s->flags & (SF_GONE | SF_WEOF))
        return CIO_ECLOSED;
    if (s->err != 0)
        return s->err;
    if (len == 0)
        return 0;
    if (s->wend == s->wpos) {           /* nothing waits: send now */
        for (;;) {
            n = send(s->fd, p, len, CIO__SEND_FLAGS);
            if (n >= 0)
                break;
            if (errno == EINTR)
                continue;
            if (CIO__WOULD_BLOCK(errno)) {
                n = 0;
                break;
            }
            set_error(s, -errno);
            return s->err;
        }
        if ((size_t)n == len)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    if (s->wcap - s->wend < len) {
        size_t live = s->wend - s->wpos, cap;
        char *nb;

        if (s->wcap >= live + len && s->wpos > 0) {
            memmove(s->wbuf, s->wbuf + s->wpos, live);
        } else {
            cap = s->wcap ? s->wcap * 2 : 16384;
            while (cap < live + len)
                cap *= 2;
            nb = cio_alloc(cap);
            if (nb == NULL)
                return CIO_ENOMEM;
            if (live > 0)
                memcpy(nb, s->wbuf + s->wpos, live);
            if (s->wbuf != NULL)
                cio_free(s->wbuf, s->wcap);
            s->wbuf = nb;
            s->wcap = cap;
        }
        s->wpos = 0;
        s->wend = live;
    }
    memcpy(s->wbuf + s->wend, p, len);
    s->wend += len;
    update_io(s);
    return 0;
}

size_t cio_stream_write_buffered(const cio_stream *s)
{
    return s != NULL ? s->wend - s->wpos : 0;
}

int cio_stream_set_write_limits(cio_stream *s, size_t high, size_t low)
{
    if (s == NULL)
        return CIO_EINVAL;
    if (high == 0)
        high = 65536;
    if (low == 0)
        low = high / 4;
    if (low > high)
        return CIO_EINVAL;
    s->high = high;
    s->low = low;
    if (s->drain_fut != NULL && s->wend - s->wpos <= s->low)
        drain_finish(s, 0);
    return 0;
}

cio_future *cio_stream_drain(cio_stream *s)
{
    cio_future *f;

    if (s == NULL)
        return NULL;
    if (s->err != 0)
        return cio__future_failed(s->loop, s->err);
    if (s->drain_fut != NULL)
        return cio_future_ref(s->drain_fut);
    f = stream_future(s, &s->dfut, &dfut_vt, s->wend - s->wpos > s->high);
    if (f == NULL)
        return NULL;
    if (s->wend - s->wpos > s->high && !(s->flags & SF_FED))
        s->drain_fut = f;               /* finished when the buffer is low */
    else
        cio__future_finish(f, CIO__DONE, 0, int_value(0));
    return f;
}

static int dfut_cancel(cio_future *f, const char *msg)
{
    cio_stream *s = CIO__CONTAINER_OF(f, cio_stream, dfut);

    if (s->drain_fut == f)
        s->drain_fut = NULL;
    return cio__future_cancel_plain(f, msg);
}

int cio_stream_write_eof(cio_stream *s)
{
    if (s == NULL)
        return CIO_EINVAL;
    if (s->flags & SF_FED)
        return CIO_ENOTSUP;
    if (s->flags & (SF_GONE | SF_FD_CLOSED))
        return CIO_ECLOSED;
    if (s->flags & SF_WEOF)
        return 0;
    s->flags |= SF_WEOF;
    if (s->wend == s->wpos && s->fd >= 0) {
        shutdown(s->fd, SHUT_WR);
        s->flags |= SF_WEOF_SENT;
    }
    return 0;
}

/* ---- readiness ---- */

static void io_ready(cio_loop *loop, cio__node *node)
{
    cio_stream *s = CIO__CONTAINER_OF(node, cio_stream, io.node);
    unsigned rev = cio__io_take(&s->io);

    if (loop->closing)
        return;
    stream_pin(s);                      /* closing may drop the last reference */
    if ((rev & CIO__IO_WRITE) && s->fd >= 0)
        do_send(s);
    if ((rev & CIO__IO_READ) && s->fd >= 0 && want_read(s)) {
        do_recv(s);
        if (s->op != OP_NONE)
            try_op(s);
    }
    update_io(s);
    cio__stream_unref(s);
}

/* ---- life ---- */

cio_stream *cio__stream_new(cio_loop *loop, int fd, size_t limit)
{
    cio__net *net;
    cio_stream *s;

    if (loop == NULL || loop->closed || (net = cio__net_get(loop)) == NULL)
        return NULL;
    s = cio__pool_alloc(loop, sizeof *s);
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->fd = fd;
    s->refs = 1;
    s->limit = limit ? limit : CIO_STREAM_LIMIT;
    s->high = 65536;
    s->low = 16384;
    if (fd < 0)
        s->flags = SF_FED;
    cio__io_init(&s->io, fd, io_ready);
    cio__timer_init(&s->dl);
    s->next = net->streams;
    if (net->streams != NULL)
        net->streams->prev = s;
    net->streams = s;
    update_io(s);
    return s;
}

cio_stream *cio_stream_new(cio_loop *loop, size_t limit)
{
    return cio__stream_new(loop, -1, limit);
}

cio_stream *cio_stream_from_fd(cio_loop *loop, int fd, size_t limit)
{
    cio_stream *s;

    if (fd < 0)
        return NULL;
    if (loop == NULL || cio_sock_nonblocking(fd) != 0
        || (s = cio__stream_new(loop, fd, limit)) == NULL) {
        close(fd);
        return NULL;
    }
    return s;
}

/* Close the socket (once); the closing owner's reference goes with it. */
static void close_fd(cio_stream *s)
{
    cio__net *net = s->loop->net;
    int was_open = !(s->flags & SF_FD_CLOSED);

    if (s->fd >= 0) {
        cio__io_stop(s->loop, &s->io);
        close(s->fd);
        s->fd = -1;
        if (net != NULL && net->accept_paused)
            cio__servers_fd_freed(s->loop, net);
    }
    s->flags |= SF_FD_CLOSED;
    if (!was_open)
        return;
    if (s->op != OP_NONE)
        op_complete(s, s->err ? s->err : CIO_ECLOSED, 0);
    drain_finish(s, s->err ? s->err : CIO_ECLOSED);
    if (cio__refs(&s->cfut) > 0 && s->cfut.state == CIO__PENDING)
        cio__future_finish(&s->cfut, CIO__DONE, 0, int_value(0));
    if (s->flags & SF_GONE)
        cio__stream_unref(s);           /* the owner's, kept while closing */
}

/* The owner lets go: close now, or once the buffer is sent. */
static cio_future *give_up(cio_stream *s, int abort_now)
{
    cio_future *f = NULL;

    if (s == NULL || (s->flags & SF_GONE))
        return NULL;
    s->flags |= SF_GONE;
    if (cio__refs(&s->cfut) == 0) {
        cio__future_init(&s->cfut, s->loop, &cfut_vt);
        s->cfut.flags = CIO__FF_STATIC;
        stream_pin(s);
        f = &s->cfut;
    }
    stream_pin(s);                      /* until this function returns */
    if (s->op != OP_NONE)
        op_complete(s, CIO_ECLOSED, 0);
    if (abort_now || s->fd < 0 || s->err != 0 || s->wend == s->wpos) {
        s->wpos = s->wend = 0;
        close_fd(s);
    } else {
        update_io(s);                   /* reading stops; the rest is sent */
    }
    cio__stream_unref(s);
    return f;
}

cio_future *cio_stream_close(cio_stream *s)
{
    return give_up(s, 0);
}

void cio_stream_abort(cio_stream *s)
{
    cio_future_unref(give_up(s, 1));
}

static void stream_free(cio_stream *s)
{
    cio_loop *loop = s->loop;
    cio__net *net = loop->net;

    if (s->fd >= 0) {
        cio__io_stop(loop, &s->io);
        close(s->fd);
        s->fd = -1;
    }
    cio__timer_forget(loop, &s->dl);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else if (net != NULL)
        net->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->rbuf != NULL)
        cio_free(s->rbuf, s->rcap);
    if (s->wbuf != NULL)
        cio_free(s->wbuf, s->wcap);
    if (s->server != NULL)
        cio__server_stream_gone(s->server);
    cio__pool_free(loop, s, sizeof *s);
}

/* The loop is being freed: every stream goes, whoever holds it. */
void cio__streams_free_all(cio_loop *loop, cio__net *net)
{
    cio_stream *s;

    (void)loop;
    while ((s = net->streams) != NULL) {
        s->server = NULL;
        if (s->op_fut != NULL && s->op_fut != &s->rfut) {
            cio_future_unref(s->op_fut);
            s->op_fut = NULL;
        }
        if (s->drain_fut != NULL && s->drain_fut != &s->dfut) {
            cio_future_unref(s->drain_fut);
            s->drain_fut = NULL;
        }
        stream_free(s);
    }
}
