/* test_noheap.c - a program entirely in caller storage, linked against the
 * build without a heap (CIO_NO_HEAP, libcio_noheap.la): the loop, tasks and
 * futures in static storage; sleeps, timers, handles, gathers and waits
 * carved from the loop's storage. That build has no malloc, calloc,
 * realloc or free to call (tests/test_noheap_link.sh checks its symbols), so
 * this program running at all is the proof that none was needed.
 */
#include <stdint.h>
#include <cio/bare.h>
#include "testutil.h"

static trace g_tr;

typedef union {
    double d;
    void *p;
    unsigned char bytes[CIO_LOOP_SIZE + 4096];
} loop_storage;

/* Room for one task of a small frame. */
typedef union {
    double d;
    void *p;
    unsigned char bytes[CIO_TASK_HEADER_SIZE + 64];
} task_storage;

static int tick(cio_loop *loop, void *arg)
{
    (void)loop;
    trace_addf(&g_tr, "tick:%s", (const char *)arg);
    return 0;
}

CIO_ASYNC(sleeper, const char *name; double delay;)
{
    CIO_BEGIN();
    trace_addf(&g_tr, "start:%s@%g", self->name, cio_loop_time(loop));
    CIO_AWAIT(cio_sleep(loop, self->delay));
    trace_addf(&g_tr, "end:%s@%g", self->name, cio_loop_time(loop));
    CIO_END();
}

CIO_ASYNC(waiter, cio_future *fut;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_future_ref(self->fut));
    trace_addf(&g_tr, "got:%d", (int)CIO_RESULT.i);
    CIO_RETURN(CIO_RESULT.i + 1);
    CIO_END();
}

CIO_ASYNC(setter, cio_future *fut;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 0.25));
    cio_future_set_int(self->fut, 7);
    CIO_END();
}

START_TEST(test_program_in_caller_storage)
{
    static loop_storage ls;
    static task_storage t1, t2, t3, t4;
    static union { double d; void *p; unsigned char b[CIO_FUTURE_SIZE]; } fs;
    cio_loop *loop;
    cio_future *fut, *w;
    cio_handle *h;
    reports r;
    size_t n;
    cio_value v;

    g_tr.buf[0] = 0;
    ck_assert_ptr_null(cio_loop_new_in(&ls, 16));               /* too small */
    ck_assert_ptr_null(cio_loop_new_in(ls.bytes + 1, sizeof ls - 1)); /* misaligned */
    loop = cio_loop_new_in(&ls, sizeof ls);
    ck_assert_ptr_nonnull(loop);
    memset(&r, 0, sizeof r);
    cio_loop_set_exception_handler(loop, record_report, &r);

    fut = cio_future_new_in(loop, &fs, sizeof fs);
    ck_assert_ptr_nonnull(fut);
    ck_assert_ptr_null(cio_future_new_in(loop, &fs, 4));
    ck_assert_int_eq(cio_loop_call_later(loop, 0.5, tick, (void *)(uintptr_t)"half", NULL), 0);
    ck_assert_int_eq(cio_loop_call_later(loop, 0.7, tick, (void *)(uintptr_t)"never", &h), 0);
    ck_assert_int_eq(cio_loop_call_soon(loop, tick, (void *)(uintptr_t)"soon", NULL), 0);
    cio_handle_cancel(h);
    cio_handle_unref(h);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_gather(loop, 3, (cio_future *[]){
        CIO_START_IN(loop, &t1, sizeof t1, waiter, .fut = fut),
        CIO_START_IN(loop, &t2, sizeof t2, setter, .fut = fut),
        CIO_START_IN(loop, &t3, sizeof t3, sleeper, .name = "s", .delay = 1) }), &v), 0);
    ck_assert_int_eq(cio_gather_result(v.p, 0, &v), 0);
    ck_assert_int_eq(v.i, 8);
    ck_assert_str_eq(g_tr.buf, "tick:soon start:s@0 got:7 tick:half end:s@1");
    ck_assert(cio_loop_time(loop) == 1);

    /* wait with a timeout (wait_for's shape): the child is still pending */
    w = cio_wait(loop, 1, (cio_future *[]){
        CIO_START_IN(loop, &t4, sizeof t4, sleeper, .name = "w", .delay = 3600) },
        2, CIO_ALL_COMPLETED);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_future_ref(w), NULL), 0);
    cio_wait_pending(w, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert(cio_loop_time(loop) == 3);
    ck_assert_int_eq(cio_future_cancel(cio_wait_pending(w, &n)[0], NULL), 1);
    cio_future_unref(w);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, cio_sleep(loop, 0), NULL), 0);
    ck_assert_int_eq(cio_loop_free(loop), 0);
    ck_assert_int_eq(r.count, 0);
}
END_TEST

/* The loop's storage runs out: CIO_ENOMEM / NULL, never a heap. */
START_TEST(test_storage_runs_out)
{
    static union { double d; unsigned char b[CIO_LOOP_SIZE + 256]; } small;
    cio_loop *loop = cio_loop_new_in(&small, sizeof small);
    int i, ok = 0, err = 0;

    ck_assert_ptr_nonnull(loop);
    for (i = 0; i < 100; i++) {
        err = cio_loop_call_soon(loop, tick, (void *)(uintptr_t)"x", NULL);
        if (err != 0)
            break;
        ok++;
    }
    ck_assert_int_eq(err, CIO_ENOMEM);
    ck_assert_int_gt(ok, 0);
    ck_assert_int_eq(cio_loop_free(loop), 0);
}
END_TEST

static Suite *noheap_suite(void)
{
    Suite *s = suite_create("noheap");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_program_in_caller_storage);
    tcase_add_test(tc, test_storage_runs_out);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(noheap_suite);
}
