/* trace.h - `--trace FILE.jsonl`: JSON lines of the task attempts.
 *
 * A line covers one task attempt, or a *run*: tasks that one worker ran back
 * to back (each starting where the previous one ended), with consecutive job
 * indices, the same attempt, and outcome ok. Each line is an object with, in
 * this order: task (the job's index of its first task), worker (the worker
 * slot, 0 .. workers-1), pid (the worker process), attempt, start and end
 * (seconds since the run started, CLOCK_MONOTONIC, to the nanosecond; where
 * the kernel's clock is the TSC, workers read the TSC between readings of
 * the clock, see trace.c), outcome ("ok", "failed", "bad-input", "crashed",
 * "timeout", "stopped"), ns (each task's duration in integer nanoseconds,
 * one per task: the line covers tasks task .. task + len(ns) - 1; task k
 * starts ns[0] + ... + ns[k-1] after start, so end - start is their sum,
 * exactly) and, for every outcome but ok, message. A line of any outcome but
 * ok covers one task:
 *
 *   {"task":0,"worker":0,"pid":3504,"attempt":1,"start":0.001113297,
 *    "end":0.001184631,"outcome":"ok","ns":[68729,1824,781]}
 *   {"task":17,"worker":1,"pid":4242,"attempt":1,"start":0.012000131,
 *    "end":0.012000342,"outcome":"crashed","ns":[211],"message":"SIGSEGV"}
 *
 * A run's line ends at a task that is not ok, a task whose index is not the
 * previous one's + 1 (a resumed run skips tasks), a task that starts afresh
 * (a new range of tasks; after a write of the trace), an attempt change, and
 * when the worker's buffer is nearly full. On the seed job most lines hold
 * hundreds of tasks, a few bytes each.
 *
 * The trace costs little because the workers write it themselves, in
 * parallel: each formats its lines into a buffer and appends the buffer to
 * the file (O_APPEND, one write per buffer, so buffers of different workers
 * never interleave inside a line). A worker writes its buffer, with its open
 * run closed, before each batch of results it sends, so a task whose result
 * reached the coordinator always has its line. Lines are grouped by worker
 * and batch, not sorted. A worker that dies of a signal or exit() writes its
 * buffer and open run from its handler.
 *
 * A task whose worker died under it cannot write its own line. Each worker
 * slot publishes the task it is running in shared memory, and the worker's
 * signal and exit handlers add when and how it died; the line is then written
 * by the coordinator when the pool reports the task's final failure (outcome
 * and message as the pool reports them), by the slot's replacement worker
 * when the task is retried (outcome "crashed" or "timeout" as the death looked
 * from inside the worker), or by the coordinator at the end of the run
 * ("stopped" when the run was interrupted or stopped while the task ran).
 * A worker killed by SIGKILL runs no handler: its task's end is when the
 * coordinator or the replacement noticed the death, its message says
 * "SIGKILL", and the lines of the tasks it had finished but not yet written
 * are lost together with their results, which the pool re-runs, so those
 * tasks appear with the attempt that re-ran them. A SIGKILL in the middle of
 * a worker's write can cut a line short; the coordinator then removes such
 * fragments when the run ends, so the file is always valid JSON lines.
 *
 * Internal to libkpool: job.c drives the coordinator side, worker.c the
 * worker side. */
#ifndef KP_TRACE_H
#define KP_TRACE_H

#include "error.h"
#include "fmt.h"
#include "output.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kp_trace kp_trace;

/* ---- coordinator ------------------------------------------------------- */

/* Creates (truncates) the trace file `path` for a pool of `workers` slots.
 * Returns 0 with *out set, KPOOL_EIO naming the path when it cannot be
 * opened, KPOOL_ENOMEM. Call before the pool forks its workers. */
int kp_trace_open(kp_trace **out, const char *path, int workers, kp_err *err);

/* Marks the start of the run (times in the trace count from here) and sets
 * the map from the pool's task numbers to the job's (a resumed run; NULL =
 * the same), which must stay valid until kp_trace_close, and the job's
 * task_timeout (for the message of a timed-out attempt that is retried). */
void kp_trace_start(kp_trace *tr, const size_t *index_map, double task_timeout);

/* The pool's final failure of a task (pool task number in o->index): writes
 * the line of a task whose worker died under it (crashed, timeout). Other
 * kinds were written by their worker; they are ignored here. */
void kp_trace_failure(kp_trace *tr, const kp_outcome *o);

/* After the pool returned: writes the lines of tasks still open in a slot
 * (outcome "stopped" when `stopped`, else as their death looked), removes
 * fragments a SIGKILL may have left, closes the file and frees tr. Returns
 * 0 or KPOOL_EIO naming the file. Accepts NULL. */
int kp_trace_close(kp_trace *tr, bool stopped, kp_err *err);

/* Removes the fragments of cut-short lines from a trace file: every line must
 * start with {"task": and end with a newline. Returns 0 or KPOOL_EIO. */
int kp_trace_repair(const char *path, kp_err *err);

/* ---- worker (in the forked worker process, after fork) ----------------- */

/* Starts tracing in this worker for slot `slot`; writes the line of the task
 * the slot's previous worker died under, if nobody wrote it yet. Returns
 * false (and traces nothing) for a slot beyond the trace's workers. */
bool kp_trace_worker_begin(kp_trace *tr, int slot);

/* Around one task: begin right before it runs, end right after, with its
 * outcome (pool task number, kind, message). The clock is read once per
 * task: a task that `follows` the previous one in the same range starts
 * when that one ended (unless the trace was written in between), so a
 * task's time includes the worker's own work for it (sending its result,
 * recording its duration), which is the per-task cost a run really pays.
 * An ok task that starts where the open run ended, with the next index and
 * the same attempt, extends the run; any other task closes it. */
void kp_trace_task_begin(uint64_t index, uint32_t attempt, bool follows);
void kp_trace_task_end(const kp_outcome *o);

/* Closes the open run and writes the buffered lines. Async-signal-safe;
 * call with SIGTERM blocked (or from a handler). */
void kp_trace_worker_flush(void);

/* From a handler of a death (signal number, or 0 for exit()): writes the
 * buffered lines and the open run, however far the interrupted worker was
 * in recording a task, and records when and how the running task ended.
 * Async-signal-safe. The worker traces nothing more after it. */
void kp_trace_worker_dying(int sig);

/* ---- formatting shared with the report --------------------------------- */

/* Appends s as a JSON string (quotes included) at p and returns the end.
 * Escapes quote, backslash and control characters; invalid UTF-8 bytes
 * become U+FFFD. With `html`, also escapes < > & and U+2028/U+2029, so the
 * text can sit inside an HTML <script> element. Writes at most
 * 6 * strlen(s) + 2 bytes. */
char *kp_json_string(char *p, const char *s, size_t len, bool html);

/* Appends ns as seconds with nine decimals ("12.000000345") at p and
 * returns the end (negative values are written as 0). */
char *kp_fmt_seconds(char *p, int64_t ns);

#endif
