/* test_input_csv.c - .csv inputs: quoting, line ends, headers, blank lines, errors. */
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

#define INPUT_FIXTURE_DIR "input_csv"
#include "input_fixture.h"

/* Writes `text` (len bytes) as tmpdir/name and opens it as csv. */
static int open_csv_n(kp_input **in, kp_err *err, const char *name, const char *text, size_t len,
                      bool header)
{
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, name, text, len);
    kp_input_config cfg = {.path = path, .format = KP_IN_AUTO, .header = header};
    kp_err_clear(err);
    return kp_input_open(in, &cfg, err);
}

static kp_input *open_csv(const char *text, bool header)
{
    kp_input *in = NULL;
    kp_err err;
    int rc = open_csv_n(&in, &err, "t.csv", text, strlen(text), header);
    if (rc != 0)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    return in;
}

/* Asserts that record `i` has exactly the fields given (NULL-terminated). */
static void check_fields(const kp_input *in, size_t i, kp_arena *a, ...)
{
    kp_value v = read_ok(in, i, a);
    assert_int_equal(v.kind, KP_V_LIST);
    va_list ap;
    va_start(ap, a);
    size_t k = 0;
    for (const char *want; (want = va_arg(ap, const char *)); k++) {
        assert_true(k < v.as.list.len);
        const kp_value *f = &v.as.list.items[k];
        assert_int_equal(f->kind, KP_V_STR);
        assert_int_equal(f->as.s.len, strlen(want));
        assert_string_equal(f->as.s.ptr, want);
    }
    va_end(ap);
    assert_int_equal(v.as.list.len, k);
}

/* Reads record `i`, which must fail; returns the message. */
static const char *record_error(const kp_input *in, size_t i, kp_arena *a, kp_err *err)
{
    kp_value v;
    int rc = kp_input_record(in, i, a, &v, err);
    assert_int_equal(rc, KPOOL_EINPUT);
    assert_int_equal(err->code, KPOOL_EINPUT);
    return err->msg;
}

static void test_csv_plain_rows(void **state)
{
    kp_input *in = open_csv("1,2,3\n4,5,6\n-7,8.5,x\n", false);
    assert_int_equal(kp_input_count(in), 3);
    assert_int_equal(kp_input_format_of(in), KP_IN_CSV);
    check_fields(in, 0, *state, "1", "2", "3", NULL);
    check_fields(in, 2, *state, "-7", "8.5", "x", NULL);
    check_fields(in, 1, *state, "4", "5", "6", NULL);
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_non_null(strstr(desc, "t.csv: csv, 3 records"));
    kp_input_close(in);
}

static void test_csv_last_line_without_newline(void **state)
{
    kp_input *in = open_csv("a,b\nc,d", false);
    assert_int_equal(kp_input_count(in), 2);
    check_fields(in, 1, *state, "c", "d", NULL);
    kp_input_close(in);
}

static void test_csv_quoted_fields(void **state)
{
    kp_input *in = open_csv("\"a,b\",\"say \"\"hi\"\"\",\"\",plain\n\"\"\"\",x\n", false);
    assert_int_equal(kp_input_count(in), 2);
    check_fields(in, 0, *state, "a,b", "say \"hi\"", "", "plain", NULL);
    check_fields(in, 1, *state, "\"", "x", NULL);
    kp_input_close(in);
}

static void test_csv_embedded_newline_keeps_line_numbers(void **state)
{
    /* Record 0 spans lines 1-3; record 1 is on line 4; record 2 (bad) on 5. */
    kp_input *in = open_csv("1,\"two\nlines\nthree\",x\n4,5\n6,\"7\"y\n", false);
    assert_int_equal(kp_input_count(in), 3);
    check_fields(in, 0, *state, "1", "two\nlines\nthree", "x", NULL);
    check_fields(in, 1, *state, "4", "5", NULL);
    kp_err err;
    const char *msg = record_error(in, 2, *state, &err);
    assert_non_null(strstr(msg, "line 5: field 2: unexpected text after the closing quote "
                                "(line 5, column 6)"));
    kp_input_close(in);
}

static void test_csv_crlf_line_ends(void **state)
{
    kp_input *in = open_csv("a,b\r\n\"q\",\"multi\r\nline\"\r\nlast,\r\n", false);
    assert_int_equal(kp_input_count(in), 3);
    check_fields(in, 0, *state, "a", "b", NULL);
    /* A line break inside quotes is kept as written. */
    check_fields(in, 1, *state, "q", "multi\r\nline", NULL);
    check_fields(in, 2, *state, "last", "", NULL);
    kp_input_close(in);

    in = open_csv("x,y\r", false); /* CR at the end of the file */
    check_fields(in, 0, *state, "x", "y", NULL);
    kp_input_close(in);
    in = open_csv("x,\"y\"\r", false);
    check_fields(in, 0, *state, "x", "y", NULL);
    kp_input_close(in);
}

static void test_csv_lone_cr_inside_field_is_kept(void **state)
{
    kp_input *in = open_csv("a\rb,c\n", false);
    assert_int_equal(kp_input_count(in), 1);
    check_fields(in, 0, *state, "a\rb", "c", NULL);
    kp_input_close(in);
}

static void test_csv_header_is_skipped(void **state)
{
    kp_input *in = open_csv("x,y\n1,2\n3,4\n", true);
    assert_int_equal(kp_input_count(in), 2);
    check_fields(in, 0, *state, "1", "2", NULL);
    check_fields(in, 1, *state, "3", "4", NULL);
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_non_null(strstr(desc, "csv, 2 records after a header line"));
    kp_input_close(in);

    /* A quoted header spanning lines, after blank lines. */
    in = open_csv("\n\"a\nb\",c\n1,2\n", true);
    assert_int_equal(kp_input_count(in), 1);
    check_fields(in, 0, *state, "1", "2", NULL);
    kp_input_close(in);

    in = open_csv("only,a,header\n", true);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);
}

static void test_csv_blank_lines_skipped_but_counted(void **state)
{
    kp_input *in = open_csv("\n1,2\n\n\r\n3,4\n\n\"bad\"x\n\n", false);
    assert_int_equal(kp_input_count(in), 3);
    check_fields(in, 0, *state, "1", "2", NULL);
    check_fields(in, 1, *state, "3", "4", NULL);
    kp_err err;
    const char *msg = record_error(in, 2, *state, &err);
    assert_non_null(strstr(msg, "line 7: field 1"));
    kp_input_close(in);
}

static void test_csv_empty_fields_and_spaces(void **state)
{
    kp_input *in = open_csv(",,\na,\n 1 , 2 \n   \n", false);
    assert_int_equal(kp_input_count(in), 4);
    check_fields(in, 0, *state, "", "", "", NULL);
    check_fields(in, 1, *state, "a", "", NULL);
    check_fields(in, 2, *state, " 1 ", " 2 ", NULL);
    check_fields(in, 3, *state, "   ", NULL); /* spaces are not a blank line */
    kp_input_close(in);
}

static void test_csv_quote_inside_unquoted_field_is_literal(void **state)
{
    kp_input *in = open_csv("ab\"c,d\n e\"f\",g\nh,i\n", false);
    assert_int_equal(kp_input_count(in), 3);
    check_fields(in, 0, *state, "ab\"c", "d", NULL);
    check_fields(in, 1, *state, " e\"f\"", "g", NULL);
    check_fields(in, 2, *state, "h", "i", NULL);
    kp_input_close(in);
}

static void test_csv_unterminated_quote_fails_on_read(void **state)
{
    /* The open quote on line 2 swallows the rest of the file: two records. */
    kp_input *in = open_csv("1,2\n3,\"abc\n4,5\n", false);
    assert_int_equal(kp_input_count(in), 2);
    check_fields(in, 0, *state, "1", "2", NULL);
    kp_err err;
    const char *msg = record_error(in, 1, *state, &err);
    assert_non_null(strstr(msg, "line 2: field 2: unterminated quoted field (the quote at line 2, "
                                "column 3 is never closed)"));
    kp_input_close(in);
}

static void test_csv_text_after_closing_quote_fails(void **state)
{
    kp_input *in = open_csv("\"ab\"c,1\n\"x\" ,2\nok,3\n", false);
    assert_int_equal(kp_input_count(in), 3);
    kp_err err;
    const char *msg = record_error(in, 0, *state, &err);
    assert_non_null(strstr(msg, "line 1: field 1: unexpected text after the closing quote (line 1, "
                                "column 5)"));
    assert_non_null(strstr(msg, "\"\""));
    msg = record_error(in, 1, *state, &err);
    assert_non_null(strstr(msg, "line 2: field 1: unexpected text"));
    check_fields(in, 2, *state, "ok", "3", NULL);
    kp_input_close(in);

    /* After a multi-line field the position is on a later line. */
    in = open_csv("a,\"b\nc\"d\n", false);
    msg = record_error(in, 0, *state, &err);
    assert_non_null(strstr(msg, "line 1: field 2: unexpected text after the closing quote (line 2, "
                                "column 3)"));
    kp_input_close(in);
}

static void test_csv_nul_byte_fails(void **state)
{
    kp_input *in;
    kp_err err;
    assert_int_equal(open_csv_n(&in, &err, "nul.csv", "ok\na\0b,c\n\"x\0\"\n", 14, false), 0);
    assert_int_equal(kp_input_count(in), 3);
    check_fields(in, 0, *state, "ok", NULL);
    const char *msg = record_error(in, 1, *state, &err);
    assert_non_null(strstr(msg, "line 2: field 1: a NUL byte (line 2, column 2)"));
    msg = record_error(in, 2, *state, &err);
    assert_non_null(strstr(msg, "line 3: field 1: a NUL byte (line 3, column 3)"));
    kp_input_close(in);
}

static void test_csv_empty_and_blank_files(void **state)
{
    (void)state;
    kp_input *in = open_csv("", false);
    assert_int_equal(kp_input_count(in), 0);
    kp_value v;
    kp_err err;
    assert_int_equal(kp_input_record(in, 0, *state, &v, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "record 0 does not exist ("));
    assert_non_null(strstr(err.msg, "/t.csv has 0 records)"));
    kp_input_close(in);
    in = open_csv("\n\r\n\n", false);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);
}

static void test_csv_byte_order_mark_is_skipped(void **state)
{
    kp_input *in = open_csv("\xEF\xBB\xBF"
                            "a,b\n",
                            false);
    assert_int_equal(kp_input_count(in), 1);
    check_fields(in, 0, *state, "a", "b", NULL);
    kp_input_close(in);
}

static void test_csv_describe_singular(void **state)
{
    (void)state;
    kp_input *in = open_csv("1\n", false);
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_string_equal(desc + strlen(desc) - strlen("csv, 1 record"), "csv, 1 record");
    kp_input_close(in);
}

static void test_csv_many_records_random_access(void **state)
{
    size_t n = 20000;
    char *text = malloc(n * 24);
    assert_non_null(text);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, i % 7 == 0 ? "\"%zu\",\"r\n%zu\"\n" : "%zu,%zu\n", i,
                               i * 3);
    kp_input *in;
    kp_err err;
    assert_int_equal(open_csv_n(&in, &err, "many.csv", text, len, false), 0);
    free(text);
    assert_int_equal(kp_input_count(in), n);
    for (size_t k = 0; k < 200; k++) {
        size_t i = (k * 7919) % n;
        char a[32], b[32];
        snprintf(a, sizeof a, "%zu", i);
        snprintf(b, sizeof b, i % 7 == 0 ? "r\n%zu" : "%zu", i * 3);
        check_fields(in, i, *state, a, b, NULL);
        kp_arena_reset(*state);
    }
    kp_input_close(in);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, arena_setup, arena_teardown)
    const struct CMUnitTest tests[] = {
        T(test_csv_plain_rows),
        T(test_csv_last_line_without_newline),
        T(test_csv_quoted_fields),
        T(test_csv_embedded_newline_keeps_line_numbers),
        T(test_csv_crlf_line_ends),
        T(test_csv_lone_cr_inside_field_is_kept),
        T(test_csv_header_is_skipped),
        T(test_csv_blank_lines_skipped_but_counted),
        T(test_csv_empty_fields_and_spaces),
        T(test_csv_quote_inside_unquoted_field_is_literal),
        T(test_csv_unterminated_quote_fails_on_read),
        T(test_csv_text_after_closing_quote_fails),
        T(test_csv_nul_byte_fails),
        T(test_csv_empty_and_blank_files),
        T(test_csv_byte_order_mark_is_skipped),
        T(test_csv_describe_singular),
        T(test_csv_many_records_random_access),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
