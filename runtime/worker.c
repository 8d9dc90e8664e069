/* worker.c - the life of a worker process.
 *
 * A worker claims ranges of task indices from the shared cursor, runs them,
 * and sends the results back in batches. Before each task it publishes the
 * task's index in shared memory, so that if the kernel kills the process the
 * coordinator knows which task did it. Results finished before a fatal signal
 * are still sent: the signal handlers write out the batch (only the bytes of
 * complete results, see `committed`) and then die of the same signal. */
#include "fdio.h"
#include "plugin.h"
#include "trace.h"
#include "wire.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define KP_WORKER_BATCH (256 * 1024)
/* A batch is sent at the latest this long after its first result. */
#define KP_FLUSH_NS 5000000
/* ... and after the range that brought it to this many tasks: else a
 * worker that runs fast ranges back to back sends nothing until the window
 * stops it, and the coordinator, idle until then, writes the whole window
 * while both workers wait (the trivial kernel ran in that lockstep). */
#define KP_FLUSH_TASKS 4096

static int result_fd = -1;
static unsigned char batch[KP_WORKER_BATCH];
/* Bytes of `batch` holding complete results. Signal handlers read it, so it
 * is only advanced after a whole result has been copied in. */
static volatile sig_atomic_t committed;
/* The open run (KP_WIRE_RUN or KP_WIRE_SLOTS): its header's offset in
 * `batch`, -1 when there is none. It is always the batch's last record, and
 * its count is written into the header only when it closes (close_run),
 * derived from `committed` (or `slot_next`): so a handler can close it at
 * any instant. */
static volatile sig_atomic_t run_head = -1;
static uint64_t run_next; /* the index the run's next task must have */
/* With the pool's value slots (wire.h), the values of a long range go
 * there, and its runs are KP_WIRE_SLOTS records. The open one holds tasks
 * slot_first .. slot_next - 1 (a handler counts them from `slot_next`, which
 * moves only after a value is stored) and takes task `index` next when
 * index == slot_next and index < slot_limit: slot_limit is 0 while no slots
 * run is open, and ends a run once it has as many values as a batch would
 * hold. Short ranges keep their values in the batch: where workers take
 * turns task by task (chunksize 1), neighbouring slots would share a cache
 * line between their cores: 18-30% more CPU on the seed with chunksize 1. */
static uint64_t *values;
static uint64_t value_mask;
static bool slots_now;                     /* the range running puts its values in the slots */
static volatile sig_atomic_t run_in_slots; /* the open run is KP_WIRE_SLOTS */
static uint64_t slot_first, slot_limit;
static _Atomic uint64_t slot_next;
#define KP_SLOTS_RUN_MAX   (KP_WORKER_BATCH / 8)
#define KP_SLOTS_MIN_RANGE 64
static int64_t last_flush_ns;
static uint64_t unsent_tasks; /* tasks run since the last flush */
/* How often run_range reads the clock (see there). */
static int64_t last_check_ns;
static unsigned since_check, check_every = 1;
/* --trace: this worker writes a line per task (trace.h). */
static bool tracing;

/* Runs fn with SIGTERM blocked, so that its handler never sends the same
 * bytes a second time. */
static void block_term(sigset_t *old)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, old);
}

/* Writes the open run's count into its header. Safe in a handler: a run
 * being opened is not yet below `committed`, and its predecessor was closed
 * before it began. */
static void close_run(void)
{
    int h = run_head;
    if (h >= 0 && h < committed) {
        uint64_t n = run_in_slots
                         ? atomic_load_explicit(&slot_next, memory_order_relaxed) - slot_first
                         : ((uint64_t)committed - (uint64_t)h - sizeof(kp_wire_result)) / 8;
        memcpy(batch + h + offsetof(kp_wire_result, value), &n, sizeof n);
    }
}

static void flush_batch(void)
{
    if (committed) {
        sigset_t old;
        block_term(&old);
        /* The trace lines of these results first: a result that reached the
         * coordinator always has its line. */
        if (tracing)
            kp_trace_worker_flush();
        close_run();
        if (kp_write_all(result_fd, batch, (size_t)committed) < 0)
            _exit(3); /* the coordinator is gone */
        committed = 0;
        run_head = -1;
        slot_limit = 0;
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    last_flush_ns = kp_now_ns();
    unsent_tasks = 0;
}

static void send_record(uint64_t tag, uint64_t value, const char *msg, uint32_t msg_len,
                        const char *str, uint32_t str_len)
{
    kp_wire_result r = {tag, value};
    bool ext = (tag >> KP_WIRE_KIND_SHIFT) & KP_WIRE_EXT;
    kp_wire_ext x = {msg_len, str_len};
    size_t size = sizeof r + (ext ? sizeof x + msg_len + str_len : 0);
    if ((size_t)committed + size > sizeof batch)
        flush_batch();
    close_run();
    run_head = -1;
    slot_limit = 0;
    if (size > sizeof batch) {
        /* A huge string result goes out on its own. */
        sigset_t old;
        block_term(&old);
        if (tracing)
            kp_trace_worker_flush();
        if (kp_write_all(result_fd, &r, sizeof r) < 0 ||
            kp_write_all(result_fd, &x, sizeof x) < 0 ||
            kp_write_all(result_fd, msg, msg_len) < 0 || kp_write_all(result_fd, str, str_len) < 0)
            _exit(3);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return;
    }
    unsigned char *p = batch + committed;
    memcpy(p, &r, sizeof r);
    if (ext) {
        memcpy(p + sizeof r, &x, sizeof x);
        if (msg_len)
            memcpy(p + sizeof r + sizeof x, msg, msg_len);
        if (str_len)
            memcpy(p + sizeof r + sizeof x + msg_len, str, str_len);
    }
    committed += (sig_atomic_t)size;
}

static uint32_t capped_len(const char *s, size_t cap)
{
    size_t len = s ? strlen(s) : 0;
    return (uint32_t)(len > cap ? cap : len);
}

static void send_control(uint8_t kind, const char *msg)
{
    uint32_t len = capped_len(msg, KP_WIRE_MSG_MAX);
    uint64_t tag = (uint64_t)(kind | (len ? KP_WIRE_EXT : 0)) << KP_WIRE_KIND_SHIFT;
    send_record(tag, 0, msg, len, NULL, 0);
}

/* Closes the open run and begins one of `kind` (KP_WIRE_RUN or
 * KP_WIRE_SLOTS) at task `index`, sending the batch first when the header
 * and `extra` bytes after it do not fit: writes the header (count 1; the
 * real count goes in when the run closes) and returns where it is. The
 * caller stores the first value, then commits. Not inline: inlined into
 * run_range's loop it cost the workers 12% more instructions on the trivial
 * kernel (callgrind), though no task there begins a run. */
static __attribute__((noinline)) unsigned char *begin_run(uint8_t kind, uint64_t index,
                                                          size_t extra)
{
    if ((size_t)committed + sizeof(kp_wire_result) + extra > sizeof batch)
        flush_batch();
    close_run();
    run_head = -1; /* closed: a handler must not count it as the new kind */
    slot_limit = 0;
    run_in_slots = kind == KP_WIRE_SLOTS;
    run_head = committed;
    /* Written in place: a record built on the stack and copied whole made
     * the CPU wait on store forwarding. */
    unsigned char *p = batch + committed;
    uint64_t head = (index & KP_WIRE_INDEX_MASK) | (uint64_t)kind << KP_WIRE_KIND_SHIFT, one = 1;
    memcpy(p, &head, 8);
    memcpy(p + 8, &one, 8);
    return p;
}

/* store_value's other case: task `index` opens a slots run (after
 * sending the open one if it is full). Not inline: once a run. */
static __attribute__((noinline)) void open_slots_run(uint64_t index, uint64_t value)
{
    if (run_head >= 0 && run_in_slots &&
        atomic_load_explicit(&slot_next, memory_order_relaxed) == slot_limit)
        flush_batch(); /* as often as full batches of values went before */
    begin_run(KP_WIRE_SLOTS, index, 0);
    values[index & value_mask] = value;
    slot_first = index;
    slot_limit = index + KP_SLOTS_RUN_MAX;
    atomic_store_explicit(&slot_next, index + 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_release);
    committed += (sig_atomic_t)sizeof(kp_wire_result);
}

/* send_value with the value slots: the value goes to its slot, and the
 * open run counts it once it is there. */
static inline void store_value(uint64_t index, uint64_t value)
{
    if (index == atomic_load_explicit(&slot_next, memory_order_relaxed) && index < slot_limit) {
        values[index & value_mask] = value;
        atomic_signal_fence(memory_order_release);
        atomic_store_explicit(&slot_next, index + 1, memory_order_relaxed);
        return;
    }
    open_slots_run(index, value);
}

/* A plain success (ok, no text): task `index`'s 8 value bytes. */
static inline void send_value(uint64_t index, uint64_t value)
{
    if (slots_now) {
        store_value(index, value);
        return;
    }
    /* The common case: the next task of the open run adds its value. */
    if (run_head >= 0 && !run_in_slots && index == run_next &&
        (size_t)committed + 8 <= sizeof batch) {
        memcpy(batch + committed, &value, 8);
        committed += 8;
        run_next++;
        return;
    }
    /* Else a run begins, its value right after its header. */
    unsigned char *p = begin_run(KP_WIRE_RUN, index, 8);
    memcpy(p + sizeof(kp_wire_result), &value, 8);
    run_next = index + 1;
    committed += (sig_atomic_t)(sizeof(kp_wire_result) + 8);
}

static void send_outcome(const kp_outcome *o)
{
    uint64_t value;
    _Static_assert(sizeof o->value == sizeof value, "outcome value is 8 bytes");
    memcpy(&value, &o->value, sizeof value);
    uint64_t tag = (uint64_t)o->index & KP_WIRE_INDEX_MASK;
    if (o->kind == KP_TASK_OK && !o->str) {
        send_value(o->index, value);
        return;
    }
    if (o->kind != KP_TASK_OK)
        value = (uint64_t)o->attempts; /* a failure has no value; say its attempt */
    uint32_t mlen = capped_len(o->message, KP_WIRE_MSG_MAX);
    uint32_t slen = o->kind == KP_TASK_OK ? capped_len(o->str, UINT32_MAX / 2) : 0;
    tag |= (uint64_t)(o->kind | KP_WIRE_EXT) << KP_WIRE_KIND_SHIFT;
    send_record(tag, value, o->message, mlen, o->str, slen);
    /* A failure goes out at once: it is reported as it happens, and it may
     * stop the run (on_error). */
    if (o->kind != KP_TASK_OK)
        flush_batch();
}

/* SIGTERM from the coordinator (interrupt or timeout): send what is done, go. */
static void on_term(int sig)
{
    if (tracing)
        kp_trace_worker_dying(sig);
    close_run();
    kp_write_all(result_fd, batch, (size_t)committed);
    _exit(KP_WORKER_EXIT_TERMINATED);
}

/* A fatal signal in a kernel: send what is done, then die of the signal so
 * the coordinator sees which one. */
static void on_fatal(int sig)
{
    if (tracing)
        kp_trace_worker_dying(sig);
    close_run();
    kp_write_all(result_fd, batch, (size_t)committed);
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
}

/* exit() called by a kernel: still send what is done. */
static void at_exit_flush(void)
{
    sigset_t old;
    block_term(&old); /* the process ends: on_term must not send the batch again */
    if (tracing)
        kp_trace_worker_dying(0);
    close_run();
    kp_write_all(result_fd, batch, (size_t)committed);
    committed = 0;
}

static void setup_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* Ctrl-C reaches the whole process group; the coordinator decides. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    /* A SIGTERM during on_fatal waits: else on_term would send the batch a
     * second time and exit as if terminated, hiding the crash. */
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigaddset(&sa.sa_mask, SIGTERM);
    int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP, SIGXCPU, SIGXFSZ};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Reads the next chunk; false when the coordinator closed the pipe. */
static bool read_chunk(int fd, kp_wire_chunk *c)
{
    unsigned char *p = (unsigned char *)c;
    size_t got = 0;
    while (got < sizeof *c) {
        ssize_t n = read(fd, p + got, sizeof *c - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* Runs tasks start..start+count-1; returns how many ran. */
static uint64_t run_range(const kp_worker_args *a, kp_worker_shared *me, uint64_t start,
                          uint64_t count, uint32_t attempt)
{
    kp_pool_shared *sh = a->shared;
    const bool traced = tracing; /* one predictable branch before and after each task */
    const bool track_time = sh->track_time;
    /* Row-plan tasks take the short way (kp_task_run_value). */
    const bool fast = kp_task_fast(a->ctx);
    slots_now = values && count >= KP_SLOTS_MIN_RANGE;
    atomic_store_explicit(&me->run_attempt, attempt, memory_order_relaxed);
    atomic_store_explicit(&me->run_end, start + count, memory_order_relaxed);
    atomic_store(&me->run_start, start);
    /* The clock check's counters, in registers through the range. */
    unsigned since = since_check, every = check_every;
    uint64_t ran = 0;
    if (traced)
        kp_trace_range_begin(attempt);
    for (; ran < count; ran++) {
        if (atomic_load_explicit(&sh->stop, memory_order_relaxed))
            break;
        uint64_t index = start + ran;
        int64_t now = 0;
        if (track_time) {
            now = kp_now_ns();
            atomic_store_explicit(&me->started_ns, now, memory_order_relaxed);
        }
        atomic_store_explicit(&me->current, index + 1, memory_order_release);
        kp_outcome o;
        uint64_t value;
        /* Clear `current` before the result is queued: a death between the
         * two re-runs the task rather than blaming it. */
        if (fast && kp_task_run_value(a->ctx, (size_t)index, &value, &o)) {
            atomic_store_explicit(&me->current, 0, memory_order_release);
            if (traced)
                kp_trace_task_end_ok(index);
            send_value(index, value);
        } else {
            if (!fast)
                kp_task_run(a->ctx, (size_t)index, &o);
            atomic_store_explicit(&me->current, 0, memory_order_release);
            o.attempts = (int)attempt;
            if (traced)
                kp_trace_task_end(&o);
            send_outcome(&o);
        }
        /* Send results at the latest KP_FLUSH_NS after they are ready. The
         * clock is read after every task while tasks are slow, and once per
         * up to 64 tasks while they are fast, so that reading it costs
         * nothing next to them. */
        if (track_time || ++since >= every) {
            if (!track_time)
                now = kp_now_ns();
            if (now - last_check_ns < KP_FLUSH_NS / 8) {
                if (every < 64)
                    every *= 2;
            } else {
                every = 1;
            }
            last_check_ns = now;
            since = 0;
            if (committed && now - last_flush_ns > KP_FLUSH_NS)
                flush_batch();
        }
    }
    if (traced)
        kp_trace_range_end();
    since_check = since;
    check_every = every;
    return ran;
}

/* Applies the job's per-worker limits. A limit above the hard one is
 * clamped to it (an unprivileged process cannot raise it). */
static void apply_limit(int resource, rlim_t value)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) != 0)
        return;
    if (rl.rlim_max != RLIM_INFINITY && value > rl.rlim_max)
        value = rl.rlim_max;
    rl.rlim_cur = value;
    setrlimit(resource, &rl);
}

static void apply_limits(const kp_pool_config *cfg)
{
    if (cfg->memory_limit_mib)
        apply_limit(RLIMIT_AS, (rlim_t)cfg->memory_limit_mib << 20);
    if (cfg->cpu_limit > 0)
        apply_limit(RLIMIT_CPU, (rlim_t)ceil(cfg->cpu_limit));
    if (cfg->open_files)
        apply_limit(RLIMIT_NOFILE, (rlim_t)cfg->open_files);
    if (!cfg->core_dumps)
        apply_limit(RLIMIT_CORE, 0);
    /* Below the coordinator's priority (see kp_pool_config.worker_nice);
     * raising a nice value needs no privilege, and the kernel caps it. */
    if (cfg->worker_nice > 0) {
        errno = 0;
        int nice_now = getpriority(PRIO_PROCESS, 0);
        if (errno == 0)
            setpriority(PRIO_PROCESS, 0, nice_now + cfg->worker_nice);
    }
}

_Noreturn void kp_worker_main(const kp_worker_args *a)
{
    /* Die with the coordinator, even if it was killed before this line. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != a->parent)
        _exit(3);
    result_fd = a->result_fd;
    values = a->values;
    value_mask = a->value_mask;
    committed = 0;
    kp_pool_shared *sh = a->shared;
    kp_worker_shared *me = &sh->slots[a->slot];
    tracing = a->cfg->trace && kp_trace_worker_begin(a->cfg->trace, a->slot, &me->current);
    setup_signals();
    atexit(at_exit_flush);
    /* A kernel's printf must not end up between the results on stdout. */
    dup2(STDERR_FILENO, STDOUT_FILENO);
    apply_limits(a->cfg);

    if (a->cfg->initializer) {
        kp_err err;
        kp_err_clear(&err);
        if (kp_task_call_literals(a->cfg->initializer, a->cfg->initargs, &err) < 0) {
            send_control(KP_WIRE_INIT_FAILED, err.msg);
            flush_batch();
            _exit(0);
        }
    }
    send_control(KP_WIRE_READY, NULL);
    flush_batch();

    uint64_t budget = a->cfg->max_tasks_per_worker ? a->cfg->max_tasks_per_worker : UINT64_MAX;
    kp_wire_chunk chunk;
    /* Nothing runs before the coordinator says go: it waits until every
     * worker's initializer has succeeded. */
    while (read_chunk(a->task_fd, &chunk)) {
        if (chunk.count) {
            budget -= run_range(a, me, chunk.start, chunk.count, chunk.attempt);
        } else {
            uint64_t start, n;
            while (budget && (n = kp_wire_claim(sh, 1, budget, &start)) > 0) {
                uint64_t ran = run_range(a, me, start, n, 1);
                budget -= ran;
                unsent_tasks += ran;
                if (unsent_tasks >= KP_FLUSH_TASKS)
                    flush_batch();
            }
        }
        if (!budget)
            break; /* max_tasks_per_worker: the coordinator starts a fresh one */
        send_control(KP_WIRE_IDLE, NULL);
        flush_batch();
    }
    flush_batch();
    _exit(0);
}
