/* test_input_jsonl.c - .jsonl inputs: values, blank lines, line numbers, errors. */
#include "input.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define INPUT_FIXTURE_DIR "input_jsonl"
#include "input_fixture.h"

static kp_input *open_jsonl_n(const char *name, const char *text, size_t len)
{
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, name, text, len);
    kp_input_config cfg = {.path = path, .format = KP_IN_AUTO};
    kp_input *in = NULL;
    kp_err err;
    int rc = kp_input_open(&in, &cfg, &err);
    if (rc != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    return in;
}

static kp_input *open_jsonl(const char *text)
{
    return open_jsonl_n("t.jsonl", text, strlen(text));
}

static const char *read_error(const kp_input *in, size_t i, kp_arena *a, kp_err *err)
{
    kp_value v;
    int rc = kp_input_record(in, i, a, &v, err);
    assert_true(rc < 0);
    assert_int_equal(rc, err->code);
    return err->msg;
}

static void assert_int_value(const kp_value *v, int64_t want)
{
    assert_int_equal(v->kind, KP_V_INT);
    assert_int_equal(v->as.i, want);
}

static void test_jsonl_seed_starmap_tuple(void **state)
{
    kp_input *in = open_jsonl("[[5, 6, 7, 0, 9], 4, 8]\n[[1,2,3,4,5],4,8]\n");
    assert_int_equal(kp_input_count(in), 2);
    assert_int_equal(kp_input_format_of(in), KP_IN_JSONL);
    kp_value v = read_ok(in, 0, *state);
    assert_int_equal(v.kind, KP_V_LIST);
    assert_int_equal(v.as.list.len, 3);
    const kp_value *row = &v.as.list.items[0];
    assert_int_equal(row->kind, KP_V_LIST);
    assert_int_equal(row->as.list.len, 5);
    static const int64_t want[5] = {5, 6, 7, 0, 9};
    for (size_t i = 0; i < 5; i++)
        assert_int_value(&row->as.list.items[i], want[i]);
    assert_int_value(&v.as.list.items[1], 4);
    assert_int_value(&v.as.list.items[2], 8);
    v = read_ok(in, 1, *state);
    assert_int_value(&v.as.list.items[0].as.list.items[4], 5);
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_non_null(strstr(desc, "t.jsonl: jsonl, 2 records"));
    kp_input_close(in);
}

static void test_jsonl_scalars(void **state)
{
    kp_input *in = open_jsonl("1\n-2.5\ntrue\nfalse\nnull\n\"caf\\u00e9 \\\"x\\\"\"\n"
                              "-9223372036854775808\n1e3\n");
    assert_int_equal(kp_input_count(in), 8);
    kp_value v = read_ok(in, 0, *state);
    assert_int_value(&v, 1);
    v = read_ok(in, 1, *state);
    assert_int_equal(v.kind, KP_V_FLOAT);
    assert_true(v.as.f == -2.5);
    v = read_ok(in, 2, *state);
    assert_int_equal(v.kind, KP_V_BOOL);
    assert_true(v.as.b);
    v = read_ok(in, 3, *state);
    assert_int_equal(v.kind, KP_V_BOOL);
    assert_false(v.as.b);
    v = read_ok(in, 4, *state);
    assert_int_equal(v.kind, KP_V_NULL);
    v = read_ok(in, 5, *state);
    assert_int_equal(v.kind, KP_V_STR);
    assert_string_equal(v.as.s.ptr, "caf\xc3\xa9 \"x\"");
    assert_int_equal(v.as.s.len, 9);
    v = read_ok(in, 6, *state);
    assert_int_value(&v, INT64_MIN);
    v = read_ok(in, 7, *state);
    assert_int_equal(v.kind, KP_V_FLOAT);
    assert_true(v.as.f == 1000.0);
    kp_input_close(in);
}

static void test_jsonl_mixed_and_empty_arrays(void **state)
{
    kp_input *in = open_jsonl("[]\n[1, \"a\", [true, null], 2.0, []]\n");
    kp_value v = read_ok(in, 0, *state);
    assert_int_equal(v.kind, KP_V_LIST);
    assert_int_equal(v.as.list.len, 0);
    assert_non_null(v.as.list.items);
    v = read_ok(in, 1, *state);
    assert_int_equal(v.as.list.len, 5);
    assert_int_equal(v.as.list.items[1].kind, KP_V_STR);
    assert_string_equal(v.as.list.items[1].as.s.ptr, "a");
    const kp_value *inner = &v.as.list.items[2];
    assert_int_equal(inner->kind, KP_V_LIST);
    assert_int_equal(inner->as.list.items[0].kind, KP_V_BOOL);
    assert_int_equal(inner->as.list.items[1].kind, KP_V_NULL);
    assert_int_equal(v.as.list.items[3].kind, KP_V_FLOAT);
    assert_int_equal(v.as.list.items[4].as.list.len, 0);
    kp_input_close(in);
}

static void test_jsonl_blank_lines_skipped_but_counted(void **state)
{
    kp_input *in = open_jsonl("\n  \n1\n\t\r\n\n[2]\n{\"a\": 1}\n \n");
    assert_int_equal(kp_input_count(in), 3);
    kp_value v = read_ok(in, 0, *state);
    assert_int_value(&v, 1);
    v = read_ok(in, 1, *state);
    assert_int_value(&v.as.list.items[0], 2);
    kp_err err;
    const char *msg = read_error(in, 2, *state, &err);
    assert_non_null(strstr(msg, "line 7: a JSON object cannot be an argument (use an array)"));
    assert_int_equal(err.code, KPOOL_EINPUT);
    kp_input_close(in);
}

static void test_jsonl_invalid_json_names_line_and_column(void **state)
{
    kp_input *in = open_jsonl("[1, 2]\n\n[1, 2,, 3]\n[4]\n1 2\n");
    assert_int_equal(kp_input_count(in), 4);
    kp_err err;
    const char *msg = read_error(in, 1, *state, &err);
    assert_non_null(strstr(msg, "line 3: invalid JSON: "));
    assert_non_null(strstr(msg, "(column 7)"));
    assert_int_equal(err.code, KPOOL_EINPUT);
    kp_value v = read_ok(in, 2, *state);
    assert_int_value(&v.as.list.items[0], 4);
    msg = read_error(in, 3, *state, &err);
    assert_non_null(strstr(msg, "line 5: invalid JSON: "));
    kp_input_close(in);
}

static void test_jsonl_object_inside_array_fails(void **state)
{
    kp_input *in = open_jsonl("[1, [2, {\"k\": 3}]]\n");
    kp_err err;
    const char *msg = read_error(in, 0, *state, &err);
    assert_non_null(strstr(msg, "line 1: a JSON object cannot be an argument"));
    kp_input_close(in);
}

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 2);
    assert_non_null(s);
    memset(s, '[', (size_t)depth);
    memset(s + depth, ']', (size_t)depth);
    s[2 * depth] = '\n';
    s[2 * depth + 1] = '\0';
    return s;
}

static void test_jsonl_nesting_limit(void **state)
{
    char *ok = nested(64), *deep = nested(65);
    size_t lok = strlen(ok), ldeep = strlen(deep);
    char *text = malloc(lok + ldeep + 1);
    assert_non_null(text);
    memcpy(text, ok, lok);
    memcpy(text + lok, deep, ldeep + 1);
    kp_input *in = open_jsonl(text);
    free(ok);
    free(deep);
    free(text);
    kp_value v = read_ok(in, 0, *state);
    int depth = 0;
    while (v.kind == KP_V_LIST && v.as.list.len == 1) {
        v = v.as.list.items[0];
        depth++;
    }
    assert_int_equal(depth, 63); /* the innermost array is empty */
    kp_err err;
    const char *msg = read_error(in, 1, *state, &err);
    assert_non_null(strstr(msg, "line 2: arrays nest deeper than 64 levels"));
    kp_input_close(in);
}

static void test_jsonl_integer_out_of_range(void **state)
{
    kp_input *in = open_jsonl("[9223372036854775807]\n[1, 9223372036854775808]\n"
                              "-9223372036854775809\n1e999\n");
    kp_value v = read_ok(in, 0, *state);
    assert_int_value(&v.as.list.items[0], INT64_MAX);
    kp_err err;
    const char *msg = read_error(in, 1, *state, &err);
    assert_non_null(strstr(msg, "line 2: integer out of range (column"));
    msg = read_error(in, 2, *state, &err);
    assert_non_null(strstr(msg, "line 3: integer out of range"));
    msg = read_error(in, 3, *state, &err);
    assert_non_null(strstr(msg, "line 4: number out of range"));
    kp_input_close(in);
}

static void test_jsonl_nul_in_string_fails(void **state)
{
    kp_input *in = open_jsonl("\"a\\u0000b\"\n");
    kp_err err;
    const char *msg = read_error(in, 0, *state, &err);
    assert_non_null(strstr(msg, "line 1: a string holds \\u0000"));
    kp_input_close(in);
}

static void test_jsonl_invalid_utf8_fails(void **state)
{
    kp_input *in = open_jsonl("\"\xff\"\n");
    kp_err err;
    const char *msg = read_error(in, 0, *state, &err);
    assert_non_null(strstr(msg, "line 1: invalid JSON: "));
    kp_input_close(in);
}

static void test_jsonl_crlf_bom_and_missing_final_newline(void **state)
{
    kp_input *in = open_jsonl("\xEF\xBB\xBF[1]\r\n\r\n[2]\r\n[3]");
    assert_int_equal(kp_input_count(in), 3);
    kp_value v = read_ok(in, 0, *state);
    assert_int_value(&v.as.list.items[0], 1);
    v = read_ok(in, 2, *state);
    assert_int_value(&v.as.list.items[0], 3);
    kp_input_close(in);
}

static void test_jsonl_empty_file(void **state)
{
    kp_input *in = open_jsonl("");
    assert_int_equal(kp_input_count(in), 0);
    kp_value v;
    kp_err err;
    assert_int_equal(kp_input_record(in, 0, *state, &v, &err), KPOOL_EINVAL);
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_non_null(strstr(desc, "jsonl, 0 records"));
    kp_input_close(in);
}

static void test_jsonl_ndjson_extension(void **state)
{
    (void)state;
    kp_input *in = open_jsonl_n("t.ndjson", "[1]\n", 4);
    assert_int_equal(kp_input_format_of(in), KP_IN_JSONL);
    assert_int_equal(kp_input_count(in), 1);
    kp_input_close(in);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, arena_setup, arena_teardown)
    const struct CMUnitTest tests[] = {
        T(test_jsonl_seed_starmap_tuple),
        T(test_jsonl_scalars),
        T(test_jsonl_mixed_and_empty_arrays),
        T(test_jsonl_blank_lines_skipped_but_counted),
        T(test_jsonl_invalid_json_names_line_and_column),
        T(test_jsonl_object_inside_array_fails),
        T(test_jsonl_nesting_limit),
        T(test_jsonl_integer_out_of_range),
        T(test_jsonl_nul_in_string_fails),
        T(test_jsonl_invalid_utf8_fails),
        T(test_jsonl_crlf_bom_and_missing_final_newline),
        T(test_jsonl_empty_file),
        T(test_jsonl_ndjson_extension),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
