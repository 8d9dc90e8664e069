/* kernels.c - the benchmark's kernels, built by bench/run.sh as a plugin:
 *
 *     cc -O2 -shared -fPIC -I include -o WORKDIR/libbench.so bench/kernels.c
 *
 * add1  the trivial kernel: as little work per task as a call can do, so a
 *       run measures the cost of dispatching tasks, not of the tasks.
 * spin  a CPU-bound kernel of deterministic, uneven length: task i does
 *       spin_iterations(i) steps of a dependent multiply-add chain, between
 *       0.5 and 1.5 times SPIN_STEPS_PER_MS (about 0.5 to 1.5 ms on the
 *       machine it was calibrated on, a 2-core AMD EPYC VM). The work is a
 *       fixed number of steps rather than a clock, so `-j 1` and `-j N` do
 *       exactly the same work and the parallel efficiency compares like with
 *       like; the result depends on every step, so the loop cannot be
 *       optimised away and the outputs of two runs can be compared.
 */
#include <kpool/plugin.h>

#include <stdlib.h>
#include <time.h>

/* Steps of spin's chain per millisecond, from `floor libbench.so --spin 1000`
 * (bench/floor.c), which prints the steps per ms this machine does; a step is
 * one 64-bit multiply-add, about 4 cycles. */
#define SPIN_STEPS_PER_MS 750000u

static int64_t add1(int64_t x)
{
    return x + 1;
}

/* splitmix64's finaliser: spreads consecutive task indices uniformly. */
static uint64_t mix(uint64_t z)
{
    z += UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* 0.5 .. 1.5 ms worth of steps, in 1/1000 ms increments, chosen by i. */
static uint64_t spin_iterations(int64_t i)
{
    uint64_t permille = 500 + mix((uint64_t)i) % 1001;
    return permille * SPIN_STEPS_PER_MS / 1000;
}

static int64_t spin(int64_t i)
{
    uint64_t x = (uint64_t)i;
    uint64_t n = spin_iterations(i);
    for (uint64_t k = 0; k < n; k++)
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (int64_t)(x >> 1);
}

/* The number of steps task i of spin does; floor.c uses it to calibrate. */
static int64_t spin_steps(int64_t i)
{
    return (int64_t)spin_iterations(i);
}

/* backend = mpi: the MPI rank whose worker ran the task (PMI_RANK, which
 * hydra and Slurm set in every process of a rank; -1 outside MPI). */
static int64_t which_rank(int64_t i)
{
    (void)i;
    const char *r = getenv("PMI_RANK");
    return r ? atoll(r) : -1;
}

/* For the chunk round-trip benchmark: rank 0's own worker sleeps 50 ms per
 * task, so that nearly every chunk goes to the other ranks; elsewhere a
 * no-op that returns the rank. */
static int64_t slow_on_rank0(int64_t i)
{
    int64_t r = which_rank(i);
    if (r == 0) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return r;
}

KPOOL_PLUGIN(KPOOL_KERNEL_TYPED(add1, i64, i64), KPOOL_KERNEL_TYPED(spin, i64, i64),
             KPOOL_KERNEL_TYPED(spin_steps, i64, i64), KPOOL_KERNEL_TYPED(which_rank, i64, i64),
             KPOOL_KERNEL_TYPED(slow_on_rank0, i64, i64), )
