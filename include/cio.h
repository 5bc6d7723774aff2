/* cio.h - asyncio for C, on stackless coroutines. Include this one header.
 *
 *   cio/coro.h         coroutine frames and resume points (usable alone)
 *   cio/error.h        error codes, cio_strerror, cio_err_name
 *   cio/alloc.h        the allocator every allocation goes through
 *   cio/future.h       futures
 *   cio/task.h         async functions, tasks, await, sleep
 *   cio/combinators.h  gather, wait, wait_for, shield, as_completed
 *   cio/timeout.h      timeout scopes (asyncio.timeout)
 *   cio/taskgroup.h    task groups
 *   cio/sync.h         Lock, Event, Condition, Semaphore, Barrier
 *   cio/queue.h        Queue, LifoQueue, PriorityQueue
 *   cio/channel.h      Go's channels and select
 *   cio/loop.h         the event loop
 *   cio/thread.h       run_coroutine_threadsafe, the worker pool (run_in_executor)
 *   cio/net.h          awaitable socket operations, name resolution
 *   cio/stream.h       buffered streams, connections, servers
 */
#ifndef CIO_H
#define CIO_H

#include "cio/common.h"
#include "cio/coro.h"
#include "cio/error.h"
#include "cio/alloc.h"
#include "cio/future.h"
#include "cio/task.h"
#include "cio/combinators.h"
#include "cio/timeout.h"
#include "cio/taskgroup.h"
#include "cio/sync.h"
#include "cio/queue.h"
#include "cio/channel.h"
#include "cio/loop.h"
#include "cio/thread.h"
#include "cio/net.h"
#include "cio/stream.h"

#endif /* CIO_H */
