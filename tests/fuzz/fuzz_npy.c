/* fuzz_npy.c - the .npy reader on hostile files.
 *
 * The bytes are a whole .npy file: magic, version, header length, header
 * dict and data. It is opened, every record (up to a cap, then the last) is
 * read, and rows are checked to lie inside the mapped file, which is how a
 * lying header (a shape larger than the data) would show. Seeds are made by
 * scripts/fuzz.sh, since npy files are binary. */
#include "fuzz_common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kp_fuzz_input(data, size, "npy", false, true);
    return 0;
}
