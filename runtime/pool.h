/* pool.h - the process pool: forked workers run tasks 0..N-1.
 *
 * The coordinator forks the workers after everything a task needs is loaded
 * (plugin, kernel, input mapping), hands each worker a chunk of task indices
 * at a time over a pipe, and collects results over another. Each worker
 * publishes the task it is running in shared memory, so when a worker dies
 * the coordinator knows which task killed it: that task is reported (or
 * retried), the rest of the chunk goes back to the queue, and a new worker
 * takes the dead one's place. */
#ifndef KP_POOL_H
#define KP_POOL_H

#include "error.h"
#include "fdio.h"
#include "output.h"
#include "task.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kp_worker_args;
struct kp_pool_feed;

typedef struct kp_pool_config {
    int workers;                  /* >= 1 */
    size_t chunksize;             /* tasks per claim; 0 = auto */
    size_t max_tasks_per_worker;  /* replace a worker after this many tasks; 0 = never */
    double task_timeout;          /* seconds; 0 = none */
    int retries;                  /* extra attempts after a crash or timeout */
    bool stop_on_error;           /* failures stop the run (on_error other than continue): */
    bool stop_now;                /*   also stop the running tasks (now,fail=...) */
    uint64_t stop_failures;       /*   after this many failures (0 = 1, unless stop_percent) */
    double stop_percent;          /*   or once this % of the finished tasks (>= 10) failed */
    bool completion_order;        /* emit as tasks finish, not in input order */
    bool not_run_tail;            /* a stopped run also emits the tasks nobody reached */
    const kp_kernel *initializer; /* run once in each worker before its tasks; may be NULL */
    const kp_template *initargs;
    /* Limits applied in each worker right after fork; 0 = none. */
    uint64_t memory_limit_mib; /* RLIMIT_AS */
    double cpu_limit;          /* RLIMIT_CPU, seconds (rounded up) */
    uint64_t open_files;       /* RLIMIT_NOFILE */
    bool core_dumps;           /* false: RLIMIT_CORE = 0 */
    /* How many nice(1) steps below the coordinator's CPU priority the
     * workers run (0-19). With as many workers as CPUs, the coordinator,
     * which takes every result and writes them in order, shares a CPU
     * with a worker; at equal priority the worker's bursts preempt it and
     * it becomes the bottleneck when tasks are short (the trivial kernel
     * ran 24% slower, chunksize 1 27%). Relays (backend = mpi) keep the
     * coordinator's priority. */
    int worker_nice;
    /* backend = mpi, rank 0: `remotes` more slots after the workers, each
     * claiming tasks like a worker but forwarding them to another rank
     * (remote_main runs in the slot's process, in place of a worker, and
     * never returns). They
     * run no initializer, obey no timeout or task budget of their own (the
     * other rank's pool does), are never replaced, and only take fresh
     * claims, so every rank sees its ranges in increasing order. */
    int remotes;
    int remote_workers; /* the other ranks' workers: claims are sized for all of them */
    /* remote_fds[k]: remote slot k's socket. The pool hands each to its
     * slot's process alone: it is closed in every other child, and in the
     * pool's process once that slot is forked (set to -1), so that the far
     * end sees the slot's death. */
    int *remote_fds;
    void (*remote_main)(const struct kp_worker_args *a, int remote, void *user);
    void *remote_user;
    /* backend = mpi, ranks > 0: the tasks to run come from `feed` (ranges in
     * increasing order) instead of 0..total-1; no NOT_RUN outcomes, no halting
     * of its own (rank 0 decides). NULL: a normal run. */
    const struct kp_pool_feed *feed;
    /* --trace / --report (trace.h): when set, each worker writes a line per
     * task attempt to this trace, opened before the pool starts; NULL = off. */
    struct kp_trace *trace;
} kp_pool_config;

/* What a feed says (see kp_pool_config.feed). */
typedef enum kp_feed_kind {
    KP_FEED_RANGE,    /* run start .. start+count-1 */
    KP_FEED_END,      /* no more ranges: finish those given */
    KP_FEED_STOP,     /* start no new task (on_error) */
    KP_FEED_STOP_NOW, /* stop the running ones too (on_error now, interrupt) */
} kp_feed_kind;

typedef struct kp_pool_feed {
    int fd; /* readable when `read` has something */
    /* Reads one message. Returns 1 with *kind (and start, count for a range),
     * 0 when nothing more is there now, negative when the feed is gone. */
    int (*read)(void *user, kp_feed_kind *kind, uint64_t *start, uint64_t *count);
    void *user;
} kp_pool_feed;

typedef struct kp_pool_stats {
    size_t total, ok, failed, not_run, retried;
    int workers;         /* the pool's size (at most one per task) */
    int workers_started; /* including replacements */
    int interrupted_by;  /* SIGINT or SIGTERM when the run was interrupted, else 0 */
} kp_pool_stats;

typedef struct kp_pool_sink {
    /* Each task's outcome, once, in the order the job asked for. When the
     * run stops early, tasks that were reached but did not run come as
     * KP_TASK_NOT_RUN (those nobody reached only with not_run_tail). A negative
     * return (e.g. the output cannot be written) stops the run with that code. */
    int (*emit)(const kp_outcome *o, void *user, kp_err *err);
    /* A run of plain successes (ok, first attempt, no text) of the
     * consecutive tasks first .. first + n - 1, in their turn: the 8 bytes at
     * values + k * stride are task first + k's kp_outcome.value, of the
     * kernel's return type. The same as n calls of emit, made cheaply; may be
     * NULL, and then the pool calls emit. */
    int (*emit_run)(uint64_t first, const unsigned char *values, size_t stride, size_t n,
                    void *user, kp_err *err);
    /* A failure as soon as it is final (after its last attempt). */
    void (*failure)(const kp_outcome *o, int max_attempts, void *user);
    /* Called after each batch of outcomes (may be NULL): the moment to make
     * what was emitted durable. A negative return stops the run. */
    int (*flush)(void *user, kp_err *err);
    /* Called about every `tick_ns` while the run lasts (and not at all when
     * NULL or tick_ns is 0): the moment to redraw a progress display. `busy`
     * is how many workers are running tasks. */
    void (*tick)(const kp_pool_stats *stats, int busy, void *user);
    int64_t tick_ns;
    /* Called once, when every first worker's initializer has run and tasks
     * start (may be NULL). */
    void (*started)(void *user);
    void *user;
} kp_pool_sink;

/* chunksize = auto: the size of the next claim when `remaining` tasks are
 * unclaimed, a quarter of each worker's fair share (remaining / (4 * workers)),
 * between 1 and 8192. Claims are large while much is left, so a claim costs
 * nothing next to its tasks, and shrink to single tasks at the end, so that
 * uneven tasks still finish together. Python's fixed ceil(N / (4 * workers))
 * can leave one worker with a whole quarter of its share at the end while the
 * others idle. */
uint64_t kp_guided_claim(uint64_t remaining, uint32_t workers);

/* Runs tasks 0..total-1 to completion. Returns 0 when every task succeeded,
 * KPOOL_EFAILED when some failed or did not run (stats say which),
 * KPOOL_EINTR when SIGINT/SIGTERM stopped it (every finished task was still
 * emitted), KPOOL_EFAILED with err set when an initializer failed (no task
 * ran), KPOOL_ESYS when workers cannot be started. Installs SIGINT/SIGTERM
 * handlers for the duration of the call. No worker outlives the call. */
int kp_pool_run(const kp_pool_config *cfg, kp_task_ctx *ctx, size_t total, const kp_pool_sink *sink,
                kp_pool_stats *stats, kp_err *err);

#endif
