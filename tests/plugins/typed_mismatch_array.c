/* Must NOT compile: an i64_array is (const int64_t *, size_t), but this
 * function takes (const int32_t *, size_t). */
#include <kpool/plugin.h>

static int64_t sum(const int32_t *v, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s;
}

KPOOL_PLUGIN(KPOOL_KERNEL_TYPED(sum, i64, i64_array))
