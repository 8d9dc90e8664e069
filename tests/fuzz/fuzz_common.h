/* fuzz_common.h - what the libFuzzer targets of tests/fuzz/ share.
 *
 * Each target is one LLVMFuzzerTestOneInput that feeds its bytes to one
 * reader of hostile input (job file, signature, args template, csv, jsonl,
 * npy) and then checks the contracts the headers promise about what comes
 * back. A broken contract is reported with kp_fuzz_fail, which aborts, so
 * that libFuzzer saves the input as a crash: such an input is a real finding
 * even when no sanitizer fired.
 *
 * Nothing here keeps state between runs except the per-process scratch
 * folder, which is created on first use and holds only files that every run
 * rewrites. */
#ifndef KP_FUZZ_COMMON_H
#define KP_FUZZ_COMMON_H

#include "arena.h"
#include "error.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point, declared here so that -Wmissing-prototypes-style
 * warnings stay quiet and every target spells it the same way. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "fuzz: contract broken: ..." on stderr and aborts. */
void kp_fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The per-process scratch folder, made with mkdtemp under $TMPDIR (or /tmp)
 * on the first call and removed with its files at a normal exit. Aborts when
 * it cannot be made: without it no run means anything. */
const char *kp_fuzz_scratch_dir(void);

/* Writes `size` bytes to `name` inside the scratch folder, replacing what was
 * there, and stores the full path in path (n bytes). Aborts on failure. */
void kp_fuzz_write_file(const char *name, const uint8_t *data, size_t size, char *path, size_t n);

/* Returns a malloc'ed NUL-terminated copy of data[0..size); aborts when out
 * of memory. The caller frees it. */
char *kp_fuzz_strndup(const uint8_t *data, size_t size);

/* Checks what error.h promises after a failed call: rc is a negative
 * KPOOL_E* code equal to err->code, and err->msg is a non-empty,
 * NUL-terminated sentence. `what` names the call for the abort message. */
void kp_fuzz_check_error(const char *what, int rc, const kp_err *err);

/* Walks v and checks what value.h promises: a known kind; strings non-NULL
 * and NUL-terminated at len, without a NUL inside when `no_nul` (csv and
 * jsonl refuse NUL bytes); list items non-NULL when len > 0; nums of a
 * numeric or bool type. When map is non-NULL, a nums value must lie wholly
 * inside map[0..map_size) (npy rows point into the mapped file). Every
 * element is read, so a row that points past the mapping faults here. */
void kp_fuzz_check_value(const kp_value *v, bool no_nul, const void *map, size_t map_size);

/* Describes v into buffers of several sizes (kp_value_describe must always
 * NUL-terminate inside the buffer it is given). */
void kp_fuzz_describe_value(const kp_value *v);

/* Converts v to every parameter type kpool knows, as a scalar and as an
 * array (kp_convert_arg), as a worker would for a kernel taking it. Each
 * failure must carry a message; each converted array is read whole, and one
 * that starts inside map[0..map_size) (passed by pointer into an npy file)
 * must end inside it. map may be NULL. */
void kp_fuzz_convert_value(const kp_value *v, kp_arena *arena, const void *map, size_t map_size);

/* Opens `data` as an input file named "input.EXT" (ext without the dot)
 * and, with `read_records`, reads every record up to a cap (and the last
 * one), checks and converts each as above and describes the input; then
 * closes it. With `header` the csv header flag is set. Returns the number of
 * records kp_input_count reported, or -1 when the open failed (its error
 * checked). */
long long kp_fuzz_input(const uint8_t *data, size_t size, const char *ext, bool header,
                        bool read_records);

#endif
