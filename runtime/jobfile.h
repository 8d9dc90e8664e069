/* jobfile.h - the job file: every key, its type, default and documentation.
 *
 * KP_JOB_KEYS is the one table of keys. The INI loader (inih), the defaults,
 * `--set section.key=value`, validation and the reference in README.md all
 * come from it. */
#ifndef KP_JOBFILE_H
#define KP_JOBFILE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Value types of keys. */
typedef enum kp_key_type {
    KP_KEY_STRING,     /* free text, kept as written (trimmed) */
    KP_KEY_PATH,       /* a file path, resolved against the job file's folder; "-" kept */
    KP_KEY_PLUGIN,     /* like PATH, but a value without '/' is kept for the loader */
    KP_KEY_ENUM,       /* one of the words in `choices` ("a|b|c") */
    KP_KEY_COUNT,      /* an integer >= 0 */
    KP_KEY_AUTO_COUNT, /* "auto" (stored as 0) or an integer >= 1 */
    KP_KEY_SECONDS,    /* a number of seconds >= 0 (fractions allowed) */
    KP_KEY_BOOL,       /* true/false, yes/no, on/off, 1/0 */
    KP_KEY_RANGE,      /* start:stop[:step] integers, step != 0 */
    KP_KEY_HALT,       /* continue | stop | soon,fail=N | soon,fail=P% | now,fail=N | now,fail=P% */
} kp_key_type;

/* X(section, key, type, choices, default, doc)
 * `choices` is used by ENUM keys only. The default is the text a user would
 * write; "" means unset. */
#define KP_JOB_KEYS(X)                                                                             \
    X(job, plugin, KP_KEY_PLUGIN, "", "",                                                          \
      "The shared object holding the kernel: a path relative to this file, or a bare name "        \
      "(libm.so.6) looked up by the dynamic loader. Required.")                                    \
    X(job, kernel, KP_KEY_STRING, "", "",                                                          \
      "The kernel's name: a KPOOL_KERNEL of the plugin, or any exported function. Required.")      \
    X(job, mode, KP_KEY_ENUM, "apply|map|starmap", "starmap",                                      \
      "How records become calls: apply (one call, literal args), map (one argument per record), "  \
      "starmap (the record's elements are the arguments).")                                        \
    X(job, args, KP_KEY_STRING, "", "",                                                            \
      "The argument tuple of each task: $0 (the record), $K (its K-th element), $* (all "          \
      "elements), literals. Default: map $0, starmap $*, apply none.")                             \
    X(job, signature, KP_KEY_STRING, "", "",                                                       \
      "The kernel's signature, e.g. double pow(double x, double y). Required when the plugin "     \
      "has no descriptor; must match the descriptor's when it has one.")                           \
    X(input, path, KP_KEY_PATH, "", "",                                                            \
      "The input file (.npy, .csv, .jsonl) relative to this file, or - for stdin. Required "       \
      "unless range is set or mode is apply.")                                                     \
    X(input, format, KP_KEY_ENUM, "auto|npy|csv|jsonl", "auto",                                    \
      "The input format; auto picks it by the file's extension (stdin needs it).")                 \
    X(input, range, KP_KEY_RANGE, "", "",                                                          \
      "Instead of path: the integers start:stop[:step], as Python's range().")                     \
    X(input, header, KP_KEY_BOOL, "", "false", "csv: the first line is a header, not a record.")   \
    X(pool, workers, KP_KEY_AUTO_COUNT, "", "auto",                                                \
      "Worker processes; auto = the CPUs this process may use (affinity and cgroup quota).")       \
    X(pool, chunksize, KP_KEY_AUTO_COUNT, "", "auto",                                              \
      "Tasks a worker claims at once; auto sizes chunks from the task count and workers.")         \
    X(pool, max_tasks_per_worker, KP_KEY_COUNT, "", "0",                                           \
      "Replace a worker after it ran this many tasks (Pool's maxtasksperchild); 0 = never.")       \
    X(pool, task_timeout, KP_KEY_SECONDS, "", "0",                                                 \
      "Seconds a task may run before its worker is killed and the task fails; 0 = no limit.")      \
    X(pool, retries, KP_KEY_COUNT, "", "0",                                                        \
      "Extra attempts for a task whose worker crashed or timed out.")                              \
    X(pool, on_error, KP_KEY_HALT, "", "continue",                                                 \
      "When failures stop the run (GNU Parallel's --halt): continue; stop (= soon,fail=1); "       \
      "soon,fail=N or soon,fail=P% (start no new task once N tasks, or P% of the tasks finished "  \
      "so far and at least 10, have failed; finish the running ones); now,fail=N or "              \
      "now,fail=P% (stop the running ones too).")                                                  \
    X(pool, initializer, KP_KEY_STRING, "", "",                                                    \
      "A kernel of the same plugin run once in each worker before its first task.")                \
    X(pool, initargs, KP_KEY_STRING, "", "", "The initializer's argument tuple (literals only).")  \
    X(pool, memory_limit, KP_KEY_COUNT, "", "0",                                                   \
      "Address space each worker may use, in MiB (RLIMIT_AS); 0 = no limit.")                      \
    X(pool, cpu_limit, KP_KEY_SECONDS, "", "0",                                                    \
      "CPU seconds each worker may use (RLIMIT_CPU): past it the worker dies of SIGXCPU and its "  \
      "task fails naming the limit; 0 = no limit.")                                                \
    X(pool, open_files, KP_KEY_COUNT, "", "0",                                                     \
      "Files each worker may have open (RLIMIT_NOFILE); 0 = as inherited.")                        \
    X(pool, core_dumps, KP_KEY_BOOL, "", "false",                                                  \
      "Let a crashing worker write a core file (RLIMIT_CORE); kpool reports crashes itself.")      \
    X(pool, worker_nice, KP_KEY_COUNT, "", "10",                                                   \
      "How many nice(1) steps below kpool's own CPU priority the workers run, 0 to 19: kpool, "    \
      "which writes every result in order, then keeps its CPU when a worker shares it (short "     \
      "tasks run up to a quarter faster); 0 = the same priority (README: How the pool works).")    \
    X(pool, backend, KP_KEY_ENUM, "local|mpi", "local",                                            \
      "local: one machine; mpi: under mpiexec -n N or srun, workers per rank, rank 0 reads the "   \
      "input and writes the output (README: Beyond one machine).")                                 \
    X(output, path, KP_KEY_PATH, "", "-", "Where results go, relative to this file; - = stdout.")  \
    X(output, format, KP_KEY_ENUM, "csv|jsonl|npy", "csv",                                         \
      "csv (one line per task), jsonl (one object per task, with its index), npy (a 1-D array).")  \
    X(output, order, KP_KEY_ENUM, "input|completion", "input",                                     \
      "input: results in input order (map); completion: as tasks finish (imap_unordered).")        \
    X(output, index, KP_KEY_ENUM, "auto|true|false", "auto",                                       \
      "csv: write index,result; auto = true when order = completion.")                             \
    X(output, errors, KP_KEY_PATH, "", "-",                                                        \
      "Failed tasks: - = readable lines on stderr, or a .jsonl file.")                             \
    X(output, journal, KP_KEY_PATH, "", "",                                                        \
      "Resume journal (used by --resume); default: the output path + \".journal\".")

/* One key's value once loaded. Numbers are parsed; strings owned by the job. */
typedef struct kp_job_value {
    bool set;                  /* given in the file or by --set (false = default) */
    int line;                  /* file line where it was set; 0 for defaults and --set */
    char *text;                /* the value as given, or the default; resolved for paths */
    int64_t num;               /* COUNT/AUTO_COUNT (auto = 0), BOOL (0/1), ENUM (choice index),
                                  HALT (0 continue, 1 soon, 2 now) */
    double seconds;            /* SECONDS; HALT: the percentage (0 when a count) */
    int64_t start, stop, step; /* RANGE; HALT: start = the failure count (0 when a %) */
} kp_job_value;

typedef enum kp_job_key_id {
#define KP_JOB_KEY_ID(section, key, type, choices, def, doc) KP_KEY_##section##_##key,
    KP_JOB_KEYS(KP_JOB_KEY_ID)
#undef KP_JOB_KEY_ID
        KP_JOB_KEY_COUNT
} kp_job_key_id;

typedef struct kp_job_key {
    const char *section, *key;
    kp_key_type type;
    const char *choices, *def, *doc;
} kp_job_key;

/* The table, KP_JOB_KEY_COUNT entries, in the order above. */
extern const kp_job_key kp_job_keys[KP_JOB_KEY_COUNT];

typedef struct kp_jobfile {
    char *path; /* the job file as given ("" when there is none) */
    char *dir;  /* its folder, against which relative paths resolve */
    kp_job_value v[KP_JOB_KEY_COUNT];
} kp_jobfile;

/* Sets every key to its default. No file is read. */
int kp_jobfile_init(kp_jobfile *jf, kp_err *err);

/* Reads `path` with inih on top of the current values. Errors:
 * "job.ini:7: [pool] workers: not a number: 'x'", "job.ini:3: unknown section [jobs]",
 * "job.ini:4: [job] kernal: unknown key (did you mean kernel?)",
 * "job.ini: cannot open: No such file or directory". */
int kp_jobfile_load(kp_jobfile *jf, const char *path, kp_err *err);

/* Applies "section.key=value" (paths relative to the current directory).
 * Errors: "--set pool.workers=x: [pool] workers: not a number: 'x'". */
int kp_jobfile_set(kp_jobfile *jf, const char *assignment, kp_err *err);

/* Checks what single keys cannot: required keys (plugin, kernel), input given
 * as path or range but not both (neither is fine only for apply), index and
 * order and format combinations. Errors name the file and line of the key. */
int kp_jobfile_validate(const kp_jobfile *jf, kp_err *err);

/* "FILE:LINE: [section] key" prefix for a later error about a key (e.g. the
 * plugin failed to load), into buf. */
void kp_jobfile_where(const kp_jobfile *jf, kp_job_key_id id, char *buf, size_t n);

/* Writes the reference table of keys as Markdown (section, key, default, doc). */
void kp_jobfile_reference(FILE *out);

/* Frees the strings. */
void kp_jobfile_free(kp_jobfile *jf);

#endif
