/* The HTML report: made from a trace, self-contained, user texts escaped,
 * the timeline capped however many tasks ran. (The page's drawing is tested
 * in a browser by tests/e2e/report.sh browser.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "report.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kp_report_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const kp_report_info info = {.job = "jobs/<b>&x.ini",
                                    .kernel = "crash_on_3",
                                    .plugin = "libtestkernels.so",
                                    .total = 4,
                                    .ok = 2,
                                    .failed = 2,
                                    .workers = 2,
                                    .wall_seconds = 0.5,
                                    .interrupted_by = SIGINT};

/* Writes the report of the trace at `trace` into a string (caller frees). */
static char *report_of(const char *trace, int *rc)
{
    char *page = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&page, &size);
    assert_non_null(out);
    kp_err err;
    kp_err_clear(&err);
    *rc = kp_report_write(out, "report.html", trace, &info, &err);
    fclose(out);
    return page;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_report_of_a_small_run(void **state)
{
    (void)state;
    char trace[512];
    snprintf(trace, sizeof trace, "%s/small.jsonl", dir);
    write_file(trace, "{\"task\":0,\"worker\":0,\"pid\":10,\"attempt\":1,\"start\":0.000001000,"
                      "\"end\":0.000002000,\"outcome\":\"ok\",\"ns\":[1000]}\n"
                      "{\"task\":1,\"worker\":1,\"pid\":11,\"attempt\":1,\"start\":0.000001000,"
                      "\"end\":0.100000000,\"outcome\":\"ok\",\"ns\":[99999000]}\n"
                      "not a trace line\n"
                      "{\"task\":3,\"worker\":1,\"pid\":11,\"attempt\":1,\"start\":0.200000000,"
                      "\"end\":0.200000100,\"outcome\":\"crashed\",\"ns\":[100],"
                      "\"message\":\"SIGSEGV\"}\n"
                      "{\"task\":2,\"worker\":0,\"pid\":10,\"attempt\":1,\"start\":0.3,"
                      "\"end\":0.4,\"outcome\":\"failed\",\"ns\":[100000000],"
                      "\"message\":\"</script><i>\\u00e9\\\"\"}\n");
    int rc;
    char *page = report_of(trace, &rc);
    assert_int_equal(rc, 0);
    /* Self-contained: nothing to fetch. */
    assert_null(strstr(page, "http://"));
    assert_null(strstr(page, "https://"));
    assert_null(strstr(page, " src="));
    assert_non_null(strstr(page, "<script type=\"application/json\" id=\"kpool-data\">{\"job\":"));
    /* User texts only as escaped JSON. */
    assert_null(strstr(page, "<b>&x"));
    assert_non_null(strstr(page, "\"job\":\"jobs/\\u003cb\\u003e\\u0026x.ini\""));
    assert_null(strstr(page, "</script><i>"));
    assert_non_null(strstr(page, "\"\\u003c/script\\u003e\\u003ci\\u003e\xc3\xa9\\\"\""));
    assert_non_null(strstr(page, "\"workers\":2,\"wall_ns\":500000000,"));
    assert_non_null(strstr(page, "\"attempts\":4,\"skipped_lines\":1,\"interrupted\":\"SIGINT\""));
    /* One segment per attempt here (none are neighbours), by worker. */
    assert_non_null(strstr(page, "\"segments\":[[0,1000,2000,1,0],[0,300000000,400000000,1,1],"
                                 "[1,1000,100000000,1,0],[1,200000000,200000100,1,3]]"));
    /* The failures, by task. */
    assert_non_null(strstr(page, "\"failures\":[[2,\"failed\","));
    assert_non_null(strstr(page, "[3,\"crashed\",\"SIGSEGV\",1,1]],\"failures_more\":0"));
    /* Durations: 100 ns and 1 us, 0.1 s twice, in 4 buckets per decade. */
    assert_non_null(strstr(page, "\"histogram\":{\"per_decade\":4,\"first\":8,\"counts\":[1,"));
    free(page);
}

/* 60000 attempts whose outcomes alternate cannot be merged by outcome: the
 * timeline still stays under the cap, and the failures table under its own. */
static void test_report_caps_what_it_draws(void **state)
{
    (void)state;
    char trace[512];
    snprintf(trace, sizeof trace, "%s/big.jsonl", dir);
    FILE *f = fopen(trace, "w");
    assert_non_null(f);
    for (int i = 0; i < 60000; i++)
        fprintf(f,
                "{\"task\":%d,\"worker\":%d,\"pid\":1,\"attempt\":1,\"start\":0.%09d,"
                "\"end\":0.%09d,\"outcome\":\"%s\",\"ns\":[5]%s}\n",
                i, i % 2, i * 10, i * 10 + 5, i % 4 < 2 ? "ok" : "failed",
                i % 4 < 2 ? "" : ",\"message\":\"no\"");
    fclose(f);
    int rc;
    char *page = report_of(trace, &rc);
    assert_int_equal(rc, 0);
    const char *seg = strstr(page, "\"segments\":[");
    assert_non_null(seg);
    size_t n = 1;
    for (const char *p = seg; *p && strncmp(p, "]]", 2) != 0; p++)
        n += strncmp(p, "],[", 3) == 0;
    assert_true(n <= KP_REPORT_MAX_SEGMENTS);
    assert_true(n >= 2);
    assert_non_null(strstr(page, "\"merge_outcomes\":true"));
    assert_non_null(strstr(page, "\"failures_more\":29500}"));
    free(page);
}

/* A line of a run stands for one record per task: task k starts where task
 * k - 1 ended, and lasts its own duration. */
static void test_report_expands_runs(void **state)
{
    (void)state;
    char trace[512];
    snprintf(trace, sizeof trace, "%s/runs.jsonl", dir);
    write_file(trace, "{\"task\":10,\"worker\":0,\"pid\":9,\"attempt\":1,\"start\":0.001000000,"
                      "\"end\":0.001001000,\"outcome\":\"ok\",\"ns\":[100,200,300,400]}\n"
                      "{\"task\":14,\"worker\":1,\"pid\":8,\"attempt\":1,\"start\":0.002000000,"
                      "\"end\":0.002000050,\"outcome\":\"timeout\",\"ns\":[50],"
                      "\"message\":\"slow\"}\n");
    int rc;
    char *page = report_of(trace, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(page, "\"attempts\":5,\"skipped_lines\":0,"));
    /* The four tasks touch: one segment of 4 tasks. */
    assert_non_null(strstr(page, "\"segments\":[[0,1000000,1001000,4,0],[1,2000000,2000050,1,4]]"));
    assert_non_null(strstr(page, "\"throughput\":{\"bucket_ns\":5000000,\"counts\":[5,0,"));
    /* 50 ns; 100 ns; 200 and 300 ns; 400 ns: each task on its own. */
    assert_non_null(
        strstr(page, "\"histogram\":{\"per_decade\":4,\"first\":4,\"counts\":[0,0,1,0,1,2,1,0]}"));
    assert_non_null(strstr(page, "\"failures\":[[14,\"timeout\",\"slow\",1,1]]"));
    free(page);
}

/* A group [n,d] of a line stands for n records that share d: d / n each,
 * the first d % n one more, each starting where the one before ended. */
static void test_report_expands_groups(void **state)
{
    (void)state;
    char trace[512];
    snprintf(trace, sizeof trace, "%s/groups.jsonl", dir);
    write_file(trace, "{\"task\":0,\"worker\":0,\"pid\":9,\"attempt\":1,\"start\":0.001000000,"
                      "\"end\":0.001001100,\"outcome\":\"ok\",\"ns\":[[4,400],[3,700]]}\n");
    int rc;
    char *page = report_of(trace, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(page, "\"attempts\":7,\"skipped_lines\":0,"));
    assert_non_null(strstr(page, "\"segments\":[[0,1000000,1001100,7,0]]"));
    /* Four of 100 ns, then 234, 233 and 233 ns. */
    assert_non_null(
        strstr(page, "\"histogram\":{\"per_decade\":4,\"first\":5,\"counts\":[0,0,0,4,3,0,0,0]}"));
    free(page);
}

/* Lines that are not trace lines are counted and skipped, never trusted:
 * no durations, durations that do not add up to end - start, a failure that
 * claims several tasks, numbers out of range, keys out of order. */
static void test_report_skips_malformed_lines(void **state)
{
    (void)state;
    /* task, start, end, and the rest of the line after end. */
    static const char *const lines[][4] = {
        /* Good: the durations add up, or are one ns off (a writer's rounding). */
        {"0", "0.000000100", "0.000000400", ",\"outcome\":\"ok\",\"ns\":[100,200]}"},
        {"2", "0.000000400", "0.000000501", ",\"outcome\":\"ok\",\"ns\":[100]}"},
        {"3", "0.000000501", "0.000000600", ",\"outcome\":\"ok\",\"ns\":[100]}"},
        /* Bad. */
        {"4", "0.1", "0.1", ",\"outcome\":\"ok\",\"ns\":[]}"},
        {"4", "0.1", "0.1", ",\"outcome\":\"ok\"}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[4,4]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[14]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"failed\",\"ns\":[5,5],\"message\":\"x\"}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[-10]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[10,]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[1e1]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[10}"},
        {"4", "0.1", "0.100000010", ",\"ns\":[10],\"outcome\":\"ok\"}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"failed\",\"message\":\"x\",\"ns\":[10]}"},
        {"4", "0", "9223372036.854775807",
         ",\"outcome\":\"ok\",\"ns\":[9223372036854775807,9223372036854775807]}"},
        {"4", "0", "99999999999.0", ",\"outcome\":\"ok\",\"ns\":[1]}"},
        {"18446744073709551615", "0", "0.000000002", ",\"outcome\":\"ok\",\"ns\":[1,1]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[10]"},
        /* Groups: of fewer than 2 or more than KP_TRACE_RUN_MAX tasks, not
         * closed, nested, or in a failure's line. */
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[[1,10]]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[[0,10]]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[[8193,10]]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[[2,10]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[[2,10,3]]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[[2]]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[[2,[2,10]]]}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"failed\",\"ns\":[[2,10]],\"message\":\"x\"}"},
        {"4", "0.1", "0.100000010", ",\"outcome\":\"ok\",\"ns\":[[2,5]]}"},
    };
    char trace[512];
    snprintf(trace, sizeof trace, "%s/bad.jsonl", dir);
    FILE *f = fopen(trace, "w");
    assert_non_null(f);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        fprintf(f, "{\"task\":%s,\"worker\":0,\"pid\":1,\"attempt\":1,\"start\":%s,\"end\":%s%s\n",
                lines[i][0], lines[i][1], lines[i][2], lines[i][3]);
    fclose(f);
    int rc;
    char *page = report_of(trace, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(page, "\"attempts\":4,\"skipped_lines\":24,"));
    free(page);
}

static void test_report_names_a_missing_trace(void **state)
{
    (void)state;
    char trace[512];
    snprintf(trace, sizeof trace, "%s/none.jsonl", dir);
    FILE *out = fopen("/dev/null", "w");
    kp_err err;
    assert_int_equal(kp_report_write(out, "r.html", trace, &info, &err), KPOOL_EIO);
    fclose(out);
    assert_non_null(strstr(err.msg, "none.jsonl: cannot read the trace"));
}

/* --report alone: the temporary trace goes away, the report stays; a run
 * that never started leaves no report. */
static void test_tracing_cleans_up(void **state)
{
    (void)state;
    char report[512];
    snprintf(report, sizeof report, "%s/r.html", dir);
    kp_tracing *t;
    kp_err err;
    assert_int_equal(kp_tracing_open(&t, NULL, report, 2, &err), 0);
    assert_int_equal(kp_tracing_close(t, &info, false, &err), 0);
    assert_int_equal(access(report, F_OK), 0);

    assert_int_equal(kp_tracing_open(&t, NULL, report, 2, &err), 0);
    assert_int_equal(kp_tracing_close(t, NULL, false, &err), 0);
    assert_int_not_equal(access(report, F_OK), 0);

    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/dir/r.html", dir);
    assert_int_equal(kp_tracing_open(&t, NULL, bad, 2, &err), KPOOL_EIO);
    assert_non_null(strstr(err.msg, "no/dir/r.html: cannot create the report"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_of_a_small_run),
        cmocka_unit_test(test_report_caps_what_it_draws),
        cmocka_unit_test(test_report_expands_runs),
        cmocka_unit_test(test_report_expands_groups),
        cmocka_unit_test(test_report_skips_malformed_lines),
        cmocka_unit_test(test_report_names_a_missing_trace),
        cmocka_unit_test(test_tracing_cleans_up),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
