/* float_format.c - shortest round-trip text of a float, laid out as Python's repr.
 *
 * The digits come from the C library: "%.*e" rounds correctly to any number of
 * significant digits, and strtod/strtof read correctly, so the shortest digit
 * count whose rounding reads back to the same value is the shortest text. A
 * correctly rounded p-digit string that reads back stays readable at p+1 digits
 * (the nearest (p+1)-digit decimal is at least as close as the p-digit one
 * padded with a zero), so the count is found by search rather than by trying
 * all seventeen: two or three conversions for most computed values, about
 * six for short ones; integers need none.
 *
 * One case escapes that argument: a power of two has a neighbour below it only
 * half as far away as the one above, so the values that read back to it reach
 * twice as far up as down. The correctly rounded p-digit string may then lie
 * just outside on the narrow side while a p-digit string above the value lies
 * inside (repr(2.0**-1017) is '7.120236347223045e-307', but "%.15e" gives
 * ...044). For those values the next decimal above is tried at each shorter
 * length, as David Gay's dtoa (which repr uses) effectively does.
 *
 * The layout then follows Python's format_float_short (Python/pystrtod.c,
 * mode 0, as repr uses it). */
#include "output.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* repr switches to exponent notation when the decimal point would sit more
 * than 16 digits right of the first digit or more than 3 zeros left of it:
 * repr(1e16) = '1e+16', repr(0.0001) = '0.0001', repr(0.00001) = '1e-05'. */
enum { REPR_MAX_DECPT = 16, REPR_MIN_DECPT = -3 };

/* Longest text: "-" + 17 digits + "." + "e-308", or "-0.000" + 17 digits. */
enum { TEXT_MAX = 32 };

typedef struct decimal {
    char digits[24]; /* significant digits, not NUL-terminated */
    int ndigits;
    int decpt; /* the value is 0.DIGITS x 10^decpt */
} decimal;

/* Formats a positive finite `a` with `precision` significant digits. */
static void format_e(double a, int precision, char *buf, size_t n)
{
    snprintf(buf, n, "%.*e", precision - 1, a);
}

static bool reads_back(const char *text, double a, bool single)
{
    if (single)
        return strtof(text, NULL) == (float)a;
    return strtod(text, NULL) == a;
}

/* Splits "%e" output into digits and decimal-point position, keeping
 * trailing zeros. The character between the first digit and the rest is the
 * locale's decimal point, so anything that is not a digit before the 'e' is
 * skipped. */
static void parse_e(const char *s, decimal *d)
{
    d->ndigits = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s >= '0' && *s <= '9' && d->ndigits < (int)sizeof d->digits)
            d->digits[d->ndigits++] = *s;
    }
    int exponent = 0, sign = 1;
    if (*s == 'e')
        s++;
    if (*s == '-' || *s == '+')
        sign = *s++ == '-' ? -1 : 1;
    for (; *s >= '0' && *s <= '9'; s++)
        exponent = exponent * 10 + (*s - '0');
    d->decpt = sign * exponent + 1;
}

static void strip_zeros(decimal *d)
{
    while (d->ndigits > 1 && d->digits[d->ndigits - 1] == '0')
        d->ndigits--;
}

/* Writes d as "DIGITSeN", a form strtod reads in every locale. */
static void decimal_text(const decimal *d, char *buf, size_t n)
{
    snprintf(buf, n, "%.*se%d", d->ndigits, d->digits, d->decpt - d->ndigits);
}

/* Adds one unit in the last digit, carrying; 999 becomes 1000 (one digit more
 * before the point, the same digit count after stripping). */
static void increment(decimal *d)
{
    int i = d->ndigits - 1;
    while (i >= 0 && d->digits[i] == '9')
        d->digits[i--] = '0';
    if (i >= 0) {
        d->digits[i]++;
    } else {
        d->digits[0] = '1';
        d->decpt++;
    }
}

/* True when a is a power of two whose lower neighbour is closer than its
 * upper one (a zero fraction above the smallest normal exponent). */
static bool has_narrow_lower_gap(double a, bool single)
{
    int exponent;
    double fraction = frexp(a, &exponent);
    int min_exp = single ? FLT_MIN_EXP : DBL_MIN_EXP;
    return fraction == 0.5 && exponent > min_exp;
}

/* Integers below 2^53 (2^24 for floats) are exact and their neighbours lie at
 * most 1 away, while any other integer with fewer significant digits lies at
 * least 1 away: their own digits are the shortest, without any conversion. */
static bool integer_digits(double a, bool single, decimal *d)
{
    double limit = single ? 16777216.0 : 9007199254740992.0;
    if (a >= limit || a != floor(a))
        return false;
    uint64_t v = (uint64_t)a;
    char rev[24];
    int n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    d->decpt = n;
    d->ndigits = 0;
    while (n)
        d->digits[d->ndigits++] = rev[--n];
    strip_zeros(d);
    return true;
}

/* Finds the shortest digits of a positive finite value (float when `single`).
 * Most computed values need the full 16-17 digits (8-9 for floats), so the
 * top two lengths are tried before the binary search over the rest. */
static void shortest_digits(double a, bool single, decimal *d)
{
    if (integer_digits(a, single, d))
        return;
    char text[TEXT_MAX + 16], best[TEXT_MAX + 16];
    int max = single ? 9 : 17; /* 9 and 17 digits always read back */
    int lo = 1, hi = max;
    best[0] = '\0';
    for (int p = max - 1; p >= max - 2 && lo < hi; p--) {
        format_e(a, p, text, sizeof text);
        if (!reads_back(text, a, single)) {
            lo = p + 1;
            break;
        }
        hi = p;
        memcpy(best, text, sizeof best);
    }
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        format_e(a, mid, text, sizeof text);
        if (reads_back(text, a, single)) {
            hi = mid;
            memcpy(best, text, sizeof best);
        } else {
            lo = mid + 1;
        }
    }
    if (has_narrow_lower_gap(a, single)) {
        for (int q = 1; q < lo; q++) {
            format_e(a, q, text, sizeof text);
            if (strtod(text, NULL) > a)
                continue;
            parse_e(text, d);
            increment(d);
            decimal_text(d, text, sizeof text);
            if (reads_back(text, a, single)) {
                strip_zeros(d);
                return;
            }
        }
    }
    if (best[0] == '\0')
        format_e(a, max, best, sizeof best);
    parse_e(best, d);
    strip_zeros(d);
}

/* Writes the repr layout of ±d into out (TEXT_MAX bytes); returns the length. */
static size_t layout(const decimal *d, bool negative, char *out)
{
    char *p = out;
    if (negative)
        *p++ = '-';
    int decpt = d->decpt;
    if (decpt > REPR_MAX_DECPT || decpt < REPR_MIN_DECPT) {
        *p++ = d->digits[0];
        if (d->ndigits > 1) {
            *p++ = '.';
            memcpy(p, d->digits + 1, (size_t)d->ndigits - 1);
            p += d->ndigits - 1;
        }
        int exponent = decpt - 1;
        *p++ = 'e';
        *p++ = exponent < 0 ? '-' : '+';
        if (exponent < 0)
            exponent = -exponent;
        char rev[8];
        int nrev = 0;
        do {
            rev[nrev++] = (char)('0' + exponent % 10);
            exponent /= 10;
        } while (exponent);
        if (nrev < 2)
            rev[nrev++] = '0';
        while (nrev)
            *p++ = rev[--nrev];
    } else if (decpt <= 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = decpt; i < 0; i++)
            *p++ = '0';
        memcpy(p, d->digits, (size_t)d->ndigits);
        p += d->ndigits;
    } else if (decpt < d->ndigits) {
        memcpy(p, d->digits, (size_t)decpt);
        p += decpt;
        *p++ = '.';
        memcpy(p, d->digits + decpt, (size_t)(d->ndigits - decpt));
        p += d->ndigits - decpt;
    } else {
        memcpy(p, d->digits, (size_t)d->ndigits);
        p += d->ndigits;
        for (int i = d->ndigits; i < decpt; i++)
            *p++ = '0';
        *p++ = '.';
        *p++ = '0';
    }
    return (size_t)(p - out);
}

/* Copies text into buf as snprintf would and returns the full length. */
static size_t deliver(const char *text, size_t len, char *buf, size_t n)
{
    if (n > 0) {
        size_t k = len < n - 1 ? len : n - 1;
        memcpy(buf, text, k);
        buf[k] = '\0';
    }
    return len;
}

static size_t format_float(double v, bool single, char *buf, size_t n)
{
    if (isnan(v))
        return deliver("nan", 3, buf, n);
    if (isinf(v))
        return v < 0 ? deliver("-inf", 4, buf, n) : deliver("inf", 3, buf, n);
    if (v == 0)
        return signbit(v) ? deliver("-0.0", 4, buf, n) : deliver("0.0", 3, buf, n);
    decimal d;
    shortest_digits(fabs(v), single, &d);
    char text[TEXT_MAX];
    size_t len = layout(&d, v < 0, text);
    return deliver(text, len, buf, n);
}

size_t kp_format_f64(double v, char *buf, size_t n)
{
    return format_float(v, false, buf, n);
}

size_t kp_format_f32(float v, char *buf, size_t n)
{
    return format_float((double)v, true, buf, n);
}
