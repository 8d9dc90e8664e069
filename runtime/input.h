/* input.h - input records, read by index.
 *
 * An input is opened once in the coordinator, before the workers are forked:
 * files are memory-mapped (stdin is first spooled to an unlinked temporary
 * file and mapped), so workers share the pages and each reads the records of
 * the tasks it runs. Text formats are indexed at open: one offset per record.
 *
 *   npy   2-D R x C: record i is row i as KP_V_NUMS pointing into the map;
 *         1-D: record i is the number (KP_V_INT / KP_V_UINT / KP_V_FLOAT / KP_V_BOOL)
 *   csv   record = one line (a quoted field may span lines) as a KP_V_LIST of
 *         KP_V_STR fields (an empty unquoted field is KP_V_STR ""); optional
 *         header; an empty line is skipped but counted in line numbers
 *   jsonl record = the JSON value of one non-blank line (parsed with jansson);
 *         arrays become KP_V_LIST, objects are an error for that record
 *   range the integers start:stop[:step] as KP_V_INT
 *   memory records the caller holds (kp_input_from_records): record i is
 *         records[i] as it is, for the embedding API, whose workers read
 *         the program's own memory
 */
#ifndef KP_INPUT_H
#define KP_INPUT_H

#include "arena.h"
#include "error.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kp_input_format {
    KP_IN_AUTO,
    KP_IN_NPY,
    KP_IN_CSV,
    KP_IN_JSONL,
    KP_IN_RANGE,
    KP_IN_MEMORY, /* only from kp_input_from_records, never from a config */
} kp_input_format;

typedef struct kp_input_config {
    const char *path;          /* a file path, "-" for stdin, NULL for a range */
    kp_input_format format;    /* AUTO picks by the path's extension; stdin needs one */
    bool header;               /* csv: skip the first record */
    int64_t start, stop, step; /* range: like Python's range(start, stop, step) */
} kp_input_config;

typedef struct kp_input kp_input;

/* Opens and indexes the input. Errors name the file ("<stdin>" for stdin):
 * "data.npy: header says 200000 rows of 5 <i8 (8000000 bytes) but the file
 * holds 7999992 bytes of data". Codes: KPOOL_EJOB for configuration problems
 * (unknown extension, stdin without a format, step 0), KPOOL_EIO when the file
 * cannot be read, KPOOL_EINPUT for malformed content (a bad npy header),
 * KPOOL_ESYS when mapping or spooling fails. */
int kp_input_open(kp_input **out, const kp_input_config *cfg, kp_err *err);

/* Makes an input of `n` records the caller holds: record i is records[i],
 * neither copied nor checked. The records, and everything they point at,
 * must stay valid and unchanged until kp_input_close (forked workers read
 * them through their copy of the caller's memory). Fails only with
 * KPOOL_ENOMEM or, for records NULL with n > 0, KPOOL_EINVAL. */
int kp_input_from_records(kp_input **out, const kp_value *records, size_t n, kp_err *err);

/* Number of records (tasks). */
size_t kp_input_count(const kp_input *in);

/* The format actually in use (never AUTO). */
kp_input_format kp_input_format_of(const kp_input *in);

/* Reads record `index` into *out; memory for it comes from `arena` or the
 * mapping. A malformed record fails with KPOOL_EINPUT and err says
 * "line 7: what is wrong" (csv/jsonl: the file line where the record starts). */
int kp_input_record(const kp_input *in, size_t index, kp_arena *arena, kp_value *out, kp_err *err);

/* A one-line description for `kpool check`: "seed.npy: npy v1.0, 200000 rows x 5 <i8". */
void kp_input_describe(const kp_input *in, char *buf, size_t n);

/* A hash of the records' source: the bytes of the file (or of standard
 * input as it was read), or the range. Resume compares it. */
uint64_t kp_input_fingerprint(const kp_input *in);

/* The input file's identity - device, inode, size and modification time -
 * at no cost: 0 when the input is not a file of its own (a range, memory,
 * stdin spooled to a temporary file), or it cannot be read. */
uint64_t kp_input_identity(const kp_input *in);

/* An npy input's values as memory, for readers that take rows straight from
 * the mapping: true, with row 0 at *base, *stride bytes from row to row,
 * *cols values (of *type, native byte order) per row and *ndim the array's
 * dimensions (0, 1 or 2), when `in` is an npy file with at least one record;
 * false for every other input. */
bool kp_input_npy_rows(const kp_input *in, const unsigned char **base, size_t *stride, size_t *cols,
                       kp_type *type, int *ndim);

/* A range input's start and step: true for a range (record i is then
 * start + i * step, in two's complement), false for every other input. */
bool kp_input_range_of(const kp_input *in, int64_t *start, int64_t *step);

/* Unmaps and frees. Accepts NULL. */
void kp_input_close(kp_input *in);

#endif
