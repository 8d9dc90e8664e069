/* mpi/relay.h - rank 0's slots that forward tasks to the other ranks. */
#ifndef KP_MPI_RELAY_H
#define KP_MPI_RELAY_H

#include "../wire.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct kp_relay_ctx {
    int ctl;                /* the pool process's socket to its agent */
    int size;               /* ranks */
    int *fds;               /* fds[r]: the socket to rank r's relay end (r >= 1) */
    const int32_t *workers; /* workers[r]: rank r's pool size */
    int all_workers;        /* every rank's workers together */
    bool started;           /* the other ranks were told to start */
} kp_relay_ctx;

/* The life of the slot for rank remote+1 (kp_pool_config.remote_main): it
 * claims ranges like a worker and sends them to that rank, and passes the
 * records of finished tasks that come back to the pool as its own results.
 * Never returns. */
void kp_mpi_relay_main(const kp_worker_args *a, int remote, void *user);

#endif
