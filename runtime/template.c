/* template.c - parsing the `args` template and applying it to records.
 *
 * The parser is a small recursive-descent reader over the template text. It
 * reports byte columns counted from 1, the column of the first character of
 * the offending item, so that `args = 4, ture` says "column 4". Lists may nest
 * up to TEMPLATE_MAX_DEPTH levels so that a hostile template cannot exhaust
 * the stack. Numbers are decimal only: "0x10" is not a number here, as in
 * JSON; kp_value_parse_number reads them, as it does csv fields in kernel.c,
 * so that both accept the same numbers. */
#include "template.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TEMPLATE_MAX_DEPTH 64

typedef struct parser {
    const char *text;
    size_t pos;
    kp_arena *arena;
    kp_err *err;
} parser;

/* ---- words ------------------------------------------------------------ */

static bool word_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* ---- the parser ------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int fail(parser *p, size_t pos, const char *fmt, ...)
{
    char what[KP_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return kp_err_set(p->err, KPOOL_EJOB, "column %zu: %s", pos + 1, what);
}

/* Bytes of the UTF-8 character at s (1 for anything else), so that messages
 * quote a whole character, never half of one. */
static int char_len(const char *s)
{
    unsigned char c = (unsigned char)s[0];
    int n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    for (int i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            return 1;
    return n;
}

static int fail_plain(parser *p, size_t pos, const char *what)
{
    return kp_err_set(p->err, KPOOL_EJOB, "column %zu: %s", pos + 1, what);
}

static int no_memory(parser *p)
{
    return kp_err_set(p->err, KPOOL_ENOMEM, "out of memory reading the args template");
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void skip_space(parser *p)
{
    while (is_space(p->text[p->pos]))
        p->pos++;
}

/* The characters that end a bare word (a number, true, null, ...). */
static bool ends_word(char c)
{
    return c == '\0' || c == ',' || c == '[' || c == ']' || c == '"' || is_space(c);
}

/* Grows an arena array of `size`-byte elements to hold n + 1 of them. The
 * old copy stays in the arena: templates are short and parsed once. */
static void *grow(kp_arena *arena, void *items, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return items;
    size_t new_cap = *cap ? *cap * 2 : 4;
    if (new_cap > SIZE_MAX / size)
        return NULL;
    void *bigger = kp_arena_alloc(arena, new_cap * size);
    if (!bigger)
        return NULL;
    if (n)
        memcpy(bigger, items, n * size);
    *cap = new_cap;
    return bigger;
}

static int parse_literal(parser *p, kp_value *out, int depth);

static int parse_string(parser *p, kp_value *out)
{
    size_t open = p->pos++;
    /* The unescaped text is never longer than the quoted one. */
    size_t end = p->pos;
    while (p->text[end] && p->text[end] != '"')
        end += p->text[end] == '\\' && p->text[end + 1] ? 2 : 1;
    if (!p->text[end])
        return fail_plain(p, open, "unterminated string (missing '\"')");
    char *buf = kp_arena_alloc(p->arena, end - p->pos + 1);
    if (!buf)
        return no_memory(p);

    size_t len = 0;
    while (p->pos < end) {
        char c = p->text[p->pos];
        if (c != '\\') {
            buf[len++] = c;
            p->pos++;
            continue;
        }
        char e = p->text[p->pos + 1];
        switch (e) {
        case '"':
        case '\\':
            buf[len++] = e;
            break;
        case 'n':
            buf[len++] = '\n';
            break;
        case 't':
            buf[len++] = '\t';
            break;
        case 'r':
            buf[len++] = '\r';
            break;
        case '0':
            return fail_plain(p, p->pos, "strings cannot contain NUL (\\0)");
        default:
            return fail(p, p->pos,
                        "unknown escape '\\%.*s' in a string (use \\\" \\\\ \\n \\t or \\r)",
                        char_len(p->text + p->pos + 1), p->text + p->pos + 1);
        }
        p->pos += 2;
    }
    buf[len] = '\0';
    p->pos = end + 1;
    out->kind = KP_V_STR;
    out->as.s.ptr = buf;
    out->as.s.len = len;
    return 0;
}

static int parse_list(parser *p, kp_value *out, int depth)
{
    size_t open = p->pos++;
    if (depth >= TEMPLATE_MAX_DEPTH)
        return fail_plain(p, open, "lists nested too deeply");
    kp_value *items = NULL;
    size_t n = 0, cap = 0, comma = 0;

    skip_space(p);
    if (p->text[p->pos] == ']') {
        p->pos++;
    } else {
        for (;;) {
            skip_space(p);
            char c = p->text[p->pos];
            if (c == '\0')
                return fail_plain(p, open, "unterminated list (missing ']')");
            if (c == ']')
                return fail_plain(p, comma, "trailing comma in a list");
            if (c == ',')
                return fail_plain(p, p->pos, "empty item in a list");
            if (c == '$')
                return fail_plain(p, p->pos, "$ references cannot be inside a list");
            items = grow(p->arena, items, n, &cap, sizeof *items);
            if (!items)
                return no_memory(p);
            int rc = parse_literal(p, &items[n], depth + 1);
            if (rc < 0)
                return rc;
            n++;
            skip_space(p);
            c = p->text[p->pos];
            if (c == ']') {
                p->pos++;
                break;
            }
            if (c == '\0')
                return fail_plain(p, open, "unterminated list (missing ']')");
            if (c != ',')
                return fail(p, p->pos, "expected ',' or ']' in a list, found '%.*s'",
                            char_len(p->text + p->pos), p->text + p->pos);
            comma = p->pos++;
        }
    }
    out->kind = KP_V_LIST;
    out->as.list.items = items;
    out->as.list.len = n;
    return 0;
}

static int parse_word(parser *p, kp_value *out)
{
    size_t start = p->pos;
    while (!ends_word(p->text[p->pos]))
        p->pos++;
    const char *w = p->text + start;
    size_t len = p->pos - start;
    int shown = len > 40 ? 40 : (int)len;

    if (len == 4 && memcmp(w, "true", 4) == 0) {
        out->kind = KP_V_BOOL;
        out->as.b = true;
        return 0;
    }
    if (len == 5 && memcmp(w, "false", 5) == 0) {
        out->kind = KP_V_BOOL;
        out->as.b = false;
        return 0;
    }
    if (len == 4 && memcmp(w, "null", 4) == 0) {
        out->kind = KP_V_NULL;
        return 0;
    }
    if (word_is(w, len, "true") || word_is(w, len, "false") || word_is(w, len, "null")) {
        char lower[6];
        for (size_t i = 0; i < len; i++)
            lower[i] = (char)tolower((unsigned char)w[i]);
        return kp_err_set(p->err, KPOOL_EJOB, "column %zu: unknown word '%.*s'; did you mean %.*s?",
                          start + 1, (int)len, w, (int)len, lower);
    }

    int rc = kp_value_parse_number(w, len, out);
    if (rc == 0)
        return 0;
    if (rc == KPOOL_ERANGE) {
        bool integral = !memchr(w, '.', len) && !memchr(w, 'e', len) && !memchr(w, 'E', len);
        if (integral && w[0] == '-')
            return fail(p, start, "%.*s is below the smallest integer (-9223372036854775808)",
                        shown, w);
        if (integral)
            return fail(p, start, "%.*s is above the largest integer (18446744073709551615)", shown,
                        w);
        return fail(p, start, "%.*s is beyond the range of a double", shown, w);
    }
    if (isdigit((unsigned char)w[0]) || w[0] == '+' || w[0] == '-' || w[0] == '.')
        return fail(p, start, "'%.*s' is not a number", shown, w);
    return fail(p, start, "unknown word '%.*s'; strings need double quotes", shown, w);
}

static int parse_literal(parser *p, kp_value *out, int depth)
{
    char c = p->text[p->pos];
    if (c == '"')
        return parse_string(p, out);
    if (c == '[')
        return parse_list(p, out, depth);
    if (c == ']')
        return fail_plain(p, p->pos, "unexpected ']' without a '['");
    return parse_word(p, out);
}

/* Reads `$0`, `$K` or `$*` at p->pos. */
static int parse_reference(parser *p, kp_template_item *item)
{
    size_t start = p->pos++;
    const char *s = p->text;
    if (s[p->pos] == '*') {
        item->kind = KP_ARG_SPREAD;
        p->pos++;
    } else if (s[p->pos] >= '0' && s[p->pos] <= '9') {
        size_t digits_at = p->pos;
        size_t k = 0;
        while (s[p->pos] >= '0' && s[p->pos] <= '9') {
            unsigned digit = (unsigned)(s[p->pos] - '0');
            if (k > (SIZE_MAX - digit) / 10)
                return fail_plain(p, start, "element number too large");
            k = k * 10 + digit;
            p->pos++;
        }
        if (s[digits_at] == '0' && p->pos - digits_at > 1)
            return fail(p, start, "'%.*s': element numbers have no leading zeros",
                        (int)(p->pos - start), s + start);
        item->kind = k == 0 ? KP_ARG_RECORD : KP_ARG_ELEMENT;
        item->element = k;
    } else {
        return fail_plain(p, start, "'$' must be followed by 0, an element number or *");
    }
    if (!ends_word(s[p->pos]) && s[p->pos] != '$')
        return fail(p, p->pos, "unexpected '%.*s' after a $ reference", char_len(s + p->pos),
                    s + p->pos);
    return 0;
}

static void template_reset(kp_template *t)
{
    t->n = 0;
    t->items = NULL;
    kp_arena_init(&t->arena);
}

int kp_template_parse(kp_template *t, const char *text, kp_err *err)
{
    template_reset(t);
    parser p = {text, 0, &t->arena, err};
    size_t cap = 0;

    skip_space(&p);
    if (text[p.pos] == '\0')
        return 0;
    for (;;) {
        skip_space(&p);
        char c = text[p.pos];
        if (c == ',')
            return fail_plain(&p, p.pos, "empty item (a comma with nothing before it)");
        kp_template_item *items = grow(&t->arena, t->items, t->n, &cap, sizeof *items);
        if (!items)
            return no_memory(&p);
        t->items = items;
        kp_template_item *item = &t->items[t->n];
        memset(item, 0, sizeof *item);
        int rc;
        if (c == '$') {
            rc = parse_reference(&p, item);
        } else {
            item->kind = KP_ARG_LITERAL;
            rc = parse_literal(&p, &item->literal, 0);
        }
        if (rc < 0)
            return rc;
        t->n++;
        skip_space(&p);
        c = text[p.pos];
        if (c == '\0')
            return 0;
        if (c != ',')
            return fail(&p, p.pos, "expected ',' between items, found '%.*s'",
                        char_len(text + p.pos), text + p.pos);
        size_t comma = p.pos++;
        skip_space(&p);
        if (text[p.pos] == '\0')
            return fail_plain(&p, comma, "trailing comma after the last item");
    }
}

int kp_template_default(kp_template *t, kp_mode mode, kp_err *err)
{
    template_reset(t);
    if (mode == KP_MODE_APPLY)
        return 0;
    if (mode != KP_MODE_MAP && mode != KP_MODE_STARMAP)
        return kp_err_set(err, KPOOL_EINVAL, "unknown mode %d", (int)mode);
    t->items = kp_arena_alloc(&t->arena, sizeof *t->items);
    if (!t->items)
        return kp_err_set(err, KPOOL_ENOMEM, "out of memory making the args template");
    memset(t->items, 0, sizeof *t->items);
    t->items[0].kind = mode == KP_MODE_MAP ? KP_ARG_RECORD : KP_ARG_SPREAD;
    t->n = 1;
    return 0;
}

bool kp_template_uses_record(const kp_template *t)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i].kind != KP_ARG_LITERAL)
            return true;
    return false;
}

/* The text of item i's reference ("$0", "$4", "$*") for messages. */
static const char *reference_text(const kp_template_item *item, char *buf, size_t n)
{
    if (item->kind == KP_ARG_SPREAD)
        return "$*";
    snprintf(buf, n, "$%zu", item->element);
    return buf;
}

/* A nums record whose element type is not a number: the input is broken. */
static int bad_record(const kp_template_item *item, const kp_value *record, kp_err *err)
{
    char ref[32];
    return kp_err_set(err, KPOOL_EINPUT, "%s: the record is an array of unreadable type %d",
                      reference_text(item, ref, sizeof ref), (int)record->as.nums.type);
}

/* Checks that `record` has elements for `item` ($K or $*). */
static int need_list(const kp_template_item *item, const kp_value *record, kp_err *err)
{
    char ref[32];
    if (!record)
        return kp_err_set(err, KPOOL_EINPUT, "%s: there is no input record",
                          reference_text(item, ref, sizeof ref));
    if (item->kind != KP_ARG_RECORD && record->kind != KP_V_LIST && record->kind != KP_V_NUMS)
        return kp_err_set(err, KPOOL_EINPUT, "%s: the record is %s, not a list",
                          reference_text(item, ref, sizeof ref), kp_value_kind_name(record));
    return 0;
}

int kp_template_item_value(const kp_template_item *item, const kp_value *record, kp_value *out,
                           kp_err *err)
{
    if (item->kind == KP_ARG_LITERAL) {
        *out = item->literal;
        return 0;
    }
    int rc = need_list(item, record, err);
    if (rc < 0)
        return rc;
    if (item->kind == KP_ARG_RECORD) {
        *out = *record;
        return 0;
    }
    size_t len = kp_value_len(record);
    if (item->element > len)
        return kp_err_set(err, KPOOL_EINPUT, "$%zu: the record has %zu element%s", item->element,
                          len, len == 1 ? "" : "s");
    if (!kp_value_element(record, item->element - 1, out))
        return bad_record(item, record, err);
    return 0;
}

int kp_template_apply(const kp_template *t, const kp_value *record, kp_arena *arena,
                      kp_value **args, size_t *nargs, kp_err *err)
{
    size_t total = 0;
    *args = NULL;
    *nargs = 0;

    /* First pass: size the tuple, so that it is one allocation. */
    for (size_t i = 0; i < t->n; i++) {
        const kp_template_item *item = &t->items[i];
        if (item->kind != KP_ARG_SPREAD) {
            total++;
            continue;
        }
        int rc = need_list(item, record, err);
        if (rc < 0)
            return rc;
        total += kp_value_len(record);
    }

    if (total == 0)
        return 0;
    if (total > SIZE_MAX / sizeof(kp_value))
        return kp_err_set(err, KPOOL_ENOMEM, "the tuple of %zu values is too large", total);
    kp_value *out = kp_arena_alloc(arena, total * sizeof *out);
    if (!out)
        return kp_err_set(err, KPOOL_ENOMEM, "out of memory for a tuple of %zu values", total);

    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        const kp_template_item *item = &t->items[i];
        if (item->kind != KP_ARG_SPREAD) {
            int rc = kp_template_item_value(item, record, &out[k++], err);
            if (rc < 0)
                return rc;
            continue;
        }
        size_t len = kp_value_len(record);
        for (size_t e = 0; e < len; e++)
            if (!kp_value_element(record, e, &out[k++]))
                return bad_record(item, record, err);
    }
    *args = out;
    *nargs = k;
    return 0;
}

void kp_template_free(kp_template *t)
{
    kp_arena_free(&t->arena);
    t->n = 0;
    t->items = NULL;
}
