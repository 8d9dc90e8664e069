/* wire.h - what crosses the pipes between the coordinator and a worker, and
 * the shared memory they both see. Internal to pool.c and worker.c. */
#ifndef KP_WIRE_H
#define KP_WIRE_H

#include "pool.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

/* Coordinator -> worker: run tasks start .. start+count-1 (attempt number for
 * all of them). Smaller than PIPE_BUF, so every write is atomic. */
typedef struct kp_wire_chunk {
    uint64_t start;
    uint64_t count;
    uint32_t attempt;
    uint32_t reserved;
} kp_wire_chunk;

/* Worker -> coordinator: a header, then msg_len bytes of message and str_len
 * bytes of string result (neither NUL-terminated). */
typedef struct kp_wire_result {
    uint64_t index;
    uint32_t msg_len;
    uint32_t str_len;
    uint8_t kind; /* kp_task_kind, or one of the KP_WIRE_* below */
    uint8_t reserved[7];
    uint64_t value; /* the bytes of kp_outcome.value */
} kp_wire_result;

enum {
    KP_WIRE_READY = 200,       /* the initializer ran (or there is none) */
    KP_WIRE_INIT_FAILED = 201, /* message: why */
    KP_WIRE_CHUNK_DONE = 202,  /* the worker is done with its chunk (index = tasks it ran) */
};

/* Messages are capped so that a worker's buffer stays small. */
#define KP_WIRE_MSG_MAX 1000

/* Exit status of a worker that stopped on the coordinator's SIGTERM after
 * flushing its finished results. */
#define KP_WORKER_EXIT_TERMINATED 75

/* One per worker slot, in memory shared with the workers. */
typedef struct kp_worker_shared {
    _Atomic uint64_t current;   /* index + 1 of the task running, 0 = none */
    _Atomic int64_t started_ns; /* CLOCK_MONOTONIC when it started */
    char pad[48];
} kp_worker_shared;

typedef struct kp_pool_shared {
    _Atomic int stop; /* set: start no new task */
    char pad[60];
    kp_worker_shared slots[]; /* one per worker slot */
} kp_pool_shared;

/* What a forked worker needs. */
typedef struct kp_worker_args {
    int slot;
    int task_fd;   /* read chunks from here */
    int result_fd; /* write results here */
    kp_pool_shared *shared;
    const kp_pool_config *cfg;
    kp_task_ctx *ctx;
    pid_t parent;
} kp_worker_args;

/* The worker process's whole life; never returns (it _exits). */
_Noreturn void kp_worker_main(const kp_worker_args *a);

#endif
