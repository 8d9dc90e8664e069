/* signature.h - kernel signatures: "i64 (i64[] row, i64 minimum, i64 maximum)".
 *
 * Grammar (SPEC section 4):
 *   signature := type [name] '(' [param {',' param}] ')'
 *   param     := type ['[' ']'] [name]        ('void' alone means no parameters)
 *   type      := i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 bool str, or a C
 *                spelling: int8_t..uint64_t, char, signed/unsigned char, short,
 *                int, long, long long (and their unsigned forms, with or
 *                without 'int'), size_t, ssize_t, float, double, bool, _Bool,
 *                const char *, char * ('str'), void (return only)
 * An array parameter T[] is one tuple element passed to C as two parameters
 * (const T *data, size_t len); T may be any numeric type or bool. */
#ifndef KP_SIGNATURE_H
#define KP_SIGNATURE_H

#include "error.h"
#include "types.h"

#include <stdbool.h>
#include <stddef.h>

#define KP_MAX_PARAMS 32
#define KP_NAME_MAX   64

typedef struct kp_param {
    kp_type type;           /* never KP_T_VOID */
    bool is_array;          /* T[]: passed as (const T *, size_t) */
    char name[KP_NAME_MAX]; /* "" when the signature gives none */
} kp_param;

typedef struct kp_signature {
    kp_type ret;            /* KP_T_VOID for void kernels */
    char name[KP_NAME_MAX]; /* function name, "" when none */
    size_t nparams;         /* tuple elements, not C parameters */
    kp_param params[KP_MAX_PARAMS];
} kp_signature;

/* Parses `text` into *out. On failure returns KPOOL_ESIG and err says
 * "column N: what is wrong" (1-based column into text), e.g.
 * "column 6: unknown type 'i65'". */
int kp_signature_parse(const char *text, kp_signature *out, kp_err *err);

/* Writes the canonical short form, e.g. "i64 (i64[] row, i64 minimum, i64 maximum)"
 * (with the function name after the return type when it has one). Returns the
 * length it needed, like snprintf. */
size_t kp_signature_format(const kp_signature *sig, char *buf, size_t n);

/* Writes the C prototype the kernel must have, e.g.
 * "int64_t howmany_within_range(const int64_t *row, size_t row_len, int64_t minimum, int64_t
 * maximum)". `name` replaces sig->name when non-NULL. Returns the length needed. */
size_t kp_signature_prototype(const kp_signature *sig, const char *name, char *buf, size_t n);

/* True when both have the same return and parameter types (names ignored). */
bool kp_signature_same_types(const kp_signature *a, const kp_signature *b);

/* Name of parameter i for messages: its name, or its 1-based position ("2"). */
const char *kp_param_label(const kp_signature *sig, size_t i, char *buf, size_t n);

#endif
