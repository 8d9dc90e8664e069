/* pool.c - the coordinator side of the process pool.
 *
 * Workers claim their tasks from a shared cursor (see wire.h); the
 * coordinator's one loop reads results, notices dead and overdue workers,
 * hands back the tasks of dead ones, and emits outcomes in the order the job
 * asked for.
 * Signals (SIGINT, SIGTERM) are blocked except inside ppoll, so the loop sees
 * them at one well-defined point. Hazard: a result may arrive for a task the
 * loop is about to declare dead; `final` (one bit per task) is the single
 * truth of which tasks are done, so nothing is emitted twice. */
#include "pool.h"
#include "trace.h"

#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define KP_TERM_GRACE_NS    1000000000LL
#define KP_BETWEEN_TASKS_NS 5000000LL

enum term_reason { TERM_NONE, TERM_TIMEOUT, TERM_INTERRUPT, TERM_HALT };

typedef struct worker {
    pid_t pid; /* 0: the slot is empty */
    int task_fd, result_fd;
    bool ready;             /* its initializer ran */
    bool started;           /* it was told to go */
    bool idle;              /* it said IDLE and waits on its task pipe */
    bool gone;              /* a remote slot whose process ended: never replaced */
    bool retiring;          /* its task pipe is closed: it exits when done */
    kp_wire_chunk assigned; /* the last range sent to it (count 0: none) */
    size_t tasks_run;
    int deaths; /* tasks that killed the slot's workers since one of its tasks succeeded */
    enum term_reason term;
    uint64_t timeout_index;
    int64_t kill_at_ns; /* SIGKILL if still alive then (0: not set) */
    unsigned char *rbuf;
    size_t rlen, rcap;
} worker;

typedef struct range {
    uint64_t start, count;
    uint32_t attempt;
} range;

typedef struct gap {
    uint64_t start, end;
} gap;

/* Input order: an outcome waiting for its turn. Nearly all are plain
 * successes (ok, first attempt, no text): those keep only their 8-byte value
 * and, in `wait_kind`, their type, so the ring costs 9 bytes a task - a full
 * window of 131072 waiting tasks touches 1.2 MB, where whole kp_outcomes
 * touched 9 MB, page-faulted in afresh by every run. Any other outcome is
 * copied to the heap with its texts. */
typedef union waiting {
    unsigned char value[8]; /* kp_outcome.value's bytes */
    kp_outcome *heap;
} waiting;

enum { WAIT_NONE = 0, WAIT_HEAP = 0xff }; /* else: 1 + the value's kp_type */

_Static_assert(sizeof(((kp_outcome *)0)->value) == 8, "a plain value fits a waiting slot");
_Static_assert(KP_T_COUNT_ < WAIT_HEAP - 1, "a type fits a wait_kind byte");

typedef struct pool {
    const kp_pool_config *cfg;
    kp_task_ctx *ctx;
    const kp_pool_sink *sink;
    kp_pool_stats *stats;
    kp_err *err;
    size_t total;
    size_t chunk; /* fixed claim size, 0 = guided */
    kp_pool_shared *shared;
    size_t shared_size;
    uint64_t *values; /* the value slots (wire.h), or NULL */
    uint64_t value_mask;
    worker *w;
    int nw;          /* slots: the local workers, then (backend = mpi, rank 0) the remote ones */
    int lw;          /* local workers */
    uint64_t window; /* input order: how far claims may run ahead of next_emit */
    uint64_t low;    /* every task below it is final */
    bool all_ready;  /* every first worker's initializer ran: go */
    range *queue;    /* tasks handed back: retries and unfinished chunk rests */
    size_t qhead, qlen, qcap;
    /* Which tasks have their outcome decided: every task below `low`, and
     * those of [low, low + final_cap) whose bit is set in this ring of bits.
     * It only spans the tasks in flight, so memory does not grow with the
     * number of tasks. */
    unsigned char *final;
    uint64_t final_cap; /* bits; a power of two, a multiple of 8 */
    size_t nfinal;
    waiting *ring;            /* input order: outcomes waiting for their turn, */
    unsigned char *wait_kind; /* and what each slot holds (WAIT_*) */
    size_t ring_cap;          /* a power of two: slot i is ring[i & (ring_cap - 1)] */
    uint64_t next_emit;
    bool stopping;
    int rc; /* first fatal error, 0 if none */
    bool init_failed;
    int64_t next_tick_ns; /* when sink->tick is due */
    /* A fed run (cfg->feed): */
    bool feed_done;   /* no more ranges will come */
    uint64_t fed_end; /* the end of the last range fed */
    gap *gaps;        /* the tasks between fed ranges: other ranks' */
    size_t ghead, glen, gcap;
    /* run_loop's poll set (nw + 1 entries), with the rest of the pool's
     * memory: a worker forked from run_loop keeps a copy of it until it
     * exits, and valgrind then finds it through this struct on the stack
     * (held in run_loop's locals, it was reported lost, depending on which
     * registers the worker's own calls had reused). */
    struct pollfd *fds;
    int *who;
} pool;

static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t signal_count;

static void on_signal(int sig)
{
    got_signal = sig;
    signal_count++;
}

uint64_t kp_guided_claim(uint64_t remaining, uint32_t workers)
{
    uint64_t n = remaining / (4 * (uint64_t)(workers ? workers : 1));
    if (n < 1)
        n = 1;
    if (n > 8192)
        n = 8192;
    return n;
}

static bool bit_of(const unsigned char *bits, uint64_t cap, uint64_t i)
{
    uint64_t b = i & (cap - 1);
    return bits[b / 8] & (1u << (b % 8));
}

static bool is_final(const pool *p, uint64_t i)
{
    if (i < p->low)
        return true;
    if (i - p->low >= p->final_cap)
        return false;
    return bit_of(p->final, p->final_cap, i);
}

/* Doubles the ring of bits until task i fits; false when memory runs out. */
static bool grow_final(pool *p, uint64_t i)
{
    uint64_t cap = p->final_cap;
    while (i - p->low >= cap)
        cap *= 2;
    unsigned char *bits = calloc(cap / 8, 1);
    if (!bits)
        return false;
    for (uint64_t k = p->low; k < p->low + p->final_cap; k++)
        if (bit_of(p->final, p->final_cap, k))
            bits[(k & (cap - 1)) / 8] |= (unsigned char)(1u << ((k & (cap - 1)) % 8));
    free(p->final);
    p->final = bits;
    p->final_cap = cap;
    return true;
}

/* Moves `low` past the decided prefix, clearing its bits for reuse, and (a
 * fed run) past the tasks that belong to other ranks. */
static void slide(pool *p)
{
    for (;;) {
        if (p->glen && p->low >= p->gaps[p->ghead].start) {
            if (p->low < p->gaps[p->ghead].end)
                p->low = p->gaps[p->ghead].end;
            p->ghead = (p->ghead + 1) % p->gcap;
            p->glen--;
            continue;
        }
        if (p->low >= p->total || !bit_of(p->final, p->final_cap, p->low))
            return;
        uint64_t l = p->low & (p->final_cap - 1);
        p->final[l / 8] &= (unsigned char)~(1u << (l % 8));
        p->low++;
    }
}

/* Sets task i's bit; it must lie within [low, low + final_cap). */
static void mark_final(pool *p, uint64_t i)
{
    uint64_t b = i & (p->final_cap - 1);
    p->final[b / 8] |= (unsigned char)(1u << (b % 8));
}

static bool set_final(pool *p, uint64_t i)
{
    if (i - p->low >= p->final_cap && !grow_final(p, i))
        return false;
    mark_final(p, i);
    p->nfinal++;
    slide(p);
    return true;
}

static char *dup_text(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_outcome_text(kp_outcome *o)
{
    if (o->message)
        free((char *)o->message);
    if (o->str)
        free((char *)o->str);
    o->message = o->str = NULL;
}

/* Starts no new task; running ones finish. */
static void stop_run(pool *p)
{
    p->stopping = true;
    atomic_store(&p->shared->stop, 1);
}

/* Stops the run for an error that also ends the output (`rc`). */
static void fail_run(pool *p, int rc)
{
    if (!p->rc)
        p->rc = rc;
    stop_run(p);
}

static void emit(pool *p, const kp_outcome *o)
{
    if (p->rc)
        return;
    int rc = p->sink->emit(o, p->sink->user, p->err);
    if (rc < 0)
        fail_run(p, rc);
}

/* Input order: emit every outcome whose turn has come. */
static void drain_ring(pool *p)
{
    while (p->ring_cap && p->next_emit < p->total) {
        size_t k = p->next_emit & (p->ring_cap - 1);
        unsigned char kind = p->wait_kind[k];
        if (kind == WAIT_NONE)
            break;
        if (kind != WAIT_HEAP && p->sink->emit_run) {
            /* Plain successes side by side in the ring (up to its end) go
             * out as one run: their values are 8 bytes apart. */
            size_t n = 1;
            while (k + n < p->ring_cap && p->next_emit + n < p->total &&
                   p->wait_kind[k + n] == kind)
                n++;
            if (!p->rc) {
                int rc = p->sink->emit_run(p->next_emit, p->ring[k].value, sizeof(waiting), n,
                                           p->sink->user, p->err);
                if (rc < 0)
                    fail_run(p, rc);
            }
            memset(p->wait_kind + k, WAIT_NONE, n);
            p->next_emit += n;
            continue;
        }
        if (kind == WAIT_HEAP) {
            kp_outcome *o = p->ring[k].heap;
            emit(p, o);
            free_outcome_text(o);
            free(o);
        } else {
            kp_outcome o = {.index = p->next_emit,
                            .kind = KP_TASK_OK,
                            .type = (kp_type)(kind - 1),
                            .attempts = 1};
            memcpy(&o.value, p->ring[k].value, sizeof o.value);
            emit(p, &o);
        }
        p->wait_kind[k] = WAIT_NONE;
        p->next_emit++;
    }
}

static int grow_ring(pool *p, uint64_t index)
{
    size_t cap = p->ring_cap ? p->ring_cap : 1024;
    while (index - p->next_emit >= cap)
        cap *= 2;
    if (cap == p->ring_cap)
        return 0;
    waiting *ring = malloc(cap * sizeof *ring);
    unsigned char *kind = calloc(cap, 1);
    if (!ring || !kind) {
        free(ring);
        free(kind);
        return KPOOL_ENOMEM;
    }
    for (size_t k = 0; k < p->ring_cap; k++) {
        uint64_t i = p->next_emit + k;
        size_t from = i & (p->ring_cap - 1), to = i & (cap - 1);
        if (p->wait_kind[from] != WAIT_NONE) {
            ring[to] = p->ring[from];
            kind[to] = p->wait_kind[from];
        }
    }
    free(p->ring);
    free(p->wait_kind);
    p->ring = ring;
    p->wait_kind = kind;
    p->ring_cap = cap;
    return 0;
}

/* Keeps a plain success's value in task i's ring slot (which must fit). */
static void park_value(pool *p, uint64_t i, const void *value, kp_type type)
{
    size_t k = i & (p->ring_cap - 1);
    memcpy(p->ring[k].value, value, sizeof p->ring[k].value);
    p->wait_kind[k] = (unsigned char)(1 + type);
}

/* Puts an outcome in the ring to wait for its turn. */
static int wait_turn(pool *p, const kp_outcome *o)
{
    if (o->index - p->next_emit >= p->ring_cap && grow_ring(p, o->index) < 0)
        return KPOOL_ENOMEM;
    size_t k = o->index & (p->ring_cap - 1);
    if (o->kind == KP_TASK_OK && o->attempts == 1 && !o->str && !o->message && !o->signal &&
        o->type < KP_T_COUNT_) {
        park_value(p, o->index, &o->value, o->type);
        return 0;
    }
    kp_outcome *copy = malloc(sizeof *copy);
    if (!copy)
        return KPOOL_ENOMEM;
    *copy = *o;
    copy->message = dup_text(o->message);
    copy->str = dup_text(o->str);
    if ((o->message && !copy->message) || (o->str && !copy->str)) {
        free_outcome_text(copy);
        free(copy);
        return KPOOL_ENOMEM;
    }
    p->ring[k].heap = copy;
    p->wait_kind[k] = WAIT_HEAP;
    return 0;
}

static void terminate_worker(pool *p, int i, enum term_reason why);

/* on_error's rule: have enough tasks failed to stop the run? */
static bool halt_reached(const pool *p)
{
    const kp_pool_config *c = p->cfg;
    size_t failed = p->stats->failed, done = p->stats->ok + failed;
    if (c->stop_percent > 0)
        return done >= 10 && (double)failed * 100.0 >= c->stop_percent * (double)done;
    return failed >= (c->stop_failures ? c->stop_failures : 1);
}

/* Stops the run for on_error: no new task; with `now`, running ones too. */
static void halt(pool *p)
{
    stop_run(p);
    if (p->cfg->stop_now)
        for (int i = 0; i < p->nw; i++)
            terminate_worker(p, i, TERM_HALT);
}

/* Records a task's final outcome (copying its texts) and emits what can go. */
static void finish(pool *p, const kp_outcome *o)
{
    if (o->index >= p->total || is_final(p, o->index))
        return;
    if (!set_final(p, o->index)) {
        fail_run(p, kp_err_set(p->err, KPOOL_ENOMEM, "out of memory tracking finished tasks"));
        return;
    }
    switch (o->kind) {
    case KP_TASK_OK:
        p->stats->ok++;
        break;
    case KP_TASK_NOT_RUN:
        p->stats->not_run++;
        break;
    default:
        p->stats->failed++;
        if (p->sink->failure)
            p->sink->failure(o, 1 + p->cfg->retries, p->sink->user);
        if (p->cfg->stop_on_error && !p->stopping && halt_reached(p))
            halt(p);
        break;
    }
    if (p->cfg->completion_order) {
        emit(p, o);
        return;
    }
    if (o->index == p->next_emit) {
        /* Its turn already (the common case within a claim): no copy. */
        emit(p, o);
        p->next_emit++;
        drain_ring(p);
        return;
    }
    if (wait_turn(p, o) < 0) {
        kp_err_set(p->err, KPOOL_ENOMEM, "out of memory holding results for input order");
        fail_run(p, KPOOL_ENOMEM);
        return;
    }
    drain_ring(p);
}

/* Puts tasks back at the front of the queue: the next idle worker takes
 * them first, so a dead worker's range carries on where it stopped (and, in
 * input order, the oldest unwritten tasks are not kept waiting). */
static int reserve_queue(pool *p)
{
    if (p->qlen == p->qcap) {
        size_t cap = p->qcap ? p->qcap * 2 : 64;
        range *q = malloc(cap * sizeof *q);
        if (!q)
            return KPOOL_ENOMEM;
        for (size_t k = 0; k < p->qlen; k++)
            q[k] = p->queue[(p->qhead + k) % p->qcap];
        free(p->queue);
        p->queue = q;
        p->qcap = cap;
        p->qhead = 0;
    }
    return 0;
}

static int push_range(pool *p, uint64_t start, uint64_t count, uint32_t attempt)
{
    if (!count)
        return 0;
    if (reserve_queue(p) < 0)
        return KPOOL_ENOMEM;
    p->qhead = (p->qhead + p->qcap - 1) % p->qcap;
    p->queue[p->qhead] = (range){start, count, attempt};
    p->qlen++;
    return 0;
}

/* A fed range goes to the back of the queue: ranges run in the order given. */
static int append_range(pool *p, uint64_t start, uint64_t count)
{
    if (!count)
        return 0;
    if (reserve_queue(p) < 0)
        return KPOOL_ENOMEM;
    p->queue[(p->qhead + p->qlen) % p->qcap] = (range){start, count, 1};
    p->qlen++;
    return 0;
}

static uint64_t cursor_of(const pool *p)
{
    return atomic_load(&p->shared->cursor);
}

/* True while tasks remain that some worker should run. */
static bool work_left(const pool *p)
{
    if (p->stopping)
        return false;
    if (p->cfg->feed)
        return !p->feed_done || p->qlen > 0;
    return p->nfinal < p->total;
}

static bool is_remote(const pool *p, int i)
{
    return i >= p->lw;
}

/* Input order: let claims run ahead of the first unwritten result by at most
 * `window` tasks, so that one slow task cannot make the ring of waiting
 * results grow without bound. */
static void move_window(pool *p)
{
    if (!p->cfg->completion_order)
        atomic_store(&p->shared->window_end, p->next_emit + p->window);
}

/* ---- workers ---------------------------------------------------------- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int spawn(pool *p, int i)
{
    worker *w = &p->w[i];
    int tp[2], rp[2];
    if (pipe2(tp, O_CLOEXEC) < 0)
        return kp_err_set(p->err, KPOOL_ESYS, "cannot create a pipe for a worker: %s",
                          strerror(errno));
    if (pipe2(rp, O_CLOEXEC) < 0) {
        int e = errno;
        close(tp[0]);
        close(tp[1]);
        return kp_err_set(p->err, KPOOL_ESYS, "cannot create a pipe for a worker: %s", strerror(e));
    }
    kp_worker_shared *slot = &p->shared->slots[i];
    atomic_store(&slot->current, 0);
    atomic_store(&slot->run_start, 0);
    atomic_store(&slot->run_end, 0);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(tp[0]);
        close(tp[1]);
        close(rp[0]);
        close(rp[1]);
        return kp_err_set(p->err, KPOOL_ESYS, "cannot start a worker process: %s", strerror(e));
    }
    if (pid == 0) {
        /* The child keeps only its own two pipe ends. */
        for (int k = 0; k < p->nw; k++) {
            if (k == i)
                continue;
            close_fd(&p->w[k].task_fd);
            close_fd(&p->w[k].result_fd);
        }
        for (int k = 0; p->cfg->remote_fds && k < p->cfg->remotes; k++)
            if (k != i - p->lw && p->cfg->remote_fds[k] >= 0)
                close(p->cfg->remote_fds[k]);
        close(tp[1]);
        close(rp[0]);
        kp_worker_args a = {.slot = i,
                            .task_fd = tp[0],
                            .result_fd = rp[1],
                            .shared = p->shared,
                            .cfg = p->cfg,
                            .ctx = p->ctx,
                            .parent = parent,
                            .values = is_remote(p, i) ? NULL : p->values,
                            .value_mask = p->value_mask};
        if (is_remote(p, i))
            p->cfg->remote_main(&a, i - p->lw, p->cfg->remote_user);
        kp_worker_main(&a);
    }
    close(tp[0]);
    close(rp[1]);
    if (is_remote(p, i) && p->cfg->remote_fds && p->cfg->remote_fds[i - p->lw] >= 0) {
        close(p->cfg->remote_fds[i - p->lw]);
        p->cfg->remote_fds[i - p->lw] = -1;
    }
    fcntl(rp[0], F_SETFL, O_NONBLOCK);
    /* A worker must not wait for the coordinator to read: give its results
     * room for a whole batch (best effort; the default is 64 KiB). */
    fcntl(rp[0], F_SETPIPE_SZ, 1 << 20);
    unsigned char *rbuf = w->rbuf;
    size_t rcap = w->rcap;
    int deaths = w->deaths;
    memset(w, 0, sizeof *w);
    w->deaths = deaths;
    w->pid = pid;
    w->task_fd = tp[1];
    w->result_fd = rp[0];
    w->rbuf = rbuf;
    w->rcap = rcap;
    p->stats->workers_started++;
    return 0;
}

/* Says how a worker died, naming the job's limit it probably hit. */
static void describe_death(const kp_pool_config *cfg, int status, char *buf, size_t n, int *sig)
{
    *sig = 0;
    if (WIFSIGNALED(status)) {
        *sig = WTERMSIG(status);
        char name[32];
        kp_signal_name(*sig, name, sizeof name);
        if (*sig == SIGXCPU && cfg->cpu_limit > 0)
            snprintf(buf, n, "%s: the worker used more than cpu_limit = %g s of CPU", name,
                     cfg->cpu_limit);
        else if (cfg->memory_limit_mib &&
                 (*sig == SIGSEGV || *sig == SIGABRT || *sig == SIGBUS || *sig == SIGKILL))
            snprintf(buf, n, "%s (memory_limit = %llu MiB may have been reached)", name,
                     (unsigned long long)cfg->memory_limit_mib);
        else
            snprintf(buf, n, "%s", name);
    } else if (WIFEXITED(status)) {
        snprintf(buf, n, "the worker exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, n, "the worker vanished (wait status %d)", status);
    }
}

/* Decides the fate of a task whose worker died under it. */
static void task_died(pool *p, uint64_t index, uint32_t attempt, kp_task_kind kind,
                      const char *message, int sig)
{
    if (is_final(p, index))
        return;
    if ((int)attempt <= p->cfg->retries && !p->stopping) {
        p->stats->retried++;
        if (push_range(p, index, 1, attempt + 1) < 0)
            fail_run(p, kp_err_set(p->err, KPOOL_ENOMEM, "out of memory"));
        return;
    }
    kp_outcome o = {.index = index,
                    .kind = kind,
                    .type = p->ctx->kernel->sig.ret,
                    .message = message,
                    .signal = sig,
                    .attempts = (int)attempt};
    finish(p, &o);
}

/* Hands back, as runs of consecutive indices, the tasks of [start, end) that
 * have no outcome yet (except `skip`, the task that killed the worker). */
static void hand_back(pool *p, uint64_t start, uint64_t end, uint32_t attempt, uint64_t skip)
{
    if (end > p->total)
        end = p->total;
    /* From the end backwards, so that the runs sit at the queue's front in
     * ascending order. */
    uint64_t run_end = end;
    for (uint64_t i = end; i-- > start;) {
        bool open = i != skip && !is_final(p, i);
        if (open && i > start)
            continue;
        uint64_t run_start = open ? i : i + 1;
        if (run_end > run_start &&
            push_range(p, run_start, run_end - run_start, attempt ? attempt : 1) < 0) {
            fail_run(p, kp_err_set(p->err, KPOOL_ENOMEM, "out of memory"));
            return;
        }
        run_end = i;
    }
}

/* Deaths in a row, with no task succeeding in between, after which the run
 * stops: 10 a worker (every worker of every rank) and attempt, at least 20. */
static int death_brake(const pool *p)
{
    int brake = 10 * (p->lw + p->cfg->remote_workers) * (p->cfg->retries + 1);
    return brake < 20 ? 20 : brake;
}

/* Slot i's task `victim` killed its worker. Once every task kills its
 * worker, forking more would only repeat it: the run stops after
 * death_brake() deaths in a row, counted per slot (a worker, or a whole MPI
 * rank) since one of its own tasks last succeeded, and only when every slot
 * has died since then. A success elsewhere does not end a slot's count, nor
 * does a slot's count alone stop the run: a rank whose tasks all crash
 * quickly outran the relayed successes of slower ranks, and a worker busy
 * with a long task has not failed. A fed run leaves this to rank 0, which
 * sees every rank's. */
static void count_death(pool *p, int i, uint64_t victim, const char *why)
{
    p->w[i].deaths++;
    if (p->stopping || p->cfg->feed)
        return;
    int all = 0;
    for (int k = 0; k < p->nw; k++) {
        if (p->w[k].gone)
            continue;
        if (!p->w[k].deaths)
            return;
        all += p->w[k].deaths;
    }
    if (all < death_brake(p))
        return;
    kp_err_set(p->err, KPOOL_EFAILED,
               "stopped after %d tasks in a row killed their workers, each worker's latest "
               "among them, with none succeeding in between (the last: task %llu, %s); the "
               "tasks left did not run",
               all, (unsigned long long)victim, why);
    stop_run(p);
}

/* A worker's result pipe hit EOF: reap it and account for what it held. */
static void reap(pool *p, int i)
{
    worker *w = &p->w[i];
    int status = 0;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
        ;
    kp_worker_shared *slot = &p->shared->slots[i];
    uint64_t current = atomic_load(&slot->current);
    char why[128];
    int sig = 0;
    describe_death(p->cfg, status, why, sizeof why, &sig);

    if (is_remote(p, i)) {
        /* A remote slot ends after the other rank's pool did: cleanly (0),
         * on the coordinator's SIGTERM, or having said why (KP_WIRE_FATAL).
         * Anything else loses the tasks that rank held: the run stops, and
         * the journal lets --resume run them. */
        bool clean = WIFEXITED(status) &&
                     (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == KP_WORKER_EXIT_TERMINATED);
        if (!clean && w->term == TERM_NONE && !p->rc)
            fail_run(p, kp_err_set(p->err, KPOOL_ESYS,
                                   "the relay to MPI rank %d died (%s): the tasks it held did "
                                   "not come back",
                                   i - p->lw + 1, why));
        w->gone = true;
        close_fd(&w->task_fd);
        close_fd(&w->result_fd);
        w->pid = 0;
        return;
    }

    /* Before the task's failure is reported: a worker that died with no
     * handler (SIGKILL) did not tell the trace which task it ran. */
    kp_trace_worker_died(p->cfg->trace, i, current);

    if (!w->ready && w->term != TERM_INTERRUPT && !p->init_failed && !p->stopping) {
        p->init_failed = true;
        if (p->cfg->initializer)
            kp_err_set(p->err, KPOOL_EFAILED, "the initializer %s killed its worker (%s)%s",
                       p->cfg->initializer->name, why,
                       p->all_ready ? " in a replacement worker; the run stopped"
                                    : "; no task ran");
        else
            kp_err_set(p->err, KPOOL_EFAILED, "a worker died before it was ready (%s)", why);
        stop_run(p);
    }

    uint64_t run_start = atomic_load(&slot->run_start), run_end = atomic_load(&slot->run_end);
    uint32_t attempt = atomic_load(&slot->run_attempt);
    uint64_t victim = UINT64_MAX;
    if (w->term == TERM_TIMEOUT) {
        char msg[128];
        snprintf(msg, sizeof msg, "ran longer than task_timeout = %g s", p->cfg->task_timeout);
        victim = w->timeout_index;
        task_died(p, victim, attempt, KP_TASK_TIMEOUT, msg, 0);
    } else if (w->term == TERM_NONE && current) {
        victim = current - 1;
        task_died(p, victim, attempt, KP_TASK_CRASHED, why, sig);
    }
    if (victim != UINT64_MAX)
        count_death(p, i, victim, why);
    /* The rest of what it held never ran, or its results died with it. */
    if (!p->stopping) {
        hand_back(p, run_start, run_end, attempt, victim);
        /* A range sent to it that it had not begun yet (it publishes each
         * range it starts, so a begun one was handed back just above). */
        uint64_t a_end = w->assigned.start + w->assigned.count;
        if (w->assigned.count && (w->assigned.start != run_start || a_end != run_end))
            hand_back(p, w->assigned.start, a_end, w->assigned.attempt, victim);
    }
    close_fd(&w->task_fd);
    close_fd(&w->result_fd);
    w->pid = 0;
}

static void handle_control(pool *p, int i, uint8_t kind, const char *msg)
{
    worker *w = &p->w[i];
    switch (kind) {
    case KP_WIRE_READY:
        w->ready = true;
        break;
    case KP_WIRE_INIT_FAILED:
        if (!p->init_failed) {
            p->init_failed = true;
            kp_err_set(p->err, KPOOL_EFAILED, "the initializer %s failed: %s%s",
                       p->cfg->initializer->name, msg,
                       p->all_ready ? " (in a replacement worker; the run stopped)"
                                    : "; no task ran");
            stop_run(p);
        }
        break;
    case KP_WIRE_IDLE:
        w->idle = true;
        w->assigned.count = 0;
        break;
    case KP_WIRE_FATAL:
        fail_run(p, kp_err_set(p->err, KPOOL_ESYS, "%s", msg));
        break;
    default:
        break;
    }
}

/* The common case, cheaply: a plain success (ok, first attempt, no text)
 * whose turn it is - every task before it is final and, in input order,
 * written - needs none of finish()'s bookkeeping. Consecutive ones are
 * gathered into a run that the sink takes in one call. */
typedef struct plain_run {
    uint64_t first;
    const unsigned char *values; /* the first task's value, */
    size_t stride;               /* and how far apart they are */
    size_t n;
} plain_run;

static bool takes_turn(const pool *p, uint64_t index)
{
    return index == p->low && index < p->total && !p->glen && p->sink->emit_run &&
           (p->cfg->completion_order || index == p->next_emit);
}

static void flush_run(pool *p, plain_run *run);

/* Adds a task to the run, which it must continue (else the run goes out
 * first): the next index, its value the next one of the same layout. */
static void add_to_run(pool *p, plain_run *run, uint64_t index, const unsigned char *value,
                       size_t stride)
{
    if (run->n && (index != run->first + run->n || stride != run->stride ||
                   value != run->values + run->n * stride))
        flush_run(p, run);
    if (!run->n) {
        run->first = index;
        run->values = value;
        run->stride = stride;
    }
    run->n++;
}

/* Completion order: any plain success not yet final goes out at once; only
 * its bit is set. False when it cannot take this way. */
static bool take_any(pool *p, plain_run *run, uint64_t index, const unsigned char *value,
                     size_t stride)
{
    if (!p->cfg->completion_order || !p->sink->emit_run || index >= p->total ||
        is_final(p, index) || !set_final(p, index))
        return false;
    p->stats->ok++;
    add_to_run(p, run, index, value, stride);
    return true;
}

/* True when none of tasks [a, b) is final yet (b <= total): then they are
 * all new, and can be taken in one piece. */
static bool none_final(const pool *p, uint64_t a, uint64_t b)
{
    if (a < p->low)
        return false;
    uint64_t end = b < p->low + p->final_cap ? b : p->low + p->final_cap;
    /* A byte of the ring at a time (a run holds thousands of tasks). */
    for (uint64_t i = a; i < end;) {
        uint64_t bit = i & (p->final_cap - 1);
        unsigned shift = (unsigned)(bit % 8), take = 8 - shift;
        if (take > end - i)
            take = (unsigned)(end - i);
        if (p->final[bit / 8] & ((1u << take) - 1) << shift)
            return false;
        i += take;
    }
    return true;
}

/* n new tasks from `first` (values `stride` bytes apart), the first in its
 * turn (takes_turn): they join the run, with O(1) bookkeeping. */
static void take_turn(pool *p, plain_run *run, uint64_t first, const unsigned char *values,
                      size_t stride, uint64_t n)
{
    add_to_run(p, run, first, values, stride);
    run->n += n - 1; /* add_to_run counted the first */
    p->low += n;
    p->nfinal += n;
    p->stats->ok += n;
    if (!p->cfg->completion_order)
        p->next_emit += n;
    /* Tasks after them that finished earlier: move past them (and, in input
     * order, write them after the run). */
    if (p->low < p->total && bit_of(p->final, p->final_cap, p->low))
        slide(p);
}

/* Input order: n new tasks from `first`, all strictly after next_emit, wait
 * in the ring: their bits set and values kept in one pass. False when
 * memory runs out (then finish() decides). */
static bool wait_all(pool *p, uint64_t first, const unsigned char *values, size_t stride,
                     uint64_t n, kp_type type)
{
    uint64_t last = first + n - 1;
    if (last - p->next_emit >= p->ring_cap && grow_ring(p, last) < 0)
        return false;
    if (last - p->low >= p->final_cap && !grow_final(p, last))
        return false;
    for (uint64_t i = first; i <= last; i++) {
        mark_final(p, i);
        park_value(p, i, values + stride * (i - first), type);
    }
    p->nfinal += n;
    p->stats->ok += n;
    slide(p); /* they may start at low (behind others still waiting to be written) */
    return true;
}

/* n plain successes (ok, first attempt, no text) of the tasks from `first`,
 * their values `stride` bytes apart: a worker's run record (8), or a single
 * record (16). The common cases go in one piece: their turn has come, or
 * (input order) they wait behind earlier tasks; else task by task, and
 * finish() for what is neither (a task final already, a fed run's gaps). */
static void take_plain(pool *p, plain_run *run, uint64_t first, const unsigned char *values,
                       size_t stride, uint64_t n, kp_type type)
{
    bool input_order = !p->cfg->completion_order;
    if (n && first + n <= p->total && !p->glen && p->sink->emit_run && type < KP_T_COUNT_ &&
        none_final(p, first, first + n)) {
        if (input_order && !takes_turn(p, first) && first > p->next_emit)
            flush_run(p, run); /* which may write the tasks before them */
        if (takes_turn(p, first)) {
            take_turn(p, run, first, values, stride, n);
            return;
        }
        if (input_order && first > p->next_emit && wait_all(p, first, values, stride, n, type))
            return;
    }
    for (uint64_t k = 0; k < n; k++) {
        uint64_t i = first + k;
        const unsigned char *value = values + stride * k;
        if (takes_turn(p, i)) {
            take_turn(p, run, i, value, stride, 1);
            continue;
        }
        if (take_any(p, run, i, value, stride))
            continue;
        flush_run(p, run);
        if (input_order && i > p->next_emit && i < p->total && !is_final(p, i) &&
            type < KP_T_COUNT_ && wait_all(p, i, value, stride, 1, type))
            continue;
        kp_outcome o = {.index = i, .kind = KP_TASK_OK, .type = type, .attempts = 1};
        memcpy(&o.value, value, sizeof o.value);
        finish(p, &o);
    }
}

static void flush_run(pool *p, plain_run *run)
{
    if (!run->n)
        return;
    if (!p->rc) {
        int rc =
            p->sink->emit_run(run->first, run->values, run->stride, run->n, p->sink->user, p->err);
        if (rc < 0)
            fail_run(p, rc);
    }
    run->n = 0;
    if (!p->cfg->completion_order)
        drain_ring(p);
}

/* Handles the complete records in a worker's receive buffer. */
static void parse_results(pool *p, int i)
{
    worker *w = &p->w[i];
    kp_type type = p->ctx->kernel->sig.ret;
    size_t off = 0;
    plain_run run = {0};
    size_t ok = p->stats->ok; /* more at the end: one of its tasks succeeded */
    while (w->rlen - off >= sizeof(kp_wire_result)) {
        kp_wire_result r;
        memcpy(&r, w->rbuf + off, sizeof r);
        uint8_t kind = (uint8_t)(r.tag >> KP_WIRE_KIND_SHIFT);
        uint64_t index = r.tag & KP_WIRE_INDEX_MASK;
        if (kind == KP_WIRE_RUN) {
            /* A run of plain successes, 8 bytes each (wire.h). */
            if (r.value > (w->rlen - off - sizeof r) / 8)
                break; /* the rest is still in the pipe */
            take_plain(p, &run, index, w->rbuf + off + sizeof r, 8, r.value, type);
            w->tasks_run += r.value;
            off += sizeof r + 8 * r.value;
            continue;
        }
        if (kind == KP_WIRE_SLOTS && p->values) {
            /* A run whose values wait in the slots; it may wrap their end. */
            uint64_t n = r.value;
            w->tasks_run += n;
            off += sizeof r;
            while (n) {
                uint64_t k = index & p->value_mask, part = p->value_mask + 1 - k;
                if (part > n)
                    part = n;
                take_plain(p, &run, index, (const unsigned char *)(p->values + k), 8, part, type);
                index += part;
                n -= part;
            }
            continue;
        }
        if (kind == 0) {
            take_plain(p, &run, index, w->rbuf + off + offsetof(kp_wire_result, value),
                       sizeof(kp_wire_result), 1, type);
            w->tasks_run++;
            off += sizeof r;
            continue;
        }
        flush_run(p, &run);
        kp_outcome o = {.index = index, .kind = KP_TASK_OK, .type = type};
        memcpy(&o.value, &r.value, sizeof o.value);
        if (!(kind & KP_WIRE_EXT)) {
            off += sizeof r;
            handle_control(p, i, kind, "");
            continue;
        }
        kp_wire_ext x;
        if (w->rlen - off < sizeof r + sizeof x)
            break;
        memcpy(&x, w->rbuf + off + sizeof r, sizeof x);
        size_t size = sizeof r + sizeof x + (size_t)x.msg_len + x.str_len;
        if (w->rlen - off < size)
            break;
        const char *body = (const char *)w->rbuf + off + sizeof r + sizeof x;
        char msg[KP_WIRE_MSG_MAX + 1];
        size_t mlen = x.msg_len < KP_WIRE_MSG_MAX ? x.msg_len : KP_WIRE_MSG_MAX;
        memcpy(msg, body, mlen);
        msg[mlen] = '\0';
        off += size;
        kind &= (uint8_t)~KP_WIRE_EXT;
        if (kind >= KP_WIRE_READY) {
            handle_control(p, i, kind, msg);
            continue;
        }
        o.kind = (kp_task_kind)kind;
        if (o.kind != KP_TASK_OK) {
            /* See KP_WIRE_FAILURE_VALUE. */
            o.attempts = (int)(uint32_t)r.value;
            o.signal = (int)(uint32_t)(r.value >> 32);
            memset(&o.value, 0, sizeof o.value);
        } else {
            o.attempts = 1;
        }
        char *str = NULL;
        if (o.kind == KP_TASK_OK && type == KP_T_STR) {
            str = malloc((size_t)x.str_len + 1);
            if (!str) {
                fail_run(p, kp_err_set(p->err, KPOOL_ENOMEM, "out of memory"));
                break;
            }
            memcpy(str, body + x.msg_len, x.str_len);
            str[x.str_len] = '\0';
            o.str = str;
        }
        if (o.kind != KP_TASK_OK)
            o.message = msg;
        w->tasks_run++;
        bool died = o.kind == KP_TASK_CRASHED || o.kind == KP_TASK_TIMEOUT;
        bool counted = died && is_remote(p, i) && !is_final(p, o.index);
        finish(p, &o);
        if (counted) {
            if (p->stats->ok != ok) /* the rank's tasks before it succeeded */
                w->deaths = 0;
            ok = p->stats->ok;
            /* Another rank's workers died of it, once an attempt (that rank
             * retried it itself). */
            w->deaths += o.attempts > 1 ? o.attempts - 1 : 0;
            count_death(p, i, o.index, msg);
        }
        free(str);
    }
    flush_run(p, &run);
    if (p->stats->ok != ok)
        w->deaths = 0;
    memmove(w->rbuf, w->rbuf + off, w->rlen - off);
    w->rlen -= off;
}

/* Reads what a worker sent; returns false at EOF (the worker is gone). */
static bool read_results(pool *p, int i)
{
    worker *w = &p->w[i];
    for (;;) {
        if (w->rcap - w->rlen < 65536) {
            size_t cap = w->rcap ? w->rcap * 2 : 262144;
            unsigned char *b = realloc(w->rbuf, cap);
            if (!b) {
                fail_run(p, kp_err_set(p->err, KPOOL_ENOMEM, "out of memory"));
                return true;
            }
            w->rbuf = b;
            w->rcap = cap;
        }
        ssize_t n = read(w->result_fd, w->rbuf + w->rlen, w->rcap - w->rlen);
        if (n > 0) {
            w->rlen += (size_t)n;
            parse_results(p, i);
            continue;
        }
        if (n == 0)
            return false;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return true;
        return false;
    }
}

static void terminate_worker(pool *p, int i, enum term_reason why)
{
    worker *w = &p->w[i];
    if (!w->pid || w->kill_at_ns)
        return;
    w->term = why;
    /* A remote slot waits for its rank's workers, which get their own grace
     * there, and for the trip back. */
    w->kill_at_ns = kp_now_ns() + (is_remote(p, i) ? 5 : 1) * KP_TERM_GRACE_NS;
    kill(w->pid, SIGTERM);
}

static void send_chunk(worker *w, kp_wire_chunk c)
{
    ssize_t n;
    do
        n = write(w->task_fd, &c, sizeof c);
    while (n < 0 && errno == EINTR);
    /* A failed write means the worker is dead: its EOF will arrive, and
     * reap() hands the range back. */
    w->idle = false;
    w->started = true;
    if (c.count)
        w->assigned = c;
}

static bool fresh_claimable(const pool *p)
{
    uint64_t end = atomic_load(&p->shared->window_end);
    if (end > p->total)
        end = p->total;
    return cursor_of(p) < end;
}

/* Finds tasks below the cursor that have no outcome, are not queued and are
 * held by no live worker: a worker that died between claiming and saying so.
 * Called only when every worker is idle, so nothing is in flight. */
static void recover_lost_claims(pool *p)
{
    uint64_t cur = cursor_of(p);
    if (cur > p->total)
        cur = p->total;
    if (p->low < cur)
        hand_back(p, p->low, cur, 1, UINT64_MAX);
}

/* Gives idle workers work: tasks handed back first, then fresh claims. */
static void dispatch(pool *p)
{
    int live = 0, ready = 0;
    for (int i = 0; i < p->nw; i++) {
        live += p->w[i].pid != 0;
        ready += p->w[i].pid && p->w[i].ready;
    }
    /* No task runs before every first worker's initializer succeeded. */
    if (!p->all_ready) {
        if (ready < p->nw || p->init_failed)
            return;
        p->all_ready = true;
        if (p->sink->started)
            p->sink->started(p->sink->user);
    }
    bool all_idle = true;
    for (int i = 0; i < p->nw; i++) {
        worker *w = &p->w[i];
        if (!w->pid || !w->ready || w->retiring || w->kill_at_ns)
            continue;
        if (w->started && !w->idle) {
            all_idle = false;
            continue;
        }
        if (!work_left(p))
            continue;
        if (p->qlen && !is_remote(p, i)) {
            range *r = &p->queue[p->qhead];
            uint64_t limit = p->chunk ? p->chunk : kp_guided_claim(r->count, (uint32_t)p->nw);
            if (p->cfg->max_tasks_per_worker) {
                size_t left = p->cfg->max_tasks_per_worker - w->tasks_run;
                if (limit > left)
                    limit = left;
            }
            kp_wire_chunk c = {.start = r->start,
                               .count = r->count < limit ? r->count : limit,
                               .attempt = r->attempt};
            r->start += c.count;
            r->count -= c.count;
            if (!r->count) {
                p->qhead = (p->qhead + 1) % p->qcap;
                p->qlen--;
            }
            send_chunk(w, c);
            all_idle = false;
        } else if (fresh_claimable(p) || !w->started) {
            send_chunk(w, (kp_wire_chunk){0});
            all_idle = false;
        }
    }
    if (all_idle && live && work_left(p) && !p->qlen && !fresh_claimable(p) && !p->cfg->feed) {
        recover_lost_claims(p);
        if (p->qlen)
            dispatch(p);
    }
}

static void check_deadlines(pool *p, int64_t now, int64_t *next)
{
    int64_t timeout_ns = (int64_t)(p->cfg->task_timeout * 1e9);
    for (int i = 0; i < p->nw; i++) {
        worker *w = &p->w[i];
        if (!w->pid)
            continue;
        if (w->kill_at_ns) {
            if (now >= w->kill_at_ns)
                kill(w->pid, SIGKILL);
            else if (w->kill_at_ns < *next)
                *next = w->kill_at_ns;
            continue;
        }
        if (!timeout_ns || !w->started || w->idle || is_remote(p, i))
            continue;
        uint64_t cur = atomic_load(&p->shared->slots[i].current);
        if (!cur) {
            /* Between two tasks: the next one starts within moments, so look
             * again soon rather than sleep past its deadline. */
            if (now + KP_BETWEEN_TASKS_NS < *next)
                *next = now + KP_BETWEEN_TASKS_NS;
            continue;
        }
        int64_t deadline = atomic_load(&p->shared->slots[i].started_ns) + timeout_ns;
        if (now >= deadline) {
            w->timeout_index = cur - 1;
            terminate_worker(p, i, TERM_TIMEOUT);
            if (w->kill_at_ns < *next)
                *next = w->kill_at_ns;
        } else if (deadline < *next) {
            *next = deadline;
        }
    }
}

static int live_workers(const pool *p)
{
    int n = 0;
    for (int i = 0; i < p->nw; i++)
        n += p->w[i].pid != 0;
    return n;
}

/* Workers running tasks (or about to: told to go and not idle yet). */
static int busy_workers(const pool *p)
{
    int n = 0;
    for (int i = 0; i < p->nw; i++)
        n += p->w[i].pid && p->w[i].started && !p->w[i].idle;
    return n;
}

static void handle_signal(pool *p)
{
    if (!got_signal)
        return;
    if (!p->stats->interrupted_by)
        p->stats->interrupted_by = got_signal;
    p->stopping = true;
    atomic_store(&p->shared->stop, 1);
    for (int i = 0; i < p->nw; i++) {
        if (signal_count > 1 && p->w[i].pid)
            kill(p->w[i].pid, SIGKILL); /* the second Ctrl-C: now */
        else
            terminate_worker(p, i, TERM_INTERRUPT);
    }
    got_signal = 0;
}

/* A fed run: takes what the feed has. */
static void read_feed(pool *p)
{
    const kp_pool_feed *f = p->cfg->feed;
    for (;;) {
        kp_feed_kind kind;
        uint64_t start = 0, count = 0;
        int r = f->read(f->user, &kind, &start, &count);
        if (r == 0)
            return;
        if (r < 0) {
            /* Rank 0 is gone: nothing will collect results. Stop as if
             * interrupted: the workers end, what finished is still sent. */
            p->feed_done = true;
            if (!p->stopping) {
                p->stats->interrupted_by = SIGTERM;
                stop_run(p);
                for (int i = 0; i < p->nw; i++)
                    terminate_worker(p, i, TERM_INTERRUPT);
            }
            return;
        }
        switch (kind) {
        case KP_FEED_RANGE:
            if (start + count > p->total || start < p->fed_end) {
                fail_run(
                    p, kp_err_set(p->err, KPOOL_ESYS, "rank 0 sent tasks %llu..%llu out of order",
                                  (unsigned long long)start, (unsigned long long)(start + count)));
                return;
            }
            if (start > p->fed_end) {
                if (p->glen == p->gcap) {
                    size_t cap = p->gcap ? p->gcap * 2 : 64;
                    gap *g = malloc(cap * sizeof *g);
                    if (!g) {
                        fail_run(p, kp_err_set(p->err, KPOOL_ENOMEM, "out of memory"));
                        return;
                    }
                    for (size_t k = 0; k < p->glen; k++)
                        g[k] = p->gaps[(p->ghead + k) % p->gcap];
                    free(p->gaps);
                    p->gaps = g;
                    p->gcap = cap;
                    p->ghead = 0;
                }
                p->gaps[(p->ghead + p->glen) % p->gcap] = (gap){p->fed_end, start};
                p->glen++;
                slide(p);
            }
            p->fed_end = start + count;
            if (append_range(p, start, count) < 0)
                fail_run(p, kp_err_set(p->err, KPOOL_ENOMEM, "out of memory"));
            break;
        case KP_FEED_END:
            p->feed_done = true;
            break;
        case KP_FEED_STOP:
            stop_run(p);
            break;
        case KP_FEED_STOP_NOW:
            stop_run(p);
            for (int i = 0; i < p->nw; i++)
                terminate_worker(p, i, TERM_HALT);
            break;
        }
    }
}

static void run_loop(pool *p, const sigset_t *wait_mask)
{
    struct pollfd *fds = p->fds;
    int *who = p->who;
    for (;;) {
        handle_signal(p);
        /* Keep the pool at full strength while work remains. */
        for (int i = 0; i < p->nw && work_left(p) && !p->init_failed; i++) {
            if (!p->w[i].pid && !p->w[i].gone && spawn(p, i) < 0 && !live_workers(p)) {
                fail_run(p, KPOOL_ESYS);
                break;
            }
        }
        move_window(p);
        dispatch(p);
        if (!work_left(p) && !busy_workers(p)) {
            /* Nothing runs and nothing will: let the workers go. */
            for (int i = 0; i < p->nw; i++) {
                if (p->w[i].pid && !p->w[i].retiring) {
                    close_fd(&p->w[i].task_fd);
                    p->w[i].retiring = true;
                }
            }
            if (!live_workers(p))
                break;
        }

        int64_t now = kp_now_ns(), next = INT64_MAX;
        check_deadlines(p, now, &next);
        if (p->sink->tick && p->sink->tick_ns > 0) {
            if (now >= p->next_tick_ns) {
                p->sink->tick(p->stats, busy_workers(p), p->sink->user);
                p->next_tick_ns = now + p->sink->tick_ns;
            }
            if (p->next_tick_ns < next)
                next = p->next_tick_ns;
        }
        int n = 0;
        for (int i = 0; i < p->nw; i++) {
            if (p->w[i].pid) {
                fds[n].fd = p->w[i].result_fd;
                fds[n].events = POLLIN;
                fds[n].revents = 0;
                who[n++] = i;
            }
        }
        if (p->cfg->feed && !p->feed_done) {
            fds[n].fd = p->cfg->feed->fd;
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            who[n++] = -1;
        }
        struct timespec ts, *tsp = NULL;
        if (next != INT64_MAX) {
            int64_t wait = next - now;
            if (wait < 0)
                wait = 0;
            ts.tv_sec = wait / 1000000000;
            ts.tv_nsec = wait % 1000000000;
            tsp = &ts;
        }
        int r = ppoll(fds, (nfds_t)n, tsp, wait_mask);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fail_run(p, kp_err_set(p->err, KPOOL_ESYS, "ppoll failed: %s", strerror(errno)));
            break;
        }
        for (int k = 0; k < n; k++) {
            if (!fds[k].revents)
                continue;
            int i = who[k];
            if (i < 0)
                read_feed(p);
            else if (!read_results(p, i))
                reap(p, i);
        }
        if (p->sink->flush && !p->rc) {
            int frc = p->sink->flush(p->sink->user, p->err);
            if (frc < 0)
                fail_run(p, frc);
        }
    }
}

/* Emits NOT_RUN for the tasks of a stopped run that have no outcome: those
 * below the cursor (claimed or handed back), so that every line up to the
 * last task that ran is there; the tasks nobody reached only with
 * cfg->not_run_tail (a fixed-size output needs them). Never-reached tasks are
 * counted either way. */
static void finish_not_run(pool *p)
{
    if (p->cfg->feed)
        return; /* rank 0 accounts for the tasks this rank did not finish */
    uint64_t end = p->cfg->not_run_tail ? p->total : cursor_of(p);
    if (end > p->total)
        end = p->total;
    for (uint64_t i = p->low; i < end && !p->rc; i++) {
        if (is_final(p, i))
            continue;
        kp_outcome o = {.index = i,
                        .kind = KP_TASK_NOT_RUN,
                        .type = p->ctx->kernel->sig.ret,
                        .message = "the run stopped before this task ran",
                        .attempts = 0};
        finish(p, &o);
    }
    p->stats->not_run = p->total - p->stats->ok - p->stats->failed;
}

static void kill_all(pool *p)
{
    for (int i = 0; i < p->nw; i++) {
        if (!p->w[i].pid)
            continue;
        kill(p->w[i].pid, SIGKILL);
        while (waitpid(p->w[i].pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (!is_remote(p, i))
            kp_trace_worker_died(p->cfg->trace, i, atomic_load(&p->shared->slots[i].current));
        close_fd(&p->w[i].task_fd);
        close_fd(&p->w[i].result_fd);
        p->w[i].pid = 0;
    }
}

int kp_pool_run(const kp_pool_config *cfg, kp_task_ctx *ctx, size_t total, const kp_pool_sink *sink,
                kp_pool_stats *stats, kp_err *err)
{
    memset(stats, 0, sizeof *stats);
    stats->total = total;
    pool p = {.cfg = cfg, .ctx = ctx, .sink = sink, .stats = stats, .err = err, .total = total};
    p.lw = cfg->workers > 0 ? cfg->workers : 1;
    if (total > 0 && (size_t)p.lw > total && !cfg->feed)
        p.lw = (int)total;
    p.nw = p.lw + (cfg->remotes > 0 ? cfg->remotes : 0);
    stats->workers = p.lw + cfg->remote_workers;
    p.chunk = cfg->chunksize;
    int rc = 0;

    p.shared_size = sizeof(kp_pool_shared) + (size_t)p.nw * sizeof(kp_worker_shared);
    p.shared = mmap(NULL, p.shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    p.w = calloc((size_t)p.nw, sizeof *p.w);
    p.final_cap = 65536;
    p.final = calloc(p.final_cap / 8, 1);
    p.fds = calloc((size_t)p.nw + 1, sizeof *p.fds);
    p.who = calloc((size_t)p.nw + 1, sizeof *p.who);
    if (p.shared == MAP_FAILED || !p.w || !p.final || !p.fds || !p.who) {
        if (p.shared == MAP_FAILED)
            p.shared = NULL;
        rc = kp_err_set(err, KPOOL_ENOMEM, "cannot allocate the pool's bookkeeping for %zu tasks",
                        total);
        goto out;
    }
    for (int i = 0; i < p.nw; i++)
        p.w[i].task_fd = p.w[i].result_fd = -1;
    p.window = 65536 + 4 * (uint64_t)(cfg->chunksize ? cfg->chunksize : 8192) * (uint64_t)p.nw;
    p.shared->total = total;
    p.shared->chunk = cfg->chunksize;
    /* Guided claims are sized for every worker of every rank. */
    p.shared->workers = (uint32_t)(p.lw + cfg->remote_workers);
    p.shared->track_time = cfg->task_timeout > 0;
    atomic_store(&p.shared->window_end, cfg->completion_order ? UINT64_MAX : p.window);
    if (cfg->feed)
        atomic_store(&p.shared->cursor, total); /* nothing to claim: ranges come fed */
    if (!cfg->completion_order && !cfg->feed && sink->emit_run) {
        /* Value slots for the window (wire.h); without them if they cannot
         * be had, values come through the pipes as before. */
        uint64_t slots = 1024;
        while (slots < p.window)
            slots *= 2;
        void *v = slots > KP_WIRE_VALUE_SLOTS_MAX
                      ? MAP_FAILED
                      : mmap(NULL, slots * 8, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (v != MAP_FAILED) {
            p.values = v;
            p.value_mask = slots - 1;
        }
    }

    /* SIGINT/SIGTERM only interrupt ppoll; SIGPIPE from a dead worker's pipe
     * shows up as EPIPE instead. */
    struct sigaction sa, old_int, old_term, old_pipe;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    sigset_t wait_mask = old_mask;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    got_signal = 0;
    signal_count = 0;

    run_loop(&p, &wait_mask);
    kill_all(&p);
    /* A failed first initializer means no task ran and none is written;
     * after that, every task keeps its line. */
    if (!p.init_failed || p.all_ready)
        finish_not_run(&p);
    if (!cfg->completion_order)
        drain_ring(&p);

    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);

    if (p.rc)
        rc = p.rc;
    else if (p.init_failed)
        rc = KPOOL_EFAILED;
    else if (stats->interrupted_by)
        rc = KPOOL_EINTR;
    else if (stats->failed || stats->not_run)
        rc = KPOOL_EFAILED;

out:
    for (size_t k = 0; k < p.ring_cap; k++) {
        if (p.wait_kind[k] == WAIT_HEAP) {
            free_outcome_text(p.ring[k].heap);
            free(p.ring[k].heap);
        }
    }
    free(p.ring);
    free(p.wait_kind);
    for (int i = 0; p.w && i < p.nw; i++)
        free(p.w[i].rbuf);
    free(p.w);
    free(p.queue);
    free(p.gaps);
    free(p.final);
    free(p.fds);
    free(p.who);
    if (p.shared)
        munmap(p.shared, p.shared_size);
    if (p.values)
        munmap(p.values, (p.value_mask + 1) * 8);
    return rc;
}
