/* mpi/mpi.h - backend = mpi: the same job over the ranks of an MPI job.
 *
 * Each rank's kpool process forks its pool process before it calls
 * MPI_Init, then becomes an agent that only relays bytes between that pool
 * process and the other ranks (mpi/agent.c, a module loaded only for this
 * backend). Kernels run in the pool process's workers, never in a process
 * that called MPI_Init. */
#ifndef KP_MPI_H
#define KP_MPI_H

#include <kpool/kpool.h>

/* Runs `job` (its file validated, nothing prepared yet) as one rank of an
 * MPI job, or as a single rank when started without mpiexec. Returns like
 * kpool_job_run; the exit status is the one rank 0 decided. */
int kp_mpi_run(kpool_job_t *job, int flags);

#endif
