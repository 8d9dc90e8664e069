/* fuzz_csv.c - the csv reader on hostile files.
 *
 * The bytes are a whole .csv file. It is opened twice: without a header,
 * reading every record (up to a cap), and with one, only to count: it must
 * then hold exactly one record fewer (the header is the first record, and
 * indexing never fails on content). */
#include "fuzz_common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long long plain = kp_fuzz_input(data, size, "csv", false, true);
    long long headed = kp_fuzz_input(data, size, "csv", true, false);
    if ((plain < 0) != (headed < 0))
        kp_fuzz_fail("the csv opened %s a header but not %s one", plain < 0 ? "with" : "without",
                     plain < 0 ? "without" : "with");
    if (plain >= 0 && headed != (plain > 0 ? plain - 1 : 0))
        kp_fuzz_fail("the csv has %lld records without a header but %lld with one", plain, headed);
    return 0;
}
