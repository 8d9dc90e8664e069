/* input_jsonl.c - JSON Lines: one JSON value per non-blank line (jansson).
 *
 * A line holding only JSON whitespace (spaces, tabs, a CR) is not a record
 * but counts in line numbers. A UTF-8 byte order mark at the start of the
 * file is skipped. Each record line is parsed only when it is read, straight
 * from the mapping (json_loadb needs no NUL), and the json_t is converted into
 * arena values and freed at once.
 *
 * Decisions:
 *   - Strings may not contain \u0000 (JSON_ALLOW_NUL is not passed): values
 *     reach C as NUL-terminated strings, which would silently cut them.
 *   - Integers are those of jansson, json_int_t (long long): a larger one,
 *     even one that would fit uint64_t, is reported as out of range.
 *   - Objects have no order of arguments, so they are an error; arrays nest
 *     up to KP_JSON_MAX_DEPTH levels.
 */
#include "input_impl.h"

#include <jansson.h>
#include <string.h>

#define KP_JSON_MAX_DEPTH 64

static bool is_blank_byte(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int kp_jsonl_index(kp_input *in, kp_err *err)
{
    const unsigned char *m = in->map;
    size_t size = in->size, pos = kp_text_bom_len(in), line = 1;
    kp_text_index *ix = &in->u.text.index;
    while (pos < size) {
        const unsigned char *nl = memchr(m + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - m) : size;
        size_t q = pos;
        while (q < end && is_blank_byte(m[q]))
            q++;
        if (q < end && kp_text_index_push(ix, pos, line) < 0)
            return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory indexing line %zu", in->name,
                              line);
        pos = end + 1;
        line++;
    }
    in->count = ix->n;
    return 0;
}

/* Converts a parsed JSON value into arena values. */
static int convert(const json_t *j, int depth, size_t line, kp_arena *arena, kp_value *out,
                   kp_err *err)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        out->kind = KP_V_NULL;
        return 0;
    case JSON_TRUE:
    case JSON_FALSE:
        out->kind = KP_V_BOOL;
        out->as.b = json_is_true(j);
        return 0;
    case JSON_INTEGER:
        out->kind = KP_V_INT;
        out->as.i = (int64_t)json_integer_value(j);
        return 0;
    case JSON_REAL:
        out->kind = KP_V_FLOAT;
        out->as.f = json_real_value(j);
        return 0;
    case JSON_STRING: {
        size_t len = json_string_length(j);
        char *s = kp_arena_strndup(arena, json_string_value(j), len);
        if (!s)
            return kp_err_set(err, KPOOL_ENOMEM, "line %zu: out of memory reading the record",
                              line);
        out->kind = KP_V_STR;
        out->as.s.ptr = s;
        out->as.s.len = len;
        return 0;
    }
    case JSON_ARRAY: {
        if (depth >= KP_JSON_MAX_DEPTH)
            return kp_err_set(err, KPOOL_EINPUT, "line %zu: arrays nest deeper than %d levels",
                              line, KP_JSON_MAX_DEPTH);
        size_t n = json_array_size(j);
        if (n > SIZE_MAX / sizeof(kp_value) - 1)
            return kp_err_set(err, KPOOL_ENOMEM, "line %zu: the array is too large", line);
        /* Room for one value even when empty, so items is never NULL. */
        kp_value *items = kp_arena_alloc(arena, (n ? n : 1) * sizeof *items);
        if (!items)
            return kp_err_set(err, KPOOL_ENOMEM, "line %zu: out of memory reading the record",
                              line);
        for (size_t i = 0; i < n; i++) {
            memset(&items[i], 0, sizeof items[i]);
            int rc = convert(json_array_get(j, i), depth + 1, line, arena, &items[i], err);
            if (rc < 0)
                return rc;
        }
        out->kind = KP_V_LIST;
        out->as.list.items = items;
        out->as.list.len = n;
        return 0;
    }
    case JSON_OBJECT:
        return kp_err_set(err, KPOOL_EINPUT,
                          "line %zu: a JSON object cannot be an argument (use an array)", line);
    }
    return kp_err_set(err, KPOOL_EINPUT, "line %zu: unknown JSON value", line);
}

int kp_jsonl_record(const kp_input *in, size_t index, kp_arena *arena, kp_value *out, kp_err *err)
{
    const kp_text_rec *rec = &in->u.text.index.recs[index];
    const char *start = (const char *)in->map + rec->offset;
    size_t left = in->size - rec->offset;
    const char *nl = memchr(start, '\n', left);
    size_t len = nl ? (size_t)(nl - start) : left;

    json_error_t e;
    json_t *j = json_loadb(start, len, JSON_DECODE_ANY, &e);
    if (!j) {
        switch (json_error_code(&e)) {
        case json_error_null_character:
            return kp_err_set(err, KPOOL_EINPUT,
                              "line %zu: a string holds \\u0000, which a C string cannot hold "
                              "(column %d)",
                              rec->line, e.column);
        case json_error_numeric_overflow:
            return kp_err_set(err, KPOOL_EINPUT, "line %zu: %s out of range (column %d)", rec->line,
                              strstr(e.text, "integer") ? "integer" : "number", e.column);
        case json_error_out_of_memory:
            return kp_err_set(err, KPOOL_ENOMEM, "line %zu: out of memory parsing JSON", rec->line);
        default:
            return kp_err_set(err, KPOOL_EINPUT, "line %zu: invalid JSON: %s (column %d)",
                              rec->line, e.text, e.column);
        }
    }
    int rc = convert(j, 0, rec->line, arena, out, err);
    json_decref(j);
    return rc;
}
