#!/usr/bin/env python3
"""Peer benchmark: CPython asyncio (or uvloop with --uvloop).

Usage: asyncio_bench.py [--uvloop] WORKLOAD N     WORKLOAD = spawn | sleepers | pingpong
Prints one line: WORKLOAD n=N wall=SECONDS ns_per_op=NS maxrss_kb=KB
"""
import asyncio
import resource
import sys
import time


async def one(i):
    await asyncio.sleep(0)          # yield to the loop once
    return i


async def spawn(n):
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    total = sum(await asyncio.gather(*tasks))
    if total != n * (n - 1) // 2:
        sys.exit(f"spawn: bad sum {total}, expected {n * (n - 1) // 2}")


async def sleeper():
    await asyncio.sleep(1.0)


async def sleepers(n):
    await asyncio.gather(*[asyncio.create_task(sleeper()) for _ in range(n)])


async def pingpong(n):
    ping, pong = asyncio.Queue(1), asyncio.Queue(1)

    async def server():
        for _ in range(n):
            await pong.put(await ping.get() + 1)

    async def client():
        v = 0
        for _ in range(n):
            await ping.put(v)
            v = await pong.get()
        return v

    s = asyncio.create_task(server())
    v = await client()
    await s
    if v != n:
        sys.exit(f"pingpong: bad counter {v}, expected {n}")


WORKLOADS = {"spawn": spawn, "sleepers": sleepers, "pingpong": pingpong}


async def measure(fn, n):
    t0 = time.perf_counter()        # monotonic
    await fn(n)
    return time.perf_counter() - t0


def main():
    args = sys.argv[1:]
    use_uvloop = "--uvloop" in args
    args = [a for a in args if a != "--uvloop"]
    if len(args) != 2 or args[0] not in WORKLOADS:
        print(f"usage: {sys.argv[0]} [--uvloop] {{{'|'.join(WORKLOADS)}}} N", file=sys.stderr)
        sys.exit(2)
    name, n = args[0], int(args[1])
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            print("uvloop not installed", file=sys.stderr)
            sys.exit(2)
        uvloop.install()
    wall = asyncio.run(measure(WORKLOADS[name], n))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KB on Linux
    print(f"{name} n={n} wall={wall:.6f} ns_per_op={wall * 1e9 / n:.1f} maxrss_kb={rss}")


if __name__ == "__main__":
    main()
