/* The pool: every task's outcome exactly once, in the order asked for,
 * whatever the workers do. Kernels live in this file; the workers are forks
 * of this test process. Never assert inside a worker. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "input.h"
#include "plugin.h"
#include "pool.h"
#include "signature.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int64_t twice(int64_t x)
{
    return 2 * x;
}

static int64_t segv_on_7(int64_t x)
{
    if (x % 10 == 7)
        raise(SIGSEGV);
    return 2 * x;
}

static int64_t segv_every_50000(int64_t x)
{
    if (x % 50000 == 49999)
        raise(SIGSEGV);
    return 2 * x;
}

/* A counter the workers (forks of this process) share with it. */
static _Atomic uint64_t *shared_counter(void)
{
    void *p = mmap(NULL, sizeof(_Atomic uint64_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_ptr_not_equal(p, MAP_FAILED);
    return p;
}

/* Calls of twice_slowly, counted across the workers (shared memory). */
static _Atomic uint64_t *slow_calls;

/* About 2 us of work: long enough that a range outlasts the workers'
 * flush interval (5 ms), so runs are sent in the middle of ranges. */
static int64_t twice_slowly(int64_t x)
{
    atomic_fetch_add(slow_calls, 1);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do
        clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000 + (t.tv_nsec - t0.tv_nsec) < 2000);
    return 2 * x;
}

/* Tasks that crashed so far, counted across the workers (shared memory). */
static _Atomic uint64_t *crashes;
static uint64_t crashes_awaited;

/* Task 0 succeeds once every other task has crashed (or after 10 s); every
 * other task kills its worker at once. */
static int64_t zero_outlasts_crashes(int64_t x)
{
    if (x != 0) {
        atomic_fetch_add(crashes, 1);
        raise(SIGSEGV);
    }
    for (int ms = 0; ms < 10000 && atomic_load(crashes) < crashes_awaited; ms++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int64_t pid_of_worker(int64_t x)
{
    (void)x;
    return getpid();
}

static int64_t init_value;
static void set_init_value(int64_t v)
{
    init_value = v + getpid();
}

static int64_t read_init_value(int64_t x)
{
    (void)x;
    return init_value - getpid();
}

static int64_t fail_on_5(int64_t x)
{
    if (x == 5)
        raise(SIGKILL);
    return x;
}

static int64_t sleepy(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    return ms;
}

typedef struct collected {
    size_t n;
    size_t *order;
    kp_outcome *by_index;
    size_t total;
    size_t failures;
    size_t runs, run_tasks; /* what came through emit_run */
} collected;

static int collect(const kp_outcome *o, void *user, kp_err *err)
{
    (void)err;
    collected *c = user;
    c->order[c->n++] = o->index;
    c->by_index[o->index] = *o;
    c->by_index[o->index].message = NULL;
    c->by_index[o->index].str = NULL;
    return 0;
}

/* The sink's cheap path: the same outcomes as emit would get. */
static int collect_run(uint64_t first, const unsigned char *values, size_t stride, size_t n,
                       void *user, kp_err *err)
{
    collected *c = user;
    c->runs++;
    c->run_tasks += n;
    for (size_t k = 0; k < n; k++) {
        kp_outcome o = {.index = first + k, .kind = KP_TASK_OK, .type = KP_T_I64, .attempts = 1};
        memcpy(&o.value, values + k * stride, sizeof o.value);
        collect(&o, user, err);
    }
    return 0;
}

static void count_failure(const kp_outcome *o, int max_attempts, void *user)
{
    (void)o;
    (void)max_attempts;
    ((collected *)user)->failures++;
}

typedef struct fixture {
    kp_kernel kernel, init;
    kp_template args, initargs;
    kp_input *input;
    kp_task_ctx ctx;
    collected c;
    kp_pool_config cfg;
    kp_pool_stats stats;
} fixture;

static void setup_kernel(kp_kernel *k, kp_fnptr fn, const char *sig)
{
    kp_err err;
    memset(k, 0, sizeof *k);
    assert_int_equal(kp_signature_parse(sig, &k->sig, &err), 0);
    k->fn = fn;
    snprintf(k->name, sizeof k->name, "test");
    assert_int_equal(kp_kernel_prepare(k, &err), 0);
}

/* A pool over range(start, start + total * step, step). */
static fixture *make_range(kp_fnptr fn, int64_t start, int64_t step, size_t total)
{
    fixture *f = calloc(1, sizeof *f);
    kp_err err;
    setup_kernel(&f->kernel, fn, "i64 (i64)");
    assert_int_equal(kp_template_default(&f->args, KP_MODE_MAP, &err), 0);
    kp_input_config icfg = {
        .format = KP_IN_RANGE, .start = start, .stop = start + (int64_t)total * step, .step = step};
    assert_int_equal(kp_input_open(&f->input, &icfg, &err), 0);
    f->ctx.input = f->input;
    f->ctx.args = &f->args;
    f->ctx.kernel = &f->kernel;
    kp_arena_init(&f->ctx.arena);
    assert_int_equal(kp_task_prepare(&f->ctx, &err), 0);
    f->c.total = total;
    f->c.order = calloc(total + 1, sizeof *f->c.order);
    f->c.by_index = calloc(total + 1, sizeof *f->c.by_index);
    f->cfg.workers = 2;
    return f;
}

static fixture *make(kp_fnptr fn, size_t total)
{
    return make_range(fn, 0, 1, total);
}

static int run(fixture *f)
{
    kp_err err;
    kp_err_clear(&err);
    kp_pool_sink sink = {
        .emit = collect, .emit_run = collect_run, .failure = count_failure, .user = &f->c};
    return kp_pool_run(&f->cfg, &f->ctx, f->c.total, &sink, &f->stats, &err);
}

static void destroy(fixture *f)
{
    kp_template_free(&f->args);
    kp_template_free(&f->initargs);
    kp_input_close(f->input);
    kp_task_release(&f->ctx);
    free(f->c.order);
    free(f->c.by_index);
    free(f);
}

/* The run gave all n tasks of `twice` (or twice_slowly) in input order, ok. */
static void assert_twice_in_order(const fixture *f, size_t n)
{
    assert_int_equal(f->c.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f->c.order[i], i);
        assert_int_equal(f->c.by_index[i].kind, KP_TASK_OK);
        assert_int_equal(f->c.by_index[i].value.i, 2 * (int64_t)i);
    }
}

/* The run gave all n tasks in input order: those with i % every == at
 * crashed (SIGSEGV), the others ok with 2 * i. */
static void assert_twice_but_crashes(const fixture *f, size_t n, size_t every, size_t at)
{
    assert_int_equal(f->c.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f->c.order[i], i);
        if (i % every == at) {
            assert_int_equal(f->c.by_index[i].kind, KP_TASK_CRASHED);
            assert_int_equal(f->c.by_index[i].signal, SIGSEGV);
        } else {
            assert_int_equal(f->c.by_index[i].kind, KP_TASK_OK);
            assert_int_equal(f->c.by_index[i].value.i, 2 * (int64_t)i);
        }
    }
}

static void test_guided_claim_shrinks_to_one(void **state)
{
    (void)state;
    assert_int_equal(kp_guided_claim(0, 2), 1);
    assert_int_equal(kp_guided_claim(10, 2), 1);
    assert_int_equal(kp_guided_claim(3200, 2), 400);
    assert_int_equal(kp_guided_claim(3200, 0), 800);
    assert_int_equal(kp_guided_claim(100000000, 2), 8192);
}

static void test_run_input_order_every_task_once(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)twice, 10000);
    f->cfg.chunksize = 7;
    assert_int_equal(run(f), 0);
    assert_twice_in_order(f, 10000);
    assert_int_equal(f->stats.ok, 10000);
    /* Task 0's result always comes in its turn, so the cheap way is taken
     * (how many more come that way depends on timing). */
    assert_true(f->c.run_tasks > 0);
    destroy(f);
}

/* Guided claims over many tasks: whole runs of results come in their turn
 * or wait behind other workers' (the ways pool.c takes in one piece). */
/* More tasks than the value slots hold (wire.h: 131072 for these windows),
 * so values wrap them, with guided claims, with chunks that straddle the
 * slots' end, and with chunks too large for slots (values come through the
 * pipes). */
static void test_run_input_order_large_guided(void **state)
{
    (void)state;
    static const size_t chunks[] = {0, 0, 0, 1000, 1000, 300000};
    for (int round = 0; round < 6; round++) {
        fixture *f = make((kp_fnptr)twice, 300000);
        f->cfg.workers = 2 + round % 2;
        f->cfg.chunksize = chunks[round];
        assert_int_equal(run(f), 0);
        assert_twice_in_order(f, 300000);
        destroy(f);
    }
}

static void test_run_completion_order_every_task_once(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)twice, 5000);
    f->cfg.completion_order = true;
    f->cfg.chunksize = 3;
    f->cfg.workers = 3;
    assert_int_equal(run(f), 0);
    assert_int_equal(f->c.n, 5000);
    unsigned char *seen = calloc(5000, 1);
    for (size_t i = 0; i < 5000; i++) {
        assert_false(seen[f->c.order[i]]);
        seen[f->c.order[i]] = 1;
        assert_int_equal(f->c.by_index[f->c.order[i]].value.i, 2 * (int64_t)f->c.order[i]);
    }
    free(seen);
    assert_true(f->c.run_tasks > 0);
    destroy(f);
}

static void test_run_crash_costs_one_task(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)segv_on_7, 100);
    f->cfg.chunksize = 9;
    assert_int_equal(run(f), KPOOL_EFAILED);
    assert_twice_but_crashes(f, 100, 10, 7);
    assert_int_equal(f->stats.failed, 10);
    assert_int_equal(f->c.failures, 10);
    assert_true(f->stats.workers_started >= 12);
    destroy(f);
}

/* One worker busy with a task that will succeed, while the other's tasks
 * kill it again and again: the run goes on (each task costs only itself),
 * because the brake on forking waits for every worker to die. */
static void test_run_brake_waits_for_every_worker(void **state)
{
    (void)state;
    crashes = shared_counter();
    fixture *f = make((kp_fnptr)zero_outlasts_crashes, 100);
    crashes_awaited = 99;
    f->cfg.chunksize = 1;
    assert_int_equal(run(f), KPOOL_EFAILED);
    assert_int_equal(f->c.n, 100);
    assert_int_equal(f->c.by_index[0].kind, KP_TASK_OK);
    for (size_t i = 1; i < 100; i++)
        assert_int_equal(f->c.by_index[i].kind, KP_TASK_CRASHED);
    assert_int_equal(f->stats.failed, 99);
    assert_int_equal(f->stats.not_run, 0);
    destroy(f);
    munmap(crashes, sizeof *crashes);
}

/* Every task kills its worker: the run stops after 20 deaths in a row (10 a
 * worker), and the rest are not run. */
static void test_run_brake_stops_when_every_task_crashes(void **state)
{
    (void)state;
    crashes = shared_counter();
    fixture *f = make_range((kp_fnptr)zero_outlasts_crashes, 1, 1, 1000);
    f->cfg.chunksize = 1;
    f->cfg.not_run_tail = true;
    assert_int_equal(run(f), KPOOL_EFAILED);
    assert_int_equal(f->c.n, 1000);
    assert_true(f->stats.failed >= 20);
    assert_true(f->stats.failed < 40);
    assert_int_equal(f->stats.not_run, 1000 - f->stats.failed);
    destroy(f);
    munmap(crashes, sizeof *crashes);
}

/* Runs sent by the clock in the middle of long ranges (their values in
 * the slots): the tasks after each send open a new run, and none is lost
 * (the pool would run a lost one again: every task runs exactly once). */
static void test_run_sent_in_the_middle_of_ranges(void **state)
{
    (void)state;
    slow_calls = shared_counter();
    fixture *f = make((kp_fnptr)twice_slowly, 40000);
    f->cfg.chunksize = 10000;
    assert_int_equal(run(f), 0);
    assert_twice_in_order(f, 40000);
    assert_int_equal(atomic_load(slow_calls), 40000);
    destroy(f);
    munmap(slow_calls, sizeof *slow_calls);
}

/* Crashes in the middle of long ranges, whose values wait in the value
 * slots: the handler's run record keeps every value stored before the
 * crash, and the rest of the range is handed back and run. */
static void test_run_crash_in_a_long_range_costs_one_task(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)segv_every_50000, 200000);
    assert_int_equal(run(f), KPOOL_EFAILED);
    assert_twice_but_crashes(f, 200000, 50000, 49999);
    assert_int_equal(f->stats.failed, 4);
    assert_int_equal(f->stats.ok, 200000 - 4);
    destroy(f);
}

static void test_run_retries_count_attempts(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)fail_on_5, 10);
    f->cfg.retries = 2;
    assert_int_equal(run(f), KPOOL_EFAILED);
    assert_int_equal(f->c.by_index[5].kind, KP_TASK_CRASHED);
    assert_int_equal(f->c.by_index[5].attempts, 3);
    assert_int_equal(f->stats.retried, 2);
    assert_int_equal(f->stats.ok, 9);
    destroy(f);
}

static void test_run_max_tasks_per_worker_recycles(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)pid_of_worker, 30);
    f->cfg.workers = 1;
    f->cfg.max_tasks_per_worker = 4;
    assert_int_equal(run(f), 0);
    /* 30 tasks, 4 per worker: 8 workers, none ran more than 4. */
    int64_t pids[30];
    for (int i = 0; i < 30; i++)
        pids[i] = f->c.by_index[i].value.i;
    int distinct = 0;
    for (int i = 0; i < 30; i++) {
        int same = 0, first = 1;
        for (int k = 0; k < 30; k++) {
            same += pids[k] == pids[i];
            if (k < i && pids[k] == pids[i])
                first = 0;
        }
        assert_true(same <= 4);
        distinct += first;
    }
    assert_int_equal(distinct, 8);
    assert_int_equal(f->stats.workers_started, 8);
    destroy(f);
}

static void test_run_initializer_runs_in_each_worker(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)read_init_value, 50);
    kp_err err;
    setup_kernel(&f->init, (kp_fnptr)set_init_value, "void (i64)");
    assert_int_equal(kp_template_parse(&f->initargs, "42", &err), 0);
    f->cfg.initializer = &f->init;
    f->cfg.initargs = &f->initargs;
    f->cfg.max_tasks_per_worker = 10; /* replacements run it too */
    assert_int_equal(run(f), 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(f->c.by_index[i].value.i, 42);
    destroy(f);
}

static void test_run_stop_on_error_marks_rest_not_run(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)segv_on_7, 10000);
    f->cfg.stop_on_error = true;
    f->cfg.workers = 1;
    f->cfg.chunksize = 5;
    f->cfg.not_run_tail = true; /* every task gets an outcome, as npy output needs */
    assert_int_equal(run(f), KPOOL_EFAILED);
    assert_int_equal(f->c.n, 10000);
    assert_int_equal(f->c.by_index[7].kind, KP_TASK_CRASHED);
    assert_int_equal(f->c.by_index[9999].kind, KP_TASK_NOT_RUN);
    assert_int_equal(f->stats.failed, 1);
    assert_true(f->stats.not_run > 9000);
    assert_int_equal(f->stats.ok + f->stats.failed + f->stats.not_run, 10000);
    destroy(f);
}

static void test_run_stopped_emits_only_what_was_reached(void **state)
{
    (void)state;
    fixture *f = make((kp_fnptr)segv_on_7, 100000);
    f->cfg.stop_on_error = true;
    f->cfg.workers = 1;
    f->cfg.chunksize = 5;
    assert_int_equal(run(f), KPOOL_EFAILED);
    /* Lines up to the last task reached, in order; the rest are only counted. */
    assert_true(f->c.n >= 8 && f->c.n < 1000);
    for (size_t i = 0; i < f->c.n; i++)
        assert_int_equal(f->c.order[i], i);
    assert_int_equal(f->stats.ok + f->stats.failed + f->stats.not_run, 100000);
    destroy(f);
}

static void test_run_timeout_kills_only_the_slow_tasks(void **state)
{
    (void)state;
    /* Task i sleeps 10 * i seconds: all but task 0 overrun 0.3 s. */
    fixture *f = make_range((kp_fnptr)sleepy, 0, 10000, 4);
    f->cfg.task_timeout = 0.3;
    f->cfg.chunksize = 1;
    assert_int_equal(run(f), KPOOL_EFAILED);
    assert_int_equal(f->c.by_index[0].kind, KP_TASK_OK);
    for (int i = 1; i < 4; i++)
        assert_int_equal(f->c.by_index[i].kind, KP_TASK_TIMEOUT);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guided_claim_shrinks_to_one),
        cmocka_unit_test(test_run_input_order_every_task_once),
        cmocka_unit_test(test_run_input_order_large_guided),
        cmocka_unit_test(test_run_crash_in_a_long_range_costs_one_task),
        cmocka_unit_test(test_run_sent_in_the_middle_of_ranges),
        cmocka_unit_test(test_run_completion_order_every_task_once),
        cmocka_unit_test(test_run_crash_costs_one_task),
        cmocka_unit_test(test_run_brake_waits_for_every_worker),
        cmocka_unit_test(test_run_brake_stops_when_every_task_crashes),
        cmocka_unit_test(test_run_retries_count_attempts),
        cmocka_unit_test(test_run_max_tasks_per_worker_recycles),
        cmocka_unit_test(test_run_initializer_runs_in_each_worker),
        cmocka_unit_test(test_run_stop_on_error_marks_rest_not_run),
        cmocka_unit_test(test_run_stopped_emits_only_what_was_reached),
        cmocka_unit_test(test_run_timeout_kills_only_the_slow_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
