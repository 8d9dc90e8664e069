/* value.c - naming, indexing and describing kp_value, and reading numbers from text. */
#include "value.h"

#include <kpool/kpool.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A KP_V_NUMS bool element is read as one byte; C's bool must be that byte. */
_Static_assert(sizeof(bool) == 1, "kpool assumes a one-byte bool (as numpy's bool dtype)");

const char *kp_value_kind_name(const kp_value *v)
{
    /* The count of a nums value is left out on purpose: the name is a static
     * string, so two kind names can appear in one message without a shared
     * buffer overwriting the first. Messages that need the count add it. */
    static const char *const nums_names[KP_T_COUNT_] = {
        [KP_T_BOOL] = "an array of bool", [KP_T_I8] = "an array of i8",
        [KP_T_I16] = "an array of i16",   [KP_T_I32] = "an array of i32",
        [KP_T_I64] = "an array of i64",   [KP_T_U8] = "an array of u8",
        [KP_T_U16] = "an array of u16",   [KP_T_U32] = "an array of u32",
        [KP_T_U64] = "an array of u64",   [KP_T_F32] = "an array of f32",
        [KP_T_F64] = "an array of f64",
    };
    switch (v->kind) {
    case KP_V_NULL:
        return "null";
    case KP_V_BOOL:
        return "a boolean";
    case KP_V_INT:
    case KP_V_UINT:
        return "an integer";
    case KP_V_FLOAT:
        return "a number";
    case KP_V_STR:
        return "a string";
    case KP_V_LIST:
        return "a list";
    case KP_V_NUMS:
        if ((unsigned)v->as.nums.type < KP_T_COUNT_ && nums_names[v->as.nums.type])
            return nums_names[v->as.nums.type];
        return "an array";
    }
    return "an unknown value";
}

size_t kp_value_len(const kp_value *v)
{
    if (v->kind == KP_V_LIST)
        return v->as.list.len;
    if (v->kind == KP_V_NUMS)
        return v->as.nums.len;
    return 0;
}

static void set_int(kp_value *out, int64_t i)
{
    out->kind = KP_V_INT;
    out->as.i = i;
}

static void set_float(kp_value *out, double f)
{
    out->kind = KP_V_FLOAT;
    out->as.f = f;
}

bool kp_value_element(const kp_value *v, size_t i, kp_value *out)
{
    if (v->kind == KP_V_LIST) {
        if (i >= v->as.list.len)
            return false;
        *out = v->as.list.items[i];
        return true;
    }
    if (v->kind != KP_V_NUMS || i >= v->as.nums.len)
        return false;

    /* An npy row may start at any byte offset of the mapping (a structured
     * header of odd length, a 1-byte dtype before it), so every read goes
     * through memcpy instead of a typed pointer. */
    const unsigned char *p = (const unsigned char *)v->as.nums.data;
    switch (v->as.nums.type) {
    case KP_T_BOOL: {
        /* Read the byte, not a bool: a byte other than 0 or 1 is not a valid
         * bool object, and numpy treats any nonzero byte as True. */
        uint8_t x;
        memcpy(&x, p + i, 1);
        out->kind = KP_V_BOOL;
        out->as.b = x != 0;
        return true;
    }
    case KP_T_I8: {
        int8_t x;
        memcpy(&x, p + i, sizeof x);
        set_int(out, x);
        return true;
    }
    case KP_T_I16: {
        int16_t x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        set_int(out, x);
        return true;
    }
    case KP_T_I32: {
        int32_t x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        set_int(out, x);
        return true;
    }
    case KP_T_I64: {
        int64_t x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        set_int(out, x);
        return true;
    }
    case KP_T_U8: {
        uint8_t x;
        memcpy(&x, p + i, sizeof x);
        set_int(out, x);
        return true;
    }
    case KP_T_U16: {
        uint16_t x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        set_int(out, x);
        return true;
    }
    case KP_T_U32: {
        uint32_t x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        set_int(out, x);
        return true;
    }
    case KP_T_U64: {
        uint64_t x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        if (x <= INT64_MAX) {
            set_int(out, (int64_t)x);
        } else {
            out->kind = KP_V_UINT;
            out->as.u = x;
        }
        return true;
    }
    case KP_T_F32: {
        float x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        set_float(out, x);
        return true;
    }
    case KP_T_F64: {
        double x;
        memcpy(&x, p + i * sizeof x, sizeof x);
        set_float(out, x);
        return true;
    }
    default:
        return false;
    }
}

/* The text being described, cut off once the buffer is full: a row of a
 * million numbers must not be formatted only to be thrown away. */
typedef struct describer {
    char *buf;
    size_t n;
    size_t pos;
    bool full;
} describer;

static void put(describer *d, const char *s, size_t len)
{
    if (d->full)
        return;
    size_t room = d->n - 1 - d->pos;
    if (len > room) {
        memcpy(d->buf + d->pos, s, room);
        d->pos += room;
        d->full = true;
        return;
    }
    memcpy(d->buf + d->pos, s, len);
    d->pos += len;
}

static void put_str(describer *d, const char *s)
{
    put(d, s, strlen(s));
}

/* Formats a double as the shortest text that reads back to the same value,
 * with ".0" on integral values so that 2.0 does not read as the integer 2. */
static void format_double(double f, char *out, size_t n)
{
    if (isnan(f)) {
        snprintf(out, n, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(out, n, "%s", f < 0 ? "-inf" : "inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, f);
        if (strtod(out, NULL) == f)
            break;
    }
    if (!strpbrk(out, ".e"))
        strncat(out, ".0", n - strlen(out) - 1);
}

static void describe_string(describer *d, const char *s, size_t len)
{
    put(d, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < len && !d->full; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char hex[8];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\r':
            esc = "\\r";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(hex, sizeof hex, "\\u%04x", c);
                esc = hex;
            }
        }
        if (esc) {
            put(d, s + start, i - start);
            put_str(d, esc);
            start = i + 1;
        }
    }
    if (start < len)
        put(d, s + start, len - start);
    put(d, "\"", 1);
}

static void describe_value(describer *d, const kp_value *v)
{
    char num[40];
    switch (v->kind) {
    case KP_V_NULL:
        put_str(d, "null");
        return;
    case KP_V_BOOL:
        put_str(d, v->as.b ? "true" : "false");
        return;
    case KP_V_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->as.i);
        put_str(d, num);
        return;
    case KP_V_UINT:
        snprintf(num, sizeof num, "%llu", (unsigned long long)v->as.u);
        put_str(d, num);
        return;
    case KP_V_FLOAT:
        format_double(v->as.f, num, sizeof num);
        put_str(d, num);
        return;
    case KP_V_STR:
        describe_string(d, v->as.s.ptr, v->as.s.len);
        return;
    case KP_V_LIST:
    case KP_V_NUMS: {
        size_t len = kp_value_len(v);
        put(d, "[", 1);
        for (size_t i = 0; i < len && !d->full; i++) {
            kp_value item;
            if (i > 0)
                put(d, ", ", 2);
            if (kp_value_element(v, i, &item))
                describe_value(d, &item);
            else
                put(d, "?", 1);
        }
        put(d, "]", 1);
        return;
    }
    }
    put(d, "?", 1);
}

void kp_value_describe(const kp_value *v, char *buf, size_t n)
{
    if (n == 0)
        return;
    describer d = {buf, n, 0, false};
    describe_value(&d, v);
    buf[d.pos] = '\0';
    if (!d.full)
        return;

    /* The text was cut: end it with "...", without splitting a UTF-8
     * sequence (a continuation byte 10xxxxxx must not start the cut). */
    if (n - 1 < 3) {
        memset(buf, '.', n - 1);
        buf[n - 1] = '\0';
        return;
    }
    size_t cut = n - 1 - 3;
    while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(buf + cut, "...", 4);
}

/* ---- reading numbers from text ------------------------------------- */

static bool word_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static size_t count_digits(const char *s, size_t len, size_t i)
{
    size_t start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    return i - start;
}

int kp_value_parse_number(const char *s, size_t len, kp_value *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    if (word_is(s + i, len - i, "inf") || word_is(s + i, len - i, "infinity")) {
        set_float(out, neg ? -INFINITY : INFINITY);
        return 0;
    }
    if (word_is(s + i, len - i, "nan")) {
        set_float(out, neg ? -NAN : NAN);
        return 0;
    }

    size_t int_start = i;
    size_t int_digits = count_digits(s, len, i);
    i += int_digits;
    size_t frac_digits = 0;
    bool is_int = true;
    if (i < len && s[i] == '.') {
        is_int = false;
        frac_digits = count_digits(s, len, ++i);
        i += frac_digits;
    }
    if (int_digits + frac_digits == 0)
        return KPOOL_EINVAL;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        is_int = false;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp_digits = count_digits(s, len, i);
        if (exp_digits == 0)
            return KPOOL_EINVAL;
        i += exp_digits;
    }
    if (i != len)
        return KPOOL_EINVAL;

    if (is_int) {
        uint64_t mag = 0;
        for (size_t k = int_start; k < len; k++) {
            unsigned digit = (unsigned)(s[k] - '0');
            if (mag > (UINT64_MAX - digit) / 10)
                return KPOOL_ERANGE;
            mag = mag * 10 + digit;
        }
        if (neg) {
            if (mag > (uint64_t)INT64_MAX + 1)
                return KPOOL_ERANGE;
            set_int(out, mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag);
        } else if (mag <= INT64_MAX) {
            set_int(out, (int64_t)mag);
        } else {
            out->kind = KP_V_UINT;
            out->as.u = mag;
        }
        return 0;
    }

    char *end;
    errno = 0;
    double f = strtod(s, &end);
    if (end != s + len)
        return KPOOL_EINVAL;
    if (errno == ERANGE && isinf(f))
        return KPOOL_ERANGE;
    set_float(out, f);
    return 0;
}
