/* template.h - the `args` template that turns a record into an argument tuple.
 *
 *   args = $0, 4, 8          record, then two literals
 *   args = $2, $1            elements (1-based) of the record
 *   args = $*, "text"        all elements spread, then a string
 * Literals: integers, floats (1.5, -2e3, inf, nan), "strings" with \" \\ \n \t
 * escapes, true/false, null, and [lists, of, literals]. */
#ifndef KP_TEMPLATE_H
#define KP_TEMPLATE_H

#include "arena.h"
#include "error.h"
#include "value.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum kp_mode { KP_MODE_APPLY, KP_MODE_MAP, KP_MODE_STARMAP } kp_mode;

typedef enum kp_arg_kind {
    KP_ARG_RECORD,  /* $0 */
    KP_ARG_ELEMENT, /* $K, K >= 1 */
    KP_ARG_SPREAD,  /* $* */
    KP_ARG_LITERAL,
} kp_arg_kind;

typedef struct kp_template_item {
    kp_arg_kind kind;
    size_t element; /* K for KP_ARG_ELEMENT */
    kp_value literal;
} kp_template_item;

typedef struct kp_template {
    size_t n;
    kp_template_item *items;
    kp_arena arena; /* owns items and the literals' memory */
} kp_template;

/* Parses an args template. On failure returns KPOOL_EJOB and err says
 * "column N: what is wrong". *t must be freed with kp_template_free even on
 * failure. An empty text is an empty tuple. */
int kp_template_parse(kp_template *t, const char *text, kp_err *err);

/* Sets the default template of a mode: map -> $0, starmap -> $*, apply -> (). */
int kp_template_default(kp_template *t, kp_mode mode, kp_err *err);

/* True when the template refers to the record ($0, $K or $*). */
bool kp_template_uses_record(const kp_template *t);

/* Builds the tuple for `record` (NULL for apply): *args is allocated in
 * `arena`. Fails with KPOOL_EINPUT when the record lacks an element:
 * "$4: the record has 3 elements", or $* of a scalar record. */
int kp_template_apply(const kp_template *t, const kp_value *record, kp_arena *arena,
                      kp_value **args, size_t *nargs, kp_err *err);

/* The value of one item that is not $* for `record` (NULL for none): a
 * literal, the record, or its element K. Fails as kp_template_apply does. */
int kp_template_item_value(const kp_template_item *item, const kp_value *record, kp_value *out,
                           kp_err *err);

void kp_template_free(kp_template *t);

#endif
