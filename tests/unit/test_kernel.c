/* test_kernel.c - preparing kernels, converting values and calling them,
 * through libffi and through the direct path.
 *
 * The kernels are ordinary C functions defined here; each test builds a
 * kp_kernel by hand (function pointer and signature), prepares it and calls
 * it with values, as a worker does for one task. The direct path's tests
 * also call kernels of the test plugin, the seed plugin and libm, which are
 * built apart from kpool. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kernel.h"
#include "plugin.h"
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

/* ---- kernels for the direct path ------------------------------------------ */

static int64_t k_i64_weigh6(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f)
{
    return a + 10 * b + 100 * c + 1000 * d + 10000 * e + 100000 * f;
}

/* One integer-class parameter more than there are registers for. */
static int64_t k_i64_weigh7(int64_t a, int64_t b, int64_t c, int64_t d, int64_t e, int64_t f,
                            int64_t g)
{
    return k_i64_weigh6(a, b, c, d, e, f) + 1000000 * g;
}

/* An array takes two integer registers: with five more there are seven. */
static int64_t k_row_and_5(const int64_t *row, size_t n, int64_t a, int64_t b, int64_t c, int64_t d,
                           int64_t e)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += row[i];
    return sum + 10 * a + 100 * b + 1000 * c + 10000 * d + 100000 * e;
}

/* Each narrow type widened to i64 by the callee, and each narrow return
 * cut from an i64 whose upper bits the callee may leave in rax. */
#define NARROW_KERNELS(T, S)                                                                       \
    static int64_t k_widen_##S(T x)                                                                \
    {                                                                                              \
        return (int64_t)x;                                                                         \
    }                                                                                              \
    static T k_low_##S(int64_t x)                                                                  \
    {                                                                                              \
        return (T)x;                                                                               \
    }

NARROW_KERNELS(int8_t, i8)
NARROW_KERNELS(int16_t, i16)
NARROW_KERNELS(int32_t, i32)
NARROW_KERNELS(uint8_t, u8)
NARROW_KERNELS(uint16_t, u16)
NARROW_KERNELS(uint32_t, u32)

static int64_t k_bool_bits(bool a, bool b, bool c)
{
    return a + 2 * b + 4 * c;
}

static bool k_bool_both(bool a, bool b)
{
    return a && b;
}

static double k_f32_to_f64(float x)
{
    return x;
}

static float k_f64_to_f32(double x)
{
    return (float)x;
}

static float k_f32_neg(float x)
{
    return -x;
}

/* Classes interleaved: (f64, i32, f32, i64[], f64, u8). Every term is
 * exact in a double for the values the tests use. */
static double k_interleaved(double a, int32_t b, float c, const int64_t *d, size_t dn, double e,
                            uint8_t f)
{
    double sum = 0;
    for (size_t i = 0; i < dn; i++)
        sum += (double)d[i];
    return a + b * 2.0 + (double)c * 4 + sum * 8 + (double)dn * 16 + e * 32 + f * 64.0;
}

/* Floats first, then integers, returning f32. */
static float k_interleaved_f32(float a, int16_t b, double c, bool d, float e, uint32_t f)
{
    return (float)(a + b * 2.0f + c * 4.0 + d * 8.0f + e * 16.0f + (double)f * 32.0);
}

/* The limit of the direct path: 6 integer-class and 8 floating C parameters. */
static double k_limit(const int64_t *a, size_t an, int32_t b, float x1, uint16_t c, double x2,
                      const char *d, float x3, double x4, int8_t e, double x5, float x6, double x7,
                      double x8)
{
    double sum = 0;
    for (size_t i = 0; i < an; i++)
        sum += (double)a[i];
    return sum + (double)an * 2 + b * 4.0 + c * 8.0 + (double)strlen(d) * 16 + e * 32.0 +
           (double)x1 * 64 + x2 * 128 + (double)x3 * 256 + x4 * 512 + x5 * 1024 +
           (double)x6 * 2048 + x7 * 4096 + x8 * 8192;
}

/* One floating parameter more than there are registers for. */
static double k_f64_weigh9(double a, double b, double c, double d, double e, double f, double g,
                           double h, double i)
{
    return a + b * 2 + c * 4 + d * 8 + e * 16 + f * 32 + g * 64 + h * 128 + i * 256;
}

static const char *k_str_pick(const char *a, const char *b, int32_t which)
{
    return which ? b : a;
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
    /* The direct path's tests expect it on: a KPOOL_LIBFFI_ONLY inherited
     * from the shell would turn it off. */
    unsetenv("KPOOL_LIBFFI_ONLY");
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

/* ---- the direct path -------------------------------------------------------- */

/* Whether kernels whose C parameters fit in registers are called directly
 * on this target (kernel.c decides it the same way). */
#if defined(__x86_64__) && !defined(_WIN32) && !defined(__ILP32__)
#define DIRECT_HERE true
#else
#define DIRECT_HERE false
#endif

/* Calls k as prepared (directly when k->direct), then through libffi, and
 * expects the same result from both; leaves k prepared as before. */
static kp_result call_both(kp_kernel *k, const kp_value *args, size_t n, kp_arena *arena)
{
    bool direct = k->direct;
    kp_result first = call_ok(k, args, n, arena);
    kp_kernel_use_libffi(k);
    assert_false(k->direct);
    kp_result second = call_ok(k, args, n, arena);
    kp_err err;
    kp_err_clear(&err);
    assert_int_equal(kp_kernel_prepare(k, &err), 0);
    assert_int_equal(k->direct, direct);
    assert_int_equal(first.type, second.type);
    if (memcmp(&first.value, &second.value, sizeof first.value) != 0)
        fail_msg("%s: the direct path returned %#llx, libffi %#llx", k->name,
                 (unsigned long long)first.value.u64, (unsigned long long)second.value.u64);
    return first;
}

/* The result of an integer or bool kernel as an i64. */
static int64_t result_i64(const kp_result *r)
{
    switch (r->type) {
    case KP_T_BOOL:
        return r->value.b;
    case KP_T_I8:
        return r->value.i8;
    case KP_T_I16:
        return r->value.i16;
    case KP_T_I32:
        return r->value.i32;
    case KP_T_I64:
        return r->value.i64;
    case KP_T_U8:
        return r->value.u8;
    case KP_T_U16:
        return r->value.u16;
    case KP_T_U32:
        return r->value.u32;
    default:
        fail_msg("result of type %s is not a narrow integer", kp_type_name(r->type));
        return 0;
    }
}

static void test_direct_all_i64(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I64, false, "a"}, {KP_T_I64, false, "b"}, {KP_T_I64, false, "c"},
                        {KP_T_I64, false, "d"}, {KP_T_I64, false, "e"}, {KP_T_I64, false, "f"}};
    prepare(&k, "weigh6", (kp_fnptr)k_i64_weigh6, KP_T_I64, ps, NPARAMS(ps));
    assert_int_equal(k.direct, DIRECT_HERE);
    kp_value args[6] = {int_value(1), int_value(2), int_value(3),
                        int_value(4), int_value(5), int_value(-6)};
    assert_int_equal(call_both(&k, args, 6, *state).value.i64, -545679);

    const pspec one[] = {{KP_T_I64, false, "a"}};
    prepare(&k, "i64_id", (kp_fnptr)k_i64_id, KP_T_I64, one, 1);
    assert_int_equal(k.direct, DIRECT_HERE);
    kp_value low[1] = {int_value(INT64_MIN)};
    assert_true(call_both(&k, low, 1, *state).value.i64 == INT64_MIN);
    const pspec pu[] = {{KP_T_U64, false, "a"}};
    prepare(&k, "u64_id", (kp_fnptr)k_u64_id, KP_T_U64, pu, 1);
    kp_value big[1] = {uint_value(UINT64_MAX)};
    assert_true(call_both(&k, big, 1, *state).value.u64 == UINT64_MAX);
}

static void test_direct_seed_shape(void **state)
{
    kp_kernel k;
    const pspec ps[] = {
        {KP_T_I64, true, "row"}, {KP_T_I64, false, "minimum"}, {KP_T_I64, false, "maximum"}};
    prepare(&k, "howmany_within_range", (kp_fnptr)howmany_within_range, KP_T_I64, ps, 3);
    assert_int_equal(k.direct, DIRECT_HERE);
    int64_t row[5] = {5, 6, 7, 0, 9};
    kp_value args[3] = {nums_value(row, 5, KP_T_I64), int_value(4), int_value(8)};
    assert_int_equal(call_both(&k, args, 3, *state).value.i64, 3);
    assert_ptr_equal(last_data, row);
    kp_value wide[3] = {nums_value(row, 5, KP_T_I64), int_value(-1), int_value(100)};
    assert_int_equal(call_both(&k, wide, 3, *state).value.i64, 5);
    kp_value empty[3] = {nums_value(row, 0, KP_T_I64), int_value(4), int_value(8)};
    assert_int_equal(call_both(&k, empty, 3, *state).value.i64, 0);
}

static void test_direct_seed_plugin_kernel_is_direct(void **state)
{
    kp_plugin p;
    kp_kernel k;
    kp_err err;
    kp_err_clear(&err);
    assert_int_equal(kp_plugin_open(&p, KP_SOURCE_DIR "/plugins/libseed.so", &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "howmany_within_range", NULL, &k, &err), 0);
    assert_int_equal(k.direct, DIRECT_HERE);
    int64_t row[5] = {5, 6, 7, 0, 9};
    kp_value args[3] = {nums_value(row, 5, KP_T_I64), int_value(4), int_value(8)};
    assert_int_equal(call_both(&k, args, 3, *state).value.i64, 3);
    assert_int_equal(kp_plugin_kernel(&p, "howmany_within_range_rowonly", NULL, &k, &err), 0);
    assert_int_equal(k.direct, DIRECT_HERE);
    assert_int_equal(call_both(&k, args, 1, *state).value.i64, 3);
    kp_plugin_close(&p);
}

static void test_direct_narrow_integer_arguments_and_returns(void **state)
{
    static const struct {
        kp_type type;
        kp_fnptr widen, low;
        int64_t values[3]; /* min, -1 (or a middle value), max */
        uint64_t mask;
    } cases[] = {
        {KP_T_I8, (kp_fnptr)k_widen_i8, (kp_fnptr)k_low_i8, {INT8_MIN, -1, INT8_MAX}, 0xff},
        {KP_T_I16, (kp_fnptr)k_widen_i16, (kp_fnptr)k_low_i16, {INT16_MIN, -1, INT16_MAX}, 0xffff},
        {KP_T_I32,
         (kp_fnptr)k_widen_i32,
         (kp_fnptr)k_low_i32,
         {INT32_MIN, -1, INT32_MAX},
         0xffffffff},
        {KP_T_U8, (kp_fnptr)k_widen_u8, (kp_fnptr)k_low_u8, {0, 128, UINT8_MAX}, 0xff},
        {KP_T_U16, (kp_fnptr)k_widen_u16, (kp_fnptr)k_low_u16, {0, 32768, UINT16_MAX}, 0xffff},
        {KP_T_U32,
         (kp_fnptr)k_widen_u32,
         (kp_fnptr)k_low_u32,
         {0, 2147483648LL, UINT32_MAX},
         0xffffffff},
    };
    for (size_t c = 0; c < NPARAMS(cases); c++) {
        const char *t = kp_type_name(cases[c].type);
        kp_kernel widen, low;
        const pspec narrow[] = {{cases[c].type, false, "x"}};
        const pspec wide[] = {{KP_T_I64, false, "x"}};
        prepare(&widen, t, cases[c].widen, KP_T_I64, narrow, 1);
        prepare(&low, t, cases[c].low, cases[c].type, wide, 1);
        assert_int_equal(widen.direct, DIRECT_HERE);
        assert_int_equal(low.direct, DIRECT_HERE);
        for (size_t v = 0; v < 3; v++) {
            int64_t value = cases[c].values[v];
            kp_value arg[1] = {int_value(value)};
            int64_t got = call_both(&widen, arg, 1, *state).value.i64;
            if (got != value)
                fail_msg("%s argument %lld arrived as %lld", t, (long long)value, (long long)got);
            /* The same low bits under other upper bits, which the callee
             * may leave in rax: the return must be cut to the type. */
            uint64_t bits =
                (0x123456789abcdef0ull & ~cases[c].mask) | ((uint64_t)value & cases[c].mask);
            kp_value noisy[1] = {int_value((int64_t)bits)};
            kp_result r = call_both(&low, noisy, 1, *state);
            assert_int_equal(r.type, cases[c].type);
            if (result_i64(&r) != value)
                fail_msg("%s return of %#llx is %lld, expected %lld", t, (unsigned long long)bits,
                         (long long)result_i64(&r), (long long)value);
        }
    }

    /* Narrow arguments and narrow returns together. */
    kp_kernel k;
    const pspec ps[] = {{KP_T_I8, false, "a"}, {KP_T_I8, false, "b"}};
    prepare(&k, "i8_add", (kp_fnptr)k_i8_add, KP_T_I8, ps, 2);
    kp_value edge[2] = {int_value(-100), int_value(-28)};
    assert_int_equal(call_both(&k, edge, 2, *state).value.i8, -128);
    const pspec pu[] = {{KP_T_U8, false, "a"}, {KP_T_U8, false, "b"}};
    prepare(&k, "u8_add", (kp_fnptr)k_u8_add, KP_T_U8, pu, 2);
    kp_value wrap[2] = {int_value(200), int_value(100)};
    assert_int_equal(call_both(&k, wrap, 2, *state).value.u8, 44);
    const pspec p16[] = {{KP_T_I16, false, "a"}, {KP_T_I16, false, "b"}};
    prepare(&k, "i16_sub", (kp_fnptr)k_i16_sub, KP_T_I16, p16, 2);
    kp_value low16[2] = {int_value(-32768), int_value(0)};
    assert_int_equal(call_both(&k, low16, 2, *state).value.i16, -32768);
}

static void test_direct_bool_arguments_and_returns(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_BOOL, false, "a"}, {KP_T_BOOL, false, "b"}, {KP_T_BOOL, false, "c"}};
    prepare(&k, "bool_bits", (kp_fnptr)k_bool_bits, KP_T_I64, ps, 3);
    assert_int_equal(k.direct, DIRECT_HERE);
    kp_value tft[3] = {bool_value(true), bool_value(false), bool_value(true)};
    assert_int_equal(call_both(&k, tft, 3, *state).value.i64, 5);
    kp_value ftt[3] = {int_value(0), str_value("true"), float_value(1.0)};
    assert_int_equal(call_both(&k, ftt, 3, *state).value.i64, 6);

    const pspec two[] = {{KP_T_BOOL, false, "a"}, {KP_T_BOOL, false, "b"}};
    prepare(&k, "bool_both", (kp_fnptr)k_bool_both, KP_T_BOOL, two, 2);
    assert_int_equal(k.direct, DIRECT_HERE);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            kp_value args[2] = {bool_value(a), bool_value(b)};
            kp_result r = call_both(&k, args, 2, *state);
            assert_int_equal(r.value.b, a && b);
            assert_true(r.value.u8 <= 1);
        }
    const pspec one[] = {{KP_T_BOOL, false, "b"}};
    prepare(&k, "bool_not", (kp_fnptr)k_bool_not, KP_T_BOOL, one, 1);
    kp_value f[1] = {bool_value(false)};
    assert_true(call_both(&k, f, 1, *state).value.b);
}

static void test_direct_f32_and_f64_arguments_and_returns(void **state)
{
    kp_kernel up, down, neg;
    const pspec pf[] = {{KP_T_F32, false, "x"}};
    const pspec pd[] = {{KP_T_F64, false, "x"}};
    prepare(&up, "f32_to_f64", (kp_fnptr)k_f32_to_f64, KP_T_F64, pf, 1);
    prepare(&down, "f64_to_f32", (kp_fnptr)k_f64_to_f32, KP_T_F32, pd, 1);
    prepare(&neg, "f32_neg", (kp_fnptr)k_f32_neg, KP_T_F32, pf, 1);
    assert_int_equal(up.direct, DIRECT_HERE);
    assert_int_equal(down.direct, DIRECT_HERE);
    assert_int_equal(neg.direct, DIRECT_HERE);
    const float values[] = {1.5f, -3.25f, -0.0f, FLT_MAX, FLT_MIN, FLT_TRUE_MIN, INFINITY, NAN};
    for (size_t i = 0; i < NPARAMS(values); i++) {
        kp_value arg[1] = {float_value(values[i])};
        double d = call_both(&up, arg, 1, *state).value.f64;
        float f = call_both(&down, arg, 1, *state).value.f32;
        float n = call_both(&neg, arg, 1, *state).value.f32;
        double want_d = values[i];
        float want_n = -values[i];
        if (memcmp(&d, &want_d, sizeof d) != 0 || memcmp(&f, &values[i], sizeof f) != 0 ||
            memcmp(&n, &want_n, sizeof n) != 0)
            fail_msg("%a: f32 -> f64 gave %a, f64 -> f32 %a, -f32 %a", (double)values[i], d,
                     (double)f, (double)n);
    }

    kp_kernel k;
    const pspec half[] = {{KP_T_F32, false, "x"}};
    prepare(&k, "f32_half", (kp_fnptr)k_f32_half, KP_T_F32, half, 1);
    kp_value three[1] = {float_value(3.0)};
    assert_true(call_both(&k, three, 1, *state).value.f32 == 1.5f);
    const pspec two[] = {{KP_T_F64, false, "x"}, {KP_T_F64, false, "y"}};
    prepare(&k, "f64_mul_add", (kp_fnptr)k_f64_mul_add, KP_T_F64, two, 2);
    kp_value args[2] = {float_value(1.5), int_value(4)};
    assert_true(call_both(&k, args, 2, *state).value.f64 == 6.5);
}

static void test_direct_interleaved_mixes(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_F64, false, "a"}, {KP_T_I32, false, "b"}, {KP_T_F32, false, "c"},
                        {KP_T_I64, true, "d"},  {KP_T_F64, false, "e"}, {KP_T_U8, false, "f"}};
    prepare(&k, "interleaved", (kp_fnptr)k_interleaved, KP_T_F64, ps, NPARAMS(ps));
    assert_int_equal(k.direct, DIRECT_HERE);
    int64_t d[3] = {1, -20, 300};
    kp_value args[6] = {float_value(0.5),           int_value(-7),    float_value(-0.25),
                        nums_value(d, 3, KP_T_I64), float_value(1e6), int_value(255)};
    double want = k_interleaved(0.5, -7, -0.25f, d, 3, 1e6, 255);
    assert_true(want == 0.5 - 14 - 1 + 281 * 8 + 48 + 32e6 + 255 * 64);
    assert_true(call_both(&k, args, 6, *state).value.f64 == want);

    const pspec pf[] = {{KP_T_F32, false, "a"},  {KP_T_I16, false, "b"}, {KP_T_F64, false, "c"},
                        {KP_T_BOOL, false, "d"}, {KP_T_F32, false, "e"}, {KP_T_U32, false, "f"}};
    prepare(&k, "interleaved_f32", (kp_fnptr)k_interleaved_f32, KP_T_F32, pf, NPARAMS(pf));
    assert_int_equal(k.direct, DIRECT_HERE);
    kp_value fargs[6] = {float_value(0.75), int_value(-300), float_value(2.5),
                         bool_value(true),  float_value(-1), int_value(1000)};
    float fwant = k_interleaved_f32(0.75f, -300, 2.5, true, -1.0f, 1000);
    assert_true(fwant == 0.75f - 600 + 10 + 8 - 16 + 32000);
    assert_true(call_both(&k, fargs, 6, *state).value.f32 == fwant);
}

static void test_direct_six_integer_and_eight_float_parameters(void **state)
{
    kp_kernel k;
    const pspec ps[] = {
        {KP_T_I64, true, "a"},   {KP_T_I32, false, "b"},  {KP_T_F32, false, "x1"},
        {KP_T_U16, false, "c"},  {KP_T_F64, false, "x2"}, {KP_T_STR, false, "d"},
        {KP_T_F32, false, "x3"}, {KP_T_F64, false, "x4"}, {KP_T_I8, false, "e"},
        {KP_T_F64, false, "x5"}, {KP_T_F32, false, "x6"}, {KP_T_F64, false, "x7"},
        {KP_T_F64, false, "x8"},
    };
    prepare(&k, "limit", (kp_fnptr)k_limit, KP_T_F64, ps, NPARAMS(ps));
    assert_int_equal(k.n_cargs, 14);
    assert_int_equal(k.direct, DIRECT_HERE);
    int64_t a[2] = {3, 4};
    kp_value args[] = {nums_value(a, 2, KP_T_I64),
                       int_value(-5),
                       float_value(0.5),
                       int_value(65535),
                       float_value(-1),
                       str_value("abc"),
                       float_value(0.25),
                       float_value(2),
                       int_value(-128),
                       float_value(3),
                       float_value(-0.125),
                       float_value(4),
                       float_value(5)};
    double want = k_limit(a, 2, -5, 0.5f, 65535, -1, "abc", 0.25f, 2, -128, 3, -0.125f, 4, 5);
    assert_true(want == 7 + 4 - 20 + 65535 * 8.0 + 48 - 4096 + 32 - 128 + 64 + 1024 + 3072 - 256 +
                            16384 + 40960);
    assert_true(call_both(&k, args, NPARAMS(args), *state).value.f64 == want);
}

static void test_direct_beyond_the_registers_falls_back_to_libffi(void **state)
{
    kp_kernel k;
    const pspec seven[] = {{KP_T_I64, false, "a"}, {KP_T_I64, false, "b"}, {KP_T_I64, false, "c"},
                           {KP_T_I64, false, "d"}, {KP_T_I64, false, "e"}, {KP_T_I64, false, "f"},
                           {KP_T_I64, false, "g"}};
    prepare(&k, "weigh7", (kp_fnptr)k_i64_weigh7, KP_T_I64, seven, NPARAMS(seven));
    assert_false(k.direct);
    kp_value ints[7] = {int_value(1), int_value(2), int_value(3), int_value(4),
                        int_value(5), int_value(6), int_value(-7)};
    assert_int_equal(call_both(&k, ints, 7, *state).value.i64, -6345679);

    const pspec row[] = {{KP_T_I64, true, "row"}, {KP_T_I64, false, "a"}, {KP_T_I64, false, "b"},
                         {KP_T_I64, false, "c"},  {KP_T_I64, false, "d"}, {KP_T_I64, false, "e"}};
    prepare(&k, "row_and_5", (kp_fnptr)k_row_and_5, KP_T_I64, row, NPARAMS(row));
    assert_int_equal(k.n_cargs, 7);
    assert_false(k.direct);
    int64_t r[2] = {1, 2};
    kp_value rargs[6] = {nums_value(r, 2, KP_T_I64),
                         int_value(1),
                         int_value(2),
                         int_value(3),
                         int_value(4),
                         int_value(5)};
    assert_int_equal(call_both(&k, rargs, 6, *state).value.i64, 543213);

    pspec nine[9];
    kp_value fargs[9];
    for (size_t i = 0; i < 9; i++) {
        nine[i] = (pspec){KP_T_F64, false, NULL};
        fargs[i] = float_value(1);
    }
    prepare(&k, "weigh9", (kp_fnptr)k_f64_weigh9, KP_T_F64, nine, 9);
    assert_false(k.direct);
    assert_true(call_both(&k, fargs, 9, *state).value.f64 == 511);

    /* Twenty C parameters, some on the stack. */
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
    assert_false(k.direct);
}

static void test_direct_str_arguments_and_return(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_STR, false, "a"}, {KP_T_STR, false, "b"}, {KP_T_I32, false, "which"}};
    prepare(&k, "str_pick", (kp_fnptr)k_str_pick, KP_T_STR, ps, 3);
    assert_int_equal(k.direct, DIRECT_HERE);
    const char *first = "first", *second = "second";
    kp_value a[3] = {str_value(first), str_value(second), int_value(0)};
    assert_ptr_equal(call_both(&k, a, 3, *state).value.str, first);
    kp_value b[3] = {str_value(first), str_value(second), int_value(-1)};
    assert_ptr_equal(call_both(&k, b, 3, *state).value.str, second);

    const pspec one[] = {{KP_T_STR, false, "s"}};
    prepare(&k, "str_len", (kp_fnptr)k_str_len, KP_T_I64, one, 1);
    kp_value hello[1] = {str_value("hello")};
    assert_int_equal(call_both(&k, hello, 1, *state).value.i64, 5);
    prepare(&k, "greet", (kp_fnptr)k_str_greet, KP_T_STR, NULL, 0);
    assert_int_equal(k.direct, DIRECT_HERE);
    assert_ptr_equal(call_both(&k, NULL, 0, *state).value.str, greeting);
}

static void test_direct_void_return(void **state)
{
    kp_kernel k;
    const pspec ps[] = {{KP_T_I32, false, "by"}};
    prepare(&k, "count", (kp_fnptr)k_void_count, KP_T_VOID, ps, 1);
    assert_int_equal(k.direct, DIRECT_HERE);
    kp_value args[1] = {int_value(-3)};
    kp_result r = call_both(&k, args, 1, *state);
    assert_int_equal(r.type, KP_T_VOID);
    assert_true(r.value.u64 == 0);
    assert_int_equal(void_calls, -6); /* once through each path */
}

static void test_direct_use_libffi_and_environment(void **state)
{
    kp_kernel k;
    kp_err err;
    const pspec ps[] = {{KP_T_I8, false, "a"}, {KP_T_I8, false, "b"}};
    prepare(&k, "i8_add", (kp_fnptr)k_i8_add, KP_T_I8, ps, 2);
    assert_int_equal(k.direct, DIRECT_HERE);
    kp_kernel_use_libffi(&k);
    assert_false(k.direct);
    kp_value args[2] = {int_value(-2), int_value(-3)};
    assert_int_equal(call_ok(&k, args, 2, *state).value.i8, -5);

    /* KPOOL_LIBFFI_ONLY is read when a kernel is prepared. */
    assert_int_equal(setenv("KPOOL_LIBFFI_ONLY", "1", 1), 0);
    assert_int_equal(kp_kernel_prepare(&k, &err), 0);
    assert_false(k.direct);
    assert_int_equal(call_ok(&k, args, 2, *state).value.i8, -5);
    assert_int_equal(setenv("KPOOL_LIBFFI_ONLY", "0", 1), 0);
    assert_int_equal(kp_kernel_prepare(&k, &err), 0);
    assert_int_equal(k.direct, DIRECT_HERE);
    assert_int_equal(setenv("KPOOL_LIBFFI_ONLY", "", 1), 0);
    assert_int_equal(kp_kernel_prepare(&k, &err), 0);
    assert_int_equal(k.direct, DIRECT_HERE);
    unsetenv("KPOOL_LIBFFI_ONLY");
    assert_int_equal(kp_kernel_prepare(&k, &err), 0);
    assert_int_equal(k.direct, DIRECT_HERE);
    assert_int_equal(call_ok(&k, args, 2, *state).value.i8, -5);
}

static void test_direct_plugin_and_foreign_kernels(void **state)
{
    kp_plugin p;
    kp_kernel k;
    kp_err err;
    kp_err_clear(&err);
    assert_int_equal(kp_plugin_open(&p, KP_TEST_PLUGIN_DIR "/libtestkernels.so", &err), 0);

    assert_int_equal(kp_plugin_kernel(&p, "narrow_mix", NULL, &k, &err), 0);
    assert_int_equal(k.direct, DIRECT_HERE);
    kp_value mix[9] = {int_value(-128),      float_value(0.5),  int_value(255),
                       int_value(-32768),    float_value(-2),   int_value(65535),
                       int_value(INT32_MIN), float_value(0.25), bool_value(true)};
    double want =
        -128 + 1 + 255 * 4.0 - 32768 * 8.0 - 32 + 65535 * 32.0 + INT32_MIN * 64.0 + 32 + 256;
    assert_true(call_both(&k, mix, 9, *state).value.f64 == want);

    assert_int_equal(kp_plugin_kernel(&p, "narrow_sum", NULL, &k, &err), 0);
    kp_value sum[3] = {int_value(-128), int_value(255), int_value(-32768)};
    assert_int_equal(call_both(&k, sum, 3, *state).value.i16, -32641);
    kp_value wrap[3] = {int_value(127), int_value(255), int_value(32767)};
    assert_int_equal(call_both(&k, wrap, 3, *state).value.i16, -32767 + 380);

    assert_int_equal(kp_plugin_kernel(&p, "i8_neg", NULL, &k, &err), 0);
    kp_value m127[1] = {int_value(-127)};
    assert_int_equal(call_both(&k, m127, 1, *state).value.i8, 127);
    assert_int_equal(kp_plugin_kernel(&p, "is_even", NULL, &k, &err), 0);
    kp_value four[1] = {int_value(-4)};
    assert_true(call_both(&k, four, 1, *state).value.b);
    assert_int_equal(kp_plugin_kernel(&p, "f32_third", NULL, &k, &err), 0);
    kp_value three[1] = {float_value(-3)};
    assert_true(call_both(&k, three, 1, *state).value.f32 == -1.0f);
    assert_int_equal(kp_plugin_kernel(&p, "greet", NULL, &k, &err), 0);
    kp_value name[1] = {str_value("direct")};
    assert_string_equal(call_both(&k, name, 1, *state).value.str, "hello, direct");
    assert_int_equal(kp_plugin_kernel(&p, "mean", NULL, &k, &err), 0);
    double v[4] = {1, 2, 3, 10};
    kp_value values[1] = {nums_value(v, 4, KP_T_F64)};
    assert_true(call_both(&k, values, 1, *state).value.f64 == 4);
    kp_plugin_close(&p);

    /* A function with no descriptor, typed by the job file's signature. */
    assert_int_equal(kp_plugin_open(&p, "libm.so.6", &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "ldexp", "f64 (f64 x, i32 exp)", &k, &err), 0);
    assert_int_equal(k.direct, DIRECT_HERE);
    kp_value ld[2] = {float_value(0.75), int_value(-3)};
    assert_true(call_both(&k, ld, 2, *state).value.f64 == 0.09375);
    assert_int_equal(kp_plugin_kernel(&p, "powf", "f32 (f32 x, f32 y)", &k, &err), 0);
    kp_value pw[2] = {float_value(1.5), float_value(2)};
    assert_true(call_both(&k, pw, 2, *state).value.f32 == 2.25f);
    kp_plugin_close(&p);
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
        TEST(test_direct_all_i64),
        TEST(test_direct_seed_shape),
        TEST(test_direct_seed_plugin_kernel_is_direct),
        TEST(test_direct_narrow_integer_arguments_and_returns),
        TEST(test_direct_bool_arguments_and_returns),
        TEST(test_direct_f32_and_f64_arguments_and_returns),
        TEST(test_direct_interleaved_mixes),
        TEST(test_direct_six_integer_and_eight_float_parameters),
        TEST(test_direct_beyond_the_registers_falls_back_to_libffi),
        TEST(test_direct_str_arguments_and_return),
        TEST(test_direct_void_return),
        TEST(test_direct_use_libffi_and_environment),
        TEST(test_direct_plugin_and_foreign_kernels),
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
