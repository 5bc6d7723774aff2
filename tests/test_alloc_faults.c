/* test_alloc_faults.c - every allocation goes through cio's allocator, and
 * every one of them may fail.
 *
 * A counting allocator fails the Nth allocation, for N = 1, 2, ... until a
 * run of the scenario meets no failure. Each run must end with every step
 * having returned CIO_ENOMEM (or NULL) or succeeded, with no crash, and with
 * every byte given back (the allocator checks sizes and the balance; run
 * under valgrind or ASan for the rest).
 */
#include "testutil.h"

typedef struct counting {
    long allocs;        /* allocations so far */
    long fail_at;       /* fail this one (1-based); 0 = never */
    long failures;      /* how many were refused */
    long live;          /* blocks outstanding */
    long long bytes;    /* bytes outstanding */
    int size_mismatch;  /* a free/realloc named the wrong size */
} counting;

#define HDR 16          /* keeps the caller's block aligned for a double */

static void *counting_realloc(void *ctx, void *ptr, size_t old_size, size_t new_size)
{
    counting *c = ctx;
    char *block = ptr != NULL ? (char *)ptr - HDR : NULL;

    if (block != NULL && *(size_t *)(void *)block != old_size)
        c->size_mismatch = 1;
    if (new_size == 0) {
        if (block != NULL) {
            c->live--;
            c->bytes -= (long long)old_size;
            free(block);
        }
        return NULL;
    }
    c->allocs++;
    if (c->fail_at != 0 && c->allocs == c->fail_at) {
        c->failures++;
        return NULL;
    }
    block = realloc(block, new_size + HDR);
    if (block == NULL)
        return NULL;
    *(size_t *)(void *)block = new_size;
    if (ptr == NULL)
        c->live++;
    c->bytes += (long long)new_size - (long long)old_size;
    return block + HDR;
}

CIO_ASYNC(worker, ptrdiff_t i;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_sleep(loop, 0.001 * (double)self->i));
    CIO_AWAIT(cio_sleep(loop, 0));
    CIO_RETURN(self->i * 10);
    CIO_END();
}

/* A parent that gathers children itself, so allocation failures also hit
 * code running inside tasks. */
CIO_ASYNC(parent, int n;)
{
    CIO_BEGIN();
    CIO_AWAIT(cio_gather(loop, 2, (cio_future *[]){
        CIO_START(loop, worker, .i = 1),
        cio_sleep(loop, 0.002) }));
    CIO_AWAIT(cio_wait(loop, 2, (cio_future *[]){
        CIO_START(loop, worker, .i = 2),
        cio_sleep(loop, 0.001) }, 1.0, CIO_ALL_COMPLETED));
    CIO_RETURN(7);
    CIO_END();
}

/* Reports are expected here (tasks cut short by a failure); keep quiet. */
static void quiet(cio_loop *loop, const cio_exception_context *ctx, void *arg)
{
    (void)loop;
    (void)ctx;
    (*(int *)arg)++;
}

static int count_cb(cio_loop *loop, void *arg)
{
    (void)loop;
    (*(int *)arg)++;
    return 0;
}

static int done_cb(cio_future *f, void *arg)
{
    (void)f;
    (*(int *)arg)++;
    return 0;
}

/* The scenario: returns 0 when everything succeeded, else the first error
 * seen; asserts only what must hold whatever failed. */
static int scenario(void)
{
    cio_loop *loop = cio_loop_new();
    cio_future *f, *g;
    cio_value v;
    int err, calls = 0, first = 0, nreports = 0;
    size_t i;

    if (loop == NULL)
        return CIO_ENOMEM;
    cio_loop_set_exception_handler(loop, quiet, &nreports);

    err = cio_loop_call_soon(loop, count_cb, &calls, NULL);
    if (err != 0) {
        ck_assert_int_eq(err, CIO_ENOMEM);
        first = first ? first : err;
    }
    err = cio_loop_call_later(loop, 0.001, count_cb, &calls, NULL);
    if (err != 0) {
        ck_assert_int_eq(err, CIO_ENOMEM);
        first = first ? first : err;
    }
    f = CIO_START(loop, parent, .n = 0);
    if (f != NULL) {
        err = cio_task_set_name(f, "the-parent");
        if (err != 0) {
            ck_assert_int_eq(err, CIO_ENOMEM);
            first = first ? first : err;
        } else {
            ck_assert_str_eq(cio_task_name(f), "the-parent");
        }
        err = cio_future_add_done_callback(f, done_cb, &calls);
        if (err != 0) {
            ck_assert_int_eq(err, CIO_ENOMEM);
            first = first ? first : err;
        }
    }
    g = cio_gather(loop, 4, (cio_future *[]){
        CIO_START(loop, worker, .i = 1),
        CIO_START(loop, worker, .i = 2),
        CIO_START(loop, worker, .i = 3),
        f });
    err = cio_loop_run_until_complete(loop, g, &v);
    if (err == 0) {
        for (i = 0; i < 3; i++) {
            cio_value r;

            ck_assert_int_eq(cio_gather_result(v.p, i, &r), 0);
            ck_assert_int_eq(r.i, (ptrdiff_t)(i + 1) * 10);
        }
    } else {
        ck_assert_int_eq(err, CIO_ENOMEM);
        first = first ? first : err;
    }
    ck_assert_int_eq(cio_loop_free(loop), 0);
    if (first == 0)
        ck_assert_int_eq(nreports, 0);  /* a clean run reports nothing */
    return first;
}

START_TEST(test_every_allocation_failure_is_handled)
{
    counting c;
    long n, total = -1;
    int err;

    /* A clean run first: how many allocations the scenario makes. */
    memset(&c, 0, sizeof c);
    cio_set_allocator(counting_realloc, &c);
    err = scenario();
    cio_set_allocator(NULL, NULL);
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(c.live, 0);
    ck_assert_int_eq(c.bytes, 0);
    ck_assert_int_eq(c.size_mismatch, 0);
    total = c.allocs;
    ck_assert_int_gt(total, 5);     /* gathers and waits come from the pools */

    for (n = 1; n <= total + 1; n++) {
        memset(&c, 0, sizeof c);
        c.fail_at = n;
        cio_set_allocator(counting_realloc, &c);
        err = scenario();
        cio_set_allocator(NULL, NULL);
        if (n <= total) {
            ck_assert_msg(c.failures == 1, "allocation %ld was never made", n);
        } else {
            ck_assert_int_eq(c.failures, 0);
            ck_assert_int_eq(err, 0);       /* the run past the end is clean */
        }
        ck_assert_msg(c.live == 0 && c.bytes == 0,
                      "failing allocation %ld of %ld leaked %ld blocks, %lld bytes",
                      n, total, c.live, c.bytes);
        ck_assert_msg(!c.size_mismatch, "allocation %ld: a free named the wrong size", n);
    }
}
END_TEST

START_TEST(test_caller_storage_needs_no_allocator)
{
    counting c;
    cio_loop *loop;
    static double storage[64];
    cio_future *t;
    cio_value v;

    loop = cio_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_uint_le(CIO_TASK_SIZE(worker), sizeof storage);
    memset(&c, 0, sizeof c);
    c.fail_at = 1;                  /* any allocation from here on fails */
    cio_set_allocator(counting_realloc, &c);
    t = CIO_START_IN(loop, storage, sizeof storage, worker, .i = 0);
    ck_assert_ptr_nonnull(t);
    cio_future_ref(t);
    ck_assert_int_eq(cio_loop_run_until_complete(loop, t, &v), 0);
    ck_assert_int_eq(v.i, 0);
    ck_assert_int_eq(c.allocs, 0);  /* sleep(0) and the task: no heap */
    cio_future_unref(t);
    cio_set_allocator(NULL, NULL);
    ck_assert_int_eq(cio_loop_free(loop), 0);
}
END_TEST

static Suite *alloc_faults_suite(void)
{
    Suite *s = suite_create("alloc_faults");
    TCase *tc = tcase_create("faults");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_allocation_failure_is_handled);
    tcase_add_test(tc, test_caller_storage_needs_no_allocator);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(alloc_faults_suite);
}
