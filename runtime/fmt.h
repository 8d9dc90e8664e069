/* fmt.h - decimal digits by hand, for the hot writers (csv results, the
 * trace, the report): no printf, no locale. */
#ifndef KP_FMT_H
#define KP_FMT_H

#include <stdint.h>
#include <string.h>

static const char kp_digit_pairs[] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

static inline __attribute__((always_inline)) void kp_fmt_pair_(char *q, uint32_t x)
{
    memcpy(q, kp_digit_pairs + 2 * x, 2);
}

static inline __attribute__((always_inline)) void kp_fmt_four_(char *q, uint32_t x)
{
    uint32_t hi = x / 100;
    kp_fmt_pair_(q, hi);
    kp_fmt_pair_(q + 2, x - hi * 100);
}

/* Exactly m (1..8) digits of v < 10^m at p. Splitting v into halves and
 * quarters keeps the chain of dependent divisions short (three for eight
 * digits, not four); each digit count is its own branch. */
static inline __attribute__((always_inline)) void kp_fmt_upto8_(char *p, uint32_t v, unsigned m)
{
    uint32_t hi;
    switch (m) {
    case 1:
        *p = (char)('0' + v);
        break;
    case 2:
        kp_fmt_pair_(p, v);
        break;
    case 3:
        hi = v / 100;
        *p = (char)('0' + hi);
        kp_fmt_pair_(p + 1, v - hi * 100);
        break;
    case 4:
        kp_fmt_four_(p, v);
        break;
    case 5:
        hi = v / 10000;
        *p = (char)('0' + hi);
        kp_fmt_four_(p + 1, v - hi * 10000);
        break;
    case 6:
        hi = v / 10000;
        kp_fmt_pair_(p, hi);
        kp_fmt_four_(p + 2, v - hi * 10000);
        break;
    case 7:
        hi = v / 10000;
        *p = (char)('0' + hi / 100);
        kp_fmt_pair_(p + 1, hi % 100);
        kp_fmt_four_(p + 3, v - hi * 10000);
        break;
    default:
        hi = v / 10000;
        kp_fmt_four_(p, hi);
        kp_fmt_four_(p + 4, v - hi * 10000);
        break;
    }
}

/* Appends v in decimal at p and returns the end (at most 20 bytes). Inline:
 * it is called once per result. The digit count comes from the bit length
 * (log10(2) ~ 1233 / 4096), corrected by one comparison; then the digits go
 * in blocks of eight from the end, with no division per digit and no copy of
 * a variable length. */
static inline __attribute__((always_inline)) char *kp_fmt_u64(char *p, uint64_t v)
{
    static const uint64_t pow10[20] = {1u,
                                       10u,
                                       100u,
                                       1000u,
                                       10000u,
                                       100000u,
                                       1000000u,
                                       10000000u,
                                       100000000u,
                                       1000000000u,
                                       10000000000u,
                                       100000000000u,
                                       1000000000000u,
                                       10000000000000u,
                                       100000000000000u,
                                       1000000000000000u,
                                       10000000000000000u,
                                       100000000000000000u,
                                       1000000000000000000u,
                                       10000000000000000000u};
    /* v | 1 has v's digit count, and 0 gets one digit. */
    unsigned n = ((unsigned)(64 - __builtin_clzll(v | 1)) * 1233) >> 12;
    n += (v | 1) >= pow10[n];
    if (n <= 8) {
        kp_fmt_upto8_(p, (uint32_t)v, n);
        return p + n;
    }
    char *end = p + n;
    uint64_t hi = v / 100000000;
    kp_fmt_upto8_(end - 8, (uint32_t)(v - hi * 100000000), 8);
    if (n > 16) {
        uint64_t top = hi / 100000000;
        kp_fmt_upto8_(end - 16, (uint32_t)(hi - top * 100000000), 8);
        kp_fmt_upto8_(p, (uint32_t)top, n - 16);
    } else {
        kp_fmt_upto8_(p, (uint32_t)hi, n - 8);
    }
    return end;
}

/* kp_fmt_u64 for writers with room to spare after p: a value below 10^8
 * (counts, indices, the common results) becomes eight digits in one 64-bit
 * word, each 4-digit half split into pairs and each pair into digits by
 * multiplying all lanes at once (x / 100 = x * 10486 >> 20 for x < 10^4,
 * x / 10 = x * 103 >> 10 for x < 100), and is stored whole, then the end
 * moves past the leading zeros: no branch on the length. It writes 8 bytes
 * at p whatever the length (never more than 20 in all). */
static inline __attribute__((always_inline)) char *kp_fmt_u64_wide(char *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (v < 100000000) {
        uint64_t hi = v / 10000;
        uint64_t y = hi | (v - hi * 10000) << 32; /* the first digits go first */
        uint64_t q = (y * 10486 >> 20) & UINT64_C(0x0000007F0000007F);
        y = q | (y - q * 100) << 16;
        q = (y * 103 >> 10) & UINT64_C(0x000F000F000F000F);
        y = q | (y - q * 10) << 8;
        /* Leading zero digits are zero bytes, at most seven of them. */
        unsigned zeros = (unsigned)__builtin_ctzll(y | UINT64_C(1) << 56) / 8;
        y = (y | UINT64_C(0x3030303030303030)) >> (8 * zeros);
        memcpy(p, &y, 8);
        return p + 8 - zeros;
    }
#endif
    return kp_fmt_u64(p, v);
}

#endif
