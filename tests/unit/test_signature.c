/* Tests for runtime/signature.c: parsing every type spelling, arrays, names,
 * every error with its column, the canonical form and the C prototype. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "signature.h"

/* Parses text that must be valid and returns the signature. */
static kp_signature parse_ok(const char *text)
{
    kp_signature sig;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_signature_parse(text, &sig, &err);
    if (rc != 0)
        print_error("parsing \"%s\": %s\n", text, err.msg);
    assert_int_equal(rc, 0);
    return sig;
}

/* Parses text that must be invalid; checks the code, the column prefix and a
 * piece of the message. */
static void parse_fails(const char *text, size_t column, const char *needle)
{
    kp_signature sig;
    kp_err err;
    char prefix[32];
    kp_err_clear(&err);
    int rc = kp_signature_parse(text, &sig, &err);
    if (rc != KPOOL_ESIG)
        print_error("parsing \"%s\" gave %d (%s)\n", text, rc, err.msg);
    assert_int_equal(rc, KPOOL_ESIG);
    assert_int_equal(err.code, KPOOL_ESIG);
    snprintf(prefix, sizeof prefix, "column %zu: ", column);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0 || !strstr(err.msg, needle))
        print_error("parsing \"%s\": message \"%s\", wanted \"%s...%s\"\n", text, err.msg, prefix,
                    needle);
    assert_true(strncmp(err.msg, prefix, strlen(prefix)) == 0);
    assert_non_null(strstr(err.msg, needle));
}

static void assert_param(const kp_signature *sig, size_t i, kp_type type, bool is_array,
                         const char *name)
{
    assert_true(i < sig->nparams);
    assert_int_equal(sig->params[i].type, type);
    assert_int_equal(sig->params[i].is_array, is_array);
    assert_string_equal(sig->params[i].name, name);
}

static void assert_same_signature(const kp_signature *a, const kp_signature *b)
{
    assert_int_equal(a->ret, b->ret);
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->nparams, b->nparams);
    for (size_t i = 0; i < a->nparams; i++)
        assert_param(b, i, a->params[i].type, a->params[i].is_array, a->params[i].name);
}

static void assert_format(const char *text, const char *expected)
{
    kp_signature sig = parse_ok(text);
    char buf[1024];
    size_t len = kp_signature_format(&sig, buf, sizeof buf);
    assert_string_equal(buf, expected);
    assert_int_equal(len, strlen(expected));
}

static void assert_prototype(const char *text, const char *name, const char *expected)
{
    kp_signature sig = parse_ok(text);
    char buf[2048];
    size_t len = kp_signature_prototype(&sig, name, buf, sizeof buf);
    assert_string_equal(buf, expected);
    assert_int_equal(len, strlen(expected));
}

/* ---- parsing valid signatures ----------------------------------------- */

static void test_parse_seed_signature(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("i64 (i64[] row, i64 minimum, i64 maximum)");
    assert_int_equal(sig.ret, KP_T_I64);
    assert_string_equal(sig.name, "");
    assert_int_equal(sig.nparams, 3);
    assert_param(&sig, 0, KP_T_I64, true, "row");
    assert_param(&sig, 1, KP_T_I64, false, "minimum");
    assert_param(&sig, 2, KP_T_I64, false, "maximum");
}

static void test_parse_named_function(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("double pow(double x, double y)");
    assert_int_equal(sig.ret, KP_T_F64);
    assert_string_equal(sig.name, "pow");
    assert_int_equal(sig.nparams, 2);
    assert_param(&sig, 0, KP_T_F64, false, "x");
    assert_param(&sig, 1, KP_T_F64, false, "y");
}

static void test_parse_unnamed_parameters(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("double pow(double, double)");
    assert_string_equal(sig.name, "pow");
    assert_int_equal(sig.nparams, 2);
    assert_param(&sig, 0, KP_T_F64, false, "");
    assert_param(&sig, 1, KP_T_F64, false, "");

    sig = parse_ok("void (i32)");
    assert_int_equal(sig.ret, KP_T_VOID);
    assert_string_equal(sig.name, "");
    assert_int_equal(sig.nparams, 1);
    assert_param(&sig, 0, KP_T_I32, false, "");
}

static void test_parse_mixed_named_and_unnamed(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("u8 f(i8 a, u16, f32[] c, bool[])");
    assert_int_equal(sig.ret, KP_T_U8);
    assert_int_equal(sig.nparams, 4);
    assert_param(&sig, 0, KP_T_I8, false, "a");
    assert_param(&sig, 1, KP_T_U16, false, "");
    assert_param(&sig, 2, KP_T_F32, true, "c");
    assert_param(&sig, 3, KP_T_BOOL, true, "");
}

static void test_parse_no_parameters(void **state)
{
    (void)state;
    const char *texts[] = {"i64 ()",      "i64()",         "i64 ( )", "i64 (void)",
                           "i64 f(void)", "i64 f( void )", "i64 f()", "void (void)"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        kp_signature sig = parse_ok(texts[i]);
        assert_int_equal(sig.nparams, 0);
    }
    assert_int_equal(parse_ok("void (void)").ret, KP_T_VOID);
    assert_string_equal(parse_ok("i64 f(void)").name, "f");
}

static void test_parse_void_return(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("void touch(str path)");
    assert_int_equal(sig.ret, KP_T_VOID);
    assert_string_equal(sig.name, "touch");
    assert_param(&sig, 0, KP_T_STR, false, "path");
}

static void test_parse_short_types(void **state)
{
    (void)state;
    static const struct {
        const char *word;
        kp_type type;
    } cases[] = {
        {"i8", KP_T_I8},   {"i16", KP_T_I16}, {"i32", KP_T_I32},   {"i64", KP_T_I64},
        {"u8", KP_T_U8},   {"u16", KP_T_U16}, {"u32", KP_T_U32},   {"u64", KP_T_U64},
        {"f32", KP_T_F32}, {"f64", KP_T_F64}, {"bool", KP_T_BOOL}, {"str", KP_T_STR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "%s (%s x, %s)", cases[i].word, cases[i].word, cases[i].word);
        kp_signature sig = parse_ok(text);
        assert_int_equal(sig.ret, cases[i].type);
        assert_int_equal(sig.nparams, 2);
        assert_param(&sig, 0, cases[i].type, false, "x");
        assert_param(&sig, 1, cases[i].type, false, "");
        /* The short name is the canonical one. */
        assert_string_equal(kp_type_name(cases[i].type), cases[i].word);
    }
}

static void test_parse_c_spellings(void **state)
{
    (void)state;
    static const struct {
        const char *spelling;
        kp_type type;
    } cases[] = {
        {"int8_t", KP_T_I8},
        {"int16_t", KP_T_I16},
        {"int32_t", KP_T_I32},
        {"int64_t", KP_T_I64},
        {"uint8_t", KP_T_U8},
        {"uint16_t", KP_T_U16},
        {"uint32_t", KP_T_U32},
        {"uint64_t", KP_T_U64},
        {"char", KP_T_I8},
        {"signed char", KP_T_I8},
        {"char signed", KP_T_I8},
        {"unsigned char", KP_T_U8},
        {"short", KP_T_I16},
        {"short int", KP_T_I16},
        {"signed short", KP_T_I16},
        {"signed short int", KP_T_I16},
        {"unsigned short", KP_T_U16},
        {"unsigned short int", KP_T_U16},
        {"short unsigned", KP_T_U16},
        {"int", KP_T_I32},
        {"signed", KP_T_I32},
        {"signed int", KP_T_I32},
        {"unsigned", KP_T_U32},
        {"unsigned int", KP_T_U32},
        {"long", KP_T_I64},
        {"long int", KP_T_I64},
        {"signed long", KP_T_I64},
        {"signed long int", KP_T_I64},
        {"unsigned long", KP_T_U64},
        {"unsigned long int", KP_T_U64},
        {"long unsigned int", KP_T_U64},
        {"long long", KP_T_I64},
        {"long long int", KP_T_I64},
        {"signed long long", KP_T_I64},
        {"unsigned long long", KP_T_U64},
        {"unsigned long long int", KP_T_U64},
        {"long long unsigned", KP_T_U64},
        {"size_t", KP_T_U64},
        {"ssize_t", KP_T_I64},
        {"float", KP_T_F32},
        {"double", KP_T_F64},
        {"bool", KP_T_BOOL},
        {"_Bool", KP_T_BOOL},
        {"const char *", KP_T_STR},
        {"const char*", KP_T_STR},
        {"const char  *", KP_T_STR},
        {"char *", KP_T_STR},
        {"char*", KP_T_STR},
        {"char const *", KP_T_STR},
        {"const char * const", KP_T_STR},
        {"const int", KP_T_I32},
        {"const double", KP_T_F64},
        {"const int64_t", KP_T_I64},
        {"int64_t const", KP_T_I64},
        {"const i64", KP_T_I64},
        {"unsigned const", KP_T_U32},
    };
    /* These follow the platform; the table above assumes LP64 Linux. */
    assert_int_equal(sizeof(long), 8);
    assert_int_equal(sizeof(size_t), 8);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        /* As return type, named parameter, unnamed parameter and, for the
         * numbers, an array in both spellings. */
        snprintf(text, sizeof text, "%s f(%s a, %s)", cases[i].spelling, cases[i].spelling,
                 cases[i].spelling);
        kp_signature sig = parse_ok(text);
        assert_int_equal(sig.ret, cases[i].type);
        assert_string_equal(sig.name, "f");
        assert_int_equal(sig.nparams, 2);
        assert_param(&sig, 0, cases[i].type, false, "a");
        assert_param(&sig, 1, cases[i].type, false, "");
        if (cases[i].type != KP_T_STR) {
            snprintf(text, sizeof text, "void (%s[] a, %s b[], %s[])", cases[i].spelling,
                     cases[i].spelling, cases[i].spelling);
            sig = parse_ok(text);
            assert_int_equal(sig.nparams, 3);
            assert_param(&sig, 0, cases[i].type, true, "a");
            assert_param(&sig, 1, cases[i].type, true, "b");
            assert_param(&sig, 2, cases[i].type, true, "");
        }
    }
}

static void test_parse_void_spellings(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("void f()").ret, KP_T_VOID);
    assert_int_equal(parse_ok("const void f()").ret, KP_T_VOID);
}

static void test_parse_arrays(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("f64 mean(f64[] xs, f64 ys[], u8 [] b, bool flags [ ], char[] c)");
    assert_int_equal(sig.nparams, 5);
    assert_param(&sig, 0, KP_T_F64, true, "xs");
    assert_param(&sig, 1, KP_T_F64, true, "ys");
    assert_param(&sig, 2, KP_T_U8, true, "b");
    assert_param(&sig, 3, KP_T_BOOL, true, "flags");
    assert_param(&sig, 4, KP_T_I8, true, "c");
}

static void test_parse_whitespace_variants(void **state)
{
    (void)state;
    const char *texts[] = {
        "i64 (i64[] row, i64 minimum, i64 maximum)",
        "i64(i64[]row,i64 minimum,i64 maximum)",
        "  i64   (  i64  [  ]  row  ,  i64  minimum  ,  i64  maximum  )  ",
        "\ti64\t(\ti64[]\trow,\ti64\tminimum,\ti64\tmaximum)\n",
        "i64\r\n(i64 row[],\vi64 minimum,\fi64 maximum)",
        "int64_t(const int64_t row[], int64_t minimum, long maximum)",
    };
    kp_signature want = parse_ok(texts[0]);
    for (size_t i = 1; i < sizeof texts / sizeof texts[0]; i++) {
        kp_signature sig = parse_ok(texts[i]);
        assert_same_signature(&want, &sig);
    }
    kp_signature s = parse_ok("str f(const char*s,char*t,const char *u)");
    assert_param(&s, 0, KP_T_STR, false, "s");
    assert_param(&s, 1, KP_T_STR, false, "t");
    assert_param(&s, 2, KP_T_STR, false, "u");
}

static void test_parse_names(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("i64 _f9_(i64 _, i64 a1, i64 CamelCase, i64 with_under_score)");
    assert_string_equal(sig.name, "_f9_");
    assert_param(&sig, 0, KP_T_I64, false, "_");
    assert_param(&sig, 1, KP_T_I64, false, "a1");
    assert_param(&sig, 2, KP_T_I64, false, "CamelCase");
    assert_param(&sig, 3, KP_T_I64, false, "with_under_score");

    /* Names that merely start like type words are names. */
    sig = parse_ok("i64 int_count(i64 i64s, f64 doubled, bool boolean, str string)");
    assert_string_equal(sig.name, "int_count");
    assert_param(&sig, 0, KP_T_I64, false, "i64s");
    assert_param(&sig, 1, KP_T_F64, false, "doubled");
    assert_param(&sig, 2, KP_T_BOOL, false, "boolean");
    assert_param(&sig, 3, KP_T_STR, false, "string");

    /* A function and a parameter may share a name, as in C. */
    sig = parse_ok("i64 x(i64 x)");
    assert_string_equal(sig.name, "x");
    assert_param(&sig, 0, KP_T_I64, false, "x");
}

static void test_parse_name_length_limit(void **state)
{
    (void)state;
    char name[KP_NAME_MAX + 1];
    char text[256];
    memset(name, 'a', KP_NAME_MAX - 1);
    name[KP_NAME_MAX - 1] = '\0';

    snprintf(text, sizeof text, "i64 %s(i64 %s)", name, name);
    kp_signature sig = parse_ok(text);
    assert_string_equal(sig.name, name);
    assert_string_equal(sig.params[0].name, name);

    name[KP_NAME_MAX - 1] = 'a';
    name[KP_NAME_MAX] = '\0';
    snprintf(text, sizeof text, "i64 %s(i64 x)", name);
    parse_fails(text, 5, "is 64 characters long; the limit is 63");
    snprintf(text, sizeof text, "i64 (i64 x, f64 %s)", name);
    parse_fails(text, 17, "is 64 characters long; the limit is 63");
}

static void test_parse_max_parameters(void **state)
{
    (void)state;
    char text[1024];
    size_t len = (size_t)snprintf(text, sizeof text, "i64 (");
    for (int i = 0; i < KP_MAX_PARAMS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%si32", i ? ", " : "");
    snprintf(text + len, sizeof text - len, ")");
    kp_signature sig = parse_ok(text);
    assert_int_equal(sig.nparams, KP_MAX_PARAMS);

    /* One more: the error points at the first parameter past the limit. */
    size_t column = len + 3; /* 1-based, after ", " */
    snprintf(text + len, sizeof text - len, ", u8)");
    parse_fails(text, column, "too many parameters: the limit is 32");
}

static void test_parse_null_err_allowed(void **state)
{
    (void)state;
    kp_signature sig;
    assert_int_equal(kp_signature_parse("i65 ()", &sig, NULL), KPOOL_ESIG);
    assert_int_equal(kp_signature_parse("i64 ()", &sig, NULL), 0);
}

static void test_parse_failure_leaves_output_alone(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("f64 keep(f64 x)");
    kp_err err;
    assert_int_equal(kp_signature_parse("f64 (f64 x, f64 x)", &sig, &err), KPOOL_ESIG);
    assert_string_equal(sig.name, "keep");
    assert_int_equal(sig.nparams, 1);
}

/* ---- errors ------------------------------------------------------------ */

static void test_parse_error_empty(void **state)
{
    (void)state;
    parse_fails("", 1, "expected a return type, found end of text (the signature is empty)");
    parse_fails("   \t ", 6, "the signature is empty");
    parse_fails(NULL, 1, "the signature is empty");
}

static void test_parse_error_unknown_type(void **state)
{
    (void)state;
    parse_fails("i64 (i65 x)", 6, "unknown type 'i65'");
    parse_fails("i65 (i64 x)", 1, "unknown type 'i65'");
    parse_fails("i64 (i64 a, integer b)", 13, "unknown type 'integer'");
    parse_fails("i64 (const foo x)", 12, "unknown type 'foo'");
    parse_fails("return f()", 1, "unknown type 'return'");
    parse_fails("i64 (x)", 6, "unknown type 'x'");
    /* A long unknown word is quoted shortened. */
    parse_fails("i64 (abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz x)", 6,
                "unknown type 'abcdefghijklmnopqrstuvwxyzabcdefghijklmn...'");
}

static void test_parse_error_expected_type(void **state)
{
    (void)state;
    parse_fails("(i64 x)", 1, "expected a return type, found '('");
    parse_fails("5 ()", 1, "expected a return type, found '5'");
    parse_fails("i64 (, i64)", 6, "expected a parameter type, found ','");
    parse_fails("i64 (i64 a,)", 12, "expected a parameter type, found ')'");
    parse_fails("i64 (i64 a, ", 13, "expected a parameter type, found end of text");
    parse_fails("i64 (const)", 11, "expected a type after 'const', found ')'");
    parse_fails("const f()", 7, "unknown type 'f'");
    parse_fails("i64 ([] x)", 6, "expected a parameter type, found '['");
}

static void test_parse_error_bad_keyword_combination(void **state)
{
    (void)state;
    parse_fails("i64 (signed unsigned x)", 13, "'unsigned' cannot be combined with 'signed'");
    parse_fails("unsigned double f()", 10, "'double' cannot be combined with 'unsigned'");
    parse_fails("i64 (short long x)", 12, "'long' cannot be combined with 'short'");
    parse_fails("i64 (char int x)", 11, "'int' cannot be combined with 'char'");
    parse_fails("i64 (float int x)", 12, "'int' cannot be combined with 'float'");
    parse_fails("i64 (_Bool int x)", 12, "'int' cannot be combined with '_Bool'");
    parse_fails("i64 (bool _Bool x)", 11, "'_Bool' cannot be combined with 'bool'");
    parse_fails("i64 (int int x)", 10, "'int' appears twice in one type");
    parse_fails("i64 (unsigned unsigned x)", 15, "'unsigned' appears twice in one type");
    parse_fails("i64 (long long long x)", 16, "'long long long' is not a type");
    parse_fails("long double f()", 6, "'long double' is not supported");
    parse_fails("double long f()", 8, "'double long' is not supported");
    parse_fails("i64 (void int)", 11, "'int' cannot be combined with 'void'");
}

static void test_parse_error_type_word_after_type(void **state)
{
    (void)state;
    parse_fails("i64 (unsigned int64_t x)", 15, "unexpected type name 'int64_t' after 'unsigned'");
    parse_fails("i64 (i64 i64)", 10, "unexpected type name 'i64' after 'i64'");
    parse_fails("i64 (long i32 x)", 11, "unexpected type name 'i32' after 'long'");
    parse_fails("i64 str()", 5, "unexpected type name 'str' after 'i64'");
    parse_fails("i64 (const char * str)", 19, "unexpected type name 'str' after 'const char *'");
}

static void test_parse_error_keyword_as_name(void **state)
{
    (void)state;
    parse_fails("i64 for(i64 x)", 5, "'for' is a C keyword and cannot be a name");
    parse_fails("i64 (i64 return)", 10, "'return' is a C keyword and cannot be a name");
    parse_fails("i64 (i64[] while)", 12, "'while' is a C keyword");
}

static void test_parse_error_pointers(void **state)
{
    (void)state;
    parse_fails("i64 (int *x)", 10,
                "'int *' is not supported: the only pointer type is "
                "'const char *' (str); write an array as 'T[]'");
    parse_fails("i64 (const int64_t *row)", 20, "'const int64_t *' is not supported");
    parse_fails("i64 (signed char *s)", 18, "'signed char *' is not supported");
    parse_fails("i64 (unsigned char *s)", 20, "'unsigned char *' is not supported");
    parse_fails("i64 (str *s)", 10, "'str *' is not supported");
    parse_fails("void *f()", 6, "'void *' is not supported");
    parse_fails("i64 (char **argv)", 12, "'char **' is not supported");
    parse_fails("i64 (const char * const *argv)", 25, "'char **' is not supported");
}

static void test_parse_error_void_parameter(void **state)
{
    (void)state;
    parse_fails("i64 (void x)", 6, "parameter 1 cannot be void ('void' alone means no parameters)");
    parse_fails("i64 (void, i64)", 6, "parameter 1 cannot be void");
    parse_fails("i64 (i64 a, void)", 13, "parameter 2 cannot be void");
    parse_fails("i64 (i64 a, void b)", 13, "parameter 2 cannot be void");
    parse_fails("i64 (void[] a)", 6, "parameter 1 cannot be void");
    parse_fails("i64 (const void)", 6, "parameter 1 cannot be void");
}

static void test_parse_error_arrays(void **state)
{
    (void)state;
    parse_fails("i64 (str[] names)", 9,
                "parameter 1: arrays of str are not supported; an array holds numbers or bool");
    parse_fails("i64 (i64 a, str names[])", 22, "parameter 2: arrays of str are not supported");
    parse_fails("i64 (const char *[] names)", 18, "arrays of str are not supported");
    parse_fails("i64 (char *names[])", 17, "arrays of str are not supported");
    parse_fails("i64[] f()", 4, "a kernel cannot return an array");
    parse_fails("i64 (i64[][] m)", 11,
                "parameter 1 is already an array; arrays of arrays are not supported");
    parse_fails("i64 (i64[] m[])", 13, "parameter 1 is already an array");
    parse_fails("i64 (i64 m[][])", 13, "parameter 1 is already an array");
    parse_fails("i64 (i64[4] row)", 10,
                "expected ']' after '[', found '4' (an array's length comes with its data)");
    parse_fails("i64 (i64 row[n])", 14, "expected ']' after '[', found 'n'");
    parse_fails("i64 (i64[", 10, "expected ']' after '[', found end of text");
}

static void test_parse_error_duplicate_name(void **state)
{
    (void)state;
    parse_fails("f64 (f64 x, f64 x)", 17, "duplicate parameter name 'x' (also parameter 1)");
    parse_fails("f64 (f64 a, f64 x, i64[] x)", 26,
                "duplicate parameter name 'x' (also parameter 2)");
    parse_fails("f64 (f64 a, i64 x[], i64 x)", 26,
                "duplicate parameter name 'x' (also parameter 2)");
    parse_fails("f64 (i64 row[], f64 row)", 21, "duplicate parameter name 'row'");
}

static void test_parse_error_expected_comma_or_paren(void **state)
{
    (void)state;
    parse_fails("i64 (i64 a b)", 12, "expected ',' or ')' after parameter 1, found 'b'");
    parse_fails("i64 (i64 a; i64 b)", 11, "unexpected character ';'");
    parse_fails("i64 (i64 a, i64 b", 18,
                "expected ',' or ')' after parameter 2, found end of text");
    parse_fails("i64 (i64 5x)", 10, "expected ',' or ')' after parameter 1, found '5x'");
    parse_fails("i64 (i64 a (", 12, "expected ',' or ')' after parameter 1, found '('");
    parse_fails("i64 (i64 a])", 11, "expected ',' or ')' after parameter 1, found ']'");
}

static void test_parse_error_missing_paren(void **state)
{
    (void)state;
    parse_fails("i64", 4, "expected '(' after the return type, found end of text");
    parse_fails("i64 f", 6, "expected '(' after the function name 'f', found end of text");
    parse_fails("i64 f g()", 7, "expected '(' after the function name 'f', found 'g'");
    parse_fails("i64 f)", 6, "expected '(' after the function name 'f', found ')'");
    parse_fails("i64 , x", 5, "expected '(' after the return type, found ','");
    parse_fails("i64 f 2()", 7, "expected '(' after the function name 'f', found '2'");
}

static void test_parse_error_trailing_text(void **state)
{
    (void)state;
    parse_fails("i64 (i64 a) b", 13, "unexpected 'b' after ')': the signature ends there");
    parse_fails("i64 () ()", 8, "unexpected '(' after ')'");
    parse_fails("i64 f(); ", 8, "unexpected character ';'");
    parse_fails("i64 f(void) const", 13, "unexpected 'const' after ')'");
}

static void test_parse_error_bad_characters(void **state)
{
    (void)state;
    parse_fails("i64 (i64 @x)", 10, "unexpected character '@'");
    parse_fails("i64$ ()", 4, "unexpected character '$'");
    parse_fails("i64 (i64\x01)", 9, "unexpected byte 0x01");
    /* A non-ASCII character is quoted whole, not byte by byte. */
    parse_fails("i64 (i64 é)", 10, "unexpected character 'é'");
    parse_fails("i64 (i64 x, 日付 y)", 13, "unexpected character '日'");
    parse_fails("i64 (i64 \xc3)", 10, "unexpected byte 0xC3");
    parse_fails("i64 (\xff)", 6, "unexpected byte 0xFF");
}

/* ---- format ------------------------------------------------------------ */

static void test_format_canonical(void **state)
{
    (void)state;
    assert_format("i64 (i64[] row, i64 minimum, i64 maximum)",
                  "i64 (i64[] row, i64 minimum, i64 maximum)");
    assert_format("double pow(double x, double y)", "f64 pow(f64 x, f64 y)");
    assert_format("double pow(double, double)", "f64 pow(f64, f64)");
    assert_format("void (int)", "void (i32)");
    assert_format("long long (void)", "i64 ()");
    assert_format("i64 f()", "i64 f()");
    assert_format("  const char*name (const char *s, char*t, unsigned long long n [ ])",
                  "str name(str s, str t, u64[] n)");
    assert_format("_Bool (bool a, unsigned char b, signed char c, short d, unsigned short e)",
                  "bool (bool a, u8 b, i8 c, i16 d, u16 e)");
    assert_format("float f(float[], size_t, ssize_t, uint32_t x, int8_t y)",
                  "f32 f(f32[], u64, i64, u32 x, i8 y)");
}

static void test_format_round_trip(void **state)
{
    (void)state;
    const char *texts[] = {
        "i64 (i64[] row, i64 minimum, i64 maximum)",
        "double pow(double x, double y)",
        "double pow(double, double)",
        "void (i32)",
        "i64 ()",
        "void f(void)",
        "str greet(const char *who, bool loud)",
        "u8 f(i8 a, u16, f32[] c, bool[], unsigned long long d[], char)",
        "int64_t howmany_within_range(const int64_t row[], int64_t minimum, int64_t maximum)",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        kp_signature a = parse_ok(texts[i]);
        char buf[512], again[512];
        kp_signature_format(&a, buf, sizeof buf);
        kp_signature b = parse_ok(buf);
        assert_same_signature(&a, &b);
        /* The canonical form is a fixed point. */
        kp_signature_format(&b, again, sizeof again);
        assert_string_equal(buf, again);
    }
}

static void test_format_round_trip_all_types(void **state)
{
    (void)state;
    kp_signature sig;
    memset(&sig, 0, sizeof sig);
    for (kp_type ret = KP_T_VOID; ret < KP_T_COUNT_; ret++) {
        sig.ret = ret;
        sig.nparams = 0;
        for (kp_type t = KP_T_BOOL; t < KP_T_COUNT_; t++) {
            kp_param *p = &sig.params[sig.nparams];
            p->type = t;
            p->is_array = false;
            snprintf(p->name, sizeof p->name, "s%d", (int)t);
            sig.nparams++;
            if (t != KP_T_STR) {
                p = &sig.params[sig.nparams];
                p->type = t;
                p->is_array = true;
                p->name[0] = '\0';
                sig.nparams++;
            }
        }
        char buf[1024];
        size_t len = kp_signature_format(&sig, buf, sizeof buf);
        assert_int_equal(len, strlen(buf));
        kp_signature back = parse_ok(buf);
        assert_same_signature(&sig, &back);
    }
}

static void test_format_truncates_like_snprintf(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("double pow(double x, double y)");
    const char *full = "f64 pow(f64 x, f64 y)";
    char buf[8];
    memset(buf, 'X', sizeof buf);
    size_t len = kp_signature_format(&sig, buf, sizeof buf);
    assert_int_equal(len, strlen(full));
    assert_string_equal(buf, "f64 pow");

    assert_int_equal(kp_signature_format(&sig, NULL, 0), strlen(full));

    char one[1] = {'X'};
    assert_int_equal(kp_signature_format(&sig, one, 1), strlen(full));
    assert_int_equal(one[0], '\0');

    char exact[22];
    assert_int_equal(kp_signature_format(&sig, exact, sizeof exact), 21);
    assert_string_equal(exact, full);
}

/* ---- prototype --------------------------------------------------------- */

static void test_prototype_seed(void **state)
{
    (void)state;
    assert_prototype("i64 (i64[] row, i64 minimum, i64 maximum)", "howmany_within_range",
                     "int64_t howmany_within_range(const int64_t *row, size_t row_len, "
                     "int64_t minimum, int64_t maximum)");
}

static void test_prototype_uses_signature_name(void **state)
{
    (void)state;
    assert_prototype("double pow(double x, double y)", NULL, "double pow(double x, double y)");
    /* A name given replaces the signature's. */
    assert_prototype("double pow(double x, double y)", "power", "double power(double x, double y)");
}

static void test_prototype_default_name(void **state)
{
    (void)state;
    assert_prototype("i64 (i64 a)", NULL, "int64_t kernel(int64_t a)");
    assert_prototype("i64 (i64 a)", "", "int64_t kernel(int64_t a)");
}

static void test_prototype_unnamed_parameters(void **state)
{
    (void)state;
    assert_prototype("double pow(double, double)", NULL, "double pow(double p1, double p2)");
    assert_prototype("i64 (i64[], i64 lo, u8[])", NULL,
                     "int64_t kernel(const int64_t *p1, size_t p1_len, int64_t lo, "
                     "const uint8_t *p3, size_t p3_len)");
}

static void test_prototype_every_type(void **state)
{
    (void)state;
    assert_prototype("void (bool a, i8 b, i16 c, i32 d, i64 e, u8 f, u16 g, u32 h, u64 i, f32 j, "
                     "f64 k, str l)",
                     "f",
                     "void f(bool a, int8_t b, int16_t c, int32_t d, int64_t e, uint8_t f, "
                     "uint16_t g, uint32_t h, uint64_t i, float j, double k, const char *l)");
    assert_prototype("void (bool[] a, f32[] b, u16[])", "f",
                     "void f(const bool *a, size_t a_len, const float *b, size_t b_len, "
                     "const uint16_t *p3, size_t p3_len)");
}

static void test_prototype_returns(void **state)
{
    (void)state;
    assert_prototype("void ()", NULL, "void kernel(void)");
    assert_prototype("str name()", NULL, "const char *name(void)");
    assert_prototype("bool ok(str s)", NULL, "bool ok(const char *s)");
    assert_prototype("f32 (void)", "g", "float g(void)");
}

static void test_prototype_avoids_name_collisions(void **state)
{
    (void)state;
    /* Generated names never repeat a parameter's own name. */
    assert_prototype("i64 (i64[] row, i64 row_len)", "f",
                     "int64_t f(const int64_t *row, size_t row_len_, int64_t row_len)");
    assert_prototype("i64 (i64 p2, i64)", "f", "int64_t f(int64_t p2, int64_t p2_)");
    assert_prototype("i64 (i64[], i64 p1_len)", "f",
                     "int64_t f(const int64_t *p1, size_t p1_len_, int64_t p1_len)");
    assert_prototype("i64 (i64 p2, i64[], i64 p2_len, i64 p2_)", "f",
                     "int64_t f(int64_t p2, const int64_t *p2__, size_t p2___len, "
                     "int64_t p2_len, int64_t p2_)");
}

static void test_prototype_truncates_like_snprintf(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("i64 (i64[] row)");
    const char *full = "int64_t kernel(const int64_t *row, size_t row_len)";
    char buf[10];
    size_t len = kp_signature_prototype(&sig, NULL, buf, sizeof buf);
    assert_int_equal(len, strlen(full));
    assert_string_equal(buf, "int64_t k");
    assert_int_equal(kp_signature_prototype(&sig, NULL, NULL, 0), strlen(full));
}

/* ---- same_types and labels -------------------------------------------- */

static void test_same_types_ignores_names(void **state)
{
    (void)state;
    kp_signature a = parse_ok("i64 howmany(i64[] row, i64 minimum, i64 maximum)");
    kp_signature b = parse_ok("int64_t (int64_t[], long long, long)");
    assert_true(kp_signature_same_types(&a, &b));
    assert_true(kp_signature_same_types(&b, &a));
    assert_true(kp_signature_same_types(&a, &a));
}

static void test_same_types_detects_differences(void **state)
{
    (void)state;
    kp_signature a = parse_ok("i64 (i64[] row, i64 minimum, i64 maximum)");
    const char *others[] = {
        "i32 (i64[] row, i64 minimum, i64 maximum)", /* return type */
        "void (i64[] row, i64 minimum, i64 maximum)",
        "i64 (i64 row, i64 minimum, i64 maximum)", /* array flag */
        "i64 (i64[] row, i64[] minimum, i64 maximum)",
        "i64 (u64[] row, i64 minimum, i64 maximum)", /* element type */
        "i64 (i64[] row, i64 minimum, f64 maximum)",
        "i64 (i64[] row, i64 minimum)", /* count */
        "i64 (i64[] row, i64 minimum, i64 maximum, i64 extra)",
        "i64 ()",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        kp_signature b = parse_ok(others[i]);
        assert_false(kp_signature_same_types(&a, &b));
        assert_false(kp_signature_same_types(&b, &a));
    }
}

static void test_param_label_name_or_position(void **state)
{
    (void)state;
    kp_signature sig = parse_ok("i64 (i64[] row, i64, i64 maximum, f64)");
    char buf[16];
    assert_string_equal(kp_param_label(&sig, 0, buf, sizeof buf), "row");
    assert_string_equal(kp_param_label(&sig, 1, buf, sizeof buf), "2");
    assert_string_equal(kp_param_label(&sig, 2, buf, sizeof buf), "maximum");
    assert_string_equal(kp_param_label(&sig, 3, buf, sizeof buf), "4");
    /* A name is returned from the signature, not copied into buf. */
    assert_ptr_equal(kp_param_label(&sig, 0, buf, sizeof buf), sig.params[0].name);
    assert_ptr_equal(kp_param_label(&sig, 1, buf, sizeof buf), buf);
    /* Past the end there is no name: the position is still meaningful. */
    assert_string_equal(kp_param_label(&sig, 11, buf, sizeof buf), "12");
    /* A buffer too small for the position still gets a terminated prefix. */
    char tiny[2];
    assert_string_equal(kp_param_label(&sig, 11, tiny, sizeof tiny), "1");
    assert_string_equal(kp_param_label(&sig, 1, NULL, 0), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_seed_signature),
        cmocka_unit_test(test_parse_named_function),
        cmocka_unit_test(test_parse_unnamed_parameters),
        cmocka_unit_test(test_parse_mixed_named_and_unnamed),
        cmocka_unit_test(test_parse_no_parameters),
        cmocka_unit_test(test_parse_void_return),
        cmocka_unit_test(test_parse_short_types),
        cmocka_unit_test(test_parse_c_spellings),
        cmocka_unit_test(test_parse_void_spellings),
        cmocka_unit_test(test_parse_arrays),
        cmocka_unit_test(test_parse_whitespace_variants),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_parse_name_length_limit),
        cmocka_unit_test(test_parse_max_parameters),
        cmocka_unit_test(test_parse_null_err_allowed),
        cmocka_unit_test(test_parse_failure_leaves_output_alone),
        cmocka_unit_test(test_parse_error_empty),
        cmocka_unit_test(test_parse_error_unknown_type),
        cmocka_unit_test(test_parse_error_expected_type),
        cmocka_unit_test(test_parse_error_bad_keyword_combination),
        cmocka_unit_test(test_parse_error_type_word_after_type),
        cmocka_unit_test(test_parse_error_keyword_as_name),
        cmocka_unit_test(test_parse_error_pointers),
        cmocka_unit_test(test_parse_error_void_parameter),
        cmocka_unit_test(test_parse_error_arrays),
        cmocka_unit_test(test_parse_error_duplicate_name),
        cmocka_unit_test(test_parse_error_expected_comma_or_paren),
        cmocka_unit_test(test_parse_error_missing_paren),
        cmocka_unit_test(test_parse_error_trailing_text),
        cmocka_unit_test(test_parse_error_bad_characters),
        cmocka_unit_test(test_format_canonical),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_format_round_trip_all_types),
        cmocka_unit_test(test_format_truncates_like_snprintf),
        cmocka_unit_test(test_prototype_seed),
        cmocka_unit_test(test_prototype_uses_signature_name),
        cmocka_unit_test(test_prototype_default_name),
        cmocka_unit_test(test_prototype_unnamed_parameters),
        cmocka_unit_test(test_prototype_every_type),
        cmocka_unit_test(test_prototype_returns),
        cmocka_unit_test(test_prototype_avoids_name_collisions),
        cmocka_unit_test(test_prototype_truncates_like_snprintf),
        cmocka_unit_test(test_same_types_ignores_names),
        cmocka_unit_test(test_same_types_detects_differences),
        cmocka_unit_test(test_param_label_name_or_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
