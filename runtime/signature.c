#include "signature.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The C spellings below map 'int' to i32; every platform kpool targets has a
 * 32-bit int, and a different one would silently change the kernel ABI. */
_Static_assert(sizeof(int) == 4, "kpool assumes a 32-bit int");

/* ---- Tokens ------------------------------------------------------------ */

enum tok_kind {
    TOK_END,
    TOK_IDENT,  /* [A-Za-z_][A-Za-z0-9_]* */
    TOK_NUMBER, /* [0-9][A-Za-z0-9_]*: never valid, lexed whole for messages */
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_COMMA,
    TOK_LBRACKET,
    TOK_RBRACKET,
    TOK_STAR,
};

typedef struct token {
    enum tok_kind kind;
    size_t start; /* byte offset into the text */
    size_t len;
} token;

typedef struct parser {
    const char *text;
    size_t pos; /* where lexing resumes */
    token tok;  /* the current token */
    kp_err *err;
} parser;

static int fail(parser *p, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(parser *p, size_t offset, const char *fmt, ...)
{
    char what[KP_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    /* Byte offset + 1 is also the character column: every byte before the
     * first error is ASCII, since any other byte is itself an error. */
    return kp_err_set(p->err, KPOOL_ESIG, "column %zu: %s", offset + 1, what);
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Length of the UTF-8 sequence starting at s, or 0 when it is not a valid
 * one; used only to quote an unexpected character whole. */
static size_t utf8_length(const unsigned char *s)
{
    size_t len;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4;
    else
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static int unexpected_character(parser *p)
{
    const unsigned char *s = (const unsigned char *)p->text + p->pos;
    if (*s >= 0x20 && *s < 0x7F)
        return fail(p, p->pos, "unexpected character '%c'", *s);
    size_t len = *s >= 0x80 ? utf8_length(s) : 0;
    if (len)
        return fail(p, p->pos, "unexpected character '%.*s'", (int)len, (const char *)s);
    return fail(p, p->pos, "unexpected byte 0x%02X", *s);
}

/* Makes the next token current. */
static int advance(parser *p)
{
    const char *t = p->text;
    while (is_space(t[p->pos]))
        p->pos++;
    size_t start = p->pos;
    p->tok.start = start;
    p->tok.len = 1;
    switch (t[start]) {
    case '\0':
        p->tok.kind = TOK_END;
        p->tok.len = 0;
        return 0;
    case '(':
        p->tok.kind = TOK_LPAREN;
        break;
    case ')':
        p->tok.kind = TOK_RPAREN;
        break;
    case ',':
        p->tok.kind = TOK_COMMA;
        break;
    case '[':
        p->tok.kind = TOK_LBRACKET;
        break;
    case ']':
        p->tok.kind = TOK_RBRACKET;
        break;
    case '*':
        p->tok.kind = TOK_STAR;
        break;
    default:
        if (!is_ident_char(t[start]))
            return unexpected_character(p);
        p->tok.kind = is_ident_start(t[start]) ? TOK_IDENT : TOK_NUMBER;
        while (is_ident_char(t[start + p->tok.len]))
            p->tok.len++;
        break;
    }
    p->pos = start + p->tok.len;
    return 0;
}

static bool tok_is(const parser *p, const char *word)
{
    size_t len = strlen(word);
    return p->tok.kind == TOK_IDENT && p->tok.len == len &&
           memcmp(p->text + p->tok.start, word, len) == 0;
}

/* Longest quotation of a token in a message; a runaway identifier should not
 * push the rest of the sentence out of the error buffer. */
#define QUOTE_MAX 40

/* Describes the current token for "found ..." in a message. */
static const char *describe(const parser *p, char *buf, size_t n)
{
    if (p->tok.kind == TOK_END)
        return "end of text";
    if (p->tok.len > QUOTE_MAX)
        snprintf(buf, n, "'%.*s...'", QUOTE_MAX, p->text + p->tok.start);
    else
        snprintf(buf, n, "'%.*s'", (int)p->tok.len, p->text + p->tok.start);
    return buf;
}

/* ---- Words ------------------------------------------------------------- */

/* The C type keywords, which combine ("unsigned long int"); each has one bit
 * and the set of bits it may be combined with. */
enum {
    KW_SIGNED = 1 << 0,
    KW_UNSIGNED = 1 << 1,
    KW_CHAR = 1 << 2,
    KW_SHORT = 1 << 3,
    KW_INT = 1 << 4,
    KW_LONG = 1 << 5,
    KW_FLOAT = 1 << 6,
    KW_DOUBLE = 1 << 7,
    KW_VOID = 1 << 8,
    KW_BOOL = 1 << 9,
};

static const struct {
    const char *word;
    unsigned bit;
    unsigned combines_with;
} keywords[] = {
    {"signed", KW_SIGNED, KW_CHAR | KW_SHORT | KW_INT | KW_LONG},
    {"unsigned", KW_UNSIGNED, KW_CHAR | KW_SHORT | KW_INT | KW_LONG},
    {"char", KW_CHAR, KW_SIGNED | KW_UNSIGNED},
    {"short", KW_SHORT, KW_SIGNED | KW_UNSIGNED | KW_INT},
    {"int", KW_INT, KW_SIGNED | KW_UNSIGNED | KW_SHORT | KW_LONG},
    {"long", KW_LONG, KW_SIGNED | KW_UNSIGNED | KW_INT | KW_LONG},
    {"float", KW_FLOAT, 0},
    {"double", KW_DOUBLE, 0},
    {"void", KW_VOID, 0},
    {"bool", KW_BOOL, 0},
    {"_Bool", KW_BOOL, 0},
};

#define NKEYWORDS (sizeof keywords / sizeof keywords[0])

static kp_type type_of_size(size_t size, bool is_signed)
{
    switch (size) {
    case 1:
        return is_signed ? KP_T_I8 : KP_T_U8;
    case 2:
        return is_signed ? KP_T_I16 : KP_T_U16;
    case 4:
        return is_signed ? KP_T_I32 : KP_T_U32;
    default:
        return is_signed ? KP_T_I64 : KP_T_U64;
    }
}

/* Types written as one word. size_t and ssize_t follow the platform (both are
 * 64 bits on LP64). */
static bool single_word_type(const char *s, size_t len, kp_type *out)
{
    static const struct {
        const char *word;
        kp_type type;
    } words[] = {
        {"i8", KP_T_I8},        {"i16", KP_T_I16},      {"i32", KP_T_I32},
        {"i64", KP_T_I64},      {"u8", KP_T_U8},        {"u16", KP_T_U16},
        {"u32", KP_T_U32},      {"u64", KP_T_U64},      {"f32", KP_T_F32},
        {"f64", KP_T_F64},      {"str", KP_T_STR},      {"int8_t", KP_T_I8},
        {"int16_t", KP_T_I16},  {"int32_t", KP_T_I32},  {"int64_t", KP_T_I64},
        {"uint8_t", KP_T_U8},   {"uint16_t", KP_T_U16}, {"uint32_t", KP_T_U32},
        {"uint64_t", KP_T_U64},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strlen(words[i].word) == len && memcmp(words[i].word, s, len) == 0) {
            *out = words[i].type;
            return true;
        }
    }
    if (len == 6 && memcmp(s, "size_t", 6) == 0) {
        *out = type_of_size(sizeof(size_t), false);
        return true;
    }
    if (len == 7 && memcmp(s, "ssize_t", 7) == 0) {
        *out = type_of_size(sizeof(size_t), true);
        return true;
    }
    return false;
}

static int keyword_index(const parser *p)
{
    for (size_t i = 0; i < NKEYWORDS; i++)
        if (tok_is(p, keywords[i].word))
            return (int)i;
    return -1;
}

/* Words that begin or continue a type; none of them may be a name, so that
 * "unsigned int64_t" is reported as a bad type rather than read as a name. */
static bool is_type_word(const parser *p)
{
    kp_type ignored;
    return keyword_index(p) >= 0 || tok_is(p, "const") ||
           single_word_type(p->text + p->tok.start, p->tok.len, &ignored);
}

/* Names end up in the C prototype shown to kernel authors, so C's keywords
 * are refused as names. */
static bool is_c_keyword(const parser *p)
{
    static const char *const words[] = {
        "auto",      "break",          "case",          "continue", "default",  "do",
        "else",      "enum",           "extern",        "for",      "goto",     "if",
        "inline",    "register",       "restrict",      "return",   "sizeof",   "static",
        "struct",    "switch",         "typedef",       "union",    "volatile", "while",
        "_Alignas",  "_Alignof",       "_Atomic",       "_Complex", "_Generic", "_Imaginary",
        "_Noreturn", "_Static_assert", "_Thread_local",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (tok_is(p, words[i]))
            return true;
    return false;
}

/* ---- Grammar ----------------------------------------------------------- */

typedef struct parsed_type {
    kp_type type;
    size_t start, end; /* the span of text that spelled it, for messages */
} parsed_type;

/* Number of the lowest set bit of a nonzero mask. */
static int bit_number(unsigned mask)
{
    int n = 0;
    while (!(mask & 1u)) {
        mask >>= 1;
        n++;
    }
    return n;
}

static kp_type type_of_keywords(unsigned bits, int longs)
{
    bool is_signed = !(bits & KW_UNSIGNED);
    if (bits & KW_VOID)
        return KP_T_VOID;
    if (bits & KW_BOOL)
        return KP_T_BOOL;
    if (bits & KW_FLOAT)
        return KP_T_F32;
    if (bits & KW_DOUBLE)
        return KP_T_F64;
    if (bits & KW_CHAR)
        return is_signed ? KP_T_I8 : KP_T_U8;
    if (bits & KW_SHORT)
        return type_of_size(sizeof(short), is_signed);
    if (longs == 2)
        return type_of_size(sizeof(long long), is_signed);
    if (longs == 1)
        return type_of_size(sizeof(long), is_signed);
    return type_of_size(sizeof(int), is_signed);
}

/* Reads a type: a run of C type keywords and 'const', or one type word, then
 * an optional '*' that is only valid after (const) char. `what` says what was
 * expected when no type is there ("a return type"). */
static int parse_type(parser *p, const char *what, parsed_type *out)
{
    char found[QUOTE_MAX + 8];
    unsigned bits = 0;
    int longs = 0;
    const char *spelled[10] = {0}; /* as written, by bit number, for messages */
    bool saw_const = false;
    int rc;

    out->start = p->tok.start;
    out->end = p->tok.start;
    for (int k; (k = keyword_index(p)) >= 0 || tok_is(p, "const");) {
        if (k >= 0) {
            unsigned bit = keywords[k].bit;
            int bitno = bit_number(bit);
            if ((bits & bit) && !(bit == KW_LONG && longs == 1)) {
                if (bit == KW_LONG)
                    return fail(p, p->tok.start, "'long long long' is not a type");
                if (strcmp(spelled[bitno], keywords[k].word) != 0)
                    return fail(p, p->tok.start, "'%s' cannot be combined with '%s'",
                                keywords[k].word, spelled[bitno]);
                return fail(p, p->tok.start, "'%s' appears twice in one type", keywords[k].word);
            }
            unsigned clash = bits & ~keywords[k].combines_with;
            if (clash) {
                int other = bit_number(clash);
                if (bit == KW_DOUBLE && (bits & KW_LONG))
                    return fail(p, p->tok.start, "'long double' is not supported");
                if (bit == KW_LONG && (bits & KW_DOUBLE))
                    return fail(p, p->tok.start, "'double long' is not supported");
                return fail(p, p->tok.start, "'%s' cannot be combined with '%s'", keywords[k].word,
                            spelled[other]);
            }
            bits |= bit;
            longs += bit == KW_LONG;
            spelled[bitno] = keywords[k].word;
        } else {
            saw_const = true;
        }
        out->end = p->tok.start + p->tok.len;
        if ((rc = advance(p)) < 0)
            return rc;
    }

    if (bits) {
        out->type = type_of_keywords(bits, longs);
    } else if (p->tok.kind == TOK_IDENT) {
        if (!single_word_type(p->text + p->tok.start, p->tok.len, &out->type))
            return fail(p, p->tok.start, "unknown type %s", describe(p, found, sizeof found));
        do {
            out->end = p->tok.start + p->tok.len;
            if ((rc = advance(p)) < 0)
                return rc;
        } while (tok_is(p, "const"));
    } else if (saw_const) {
        return fail(p, p->tok.start, "expected a type after 'const', found %s",
                    describe(p, found, sizeof found));
    } else {
        return fail(p, p->tok.start, "expected %s, found %s", what,
                    describe(p, found, sizeof found));
    }

    if (p->tok.kind == TOK_STAR) {
        /* Only a plain char pointer has a meaning (a string); every other
         * pointer would be a guess at ownership and length. */
        if (bits != KW_CHAR)
            return fail(p, p->tok.start,
                        "'%.*s *' is not supported: the only pointer type is 'const char *' "
                        "(str); write an array as 'T[]'",
                        (int)(out->end - out->start), p->text + out->start);
        out->type = KP_T_STR;
        do {
            out->end = p->tok.start + p->tok.len;
            if ((rc = advance(p)) < 0)
                return rc;
        } while (tok_is(p, "const"));
        if (p->tok.kind == TOK_STAR)
            return fail(p, p->tok.start, "'char **' is not supported; use 'str' for a string");
    }
    return 0;
}

/* Reads the name at the current token into buf when there is one; a token
 * that is not an identifier leaves buf empty for the caller to judge. */
static int parse_name(parser *p, const parsed_type *type, char buf[KP_NAME_MAX], size_t *name_at)
{
    buf[0] = '\0';
    *name_at = p->tok.start;
    if (p->tok.kind != TOK_IDENT)
        return 0;
    if (is_type_word(p))
        return fail(p, p->tok.start, "unexpected type name '%.*s' after '%.*s'", (int)p->tok.len,
                    p->text + p->tok.start, (int)(type->end - type->start), p->text + type->start);
    if (is_c_keyword(p))
        return fail(p, p->tok.start, "'%.*s' is a C keyword and cannot be a name", (int)p->tok.len,
                    p->text + p->tok.start);
    if (p->tok.len > KP_NAME_MAX - 1)
        return fail(p, p->tok.start, "the name '%.*s...' is %zu characters long; the limit is %d",
                    QUOTE_MAX, p->text + p->tok.start, p->tok.len, KP_NAME_MAX - 1);
    memcpy(buf, p->text + p->tok.start, p->tok.len);
    buf[p->tok.len] = '\0';
    return advance(p);
}

/* Reads "[]" at the current token, if there is one, marking `param` an array. */
static int parse_brackets(parser *p, size_t index, kp_param *param, size_t *bracket_at)
{
    char found[QUOTE_MAX + 8];
    int rc;
    if (p->tok.kind != TOK_LBRACKET)
        return 0;
    if (param->is_array)
        return fail(p, p->tok.start,
                    "parameter %zu is already an array; arrays of arrays are not supported",
                    index + 1);
    *bracket_at = p->tok.start;
    if ((rc = advance(p)) < 0)
        return rc;
    if (p->tok.kind != TOK_RBRACKET)
        return fail(p, p->tok.start,
                    "expected ']' after '[', found %s (an array's length comes with its data)",
                    describe(p, found, sizeof found));
    param->is_array = true;
    if ((rc = advance(p)) < 0)
        return rc;
    if (p->tok.kind == TOK_LBRACKET)
        return fail(p, p->tok.start,
                    "parameter %zu is already an array; arrays of arrays are not supported",
                    index + 1);
    return 0;
}

/* Reads one parameter. Sets *no_params for the "(void)" parameter list. */
static int parse_param(parser *p, kp_signature *sig, bool *no_params)
{
    size_t index = sig->nparams;
    kp_param *param = &sig->params[index];
    size_t bracket_at = 0, name_at;
    parsed_type type;
    int rc;

    if (index == KP_MAX_PARAMS)
        return fail(p, p->tok.start, "too many parameters: the limit is %d", KP_MAX_PARAMS);
    if ((rc = parse_type(p, "a parameter type", &type)) < 0)
        return rc;
    if (type.type == KP_T_VOID) {
        /* As in C, only an unqualified 'void' may stand for "no parameters". */
        bool bare = type.end - type.start == 4;
        if (index == 0 && bare && p->tok.kind == TOK_RPAREN) {
            *no_params = true;
            return 0;
        }
        return fail(p, type.start,
                    "parameter %zu cannot be void ('void' alone means no parameters)", index + 1);
    }
    param->type = type.type;
    param->is_array = false;
    if ((rc = parse_brackets(p, index, param, &bracket_at)) < 0)
        return rc;
    if ((rc = parse_name(p, &type, param->name, &name_at)) < 0)
        return rc;
    if ((rc = parse_brackets(p, index, param, &bracket_at)) < 0)
        return rc;
    if (param->is_array && param->type == KP_T_STR)
        return fail(p, bracket_at,
                    "parameter %zu: arrays of str are not supported; an array holds numbers or "
                    "bool",
                    index + 1);
    if (param->name[0]) {
        for (size_t i = 0; i < index; i++)
            if (strcmp(sig->params[i].name, param->name) == 0)
                return fail(p, name_at, "duplicate parameter name '%s' (also parameter %zu)",
                            param->name, i + 1);
    }
    sig->nparams++;
    return 0;
}

int kp_signature_parse(const char *text, kp_signature *out, kp_err *err)
{
    char found[QUOTE_MAX + 8];
    parser p = {.text = text ? text : "", .err = err};
    kp_signature sig;
    parsed_type ret;
    size_t name_at;
    int rc;

    memset(&sig, 0, sizeof sig);
    if ((rc = advance(&p)) < 0)
        return rc;
    if (p.tok.kind == TOK_END)
        return fail(&p, p.tok.start,
                    "expected a return type, found end of text (the signature is empty)");
    if ((rc = parse_type(&p, "a return type", &ret)) < 0)
        return rc;
    sig.ret = ret.type;
    if (p.tok.kind == TOK_LBRACKET)
        return fail(&p, p.tok.start, "a kernel cannot return an array");
    if ((rc = parse_name(&p, &ret, sig.name, &name_at)) < 0)
        return rc;
    if (p.tok.kind != TOK_LPAREN) {
        if (sig.name[0])
            return fail(&p, p.tok.start, "expected '(' after the function name '%s', found %s",
                        sig.name, describe(&p, found, sizeof found));
        return fail(&p, p.tok.start, "expected '(' after the return type, found %s",
                    describe(&p, found, sizeof found));
    }
    if ((rc = advance(&p)) < 0)
        return rc;

    if (p.tok.kind != TOK_RPAREN) {
        for (;;) {
            bool no_params = false;
            if ((rc = parse_param(&p, &sig, &no_params)) < 0)
                return rc;
            if (no_params || p.tok.kind == TOK_RPAREN)
                break;
            if (p.tok.kind != TOK_COMMA)
                return fail(&p, p.tok.start, "expected ',' or ')' after parameter %zu, found %s",
                            sig.nparams, describe(&p, found, sizeof found));
            if ((rc = advance(&p)) < 0)
                return rc;
        }
    }
    if ((rc = advance(&p)) < 0)
        return rc;
    if (p.tok.kind != TOK_END)
        return fail(&p, p.tok.start, "unexpected %s after ')': the signature ends there",
                    describe(&p, found, sizeof found));
    *out = sig;
    return 0;
}

/* ---- Writing ----------------------------------------------------------- */

/* Output that truncates like snprintf: `len` counts everything written,
 * `buf` holds what fits and stays NUL-terminated. */
typedef struct strbuf {
    char *buf;
    size_t n;
    size_t len;
} strbuf;

static strbuf strbuf_make(char *buf, size_t n)
{
    if (buf && n)
        buf[0] = '\0';
    else
        n = 0;
    return (strbuf){.buf = buf, .n = n, .len = 0};
}

static void put(strbuf *sb, const char *s)
{
    size_t len = strlen(s);
    if (sb->len + 1 < sb->n) {
        size_t room = sb->n - 1 - sb->len;
        size_t k = len < room ? len : room;
        memcpy(sb->buf + sb->len, s, k);
        sb->buf[sb->len + k] = '\0';
    }
    sb->len += len;
}

/* Puts a C type followed by a declarator name, without a space after '*'. */
static void put_declaration(strbuf *sb, const char *c_type, const char *name)
{
    size_t len = strlen(c_type);
    put(sb, c_type);
    if (len && c_type[len - 1] != '*')
        put(sb, " ");
    put(sb, name);
}

size_t kp_signature_format(const kp_signature *sig, char *buf, size_t n)
{
    strbuf sb = strbuf_make(buf, n);
    put(&sb, kp_type_name(sig->ret));
    put(&sb, " ");
    put(&sb, sig->name);
    put(&sb, "(");
    for (size_t i = 0; i < sig->nparams; i++) {
        const kp_param *param = &sig->params[i];
        if (i)
            put(&sb, ", ");
        put(&sb, kp_type_name(param->type));
        if (param->is_array)
            put(&sb, "[]");
        if (param->name[0]) {
            put(&sb, " ");
            put(&sb, param->name);
        }
    }
    put(&sb, ")");
    return sb.len;
}

/* Room for a C parameter name: a user's name, "_len", and one '_' per other
 * name (user's or generated) it might collide with. */
#define C_NAME_MAX (KP_NAME_MAX + 4 + 3 * KP_MAX_PARAMS + 1)

typedef struct c_names {
    char names[2 * KP_MAX_PARAMS][C_NAME_MAX];
    size_t count;
} c_names;

static bool name_taken(const kp_signature *sig, const c_names *taken, const char *name)
{
    for (size_t i = 0; i < sig->nparams; i++)
        if (strcmp(sig->params[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < taken->count; i++)
        if (strcmp(taken->names[i], name) == 0)
            return true;
    return false;
}

/* Adds a generated name (p2, row_len), appending '_' until it differs from
 * every parameter's own name and every name generated before it, so that
 * the prototype always compiles. */
static const char *add_generated_name(const kp_signature *sig, c_names *taken, const char *name)
{
    char *slot = taken->names[taken->count];
    snprintf(slot, C_NAME_MAX, "%s", name);
    size_t len = strlen(slot);
    while (name_taken(sig, taken, slot) && len + 1 < C_NAME_MAX) {
        slot[len++] = '_';
        slot[len] = '\0';
    }
    taken->count++;
    return slot;
}

size_t kp_signature_prototype(const kp_signature *sig, const char *name, char *buf, size_t n)
{
    strbuf sb = strbuf_make(buf, n);
    c_names taken;
    taken.count = 0;

    if (!name)
        name = sig->name;
    put_declaration(&sb, kp_type_c_name(sig->ret), name[0] ? name : "kernel");
    put(&sb, "(");
    if (sig->nparams == 0)
        put(&sb, "void");
    for (size_t i = 0; i < sig->nparams; i++) {
        const kp_param *param = &sig->params[i];
        const char *pname = param->name;
        if (i)
            put(&sb, ", ");
        if (!pname[0]) {
            char generated[32];
            snprintf(generated, sizeof generated, "p%zu", i + 1);
            pname = add_generated_name(sig, &taken, generated);
        }
        if (param->is_array) {
            char len_name[C_NAME_MAX];
            put(&sb, "const ");
            put(&sb, kp_type_c_name(param->type));
            put(&sb, " *");
            put(&sb, pname);
            snprintf(len_name, sizeof len_name, "%s_len", pname);
            put(&sb, ", size_t ");
            put(&sb, add_generated_name(sig, &taken, len_name));
        } else {
            put_declaration(&sb, kp_type_c_name(param->type), pname);
        }
    }
    put(&sb, ")");
    return sb.len;
}

bool kp_signature_same_types(const kp_signature *a, const kp_signature *b)
{
    if (a->ret != b->ret || a->nparams != b->nparams)
        return false;
    for (size_t i = 0; i < a->nparams; i++)
        if (a->params[i].type != b->params[i].type ||
            a->params[i].is_array != b->params[i].is_array)
            return false;
    return true;
}

const char *kp_param_label(const kp_signature *sig, size_t i, char *buf, size_t n)
{
    if (i < sig->nparams && sig->params[i].name[0])
        return sig->params[i].name;
    if (!buf || n == 0)
        return "";
    snprintf(buf, n, "%zu", i + 1);
    return buf;
}
