/* floor.c - the one-core floor a pool has to beat: calling a kernel in a loop.
 *
 *   floor PLUGIN [N [OUT]]      time add1 over 0..N-1 (default N = 2000000);
 *                               with OUT also the loop that writes the csv
 *   floor PLUGIN --spin K [OUT] time spin over tasks 0..K-1 with direct calls,
 *                               and write the K results to OUT, one a line
 *
 * PLUGIN is bench/kernels.c built as a kpool plugin. floor finds its kernels
 * the way kpool does, through the exported `kpool_plugin` descriptor, and
 * times, on one core and with no pool:
 *   direct  fn(x) through the function pointer, in a loop
 *   ffi     ffi_call(&cif, fn, &ret, args) in a loop, the cif prepared once
 *           and the return value in ffi_arg-sized storage (what a worker does
 *           for each task, minus reading the task and writing the result)
 *   out     (with OUT) the ffi loop that also writes each result's csv line
 *           to the file OUT, as kpool's output does: digits by runtime/fmt.h,
 *           64 KiB writes, a new file (timed from creating it to closing it)
 * Each loop runs once untimed (to warm caches and the branch predictor) and
 * once timed. Every result is summed and the sum is checked against the
 * closed form N (N + 1) / 2, so the loops cannot be optimised away and a
 * wrong call is caught. Output, key=value lines:
 *   n=N
 *   direct_s=S direct_ns_per_call=T direct_calls_per_s=R
 *   ffi_s=S ffi_ns_per_call=T ffi_calls_per_s=R
 *   out_s=S out_ns_per_call=T out_calls_per_s=R   (with OUT)
 * With --spin (the results are kept in memory and written after the timed loop):
 *   spin_tasks=K spin_s=S spin_ms_per_task=T spin_steps_per_ms=P
 * Exit status 0, or 1 with a message on stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <ffi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kpool/plugin.h>

#include "fmt.h" /* kpool's digit writer (runtime/fmt.h) */

typedef int64_t (*i64_fn)(int64_t);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static i64_fn find_kernel(const kpool_plugin_desc_t *desc, const char *path, const char *name)
{
    for (size_t i = 0; i < desc->n_kernels; i++) {
        if (strcmp(desc->kernels[i].name, name) != 0)
            continue;
        if (strcmp(desc->kernels[i].signature, "i64 (i64)") != 0) {
            fprintf(stderr, "floor: %s: kernel %s has signature \"%s\", expected \"i64 (i64)\"\n",
                    path, name, desc->kernels[i].signature);
            exit(1);
        }
        return (i64_fn)desc->kernels[i].fn;
    }
    fprintf(stderr, "floor: %s: no kernel named %s\n", path, name);
    exit(1);
}

/* The loops are noinline so that each is timed as one opaque piece of code. */
static __attribute__((noinline)) int64_t direct_loop(i64_fn fn, int64_t n)
{
    int64_t sum = 0;
    for (int64_t x = 0; x < n; x++)
        sum += fn(x);
    return sum;
}

static __attribute__((noinline)) int64_t ffi_loop(ffi_cif *cif, i64_fn fn, int64_t n)
{
    int64_t sum = 0;
    int64_t arg;
    void *args[1] = {&arg};
    ffi_arg ret;
    for (int64_t x = 0; x < n; x++) {
        arg = x;
        ffi_call(cif, FFI_FN(fn), &ret, args);
        sum += (int64_t)ret;
    }
    return sum;
}

static void check_sum(const char *what, int64_t got, int64_t n);

/* The ffi loop writing "result\n" lines to fd; returns the sum, or -1 when a
 * write fails. */
static __attribute__((noinline)) int64_t out_loop(ffi_cif *cif, i64_fn fn, int64_t n, int fd)
{
    static char buf[65536];
    size_t used = 0;
    int64_t sum = 0;
    int64_t arg;
    void *args[1] = {&arg};
    ffi_arg ret;
    for (int64_t x = 0; x < n; x++) {
        arg = x;
        ffi_call(cif, FFI_FN(fn), &ret, args);
        sum += (int64_t)ret;
        if (used > sizeof buf - 24) {
            if (write(fd, buf, used) != (ssize_t)used)
                return -1;
            used = 0;
        }
        char *p = buf + used;
        if ((int64_t)ret < 0) {
            *p++ = '-';
            p = kp_fmt_u64(p, (uint64_t)0 - (uint64_t)ret);
        } else {
            p = kp_fmt_u64(p, (uint64_t)ret);
        }
        *p++ = '\n';
        used = (size_t)(p - buf);
    }
    if (used && write(fd, buf, used) != (ssize_t)used)
        return -1;
    return sum;
}

/* One timed run of out_loop into a new file at path. */
static double time_out(ffi_cif *cif, i64_fn fn, int64_t n, const char *path)
{
    unlink(path);
    double t0 = now_s();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int64_t sum = fd < 0 ? -1 : out_loop(cif, fn, n, fd);
    if (fd < 0 || sum < 0 || close(fd) != 0) {
        fprintf(stderr, "floor: cannot write %s\n", path);
        exit(1);
    }
    double s = now_s() - t0;
    check_sum("out", sum, n);
    return s;
}

static void check_sum(const char *what, int64_t got, int64_t n)
{
    int64_t want = n * (n + 1) / 2; /* sum of x + 1 over 0..n-1 */
    if (got != want) {
        fprintf(stderr, "floor: %s loop summed to %lld, expected %lld\n", what, (long long)got,
                (long long)want);
        exit(1);
    }
}

static int run_add1(const kpool_plugin_desc_t *desc, const char *path, int64_t n,
                    const char *out_path)
{
    i64_fn add1 = find_kernel(desc, path, "add1");

    ffi_cif cif;
    ffi_type *arg_types[1] = {&ffi_type_sint64};
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 1, &ffi_type_sint64, arg_types) != FFI_OK) {
        fprintf(stderr, "floor: ffi_prep_cif failed\n");
        return 1;
    }

    check_sum("direct (warm-up)", direct_loop(add1, n), n);
    double t0 = now_s();
    int64_t sum = direct_loop(add1, n);
    double direct_s = now_s() - t0;
    check_sum("direct", sum, n);

    check_sum("ffi (warm-up)", ffi_loop(&cif, add1, n), n);
    t0 = now_s();
    sum = ffi_loop(&cif, add1, n);
    double ffi_s = now_s() - t0;
    check_sum("ffi", sum, n);

    printf("n=%lld\n", (long long)n);
    printf("direct_s=%.6f\ndirect_ns_per_call=%.3f\ndirect_calls_per_s=%.0f\n", direct_s,
           direct_s * 1e9 / (double)n, (double)n / direct_s);
    printf("ffi_s=%.6f\nffi_ns_per_call=%.3f\nffi_calls_per_s=%.0f\n", ffi_s,
           ffi_s * 1e9 / (double)n, (double)n / ffi_s);
    if (out_path) {
        time_out(&cif, add1, n, out_path); /* warm-up */
        double out_s = time_out(&cif, add1, n, out_path);
        printf("out_s=%.6f\nout_ns_per_call=%.3f\nout_calls_per_s=%.0f\n", out_s,
               out_s * 1e9 / (double)n, (double)n / out_s);
    }
    return 0;
}

static int run_spin(const kpool_plugin_desc_t *desc, const char *path, int64_t k,
                    const char *out_path)
{
    i64_fn spin = find_kernel(desc, path, "spin");
    i64_fn spin_steps = find_kernel(desc, path, "spin_steps");
    int64_t *results = malloc((size_t)k * sizeof *results);
    if (!results) {
        fprintf(stderr, "floor: out of memory for %lld results\n", (long long)k);
        return 1;
    }
    double t0 = now_s();
    for (int64_t i = 0; i < k; i++)
        results[i] = spin(i);
    double s = now_s() - t0;
    int64_t steps = 0;
    for (int64_t i = 0; i < k; i++)
        steps += spin_steps(i);
    printf("spin_tasks=%lld\nspin_s=%.6f\nspin_ms_per_task=%.4f\nspin_steps_per_ms=%.0f\n",
           (long long)k, s, s * 1e3 / (double)k, (double)steps / (s * 1e3));
    if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (!f) {
            fprintf(stderr, "floor: cannot write %s\n", out_path);
            free(results);
            return 1;
        }
        for (int64_t i = 0; i < k; i++)
            fprintf(f, "%lld\n", (long long)results[i]);
        if (fclose(f) != 0) {
            fprintf(stderr, "floor: cannot write %s\n", out_path);
            free(results);
            return 1;
        }
    }
    free(results);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: floor PLUGIN [N [OUT]] | floor PLUGIN --spin K [OUT]\n");
        return 1;
    }
    const char *path = argv[1];
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "floor: %s\n", dlerror());
        return 1;
    }
    const kpool_plugin_desc_t *desc = dlsym(handle, KPOOL_PLUGIN_SYMBOL);
    if (!desc) {
        fprintf(stderr, "floor: %s: no %s descriptor\n", path, KPOOL_PLUGIN_SYMBOL);
        return 1;
    }
    if (desc->abi_version >> 16 != KPOOL_ABI_MAJOR) {
        fprintf(stderr, "floor: %s: plugin ABI %u.%u, this floor is built for %d.%d\n", path,
                desc->abi_version >> 16, desc->abi_version & 0xffff, KPOOL_ABI_MAJOR,
                KPOOL_ABI_MINOR);
        return 1;
    }

    if (argc >= 3 && strcmp(argv[2], "--spin") == 0) {
        int64_t k = argc >= 4 ? strtoll(argv[3], NULL, 10) : 0;
        if (k <= 0) {
            fprintf(stderr, "floor: --spin needs a task count >= 1\n");
            return 1;
        }
        return run_spin(desc, path, k, argc == 5 ? argv[4] : NULL);
    }
    int64_t n = argc >= 3 ? strtoll(argv[2], NULL, 10) : 2000000;
    if (argc > 4 || n <= 0 || n > INT64_C(3000000000)) {
        fprintf(stderr, "floor: N must be an integer in 1..3000000000\n");
        return 1;
    }
    return run_add1(desc, path, n, argc == 4 ? argv[3] : NULL);
}
