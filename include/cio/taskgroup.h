/* cio/taskgroup.h - task groups, like asyncio.TaskGroup.
 *
 * A group owns child tasks. cio_taskgroup_wait (the end of `async with`)
 * completes when every child has ended. The first child that fails makes
 * the group cancel its other children; the wait then fails with that first
 * error, and cio_taskgroup_errors gives every child's error (asyncio's
 * ExceptionGroup), not only the first. Cancelling the waiting task cancels
 * the children too; the wait ends once they have. Unlike asyncio, a failing
 * child does not cancel the parent while it is still spawning: the parent
 * learns at its wait.
 */
#ifndef CIO_TASKGROUP_H
#define CIO_TASKGROUP_H

#include "cio/common.h"

CIO_EXTERN_C_BEGIN

/* A task group (asyncio.TaskGroup). */
typedef struct cio_taskgroup cio_taskgroup;

/* A new, empty group; NULL if out of memory. */
CIO_API cio_taskgroup *cio_taskgroup_new(cio_loop *loop);

/* Put task in the group (taking the reference, as CIO_AWAIT would).
 * CIO_EINVAL if it is not a task of this loop, CIO_EINVALSTATE once the
 * group is shutting down (the task is then cancelled), CIO_ENOMEM; on an
 * error the task is not in the group. */
CIO_API int cio_taskgroup_add(cio_taskgroup *g, cio_future *task);

/* Done when every child has ended: 0, the first child error, or
 * CIO_ECANCELLED if the wait was cancelled (and no child failed). */
CIO_API cio_future *cio_taskgroup_wait(cio_taskgroup *g);

/* Every child error so far, in the order they happened: returns how many;
 * the first `cap` go to errs. */
CIO_API size_t cio_taskgroup_errors(const cio_taskgroup *g, int *errs, size_t cap);

/* Free the group: 0, or CIO_EBUSY while children run or a wait is open. */
CIO_API int cio_taskgroup_free(cio_taskgroup *g);

CIO_EXTERN_C_END

#endif /* CIO_TASKGROUP_H */
