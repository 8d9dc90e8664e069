/* test_kernel.c - preparing kernels, converting values and calling through libffi.
 *
 * The kernels are ordinary C functions defined here; each test builds a
 * kp_kernel by hand (function pointer and signature), prepares it and calls
 * it with values, as a worker does for one task. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kernel.h"
#include "value_fixture.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- kernels -------------------------------------------------------------- */

static const void *last_data; /* the array pointer the last array kernel saw */
static size_t last_len;
static int void_calls;

static int8_t k_i8_add(int8_t a, int8_t b)
{
    return (int8_t)(a + b);
}

static uint8_t k_u8_add(uint8_t a, uint8_t b)
{
    return (uint8_t)(a + b);
}

static int16_t k_i16_sub(int16_t a, int16_t b)
{
    return (int16_t)(a - b);
}

static uint16_t k_u16_id(uint16_t a)
{
    return a;
}

static int32_t k_i32_neg(int32_t a)
{
    return -a;
}

static uint32_t k_u32_id(uint32_t a)
{
    return a;
}

static int64_t k_i64_id(int64_t a)
{
    return a;
}

static uint64_t k_u64_id(uint64_t a)
{
    return a;
}

static float k_f32_half(float x)
{
    return x / 2.0f;
}

static double k_f64_mul_add(double x, double y)
{
    return x * y + 0.5;
}

static bool k_bool_not(bool b)
{
    return !b;
}

static int64_t k_str_len(const char *s)
{
    return (int64_t)strlen(s);
}

static const char *const greeting = "hello";

static const char *k_str_greet(void)
{
    return greeting;
}

static void k_void_count(int32_t by)
{
    void_calls += by;
}

#define SUM_KERNEL(T, NAME)                                                                        \
    static double NAME(const T *data, size_t n)                                                    \
    {                                                                                              \
        double sum = 0;                                                                            \
        for (size_t i = 0; i < n; i++)                                                             \
            sum += (double)data[i];                                                                \
        last_data = data;                                                                          \
        last_len = n;                                                                              \
        return sum;                                                                                \
    }

SUM_KERNEL(bool, k_sum_bool)
SUM_KERNEL(int8_t, k_sum_i8)
SUM_KERNEL(int16_t, k_sum_i16)
SUM_KERNEL(int32_t, k_sum_i32)
SUM_KERNEL(int64_t, k_sum_i64)
SUM_KERNEL(uint8_t, k_sum_u8)
SUM_KERNEL(uint16_t, k_sum_u16)
SUM_KERNEL(uint32_t, k_sum_u32)
SUM_KERNEL(uint64_t, k_sum_u64)
SUM_KERNEL(float, k_sum_f32)
SUM_KERNEL(double, k_sum_f64)

static int64_t howmany_within_range(const int64_t *row, size_t n, int64_t minimum, int64_t maximum)
{
    int64_t count = 0;
    last_data = row;
    for (size_t i = 0; i < n; i++)
        count += minimum <= row[i] && row[i] <= maximum;
    return count;
}

/* Every register class and more arguments than registers: the later ones
 * travel on the stack. */
static double k_mixed(int8_t a, uint16_t b, float c, double d, int64_t e, bool f, const char *g,
                      const int32_t *h, size_t hn, uint8_t i, double j, double k, double l,
                      double m, double n, double o, double p, int64_t q, int16_t r, uint32_t s)
{
    double sum = a * 1.0 + b * 2.0 + c * 3.0 + d * 4.0 + (double)e * 5.0 + f * 6.0 +
                 (double)strlen(g) * 7.0 + i * 8.0 + j * 9.0 + k * 10.0 + l * 11.0 + m * 12.0 +
                 n * 13.0 + o * 14.0 + p * 15.0 + (double)q * 16.0 + r * 17.0 + s * 18.0;
    for (size_t x = 0; x < hn; x++)
        sum += h[x] * 100.0;
    return sum;
}

/* ---- helpers -------------------------------------------------------------- */

typedef struct pspec {
    kp_type type;
    bool array;
    const char *name;
} pspec;

static void build(kp_kernel *k, const char *name, kp_fnptr fn, kp_type ret, const pspec *ps,
                  size_t n)
{
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", name);
    k->fn = fn;
    k->sig.ret = ret;
    k->sig.nparams = n;
    for (size_t i = 0; i < n; i++) {
        k->sig.params[i].type = ps[i].type;
        k->sig.params[i].is_array = ps[i].array;
        snprintf(k->sig.params[i].name, sizeof k->sig.params[i].name, "%s",
                 ps[i].name ? ps[i].name : "");
    }
}

static void prepare(kp_kernel *k, const char *name, kp_fnptr fn, kp_type ret, const pspec *ps,
                    size_t n)
{
    kp_err err;
    kp_err_clear(&err);
    build(k, name, fn, ret, ps, n);
    int rc = kp_kernel_prepare(k, &err);
    if (rc != 0)
        fail_msg("preparing %s failed: %s", name, err.msg);
}

#define NPARAMS(ps) (sizeof(ps) / sizeof((ps)[0]))

static int setup(void **state)
{
    kp_arena *arena = malloc(sizeof *arena);
    if (!arena)
        return -1;
    kp_arena_init(arena);
    *state = arena;
    last_data = NULL;
    last_len = 0;
    void_calls = 0;
    return 0;
}

static int teardown(void **state)
{
    kp_arena_free(*state);
    free(*state);
    return 0;
}

static kp_result call_ok(const kp_kernel *k, const kp_value *args, size_t n, kp_arena *arena)
{
    kp_result r;
    kp_err err;
    kp_err_clear(&err);
    memset(&r, 0x5a, sizeof r);
    int rc = kp_kernel_call(k, args, n, arena, &r, &err);
    if (rc != 0)
        fail_msg("calling %s failed: %s", k->name, err.msg);
    assert_int_equal(r.type, k->sig.ret);
    return r;
}

/* Calls k and expects `code` with exactly `message`. */
static void call_fails(const kp_kernel *k, const kp_value *args, size_t n, kp_arena *arena,
                       int code, const char *message)
{
    kp_result r;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_kernel_call(k, args, n, arena, &r, &err);
    if (rc != code || strcmp(err.msg, message) != 0)
        fail_msg("calling %s: got %d '%s', expected %d '%s'", k->name, rc, err.msg, code, message);
    assert_int_equal(err.code, code);
}

/* Converts v to a scalar parameter of type t named `name` (or unnamed at
 * position `pos`, 0-based, when name is NULL). */
static int convert(kp_type t, const char *name, size_t pos, const kp_value *v, kp_arena *arena,
                   kp_scalar *out, kp_err *err)
{
    kp_signature sig;
    memset(&sig, 0, sizeof sig);
    sig.ret = KP_T_VOID;
    sig.nparams = pos + 1;
    for (size_t i = 0; i <= pos; i++)
        sig.params[i].type = KP_T_I64;
    sig.params[pos].type = t;
    if (name)
        snprintf(sig.params[pos].name, sizeof sig.params[pos].name, "%s", name);
    kp_err_clear(err);
    return kp_convert_arg(&sig, pos, v, arena, out, NULL, NULL, err);
}

static kp_scalar convert_ok(kp_type t, kp_value v, kp_arena *arena)
{
    kp_scalar out;
    kp_err err;
    memset(&out, 0, sizeof out);
    int rc = convert(t, "x", 0, &v, arena, &out, &err);
    if (rc != 0)
        fail_msg("converting to %s failed: %s", kp_type_name(t), err.msg);
    return out;
}

/* Converting v to parameter 1 ("x") of type t fails with code and message. */
static void convert_fails(kp_type t, kp_value v, kp_arena *arena, int code, const char *message)
{
    kp_scalar out;
    kp_err err;
    int rc = convert(t, "x", 0, &v, arena, &out, &err);
    if (rc != code || strcmp(err.msg, message) != 0)
        fail_msg("converting to %s: got %d '%s', expected %d '%s'", kp_type_name(t), rc, err.msg,
                 code, message);
}

/* Converts v to an array parameter "row" of element type t. */
static int convert_array(kp_type t, const kp_value *v, kp_arena *arena, const void **data,
                         size_t *len, kp_err *err)
{
    kp_signature sig;
    kp_scalar unused;
    memset(&sig, 0, sizeof sig);
    sig.nparams = 1;
    sig.params[0].type = t;
    sig.params[0].is_array = true;
    snprintf(sig.params[0].name, sizeof sig.params[0].name, "row");
    kp_err_clear(err);
    return kp_convert_arg(&sig, 0, v, arena, &unused, data, len, err);
}

static void convert_array_fails(kp_type t, kp_value v, kp_arena *arena, int code,
                                const char *message)
{
    const void *data;
    size_t len;
    kp_err err;
    int rc = convert_array(t, &v, arena, &data, &len, &err);
    if (rc != code || strcmp(err.msg, message) != 0)
        fail_msg("converting to %s[]: got %d '%s', expected %d '%s'", kp_type_name(t), rc, err.msg,
                 code, message);
}

/* ---- prepare -------------------------------------------------------------- */

static void test_prepare_builds_ffi_types(void **state)
{
    (void)state;
    kp_kernel k;
    const pspec ps[] = {{KP_T_I64, true, "row"},
                        {KP_T_I64, false, "minimum"},
                        {KP_T_BOOL, false, "flag"},
                        {KP_T_F32, false, "f"},
                        {KP_T_STR, false, "s"}};
    prepare(&k, "shape", (kp_fnptr)howmany_within_range, KP_T_I64, ps, NPARAMS(ps));
    assert_int_equal(k.n_cargs, 6);
    assert_ptr_equal(k.arg_types[0], &ffi_type_pointer);
    assert_ptr_equal(k.arg_types[1], sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32);
    assert_ptr_equal(k.arg_types[2], &ffi_type_sint64);
    assert_ptr_equal(k.arg_types[3], &ffi_type_uint8);
    assert_ptr_equal(k.arg_types[4], &ffi_type_float);
    assert_ptr_equal(k.arg_types[5], &ffi_type_pointer);
    assert_int_equal(k.cif.nargs, 6);
    assert_ptr_equal(k.cif.rtype, &ffi_type_sint64);
}

static void test_prepare_void_and_no_parameters(void **state)
{
    (void)state;
    kp_kernel k;
    prepare(&k, "greet", (kp_fnptr)k_str_greet, KP_T_STR, NULL, 0);
    assert_int_equal(k.n_cargs, 0);
    assert_ptr_equal(k.cif.rtype, &ffi_type_pointer);
    const pspec ps[] = {{KP_T_I32, false, "by"}};
    prepare(&k, "count", (kp_fnptr)k_void_count, KP_T_VOID, ps, 1);
    assert_ptr_equal(k.cif.rtype, &ffi_type_void);
}

static void prepare_fails(kp_kernel *k, int code, const char *part)
{
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_kernel_prepare(k, &err);
    if (rc != code || !strstr(err.msg, part))
        fail_msg("prepare: got %d '%s', expected %d with '%s'", rc, err.msg, code, part);
}

static void test_prepare_errors(void **state)
{
    (void)state;
    kp_kernel k;
    const pspec strs[] = {{KP_T_STR, true, "names"}};
    build(&k, "bad", (kp_fnptr)k_sum_i64, KP_T_F64, strs, 1);
    prepare_fails(&k, KPOOL_ESIG, "kernel 'bad': parameter names is str[]");

    const pspec voids[] = {{KP_T_I64, false, "a"}, {KP_T_VOID, false, NULL}};
    build(&k, "bad", (kp_fnptr)k_sum_i64, KP_T_F64, voids, 2);
    prepare_fails(&k, KPOOL_ESIG, "kernel 'bad': parameter 2 has no value type (void)");

    build(&k, "bad", (kp_fnptr)k_sum_i64, (kp_type)99, NULL, 0);
    prepare_fails(&k, KPOOL_ESIG, "kernel 'bad': its return type (99) is not a kpool type");

    build(&k, "bad", NULL, KP_T_F64, NULL, 0);
    prepare_fails(&k, KPOOL_EINVAL, "kernel 'bad' has no function to call");

    build(&k, "", (kp_fnptr)k_sum_i64, KP_T_F64, NULL, 0);
    k.sig.nparams = KP_MAX_PARAMS + 1;
    prepare_fails(&k, KPOOL_ESIG, "kernel '(unnamed)' has 33 parameters; at most 32");
}

/* ---- returns: widened from ffi_arg ----------------------------------------- */

static void test_call_i8_negative_return(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I8, false, "a"}, {KP_T_I8, false, "b"}};
    prepare(&k, "i8_add", (kp_fnptr)k_i8_add, KP_T_I8, ps, 2);
    kp_value args[2] = {int_value(-2), int_value(-3)};
    assert_int_equal(call_ok(&k, args, 2, *state).value.i8, -5);
    kp_value edge[2] = {int_value(-100), int_value(-28)};
    assert_int_equal(call_ok(&k, edge, 2, *state).value.i8, -128);
    kp_value top[2] = {int_value(100), int_value(27)};
    assert_int_equal(call_ok(&k, top, 2, *state).value.i8, 127);
}

static void test_call_u8_return(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_U8, false, "a"}, {KP_T_U8, false, "b"}};
    prepare(&k, "u8_add", (kp_fnptr)k_u8_add, KP_T_U8, ps, 2);
    kp_value args[2] = {int_value(200), int_value(55)};
    assert_int_equal(call_ok(&k, args, 2, *state).value.u8, 255);
}

static void test_call_i16_negative_return(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I16, false, "a"}, {KP_T_I16, false, "b"}};
    prepare(&k, "i16_sub", (kp_fnptr)k_i16_sub, KP_T_I16, ps, 2);
    kp_value args[2] = {int_value(-100), int_value(200)};
    assert_int_equal(call_ok(&k, args, 2, *state).value.i16, -300);
    kp_value low[2] = {int_value(-32768), int_value(0)};
    assert_int_equal(call_ok(&k, low, 2, *state).value.i16, -32768);
}

static void test_call_u16_returns_65535(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_U16, false, "a"}};
    prepare(&k, "u16_id", (kp_fnptr)k_u16_id, KP_T_U16, ps, 1);
    kp_value args[1] = {int_value(65535)};
    assert_int_equal(call_ok(&k, args, 1, *state).value.u16, 65535);
}

static void test_call_i32_and_u32(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I32, false, "a"}};
    prepare(&k, "i32_neg", (kp_fnptr)k_i32_neg, KP_T_I32, ps, 1);
    kp_value args[1] = {int_value(2147483647)};
    assert_int_equal(call_ok(&k, args, 1, *state).value.i32, -2147483647);

    const pspec pu[] = {{KP_T_U32, false, "a"}};
    prepare(&k, "u32_id", (kp_fnptr)k_u32_id, KP_T_U32, pu, 1);
    kp_value big[1] = {int_value(4294967295LL)};
    assert_true(call_ok(&k, big, 1, *state).value.u32 == 4294967295u);
}

static void test_call_i64_and_u64(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I64, false, "a"}};
    prepare(&k, "i64_id", (kp_fnptr)k_i64_id, KP_T_I64, ps, 1);
    kp_value args[1] = {int_value(INT64_MIN)};
    assert_true(call_ok(&k, args, 1, *state).value.i64 == INT64_MIN);

    const pspec pu[] = {{KP_T_U64, false, "a"}};
    prepare(&k, "u64_id", (kp_fnptr)k_u64_id, KP_T_U64, pu, 1);
    kp_value big[1] = {uint_value(UINT64_MAX)};
    assert_true(call_ok(&k, big, 1, *state).value.u64 == UINT64_MAX);
}

static void test_call_f32_and_f64(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_F32, false, "x"}};
    prepare(&k, "f32_half", (kp_fnptr)k_f32_half, KP_T_F32, ps, 1);
    kp_value args[1] = {float_value(3.0)};
    assert_true(call_ok(&k, args, 1, *state).value.f32 == 1.5f);
    kp_value integer[1] = {int_value(5)};
    assert_true(call_ok(&k, integer, 1, *state).value.f32 == 2.5f);

    const pspec pd[] = {{KP_T_F64, false, "x"}, {KP_T_F64, false, "y"}};
    prepare(&k, "f64_mul_add", (kp_fnptr)k_f64_mul_add, KP_T_F64, pd, 2);
    kp_value two[2] = {float_value(1.5), int_value(4)};
    assert_true(call_ok(&k, two, 2, *state).value.f64 == 6.5);
}

static void test_call_bool_returns_true(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_BOOL, false, "b"}};
    prepare(&k, "bool_not", (kp_fnptr)k_bool_not, KP_T_BOOL, ps, 1);
    kp_value f[1] = {bool_value(false)};
    assert_true(call_ok(&k, f, 1, *state).value.b);
    kp_value t[1] = {bool_value(true)};
    assert_false(call_ok(&k, t, 1, *state).value.b);
    kp_value zero[1] = {int_value(0)};
    assert_true(call_ok(&k, zero, 1, *state).value.b);
    kp_value text[1] = {str_value("TRUE")};
    assert_false(call_ok(&k, text, 1, *state).value.b);
}

static void test_call_str_parameter_and_return(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_STR, false, "s"}};
    prepare(&k, "str_len", (kp_fnptr)k_str_len, KP_T_I64, ps, 1);
    kp_value args[1] = {str_value("hello")};
    assert_int_equal(call_ok(&k, args, 1, *state).value.i64, 5);
    kp_value spaced[1] = {str_value(" x ")};
    assert_int_equal(call_ok(&k, spaced, 1, *state).value.i64, 3);

    prepare(&k, "greet", (kp_fnptr)k_str_greet, KP_T_STR, NULL, 0);
    kp_result r = call_ok(&k, NULL, 0, *state);
    assert_ptr_equal(r.value.str, greeting);
    assert_string_equal(r.value.str, "hello");
}

static void test_call_void_kernel(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I32, false, "by"}};
    prepare(&k, "count", (kp_fnptr)k_void_count, KP_T_VOID, ps, 1);
    kp_value args[1] = {int_value(3)};
    kp_result r = call_ok(&k, args, 1, *state);
    assert_int_equal(r.type, KP_T_VOID);
    assert_true(r.value.u64 == 0);
    call_ok(&k, args, 1, *state);
    assert_int_equal(void_calls, 6);
}

static void test_call_mixed_registers_and_stack(void **state)
{
    kp_kernel k;
    const pspec ps[] = {
        {KP_T_I8, false, "a"},  {KP_T_U16, false, "b"}, {KP_T_F32, false, "c"},
        {KP_T_F64, false, "d"}, {KP_T_I64, false, "e"}, {KP_T_BOOL, false, "f"},
        {KP_T_STR, false, "g"}, {KP_T_I32, true, "h"},  {KP_T_U8, false, "i"},
        {KP_T_F64, false, "j"}, {KP_T_F64, false, "k"}, {KP_T_F64, false, "l"},
        {KP_T_F64, false, "m"}, {KP_T_F64, false, "n"}, {KP_T_F64, false, "o"},
        {KP_T_F64, false, "p"}, {KP_T_I64, false, "q"}, {KP_T_I16, false, "r"},
        {KP_T_U32, false, "s"},
    };
    prepare(&k, "mixed", (kp_fnptr)k_mixed, KP_T_F64, ps, NPARAMS(ps));
    assert_int_equal(k.n_cargs, 20);
    kp_value h[3] = {int_value(1), int_value(-2), int_value(3)};
    kp_value args[] = {int_value(-7),          int_value(65000),          float_value(0.5),
                       float_value(-1.25),     int_value(-1234567890123), bool_value(true),
                       str_value("abc"),       list_value(h, 3),          int_value(200),
                       float_value(1.0),       float_value(2.0),          float_value(3.0),
                       float_value(4.0),       float_value(5.0),          float_value(6.0),
                       float_value(7.0),       int_value(-9999),          int_value(-300),
                       int_value(4000000000LL)};
    int32_t hd[3] = {1, -2, 3};
    double expected = k_mixed(-7, 65000, 0.5f, -1.25, -1234567890123, true, "abc", hd, 3, 200, 1.0,
                              2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -9999, -300, 4000000000u);
    assert_true(call_ok(&k, args, NPARAMS(args), *state).value.f64 == expected);
}

/* ---- arrays --------------------------------------------------------------- */

static void test_call_seed_kernel_with_nums_is_zero_copy(void **state)
{
    kp_kernel k;
    const pspec ps[] = {
        {KP_T_I64, true, "row"}, {KP_T_I64, false, "minimum"}, {KP_T_I64, false, "maximum"}};
    prepare(&k, "howmany_within_range", (kp_fnptr)howmany_within_range, KP_T_I64, ps, 3);
    int64_t row[5] = {5, 6, 7, 0, 9};
    kp_value args[3] = {nums_value(row, 5, KP_T_I64), int_value(4), int_value(8)};
    assert_int_equal(call_ok(&k, args, 3, *state).value.i64, 3);
    assert_ptr_equal(last_data, row);
}

static void test_call_seed_kernel_with_list_and_csv_fields(void **state)
{
    kp_kernel k;
    const pspec ps[] = {
        {KP_T_I64, true, "row"}, {KP_T_I64, false, "minimum"}, {KP_T_I64, false, "maximum"}};
    prepare(&k, "howmany_within_range", (kp_fnptr)howmany_within_range, KP_T_I64, ps, 3);
    kp_value row[5] = {int_value(5), int_value(6), int_value(7), int_value(0), int_value(9)};
    kp_value args[3] = {list_value(row, 5), int_value(4), int_value(8)};
    assert_int_equal(call_ok(&k, args, 3, *state).value.i64, 3);

    /* A csv record: every field is text. */
    kp_value fields[5] = {str_value("5"), str_value(" 6"), str_value("7 "), str_value("0"),
                          str_value("9")};
    kp_value text_args[3] = {list_value(fields, 5), str_value("4"), str_value("8")};
    assert_int_equal(call_ok(&k, text_args, 3, *state).value.i64, 3);
}

static void test_call_sum_kernels_every_element_type(void **state)
{
    static const struct {
        kp_type type;
        kp_fnptr fn;
    } kernels[] = {
        {KP_T_BOOL, (kp_fnptr)k_sum_bool}, {KP_T_I8, (kp_fnptr)k_sum_i8},
        {KP_T_I16, (kp_fnptr)k_sum_i16},   {KP_T_I32, (kp_fnptr)k_sum_i32},
        {KP_T_I64, (kp_fnptr)k_sum_i64},   {KP_T_U8, (kp_fnptr)k_sum_u8},
        {KP_T_U16, (kp_fnptr)k_sum_u16},   {KP_T_U32, (kp_fnptr)k_sum_u32},
        {KP_T_U64, (kp_fnptr)k_sum_u64},   {KP_T_F32, (kp_fnptr)k_sum_f32},
        {KP_T_F64, (kp_fnptr)k_sum_f64},
    };
    kp_value items[4] = {int_value(1), int_value(0), int_value(1), int_value(1)};
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) {
        kp_kernel k;
        const pspec ps[] = {{kernels[i].type, true, "row"}};
        prepare(&k, kp_type_name(kernels[i].type), kernels[i].fn, KP_T_F64, ps, 1);
        kp_value args[1] = {list_value(items, 4)};
        kp_result r = call_ok(&k, args, 1, *state);
        if (r.value.f64 != 3.0)
            fail_msg("sum of %s[] is %g", kp_type_name(kernels[i].type), r.value.f64);
        assert_int_equal(last_len, 4);
    }
}

static void test_call_sum_kernels_zero_copy_every_matching_type(void **state)
{
    /* One aligned buffer holds 4 elements of any type. */
    static _Alignas(16) unsigned char buf[64];
    bool b[4] = {true, false, true, true};
    int8_t i8[4] = {-1, 2, -3, 4};
    int16_t i16[4] = {-1000, 2, 3, 4};
    int32_t i32[4] = {-100000, 2, 3, 4};
    int64_t i64[4] = {-10000000000, 2, 3, 4};
    uint8_t u8[4] = {255, 2, 3, 4};
    uint16_t u16[4] = {65535, 2, 3, 4};
    uint32_t u32[4] = {4000000000u, 2, 3, 4};
    uint64_t u64[4] = {1u << 30, 2, 3, 4};
    float f32[4] = {0.5f, 0.25f, 1, 2};
    double f64[4] = {0.5, 0.25, 1e10, 2};
    const struct {
        kp_type type;
        kp_fnptr fn;
        const void *data;
        double sum;
    } cases[] = {
        {KP_T_BOOL, (kp_fnptr)k_sum_bool, b, 3},
        {KP_T_I8, (kp_fnptr)k_sum_i8, i8, 2},
        {KP_T_I16, (kp_fnptr)k_sum_i16, i16, -991},
        {KP_T_I32, (kp_fnptr)k_sum_i32, i32, -99991},
        {KP_T_I64, (kp_fnptr)k_sum_i64, i64, -9999999991.0},
        {KP_T_U8, (kp_fnptr)k_sum_u8, u8, 264},
        {KP_T_U16, (kp_fnptr)k_sum_u16, u16, 65544},
        {KP_T_U32, (kp_fnptr)k_sum_u32, u32, 4000000009.0},
        {KP_T_U64, (kp_fnptr)k_sum_u64, u64, 1073741833.0},
        {KP_T_F32, (kp_fnptr)k_sum_f32, f32, 3.75},
        {KP_T_F64, (kp_fnptr)k_sum_f64, f64, 10000000002.75},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_kernel k;
        const pspec ps[] = {{cases[i].type, true, "row"}};
        prepare(&k, kp_type_name(cases[i].type), cases[i].fn, KP_T_F64, ps, 1);
        memcpy(buf, cases[i].data, 4 * kp_type_size(cases[i].type));
        kp_value args[1] = {nums_value(buf, 4, cases[i].type)};
        kp_result r = call_ok(&k, args, 1, *state);
        if (r.value.f64 != cases[i].sum)
            fail_msg("sum of %s[] is %.17g, expected %.17g", kp_type_name(cases[i].type),
                     r.value.f64, cases[i].sum);
        assert_ptr_equal(last_data, buf);
        assert_int_equal(last_len, 4);
    }
}

static void test_call_nums_of_another_type_is_converted(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_F64, true, "row"}};
    prepare(&k, "sum_f64", (kp_fnptr)k_sum_f64, KP_T_F64, ps, 1);
    int32_t row[3] = {1, -2, 40};
    kp_value args[1] = {nums_value(row, 3, KP_T_I32)};
    assert_true(call_ok(&k, args, 1, *state).value.f64 == 39.0);
    assert_ptr_not_equal(last_data, row);
}

static void test_call_unaligned_nums_is_copied(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I64, true, "row"}};
    prepare(&k, "sum_i64", (kp_fnptr)k_sum_i64, KP_T_F64, ps, 1);
    static _Alignas(16) unsigned char raw[40];
    int64_t row[3] = {10, 20, -5};
    memcpy(raw + 1, row, sizeof row);
    kp_value args[1] = {nums_value(raw + 1, 3, KP_T_I64)};
    assert_true(call_ok(&k, args, 1, *state).value.f64 == 25.0);
    assert_ptr_not_equal(last_data, raw + 1);
    assert_int_equal((uintptr_t)last_data % _Alignof(int64_t), 0);
}

static void test_call_bool_nums_with_other_bytes_is_normalised(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_BOOL, true, "row"}};
    prepare(&k, "sum_bool", (kp_fnptr)k_sum_bool, KP_T_F64, ps, 1);
    unsigned char bytes[4] = {0, 2, 1, 255};
    kp_value args[1] = {nums_value(bytes, 4, KP_T_BOOL)};
    assert_true(call_ok(&k, args, 1, *state).value.f64 == 3.0);
    assert_ptr_not_equal(last_data, bytes);
}

static void test_call_empty_array(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I32, true, "row"}};
    prepare(&k, "sum_i32", (kp_fnptr)k_sum_i32, KP_T_F64, ps, 1);
    kp_value args[1] = {list_value(NULL, 0)};
    assert_true(call_ok(&k, args, 1, *state).value.f64 == 0.0);
    assert_int_equal(last_len, 0);
}

/* ---- conversion rules ----------------------------------------------------- */

static void test_convert_integer_ranges(void **state)
{
    kp_arena *a = *state;
    assert_int_equal(convert_ok(KP_T_I8, int_value(-128), a).i8, -128);
    assert_int_equal(convert_ok(KP_T_I8, int_value(127), a).i8, 127);
    convert_fails(KP_T_I8, int_value(-129), a, KPOOL_ERANGE,
                  "argument 1 (x): -129 does not fit i8");
    convert_fails(KP_T_I8, int_value(128), a, KPOOL_ERANGE, "argument 1 (x): 128 does not fit i8");
    assert_int_equal(convert_ok(KP_T_U8, int_value(255), a).u8, 255);
    convert_fails(KP_T_U8, int_value(256), a, KPOOL_ERANGE, "argument 1 (x): 256 does not fit u8");
    convert_fails(KP_T_U8, int_value(-1), a, KPOOL_ERANGE, "argument 1 (x): -1 does not fit u8");
    assert_int_equal(convert_ok(KP_T_I16, int_value(-32768), a).i16, -32768);
    convert_fails(KP_T_I16, int_value(32768), a, KPOOL_ERANGE,
                  "argument 1 (x): 32768 does not fit i16");
    assert_int_equal(convert_ok(KP_T_U16, int_value(65535), a).u16, 65535);
    convert_fails(KP_T_U16, int_value(65536), a, KPOOL_ERANGE,
                  "argument 1 (x): 65536 does not fit u16");
    assert_int_equal(convert_ok(KP_T_I32, int_value(INT32_MIN), a).i32, INT32_MIN);
    convert_fails(KP_T_I32, int_value(2147483648LL), a, KPOOL_ERANGE,
                  "argument 1 (x): 2147483648 does not fit i32");
    assert_true(convert_ok(KP_T_U32, int_value(4294967295LL), a).u32 == 4294967295u);
    convert_fails(KP_T_U32, int_value(4294967296LL), a, KPOOL_ERANGE,
                  "argument 1 (x): 4294967296 does not fit u32");
    assert_true(convert_ok(KP_T_I64, int_value(INT64_MIN), a).i64 == INT64_MIN);
    convert_fails(KP_T_I64, uint_value((uint64_t)INT64_MAX + 1), a, KPOOL_ERANGE,
                  "argument 1 (x): 9223372036854775808 does not fit i64");
    assert_true(convert_ok(KP_T_U64, uint_value(UINT64_MAX), a).u64 == UINT64_MAX);
    assert_true(convert_ok(KP_T_U64, int_value(INT64_MAX), a).u64 == (uint64_t)INT64_MAX);
    convert_fails(KP_T_U64, int_value(-1), a, KPOOL_ERANGE, "argument 1 (x): -1 does not fit u64");
}

static void test_convert_error_names_parameter_and_position(void **state)
{
    kp_arena *a = *state;
    kp_scalar out;
    kp_err err;
    kp_value v = int_value(300);
    assert_int_equal(convert(KP_T_I8, "minimum", 1, &v, a, &out, &err), KPOOL_ERANGE);
    assert_string_equal(err.msg, "argument 2 (minimum): 300 does not fit i8");
    assert_int_equal(err.code, KPOOL_ERANGE);
    v = float_value(2.5);
    assert_int_equal(convert(KP_T_I32, NULL, 2, &v, a, &out, &err), KPOOL_ERANGE);
    assert_string_equal(err.msg, "argument 3: 2.5 has a fraction; i32 needs an integer");
    v = str_value("abc");
    assert_int_equal(convert(KP_T_F64, "x", 0, &v, a, &out, &err), KPOOL_ETYPE);
    assert_string_equal(err.msg, "argument 1 (x): \"abc\" is not a number");
}

static void test_convert_integer_to_bool_and_floats(void **state)
{
    kp_arena *a = *state;
    assert_true(convert_ok(KP_T_BOOL, int_value(1), a).b);
    assert_false(convert_ok(KP_T_BOOL, int_value(0), a).b);
    convert_fails(KP_T_BOOL, int_value(2), a, KPOOL_ERANGE,
                  "argument 1 (x): 2 does not fit bool (only 0 and 1 do)");
    convert_fails(KP_T_BOOL, int_value(-1), a, KPOOL_ERANGE,
                  "argument 1 (x): -1 does not fit bool (only 0 and 1 do)");
    assert_true(convert_ok(KP_T_F64, int_value(-3), a).f64 == -3.0);
    assert_true(convert_ok(KP_T_F32, int_value(7), a).f32 == 7.0f);
    assert_true(convert_ok(KP_T_F64, uint_value(UINT64_MAX), a).f64 == 18446744073709551616.0);
    assert_true(convert_ok(KP_T_F32, uint_value(UINT64_MAX), a).f32 == 18446744073709551616.0f);
}

static void test_convert_float_to_integers(void **state)
{
    kp_arena *a = *state;
    assert_int_equal(convert_ok(KP_T_I32, float_value(2.0), a).i32, 2);
    assert_int_equal(convert_ok(KP_T_I8, float_value(-128.0), a).i8, -128);
    assert_int_equal(convert_ok(KP_T_U8, float_value(255.0), a).u8, 255);
    assert_int_equal(convert_ok(KP_T_U8, float_value(-0.0), a).u8, 0);
    assert_true(convert_ok(KP_T_I64, float_value(-9223372036854775808.0), a).i64 == INT64_MIN);
    assert_true(convert_ok(KP_T_U64, float_value(18446744073709549568.0), a).u64 ==
                18446744073709549568u);
    convert_fails(KP_T_I32, float_value(2.5), a, KPOOL_ERANGE,
                  "argument 1 (x): 2.5 has a fraction; i32 needs an integer");
    convert_fails(KP_T_U8, float_value(256.0), a, KPOOL_ERANGE,
                  "argument 1 (x): 256.0 does not fit u8");
    convert_fails(KP_T_U8, float_value(-1.0), a, KPOOL_ERANGE,
                  "argument 1 (x): -1.0 does not fit u8");
    convert_fails(KP_T_I64, float_value(9223372036854775808.0), a, KPOOL_ERANGE,
                  "argument 1 (x): 9.223372036854776e+18 does not fit i64");
    convert_fails(KP_T_U64, float_value(18446744073709551616.0), a, KPOOL_ERANGE,
                  "argument 1 (x): 1.8446744073709552e+19 does not fit u64");
    convert_fails(KP_T_I64, float_value(1e20), a, KPOOL_ERANGE,
                  "argument 1 (x): 1e+20 does not fit i64");
    convert_fails(KP_T_I32, float_value(NAN), a, KPOOL_ERANGE,
                  "argument 1 (x): nan does not fit i32");
    convert_fails(KP_T_I64, float_value(-INFINITY), a, KPOOL_ERANGE,
                  "argument 1 (x): -inf does not fit i64");
}

static void test_convert_float_to_floats_and_bool(void **state)
{
    kp_arena *a = *state;
    assert_true(convert_ok(KP_T_F64, float_value(0.1), a).f64 == 0.1);
    assert_true(convert_ok(KP_T_F32, float_value(0.1), a).f32 == 0.1f);
    assert_true(convert_ok(KP_T_F32, float_value(FLT_MAX), a).f32 == FLT_MAX);
    assert_true(isinf(convert_ok(KP_T_F32, float_value(-INFINITY), a).f32));
    assert_true(isnan(convert_ok(KP_T_F32, float_value(NAN), a).f32));
    assert_true(isnan(convert_ok(KP_T_F64, float_value(NAN), a).f64));
    convert_fails(KP_T_F32, float_value(1e300), a, KPOOL_ERANGE,
                  "argument 1 (x): 1e+300 does not fit f32");
    convert_fails(KP_T_F32, float_value(-1e39), a, KPOOL_ERANGE,
                  "argument 1 (x): -1e+39 does not fit f32");
    assert_true(convert_ok(KP_T_BOOL, float_value(1.0), a).b);
    assert_false(convert_ok(KP_T_BOOL, float_value(0.0), a).b);
    convert_fails(KP_T_BOOL, float_value(0.5), a, KPOOL_ERANGE,
                  "argument 1 (x): 0.5 does not fit bool (only 0 and 1 do)");
    convert_fails(KP_T_BOOL, float_value(2.0), a, KPOOL_ERANGE,
                  "argument 1 (x): 2.0 does not fit bool (only 0 and 1 do)");
}

static void test_convert_bool(void **state)
{
    kp_arena *a = *state;
    assert_true(convert_ok(KP_T_BOOL, bool_value(true), a).b);
    assert_int_equal(convert_ok(KP_T_I32, bool_value(true), a).i32, 1);
    assert_int_equal(convert_ok(KP_T_U8, bool_value(false), a).u8, 0);
    assert_true(convert_ok(KP_T_U64, bool_value(true), a).u64 == 1);
    convert_fails(KP_T_F64, bool_value(true), a, KPOOL_ETYPE,
                  "argument 1 (x): true is a boolean; f64 needs a number");
    convert_fails(KP_T_F32, bool_value(false), a, KPOOL_ETYPE,
                  "argument 1 (x): false is a boolean; f32 needs a number");
}

static void test_convert_text_to_numbers(void **state)
{
    kp_arena *a = *state;
    assert_true(convert_ok(KP_T_I64, str_value("4"), a).i64 == 4);
    assert_true(convert_ok(KP_T_I64, str_value(" 4 "), a).i64 == 4);
    assert_true(convert_ok(KP_T_I64, str_value("\t-7\r"), a).i64 == -7);
    assert_true(convert_ok(KP_T_I64, str_value("2.0"), a).i64 == 2);
    assert_true(convert_ok(KP_T_U64, str_value("18446744073709551615"), a).u64 == UINT64_MAX);
    assert_true(convert_ok(KP_T_F64, str_value("2.5"), a).f64 == 2.5);
    assert_true(convert_ok(KP_T_F64, str_value("-1e3"), a).f64 == -1000.0);
    assert_true(convert_ok(KP_T_F32, str_value(".5"), a).f32 == 0.5f);
    assert_true(isinf(convert_ok(KP_T_F64, str_value("-inf"), a).f64));
    assert_true(isnan(convert_ok(KP_T_F64, str_value("nan"), a).f64));
    convert_fails(KP_T_I64, str_value(""), a, KPOOL_ETYPE,
                  "argument 1 (x): empty field; i64 needs a number");
    convert_fails(KP_T_F64, str_value("   "), a, KPOOL_ETYPE,
                  "argument 1 (x): empty field; f64 needs a number");
    convert_fails(KP_T_I64, str_value("0x10"), a, KPOOL_ETYPE,
                  "argument 1 (x): \"0x10\" is not a number");
    convert_fails(KP_T_I64, str_value("4 5"), a, KPOOL_ETYPE,
                  "argument 1 (x): \"4 5\" is not a number");
    convert_fails(KP_T_F64, str_value("1,5"), a, KPOOL_ETYPE,
                  "argument 1 (x): \"1,5\" is not a number");
    convert_fails(KP_T_I64, str_value("true"), a, KPOOL_ETYPE,
                  "argument 1 (x): \"true\" is not a number");
    convert_fails(KP_T_I32, str_value("2.5"), a, KPOOL_ERANGE,
                  "argument 1 (x): 2.5 has a fraction; i32 needs an integer");
    convert_fails(KP_T_I8, str_value("300"), a, KPOOL_ERANGE,
                  "argument 1 (x): 300 does not fit i8");
    convert_fails(KP_T_I64, str_value("99999999999999999999"), a, KPOOL_ERANGE,
                  "argument 1 (x): \"99999999999999999999\" does not fit i64");
    convert_fails(KP_T_F64, str_value("1e999"), a, KPOOL_ERANGE,
                  "argument 1 (x): \"1e999\" does not fit f64");
}

static void test_convert_text_to_bool(void **state)
{
    kp_arena *a = *state;
    assert_true(convert_ok(KP_T_BOOL, str_value("true"), a).b);
    assert_true(convert_ok(KP_T_BOOL, str_value(" True "), a).b);
    assert_false(convert_ok(KP_T_BOOL, str_value("FALSE"), a).b);
    assert_true(convert_ok(KP_T_BOOL, str_value("1"), a).b);
    assert_false(convert_ok(KP_T_BOOL, str_value("0"), a).b);
    convert_fails(KP_T_BOOL, str_value("yes"), a, KPOOL_ETYPE,
                  "argument 1 (x): \"yes\" is not a boolean (true, false, 0 or 1)");
    convert_fails(KP_T_BOOL, str_value(""), a, KPOOL_ETYPE,
                  "argument 1 (x): empty field; bool needs true, false, 0 or 1");
    convert_fails(KP_T_BOOL, str_value("2"), a, KPOOL_ERANGE,
                  "argument 1 (x): 2 does not fit bool (only 0 and 1 do)");
}

static void test_convert_text_to_str_is_as_is(void **state)
{
    kp_arena *a = *state;
    kp_value v = str_value(" 4 ");
    assert_ptr_equal(convert_ok(KP_T_STR, v, a).str, v.as.s.ptr);
}

static void test_convert_wrong_kinds(void **state)
{
    kp_arena *a = *state;
    kp_value five[5] = {int_value(1), int_value(2), int_value(3), int_value(4), int_value(5)};
    int64_t row[3] = {1, 2, 3};
    convert_fails(KP_T_I64, null_value(), a, KPOOL_ETYPE, "argument 1 (x): missing value (null)");
    convert_fails(KP_T_STR, null_value(), a, KPOOL_ETYPE, "argument 1 (x): missing value (null)");
    convert_fails(KP_T_I64, list_value(five, 5), a, KPOOL_ETYPE,
                  "argument 1 (x): expected a number, got a list of 5");
    convert_fails(KP_T_F64, nums_value(row, 3, KP_T_I64), a, KPOOL_ETYPE,
                  "argument 1 (x): expected a number, got an array of 3 i64");
    convert_fails(KP_T_BOOL, list_value(five, 2), a, KPOOL_ETYPE,
                  "argument 1 (x): expected a boolean, got a list of 2");
    convert_fails(KP_T_STR, list_value(five, 2), a, KPOOL_ETYPE,
                  "argument 1 (x): expected a string, got a list of 2");
    convert_fails(KP_T_STR, int_value(5), a, KPOOL_ETYPE,
                  "argument 1 (x): expected a string, got an integer (5)");
    convert_fails(KP_T_STR, float_value(2.5), a, KPOOL_ETYPE,
                  "argument 1 (x): expected a string, got a number (2.5)");
    convert_fails(KP_T_STR, bool_value(true), a, KPOOL_ETYPE,
                  "argument 1 (x): expected a string, got a boolean (true)");
}

static void test_convert_unknown_value_kind(void **state)
{
    kp_arena *a = *state;
    kp_value v = {.kind = (kp_vkind)77};
    convert_fails(KP_T_I64, v, a, KPOOL_ETYPE,
                  "argument 1 (x): expected a number, got an unknown value");
}

static void test_convert_index_beyond_signature(void **state)
{
    kp_signature sig;
    memset(&sig, 0, sizeof sig);
    sig.nparams = 1;
    sig.params[0].type = KP_T_I64;
    kp_value v = int_value(1);
    kp_scalar out;
    kp_err err;
    assert_int_equal(kp_convert_arg(&sig, 3, &v, *state, &out, NULL, NULL, &err), KPOOL_EINVAL);
    assert_string_equal(err.msg, "argument 4: the kernel takes only 1");
}

static void test_convert_with_null_err(void **state)
{
    kp_signature sig;
    memset(&sig, 0, sizeof sig);
    sig.nparams = 1;
    sig.params[0].type = KP_T_I8;
    kp_value v = int_value(1000);
    kp_scalar out;
    assert_int_equal(kp_convert_arg(&sig, 0, &v, *state, &out, NULL, NULL, NULL), KPOOL_ERANGE);
}

static void test_convert_array_errors(void **state)
{
    kp_arena *a = *state;
    kp_value row[4] = {int_value(1), int_value(2), int_value(3), int_value(-1)};
    convert_array_fails(KP_T_U8, list_value(row, 4), a, KPOOL_ERANGE,
                        "argument 1 (row): element 4: -1 does not fit u8");
    convert_array_fails(KP_T_I64, int_value(5), a, KPOOL_ETYPE,
                        "argument 1 (row): expected a list for i64[], got an integer");
    convert_array_fails(KP_T_F64, str_value("1 2 3"), a, KPOOL_ETYPE,
                        "argument 1 (row): expected a list for f64[], got a string");
    convert_array_fails(KP_T_I64, null_value(), a, KPOOL_ETYPE,
                        "argument 1 (row): missing value (null)");

    int64_t wide[3] = {1, 3000000000LL, 2};
    convert_array_fails(KP_T_I32, nums_value(wide, 3, KP_T_I64), a, KPOOL_ERANGE,
                        "argument 1 (row): element 2: 3000000000 does not fit i32");
    double frac[3] = {1.0, 2.0, 2.5};
    convert_array_fails(KP_T_I64, nums_value(frac, 3, KP_T_F64), a, KPOOL_ERANGE,
                        "argument 1 (row): element 3: 2.5 has a fraction; i64 needs an integer");
    kp_value inner[2] = {int_value(1), int_value(2)};
    kp_value nested[2] = {int_value(0), list_value(inner, 2)};
    convert_array_fails(KP_T_I64, list_value(nested, 2), a, KPOOL_ETYPE,
                        "argument 1 (row): element 2: expected a number, got a list of 2");
    kp_value fields[2] = {str_value("1"), str_value("x")};
    convert_array_fails(KP_T_F32, list_value(fields, 2), a, KPOOL_ETYPE,
                        "argument 1 (row): element 2: \"x\" is not a number");
    const char *strs[2] = {"a", "b"};
    convert_array_fails(KP_T_I64, nums_value(strs, 2, KP_T_STR), a, KPOOL_EINPUT,
                        "argument 1 (row): element 1: cannot be read (array of unknown type 12)");
}

static void test_convert_array_from_list_values(void **state)
{
    kp_arena *a = *state;
    kp_value row[4] = {int_value(-1), float_value(2.0), str_value(" 3 "), bool_value(true)};
    const void *data;
    size_t len;
    kp_err err;
    kp_value v = list_value(row, 4);
    assert_int_equal(convert_array(KP_T_I16, &v, a, &data, &len, &err), 0);
    assert_int_equal(len, 4);
    const int16_t *out = data;
    assert_int_equal(out[0], -1);
    assert_int_equal(out[1], 2);
    assert_int_equal(out[2], 3);
    assert_int_equal(out[3], 1);
}

/* ---- kp_kernel_call errors ---------------------------------------------- */

static void test_call_wrong_arity(void **state)
{
    kp_kernel k;
    const pspec ps[] = {
        {KP_T_I64, true, "row"}, {KP_T_I64, false, "minimum"}, {KP_T_I64, false, "maximum"}};
    prepare(&k, "howmany_within_range", (kp_fnptr)howmany_within_range, KP_T_I64, ps, 3);
    kp_value args[4] = {int_value(1), int_value(4), int_value(8), int_value(9)};
    call_fails(&k, args, 2, *state, KPOOL_EINPUT,
               "the tuple has 2 values; the kernel takes 3 (row, minimum, maximum)");
    call_fails(&k, args, 1, *state, KPOOL_EINPUT,
               "the tuple has 1 value; the kernel takes 3 (row, minimum, maximum)");
    call_fails(&k, args, 4, *state, KPOOL_EINPUT,
               "the tuple has 4 values; the kernel takes 3 (row, minimum, maximum)");

    const pspec unnamed[] = {{KP_T_F64, false, NULL}, {KP_T_I32, true, NULL}};
    prepare(&k, "unnamed", (kp_fnptr)k_sum_i32, KP_T_F64, unnamed, 2);
    call_fails(&k, args, 1, *state, KPOOL_EINPUT,
               "the tuple has 1 value; the kernel takes 2 (f64, i32[])");

    prepare(&k, "greet", (kp_fnptr)k_str_greet, KP_T_STR, NULL, 0);
    call_fails(&k, args, 1, *state, KPOOL_EINPUT, "the tuple has 1 value; the kernel takes none");
}

static void test_call_conversion_error_does_not_call(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I32, false, "by"}};
    prepare(&k, "count", (kp_fnptr)k_void_count, KP_T_VOID, ps, 1);
    kp_value args[1] = {str_value("many")};
    call_fails(&k, args, 1, *state, KPOOL_ETYPE, "argument 1 (by): \"many\" is not a number");
    assert_int_equal(void_calls, 0);

    const pspec pr[] = {
        {KP_T_I64, true, "row"}, {KP_T_I64, false, "minimum"}, {KP_T_I64, false, "maximum"}};
    prepare(&k, "howmany_within_range", (kp_fnptr)howmany_within_range, KP_T_I64, pr, 3);
    kp_value seed[3] = {int_value(7), int_value(4), int_value(8)};
    call_fails(&k, seed, 3, *state, KPOOL_ETYPE,
               "argument 1 (row): expected a list for i64[], got an integer");
    assert_null(last_data);
}

static void test_call_unprepared_or_copied_kernel(void **state)
{
    kp_kernel *k = calloc(1, sizeof *k);
    kp_kernel *copy = malloc(sizeof *copy);
    assert_non_null(k);
    assert_non_null(copy);
    snprintf(k->name, sizeof k->name, "count");
    k->fn = (kp_fnptr)k_void_count;
    k->sig.nparams = 1;
    k->sig.params[0].type = KP_T_I32;
    kp_value args[1] = {int_value(1)};
    call_fails(k, args, 1, *state, KPOOL_EINVAL,
               "kernel 'count' is not prepared (or was copied after kp_kernel_prepare)");

    kp_err err;
    assert_int_equal(kp_kernel_prepare(k, &err), 0);
    memcpy(copy, k, sizeof *copy);
    call_fails(copy, args, 1, *state, KPOOL_EINVAL,
               "kernel 'count' is not prepared (or was copied after kp_kernel_prepare)");
    assert_int_equal(void_calls, 0);
    free(copy);
    free(k);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_prepare_builds_ffi_types),
        TEST(test_prepare_void_and_no_parameters),
        TEST(test_prepare_errors),
        TEST(test_call_i8_negative_return),
        TEST(test_call_u8_return),
        TEST(test_call_i16_negative_return),
        TEST(test_call_u16_returns_65535),
        TEST(test_call_i32_and_u32),
        TEST(test_call_i64_and_u64),
        TEST(test_call_f32_and_f64),
        TEST(test_call_bool_returns_true),
        TEST(test_call_str_parameter_and_return),
        TEST(test_call_void_kernel),
        TEST(test_call_mixed_registers_and_stack),
        TEST(test_call_seed_kernel_with_nums_is_zero_copy),
        TEST(test_call_seed_kernel_with_list_and_csv_fields),
        TEST(test_call_sum_kernels_every_element_type),
        TEST(test_call_sum_kernels_zero_copy_every_matching_type),
        TEST(test_call_nums_of_another_type_is_converted),
        TEST(test_call_unaligned_nums_is_copied),
        TEST(test_call_bool_nums_with_other_bytes_is_normalised),
        TEST(test_call_empty_array),
        TEST(test_convert_integer_ranges),
        TEST(test_convert_error_names_parameter_and_position),
        TEST(test_convert_integer_to_bool_and_floats),
        TEST(test_convert_float_to_integers),
        TEST(test_convert_float_to_floats_and_bool),
        TEST(test_convert_bool),
        TEST(test_convert_text_to_numbers),
        TEST(test_convert_text_to_bool),
        TEST(test_convert_text_to_str_is_as_is),
        TEST(test_convert_wrong_kinds),
        TEST(test_convert_unknown_value_kind),
        TEST(test_convert_index_beyond_signature),
        TEST(test_convert_with_null_err),
        TEST(test_convert_array_errors),
        TEST(test_convert_array_from_list_values),
        TEST(test_call_wrong_arity),
        TEST(test_call_conversion_error_does_not_call),
        TEST(test_call_unprepared_or_copied_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
