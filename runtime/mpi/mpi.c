/* mpi/mpi.c - a rank of backend = mpi (see mpi.h). */
#include "mpi.h"

#include "../job.h"

int kp_mpi_run(kpool_job_t *job, int flags)
{
    (void)flags;
    return kp_err_set(kp_job_err(job), KPOOL_ENOTSUP,
                      "backend = mpi is not built into this kpool yet; use backend = local");
}
