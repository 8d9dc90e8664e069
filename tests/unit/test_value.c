/* test_value.c - kind names, elements, descriptions and number parsing of kp_value. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "value.h"
#include "value_fixture.h"

#include <kpool/kpool.h>

#include <math.h>
#include <string.h>

static void test_kind_name_every_kind(void **state)
{
    (void)state;
    kp_value v = {.kind = KP_V_NULL};
    assert_string_equal(kp_value_kind_name(&v), "null");
    v.kind = KP_V_BOOL;
    assert_string_equal(kp_value_kind_name(&v), "a boolean");
    v = int_value(3);
    assert_string_equal(kp_value_kind_name(&v), "an integer");
    v.kind = KP_V_UINT;
    assert_string_equal(kp_value_kind_name(&v), "an integer");
    v = float_value(2.5);
    assert_string_equal(kp_value_kind_name(&v), "a number");
    v = str_value("x");
    assert_string_equal(kp_value_kind_name(&v), "a string");
    v = list_value(NULL, 0);
    assert_string_equal(kp_value_kind_name(&v), "a list");
}

static void test_kind_name_nums_names_the_type(void **state)
{
    (void)state;
    int64_t row[2] = {1, 2};
    kp_value v = nums_value(row, 2, KP_T_I64);
    assert_string_equal(kp_value_kind_name(&v), "an array of i64");
    v.as.nums.type = KP_T_F32;
    assert_string_equal(kp_value_kind_name(&v), "an array of f32");
    v.as.nums.type = KP_T_BOOL;
    assert_string_equal(kp_value_kind_name(&v), "an array of bool");
    v.as.nums.type = KP_T_STR;
    assert_string_equal(kp_value_kind_name(&v), "an array");
}

static void test_len_of_lists_nums_and_scalars(void **state)
{
    (void)state;
    kp_value items[3] = {int_value(1), int_value(2), int_value(3)};
    kp_value list = list_value(items, 3);
    assert_int_equal(kp_value_len(&list), 3);
    int32_t row[5] = {0};
    kp_value nums = nums_value(row, 5, KP_T_I32);
    assert_int_equal(kp_value_len(&nums), 5);
    kp_value scalar = int_value(7);
    assert_int_equal(kp_value_len(&scalar), 0);
    kp_value text = str_value("abc");
    assert_int_equal(kp_value_len(&text), 0);
}

static void test_element_of_list(void **state)
{
    (void)state;
    kp_value items[2] = {int_value(10), str_value("b")};
    kp_value list = list_value(items, 2);
    kp_value out;
    assert_true(kp_value_element(&list, 1, &out));
    assert_int_equal(out.kind, KP_V_STR);
    assert_string_equal(out.as.s.ptr, "b");
    assert_true(kp_value_element(&list, 0, &out));
    assert_int_equal(out.as.i, 10);
    assert_false(kp_value_element(&list, 2, &out));
}

static void test_element_of_scalar_is_absent(void **state)
{
    (void)state;
    kp_value v = int_value(4);
    kp_value out;
    assert_false(kp_value_element(&v, 0, &out));
    v = str_value("12");
    assert_false(kp_value_element(&v, 0, &out));
}

/* Copies `size` bytes of `src` to an odd address inside `raw`, so that every
 * read of the nums data is unaligned. */
static const void *unaligned_copy(unsigned char *raw, const void *src, size_t size)
{
    memcpy(raw + 1, src, size);
    return raw + 1;
}

static void test_element_of_nums_every_type_unaligned(void **state)
{
    (void)state;
    unsigned char raw[64];
    kp_value out, v;

    int8_t i8[2] = {-5, 7};
    v = nums_value(unaligned_copy(raw, i8, sizeof i8), 2, KP_T_I8);
    assert_true(kp_value_element(&v, 0, &out));
    assert_int_equal(out.kind, KP_V_INT);
    assert_int_equal(out.as.i, -5);

    int16_t i16[2] = {1, -300};
    v = nums_value(unaligned_copy(raw, i16, sizeof i16), 2, KP_T_I16);
    assert_true(kp_value_element(&v, 1, &out));
    assert_int_equal(out.as.i, -300);

    int32_t i32[2] = {1, -70000};
    v = nums_value(unaligned_copy(raw, i32, sizeof i32), 2, KP_T_I32);
    assert_true(kp_value_element(&v, 1, &out));
    assert_int_equal(out.as.i, -70000);

    int64_t i64[2] = {INT64_MIN, 3};
    v = nums_value(unaligned_copy(raw, i64, sizeof i64), 2, KP_T_I64);
    assert_true(kp_value_element(&v, 0, &out));
    assert_true(out.as.i == INT64_MIN);

    uint8_t u8[2] = {0, 255};
    v = nums_value(unaligned_copy(raw, u8, sizeof u8), 2, KP_T_U8);
    assert_true(kp_value_element(&v, 1, &out));
    assert_int_equal(out.kind, KP_V_INT);
    assert_int_equal(out.as.i, 255);

    uint16_t u16[2] = {0, 65535};
    v = nums_value(unaligned_copy(raw, u16, sizeof u16), 2, KP_T_U16);
    assert_true(kp_value_element(&v, 1, &out));
    assert_int_equal(out.as.i, 65535);

    uint32_t u32[2] = {0, 4000000000u};
    v = nums_value(unaligned_copy(raw, u32, sizeof u32), 2, KP_T_U32);
    assert_true(kp_value_element(&v, 1, &out));
    assert_int_equal(out.as.i, 4000000000LL);

    float f32[2] = {0.5f, -1.25f};
    v = nums_value(unaligned_copy(raw, f32, sizeof f32), 2, KP_T_F32);
    assert_true(kp_value_element(&v, 1, &out));
    assert_int_equal(out.kind, KP_V_FLOAT);
    assert_true(out.as.f == -1.25);

    double f64[2] = {0.1, 1e300};
    v = nums_value(unaligned_copy(raw, f64, sizeof f64), 2, KP_T_F64);
    assert_true(kp_value_element(&v, 1, &out));
    assert_true(out.as.f == 1e300);

    assert_false(kp_value_element(&v, 2, &out));
}

static void test_element_of_nums_u64_above_int64_is_uint(void **state)
{
    (void)state;
    uint64_t row[2] = {5, UINT64_MAX};
    kp_value v = nums_value(row, 2, KP_T_U64);
    kp_value out;
    assert_true(kp_value_element(&v, 0, &out));
    assert_int_equal(out.kind, KP_V_INT);
    assert_int_equal(out.as.i, 5);
    assert_true(kp_value_element(&v, 1, &out));
    assert_int_equal(out.kind, KP_V_UINT);
    assert_true(out.as.u == UINT64_MAX);
}

static void test_element_of_nums_bool_reads_any_nonzero_byte_as_true(void **state)
{
    (void)state;
    unsigned char bytes[3] = {0, 1, 2};
    kp_value v = nums_value(bytes, 3, KP_T_BOOL);
    kp_value out;
    assert_true(kp_value_element(&v, 0, &out));
    assert_int_equal(out.kind, KP_V_BOOL);
    assert_false(out.as.b);
    assert_true(kp_value_element(&v, 1, &out));
    assert_true(out.as.b);
    assert_true(kp_value_element(&v, 2, &out));
    assert_true(out.as.b);
}

static void test_element_of_nums_with_a_non_number_type_is_absent(void **state)
{
    (void)state;
    const char *strs[1] = {"x"};
    kp_value v = nums_value(strs, 1, KP_T_STR);
    kp_value out;
    assert_false(kp_value_element(&v, 0, &out));
}

static void describe_is(const kp_value *v, const char *expected)
{
    char buf[128];
    kp_value_describe(v, buf, sizeof buf);
    assert_string_equal(buf, expected);
}

static void test_describe_scalars(void **state)
{
    (void)state;
    kp_value v = {.kind = KP_V_NULL};
    describe_is(&v, "null");
    v.kind = KP_V_BOOL;
    v.as.b = true;
    describe_is(&v, "true");
    v.as.b = false;
    describe_is(&v, "false");
    v = int_value(-42);
    describe_is(&v, "-42");
    v = int_value(INT64_MIN);
    describe_is(&v, "-9223372036854775808");
    v.kind = KP_V_UINT;
    v.as.u = UINT64_MAX;
    describe_is(&v, "18446744073709551615");
}

static void test_describe_floats_shortest_round_trip(void **state)
{
    (void)state;
    kp_value v = float_value(2.5);
    describe_is(&v, "2.5");
    v = float_value(2.0);
    describe_is(&v, "2.0");
    v = float_value(0.1);
    describe_is(&v, "0.1");
    v = float_value(1e300);
    describe_is(&v, "1e+300");
    v = float_value(-0.0);
    describe_is(&v, "-0.0");
    v = float_value(1.0 / 3.0);
    describe_is(&v, "0.3333333333333333");
    v = float_value(INFINITY);
    describe_is(&v, "inf");
    v = float_value(-INFINITY);
    describe_is(&v, "-inf");
    v = float_value(NAN);
    describe_is(&v, "nan");
}

static void test_describe_strings_are_quoted_and_escaped(void **state)
{
    (void)state;
    kp_value v = str_value("abc");
    describe_is(&v, "\"abc\"");
    v = str_value("a\"b\\c\nd\te\rf\x01g");
    describe_is(&v, "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\"");
    v = str_value("");
    describe_is(&v, "\"\"");
}

static void test_describe_lists_and_nums(void **state)
{
    (void)state;
    kp_value inner[2] = {int_value(1), str_value("x")};
    kp_value items[4] = {int_value(5), list_value(inner, 2), float_value(1.5), {.kind = KP_V_NULL}};
    kp_value list = list_value(items, 4);
    describe_is(&list, "[5, [1, \"x\"], 1.5, null]");
    kp_value empty = list_value(NULL, 0);
    describe_is(&empty, "[]");
    int64_t row[3] = {5, 6, -7};
    kp_value nums = nums_value(row, 3, KP_T_I64);
    describe_is(&nums, "[5, 6, -7]");
}

static void test_describe_truncates_with_dots(void **state)
{
    (void)state;
    char buf[16];
    kp_value v = str_value("abcdefghijklmnopqrstuvwxyz");
    kp_value_describe(&v, buf, sizeof buf);
    assert_int_equal(strlen(buf), sizeof buf - 1);
    assert_string_equal(buf, "\"abcdefghijk...");

    /* Exactly fitting text is not cut. */
    kp_value fits = str_value("abcdefghijklm");
    kp_value_describe(&fits, buf, sizeof buf);
    assert_string_equal(buf, "\"abcdefghijklm\"");
}

static void test_describe_tiny_buffers(void **state)
{
    (void)state;
    char buf[8];
    kp_value v = int_value(123456);
    memset(buf, 'Z', sizeof buf);
    kp_value_describe(&v, buf, 0);
    assert_int_equal(buf[0], 'Z');
    kp_value_describe(&v, buf, 1);
    assert_string_equal(buf, "");
    kp_value_describe(&v, buf, 3);
    assert_string_equal(buf, "..");
    kp_value_describe(&v, buf, 4);
    assert_string_equal(buf, "...");
    kp_value_describe(&v, buf, 5);
    assert_string_equal(buf, "1...");
    kp_value_describe(&v, buf, 7);
    assert_string_equal(buf, "123456");
}

static void test_describe_does_not_split_utf8(void **state)
{
    (void)state;
    char buf[9];
    /* "\"aé€" is 1 + 1 + 2 + 3 bytes; a cut at 5 bytes would fall inside "€". */
    kp_value v = str_value("a\xc3\xa9\xe2\x82\xac\xe2\x82\xac");
    kp_value_describe(&v, buf, sizeof buf);
    assert_string_equal(buf, "\"a\xc3\xa9...");
}

static void test_describe_long_row_stays_bounded(void **state)
{
    (void)state;
    static int32_t row[100000];
    for (size_t i = 0; i < 100000; i++)
        row[i] = (int32_t)i;
    kp_value v = nums_value(row, 100000, KP_T_I32);
    char buf[24];
    kp_value_describe(&v, buf, sizeof buf);
    assert_string_equal(buf, "[0, 1, 2, 3, 4, 5, 6...");
}

/* ---- kp_value_parse_number ------------------------------------------ */

/* Parses all of text, which must succeed, and returns the value. */
static kp_value number_of(const char *text)
{
    kp_value v = null_value();
    int rc = kp_value_parse_number(text, strlen(text), &v);
    if (rc != 0)
        fail_msg("'%s' returned %d, not 0", text, rc);
    return v;
}

/* Parses all of text, which must fail with `code` and leave *out alone. */
static void number_fails(const char *text, int code)
{
    kp_value v = str_value("untouched");
    int rc = kp_value_parse_number(text, strlen(text), &v);
    if (rc != code)
        fail_msg("'%s' returned %d, not %d", text, rc, code);
    assert_int_equal(v.kind, KP_V_STR);
    assert_string_equal(v.as.s.ptr, "untouched");
}

static void test_parse_number_integers(void **state)
{
    (void)state;
    const struct {
        const char *text;
        int64_t i;
    } ints[] = {
        {"0", 0},
        {"+7", 7},
        {"-42", -42},
        {"007", 7},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
    };
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        kp_value v = number_of(ints[k].text);
        assert_int_equal(v.kind, KP_V_INT);
        assert_true(v.as.i == ints[k].i);
    }
    /* Above INT64_MAX the value becomes a UINT rather than failing. */
    kp_value v = number_of("9223372036854775808");
    assert_int_equal(v.kind, KP_V_UINT);
    assert_true(v.as.u == (uint64_t)INT64_MAX + 1);
    v = number_of("18446744073709551615");
    assert_int_equal(v.kind, KP_V_UINT);
    assert_true(v.as.u == UINT64_MAX);
}

static void test_parse_number_floats_and_words(void **state)
{
    (void)state;
    /* 1e-400 underflows, which reads as zero rather than as an error. */
    const struct {
        const char *text;
        double f;
    } floats[] = {
        {"1.5", 1.5},       {".5", 0.5},   {"5.", 5.0},       {"1e3", 1000.0},
        {"-2.5E-1", -0.25}, {"1e-400", 0}, {"inf", INFINITY}, {"-Infinity", -INFINITY},
        {"INF", INFINITY},
    };
    for (size_t k = 0; k < sizeof floats / sizeof floats[0]; k++) {
        kp_value v = number_of(floats[k].text);
        assert_int_equal(v.kind, KP_V_FLOAT);
        if (v.as.f != floats[k].f)
            fail_msg("'%s' read as %g, not %g", floats[k].text, v.as.f, floats[k].f);
    }
    kp_value v = number_of("NaN");
    assert_int_equal(v.kind, KP_V_FLOAT);
    assert_true(isnan(v.as.f));
    v = number_of("-nan");
    assert_int_equal(v.kind, KP_V_FLOAT);
    assert_true(isnan(v.as.f) && signbit(v.as.f));
}

static void test_parse_number_reads_only_len_bytes(void **state)
{
    (void)state;
    kp_value v;
    assert_int_equal(kp_value_parse_number("12,5", 2, &v), 0);
    assert_int_equal(v.kind, KP_V_INT);
    assert_true(v.as.i == 12);
    assert_int_equal(kp_value_parse_number("1.5]", 3, &v), 0);
    assert_int_equal(v.kind, KP_V_FLOAT);
    assert_true(v.as.f == 1.5);
}

static void test_parse_number_rejects_what_is_not_a_number(void **state)
{
    (void)state;
    const char *bad[] = {"",      "+",  "-",  ".",   "e5",  "1e",   "1e+",      "0x10",
                         "1.2.3", " 1", "1 ", "12a", "--1", "nanx", "infinite", "true"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        number_fails(bad[i], KPOOL_EINVAL);
}

static void test_parse_number_out_of_range(void **state)
{
    (void)state;
    number_fails("18446744073709551616", KPOOL_ERANGE);
    number_fails("-9223372036854775809", KPOOL_ERANGE);
    number_fails("99999999999999999999999", KPOOL_ERANGE);
    number_fails("1e999", KPOOL_ERANGE);
    number_fails("-1e999", KPOOL_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_name_every_kind),
        cmocka_unit_test(test_kind_name_nums_names_the_type),
        cmocka_unit_test(test_len_of_lists_nums_and_scalars),
        cmocka_unit_test(test_element_of_list),
        cmocka_unit_test(test_element_of_scalar_is_absent),
        cmocka_unit_test(test_element_of_nums_every_type_unaligned),
        cmocka_unit_test(test_element_of_nums_u64_above_int64_is_uint),
        cmocka_unit_test(test_element_of_nums_bool_reads_any_nonzero_byte_as_true),
        cmocka_unit_test(test_element_of_nums_with_a_non_number_type_is_absent),
        cmocka_unit_test(test_describe_scalars),
        cmocka_unit_test(test_describe_floats_shortest_round_trip),
        cmocka_unit_test(test_describe_strings_are_quoted_and_escaped),
        cmocka_unit_test(test_describe_lists_and_nums),
        cmocka_unit_test(test_describe_truncates_with_dots),
        cmocka_unit_test(test_describe_tiny_buffers),
        cmocka_unit_test(test_describe_does_not_split_utf8),
        cmocka_unit_test(test_describe_long_row_stays_bounded),
        cmocka_unit_test(test_parse_number_integers),
        cmocka_unit_test(test_parse_number_floats_and_words),
        cmocka_unit_test(test_parse_number_reads_only_len_bytes),
        cmocka_unit_test(test_parse_number_rejects_what_is_not_a_number),
        cmocka_unit_test(test_parse_number_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
