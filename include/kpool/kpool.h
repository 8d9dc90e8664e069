/* kpool.h - the embedding API of libkpool.
 *
 * A program that embeds kpool includes this header and links libkpool. The
 * kpool binary is itself a client of this API: everything `kpool run` does is
 * reachable from here.
 *
 * Conventions: functions return 0 on success and a negative KPOOL_E* code on
 * failure; kpool_strerror() names the code. Where a failure has detail (a file
 * and line, a task index), the object that failed keeps it and a *_error()
 * function returns it.
 */
#ifndef KPOOL_KPOOL_H
#define KPOOL_KPOOL_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KPOOL_EXTERN __attribute__((visibility("default")))
#else
#define KPOOL_EXTERN
#endif

#define KPOOL_VERSION_MAJOR  0
#define KPOOL_VERSION_MINOR  1
#define KPOOL_VERSION_PATCH  0
#define KPOOL_VERSION_STRING "0.1.0"

/* Every error code with its message, in one table so that kpool_strerror()
 * can never drift from the enum. */
#define KPOOL_ERRNO_MAP(X)                                                                         \
    X(EINVAL, 1, "invalid argument")                                                               \
    X(ENOMEM, 2, "out of memory")                                                                  \
    X(EIO, 3, "input/output error")                                                                \
    X(EJOB, 4, "job file error")                                                                   \
    X(EPLUGIN, 5, "plugin cannot be loaded")                                                       \
    X(EABI, 6, "plugin built for another ABI version")                                             \
    X(ENOENT, 7, "no such kernel or symbol")                                                       \
    X(ESIG, 8, "malformed or mismatched signature")                                                \
    X(EINPUT, 9, "malformed input record")                                                         \
    X(ERANGE, 10, "value does not fit the declared type")                                          \
    X(ETYPE, 11, "value has the wrong type")                                                       \
    X(ESYS, 12, "system call failed")                                                              \
    X(ENOTSUP, 13, "not supported in this build")                                                  \
    X(EFAILED, 14, "some tasks failed")                                                            \
    X(EINTR, 15, "interrupted")

typedef enum kpool_errno {
#define KPOOL_ERRNO_ENUM_(name, num, text) KPOOL_##name = -(num),
    KPOOL_ERRNO_MAP(KPOOL_ERRNO_ENUM_)
#undef KPOOL_ERRNO_ENUM_
} kpool_errno_t;

/* Returns a static, never NULL sentence for an error code (0 gives "success",
 * an unknown code "unknown error"). */
KPOOL_EXTERN const char *kpool_strerror(int code);

/* Returns the library's version string, e.g. "0.1.0". */
KPOOL_EXTERN const char *kpool_version(void);

/* Returns the number of CPUs this process may run on: its affinity mask,
 * capped by a cgroup CPU quota where one is set; at least 1. */
KPOOL_EXTERN int kpool_cpu_count(void);

/* Writes the kernels of the plugin at `path` with their signatures and C
 * prototypes to `out` (what `kpool inspect` shows). On failure writes the
 * reason into errbuf (errlen bytes) and returns a negative code. */
KPOOL_EXTERN int kpool_plugin_describe(const char *path, FILE *out, char *errbuf, size_t errlen);

/* ---- Jobs: what `kpool run JOB.ini` does ------------------------------- */

typedef struct kpool_job kpool_job_t;

/* Opens a job: reads the INI file at `path` (NULL for no file, in which case
 * every required key must come from kpool_job_set) and applies defaults.
 * On success *out owns the job; free it with kpool_job_free. On failure *out
 * is still set (unless it is KPOOL_ENOMEM) so that kpool_job_error() can say
 * what is wrong, e.g. "job.ini:7: [pool] workers: not a number: 'x'". */
KPOOL_EXTERN int kpool_job_open(kpool_job_t **out, const char *path);

/* Overrides one key: `assignment` is "section.key=value". Paths in values are
 * relative to the current directory. May be called before kpool_job_run. */
KPOOL_EXTERN int kpool_job_set(kpool_job_t *job, const char *assignment);

/* Validates the whole job: keys, plugin, kernel, signature, input, output.
 * Runs nothing. With `describe` non-NULL, writes a human summary of what would
 * run to it. */
KPOOL_EXTERN int kpool_job_check(kpool_job_t *job, FILE *describe);

/* Runs the job to completion. Returns 0 when every task succeeded,
 * KPOOL_EFAILED when some failed (the others' results are written), another
 * negative code when nothing could run (see kpool_job_error). `quiet`
 * suppresses the summary line on stderr. */
KPOOL_EXTERN int kpool_job_run(kpool_job_t *job, int quiet);

/* Maps a return code of kpool_job_* to the exit status `kpool` uses (SPEC
 * section 9): 0 success, 1 some tasks failed, 2 the job could not start
 * (usage, job file, plugin, signature, input), 3 system failure,
 * 130 / 143 interrupted by SIGINT / SIGTERM. */
KPOOL_EXTERN int kpool_job_exit_code(const kpool_job_t *job, int rc);

/* Returns the last error's sentence for this job (empty when none). Valid
 * until the next call on the job. */
KPOOL_EXTERN const char *kpool_job_error(const kpool_job_t *job);

/* Frees the job. Accepts NULL. */
KPOOL_EXTERN void kpool_job_free(kpool_job_t *job);

#ifdef __cplusplus
}
#endif

#endif /* KPOOL_KPOOL_H */
