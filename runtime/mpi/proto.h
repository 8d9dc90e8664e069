/* mpi/proto.h - the messages of backend = mpi.
 *
 * Three kinds of process take part on each rank: the agent (the kpool
 * process, the only one that calls MPI), its pool process (forked before
 * MPI_Init: it owns the job, its workers run the kernels) and, on rank 0,
 * one relay process per other rank (a slot of rank 0's pool that forwards
 * the tasks it claims). They talk over SOCK_SEQPACKET sockets, one message
 * per packet, and the agents carry packets between ranks unchanged as MPI
 * messages of bytes. Every message starts with a kp_msg_head.
 *
 *   pool -> agent        HELLO   after loading the job: its fingerprint
 *   agent -> pool        SETUP   rank, size, the other ranks' workers; on
 *                                rank 0 with one socket per other rank
 *                                (SCM_RIGHTS) for its relays
 *                        ABORT   do not run (another rank cannot)
 *   rank 0's pool -> all START   the tasks to run (+ MAP packets on --resume)
 *   relay -> rank r      CHUNK   a range of tasks, or end / stop / stop now
 *   rank r -> relay      READY   its initializers ran
 *                        RESULTS wire records (wire.h) of finished tasks
 *                        EXIT    its pool ended (status, message)
 */
#ifndef KP_MPI_PROTO_H
#define KP_MPI_PROTO_H

#include <stdint.h>

#include "../journal.h"

enum {
    KP_MSG_HELLO = 1,
    KP_MSG_SETUP,
    KP_MSG_ABORT,
    KP_MSG_START,
    KP_MSG_MAP,
    KP_MSG_CHUNK,
    KP_MSG_READY,
    KP_MSG_RESULTS,
    KP_MSG_EXIT,
};

/* The largest packet: RESULTS are cut to fit; a task whose string result
 * alone does not fit fails with a message saying so. */
#define KP_MSG_MAX       (128 * 1024)
#define KP_MSG_TEXT      1024
#define KP_MPI_MAX_RANKS 4096

typedef struct kp_msg_head {
    uint32_t type;
    uint32_t pad;
} kp_msg_head;

typedef struct kp_msg_hello {
    kp_msg_head h;
    int32_t rc;          /* 0, or the negative code of the job's error */
    int32_t exit_status; /* kpool's exit status for that error */
    int32_t workers;     /* this rank's pool size */
    int32_t pad;
    kp_fingerprint fp;
    char text[KP_MSG_TEXT]; /* the error */
} kp_msg_hello;

typedef struct kp_msg_setup {
    kp_msg_head h;
    int32_t rank, size;
    int32_t exit_status; /* ABORT: exit with this */
    int32_t pad;
    int32_t workers[]; /* SETUP: each rank's workers (size of them) */
} kp_msg_setup;

typedef struct kp_msg_start {
    kp_msg_head h;
    uint64_t tasks;  /* to run: the job's, or a resumed run's left ones */
    uint64_t mapped; /* resumed: that many indices follow in MAP packets */
    int32_t run;     /* 0: rank 0 could not start; every rank stops */
    int32_t pad;
} kp_msg_start;

typedef struct kp_msg_map {
    kp_msg_head h;
    uint64_t count;
    uint64_t index[]; /* task -> job task */
} kp_msg_map;

enum { KP_CHUNK_RANGE, KP_CHUNK_END, KP_CHUNK_STOP, KP_CHUNK_STOP_NOW };

typedef struct kp_msg_chunk {
    kp_msg_head h;
    uint32_t kind;
    uint32_t pad;
    uint64_t start, count;
} kp_msg_chunk;

typedef struct kp_msg_exit {
    kp_msg_head h;
    int32_t status;      /* the rank's pool process's exit status */
    int32_t failed;      /* its run failed (text says why): not one of the ordinary ends */
    int32_t interrupted; /* it was stopped by SIGINT/SIGTERM of its own */
    int32_t pad;
    char text[KP_MSG_TEXT];
} kp_msg_exit;

/* What the agent module exports (mpi/agent.c), found with dlsym. */
typedef struct kp_mpi_agent_result {
    int exit_status;
    int rank;
    char text[KP_MSG_TEXT]; /* rank 0: an error to print; empty when the pool printed it */
} kp_mpi_agent_result;

typedef int (*kp_mpi_agent_fn)(int ctl, int pool_pid, kp_mpi_agent_result *res);
#define KP_MPI_AGENT_SYMBOL "kpool_mpi_agent"

#endif
