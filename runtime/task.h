/* task.h - running one task inside a worker: record -> tuple -> kernel call.
 *
 * Everything a task needs was set up in the coordinator before the workers
 * were forked; a worker only reads it. */
#ifndef KP_TASK_H
#define KP_TASK_H

#include "arena.h"
#include "input.h"
#include "kernel.h"
#include "output.h"
#include "template.h"

typedef struct kp_task_ctx {
    const kp_input *input;   /* NULL for apply: the task has no record */
    const kp_template *args; /* record -> argument tuple */
    const kp_kernel *kernel;
    kp_arena arena; /* reset before each task */
    char message[KP_ERR_MAX];
} kp_task_ctx;

/* Runs task `index` and fills *o (kind OK, FAILED or BAD_INPUT; attempts 1).
 * o->message and o->str point into ctx or the arena and stay valid until the
 * next kp_task_run on ctx. */
void kp_task_run(kp_task_ctx *ctx, size_t index, kp_outcome *o);

/* Calls `kernel` once with literal `args` (an initializer). Returns 0, or
 * KPOOL_EFAILED / a conversion error with the reason in err. */
int kp_task_call_literals(const kp_kernel *kernel, const kp_template *args, kp_err *err);

#endif
