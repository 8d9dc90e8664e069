/* input_impl.h - what the input files share inside the runtime.
 *
 * input.c opens the input (maps the file, or spools stdin first) and hands
 * the mapping to one format's indexer; each format then answers records on
 * its own. Everything here is built at open and only read afterwards, so a
 * kp_input may be used from forked workers and from several threads at once.
 *
 * Records of a text format are found through an index built in one pass at
 * open: the byte offset where each record starts and the 1-based line it
 * starts on (16 bytes per record; nothing else is kept per record).
 */
#ifndef KP_INPUT_IMPL_H
#define KP_INPUT_IMPL_H

#include "input.h"
#include "types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where one csv or jsonl record starts. */
typedef struct kp_text_rec {
    size_t offset; /* byte offset of its first character in the mapping */
    size_t line;   /* 1-based file line of that character */
} kp_text_rec;

/* A growable array of record starts, filled at open. */
typedef struct kp_text_index {
    kp_text_rec *recs;
    size_t n, cap;
} kp_text_index;

/* What input_npy.c learns from an npy header. */
typedef struct kp_npy_info {
    int major, minor;  /* format version */
    char descr[8];     /* the dtype as the header spells it, e.g. "<i8" */
    kp_type type;      /* its element type */
    size_t itemsize;   /* bytes per element */
    int ndim;          /* 0, 1 or 2 */
    size_t rows, cols; /* rows (1 for ndim 0), elements per row (1 unless ndim 2) */
    size_t data_offset;
} kp_npy_info;

struct kp_input {
    kp_input_format format;
    char *name;               /* the path as given, "<stdin>", "range" or "memory" */
    const unsigned char *map; /* the whole file; NULL when it is empty, a range or memory */
    size_t size;              /* bytes mapped */
    size_t count;             /* records */
    union {
        kp_npy_info npy;
        struct {
            kp_text_index index;
            bool header; /* csv: the first record was skipped */
        } text;
        struct {
            int64_t start, stop, step;
        } range;
        struct {
            const kp_value *records; /* the caller's, not owned */
        } memory;
    } u;
};

/* Appends a record start; returns 0 or KPOOL_ENOMEM (nothing set in err). */
int kp_text_index_push(kp_text_index *ix, size_t offset, size_t line);

/* Frees the array; the index may be pushed to again afterwards. */
void kp_text_index_free(kp_text_index *ix);

/* Number of bytes of a UTF-8 byte order mark at the start of the mapping (0 or 3). */
size_t kp_text_bom_len(const kp_input *in);

/* The indexers: given in->map, in->size and in->name, check and index the
 * content and set in->count. Errors name in->name. */
int kp_npy_index(kp_input *in, kp_err *err);
int kp_csv_index(kp_input *in, bool header, kp_err *err);
int kp_jsonl_index(kp_input *in, kp_err *err);

/* Sets in->u.range and in->count; fails (KPOOL_EJOB) when step is 0. */
int kp_range_init(kp_input *in, int64_t start, int64_t stop, int64_t step, kp_err *err);

/* The record readers, as kp_input_record with `index` already checked
 * against in->count. */
int kp_npy_record(const kp_input *in, size_t index, kp_value *out, kp_err *err);
int kp_csv_record(const kp_input *in, size_t index, kp_arena *arena, kp_value *out, kp_err *err);
int kp_jsonl_record(const kp_input *in, size_t index, kp_arena *arena, kp_value *out, kp_err *err);
void kp_range_record(const kp_input *in, size_t index, kp_value *out);

/* The format-specific part of kp_input_describe. */
void kp_npy_describe(const kp_input *in, char *buf, size_t n);
void kp_range_describe(const kp_input *in, char *buf, size_t n);

#endif
