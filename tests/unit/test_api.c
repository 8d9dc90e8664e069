/* The embedding API: each snippet of the seed (apply, map, starmap,
 * apply_async with a callback, map_async, starmap_async, imap_unordered,
 * close/join, terminate) through kpool.h, on rows made here with expected
 * counts from a plain loop; then failures, errors and the in-memory input
 * the API runs on. The pool forks this process: nothing here asserts in a
 * worker, only on what comes back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "input.h"

#include <kpool/kpool.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define SEED_PLUGIN KP_SOURCE_DIR "/plugins/libseed.so"
#define TEST_PLUGIN KP_TEST_PLUGIN_DIR "/libtestkernels.so"
#define ROWS        1000
#define COLS        5

/* ---- the data: ROWS x COLS integers in 0..9 from an LCG --------------- */

static int64_t data[ROWS][COLS];
static int64_t expected[ROWS]; /* how many of each row lie in [4, 8] */

static void make_data(void)
{
    uint64_t state = 12345;
    for (size_t r = 0; r < ROWS; r++) {
        expected[r] = 0;
        for (size_t c = 0; c < COLS; c++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            data[r][c] = (int64_t)((state >> 33) % 10);
            expected[r] += data[r][c] >= 4 && data[r][c] <= 8;
        }
    }
}

typedef struct fixture {
    kpool_pool_t *pool;
    kpool_kernel_t *count;   /* howmany_within_range(row, minimum, maximum) */
    kpool_kernel_t *rowonly; /* howmany_within_range_rowonly(row) */
    kpool_arg_t tuples[ROWS][3];
    kpool_arg_t rows[ROWS];
} fixture;

static kpool_pool_t *open_pool(int workers)
{
    kpool_options_t opts = KPOOL_OPTIONS_INIT;
    opts.workers = workers;
    kpool_pool_t *pool = NULL;
    assert_int_equal(kpool_pool_open(&pool, &opts), 0);
    assert_non_null(pool);
    return pool;
}

static kpool_kernel_t *load(kpool_pool_t *pool, const char *plugin, const char *name)
{
    kpool_kernel_t *k = NULL;
    int rc = kpool_kernel_load(pool, plugin, name, NULL, &k);
    if (rc != 0)
        fail_msg("%s", kpool_pool_error(pool));
    assert_non_null(k);
    return k;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->pool = open_pool(2);
    f->count = load(f->pool, SEED_PLUGIN, "howmany_within_range");
    f->rowonly = load(f->pool, SEED_PLUGIN, "howmany_within_range_rowonly");
    for (size_t r = 0; r < ROWS; r++) {
        f->tuples[r][0] = kpool_array_i64(data[r], COLS);
        f->tuples[r][1] = kpool_i64(4);
        f->tuples[r][2] = kpool_i64(8);
        f->rows[r] = kpool_array_i64(data[r], COLS);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kpool_pool_free(f->pool);
    free(f);
    return 0;
}

/* ---- callbacks that record what they see --------------------------------- */

typedef struct pair {
    size_t i;
    int64_t result;
} pair;

typedef struct collector {
    pair *pairs;
    size_t n, errors;
    size_t cap;
} collector;

/* What the seed's howmany_within_range2 returns, (i, count): the row's
 * number travels in `user`. */
typedef struct tag {
    collector *c;
    size_t i;
} tag;

static void collect_result(const kpool_outcome_t *o, void *user)
{
    tag *t = user;
    if (t->c->n < t->c->cap)
        t->c->pairs[t->c->n] = (pair){t->i, o->value.i};
    t->c->n++;
}

static void collect_error(const kpool_outcome_t *o, void *user)
{
    (void)o;
    ((tag *)user)->c->errors++;
}

static int by_index(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* For map_async / starmap_async: the outcome's index is the task's. */
typedef struct seen {
    size_t ok, errors, calls;
    unsigned char hits[ROWS];
    int64_t values[ROWS];
    kpool_task_kind_t kinds[ROWS];
    char message[256];
} seen;

static void seen_result(const kpool_outcome_t *o, void *user)
{
    seen *s = user;
    s->calls++;
    s->ok++;
    if (o->index < ROWS) {
        s->hits[o->index]++;
        s->values[o->index] = o->value.i;
        s->kinds[o->index] = o->kind;
    }
}

static void seen_error(const kpool_outcome_t *o, void *user)
{
    seen *s = user;
    s->calls++;
    s->errors++;
    if (o->index < ROWS) {
        s->hits[o->index]++;
        s->kinds[o->index] = o->kind;
    }
    snprintf(s->message, sizeof s->message, "%s", o->message ? o->message : "(null)");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the seed's snippets --------------------------------------------------- */

/* results = [pool.apply(howmany_within_range, args=(row, 4, 8)) for row in data[:20]] */
static void test_apply_counts_each_row(void **state)
{
    fixture *f = *state;
    for (size_t r = 0; r < 20; r++) {
        kpool_outcome_t o;
        assert_int_equal(kpool_apply(f->pool, f->count, f->tuples[r], 3, &o), 0);
        assert_int_equal(o.kind, KPOOL_TASK_OK);
        assert_int_equal(o.index, 0);
        assert_int_equal(o.type, KPOOL_TYPE_I64);
        assert_int_equal(o.attempts, 1);
        assert_null(o.message);
        assert_int_equal(o.value.i, expected[r]);
    }
}

/* results = pool.map(howmany_within_range_rowonly, [row for row in data]) */
static void test_map_rowonly_gives_input_order(void **state)
{
    fixture *f = *state;
    static kpool_outcome_t out[ROWS];
    assert_int_equal(kpool_map(f->pool, f->rowonly, f->rows, ROWS, out), 0);
    for (size_t r = 0; r < ROWS; r++) {
        assert_int_equal(out[r].index, r);
        assert_int_equal(out[r].kind, KPOOL_TASK_OK);
        assert_int_equal(out[r].value.i, expected[r]);
    }
}

/* results = pool.starmap(howmany_within_range, [(row, 4, 8) for row in data]) */
static void test_starmap_matches_plain_loop(void **state)
{
    fixture *f = *state;
    static kpool_outcome_t out[ROWS];
    assert_int_equal(kpool_starmap(f->pool, f->count, &f->tuples[0][0], ROWS, 3, out), 0);
    for (size_t r = 0; r < ROWS; r++) {
        assert_int_equal(out[r].index, r);
        assert_int_equal(out[r].value.i, expected[r]);
    }
}

/* for i, row in enumerate(data):
 *     pool.apply_async(howmany_within_range2, args=(i, row, 4, 8), callback=collect_result)
 * pool.close(); pool.join(); results.sort(key=lambda x: x[0]) */
static void test_apply_async_callbacks_then_close_join(void **state)
{
    fixture *f = *state;
    static pair pairs[ROWS];
    static tag tags[ROWS];
    collector c = {.pairs = pairs, .cap = ROWS};
    for (size_t r = 0; r < ROWS; r++) {
        tags[r] = (tag){&c, r};
        assert_int_equal(kpool_apply_async(f->pool, f->count, f->tuples[r], 3, collect_result,
                                           collect_error, &tags[r], NULL),
                         0);
    }
    assert_int_equal(c.n, 0); /* queued: nothing runs before the program waits */
    assert_int_equal(kpool_close(f->pool), 0);
    assert_int_equal(kpool_join(f->pool), 0);
    assert_int_equal(c.n, ROWS);
    assert_int_equal(c.errors, 0);
    qsort(pairs, ROWS, sizeof *pairs, by_index);
    for (size_t r = 0; r < ROWS; r++) {
        assert_int_equal(pairs[r].i, r);
        assert_int_equal(pairs[r].result, expected[r]);
    }
}

/* result_objects = [pool.apply_async(howmany_within_range, args=(row, 4, 8)) for row in data]
 * results = [r.get() for r in result_objects] */
static void test_apply_async_handles_get(void **state)
{
    fixture *f = *state;
    enum { N = 50 };
    kpool_async_t *h[N];
    for (size_t r = 0; r < N; r++)
        assert_int_equal(
            kpool_apply_async(f->pool, f->count, f->tuples[r], 3, NULL, NULL, NULL, &h[r]), 0);
    for (size_t r = 0; r < N; r++) {
        const kpool_outcome_t *o = NULL;
        size_t n = 0;
        assert_int_equal(kpool_async_get(h[r], &o, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(o[0].value.i, expected[r]);
        /* The first get ran the whole queue: every other handle is ready. */
        assert_int_equal(kpool_async_ready(h[N - 1]), 1);
    }
    for (size_t r = 0; r < N; r++)
        kpool_async_free(h[r]);
}

/* results = pool.map_async(howmany_within_range_rowonly, data, callback=...).get() */
static void test_map_async_callbacks_and_get(void **state)
{
    fixture *f = *state;
    static seen s;
    memset(&s, 0, sizeof s);
    kpool_async_t *h = NULL;
    assert_int_equal(
        kpool_map_async(f->pool, f->rowonly, f->rows, ROWS, seen_result, seen_error, &s, &h), 0);
    assert_int_equal(kpool_async_ready(h), 0);
    const kpool_outcome_t *o = NULL;
    size_t n = 0;
    assert_int_equal(kpool_async_get(h, &o, &n), 0);
    assert_int_equal(n, ROWS);
    assert_int_equal(s.ok, ROWS);
    assert_int_equal(s.errors, 0);
    for (size_t r = 0; r < ROWS; r++) {
        assert_int_equal(s.hits[r], 1);
        assert_int_equal(s.values[r], expected[r]);
        assert_int_equal(o[r].index, r);
        assert_int_equal(o[r].value.i, expected[r]);
    }
    assert_int_equal(kpool_async_successful(h), 1);
    kpool_async_free(h);
}

/* results = pool.starmap_async(howmany_within_range, [(row, 4, 8) ...]).get() */
static void test_starmap_async_callbacks(void **state)
{
    fixture *f = *state;
    static seen s;
    memset(&s, 0, sizeof s);
    kpool_async_t *h = NULL;
    assert_int_equal(kpool_starmap_async(f->pool, f->count, &f->tuples[0][0], ROWS, 3, seen_result,
                                         seen_error, &s, &h),
                     0);
    assert_int_equal(kpool_async_wait(h, -1), 0);
    assert_int_equal(s.calls, ROWS);
    for (size_t r = 0; r < ROWS; r++) {
        assert_int_equal(s.hits[r], 1);
        assert_int_equal(s.values[r], expected[r]);
    }
    const kpool_outcome_t *o = NULL;
    size_t n = 0;
    assert_int_equal(kpool_async_get(h, &o, &n), 0);
    assert_int_equal(s.calls, ROWS); /* get on a ready handle runs nothing again */
    assert_int_equal(n, ROWS);
    kpool_async_free(h);
}

/* for r in pool.imap_unordered(howmany_within_range_rowonly, data): ... */
static void test_imap_unordered_every_index_once(void **state)
{
    fixture *f = *state;
    kpool_iter_t *it = NULL;
    assert_int_equal(kpool_imap_unordered(f->pool, f->rowonly, f->rows, ROWS, 1, &it), 0);
    static unsigned char hits[ROWS];
    memset(hits, 0, sizeof hits);
    kpool_outcome_t o;
    size_t got = 0;
    int rc;
    while ((rc = kpool_iter_next(it, &o)) == 1) {
        assert_true(o.index < ROWS);
        hits[o.index]++;
        assert_int_equal(o.kind, KPOOL_TASK_OK);
        assert_int_equal(o.value.i, expected[o.index]);
        got++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(got, ROWS);
    for (size_t r = 0; r < ROWS; r++)
        assert_int_equal(hits[r], 1);
    assert_int_equal(kpool_iter_next(it, &o), 0); /* stays at the end */
    kpool_iter_free(it);
}

static void test_imap_gives_input_order(void **state)
{
    fixture *f = *state;
    kpool_iter_t *it = NULL;
    assert_int_equal(kpool_imap(f->pool, f->count, &f->tuples[0][0], 100, 3, &it), 0);
    kpool_outcome_t o;
    for (size_t r = 0; r < 100; r++) {
        assert_int_equal(kpool_iter_next(it, &o), 1);
        assert_int_equal(o.index, r);
        assert_int_equal(o.value.i, expected[r]);
    }
    assert_int_equal(kpool_iter_next(it, &o), 0);
    kpool_iter_free(it);
}

/* ---- the execution model ------------------------------------------------- */

/* Separate submissions run as one run: one set of workers for all of them. */
static void test_queue_runs_as_one_batch(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_kernel_t *pid = load(pool, TEST_PLUGIN, "worker_pid");
    enum { N = 40 };
    kpool_async_t *h[N];
    for (int64_t i = 0; i < N; i++) {
        kpool_arg_t a = kpool_i64(i);
        assert_int_equal(kpool_apply_async(pool, pid, &a, 1, NULL, NULL, NULL, &h[i]), 0);
    }
    assert_int_equal(kpool_async_wait(h[0], -1), 0);
    int64_t pids[N];
    size_t distinct = 0;
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(kpool_async_ready(h[i]), 1);
        const kpool_outcome_t *o;
        size_t n;
        assert_int_equal(kpool_async_get(h[i], &o, &n), 0);
        bool known = false;
        for (size_t k = 0; k < distinct; k++)
            known |= pids[k] == o[0].value.i;
        if (!known)
            pids[distinct++] = o[0].value.i;
        kpool_async_free(h[i]);
    }
    assert_true(distinct >= 1 && distinct <= 2);
    kpool_pool_free(pool);
}

/* A sync call runs what was queued before it, callbacks included. */
static void test_sync_call_runs_the_queue_first(void **state)
{
    fixture *f = *state;
    static pair pairs[4];
    collector c = {.pairs = pairs, .cap = 4};
    tag t = {&c, 7};
    kpool_async_t *h = NULL;
    assert_int_equal(
        kpool_apply_async(f->pool, f->count, f->tuples[7], 3, collect_result, NULL, &t, &h), 0);
    kpool_outcome_t o;
    assert_int_equal(kpool_apply(f->pool, f->count, f->tuples[8], 3, &o), 0);
    assert_int_equal(o.value.i, expected[8]);
    assert_int_equal(c.n, 1);
    assert_int_equal(pairs[0].result, expected[7]);
    assert_int_equal(kpool_async_ready(h), 1);
    kpool_async_free(h);
}

static void test_wait_timeout_zero_polls_without_running(void **state)
{
    fixture *f = *state;
    kpool_async_t *h = NULL;
    assert_int_equal(kpool_apply_async(f->pool, f->count, f->tuples[3], 3, NULL, NULL, NULL, &h),
                     0);
    assert_int_equal(kpool_async_wait(h, 0), KPOOL_ETIMEDOUT);
    assert_int_equal(kpool_async_ready(h), 0);
    assert_int_equal(kpool_async_successful(h), KPOOL_EINVAL);
    assert_int_equal(kpool_async_wait(h, 5.0), 0);
    assert_int_equal(kpool_async_ready(h), 1);
    assert_int_equal(kpool_async_successful(h), 1);
    /* Already finished: any timeout returns at once. */
    assert_int_equal(kpool_async_wait(h, 0), 0);
    assert_int_equal(kpool_async_wait(h, 0.001), 0);
    assert_int_equal(kpool_async_wait(h, -1), 0);
    assert_string_equal(kpool_strerror(KPOOL_ETIMEDOUT), "timed out");
    kpool_async_free(h);
}

static void test_empty_submissions_are_ready_at_once(void **state)
{
    fixture *f = *state;
    kpool_async_t *h = NULL;
    assert_int_equal(kpool_map_async(f->pool, f->rowonly, NULL, 0, NULL, NULL, NULL, &h), 0);
    assert_int_equal(kpool_async_ready(h), 1);
    assert_int_equal(kpool_async_successful(h), 1);
    const kpool_outcome_t *o = NULL;
    size_t n = 99;
    assert_int_equal(kpool_async_get(h, &o, &n), 0);
    assert_int_equal(n, 0);
    kpool_async_free(h);
    assert_int_equal(kpool_map(f->pool, f->rowonly, NULL, 0, NULL), 0);
    /* Without a handle and without tasks: nothing to keep. */
    assert_int_equal(kpool_starmap_async(f->pool, f->count, NULL, 0, 3, NULL, NULL, NULL, NULL), 0);
}

/* ---- pool life ----------------------------------------------------------- */

static void test_close_refuses_new_work_join_needs_close(void **state)
{
    fixture *f = *state;
    assert_int_equal(kpool_join(f->pool), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "still open"));
    assert_int_equal(kpool_close(f->pool), 0);
    static seen s;
    memset(&s, 0, sizeof s);
    kpool_async_t *h = (kpool_async_t *)&s; /* must be reset to NULL */
    assert_int_equal(
        kpool_apply_async(f->pool, f->count, f->tuples[0], 3, seen_result, seen_error, &s, &h),
        KPOOL_EINVAL);
    assert_null(h);
    assert_non_null(strstr(kpool_pool_error(f->pool), "kpool_apply_async: the pool is closed"));
    kpool_outcome_t o;
    assert_int_equal(kpool_apply(f->pool, f->count, f->tuples[0], 3, &o), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "closed"));
    assert_int_equal(kpool_join(f->pool), 0);
    assert_string_equal(kpool_pool_error(f->pool), "");
    assert_int_equal(s.calls, 0);
}

static void test_terminate_drops_pending_without_callbacks(void **state)
{
    fixture *f = *state;
    static seen s;
    memset(&s, 0, sizeof s);
    enum { N = 10 };
    kpool_async_t *h[N];
    for (size_t r = 0; r < N; r++)
        assert_int_equal(kpool_apply_async(f->pool, f->count, f->tuples[r], 3, seen_result,
                                           seen_error, &s, &h[r]),
                         0);
    kpool_iter_t *it = NULL;
    assert_int_equal(kpool_imap_unordered(f->pool, f->rowonly, f->rows, 5, 1, &it), 0);
    assert_int_equal(kpool_terminate(f->pool), 0);
    for (size_t r = 0; r < N; r++) {
        assert_int_equal(kpool_async_ready(h[r]), 1);
        assert_int_equal(kpool_async_successful(h[r]), 0);
        const kpool_outcome_t *o;
        size_t n;
        assert_int_equal(kpool_async_get(h[r], &o, &n), KPOOL_EFAILED);
        assert_int_equal(o[0].kind, KPOOL_TASK_NOT_RUN);
        assert_int_equal(o[0].attempts, 0);
        assert_non_null(strstr(o[0].message, "dropped by kpool_terminate"));
        kpool_async_free(h[r]);
    }
    kpool_outcome_t o;
    for (int k = 0; k < 5; k++) {
        assert_int_equal(kpool_iter_next(it, &o), 1);
        assert_int_equal(o.kind, KPOOL_TASK_NOT_RUN);
    }
    assert_int_equal(kpool_iter_next(it, &o), 0);
    kpool_iter_free(it);
    assert_int_equal(s.calls, 0);
    assert_int_equal(kpool_join(f->pool), 0);
    assert_int_equal(kpool_map(f->pool, f->rowonly, f->rows, 1, &o), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "terminated"));
}

typedef struct stopper {
    kpool_pool_t *pool;
    size_t results, errors;
} stopper;

static void terminate_on_first(const kpool_outcome_t *o, void *user)
{
    (void)o;
    stopper *s = user;
    if (s->results++ == 0)
        kpool_terminate(s->pool);
}

static void count_stop_error(const kpool_outcome_t *o, void *user)
{
    (void)o;
    ((stopper *)user)->errors++;
}

/* terminate from a callback stops the run: the 5 s task is killed. */
static void test_terminate_from_callback_stops_the_run(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_kernel_t *sleep_for = load(pool, TEST_PLUGIN, "sleep_for");
    enum { N = 12 };
    kpool_arg_t secs[N];
    for (size_t i = 0; i < N; i++)
        secs[i] = kpool_f64(i == 1 ? 5.0 : 0.01);
    stopper s = {.pool = pool};
    kpool_async_t *h = NULL, *later = NULL;
    assert_int_equal(
        kpool_map_async(pool, sleep_for, secs, N, terminate_on_first, count_stop_error, &s, &h), 0);
    /* Another kernel's work runs after this one's: it never starts. */
    kpool_kernel_t *pid = load(pool, TEST_PLUGIN, "worker_pid");
    kpool_arg_t x = kpool_i64(1);
    assert_int_equal(
        kpool_apply_async(pool, pid, &x, 1, terminate_on_first, count_stop_error, &s, &later), 0);
    double t0 = now_seconds();
    int rc = kpool_async_wait(h, -1);
    if (rc != 0)
        fail_msg("rc %d: %s", rc, kpool_pool_error(pool));
    double took = now_seconds() - t0;
    assert_true(took < 4.0);
    assert_int_equal(s.results, 1); /* no callback after kpool_terminate */
    assert_int_equal(s.errors, 0);
    const kpool_outcome_t *o;
    size_t n;
    assert_int_equal(kpool_async_get(h, &o, &n), KPOOL_EFAILED);
    assert_int_equal(n, N);
    assert_int_equal(o[1].kind, KPOOL_TASK_NOT_RUN);
    assert_non_null(strstr(o[1].message, "kpool_terminate"));
    assert_int_equal(kpool_async_ready(later), 1);
    assert_int_equal(kpool_async_get(later, &o, &n), KPOOL_EFAILED);
    assert_int_equal(o[0].kind, KPOOL_TASK_NOT_RUN);
    assert_non_null(strstr(o[0].message, "kpool_terminate"));
    kpool_async_free(h);
    kpool_async_free(later);
    /* The signal used to stop the run is gone with it. */
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGTERM));
    kpool_pool_free(pool);
}

static void test_pool_free_leaves_held_handles_readable(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_kernel_t *k = load(pool, SEED_PLUGIN, "howmany_within_range_rowonly");
    kpool_arg_t row = kpool_array_i64(data[0], COLS);
    kpool_async_t *h = NULL;
    assert_int_equal(kpool_map_async(pool, k, &row, 1, NULL, NULL, NULL, &h), 0);
    /* A detached submission, dropped and freed by the pool. */
    assert_int_equal(kpool_map_async(pool, k, &row, 1, NULL, NULL, NULL, NULL), 0);
    kpool_pool_free(pool);
    assert_int_equal(kpool_async_ready(h), 1);
    const kpool_outcome_t *o;
    size_t n;
    assert_int_equal(kpool_async_get(h, &o, &n), KPOOL_EFAILED);
    assert_int_equal(o[0].kind, KPOOL_TASK_NOT_RUN);
    assert_non_null(strstr(o[0].message, "kpool_pool_free"));
    kpool_async_free(h);
}

/* ---- failures ---------------------------------------------------------- */

static void test_crashing_kernel_costs_only_its_tasks(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_kernel_t *crash = load(pool, TEST_PLUGIN, "crash_on_3");
    enum { N = 30 };
    kpool_arg_t xs[N];
    for (int64_t i = 0; i < N; i++)
        xs[i] = kpool_i64(i);

    kpool_outcome_t out[N];
    assert_int_equal(kpool_map(pool, crash, xs, N, out), KPOOL_EFAILED);
    for (size_t i = 0; i < N; i++) {
        if (i % 10 == 3) {
            assert_int_equal(out[i].kind, KPOOL_TASK_CRASHED);
            assert_int_equal(out[i].signal, SIGSEGV);
            assert_string_equal(out[i].message, "SIGSEGV");
            assert_string_equal(kpool_task_kind_name(out[i].kind), "crashed");
        } else {
            assert_int_equal(out[i].kind, KPOOL_TASK_OK);
            assert_int_equal(out[i].value.i, 2 * (int64_t)i);
        }
    }

    static seen s;
    memset(&s, 0, sizeof s);
    kpool_async_t *h = NULL;
    assert_int_equal(kpool_map_async(pool, crash, xs, N, seen_result, seen_error, &s, &h), 0);
    assert_int_equal(kpool_async_wait(h, -1), 0);
    assert_int_equal(s.errors, 3);
    assert_int_equal(s.ok, N - 3);
    assert_int_equal(s.kinds[13], KPOOL_TASK_CRASHED);
    assert_string_equal(s.message, "SIGSEGV");
    assert_int_equal(kpool_async_ready(h), 1);
    assert_int_equal(kpool_async_successful(h), 0);
    kpool_async_free(h);
    kpool_pool_free(pool);
}

static void test_kpool_fail_and_bad_input_are_task_failures(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_kernel_t *fail = load(pool, TEST_PLUGIN, "fail_if_negative");
    kpool_kernel_t *neg = load(pool, TEST_PLUGIN, "i8_neg");
    kpool_arg_t a = kpool_i64(-5);
    kpool_outcome_t o;
    assert_int_equal(kpool_apply(pool, fail, &a, 1, &o), KPOOL_EFAILED);
    assert_int_equal(o.kind, KPOOL_TASK_FAILED);
    assert_string_equal(o.message, "value -5 is negative");
    assert_string_equal(kpool_pool_error(pool), ""); /* the call worked; a task failed */

    a = kpool_i64(300);
    assert_int_equal(kpool_apply(pool, neg, &a, 1, &o), KPOOL_EFAILED);
    assert_int_equal(o.kind, KPOOL_TASK_BAD_INPUT);
    assert_non_null(strstr(o.message, "300 does not fit i8"));

    /* An array for a scalar parameter is the task's failure, as in the CLI. */
    a = kpool_array_i64(data[0], COLS);
    assert_int_equal(kpool_apply(pool, neg, &a, 1, &o), KPOOL_EFAILED);
    assert_int_equal(o.kind, KPOOL_TASK_BAD_INPUT);
    assert_non_null(strstr(o.message, "argument 1"));
    kpool_pool_free(pool);
}

static void test_timeout_and_stop_on_error(void **state)
{
    (void)state;
    kpool_options_t opts = KPOOL_OPTIONS_INIT;
    opts.workers = 1;
    opts.chunksize = 1;
    opts.task_timeout = 0.3;
    opts.stop_on_error = 1;
    kpool_pool_t *pool = NULL;
    assert_int_equal(kpool_pool_open(&pool, &opts), 0);
    kpool_kernel_t *sleep_for = load(pool, TEST_PLUGIN, "sleep_for");
    kpool_arg_t secs[4] = {kpool_f64(0.0), kpool_f64(10.0), kpool_f64(0.0), kpool_f64(0.0)};
    kpool_outcome_t out[4];
    assert_int_equal(kpool_map(pool, sleep_for, secs, 4, out), KPOOL_EFAILED);
    assert_int_equal(out[0].kind, KPOOL_TASK_OK);
    assert_true(out[0].value.f == 0.0);
    assert_int_equal(out[1].kind, KPOOL_TASK_TIMEOUT);
    assert_non_null(strstr(out[1].message, "task_timeout"));
    /* on_error = stop: nothing new starts after the timeout. */
    assert_int_equal(out[3].kind, KPOOL_TASK_NOT_RUN);
    assert_int_equal(out[3].attempts, 0);
    kpool_pool_free(pool);
}

/* ---- results of every type, strings, arrays -------------------------------- */

static void test_result_types_and_string_copies(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_outcome_t o;
    kpool_arg_t a = kpool_f64(3.0);
    assert_int_equal(kpool_apply(pool, load(pool, TEST_PLUGIN, "f64_half"), &a, 1, &o), 0);
    assert_int_equal(o.type, KPOOL_TYPE_F64);
    assert_true(o.value.f == 1.5);
    assert_int_equal(kpool_apply(pool, load(pool, TEST_PLUGIN, "f32_third"), &a, 1, &o), 0);
    assert_int_equal(o.type, KPOOL_TYPE_F32);
    assert_true(o.value.f32 == 1.0f);
    a = kpool_i64(4);
    assert_int_equal(kpool_apply(pool, load(pool, TEST_PLUGIN, "is_even"), &a, 1, &o), 0);
    assert_int_equal(o.type, KPOOL_TYPE_BOOL);
    assert_true(o.value.b);
    a = kpool_u64(5);
    assert_int_equal(kpool_apply(pool, load(pool, TEST_PLUGIN, "i8_neg"), &a, 1, &o), 0);
    assert_int_equal(o.type, KPOOL_TYPE_I8);
    assert_int_equal(o.value.i, -5);
    a = kpool_str("7"); /* numbers in text convert as csv fields do */
    assert_int_equal(kpool_apply(pool, load(pool, TEST_PLUGIN, "i8_neg"), &a, 1, &o), 0);
    assert_int_equal(o.value.i, -7);
    a = kpool_bool(true);
    assert_int_equal(kpool_apply(pool, load(pool, TEST_PLUGIN, "do_nothing"), &a, 1, &o), 0);
    assert_int_equal(o.type, KPOOL_TYPE_VOID);
    assert_int_equal(o.kind, KPOOL_TASK_OK);
    double v[4] = {1, 2, 3, 6};
    a = kpool_array_f64(v, 4);
    assert_int_equal(kpool_apply(pool, load(pool, TEST_PLUGIN, "mean"), &a, 1, &o), 0);
    assert_true(o.value.f == 3.0);
    int32_t w[3] = {1, 2, 6}; /* converted per task to the parameter's f64 */
    a = kpool_array_i32(w, 3);
    assert_int_equal(kpool_apply(pool, load(pool, TEST_PLUGIN, "mean"), &a, 1, &o), 0);
    assert_true(o.value.f == 3.0);

    /* str results belong to the pool until the next sync call; async
     * arguments' strings are copied at submission. */
    kpool_kernel_t *greet = load(pool, TEST_PLUGIN, "greet");
    kpool_arg_t names[2] = {kpool_str("ann"), kpool_str("bob")};
    kpool_outcome_t out[2];
    assert_int_equal(kpool_map(pool, greet, names, 2, out), 0);
    assert_int_equal(out[0].type, KPOOL_TYPE_STR);
    assert_string_equal(out[0].str, "hello, ann");
    assert_string_equal(out[1].str, "hello, bob");
    char name[16] = "cy";
    a = kpool_str(name);
    kpool_async_t *h = NULL;
    assert_int_equal(kpool_apply_async(pool, greet, &a, 1, NULL, NULL, NULL, &h), 0);
    strcpy(name, "overwritten");
    const kpool_outcome_t *got;
    size_t n;
    assert_int_equal(kpool_async_get(h, &got, &n), 0);
    assert_string_equal(got[0].str, "hello, cy");
    kpool_async_free(h);
    kpool_pool_free(pool);
}

static void test_foreign_kernel_with_signature(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(1);
    kpool_kernel_t *pw = NULL;
    assert_int_equal(kpool_kernel_load(pool, "libm.so.6", "pow", NULL, &pw), KPOOL_ESIG);
    assert_null(pw);
    assert_non_null(strstr(kpool_pool_error(pool), "libm.so.6 has no kpool descriptor"));
    assert_non_null(strstr(kpool_pool_error(pool), "pass its signature to kpool_kernel_load"));
    assert_int_equal(kpool_kernel_load(pool, "libm.so.6", "pow", "f64 (f64 x, f64 y)", &pw), 0);
    kpool_arg_t args[2] = {kpool_f64(2), kpool_i64(10)};
    kpool_outcome_t o;
    assert_int_equal(kpool_apply(pool, pw, args, 2, &o), 0);
    assert_true(o.value.f == 1024.0);
    kpool_pool_free(pool);
}

/* Workers run options.worker_nice steps below the program (libc's
 * getpriority, as a foreign kernel, reads a worker's nice). */
static void test_workers_run_below_the_program(void **state)
{
    (void)state;
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    assert_int_equal(errno, 0);
    const int nices[] = {10, 3, 0}; /* KPOOL_OPTIONS_INIT's, and two others */
    for (size_t i = 0; i < sizeof nices / sizeof nices[0]; i++) {
        kpool_options_t opts = KPOOL_OPTIONS_INIT;
        opts.workers = 1;
        if (i > 0)
            opts.worker_nice = nices[i];
        kpool_pool_t *pool = NULL;
        assert_int_equal(kpool_pool_open(&pool, &opts), 0);
        kpool_kernel_t *k = NULL;
        assert_int_equal(
            kpool_kernel_load(pool, "libc.so.6", "getpriority", "i32 (i32 which, u32 who)", &k), 0);
        kpool_arg_t args[2] = {kpool_i64(PRIO_PROCESS), kpool_i64(0)};
        kpool_outcome_t o;
        assert_int_equal(kpool_apply(pool, k, args, 2, &o), 0);
        int want = base + nices[i] > 19 ? 19 : base + nices[i];
        assert_int_equal(o.value.i, want);
        kpool_pool_free(pool);
    }
}

/* ---- errors before anything runs ---------------------------------------- */

static void test_arity_mismatch_refused_before_running(void **state)
{
    fixture *f = *state;
    static seen s;
    memset(&s, 0, sizeof s);
    kpool_outcome_t out[2];
    memset(out, 0x5a, sizeof out);
    assert_int_equal(kpool_starmap(f->pool, f->count, &f->tuples[0][0], 2, 2, out), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "kpool_starmap: gives 2 arguments per task, "
                                                      "but howmany_within_range takes 3"));
    assert_non_null(strstr(kpool_pool_error(f->pool), ": i64 (i64[], i64, i64)"));
    assert_int_equal(out[0].index, (size_t)0x5a5a5a5a5a5a5a5aULL); /* untouched */
    assert_int_equal(kpool_map(f->pool, f->count, f->rows, 3, out), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "use kpool_starmap"));
    kpool_async_t *h = NULL;
    assert_int_equal(
        kpool_apply_async(f->pool, f->rowonly, f->tuples[0], 3, seen_result, seen_error, &s, &h),
        KPOOL_EINVAL);
    assert_null(h);
    assert_non_null(strstr(kpool_pool_error(f->pool), "howmany_within_range_rowonly takes 1"));
    kpool_iter_t *it = NULL;
    assert_int_equal(kpool_imap_unordered(f->pool, f->count, f->rows, 3, 1, &it), KPOOL_EINVAL);
    assert_null(it);
    assert_int_equal(kpool_imap(f->pool, f->count, &f->tuples[0][0], 3, 3, NULL), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "kpool_imap: out is NULL"));
    /* Nothing was queued: join has nothing to run or call back. */
    assert_int_equal(kpool_close(f->pool), 0);
    assert_int_equal(kpool_join(f->pool), 0);
    assert_int_equal(s.calls, 0);
}

static void test_bad_arguments_refused_with_their_place(void **state)
{
    fixture *f = *state;
    kpool_arg_t bad[2][3];
    memcpy(bad, f->tuples, sizeof bad);
    kpool_outcome_t out[2];

    bad[1][0] = kpool_array_i64(NULL, 5);
    assert_int_equal(kpool_starmap(f->pool, f->count, &bad[0][0], 2, 3, out), KPOOL_EINVAL);
    assert_non_null(
        strstr(kpool_pool_error(f->pool), "task 1, argument 1: an array of 5 elements at NULL"));

    bad[1][0] = kpool_array((kpool_type_t)99, data[0], COLS);
    assert_int_equal(kpool_starmap(f->pool, f->count, &bad[0][0], 2, 3, out), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "type 99 is neither"));

    bad[1][0] = f->tuples[1][0];
    bad[0][2] = kpool_str(NULL);
    assert_int_equal(kpool_starmap(f->pool, f->count, &bad[0][0], 2, 3, out), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "task 0, argument 3: the string is NULL"));

    bad[0][2].kind = (kpool_arg_kind_t)42;
    assert_int_equal(kpool_apply(f->pool, f->count, bad[0], 3, out), KPOOL_EINVAL);
    assert_non_null(
        strstr(kpool_pool_error(f->pool), "kpool_apply: argument 3: unknown argument kind 42"));

    assert_int_equal(kpool_starmap(f->pool, f->count, NULL, 2, 3, out), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "the arguments are NULL"));
    assert_int_equal(kpool_map(f->pool, f->rowonly, f->rows, 2, NULL), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "out is NULL"));
    assert_int_equal(kpool_apply(f->pool, NULL, f->tuples[0], 3, out), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "no kernel given"));

    kpool_pool_t *other = open_pool(1);
    kpool_kernel_t *theirs = load(other, SEED_PLUGIN, "howmany_within_range");
    assert_int_equal(kpool_apply(f->pool, theirs, f->tuples[0], 3, out), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "loaded by another pool"));
    kpool_pool_free(other);

    /* The pool still works after refusals. */
    assert_int_equal(kpool_apply(f->pool, f->count, f->tuples[0], 3, out), 0);
    assert_int_equal(out[0].value.i, expected[0]);
    assert_string_equal(kpool_pool_error(f->pool), "");
}

static void test_options_checked(void **state)
{
    (void)state;
    kpool_pool_t *pool = NULL;
    kpool_options_t opts = KPOOL_OPTIONS_INIT;
    opts.workers = -1;
    assert_int_equal(kpool_pool_open(&pool, &opts), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(pool), "options.workers is -1"));
    kpool_pool_free(pool);

    opts = (kpool_options_t)KPOOL_OPTIONS_INIT;
    opts.task_timeout = -1;
    assert_int_equal(kpool_pool_open(&pool, &opts), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(pool), "options.task_timeout"));
    kpool_pool_free(pool);

    opts = (kpool_options_t)KPOOL_OPTIONS_INIT;
    opts.retries = -2;
    assert_int_equal(kpool_pool_open(&pool, &opts), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(pool), "options.retries is -2"));
    kpool_pool_free(pool);

    opts = (kpool_options_t)KPOOL_OPTIONS_INIT;
    assert_int_equal(opts.worker_nice, 10);
    opts.worker_nice = 20;
    assert_int_equal(kpool_pool_open(&pool, &opts), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(pool), "options.worker_nice is 20"));
    kpool_pool_free(pool);

    opts = (kpool_options_t)KPOOL_OPTIONS_INIT;
    opts.size = 0;
    assert_int_equal(kpool_pool_open(&pool, &opts), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(pool), "KPOOL_OPTIONS_INIT"));
    kpool_pool_free(pool);

    /* A newer program's larger options: the fields this kpool knows count. */
    struct {
        kpool_options_t o;
        int future;
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.o = (kpool_options_t)KPOOL_OPTIONS_INIT;
    newer.o.size = sizeof newer;
    newer.o.workers = -3;
    newer.future = 1;
    assert_int_equal(kpool_pool_open(&pool, &newer.o), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(pool), "options.workers is -3"));
    kpool_pool_free(pool);
    newer.o.workers = 1;
    assert_int_equal(kpool_pool_open(&pool, &newer.o), 0);
    kpool_pool_free(pool);

    /* An older program's shorter options: the rest are defaults. */
    opts = (kpool_options_t)KPOOL_OPTIONS_INIT;
    opts.workers = 1;
    opts.retries = -5; /* beyond the size given: never read */
    opts.size = offsetof(kpool_options_t, task_timeout);
    assert_int_equal(kpool_pool_open(&pool, &opts), 0);
    kpool_kernel_t *k = load(pool, SEED_PLUGIN, "howmany_within_range_rowonly");
    kpool_arg_t row = kpool_array_i64(data[2], COLS);
    kpool_outcome_t o;
    assert_int_equal(kpool_map(pool, k, &row, 1, &o), 0);
    assert_int_equal(o.value.i, expected[2]);
    kpool_pool_free(pool);

    assert_int_equal(kpool_pool_open(&pool, NULL), 0);
    kpool_pool_free(pool);
    assert_int_equal(kpool_pool_open(NULL, NULL), KPOOL_EINVAL);
    kpool_pool_free(NULL);
    assert_string_equal(kpool_pool_error(NULL), "out of memory");
}

static void test_kernel_load_errors_and_description(void **state)
{
    fixture *f = *state;
    kpool_kernel_t *k = (kpool_kernel_t *)f; /* must be reset to NULL */
    assert_int_equal(kpool_kernel_load(f->pool, "/nonexistent/libnope.so", "x", NULL, &k),
                     KPOOL_EPLUGIN);
    assert_null(k);
    assert_non_null(strstr(kpool_pool_error(f->pool), "/nonexistent/libnope.so: cannot load"));
    assert_int_equal(kpool_kernel_load(f->pool, SEED_PLUGIN, "nope", NULL, &k), KPOOL_ENOENT);
    assert_non_null(strstr(kpool_pool_error(f->pool), "no kernel 'nope'"));
    assert_non_null(strstr(kpool_pool_error(f->pool), "howmany_within_range_rowonly"));
    assert_int_equal(kpool_kernel_load(f->pool, SEED_PLUGIN, "howmany_within_range",
                                       "i64 (f64[] row, i64, i64)", &k),
                     KPOOL_ESIG);
    assert_int_equal(kpool_kernel_load(f->pool, NULL, "x", NULL, &k), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(f->pool), "must not be NULL"));

    assert_int_equal(kpool_kernel_arity(f->count), 3);
    assert_int_equal(kpool_kernel_arity(f->rowonly), 1);
    assert_int_equal(kpool_kernel_return_type(f->count), KPOOL_TYPE_I64);
    char sig[128];
    assert_int_equal(kpool_kernel_signature(f->count, sig, sizeof sig), 0);
    assert_string_equal(sig, "i64 (i64[], i64, i64)");
    char tiny[8];
    assert_int_equal(kpool_kernel_signature(f->count, tiny, sizeof tiny), KPOOL_ERANGE);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

static void test_initializer_runs_before_tasks(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_kernel_t *set_base = load(pool, TEST_PLUGIN, "set_base");
    kpool_kernel_t *add_base = load(pool, TEST_PLUGIN, "add_base");
    kpool_arg_t base = kpool_i64(100);
    assert_int_equal(kpool_pool_set_initializer(pool, set_base, &base, 2), KPOOL_EINVAL);
    assert_non_null(strstr(kpool_pool_error(pool), "set_base takes 1"));
    assert_int_equal(kpool_pool_set_initializer(pool, set_base, &base, 1), 0);
    base = kpool_i64(-1); /* the pool copied the argument */
    kpool_arg_t xs[5];
    for (int64_t i = 0; i < 5; i++)
        xs[i] = kpool_i64(i);
    kpool_outcome_t out[5];
    assert_int_equal(kpool_map(pool, add_base, xs, 5, out), 0);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(out[i].value.i, 100 + (int64_t)i);

    kpool_kernel_t *init_fails = load(pool, TEST_PLUGIN, "init_fails");
    assert_int_equal(kpool_pool_set_initializer(pool, init_fails, NULL, 0), 0);
    assert_int_equal(kpool_map(pool, add_base, xs, 5, out), KPOOL_EFAILED);
    assert_non_null(strstr(kpool_pool_error(pool), "cannot open the model file"));
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(out[i].kind, KPOOL_TASK_NOT_RUN);
        assert_non_null(strstr(out[i].message, "cannot open the model file"));
    }
    /* A broken run fails what was queued behind it too, with on_error. */
    static seen s;
    memset(&s, 0, sizeof s);
    kpool_async_t *h = NULL;
    assert_int_equal(kpool_map_async(pool, add_base, xs, 5, seen_result, seen_error, &s, &h), 0);
    assert_int_equal(kpool_async_wait(h, -1), KPOOL_EFAILED);
    assert_int_equal(s.errors, 5);
    assert_int_equal(kpool_async_ready(h), 1);
    kpool_async_free(h);

    assert_int_equal(kpool_pool_set_initializer(pool, NULL, NULL, 0), 0);
    assert_int_equal(kpool_map(pool, add_base, xs, 5, out), 0);
    assert_int_equal(out[4].value.i, 4); /* the workers are new: base is 0 */
    kpool_pool_free(pool);
}

/* ---- callbacks that call back into the pool ----------------------------- */

typedef struct reentry {
    kpool_pool_t *pool;
    kpool_kernel_t *k;
    kpool_arg_t *row;
    int sync_rc, wait_rc, poll_rc, submit_rc, init_rc, join_rc;
    size_t calls;
    char sync_msg[256], join_msg[256];
    kpool_async_t *self;
    size_t later_results;
} reentry;

static void count_later(const kpool_outcome_t *o, void *user)
{
    (void)o;
    ((reentry *)user)->later_results++;
}

static void reenter(const kpool_outcome_t *o, void *user)
{
    reentry *r = user;
    (void)o;
    if (r->calls++ == 0) {
        /* The first of two tasks: the handle is not ready yet. */
        kpool_outcome_t out;
        r->sync_rc = kpool_map(r->pool, r->k, r->row, 1, &out);
        snprintf(r->sync_msg, sizeof r->sync_msg, "%s", kpool_pool_error(r->pool));
        r->wait_rc = kpool_async_wait(r->self, -1);
        r->poll_rc = kpool_async_wait(r->self, 0);
        r->init_rc = kpool_pool_set_initializer(r->pool, NULL, NULL, 0);
        r->submit_rc = kpool_map_async(r->pool, r->k, r->row, 1, count_later, NULL, r, NULL);
        kpool_close(r->pool);
        r->join_rc = kpool_join(r->pool);
        snprintf(r->join_msg, sizeof r->join_msg, "%s", kpool_pool_error(r->pool));
    } else {
        kpool_async_free(r->self); /* its own handle: freed once the run ends */
    }
}

static void test_callbacks_may_submit_and_free_but_not_wait(void **state)
{
    fixture *f = *state;
    reentry r = {.pool = f->pool, .k = f->rowonly, .row = &f->rows[0]};
    assert_int_equal(kpool_map_async(f->pool, f->rowonly, f->rows, 2, reenter, NULL, &r, &r.self),
                     0);
    kpool_outcome_t o;
    assert_int_equal(kpool_map(f->pool, f->rowonly, &f->rows[5], 1, &o), 0);
    assert_int_equal(o.value.i, expected[5]);
    assert_string_equal(kpool_pool_error(f->pool), "");
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.sync_rc, KPOOL_EINVAL);
    assert_non_null(strstr(r.sync_msg, "kpool_map: called from a result callback"));
    assert_int_equal(r.wait_rc, KPOOL_EINVAL);
    assert_int_equal(r.poll_rc, KPOOL_ETIMEDOUT);
    assert_int_equal(r.init_rc, KPOOL_EINVAL);
    assert_int_equal(r.join_rc, KPOOL_EINVAL);
    assert_non_null(strstr(r.join_msg, "kpool_join: called from a result callback"));
    assert_int_equal(r.submit_rc, 0);
    /* What the callback submitted ran before the sync call returned. */
    assert_int_equal(r.later_results, 1);
    /* The callback closed the pool. */
    assert_int_equal(kpool_map(f->pool, f->rowonly, f->rows, 1, &o), KPOOL_EINVAL);
}

static void interrupt_on_first(const kpool_outcome_t *o, void *user)
{
    (void)o;
    stopper *s = user;
    if (s->results++ == 0)
        raise(SIGINT); /* the run's handler takes it: the run stops */
}

/* SIGINT during a run breaks it: the call says so, and every task without
 * an outcome, also those queued behind, fails as NOT_RUN with on_error. */
static void test_sigint_breaks_the_run_and_the_queue(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_kernel_t *sleep_for = load(pool, TEST_PLUGIN, "sleep_for");
    kpool_kernel_t *pid = load(pool, TEST_PLUGIN, "worker_pid");
    /* One worker sleeps in task 0; the other runs 1 and 2, and their
     * results come while task 0 still runs. */
    kpool_arg_t secs[3] = {kpool_f64(3.0), kpool_f64(0.01), kpool_f64(0.01)};
    kpool_arg_t x = kpool_i64(1);
    stopper s = {.pool = pool};
    static seen behind;
    memset(&behind, 0, sizeof behind);
    kpool_async_t *h = NULL, *later = NULL;
    assert_int_equal(
        kpool_map_async(pool, sleep_for, secs, 3, interrupt_on_first, count_stop_error, &s, &h), 0);
    assert_int_equal(kpool_apply_async(pool, pid, &x, 1, seen_result, seen_error, &behind, &later),
                     0);
    double t0 = now_seconds();
    assert_int_equal(kpool_async_wait(h, -1), KPOOL_EINTR);
    assert_true(now_seconds() - t0 < 2.5);
    assert_non_null(strstr(kpool_pool_error(pool), "the run was interrupted by SIGINT"));
    /* Callbacks go on after an interrupt (only kpool_terminate silences
     * them): every task has had one. */
    assert_true(s.results >= 1);
    assert_int_equal(s.results + s.errors, 3);
    const kpool_outcome_t *o;
    size_t n;
    assert_int_equal(kpool_async_get(h, &o, &n), KPOOL_EFAILED);
    assert_int_equal(o[0].kind, KPOOL_TASK_NOT_RUN);
    assert_int_equal(behind.errors, 1);
    assert_int_equal(behind.kinds[0], KPOOL_TASK_NOT_RUN);
    assert_non_null(strstr(behind.message, "not run: the run was interrupted by SIGINT"));
    kpool_async_free(h);
    kpool_async_free(later);
    /* The pool still runs work afterwards. */
    kpool_outcome_t one;
    assert_int_equal(kpool_apply(pool, pid, &x, 1, &one), 0);
    kpool_pool_free(pool);
}

static void test_mixed_kernels_in_one_queue(void **state)
{
    (void)state;
    kpool_pool_t *pool = open_pool(2);
    kpool_kernel_t *count = load(pool, SEED_PLUGIN, "howmany_within_range");
    kpool_kernel_t *crash = load(pool, TEST_PLUGIN, "crash_on_3");
    static seen s1, s2;
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);
    kpool_arg_t t[3] = {kpool_array_i64(data[5], COLS), kpool_i64(4), kpool_i64(8)};
    kpool_arg_t x[4] = {kpool_i64(1), kpool_i64(3), kpool_i64(5), kpool_i64(13)};
    assert_int_equal(kpool_apply_async(pool, count, t, 3, seen_result, seen_error, &s1, NULL), 0);
    assert_int_equal(kpool_map_async(pool, crash, x, 4, seen_result, seen_error, &s2, NULL), 0);
    assert_int_equal(kpool_apply_async(pool, count, t, 3, seen_result, seen_error, &s1, NULL), 0);
    assert_int_equal(kpool_close(pool), 0);
    assert_int_equal(kpool_join(pool), KPOOL_EFAILED); /* two tasks crashed */
    assert_int_equal(s1.ok, 2);
    assert_int_equal(s1.values[0], expected[5]);
    assert_int_equal(s2.ok, 2);
    assert_int_equal(s2.errors, 2);
    kpool_pool_free(pool);
}

/* ---- the in-memory input ------------------------------------------------- */

static void test_memory_input_serves_the_callers_records(void **state)
{
    (void)state;
    kp_value recs[3];
    memset(recs, 0, sizeof recs);
    recs[0].kind = KP_V_INT;
    recs[0].as.i = -4;
    recs[1].kind = KP_V_NUMS;
    recs[1].as.nums.data = data[0];
    recs[1].as.nums.len = COLS;
    recs[1].as.nums.type = KP_T_I64;
    recs[2].kind = KP_V_STR;
    recs[2].as.s.ptr = "abc";
    recs[2].as.s.len = 3;
    kp_input *in = NULL;
    kp_err err;
    kp_err_clear(&err);
    assert_int_equal(kp_input_from_records(&in, recs, 3, &err), 0);
    assert_int_equal(kp_input_count(in), 3);
    assert_int_equal(kp_input_format_of(in), KP_IN_MEMORY);
    kp_value v;
    assert_int_equal(kp_input_record(in, 0, NULL, &v, &err), 0);
    assert_int_equal(v.kind, KP_V_INT);
    assert_int_equal(v.as.i, -4);
    assert_int_equal(kp_input_record(in, 1, NULL, &v, &err), 0);
    assert_ptr_equal(v.as.nums.data, data[0]); /* not copied */
    assert_int_equal(kp_input_record(in, 2, NULL, &v, &err), 0);
    assert_string_equal(v.as.s.ptr, "abc");
    assert_int_equal(kp_input_record(in, 3, NULL, &v, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "record 3 does not exist (memory has 3 records)"));
    char desc[64];
    kp_input_describe(in, desc, sizeof desc);
    assert_string_equal(desc, "3 records in memory");
    kp_input_close(in);

    assert_int_equal(kp_input_from_records(&in, NULL, 2, &err), KPOOL_EINVAL);
    assert_null(in);
    assert_non_null(strstr(err.msg, "2 records but no array"));
    assert_int_equal(kp_input_from_records(&in, NULL, 0, &err), 0);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);

    kp_input_config cfg = {.format = KP_IN_MEMORY};
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "kp_input_from_records"));
}

int main(void)
{
    make_data();
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_apply_counts_each_row),
        T(test_map_rowonly_gives_input_order),
        T(test_starmap_matches_plain_loop),
        T(test_apply_async_callbacks_then_close_join),
        T(test_apply_async_handles_get),
        T(test_map_async_callbacks_and_get),
        T(test_starmap_async_callbacks),
        T(test_imap_unordered_every_index_once),
        T(test_imap_gives_input_order),
        cmocka_unit_test(test_queue_runs_as_one_batch),
        T(test_sync_call_runs_the_queue_first),
        T(test_wait_timeout_zero_polls_without_running),
        T(test_empty_submissions_are_ready_at_once),
        T(test_close_refuses_new_work_join_needs_close),
        T(test_terminate_drops_pending_without_callbacks),
        cmocka_unit_test(test_terminate_from_callback_stops_the_run),
        cmocka_unit_test(test_pool_free_leaves_held_handles_readable),
        cmocka_unit_test(test_crashing_kernel_costs_only_its_tasks),
        cmocka_unit_test(test_kpool_fail_and_bad_input_are_task_failures),
        cmocka_unit_test(test_timeout_and_stop_on_error),
        cmocka_unit_test(test_result_types_and_string_copies),
        cmocka_unit_test(test_foreign_kernel_with_signature),
        T(test_arity_mismatch_refused_before_running),
        T(test_bad_arguments_refused_with_their_place),
        cmocka_unit_test(test_options_checked),
        cmocka_unit_test(test_workers_run_below_the_program),
        T(test_kernel_load_errors_and_description),
        cmocka_unit_test(test_initializer_runs_before_tasks),
        T(test_callbacks_may_submit_and_free_but_not_wait),
        cmocka_unit_test(test_sigint_breaks_the_run_and_the_queue),
        cmocka_unit_test(test_mixed_kernels_in_one_queue),
        cmocka_unit_test(test_memory_input_serves_the_callers_records),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
