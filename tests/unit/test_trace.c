/* The task trace: its number and string formatting, the lines a worker
 * writes (one per run of tasks it ran back to back, and what ends a run),
 * the lines of tasks whose worker died (paired with the pool's failure,
 * written by the replacement, or "stopped" at the end), the run a dying
 * worker's handler closes, and the repair of lines a SIGKILL cut short. The
 * worker side runs in this process: it needs no fork to format and write,
 * except where a real signal must interrupt it. */
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fdio.h"
#include "trace.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kp_trace_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Reads a whole file into a static buffer. */
static const char *slurp(const char *path)
{
    static char buf[1 << 20];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_int_equal(strlen(buf), n); /* no NUL byte */
    return buf;
}

/* One trace line as the test reads it back. */
typedef struct tline {
    unsigned long long task, worker, pid, attempt;
    long long start, end; /* ns */
    char outcome[16];
    size_t count;   /* the tasks it covers */
    size_t entries; /* of ns: a duration, or a group [tasks,ns] */
    /* The first entries: their durations and how many tasks each covers. */
    unsigned long long first[16], first_tasks[16];
    unsigned long long sum;
    bool has_message;
} tline;

static bool parse_seconds(const char **p, long long *ns)
{
    unsigned long long whole, frac;
    int n;
    if (sscanf(*p, "%llu.%9llu%n", &whole, &frac, &n) != 2 || (*p)[n - 10] != '.')
        return false;
    *ns = (long long)(whole * 1000000000ull + frac);
    *p += n;
    return true;
}

static bool skip_lit(const char **p, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

/* Parses the line at s strictly, keys in the order trace.h gives, and
 * returns the next line (NULL when s is not a trace line ending in a
 * newline). */
static const char *parse_line(const char *s, tline *l)
{
    const char *p = s;
    int n;
    memset(l, 0, sizeof *l);
    if (sscanf(p, "{\"task\":%llu,\"worker\":%llu,\"pid\":%llu,\"attempt\":%llu,\"start\":%n",
               &l->task, &l->worker, &l->pid, &l->attempt, &n) != 4)
        return NULL;
    p += n;
    if (!parse_seconds(&p, &l->start) || !skip_lit(&p, ",\"end\":") ||
        !parse_seconds(&p, &l->end) || !skip_lit(&p, ",\"outcome\":\"") ||
        sscanf(p, "%15[a-z-]%n", l->outcome, &n) != 1)
        return NULL;
    p += n;
    if (!skip_lit(&p, "\",\"ns\":["))
        return NULL;
    do {
        unsigned long long ns, tasks = 1;
        bool group = skip_lit(&p, "[");
        if (group && (*p < '0' || *p > '9' || sscanf(p, "%llu,%n", &tasks, &n) != 1 ||
                      p[n - 1] != ',' || tasks < 2 || tasks > KP_TRACE_GROUP_MAX))
            return NULL;
        if (group)
            p += n;
        if (*p < '0' || *p > '9' || sscanf(p, "%llu%n", &ns, &n) != 1)
            return NULL;
        p += n;
        if (group && !skip_lit(&p, "]"))
            return NULL;
        l->sum += ns;
        if (l->entries < sizeof l->first / sizeof l->first[0]) {
            l->first[l->entries] = ns;
            l->first_tasks[l->entries] = tasks;
        }
        l->entries++;
        l->count += tasks;
    } while (skip_lit(&p, ","));
    if (!skip_lit(&p, "]"))
        return NULL;
    if (skip_lit(&p, ",\"message\":\"")) {
        l->has_message = true;
        while (*p && *p != '"')
            p += *p == '\\' ? 2 : 1;
        if (!skip_lit(&p, "\""))
            return NULL;
    }
    if (!skip_lit(&p, "}\n"))
        return NULL;
    return p;
}

/* Parses every line of the file at path into lines[] (at most max) and
 * asserts that each is a trace line whose durations add up to its end. */
static size_t read_lines(const char *path, tline *lines, size_t max)
{
    const char *s = slurp(path);
    size_t n = 0;
    while (*s) {
        assert_true(n < max);
        const char *next = parse_line(s, &lines[n]);
        if (!next)
            fail_msg("not a trace line: %.200s", s);
        assert_int_equal(lines[n].start + (long long)lines[n].sum, lines[n].end);
        /* Only ok lines cover several tasks; the others carry a message. */
        if (strcmp(lines[n].outcome, "ok") != 0) {
            assert_int_equal(lines[n].count, 1);
            assert_true(lines[n].has_message);
        }
        s = next;
        n++;
    }
    return n;
}

/* kp_fmt_u64 and kp_fmt_u64_wide both write v as printf would; the wide
 * one writes nothing beyond p + 20. */
static void assert_fmt_u64(uint64_t v)
{
    char want[32], buf[32];
    snprintf(want, sizeof want, "%" PRIu64, v);
    *kp_fmt_u64(buf, v) = '\0';
    assert_string_equal(buf, want);
    memset(buf, '#', sizeof buf);
    char *end = kp_fmt_u64_wide(buf, v);
    assert_int_equal(end - buf, strlen(want));
    assert_memory_equal(buf, want, strlen(want));
    for (size_t k = 20; k < sizeof buf; k++)
        assert_int_equal(buf[k], '#');
}

static void test_fmt_u64_writes_decimal(void **state)
{
    (void)state;
    char buf[32];
    const uint64_t values[] = {0, 7, 10, 99, 100, 12345, 1000000, UINT64_MAX};
    const char *want[] = {"0", "7", "10", "99", "100", "12345", "1000000", "18446744073709551615"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        *kp_fmt_u64(buf, values[i]) = '\0';
        assert_string_equal(buf, want[i]);
        assert_fmt_u64(values[i]);
    }
    /* The wide writer's lanes: every value below 10^6, and a stride through
     * the rest below 10^8. */
    for (uint64_t v = 0; v < 1000000; v++)
        assert_fmt_u64(v);
    for (uint64_t v = 1000000; v < 100000000; v += 9973)
        assert_fmt_u64(v);
    /* Every length: each power of ten, one below it, and powers of two. */
    uint64_t p = 1;
    for (int digits = 1; digits <= 20; digits++, p *= 10) {
        const uint64_t around[] = {p, p - 1, p + 1, p * 2 - 1};
        for (size_t k = 0; k < 4; k++) {
            if (digits == 20 && k == 3)
                continue; /* 2 * 10^19 - 1 does not fit */
            assert_fmt_u64(around[k]);
        }
    }
    for (int bit = 0; bit < 64; bit++) {
        uint64_t v = UINT64_C(1) << bit;
        const uint64_t around[] = {v, v - 1, v | (v - 1)};
        for (size_t k = 0; k < 3; k++)
            assert_fmt_u64(around[k]);
    }
    /* Every digit in every place: pseudo-random values of every length. */
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t v = x >> (i % 64);
        assert_fmt_u64(v);
    }
}

static void test_fmt_seconds_has_nine_decimals(void **state)
{
    (void)state;
    char buf[40];
    *kp_fmt_seconds(buf, 0) = '\0';
    assert_string_equal(buf, "0.000000000");
    *kp_fmt_seconds(buf, 1) = '\0';
    assert_string_equal(buf, "0.000000001");
    *kp_fmt_seconds(buf, INT64_C(1234567890123)) = '\0';
    assert_string_equal(buf, "1234.567890123");
    *kp_fmt_seconds(buf, -5) = '\0';
    assert_string_equal(buf, "0.000000000");
}

static void test_json_string_escapes(void **state)
{
    (void)state;
    char buf[256];
    const char *in = "a\"b\\c\nd\x01\xff\xc3\xa9<&>";
    *kp_json_string(buf, in, strlen(in), false) = '\0';
    assert_string_equal(buf, "\"a\\\"b\\\\c\\nd\\u0001\\ufffd\xc3\xa9<&>\"");
    /* For a page: no markup and no JavaScript line ends survive. */
    const char *html = "</script>\xe2\x80\xa8";
    *kp_json_string(buf, html, strlen(html), true) = '\0';
    assert_string_equal(buf, "\"\\u003c/script\\u003e\\u2028\"");
    /* A truncated UTF-8 sequence is one replacement per byte. */
    *kp_json_string(buf, "\xe2\x80", 2, false) = '\0';
    assert_string_equal(buf, "\"\\ufffd\\ufffd\"");
}

static void test_open_names_the_path(void **state)
{
    (void)state;
    kp_trace *tr;
    kp_err err;
    char path[512];
    snprintf(path, sizeof path, "%s/no/such/dir/t.jsonl", dir);
    assert_int_equal(kp_trace_open(&tr, path, 2, &err), KPOOL_EIO);
    assert_null(tr);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "cannot create the trace file"));
}

/* The pool's record of the task this process's worker runs
 * (kp_worker_shared.current): the tests below play a worker in this
 * process, and publish it as worker.c does. */
static _Atomic uint64_t running;

/* Becomes the worker of a slot, freshly started: no task running. */
static bool worker_begin(kp_trace *tr, int slot)
{
    atomic_store(&running, 0);
    return kp_trace_worker_begin(tr, slot, &running);
}

/* As worker.c runs a task: a task that does not follow the previous one
 * of its range begins a range (a new line), and the task is published
 * while it runs. */
static void task_begin(uint64_t index, uint32_t attempt, bool follows)
{
    if (!follows)
        kp_trace_range_begin(attempt);
    atomic_store(&running, index + 1);
}

static void task_end(const kp_outcome *o)
{
    atomic_store(&running, 0);
    kp_trace_task_end(o);
}

/* Opens a trace of 2 slots at dir/name and becomes the worker of slot 1. */
static kp_trace *open_as_worker(const char *name, char *path, size_t n)
{
    kp_trace *tr;
    kp_err err;
    snprintf(path, n, "%s/%s", dir, name);
    assert_int_equal(kp_trace_open(&tr, path, 2, &err), 0);
    kp_trace_start(tr, NULL, 0, 2.5);
    assert_true(worker_begin(tr, 1));
    return tr;
}

/* Runs tasks first..last in this worker as worker.c runs a range: the
 * first one starting afresh and each next one right after the previous
 * (`follows`), all ok with the given attempt; then the range ends. */
static void run_ok(uint64_t first, uint64_t last, uint32_t attempt)
{
    for (uint64_t i = first; i <= last; i++) {
        kp_outcome o = {.index = i, .kind = KP_TASK_OK, .attempts = (int)attempt};
        task_begin(i, attempt, i > first);
        task_end(&o);
    }
    kp_trace_range_end();
}

static void close_trace(kp_trace *tr)
{
    kp_err err;
    kp_trace_worker_flush();
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
}

static tline lines[64];

/* Writes text to the file at path. */
static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Opens a trace at path (1 slot) and writes one line of task 7 to it. */
static void trace_one_task(const char *path)
{
    kp_trace *tr;
    kp_err err;
    assert_int_equal(kp_trace_open(&tr, path, 1, &err), 0);
    kp_trace_start(tr, NULL, 0, 0);
    assert_true(worker_begin(tr, 0));
    run_ok(7, 7, 1);
    kp_trace_worker_flush();
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
}

/* A trace replaces the file at its path, whatever it was: the last run's
 * trace (created anew, in its mode), the file a symlink points to (written
 * through the link, which stays), a file with another link (truncated in
 * place, so both names hold the new trace). */
static void test_open_replaces_an_old_trace(void **state)
{
    (void)state;
    char path[512], target[512], other[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/old.jsonl", dir);
    put_file(path, "an old trace, longer than the new one will be, an old trace, an old trace\n"
                   "and more\n");
    assert_int_equal(chmod(path, 0640), 0);
    /* Whoever still reads the old trace keeps reading it whole. */
    int old = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(old >= 0);
    trace_one_task(path);
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].task, 7);
    char head[16] = "";
    assert_int_equal(pread(old, head, 12, 0), 12);
    assert_memory_equal(head, "an old trace", 12);
    close(old);
    assert_int_equal(stat(path, &st), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(st.st_mode & 0777, 0640 & ~mask);

    snprintf(target, sizeof target, "%s/target.jsonl", dir);
    snprintf(path, sizeof path, "%s/link.jsonl", dir);
    put_file(target, "old\n");
    assert_int_equal(symlink(target, path), 0);
    trace_one_task(path);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(read_lines(target, lines, 64), 1);
    assert_int_equal(lines[0].task, 7);

    snprintf(path, sizeof path, "%s/linked.jsonl", dir);
    snprintf(other, sizeof other, "%s/other-name.jsonl", dir);
    put_file(path, "old\nold\n");
    assert_int_equal(link(path, other), 0);
    trace_one_task(path);
    assert_int_equal(read_lines(other, lines, 64), 1);
    assert_int_equal(lines[0].task, 7);
}

/* An ok task and a failed one: the failure has its own line, with one
 * duration and its message after it. */
static void test_worker_writes_ok_and_failed_lines(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("lines.jsonl", path, sizeof path);
    run_ok(4, 4, 1);
    kp_outcome failed = {.index = 5, .kind = KP_TASK_FAILED, .message = "row \"5\" is empty"};
    task_begin(5, 1, true);
    task_end(&failed);
    close_trace(tr);

    const char *s = slurp(path);
    char want[128];
    snprintf(want, sizeof want, "{\"task\":4,\"worker\":1,\"pid\":%d,\"attempt\":1,\"start\":0.",
             (int)getpid());
    assert_memory_equal(s, want, strlen(want));
    assert_non_null(strstr(s, ",\"outcome\":\"ok\",\"ns\":["));
    assert_non_null(strstr(s, "]}\n{\"task\":5,\"worker\":1,"));
    assert_non_null(strstr(s, ",\"outcome\":\"failed\",\"ns\":["));
    assert_non_null(strstr(s, "],\"message\":\"row \\\"5\\\" is empty\"}\n"));
    assert_int_equal(read_lines(path, lines, 64), 2);
    assert_int_equal(lines[0].count, 1);
    /* The failed task started where the ok one ended. */
    assert_int_equal(lines[1].start, lines[0].end);
}

/* Tasks run back to back share one line: one duration each, in order, the
 * line's end their sum after its start. A task that starts afresh (a new
 * range) begins a new line even when its index is the next one. */
static void test_consecutive_tasks_share_a_line(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("consecutive.jsonl", path, sizeof path);
    run_ok(98, 1001, 3);
    usleep(1000); /* the clock moves on: the next task cannot start where 1001 ended */
    run_ok(1002, 1003, 3);
    close_trace(tr);
    assert_int_equal(read_lines(path, lines, 64), 2);
    assert_int_equal(lines[0].task, 98);
    assert_int_equal(lines[0].count, 904);
    assert_int_equal(lines[0].worker, 1);
    assert_int_equal(lines[0].pid, getpid());
    assert_int_equal(lines[0].attempt, 3);
    assert_string_equal(lines[0].outcome, "ok");
    assert_false(lines[0].has_message);
    assert_int_equal(lines[1].task, 1002);
    assert_int_equal(lines[1].count, 2);
    assert_true(lines[1].start > lines[0].end);
}

/* The durations are the clock's (trace.c reads the TSC between readings of
 * the clock where it can): a task that sleeps lasts at least its sleep, and
 * the tasks end before the clock read after them. Both hold however loaded
 * the machine is. */
static void test_durations_follow_the_clock(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr;
    kp_err err;
    snprintf(path, sizeof path, "%s/clock.jsonl", dir);
    assert_int_equal(kp_trace_open(&tr, path, 1, &err), 0);
    int64_t before = kp_now_ns(); /* at most t0 */
    kp_trace_start(tr, NULL, 0, 0);
    assert_true(worker_begin(tr, 0));
    const useconds_t sleep_us[] = {300, 1500, 300, 300, 1500, 300, 300, 300, 300, 300};
    enum { N = sizeof sleep_us / sizeof sleep_us[0] };
    for (uint64_t i = 0; i < N; i++) {
        kp_outcome o = {.index = i, .kind = KP_TASK_OK};
        task_begin(i, 1, i > 0);
        usleep(sleep_us[i]);
        task_end(&o);
    }
    int64_t after = kp_now_ns();
    close_trace(tr);
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].count, N);
    for (size_t i = 0; i < N; i++)
        assert_true(lines[0].first[i] >= sleep_us[i] * 990ull);
    assert_true(lines[0].end <= after - before + 1000);
}

/* What ends a run: a task that is not ok, a task whose job index is not the
 * next (a resumed run's map skips 5..7), and a task that does not follow
 * (another range: here, another attempt). */
static void test_runs_split_at_failures_gaps_and_attempts(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr;
    kp_err err;
    snprintf(path, sizeof path, "%s/split.jsonl", dir);
    assert_int_equal(kp_trace_open(&tr, path, 1, &err), 0);
    static const size_t left[] = {0, 1, 2, 3, 4, 8, 9, 10, 11, 12};
    kp_trace_start(tr, left, 10, 0);
    assert_true(worker_begin(tr, 0));
    run_ok(0, 1, 1);
    kp_outcome bad = {.index = 2, .kind = KP_TASK_BAD_INPUT, .message = "line 3: no"};
    task_begin(2, 1, true);
    task_end(&bad);
    for (uint64_t i = 3; i <= 6; i++) { /* job tasks 3, 4, 8, 9 */
        kp_outcome o = {.index = i, .kind = KP_TASK_OK};
        task_begin(i, 1, true);
        task_end(&o);
    }
    for (uint64_t i = 7; i <= 9; i++) { /* job task 10 on attempt 2, 11 and 12 on 1 */
        kp_outcome o = {.index = i, .kind = KP_TASK_OK};
        task_begin(i, i == 7 ? 2 : 1, i == 9);
        task_end(&o);
    }
    close_trace(tr);
    assert_int_equal(read_lines(path, lines, 64), 6);
    const unsigned long long task[] = {0, 2, 3, 8, 10, 11};
    const size_t count[] = {2, 1, 2, 2, 1, 2};
    const unsigned long long attempt[] = {1, 1, 1, 1, 2, 1};
    for (int k = 0; k < 6; k++) {
        assert_int_equal(lines[k].task, task[k]);
        assert_int_equal(lines[k].count, count[k]);
        assert_int_equal(lines[k].attempt, attempt[k]);
        /* Up to the new ranges, each started where the previous ended: only
         * the rule split them. */
        if (k > 0 && k < 4)
            assert_int_equal(lines[k].start, lines[k - 1].end);
        if (k >= 4)
            assert_true(lines[k].start >= lines[k - 1].end);
    }
    assert_string_equal(lines[1].outcome, "bad-input");
}

/* A flush writes the open run: its tasks are in the file before any task
 * after it runs, and the next task begins a new line. */
static void test_flush_closes_the_run(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("flush.jsonl", path, sizeof path);
    run_ok(0, 2, 1);
    kp_trace_worker_flush();
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].count, 3);
    kp_trace_worker_flush(); /* nothing more to write */
    assert_int_equal(read_lines(path, lines, 64), 1);
    kp_outcome o = {.index = 3, .kind = KP_TASK_OK};
    task_begin(3, 1, true);
    task_end(&o);
    close_trace(tr);
    assert_int_equal(read_lines(path, lines, 64), 2);
    assert_int_equal(lines[1].task, 3);
    assert_int_equal(lines[1].count, 1);
    /* The write's time is no task's. */
    assert_true(lines[1].start >= lines[0].end);
}

/* A run longer than one line may hold is continued on the next line, and
 * the buffer is written when it fills; every task is there once. */
static void test_long_runs_are_split(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("long.jsonl", path, sizeof path);
    run_ok(0, 199999, 1);
    close_trace(tr);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = NULL;
    size_t cap = 0, nlines = 0;
    unsigned long long next = 0;
    long long prev_end = -1;
    while (getline(&text, &cap, f) > 0) {
        if (!parse_line(text, &lines[0]))
            fail_msg("not a trace line: %.200s", text);
        assert_int_equal(lines[0].task, next);
        assert_int_equal(lines[0].start + (long long)lines[0].sum, lines[0].end);
        assert_true(lines[0].start >= prev_end);
        next += lines[0].count;
        prev_end = lines[0].end;
        nlines++;
    }
    free(text);
    fclose(f);
    assert_int_equal(next, 200000);
    assert_true(nlines >= 2);
}

/* A run longer than a line's readings (KP_TRACE_RUN_MAX) goes on on the next
 * line, which starts exactly where the previous one ended: no task is lost,
 * and the durations of all the lines add up to the last end less the first
 * start. */
static void test_a_run_longer_than_a_line_goes_on_exactly(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("capacity.jsonl", path, sizeof path);
    enum { TASKS = 3 * KP_TRACE_RUN_MAX + 5 };
    run_ok(0, TASKS - 1, 1);
    close_trace(tr);
    assert_int_equal(read_lines(path, lines, 64), 4);
    const size_t count[] = {KP_TRACE_RUN_MAX, KP_TRACE_RUN_MAX, KP_TRACE_RUN_MAX, 5};
    unsigned long long sum = 0;
    for (int k = 0; k < 4; k++) {
        assert_int_equal(lines[k].task, (unsigned long long)k * KP_TRACE_RUN_MAX);
        assert_int_equal(lines[k].count, count[k]);
        if (k > 0)
            assert_int_equal(lines[k].start, lines[k - 1].end);
        sum += lines[k].sum;
    }
    assert_int_equal(lines[0].start + (long long)sum, lines[3].end);
}

/* A handler that comes while the open run holds k readings writes a line of
 * exactly k durations, for k on both sides of a line's capacity; a task
 * that had begun gets its line from the coordinator, starting where the
 * handler's line ended. */
static void test_dying_writes_every_reading_of_the_run(void **state)
{
    (void)state;
    const uint64_t ks[] = {1, 2, 97, KP_TRACE_RUN_MAX - 1, KP_TRACE_RUN_MAX, KP_TRACE_RUN_MAX + 1};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        char path[512];
        kp_trace *tr = open_as_worker("readings.jsonl", path, sizeof path);
        run_ok(0, ks[i] - 1, 1);
        task_begin(ks[i], 1, true);
        kp_trace_worker_dying(SIGTERM);
        kp_err err;
        assert_int_equal(kp_trace_close(tr, true, &err), 0);
        size_t n = read_lines(path, lines, 64);
        assert_int_equal(n, ks[i] > KP_TRACE_RUN_MAX ? 3 : 2);
        size_t covered = 0;
        for (size_t k = 0; k + 1 < n; k++) {
            assert_string_equal(lines[k].outcome, "ok");
            assert_int_equal(lines[k].task, covered);
            covered += lines[k].count;
        }
        assert_int_equal(covered, ks[i]);
        assert_int_equal(lines[n - 1].task, ks[i]);
        assert_string_equal(lines[n - 1].outcome, "stopped");
        assert_int_equal(lines[n - 1].start, lines[n - 2].end);
    }
}

/* Short tasks are timed in groups. With a group never long enough, groups
 * double from one task (0, 1-2, 3-6, ..., 63-126, 127-254 ...), each
 * one entry [tasks,ns] of the line; a task that sleeps lengthens its group
 * (the groups around it are not compared: a loaded machine may preempt them
 * as long); and a task that fails inside a group ends it, its line starting
 * where the tasks before it end. */
static void test_short_tasks_are_timed_in_groups(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("groups.jsonl", path, sizeof path);
    kp_trace_local.min_span = UINT64_MAX / (4 * KP_TRACE_GROUP_MAX);
    for (uint64_t i = 0; i < 150; i++) {
        kp_outcome o = {.index = i, .kind = KP_TASK_OK, .attempts = 1};
        task_begin(i, 1, i > 0);
        if (i == 100)
            usleep(2000);
        task_end(&o);
    }
    kp_outcome bad = {.index = 150, .kind = KP_TASK_FAILED, .message = "no", .attempts = 1};
    task_begin(150, 1, true);
    task_end(&bad);
    close_trace(tr);
    assert_int_equal(read_lines(path, lines, 64), 2);
    assert_int_equal(lines[0].count, 150);
    /* The groups; the last one, 127-149, ends with task 150. */
    const unsigned long long tasks[] = {1, 2, 4, 8, 16, 32, 64, 23};
    assert_int_equal(lines[0].entries, sizeof tasks / sizeof tasks[0]);
    for (size_t g = 0; g < sizeof tasks / sizeof tasks[0]; g++)
        assert_int_equal(lines[0].first_tasks[g], tasks[g]);
    assert_true(lines[0].first[6] >= 2000000ull * 99 / 100);
    /* The failed task: its own line, from where the others end (its share
     * is converted to ns apart from theirs, with a rate that may have been
     * measured again during the sleep: not compared to the nanosecond). */
    assert_string_equal(lines[1].outcome, "failed");
    assert_int_equal(lines[1].start, lines[0].end);
}

/* Readings that go back (the TSC of another CPU a little behind) give
 * durations of 0, never negative ones, and the durations still add up to
 * the line's end; a line of readings seconds apart (beyond the 64-bit
 * product of the conversion) converts as exactly. The readings are set by
 * hand: this is what trace.h's inline path stores. */
static void test_readings_out_of_order_or_far_apart(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("order.jsonl", path, sizeof path);
    kp_trace_local.min_span = 0; /* every task read: no group */
    run_ok(0, 9, 1);
    uint64_t *r = kp_trace_local.read_at; /* every task read: task k's end */
    r[6] = r[2];
    kp_trace_worker_flush();
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].count, 10);
    assert_int_equal(lines[0].first[6], 0);

    run_ok(10, 14, 1);
    /* Some 30 seconds later, in ticks of at most 4 GHz or in ns. */
    r[4] = r[3] + (kp_trace_local.tsc ? UINT64_C(120000000000) : UINT64_C(30000000000));
    kp_trace_worker_flush();
    assert_int_equal(read_lines(path, lines, 64), 2);
    assert_int_equal(lines[1].task, 10);
    assert_int_equal(lines[1].count, 5);
    assert_true(lines[1].first[4] > 7000000000ull);
    assert_true(lines[1].first[3] < 1000000000ull);
    kp_err err;
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
}

/* The task of a worker killed by SIGKILL (no handler: the pool, reaping it,
 * records the task it ran, and the slot holds only the worker's reading of
 * its start) begins when it began and ends when the coordinator wrote it:
 * the coordinator converts the reading. */
static void test_a_killed_task_keeps_its_start(void **state)
{
    (void)state;
    char path[512];
    kp_err err;
    kp_trace *tr;
    snprintf(path, sizeof path, "%s/killed_start.jsonl", dir);
    assert_int_equal(kp_trace_open(&tr, path, 1, &err), 0);
    int64_t before = kp_now_ns(); /* at most t0 */
    kp_trace_start(tr, NULL, 0, 0);
    int64_t t0_max = kp_now_ns();
    assert_true(worker_begin(tr, 0));
    usleep(3000);
    int64_t begun = kp_now_ns();
    task_begin(5, 1, false);
    usleep(2000);
    kp_trace_worker_died(tr, 0, atomic_load(&running));
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
    int64_t after = kp_now_ns();
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].task, 5);
    /* t0 is in [before, t0_max]: the start is after `begun`, seen from
     * either end, give or take a microsecond. */
    assert_true(lines[0].start >= begun - t0_max - 1000);
    assert_true(lines[0].start <= after - before);
    assert_true(lines[0].end - lines[0].start >= 1990000);
    assert_true(lines[0].end <= after - before);
}

/* A resumed run's trace names the job's tasks, not the pool's. */
static void test_worker_maps_task_numbers(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr;
    kp_err err;
    snprintf(path, sizeof path, "%s/mapped.jsonl", dir);
    assert_int_equal(kp_trace_open(&tr, path, 1, &err), 0);
    static const size_t left[] = {3, 8, 20};
    kp_trace_start(tr, left, 3, 0);
    assert_true(worker_begin(tr, 0));
    assert_false(worker_begin(tr, 1)); /* beyond the trace's slots */
    assert_true(worker_begin(tr, 0));
    kp_outcome o = {.index = 2, .kind = KP_TASK_OK};
    task_begin(2, 1, false);
    task_end(&o);
    close_trace(tr);
    assert_memory_equal(slurp(path), "{\"task\":20,\"worker\":0,", 22);
}

/* A crash: the worker's handler writes the run it had open (the tasks it
 * finished), records the death, and the pool's failure writes the line of
 * the task it died under, with its own kind and message. */
static void test_dying_closes_the_open_run(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("crash.jsonl", path, sizeof path);
    run_ok(4, 6, 1);
    task_begin(7, 1, true);
    kp_trace_worker_dying(SIGSEGV);
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].task, 4);
    assert_int_equal(lines[0].count, 3);
    kp_outcome o = {.index = 7, .kind = KP_TASK_CRASHED, .message = "SIGSEGV", .attempts = 1};
    kp_trace_failure(tr, &o);
    kp_err err;
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
    assert_int_equal(read_lines(path, lines, 64), 2);
    assert_int_equal(lines[1].task, 7);
    assert_int_equal(lines[1].worker, 1);
    assert_int_equal(lines[1].attempt, 1);
    assert_string_equal(lines[1].outcome, "crashed");
    assert_int_equal(lines[1].start, lines[0].end);
    assert_non_null(strstr(slurp(path), ",\"outcome\":\"crashed\",\"ns\":["));
    assert_non_null(strstr(slurp(path), "],\"message\":\"SIGSEGV\"}\n"));
}

/* A SIGTERM that lands anywhere in the worker's bookkeeping, as a timeout
 * or an interrupt would: whatever instruction it interrupted, the handler
 * leaves the file holding tasks 0, 1, 2, ... each once, in valid lines. */
static void on_term(int sig)
{
    kp_trace_worker_dying(sig);
    _exit(0);
}

static void test_a_signal_anywhere_loses_no_line(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/term.jsonl", dir);
    for (int round = 0; round < 60; round++) {
        kp_trace *tr;
        kp_err err;
        assert_int_equal(kp_trace_open(&tr, path, 1, &err), 0);
        kp_trace_start(tr, NULL, 0, 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* A worker: runs of 1 to 40 tasks, a failure every 29th task, a
             * flush (with SIGTERM blocked, as worker.c does) every 97th,
             * until a timer sends SIGTERM, after 20 us to 2.2 ms. */
            signal(SIGTERM, on_term);
            if (!worker_begin(tr, 0))
                _exit(2);
            timer_t timer;
            struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGTERM};
            struct itimerspec when = {.it_value = {.tv_nsec = 20000 + round * 37000}};
            if (timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0 ||
                timer_settime(timer, 0, &when, NULL) != 0)
                _exit(3);
            sigset_t term, old;
            sigemptyset(&term);
            sigaddset(&term, SIGTERM);
            for (uint64_t i = 0;; i++) {
                kp_outcome o = {.index = i,
                                .kind = i % 29 == 28 ? KP_TASK_FAILED : KP_TASK_OK,
                                .message = "no"};
                task_begin(i, 1, i % 40 != 0);
                task_end(&o);
                if (i % 97 == 96) {
                    sigprocmask(SIG_BLOCK, &term, &old);
                    kp_trace_worker_flush();
                    sigprocmask(SIG_SETMASK, &old, NULL);
                }
            }
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        /* The task the signal came in, if any, is written here. */
        assert_int_equal(kp_trace_close(tr, false, &err), 0);
        const char *s = slurp(path);
        unsigned long long next = 0;
        while (*s) {
            const char *e = parse_line(s, &lines[0]);
            if (!e)
                fail_msg("round %d: not a trace line: %.200s", round, s);
            assert_int_equal(lines[0].task, next);
            assert_int_equal(lines[0].start + (long long)lines[0].sum, lines[0].end);
            if (strcmp(lines[0].outcome, "ok") != 0)
                assert_int_equal(lines[0].count, 1);
            next += lines[0].count;
            s = e;
        }
    }
}

/* A retried attempt: the slot's next worker writes the line. */
static void test_replacement_writes_the_retried_death(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("retry.jsonl", path, sizeof path);
    task_begin(9, 1, false);
    kp_trace_worker_dying(SIGTERM); /* the coordinator stopped it: a timeout */
    assert_true(worker_begin(tr, 1));
    close_trace(tr);
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].task, 9);
    assert_int_equal(lines[0].worker, 1);
    assert_non_null(strstr(slurp(path), "\"outcome\":\"timeout\",\"ns\":["));
    assert_non_null(
        strstr(slurp(path), "],\"message\":\"ran longer than task_timeout = 2.5 s\"}\n"));
}

/* A task open when the run stopped (SIGINT) is "stopped"; one whose worker
 * was SIGKILLed in a run that carried on is a crash by SIGKILL. Neither
 * worker ran a handler: the pool, reaping them, records their tasks. A
 * worker that died between tasks leaves no line. */
static void test_close_writes_open_tasks(void **state)
{
    (void)state;
    char path[512];
    kp_err err;
    kp_trace *tr = open_as_worker("stopped.jsonl", path, sizeof path);
    task_begin(11, 1, false);
    kp_trace_worker_died(tr, 1, atomic_load(&running));
    assert_int_equal(kp_trace_close(tr, true, &err), 0);
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].task, 11);
    assert_string_equal(lines[0].outcome, "stopped");
    assert_non_null(strstr(slurp(path), "],\"message\":\"the run stopped"));

    tr = open_as_worker("killed.jsonl", path, sizeof path);
    task_begin(12, 2, false);
    kp_trace_worker_died(tr, 1, atomic_load(&running));
    kp_trace_worker_died(tr, 0, 0); /* the other slot's worker ran nothing */
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
    assert_int_equal(read_lines(path, lines, 64), 1);
    assert_int_equal(lines[0].task, 12);
    assert_int_equal(lines[0].attempt, 2);
    assert_non_null(strstr(slurp(path), "\"outcome\":\"crashed\",\"ns\":["));
    assert_non_null(strstr(slurp(path), "],\"message\":\"SIGKILL\"}\n"));
}

/* A trace that is not a regular file (a FIFO here; /dev/stdout, say) is
 * written as it goes. */
static void test_trace_into_a_fifo(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/trace.fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* Read and write: opening it for writing then does not wait. */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    assert_true(fd >= 0);
    trace_one_task(path);
    static char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    buf[n] = '\0';
    tline l;
    const char *next = parse_line(buf, &l);
    assert_non_null(next);
    assert_string_equal(next, "");
    assert_int_equal(l.task, 7);
    assert_string_equal(l.outcome, "ok");
}

static void test_repair_drops_cut_lines(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/torn.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"task\":1,\"a\":1}\n"
          "{\"task\":2,\"wor{\"task\":3,\"b\":\"x\\\"y\"}\n"
          "garbage\n"
          "{\"task\":4,\"ns\":[10,2{\"task\":8,\"ns\":[5,6]}\n"
          "{\"task\":9,\"ns\":[1,2,",
          f);
    fclose(f);
    kp_err err;
    assert_int_equal(kp_trace_repair(path, &err), 0);
    assert_string_equal(slurp(path), "{\"task\":1,\"a\":1}\n"
                                     "{\"task\":3,\"b\":\"x\\\"y\"}\n"
                                     "{\"task\":8,\"ns\":[5,6]}\n");
    snprintf(path, sizeof path, "%s/missing.jsonl", dir);
    assert_int_equal(kp_trace_repair(path, &err), KPOOL_EIO);
    assert_non_null(strstr(err.msg, "missing.jsonl: cannot read the trace"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_u64_writes_decimal),
        cmocka_unit_test(test_fmt_seconds_has_nine_decimals),
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_open_names_the_path),
        cmocka_unit_test(test_open_replaces_an_old_trace),
        cmocka_unit_test(test_worker_writes_ok_and_failed_lines),
        cmocka_unit_test(test_consecutive_tasks_share_a_line),
        cmocka_unit_test(test_durations_follow_the_clock),
        cmocka_unit_test(test_runs_split_at_failures_gaps_and_attempts),
        cmocka_unit_test(test_flush_closes_the_run),
        cmocka_unit_test(test_long_runs_are_split),
        cmocka_unit_test(test_a_run_longer_than_a_line_goes_on_exactly),
        cmocka_unit_test(test_dying_writes_every_reading_of_the_run),
        cmocka_unit_test(test_short_tasks_are_timed_in_groups),
        cmocka_unit_test(test_readings_out_of_order_or_far_apart),
        cmocka_unit_test(test_a_killed_task_keeps_its_start),
        cmocka_unit_test(test_worker_maps_task_numbers),
        cmocka_unit_test(test_dying_closes_the_open_run),
        cmocka_unit_test(test_a_signal_anywhere_loses_no_line),
        cmocka_unit_test(test_replacement_writes_the_retried_death),
        cmocka_unit_test(test_close_writes_open_tasks),
        cmocka_unit_test(test_repair_drops_cut_lines),
        cmocka_unit_test(test_trace_into_a_fifo),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
