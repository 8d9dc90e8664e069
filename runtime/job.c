/* job.c - a job from its file to its output: the public kpool_job_* API.
 *
 * Setup happens in one place (prepare) and in the order data flows: job file
 * -> plugin and kernel -> args template -> input -> output. Any failure there
 * is a job error (exit 2) and nothing has run. Only then does the pool start. */
#include "job.h"

#include "input.h"
#include "jobfile.h"
#include "mpi/mpi.h"
#include "journal.h"
#include "output.h"
#include "plugin.h"
#include "pool.h"
#include "progress.h"
#include "report.h"
#include "template.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct kpool_job {
    kp_jobfile jf;
    kp_err err;
    bool prepared;
    bool ran; /* kpool_job_run got past setup */
    kp_plugin plugin;
    kp_kernel kernel, initializer;
    kp_template args, initargs;
    kp_input *input;
    kp_task_ctx ctx;
    size_t total;
    kp_pool_stats stats;
    int exit_status; /* >= 0: decided elsewhere (an MPI rank reports its pool process's) */
    char *trace_path, *report_path; /* kpool_job_set_trace; NULL = none */
};

#define V(job, section, key) (&(job)->jf.v[KP_KEY_##section##_##key])

const char *kpool_version(void)
{
    return KPOOL_VERSION_STRING;
}

int kpool_job_open(kpool_job_t **out, const char *path)
{
    kpool_job_t *job = calloc(1, sizeof *job);
    *out = job;
    if (!job)
        return KPOOL_ENOMEM;
    job->exit_status = -1;
    kp_template_default(&job->args, KP_MODE_STARMAP, NULL);
    kp_template_default(&job->initargs, KP_MODE_APPLY, NULL);
    int rc = kp_jobfile_init(&job->jf, &job->err);
    if (rc == 0 && path)
        rc = kp_jobfile_load(&job->jf, path, &job->err);
    return rc;
}

int kpool_job_set(kpool_job_t *job, const char *assignment)
{
    return kp_jobfile_set(&job->jf, assignment, &job->err);
}

const char *kpool_job_error(const kpool_job_t *job)
{
    return job ? job->err.msg : "out of memory";
}

static int where_error(kpool_job_t *job, kp_job_key_id id, int rc)
{
    char where[1024];
    kp_jobfile_where(&job->jf, id, where, sizeof where);
    kp_err_prefix(&job->err, "%s", where);
    job->err.code = rc;
    return rc;
}

/* Checks that a template without $* gives the kernel as many values as it takes. */
static int check_arity(kpool_job_t *job, const kp_template *t, const kp_kernel *k, kp_job_key_id id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i].kind == KP_ARG_SPREAD)
            return 0;
    if (t->n == k->sig.nparams)
        return 0;
    char sig[1024];
    kp_signature_format(&k->sig, sig, sizeof sig);
    kp_err_set(&job->err, KPOOL_EJOB, "gives %zu value%s, but %s takes %zu: %s", t->n,
               t->n == 1 ? "" : "s", k->name, k->sig.nparams, sig);
    return where_error(job, id, KPOOL_EJOB);
}

static int prepare_kernels(kpool_job_t *job)
{
    const char *plugin = V(job, job, plugin)->text;
    int rc = kp_plugin_open(&job->plugin, plugin, &job->err);
    if (rc < 0)
        return where_error(job, KP_KEY_job_plugin, rc);
    const char *sig = V(job, job, signature)->text;
    rc = kp_plugin_kernel(&job->plugin, V(job, job, kernel)->text, sig, &job->kernel, &job->err);
    if (rc < 0)
        return where_error(job, sig && *sig ? KP_KEY_job_signature : KP_KEY_job_kernel, rc);

    kp_mode mode = (kp_mode)V(job, job, mode)->num;
    kp_template_free(&job->args);
    const char *args = V(job, job, args)->text;
    if (V(job, job, args)->set)
        rc = kp_template_parse(&job->args, args ? args : "", &job->err);
    else
        rc = kp_template_default(&job->args, mode, &job->err);
    if (rc < 0)
        return where_error(job, KP_KEY_job_args, KPOOL_EJOB);
    if (mode == KP_MODE_APPLY && kp_template_uses_record(&job->args)) {
        kp_err_set(&job->err, KPOOL_EJOB,
                   "mode = apply has no input records, so $0, $K and $* mean nothing: "
                   "give literals only");
        return where_error(job, KP_KEY_job_args, KPOOL_EJOB);
    }
    if ((rc = check_arity(job, &job->args, &job->kernel, KP_KEY_job_args)) < 0)
        return rc;

    const char *init = V(job, pool, initializer)->text;
    if (init && *init) {
        rc = kp_plugin_kernel(&job->plugin, init, NULL, &job->initializer, &job->err);
        if (rc < 0)
            return where_error(job, KP_KEY_pool_initializer, rc);
        kp_template_free(&job->initargs);
        rc = kp_template_parse(&job->initargs, V(job, pool, initargs)->text, &job->err);
        if (rc < 0)
            return where_error(job, KP_KEY_pool_initargs, KPOOL_EJOB);
        if (kp_template_uses_record(&job->initargs)) {
            kp_err_set(&job->err, KPOOL_EJOB,
                       "the initializer runs before any record: give literals only");
            return where_error(job, KP_KEY_pool_initargs, KPOOL_EJOB);
        }
        if ((rc = check_arity(job, &job->initargs, &job->initializer, KP_KEY_pool_initargs)) < 0)
            return rc;
    }
    return 0;
}

static int prepare_input(kpool_job_t *job)
{
    if ((kp_mode)V(job, job, mode)->num == KP_MODE_APPLY) {
        job->total = 1;
        return 0;
    }
    kp_input_config cfg = {0};
    kp_job_key_id id;
    if (V(job, input, range)->set) {
        id = KP_KEY_input_range;
        cfg.format = KP_IN_RANGE;
        cfg.start = V(job, input, range)->start;
        cfg.stop = V(job, input, range)->stop;
        cfg.step = V(job, input, range)->step;
    } else {
        id = KP_KEY_input_path;
        cfg.path = V(job, input, path)->text;
        cfg.format = (kp_input_format)V(job, input, format)->num;
        cfg.header = V(job, input, header)->num != 0;
    }
    int rc = kp_input_open(&job->input, &cfg, &job->err);
    if (rc < 0)
        return where_error(job, id, rc == KPOOL_ENOMEM ? rc : KPOOL_EJOB);
    job->total = kp_input_count(job->input);
    return 0;
}

int kp_job_prepare(kpool_job_t *job)
{
    if (job->prepared)
        return 0;
    int rc = kp_jobfile_validate(&job->jf, &job->err);
    if (rc < 0)
        return rc;
    if ((rc = prepare_kernels(job)) < 0 || (rc = prepare_input(job)) < 0)
        return rc;
    job->ctx.input = job->input;
    job->ctx.args = &job->args;
    job->ctx.kernel = &job->kernel;
    kp_arena_init(&job->ctx.arena);
    if ((rc = kp_task_prepare(&job->ctx, &job->err)) < 0)
        return where_error(job, KP_KEY_job_args, KPOOL_EJOB);
    if (V(job, output, format)->num == KP_OUT_NPY &&
        (job->kernel.sig.ret == KP_T_VOID || job->kernel.sig.ret == KP_T_STR)) {
        kp_err_set(&job->err, KPOOL_EJOB,
                   "npy output needs a numeric or bool result; %s returns %s", job->kernel.name,
                   kp_type_name(job->kernel.sig.ret));
        return where_error(job, KP_KEY_output_format, KPOOL_EJOB);
    }
    job->prepared = true;
    return 0;
}

static int workers_of(const kpool_job_t *job)
{
    int64_t w = job->jf.v[KP_KEY_pool_workers].num;
    return w > 0 ? (int)(w > 4096 ? 4096 : w) : kpool_cpu_count();
}

static bool completion_order(const kpool_job_t *job)
{
    return job->jf.v[KP_KEY_output_order].num == 1;
}

int kpool_job_check(kpool_job_t *job, FILE *describe)
{
    int rc = kp_job_prepare(job);
    if (rc < 0 || !describe)
        return rc;
    FILE *out = describe;
    char sig[1024], proto[1024], input[1024];
    kp_signature_format(&job->kernel.sig, sig, sizeof sig);
    kp_signature_prototype(&job->kernel.sig, job->kernel.name, proto, sizeof proto);
    if (job->input)
        kp_input_describe(job->input, input, sizeof input);
    else
        snprintf(input, sizeof input, "none (mode = apply: one call with literal arguments)");
    int workers = workers_of(job);
    size_t chunk = (size_t)job->jf.v[KP_KEY_pool_chunksize].num;
    char chunking[128];
    if (chunk)
        snprintf(chunking, sizeof chunking, "claims of %zu task%s", chunk, chunk == 1 ? "" : "s");
    else {
        uint64_t first = kp_guided_claim(job->total, (uint32_t)workers);
        snprintf(chunking, sizeof chunking,
                 "guided claims (auto): %llu task%s first, shrinking to 1 at the end",
                 (unsigned long long)first, first == 1 ? "" : "s");
    }
    fprintf(out, "plugin:  %s\n", job->plugin.path);
    fprintf(out, "kernel:  %s: %s\n         C: %s\n", job->kernel.name, sig, proto);
    fprintf(out, "input:   %s\n", input);
    fprintf(out, "tasks:   %zu\n", job->total);
    if (V(job, pool, backend)->num == 1)
        fprintf(out, "workers: %d per MPI rank (backend = mpi: run it under mpiexec), %s\n",
                workers, chunking);
    else
        fprintf(out, "workers: %d, %s\n", workers, chunking);
    fprintf(out, "output:  %s (%s, %s order)\n", V(job, output, path)->text,
            V(job, output, format)->text, completion_order(job) ? "completion" : "input");
    fprintf(out, "ok: nothing ran\n");
    return 0;
}

typedef struct sink_state {
    kp_output *out;
    kp_errlog *log;
    kp_journal *journal; /* NULL when results go to stdout */
    const size_t *map;   /* a resumed run: pool task -> job task; NULL = same */
    kp_outcome *done;    /* a resumed run: the tasks its journal recorded, by index */
    size_t ndone, next_done;
    bool completion;
    kp_type type;          /* the kernel's return type */
    bool errors_to_stderr; /* failure lines go to stderr: clear the progress line first */
    kp_progress progress;  /* draws nothing unless the run shows a bar */
    kp_trace *trace;       /* --trace / --report; NULL = off */
    /* Input order with a journal: the output file itself is the record of
     * the tasks before prefix_tasks (see kp_journal_prefix), so they need no
     * journal record. The prefix stops growing at the first outcome written
     * out of its turn (a task that did not run, when the run stops). */
    bool use_prefix;
    bool prefix_ended;
    uint64_t prefix_tasks;
    uint64_t prefix_bytes;   /* with prefix_ended: the output's size at its end */
    uint64_t prefix_written; /* prefix_tasks as last recorded in the journal */
    bool input_pending;      /* the journal's header lacks the input's bytes' fingerprint */
} sink_state;

/* Before job task `index`'s outcome is written: true when it extends the
 * prefix (its result is then in the output file, and the journal keeps no
 * record of it). */
static bool extends_prefix(sink_state *s, size_t index, kp_task_kind kind)
{
    if (!s->use_prefix || s->prefix_ended)
        return false;
    if (index == s->prefix_tasks && kind != KP_TASK_NOT_RUN) {
        s->prefix_tasks++;
        return true;
    }
    s->prefix_ended = true;
    s->prefix_bytes = kp_output_tell(s->out);
    return false;
}

/* Records how far the prefix has grown, once the output's bytes of it are
 * written (they must reach the file before the journal says they are there). */
static int record_prefix(sink_state *s, kp_err *err)
{
    if (!s->use_prefix || !s->journal || s->prefix_tasks == s->prefix_written)
        return 0;
    kp_journal_prefix p = {s->prefix_tasks,
                           s->prefix_ended ? s->prefix_bytes : kp_output_tell(s->out)};
    int rc = kp_output_flush(s->out, err);
    if (rc == 0)
        rc = kp_journal_prefix_record(s->journal, &p, err);
    if (rc == 0)
        s->prefix_written = s->prefix_tasks;
    return rc;
}

/* Input order: writes the recorded tasks that come before `index`. */
static int write_done_before(sink_state *s, size_t index, kp_err *err)
{
    while (s->next_done < s->ndone && s->done[s->next_done].index < index) {
        const kp_outcome *o = &s->done[s->next_done++];
        extends_prefix(s, o->index, o->kind); /* recorded already either way */
        int rc = kp_output_write(s->out, o, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int sink_emit(const kp_outcome *o, void *user, kp_err *err)
{
    sink_state *s = user;
    kp_outcome t = *o;
    if (s->map)
        t.index = s->map[o->index];
    int rc = s->completion ? 0 : write_done_before(s, t.index, err);
    /* Journal first: a result is in the output only if it is recorded, by a
     * record or by the prefix (recorded once its bytes are written). */
    bool in_prefix = rc == 0 && extends_prefix(s, t.index, t.kind);
    if (rc == 0 && s->journal && t.kind != KP_TASK_NOT_RUN && !in_prefix)
        rc = kp_journal_append(s->journal, &t, err);
    if (rc == 0)
        rc = kp_output_write(s->out, &t, err);
    return rc;
}

static int sink_emit_run(uint64_t first, const unsigned char *values, size_t stride, size_t n,
                         void *user, kp_err *err)
{
    sink_state *s = user;
    if (s->map || s->next_done < s->ndone) {
        /* A resumed run: task numbers are mapped, recorded results interleave. */
        kp_outcome o = {.kind = KP_TASK_OK, .type = s->type, .attempts = 1};
        for (size_t k = 0; k < n; k++) {
            o.index = first + k;
            memcpy(&o.value, values + k * stride, sizeof o.value);
            int rc = sink_emit(&o, user, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    int rc = 0;
    if (n && extends_prefix(s, first, KP_TASK_OK))
        s->prefix_tasks += n - 1; /* the others follow it */
    else if (s->journal)
        rc = kp_journal_append_run(s->journal, first, values, stride, n, err);
    if (rc == 0)
        rc = kp_output_write_run(s->out, first, s->type, values, stride, n, err);
    return rc;
}

static int sink_flush(void *user, kp_err *err)
{
    sink_state *s = user;
    int rc = record_prefix(s, err);
    return rc < 0 ? rc : kp_journal_flush(s->journal, err);
}

static void sink_failure(const kp_outcome *o, int max_attempts, void *user)
{
    sink_state *s = user;
    /* The trace maps the pool's task number itself. */
    kp_trace_failure(s->trace, o);
    kp_outcome t = *o;
    if (s->map)
        t.index = s->map[o->index];
    /* The line goes above the progress bar, which the next tick redraws. */
    if (s->errors_to_stderr)
        kp_progress_clear(&s->progress);
    kp_err err;
    if (kp_errlog_write(s->log, &t, max_attempts, &err) < 0) {
        kp_progress_clear(&s->progress);
        fprintf(stderr, "kpool: %s\n", err.msg);
    }
}

static void sink_tick(const kp_pool_stats *stats, int busy, void *user)
{
    kp_progress_tick(&((sink_state *)user)->progress, stats, busy);
}

/* The keys whose values decide the results: a resumed run must have the
 * same ones (workers, chunk sizes and output paths may change). */
static const kp_job_key_id result_keys[] = {
    KP_KEY_job_kernel,    KP_KEY_job_mode,      KP_KEY_job_args,     KP_KEY_job_signature,
    KP_KEY_input_format,  KP_KEY_input_range,   KP_KEY_input_header, KP_KEY_pool_initializer,
    KP_KEY_pool_initargs, KP_KEY_output_format, KP_KEY_output_order, KP_KEY_output_index,
    KP_KEY_pool_retries,
};

int kp_job_fingerprint(kpool_job_t *job, kp_fingerprint *fp, bool bytes)
{
    memset(fp, 0, sizeof *fp);
    fp->job = KP_HASH_INIT;
    for (size_t i = 0; i < sizeof result_keys / sizeof result_keys[0]; i++) {
        const char *text = job->jf.v[result_keys[i]].text;
        fp->job = kp_hash(fp->job, text ? text : "", text ? strlen(text) + 1 : 1);
    }
    /* The plugin by its bytes: the file the kernel was found in. */
    Dl_info info;
    void *sym;
    memcpy(&sym, &job->kernel.fn, sizeof sym);
    const char *plugin = V(job, job, plugin)->text;
    if (dladdr(sym, &info) && info.dli_fname && info.dli_fname[0])
        plugin = info.dli_fname;
    int rc = kp_hash_file(plugin, &fp->plugin, &job->err);
    if (rc < 0)
        return rc;
    fp->input_id = job->input ? kp_input_identity(job->input) : 0;
    /* Without an identity (a range, stdin) the bytes are the fingerprint. */
    if (job->input && (bytes || !fp->input_id))
        fp->input = kp_input_fingerprint(job->input);
    fp->total = job->total;
    fp->type = (int)job->kernel.sig.ret;
    return 0;
}

static char *journal_path(const kpool_job_t *job)
{
    const char *set = job->jf.v[KP_KEY_output_journal].text;
    if (set && set[0])
        return strdup(set);
    const char *out = job->jf.v[KP_KEY_output_path].text;
    char *path = malloc(strlen(out) + sizeof ".journal");
    if (path)
        sprintf(path, "%s.journal", out);
    return path;
}

/* Opens the journal: a new one, or with `resume` the interrupted run's,
 * whose recorded tasks go into s and whose left tasks into *left. */
static int open_journal(kpool_job_t *job, bool resume, sink_state *s, size_t **left, size_t *nleft)
{
    *left = NULL;
    *nleft = job->total;
    /* Results to stdout, a device (-o /dev/null) or a FIFO cannot be
     * rewritten by --resume: no journal then. */
    const char *out = job->jf.v[KP_KEY_output_path].text;
    struct stat st;
    bool to_file = strcmp(out, "-") != 0 && (stat(out, &st) < 0 || S_ISREG(st.st_mode));
    if (!to_file) {
        if (resume)
            return kp_err_set(&job->err, KPOOL_EJOB,
                              "--resume needs the results in a file (not stdout or a device): set "
                              "[output] path or give -o FILE");
        return 0;
    }
    /* A new run's journal leaves the input's bytes for later (see
     * kp_fingerprint.input); a resumed one compares them. */
    kp_fingerprint fp;
    int rc = kp_job_fingerprint(job, &fp, resume);
    s->input_pending = !resume && !fp.input;
    char *path = journal_path(job);
    if (rc == 0 && !path)
        rc = kp_err_set(&job->err, KPOOL_ENOMEM, "out of memory");
    if (rc == 0 && !resume)
        rc = kp_journal_create(&s->journal, path, &fp, &job->err);
    if (rc == 0 && resume)
        rc = kp_journal_resume(&s->journal, path, &fp, &s->done, &s->ndone, &job->err);
    free(path);
    if (rc < 0 || !resume)
        return rc;
    kp_journal_prefix prefix = kp_journal_prefix_of(s->journal);
    s->prefix_tasks = s->prefix_written = prefix.tasks;
    *nleft = job->total - prefix.tasks - s->ndone;
    *left =
        *nleft <= SIZE_MAX / sizeof **left ? malloc((*nleft ? *nleft : 1) * sizeof **left) : NULL;
    if (!*left)
        return kp_err_set(&job->err, KPOOL_ENOMEM,
                          "cannot resume: the list of the %zu tasks left does not fit in memory",
                          *nleft);
    size_t k = 0, d = 0;
    for (size_t i = prefix.tasks; i < job->total; i++) {
        if (d < s->ndone && s->done[d].index == i)
            d++;
        else
            (*left)[k++] = i;
    }
    return 0;
}

/* One line after every run: tasks, wall time, rate, workers, then the count
 * of each outcome (failed and retried always, so that "0 failed" is said). */
static void summary(const kpool_job_t *job, int workers, double seconds)
{
    const kp_pool_stats *st = &job->stats;
    char line[512], rate[32];
    kp_progress_rate_text(seconds > 0 ? (double)(st->ok + st->failed) / seconds : -1.0, rate,
                          sizeof rate);
    int n = snprintf(line, sizeof line,
                     "kpool: %zu task%s in %.3f s (%s tasks/s) on %d worker%s: %zu ok, %zu failed",
                     st->total, st->total == 1 ? "" : "s", seconds, rate, workers,
                     workers == 1 ? "" : "s", st->ok, st->failed);
    if (st->not_run)
        n += snprintf(line + n, sizeof line - (size_t)n, ", %zu not run", st->not_run);
    n += snprintf(line + n, sizeof line - (size_t)n, ", %zu retried", st->retried);
    if (st->interrupted_by)
        snprintf(line + n, sizeof line - (size_t)n, " (interrupted by %s)",
                 st->interrupted_by == SIGINT ? "SIGINT" : "SIGTERM");
    fprintf(stderr, "%s\n", line);
}

void kp_job_pool_config(const kpool_job_t *job, kp_pool_config *pcfg)
{
    *pcfg = (kp_pool_config){
        .workers = workers_of(job),
        .chunksize = (size_t)job->jf.v[KP_KEY_pool_chunksize].num,
        .max_tasks_per_worker = (size_t)job->jf.v[KP_KEY_pool_max_tasks_per_worker].num,
        .task_timeout = job->jf.v[KP_KEY_pool_task_timeout].seconds,
        .retries = (int)job->jf.v[KP_KEY_pool_retries].num,
        .stop_on_error = job->jf.v[KP_KEY_pool_on_error].num != 0,
        .stop_now = job->jf.v[KP_KEY_pool_on_error].num == 2,
        .stop_failures = (uint64_t)job->jf.v[KP_KEY_pool_on_error].start,
        .stop_percent = job->jf.v[KP_KEY_pool_on_error].seconds,
        .completion_order = completion_order(job),
        /* npy holds one slot per task: a stopped run still fills them all. */
        .not_run_tail = V(job, output, format)->num == KP_OUT_NPY,
        .initializer = job->initializer.fn ? &job->initializer : NULL,
        .initargs = &job->initargs,
        .memory_limit_mib = (uint64_t)job->jf.v[KP_KEY_pool_memory_limit].num,
        .cpu_limit = job->jf.v[KP_KEY_pool_cpu_limit].seconds,
        .open_files = (uint64_t)job->jf.v[KP_KEY_pool_open_files].num,
        .core_dumps = job->jf.v[KP_KEY_pool_core_dumps].num != 0,
        .worker_nice = (int)job->jf.v[KP_KEY_pool_worker_nice].num,
    };
}

int kpool_job_run(kpool_job_t *job, int flags)
{
    if (V(job, pool, backend)->num == 1) {
        int rc = kp_jobfile_validate(&job->jf, &job->err);
        if (rc == 0 && !V(job, input, range)->set && V(job, input, path)->text &&
            strcmp(V(job, input, path)->text, "-") == 0) {
            kp_err_set(&job->err, KPOOL_EJOB,
                       "backend = mpi cannot read its input from stdin: every rank reads the "
                       "input itself; write it to a file all ranks can read");
            return where_error(job, KP_KEY_input_path, KPOOL_EJOB);
        }
        return rc < 0 ? rc : kp_mpi_run(job, flags);
    }
    return kp_job_run_local(job, flags, NULL);
}

int kp_job_run_local(kpool_job_t *job, int flags, const kp_job_hooks *hooks)
{
    int rc = kp_job_prepare(job);
    if (rc < 0)
        return rc;
    bool quiet = flags & KPOOL_RUN_QUIET, resume = flags & KPOOL_RUN_RESUME;
    int64_t index_mode = job->jf.v[KP_KEY_output_index].num; /* auto|true|false */
    kp_output_config ocfg = {
        .path = V(job, output, path)->text,
        .format = (kp_output_format)V(job, output, format)->num,
        .index = index_mode == 0 ? completion_order(job) : index_mode == 1,
        .completion_order = completion_order(job),
        .type = job->kernel.sig.ret,
        .total = job->total,
    };
    sink_state s = {.completion = completion_order(job), .type = job->kernel.sig.ret};
    size_t *left = NULL, nleft = job->total;
    kp_tracing *tracing = NULL;
    if ((rc = open_journal(job, resume, &s, &left, &nleft)) < 0)
        goto out;
    s.use_prefix = s.journal && !s.completion;
    kp_journal_prefix kept = kp_journal_prefix_of(s.journal);
    ocfg.keep_bytes = kept.bytes;
    ocfg.keep_tasks = kept.tasks;
    size_t recorded = s.ndone + kept.tasks;
    if ((rc = kp_output_open(&s.out, &ocfg, &job->err)) < 0)
        goto out;
    if ((rc = kp_errlog_open(&s.log, V(job, output, errors)->text, &job->err)) < 0)
        goto out;
    /* workers = auto reads the affinity and cgroup files: once. */
    kp_pool_config pcfg;
    kp_job_pool_config(job, &pcfg);
    if ((job->trace_path || job->report_path) &&
        (rc = kp_tracing_open(&tracing, job->trace_path, job->report_path, pcfg.workers,
                              &job->err)) < 0)
        goto out;
    if (resume && !quiet)
        fprintf(stderr, "kpool: resuming: %zu of %zu tasks are recorded; running the other %zu\n",
                recorded, job->total, nleft);
    if (resume && s.completion) {
        /* Completion order: what finished before comes first. */
        for (; s.next_done < s.ndone && rc == 0; s.next_done++)
            rc = kp_output_write(s.out, &s.done[s.next_done], &job->err);
        if (rc < 0)
            goto out;
    }

    job->ran = true;
    if (hooks && (rc = hooks->start(hooks->user, &pcfg, left, nleft, &job->err)) < 0)
        goto out;
    s.map = left;
    job->ctx.index_map = left;
    kp_pool_sink sink = {.emit = sink_emit,
                         .emit_run = sink_emit_run,
                         .failure = sink_failure,
                         .flush = sink_flush,
                         .user = &s};
    /* The bar: on a terminal, unless the results scroll on the same one
     * (they would tear it); on anywhere with KPOOL_RUN_PROGRESS. */
    bool results_on_tty = strcmp(ocfg.path, "-") == 0 && isatty(STDOUT_FILENO);
    bool bar =
        !quiet && ((flags & KPOOL_RUN_PROGRESS) || (isatty(STDERR_FILENO) && !results_on_tty));
    s.errors_to_stderr = strcmp(V(job, output, errors)->text, "-") == 0;
    kp_progress_init(&s.progress, stderr, job->total, recorded, bar);
    if (bar) {
        sink.tick = sink_tick;
        sink.tick_ns = 200 * INT64_C(1000000); /* five redraws a second */
    }

    if (tracing) {
        s.trace = pcfg.trace = kp_tracing_trace(tracing);
        kp_trace_start(s.trace, left, nleft, pcfg.task_timeout);
    }
    int64_t t0 = kp_now_ns();
    kp_err perr;
    kp_err_clear(&perr);
    rc = kp_pool_run(&pcfg, &job->ctx, nleft, &sink, &job->stats, &perr);
    double seconds = (double)(kp_now_ns() - t0) / 1e9;
    kp_progress_end(&s.progress);
    job->ctx.index_map = NULL;
    if (perr.code)
        job->err = perr;
    kp_err werr;
    kp_err_clear(&werr);
    /* The recorded tasks after the last new one (input order). */
    if (!s.completion && (rc == 0 || rc == KPOOL_EFAILED || rc == KPOOL_EINTR) &&
        write_done_before(&s, SIZE_MAX, &werr) < 0 && !perr.code) {
        job->err = werr;
        rc = werr.code;
    }

    /* Every task has its outcome recorded: there is nothing left to resume. */
    bool complete = (rc == 0 || rc == KPOOL_EFAILED) && !perr.code && !job->stats.not_run;
    kp_err cerr;
    kp_err_clear(&cerr);
    int crc = complete ? 0 : record_prefix(&s, &cerr);
    /* A run to be resumed: now its input's bytes are worth their pass. */
    if (crc == 0 && !complete && s.journal && s.input_pending)
        crc = kp_journal_set_input(s.journal, kp_input_fingerprint(job->input), &cerr);
    if (crc == 0)
        crc = kp_output_close(s.out, &cerr);
    else
        kp_output_close(s.out, NULL);
    s.out = NULL;
    /* Closed either way; kept (not removed) when the output failed. */
    int jrc = kp_journal_close(s.journal, complete && crc == 0, crc == 0 ? &cerr : NULL);
    if (crc == 0)
        crc = jrc;
    s.journal = NULL;
    if (crc < 0 && !perr.code && (rc == 0 || rc == KPOOL_EFAILED)) {
        job->err = cerr;
        rc = crc;
    }
    if (!quiet && (!perr.code || job->stats.interrupted_by))
        summary(job, job->stats.workers, seconds);
    if (tracing) {
        const kp_pool_stats *st = &job->stats;
        kp_report_info info = {.job = job->jf.path,
                               .kernel = job->kernel.name,
                               .plugin = job->plugin.path,
                               .total = st->total,
                               .ok = st->ok,
                               .failed = st->failed,
                               .not_run = st->not_run,
                               .retried = st->retried,
                               .workers = st->workers,
                               .wall_seconds = seconds,
                               .interrupted_by = st->interrupted_by};
        kp_err terr;
        kp_err_clear(&terr);
        int trc = kp_tracing_close(tracing, &info, st->interrupted_by || st->not_run, &terr);
        tracing = NULL;
        if (trc < 0 && (rc == 0 || rc == KPOOL_EFAILED)) {
            job->err = terr;
            rc = trc;
        } else if (trc < 0) {
            fprintf(stderr, "kpool: %s\n", terr.msg);
        }
    }
out:
    kp_tracing_close(tracing, NULL, false, NULL);
    kp_output_close(s.out, NULL);
    kp_errlog_close(s.log, NULL);
    /* A journal made for a run that never started records nothing: remove it. */
    kp_journal_close(s.journal, !resume && !job->ran, NULL);
    kp_journal_free_outcomes(s.done, s.ndone);
    free(left);
    return rc;
}

int kpool_job_exit_code(const kpool_job_t *job, int rc)
{
    if (job && job->exit_status >= 0)
        return job->exit_status;
    switch (rc) {
    case 0:
        return 0;
    case KPOOL_EFAILED:
        return 1;
    case KPOOL_EINTR:
        return job && job->stats.interrupted_by == SIGTERM ? 143 : 130;
    case KPOOL_ENOMEM:
    case KPOOL_ESYS:
    case KPOOL_EIO:
        return 3;
    default:
        /* Everything found before the pool started is the job's fault. */
        return job && job->ran ? 3 : 2;
    }
}

kp_task_ctx *kp_job_task_ctx(kpool_job_t *job)
{
    return &job->ctx;
}

size_t kp_job_total(const kpool_job_t *job)
{
    return job->total;
}

kp_err *kp_job_err(kpool_job_t *job)
{
    return &job->err;
}

void kp_job_set_exit_status(kpool_job_t *job, int status)
{
    job->exit_status = status;
    kp_err_clear(&job->err);
}

void kpool_job_free(kpool_job_t *job)
{
    if (!job)
        return;
    kp_task_release(&job->ctx);
    kp_input_close(job->input);
    kp_template_free(&job->args);
    kp_template_free(&job->initargs);
    kp_plugin_close(&job->plugin);
    kp_jobfile_free(&job->jf);
    free(job->trace_path);
    free(job->report_path);
    free(job);
}

/* Copies an optional path; an empty one is an error naming `what`. */
static int set_path(kpool_job_t *job, char **dst, const char *path, const char *what)
{
    if (path && !*path)
        return kp_err_set(&job->err, KPOOL_EINVAL, "%s needs a file name", what);
    char *copy = path ? strdup(path) : NULL;
    if (path && !copy)
        return kp_err_set(&job->err, KPOOL_ENOMEM, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

int kpool_job_set_trace(kpool_job_t *job, const char *trace_path, const char *report_path)
{
    int rc = set_path(job, &job->trace_path, trace_path, "--trace");
    return rc < 0 ? rc : set_path(job, &job->report_path, report_path, "--report");
}
