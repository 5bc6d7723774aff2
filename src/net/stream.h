/* stream.h - the layout of a cio_stream, shared by stream.c and server.c. */
#ifndef CIO_NET_STREAM_H
#define CIO_NET_STREAM_H

#include "net/net.h"

#define CIO__SEP_MAX 16         /* longest readuntil separator */

/* Stream flags */
#define SF_EOF        0x01u     /* the peer's end of stream arrived (or feed_eof) */
#define SF_GONE       0x02u     /* close/abort called: the owner let go */
#define SF_FD_CLOSED  0x04u     /* the socket is closed */
#define SF_WEOF       0x08u     /* write_eof called */
#define SF_WEOF_SENT  0x10u     /* shutdown(SHUT_WR) done */
#define SF_FED        0x20u     /* no socket: fed by hand */

struct cio_stream {
    cio_loop *loop;
    struct cio_stream *prev, *next;     /* the loop's streams */
    struct cio_server *server;          /* the server that accepted it, or NULL */
    cio_future *handler;                /* the server's task serving it */
    cio__node handler_done;             /* in handler's ring */
    int fd;
    uint32_t refs;                      /* owner, server, futures handed out */
    int err;                            /* sticky error */
    unsigned flags;
    /* reading: unread bytes are rbuf[rpos, rend); the last read's are
     * rbuf[res_off, res_off + res_len) */
    char *rbuf;
    size_t rcap, rpos, rend, res_off, res_len, limit;
    uint8_t op;                         /* the pending read (OP_*) */
    uint8_t seplen;
    char sep[CIO__SEP_MAX];
    size_t op_n;                        /* read / readexactly size */
    size_t scan;                        /* separator searched up to rpos + scan */
    cio_future *op_fut;                 /* the pending read's future */
    double deadline;                    /* reads fail after it (0: none) */
    cio__timer dl;                      /* fires at the deadline */
    /* writing: rbuf's counterpart */
    char *wbuf;
    size_t wcap, wpos, wend, high, low;
    cio_future *drain_fut;              /* the drain waiters' future */
    cio__io io;
    cio_future rfut, dfut, cfut;        /* built in: read, drain, close */
};

/* A stream over a connected non-blocking socket (or -1: fed by hand),
 * reading at once. NULL if out of memory (fd is left open). */
cio_stream *cio__stream_new(cio_loop *loop, int fd, size_t limit);
/* Drop one reference; the last frees the stream. */
void cio__stream_unref(cio_stream *s);

#endif
