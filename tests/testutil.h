/* testutil.h - helpers shared by the Check suites: traces and a loop whose
 * exception handler records what it was told.
 *
 * Traces: trace_add(&tr, "a") appends a word; ck_assert_str_eq(tr.buf,
 * "a b c") compares the whole order at once, so a failure prints both.
 */
#ifndef CIO_TESTUTIL_H
#define CIO_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <cio.h>

/* A library built --without-libev runs on the bare backend's virtual clock
 * (cio/bare.h): checks of real elapsed time do not apply. */
#if defined(CIO_BACKEND_BARE) && !defined(CIO_TEST_BARE)
#  define CIO_TEST_BARE 1
#endif

/* A test delay, stretched by $CIO_TEST_TIME_SCALE (default 1; the valgrind
 * step of .ci/run sets 10). Tests of completion order start timers that are
 * microseconds apart natively but can be milliseconds apart under valgrind,
 * so their 10 ms spacings must widen there. */
static double stretch(double seconds) __attribute__((unused));
static double stretch(double seconds)
{
    const char *env = getenv("CIO_TEST_TIME_SCALE");
    double scale = env != NULL ? atof(env) : 1.0;

    return scale > 0 ? seconds * scale : seconds;
}

typedef struct trace {
    char buf[4096];
} trace;

static inline void trace_add(trace *t, const char *word)
{
    size_t len = strlen(t->buf);

    ck_assert_uint_lt(len + strlen(word) + 2, sizeof t->buf);
    if (len > 0)
        t->buf[len++] = ' ';
    strcpy(t->buf + len, word);
}

/* trace_add of a printf-formatted word. */
static void trace_vaddf(trace *t, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0), unused));
static void trace_vaddf(trace *t, const char *fmt, va_list ap)
{
    char word[128];

    vsnprintf(word, sizeof word, fmt, ap);
    trace_add(t, word);
}

static void trace_addf(trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), unused));
static void trace_addf(trace *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    trace_vaddf(t, fmt, ap);
    va_end(ap);
}

/* The suite's own trace, for suites that record into one. */
static trace tr __attribute__((unused));

static __attribute__((unused)) void reset_trace(void)
{
    memset(&tr, 0, sizeof tr);
}

/* trace_addf into the suite's trace. */
static void tracef(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void tracef(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    trace_vaddf(&tr, fmt, ap);
    va_end(ap);
}

/* A string literal as a callback argument (-Wwrite-strings makes it const). */
#define W(s) ((void *)(uintptr_t)(s))

/* An allocator (cio_set_allocator) that refuses every allocation: what a
 * call does when memory runs out. Frees as malloc's. */
static void *refusing_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
    __attribute__((unused));
static void *refusing_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    (void)ctx;
    (void)old_size;
    if (new_size == 0)
        free(ptr);
    return NULL;
}

/* What the exception handler saw. */
typedef struct reports {
    int count;
    char messages[16][96];
    int errs[16];
    cio_future *futures[16];
} reports;

static __attribute__((unused)) void record_report(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    reports *r = arg;

    (void)loop;
    if (r->count < 16) {
        snprintf(r->messages[r->count], sizeof r->messages[0], "%s",
                 ctx->message != NULL ? ctx->message : "");
        r->errs[r->count] = ctx->err;
        r->futures[r->count] = ctx->future;
    }
    r->count++;
}

/* One of two spellings of the same await: `in_place` when `flag` (the
 * awaiting statement, CIO_QUEUE_GET...), else `future` (CIO_AWAIT of the
 * future). Suites that run every test both ways pick with it. */
#define SPELLING(flag, in_place, future)                                      \
    do {                                                                      \
        if (flag)                                                             \
            in_place;                                                         \
        else                                                                  \
            future;                                                           \
    } while (0)

/* A new loop whose handler records into r (zeroed here). */
static inline cio_loop *loop_with_reports(reports *r)
{
    cio_loop *loop = cio_loop_new();

    ck_assert_ptr_nonnull(loop);
    memset(r, 0, sizeof *r);
    cio_loop_set_exception_handler(loop, record_report, r);
    return loop;
}

/* Free the loop and insist nothing was reported that the test did not
 * expect (expected = how many reports the test accounted for). */
static inline void loop_done(cio_loop *loop, reports *r, int expected)
{
    ck_assert_int_eq(cio_loop_free(loop), 0);
    ck_assert_int_eq(r->count, expected);
}

/* Bytes the process has allocated and not freed (0 where glibc's
 * mallinfo2 is missing or a sanitizer owns malloc). Exact only with glibc's
 * per-thread cache off (tests/repeat.sh sets glibc.malloc.tcache_count=0):
 * mallinfo counts cached chunks as in use. */
static inline size_t heap_in_use(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
#else
    return 0;
#endif
}

/* Open file descriptors (-1 where /proc/self/fd is missing). */
static inline int fds_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;                       /* not the directory's own fd */
}

/* Build the suite with make, run it and exit with Check's verdict.
 *
 * With CIO_TEST_REPEAT=N (N > 2, tests/test_repeat.sh) the suite runs N
 * times in this one process (Check's no-fork mode) and must leave no trace:
 * after two rounds of warm-up (stdio, the resolver, and glibc's per-thread
 * state, which a worker thread may set up late, in the second round), heap
 * bytes in use and open fds must not grow from round to round. */
static inline int run_suite(Suite *(*make)(void))
{
    const char *env = getenv("CIO_TEST_REPEAT");
    int rounds = env != NULL ? atoi(env) : 1;
    size_t heap_before = 0;
    int fds_before = 0, failed = 0, round;

    if (rounds < 1)
        rounds = 1;
    for (round = 1; round <= rounds; round++) {
        SRunner *sr = srunner_create(make());
        size_t heap;
        int fds;

        if (rounds > 1)
            srunner_set_fork_status(sr, CK_NOFORK);
        srunner_run_all(sr, CK_ENV);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        if (rounds == 1)
            break;
        heap = heap_in_use();
        fds = fds_open();
        printf("repeat: round %d of %d: %d failed, %zu heap bytes in use, %d fds open\n",
               round, rounds, failed, heap, fds);
        if (round > 2 && (heap > heap_before || fds > fds_before)) {
            printf("repeat: round %d grew: heap %zu -> %zu bytes, fds %d -> %d\n",
                   round, heap_before, heap, fds_before, fds);
            failed++;
        }
        heap_before = heap;
        fds_before = fds;
    }
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* CIO_TESTUTIL_H */
