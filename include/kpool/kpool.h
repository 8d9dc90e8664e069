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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
    X(EINTR, 15, "interrupted")                                                                    \
    X(ETIMEDOUT, 16, "timed out")

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

/* Flags of kpool_job_run. */
#define KPOOL_RUN_QUIET    1 /* no progress bar and no summary line on stderr */
#define KPOOL_RUN_RESUME   2 /* run only the tasks the journal of an interrupted run lacks */
#define KPOOL_RUN_PROGRESS 4 /* draw the progress bar even when stderr is not a terminal */

/* Says whether backend = mpi can run: 1 when kpool's MPI module loads (buf
 * then names it), 0 otherwise (buf says why). */
KPOOL_EXTERN int kpool_mpi_available(char *buf, size_t size);

/* Makes the next kpool_job_run record every task (its worker, start, end,
 * attempt and outcome) as JSON lines in `trace_path`, and/or write a
 * self-contained HTML report of the run to `report_path`. Either may be
 * NULL. Paths are relative to the current directory. */
KPOOL_EXTERN int kpool_job_set_trace(kpool_job_t *job, const char *trace_path,
                                     const char *report_path);

/* Runs the job to completion. Returns 0 when every task succeeded,
 * KPOOL_EFAILED when some failed (the others' results are written), another
 * negative code when nothing could run (see kpool_job_error). When results
 * go to a file, a journal of finished tasks is kept beside it (removed when
 * every task has its outcome); with KPOOL_RUN_RESUME the run continues an
 * interrupted one from its journal, refusing when the job, plugin or input
 * changed, and writes the whole output again. */
KPOOL_EXTERN int kpool_job_run(kpool_job_t *job, int flags);

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

/* ---- Pools: Python's multiprocessing.Pool for C programs --------------- *
 *
 *   kpool_pool_t *pool;
 *   kpool_kernel_t *count;
 *   kpool_pool_open(&pool, NULL);
 *   kpool_kernel_load(pool, "plugins/libseed.so", "howmany_within_range", NULL, &count);
 *   kpool_arg_t args[3] = {kpool_array_i64(row, 5), kpool_i64(4), kpool_i64(8)};
 *   kpool_outcome_t o;
 *   kpool_apply(pool, count, args, 3, &o);    // o.value.i is the count
 *   kpool_pool_free(pool);
 *
 * How work runs (read this before relying on the _async family):
 * - Every run forks its own workers from the program at the moment the run
 *   starts, and they exit when it ends. The workers therefore see the
 *   program's memory as it is then, copy-on-write: arrays passed as
 *   arguments are read in place by the kernel, never serialized or copied.
 * - A sync call (kpool_apply, kpool_map, kpool_starmap) runs at once and
 *   returns when every one of its tasks has an outcome.
 * - Async submissions (kpool_*_async, kpool_imap*) only queue their tasks.
 *   The queue runs, all of it as one run (one set of workers for every
 *   queued task of a kernel, outcomes in completion order), when the program
 *   next waits on or gets any handle, iterates, joins, or makes a sync call.
 *   Callbacks are called in the program's own thread, inside that call, as
 *   workers report finished tasks (they report in batches, so a callback
 *   may come a while after its task ended). Async work therefore never overlaps the program's
 *   own work in this version; what it buys is one parallel run for many
 *   separate submissions (the seed's loop of apply_async calls).
 * - A queue that holds tasks of several kernels runs one kernel after the
 *   other, in the order of their first submission.
 * - While a run is in progress, SIGINT and SIGTERM stop it (running tasks
 *   are stopped, every finished task keeps its outcome, the rest are
 *   KPOOL_TASK_NOT_RUN) and the call returns KPOOL_EINTR; the program's own
 *   handlers are restored when the run ends. The signal is not re-raised.
 * - Workers are forks of the calling thread only: a kernel must not need a
 *   lock or a thread of the program.
 *
 * A pool, its kernels and its handles belong to one thread at a time. From
 * a callback the program may submit more async work (it joins the queue and
 * runs before the waiting call returns), call kpool_close or
 * kpool_terminate, and free handles; any call that would start a run fails
 * there with KPOOL_EINVAL, and kpool_pool_free must not be called there. */

typedef struct kpool_pool kpool_pool_t;
typedef struct kpool_kernel kpool_kernel_t;
typedef struct kpool_async kpool_async_t;
typedef struct kpool_iter kpool_iter_t;

/* How a pool runs its tasks. Start from KPOOL_OPTIONS_INIT and change the
 * fields you need. `size` lets the struct grow: a program built against an
 * older kpool.h passes a shorter struct (the fields it lacks take their
 * defaults), one built against a newer kpool.h a longer one (this kpool
 * reads the fields it knows). */
typedef struct kpool_options {
    size_t size;                 /* sizeof(kpool_options_t) */
    int workers;                 /* worker processes; 0 = kpool_cpu_count(); at most 4096 */
    size_t chunksize;            /* tasks a worker claims at once; 0 = auto (guided) */
    size_t max_tasks_per_worker; /* replace a worker after this many tasks; 0 = never */
    double task_timeout;         /* seconds a task may run before it is killed; 0 = no limit */
    int retries;                 /* extra attempts for a task that crashed or timed out */
    int stop_on_error;           /* nonzero: after a failure a run starts no new task */
    int worker_nice;             /* nice(1) steps below the program's CPU priority that workers run,
                                    0-19; KPOOL_OPTIONS_INIT sets 10 (the program collects every
                                    result, and keeps its CPU when a worker shares it); 0 = same */
} kpool_options_t;

#define KPOOL_OPTIONS_INIT                                                                         \
    {                                                                                              \
        sizeof(kpool_options_t), 0, 0, 0, 0.0, 0, 0, 10                                            \
    }

/* The types of kernel parameters and results (a signature's i64, f64, ...). */
typedef enum kpool_type {
    KPOOL_TYPE_VOID,
    KPOOL_TYPE_BOOL,
    KPOOL_TYPE_I8,
    KPOOL_TYPE_I16,
    KPOOL_TYPE_I32,
    KPOOL_TYPE_I64,
    KPOOL_TYPE_U8,
    KPOOL_TYPE_U16,
    KPOOL_TYPE_U32,
    KPOOL_TYPE_U64,
    KPOOL_TYPE_F32,
    KPOOL_TYPE_F64,
    KPOOL_TYPE_STR
} kpool_type_t;

/* One argument value, built by the program with the helpers below. A value
 * is converted to its parameter's C type in the worker, with the same range
 * checks as the kpool binary's input values: 300 for an i8 parameter, or a
 * scalar for an array parameter, fails that task as KPOOL_TASK_BAD_INPUT. */
typedef enum kpool_arg_kind {
    KPOOL_ARG_I64,
    KPOOL_ARG_U64,
    KPOOL_ARG_F64,
    KPOOL_ARG_BOOL,
    KPOOL_ARG_STR,  /* NUL-terminated text, for a str parameter or a number in text */
    KPOOL_ARG_ARRAY /* `len` elements of `type` (bool or a number) for a T[] parameter */
} kpool_arg_kind_t;

typedef struct kpool_arg {
    kpool_arg_kind_t kind;
    union {
        int64_t i;
        uint64_t u;
        double f;
        bool b;
        const char *s;
        struct {
            const void *data;
            size_t len;
            kpool_type_t type;
        } array;
    } v;
} kpool_arg_t;

static inline kpool_arg_t kpool_i64(int64_t x)
{
    kpool_arg_t a;
    a.kind = KPOOL_ARG_I64;
    a.v.i = x;
    return a;
}

static inline kpool_arg_t kpool_u64(uint64_t x)
{
    kpool_arg_t a;
    a.kind = KPOOL_ARG_U64;
    a.v.u = x;
    return a;
}

static inline kpool_arg_t kpool_f64(double x)
{
    kpool_arg_t a;
    a.kind = KPOOL_ARG_F64;
    a.v.f = x;
    return a;
}

static inline kpool_arg_t kpool_bool(bool x)
{
    kpool_arg_t a;
    a.kind = KPOOL_ARG_BOOL;
    a.v.b = x;
    return a;
}

static inline kpool_arg_t kpool_str(const char *s)
{
    kpool_arg_t a;
    a.kind = KPOOL_ARG_STR;
    a.v.s = s;
    return a;
}

/* An array of `len` elements of `type` at `data` (not copied). */
static inline kpool_arg_t kpool_array(kpool_type_t type, const void *data, size_t len)
{
    kpool_arg_t a;
    a.kind = KPOOL_ARG_ARRAY;
    a.v.array.data = data;
    a.v.array.len = len;
    a.v.array.type = type;
    return a;
}

/* kpool_array_i64(row, n) and friends: kpool_array with the element type
 * checked by the compiler. An array whose type is its parameter's element
 * type reaches the kernel by pointer; another one is converted per task. */
#define KPOOL_ARRAY_HELPER_(suffix, ctype, type)                                                   \
    static inline kpool_arg_t kpool_array_##suffix(const ctype *data, size_t len)                  \
    {                                                                                              \
        return kpool_array(type, data, len);                                                       \
    }
KPOOL_ARRAY_HELPER_(bool, bool, KPOOL_TYPE_BOOL)
KPOOL_ARRAY_HELPER_(i8, int8_t, KPOOL_TYPE_I8)
KPOOL_ARRAY_HELPER_(i16, int16_t, KPOOL_TYPE_I16)
KPOOL_ARRAY_HELPER_(i32, int32_t, KPOOL_TYPE_I32)
KPOOL_ARRAY_HELPER_(i64, int64_t, KPOOL_TYPE_I64)
KPOOL_ARRAY_HELPER_(u8, uint8_t, KPOOL_TYPE_U8)
KPOOL_ARRAY_HELPER_(u16, uint16_t, KPOOL_TYPE_U16)
KPOOL_ARRAY_HELPER_(u32, uint32_t, KPOOL_TYPE_U32)
KPOOL_ARRAY_HELPER_(u64, uint64_t, KPOOL_TYPE_U64)
KPOOL_ARRAY_HELPER_(f32, float, KPOOL_TYPE_F32)
KPOOL_ARRAY_HELPER_(f64, double, KPOOL_TYPE_F64)
#undef KPOOL_ARRAY_HELPER_

/* What became of one task. */
typedef enum kpool_task_kind {
    KPOOL_TASK_OK,
    KPOOL_TASK_FAILED,    /* the kernel called kpool_fail */
    KPOOL_TASK_CRASHED,   /* its worker died: a signal, exit or abort */
    KPOOL_TASK_TIMEOUT,   /* it ran past task_timeout */
    KPOOL_TASK_BAD_INPUT, /* an argument could not be converted to its parameter */
    KPOOL_TASK_NOT_RUN    /* the run stopped, or the task was dropped, before it ran */
} kpool_task_kind_t;

/* "ok", "failed", "crashed", "timeout", "bad-input", "not-run". */
KPOOL_EXTERN const char *kpool_task_kind_name(kpool_task_kind_t kind);

typedef struct kpool_outcome {
    size_t index;           /* the task's position in its call, from 0 */
    kpool_task_kind_t kind; /* the value fields are set only for KPOOL_TASK_OK */
    kpool_type_t type;      /* the kernel's return type: which member of value is set */
    union {
        int64_t i;  /* i8 .. i64, widened */
        uint64_t u; /* u8 .. u64, widened */
        double f;   /* f64 */
        float f32;  /* f32 */
        bool b;     /* bool */
    } value;
    const char *str;     /* a str result (OK only), else NULL */
    const char *message; /* failures: what happened ("SIGSEGV", the kpool_fail text) */
    int signal;          /* KPOOL_TASK_CRASHED by a signal: its number, else 0 */
    int attempts;        /* attempts made; 0 for KPOOL_TASK_NOT_RUN */
} kpool_outcome_t;

/* Called once per task of an async submission when its outcome is known:
 * on_result for KPOOL_TASK_OK, on_error for every other kind. `o` and its
 * strings are valid during the call only (the handle keeps its own copy).
 * Tasks dropped by kpool_terminate, kpool_async_free or kpool_pool_free
 * before they ran get no callback. */
typedef void (*kpool_result_cb)(const kpool_outcome_t *o, void *user);

/* Opens a pool; no process starts until work runs. `opts` may be NULL for
 * the defaults. On success *out owns the pool; free it with kpool_pool_free.
 * Invalid options (size too small to hold `workers`, workers < 0,
 * task_timeout < 0 or not finite, retries < 0) give KPOOL_EINVAL; *out is
 * then still set, so that kpool_pool_error() can say which field is wrong,
 * and must be freed. KPOOL_ENOMEM leaves *out NULL. */
KPOOL_EXTERN int kpool_pool_open(kpool_pool_t **out, const kpool_options_t *opts);

/* The sentence that explains the last failed call on the pool ("" when the
 * last call succeeded), e.g. "plugins/libx.so: no kernel 'foo'; it has: a,
 * b". Valid until the next call on the pool. Accepts NULL ("out of memory",
 * for a pool that could not be allocated). */
KPOOL_EXTERN const char *kpool_pool_error(const kpool_pool_t *pool);

/* Loads kernel `name` from the plugin at `plugin` (a path, or a bare name
 * the dynamic loader looks up, e.g. "libm.so.6"). `signature` is NULL for a
 * kpool plugin's kernel, or the signature of a foreign function ("f64
 * (f64 x, f64 y)"); given for a kpool kernel it must match its descriptor.
 * A pool may load any number of kernels from any number of plugins; each
 * plugin stays loaded, and each kernel valid, until kpool_pool_free. On
 * failure *out is NULL and kpool_pool_error() says why (KPOOL_EPLUGIN,
 * KPOOL_EABI, KPOOL_ENOENT, KPOOL_ESIG, KPOOL_ENOMEM). */
KPOOL_EXTERN int kpool_kernel_load(kpool_pool_t *pool, const char *plugin, const char *name,
                                   const char *signature, kpool_kernel_t **out);

/* The number of arguments the kernel takes (an array counts as one). */
KPOOL_EXTERN size_t kpool_kernel_arity(const kpool_kernel_t *kernel);

/* The kernel's return type. */
KPOOL_EXTERN kpool_type_t kpool_kernel_return_type(const kpool_kernel_t *kernel);

/* Writes the kernel's signature, e.g. "i64 (i64[] row, i64 minimum, i64
 * maximum)", NUL-terminated into buf (n bytes). Returns 0, or KPOOL_ERANGE
 * when it did not fit (buf then holds as much as fits). */
KPOOL_EXTERN int kpool_kernel_signature(const kpool_kernel_t *kernel, char *buf, size_t n);

/* Sets Pool's initializer: `kernel` runs once with `args` in every worker
 * before the worker's first task, in every run from now on (NULL kernel:
 * none). It is checked like a task's arguments are, but as the run starts:
 * if it fails in any worker, no task of that run runs (each is
 * KPOOL_TASK_NOT_RUN with the initializer's message) and the call that ran
 * it returns KPOOL_EFAILED. The pool copies args and strings; array data
 * must stay valid while the initializer is set. KPOOL_EINVAL when nargs is
 * not the kernel's arity or a run is in progress. */
KPOOL_EXTERN int kpool_pool_set_initializer(kpool_pool_t *pool, kpool_kernel_t *kernel,
                                            const kpool_arg_t *args, size_t nargs);

/* ---- Sync calls: run at once, return when every task has an outcome. ---
 *
 * `out` receives one outcome per task in input order (out[i].index == i).
 * The strings of those outcomes (message, str) belong to the pool and stay
 * valid until the next sync call on the pool or kpool_pool_free. Argument
 * memory (args, arrays, strings) need only be valid during the call.
 *
 * Returns 0 when every task succeeded; KPOOL_EFAILED when some did not (out
 * says which and why); KPOOL_EINTR, KPOOL_ESYS or KPOOL_ENOMEM when the run
 * itself broke (out is filled: tasks that did not finish are
 * KPOOL_TASK_NOT_RUN). Any other code means the call was refused before
 * anything ran, out is untouched and kpool_pool_error() says why:
 * KPOOL_EINVAL for a closed pool, a call from a callback, a number of
 * arguments other than the kernel's arity, a NULL string or array, or an
 * unknown array type. A sync call also runs everything queued before it. */

/* Pool.apply: one task, kernel(args[0], ..., args[nargs-1]). */
KPOOL_EXTERN int kpool_apply(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args,
                             size_t nargs, kpool_outcome_t *out);

/* Pool.map: n tasks, task i is kernel(items[i]); the kernel takes one
 * argument. */
KPOOL_EXTERN int kpool_map(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *items,
                           size_t n, kpool_outcome_t *out);

/* Pool.starmap: n tasks, task i is kernel(args[i*nargs], ...,
 * args[i*nargs + nargs-1]): the tuples one after the other. */
KPOOL_EXTERN int kpool_starmap(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args,
                               size_t n, size_t nargs, kpool_outcome_t *out);

/* ---- Async submissions: queued, run when the program waits. -----------
 *
 * Each returns 0 and the handle in *out, or fails as the sync calls are
 * refused (and then calls no callback and queues nothing). The pool copies
 * the kpool_arg_t values and their strings: they may be freed on return.
 * Array data is NOT copied and must stay valid and unchanged until the
 * submission has run (until kpool_async_ready() is 1). Callbacks may be
 * NULL. `out` may be NULL: the pool then frees the handle itself once its
 * tasks have run, and the callbacks are the only way to see results
 * (Python's apply_async(..., callback=f) whose result object is dropped).
 * After kpool_close or kpool_terminate they fail with KPOOL_EINVAL. */

KPOOL_EXTERN int kpool_apply_async(kpool_pool_t *pool, kpool_kernel_t *kernel,
                                   const kpool_arg_t *args, size_t nargs, kpool_result_cb on_result,
                                   kpool_result_cb on_error, void *user, kpool_async_t **out);

KPOOL_EXTERN int kpool_map_async(kpool_pool_t *pool, kpool_kernel_t *kernel,
                                 const kpool_arg_t *items, size_t n, kpool_result_cb on_result,
                                 kpool_result_cb on_error, void *user, kpool_async_t **out);

KPOOL_EXTERN int kpool_starmap_async(kpool_pool_t *pool, kpool_kernel_t *kernel,
                                     const kpool_arg_t *args, size_t n, size_t nargs,
                                     kpool_result_cb on_result, kpool_result_cb on_error,
                                     void *user, kpool_async_t **out);

/* AsyncResult.wait: when the handle's tasks have not run yet, runs the queue
 * (all of it, including work submitted by callbacks meanwhile) and returns
 * 0. timeout_seconds 0 only polls: it runs nothing and returns
 * KPOOL_ETIMEDOUT when the handle is not ready. Any other timeout (< 0 for
 * none) cannot cut a run short in this version, because work runs only
 * inside this call: the run takes as long as it takes. Returns the run's
 * error (KPOOL_EINTR, KPOOL_ESYS, KPOOL_ENOMEM, KPOOL_EFAILED for a failed
 * initializer) when it broke; the handle is ready then too, its unfinished
 * tasks NOT_RUN. KPOOL_EINVAL when called from a callback for a handle that
 * is not ready (a callback cannot wait for the run it is part of). After
 * kpool_pool_free every held handle is ready. */
KPOOL_EXTERN int kpool_async_wait(kpool_async_t *h, double timeout_seconds);

/* AsyncResult.ready: 1 when every task of the handle has an outcome, else 0.
 * Runs nothing. */
KPOOL_EXTERN int kpool_async_ready(const kpool_async_t *h);

/* AsyncResult.successful: 1 when ready and every task succeeded, 0 when
 * ready and some did not, KPOOL_EINVAL when not ready yet. */
KPOOL_EXTERN int kpool_async_successful(const kpool_async_t *h);

/* AsyncResult.get: waits as kpool_async_wait(h, -1), then points *outcomes
 * at the handle's n outcomes in input order (owned by the handle, valid
 * until kpool_async_free). Returns 0 when every task succeeded,
 * KPOOL_EFAILED when some did not, or the error of a run that broke
 * (outcomes are set whenever the handle is ready). */
KPOOL_EXTERN int kpool_async_get(kpool_async_t *h, const kpool_outcome_t **outcomes, size_t *n);

/* Frees a handle. Tasks of it that have not run are dropped (no callback).
 * Safe from the handle's own callback (it is then freed after the run) and
 * after kpool_pool_free. Accepts NULL. */
KPOOL_EXTERN void kpool_async_free(kpool_async_t *h);

/* ---- Iterators: Pool.imap_unordered and Pool.imap. ----------------------
 *
 * n tasks with nargs arguments each, as kpool_starmap_async takes them
 * (nargs 1 is Python's imap over single items), queued like an async
 * submission. kpool_iter_next runs the queue on its first call, then hands
 * out one outcome per call: in completion order for imap_unordered, in
 * input order for imap. It returns 1 with *out set (strings owned by the
 * iterator, valid until kpool_iter_free), 0 after the last one, or a
 * negative code when the run broke (the outcomes that exist can still be
 * iterated by calling again). Every task comes out exactly once, whatever
 * its kind; tasks dropped by kpool_terminate come last as NOT_RUN. */
KPOOL_EXTERN int kpool_imap_unordered(kpool_pool_t *pool, kpool_kernel_t *kernel,
                                      const kpool_arg_t *args, size_t n, size_t nargs,
                                      kpool_iter_t **out);
KPOOL_EXTERN int kpool_imap(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args,
                            size_t n, size_t nargs, kpool_iter_t **out);
KPOOL_EXTERN int kpool_iter_next(kpool_iter_t *it, kpool_outcome_t *out);

/* Frees an iterator; its tasks that have not run are dropped. Accepts NULL. */
KPOOL_EXTERN void kpool_iter_free(kpool_iter_t *it);

/* ---- Pool life ----------------------------------------------------------- */

/* Pool.close: no more submissions (async or sync); queued work still runs
 * at kpool_join or when a handle is waited on. Returns 0. */
KPOOL_EXTERN int kpool_close(kpool_pool_t *pool);

/* Pool.join: runs everything queued and returns when it has run. Needs
 * kpool_close or kpool_terminate first (KPOOL_EINVAL otherwise, as Python's
 * ValueError). Returns 0 when every task it ran succeeded, KPOOL_EFAILED when
 * some did not (callbacks and handles say which), or the run's error. */
KPOOL_EXTERN int kpool_join(kpool_pool_t *pool);

/* Pool.terminate: no more submissions, and every queued task is dropped:
 * its outcome becomes KPOOL_TASK_NOT_RUN ("dropped by kpool_terminate")
 * without a callback. Called from a callback, it also stops the run in
 * progress: running tasks are killed, tasks that finish meanwhile keep
 * their outcomes but get no callback. Returns 0. */
KPOOL_EXTERN int kpool_terminate(kpool_pool_t *pool);

/* Terminates and frees the pool, its kernels and plugins, and the handles
 * the pool owns. Handles and iterators the program holds stay valid to
 * read and must still be freed. Never call it from a callback. Accepts
 * NULL. */
KPOOL_EXTERN void kpool_pool_free(kpool_pool_t *pool);

#ifdef __cplusplus
}
#endif

#endif /* KPOOL_KPOOL_H */
