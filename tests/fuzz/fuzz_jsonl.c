/* fuzz_jsonl.c - the JSON Lines reader on hostile files.
 *
 * The bytes are a whole .jsonl file: it is opened, every record (up to a
 * cap) is read, checked and converted to every parameter type, and the
 * input is described and closed. */
#include "fuzz_common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kp_fuzz_input(data, size, "jsonl", false, true);
    return 0;
}
