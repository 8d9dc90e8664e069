/* Kernels for the end-to-end and pool tests: each one misbehaves in a known
 * way on known inputs. */
#define _POSIX_C_SOURCE 200809L
#include <kpool/plugin.h>

#include <errno.h>

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* x * 2, but dies of SIGSEGV when x % 10 == 3. */
static int64_t crash_on_3(int64_t x)
{
    if (x % 10 == 3) {
        volatile int *nowhere = NULL;
        *nowhere = 1;
    }
    return x * 2;
}

static int64_t abort_on_3(int64_t x)
{
    if (x % 10 == 3)
        abort();
    return x * 2;
}

static int64_t exit_on_3(int64_t x)
{
    if (x % 10 == 3)
        exit(3);
    return x * 2;
}

static int64_t fpe_on_3(int64_t x)
{
    if (x % 10 == 3)
        raise(SIGFPE);
    return x * 2;
}

static int64_t bus_on_3(int64_t x)
{
    if (x % 10 == 3)
        raise(SIGBUS);
    return x * 2;
}

/* x * 2, but dies of SIGSEGV on 1% of inputs (x % 100 == 42). */
static int64_t segv_one_percent(int64_t x)
{
    if (x % 100 == 42) {
        volatile int *nowhere = NULL;
        *nowhere = 1;
    }
    return x * 2;
}

/* Fails (without crashing) on negative numbers. */
static int64_t fail_if_negative(int64_t x)
{
    if (x < 0) {
        kpool_fail("value %lld is negative", (long long)x);
        return 0;
    }
    return x;
}

/* Sleeps `seconds`, then returns them. */
static double sleep_for(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - floor(seconds)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
    return seconds;
}

/* Crashes the first time it sees x (remembered by a marker file in `dir`),
 * returns x on the next attempt: the shape of a flaky task. */
static int64_t crash_once(const char *dir, int64_t x)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/crash_once.%lld", dir, (long long)x);
    if (access(path, F_OK) != 0) {
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
        raise(SIGKILL);
    }
    return x;
}

/* The process id of the worker, to see how tasks spread over workers. */
static int64_t worker_pid(int64_t x)
{
    (void)x;
    return (int64_t)getpid();
}

/* Sleeps a little, then says which worker ran it. */
static int64_t worker_pid_slow(int64_t x)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return worker_pid(x);
}

static int64_t base;

/* An initializer and a kernel that needs it. */
static void set_base(int64_t b)
{
    base = b;
}

static int64_t add_base(int64_t x)
{
    return base + x;
}

/* Allocates and touches `mib` MiB; fails the task when malloc cannot. */
static int64_t allocate_mib(int64_t mib)
{
    size_t n = (size_t)mib << 20;
    char *p = malloc(n);
    if (!p) {
        kpool_fail("cannot allocate %lld MiB", (long long)mib);
        return 0;
    }
    memset(p, 1, n);
    int64_t touched = p[n - 1];
    free(p);
    return mib * touched;
}

/* Uses `seconds` of CPU time. */
static double burn_cpu(double seconds)
{
    volatile double x = 0;
    clock_t end = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
    while (clock() < end)
        for (int i = 0; i < 100000; i++)
            x += 1;
    (void)x; /* clang counts a variable only ever added to as unused */
    return seconds;
}

/* Opens /dev/null `count` times; fails the task when it cannot. */
static int64_t open_many(int64_t count)
{
    FILE *files[4096];
    int64_t opened = 0;
    const char *why = NULL;
    for (; opened < count && opened < 4096; opened++) {
        files[opened] = fopen("/dev/null", "r");
        if (!files[opened]) {
            why = strerror(errno);
            break;
        }
    }
    for (int64_t i = 0; i < opened; i++)
        fclose(files[i]);
    if (why)
        kpool_fail("cannot open file %lld: %s", (long long)opened + 1, why);
    return opened;
}

/* The worker's core file limit, to see that core_dumps = false sets it to 0. */
static int64_t core_limit(int64_t x)
{
    (void)x;
    struct rlimit rl;
    getrlimit(RLIMIT_CORE, &rl);
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Zombie children of this worker's coordinator. */
static int parent_zombies(void)
{
    char path[64], buf[4096];
    pid_t parent = getppid();
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)parent, (int)parent);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int zombies = 0, child;
    while (fscanf(f, "%d", &child) == 1) {
        snprintf(path, sizeof path, "/proc/%d/stat", child);
        FILE *st = fopen(path, "r");
        if (!st)
            continue;
        /* "pid (comm) S ...": the state follows the last ')'. */
        size_t n = fread(buf, 1, sizeof buf - 1, st);
        buf[n] = '\0';
        fclose(st);
        char *close = strrchr(buf, ')');
        zombies += close && close[1] == ' ' && close[2] == 'Z';
    }
    fclose(f);
    return zombies;
}

/* Dies of SIGSEGV when x % 10 == 3; otherwise reports the worker's open
 * descriptors (inherited from the coordinator) * 1000 + the coordinator's
 * zombie children, so a run of many crashes shows whether either grows. */
static int64_t census_or_crash(int64_t x)
{
    if (x % 10 == 3)
        raise(SIGSEGV);
    return (int64_t)count_entries("/proc/self/fd") * 1000 + parent_zombies();
}

/* An initializer that works once: the second worker to run it fails (the
 * marker file says a worker already started). */
static void init_once(const char *marker)
{
    if (access(marker, F_OK) == 0) {
        kpool_fail("%s exists: a worker was already initialised", marker);
        return;
    }
    FILE *f = fopen(marker, "w");
    if (f)
        fclose(f);
}

static void init_fails(void)
{
    kpool_fail("cannot open the model file");
}

/* Results of every kind. */
static double f64_half(double x)
{
    return x / 2;
}

static float f32_third(float x)
{
    return x / 3;
}

static bool is_even(int64_t x)
{
    return x % 2 == 0;
}

static int8_t i8_neg(int8_t x)
{
    return (int8_t)-x;
}

static const char *greet(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "hello, %s", name);
    return buf;
}

static void do_nothing(int64_t x)
{
    (void)x;
}

/* backend = mpi: the MPI rank whose worker ran the task (hydra and Slurm's
 * PMI set PMI_RANK in every process of a rank; -1 outside MPI), after a
 * pause of 0.2 ms, so that rank 0's own worker cannot finish every task
 * before the other ranks' first claims arrive. */
static int64_t mpi_rank(int64_t x)
{
    (void)x;
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
    const char *r = getenv("PMI_RANK");
    return r ? atoll(r) : -1;
}

/* Crashes on MPI rank 2 only; elsewhere returns x * 2 after `x` microseconds
 * of sleep, so that every rank gets some of the tasks. */
static int64_t crash_on_rank2(int64_t x)
{
    const char *r = getenv("PMI_RANK");
    if (r && strcmp(r, "2") == 0)
        raise(SIGSEGV);
    struct timespec ts = {0, (long)(x % 1000) * 1000};
    nanosleep(&ts, NULL);
    return x * 2;
}

static double mean(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return n ? s / (double)n : 0;
}

/* Narrow integers between floats, in a plugin built apart from kpool: a
 * caller that does not sign- or zero-extend them, or puts one in the wrong
 * register, gets another sum. Every term is exact in a double. */
static double narrow_mix(int8_t a, float b, uint8_t c, int16_t d, double e, uint16_t f, int32_t g,
                         float h, bool i)
{
    return a + (double)b * 2 + c * 4.0 + d * 8.0 + e * 16 + f * 32.0 + g * 64.0 + (double)h * 128 +
           i * 256.0;
}

/* A narrow return computed from narrow arguments. */
static int16_t narrow_sum(int8_t a, uint8_t b, int16_t c)
{
    return (int16_t)(a + b + c);
}

KPOOL_PLUGIN(KPOOL_KERNEL_TYPED(crash_on_3, i64, i64), KPOOL_KERNEL_TYPED(abort_on_3, i64, i64),
             KPOOL_KERNEL_TYPED(exit_on_3, i64, i64), KPOOL_KERNEL_TYPED(fpe_on_3, i64, i64),
             KPOOL_KERNEL_TYPED(bus_on_3, i64, i64), KPOOL_KERNEL_TYPED(segv_one_percent, i64, i64),
             KPOOL_KERNEL(fail_if_negative, "i64 (i64 x)"),
             KPOOL_KERNEL(sleep_for, "f64 (f64 seconds)"),
             KPOOL_KERNEL(crash_once, "i64 (str dir, i64 x)"),
             KPOOL_KERNEL_TYPED(worker_pid, i64, i64),
             KPOOL_KERNEL_TYPED(worker_pid_slow, i64, i64), KPOOL_KERNEL_TYPED(set_base, void, i64),
             KPOOL_KERNEL_TYPED(add_base, i64, i64), KPOOL_KERNEL_TYPED(init_fails, void, void),
             KPOOL_KERNEL_TYPED(allocate_mib, i64, i64), KPOOL_KERNEL_TYPED(burn_cpu, f64, f64),
             KPOOL_KERNEL_TYPED(open_many, i64, i64), KPOOL_KERNEL_TYPED(core_limit, i64, i64),
             KPOOL_KERNEL_TYPED(census_or_crash, i64, i64),
             KPOOL_KERNEL_TYPED(init_once, void, str), KPOOL_KERNEL_TYPED(f64_half, f64, f64),
             KPOOL_KERNEL_TYPED(f32_third, f32, f32), KPOOL_KERNEL_TYPED(is_even, bool, i64),
             KPOOL_KERNEL(i8_neg, "i8 (i8 x)"), KPOOL_KERNEL_TYPED(greet, str, str),
             KPOOL_KERNEL_TYPED(do_nothing, void, i64), KPOOL_KERNEL(mean, "f64 (f64[] values)"),
             KPOOL_KERNEL_TYPED(mpi_rank, i64, i64), KPOOL_KERNEL_TYPED(crash_on_rank2, i64, i64),
             KPOOL_KERNEL_TYPED(narrow_mix, f64, i8, f32, u8, i16, f64, u16, i32, f32, bool),
             KPOOL_KERNEL_TYPED(narrow_sum, i16, i8, u8, i16), )
