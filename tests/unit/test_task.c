/* The task runner: the row plan (npy rows straight into the kernel's
 * registers) gives every task the outcome the general way gives it, and is
 * taken only where no conversion is needed. Kernels live in this file. */
#include "task.h"

#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef KP_TEST_TMP_DIR
#define KP_TEST_TMP_DIR "/tmp"
#endif

static int64_t within(const int64_t *row, size_t n, int64_t lo, int64_t hi)
{
    int64_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += lo <= row[i] && row[i] <= hi;
    return count;
}

/* Mixes its arguments so that a value in the wrong register shows. */
static double mix(double a, int64_t k, const double *row, size_t n, double b)
{
    double s = a * 3.0 - b * 7.0 + (double)k * 11.0;
    for (size_t i = 0; i < n; i++)
        s = s * 1.5 + row[i];
    return s;
}

static uint64_t pick(uint64_t x, uint64_t y)
{
    return x * 1000003u ^ y;
}

static double square(double x)
{
    return x * x;
}

static int64_t narrow(const int32_t *row, size_t n)
{
    return n ? row[0] : -1;
}

/* Writes an npy v1.0 file of `rows` x `cols` values (cols 0: one dimension)
 * of dtype `descr`, `size` bytes each, from `data`. */
static void write_npy(const char *path, const char *descr, size_t size, size_t rows, size_t cols,
                      const void *data)
{
    char dict[160];
    int n =
        cols ? snprintf(dict, sizeof dict,
                        "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }", descr,
                        rows, cols)
             : snprintf(dict, sizeof dict,
                        "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,), }", descr, rows);
    size_t header = 10 + (size_t)n + 1;
    size_t pad = (64 - header % 64) % 64;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned short hlen = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hlen, 2, 1, f);
    fwrite(dict, 1, (size_t)n, f);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(data, size, rows * (cols ? cols : 1), f);
    fclose(f);
}

typedef struct fixture {
    kp_kernel kernel;
    kp_template args;
    kp_input *input;
    kp_task_ctx ctx;
    char path[PATH_MAX];
} fixture;

/* A fixture over the input `icfg` describes (f->path: an npy file to remove). */
static fixture *prepare(fixture *f, kp_fnptr fn, const char *sig, const char *args,
                        const kp_input_config *icfg)
{
    kp_err err;
    assert_int_equal(kp_signature_parse(sig, &f->kernel.sig, &err), 0);
    f->kernel.fn = fn;
    snprintf(f->kernel.name, sizeof f->kernel.name, "k");
    assert_int_equal(kp_kernel_prepare(&f->kernel, &err), 0);
    assert_int_equal(kp_template_parse(&f->args, args, &err), 0);
    assert_int_equal(kp_input_open(&f->input, icfg, &err), 0);
    f->ctx.input = f->input;
    f->ctx.args = &f->args;
    f->ctx.kernel = &f->kernel;
    kp_arena_init(&f->ctx.arena);
    assert_int_equal(kp_task_prepare(&f->ctx, &err), 0);
    return f;
}

static fixture *make(kp_fnptr fn, const char *sig, const char *args, const char *descr, size_t size,
                     size_t rows, size_t cols, const void *data)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s/kp_test_task_%d.npy", KP_TEST_TMP_DIR, (int)getpid());
    write_npy(f->path, descr, size, rows, cols, data);
    kp_input_config icfg = {.path = f->path};
    return prepare(f, fn, sig, args, &icfg);
}

static void destroy(fixture *f)
{
    kp_task_release(&f->ctx);
    kp_template_free(&f->args);
    kp_input_close(f->input);
    if (f->path[0])
        unlink(f->path);
    free(f);
}

/* Runs every task the row plan's way (and, without an index map, its short
 * way, kp_task_run_value) and the general way; the outcomes must be the
 * same, bit for bit. */
static void assert_same_both_ways(fixture *f, size_t tasks)
{
    assert_true(f->ctx.rows);
    bool short_way = kp_task_fast(&f->ctx);
    assert_int_equal(short_way, !f->ctx.index_map);
    for (size_t i = 0; i < tasks; i++) {
        kp_outcome fast, slow, unused;
        f->ctx.rows = true;
        kp_task_run(&f->ctx, i, &fast);
        uint64_t value = ~UINT64_C(0);
        if (short_way)
            assert_true(kp_task_run_value(&f->ctx, i, &value, &unused));
        f->ctx.rows = false;
        kp_task_run(&f->ctx, i, &slow);
        assert_int_equal(fast.kind, KP_TASK_OK);
        assert_int_equal(slow.kind, KP_TASK_OK);
        assert_int_equal(fast.type, slow.type);
        assert_memory_equal(&fast.value, &slow.value, sizeof fast.value);
        if (short_way)
            assert_memory_equal(&value, &slow.value, sizeof value);
    }
    f->ctx.rows = true;
}

static void test_seed_rows_take_the_plan(void **state)
{
    (void)state;
    int64_t data[40 * 5];
    for (size_t i = 0; i < 40 * 5; i++)
        data[i] = (int64_t)((i * 7919) % 13) - 2;
    fixture *f = make((kp_fnptr)within, "i64 (i64[] row, i64 lo, i64 hi)", "$0, 4, 8", "<i8", 8, 40,
                      5, data);
    assert_same_both_ways(f, 40);
    kp_outcome o;
    kp_task_run(&f->ctx, 3, &o);
    assert_int_equal(o.value.i, within(data + 15, 5, 4, 8));
    destroy(f);
}

static void test_scalars_from_the_row_and_literals_in_their_registers(void **state)
{
    (void)state;
    double data[10 * 4];
    for (size_t i = 0; i < 40; i++)
        data[i] = (double)i * 0.25 - 3.0;
    /* a from $3, k literal, the row, b from $1: every kind of word. */
    fixture *f = make((kp_fnptr)mix, "f64 (f64 a, i64 k, f64[] row, f64 b)", "$3, 5, $0, $1", "<f8",
                      8, 10, 4, data);
    assert_same_both_ways(f, 10);
    kp_outcome o;
    kp_task_run(&f->ctx, 7, &o);
    assert_true(o.value.f64 == mix(data[30], 5, data + 28, 4, data[28]));
    destroy(f);
}

static void test_one_dimension_and_the_index_map(void **state)
{
    (void)state;
    uint64_t data[16];
    for (size_t i = 0; i < 16; i++)
        data[i] = UINT64_MAX - i * 977;
    fixture *f = make((kp_fnptr)pick, "u64 (u64 x, u64 y)", "$0, 42", "<u8", 8, 16, 0, data);
    assert_same_both_ways(f, 16);
    size_t map[3] = {15, 0, 9};
    f->ctx.index_map = map;
    kp_outcome o;
    kp_task_run(&f->ctx, 0, &o);
    assert_int_equal(o.value.u, pick(data[15], 42));
    kp_task_run(&f->ctx, 2, &o);
    assert_int_equal(o.value.u, pick(data[9], 42));
    destroy(f);
}

static void test_conversions_keep_the_general_way(void **state)
{
    (void)state;
    /* An i32 file into an i64 scalar needs a conversion. */
    int32_t small[6] = {1, -2, 3, -4, 5, -6};
    fixture *f = make((kp_fnptr)square, "f64 (f64 x)", "$0", "<i4", 4, 6, 0, small);
    assert_false(f->ctx.rows);
    kp_outcome o;
    kp_task_run(&f->ctx, 3, &o);
    assert_int_equal(o.kind, KP_TASK_OK);
    assert_true(o.value.f64 == 16.0);
    destroy(f);
    /* Rows of i32 into an i32 array: not 8-byte scalars, but a row by
     * address needs no conversion, so the plan takes it. */
    f = make((kp_fnptr)narrow, "i64 (i32[] row)", "$0", "<i4", 4, 3, 2, small);
    assert_same_both_ways(f, 3);
    destroy(f);
    /* f64 rows into an i64 array: converted, the general way. */
    double d[4] = {1, 2, 3, 4};
    f = make((kp_fnptr)within, "i64 (i64[] row, i64 lo, i64 hi)", "$0, 1, 2", "<f8", 8, 2, 2, d);
    assert_false(f->ctx.rows);
    kp_task_run(&f->ctx, 0, &o);
    assert_int_equal(o.kind, KP_TASK_OK);
    assert_int_equal(o.value.i, 2);
    destroy(f);
}

static int64_t affine(int64_t x, int64_t a)
{
    /* Wraps around, as the bits do (no signed overflow). */
    return (int64_t)((uint64_t)x * (uint64_t)a + 1u);
}

static int32_t half(int32_t x)
{
    return x / 2;
}

/* Results of every width: the short way must widen them as the general
 * way does. */
static int8_t low8(int64_t x)
{
    return (int8_t)(x * 37);
}

static uint16_t low16(int64_t x)
{
    return (uint16_t)(x * 4099);
}

static float third(int64_t x)
{
    return (float)x / 3.0f;
}

static bool odd(int64_t x)
{
    return x & 1;
}

static int32_t low32(int64_t x)
{
    return (int32_t)(x * 1000003);
}

static uint32_t high32(int64_t x)
{
    return (uint32_t)(x * 2654435761);
}

static uint8_t low_u8(int64_t x)
{
    return (uint8_t)x;
}

static double tenth(int64_t x)
{
    return (double)x / 10.0;
}

/* A fixture over range(start, stop, step). */
static fixture *make_range(kp_fnptr fn, const char *sig, const char *args, int64_t start,
                           int64_t stop, int64_t step)
{
    kp_input_config icfg = {.format = KP_IN_RANGE, .start = start, .stop = stop, .step = step};
    return prepare(calloc(1, sizeof(fixture)), fn, sig, args, &icfg);
}

static void test_range_integers_take_the_plan(void **state)
{
    (void)state;
    fixture *f = make_range((kp_fnptr)affine, "i64 (i64 x, i64 a)", "$0, -3", INT64_MAX - 40,
                            INT64_MIN + 40, -(INT64_C(1) << 58));
    size_t n = kp_input_count(f->input);
    assert_true(n > 30);
    assert_same_both_ways(f, n);
    kp_outcome o;
    kp_task_run(&f->ctx, 2, &o);
    uint64_t x = (uint64_t)(INT64_MAX - 40) - 2 * (UINT64_C(1) << 58);
    assert_int_equal(o.value.i, affine((int64_t)x, -3));
    destroy(f);
    /* An i32 parameter needs the range check of the general way. */
    f = make_range((kp_fnptr)half, "i32 (i32 x)", "$0", 0, 10, 1);
    assert_false(f->ctx.rows);
    kp_task_run(&f->ctx, 9, &o);
    assert_int_equal(o.kind, KP_TASK_OK);
    assert_int_equal(o.value.i, 4);
    destroy(f);
}

static void test_every_result_width_the_short_way(void **state)
{
    (void)state;
    const struct {
        kp_fnptr fn;
        const char *sig;
    } k[] = {{(kp_fnptr)low8, "i8 (i64 x)"},   {(kp_fnptr)low16, "u16 (i64 x)"},
             {(kp_fnptr)third, "f32 (i64 x)"}, {(kp_fnptr)odd, "bool (i64 x)"},
             {(kp_fnptr)low32, "i32 (i64 x)"}, {(kp_fnptr)high32, "u32 (i64 x)"},
             {(kp_fnptr)low_u8, "u8 (i64 x)"}, {(kp_fnptr)tenth, "f64 (i64 x)"}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        fixture *f = make_range(k[i].fn, k[i].sig, "$0", -300, 300, 7);
        assert_true(kp_task_fast(&f->ctx));
        assert_same_both_ways(f, kp_input_count(f->input));
        destroy(f);
    }
    fixture *f = make_range((kp_fnptr)half, "i32 (i32 x)", "$0", -300, 300, 7);
    assert_false(kp_task_fast(&f->ctx)); /* no row plan: a range check */
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_rows_take_the_plan),
        cmocka_unit_test(test_scalars_from_the_row_and_literals_in_their_registers),
        cmocka_unit_test(test_one_dimension_and_the_index_map),
        cmocka_unit_test(test_conversions_keep_the_general_way),
        cmocka_unit_test(test_range_integers_take_the_plan),
        cmocka_unit_test(test_every_result_width_the_short_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
