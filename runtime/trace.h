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
 * "timeout", "stopped"), ns (the durations of its tasks, in order, in
 * integer nanoseconds) and, for every outcome but ok, message. An entry of
 * ns is one task's duration, or a pair [n,d]: n >= 2 consecutive tasks timed
 * together, which took d ns between them. Tasks shorter than
 * KP_TRACE_GROUP_COST readings of the clock (about 2.6 us where the TSC
 * costs 13 ns) are timed so, in groups of up to KP_TRACE_GROUP_MAX tasks
 * that last at least that long; longer tasks are timed one by one. The line
 * covers as many tasks from task on as its entries count (1 for a
 * duration, n for a pair); each task or group starts where the previous one
 * ended, so end - start is the sum of the durations, exactly. A task that
 * fails, crashes or is stopped inside a group is timed with the group's
 * tasks before it: of the time since the group started, it gets an equal
 * share on its own line, they the rest as one entry. A line of any outcome
 * but ok covers one task:
 *
 *   {"task":0,"worker":0,"pid":3504,"attempt":1,"start":0.001113297,
 *    "end":0.001185412,"outcome":"ok","ns":[68729,1824,[64,1562]]}
 *   {"task":17,"worker":1,"pid":4242,"attempt":1,"start":0.012000131,
 *    "end":0.012000342,"outcome":"crashed","ns":[211],"message":"SIGSEGV"}
 *
 * A run's line ends at a task that is not ok, a task whose index is not the
 * previous one's + 1 (a resumed run skips tasks), a task that starts afresh
 * (a new range of tasks; after a write of the trace), an attempt change, and
 * when the worker's buffer is nearly full or the line holds KP_TRACE_RUN_MAX
 * tasks. On the seed job most lines hold thousands of tasks, in groups of
 * up to 128 written in a few bytes each.
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
 * A task whose worker died under it cannot write its own line. The pool
 * publishes the task each worker runs in shared memory (kp_worker_shared's
 * `current`): the worker's signal and exit handlers record that task in the
 * trace's slot with when and how it died, and the pool records it there
 * when it reaps a worker that died with no handler; the line is then written
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
#include "fdio.h"
#include "fmt.h"
#include "output.h"

#include <stdatomic.h>
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
 * the map from the pool's task numbers to the job's (a resumed run of
 * `tasks` tasks; NULL = the same), which must stay valid until
 * kp_trace_close, and the job's task_timeout (for the message of a
 * timed-out attempt that is retried). */
void kp_trace_start(kp_trace *tr, const size_t *index_map, size_t tasks, double task_timeout);

/* The pool reaped the worker of slot `slot`, which was running pool task
 * `running` - 1 (0: none; kp_worker_shared.current): a worker killed with
 * no handler (SIGKILL) gets that task recorded here. Call before the task's
 * failure is reported and before the slot's next worker starts. Accepts a
 * NULL tr. */
void kp_trace_worker_died(kp_trace *tr, int slot, uint64_t running);

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

/* Starts tracing in this worker for slot `slot`, whose running task (pool
 * task number + 1, 0 = none) the pool publishes at `running`; writes the
 * line of the task the slot's previous worker died under, if nobody wrote
 * it yet. Returns false (and traces nothing) for a slot beyond the trace's
 * workers. */
bool kp_trace_worker_begin(kp_trace *tr, int slot, const _Atomic uint64_t *running);

/* Before the first task of a range (consecutive pool task numbers, one
 * attempt): that task starts now, on a new line. Each next task of the
 * range starts when the previous one ended (or when the trace was last
 * written, if it was in between), so a task's time includes the worker's own
 * work for it (sending its result, recording its duration), which is the
 * per-task cost a run really pays. */
void kp_trace_range_begin(uint32_t attempt);

/* Right after a task of the range ran, with its outcome (pool task number,
 * kind, message). The clock is read at most once per task, and once per
 * group of short tasks (see trace.c). An ok task extends the open run,
 * unless the run is full or (a resumed run) the next job index is not the
 * previous one's + 1; any other task closes it. Inline (below): on the seed
 * job a task lasts a few tens of nanoseconds, and a task inside a group
 * costs its trace a countdown and a count. */
static inline void kp_trace_task_end(const kp_outcome *o);

/* After the last task of a range, before the worker does anything else:
 * reads the clock if that task ended inside a group, so that the time until
 * the next task (which starts afresh) is nobody's. */
static inline void kp_trace_range_end(void);

/* kp_trace_task_end for an ok task with no text (the short way of
 * worker.c), pool task number `index`: its attempt is the open run's. */
static inline void kp_trace_task_end_ok(uint64_t index);

/* Closes the open run and writes the buffered lines; the next task starts
 * after the write. Call with SIGTERM blocked. */
void kp_trace_worker_flush(void);

/* From a handler of a death (signal number, or 0 for exit()): writes the
 * buffered lines and the open run, however far the interrupted worker was
 * in recording a task, and records in the slot when and how the running
 * task (the pool's record, kp_trace_worker_begin's `running`) ended.
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

/* ---- the per-task path, inline ----------------------------------------- */

/* What follows is the state kp_trace_task_begin and kp_trace_task_end need,
 * visible here only so that they can be inline; nothing else may touch it.
 * trace.c says how it stays consistent for a signal handler. */

/* Workers read the TSC (x86-64, where the kernel's clock is the TSC too; the
 * conversion to nanoseconds needs 128-bit products) or else the clock. */
#if defined(__x86_64__) && defined(__SIZEOF_INT128__)
#define KP_TRACE_TSC 1
#else
#define KP_TRACE_TSC 0
#endif

/* The most tasks one line holds: a longer run goes on on the next line. */
#define KP_TRACE_RUN_MAX 8192

/* Short tasks are timed in groups (see trace.c): at most this many a group,
 * and a group lasts at least this many times what reading the clock costs. */
#define KP_TRACE_GROUP_MAX  128
#define KP_TRACE_GROUP_COST 200

/* A slot's state: no task waits for its line (FREE); its worker died with
 * no handler while running task `index`, recorded by the pool (OPEN); or
 * its handler recorded the task it died under, when and how (DEAD). */
enum { KP_TRACE_SLOT_FREE, KP_TRACE_SLOT_OPEN, KP_TRACE_SLOT_DEAD };

/* One worker slot, shared between the worker (writes) and the coordinator
 * and the slot's next worker (read after it died). */
typedef struct kp_trace_slot {
    _Atomic uint32_t state;   /* KP_TRACE_SLOT_* */
    _Atomic uint32_t writing; /* inside a write of the trace: a SIGKILL may cut it */
    int32_t pid;
    int32_t sig;      /* KP_TRACE_SLOT_DEAD: the signal it died of, 0 for exit() */
    uint32_t attempt; /* of the range the worker runs */
    uint32_t reserved;
    uint64_t index; /* OPEN, DEAD: the pool's task number */
    /* The worker's latest reading (TSC or ns): the start of the task, or of
     * its group for a task inside one (a task killed by SIGKILL there is
     * given its group's start). */
    uint64_t start;
    /* KP_TRACE_SLOT_DEAD: the task's start and end in ns (CLOCK_MONOTONIC),
     * set by the worker's handler. */
    int64_t start_ns, end_ns;
    char pad[8];
} kp_trace_slot;

_Static_assert(sizeof(kp_trace_slot) == 64, "one cache line per slot");

_Static_assert(KP_TRACE_RUN_MAX < 65536, "a run's tasks and readings fit in 16 bits");

/* This worker's side of the trace. */
typedef struct kp_trace_worker {
    /* What a signal handler writes out, committed in one store: the bytes
     * of complete lines in the buffer (bits 32-63), and the open run's
     * readings (bits 16-31) and tasks (bits 0-15; 0 = no run open).
     * Lock-free atomics are async-signal-safe (C11 7.14.1.1). */
    _Atomic uint64_t state;
    kp_trace_slot *slot;
    /* Tasks until the clock is read again: the one check of a task's end.
     * Above 1 only while a run is open with room for countdown - 1 more
     * tasks, so that an ok task that follows and does not end its group
     * extends the run, unread, with no other check. */
    uint32_t countdown;
    uint32_t group;    /* the tasks of the group running (1 .. KP_TRACE_GROUP_MAX) */
    uint32_t limit;    /* the most tasks the open run may hold */
    uint32_t attempt;  /* the running task's attempt, and the open run's */
    bool tsc;          /* readings are TSC ticks, else ns of the clock */
    uint64_t min_span; /* the least time a group spans, in readings */
    uint64_t last;     /* the latest reading: a group's end, or a fresh start */
    /* The open run's readings, in order: when a task ended (read_at), and
     * how many of the run's tasks had ended by then (read_tasks). The first
     * is the end of the run's first task; tasks after the last reading
     * ended inside a group, unread. */
    uint64_t read_at[KP_TRACE_RUN_MAX];
    uint16_t read_tasks[KP_TRACE_RUN_MAX];
} kp_trace_worker;

/* The parts of kp_trace_worker.state. */
static inline uint32_t kp_trace_tasks_(uint64_t state)
{
    return (uint32_t)state & 0xffff;
}

static inline uint32_t kp_trace_reads_(uint64_t state)
{
    return (uint32_t)(state >> 16) & 0xffff;
}

extern kp_trace_worker kp_trace_local;

/* The slow paths of the ones below: a task that ends a group, fails, or
 * does not extend the open run (reads the clock); an ok one of those (pool
 * task number `index`); and a range that ended inside a group. */
void kp_trace_task_end_read(const kp_outcome *o);
void kp_trace_ok_read(uint64_t index);
void kp_trace_close_group(void);

/* A reading of the worker's clock: the TSC, about 13 ns here, else the
 * clock, about 35 ns. trace.c turns readings into nanoseconds. */
static inline uint64_t kp_trace_read(void)
{
#if KP_TRACE_TSC
    if (kp_trace_local.tsc)
        return __builtin_ia32_rdtsc();
#endif
    return (uint64_t)kp_now_ns();
}

/* The common case: an ok task inside a group extends the open run, unread:
 * one more task, in one store. The hooks below tell the compiler it is the
 * common case, so that it lays it out in line: 1.4 ns a task less on the
 * seed's tasks (CPU time, 61 paired runs of ten times its rows). */
static inline void kp_trace_extend_unread_(void)
{
    kp_trace_worker *w = &kp_trace_local;
    uint64_t state = atomic_load_explicit(&w->state, memory_order_relaxed);
    atomic_store_explicit(&w->state, state + 1, memory_order_relaxed);
}

static inline void kp_trace_task_end(const kp_outcome *o)
{
    kp_trace_worker *w = &kp_trace_local;
    if (__builtin_expect(o->kind == KP_TASK_OK && --w->countdown != 0, 1)) {
        kp_trace_extend_unread_();
        return;
    }
    kp_trace_task_end_read(o);
}

static inline void kp_trace_task_end_ok(uint64_t index)
{
    kp_trace_worker *w = &kp_trace_local;
    if (__builtin_expect(--w->countdown != 0, 1)) {
        kp_trace_extend_unread_();
        return;
    }
    kp_trace_ok_read(index);
}

static inline void kp_trace_range_end(void)
{
    kp_trace_worker *w = &kp_trace_local;
    uint64_t state = atomic_load_explicit(&w->state, memory_order_relaxed);
    uint32_t n = kp_trace_tasks_(state);
    if (n && w->read_tasks[kp_trace_reads_(state) - 1] != n)
        kp_trace_close_group();
}

#endif
