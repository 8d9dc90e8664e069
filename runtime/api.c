/* api.c - the embedding API: pools, kernels, sync calls, async handles.
 *
 * Every run goes through the same engine as `kpool run`: the tasks' arguments
 * become in-memory records (record = the list of a task's arguments, the
 * template is $1, ..., $N, so tasks take the direct path of task.c), and
 * kp_pool_run forks the workers, which read those records and the arrays
 * they point at through their copy of the program's memory.
 *
 * Async submissions wait in the pool's queue; whatever call has to wait runs
 * the queue, one kp_pool_run per kernel (a run has one kernel), and the sink
 * routes each outcome to the submission it belongs to and calls its
 * callback. Hazard: callbacks run inside kp_pool_run, so they may change the
 * queue, free handles and ask for termination; nothing a batch holds may be
 * freed or moved until the batch is over (`in_run` defers frees). */
#include "input.h"
#include "output.h"
#include "plugin.h"
#include "pool.h"
#include "task.h"
#include "template.h"

#include <math.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The public enums mirror the internal ones value for value, so converting
 * between them is a cast. */
_Static_assert(KPOOL_TYPE_VOID == (int)KP_T_VOID && KPOOL_TYPE_BOOL == (int)KP_T_BOOL &&
                   KPOOL_TYPE_I8 == (int)KP_T_I8 && KPOOL_TYPE_I16 == (int)KP_T_I16 &&
                   KPOOL_TYPE_I32 == (int)KP_T_I32 && KPOOL_TYPE_I64 == (int)KP_T_I64 &&
                   KPOOL_TYPE_U8 == (int)KP_T_U8 && KPOOL_TYPE_U16 == (int)KP_T_U16 &&
                   KPOOL_TYPE_U32 == (int)KP_T_U32 && KPOOL_TYPE_U64 == (int)KP_T_U64 &&
                   KPOOL_TYPE_F32 == (int)KP_T_F32 && KPOOL_TYPE_F64 == (int)KP_T_F64 &&
                   KPOOL_TYPE_STR == (int)KP_T_STR && KPOOL_TYPE_STR + 1 == (int)KP_T_COUNT_,
               "kpool_type_t must match kp_type");
_Static_assert(KPOOL_TASK_OK == (int)KP_TASK_OK && KPOOL_TASK_FAILED == (int)KP_TASK_FAILED &&
                   KPOOL_TASK_CRASHED == (int)KP_TASK_CRASHED &&
                   KPOOL_TASK_TIMEOUT == (int)KP_TASK_TIMEOUT &&
                   KPOOL_TASK_BAD_INPUT == (int)KP_TASK_BAD_INPUT &&
                   KPOOL_TASK_NOT_RUN == (int)KP_TASK_NOT_RUN,
               "kpool_task_kind_t must match kp_task_kind");

#define MAX_WORKERS          4096
#define DROPPED_BY_TERMINATE "dropped by kpool_terminate before it ran"
#define DROPPED_BY_FREE      "dropped by kpool_pool_free before it ran"

enum pool_state { POOL_OPEN, POOL_CLOSED, POOL_TERMINATED };

typedef struct plugin_ref {
    struct plugin_ref *next;
    kp_plugin plugin;
} plugin_ref;

struct kpool_kernel {
    kpool_kernel_t *next;
    kp_kernel k;      /* prepared in place: never moved */
    kp_template args; /* $1, ..., $N over the record that lists a task's arguments */
};

struct kpool_async {
    kpool_pool_t *pool; /* NULL once the pool is freed */
    kpool_kernel_t *kernel;
    kpool_async_t *prev, *next;   /* the pool's live handles */
    kpool_async_t *qprev, *qnext; /* the queue, then the batch being run */
    size_t n, nargs;
    kp_value *values;          /* n * nargs converted arguments */
    kpool_outcome_t *outcomes; /* n; a sync call's are the caller's array */
    size_t done, failed;       /* outcomes known; of them, not OK */
    size_t *order;             /* iterators: task indices in the order they finished */
    char **texts;              /* copies of outcome strings, freed with the handle */
    size_t ntexts, captexts;
    kpool_result_cb on_result, on_error;
    void *user;
    bool queued;
    bool in_run;   /* part of the batch being run: must not be freed yet */
    bool detached; /* nobody holds it: freed as soon as it is done */
};

struct kpool_iter {
    kpool_async_t *h;
    bool ordered; /* imap: input order; imap_unordered: completion order */
    size_t pos;
};

struct kpool_pool {
    kp_err err;
    kpool_options_t opts;
    enum pool_state state;
    bool running;             /* inside run_queue: callbacks may be running */
    bool in_engine;           /* inside kp_pool_run */
    bool terminate_requested; /* kpool_terminate from a callback */
    bool raised_term;         /* SIGTERM was raised to stop the run in progress */
    plugin_ref *plugins;
    kpool_kernel_t *kernels;
    kpool_async_t *handles;       /* every live handle */
    kpool_async_t *qhead, *qtail; /* submissions not run yet, in order */
    kpool_async_t *last_sync;     /* owns the strings of the last sync call's outcomes */
    kpool_kernel_t *init_kernel;
    kp_template init_args;
};

/* ---- small helpers ------------------------------------------------------ */

const char *kpool_task_kind_name(kpool_task_kind_t kind)
{
    return kp_task_kind_name((kp_task_kind)kind);
}

const char *kpool_pool_error(const kpool_pool_t *pool)
{
    return pool ? pool->err.msg : "out of memory";
}

/* Every public call on a pool starts here: the error is about this call. */
static void begin(kpool_pool_t *pool)
{
    kp_err_clear(&pool->err);
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* Offsets in one allocation: aligns *size for any type, reserves count * each
 * bytes and returns their offset, or SIZE_MAX on overflow. */
static size_t reserve(size_t *size, size_t count, size_t each)
{
    size_t align = alignof(max_align_t);
    if (*size > SIZE_MAX - align)
        return SIZE_MAX;
    size_t off = (*size + align - 1) & ~(align - 1);
    if (each && count > (SIZE_MAX - off) / each)
        return SIZE_MAX;
    *size = off + count * each;
    return off;
}

/* ---- opening, kernels --------------------------------------------------- */

static int check_options(kpool_pool_t *pool, const kpool_options_t *opts)
{
    kpool_options_t o = KPOOL_OPTIONS_INIT;
    if (opts) {
        if (opts->size < offsetof(kpool_options_t, workers) + sizeof(int))
            return kp_err_set(&pool->err, KPOOL_EINVAL,
                              "kpool_pool_open: options.size is %zu; initialise the options "
                              "with KPOOL_OPTIONS_INIT",
                              opts->size);
        /* A newer program's options may be longer: this kpool reads the
         * fields it knows, as the options' `size` contract says. */
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
        o.size = sizeof o;
    }
    if (o.workers < 0)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "kpool_pool_open: options.workers is %d; give 0 (one per CPU) or a "
                          "positive number",
                          o.workers);
    if (!(o.task_timeout >= 0) || isinf(o.task_timeout))
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "kpool_pool_open: options.task_timeout is %g; give seconds >= 0 "
                          "(0 = no limit)",
                          o.task_timeout);
    if (o.retries < 0)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "kpool_pool_open: options.retries is %d; give 0 or more", o.retries);
    if (o.worker_nice < 0 || o.worker_nice > 19)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "kpool_pool_open: options.worker_nice is %d; give 0 to 19 (nice(1) "
                          "steps below the program's priority)",
                          o.worker_nice);
    if (o.workers == 0)
        o.workers = kpool_cpu_count();
    if (o.workers > MAX_WORKERS)
        o.workers = MAX_WORKERS;
    pool->opts = o;
    return 0;
}

int kpool_pool_open(kpool_pool_t **out, const kpool_options_t *opts)
{
    if (!out)
        return KPOOL_EINVAL;
    kpool_pool_t *pool = calloc(1, sizeof *pool);
    *out = pool;
    if (!pool)
        return KPOOL_ENOMEM;
    kp_arena_init(&pool->init_args.arena);
    return check_options(pool, opts);
}

/* The template of every task of kernel k: $1, ..., $N of the record. */
static int make_template(kpool_kernel_t *k)
{
    kp_template *t = &k->args;
    kp_arena_init(&t->arena);
    size_t n = k->k.sig.nparams;
    t->items = kp_arena_alloc(&t->arena, (n ? n : 1) * sizeof *t->items);
    if (!t->items)
        return KPOOL_ENOMEM;
    memset(t->items, 0, (n ? n : 1) * sizeof *t->items);
    for (size_t i = 0; i < n; i++) {
        t->items[i].kind = KP_ARG_ELEMENT;
        t->items[i].element = i + 1;
    }
    t->n = n;
    return 0;
}

int kpool_kernel_load(kpool_pool_t *pool, const char *plugin, const char *name,
                      const char *signature, kpool_kernel_t **out)
{
    if (out)
        *out = NULL;
    if (!pool)
        return KPOOL_EINVAL;
    begin(pool);
    if (!plugin || !name || !out)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "kpool_kernel_load: the plugin, the kernel name and out must not be "
                          "NULL");
    plugin_ref *ref = pool->plugins;
    while (ref && strcmp(ref->plugin.path, plugin) != 0)
        ref = ref->next;
    bool opened = false;
    if (!ref) {
        ref = calloc(1, sizeof *ref);
        if (!ref)
            return kp_err_set(&pool->err, KPOOL_ENOMEM, "%s: out of memory", plugin);
        int rc = kp_plugin_open(&ref->plugin, plugin, &pool->err);
        if (rc < 0) {
            free(ref);
            return rc;
        }
        opened = true;
    }
    kpool_kernel_t *k = calloc(1, sizeof *k);
    int rc;
    if (!k)
        rc = kp_err_set(&pool->err, KPOOL_ENOMEM, "%s: out of memory", plugin);
    else if (!ref->plugin.desc && (!signature || !*signature))
        /* The loader's own sentence points at the job file's key. */
        rc = kp_err_set(&pool->err, KPOOL_ESIG,
                        "%s has no kpool descriptor, so kpool cannot know the type of %s: pass "
                        "its signature to kpool_kernel_load, e.g. \"f64 %s(f64, f64)\"",
                        plugin, name, name);
    else
        rc = kp_plugin_kernel(&ref->plugin, name, signature, &k->k, &pool->err);
    if (rc == 0 && make_template(k) < 0) {
        kp_template_free(&k->args);
        rc = kp_err_set(&pool->err, KPOOL_ENOMEM, "%s: out of memory", plugin);
    }
    if (rc < 0) {
        free(k);
        if (opened) {
            kp_plugin_close(&ref->plugin);
            free(ref);
        }
        return rc;
    }
    if (opened) {
        ref->next = pool->plugins;
        pool->plugins = ref;
    }
    k->next = pool->kernels;
    pool->kernels = k;
    *out = k;
    return 0;
}

size_t kpool_kernel_arity(const kpool_kernel_t *kernel)
{
    return kernel->k.sig.nparams;
}

kpool_type_t kpool_kernel_return_type(const kpool_kernel_t *kernel)
{
    return (kpool_type_t)kernel->k.sig.ret;
}

int kpool_kernel_signature(const kpool_kernel_t *kernel, char *buf, size_t n)
{
    if (!kernel || !buf || n == 0)
        return KPOOL_EINVAL;
    size_t len = kp_signature_format(&kernel->k.sig, buf, n);
    return len < n ? 0 : KPOOL_ERANGE;
}

/* ---- arguments ------------------------------------------------------------ */

/* Names a task's argument for messages: "task 3, argument 1 (row)"; the
 * name only when the signature gives one. */
static const char *arg_where(const kpool_kernel_t *k, bool many, size_t task, size_t i, char *buf,
                             size_t n)
{
    const char *name = k->k.sig.params[i].name;
    int len = many ? snprintf(buf, n, "task %zu, argument %zu", task, i + 1)
                   : snprintf(buf, n, "argument %zu", i + 1);
    if (name[0] && len >= 0 && (size_t)len < n)
        snprintf(buf + len, n - (size_t)len, " (%s)", name);
    return buf;
}

static int check_arity(kpool_pool_t *pool, const char *fn, const kpool_kernel_t *k, size_t nargs)
{
    size_t want = k->k.sig.nparams;
    if (nargs == want)
        return 0;
    char sig[512];
    kp_signature_format(&k->k.sig, sig, sizeof sig);
    if (strcmp(fn, "kpool_map") == 0 || strcmp(fn, "kpool_map_async") == 0)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "%s: calls the kernel with one argument per task, but %s takes %zu: "
                          "%s; use kpool_starmap for several",
                          fn, k->k.name, want, sig);
    return kp_err_set(&pool->err, KPOOL_EINVAL,
                      "%s: gives %zu argument%s per task, but %s takes %zu: %s", fn, nargs,
                      plural(nargs), k->k.name, want, sig);
}

/* Checks what cannot be left to the workers (NULL pointers, unknown kinds)
 * and adds up the bytes of the strings to copy. */
static int check_args(kpool_pool_t *pool, const char *fn, const kpool_kernel_t *k,
                      const kpool_arg_t *args, size_t n, size_t nargs, size_t *strbytes)
{
    *strbytes = 0;
    if (n && nargs && !args)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "%s: the arguments are NULL, but %zu task%s of %zu argument%s were "
                          "asked for",
                          fn, n, plural(n), nargs, plural(nargs));
    /* apply and the initializer have one task: no task number in messages. */
    bool many = !strstr(fn, "apply") && !strstr(fn, "initializer");
    char where[128];
    for (size_t t = 0; t < n; t++) {
        for (size_t i = 0; i < nargs; i++) {
            const kpool_arg_t *a = &args[t * nargs + i];
            switch (a->kind) {
            case KPOOL_ARG_I64:
            case KPOOL_ARG_U64:
            case KPOOL_ARG_F64:
            case KPOOL_ARG_BOOL:
                break;
            case KPOOL_ARG_STR: {
                if (!a->v.s)
                    return kp_err_set(&pool->err, KPOOL_EINVAL, "%s: %s: the string is NULL", fn,
                                      arg_where(k, many, t, i, where, sizeof where));
                size_t len = strlen(a->v.s) + 1;
                if (len > SIZE_MAX - *strbytes)
                    return kp_err_set(&pool->err, KPOOL_ENOMEM, "%s: the strings are too large",
                                      fn);
                *strbytes += len;
                break;
            }
            case KPOOL_ARG_ARRAY: {
                int type = (int)a->v.array.type;
                if (type < KPOOL_TYPE_BOOL || type > KPOOL_TYPE_F64)
                    return kp_err_set(&pool->err, KPOOL_EINVAL,
                                      "%s: %s: arrays hold bool or numbers, and type %d is "
                                      "neither; build arrays with kpool_array_i64() and friends",
                                      fn, arg_where(k, many, t, i, where, sizeof where), type);
                if (!a->v.array.data && a->v.array.len)
                    return kp_err_set(&pool->err, KPOOL_EINVAL,
                                      "%s: %s: an array of %zu element%s at NULL", fn,
                                      arg_where(k, many, t, i, where, sizeof where), a->v.array.len,
                                      plural(a->v.array.len));
                break;
            }
            default:
                return kp_err_set(&pool->err, KPOOL_EINVAL,
                                  "%s: %s: unknown argument kind %d; build arguments with "
                                  "kpool_i64(), kpool_str() and friends",
                                  fn, arg_where(k, many, t, i, where, sizeof where), (int)a->kind);
            }
        }
    }
    return 0;
}

/* Converts checked arguments into record values; strings are copied to
 * `strings`, array data stays where it is. */
static void convert_args(const kpool_arg_t *args, size_t count, kp_value *values, char *strings)
{
    for (size_t j = 0; j < count; j++) {
        const kpool_arg_t *a = &args[j];
        kp_value *v = &values[j];
        memset(v, 0, sizeof *v);
        switch (a->kind) {
        case KPOOL_ARG_I64:
            v->kind = KP_V_INT;
            v->as.i = a->v.i;
            break;
        case KPOOL_ARG_U64:
            /* A value kind says UINT only above INT64_MAX. */
            if (a->v.u <= (uint64_t)INT64_MAX) {
                v->kind = KP_V_INT;
                v->as.i = (int64_t)a->v.u;
            } else {
                v->kind = KP_V_UINT;
                v->as.u = a->v.u;
            }
            break;
        case KPOOL_ARG_F64:
            v->kind = KP_V_FLOAT;
            v->as.f = a->v.f;
            break;
        case KPOOL_ARG_BOOL:
            v->kind = KP_V_BOOL;
            v->as.b = a->v.b;
            break;
        case KPOOL_ARG_STR: {
            size_t len = strlen(a->v.s);
            memcpy(strings, a->v.s, len + 1);
            v->kind = KP_V_STR;
            v->as.s.ptr = strings;
            v->as.s.len = len;
            strings += len + 1;
            break;
        }
        case KPOOL_ARG_ARRAY:
            v->kind = KP_V_NUMS;
            v->as.nums.data = a->v.array.data;
            v->as.nums.len = a->v.array.len;
            v->as.nums.type = (kp_type)a->v.array.type;
            break;
        }
    }
}

/* ---- handles ---------------------------------------------------------- */

static void link_handle(kpool_pool_t *pool, kpool_async_t *h)
{
    h->pool = pool;
    h->next = pool->handles;
    if (pool->handles)
        pool->handles->prev = h;
    pool->handles = h;
}

static void unlink_handle(kpool_async_t *h)
{
    if (!h->pool)
        return;
    if (h->prev)
        h->prev->next = h->next;
    else
        h->pool->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->prev = h->next = NULL;
    h->pool = NULL;
}

static void enqueue(kpool_pool_t *pool, kpool_async_t *h)
{
    h->qprev = pool->qtail;
    h->qnext = NULL;
    if (pool->qtail)
        pool->qtail->qnext = h;
    else
        pool->qhead = h;
    pool->qtail = h;
    h->queued = true;
}

static void dequeue(kpool_pool_t *pool, kpool_async_t *h)
{
    if (h->qprev)
        h->qprev->qnext = h->qnext;
    else
        pool->qhead = h->qnext;
    if (h->qnext)
        h->qnext->qprev = h->qprev;
    else
        pool->qtail = h->qprev;
    h->qprev = h->qnext = NULL;
    h->queued = false;
}

static void handle_destroy(kpool_async_t *h)
{
    for (size_t i = 0; i < h->ntexts; i++)
        free(h->texts[i]);
    free(h->texts);
    free(h->order);
    free(h);
}

/* Makes a handle for n tasks of nargs checked arguments and queues it (a
 * handle without tasks is done at once). `outcomes` is the caller's array
 * for a sync call, NULL for one of the handle's own. */
static int submit(kpool_pool_t *pool, kpool_kernel_t *k, const kpool_arg_t *args, size_t n,
                  size_t nargs, size_t strbytes, kpool_outcome_t *outcomes, bool iterator,
                  kpool_async_t **out)
{
    size_t size = sizeof(kpool_async_t);
    size_t count = n && nargs > SIZE_MAX / n ? SIZE_MAX : n * nargs;
    size_t values_at = count == SIZE_MAX ? SIZE_MAX : reserve(&size, count, sizeof(kp_value));
    size_t outcomes_at = outcomes ? 0 : reserve(&size, n, sizeof(kpool_outcome_t));
    size_t strings_at = reserve(&size, strbytes, 1);
    kpool_async_t *h = NULL;
    if (values_at != SIZE_MAX && outcomes_at != SIZE_MAX && strings_at != SIZE_MAX)
        h = calloc(1, size);
    if (h && iterator && !(h->order = malloc((n ? n : 1) * sizeof *h->order))) {
        free(h);
        h = NULL;
    }
    if (!h)
        return kp_err_set(&pool->err, KPOOL_ENOMEM, "out of memory queueing %zu task%s", n,
                          plural(n));
    unsigned char *base = (unsigned char *)h;
    h->kernel = k;
    h->n = n;
    h->nargs = nargs;
    h->values = (kp_value *)(base + values_at);
    h->outcomes = outcomes ? outcomes : (kpool_outcome_t *)(base + outcomes_at);
    convert_args(args, count, h->values, (char *)(base + strings_at));
    link_handle(pool, h);
    if (n)
        enqueue(pool, h);
    *out = h;
    return 0;
}

/* Keeps a copy of an outcome's text with the handle. */
static const char *keep_text(kpool_async_t *h, const char *s)
{
    if (!s)
        return NULL;
    if (h->ntexts == h->captexts) {
        size_t cap = h->captexts ? 2 * h->captexts : 4;
        char **texts = realloc(h->texts, cap * sizeof *texts);
        if (!texts)
            return NULL;
        h->texts = texts;
        h->captexts = cap;
    }
    char *copy = strdup(s);
    if (copy)
        h->texts[h->ntexts++] = copy;
    return copy;
}

/* Stores task `i`'s outcome in the handle. Returns false when a string could
 * not be copied (the outcome is stored without it). */
static bool record_outcome(kpool_async_t *h, size_t i, const kp_outcome *o)
{
    kpool_outcome_t *dst = &h->outcomes[i];
    memset(dst, 0, sizeof *dst);
    dst->index = i;
    dst->kind = (kpool_task_kind_t)o->kind;
    dst->type = (kpool_type_t)h->kernel->k.sig.ret;
    dst->signal = o->signal;
    dst->attempts = o->attempts;
    bool ok = true;
    if (o->kind == KP_TASK_OK) {
        switch (o->type) {
        case KP_T_BOOL:
            dst->value.b = o->value.b;
            break;
        case KP_T_I8:
        case KP_T_I16:
        case KP_T_I32:
        case KP_T_I64:
            dst->value.i = o->value.i;
            break;
        case KP_T_U8:
        case KP_T_U16:
        case KP_T_U32:
        case KP_T_U64:
            dst->value.u = o->value.u;
            break;
        case KP_T_F32:
            dst->value.f32 = o->value.f32;
            break;
        case KP_T_F64:
            dst->value.f = o->value.f64;
            break;
        case KP_T_STR:
            dst->str = keep_text(h, o->str ? o->str : "");
            ok = dst->str != NULL;
            break;
        default:
            break;
        }
    } else {
        dst->message = keep_text(h, o->message ? o->message : "");
        ok = dst->message != NULL;
    }
    if (h->order)
        h->order[h->done] = i;
    h->done++;
    if (o->kind != KP_TASK_OK)
        h->failed++;
    return ok;
}

static void call_back(const kpool_async_t *h, size_t i)
{
    const kpool_outcome_t *o = &h->outcomes[i];
    kpool_result_cb cb = o->kind == KPOOL_TASK_OK ? h->on_result : h->on_error;
    if (cb)
        cb(o, h->user);
}

/* Gives every task of a submission that never ran a NOT_RUN outcome. */
static void drop_rest(kpool_async_t *h, const char *why)
{
    for (size_t i = h->done; i < h->n; i++) {
        kp_outcome o = {.index = i, .kind = KP_TASK_NOT_RUN, .message = why};
        record_outcome(h, i, &o);
    }
}

/* Drops every queued submission: its tasks become NOT_RUN, no callbacks. */
static void drop_queue(kpool_pool_t *pool, const char *why)
{
    while (pool->qhead) {
        kpool_async_t *h = pool->qhead;
        dequeue(pool, h);
        drop_rest(h, why);
        if (h->detached) {
            unlink_handle(h);
            handle_destroy(h);
        }
    }
}

/* ---- running ------------------------------------------------------------ */

typedef struct batch {
    kpool_pool_t *pool;
    kpool_kernel_t *kernel;
    kpool_async_t **subs;
    size_t *starts; /* the batch index of each submission's first task */
    size_t nsubs, total;
    size_t last;    /* the submission found last: outcomes come in runs */
    size_t dropped; /* tasks kpool_terminate dropped */
    unsigned char *decided;
} batch;

/* The submission that batch task `index` belongs to. */
static size_t find_sub(batch *b, size_t index)
{
    size_t s = b->last;
    if (index >= b->starts[s] && index < b->starts[s] + b->subs[s]->n)
        return s;
    size_t lo = 0, hi = b->nsubs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->starts[mid] <= index)
            lo = mid;
        else
            hi = mid;
    }
    b->last = lo;
    return lo;
}

static int sink_emit(const kp_outcome *o, void *user, kp_err *err)
{
    batch *b = user;
    size_t s = find_sub(b, o->index);
    kpool_async_t *h = b->subs[s];
    size_t i = o->index - b->starts[s];
    b->decided[o->index / 8] |= (unsigned char)(1u << (o->index % 8));
    kp_outcome copy = *o;
    if (b->pool->terminate_requested && o->kind == KP_TASK_NOT_RUN) {
        copy.message = DROPPED_BY_TERMINATE;
        b->dropped++;
    }
    if (!record_outcome(h, i, &copy))
        return kp_err_set(err, KPOOL_ENOMEM, "out of memory keeping the outcome of task %zu", i);
    /* After kpool_terminate, outcomes are still kept but nobody is told. */
    if (!b->pool->terminate_requested)
        call_back(h, i);
    return 0;
}

/* Takes the queued submissions of the first queued kernel out of the queue,
 * in order, into *b. */
static int take_batch(kpool_pool_t *pool, batch *b, kp_err *err)
{
    memset(b, 0, sizeof *b);
    b->pool = pool;
    b->kernel = pool->qhead->kernel;
    for (kpool_async_t *h = pool->qhead; h; h = h->qnext) {
        if (h->kernel != b->kernel)
            continue;
        b->nsubs++;
        b->total += h->n;
    }
    b->subs = malloc(b->nsubs * sizeof *b->subs);
    b->starts = malloc(b->nsubs * sizeof *b->starts);
    b->decided = calloc(b->total / 8 + 1, 1);
    if (!b->subs || !b->starts || !b->decided) {
        free(b->subs);
        free(b->starts);
        free(b->decided);
        return kp_err_set(err, KPOOL_ENOMEM, "out of memory starting a run of %zu task%s", b->total,
                          plural(b->total));
    }
    size_t s = 0, start = 0;
    for (kpool_async_t *h = pool->qhead, *next; h; h = next) {
        next = h->qnext;
        if (h->kernel != b->kernel)
            continue;
        dequeue(pool, h);
        h->in_run = true;
        b->subs[s] = h;
        b->starts[s++] = start;
        start += h->n;
    }
    return 0;
}

/* Consumes the SIGTERM raised to stop a run, if the program's signal mask
 * kept it pending past the run. */
static void consume_raised_term(kpool_pool_t *pool)
{
    if (!pool->raised_term)
        return;
    pool->raised_term = false;
    sigset_t pending, term;
    sigemptyset(&pending);
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGTERM)) {
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        struct timespec zero = {0, 0};
        sigtimedwait(&term, NULL, &zero);
    }
}

/* Runs one batch to its end. Returns 0 or KPOOL_EFAILED (tasks failed) when
 * the run itself worked, else the run's error with its sentence in *err. */
static int run_batch(kpool_pool_t *pool, batch *b, kp_err *err)
{
    kp_value *records = malloc((b->total ? b->total : 1) * sizeof *records);
    if (!records)
        return kp_err_set(err, KPOOL_ENOMEM, "out of memory starting a run of %zu task%s", b->total,
                          plural(b->total));
    for (size_t s = 0; s < b->nsubs; s++) {
        const kpool_async_t *h = b->subs[s];
        for (size_t i = 0; i < h->n; i++) {
            kp_value *r = &records[b->starts[s] + i];
            memset(r, 0, sizeof *r);
            r->kind = KP_V_LIST;
            r->as.list.items = h->values + i * h->nargs;
            r->as.list.len = h->nargs;
        }
    }
    kp_input *input = NULL;
    int rc = kp_input_from_records(&input, records, b->total, err);
    if (rc < 0) {
        free(records);
        return rc;
    }
    kp_task_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.input = input;
    ctx.args = &b->kernel->args;
    ctx.kernel = &b->kernel->k;
    kp_arena_init(&ctx.arena);
    rc = kp_task_prepare(&ctx, err);
    if (rc == 0) {
        const kpool_options_t *o = &pool->opts;
        kp_pool_config cfg = {
            .workers = o->workers,
            .chunksize = o->chunksize,
            .max_tasks_per_worker = o->max_tasks_per_worker,
            .task_timeout = o->task_timeout,
            .retries = o->retries,
            .stop_on_error = o->stop_on_error != 0,
            .completion_order = true,
            .initializer = pool->init_kernel ? &pool->init_kernel->k : NULL,
            .initargs = &pool->init_args,
            .worker_nice = o->worker_nice,
        };
        kp_pool_sink sink = {.emit = sink_emit, .user = b};
        kp_pool_stats stats;
        pool->in_engine = true;
        rc = kp_pool_run(&cfg, &ctx, b->total, &sink, &stats, err);
        pool->in_engine = false;
        consume_raised_term(pool);
        if (rc == KPOOL_EINTR && !pool->terminate_requested)
            kp_err_set(err, KPOOL_EINTR, "the run was interrupted by %s",
                       stats.interrupted_by == SIGTERM ? "SIGTERM" : "SIGINT");
        else if (rc == KPOOL_EINTR || (rc == KPOOL_EFAILED && !err->code))
            rc = KPOOL_EFAILED; /* tasks failed or were dropped: the run worked */
    }
    kp_task_release(&ctx);
    kp_input_close(input);
    free(records);
    return rc;
}

/* Finishes a batch: tasks without an outcome get NOT_RUN (with on_error when
 * the run broke, silently when they were dropped), then handles nobody holds
 * are freed. Returns the number of tasks that did not succeed, not counting
 * those kpool_terminate dropped. */
static size_t end_batch(kpool_pool_t *pool, batch *b, const char *broken)
{
    for (size_t s = 0; s < b->nsubs; s++) {
        kpool_async_t *h = b->subs[s];
        for (size_t i = 0; i < h->n && h->done < h->n; i++) {
            size_t g = b->starts[s] + i;
            if (b->decided[g / 8] & (1u << (g % 8)))
                continue;
            b->decided[g / 8] |= (unsigned char)(1u << (g % 8));
            bool dropped = pool->terminate_requested;
            kp_outcome o = {.index = i, .kind = KP_TASK_NOT_RUN};
            o.message = dropped  ? DROPPED_BY_TERMINATE
                        : broken ? broken
                                 : "the run ended before this task ran";
            record_outcome(h, i, &o);
            if (dropped)
                b->dropped++;
            else
                call_back(h, i);
        }
    }
    size_t failed = 0;
    for (size_t s = 0; s < b->nsubs; s++) {
        kpool_async_t *h = b->subs[s];
        failed += h->failed;
        h->in_run = false;
        if (h->detached) {
            unlink_handle(h);
            handle_destroy(h);
        }
    }
    free(b->subs);
    free(b->starts);
    free(b->decided);
    return failed - b->dropped;
}

/* After a run broke: every queued task becomes NOT_RUN, with on_error (they
 * were accepted, and now they fail). Returns how many there were. */
static size_t fail_queue(kpool_pool_t *pool, const char *why)
{
    size_t failed = 0;
    while (pool->qhead && !pool->terminate_requested) {
        kpool_async_t *h = pool->qhead;
        dequeue(pool, h);
        h->in_run = true; /* its callbacks may free it */
        size_t first = h->done;
        drop_rest(h, why);
        failed += h->done - first;
        for (size_t k = first; k < h->n; k++)
            call_back(h, k);
        h->in_run = false;
        if (h->detached) {
            unlink_handle(h);
            handle_destroy(h);
        }
    }
    return failed;
}

/* Runs the queue until it is empty (callbacks may add to it meanwhile).
 * Returns 0, or the error of a run that broke, with its sentence in
 * pool->err; a broken run fails every task still queued (NOT_RUN, with
 * on_error). *failed counts the tasks that did not succeed. */
static int run_queue(kpool_pool_t *pool, const char *fn, size_t *failed)
{
    *failed = 0;
    if (pool->running)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "%s: called from a result callback; a callback may submit work, but "
                          "not wait for it",
                          fn);
    pool->running = true;
    kp_err err;
    kp_err_clear(&err);
    int rc = 0;
    while (pool->qhead && !pool->terminate_requested) {
        batch b;
        if ((rc = take_batch(pool, &b, &err)) < 0)
            break;
        rc = run_batch(pool, &b, &err);
        /* KPOOL_EFAILED without a sentence: tasks failed, the run worked.
         * With one: the initializer failed, so no task of the batch ran. */
        bool broke = rc < 0 && (rc != KPOOL_EFAILED || err.code);
        char why[KP_ERR_MAX + 16];
        snprintf(why, sizeof why, "not run: %s", err.msg);
        *failed += end_batch(pool, &b, broke ? why : NULL);
        if (broke)
            break;
        rc = 0;
    }
    if (rc < 0) {
        char why[KP_ERR_MAX + 16];
        snprintf(why, sizeof why, "not run: %s", err.msg);
        *failed += fail_queue(pool, why);
    }
    if (pool->terminate_requested) {
        drop_queue(pool, DROPPED_BY_TERMINATE);
        pool->terminate_requested = false;
    }
    pool->running = false;
    /* A callback's refused call may have left a sentence: it was for the
     * callback to read, not about this call. */
    if (rc < 0)
        pool->err = err;
    else
        kp_err_clear(&pool->err);
    return rc;
}

/* ---- calls -------------------------------------------------------------- */

/* The kernel and its arguments, as every call that takes work checks them. */
static int check_work(kpool_pool_t *pool, const char *fn, const kpool_kernel_t *k,
                      const kpool_arg_t *args, size_t n, size_t nargs, size_t *strbytes)
{
    if (!k)
        return kp_err_set(&pool->err, KPOOL_EINVAL, "%s: no kernel given", fn);
    const kpool_kernel_t *mine = pool->kernels;
    while (mine && mine != k)
        mine = mine->next;
    if (!mine)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "%s: kernel %s was loaded by another pool; load it with "
                          "kpool_kernel_load on this one",
                          fn, k->k.name);
    int rc = check_arity(pool, fn, k, nargs);
    if (rc == 0)
        rc = check_args(pool, fn, k, args, n, nargs, strbytes);
    return rc;
}

/* ... and, before anything is queued, that the pool takes work. */
static int check_call(kpool_pool_t *pool, const char *fn, const kpool_kernel_t *k,
                      const kpool_arg_t *args, size_t n, size_t nargs, size_t *strbytes)
{
    if (pool->state != POOL_OPEN)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "%s: the pool is %s and takes no more work; open a new pool", fn,
                          pool->state == POOL_CLOSED ? "closed" : "terminated");
    return check_work(pool, fn, k, args, n, nargs, strbytes);
}

static int sync_call(kpool_pool_t *pool, const char *fn, kpool_kernel_t *k, const kpool_arg_t *args,
                     size_t n, size_t nargs, kpool_outcome_t *out)
{
    if (!pool)
        return KPOOL_EINVAL;
    begin(pool);
    size_t strbytes = 0;
    int rc = check_call(pool, fn, k, args, n, nargs, &strbytes);
    if (rc < 0)
        return rc;
    if (n && !out)
        return kp_err_set(&pool->err, KPOOL_EINVAL, "%s: out is NULL; give room for %zu outcome%s",
                          fn, n, plural(n));
    if (pool->running)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "%s: called from a result callback; a callback may submit async work, "
                          "but not run a sync call",
                          fn);
    kpool_async_t *h;
    if ((rc = submit(pool, k, args, n, nargs, strbytes, out, false, &h)) < 0)
        return rc;
    /* The last sync call's strings live until this one: now. */
    if (pool->last_sync) {
        unlink_handle(pool->last_sync);
        handle_destroy(pool->last_sync);
    }
    pool->last_sync = h;
    size_t failed;
    if ((rc = run_queue(pool, fn, &failed)) < 0)
        return rc;
    return h->failed ? KPOOL_EFAILED : 0;
}

int kpool_apply(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args, size_t nargs,
                kpool_outcome_t *out)
{
    return sync_call(pool, "kpool_apply", kernel, args, 1, nargs, out);
}

int kpool_map(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *items, size_t n,
              kpool_outcome_t *out)
{
    return sync_call(pool, "kpool_map", kernel, items, n, 1, out);
}

int kpool_starmap(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args, size_t n,
                  size_t nargs, kpool_outcome_t *out)
{
    return sync_call(pool, "kpool_starmap", kernel, args, n, nargs, out);
}

static int async_call(kpool_pool_t *pool, const char *fn, kpool_kernel_t *k,
                      const kpool_arg_t *args, size_t n, size_t nargs, kpool_result_cb on_result,
                      kpool_result_cb on_error, void *user, kpool_async_t **out)
{
    if (out)
        *out = NULL;
    if (!pool)
        return KPOOL_EINVAL;
    begin(pool);
    size_t strbytes = 0;
    int rc = check_call(pool, fn, k, args, n, nargs, &strbytes);
    kpool_async_t *h;
    if (rc < 0 || (rc = submit(pool, k, args, n, nargs, strbytes, NULL, false, &h)) < 0)
        return rc;
    h->on_result = on_result;
    h->on_error = on_error;
    h->user = user;
    if (out) {
        *out = h;
    } else if (h->done == h->n) {
        unlink_handle(h); /* nothing to run and nobody to tell */
        handle_destroy(h);
    } else {
        h->detached = true;
    }
    return 0;
}

int kpool_apply_async(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args,
                      size_t nargs, kpool_result_cb on_result, kpool_result_cb on_error, void *user,
                      kpool_async_t **out)
{
    return async_call(pool, "kpool_apply_async", kernel, args, 1, nargs, on_result, on_error, user,
                      out);
}

int kpool_map_async(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *items, size_t n,
                    kpool_result_cb on_result, kpool_result_cb on_error, void *user,
                    kpool_async_t **out)
{
    return async_call(pool, "kpool_map_async", kernel, items, n, 1, on_result, on_error, user, out);
}

int kpool_starmap_async(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args,
                        size_t n, size_t nargs, kpool_result_cb on_result, kpool_result_cb on_error,
                        void *user, kpool_async_t **out)
{
    return async_call(pool, "kpool_starmap_async", kernel, args, n, nargs, on_result, on_error,
                      user, out);
}

/* ---- handles ---------------------------------------------------------- */

int kpool_async_wait(kpool_async_t *h, double timeout_seconds)
{
    if (!h)
        return KPOOL_EINVAL;
    if (h->done == h->n)
        return 0;
    if (timeout_seconds == 0)
        return KPOOL_ETIMEDOUT;
    /* A handle without outcomes is queued or in the run: its pool lives. */
    kpool_pool_t *pool = h->pool;
    begin(pool);
    size_t failed;
    return run_queue(pool, "kpool_async_wait", &failed);
}

int kpool_async_ready(const kpool_async_t *h)
{
    return h && h->done == h->n;
}

int kpool_async_successful(const kpool_async_t *h)
{
    if (!h || h->done < h->n)
        return KPOOL_EINVAL;
    return h->failed == 0;
}

int kpool_async_get(kpool_async_t *h, const kpool_outcome_t **outcomes, size_t *n)
{
    if (!h)
        return KPOOL_EINVAL;
    int rc = kpool_async_wait(h, -1);
    if (h->done < h->n)
        return rc;
    if (outcomes)
        *outcomes = h->outcomes;
    if (n)
        *n = h->n;
    if (rc < 0)
        return rc;
    return h->failed ? KPOOL_EFAILED : 0;
}

void kpool_async_free(kpool_async_t *h)
{
    if (!h)
        return;
    if (h->in_run) {
        h->detached = true; /* the batch frees it when it ends */
        return;
    }
    if (h->queued)
        dequeue(h->pool, h);
    unlink_handle(h);
    handle_destroy(h);
}

/* ---- iterators -------------------------------------------------------- */

static int iter_call(kpool_pool_t *pool, const char *fn, kpool_kernel_t *k, const kpool_arg_t *args,
                     size_t n, size_t nargs, bool ordered, kpool_iter_t **out)
{
    if (out)
        *out = NULL;
    if (!pool)
        return KPOOL_EINVAL;
    begin(pool);
    if (!out)
        return kp_err_set(&pool->err, KPOOL_EINVAL, "%s: out is NULL", fn);
    size_t strbytes = 0;
    int rc = check_call(pool, fn, k, args, n, nargs, &strbytes);
    if (rc < 0)
        return rc;
    kpool_iter_t *it = calloc(1, sizeof *it);
    if (!it)
        return kp_err_set(&pool->err, KPOOL_ENOMEM, "%s: out of memory", fn);
    if ((rc = submit(pool, k, args, n, nargs, strbytes, NULL, !ordered, &it->h)) < 0) {
        free(it);
        return rc;
    }
    it->ordered = ordered;
    *out = it;
    return 0;
}

int kpool_imap_unordered(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args,
                         size_t n, size_t nargs, kpool_iter_t **out)
{
    return iter_call(pool, "kpool_imap_unordered", kernel, args, n, nargs, false, out);
}

int kpool_imap(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args, size_t n,
               size_t nargs, kpool_iter_t **out)
{
    return iter_call(pool, "kpool_imap", kernel, args, n, nargs, true, out);
}

int kpool_iter_next(kpool_iter_t *it, kpool_outcome_t *out)
{
    if (!it || !out)
        return KPOOL_EINVAL;
    kpool_async_t *h = it->h;
    if (h->done < h->n) {
        /* A run that broke is reported once; its outcomes follow. */
        int rc = kpool_async_wait(h, -1);
        if (rc < 0)
            return rc;
    }
    if (it->pos >= h->n)
        return 0;
    size_t i = it->ordered ? it->pos : h->order[it->pos];
    it->pos++;
    *out = h->outcomes[i];
    return 1;
}

void kpool_iter_free(kpool_iter_t *it)
{
    if (!it)
        return;
    kpool_async_free(it->h);
    free(it);
}

/* ---- initializer ---------------------------------------------------------- */

int kpool_pool_set_initializer(kpool_pool_t *pool, kpool_kernel_t *kernel, const kpool_arg_t *args,
                               size_t nargs)
{
    static const char fn[] = "kpool_pool_set_initializer";
    if (!pool)
        return KPOOL_EINVAL;
    begin(pool);
    if (pool->running)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "%s: called from a result callback, while a run uses the initializer",
                          fn);
    kp_template t;
    memset(&t, 0, sizeof t);
    kp_arena_init(&t.arena);
    if (kernel) {
        size_t strbytes = 0;
        int rc = check_work(pool, fn, kernel, args, 1, nargs, &strbytes);
        if (rc < 0)
            return rc;
        kp_value *values = kp_arena_alloc(&t.arena, (nargs ? nargs : 1) * sizeof *values);
        char *strings = kp_arena_alloc(&t.arena, strbytes ? strbytes : 1);
        t.items = kp_arena_alloc(&t.arena, (nargs ? nargs : 1) * sizeof *t.items);
        if (!values || !strings || !t.items) {
            kp_template_free(&t);
            return kp_err_set(&pool->err, KPOOL_ENOMEM, "%s: out of memory", fn);
        }
        convert_args(args, nargs, values, strings);
        memset(t.items, 0, (nargs ? nargs : 1) * sizeof *t.items);
        for (size_t i = 0; i < nargs; i++) {
            t.items[i].kind = KP_ARG_LITERAL;
            t.items[i].literal = values[i];
        }
        t.n = nargs;
    }
    kp_template_free(&pool->init_args);
    pool->init_args = t;
    pool->init_kernel = kernel;
    return 0;
}

/* ---- pool life ---------------------------------------------------------- */

int kpool_close(kpool_pool_t *pool)
{
    if (!pool)
        return KPOOL_EINVAL;
    begin(pool);
    if (pool->state == POOL_OPEN)
        pool->state = POOL_CLOSED;
    return 0;
}

int kpool_join(kpool_pool_t *pool)
{
    if (!pool)
        return KPOOL_EINVAL;
    begin(pool);
    if (pool->state == POOL_OPEN)
        return kp_err_set(&pool->err, KPOOL_EINVAL,
                          "kpool_join: the pool is still open; call kpool_close or "
                          "kpool_terminate first");
    size_t failed;
    int rc = run_queue(pool, "kpool_join", &failed);
    if (rc < 0)
        return rc;
    return failed ? KPOOL_EFAILED : 0;
}

int kpool_terminate(kpool_pool_t *pool)
{
    if (!pool)
        return KPOOL_EINVAL;
    begin(pool);
    pool->state = POOL_TERMINATED;
    if (!pool->running) {
        drop_queue(pool, DROPPED_BY_TERMINATE);
        return 0;
    }
    /* From a callback: run_queue drops the queue when the callback returns.
     * A run in progress is stopped the way SIGTERM stops it (workers are
     * told to stop, then killed), by raising SIGTERM in this thread, where
     * kp_pool_run keeps it blocked until its poll. */
    pool->terminate_requested = true;
    if (pool->in_engine && !pool->raised_term) {
        pool->raised_term = true;
        raise(SIGTERM);
    }
    return 0;
}

void kpool_pool_free(kpool_pool_t *pool)
{
    if (!pool)
        return;
    drop_queue(pool, DROPPED_BY_FREE);
    while (pool->handles) {
        kpool_async_t *h = pool->handles;
        bool ours = h->detached || h == pool->last_sync;
        unlink_handle(h);
        if (ours)
            handle_destroy(h);
    }
    while (pool->kernels) {
        kpool_kernel_t *k = pool->kernels;
        pool->kernels = k->next;
        kp_template_free(&k->args);
        free(k);
    }
    kp_template_free(&pool->init_args);
    while (pool->plugins) {
        plugin_ref *ref = pool->plugins;
        pool->plugins = ref->next;
        kp_plugin_close(&ref->plugin);
        free(ref);
    }
    free(pool);
}
