/* test_input_npy.c - .npy inputs: versions, dtypes, header variants, errors.
 *
 * Every file is built by the test itself, byte by byte, in a temporary folder. */
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

#define INPUT_FIXTURE_DIR "input_npy"
#include "input_fixture.h"

/* Builds an npy file: magic, version major.0, the header length, `dict`
 * padded with spaces and a newline so that the data starts at a multiple of
 * `align` (0: no padding, just the newline), then `data`. */
static unsigned char *build_npy(size_t *len, int major, const char *dict, size_t align,
                                const void *data, size_t dlen)
{
    size_t prefix = major == 1 ? 10 : 12;
    size_t total = prefix + strlen(dict) + 1;
    if (align)
        total = (total + align - 1) / align * align;
    size_t hlen = total - prefix;
    unsigned char *b = malloc(total + dlen + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    b[8] = (unsigned char)(hlen & 0xff);
    b[9] = (unsigned char)(hlen >> 8);
    if (major != 1) {
        b[10] = (unsigned char)(hlen >> 16);
        b[11] = (unsigned char)(hlen >> 24);
    }
    memset(b + prefix, ' ', hlen);
    memcpy(b + prefix, dict, strlen(dict));
    b[total - 1] = '\n';
    if (dlen)
        memcpy(b + total, data, dlen);
    *len = total + dlen;
    return b;
}

/* Writes an npy file and opens it (format AUTO by its .npy name). */
static int open_npy(kp_input **in, kp_err *err, const char *name, int major, const char *dict,
                    const void *data, size_t dlen)
{
    size_t len;
    unsigned char *b = build_npy(&len, major, dict, 64, data, dlen);
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, name, b, len);
    free(b);
    kp_input_config cfg = {.path = path, .format = KP_IN_AUTO};
    kp_err_clear(err);
    return kp_input_open(in, &cfg, err);
}

/* Opens an npy file that must fail; returns its message for strstr checks. */
static const char *npy_error(kp_err *err, const char *name, int major, const char *dict,
                             const void *data, size_t dlen)
{
    kp_input *in = NULL;
    int rc = open_npy(&in, err, name, major, dict, data, dlen);
    assert_true(rc < 0);
    assert_int_equal(rc, err->code);
    assert_null(in);
    return err->msg;
}

static void test_npy_v1_2d_int64_rows_point_into_map(void **state)
{
    (void)state;
    int64_t data[3][4];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            data[r][c] = r * 10 + c - 5;
    kp_input *in;
    kp_err err;
    assert_int_equal(open_npy(&in, &err, "v1.npy", 1,
                              "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), }", data,
                              sizeof data),
                     0);
    assert_int_equal(kp_input_count(in), 3);
    assert_int_equal(kp_input_format_of(in), KP_IN_NPY);
    kp_arena a;
    kp_arena_init(&a);
    kp_value v;
    const void *first = NULL;
    for (size_t r = 0; r < 3; r++) {
        assert_int_equal(kp_input_record(in, r, &a, &v, &err), 0);
        assert_int_equal(v.kind, KP_V_NUMS);
        assert_int_equal(v.as.nums.type, KP_T_I64);
        assert_int_equal(v.as.nums.len, 4);
        assert_memory_equal(v.as.nums.data, data[r], sizeof data[r]);
        /* Rows are consecutive in the mapping: no copy was made. */
        if (r == 0)
            first = v.as.nums.data;
        else
            assert_ptr_equal(v.as.nums.data, (const char *)first + r * sizeof data[0]);
        /* Data starts at a multiple of 64 in the file, hence aligned. */
        assert_int_equal((uintptr_t)v.as.nums.data % 8, 0);
    }
    assert_null(a.head); /* nothing taken from the arena */
    char desc[256];
    kp_input_describe(in, desc, sizeof desc);
    assert_non_null(strstr(desc, "v1.npy: npy v1.0, 3 rows x 4 <i8"));
    kp_input_close(in);
    kp_arena_free(&a);
}

static void test_npy_v2_and_v3_headers(void **state)
{
    (void)state;
    double d[2][2] = {{1.5, -2.25}, {1e300, 0.0}};
    kp_input *in;
    kp_err err;
    kp_value v;
    assert_int_equal(open_npy(&in, &err, "v2.npy", 2,
                              "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", d,
                              sizeof d),
                     0);
    assert_int_equal(kp_input_count(in), 2);
    assert_int_equal(kp_input_record(in, 1, NULL, &v, &err), 0);
    assert_int_equal(v.kind, KP_V_NUMS);
    assert_int_equal(v.as.nums.type, KP_T_F64);
    assert_memory_equal(v.as.nums.data, d[1], sizeof d[1]);
    char desc[256];
    kp_input_describe(in, desc, sizeof desc);
    assert_non_null(strstr(desc, "npy v2.0, 2 rows x 2 <f8"));
    kp_input_close(in);

    int32_t i[3] = {7, -8, 2147483647};
    assert_int_equal(open_npy(&in, &err, "v3.npy", 3,
                              "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", i,
                              sizeof i),
                     0);
    assert_int_equal(kp_input_count(in), 3);
    assert_int_equal(kp_input_record(in, 2, NULL, &v, &err), 0);
    assert_int_equal(v.kind, KP_V_INT);
    assert_int_equal(v.as.i, 2147483647);
    kp_input_describe(in, desc, sizeof desc);
    assert_non_null(strstr(desc, "v3.npy: npy v3.0, 3 values of <i4"));
    kp_input_close(in);
}

/* One 1-D dtype: the first record must be `kind` with the given payload. */
static void check_scalar(const char *descr, const void *data, size_t size, kp_vkind kind, int64_t i,
                         uint64_t u, double f, bool b)
{
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }", descr);
    kp_input *in;
    kp_err err;
    assert_int_equal(open_npy(&in, &err, "scalar.npy", 1, dict, data, size), 0);
    kp_value v;
    assert_int_equal(kp_input_record(in, 0, NULL, &v, &err), 0);
    assert_int_equal(v.kind, kind);
    switch (kind) {
    case KP_V_INT:
        assert_int_equal(v.as.i, i);
        break;
    case KP_V_UINT:
        assert_int_equal(v.as.u, u);
        break;
    case KP_V_FLOAT:
        assert_true(v.as.f == f);
        break;
    case KP_V_BOOL:
        assert_int_equal(v.as.b, b);
        break;
    default:
        fail();
    }
    kp_input_close(in);
}

static void test_npy_1d_scalars_of_every_dtype(void **state)
{
    (void)state;
    int8_t i1 = -100;
    int16_t i2 = -30000;
    int32_t i4 = -2000000000;
    int64_t i8 = INT64_MIN;
    uint8_t u1 = 250;
    uint16_t u2 = 65000;
    uint32_t u4 = 4000000000u;
    uint64_t u8small = 42, u8big = UINT64_MAX - 1;
    float f4 = 1.5f;
    double f8 = -0.125;
    unsigned char yes = 1, no = 0;
    check_scalar("|i1", &i1, 1, KP_V_INT, -100, 0, 0, false);
    check_scalar("<i1", &i1, 1, KP_V_INT, -100, 0, 0, false);
    check_scalar(">i1", &i1, 1, KP_V_INT, -100, 0, 0, false); /* one byte: no order */
    check_scalar("<i2", &i2, 2, KP_V_INT, -30000, 0, 0, false);
    check_scalar("<i4", &i4, 4, KP_V_INT, -2000000000, 0, 0, false);
    check_scalar("<i8", &i8, 8, KP_V_INT, INT64_MIN, 0, 0, false);
    check_scalar("=i8", &i8, 8, KP_V_INT, INT64_MIN, 0, 0, false);
    check_scalar("|u1", &u1, 1, KP_V_INT, 250, 0, 0, false);
    check_scalar("<u1", &u1, 1, KP_V_INT, 250, 0, 0, false);
    check_scalar("<u2", &u2, 2, KP_V_INT, 65000, 0, 0, false);
    check_scalar("<u4", &u4, 4, KP_V_INT, 4000000000, 0, 0, false);
    check_scalar("<u8", &u8small, 8, KP_V_INT, 42, 0, 0, false);
    check_scalar("<u8", &u8big, 8, KP_V_UINT, 0, UINT64_MAX - 1, 0, false);
    check_scalar("<f4", &f4, 4, KP_V_FLOAT, 0, 0, 1.5, false);
    check_scalar("<f8", &f8, 8, KP_V_FLOAT, 0, 0, -0.125, false);
    check_scalar("|b1", &yes, 1, KP_V_BOOL, 0, 0, 0, true);
    check_scalar("|b1", &no, 1, KP_V_BOOL, 0, 0, 0, false);
    check_scalar("?", &yes, 1, KP_V_BOOL, 0, 0, 0, true);
}

static void test_npy_2d_dtypes_map_to_types(void **state)
{
    (void)state;
    static const struct {
        const char *descr;
        kp_type type;
        size_t size;
    } cases[] = {
        {"|i1", KP_T_I8, 1},   {"<i2", KP_T_I16, 2}, {"<i4", KP_T_I32, 4}, {"<u1", KP_T_U8, 1},
        {"<u2", KP_T_U16, 2},  {"<u4", KP_T_U32, 4}, {"<u8", KP_T_U64, 8}, {"<f4", KP_T_F32, 4},
        {"|b1", KP_T_BOOL, 1}, {"?", KP_T_BOOL, 1},
    };
    unsigned char data[2 * 3 * 8];
    for (size_t k = 0; k < sizeof data; k++)
        data[k] = (unsigned char)(k % 2);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }",
                 cases[c].descr);
        kp_input *in;
        kp_err err;
        assert_int_equal(open_npy(&in, &err, "types.npy", 1, dict, data, 6 * cases[c].size), 0);
        kp_value v;
        assert_int_equal(kp_input_record(in, 1, NULL, &v, &err), 0);
        assert_int_equal(v.kind, KP_V_NUMS);
        assert_int_equal(v.as.nums.type, cases[c].type);
        assert_int_equal(v.as.nums.len, 3);
        assert_memory_equal(v.as.nums.data, data + 3 * cases[c].size, 3 * cases[c].size);
        kp_input_close(in);
    }
}

static void test_npy_header_variants_parse(void **state)
{
    (void)state;
    static const char *dicts[] = {
        "{'shape': (2, 2), 'fortran_order': False, 'descr': '<i8'}",
        "{\"descr\":\"<i8\",\"fortran_order\":False,\"shape\":(2,2)}",
        "{ 'fortran_order' : False ,\t'descr' : '<i8' ,\n 'shape' : ( 2 , 2 , ) , }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 2L), }",
        "{'descr':'<i8','shape':(2,2),'fortran_order':False,}",
    };
    int64_t data[4] = {1, 2, 3, 4};
    for (size_t k = 0; k < sizeof dicts / sizeof dicts[0]; k++) {
        kp_input *in;
        kp_err err;
        int rc = open_npy(&in, &err, "variant.npy", 1, dicts[k], data, sizeof data);
        if (rc != 0)
            print_error("dict %zu: %s\n", k, err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(kp_input_count(in), 2);
        kp_value v;
        assert_int_equal(kp_input_record(in, 1, NULL, &v, &err), 0);
        assert_int_equal(v.as.nums.len, 2);
        assert_memory_equal(v.as.nums.data, data + 2, 16);
        kp_input_close(in);
    }
}

static void test_npy_header_without_padding_is_read(void **state)
{
    (void)state;
    /* No alignment padding: the data may start at any byte. */
    int64_t data[2] = {-1, 123456789012345};
    size_t len;
    unsigned char *b = build_npy(
        &len, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2)}", 0, data, sizeof data);
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, "unaligned.npy", b, len);
    free(b);
    kp_input_config cfg = {.path = path, .format = KP_IN_NPY};
    kp_input *in;
    kp_err err;
    assert_int_equal(kp_input_open(&in, &cfg, &err), 0);
    kp_value v;
    assert_int_equal(kp_input_record(in, 0, NULL, &v, &err), 0);
    assert_int_equal(v.kind, KP_V_NUMS);
    int64_t got[2];
    memcpy(got, v.as.nums.data, sizeof got); /* the consumer copies misaligned rows */
    assert_int_equal(got[0], -1);
    assert_int_equal(got[1], 123456789012345);
    kp_input_close(in);
}

static void test_npy_scalar_shape_is_one_record(void **state)
{
    (void)state;
    double x = 3.25;
    kp_input *in;
    kp_err err;
    assert_int_equal(open_npy(&in, &err, "s.npy", 1,
                              "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &x,
                              sizeof x),
                     0);
    assert_int_equal(kp_input_count(in), 1);
    kp_value v;
    assert_int_equal(kp_input_record(in, 0, NULL, &v, &err), 0);
    assert_int_equal(v.kind, KP_V_FLOAT);
    assert_true(v.as.f == 3.25);
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_non_null(strstr(desc, "one <f8 scalar"));
    kp_input_close(in);
}

static void test_npy_empty_shapes(void **state)
{
    (void)state;
    kp_input *in;
    kp_err err;
    kp_value v;
    assert_int_equal(open_npy(&in, &err, "e1.npy", 1,
                              "{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", NULL, 0),
                     0);
    assert_int_equal(kp_input_count(in), 0);
    assert_int_equal(kp_input_record(in, 0, NULL, &v, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "record 0 does not exist"));
    kp_input_close(in);

    assert_int_equal(open_npy(&in, &err, "e2.npy", 1,
                              "{'descr': '<i8', 'fortran_order': False, 'shape': (0, 5), }", NULL,
                              0),
                     0);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);

    /* Rows of no columns are still records: empty arrays. */
    assert_int_equal(open_npy(&in, &err, "e3.npy", 1,
                              "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 0), }", NULL,
                              0),
                     0);
    assert_int_equal(kp_input_count(in), 3);
    assert_int_equal(kp_input_record(in, 2, NULL, &v, &err), 0);
    assert_int_equal(v.kind, KP_V_NUMS);
    assert_int_equal(v.as.nums.len, 0);
    kp_input_close(in);
}

static void test_npy_fortran_order(void **state)
{
    (void)state;
    int64_t data[6] = {1, 2, 3, 4, 5, 6};
    kp_input *in;
    kp_err err;
    /* 1-D, and 2-D with one row: the same bytes in either order. */
    assert_int_equal(open_npy(&in, &err, "f1.npy", 1,
                              "{'descr': '<i8', 'fortran_order': True, 'shape': (6,), }", data,
                              sizeof data),
                     0);
    assert_int_equal(kp_input_count(in), 6);
    kp_input_close(in);
    assert_int_equal(open_npy(&in, &err, "f2.npy", 1,
                              "{'descr': '<i8', 'fortran_order': True, 'shape': (1, 6), }", data,
                              sizeof data),
                     0);
    kp_input_close(in);
    const char *msg =
        npy_error(&err, "f3.npy", 1, "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }",
                  data, sizeof data);
    assert_non_null(strstr(msg, "f3.npy: "));
    assert_non_null(strstr(msg, "Fortran (column-major) order"));
    assert_non_null(strstr(msg, "np.ascontiguousarray"));
    assert_int_equal(err.code, KPOOL_EINPUT);
}

static void test_npy_trailing_bytes_are_ignored(void **state)
{
    (void)state;
    int64_t data[3] = {1, 2, 3};
    kp_input *in;
    kp_err err;
    assert_int_equal(open_npy(&in, &err, "t.npy", 1,
                              "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", data,
                              sizeof data),
                     0);
    assert_int_equal(kp_input_count(in), 2);
    kp_input_close(in);
}

static void test_npy_error_not_npy(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    kp_input *in = NULL;
    kp_err err;
    kp_input_config cfg = {.path = path, .format = KP_IN_NPY};

    write_file(path, sizeof path, "bad.npy", "PK\x03\x04 this is a zip", 18);
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EINPUT);
    assert_null(in);
    assert_non_null(strstr(err.msg, "bad.npy: not an npy file"));

    write_file(path, sizeof path, "empty.npy", "", 0);
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EINPUT);
    assert_non_null(strstr(err.msg, "empty.npy: not an npy file"));

    write_file(path, sizeof path, "short.npy", "\x93NUMPY\x01", 7);
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EINPUT);
    assert_non_null(strstr(err.msg, "short.npy: truncated npy file: it ends in the version"));

    write_file(path, sizeof path, "short2.npy", "\x93NUMPY\x02\x00\x10\x00", 10);
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EINPUT);
    assert_non_null(strstr(err.msg, "truncated npy file: it ends in the header length"));

    write_file(path, sizeof path, "v4.npy", "\x93NUMPY\x04\x00\x10\x00", 10);
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EINPUT);
    assert_non_null(strstr(err.msg, "v4.npy: npy format version 4.0 is not supported"));

    write_file(path, sizeof path, "v11.npy", "\x93NUMPY\x01\x01\x10\x00", 10);
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EINPUT);
    assert_non_null(strstr(err.msg, "version 1.1"));
}

static void test_npy_error_truncated_header(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = build_npy(
        &len, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", 64, NULL, 0);
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, "cut.npy", b, 40); /* the header says 118 bytes */
    free(b);
    kp_input_config cfg = {.path = path, .format = KP_IN_AUTO};
    kp_input *in;
    kp_err err;
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EINPUT);
    assert_non_null(strstr(err.msg, "cut.npy: truncated npy header: it says it is 118 bytes long "
                                    "but the file ends after 30"));
}

static void test_npy_error_truncated_data(void **state)
{
    (void)state;
    int64_t data[12] = {0};
    kp_err err;
    const char *msg = npy_error(&err, "data.npy", 1,
                                "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 4), }", data,
                                sizeof data - 8);
    assert_string_equal(strstr(msg, "/data.npy: ") + 1,
                        "data.npy: header says 3 rows of 4 <i8 (96 bytes) but the file "
                        "holds 88 bytes of data");
    msg = npy_error(&err, "one.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
                    data, 19);
    assert_non_null(strstr(msg, "one.npy: header says 5 values of <f4 (20 bytes) but the file "
                                "holds 19 bytes of data"));
    msg = npy_error(&err, "sc.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
                    NULL, 0);
    assert_non_null(strstr(msg, "header says 1 value of <f8 (8 bytes)"));
}

static void test_npy_error_big_endian(void **state)
{
    (void)state;
    int64_t data[2] = {0};
    kp_err err;
    const char *msg =
        npy_error(&err, "be.npy", 1, "{'descr': '>i8', 'fortran_order': False, 'shape': (2,), }",
                  data, sizeof data);
    assert_non_null(strstr(msg, "be.npy: dtype '>i8' is big-endian"));
    assert_non_null(strstr(msg, "arr.astype('<i8')"));
    msg = npy_error(&err, "be4.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                    data, sizeof data);
    assert_non_null(strstr(msg, "arr.astype('<f4')"));
    msg = npy_error(&err, "pipe.npy", 1,
                    "{'descr': '|i8', 'fortran_order': False, 'shape': (2,), }", data, sizeof data);
    assert_non_null(strstr(msg, "pipe.npy: dtype '|i8' does not say its byte order"));
}

static void test_npy_error_unsupported_dtype(void **state)
{
    (void)state;
    unsigned char data[64] = {0};
    static const char *bad[] = {"<c16", "<f2", "|S5", "<U3", "|O", "<i3", "<f16", "<M8"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char dict[128], want[64];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }",
                 bad[k]);
        snprintf(want, sizeof want, "dt.npy: dtype '%s' is not supported", bad[k]);
        kp_err err;
        const char *msg = npy_error(&err, "dt.npy", 1, dict, data, sizeof data);
        assert_non_null(strstr(msg, want));
        assert_non_null(strstr(msg, "i1 i2 i4 i8 u1 u2 u4 u8 f4 f8 and b1"));
    }
    kp_err err;
    const char *msg = npy_error(
        &err, "rec.npy", 1,
        "{'descr': [('a', '<i4'), ('b', '<f8')], 'fortran_order': False, 'shape': (1,), }", data,
        sizeof data);
    assert_non_null(strstr(msg, "rec.npy: structured dtypes"));
}

static void test_npy_error_three_dimensions(void **state)
{
    (void)state;
    int64_t data[24] = {0};
    kp_err err;
    const char *msg = npy_error(&err, "cube.npy", 1,
                                "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3, 4), }",
                                data, sizeof data);
    assert_non_null(strstr(msg, "cube.npy: shape (2, 3, 4) has 3 dimensions"));
}

static void test_npy_error_shape_overflow(void **state)
{
    (void)state;
    kp_err err;
    const char *msg = npy_error(
        &err, "huge.npy", 1,
        "{'descr': '<i8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", NULL, 0);
    assert_non_null(strstr(msg, "huge.npy: shape (4294967296, 4294967296) of <i8 is too large"));
    msg = npy_error(&err, "huge2.npy", 1,
                    "{'descr': '<i8', 'fortran_order': False, 'shape': (2305843009213693952,), }",
                    NULL, 0);
    assert_non_null(strstr(msg, "too large to address"));
    msg = npy_error(&err, "huge3.npy", 1,
                    "{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                    NULL, 0);
    assert_non_null(strstr(msg, "huge3.npy: malformed npy header"));
    assert_non_null(strstr(msg, "a number in 'shape' is too large"));
}

static void test_npy_error_header_garbage(void **state)
{
    (void)state;
    static const struct {
        const char *dict, *want;
    } cases[] = {
        {"('descr', '<i8')", "expected '{'"},
        {"{'descr' '<i8', 'fortran_order': False, 'shape': (1,)}", "expected ':' after a key"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
         "unknown key 'extra'"},
        {"{'descr': '<i8', 'descr': '<i8', 'fortran_order': False, 'shape': (1,)}",
         "'descr' is given twice"},
        {"{'descr': '<i8', 'fortran_order': False}", "the key 'shape' is missing"},
        {"{'fortran_order': False, 'shape': (1,)}", "the key 'descr' is missing"},
        {"{'descr': '<i8', 'shape': (1,)}", "the key 'fortran_order' is missing"},
        {"{'descr': '<i8', 'fortran_order': false, 'shape': (1,)}",
         "'fortran_order' must be True or False"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': [1]}", "'shape' must be a tuple"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (-1,)}",
         "expected a non-negative integer in 'shape'"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (1 2)}", "expected ',' or ')'"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (1,)} junk",
         "unexpected text after the closing '}'"},
        {"{'descr': '<i8' 'fortran_order': False, 'shape': (1,)}", "expected ',' or '}'"},
        {"{'descr: '<i8', 'fortran_order': False, 'shape': (1,)}", "expected ':' after a key"},
        {"{'descr': '<i8", "a string is not closed"},
        {"{descr: '<i8'}", "expected a quoted string"},
        {"{'descr': <i8}", "expected a quoted string"},
        {"", "expected '{'"},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (1,)", "expected ',' or '}'"},
    };
    int64_t data[1] = {0};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        kp_err err;
        const char *msg = npy_error(&err, "garbage.npy", 1, cases[k].dict, data, sizeof data);
        if (!strstr(msg, cases[k].want))
            print_error("case %zu: %s\n", k, msg);
        assert_non_null(strstr(msg, cases[k].want));
        assert_non_null(strstr(msg, "garbage.npy: "));
        assert_int_equal(err.code, KPOOL_EINPUT);
    }
}

static void test_npy_error_names_header_position(void **state)
{
    (void)state;
    int64_t data[1] = {0};
    kp_err err;
    const char *msg = npy_error(&err, "pos.npy", 1, "{'descr': '<i8', 'fortran_order': Maybe}",
                                data, sizeof data);
    assert_non_null(
        strstr(msg, "pos.npy: malformed npy header at character 35 of the header dict"));
}

static void test_npy_describe_truncates_to_buffer(void **state)
{
    (void)state;
    int64_t data[2] = {1, 2};
    kp_input *in;
    kp_err err;
    assert_int_equal(open_npy(&in, &err, "d.npy", 1,
                              "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", data,
                              sizeof data),
                     0);
    char small[8];
    memset(small, 'x', sizeof small);
    kp_input_describe(in, small, sizeof small);
    assert_int_equal(strlen(small), sizeof small - 1);
    kp_input_describe(in, small, 0); /* writes nothing */
    kp_input_close(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_v1_2d_int64_rows_point_into_map),
        cmocka_unit_test(test_npy_v2_and_v3_headers),
        cmocka_unit_test(test_npy_1d_scalars_of_every_dtype),
        cmocka_unit_test(test_npy_2d_dtypes_map_to_types),
        cmocka_unit_test(test_npy_header_variants_parse),
        cmocka_unit_test(test_npy_header_without_padding_is_read),
        cmocka_unit_test(test_npy_scalar_shape_is_one_record),
        cmocka_unit_test(test_npy_empty_shapes),
        cmocka_unit_test(test_npy_fortran_order),
        cmocka_unit_test(test_npy_trailing_bytes_are_ignored),
        cmocka_unit_test(test_npy_error_not_npy),
        cmocka_unit_test(test_npy_error_truncated_header),
        cmocka_unit_test(test_npy_error_truncated_data),
        cmocka_unit_test(test_npy_error_big_endian),
        cmocka_unit_test(test_npy_error_unsupported_dtype),
        cmocka_unit_test(test_npy_error_three_dimensions),
        cmocka_unit_test(test_npy_error_shape_overflow),
        cmocka_unit_test(test_npy_error_header_garbage),
        cmocka_unit_test(test_npy_error_names_header_position),
        cmocka_unit_test(test_npy_describe_truncates_to_buffer),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
