/* output.h - writing results and failures.
 *
 * The coordinator hands the writer one finished task at a time, already in the
 * order the job asked for (input order or completion order); the writer only
 * formats. Floats are written as the shortest text that reads back to the same
 * value of their type (Python's repr for doubles). */
#ifndef KP_OUTPUT_H
#define KP_OUTPUT_H

#include "error.h"
#include "types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum kp_output_format { KP_OUT_CSV, KP_OUT_JSONL, KP_OUT_NPY } kp_output_format;

typedef enum kp_task_kind {
    KP_TASK_OK,
    KP_TASK_FAILED,    /* the kernel called kpool_fail */
    KP_TASK_CRASHED,   /* the worker died: signal, exit, abort */
    KP_TASK_TIMEOUT,   /* ran past task_timeout */
    KP_TASK_BAD_INPUT, /* the record or an argument could not be converted */
    KP_TASK_NOT_RUN,   /* the run stopped (on_error = stop, SIGINT) before it ran */
} kp_task_kind;

/* "failed", "crashed", "timeout", "bad-input", "not-run" ("ok" for KP_TASK_OK). */
const char *kp_task_kind_name(kp_task_kind k);

/* The outcome of one task as the writer sees it. */
typedef struct kp_outcome {
    size_t index;
    kp_task_kind kind;
    kp_type type; /* the kernel's return type */
    union {
        bool b;
        int64_t i;  /* every signed integer type, widened */
        uint64_t u; /* every unsigned integer type, widened */
        float f32;
        double f64;
    } value;
    const char *str;     /* KP_T_STR result, or NULL */
    const char *message; /* failures: what happened ("SIGSEGV", the kpool_fail text) */
    int signal;          /* crashes by a signal: its number, else 0 */
    int attempts;        /* attempts made, >= 1 */
} kp_outcome;

typedef struct kp_output_config {
    const char *path; /* "-" = stdout */
    kp_output_format format;
    bool index;            /* csv: write "index,result" */
    bool completion_order; /* results arrive in completion order */
    kp_type type;          /* the kernel's return type */
    size_t total;          /* number of tasks (npy needs it up front) */
    /* A resumed run in input order: keep the file's first keep_bytes bytes,
     * the results of tasks 0 .. keep_tasks - 1 (a kp_journal_prefix), and
     * write on after them. 0: start a new file. */
    uint64_t keep_bytes;
    size_t keep_tasks;
} kp_output_config;

typedef struct kp_output kp_output;

/* Opens the destination ("-" = a private duplicate of stdout: closing the
 * writer flushes it and leaves stdout open). npy with completion order, index,
 * or a str/void result is an error (KPOOL_EJOB) that says why; a path that
 * cannot be opened is KPOOL_EIO ("out.csv: cannot open: Permission denied").
 * npy writes its header here. On failure *out is NULL. A writer belongs to one
 * thread at a time. */
int kp_output_open(kp_output **out, const kp_output_config *cfg, kp_err *err);

/* Writes one task's line (or npy slot). Failed tasks keep their line: csv an
 * empty result, jsonl {"index":..,"error":kind,"message":..}, npy 0 or NaN.
 * void kernels write nothing, or with index the indices of tasks that succeeded.
 * The result is read from the `value` member matching cfg->type; a successful
 * outcome whose o->type differs is KPOOL_EINVAL. npy also needs o->index to be
 * the next slot and at most `total` slots (KPOOL_EINVAL). Output is buffered:
 * a write error (KPOOL_EIO, "out.csv: write failed: ...") may surface on a
 * later call or at close. o and its strings may be freed when this returns. */
int kp_output_write(kp_output *out, const kp_outcome *o, kp_err *err);

/* The same as kp_output_write for each of n successes (ok, first attempt, no
 * text) of the consecutive tasks first .. first + n - 1, whose values are the
 * 8 bytes at values + k * stride (a kp_outcome.value each, of `type`). */
int kp_output_write_run(kp_output *out, size_t first, kp_type type, const unsigned char *values,
                        size_t stride, size_t n, kp_err *err);

/* The bytes written so far, buffered ones included (a regular file). */
uint64_t kp_output_tell(kp_output *out);

/* Writes out what is buffered. KPOOL_EIO names the file. */
int kp_output_flush(kp_output *out, kp_err *err);

/* Flushes and closes, always freeing the writer; for npy checks that `total`
 * slots were written (KPOOL_EIO otherwise, the file is then incomplete).
 * Returns the first error. Accepts NULL. */
int kp_output_close(kp_output *out, kp_err *err);

/* Where failures are reported: "-" = stderr as readable lines
 * ("kpool: task 17 crashed (SIGSEGV), attempt 1 of 1", "kpool: task 3 failed:
 * row 3 is empty, attempt 2 of 3"; no attempt part when o->attempts is 0), or
 * a .jsonl path with one object per failure (index, kind, message, attempts,
 * and signal for crashes by a signal). A missing message is the signal's name
 * or empty. Each failure is flushed as it is written; KP_TASK_OK outcomes are
 * ignored. Errors as for kp_output_*; close accepts NULL. */
typedef struct kp_errlog kp_errlog;
int kp_errlog_open(kp_errlog **out, const char *path, kp_err *err);
/* max_attempts: the attempts allowed (1 + retries). */
int kp_errlog_write(kp_errlog *log, const kp_outcome *o, int max_attempts, kp_err *err);
int kp_errlog_close(kp_errlog *log, kp_err *err);

/* Shortest round-trip text of a double / float ("0.1", "1e+16", "inf",
 * "nan", "-0.0"), as Python's repr. Returns the length; buf needs 32 bytes
 * (a smaller n truncates as snprintf does and still returns the full length). */
size_t kp_format_f64(double v, char *buf, size_t n);
size_t kp_format_f32(float v, char *buf, size_t n);

/* Signal name "SIGSEGV" (or "SIGRTMIN+2", "signal 42"), written into buf
 * (truncated to n) and returned. With buf NULL, returns a static string for
 * the common signals and "unknown signal" for others. */
const char *kp_signal_name(int sig, char *buf, size_t n);

#endif
