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

/* One argument of a direct call (see kp_task_prepare). */
typedef struct kp_task_arg {
    const kp_template_item *item;
    bool constant; /* a literal, converted once into ctx->call */
} kp_task_arg;

enum { KP_ROW_ADDRESS, KP_ROW_VALUE, KP_ROW_RANGE };

typedef struct kp_task_ctx {
    const kp_input *input;   /* NULL for apply: the task has no record */
    const kp_template *args; /* record -> argument tuple */
    const kp_kernel *kernel;
    const size_t *index_map; /* task -> input record (a resumed run's left tasks); NULL = same */
    kp_arena arena;          /* reset before each task */
    char message[KP_ERR_MAX];
    /* Set by kp_task_prepare: */
    bool per_item; /* each template item is one argument: no tuple is built */
    kp_task_arg plan[KP_MAX_PARAMS];
    kp_call_args call;  /* bound once; literals filled in once, the rest per task */
    kp_arena constants; /* converted literal arrays and strings */
    /* The row plan (kp_task_prepare): an npy input whose rows or values, or
     * a range whose integers, go to the kernel unconverted, and a kernel
     * called directly. `words` holds the literals (loaded once), and a
     * task puts its row's address, values read from the row, or its range
     * integer in the `nrow` words row_word[] names, in place: a worker
     * process runs one task at a time on its own copy of the context. */
    bool rows;
    uint64_t words[KP_DIRECT_REGS];
    const unsigned char *row_base;
    size_t row_stride, row_count, nrow;
    uint64_t range_start, range_step;
    struct {
        uint8_t word;
        uint8_t how;     /* KP_ROW_ADDRESS, KP_ROW_VALUE or KP_ROW_RANGE */
        uint32_t offset; /* KP_ROW_VALUE: bytes into the row */
    } row_word[KP_MAX_PARAMS];
} kp_task_ctx;

/* Prepares ctx (input, args and kernel set; arena initialised) for many
 * tasks: when the template has no $* and one item per parameter, literal
 * arguments are converted once here and a task converts only what comes
 * from its record. A literal that does not fit its parameter is an error
 * now, naming the argument, instead of in every task. When besides every
 * other argument comes unconverted from an npy row ($0 as an array of the
 * file's type, or $K / a 1-d file's $0 as an 8-byte scalar of its type) or
 * is a range's integer ($0 as an i64) and
 * the kernel is called directly, ctx->rows is set: a task then reads nothing
 * but its row. Clearing ctx->rows afterwards keeps the general way. */
int kp_task_prepare(kp_task_ctx *ctx, kp_err *err);

/* Frees what kp_task_prepare made. */
void kp_task_release(kp_task_ctx *ctx);

/* Runs task `index` and fills *o (kind OK, FAILED or BAD_INPUT; attempts 1).
 * o->message and o->str point into ctx or the arena and stay valid until the
 * next kp_task_run on ctx. */
void kp_task_run(kp_task_ctx *ctx, size_t index, kp_outcome *o);

/* The row plan's short way (kp_task_fast): runs task `index` and returns
 * true with the 8 bytes kp_task_run would put in o->value when the task
 * succeeded; else returns false with *o filled as kp_task_run fills it. */
bool kp_task_run_value(kp_task_ctx *ctx, size_t index, uint64_t *value, kp_outcome *o);

/* Whether kp_task_run_value serves ctx: the row plan, no index map, and a
 * fixed-width return type. */
bool kp_task_fast(const kp_task_ctx *ctx);

/* Calls `kernel` once with literal `args` (an initializer). Returns 0, or
 * KPOOL_EFAILED / a conversion error with the reason in err. */
int kp_task_call_literals(const kp_kernel *kernel, const kp_template *args, kp_err *err);

#endif
