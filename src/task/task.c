/* task.c - tasks: a future that drives a coroutine frame.
 *
 * A task and its frame are one allocation (or caller storage). Stepping it
 * resumes the frame; when the frame suspends on a future, the task's step
 * node joins that future's callback ring, so completing the future
 * schedules the next step - asyncio's Task.__step / __wakeup, with no
 * allocation per await.
 *
 * References: the caller of cio_task_new gets one; the loop holds one while
 * the task is pending. The frame's wait_on holds one on the awaited future
 * until the next await or the end.
 */
#include <string.h>
#include "internal.h"

static int task_cancel(cio_future *f, const char *msg);
static void task_destroy(cio_future *f);

const cio__future_vt cio__task_vt = {
    .kind = "Task", .cancel = task_cancel, .destroy = task_destroy
};

#define TASK(f) ((cio__task *)(void *)(f))

/* ---- where a task lives ----
 *
 * A task from the heap sits in the task pools, and the loop finds it by
 * walking them (pool.c). Any other - caller storage, a loop's own storage,
 * a frame too large for a pool, the builds without pools - carries a link
 * after its frame, in the loop's list `tasks`. */

typedef struct task_link {
    cio__task *prev, *next;
} task_link;

/* CIO_TASK_SIZE's bound holds: cio_task_size is the frame offset, the
 * frame, and the link (a frame's size is a multiple of a pointer's). */
typedef char header_fits[CIO__TASK_FRAME_OFFSET + sizeof(task_link) <= CIO_TASK_HEADER_SIZE
                         ? 1 : -1];

/* The bytes of a task without its link. */
static size_t task_bytes(const cio_task_type *type)
{
    return CIO__TASK_FRAME_OFFSET + type->frame_size;
}

static size_t link_offset(const cio_task_type *type)
{
    return (task_bytes(type) + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
}

static task_link *link_of(const cio__task *t)
{
    return (task_link *)(void *)((char *)t + link_offset(t->type));
}

static int is_linked(const cio__task *t)
{
    return (t->fut.flags & CIO__FF_STATIC)
           || !cio__pool_task_walkable(t->fut.loop, task_bytes(t->type));
}

size_t cio_task_size(const cio_task_type *type)
{
    if (type == NULL)
        return 0;
    return link_offset(type) + sizeof(task_link);
}

static CIO__NOINLINE void link_task(cio_loop *loop, cio__task *t)
{
    task_link *l = link_of(t);

    l->prev = NULL;
    l->next = loop->tasks;
    if (loop->tasks != NULL)
        link_of(loop->tasks)->prev = t;
    loop->tasks = t;
}

static CIO__NOINLINE void unlink_task(cio_loop *loop, cio__task *t)
{
    task_link *l = link_of(t);

    if (l->prev != NULL)
        link_of(l->prev)->next = l->next;
    else
        loop->tasks = l->next;
    if (l->next != NULL)
        link_of(l->next)->prev = l->prev;
}

static cio_future *task_setup(cio_loop *loop, const cio_task_type *type,
                              const void *frame, cio__task *t, uint32_t tflags, int linked)
{
    cio_coro *co = CIO__TASK_FRAME(t);

    cio__future_init(&t->fut, loop, &cio__task_vt);
    t->fut.rc = 2;                  /* the caller's and the loop's; no cancel */
    t->step.next = NULL;
    t->step.run = cio__task_step;
    t->type = type;
    t->fut.flags = (uint8_t)tflags;
    cio__slot_init_embedded(&t->slot, loop);
    memcpy(co, frame, type->frame_size);
    cio_coro_init(co);
    if (linked)
        link_task(loop, t);
    cio__loop_schedule(loop, &t->step);
    return &t->fut;
}

static int bad_type(const cio_task_type *type)
{
    return type == NULL || type->step == NULL || type->frame_size < sizeof(cio_coro);
}

cio_future *cio_task_new(cio_loop *loop, const cio_task_type *type, const void *frame)
{
    cio__task *t;
    int linked;

    if (loop == NULL || loop->closed || bad_type(type) || frame == NULL)
        return NULL;
    linked = !cio__pool_task_walkable(loop, task_bytes(type));
#if CIO__TASK_POOLS
    if (!linked)
        t = cio__pool_alloc_task(loop, task_bytes(type));
    else
#endif
        t = cio__pool_alloc(loop, cio_task_size(type));
    if (t == NULL)
        return NULL;
    return task_setup(loop, type, frame, t, 0, linked);
}

cio_future *cio_task_new_in(cio_loop *loop, const cio_task_type *type,
                            const void *frame, void *storage, size_t size)
{
    if (loop == NULL || loop->closed || bad_type(type) || frame == NULL
        || !cio__storage_ok(storage, size, cio_task_size(type), 1))
        return NULL;
    return task_setup(loop, type, frame, storage, CIO__FF_STATIC, 1);
}

int cio_task_is_task(const cio_future *f)
{
    return f != NULL && f->vt == &cio__task_vt;
}

cio_future *cio_task_current(cio_loop *loop)
{
    return loop != NULL && loop->current != NULL ? &loop->current->fut : NULL;
}

/* ---- extras: what few tasks need, allocated on first use ---- */

/* A copy of the task's type (so it can carry a name), and the message of
 * a pending cancellation. t->type points at extras->type. */
typedef struct task_extras {
    cio_task_type type;
    size_t size;
    const char *cancel_msg;
    char name[1];
} task_extras;

static task_extras *extras_of(const cio__task *t)
{
    if (!(t->fut.flags & CIO__TF_EXTRAS))
        return NULL;
    return CIO__CONTAINER_OF(t->type, task_extras, type);
}

/* Give t extras with room for a name of len bytes (keeping what it had). */
static task_extras *extras_make(cio__task *t, const char *name)
{
    task_extras *old = extras_of(t), *x;
    size_t len = name != NULL ? strlen(name) : 0;
    size_t size = offsetof(task_extras, name) + len + 1;

    x = cio__pool_alloc(t->fut.loop, size);
    if (x == NULL)
        return NULL;
    x->size = size;
    x->type = *t->type;
    x->cancel_msg = old != NULL ? old->cancel_msg : NULL;
    if (name != NULL) {
        memcpy(x->name, name, len + 1);
        x->type.name = x->name;
    }
    if (old != NULL)
        cio__pool_free(t->fut.loop, old, old->size);
    t->type = &x->type;
    t->fut.flags |= CIO__TF_EXTRAS;
    return x;
}

/* Put the original type back and free the extras (the task is going). */
static void extras_drop(cio__task *t, const cio_task_type *original)
{
    task_extras *x = extras_of(t);

    if (x == NULL)
        return;
    t->type = original;
    t->fut.flags &= ~CIO__TF_EXTRAS;
    cio__pool_free(t->fut.loop, x, x->size);
}

const char *cio_task_name(const cio_future *f)
{
    return cio_task_is_task(f) ? TASK(f)->type->name : NULL;
}

int cio_task_set_name(cio_future *f, const char *name)
{
    if (!cio_task_is_task(f))
        return CIO_ENOTTASK;
    if (name == NULL)
        return CIO_EINVAL;
    return extras_make(TASK(f), name) != NULL ? 0 : CIO_ENOMEM;
}

static const char *pending_cancel_msg(const cio__task *t)
{
    task_extras *x = extras_of(t);

    return x != NULL ? x->cancel_msg : NULL;
}

/* ---- awaiting ---- */

/* The task's own slot, done and ours alone, goes back: an internal wait
 * has no callbacks and nothing to report, so no unref. */
static void give_back_slot(cio__task *t)
{
    cio__set_refs(&t->slot.fut, 0);
    t->slot.fut.vt->destroy(&t->slot.fut);
}

/* Stop awaiting the own slot and give it back: the frame awaiting it (an
 * inline CIO_CALL's) and the task's both let go of it. */
static void drop_own_slot(cio__task *t, cio_coro *co)
{
    co->wait_on = NULL;
    CIO__TASK_AWAITING(t) = NULL;
    give_back_slot(t);
}

static void let_go_of_awaited(cio__task *t)
{
    cio_coro *co = CIO__TASK_FRAME(t);
    cio_future *f = co->wait_on;

    co->wait_on = NULL;
    if (t->fut.flags & CIO__TF_WAITING) {
        cio__future_remove_waiter(f, &t->step);
        t->fut.flags &= ~CIO__TF_WAITING;
    }
    if (cio__own_slot_alone(t, f) && f->state != CIO__PENDING)
        give_back_slot(t);              /* the hot path */
    else
        cio_future_unref(f);
}

/* Let go of what the task awaited, if anything (the test inline: mostly
 * there is nothing, its own slot having gone when its result was read). */
static inline void release_awaited(cio__task *t)
{
    if (CIO__TASK_AWAITING(t) != NULL)
        let_go_of_awaited(t);
}

/* The task's own slot, done with a queue's or channel's wait (a vt with
 * await_now and take) and ours alone: its outcome into the frame (taking
 * what it was woken for), and the slot is free again (its destroy would
 * only release it). */
static inline void read_own_wait(cio__task *t, cio_coro *co, cio_future *f)
{
    co->result.p = NULL;
    co->result.i = 0;
    co->err = (short)cio__future_outcome(f, &co->result);
    f->flags |= CIO__FF_RETRIEVED;
    co->wait_on = NULL;
    CIO__TASK_AWAITING(t) = NULL;
    cio__own_slot_release(&t->slot, &t->fut);
}

/* Read the awaited future's outcome into the frame. The task's own slot,
 * done and ours alone, is let go at once: nobody else can reach it, and the
 * next wait finds it free - the hot path of every queue, lock, channel and
 * sleep await. (A released slot keeps its outcome and its TAKEN flag, so
 * reading it again until the next wait changes nothing.) */
static void read_awaited(cio__task *t, cio_coro *co, cio_future *f)
{
    if (!cio__own_slot_alone(t, f) || f->state != CIO__DONE) {
        co->err = (short)cio_future_result(f, &co->result);
        return;
    }
    if (f->vt->await_now != NULL) {
        read_own_wait(t, co, f);
        return;
    }
    /* cio_future_result's work without its call, then the slot goes */
    co->result.p = NULL;
    co->result.i = 0;
    co->err = (short)cio__future_outcome(f, &co->result);
    f->flags |= CIO__FF_RETRIEVED;
    drop_own_slot(t, co);
}

void cio__await_release(cio_loop *loop)
{
    if (loop != NULL && loop->current != NULL)
        release_awaited(loop->current);
}

static void outcome_into(cio_coro *co, int err)
{
    co->err = err;
    co->result.p = NULL;
    co->result.i = 0;
}

/* Await f, anything but the task's own lazy wait (cio__await). */
static CIO__NOINLINE int await_any(cio__task *t, cio_coro *co, cio_loop *loop, cio_future *f)
{
    if (t == NULL) {
        cio_future_unref(f);
        outcome_into(co, CIO_ENOLOOP);
        return CIO_CORO_DONE;
    }
    release_awaited(t);
    if (f == NULL) {
        outcome_into(co, CIO_ENOMEM);
        return CIO_CORO_DONE;
    }
    if (f->loop != loop || f == &t->fut) {
        int err = f == &t->fut ? CIO_ESELFAWAIT : CIO_EWRONGLOOP;

        cio_future_unref(f);
        outcome_into(co, err);
        return CIO_CORO_DONE;
    }
    CIO__TASK_AWAITING(t) = f;
    co->wait_on = f;
    if ((f->flags & CIO__FF_LAZY) && f->vt->await_now != NULL) {
        f->vt->arm(f);                  /* a lazy wait, not ours alone: start it */
    } else if (cio__sleeper_is_zero(f)) {
        /* sleep(0) not ours alone (ours is a plain yield: cio__await):
         * done now, read when the task resumes an iteration later */
        cio__sleeper_finish_now(f);
        return CIO_CORO_PENDING;
    }
    if (f->state == CIO__PENDING)
        return CIO_CORO_PENDING;
    read_awaited(t, co, f);
    return CIO_CORO_DONE;
}

/* The hot paths: a queue's or channel's wait made lazy in the task's own
 * slot runs now, and mostly finishes at once, with nothing to take later;
 * an own sleep(0) is a plain yield: the slot is free again at once (its
 * timer never started) and there is nothing to read on resume. */
int cio__await(cio_coro *co, cio_loop *loop, cio_future *f)
{
    cio__task *t = loop != NULL ? loop->current : NULL;

    if (t == NULL)
        return await_any(t, co, loop, f);
    release_awaited(t);
    if (!cio__own_slot_alone(t, f) || (f->flags & CIO__FF_LAZY) == 0
        || f->state != CIO__PENDING)
        return await_any(t, co, loop, f);
    if (f->vt->await_now == NULL) {
        if (f->vt != &cio__sleeper_vt)
            return await_any(t, co, loop, f);
        co->wait_on = NULL;
        cio__own_slot_release(&t->slot, &t->fut);
        return CIO_CORO_PENDING;
    }
    if (f->vt->await_now(f, co)) {
        cio__own_slot_release(&t->slot, &t->fut);
        return CIO_CORO_DONE;
    }
    CIO__TASK_AWAITING(t) = f;          /* started: waiting, or failed */
    co->wait_on = f;
    if (f->state == CIO__PENDING)
        return CIO_CORO_PENDING;
    read_awaited(t, co, f);
    return CIO_CORO_DONE;
}

/* CIO_YIELD: what awaiting an own sleep(0) comes to (cio__await's front),
 * without making the sleep: let go of the last await and wait on nothing,
 * so cio__task_step puts the task back at the end of the ready queue.
 * Outside a task, or on a closed loop, the await of a real sleep(0) says
 * why not. */
int cio__yield(cio_coro *co, cio_loop *loop)
{
    cio__task *t = loop != NULL && !loop->closed ? loop->current : NULL;

    if (t == NULL)
        return cio__await(co, loop, cio_sleep(loop, 0));
    release_awaited(t);
    co->wait_on = NULL;
    return CIO_CORO_PENDING;
}

void cio__await_resume(cio_coro *co, cio_loop *loop)
{
    cio__task *t = loop != NULL ? loop->current : NULL;
    cio_future *f = t != NULL ? CIO__TASK_AWAITING(t) : NULL;

    if (t != NULL && cio__own_slot_alone(t, f) && f->state == CIO__DONE
        && f->vt->await_now != NULL && !(co->flags & CIO_CORO_F_CANCEL)) {
        read_own_wait(t, co, f);        /* a woken queue or channel wait */
        return;
    }
    if (co->flags & CIO_CORO_F_CANCEL) {
        co->flags &= ~CIO_CORO_F_CANCEL;
        outcome_into(co, CIO_ECANCELLED);
        return;
    }
    if (f == NULL) {                    /* a yield (an own sleep(0)) */
        outcome_into(co, t != NULL ? 0 : CIO_EINVALSTATE);
        return;
    }
    if (f->state == CIO__PENDING) {
        outcome_into(co, CIO_EINVALSTATE);
        return;
    }
    read_awaited(t, co, f);
}

/* ---- stepping ---- */

/* The task's coroutine ended (or never started): complete the future. */
static void task_finish(cio__task *t, int err, cio_value result)
{
    cio_value v;

    if (t->fut.flags & CIO__TF_MUST_CANCEL)
        err = CIO_ECANCELLED;          /* cancelled after its last await (T7) */
    t->fut.flags &= ~CIO__TF_MUST_CANCEL;
    if (err == CIO_ECANCELLED) {
        cio_future *awaited = CIO__TASK_AWAITING(t);
        const char *msg = pending_cancel_msg(t);

        if (cio__cancels(&t->fut) == 0)
            msg = awaited != NULL ? cio_future_cancel_message(awaited) : NULL;
        v.p = (void *)(uintptr_t)msg;
        release_awaited(t);
        cio__future_finish(&t->fut, CIO__CANCELLED, CIO_ECANCELLED, v);
    } else {
        release_awaited(t);
        v.p = NULL;
        if (err == 0)
            v = result;
        cio__future_finish(&t->fut, CIO__DONE, err, v);
    }
    cio__unpin(&t->fut);               /* the loop's reference */
}

/* The rare sides of cio__task_step_inline (internal.h), out of line. */

int cio__task_step_enter(cio_loop *loop, cio__task *t)
{
    cio_coro *co = CIO__TASK_FRAME(t);

    if (loop->closing || t->fut.state != CIO__PENDING)
        return 0;
    if (!(t->fut.flags & CIO__TF_STARTED)) {   /* cancelled, never ran: it never will (T2) */
        t->fut.flags &= ~CIO__TF_WAITING;
        task_finish(t, CIO_ECANCELLED, co->result);
        return 0;
    }
    t->fut.flags &= ~CIO__TF_MUST_CANCEL;
    co->flags |= CIO_CORO_F_CANCEL;
    return 1;
}

void cio__task_step_ended(cio_loop *loop, cio__task *t, int rc)
{
    cio_coro *co = CIO__TASK_FRAME(t);

    if (rc == CIO_CORO_DONE)
        task_finish(t, co->err, co->result);
    else
        cio__loop_schedule(loop, &t->step);     /* a yield: one iteration */
}

void cio__task_step_cancel_awaited(cio__task *t, cio_future *f)
{
    if (cio_future_cancel(f, pending_cancel_msg(t)))
        t->fut.flags &= ~CIO__TF_MUST_CANCEL;     /* the awaited future carries it */
}

void cio__task_step(cio_loop *loop, cio__node *node)
{
    cio__task_step_inline(loop, node, 0);
}

/* asyncio's Task.cancel: cancel what the task waits on, else deliver
 * CIO_ECANCELLED at its next step. */
static int task_cancel(cio_future *f, const char *msg)
{
    cio__task *t = TASK(f);

    if (f->state != CIO__PENDING)
        return 0;
    if (cio__cancels(&t->fut) < CIO__CANCELS_MAX)
        cio__set_cancels(&t->fut, cio__cancels(&t->fut) + 1);
    if (msg != NULL || pending_cancel_msg(t) != NULL) {
        /* Kept aside (the future's result slot holds its callbacks while
         * pending); without memory the message is lost, not the cancel. */
        task_extras *x = extras_of(t);

        if (x == NULL)
            x = extras_make(t, NULL);
        if (x != NULL)
            x->cancel_msg = msg;
    }
    if ((t->fut.flags & CIO__TF_WAITING) && cio_future_cancel(CIO__TASK_AWAITING(t), msg))
        return 1;
    t->fut.flags |= CIO__TF_MUST_CANCEL;
    return 1;
}

static void task_destroy(cio_future *f)
{
    cio__task *t = TASK(f);
    cio_loop *loop = f->loop;
    int linked = is_linked(t);
    size_t bytes = linked ? cio_task_size(t->type) : task_bytes(t->type);

    if (linked)
        unlink_task(loop, t);
    release_awaited(t);
    cio__timer_forget(loop, &t->slot.u.timer);
    extras_drop(t, NULL);
    if (t->fut.flags & CIO__FF_STATIC)
        return;
#if CIO__TASK_POOLS
    if (!linked) {
        cio__pool_free_task(loop, t, bytes);
        return;
    }
#endif
    cio__pool_free(loop, t, bytes);
}

/* Call fn(t, arg) for every live task, linked or in the task pools. fn may
 * free t, not another linked task. */
static void each_task(cio_loop *loop, void (*fn)(void *t, void *arg), void *arg)
{
    cio__task *t, *next;

    for (t = loop->tasks; t != NULL; t = next) {
        next = link_of(t)->next;
        fn(t, arg);
    }
#if CIO__TASK_POOLS
    cio__pool_walk_tasks(loop, &cio__task_vt, fn, arg);
#endif
}

static void pin_task(void *t, void *arg)
{
    (void)arg;
    cio__pin(&((cio__task *)t)->fut);
}

/* A pending task at loop free: report it, release what it awaits (which
 * may free gathers, never a task: all are pinned) and drop the loop's
 * reference. */
static void abandon_task(void *p, void *arg)
{
    cio__task *t = p;
    cio_loop *loop = arg;

    if (t->fut.state != CIO__PENDING)
        return;
    cio__report(loop, "Task was destroyed but it is pending!", 0, NULL, &t->fut);
    release_awaited(t);
    if (cio__refs(&t->fut) < CIO__REFS_MAX)
        t->fut.rc--;              /* the loop's reference */
}

static void unpin_task(void *t, void *arg)
{
    (void)arg;
    cio_future_unref(&((cio__task *)t)->fut);
}

/* Still referenced by the application: free it anyway, the loop is going
 * away. */
static void force_free_task(void *p, void *arg)
{
    cio__task *t = p;

    (void)arg;
    cio__set_refs(&t->fut, 1);
    t->fut.flags |= CIO__FF_RETRIEVED;
    cio_future_unref(&t->fut);
}

/* The loop is being freed: report and free every task still alive. Tasks
 * are pinned first so that releasing what they await (which may free
 * gathers holding other tasks) never frees one under our feet. */
void cio__tasks_destroy_all(cio_loop *loop)
{
    each_task(loop, pin_task, NULL);
    each_task(loop, abandon_task, loop);
    each_task(loop, unpin_task, NULL);
    each_task(loop, force_free_task, NULL);
}

cio_future *cio__task_of_node(cio__node *n)
{
    return n->run == cio__task_step ? &CIO__CONTAINER_OF(n, cio__task, step)->fut : NULL;
}

/* ---- cancellation counts (asyncio 3.11+) ---- */

int cio_task_cancelling(const cio_future *f)
{
    return cio_task_is_task(f) ? (int)cio__cancels(f) : 0;
}

int cio_task_uncancel(cio_future *f)
{
    if (!cio_task_is_task(f))
        return CIO_ENOTTASK;
    if (cio__cancels(f) > 0 && cio__cancels(f) < CIO__CANCELS_MAX) {
        cio__set_cancels(f, cio__cancels(f) - 1);
        if (cio__cancels(f) == 0)
            f->flags &= ~CIO__TF_MUST_CANCEL;
    }
    return (int)cio__cancels(f);
}

typedef struct task_list {
    cio_future **out;
    size_t cap, n;
} task_list;

static void list_pending(void *p, void *arg)
{
    cio__task *t = p;
    task_list *l = arg;

    if (t->fut.state != CIO__PENDING)
        return;
    if (l->out != NULL && l->n < l->cap)
        l->out[l->n] = &t->fut;
    l->n++;
}

size_t cio_loop_all_tasks(cio_loop *loop, cio_future **out, size_t cap)
{
    task_list l;

    if (loop == NULL)
        return 0;
    l.out = out;
    l.cap = cap;
    l.n = 0;
    each_task(loop, list_pending, &l);
    return l.n;
}
