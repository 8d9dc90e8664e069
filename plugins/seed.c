/* The seed's kernels: count the elements of a row that lie in [minimum, maximum].
 *
 * Python's seed:
 *     def howmany_within_range(row, minimum, maximum): ...
 *     pool.starmap(howmany_within_range, [(row, 4, 8) for row in data])
 * Here a row arrives as (const int64_t *row, size_t n): an `i64[]` parameter
 * is one element of the argument tuple and two parameters in C. */
#include <kpool/plugin.h>

static int64_t howmany_within_range(const int64_t *row, size_t n, int64_t minimum, int64_t maximum)
{
    int64_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += minimum <= row[i] && row[i] <= maximum;
    return count;
}

/* The seed's map() form: the bounds are fixed, the row is the only argument. */
static int64_t howmany_within_range_rowonly(const int64_t *row, size_t n)
{
    return howmany_within_range(row, n, 4, 8);
}

KPOOL_PLUGIN(
    /* The typed form: the compiler checks these words against the function. */
    KPOOL_KERNEL_TYPED(howmany_within_range, i64, i64_array, i64, i64),
    KPOOL_KERNEL_TYPED(howmany_within_range_rowonly, i64, i64_array), )
