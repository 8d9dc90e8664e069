/* value.h - the values that input records and args literals are made of.
 *
 * A record (one input line, npy row or range integer) is a kp_value; `$0` is
 * the record itself and `$1..$N` its elements. Values do not own memory: what
 * they point at lives in the input's mapping or in the task's arena. */
#ifndef KP_VALUE_H
#define KP_VALUE_H

#include "types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kp_vkind {
    KP_V_NULL,  /* JSON null */
    KP_V_BOOL,  /* as.b */
    KP_V_INT,   /* as.i: any integer that fits int64 */
    KP_V_UINT,  /* as.u: an integer above INT64_MAX */
    KP_V_FLOAT, /* as.f */
    KP_V_STR,   /* as.s: text (a csv field, a JSON string, a "literal") */
    KP_V_LIST,  /* as.list: elements of any kind (csv fields, a JSON array) */
    KP_V_NUMS,  /* as.nums: contiguous little-endian numbers (an npy row) */
} kp_vkind;

typedef struct kp_value kp_value;

struct kp_value {
    kp_vkind kind;
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
        struct {
            const char *ptr; /* always NUL-terminated; len excludes the NUL */
            size_t len;
        } s;
        struct {
            const kp_value *items;
            size_t len;
        } list;
        struct {
            const void *data; /* len values of `type`, native byte order */
            size_t len;
            kp_type type; /* an integer, float or bool type */
        } nums;
    } as;
};

/* Returns a short name of the kind for messages ("a number", "a list", ...). */
const char *kp_value_kind_name(const kp_value *v);

/* Number of elements ($1..$N) of a list or nums value; 0 for scalars. */
size_t kp_value_len(const kp_value *v);

/* Stores element `i` (0-based) of a list or nums value in *out (a nums
 * element becomes an INT, UINT, FLOAT or BOOL value). Returns false when v has
 * no such element. */
bool kp_value_element(const kp_value *v, size_t i, kp_value *out);

/* Writes v as compact JSON-like text into buf (at most n bytes, NUL-terminated,
 * truncated with "..." when longer). Used in error messages. */
void kp_value_describe(const kp_value *v, char *buf, size_t n);

/* Reads all of s[0..len), an optionally signed decimal integer or float or
 * inf / infinity / nan in any case, into *out as an INT (UINT above
 * INT64_MAX) or FLOAT value and returns 0, or leaves *out alone and returns
 * KPOOL_EINVAL when the text is not such a number or KPOOL_ERANGE when it is
 * outside int64 / uint64 or overflows a double; s[len] must not be a
 * character that could continue a number, as floats are read with strtod. */
int kp_value_parse_number(const char *s, size_t len, kp_value *out);

#endif
