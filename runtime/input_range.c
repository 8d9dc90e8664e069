/* input_range.c - the integers start:stop[:step], as Python's range().
 *
 * Nothing is stored per record: record i is start + i * step. The count and
 * each record are computed in uint64_t, where the arithmetic is exact modulo
 * 2^64; since every record lies between start and stop, the wrapped result is
 * the true value and converts back to int64_t without loss.
 */
#include "input_impl.h"

#include <inttypes.h>
#include <stdio.h>

/* Converts a uint64_t holding a two's complement bit pattern back to int64_t
 * without relying on implementation-defined conversion. */
static int64_t to_i64(uint64_t u)
{
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(UINT64_MAX - u) - 1;
}

int kp_range_init(kp_input *in, int64_t start, int64_t stop, int64_t step, kp_err *err)
{
    if (step == 0)
        return kp_err_set(err, KPOOL_EJOB,
                          "range %" PRId64 ":%" PRId64 ":0: the step must not be 0", start, stop);
    uint64_t count = 0;
    if (step > 0 && start < stop) {
        uint64_t span = (uint64_t)stop - (uint64_t)start; /* exact: 0 < span < 2^64 */
        count = (span - 1) / (uint64_t)step + 1;
    } else if (step < 0 && start > stop) {
        uint64_t span = (uint64_t)start - (uint64_t)stop;
        uint64_t ustep = 0 - (uint64_t)step; /* exact also for INT64_MIN */
        count = (span - 1) / ustep + 1;
    }
    if (count > SIZE_MAX)
        return kp_err_set(err, KPOOL_EJOB,
                          "range %" PRId64 ":%" PRId64 ":%" PRId64 ": %" PRIu64
                          " integers are more than this system can count",
                          start, stop, step, count);
    in->u.range.start = start;
    in->u.range.stop = stop;
    in->u.range.step = step;
    in->count = (size_t)count;
    return 0;
}

void kp_range_record(const kp_input *in, size_t index, kp_value *out)
{
    uint64_t v = (uint64_t)in->u.range.start + (uint64_t)index * (uint64_t)in->u.range.step;
    out->kind = KP_V_INT;
    out->as.i = to_i64(v);
}

void kp_range_describe(const kp_input *in, char *buf, size_t n)
{
    snprintf(buf, n, "range %" PRId64 ":%" PRId64 ":%" PRId64 ", %zu integer%s", in->u.range.start,
             in->u.range.stop, in->u.range.step, in->count, in->count == 1 ? "" : "s");
}
