/* test_template.c - parsing the args template, its defaults, and applying it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "template.h"
#include "value_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

/* Parses text that must be valid; the caller frees *t. */
static void parse_ok(kp_template *t, const char *text)
{
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_template_parse(t, text, &err);
    if (rc != 0)
        fail_msg("parsing '%s' failed: %s", text, err.msg);
}

/* Parses text that must fail with KPOOL_EJOB and a message containing `part`. */
static void parse_fails(const char *text, const char *part)
{
    kp_template t;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_template_parse(&t, text, &err);
    kp_template_free(&t);
    if (rc != KPOOL_EJOB)
        fail_msg("parsing '%s' returned %d, not KPOOL_EJOB (message: %s)", text, rc, err.msg);
    if (!strstr(err.msg, part))
        fail_msg("parsing '%s': message '%s' lacks '%s'", text, err.msg, part);
    assert_int_equal(err.code, KPOOL_EJOB);
}

/* The single literal of a one-item template. */
static kp_value literal_of(kp_template *t, const char *text)
{
    parse_ok(t, text);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->items[0].kind, KP_ARG_LITERAL);
    return t->items[0].literal;
}

/* ---- parsing -------------------------------------------------------- */

static void test_parse_empty_text_is_empty_tuple(void **state)
{
    (void)state;
    kp_template t;
    parse_ok(&t, "");
    assert_int_equal(t.n, 0);
    assert_false(kp_template_uses_record(&t));
    kp_template_free(&t);
    parse_ok(&t, "   \t ");
    assert_int_equal(t.n, 0);
    kp_template_free(&t);
}

static void test_parse_references(void **state)
{
    (void)state;
    kp_template t;
    parse_ok(&t, "$0, $1,$12 , $*");
    assert_int_equal(t.n, 4);
    assert_int_equal(t.items[0].kind, KP_ARG_RECORD);
    assert_int_equal(t.items[1].kind, KP_ARG_ELEMENT);
    assert_int_equal(t.items[1].element, 1);
    assert_int_equal(t.items[2].kind, KP_ARG_ELEMENT);
    assert_int_equal(t.items[2].element, 12);
    assert_int_equal(t.items[3].kind, KP_ARG_SPREAD);
    assert_true(kp_template_uses_record(&t));
    kp_template_free(&t);
}

static void test_parse_seed_template(void **state)
{
    (void)state;
    kp_template t;
    parse_ok(&t, "$0, 4, 8");
    assert_int_equal(t.n, 3);
    assert_int_equal(t.items[0].kind, KP_ARG_RECORD);
    assert_int_equal(t.items[1].kind, KP_ARG_LITERAL);
    assert_int_equal(t.items[1].literal.kind, KP_V_INT);
    assert_int_equal(t.items[1].literal.as.i, 4);
    assert_int_equal(t.items[2].literal.as.i, 8);
    kp_template_free(&t);
}

static void test_parse_integers(void **state)
{
    (void)state;
    kp_template t;
    kp_value v = literal_of(&t, "0");
    assert_int_equal(v.kind, KP_V_INT);
    assert_int_equal(v.as.i, 0);
    kp_template_free(&t);

    v = literal_of(&t, "-5");
    assert_int_equal(v.as.i, -5);
    kp_template_free(&t);

    v = literal_of(&t, "+7");
    assert_int_equal(v.as.i, 7);
    kp_template_free(&t);

    v = literal_of(&t, "007");
    assert_int_equal(v.as.i, 7);
    kp_template_free(&t);

    v = literal_of(&t, "9223372036854775807");
    assert_int_equal(v.kind, KP_V_INT);
    assert_true(v.as.i == INT64_MAX);
    kp_template_free(&t);

    v = literal_of(&t, "-9223372036854775808");
    assert_int_equal(v.kind, KP_V_INT);
    assert_true(v.as.i == INT64_MIN);
    kp_template_free(&t);
}

static void test_parse_integers_beyond_int64_are_uint(void **state)
{
    (void)state;
    kp_template t;
    kp_value v = literal_of(&t, "9223372036854775808");
    assert_int_equal(v.kind, KP_V_UINT);
    assert_true(v.as.u == (uint64_t)INT64_MAX + 1);
    kp_template_free(&t);

    v = literal_of(&t, "18446744073709551615");
    assert_int_equal(v.kind, KP_V_UINT);
    assert_true(v.as.u == UINT64_MAX);
    kp_template_free(&t);
}

static void test_parse_floats(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double value;
    } cases[] = {
        {"1.5", 1.5}, {"-2.5", -2.5}, {"1e3", 1000.0}, {"-2e3", -2000.0}, {".5", 0.5},
        {"5.", 5.0},  {"1E-2", 0.01}, {"+0.25", 0.25}, {"2.0", 2.0},      {"1e-400", 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_template t;
        kp_value v = literal_of(&t, cases[i].text);
        assert_int_equal(v.kind, KP_V_FLOAT);
        assert_true(v.as.f == cases[i].value);
        kp_template_free(&t);
    }
}

static void test_parse_inf_and_nan(void **state)
{
    (void)state;
    kp_template t;
    kp_value v = literal_of(&t, "inf");
    assert_int_equal(v.kind, KP_V_FLOAT);
    assert_true(isinf(v.as.f) && v.as.f > 0);
    kp_template_free(&t);

    v = literal_of(&t, "-inf");
    assert_true(isinf(v.as.f) && v.as.f < 0);
    kp_template_free(&t);

    v = literal_of(&t, "nan");
    assert_int_equal(v.kind, KP_V_FLOAT);
    assert_true(isnan(v.as.f));
    kp_template_free(&t);
}

static void test_parse_strings_with_escapes(void **state)
{
    (void)state;
    kp_template t;
    kp_value v = literal_of(&t, "\"text\"");
    assert_int_equal(v.kind, KP_V_STR);
    assert_string_equal(v.as.s.ptr, "text");
    assert_int_equal(v.as.s.len, 4);
    kp_template_free(&t);

    v = literal_of(&t, "\"a\\\"b\\\\c\\nd\\te\\rf\"");
    assert_string_equal(v.as.s.ptr, "a\"b\\c\nd\te\rf");
    assert_int_equal(v.as.s.len, 11);
    kp_template_free(&t);

    v = literal_of(&t, "\"\"");
    assert_string_equal(v.as.s.ptr, "");
    assert_int_equal(v.as.s.len, 0);
    kp_template_free(&t);

    /* Commas, brackets and $ inside a string are text. */
    v = literal_of(&t, "\"a, [b], $0\"");
    assert_string_equal(v.as.s.ptr, "a, [b], $0");
    kp_template_free(&t);
}

static void test_parse_true_false_null(void **state)
{
    (void)state;
    kp_template t;
    parse_ok(&t, "true, false, null");
    assert_int_equal(t.n, 3);
    assert_int_equal(t.items[0].literal.kind, KP_V_BOOL);
    assert_true(t.items[0].literal.as.b);
    assert_int_equal(t.items[1].literal.kind, KP_V_BOOL);
    assert_false(t.items[1].literal.as.b);
    assert_int_equal(t.items[2].literal.kind, KP_V_NULL);
    assert_false(kp_template_uses_record(&t));
    kp_template_free(&t);
}

static void test_parse_lists_nested(void **state)
{
    (void)state;
    kp_template t;
    kp_value v = literal_of(&t, "[1, [2.5, \"x\"], [], true ,null]");
    assert_int_equal(v.kind, KP_V_LIST);
    assert_int_equal(v.as.list.len, 5);
    const kp_value *items = v.as.list.items;
    assert_int_equal(items[0].as.i, 1);
    assert_int_equal(items[1].kind, KP_V_LIST);
    assert_int_equal(items[1].as.list.len, 2);
    assert_true(items[1].as.list.items[0].as.f == 2.5);
    assert_string_equal(items[1].as.list.items[1].as.s.ptr, "x");
    assert_int_equal(items[2].kind, KP_V_LIST);
    assert_int_equal(items[2].as.list.len, 0);
    assert_int_equal(items[3].kind, KP_V_BOOL);
    assert_int_equal(items[4].kind, KP_V_NULL);
    kp_template_free(&t);

    /* Many items grow the arrays past their first allocation. */
    parse_ok(&t, "[1,2,3,4,5,6,7,8,9,10,11,12], 2, 3, 4, 5, 6, 7, 8, 9, 10");
    assert_int_equal(t.n, 10);
    assert_int_equal(t.items[0].literal.as.list.len, 12);
    assert_int_equal(t.items[0].literal.as.list.items[11].as.i, 12);
    assert_int_equal(t.items[9].literal.as.i, 10);
    kp_template_free(&t);
}

static void test_parse_nesting_limit(void **state)
{
    (void)state;
    char text[200];
    kp_template t;
    /* 64 levels are allowed, 65 are not. */
    memset(text, '[', 64);
    memset(text + 64, ']', 64);
    text[128] = '\0';
    parse_ok(&t, text);
    kp_template_free(&t);
    memset(text, '[', 65);
    memset(text + 65, ']', 65);
    text[130] = '\0';
    parse_fails(text, "column 65: lists nested too deeply");
}

static void test_parse_error_integer_out_of_range(void **state)
{
    (void)state;
    parse_fails("18446744073709551616",
                "column 1: 18446744073709551616 is above the largest integer");
    parse_fails("4, -9223372036854775809",
                "column 4: -9223372036854775809 is below the smallest integer");
    parse_fails("1e999", "column 1: 1e999 is beyond the range of a double");
}

static void test_parse_error_strings(void **state)
{
    (void)state;
    parse_fails("\"a\\0b\"", "column 3: strings cannot contain NUL");
    parse_fails("\"a\\qb\"", "column 3: unknown escape '\\q'");
    parse_fails("1, \"abc", "column 4: unterminated string");
    parse_fails("\"abc\\\"", "column 1: unterminated string");
    parse_fails("\"a\"b", "column 4: expected ',' between items, found 'b'");
}

static void test_parse_error_reference_in_list(void **state)
{
    (void)state;
    parse_fails("[1, $0]", "column 5: $ references cannot be inside a list");
    parse_fails("4, [[$*]]", "column 6: $ references cannot be inside a list");
}

static void test_parse_error_commas(void **state)
{
    (void)state;
    parse_fails("4, 8,", "column 5: trailing comma");
    parse_fails("4, 8,  ", "column 5: trailing comma");
    parse_fails("4,,8", "column 3: empty item");
    parse_fails(",4", "column 1: empty item");
    parse_fails("4, , 8", "column 4: empty item");
    parse_fails("4 8", "column 3: expected ',' between items, found '8'");
}

static void test_parse_error_unknown_words(void **state)
{
    (void)state;
    parse_fails("4, ture", "column 4: unknown word 'ture'; strings need double quotes");
    parse_fails("abc", "column 1: unknown word 'abc'; strings need double quotes");
    parse_fails("True", "column 1: unknown word 'True'; did you mean true?");
    parse_fails("NULL", "column 1: unknown word 'NULL'; did you mean null?");
}

static void test_parse_error_malformed_numbers(void **state)
{
    (void)state;
    parse_fails("12abc", "column 1: '12abc' is not a number");
    parse_fails("0x10", "column 1: '0x10' is not a number");
    parse_fails("1e", "column 1: '1e' is not a number");
    parse_fails("-", "column 1: '-' is not a number");
    parse_fails("1.2.3", "column 1: '1.2.3' is not a number");
    parse_fails(".", "column 1: '.' is not a number");
}

static void test_parse_error_lists(void **state)
{
    (void)state;
    parse_fails("[1, 2", "column 1: unterminated list");
    parse_fails("5, [1,]", "column 6: trailing comma in a list");
    parse_fails("[,1]", "column 2: empty item in a list");
    parse_fails("[1 2]", "column 4: expected ',' or ']' in a list, found '2'");
    parse_fails("]", "column 1: unexpected ']'");
    parse_fails("1, 2]", "column 5: expected ',' between items, found ']'");
}

static void test_parse_error_references(void **state)
{
    (void)state;
    parse_fails("$", "column 1: '$' must be followed by 0, an element number or *");
    parse_fails("4, $x", "column 4: '$' must be followed by");
    parse_fails("$1x", "column 3: unexpected 'x' after a $ reference");
    parse_fails("$01", "column 1: '$01': element numbers have no leading zeros");
    parse_fails("$99999999999999999999999", "column 1: element number too large");
    parse_fails("$1$2", "column 3: expected ',' between items, found '$'");
}

static void test_parse_error_quotes_whole_utf8_character(void **state)
{
    (void)state;
    /* A fullwidth comma (U+FF0C) instead of ','. */
    parse_fails("4 \xef\xbc\x8c 8", "found '\xef\xbc\x8c'");
}

static void test_parse_error_with_null_err_still_fails(void **state)
{
    (void)state;
    kp_template t;
    assert_int_equal(kp_template_parse(&t, "4,,", NULL), KPOOL_EJOB);
    kp_template_free(&t);
}

/* ---- defaults ---------------------------------------------------------- */

static void test_default_per_mode(void **state)
{
    (void)state;
    kp_template t;
    kp_err err;
    assert_int_equal(kp_template_default(&t, KP_MODE_MAP, &err), 0);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.items[0].kind, KP_ARG_RECORD);
    assert_true(kp_template_uses_record(&t));
    kp_template_free(&t);

    assert_int_equal(kp_template_default(&t, KP_MODE_STARMAP, &err), 0);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.items[0].kind, KP_ARG_SPREAD);
    kp_template_free(&t);

    assert_int_equal(kp_template_default(&t, KP_MODE_APPLY, &err), 0);
    assert_int_equal(t.n, 0);
    assert_false(kp_template_uses_record(&t));
    kp_template_free(&t);
}

static void test_default_unknown_mode(void **state)
{
    (void)state;
    kp_template t;
    kp_err err;
    assert_int_equal(kp_template_default(&t, (kp_mode)42, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "unknown mode 42"));
    kp_template_free(&t);
}

/* ---- apply ------------------------------------------------------------- */

typedef struct apply_fixture {
    kp_template t;
    kp_arena arena;
} apply_fixture;

static int apply_setup(void **state)
{
    apply_fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    kp_arena_init(&f->arena);
    *state = f;
    return 0;
}

static int apply_teardown(void **state)
{
    apply_fixture *f = *state;
    kp_template_free(&f->t);
    kp_arena_free(&f->arena);
    free(f);
    return 0;
}

static void test_apply_record_and_literals(void **state)
{
    apply_fixture *f = *state;
    kp_value row[3] = {int_value(5), int_value(6), int_value(7)};
    kp_value record = list_value(row, 3);
    kp_value *args;
    size_t nargs;
    kp_err err;
    parse_ok(&f->t, "$0, 4, \"x\"");
    assert_int_equal(kp_template_apply(&f->t, &record, &f->arena, &args, &nargs, &err), 0);
    assert_int_equal(nargs, 3);
    assert_int_equal(args[0].kind, KP_V_LIST);
    assert_ptr_equal(args[0].as.list.items, row);
    assert_int_equal(args[1].kind, KP_V_INT);
    assert_int_equal(args[1].as.i, 4);
    assert_int_equal(args[2].kind, KP_V_STR);
    assert_string_equal(args[2].as.s.ptr, "x");
}

static void test_apply_elements_of_list(void **state)
{
    apply_fixture *f = *state;
    kp_value row[3] = {int_value(5), int_value(6), int_value(7)};
    kp_value record = list_value(row, 3);
    kp_value *args;
    size_t nargs;
    kp_err err;
    parse_ok(&f->t, "$3, $1, $3");
    assert_int_equal(kp_template_apply(&f->t, &record, &f->arena, &args, &nargs, &err), 0);
    assert_int_equal(nargs, 3);
    assert_int_equal(args[0].as.i, 7);
    assert_int_equal(args[1].as.i, 5);
    assert_int_equal(args[2].as.i, 7);
}

static void test_apply_spread_list(void **state)
{
    apply_fixture *f = *state;
    kp_value inner[2] = {int_value(1), int_value(2)};
    kp_value row[3] = {list_value(inner, 2), int_value(4), int_value(8)};
    kp_value record = list_value(row, 3);
    kp_value *args;
    size_t nargs;
    kp_err err;
    parse_ok(&f->t, "$*, true");
    assert_int_equal(kp_template_apply(&f->t, &record, &f->arena, &args, &nargs, &err), 0);
    assert_int_equal(nargs, 4);
    assert_int_equal(args[0].kind, KP_V_LIST);
    assert_int_equal(args[0].as.list.len, 2);
    assert_int_equal(args[1].as.i, 4);
    assert_int_equal(args[2].as.i, 8);
    assert_int_equal(args[3].kind, KP_V_BOOL);
}

static void test_apply_nums_record(void **state)
{
    apply_fixture *f = *state;
    int64_t row[3] = {5, -6, 7};
    kp_value record = {.kind = KP_V_NUMS};
    record.as.nums.data = row;
    record.as.nums.len = 3;
    record.as.nums.type = KP_T_I64;
    kp_value *args;
    size_t nargs;
    kp_err err;
    parse_ok(&f->t, "$0, $2, $*");
    assert_int_equal(kp_template_apply(&f->t, &record, &f->arena, &args, &nargs, &err), 0);
    assert_int_equal(nargs, 5);
    /* $0 stays the nums row itself, so a matching kernel gets it unconverted. */
    assert_int_equal(args[0].kind, KP_V_NUMS);
    assert_ptr_equal(args[0].as.nums.data, row);
    assert_int_equal(args[1].kind, KP_V_INT);
    assert_int_equal(args[1].as.i, -6);
    assert_int_equal(args[2].as.i, 5);
    assert_int_equal(args[4].as.i, 7);
}

static void test_apply_scalar_record_as_record(void **state)
{
    apply_fixture *f = *state;
    kp_value record = int_value(12);
    kp_value *args;
    size_t nargs;
    kp_err err;
    assert_int_equal(kp_template_default(&f->t, KP_MODE_MAP, &err), 0);
    assert_int_equal(kp_template_apply(&f->t, &record, &f->arena, &args, &nargs, &err), 0);
    assert_int_equal(nargs, 1);
    assert_int_equal(args[0].kind, KP_V_INT);
    assert_int_equal(args[0].as.i, 12);
}

static void test_apply_literals_without_record(void **state)
{
    apply_fixture *f = *state;
    kp_value *args;
    size_t nargs;
    kp_err err;
    parse_ok(&f->t, "2.0, [1, 2]");
    assert_int_equal(kp_template_apply(&f->t, NULL, &f->arena, &args, &nargs, &err), 0);
    assert_int_equal(nargs, 2);
    assert_true(args[0].as.f == 2.0);
    assert_int_equal(args[1].kind, KP_V_LIST);
    assert_int_equal(args[1].as.list.len, 2);
}

static void test_apply_empty_tuple(void **state)
{
    apply_fixture *f = *state;
    kp_value *args = (kp_value *)1;
    size_t nargs = 99;
    kp_err err;
    assert_int_equal(kp_template_default(&f->t, KP_MODE_APPLY, &err), 0);
    assert_int_equal(kp_template_apply(&f->t, NULL, &f->arena, &args, &nargs, &err), 0);
    assert_int_equal(nargs, 0);
    assert_null(args);

    /* Spreading an empty list is an empty tuple too. */
    kp_template_free(&f->t);
    kp_value record = list_value(NULL, 0);
    assert_int_equal(kp_template_default(&f->t, KP_MODE_STARMAP, &err), 0);
    assert_int_equal(kp_template_apply(&f->t, &record, &f->arena, &args, &nargs, &err), 0);
    assert_int_equal(nargs, 0);
}

static void apply_fails(apply_fixture *f, const char *text, const kp_value *record,
                        const char *message)
{
    kp_value *args;
    size_t nargs;
    kp_err err;
    kp_err_clear(&err);
    parse_ok(&f->t, text);
    int rc = kp_template_apply(&f->t, record, &f->arena, &args, &nargs, &err);
    kp_template_free(&f->t);
    assert_int_equal(rc, KPOOL_EINPUT);
    assert_int_equal(err.code, KPOOL_EINPUT);
    if (strcmp(err.msg, message) != 0)
        fail_msg("applying '%s': message '%s', expected '%s'", text, err.msg, message);
}

static void test_apply_error_missing_element(void **state)
{
    apply_fixture *f = *state;
    kp_value row[3] = {int_value(5), int_value(6), int_value(7)};
    kp_value record = list_value(row, 3);
    apply_fails(f, "$0, $4", &record, "$4: the record has 3 elements");
    record.as.list.len = 1;
    apply_fails(f, "$2", &record, "$2: the record has 1 element");
    int64_t nums[2] = {1, 2};
    kp_value numrec = {.kind = KP_V_NUMS};
    numrec.as.nums.data = nums;
    numrec.as.nums.len = 2;
    numrec.as.nums.type = KP_T_I64;
    apply_fails(f, "$3", &numrec, "$3: the record has 2 elements");
}

static void test_apply_error_element_of_scalar(void **state)
{
    apply_fixture *f = *state;
    kp_value record = int_value(5);
    apply_fails(f, "$1", &record, "$1: the record is an integer, not a list");
    kp_value text = {.kind = KP_V_STR};
    text.as.s.ptr = "abc";
    text.as.s.len = 3;
    apply_fails(f, "$2", &text, "$2: the record is a string, not a list");
    kp_value null = {.kind = KP_V_NULL};
    apply_fails(f, "$1", &null, "$1: the record is null, not a list");
}

static void test_apply_error_spread_of_scalar(void **state)
{
    apply_fixture *f = *state;
    kp_value record = {.kind = KP_V_FLOAT};
    record.as.f = 2.5;
    apply_fails(f, "$*", &record, "$*: the record is a number, not a list");
    kp_value b = {.kind = KP_V_BOOL};
    apply_fails(f, "4, $*", &b, "$*: the record is a boolean, not a list");
}

static void test_apply_error_no_record(void **state)
{
    apply_fixture *f = *state;
    apply_fails(f, "4, $0", NULL, "$0: there is no input record");
    apply_fails(f, "$*", NULL, "$*: there is no input record");
    apply_fails(f, "$2", NULL, "$2: there is no input record");
}

static void test_apply_error_unreadable_nums(void **state)
{
    apply_fixture *f = *state;
    const char *strs[2] = {"a", "b"};
    kp_value record = {.kind = KP_V_NUMS};
    record.as.nums.data = strs;
    record.as.nums.len = 2;
    record.as.nums.type = KP_T_STR;
    kp_value *args;
    size_t nargs;
    kp_err err;
    parse_ok(&f->t, "$*");
    assert_int_equal(kp_template_apply(&f->t, &record, &f->arena, &args, &nargs, &err),
                     KPOOL_EINPUT);
    assert_non_null(strstr(err.msg, "$*: the record is an array of unreadable type"));
}

#define APPLY_TEST(name) cmocka_unit_test_setup_teardown(name, apply_setup, apply_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_empty_text_is_empty_tuple),
        cmocka_unit_test(test_parse_references),
        cmocka_unit_test(test_parse_seed_template),
        cmocka_unit_test(test_parse_integers),
        cmocka_unit_test(test_parse_integers_beyond_int64_are_uint),
        cmocka_unit_test(test_parse_floats),
        cmocka_unit_test(test_parse_inf_and_nan),
        cmocka_unit_test(test_parse_strings_with_escapes),
        cmocka_unit_test(test_parse_true_false_null),
        cmocka_unit_test(test_parse_lists_nested),
        cmocka_unit_test(test_parse_nesting_limit),
        cmocka_unit_test(test_parse_error_integer_out_of_range),
        cmocka_unit_test(test_parse_error_strings),
        cmocka_unit_test(test_parse_error_reference_in_list),
        cmocka_unit_test(test_parse_error_commas),
        cmocka_unit_test(test_parse_error_unknown_words),
        cmocka_unit_test(test_parse_error_malformed_numbers),
        cmocka_unit_test(test_parse_error_lists),
        cmocka_unit_test(test_parse_error_references),
        cmocka_unit_test(test_parse_error_quotes_whole_utf8_character),
        cmocka_unit_test(test_parse_error_with_null_err_still_fails),
        cmocka_unit_test(test_default_per_mode),
        cmocka_unit_test(test_default_unknown_mode),
        APPLY_TEST(test_apply_record_and_literals),
        APPLY_TEST(test_apply_elements_of_list),
        APPLY_TEST(test_apply_spread_list),
        APPLY_TEST(test_apply_nums_record),
        APPLY_TEST(test_apply_scalar_record_as_record),
        APPLY_TEST(test_apply_literals_without_record),
        APPLY_TEST(test_apply_empty_tuple),
        APPLY_TEST(test_apply_error_missing_element),
        APPLY_TEST(test_apply_error_element_of_scalar),
        APPLY_TEST(test_apply_error_spread_of_scalar),
        APPLY_TEST(test_apply_error_no_record),
        APPLY_TEST(test_apply_error_unreadable_nums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
