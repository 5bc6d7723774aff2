/* test_coro.c - cio/coro.h on its own: no loop, no libcio, no heap.
 *
 * Built twice: with -DCIO_CORO_SWITCH and with -DCIO_CORO_LABELS. Only this
 * header and the C library are included: that is the point.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cio/coro.h"

static char trace[512];

static void note(const char *word)
{
    if (trace[0] != '\0')
        strcat(trace, " ");
    strcat(trace, word);
}

static void notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void notef(const char *fmt, ...)
{
    char word[32];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(word, sizeof word, fmt, ap);
    va_end(ap);
    note(word);
}

/* ---- a counter that yields after each step ---- */

typedef struct counter {
    cio_coro co;
    int i, n;
} counter;

static int counter_step(counter *self)
{
    CIO_CORO_BEGIN(&self->co);
    for (self->i = 0; self->i < self->n; self->i++) {
        notef("c%d", self->i);
        CIO_CORO_YIELD(&self->co);
    }
    CIO_CORO_RETURN(&self->co, self->n * 10);
    CIO_CORO_END(&self->co);
}

START_TEST(test_yield_resume_keeps_frame)
{
    counter c = { .n = 3 };
    int steps = 0;

    trace[0] = '\0';
    while (counter_step(&c) == CIO_CORO_PENDING)
        steps++;
    ck_assert_int_eq(steps, 3);
    ck_assert_str_eq(trace, "c0 c1 c2");
    ck_assert(cio_coro_done(&c.co));
    ck_assert_int_eq(c.co.err, 0);
    ck_assert_int_eq(c.co.result.i, 30);
    /* resuming a finished coroutine does nothing */
    ck_assert_int_eq(counter_step(&c), CIO_CORO_DONE);
    ck_assert_str_eq(trace, "c0 c1 c2");
}
END_TEST

/* ---- two suspension points on one line (__COUNTER__) ---- */

typedef struct twice {
    cio_coro co;
    int n;
} twice;

static int twice_step(twice *self)
{
    CIO_CORO_BEGIN(&self->co);
    self->n++; CIO_CORO_YIELD(&self->co); self->n++; CIO_CORO_YIELD(&self->co); self->n++;
    CIO_CORO_END(&self->co);
}

START_TEST(test_two_suspension_points_on_one_line)
{
    twice t = { .n = 0 };

    ck_assert_int_eq(twice_step(&t), CIO_CORO_PENDING);
    ck_assert_int_eq(t.n, 1);
    ck_assert_int_eq(twice_step(&t), CIO_CORO_PENDING);
    ck_assert_int_eq(t.n, 2);
    ck_assert_int_eq(twice_step(&t), CIO_CORO_DONE);
    ck_assert_int_eq(t.n, 3);
    ck_assert_int_eq(t.co.result.i, 0);     /* reaching the end returns 0 */
}
END_TEST

/* ---- WAIT_UNTIL and SUSPEND's wait_on ---- */

typedef struct waiter {
    cio_coro co;
    const int *flag;
} waiter;

static int waiter_step(waiter *self)
{
    CIO_CORO_BEGIN(&self->co);
    CIO_CORO_WAIT_UNTIL(&self->co, *self->flag);
    note("flag");
    CIO_CORO_SUSPEND(&self->co, (void *)self->flag);
    note("resumed");
    CIO_CORO_END(&self->co);
}

START_TEST(test_wait_until_and_suspend_on)
{
    int flag = 0;
    waiter w = { .flag = &flag };

    trace[0] = '\0';
    ck_assert_int_eq(waiter_step(&w), CIO_CORO_PENDING);
    ck_assert_ptr_null(w.co.wait_on);
    ck_assert_int_eq(waiter_step(&w), CIO_CORO_PENDING);
    flag = 1;
    ck_assert_int_eq(waiter_step(&w), CIO_CORO_PENDING);
    ck_assert_ptr_eq(w.co.wait_on, &flag);
    ck_assert_str_eq(trace, "flag");
    ck_assert_int_eq(waiter_step(&w), CIO_CORO_DONE);
    ck_assert_str_eq(trace, "flag resumed");
}
END_TEST

/* ---- finally: on return, on raise, on cancel, on falling through ---- */

typedef struct guarded {
    cio_coro co;
    int mode;   /* 0 return 7, 1 raise -5, 2 fall through, 3 suspends first */
} guarded;

static int guarded_step(guarded *self)
{
    CIO_CORO_BEGIN(&self->co);
    note("body");
    if (self->mode == 3)
        CIO_CORO_YIELD(&self->co);      /* a cancel is delivered here */
    if (self->mode == 0)
        CIO_CORO_RETURN(&self->co, 7);
    if (self->mode == 1)
        CIO_CORO_RAISE(&self->co, -5);
    note("end-of-body");
    CIO_CORO_FINALLY(&self->co);
    notef("finally(%d)", self->co.err);
    CIO_CORO_END(&self->co);
}

START_TEST(test_finally_runs_on_every_exit)
{
    guarded g;

    trace[0] = '\0';
    g = (guarded){ .mode = 0 };
    ck_assert_int_eq(guarded_step(&g), CIO_CORO_DONE);
    ck_assert_int_eq(g.co.result.i, 7);
    ck_assert_int_eq(g.co.err, 0);

    g = (guarded){ .mode = 1 };
    ck_assert_int_eq(guarded_step(&g), CIO_CORO_DONE);
    ck_assert_int_eq(g.co.err, -5);

    g = (guarded){ .mode = 2 };
    ck_assert_int_eq(guarded_step(&g), CIO_CORO_DONE);
    ck_assert_int_eq(g.co.err, 0);
    ck_assert_int_eq(g.co.result.i, 0);

    g = (guarded){ .mode = 3 };
    ck_assert_int_eq(guarded_step(&g), CIO_CORO_PENDING);
    cio_coro_cancel(&g.co);
    ck_assert_int_eq(guarded_step(&g), CIO_CORO_DONE);
    ck_assert_int_eq(g.co.err, CIO_CORO_ECANCELLED);

    ck_assert_str_eq(trace, "body finally(0) body finally(-5) body end-of-body finally(0) "
                            "body finally(-4001)");
}
END_TEST

/* A suspension inside finally is refused: the coroutine ends with
 * CIO_CORO_EINVALSTATE instead of losing its outcome silently. */
typedef struct bad_finally {
    cio_coro co;
} bad_finally;

static int bad_finally_step(bad_finally *self)
{
    CIO_CORO_BEGIN(&self->co);
    CIO_CORO_RETURN(&self->co, 1);
    CIO_CORO_FINALLY(&self->co);
    CIO_CORO_YIELD(&self->co);
    note("unreachable");
    CIO_CORO_END(&self->co);
}

START_TEST(test_suspending_in_finally_is_an_error)
{
    bad_finally b = { .co = { 0 } };

    trace[0] = '\0';
    ck_assert_int_eq(bad_finally_step(&b), CIO_CORO_DONE);
    ck_assert_int_eq(b.co.err, CIO_CORO_EINVALSTATE);
    ck_assert_str_eq(trace, "");
}
END_TEST

/* ---- calling a child inline ---- */

typedef struct child {
    cio_coro co;
    int x;
} child;

static int child_step(child *self)
{
    CIO_CORO_BEGIN(&self->co);
    notef("child(%d)", self->x);
    CIO_CORO_SUSPEND(&self->co, &self->x);
    CIO_CORO_CHECK_CANCEL(&self->co);
    if (self->x < 0)
        CIO_CORO_RAISE(&self->co, -22);
    CIO_CORO_RETURN(&self->co, self->x * 2);
    CIO_CORO_FINALLY(&self->co);
    note("child-finally");
    CIO_CORO_END(&self->co);
}

typedef struct parent {
    cio_coro co;
    child kid;
    long sum;
} parent;

static int parent_step(parent *self)
{
    CIO_CORO_BEGIN(&self->co);
    self->kid = (child){ .x = 4 };
    CIO_CORO_CALL(&self->co, &self->kid.co, child_step(&self->kid));
    self->sum += self->co.result.i;
    self->kid = (child){ .x = -1 };
    CIO_CORO_CALL(&self->co, &self->kid.co, child_step(&self->kid));
    notef("parent-saw(%d)", self->co.err);
    CIO_CORO_RETURN(&self->co, self->sum);
    CIO_CORO_END(&self->co);
}

START_TEST(test_call_child_inline)
{
    parent p = { .sum = 0 };

    trace[0] = '\0';
    ck_assert_int_eq(parent_step(&p), CIO_CORO_PENDING);
    /* the parent waits on what the child waits on */
    ck_assert_ptr_eq(p.co.wait_on, &p.kid.x);
    ck_assert_int_eq(parent_step(&p), CIO_CORO_PENDING);
    ck_assert_int_eq(parent_step(&p), CIO_CORO_DONE);
    ck_assert_int_eq(p.co.result.i, 8);
    ck_assert_str_eq(trace, "child(4) child-finally child(-1) child-finally parent-saw(-22)");
}
END_TEST

START_TEST(test_cancel_is_passed_to_the_child)
{
    parent p = { .sum = 0 };

    trace[0] = '\0';
    ck_assert_int_eq(parent_step(&p), CIO_CORO_PENDING);
    cio_coro_cancel(&p.co);
    /* the child sees the cancel at its suspension point and ends; the
     * parent goes on to its second call, which suspends */
    ck_assert_int_eq(parent_step(&p), CIO_CORO_PENDING);
    ck_assert((p.co.flags & CIO_CORO_F_CANCEL) == 0);
    ck_assert_int_eq(p.sum, 0);
    ck_assert_str_eq(trace, "child(4) child-finally child(-1)");
}
END_TEST

#ifdef CIO_CORO_LABELS
/* ---- labels-as-values: suspension points inside a switch ---- */

typedef struct switcher {
    cio_coro co;
    int i;
} switcher;

static int switcher_step(switcher *self)
{
    CIO_CORO_BEGIN(&self->co);
    for (self->i = 0; self->i < 3; self->i++) {
        switch (self->i) {
        case 0:
            note("zero");
            CIO_CORO_YIELD(&self->co);
            note("zero-again");
            break;
        case 1:
            note("one");
            CIO_CORO_YIELD(&self->co);
            break;
        default:
            note("other");
            break;
        }
    }
    CIO_CORO_END(&self->co);
}

START_TEST(test_labels_backend_allows_switch_around_yield)
{
    switcher s = { .i = 0 };

    trace[0] = '\0';
    while (switcher_step(&s) == CIO_CORO_PENDING)
        ;
    ck_assert_str_eq(trace, "zero zero-again one other");
}
END_TEST
#endif

START_TEST(test_backend_is_the_one_built)
{
#if defined(CIO_CORO_SWITCH)
    ck_assert(1);
#elif defined(CIO_CORO_LABELS)
    ck_assert(1);
#else
    ck_abort_msg("no backend selected");
#endif
    ck_assert_uint_le(sizeof(cio_coro), 4 * sizeof(void *));
}
END_TEST

int main(void)
{
    Suite *s = suite_create(
#ifdef CIO_CORO_SWITCH
        "coro (switch)"
#else
        "coro (labels)"
#endif
    );
    TCase *tc = tcase_create("coro");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_yield_resume_keeps_frame);
    tcase_add_test(tc, test_two_suspension_points_on_one_line);
    tcase_add_test(tc, test_wait_until_and_suspend_on);
    tcase_add_test(tc, test_finally_runs_on_every_exit);
    tcase_add_test(tc, test_suspending_in_finally_is_an_error);
    tcase_add_test(tc, test_call_child_inline);
    tcase_add_test(tc, test_cancel_is_passed_to_the_child);
#ifdef CIO_CORO_LABELS
    tcase_add_test(tc, test_labels_backend_allows_switch_around_yield);
#endif
    tcase_add_test(tc, test_backend_is_the_one_built);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
