/* net.h - what the files of src/net share: the per-loop state of the net
 * layer (created on first use, released when the loop is freed).
 */
#ifndef CIO_NET_INTERNAL_H
#define CIO_NET_INTERNAL_H

#include <errno.h>
#include <sys/socket.h>
#include "internal.h"
#include "loop/backend.h"

#ifdef MSG_NOSIGNAL
#  define CIO__SEND_FLAGS MSG_NOSIGNAL
#else
#  define CIO__SEND_FLAGS 0     /* SO_NOSIGPIPE is set on each socket */
#endif

/* errno says the call would block (EAGAIN and EWOULDBLOCK may be one). */
#if EAGAIN == EWOULDBLOCK
#  define CIO__WOULD_BLOCK(e) ((e) == EAGAIN)
#else
#  define CIO__WOULD_BLOCK(e) ((e) == EAGAIN || (e) == EWOULDBLOCK)
#endif

typedef struct cio__fdw cio__fdw;       /* an add_reader / add_writer entry */
typedef struct cio__sigh cio__sigh;     /* an add_signal_handler entry */
typedef struct cio__thread cio__thread; /* a thread run for the loop */

typedef struct cio__net {
    cio__fdw **readers, **writers;      /* indexed by fd */
    size_t nfds;                        /* length of both */
    cio__sigh **sigs;                   /* indexed by signal number */
    struct cio_stream *streams;         /* every live stream */
    struct cio_server *servers;         /* every live server */
    cio__thread *threads;               /* threads still running */
    unsigned long accept_paused;        /* servers paused by EMFILE */
} cio__net;

/* The loop's net state, made on first use; NULL if out of memory. */
cio__net *cio__net_get(cio_loop *loop);

/* Streams and servers (stream.c, server.c) */
void cio__streams_free_all(cio_loop *loop, cio__net *net);
void cio__servers_free_all(cio_loop *loop, cio__net *net);
/* An fd was closed: servers paused on EMFILE may accept again. */
void cio__servers_fd_freed(cio_loop *loop, cio__net *net);
/* A server's connection is done (its stream was freed). */
void cio__server_stream_gone(struct cio_server *srv);

/* Whether the running task awaits exactly f and is its only holder: then
 * release it so f can be reused (the stream's built-in futures). */
static inline void cio__release_if_awaited(cio_loop *loop, cio_future *f)
{
    cio__task *t = loop->current;

    if (t != NULL && CIO__TASK_AWAITING(t) == f && cio__refs(f) == 1)
        cio__await_release(loop);
}

/* A future already failed with err (NULL if out of memory). */
cio_future *cio__future_failed(cio_loop *loop, int err);
/* A future already done with result v. */
cio_future *cio__future_done(cio_loop *loop, cio_value v);

#endif
