/* The task trace: its number and string formatting, the lines a worker
 * writes, the lines of tasks whose worker died (paired with the pool's
 * failure, written by the replacement, or "stopped" at the end), and the
 * repair of lines a SIGKILL cut short. The worker side runs in this process:
 * it needs no fork to format and write. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "trace.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
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

/* Opens a trace of 2 slots at dir/name and becomes the worker of slot 1. */
static kp_trace *open_as_worker(const char *name, char *path, size_t n)
{
    kp_trace *tr;
    kp_err err;
    snprintf(path, n, "%s/%s", dir, name);
    assert_int_equal(kp_trace_open(&tr, path, 2, &err), 0);
    kp_trace_start(tr, NULL, 2.5);
    assert_true(kp_trace_worker_begin(tr, 1));
    return tr;
}

static void test_worker_writes_one_line_per_task(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("lines.jsonl", path, sizeof path);
    kp_outcome ok = {.index = 4, .kind = KP_TASK_OK, .attempts = 1};
    kp_trace_task_begin(4, 1, false);
    kp_trace_task_end(&ok);
    kp_outcome failed = {.index = 5, .kind = KP_TASK_FAILED, .message = "row \"5\" is empty"};
    kp_trace_task_begin(5, 1, true);
    kp_trace_task_end(&failed);
    kp_trace_worker_flush();
    kp_err err;
    assert_int_equal(kp_trace_close(tr, false, &err), 0);

    const char *s = slurp(path);
    assert_int_equal(count_lines(s), 2);
    char want[128];
    snprintf(want, sizeof want, "{\"task\":4,\"worker\":1,\"pid\":%d,\"attempt\":1,\"start\":0.",
             (int)getpid());
    assert_memory_equal(s, want, strlen(want));
    assert_non_null(strstr(s, ",\"outcome\":\"ok\"}\n{\"task\":5,\"worker\":1,"));
    assert_non_null(strstr(s, ",\"outcome\":\"failed\",\"message\":\"row \\\"5\\\" is empty\"}\n"));
}

/* Tasks that follow each other: the task number's text carries over digits,
 * and each start is the previous end, to the character. */
static void test_consecutive_ok_lines(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("consecutive.jsonl", path, sizeof path);
    for (uint64_t i = 98; i <= 101; i++) {
        kp_outcome o = {.index = i, .kind = KP_TASK_OK};
        kp_trace_task_begin(i, 3, i > 98);
        kp_trace_task_end(&o);
    }
    kp_outcome o = {.index = 1000, .kind = KP_TASK_OK};
    kp_trace_task_begin(1000, 3, false);
    kp_trace_task_end(&o);
    kp_trace_worker_flush();
    kp_err err;
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
    const char *s = slurp(path);
    assert_int_equal(count_lines(s), 5);
    const uint64_t want[] = {98, 99, 100, 101, 1000};
    char prev_end[32] = "";
    for (int k = 0; k < 5; k++) {
        char head[96];
        snprintf(head, sizeof head,
                 "{\"task\":%llu,\"worker\":1,\"pid\":%d,\"attempt\":3,\"start\":",
                 (unsigned long long)want[k], (int)getpid());
        assert_memory_equal(s, head, strlen(head));
        const char *start = s + strlen(head);
        const char *end = strstr(start, ",\"end\":") + 7;
        if (k > 0 && k < 4)
            assert_memory_equal(start, prev_end, strlen(prev_end));
        size_t n = (size_t)(strchr(end, ',') - end);
        memcpy(prev_end, end, n);
        prev_end[n] = '\0';
        assert_memory_equal(end + n, ",\"outcome\":\"ok\"}\n", 17);
        s = strchr(s, '\n') + 1;
    }
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
    kp_trace_start(tr, left, 0);
    assert_true(kp_trace_worker_begin(tr, 0));
    assert_false(kp_trace_worker_begin(tr, 1)); /* beyond the trace's slots */
    assert_true(kp_trace_worker_begin(tr, 0));
    kp_outcome o = {.index = 2, .kind = KP_TASK_OK};
    kp_trace_task_begin(2, 1, false);
    kp_trace_task_end(&o);
    kp_trace_worker_flush();
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
    assert_memory_equal(slurp(path), "{\"task\":20,\"worker\":0,", 22);
}

/* A crash: the worker's handler records the death, the pool's failure
 * writes the line with its own kind and message. */
static void test_failure_pairs_with_the_dead_task(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("crash.jsonl", path, sizeof path);
    kp_trace_task_begin(7, 1, false);
    kp_trace_worker_dying(SIGSEGV);
    kp_outcome o = {.index = 7, .kind = KP_TASK_CRASHED, .message = "SIGSEGV", .attempts = 1};
    kp_trace_failure(tr, &o);
    kp_err err;
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
    const char *s = slurp(path);
    assert_int_equal(count_lines(s), 1);
    assert_memory_equal(s, "{\"task\":7,\"worker\":1,", 21);
    assert_non_null(strstr(s, ",\"attempt\":1,"));
    assert_non_null(strstr(s, ",\"outcome\":\"crashed\",\"message\":\"SIGSEGV\"}\n"));
}

/* A retried attempt: the slot's next worker writes the line. */
static void test_replacement_writes_the_retried_death(void **state)
{
    (void)state;
    char path[512];
    kp_trace *tr = open_as_worker("retry.jsonl", path, sizeof path);
    kp_trace_task_begin(9, 1, false);
    kp_trace_worker_dying(SIGTERM); /* the coordinator stopped it: a timeout */
    assert_true(kp_trace_worker_begin(tr, 1));
    kp_trace_worker_flush();
    kp_err err;
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
    const char *s = slurp(path);
    assert_int_equal(count_lines(s), 1);
    assert_non_null(strstr(s, "{\"task\":9,\"worker\":1,"));
    assert_non_null(strstr(
        s, "\"outcome\":\"timeout\",\"message\":\"ran longer than task_timeout = 2.5 s\"}\n"));
}

/* A task open when the run stopped (SIGINT) is "stopped"; one whose worker
 * was SIGKILLed in a run that carried on is a crash by SIGKILL. */
static void test_close_writes_open_tasks(void **state)
{
    (void)state;
    char path[512];
    kp_err err;
    kp_trace *tr = open_as_worker("stopped.jsonl", path, sizeof path);
    kp_trace_task_begin(11, 1, false);
    assert_int_equal(kp_trace_close(tr, true, &err), 0);
    assert_non_null(strstr(slurp(path), "{\"task\":11,\"worker\":1,"));
    assert_non_null(strstr(slurp(path), "\"outcome\":\"stopped\",\"message\":\"the run stopped"));

    tr = open_as_worker("killed.jsonl", path, sizeof path);
    kp_trace_task_begin(12, 2, false);
    assert_int_equal(kp_trace_close(tr, false, &err), 0);
    assert_non_null(strstr(slurp(path), "\"attempt\":2,"));
    assert_non_null(strstr(slurp(path), "\"outcome\":\"crashed\",\"message\":\"SIGKILL\"}"));
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
          "{\"task\":4,\"c\":4}\n"
          "{\"task\":5,\"cut",
          f);
    fclose(f);
    kp_err err;
    assert_int_equal(kp_trace_repair(path, &err), 0);
    assert_string_equal(slurp(path), "{\"task\":1,\"a\":1}\n"
                                     "{\"task\":3,\"b\":\"x\\\"y\"}\n"
                                     "{\"task\":4,\"c\":4}\n");
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
        cmocka_unit_test(test_worker_writes_one_line_per_task),
        cmocka_unit_test(test_consecutive_ok_lines),
        cmocka_unit_test(test_worker_maps_task_numbers),
        cmocka_unit_test(test_failure_pairs_with_the_dead_task),
        cmocka_unit_test(test_replacement_writes_the_retried_death),
        cmocka_unit_test(test_close_writes_open_tasks),
        cmocka_unit_test(test_repair_drops_cut_lines),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
