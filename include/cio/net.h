/* cio/net.h - sockets: awaitable socket operations, name resolution.
 *
 * asyncio's loop.sock_recv / sock_sendall / sock_connect / sock_accept and
 * loop.getaddrinfo. The fd must be non-blocking (cio_sock_nonblocking).
 * Each call tries the system call first and waits for readiness only when
 * it would block; EINTR and EAGAIN are retried, never returned. SIGPIPE is
 * never raised (MSG_NOSIGNAL / SO_NOSIGPIPE) and the process's signal
 * dispositions are left alone. Cancelling the future stops the wait; bytes
 * already sent by a cancelled sendall stay sent.
 *
 * Errors are negated errno values (-ECONNREFUSED, -ECONNRESET, ...) or
 * cio's codes. Streams and servers are in cio/stream.h. libev backend only
 * (the bare backend has no sockets).
 */
#ifndef CIO_NET_H
#define CIO_NET_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

struct sockaddr;
struct addrinfo;

/* Make fd non-blocking and close-on-exec: 0 or a negated errno. */
CIO_API int cio_sock_nonblocking(int fd);

/* Receive up to len bytes into buf: result .i is the count, 0 at end of
 * stream. buf must stay valid until the future is done. */
CIO_API cio_future *cio_sock_recv(cio_loop *loop, int fd, void *buf, size_t len);

/* Send all len bytes of buf, resuming partial writes in order: result .i
 * is len. buf must stay valid until the future is done. */
CIO_API cio_future *cio_sock_sendall(cio_loop *loop, int fd, const void *buf, size_t len);

/* Connect fd to addr (addrlen bytes, copied): done once connected. */
CIO_API cio_future *cio_sock_connect(cio_loop *loop, int fd, const struct sockaddr *addr,
                                     size_t addrlen);

/* Accept a connection on listening fd: result .i is the new fd, already
 * non-blocking and close-on-exec; it is yours to close. */
CIO_API cio_future *cio_sock_accept(cio_loop *loop, int fd);

/* Resolve host and port off the loop thread (numeric addresses without a
 * thread): result .p is a struct addrinfo list, free it with
 * cio_freeaddrinfo. family is AF_UNSPEC, AF_INET or AF_INET6; socktype
 * SOCK_STREAM, ...; flags AI_PASSIVE, ... A failure is CIO_EINVAL (bad
 * arguments) or -ENOENT (no such host), -EAGAIN (try again later), ... */
CIO_API cio_future *cio_getaddrinfo(cio_loop *loop, const char *host, int port,
                                    int family, int socktype, int flags);

/* Free what cio_getaddrinfo gave (NULL is ignored). */
CIO_API void cio_freeaddrinfo(struct addrinfo *ai);

CIO_EXTERN_C_END

#endif /* CIO_NET_H */
