/* run.c - cio_run, like asyncio.run: a loop for one main task; what main
 * leaves behind is cancelled and awaited before the loop goes. */
#include "internal.h"

/* Cancel every pending task and run until they have all finished. */
static void cancel_all(cio_loop *loop)
{
    size_t n = cio_loop_all_tasks(loop, NULL, 0), i;
    cio_future **tasks;

    if (n == 0)
        return;
    tasks = cio_alloc(n * sizeof *tasks);
    if (tasks == NULL)
        return;                 /* cio_loop_free reports and frees them */
    n = cio_loop_all_tasks(loop, tasks, n);
    for (i = 0; i < n; i++) {
        cio_future_ref(tasks[i]);       /* one for the gather, one for us */
        cio_future_ref(tasks[i]);
        cio_future_cancel(tasks[i], NULL);
    }
    cio_loop_run_until_complete(loop, cio_gather_ex(loop, n, tasks, 1), NULL);
    /* as asyncio.run: a leftover that failed otherwise than cancelled is
     * reported (the gather marked it retrieved) */
    for (i = 0; i < n; i++) {
        int err = cio_future_done(tasks[i]) ? cio_future_error(tasks[i]) : 0;

        if (err != 0 && err != CIO_ECANCELLED)
            cio__report(loop, "unhandled error during cio_run() shutdown", err, NULL, tasks[i]);
        cio_future_unref(tasks[i]);
    }
    cio_free(tasks, n * sizeof *tasks);
}

int cio_run(const cio_task_type *type, const void *frame, cio_value *result)
{
    cio_loop *loop;
    cio_future *main;
    int err;

    if (cio__loop_running_here())
        return CIO_EBUSY;       /* asyncio: cannot be called from a running loop */
    loop = cio_loop_new();
    if (loop == NULL)
        return CIO_ENOMEM;
    main = cio_task_new(loop, type, frame);
    err = cio_loop_run_until_complete(loop, main, result);
    cancel_all(loop);
    cio_loop_free(loop);
    return err;
}
