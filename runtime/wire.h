/* wire.h - what the coordinator and the workers share: the memory where
 * workers claim tasks, and the records that cross the pipes. Internal to
 * pool.c and worker.c.
 *
 * Tasks are claimed, not sent: each worker takes the next range of indices
 * from `cursor` with one compare-and-swap, so handing out a task costs no
 * system call. Only tasks handed back (a dead worker's unfinished range, a
 * retry) travel over a worker's task pipe. Results travel back in batches over
 * its result pipe; in input order, plain values wait in shared value slots
 * instead, and the pipe only says which (KP_WIRE_SLOTS). */
#ifndef KP_WIRE_H
#define KP_WIRE_H

#include "pool.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* Coordinator -> worker: run tasks start .. start+count-1, all at `attempt`.
 * count 0 means "claim from the cursor again" (the start signal, and the
 * wake-up after input order's window moved). Smaller than PIPE_BUF, so every
 * write is atomic. */
typedef struct kp_wire_chunk {
    uint64_t start;
    uint64_t count;
    uint32_t attempt;
    uint32_t reserved;
} kp_wire_chunk;

/* Worker -> coordinator: a 16-byte record per task. The top byte of `tag` is
 * the kind, the rest the task index. A kind with KP_WIRE_EXT set is followed
 * by a kp_wire_ext and its bytes (message, then string result). */
typedef struct kp_wire_result {
    uint64_t tag;
    uint64_t value; /* the bytes of kp_outcome.value */
} kp_wire_result;

typedef struct kp_wire_ext {
    uint32_t msg_len;
    uint32_t str_len;
} kp_wire_ext;

#define KP_WIRE_KIND_SHIFT 56
#define KP_WIRE_INDEX_MASK ((UINT64_C(1) << KP_WIRE_KIND_SHIFT) - 1)
#define KP_WIRE_EXT        0x80

enum {
    /* Kinds below 0x40 are kp_task_kind values. */
    KP_WIRE_READY = 0x40,       /* the initializer ran (or there is none) */
    KP_WIRE_INIT_FAILED = 0x41, /* message: why */
    KP_WIRE_IDLE = 0x42,        /* nothing left to claim: waiting on the task pipe */
    KP_WIRE_FATAL = 0x43,       /* message: a remote rank's run failed (backend = mpi) */
    /* A run of plain successes (ok, first attempt, no text) of consecutive
     * tasks: the index is the first task's, the value how many follow (n),
     * then n values of 8 bytes (kp_outcome.value's bytes), one per task:
     * 8 bytes a result instead of 16. Only a worker sends it to its pool. */
    KP_WIRE_RUN = 0x44,
    /* A run of plain successes whose values the worker stored in the pool's
     * value slots (kp_worker_args.values): the index is the first task's,
     * the value how many follow; nothing else follows. Sent instead of
     * KP_WIRE_RUN when the pool has the slots. */
    KP_WIRE_SLOTS = 0x45,
};

/* Value slots: in input order, every task a local worker runs lies within
 * the window, [next_emit, next_emit + window), and the coordinator reads a
 * task's value before the window moves past it; so a ring of at least
 * `window` 8-byte slots, task i in slot i & mask, never has two values of
 * unread tasks in one slot. Workers store values there and send only a
 * KP_WIRE_SLOTS record a run, and no value crosses a pipe. Larger windows
 * (huge chunk sizes) do without, rather than map more. */
#define KP_WIRE_VALUE_SLOTS_MAX (UINT64_C(1) << 20)

/* Messages are capped so that a worker's batch stays small. */
#define KP_WIRE_MSG_MAX 1000

/* Exit status of a worker that stopped on the coordinator's SIGTERM after
 * sending its finished results. */
#define KP_WORKER_EXIT_TERMINATED 75

/* A failure's `value` carries its attempt number and, above bit 32, the
 * signal that killed its worker (a remote rank reports crashes so). */
#define KP_WIRE_FAILURE_VALUE(attempts, sig)                                                       \
    ((uint64_t)(uint32_t)(attempts) | ((uint64_t)(uint32_t)(sig) << 32))

/* One per worker slot. Written by the worker, read by the coordinator (while
 * the worker lives: `current` and `started_ns`; after its death: the rest). */
typedef struct kp_worker_shared {
    _Atomic uint64_t current;   /* index + 1 of the task running, 0 = none */
    _Atomic int64_t started_ns; /* when it started (only with task timeouts) */
    _Atomic uint64_t run_start; /* the range it is working through */
    _Atomic uint64_t run_end;
    _Atomic uint32_t run_attempt;
    char pad[28];
} kp_worker_shared;

/* Three cache lines: the cursor (taken by workers), window_end (moved by
 * the coordinator as results go out), and what workers read before every
 * task, which changes at most once (stop) - so that those reads never wait
 * for a line another core just wrote. */
typedef struct kp_pool_shared {
    _Atomic uint64_t cursor; /* the next task nobody has claimed yet */
    char pad0[56];
    _Atomic uint64_t window_end; /* no claim may reach this index (input order) */
    char pad1[56];
    _Atomic int stop; /* set: start no new task */
    uint32_t workers;
    uint64_t total;
    uint64_t chunk;  /* fixed claim size, or 0 for guided claims */
    bool track_time; /* task timeouts are on: publish started_ns */
    char pad2[39];
    kp_worker_shared slots[]; /* one per worker slot */
} kp_pool_shared;

_Static_assert(sizeof(kp_pool_shared) == 192, "kp_pool_shared is three cache lines");
_Static_assert(sizeof(kp_worker_shared) == 64, "a worker slot is one cache line");

/* Takes the next range from the shared cursor with one compare-and-swap:
 * the claim size (fixed chunk, or guided) times `scale` (a relay claims for
 * a whole rank), at most `budget` tasks, never past the window. Returns its
 * size, 0 when there is nothing to take or the run stops. */
static inline uint64_t kp_wire_claim(kp_pool_shared *sh, uint64_t scale, uint64_t budget,
                                     uint64_t *start)
{
    uint64_t cur = atomic_load_explicit(&sh->cursor, memory_order_relaxed);
    for (;;) {
        if (atomic_load_explicit(&sh->stop, memory_order_relaxed))
            return 0;
        uint64_t end = atomic_load_explicit(&sh->window_end, memory_order_acquire);
        if (end > sh->total)
            end = sh->total;
        if (cur >= end)
            return 0;
        uint64_t n = sh->chunk ? sh->chunk : kp_guided_claim(sh->total - cur, sh->workers);
        n *= scale;
        if (n > end - cur)
            n = end - cur;
        if (n > budget)
            n = budget;
        if (atomic_compare_exchange_weak(&sh->cursor, &cur, cur + n)) {
            *start = cur;
            return n;
        }
    }
}

/* What a forked worker needs. */
typedef struct kp_worker_args {
    int slot;
    int task_fd;   /* read chunks from here */
    int result_fd; /* write results here */
    kp_pool_shared *shared;
    const kp_pool_config *cfg;
    kp_task_ctx *ctx;
    pid_t parent;
    uint64_t *values;    /* the value slots (shared), or NULL */
    uint64_t value_mask; /* slots - 1 */
} kp_worker_args;

/* The worker process's whole life; never returns (it _exits). */
_Noreturn void kp_worker_main(const kp_worker_args *a);

#endif
