/* cio/stream.h - buffered streams, connections and servers.
 *
 * asyncio's StreamReader and StreamWriter in one object, a cio_stream, over
 * a TCP or Unix socket (or fed by hand, for tests and protocols).
 *
 * Reading: one read at a time (a second one while the first is pending
 * fails with CIO_EBUSY). A read's bytes are not copied: they stay in the
 * stream's buffer and cio_stream_data gives them, until the next read call
 * on the stream (call cio_stream_data again after an await: the buffer may
 * have moved). The future's result .i is their length.
 *   CIO_ELIMIT       readline/readuntil: no separator within the limit; the
 *                    data stays in the buffer, nothing is consumed.
 *   CIO_EINCOMPLETE  readexactly/readuntil: end of stream first;
 *                    cio_stream_data gives the partial data (consumed).
 *   CIO_ETIMEDOUT    the read deadline (cio_stream_set_timeout) passed.
 *   a socket error   (-ECONNRESET, ...), and every read after it.
 * Bytes are buffered ahead of reads up to twice the limit, then reading
 * pauses, so a fast peer cannot make the buffer grow without bound.
 *
 * Writing: cio_stream_write sends at once what the socket takes and keeps
 * the rest in order; cio_stream_drain waits while more than the high water
 * mark is buffered, until it falls to the low one, so a peer that does not
 * read blocks a writer that drains instead of growing its buffer.
 *
 * Lifetime: cio_stream_close gives the stream up (buffered writes are sent
 * first) and returns a future done once its socket is closed. Freeing the
 * loop closes and frees every stream and server left. libev backend only.
 */
#ifndef CIO_STREAM_H
#define CIO_STREAM_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

/* A buffered stream over a socket (asyncio's StreamReader + StreamWriter). */
typedef struct cio_stream cio_stream;
/* A listening server (asyncio.Server). */
typedef struct cio_server cio_server;

/* asyncio's default limit: 64 KiB. */
#define CIO_STREAM_LIMIT 65536

/* ---- connecting ---- */

/* Connect to host:port (host names are resolved off the loop thread; each
 * address is tried in turn): result .p is the new cio_stream, yours to
 * close. limit 0 means CIO_STREAM_LIMIT. -ECONNREFUSED, -ENOENT (unknown
 * host), ... */
CIO_API cio_future *cio_open_connection(cio_loop *loop, const char *host, int port,
                                        size_t limit);

/* The same over a Unix socket at path. */
CIO_API cio_future *cio_open_unix_connection(cio_loop *loop, const char *path,
                                             size_t limit);

/* A stream over a connected socket fd (made non-blocking; the stream owns
 * it from now on, also on failure). NULL if out of memory. */
CIO_API cio_stream *cio_stream_from_fd(cio_loop *loop, int fd, size_t limit);

/* A stream without a socket, read from what cio_stream_feed_* give
 * (asyncio's StreamReader()). Writes to it fail with CIO_ENOTSUP. */
CIO_API cio_stream *cio_stream_new(cio_loop *loop, size_t limit);

/* Append data / the end of stream to a stream without a socket. 0,
 * CIO_ENOMEM, CIO_EINVALSTATE after the end, CIO_ENOTSUP on a socket. */
CIO_API int cio_stream_feed_data(cio_stream *s, const void *data, size_t len);
CIO_API int cio_stream_feed_eof(cio_stream *s);

/* Fail the stream with err (< 0): the pending read and every later one
 * fail with it (asyncio's set_exception). */
CIO_API int cio_stream_set_error(cio_stream *s, int err); /* 0 or CIO_EINVAL */

/* ---- reading ---- */

/* Up to n bytes, as soon as some are there (n < 0: everything until the
 * end of stream). 0 bytes at the end of stream, or for n == 0. */
CIO_API cio_future *cio_stream_read(cio_stream *s, ptrdiff_t n);

/* Exactly n bytes; CIO_EINCOMPLETE with the partial data at the end. */
CIO_API cio_future *cio_stream_readexactly(cio_stream *s, size_t n);

/* Up to and including the separator sep (seplen bytes, >= 1). */
CIO_API cio_future *cio_stream_readuntil(cio_stream *s, const void *sep, size_t seplen);

/* A line, up to and including '\n'; at the end of stream what is left
 * (maybe 0 bytes), without an error, as asyncio's readline. */
CIO_API cio_future *cio_stream_readline(cio_stream *s);

/* Wait until at least one byte is buffered or the stream ended, consuming
 * nothing: result .i is the bytes buffered (0 at the end). */
CIO_API cio_future *cio_stream_wait_data(cio_stream *s);

/* The bytes of the last read (or the partial data of CIO_EINCOMPLETE);
 * *len gets their length. Valid until the next read call. */
CIO_API const char *cio_stream_data(const cio_stream *s, size_t *len);

/* Nonzero when the end of stream was reached and nothing is buffered. */
CIO_API int cio_stream_at_eof(const cio_stream *s);

/* Bytes buffered and not read yet. */
CIO_API size_t cio_stream_buffered(const cio_stream *s);

/* From now on, reads fail with CIO_ETIMEDOUT once `seconds` have passed
 * (a deadline for all of them, not per read); seconds < 0: no deadline. */
CIO_API int cio_stream_set_timeout(cio_stream *s, double seconds);

/* ---- writing ---- */

/* Send len bytes (what the socket does not take now is buffered and sent
 * in order). 0, the stream's error, CIO_ECLOSED after close or write_eof,
 * CIO_ENOMEM (nothing buffered), CIO_ENOTSUP without a socket. */
CIO_API int cio_stream_write(cio_stream *s, const void *data, size_t len);

/* Done at once unless more than the high water mark is buffered; then done
 * when it falls to the low water mark, or failed with the stream's error. */
CIO_API cio_future *cio_stream_drain(cio_stream *s);

/* Bytes written and not sent yet. */
CIO_API size_t cio_stream_write_buffered(const cio_stream *s);

/* Water marks (asyncio's set_write_buffer_limits): high 0 means 64 KiB,
 * low defaults to high / 4 and must not exceed high (else CIO_EINVAL). */
CIO_API int cio_stream_set_write_limits(cio_stream *s, size_t high, size_t low);

/* Half-close: send the end of stream once the buffer is sent; reading goes
 * on. 0, CIO_ECLOSED, CIO_ENOTSUP. */
CIO_API int cio_stream_write_eof(cio_stream *s);

/* ---- closing ---- */

/* writer.close() + wait_closed(): give the stream up; buffered writes are
 * sent first (a socket error or a stream freed with the loop ends that).
 * The future is done once the socket is closed: await it or unref it. Do
 * not use s afterwards. NULL only if s is NULL or closed already. */
CIO_API cio_future *cio_stream_close(cio_stream *s);

/* Close at once, dropping buffered writes (transport.abort()); gives the
 * stream up as close does. */
CIO_API void cio_stream_abort(cio_stream *s);

/* The socket, or -1. */
CIO_API int cio_stream_fd(const cio_stream *s);

/* The stream's error (0 if none): a socket error or set_error's. */
CIO_API int cio_stream_error(const cio_stream *s);

/* ---- servers ---- */

/* Called for each new connection: start a task serving s and return it
 * (e.g. CIO_START(loop, handle, .s = s)). The task owns s; if it ends
 * without closing s, the server closes it. NULL: s is closed. */
typedef cio_future *(*cio_client_fn)(cio_loop *loop, cio_stream *s, void *arg);

/* Options of cio_start_server (all zero: the defaults). */
typedef struct cio_server_options {
    int backlog;        /* listen() backlog; 0: 511 */
    int reuse_port;     /* nonzero: SO_REUSEPORT (processes share the port) */
    int ipv6_only;      /* nonzero: an IPv6 socket takes no IPv4 */
    size_t limit;       /* each stream's limit; 0: CIO_STREAM_LIMIT */
} cio_server_options;

/* asyncio.start_server: listen on host:port (NULL or "" = every address,
 * IPv4 and IPv6; port 0 = any free port) and serve each connection with
 * client(loop, s, arg). opts may be NULL. Result .p is the cio_server,
 * already serving. An accept that runs out of fds (EMFILE) pauses
 * accepting briefly instead of spinning. */
CIO_API cio_future *cio_start_server(cio_loop *loop, const char *host, int port,
                                     cio_client_fn client, void *arg,
                                     const cio_server_options *opts);

/* The same on a Unix socket at path (an existing socket file there is
 * replaced). */
CIO_API cio_future *cio_start_unix_server(cio_loop *loop, const char *path,
                                          cio_client_fn client, void *arg,
                                          const cio_server_options *opts);

/* The port the server listens on (its first socket's), 0 for Unix. */
CIO_API int cio_server_port(const cio_server *srv);

/* How many connections are being served. */
CIO_API size_t cio_server_connections(const cio_server *srv);

/* Stop listening, cancel the tasks serving connections (their streams are
 * closed) and free the server once they are done: the future is done then.
 * Do not use srv afterwards. NULL if srv is NULL. */
CIO_API cio_future *cio_server_close(cio_server *srv);

CIO_EXTERN_C_END

#endif /* CIO_STREAM_H */
