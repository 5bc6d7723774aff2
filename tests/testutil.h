/* testutil.h - helpers shared by the Check suites: traces and a loop whose
 * exception handler records what it was told.
 *
 * Traces: trace_add(&tr, "a") appends a word; ck_assert_str_eq(tr.buf,
 * "a b c") compares the whole order at once, so a failure prints both.
 */
#ifndef CIO_TESTUTIL_H
#define CIO_TESTUTIL_H

#include <check.h>
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

/* Run every suite given and exit with Check's verdict. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* CIO_TESTUTIL_H */
