#!/usr/bin/env python3
"""Peer servers for the echo and http workloads: CPython asyncio streams
(or uvloop with --uvloop), the same code as cio's examples/echo_server.c and
examples/http_server.c.

Usage: asyncio_servers.py [--uvloop] echo|http PORT
Listens on 127.0.0.1:PORT (0: any free port), prints "listening on port N",
serves until SIGTERM / SIGINT.
"""
import asyncio
import signal
import sys

HELLO = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
         b"Content-Length: 12\r\n\r\nhello, world")
HELLO_CLOSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 12\r\nConnection: close\r\n\r\nhello, world")
BAD = (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
       b"Connection: close\r\n\r\n")


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()            # waits only past the high-water mark
    except ConnectionError:
        pass
    finally:
        writer.close()


def parse_head(head):
    """(keep_alive, content_length) of a request head, None if malformed."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return None
    keep_alive = parts[2] == b"HTTP/1.1"
    length = 0
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            return None
        name = name.strip().lower()
        if name == b"connection":
            v = value.strip().lower()
            keep_alive = v != b"close" and (keep_alive or v == b"keep-alive")
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
    return keep_alive, length


async def http(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            parsed = parse_head(head)
            if parsed is None:
                writer.write(BAD)
                break
            keep_alive, length = parsed
            if length > 0:
                await reader.readexactly(length)
            if not keep_alive:
                writer.write(HELLO_CLOSE)
                break
            writer.write(HELLO)
            if writer.transport.get_write_buffer_size() > 65536:
                await writer.drain()        # a slow reader: wait
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(kind, port):
    server = await asyncio.start_server(echo if kind == "echo" else http, "127.0.0.1", port,
                                        limit=8192 if kind == "http" else 65536,
                                        backlog=4096)
    print(f"asyncio_servers: listening on port {server.sockets[0].getsockname()[1]}",
          flush=True)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop


if __name__ == "__main__":
    args = sys.argv[1:]
    use_uvloop = "--uvloop" in args
    args = [a for a in args if a != "--uvloop"]
    if len(args) != 2 or args[0] not in ("echo", "http"):
        sys.exit(f"usage: {sys.argv[0]} [--uvloop] echo|http PORT")
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            print("uvloop not installed", file=sys.stderr)
            sys.exit(2)
        uvloop.install()
    asyncio.run(main(args[0], int(args[1])))
