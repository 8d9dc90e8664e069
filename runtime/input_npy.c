/* input_npy.c - numpy .npy files: header, checks, rows by pointer.
 *
 * The format (numpy's format.py): the magic "\x93NUMPY", a major and minor
 * version byte, the header length (little-endian u16 for 1.0, u32 for 2.0
 * and 3.0), then that many bytes of a Python dict literal such as
 *   {'descr': '<i8', 'fortran_order': False, 'shape': (200000, 5), }
 * padded with spaces and a newline, then the data. Version 3.0 differs from
 * 2.0 only in allowing UTF-8 in the header, which matters for structured
 * dtypes' field names; those are refused anyway.
 *
 * The header is parsed by hand: keys in any order, either quote character,
 * any whitespace, trailing commas, Python 2's "L" after shape numbers.
 * Unknown keys are refused, as numpy itself does.
 *
 * Rows of a 2-D array are handed out as pointers into the mapping. numpy pads
 * the header so that the data starts at a multiple of 64 bytes (16 in files
 * from old versions), which aligns every element; a file written by other
 * tools may not be aligned, in which case a KP_V_NUMS row points at
 * misaligned data and its consumer must copy it before using it as a C array
 * (kp_convert_arg does). Scalars of 1-D arrays are always read with memcpy.
 */
#include "input_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define NPY_MAGIC     "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_DIMS  32

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_ORDER   '>'
#define OTHER_ORDER  '<'
#define HOST_ENDIAN  "big-endian"
#define OTHER_ENDIAN "little-endian"
#else
#define HOST_ORDER   '<'
#define OTHER_ORDER  '>'
#define HOST_ENDIAN  "little-endian"
#define OTHER_ENDIAN "big-endian"
#endif

/* A cursor over the header dict, for error messages that point into it. */
typedef struct hdr {
    const char *p, *begin, *end;
    const char *name;
    kp_err *err;
} hdr;

static int hdr_error(const hdr *h, const char *what)
{
    return kp_err_set(h->err, KPOOL_EINPUT,
                      "%s: malformed npy header at character %zu of the header dict: %s", h->name,
                      (size_t)(h->p - h->begin) + 1, what);
}

static void hdr_skip_space(hdr *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

static bool hdr_eat(hdr *h, char c)
{
    hdr_skip_space(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return true;
    }
    return false;
}

/* Parses a Python string literal in single or double quotes; *s and *len
 * give its raw text (escapes are not decoded: no key or dtype has any). */
static int hdr_string(hdr *h, const char **s, size_t *len)
{
    hdr_skip_space(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return hdr_error(h, "expected a quoted string");
    char q = *h->p++;
    const char *start = h->p;
    while (h->p < h->end && *h->p != q) {
        if (*h->p == '\\' && h->p + 1 < h->end)
            h->p++;
        h->p++;
    }
    if (h->p >= h->end)
        return hdr_error(h, "a string is not closed");
    *s = start;
    *len = (size_t)(h->p - start);
    h->p++;
    return 0;
}

static int hdr_bool(hdr *h, bool *out)
{
    hdr_skip_space(h);
    size_t left = (size_t)(h->end - h->p);
    if (left >= 4 && memcmp(h->p, "True", 4) == 0) {
        h->p += 4;
        *out = true;
    } else if (left >= 5 && memcmp(h->p, "False", 5) == 0) {
        h->p += 5;
        *out = false;
    } else {
        return hdr_error(h, "'fortran_order' must be True or False");
    }
    return 0;
}

/* Parses the shape tuple: "()", "(7,)", "(3, 4)", with an optional trailing
 * comma and Python 2's "L" suffix. */
static int hdr_shape(hdr *h, uint64_t *dims, int *ndim)
{
    if (!hdr_eat(h, '('))
        return hdr_error(h, "'shape' must be a tuple such as (1000, 5)");
    *ndim = 0;
    for (;;) {
        if (hdr_eat(h, ')'))
            return 0;
        hdr_skip_space(h);
        if (h->p >= h->end || !isdigit((unsigned char)*h->p))
            return hdr_error(h, "expected a non-negative integer in 'shape'");
        uint64_t v = 0;
        while (h->p < h->end && isdigit((unsigned char)*h->p)) {
            unsigned d = (unsigned)(*h->p - '0');
            /* numpy itself refuses dimensions above INT64_MAX. */
            if (v > ((uint64_t)INT64_MAX - d) / 10)
                return hdr_error(h, "a number in 'shape' is too large");
            v = v * 10 + d;
            h->p++;
        }
        if (h->p < h->end && (*h->p == 'L' || *h->p == 'l'))
            h->p++;
        if (*ndim == NPY_MAX_DIMS)
            return hdr_error(h, "'shape' has too many dimensions");
        dims[(*ndim)++] = v;
        if (hdr_eat(h, ','))
            continue;
        if (hdr_eat(h, ')'))
            return 0;
        return hdr_error(h, "expected ',' or ')' in 'shape'");
    }
}

/* Copies a dtype string for a message, replacing unprintable bytes. */
static void printable(char *dst, size_t n, const char *s, size_t len)
{
    size_t i = 0;
    for (; i < len && i + 1 < n; i++)
        dst[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
    dst[i] = '\0';
    if (i < len && n > 4)
        memcpy(dst + n - 4, "...", 4);
}

/* Maps a descr such as "<i8" to a kp_type, or explains why it cannot. */
static int parse_descr(const char *s, size_t len, kp_npy_info *info, const char *name, kp_err *err)
{
    char shown[40];
    printable(shown, sizeof shown, s, len);
    if (len == 1 && s[0] == '?') {
        info->type = KP_T_BOOL;
        info->itemsize = 1;
        memcpy(info->descr, "?", 2);
        return 0;
    }
    kp_type type = KP_T_VOID;
    size_t size = 0;
    if (len >= 3 && len <= 4 && strchr("<>|=", s[0]) && isdigit((unsigned char)s[2]) &&
        (len == 3 || isdigit((unsigned char)s[3]))) {
        size = (size_t)(s[2] - '0');
        if (len == 4)
            size = size * 10 + (size_t)(s[3] - '0');
        static const kp_type ints[] = {KP_T_I8, KP_T_I16, KP_T_I32, KP_T_I64};
        static const kp_type uints[] = {KP_T_U8, KP_T_U16, KP_T_U32, KP_T_U64};
        int lg = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : size == 8 ? 3 : -1;
        if (s[1] == 'i' && lg >= 0)
            type = ints[lg];
        else if (s[1] == 'u' && lg >= 0)
            type = uints[lg];
        else if (s[1] == 'f' && size == 4)
            type = KP_T_F32;
        else if (s[1] == 'f' && size == 8)
            type = KP_T_F64;
        else if (s[1] == 'b' && size == 1)
            type = KP_T_BOOL;
    }
    if (type == KP_T_VOID)
        return kp_err_set(err, KPOOL_EINPUT,
                          "%s: dtype '%s' is not supported; kpool reads the numeric dtypes "
                          "i1 i2 i4 i8 u1 u2 u4 u8 f4 f8 and b1 (bool), " HOST_ENDIAN,
                          name, shown);
    if (size > 1 && s[0] == OTHER_ORDER)
        return kp_err_set(err, KPOOL_EINPUT,
                          "%s: dtype '%s' is " OTHER_ENDIAN ", which kpool does not read; "
                          "convert with arr.astype('%c%c%zu') before saving",
                          name, shown, HOST_ORDER, s[1], size);
    if (size > 1 && s[0] == '|')
        return kp_err_set(err, KPOOL_EINPUT,
                          "%s: dtype '%s' does not say its byte order (expected '%c%c%zu')", name,
                          shown, HOST_ORDER, s[1], size);
    info->type = type;
    info->itemsize = size;
    memcpy(info->descr, s, len);
    info->descr[len] = '\0';
    return 0;
}

/* Parses the header dict into *info (type, shape; not the sizes). */
static int parse_header(hdr *h, kp_npy_info *info, uint64_t *dims)
{
    bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
    int rc;
    if (!hdr_eat(h, '{'))
        return hdr_error(h, "expected '{'");
    for (;;) {
        if (hdr_eat(h, '}'))
            break;
        const char *key;
        size_t klen;
        if ((rc = hdr_string(h, &key, &klen)) < 0)
            return rc;
        if (!hdr_eat(h, ':'))
            return hdr_error(h, "expected ':' after a key");
        if (klen == 5 && memcmp(key, "descr", 5) == 0) {
            if (have_descr)
                return hdr_error(h, "'descr' is given twice");
            have_descr = true;
            hdr_skip_space(h);
            if (h->p < h->end && *h->p == '[')
                return kp_err_set(h->err, KPOOL_EINPUT,
                                  "%s: structured dtypes (record arrays) are not supported; "
                                  "save each field as its own column of a plain array",
                                  h->name);
            const char *d;
            size_t dlen;
            if ((rc = hdr_string(h, &d, &dlen)) < 0)
                return rc;
            if ((rc = parse_descr(d, dlen, info, h->name, h->err)) < 0)
                return rc;
        } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) {
            if (have_fortran)
                return hdr_error(h, "'fortran_order' is given twice");
            have_fortran = true;
            if ((rc = hdr_bool(h, &fortran)) < 0)
                return rc;
        } else if (klen == 5 && memcmp(key, "shape", 5) == 0) {
            if (have_shape)
                return hdr_error(h, "'shape' is given twice");
            have_shape = true;
            if ((rc = hdr_shape(h, dims, &info->ndim)) < 0)
                return rc;
        } else {
            char shown[40];
            printable(shown, sizeof shown, key, klen);
            char what[96];
            snprintf(what, sizeof what, "unknown key '%s'", shown);
            h->p = key;
            return hdr_error(h, what);
        }
        if (hdr_eat(h, ','))
            continue;
        if (hdr_eat(h, '}'))
            break;
        return hdr_error(h, "expected ',' or '}'");
    }
    hdr_skip_space(h);
    if (h->p != h->end)
        return hdr_error(h, "unexpected text after the closing '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return kp_err_set(h->err, KPOOL_EINPUT, "%s: malformed npy header: the key '%s' is missing",
                          h->name,
                          !have_descr     ? "descr"
                          : !have_fortran ? "fortran_order"
                                          : "shape");
    /* A 2-D array with one row or one column has the same layout in both orders. */
    if (fortran && info->ndim == 2 && dims[0] > 1 && dims[1] > 1)
        return kp_err_set(h->err, KPOOL_EINPUT,
                          "%s: the array is in Fortran (column-major) order; kpool reads rows of "
                          "C-order arrays: save np.ascontiguousarray(arr) instead",
                          h->name);
    return 0;
}

static void format_shape(char *buf, size_t n, const uint64_t *dims, int ndim)
{
    size_t used = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%llu", i ? ", " : "",
                                 (unsigned long long)dims[i]);
    if (used < n)
        snprintf(buf + used, n - used, ndim == 1 ? ",)" : ")");
}

int kp_npy_index(kp_input *in, kp_err *err)
{
    kp_npy_info *info = &in->u.npy;
    const unsigned char *m = in->map;
    if (in->size < NPY_MAGIC_LEN || memcmp(m, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return kp_err_set(err, KPOOL_EINPUT,
                          "%s: not an npy file (it does not start with \\x93NUMPY)", in->name);
    if (in->size < NPY_MAGIC_LEN + 2)
        return kp_err_set(err, KPOOL_EINPUT, "%s: truncated npy file: it ends in the version",
                          in->name);
    info->major = m[6];
    info->minor = m[7];
    if (info->major < 1 || info->major > 3 || info->minor != 0)
        return kp_err_set(err, KPOOL_EINPUT,
                          "%s: npy format version %d.%d is not supported (kpool reads 1.0, 2.0 "
                          "and 3.0)",
                          in->name, info->major, info->minor);
    size_t prefix = info->major == 1 ? 10 : 12;
    if (in->size < prefix)
        return kp_err_set(err, KPOOL_EINPUT, "%s: truncated npy file: it ends in the header length",
                          in->name);
    size_t hlen = info->major == 1 ? (size_t)m[8] | (size_t)m[9] << 8
                                   : (size_t)m[8] | (size_t)m[9] << 8 | (size_t)m[10] << 16 |
                                         (size_t)m[11] << 24;
    if (hlen > in->size - prefix)
        return kp_err_set(err, KPOOL_EINPUT,
                          "%s: truncated npy header: it says it is %zu bytes long but the file "
                          "ends after %zu",
                          in->name, hlen, in->size - prefix);
    info->data_offset = prefix + hlen;

    uint64_t dims[NPY_MAX_DIMS];
    hdr h = {(const char *)m + prefix, (const char *)m + prefix, (const char *)m + prefix + hlen,
             in->name, err};
    int rc = parse_header(&h, info, dims);
    if (rc < 0)
        return rc;
    char shape[256];
    format_shape(shape, sizeof shape, dims, info->ndim);
    if (info->ndim > 2)
        return kp_err_set(err, KPOOL_EINPUT,
                          "%s: shape %s has %d dimensions; kpool reads 1-D arrays (one number "
                          "per record) and 2-D arrays (one row per record)",
                          in->name, shape, info->ndim);
    uint64_t rows = info->ndim >= 1 ? dims[0] : 1;
    uint64_t cols = info->ndim == 2 ? dims[1] : 1;
    if (rows > SIZE_MAX || cols > SIZE_MAX || (cols && rows > SIZE_MAX / cols) ||
        (rows * cols > SIZE_MAX / info->itemsize))
        return kp_err_set(err, KPOOL_EINPUT, "%s: shape %s of %s is too large to address", in->name,
                          shape, info->descr);
    info->rows = (size_t)rows;
    info->cols = (size_t)cols;
    size_t need = info->rows * info->cols * info->itemsize;
    size_t have = in->size - info->data_offset;
    if (have < need) {
        if (info->ndim == 2)
            return kp_err_set(err, KPOOL_EINPUT,
                              "%s: header says %zu rows of %zu %s (%zu bytes) but the file holds "
                              "%zu bytes of data",
                              in->name, info->rows, info->cols, info->descr, need, have);
        return kp_err_set(err, KPOOL_EINPUT,
                          "%s: header says %zu value%s of %s (%zu bytes) but the file holds %zu "
                          "bytes of data",
                          in->name, info->rows, info->rows == 1 ? "" : "s", info->descr, need,
                          have);
    }
    in->count = info->rows;
    return 0;
}

int kp_npy_record(const kp_input *in, size_t index, kp_value *out, kp_err *err)
{
    const kp_npy_info *info = &in->u.npy;
    const unsigned char *p = in->map + info->data_offset + index * info->cols * info->itemsize;
    if (info->ndim == 2) {
        out->kind = KP_V_NUMS;
        out->as.nums.data = p;
        out->as.nums.len = info->cols;
        out->as.nums.type = info->type;
        return 0;
    }
    switch (info->type) {
    case KP_T_BOOL:
        out->kind = KP_V_BOOL;
        out->as.b = *p != 0;
        return 0;
    case KP_T_I8: {
        int8_t v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_INT;
        out->as.i = v;
        return 0;
    }
    case KP_T_I16: {
        int16_t v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_INT;
        out->as.i = v;
        return 0;
    }
    case KP_T_I32: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_INT;
        out->as.i = v;
        return 0;
    }
    case KP_T_I64: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_INT;
        out->as.i = v;
        return 0;
    }
    case KP_T_U8: {
        uint8_t v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_INT;
        out->as.i = v;
        return 0;
    }
    case KP_T_U16: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_INT;
        out->as.i = v;
        return 0;
    }
    case KP_T_U32: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_INT;
        out->as.i = v;
        return 0;
    }
    case KP_T_U64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        if (v <= (uint64_t)INT64_MAX) {
            out->kind = KP_V_INT;
            out->as.i = (int64_t)v;
        } else {
            out->kind = KP_V_UINT;
            out->as.u = v;
        }
        return 0;
    }
    case KP_T_F32: {
        float v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_FLOAT;
        out->as.f = v;
        return 0;
    }
    case KP_T_F64: {
        double v;
        memcpy(&v, p, sizeof v);
        out->kind = KP_V_FLOAT;
        out->as.f = v;
        return 0;
    }
    default:
        break;
    }
    return kp_err_set(err, KPOOL_EINPUT, "%s: no reader for dtype %s", in->name, info->descr);
}

void kp_npy_describe(const kp_input *in, char *buf, size_t n)
{
    const kp_npy_info *info = &in->u.npy;
    if (info->ndim == 2)
        snprintf(buf, n, "%s: npy v%d.%d, %zu rows x %zu %s", in->name, info->major, info->minor,
                 info->rows, info->cols, info->descr);
    else if (info->ndim == 1)
        snprintf(buf, n, "%s: npy v%d.%d, %zu value%s of %s", in->name, info->major, info->minor,
                 info->rows, info->rows == 1 ? "" : "s", info->descr);
    else
        snprintf(buf, n, "%s: npy v%d.%d, one %s scalar", in->name, info->major, info->minor,
                 info->descr);
}
