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

/* Appends v in decimal at p and returns the end (at most 20 bytes). Inline:
 * it is called once per result. */
static inline char *kp_fmt_u64(char *p, uint64_t v)
{
    /* Count the digits first and fill them in from the end: no copy of a
     * variable length (which would be a call to memmove). The count comes
     * from the bit length (log10(2) ~ 1233 / 4096), corrected by one
     * comparison, instead of a division per digit. */
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
    size_t n = 1;
    if (v) {
        n = (size_t)((64 - __builtin_clzll(v)) * 1233) >> 12;
        if (v >= pow10[n])
            n++;
        if (!n)
            n = 1;
    }
    char *q = p + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, kp_digit_pairs + 2 * r, 2);
    }
    if (v >= 10)
        memcpy(q - 2, kp_digit_pairs + 2 * v, 2);
    else
        q[-1] = (char)('0' + v);
    return p + n;
}

#endif
