/* A shared object with no kpool descriptor: its functions are called by the
 * signature the job file gives, as for libm. */
#include <stdint.h>

__attribute__((visibility("default"))) double scale(double x, double factor)
{
    return x * factor;
}

__attribute__((visibility("default"))) int64_t sum_i32(const int32_t *v, uint64_t n)
{
    int64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += v[i];
    return s;
}
