/* test_output.c - result files, the failure log and float formatting. */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#ifndef KP_TEST_TMP_DIR
#define KP_TEST_TMP_DIR "/tmp"
#endif

static char tmp_dir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    mkdir(KP_TEST_TMP_DIR, 0777);
    snprintf(tmp_dir, sizeof tmp_dir, "%s/test_output.XXXXXX", KP_TEST_TMP_DIR);
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path inside the test's temporary directory (static storage). */
static const char *tmp_path(const char *name)
{
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return path;
}

/* Reads a whole file; the caller frees it. The text is NUL-terminated. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *data = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (cap + 4096) * 2;
            data = realloc(data, cap);
            assert_non_null(data);
        }
        size_t got = fread(data + n, 1, 4096, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    data[n] = '\0';
    if (len)
        *len = n;
    return data;
}

/* ---- outcomes ---------------------------------------------------------- */

static kp_outcome ok_i(size_t index, kp_type t, int64_t v)
{
    kp_outcome o = {.index = index, .kind = KP_TASK_OK, .type = t, .attempts = 1};
    o.value.i = v;
    return o;
}

static kp_outcome ok_u(size_t index, kp_type t, uint64_t v)
{
    kp_outcome o = {.index = index, .kind = KP_TASK_OK, .type = t, .attempts = 1};
    o.value.u = v;
    return o;
}

static kp_outcome ok_b(size_t index, bool v)
{
    kp_outcome o = {.index = index, .kind = KP_TASK_OK, .type = KP_T_BOOL, .attempts = 1};
    o.value.b = v;
    return o;
}

static kp_outcome ok_f64(size_t index, double v)
{
    kp_outcome o = {.index = index, .kind = KP_TASK_OK, .type = KP_T_F64, .attempts = 1};
    o.value.f64 = v;
    return o;
}

static kp_outcome ok_f32(size_t index, float v)
{
    kp_outcome o = {.index = index, .kind = KP_TASK_OK, .type = KP_T_F32, .attempts = 1};
    o.value.f32 = v;
    return o;
}

static kp_outcome ok_str(size_t index, const char *s)
{
    kp_outcome o = {.index = index, .kind = KP_TASK_OK, .type = KP_T_STR, .attempts = 1};
    o.str = s;
    return o;
}

static kp_outcome ok_void(size_t index)
{
    kp_outcome o = {.index = index, .kind = KP_TASK_OK, .type = KP_T_VOID, .attempts = 1};
    return o;
}

static kp_outcome failure(size_t index, kp_task_kind kind, const char *message, int sig,
                          int attempts)
{
    kp_outcome o = {.index = index,
                    .kind = kind,
                    .type = KP_T_VOID,
                    .message = message,
                    .signal = sig,
                    .attempts = attempts};
    return o;
}

/* Writes the outcomes to a fresh file and returns its contents (caller frees). */
static char *write_file(const char *name, kp_output_format format, kp_type type, bool index,
                        const kp_outcome *outcomes, size_t n, size_t *len)
{
    const char *path = tmp_path(name);
    kp_output_config cfg = {
        .path = path, .format = format, .index = index, .type = type, .total = n};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    for (size_t i = 0; i < n; i++) {
        int rc = kp_output_write(out, &outcomes[i], &err);
        if (rc)
            fail_msg("write %zu: %s", i, err.msg);
    }
    int rc = kp_output_close(out, &err);
    if (rc)
        fail_msg("close: %s", err.msg);
    return slurp(path, len);
}

static void assert_file_text(const char *name, kp_output_format format, kp_type type, bool index,
                             const kp_outcome *outcomes, size_t n, const char *expected)
{
    char *text = write_file(name, format, type, index, outcomes, n, NULL);
    assert_string_equal(text, expected);
    free(text);
}

/* Writes outcomes[0..n) once with kp_output_write and once as one run with
 * kp_output_write_run (values 16 bytes apart, as the pool passes them) and
 * asserts the files are equal. */
static void assert_run_same(kp_output_format format, kp_type type, bool index,
                            const kp_outcome *outcomes, size_t n)
{
    size_t len_one, len_run;
    char *one = write_file("one", format, type, index, outcomes, n, &len_one);
    unsigned char *values = calloc(n ? n : 1, 16);
    for (size_t i = 0; i < n; i++)
        memcpy(values + 16 * i, &outcomes[i].value, 8);
    const char *path = tmp_path("run");
    kp_output_config cfg = {
        .path = path, .format = format, .index = index, .type = type, .total = n};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    assert_int_equal(kp_output_write_run(out, 0, type, values, 16, n, &err), 0);
    assert_int_equal(kp_output_close(out, &err), 0);
    char *run = slurp(path, &len_run);
    assert_int_equal(len_one, len_run);
    assert_memory_equal(one, run, len_one);
    free(one);
    free(run);
    free(values);
}

static void test_write_run_same_as_one_by_one(void **state)
{
    (void)state;
    /* More lines than one formatting block holds, of every length and sign. */
    enum { N = 5000 };
    kp_outcome *o = calloc(N, sizeof *o);
    for (size_t i = 0; i < N; i++) {
        int64_t v = (int64_t)(i * i * i * 2654435761u);
        if (i % 3 == 1)
            v = -v;
        if (i == 17)
            v = INT64_MIN;
        if (i == 18)
            v = INT64_MAX;
        o[i] = ok_i(i, KP_T_I64, v);
    }
    for (int format = KP_OUT_CSV; format <= KP_OUT_JSONL; format++)
        for (int index = 0; index < 2; index++)
            assert_run_same((kp_output_format)format, KP_T_I64, index, o, N);
    for (size_t i = 0; i < N; i++)
        o[i] = ok_u(i, KP_T_U64, i == 5 ? UINT64_MAX : i * 0x9e3779b97f4a7c15u);
    assert_run_same(KP_OUT_CSV, KP_T_U64, false, o, N);
    assert_run_same(KP_OUT_JSONL, KP_T_U64, false, o, N);
    for (size_t i = 0; i < N; i++)
        o[i] = ok_i(i, KP_T_I8, (int64_t)(i % 256) - 128);
    assert_run_same(KP_OUT_CSV, KP_T_I8, false, o, N);
    for (size_t i = 0; i < N; i++)
        o[i] = ok_f64(i, (double)i / 7.0);
    assert_run_same(KP_OUT_CSV, KP_T_F64, false, o, N);
    assert_run_same(KP_OUT_NPY, KP_T_F64, false, o, N);
    assert_run_same(KP_OUT_CSV, KP_T_F64, false, o, 0);
    /* npy slots of every width, packed from 16-byte-apart values. */
    static const kp_type ints[] = {KP_T_I8, KP_T_I16, KP_T_I32, KP_T_I64};
    static const kp_type uints[] = {KP_T_U8, KP_T_U16, KP_T_U32, KP_T_U64};
    for (size_t t = 0; t < 4; t++) {
        for (size_t i = 0; i < N; i++)
            o[i] = ok_i(i, ints[t], (int64_t)(i * 0x9e3779b97f4a7c15u) >> (64 - (8 << t)));
        assert_run_same(KP_OUT_NPY, ints[t], false, o, N);
        for (size_t i = 0; i < N; i++)
            o[i] = ok_u(i, uints[t], (i * 0x9e3779b97f4a7c15u) >> (64 - (8 << t)));
        assert_run_same(KP_OUT_NPY, uints[t], false, o, N);
    }
    for (size_t i = 0; i < N; i++)
        o[i] = ok_f32(i, (float)i / 3.0f);
    assert_run_same(KP_OUT_NPY, KP_T_F32, false, o, N);
    for (size_t i = 0; i < N; i++)
        o[i] = ok_b(i, i % 3 == 0);
    assert_run_same(KP_OUT_NPY, KP_T_BOOL, false, o, N);
    free(o);
}

/* An npy run must start at the next slot and fit the slots the header
 * declares; the error names the task and slot as one by one would. */
static void test_npy_run_out_of_place_is_refused(void **state)
{
    (void)state;
    kp_output_config cfg = {
        .path = tmp_path("npyrun"), .format = KP_OUT_NPY, .type = KP_T_I64, .total = 4};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    unsigned char v[5 * 8] = {0};
    assert_int_equal(kp_output_write_run(out, 1, KP_T_I64, v, 8, 2, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "task 1 arrived for slot 0"));
    assert_int_equal(kp_output_write_run(out, 0, KP_T_I64, v, 8, 5, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "task 4 is one result too many"));
    kp_output_close(out, &err);
}

static void test_write_run_of_another_type_is_refused(void **state)
{
    (void)state;
    kp_output_config cfg = {.path = tmp_path("type"), .format = KP_OUT_CSV, .type = KP_T_I64};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    unsigned char v[16] = {0};
    assert_int_equal(kp_output_write_run(out, 4, KP_T_F64, v, 16, 1, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "task 4 returned f64, but the output holds i64"));
    kp_output_close(out, &err);
}

static void put_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static kp_output *open_kept(const char *path, kp_output_format format, uint64_t bytes, size_t tasks,
                            int expect, kp_err *err)
{
    kp_output_config cfg = {.path = path,
                            .format = format,
                            .type = KP_T_I64,
                            .total = 4,
                            .keep_bytes = bytes,
                            .keep_tasks = tasks};
    kp_output *out = NULL;
    assert_int_equal(kp_output_open(&out, &cfg, err), expect);
    return out;
}

static void test_resume_keeps_the_prefix_and_drops_the_rest(void **state)
{
    (void)state;
    const char *path = tmp_path("kept.csv");
    put_text(path, "1\n2\n3\nhal");
    kp_err err = {0};
    kp_output *out = open_kept(path, KP_OUT_CSV, 4, 2, 0, &err);
    assert_int_equal(kp_output_tell(out), 4);
    kp_outcome o = ok_i(2, KP_T_I64, 30);
    assert_int_equal(kp_output_write(out, &o, &err), 0);
    assert_int_equal(kp_output_tell(out), 7);
    assert_int_equal(kp_output_flush(out, &err), 0);
    o = ok_i(3, KP_T_I64, 40);
    assert_int_equal(kp_output_write(out, &o, &err), 0);
    assert_int_equal(kp_output_close(out, &err), 0);
    char *text = slurp(path, NULL);
    assert_string_equal(text, "1\n2\n30\n40\n");
    free(text);
}

static void test_resume_refuses_an_output_that_lost_its_prefix(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s", tmp_path("lost.csv"));
    kp_err err = {0};
    put_text(path, "1\n");
    assert_null(open_kept(path, KP_OUT_CSV, 4, 2, KPOOL_EJOB, &err));
    assert_non_null(strstr(err.msg, "lost.csv no longer holds the 4 bytes of results"));
    put_text(path, "1\n22\n");
    assert_null(open_kept(path, KP_OUT_CSV, 4, 2, KPOOL_EJOB, &err)); /* not a line's end */
    assert_null(open_kept(tmp_path("absent.csv"), KP_OUT_CSV, 4, 2, KPOOL_EIO, &err));
    assert_non_null(strstr(err.msg, "absent.csv: cannot open to resume"));
    /* The text was not touched by the refusals. */
    char *text = slurp(path, NULL);
    assert_string_equal(text, "1\n22\n");
    free(text);
}

static void test_resume_npy_continues_after_its_slots(void **state)
{
    (void)state;
    kp_outcome all[] = {ok_i(0, KP_T_I64, 7), ok_i(1, KP_T_I64, 8), ok_i(2, KP_T_I64, 9),
                        ok_i(3, KP_T_I64, 10)};
    size_t full_len;
    char *full = write_file("full.npy", KP_OUT_NPY, KP_T_I64, false, all, 4, &full_len);
    /* An interrupted run: the header and two slots, then part of a third. */
    const char *path = tmp_path("part.npy");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(full, 1, full_len - 16 + 3, f);
    fclose(f);
    kp_err err = {0};
    kp_output *out = open_kept(path, KP_OUT_NPY, full_len - 16, 2, 0, &err);
    assert_int_equal(kp_output_write(out, &all[2], &err), 0);
    assert_int_equal(kp_output_write(out, &all[3], &err), 0);
    assert_int_equal(kp_output_close(out, &err), 0);
    size_t len;
    char *part = slurp(path, &len);
    assert_int_equal(len, full_len);
    assert_memory_equal(part, full, len);
    free(part);
    free(full);
}

/* ---- csv --------------------------------------------------------------- */

static void test_csv_integers_one_line_per_task(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_i(0, KP_T_I64, 3), ok_i(1, KP_T_I64, -7), ok_i(2, KP_T_I64, INT64_MIN),
                      ok_i(3, KP_T_I64, INT64_MAX), ok_i(4, KP_T_I64, 0)};
    assert_file_text("i64.csv", KP_OUT_CSV, KP_T_I64, false, o, 5,
                     "3\n-7\n-9223372036854775808\n9223372036854775807\n0\n");
    kp_outcome small[] = {ok_i(0, KP_T_I8, -128), ok_i(1, KP_T_I8, 127)};
    assert_file_text("i8.csv", KP_OUT_CSV, KP_T_I8, false, small, 2, "-128\n127\n");
}

static void test_csv_unsigned_full_range(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_u(0, KP_T_U64, UINT64_MAX), ok_u(1, KP_T_U64, 10)};
    assert_file_text("u64.csv", KP_OUT_CSV, KP_T_U64, false, o, 2, "18446744073709551615\n10\n");
    kp_outcome u8[] = {ok_u(0, KP_T_U8, 255)};
    assert_file_text("u8.csv", KP_OUT_CSV, KP_T_U8, true, u8, 1, "0,255\n");
}

static void test_csv_index_prefixes_each_line(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_i(2, KP_T_I32, 5), ok_i(0, KP_T_I32, 6), ok_i(12345678901, KP_T_I32, 7)};
    assert_file_text("index.csv", KP_OUT_CSV, KP_T_I32, true, o, 3, "2,5\n0,6\n12345678901,7\n");
}

static void test_csv_failed_task_keeps_its_line(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_i(0, KP_T_I64, 1), failure(1, KP_TASK_CRASHED, "SIGSEGV", SIGSEGV, 1),
                      ok_i(2, KP_T_I64, 3), failure(3, KP_TASK_FAILED, "row 3 is empty", 0, 1),
                      failure(4, KP_TASK_NOT_RUN, NULL, 0, 0)};
    assert_file_text("failed.csv", KP_OUT_CSV, KP_T_I64, false, o, 5, "1\n\n3\n\n\n");
    assert_file_text("failed_index.csv", KP_OUT_CSV, KP_T_I64, true, o, 5,
                     "0,1\n1,\n2,3\n3,\n4,\n");
}

static void test_csv_bool_is_true_false(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_b(0, true), ok_b(1, false),
                      failure(2, KP_TASK_TIMEOUT, "after 1 s", 0, 1)};
    assert_file_text("bool.csv", KP_OUT_CSV, KP_T_BOOL, true, o, 3, "0,true\n1,false\n2,\n");
}

static void test_csv_floats_are_shortest_repr(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_f64(0, 0.1),      ok_f64(1, 1e16),      ok_f64(2, NAN),
                      ok_f64(3, INFINITY), ok_f64(4, -INFINITY), ok_f64(5, -0.0),
                      ok_f64(6, 0.1 + 0.2)};
    assert_file_text("f64.csv", KP_OUT_CSV, KP_T_F64, false, o, 7,
                     "0.1\n1e+16\nnan\ninf\n-inf\n-0.0\n0.30000000000000004\n");
    kp_outcome f[] = {ok_f32(0, 0.1f), ok_f32(1, 16777216.0f)};
    assert_file_text("f32.csv", KP_OUT_CSV, KP_T_F32, false, f, 2, "0.1\n16777216.0\n");
}

static void test_csv_strings_are_quoted_when_needed(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_str(0, "plain"),      ok_str(1, "a,b"),  ok_str(2, "say \"hi\""),
                      ok_str(3, "two\nlines"), ok_str(4, "cr\r"), ok_str(5, ""),
                      ok_str(6, NULL),         ok_str(7, "\"")};
    assert_file_text("str.csv", KP_OUT_CSV, KP_T_STR, false, o, 8,
                     "plain\n\"a,b\"\n\"say \"\"hi\"\"\"\n\"two\nlines\"\n\"cr\r\"\n\"\"\n\n"
                     "\"\"\"\"\n");
    kp_outcome f[] = {ok_str(0, "x y"), failure(1, KP_TASK_FAILED, "no", 0, 1)};
    assert_file_text("str_index.csv", KP_OUT_CSV, KP_T_STR, true, f, 2, "0,x y\n1,\n");
}

static void test_csv_void_writes_nothing_without_index(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_void(0), failure(1, KP_TASK_CRASHED, "SIGABRT", SIGABRT, 1), ok_void(2)};
    assert_file_text("void.csv", KP_OUT_CSV, KP_T_VOID, false, o, 3, "");
}

static void test_csv_void_index_lists_successes(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_void(0), failure(1, KP_TASK_CRASHED, "SIGABRT", SIGABRT, 1), ok_void(2)};
    assert_file_text("void_index.csv", KP_OUT_CSV, KP_T_VOID, true, o, 3, "0\n2\n");
}

/* ---- jsonl ------------------------------------------------------------- */

static void test_jsonl_result_and_error_objects(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_i(7, KP_T_I64, 3), failure(8, KP_TASK_CRASHED, "SIGSEGV", SIGSEGV, 1),
                      ok_i(9, KP_T_I64, -1)};
    assert_file_text("res.jsonl", KP_OUT_JSONL, KP_T_I64, false, o, 3,
                     "{\"index\": 7, \"result\": 3}\n"
                     "{\"index\": 8, \"error\": \"crashed\", \"message\": \"SIGSEGV\"}\n"
                     "{\"index\": 9, \"result\": -1}\n");
}

static void test_jsonl_every_failure_kind(void **state)
{
    (void)state;
    kp_outcome o[] = {failure(0, KP_TASK_FAILED, "row 0 is empty", 0, 1),
                      failure(1, KP_TASK_TIMEOUT, "after 2.5 s", 0, 2),
                      failure(2, KP_TASK_BAD_INPUT, "line 3: minimum: not a number", 0, 1),
                      failure(3, KP_TASK_CRASHED, NULL, SIGBUS, 1),
                      failure(4, KP_TASK_FAILED, NULL, 0, 1),
                      failure(5, KP_TASK_NOT_RUN, "the run was stopped", 0, 0)};
    assert_file_text(
        "kinds.jsonl", KP_OUT_JSONL, KP_T_U32, true, o, 6,
        "{\"index\": 0, \"error\": \"failed\", \"message\": \"row 0 is empty\"}\n"
        "{\"index\": 1, \"error\": \"timeout\", \"message\": \"after 2.5 s\"}\n"
        "{\"index\": 2, \"error\": \"bad-input\", \"message\": \"line 3: minimum: not a number\"}\n"
        "{\"index\": 3, \"error\": \"crashed\", \"message\": \"SIGBUS\"}\n"
        "{\"index\": 4, \"error\": \"failed\", \"message\": \"\"}\n"
        "{\"index\": 5, \"error\": \"not-run\", \"message\": \"the run was stopped\"}\n");
}

static void test_jsonl_floats_like_json_dumps(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_f64(0, 0.1 + 0.2), ok_f64(1, NAN),  ok_f64(2, INFINITY),
                      ok_f64(3, -INFINITY), ok_f64(4, 1e22), ok_f64(5, -0.0)};
    assert_file_text("f64.jsonl", KP_OUT_JSONL, KP_T_F64, false, o, 6,
                     "{\"index\": 0, \"result\": 0.30000000000000004}\n"
                     "{\"index\": 1, \"result\": NaN}\n"
                     "{\"index\": 2, \"result\": Infinity}\n"
                     "{\"index\": 3, \"result\": -Infinity}\n"
                     "{\"index\": 4, \"result\": 1e+22}\n"
                     "{\"index\": 5, \"result\": -0.0}\n");
    kp_outcome f[] = {ok_f32(0, 3.4028235e+38f), ok_f32(1, -NAN),
                      failure(2, KP_TASK_FAILED, "x", 0, 1)};
    assert_file_text("f32.jsonl", KP_OUT_JSONL, KP_T_F32, false, f, 3,
                     "{\"index\": 0, \"result\": 3.4028235e+38}\n"
                     "{\"index\": 1, \"result\": NaN}\n"
                     "{\"index\": 2, \"error\": \"failed\", \"message\": \"x\"}\n");
}

static void test_jsonl_bool_and_unsigned(void **state)
{
    (void)state;
    kp_outcome b[] = {ok_b(0, true), ok_b(1, false)};
    assert_file_text("bool.jsonl", KP_OUT_JSONL, KP_T_BOOL, false, b, 2,
                     "{\"index\": 0, \"result\": true}\n{\"index\": 1, \"result\": false}\n");
    kp_outcome u[] = {ok_u(0, KP_T_U64, UINT64_MAX), ok_u(1, KP_T_U64, 0)};
    assert_file_text("u64.jsonl", KP_OUT_JSONL, KP_T_U64, false, u, 2,
                     "{\"index\": 0, \"result\": 18446744073709551615}\n"
                     "{\"index\": 1, \"result\": 0}\n");
}

static void test_jsonl_strings_are_escaped(void **state)
{
    (void)state;
    kp_outcome o[] = {
        ok_str(0, "say \"hi\" \\ bye"),
        ok_str(1, "tab\tnl\ncr\rbs\bff\f"),
        ok_str(2, "\x01\x1f\x7f"),
        ok_str(3, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"),
        ok_str(4, "bad \xff end"),
        ok_str(5, "overlong \xc0\xaf surrogate \xed\xa0\x80 cut \xe2\x82"),
        ok_str(6, NULL),
        ok_str(7, ""),
    };
    assert_file_text("str.jsonl", KP_OUT_JSONL, KP_T_STR, false, o, 8,
                     "{\"index\": 0, \"result\": \"say \\\"hi\\\" \\\\ bye\"}\n"
                     "{\"index\": 1, \"result\": \"tab\\tnl\\ncr\\rbs\\bff\\f\"}\n"
                     "{\"index\": 2, \"result\": \"\\u0001\\u001f\x7f\"}\n"
                     "{\"index\": 3, \"result\": \"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"}\n"
                     "{\"index\": 4, \"result\": \"bad \\ufffd end\"}\n"
                     "{\"index\": 5, \"result\": \"overlong \\ufffd\\ufffd surrogate "
                     "\\ufffd\\ufffd\\ufffd cut \\ufffd\\ufffd\"}\n"
                     "{\"index\": 6, \"result\": null}\n"
                     "{\"index\": 7, \"result\": \"\"}\n");
    kp_outcome f[] = {failure(0, KP_TASK_FAILED, "quote \" and\nnewline", 0, 1)};
    assert_file_text("msg.jsonl", KP_OUT_JSONL, KP_T_I64, false, f, 1,
                     "{\"index\": 0, \"error\": \"failed\", \"message\": \"quote \\\" "
                     "and\\nnewline\"}\n");
}

static void test_jsonl_void_writes_successful_indices(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_void(4), failure(5, KP_TASK_CRASHED, "SIGSEGV", SIGSEGV, 1), ok_void(6)};
    assert_file_text("void_index.jsonl", KP_OUT_JSONL, KP_T_VOID, true, o, 3,
                     "{\"index\": 4}\n{\"index\": 6}\n");
    assert_file_text("void.jsonl", KP_OUT_JSONL, KP_T_VOID, false, o, 3, "");
}

/* ---- npy --------------------------------------------------------------- */

typedef struct npy_file {
    char *bytes;
    size_t len;
    size_t header_len;
    const char *header; /* not NUL-terminated */
    const unsigned char *data;
    size_t data_len;
} npy_file;

/* Parses an npy file the way numpy's reader does and checks its framing. */
static void npy_parse(char *bytes, size_t len, npy_file *f)
{
    f->bytes = bytes;
    f->len = len;
    assert_true(len >= 10);
    assert_memory_equal(bytes, "\x93NUMPY\x01\x00", 8);
    f->header_len = (size_t)(unsigned char)bytes[8] | (size_t)(unsigned char)bytes[9] << 8;
    assert_true(10 + f->header_len <= len);
    assert_int_equal((10 + f->header_len) % 64, 0);
    f->header = bytes + 10;
    assert_int_equal(f->header[f->header_len - 1], '\n');
    f->data = (const unsigned char *)bytes + 10 + f->header_len;
    f->data_len = len - 10 - f->header_len;
}

/* Checks that the header is `dict` followed by spaces and a newline. */
static void npy_assert_header(const npy_file *f, const char *dict)
{
    size_t n = strlen(dict);
    assert_true(n < f->header_len);
    assert_memory_equal(f->header, dict, n);
    for (size_t i = n; i < f->header_len - 1; i++)
        assert_int_equal(f->header[i], ' ');
}

static uint64_t load_le(const unsigned char *p, size_t size)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void test_npy_i64_header_and_data(void **state)
{
    (void)state;
    kp_outcome o[] = {ok_i(0, KP_T_I64, 1), ok_i(1, KP_T_I64, -2),
                      failure(2, KP_TASK_CRASHED, "SIGSEGV", SIGSEGV, 1)};
    size_t len;
    char *bytes = write_file("i64.npy", KP_OUT_NPY, KP_T_I64, false, o, 3, &len);
    npy_file f;
    npy_parse(bytes, len, &f);
    /* np.save(np.array([1, -2, 0])) writes exactly this: the dict, room for a
     * 21-digit shape, padding to 128 bytes. */
    assert_int_equal(f.header_len, 118);
    npy_assert_header(&f, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }");
    assert_int_equal(f.data_len, 24);
    assert_int_equal((int64_t)load_le(f.data, 8), 1);
    assert_int_equal((int64_t)load_le(f.data + 8, 8), -2);
    assert_int_equal(load_le(f.data + 16, 8), 0);
    free(bytes);
}

static void test_npy_descr_and_size_per_type(void **state)
{
    (void)state;
    static const struct {
        kp_type type;
        const char *descr;
        size_t size;
        uint64_t value; /* the bits written */
    } cases[] = {
        {KP_T_BOOL, "|b1", 1, 1},
        {KP_T_I8, "|i1", 1, 0x80},
        {KP_T_I16, "<i2", 2, 0xfffe},
        {KP_T_I32, "<i4", 4, 0x12345678},
        {KP_T_I64, "<i8", 8, 0x0102030405060708},
        {KP_T_U8, "|u1", 1, 0xff},
        {KP_T_U16, "<u2", 2, 0xabcd},
        {KP_T_U32, "<u4", 4, 0xdeadbeef},
        {KP_T_U64, "<u8", 8, UINT64_MAX},
        {KP_T_F32, "<f4", 4, 0x3fc00000},         /* 1.5f */
        {KP_T_F64, "<f8", 8, 0xc004000000000000}, /* -2.5 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_outcome o;
        switch (cases[i].type) {
        case KP_T_BOOL:
            o = ok_b(0, true);
            break;
        case KP_T_I8:
            o = ok_i(0, KP_T_I8, -128);
            break;
        case KP_T_I16:
            o = ok_i(0, KP_T_I16, -2);
            break;
        case KP_T_I32:
            o = ok_i(0, KP_T_I32, 0x12345678);
            break;
        case KP_T_I64:
            o = ok_i(0, KP_T_I64, 0x0102030405060708);
            break;
        case KP_T_F32:
            o = ok_f32(0, 1.5f);
            break;
        case KP_T_F64:
            o = ok_f64(0, -2.5);
            break;
        default:
            o = ok_u(0, cases[i].type, cases[i].value);
            break;
        }
        char name[32], dict[128];
        snprintf(name, sizeof name, "type%zu.npy", i);
        size_t len;
        char *bytes = write_file(name, KP_OUT_NPY, cases[i].type, false, &o, 1, &len);
        npy_file f;
        npy_parse(bytes, len, &f);
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }",
                 cases[i].descr);
        npy_assert_header(&f, dict);
        assert_int_equal(f.data_len, cases[i].size);
        assert_int_equal(load_le(f.data, cases[i].size), cases[i].value);
        free(bytes);
    }
}

static void test_npy_failed_slots_hold_zero_or_nan(void **state)
{
    (void)state;
    kp_outcome fail = failure(0, KP_TASK_TIMEOUT, "after 1 s", 0, 1);
    size_t len;
    npy_file f;

    char *bytes = write_file("nan64.npy", KP_OUT_NPY, KP_T_F64, false, &fail, 1, &len);
    npy_parse(bytes, len, &f);
    double d;
    memcpy(&d, f.data, sizeof d);
    assert_true(isnan(d));
    free(bytes);

    bytes = write_file("nan32.npy", KP_OUT_NPY, KP_T_F32, false, &fail, 1, &len);
    npy_parse(bytes, len, &f);
    float s;
    memcpy(&s, f.data, sizeof s);
    assert_true(isnan(s));
    free(bytes);

    kp_outcome two[] = {failure(0, KP_TASK_FAILED, "x", 0, 1), ok_b(1, true)};
    bytes = write_file("false.npy", KP_OUT_NPY, KP_T_BOOL, false, two, 2, &len);
    npy_parse(bytes, len, &f);
    assert_int_equal(f.data_len, 2);
    assert_int_equal(f.data[0], 0);
    assert_int_equal(f.data[1], 1);
    free(bytes);

    bytes = write_file("zero.npy", KP_OUT_NPY, KP_T_U16, false, &fail, 1, &len);
    npy_parse(bytes, len, &f);
    assert_int_equal(load_le(f.data, 2), 0);
    free(bytes);
}

static void test_npy_header_for_large_and_empty_shapes(void **state)
{
    (void)state;
    kp_output_config cfg = {
        .path = tmp_path("big.npy"), .format = KP_OUT_NPY, .type = KP_T_F64, .total = 123456789012};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    /* Closing early is an error, but the header is already complete. */
    assert_int_equal(kp_output_close(out, &err), KPOOL_EIO);
    size_t len;
    char *bytes = slurp(cfg.path, &len);
    npy_file f;
    npy_parse(bytes, len, &f);
    assert_int_equal(f.header_len, 118);
    npy_assert_header(&f, "{'descr': '<f8', 'fortran_order': False, 'shape': (123456789012,), }");
    assert_int_equal(f.data_len, 0);
    free(bytes);

    bytes = write_file("empty.npy", KP_OUT_NPY, KP_T_I32, false, NULL, 0, &len);
    npy_parse(bytes, len, &f);
    npy_assert_header(&f, "{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }");
    assert_int_equal(f.data_len, 0);
    free(bytes);
}

static void test_npy_close_with_missing_results_fails(void **state)
{
    (void)state;
    kp_output_config cfg = {
        .path = tmp_path("short.npy"), .format = KP_OUT_NPY, .type = KP_T_I64, .total = 3};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    kp_outcome o[] = {ok_i(0, KP_T_I64, 1), ok_i(1, KP_T_I64, 2)};
    assert_int_equal(kp_output_write(out, &o[0], &err), 0);
    assert_int_equal(kp_output_write(out, &o[1], &err), 0);
    assert_int_equal(kp_output_close(out, &err), KPOOL_EIO);
    assert_non_null(strstr(err.msg, "short.npy: only 2 of 3 results were written"));
}

static void test_npy_extra_result_fails(void **state)
{
    (void)state;
    kp_output_config cfg = {
        .path = tmp_path("extra.npy"), .format = KP_OUT_NPY, .type = KP_T_I64, .total = 1};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    kp_outcome o[] = {ok_i(0, KP_T_I64, 1), ok_i(1, KP_T_I64, 2)};
    assert_int_equal(kp_output_write(out, &o[0], &err), 0);
    assert_int_equal(kp_output_write(out, &o[1], &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "extra.npy: task 1 is one result too many"));
    assert_non_null(strstr(err.msg, "declares 1"));
    kp_err_clear(&err);
    assert_int_equal(kp_output_close(out, &err), 0);
}

static void test_npy_out_of_order_result_fails(void **state)
{
    (void)state;
    kp_output_config cfg = {
        .path = tmp_path("order.npy"), .format = KP_OUT_NPY, .type = KP_T_I64, .total = 2};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    kp_outcome o = ok_i(1, KP_T_I64, 2);
    assert_int_equal(kp_output_write(out, &o, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "order.npy: task 1 arrived for slot 0"));
    assert_non_null(strstr(err.msg, "input order"));
    assert_int_equal(kp_output_close(out, &err), KPOOL_EIO);
}

static void test_npy_refuses_what_it_cannot_hold(void **state)
{
    (void)state;
    static const struct {
        kp_type type;
        bool completion, index;
        const char *expect;
    } cases[] = {
        {KP_T_STR, false, false,
         "refused.npy: npy output needs a numeric or bool result, but "
         "the kernel returns str"},
        {KP_T_VOID, false, false, "the kernel returns void"},
        {KP_T_I64, true, false,
         "refused.npy: npy output holds results in input order, but "
         "order = completion"},
        {KP_T_F64, false, true, "refused.npy: npy output cannot hold the task index"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_output_config cfg = {.path = tmp_path("refused.npy"),
                                .format = KP_OUT_NPY,
                                .type = cases[i].type,
                                .completion_order = cases[i].completion,
                                .index = cases[i].index,
                                .total = 4};
        kp_output *out = (kp_output *)&cfg;
        kp_err err = {0};
        assert_int_equal(kp_output_open(&out, &cfg, &err), KPOOL_EJOB);
        assert_null(out);
        if (!strstr(err.msg, cases[i].expect))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].expect);
        /* Refused before the file is created. */
        assert_int_equal(access(cfg.path, F_OK), -1);
    }
}

/* ---- destinations and errors ------------------------------------------- */

/* Runs fn with file descriptor `fd` (1 or 2) redirected to `path`. */
static void with_redirect(int fd, const char *path, void (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    int saved = dup(fd);
    assert_true(saved >= 0);
    int file = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(file >= 0);
    assert_true(dup2(file, fd) == fd);
    close(file);
    fn(arg);
    fflush(fd == 1 ? stdout : stderr);
    dup2(saved, fd);
    close(saved);
}

typedef struct stdout_run {
    kp_output_format format;
    kp_type type;
    int rc_open, rc_write, rc_close, fd_open_after, printf_after;
    char msg[KP_ERR_MAX];
} stdout_run;

static void write_to_stdout(void *arg)
{
    stdout_run *r = arg;
    kp_output_config cfg = {.path = "-", .format = r->format, .type = r->type, .total = 2};
    kp_output *out = NULL;
    kp_err err = {0};
    r->rc_open = kp_output_open(&out, &cfg, &err);
    if (r->rc_open == 0) {
        kp_outcome o[] = {ok_i(0, r->type, 41), ok_i(1, r->type, 42)};
        r->rc_write = kp_output_write(out, &o[0], &err);
        r->rc_write |= kp_output_write(out, &o[1], &err);
        r->rc_close = kp_output_close(out, &err);
    }
    snprintf(r->msg, sizeof r->msg, "%s", err.msg);
    /* stdout itself must still be usable after the writer is closed. */
    r->fd_open_after = fcntl(STDOUT_FILENO, F_GETFD) != -1;
    r->printf_after = printf("after\n");
}

static void test_output_to_stdout_leaves_it_open(void **state)
{
    (void)state;
    stdout_run r = {.format = KP_OUT_CSV, .type = KP_T_I64};
    with_redirect(STDOUT_FILENO, tmp_path("stdout.txt"), write_to_stdout, &r);
    if (r.rc_open || r.rc_write || r.rc_close)
        fail_msg("%d %d %d: %s", r.rc_open, r.rc_write, r.rc_close, r.msg);
    assert_true(r.fd_open_after);
    assert_int_equal(r.printf_after, 6);
    char *text = slurp(tmp_path("stdout.txt"), NULL);
    assert_string_equal(text, "41\n42\nafter\n");
    free(text);
}

static void test_npy_to_stdout(void **state)
{
    (void)state;
    stdout_run r = {.format = KP_OUT_NPY, .type = KP_T_I32};
    with_redirect(STDOUT_FILENO, tmp_path("stdout.npy"), write_to_stdout, &r);
    if (r.rc_open || r.rc_write || r.rc_close)
        fail_msg("%d %d %d: %s", r.rc_open, r.rc_write, r.rc_close, r.msg);
    size_t len;
    char *bytes = slurp(tmp_path("stdout.npy"), &len);
    /* The file ends with the "after\n" printed once the writer was closed. */
    assert_true(len > 6);
    npy_file f;
    npy_parse(bytes, len - 6, &f);
    npy_assert_header(&f, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }");
    assert_int_equal(f.data_len, 8);
    assert_int_equal(load_le(f.data, 4), 41);
    assert_int_equal(load_le(f.data + 4, 4), 42);
    assert_memory_equal(bytes + len - 6, "after\n", 6);
    free(bytes);
}

static void test_output_open_missing_dir_names_path(void **state)
{
    (void)state;
    const char *path = tmp_path("no/such/dir/out.csv");
    kp_output_config cfg = {.path = path, .format = KP_OUT_CSV, .type = KP_T_I64};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), KPOOL_EIO);
    assert_null(out);
    char expect[PATH_MAX + 128];
    snprintf(expect, sizeof expect, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err.msg, expect);
}

static void test_output_open_directory_fails(void **state)
{
    (void)state;
    kp_output_config cfg = {.path = tmp_dir, .format = KP_OUT_JSONL, .type = KP_T_I64};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), KPOOL_EIO);
    assert_non_null(strstr(err.msg, tmp_dir));
    assert_non_null(strstr(err.msg, ": cannot open: Is a directory"));
}

static void test_output_open_rejects_bad_config(void **state)
{
    (void)state;
    kp_output *out;
    kp_err err = {0};
    kp_output_config cfg = {
        .path = tmp_path("bad.csv"), .format = (kp_output_format)9, .type = KP_T_I64};
    assert_int_equal(kp_output_open(&out, &cfg, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "bad.csv: unknown output format 9"));
    cfg.format = KP_OUT_CSV;
    cfg.type = KP_T_COUNT_;
    assert_int_equal(kp_output_open(&out, &cfg, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "bad.csv: unknown result type"));
}

static void test_output_write_error_names_path(void **state)
{
    (void)state;
    /* /dev/full accepts the open and fails every write with ENOSPC. */
    kp_output_config cfg = {.path = "/dev/full", .format = KP_OUT_CSV, .type = KP_T_STR};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    static char big[64 * 1024 + 1];
    memset(big, 'x', sizeof big - 1);
    kp_outcome o = ok_str(0, big);
    int rc = 0;
    for (int i = 0; i < 40 && rc == 0; i++)
        rc = kp_output_write(out, &o, &err);
    assert_int_equal(rc, KPOOL_EIO);
    assert_string_equal(err.msg, "/dev/full: write failed: No space left on device");
    kp_err_clear(&err);
    assert_int_equal(kp_output_close(out, &err), KPOOL_EIO);
    assert_string_equal(err.msg, "/dev/full: write failed: No space left on device");
}

static void test_output_close_reports_buffered_write_error(void **state)
{
    (void)state;
    kp_output_config cfg = {.path = "/dev/full", .format = KP_OUT_JSONL, .type = KP_T_I64};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    kp_outcome o = ok_i(0, KP_T_I64, 1);
    assert_int_equal(kp_output_write(out, &o, &err), 0); /* still in the buffer */
    assert_int_equal(kp_output_close(out, &err), KPOOL_EIO);
    assert_string_equal(err.msg, "/dev/full: write failed: No space left on device");
}

static void test_output_result_type_mismatch_fails(void **state)
{
    (void)state;
    kp_output_config cfg = {
        .path = tmp_path("mismatch.csv"), .format = KP_OUT_CSV, .type = KP_T_F64};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    kp_outcome o = ok_i(5, KP_T_I64, 1);
    assert_int_equal(kp_output_write(out, &o, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "mismatch.csv: task 5 returned i64, but the output holds f64"));
    /* A failure carries no value, so its type does not matter. */
    kp_outcome f = failure(6, KP_TASK_FAILED, "x", 0, 1);
    assert_int_equal(kp_output_write(out, &f, &err), 0);
    assert_int_equal(kp_output_close(out, &err), 0);
    char *text = slurp(cfg.path, NULL);
    assert_string_equal(text, "\n");
    free(text);
}

static void test_output_close_accepts_null(void **state)
{
    (void)state;
    kp_err err = {0};
    assert_int_equal(kp_output_close(NULL, &err), 0);
    assert_int_equal(kp_errlog_close(NULL, &err), 0);
    assert_int_equal(err.code, 0);
}

static void test_output_many_results_through_the_buffer(void **state)
{
    (void)state;
    /* More than the 1 MiB buffer, so that it is flushed in the middle. */
    enum { N = 300000 };
    kp_output_config cfg = {.path = tmp_path("many.csv"),
                            .format = KP_OUT_CSV,
                            .index = true,
                            .type = KP_T_I64,
                            .total = N};
    kp_output *out;
    kp_err err = {0};
    assert_int_equal(kp_output_open(&out, &cfg, &err), 0);
    for (size_t i = 0; i < N; i++) {
        kp_outcome o = ok_i(i, KP_T_I64, (int64_t)i * -3);
        assert_int_equal(kp_output_write(out, &o, &err), 0);
    }
    assert_int_equal(kp_output_close(out, &err), 0);
    FILE *f = fopen(cfg.path, "r");
    assert_non_null(f);
    size_t index;
    long long value;
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(fscanf(f, "%zu,%lld\n", &index, &value), 2);
        assert_int_equal(index, i);
        assert_int_equal(value, (long long)i * -3);
    }
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
}

/* ---- failure log ------------------------------------------------------- */

static const kp_outcome *errlog_cases(size_t *n)
{
    static kp_outcome cases[8];
    cases[0] = failure(17, KP_TASK_CRASHED, "SIGSEGV", SIGSEGV, 1);
    cases[1] = failure(3, KP_TASK_FAILED, "row 3 is empty", 0, 2);
    cases[2] = failure(5, KP_TASK_TIMEOUT, "after 2.5 s", 0, 1);
    cases[3] = failure(9, KP_TASK_BAD_INPUT, "line 10: minimum: not a number", 0, 1);
    cases[4] = failure(4, KP_TASK_CRASHED, NULL, SIGKILL, 3);
    cases[5] = failure(6, KP_TASK_FAILED, "two\nlines\x01", 0, 1);
    cases[6] = failure(8, KP_TASK_CRASHED, "exit status 3", 0, 1);
    cases[7] = ok_i(1, KP_T_I64, 1); /* not a failure: ignored */
    *n = 8;
    return cases;
}

typedef struct errlog_run {
    int rc;
    char msg[KP_ERR_MAX];
} errlog_run;

static void write_errlog(const char *path, errlog_run *r)
{
    kp_errlog *log;
    kp_err err = {0};
    size_t n;
    const kp_outcome *cases = errlog_cases(&n);
    r->rc = kp_errlog_open(&log, path, &err);
    for (size_t i = 0; i < n && r->rc == 0; i++)
        r->rc = kp_errlog_write(log, &cases[i], cases[i].attempts == 1 ? 1 : 3, &err);
    if (r->rc == 0)
        r->rc = kp_errlog_close(log, &err);
    snprintf(r->msg, sizeof r->msg, "%s", err.msg);
}

static void write_errlog_to_stderr(void *arg)
{
    write_errlog("-", arg);
}

static void test_errlog_stderr_lines(void **state)
{
    (void)state;
    errlog_run r = {0};
    with_redirect(STDERR_FILENO, tmp_path("stderr.txt"), write_errlog_to_stderr, &r);
    if (r.rc)
        fail_msg("%s", r.msg);
    char *text = slurp(tmp_path("stderr.txt"), NULL);
    assert_string_equal(text, "kpool: task 17 crashed (SIGSEGV), attempt 1 of 1\n"
                              "kpool: task 3 failed: row 3 is empty, attempt 2 of 3\n"
                              "kpool: task 5 timeout (after 2.5 s), attempt 1 of 1\n"
                              "kpool: task 9 bad-input: line 10: minimum: not a number, "
                              "attempt 1 of 1\n"
                              "kpool: task 4 crashed (SIGKILL), attempt 3 of 3\n"
                              "kpool: task 6 failed: two\\nlines\\x01, attempt 1 of 1\n"
                              "kpool: task 8 crashed (exit status 3), attempt 1 of 1\n");
    free(text);
    /* stderr is still open. */
    assert_true(fcntl(STDERR_FILENO, F_GETFD) != -1);
}

static void write_errlog_without_messages(void *arg)
{
    errlog_run *r = arg;
    kp_errlog *log;
    kp_err err = {0};
    kp_outcome o[] = {failure(2, KP_TASK_FAILED, "", 0, 1), failure(3, KP_TASK_TIMEOUT, NULL, 0, 1),
                      failure(4, KP_TASK_CRASHED, NULL, 0, 2),
                      failure(5, KP_TASK_NOT_RUN, "the run was stopped", 0, 0)};
    r->rc = kp_errlog_open(&log, "-", &err);
    for (size_t i = 0; i < 4 && r->rc == 0; i++)
        r->rc = kp_errlog_write(log, &o[i], 2, &err);
    if (r->rc == 0)
        r->rc = kp_errlog_close(log, &err);
    snprintf(r->msg, sizeof r->msg, "%s", err.msg);
}

static void test_errlog_stderr_without_message(void **state)
{
    (void)state;
    errlog_run r = {0};
    with_redirect(STDERR_FILENO, tmp_path("nomsg.txt"), write_errlog_without_messages, &r);
    if (r.rc)
        fail_msg("%s", r.msg);
    char *text = slurp(tmp_path("nomsg.txt"), NULL);
    assert_string_equal(text, "kpool: task 2 failed, attempt 1 of 2\n"
                              "kpool: task 3 timeout, attempt 1 of 2\n"
                              "kpool: task 4 crashed, attempt 2 of 2\n"
                              "kpool: task 5 not-run: the run was stopped\n");
    free(text);
}

static void test_errlog_jsonl_objects(void **state)
{
    (void)state;
    errlog_run r = {0};
    write_errlog(tmp_path("errors.jsonl"), &r);
    if (r.rc)
        fail_msg("%s", r.msg);
    char *text = slurp(tmp_path("errors.jsonl"), NULL);
    assert_string_equal(
        text,
        "{\"index\": 17, \"kind\": \"crashed\", \"message\": \"SIGSEGV\", \"attempts\": 1, "
        "\"signal\": 11}\n"
        "{\"index\": 3, \"kind\": \"failed\", \"message\": \"row 3 is empty\", \"attempts\": 2}\n"
        "{\"index\": 5, \"kind\": \"timeout\", \"message\": \"after 2.5 s\", \"attempts\": 1}\n"
        "{\"index\": 9, \"kind\": \"bad-input\", \"message\": \"line 10: minimum: not a "
        "number\", \"attempts\": 1}\n"
        "{\"index\": 4, \"kind\": \"crashed\", \"message\": \"SIGKILL\", \"attempts\": 3, "
        "\"signal\": 9}\n"
        "{\"index\": 6, \"kind\": \"failed\", \"message\": \"two\\nlines\\u0001\", "
        "\"attempts\": 1}\n"
        "{\"index\": 8, \"kind\": \"crashed\", \"message\": \"exit status 3\", \"attempts\": "
        "1}\n");
    free(text);
}

static void test_errlog_open_missing_dir_names_path(void **state)
{
    (void)state;
    const char *path = tmp_path("missing/errors.jsonl");
    kp_errlog *log = (kp_errlog *)&log;
    kp_err err = {0};
    assert_int_equal(kp_errlog_open(&log, path, &err), KPOOL_EIO);
    assert_null(log);
    assert_non_null(
        strstr(err.msg, "missing/errors.jsonl: cannot open: No such file or directory"));
}

static void test_errlog_write_error_names_path(void **state)
{
    (void)state;
    kp_errlog *log;
    kp_err err = {0};
    assert_int_equal(kp_errlog_open(&log, "/dev/full", &err), 0);
    kp_outcome o = failure(1, KP_TASK_CRASHED, "SIGSEGV", SIGSEGV, 1);
    assert_int_equal(kp_errlog_write(log, &o, 1, &err), KPOOL_EIO);
    assert_string_equal(err.msg, "/dev/full: write failed: No space left on device");
    assert_int_equal(kp_errlog_close(log, &err), KPOOL_EIO);
}

/* ---- names ------------------------------------------------------------- */

static void test_signal_name_known_and_unknown(void **state)
{
    (void)state;
    char buf[32];
    static const struct {
        int sig;
        const char *name;
    } known[] = {{SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},
                 {SIGABRT, "SIGABRT"}, {SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"},
                 {SIGINT, "SIGINT"},   {SIGILL, "SIGILL"},   {SIGXCPU, "SIGXCPU"},
                 {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGHUP, "SIGHUP"},
                 {SIGSYS, "SIGSYS"},   {SIGTRAP, "SIGTRAP"}, {SIGXFSZ, "SIGXFSZ"}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        buf[0] = '\0';
        assert_string_equal(kp_signal_name(known[i].sig, buf, sizeof buf), known[i].name);
        /* Callers may also read the name from buf. */
        assert_string_equal(buf, known[i].name);
        assert_string_equal(kp_signal_name(known[i].sig, NULL, 0), known[i].name);
    }
    char small[5];
    assert_string_equal(kp_signal_name(SIGSEGV, small, sizeof small), "SIGS");
    assert_string_equal(kp_signal_name(SIGRTMIN + 2, buf, sizeof buf), "SIGRTMIN+2");
    assert_string_equal(kp_signal_name(1000, buf, sizeof buf), "signal 1000");
    assert_string_equal(kp_signal_name(-3, buf, sizeof buf), "signal -3");
    assert_string_equal(kp_signal_name(1000, NULL, 0), "unknown signal");
}

static void test_task_kind_names(void **state)
{
    (void)state;
    assert_string_equal(kp_task_kind_name(KP_TASK_OK), "ok");
    assert_string_equal(kp_task_kind_name(KP_TASK_FAILED), "failed");
    assert_string_equal(kp_task_kind_name(KP_TASK_CRASHED), "crashed");
    assert_string_equal(kp_task_kind_name(KP_TASK_TIMEOUT), "timeout");
    assert_string_equal(kp_task_kind_name(KP_TASK_BAD_INPUT), "bad-input");
    assert_string_equal(kp_task_kind_name(KP_TASK_NOT_RUN), "not-run");
    assert_string_equal(kp_task_kind_name((kp_task_kind)42), "unknown");
}

/* ---- float formatting -------------------------------------------------- */

/* Python's repr of each double. */
static const struct {
    double v;
    const char *repr;
} f64_table[] = {
    {0.1, "0.1"},
    {0.1 + 0.2, "0.30000000000000004"},
    {1.0 / 3, "0.3333333333333333"},
    {2.0 / 3, "0.6666666666666666"},
    {2.5, "2.5"},
    {100.0, "100.0"},
    {1e22, "1e+22"},
    {5e-324, "5e-324"},
    {1.7976931348623157e+308, "1.7976931348623157e+308"},
    {123456.789, "123456.789"},
    {1e-7, "1e-07"},
    {1e16, "1e+16"},
    {123456789012345680.0, "1.2345678901234568e+17"},
    {0.0001, "0.0001"},
    {0.00001, "1e-05"},
    {1.0, "1.0"},
    {-1.0, "-1.0"},
    {1e15, "1000000000000000.0"},
    {1234567890123456.0, "1234567890123456.0"},
    {12345678901234567.0, "1.2345678901234568e+16"},
    {9007199254740992.0, "9007199254740992.0"},
    {9999999999999998.0, "9999999999999998.0"},
    {0.5, "0.5"},
    {-0.5, "-0.5"},
    {3.141592653589793, "3.141592653589793"},
    {2.718281828459045, "2.718281828459045"},
    {1e100, "1e+100"},
    {1e-100, "1e-100"},
    {2.2250738585072014e-308, "2.2250738585072014e-308"},
    {2.225073858507201e-308, "2.225073858507201e-308"},
    {1e23, "1e+23"},
    {0.3, "0.3"},
    {1.1, "1.1"},
    {100.5, "100.5"},
    {123.456, "123.456"},
    {-123.456e-10, "-1.23456e-08"},
    {1.5e300, "1.5e+300"},
    {6.02214076e23, "6.02214076e+23"},
    {1e21, "1e+21"},
    {1e-310, "1e-310"},
    {0.000123, "0.000123"},
    {9223372036854775808.0, "9.223372036854776e+18"},
    {-9223372036854775808.0, "-9.223372036854776e+18"},
    {18446744073709551616.0, "1.8446744073709552e+19"},
    {10.0, "10.0"},
    {1000000.0, "1000000.0"},
    {1e17, "1e+17"},
    {1.25e-5, "1.25e-05"},
    {7e-4, "0.0007"},
    {42.0, "42.0"},
    {-0.001, "-0.001"},
    {299792458.0, "299792458.0"},
    {1e-323, "1e-323"},
    {1e308, "1e+308"},
    {1000000000000001.0, "1000000000000001.0"},
    {4.35, "4.35"},
    {0.07, "0.07"},
    {1.0000000000000002, "1.0000000000000002"},
    {0.9999999999999999, "0.9999999999999999"},
    {123e-20, "1.23e-18"},
    {1e-5 * 3, "3.0000000000000004e-05"},
    /* Powers of two, whose lower neighbour is closer than the upper one. */
    {0x1p-1017, "7.120236347223045e-307"},
    {0x1p-24, "5.960464477539063e-08"},
    {0x1p+89, "6.189700196426902e+26"},
    {0x1p-1022, "2.2250738585072014e-308"},
    {0x1p+63, "9.223372036854776e+18"},
};

static void test_format_f64_matches_python_repr(void **state)
{
    (void)state;
    char buf[32];
    for (size_t i = 0; i < sizeof f64_table / sizeof f64_table[0]; i++) {
        size_t n = kp_format_f64(f64_table[i].v, buf, sizeof buf);
        if (strcmp(buf, f64_table[i].repr) != 0)
            fail_msg("case %zu (%a): got '%s', want '%s'", i, f64_table[i].v, buf,
                     f64_table[i].repr);
        assert_int_equal(n, strlen(f64_table[i].repr));
    }
}

static void test_format_f64_special_values(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(kp_format_f64(NAN, buf, sizeof buf), 3);
    assert_string_equal(buf, "nan");
    kp_format_f64(-NAN, buf, sizeof buf);
    assert_string_equal(buf, "nan");
    kp_format_f64(INFINITY, buf, sizeof buf);
    assert_string_equal(buf, "inf");
    assert_int_equal(kp_format_f64(-INFINITY, buf, sizeof buf), 4);
    assert_string_equal(buf, "-inf");
    kp_format_f64(0.0, buf, sizeof buf);
    assert_string_equal(buf, "0.0");
    kp_format_f64(-0.0, buf, sizeof buf);
    assert_string_equal(buf, "-0.0");
}

static void test_format_truncates_like_snprintf(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(kp_format_f64(0.1 + 0.2, buf, 6), 19);
    assert_string_equal(buf, "0.300");
    assert_int_equal(buf[6], 'x');
    assert_int_equal(kp_format_f32(0.1f, buf, 0), 3);
    assert_int_equal(buf[0], '0');
    assert_int_equal(kp_format_f64(-INFINITY, buf, 1), 4);
    assert_string_equal(buf, "");
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static bool reads_back(const char *text, double v, bool single)
{
    if (single)
        return strtof(text, NULL) == (float)v;
    return strtod(text, NULL) == v;
}

/* Counts the significant digits of a formatted value. */
static int significant_digits(const char *text)
{
    int n = 0, first = -1, last = -1;
    for (int i = 0; text[i] && text[i] != 'e'; i++) {
        if (text[i] >= '1' && text[i] <= '9') {
            if (first < 0)
                first = n;
            last = n;
        }
        if (text[i] >= '0' && text[i] <= '9')
            n++;
    }
    return first < 0 ? 1 : last - first + 1;
}

/* Checks that `text` reads back to v exactly and that no decimal with fewer
 * significant digits does: any such decimal would be next to the correctly
 * rounded one of its length, so those three candidates are tried. */
static void assert_shortest(double v, bool single, const char *text)
{
    if (single) {
        float back = strtof(text, NULL), f = (float)v;
        if (memcmp(&back, &f, sizeof f) != 0)
            fail_msg("%a: '%s' reads back as %a", v, text, (double)back);
    } else {
        double back = strtod(text, NULL);
        if (memcmp(&back, &v, sizeof v) != 0)
            fail_msg("%a: '%s' reads back as %a", v, text, back);
    }
    int digits = significant_digits(text);
    for (int q = 1; q < digits; q++) {
        char e[48];
        snprintf(e, sizeof e, "%.*e", q - 1, fabs(v));
        uint64_t mantissa = 0;
        int exponent = 0;
        char *p = e;
        for (; *p != 'e'; p++)
            if (*p >= '0' && *p <= '9')
                mantissa = mantissa * 10 + (uint64_t)(*p - '0');
        exponent = atoi(p + 1) - (q - 1);
        for (int delta = -1; delta <= 1; delta++) {
            char candidate[48];
            snprintf(candidate, sizeof candidate, "%" PRIu64 "e%d", mantissa + (uint64_t)delta,
                     exponent);
            if (reads_back(candidate, fabs(v), single))
                fail_msg("%a: '%s' has %d digits but '%s' reads back too", v, text, digits,
                         candidate);
        }
    }
}

static void test_format_f64_random_bits_round_trip_shortest(void **state)
{
    (void)state;
    uint64_t seed = 12345;
    char buf[32];
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = splitmix64(&seed);
        double v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v))
            continue;
        kp_format_f64(v, buf, sizeof buf);
        assert_shortest(v, false, buf);
    }
    /* Values near 1, the common case, and small integers. */
    for (int i = 0; i < 5000; i++) {
        double v = (double)(splitmix64(&seed) >> 11) * 0x1p-53 * 1000.0;
        kp_format_f64(v, buf, sizeof buf);
        assert_shortest(v, false, buf);
        v = (double)(splitmix64(&seed) % 100000);
        kp_format_f64(v, buf, sizeof buf);
        assert_shortest(v, false, buf);
    }
}

static void test_format_f64_powers_of_two(void **state)
{
    (void)state;
    char buf[32];
    for (int k = -1074; k <= 1023; k++) {
        double v = ldexp(1.0, k);
        kp_format_f64(v, buf, sizeof buf);
        assert_shortest(v, false, buf);
        kp_format_f64(-v, buf, sizeof buf);
        assert_int_equal(buf[0], '-');
        assert_shortest(-v, false, buf);
    }
}

static void test_format_f64_layout_switches_like_repr(void **state)
{
    (void)state;
    /* Exponent form exactly when the decimal point is more than 16 places
     * right of the first digit or more than 3 zeros left of it. */
    char buf[32];
    double v = 1.0;
    for (int e = 0; e < 16; e++, v *= 10) {
        kp_format_f64(v, buf, sizeof buf);
        assert_null(strchr(buf, 'e'));
        assert_int_equal(strlen(buf), (size_t)e + 3);
    }
    kp_format_f64(v, buf, sizeof buf);
    assert_string_equal(buf, "1e+16");
    kp_format_f64(1.5e-4, buf, sizeof buf);
    assert_string_equal(buf, "0.00015");
    kp_format_f64(1.5e-5, buf, sizeof buf);
    assert_string_equal(buf, "1.5e-05");
}

/* Shortest float text, laid out as repr would lay out the same digits. */
static const struct {
    float v;
    const char *repr;
} f32_table[] = {
    {0.1f, "0.1"},
    {16777216.0f, "16777216.0"},
    {3.4028235e+38f, "3.4028235e+38"},
    {1.17549435e-38f, "1.1754944e-38"},
    {1e-45f, "1e-45"},
    {1.0f / 3, "0.33333334"},
    {0.3f, "0.3"},
    {123456.789f, "123456.79"},
    {1e10f, "10000000000.0"},
    {1e17f, "1e+17"},
    {3.14159265f, "3.1415927"},
    {2.5f, "2.5"},
    {1e-5f, "1e-05"},
    {1e16f, "1e+16"},
    {0.0001f, "0.0001"},
    {100.0f, "100.0"},
    {6.02214076e23f, "6.0221406e+23"},
    {0x1p127f, "1.7014118e+38"},
    {0.2f, "0.2"},
    {1.1f, "1.1"},
    {7.0f, "7.0"},
    {-65504.0f, "-65504.0"},
    {12345678.0f, "12345678.0"},
    {0.001f, "0.001"},
    {8388607.5f, "8388607.5"},
    {-0.0f, "-0.0"},
};

static void test_format_f32_shortest_table(void **state)
{
    (void)state;
    char buf[32];
    for (size_t i = 0; i < sizeof f32_table / sizeof f32_table[0]; i++) {
        size_t n = kp_format_f32(f32_table[i].v, buf, sizeof buf);
        if (strcmp(buf, f32_table[i].repr) != 0)
            fail_msg("case %zu (%a): got '%s', want '%s'", i, (double)f32_table[i].v, buf,
                     f32_table[i].repr);
        assert_int_equal(n, strlen(f32_table[i].repr));
    }
    kp_format_f32(NAN, buf, sizeof buf);
    assert_string_equal(buf, "nan");
    kp_format_f32(-INFINITY, buf, sizeof buf);
    assert_string_equal(buf, "-inf");
}

static void test_format_f32_random_bits_round_trip_shortest(void **state)
{
    (void)state;
    uint64_t seed = 777;
    char buf[32];
    for (int i = 0; i < 20000; i++) {
        uint32_t bits = (uint32_t)splitmix64(&seed);
        float v;
        memcpy(&v, &bits, sizeof v);
        if (!isfinite(v))
            continue;
        kp_format_f32(v, buf, sizeof buf);
        assert_shortest(v, true, buf);
    }
    for (int k = -149; k <= 127; k++) {
        float v = ldexpf(1.0f, k);
        kp_format_f32(v, buf, sizeof buf);
        assert_shortest(v, true, buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_run_same_as_one_by_one),
        cmocka_unit_test(test_resume_keeps_the_prefix_and_drops_the_rest),
        cmocka_unit_test(test_resume_refuses_an_output_that_lost_its_prefix),
        cmocka_unit_test(test_resume_npy_continues_after_its_slots),
        cmocka_unit_test(test_write_run_of_another_type_is_refused),
        cmocka_unit_test(test_npy_run_out_of_place_is_refused),
        cmocka_unit_test(test_csv_integers_one_line_per_task),
        cmocka_unit_test(test_csv_unsigned_full_range),
        cmocka_unit_test(test_csv_index_prefixes_each_line),
        cmocka_unit_test(test_csv_failed_task_keeps_its_line),
        cmocka_unit_test(test_csv_bool_is_true_false),
        cmocka_unit_test(test_csv_floats_are_shortest_repr),
        cmocka_unit_test(test_csv_strings_are_quoted_when_needed),
        cmocka_unit_test(test_csv_void_writes_nothing_without_index),
        cmocka_unit_test(test_csv_void_index_lists_successes),
        cmocka_unit_test(test_jsonl_result_and_error_objects),
        cmocka_unit_test(test_jsonl_every_failure_kind),
        cmocka_unit_test(test_jsonl_floats_like_json_dumps),
        cmocka_unit_test(test_jsonl_bool_and_unsigned),
        cmocka_unit_test(test_jsonl_strings_are_escaped),
        cmocka_unit_test(test_jsonl_void_writes_successful_indices),
        cmocka_unit_test(test_npy_i64_header_and_data),
        cmocka_unit_test(test_npy_descr_and_size_per_type),
        cmocka_unit_test(test_npy_failed_slots_hold_zero_or_nan),
        cmocka_unit_test(test_npy_header_for_large_and_empty_shapes),
        cmocka_unit_test(test_npy_close_with_missing_results_fails),
        cmocka_unit_test(test_npy_extra_result_fails),
        cmocka_unit_test(test_npy_out_of_order_result_fails),
        cmocka_unit_test(test_npy_refuses_what_it_cannot_hold),
        cmocka_unit_test(test_output_to_stdout_leaves_it_open),
        cmocka_unit_test(test_npy_to_stdout),
        cmocka_unit_test(test_output_open_missing_dir_names_path),
        cmocka_unit_test(test_output_open_directory_fails),
        cmocka_unit_test(test_output_open_rejects_bad_config),
        cmocka_unit_test(test_output_write_error_names_path),
        cmocka_unit_test(test_output_close_reports_buffered_write_error),
        cmocka_unit_test(test_output_result_type_mismatch_fails),
        cmocka_unit_test(test_output_close_accepts_null),
        cmocka_unit_test(test_output_many_results_through_the_buffer),
        cmocka_unit_test(test_errlog_stderr_lines),
        cmocka_unit_test(test_errlog_stderr_without_message),
        cmocka_unit_test(test_errlog_jsonl_objects),
        cmocka_unit_test(test_errlog_open_missing_dir_names_path),
        cmocka_unit_test(test_errlog_write_error_names_path),
        cmocka_unit_test(test_signal_name_known_and_unknown),
        cmocka_unit_test(test_task_kind_names),
        cmocka_unit_test(test_format_f64_matches_python_repr),
        cmocka_unit_test(test_format_f64_special_values),
        cmocka_unit_test(test_format_truncates_like_snprintf),
        cmocka_unit_test(test_format_f64_random_bits_round_trip_shortest),
        cmocka_unit_test(test_format_f64_powers_of_two),
        cmocka_unit_test(test_format_f64_layout_switches_like_repr),
        cmocka_unit_test(test_format_f32_shortest_table),
        cmocka_unit_test(test_format_f32_random_bits_round_trip_shortest),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
