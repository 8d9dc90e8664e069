/* jobfile.c - loads the job file with inih, applies --set, validates, and
 * writes the reference of keys; everything is driven by KP_JOB_KEYS.
 *
 * inih's handler does not receive line numbers unless INI_HANDLER_LINENO is
 * defined, and defining INI_* options would change the ABI of the system
 * library. So the file is fed to ini_parse_stream() through a reader that
 * hands inih one physical line per call: inih counts reader calls as its line
 * number, so the reader's count is the line of every handler call, and
 * ini_parse_stream()'s return value (the line of the first error) agrees with
 * it. The reader also sees what inih never reports: overlong lines, NUL bytes,
 * section headers with no keys below them, and lines that inih would silently
 * join to the previous value. */
#include "jobfile.h"

#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

const kp_job_key kp_job_keys[KP_JOB_KEY_COUNT] = {
#define KP_JOB_KEY_ENTRY(section, key, type, choices, def, doc)                                    \
    {#section, #key, type, choices, def, doc},
    KP_JOB_KEYS(KP_JOB_KEY_ENTRY)
#undef KP_JOB_KEY_ENTRY
};

/* Counts are also used as C ints by the pool, so they stop at INT_MAX. */
#define COUNT_MAX INT_MAX
/* A timeout beyond this (about 31 years) is certainly a typo, and capping it
 * keeps conversions to integer time units defined. */
#define SECONDS_MAX 1e9
/* Names longer than this get no "did you mean" suggestion. */
#define SUGGEST_MAX 64

/* ---- The table ---------------------------------------------------------- */

static bool key_is_required(kp_job_key_id id)
{
    return id == KP_KEY_job_plugin || id == KP_KEY_job_kernel;
}

/* Fills `names` with the distinct sections in table order; returns how many. */
static size_t list_sections(const char *names[KP_JOB_KEY_COUNT])
{
    size_t n = 0;
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        size_t j = 0;
        while (j < n && strcmp(names[j], kp_job_keys[i].section) != 0)
            j++;
        if (j == n)
            names[n++] = kp_job_keys[i].section;
    }
    return n;
}

/* Writes "[job] [input] [pool] [output]" into buf. */
static void format_sections(char *buf, size_t n)
{
    const char *names[KP_JOB_KEY_COUNT];
    size_t count = list_sections(names);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s[%s]", i ? " " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static bool section_is_known(const char *section, size_t len)
{
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++)
        if (strlen(kp_job_keys[i].section) == len &&
            strncmp(kp_job_keys[i].section, section, len) == 0)
            return true;
    return false;
}

/* Returns the id of [section] key, or -1. */
static int find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++)
        if (strcmp(kp_job_keys[i].section, section) == 0 && strcmp(kp_job_keys[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* ---- Suggestions -------------------------------------------------------- */

/* Optimal-string-alignment distance, ignoring case: typos are mostly one
 * wrong, missing, extra or swapped letter. */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        for (size_t j = 1; j <= nb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[na][nb];
}

typedef struct suggestion {
    const char *word;
    size_t limit; /* the largest distance still worth suggesting */
    const char *best;
    size_t best_len, best_distance;
} suggestion;

static void suggest_begin(suggestion *s, const char *word)
{
    size_t len = strlen(word);
    s->word = word;
    s->limit = len > SUGGEST_MAX ? 0 : len <= 3 ? 1 : 2;
    s->best = NULL;
    s->best_len = 0;
    s->best_distance = SIZE_MAX;
}

static void suggest_try(suggestion *s, const char *cand, size_t len)
{
    if (s->limit == 0 || len > SUGGEST_MAX)
        return;
    size_t d = edit_distance(s->word, strlen(s->word), cand, len);
    if (d <= s->limit && d < len && d < s->best_distance) {
        s->best = cand;
        s->best_len = len;
        s->best_distance = d;
    }
}

/* ---- Messages ----------------------------------------------------------- */

/* What a valid value of the key looks like, for "expected ..." messages. */
static const char *expected_value(const kp_job_key *k)
{
    switch (k->type) {
    case KP_KEY_STRING:
        return "text";
    case KP_KEY_PATH:
        return "a file path, or - for standard input or output";
    case KP_KEY_PLUGIN:
        return "a path to a shared object, or a bare name such as libm.so.6";
    case KP_KEY_ENUM:
        return k->choices;
    case KP_KEY_COUNT:
        return "an integer >= 0";
    case KP_KEY_AUTO_COUNT:
        return "auto or an integer >= 1";
    case KP_KEY_SECONDS:
        return "a number of seconds >= 0";
    case KP_KEY_BOOL:
        return "true or false";
    case KP_KEY_RANGE:
        return "start:stop[:step], e.g. 0:1000";
    case KP_KEY_HALT:
        return "continue, stop, soon,fail=N, soon,fail=P%, now,fail=N or now,fail=P%";
    }
    return "a value";
}

/* A '#' after a space is a comment only at the start of a line in inih; say
 * so when it is the likely reason a value does not parse. */
static const char *comment_hint(const char *text)
{
    for (const char *p = text; *p; p++)
        if (*p == '#' && p > text && isspace((unsigned char)p[-1]))
            return "; note: an inline comment starts with ' ;', '#' only starts a whole-line "
                   "comment";
    return "";
}

/* ---- Parsing values ----------------------------------------------------- */

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

static int parse_count(const kp_job_key *k, const char *text, kp_job_value *v, char *msg, size_t n)
{
    bool auto_ok = k->type == KP_KEY_AUTO_COUNT;
    if (auto_ok && strcasecmp(text, "auto") == 0) {
        v->num = 0;
        return 0;
    }
    if (text[0] == '-' && all_digits(text + 1)) {
        if (auto_ok)
            snprintf(msg, n, "must be auto or at least 1: '%s'", text);
        else
            snprintf(msg, n, "must not be negative: '%s'", text);
        return KPOOL_EJOB;
    }
    if (!all_digits(text)) {
        snprintf(msg, n, "not a number: '%s' (expected %s)%s", text, expected_value(k),
                 comment_hint(text));
        return KPOOL_EJOB;
    }
    errno = 0;
    long long num = strtoll(text, NULL, 10);
    if (errno == ERANGE || num > COUNT_MAX) {
        snprintf(msg, n, "too large: '%s' (at most %d)", text, COUNT_MAX);
        return KPOOL_EJOB;
    }
    if (auto_ok && num < 1) {
        snprintf(msg, n, "must be auto or at least 1: '%s'", text);
        return KPOOL_EJOB;
    }
    v->num = num;
    return 0;
}

/* Plain decimal numbers only: strtod would also take "inf", "nan" and hex. */
static bool decimal_number(const char *s, double *out)
{
    const char *p = s;
    bool digits = false;
    while (isdigit((unsigned char)*p))
        p++, digits = true;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, digits = true;
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return false;
    *out = strtod(s, NULL);
    return true;
}

static int parse_seconds(const char *text, kp_job_value *v, char *msg, size_t n)
{
    double x;
    if (text[0] == '-' && decimal_number(text + 1, &x)) {
        snprintf(msg, n, "must not be negative: '%s'", text);
        return KPOOL_EJOB;
    }
    if (!decimal_number(text, &x)) {
        snprintf(msg, n, "not a number of seconds: '%s' (expected a number >= 0, e.g. 2.5)%s", text,
                 comment_hint(text));
        return KPOOL_EJOB;
    }
    if (!isfinite(x) || x > SECONDS_MAX) {
        snprintf(msg, n, "too large: '%s' (at most %.0f seconds)", text, SECONDS_MAX);
        return KPOOL_EJOB;
    }
    v->seconds = x;
    return 0;
}

static int parse_bool(const char *text, kp_job_value *v, char *msg, size_t n)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            v->num = 1;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            v->num = 0;
            return 0;
        }
    }
    snprintf(msg, n,
             "not a boolean: '%s' (expected true or false; yes/no, on/off, 1/0 also work)%s", text,
             comment_hint(text));
    return KPOOL_EJOB;
}

/* Finds `text` among the '|'-separated choices; sets *choice and *len. */
static int parse_enum(const kp_job_key *k, const char *text, kp_job_value *v, const char **choice,
                      size_t *len, char *msg, size_t n)
{
    suggestion s;
    suggest_begin(&s, text);
    size_t tlen = strlen(text);
    int index = 0;
    for (const char *c = k->choices; *c; index++) {
        size_t clen = strcspn(c, "|");
        if (clen == tlen && strncasecmp(c, text, clen) == 0) {
            v->num = index;
            *choice = c;
            *len = clen;
            return 0;
        }
        suggest_try(&s, c, clen);
        c += clen;
        if (*c == '|')
            c++;
    }
    if (s.best)
        snprintf(msg, n, "not one of %s: '%s' (did you mean %.*s?)", k->choices, text,
                 (int)s.best_len, s.best);
    else
        snprintf(msg, n, "not one of %s: '%s'%s", k->choices, text, comment_hint(text));
    return KPOOL_EJOB;
}

/* Parses one int64 part of a range, [s, e) with surrounding blanks. */
static int parse_range_part(const char *text, const char *s, const char *e, const char *what,
                            int64_t *out, char *msg, size_t n)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    char part[64];
    if (s == e) {
        snprintf(msg, n, "not a range: '%s' (%s is missing; expected start:stop[:step])", text,
                 what);
        return KPOOL_EJOB;
    }
    size_t len = (size_t)(e - s);
    const char *digits = s + (*s == '-' || *s == '+');
    bool ok = len < sizeof part && digits < e;
    for (const char *p = digits; ok && p < e; p++)
        ok = isdigit((unsigned char)*p);
    if (!ok) {
        snprintf(msg, n, "not a range: '%s' (%s is not an integer)%s", text, what,
                 comment_hint(text));
        return KPOOL_EJOB;
    }
    memcpy(part, s, len);
    part[len] = '\0';
    errno = 0;
    long long num = strtoll(part, NULL, 10);
    if (errno == ERANGE) {
        snprintf(msg, n, "not a range: '%s' (%s does not fit in a 64-bit integer)", text, what);
        return KPOOL_EJOB;
    }
    *out = num;
    return 0;
}

static int parse_range(const char *text, kp_job_value *v, char *msg, size_t n)
{
    const char *c1 = strchr(text, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || (c2 && strchr(c2 + 1, ':'))) {
        snprintf(msg, n, "not a range: '%s' (expected start:stop[:step], e.g. 0:1000)%s", text,
                 comment_hint(text));
        return KPOOL_EJOB;
    }
    const char *end = text + strlen(text);
    int64_t start, stop, step = 1;
    int rc = parse_range_part(text, text, c1, "start", &start, msg, n);
    if (!rc)
        rc = parse_range_part(text, c1 + 1, c2 ? c2 : end, "stop", &stop, msg, n);
    if (!rc && c2)
        rc = parse_range_part(text, c2 + 1, end, "step", &step, msg, n);
    if (rc)
        return rc;
    if (step == 0) {
        snprintf(msg, n, "step must not be 0: '%s'", text);
        return KPOOL_EJOB;
    }
    v->start = start;
    v->stop = stop;
    v->step = step;
    return 0;
}

/* on_error, after GNU Parallel's --halt: continue | stop | soon,fail=N |
 * soon,fail=P% | now,fail=N | now,fail=P%. */
static int parse_halt(const char *text, kp_job_value *v, char *msg, size_t n)
{
    if (strcasecmp(text, "continue") == 0) {
        v->num = 0;
        return 0;
    }
    if (strcasecmp(text, "stop") == 0) {
        v->num = 1;
        v->start = 1;
        return 0;
    }
    const char *rest;
    if (strncasecmp(text, "soon,fail=", 10) == 0)
        v->num = 1, rest = text + 10;
    else if (strncasecmp(text, "now,fail=", 9) == 0)
        v->num = 2, rest = text + 9;
    else {
        snprintf(msg, n,
                 "not a halt rule: '%s' (expected continue, stop, soon,fail=N, soon,fail=P%%, "
                 "now,fail=N or now,fail=P%%)%s",
                 text, comment_hint(text));
        return KPOOL_EJOB;
    }
    size_t len = strlen(rest);
    bool percent = len > 0 && rest[len - 1] == '%';
    char number[64];
    if (len - percent == 0 || len - percent >= sizeof number) {
        snprintf(msg, n, "'%s': fail= needs a number of tasks or a percentage", text);
        return KPOOL_EJOB;
    }
    memcpy(number, rest, len - percent);
    number[len - percent] = '\0';
    if (percent) {
        char *end;
        errno = 0;
        double pct = strtod(number, &end);
        if (*end || errno || !isdigit((unsigned char)number[0]) || !(pct > 0) || pct > 100) {
            snprintf(msg, n, "'%s': the percentage must be above 0 and at most 100", text);
            return KPOOL_EJOB;
        }
        v->seconds = pct;
        v->start = 0;
        return 0;
    }
    if (!all_digits(number) || strlen(number) > 18 || atoll(number) < 1) {
        snprintf(msg, n, "'%s': fail= needs a whole number of tasks >= 1, or a percentage", text);
        return KPOOL_EJOB;
    }
    v->start = atoll(number);
    v->seconds = 0;
    return 0;
}

static bool quoted(const char *text)
{
    size_t len = strlen(text);
    return len >= 2 && (text[0] == '"' || text[0] == '\'') && text[len - 1] == text[0];
}

/* Joins a relative path to the job file's folder; "-", absolute paths and
 * paths in a job file in the current folder are kept as written. */
static char *resolve_path(const char *dir, const char *text)
{
    if (strcmp(text, "-") == 0 || text[0] == '/' || strcmp(dir, ".") == 0)
        return strdup(text);
    size_t dlen = strlen(dir);
    bool slash = dlen > 0 && dir[dlen - 1] == '/';
    char *out = malloc(dlen + 1 + strlen(text) + 1);
    if (out)
        sprintf(out, "%s%s%s", dir, slash ? "" : "/", text);
    return out;
}

/* Parses `text` for key `id` and stores it with its origin: line > 0 for a
 * line of the job file (relative paths then resolve against jf->dir), 0 for
 * --set. An empty value means "not given" for keys whose default is empty.
 * Returns 0, KPOOL_EJOB with "what is wrong" in msg, or KPOOL_ENOMEM. */
static int assign(kp_jobfile *jf, kp_job_key_id id, const char *text, int line, char *msg, size_t n)
{
    const kp_job_key *k = &kp_job_keys[id];
    kp_job_value v = {.set = true, .line = line};
    const char *choice = text;
    size_t choice_len = strlen(text);
    int rc = 0;

    if (text[0] == '\0') {
        if (key_is_required(id)) {
            snprintf(msg, n, "empty value; this key is required");
            return KPOOL_EJOB;
        }
        if (k->def[0] != '\0') {
            snprintf(msg, n, "empty value; expected %s (leave the key out for the default, %s)",
                     expected_value(k), k->def);
            return KPOOL_EJOB;
        }
        v.set = false;
        v.line = 0;
    } else {
        switch (k->type) {
        case KP_KEY_STRING:
            break;
        case KP_KEY_PATH:
        case KP_KEY_PLUGIN:
            if (quoted(text)) {
                snprintf(msg, n, "remove the quotes: '%s' (job-file values are not quoted)", text);
                return KPOOL_EJOB;
            }
            break;
        case KP_KEY_ENUM:
            rc = parse_enum(k, text, &v, &choice, &choice_len, msg, n);
            break;
        case KP_KEY_COUNT:
        case KP_KEY_AUTO_COUNT:
            rc = parse_count(k, text, &v, msg, n);
            if (!rc && k->type == KP_KEY_AUTO_COUNT && v.num == 0)
                choice = "auto", choice_len = 4;
            break;
        case KP_KEY_SECONDS:
            rc = parse_seconds(text, &v, msg, n);
            break;
        case KP_KEY_BOOL:
            rc = parse_bool(text, &v, msg, n);
            break;
        case KP_KEY_RANGE:
            rc = parse_range(text, &v, msg, n);
            break;
        case KP_KEY_HALT:
            rc = parse_halt(text, &v, msg, n);
            break;
        }
        if (rc)
            return rc;
    }

    bool resolve =
        v.set && line > 0 &&
        (k->type == KP_KEY_PATH || (k->type == KP_KEY_PLUGIN && strchr(text, '/') != NULL));
    v.text = resolve ? resolve_path(jf->dir, text) : strndup(choice, choice_len);
    if (!v.text) {
        snprintf(msg, n, "out of memory");
        return KPOOL_ENOMEM;
    }
    free(jf->v[id].text);
    jf->v[id] = v;
    return 0;
}

/* ---- Public: init, free ------------------------------------------------- */

int kp_jobfile_init(kp_jobfile *jf, kp_err *err)
{
    memset(jf, 0, sizeof *jf);
    jf->path = strdup("");
    jf->dir = strdup(".");
    if (!jf->path || !jf->dir)
        goto nomem;
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        /* An empty default is "not given", which assign() refuses for
         * required keys; it needs no parsing anyway. */
        if (kp_job_keys[i].def[0] == '\0') {
            jf->v[i].text = strdup("");
            if (!jf->v[i].text)
                goto nomem;
            continue;
        }
        char msg[KP_ERR_MAX];
        int rc = assign(jf, (kp_job_key_id)i, kp_job_keys[i].def, 0, msg, sizeof msg);
        if (rc == KPOOL_ENOMEM)
            goto nomem;
        if (rc) {
            /* Only an edit of KP_JOB_KEYS can get here; name the entry. */
            kp_err_set(err, KPOOL_EINVAL, "KP_JOB_KEYS: default of [%s] %s: %s",
                       kp_job_keys[i].section, kp_job_keys[i].key, msg);
            kp_jobfile_free(jf);
            return KPOOL_EINVAL;
        }
        jf->v[i].set = false;
        jf->v[i].line = 0;
    }
    return 0;
nomem:
    kp_jobfile_free(jf);
    return kp_err_set(err, KPOOL_ENOMEM, "out of memory while setting job defaults");
}

void kp_jobfile_free(kp_jobfile *jf)
{
    if (!jf)
        return;
    free(jf->path);
    free(jf->dir);
    jf->path = jf->dir = NULL;
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        free(jf->v[i].text);
        jf->v[i].text = NULL;
    }
}

/* ---- Loading ------------------------------------------------------------ */

typedef struct loader {
    kp_jobfile *jf;
    FILE *file;
    char *buf; /* getline's buffer */
    size_t cap;
    int line;       /* lines handed to inih so far: the line inih is on */
    int read_errno; /* a read failed (0 = none) */
    bool nomem;
    /* inih's "previous name" is set: an indented line continues its value. */
    bool in_value;
    int value_line;             /* the line of that key */
    bool continuation;          /* the current line continues the previous value */
    int seen[KP_JOB_KEY_COUNT]; /* the line of each key given in this file */
    /* The first error found by the reader or the handler. */
    int err_line;
    char err_msg[KP_ERR_MAX];
    /* The first line inih itself will refuse, with the reason. */
    int syntax_line;
    char syntax_msg[KP_ERR_MAX];
} loader;

static void fail_at(loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(loader *ld, int line, const char *fmt, ...)
{
    if (ld->err_line)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err_msg, sizeof ld->err_msg, fmt, ap);
    va_end(ap);
    ld->err_line = line;
}

/* inih's rule: a ';' after whitespace starts a comment. Returns a pointer to
 * the first of `chars` or to the comment or end of line. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    bool was_space = false;
    while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/* Classifies a line the way inih will, for what inih does not report. */
static void inspect_line(loader *ld, const char *text)
{
    const char *s = text;
    if (ld->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    const char *start = s;
    while (isspace((unsigned char)*start))
        start++;
    ld->continuation = false;
    if (*start == '\0' || *start == ';' || *start == '#')
        return;
    if (start > s && ld->in_value) {
        ld->continuation = true;
        return;
    }
    size_t len = strlen(start);
    while (len > 0 && isspace((unsigned char)start[len - 1]))
        len--;
    if (*start == '[') {
        const char *end = find_chars_or_comment(start + 1, "]");
        if (*end != ']') {
            if (!ld->syntax_line) {
                ld->syntax_line = ld->line;
                snprintf(ld->syntax_msg, sizeof ld->syntax_msg,
                         "section header has no closing ']': '%.*s'", (int)len, start);
            }
            return;
        }
        ld->in_value = false;
        const char *name = start + 1;
        while (name < end && isspace((unsigned char)*name))
            name++;
        while (end > name && isspace((unsigned char)end[-1]))
            end--;
        if (!section_is_known(name, (size_t)(end - name))) {
            char sections[256];
            format_sections(sections, sizeof sections);
            fail_at(ld, ld->line, "unknown section [%.*s]; sections are %s", (int)(end - name),
                    name, sections);
        }
        return;
    }
    const char *end = find_chars_or_comment(start, "=:");
    if (*end != '=' && *end != ':' && !ld->syntax_line) {
        ld->syntax_line = ld->line;
        snprintf(ld->syntax_msg, sizeof ld->syntax_msg,
                 "expected key = value, a [section] header or a ; comment, not '%.*s'", (int)len,
                 start);
    }
}

/* The ini_reader: one physical line per call, as fgets would give it when the
 * line fits. A line inih could not hold, or one with a NUL byte, ends the
 * stream with an error: inih would split or cut it and misnumber the rest. */
static char *read_line(char *str, int num, void *stream)
{
    loader *ld = stream;
    if (ld->err_line || ld->read_errno || ld->nomem)
        return NULL;
    errno = 0;
    ssize_t len = getline(&ld->buf, &ld->cap, ld->file);
    if (len < 0) {
        if (ferror(ld->file))
            ld->read_errno = errno ? errno : EIO;
        return NULL;
    }
    ld->line++;
    if (memchr(ld->buf, '\0', (size_t)len)) {
        fail_at(ld, ld->line, "contains a NUL byte (a job file is text)");
        return NULL;
    }
    size_t content = (size_t)len;
    if (content > 0 && ld->buf[content - 1] == '\n')
        content--;
    if (content > 0 && ld->buf[content - 1] == '\r')
        content--;
    /* inih needs room for "\r\n" and the terminating NUL. */
    int limit = num - 3;
    if (limit < 1) {
        fail_at(ld, ld->line, "inih's line buffer is too small (%d bytes)", num);
        return NULL;
    }
    if (content > (size_t)limit) {
        /* A long comment loses nothing when cut; anything else would. */
        size_t blanks = strspn(ld->buf, " \t\v\f");
        if (ld->buf[blanks] != ';' && ld->buf[blanks] != '#') {
            fail_at(ld, ld->line, "line too long (%zu characters; inih reads at most %d per line)",
                    content, limit);
            return NULL;
        }
        memcpy(str, ld->buf, (size_t)limit);
        memcpy(str + limit, "\n", 2);
        inspect_line(ld, str);
        return str;
    }
    memcpy(str, ld->buf, (size_t)len + 1);
    inspect_line(ld, str);
    return str;
}

/* Names the sections holding `key`, joined by `conjunction`: "[input] and
 * [output]". Empty if none. */
static void sections_with_key(const char *key, const char *conjunction, char *buf, size_t n)
{
    size_t used = 0, count = 0, total = 0;
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++)
        total += strcmp(kp_job_keys[i].key, key) == 0;
    buf[0] = '\0';
    for (size_t i = 0; i < KP_JOB_KEY_COUNT && used < n; i++) {
        if (strcmp(kp_job_keys[i].key, key) != 0)
            continue;
        count++;
        const char *sep = count == 1 ? "" : count == total ? conjunction : ", ";
        int w = snprintf(buf + used, n - used, "%s[%s]", sep, kp_job_keys[i].section);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Explains an unknown key of a known section into msg. */
static void unknown_key(const char *section, const char *key, char *msg, size_t n)
{
    suggestion s;
    suggest_begin(&s, key);
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++)
        if (strcmp(kp_job_keys[i].section, section) == 0)
            suggest_try(&s, kp_job_keys[i].key, strlen(kp_job_keys[i].key));
    char elsewhere[256];
    sections_with_key(key, " and ", elsewhere, sizeof elsewhere);
    if (s.best)
        snprintf(msg, n, "unknown key (did you mean %.*s?)", (int)s.best_len, s.best);
    else if (elsewhere[0])
        snprintf(msg, n, "unknown key in [%s] (%s is a key of %s)", section, key, elsewhere);
    else
        snprintf(msg, n, "unknown key");
}

/* Copies `s` without surrounding blanks into buf; returns buf. */
static char *trim_into(const char *s, size_t len, char *buf, size_t n)
{
    while (len > 0 && isspace((unsigned char)*s))
        s++, len--;
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len >= n)
        len = n - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return buf;
}

static int on_key(void *user, const char *raw_section, const char *name, const char *value)
{
    loader *ld = user;
    int line = ld->line;
    char section[256], msg[KP_ERR_MAX];
    trim_into(raw_section, strlen(raw_section), section, sizeof section);

    if (ld->continuation) {
        fail_at(ld, line,
                "[%s] %s: this indented line would continue the value from line %d; a value "
                "must fit on one line, so remove the indentation",
                section, name, ld->value_line);
        return 0;
    }
    ld->in_value = true;
    ld->value_line = line;

    if (name[0] == '\0') {
        fail_at(ld, line, "a key name is missing before '='");
        return 0;
    }
    if (section[0] == '\0') {
        char where[256];
        sections_with_key(name, " or ", where, sizeof where);
        if (where[0])
            fail_at(ld, line, "%s: key before any section header (it belongs under %s)", name,
                    where);
        else
            fail_at(ld, line, "%s: key before any section header", name);
        return 0;
    }
    if (!section_is_known(section, strlen(section))) {
        /* inspect_line() has already reported the header line. */
        fail_at(ld, line, "unknown section [%s]", section);
        return 0;
    }
    int id = find_key(section, name);
    if (id < 0) {
        unknown_key(section, name, msg, sizeof msg);
        fail_at(ld, line, "[%s] %s: %s", section, name, msg);
        return 0;
    }
    if (ld->seen[id]) {
        fail_at(ld, line, "[%s] %s: given twice (first on line %d)", section, name, ld->seen[id]);
        return 0;
    }
    ld->seen[id] = line;
    int rc = assign(ld->jf, (kp_job_key_id)id, value, line, msg, sizeof msg);
    if (rc == KPOOL_ENOMEM) {
        ld->nomem = true;
        return 0;
    }
    if (rc) {
        fail_at(ld, line, "[%s] %s: %s", section, name, msg);
        return 0;
    }
    return 1;
}

/* The folder part of `path`: "." when it has none. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int kp_jobfile_load(kp_jobfile *jf, const char *path, kp_err *err)
{
    FILE *file = fopen(path, "re");
    if (!file)
        return kp_err_set(err, KPOOL_EJOB, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(file), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(file);
        return kp_err_set(err, KPOOL_EJOB, "%s: cannot read: %s", path, strerror(EISDIR));
    }

    char *new_path = strdup(path), *new_dir = folder_of(path);
    if (!new_path || !new_dir) {
        free(new_path);
        free(new_dir);
        fclose(file);
        return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", path);
    }
    free(jf->path);
    free(jf->dir);
    jf->path = new_path;
    jf->dir = new_dir;

    loader *ld = calloc(1, sizeof *ld);
    if (!ld) {
        fclose(file);
        return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", path);
    }
    ld->jf = jf;
    ld->file = file;
    int first = ini_parse_stream(read_line, ld, on_key, ld);

    int rc = 0;
    if (ld->nomem || first == -2) {
        rc = kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", path);
    } else if (first > 0 && (!ld->err_line || first < ld->err_line)) {
        /* A line inih refused without calling the handler. */
        const char *why = first == ld->syntax_line ? ld->syntax_msg : "cannot parse this line";
        rc = kp_err_set(err, KPOOL_EJOB, "%s:%d: %s", path, first, why);
    } else if (ld->err_line) {
        rc = kp_err_set(err, KPOOL_EJOB, "%s:%d: %s", path, ld->err_line, ld->err_msg);
    } else if (ld->read_errno) {
        rc = kp_err_set(err, KPOOL_EJOB, "%s: cannot read: %s", path, strerror(ld->read_errno));
    } else if (first != 0) {
        rc = kp_err_set(err, KPOOL_EJOB, "%s: cannot parse (inih returned %d)", path, first);
    }
    free(ld->buf);
    free(ld);
    fclose(file);
    return rc;
}

/* ---- --set -------------------------------------------------------------- */

int kp_jobfile_set(kp_jobfile *jf, const char *assignment, kp_err *err)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
    char section[128], key[128], msg[KP_ERR_MAX];
    if (!dot)
        return kp_err_set(err, KPOOL_EJOB, "--set %s: expected SECTION.KEY=VALUE", assignment);
    trim_into(assignment, (size_t)(dot - assignment), section, sizeof section);
    trim_into(dot + 1, (size_t)(eq - dot - 1), key, sizeof key);
    if (!section[0] || !key[0])
        return kp_err_set(err, KPOOL_EJOB, "--set %s: expected SECTION.KEY=VALUE", assignment);

    if (!section_is_known(section, strlen(section))) {
        char sections[256];
        format_sections(sections, sizeof sections);
        return kp_err_set(err, KPOOL_EJOB, "--set %s: unknown section [%s]; sections are %s",
                          assignment, section, sections);
    }
    int id = find_key(section, key);
    if (id < 0) {
        unknown_key(section, key, msg, sizeof msg);
        return kp_err_set(err, KPOOL_EJOB, "--set %s: [%s] %s: %s", assignment, section, key, msg);
    }
    size_t vlen = strlen(eq + 1);
    char *value = malloc(vlen + 1);
    if (!value)
        return kp_err_set(err, KPOOL_ENOMEM, "--set %s: out of memory", assignment);
    trim_into(eq + 1, vlen, value, vlen + 1);
    int rc = assign(jf, (kp_job_key_id)id, value, 0, msg, sizeof msg);
    free(value);
    if (rc)
        return kp_err_set(err, rc, "--set %s: [%s] %s: %s", assignment, section, key, msg);
    return 0;
}

/* ---- Where a value came from -------------------------------------------- */

void kp_jobfile_where(const kp_jobfile *jf, kp_job_key_id id, char *buf, size_t n)
{
    const kp_job_key *k = &kp_job_keys[id];
    const kp_job_value *v = &jf->v[id];
    const char *path = jf->path ? jf->path : "";
    if (n == 0)
        return;
    if (v->line > 0 && path[0])
        snprintf(buf, n, "%s:%d: [%s] %s", path, v->line, k->section, k->key);
    else if ((v->set && v->line == 0) || !path[0])
        snprintf(buf, n, "--set [%s] %s", k->section, k->key);
    else
        snprintf(buf, n, "%s: [%s] %s", path, k->section, k->key);
}

/* "[input] path (line 7)", "[input] path (--set)" or "[input] path (default)". */
static void describe(const kp_jobfile *jf, kp_job_key_id id, char *buf, size_t n)
{
    const kp_job_key *k = &kp_job_keys[id];
    const kp_job_value *v = &jf->v[id];
    if (v->line > 0)
        snprintf(buf, n, "[%s] %s (line %d)", k->section, k->key, v->line);
    else if (v->set)
        snprintf(buf, n, "[%s] %s (--set)", k->section, k->key);
    else
        snprintf(buf, n, "[%s] %s (default)", k->section, k->key);
}

/* ---- Validation --------------------------------------------------------- */

static int invalid(const kp_jobfile *jf, kp_job_key_id id, kp_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int invalid(const kp_jobfile *jf, kp_job_key_id id, kp_err *err, const char *fmt, ...)
{
    char where[KP_ERR_MAX / 2], what[KP_ERR_MAX];
    kp_jobfile_where(jf, id, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return kp_err_set(err, KPOOL_EJOB, "%s: %s", where, what);
}

static const char *text_of(const kp_jobfile *jf, kp_job_key_id id)
{
    return jf->v[id].text ? jf->v[id].text : "";
}

/* The input format: the explicit one, or the one the extension names as the
 * input reader reads it ("" when auto cannot tell; the reader says why when
 * it opens the input). */
static const char *input_format(const kp_jobfile *jf)
{
    const char *format = text_of(jf, KP_KEY_input_format);
    if (strcmp(format, "auto") != 0)
        return format;
    const char *path = text_of(jf, KP_KEY_input_path);
    const char *dot = strrchr(path, '.');
    if (!dot || strchr(dot, '/'))
        return "";
    static const char *const ext[][2] = {
        {"npy", "npy"}, {"csv", "csv"}, {"jsonl", "jsonl"}, {"ndjson", "jsonl"}};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot + 1, ext[i][0]) == 0)
            return ext[i][1];
    return "";
}

/* True when two file values name the same file (by text, or by device and
 * inode when both exist). "-" and unset values name no file. */
static bool same_file(const char *a, const char *b)
{
    if (!a[0] || !b[0] || strcmp(a, "-") == 0 || strcmp(b, "-") == 0)
        return false;
    if (strcmp(a, b) == 0)
        return true;
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int kp_jobfile_validate(const kp_jobfile *jf, kp_err *err)
{
    char other[256];
    static const kp_job_key_id required[] = {KP_KEY_job_plugin, KP_KEY_job_kernel};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!text_of(jf, required[i])[0])
            return invalid(jf, required[i], err, "required key is missing");

    /* The input. */
    const char *mode = text_of(jf, KP_KEY_job_mode);
    const char *path = text_of(jf, KP_KEY_input_path);
    bool has_path = path[0] != '\0', has_range = jf->v[KP_KEY_input_range].set;
    if (strcmp(mode, "apply") == 0) {
        if (has_path || has_range) {
            kp_job_key_id id = has_path ? KP_KEY_input_path : KP_KEY_input_range;
            describe(jf, KP_KEY_job_mode, other, sizeof other);
            return invalid(jf, id, err,
                           "mode = apply takes no input (one task with literal args; see %s); "
                           "remove it or use mode = map or starmap",
                           other);
        }
    } else if (has_path && has_range) {
        describe(jf, KP_KEY_input_path, other, sizeof other);
        return invalid(jf, KP_KEY_input_range, err,
                       "cannot be combined with %s; give path or range, not both", other);
    } else if (!has_path && !has_range) {
        return invalid(jf, KP_KEY_input_path, err,
                       "required for mode = %s (or give [input] range instead)", mode);
    }
    if (has_path) {
        const char *format = input_format(jf);
        bool explicit_format = strcmp(text_of(jf, KP_KEY_input_format), "auto") != 0;
        if (strcmp(path, "-") == 0 && !explicit_format)
            return invalid(jf, KP_KEY_input_format, err,
                           "stdin (path = -) needs format = npy|csv|jsonl");
        if (jf->v[KP_KEY_input_header].num && format[0] && strcmp(format, "csv") != 0)
            return invalid(jf, KP_KEY_input_header, err,
                           "applies to csv input only, and this input is %s%s", format,
                           explicit_format ? "" : " (by its extension)");
    }

    /* The pool. */
    if (text_of(jf, KP_KEY_pool_initargs)[0] && !text_of(jf, KP_KEY_pool_initializer)[0])
        return invalid(jf, KP_KEY_pool_initargs, err, "given without [pool] initializer");
    if (jf->v[KP_KEY_pool_worker_nice].num > 19)
        return invalid(jf, KP_KEY_pool_worker_nice, err,
                       "%lld is out of range: nice(1) steps go from 0 to 19",
                       (long long)jf->v[KP_KEY_pool_worker_nice].num);

    /* The output. */
    const char *out_format = text_of(jf, KP_KEY_output_format);
    const char *order = text_of(jf, KP_KEY_output_order);
    const char *index = text_of(jf, KP_KEY_output_index);
    if (strcmp(out_format, "npy") == 0 && strcmp(order, "completion") == 0) {
        describe(jf, KP_KEY_output_format, other, sizeof other);
        return invalid(jf, KP_KEY_output_order, err,
                       "completion cannot be written as npy (one array in input order, %s); "
                       "use format = csv or jsonl",
                       other);
    }
    if (strcmp(out_format, "npy") == 0 && strcmp(index, "true") == 0)
        return invalid(jf, KP_KEY_output_index, err,
                       "an npy output has no index (it is one array in input order); use "
                       "format = csv or jsonl");
    if (strcmp(out_format, "jsonl") == 0 && strcmp(index, "false") == 0)
        return invalid(jf, KP_KEY_output_index, err,
                       "a jsonl output always has the index; remove index = false");
    const char *journal = text_of(jf, KP_KEY_output_journal);
    if (strcmp(journal, "-") == 0)
        return invalid(jf, KP_KEY_output_journal, err, "must be a file, not -");
    if (journal[0] && strcmp(text_of(jf, KP_KEY_output_path), "-") == 0)
        return invalid(jf, KP_KEY_output_journal, err,
                       "needs [output] path to be a file (results on stdout cannot be resumed)");

    /* No two keys may name the same file: one would overwrite the other. */
    static const kp_job_key_id files[] = {KP_KEY_input_path, KP_KEY_output_path,
                                          KP_KEY_output_errors, KP_KEY_output_journal};
    size_t nfiles = sizeof files / sizeof files[0];
    for (size_t b = 1; b < nfiles; b++) {
        for (size_t a = 0; a < b; a++) {
            if (same_file(text_of(jf, files[a]), text_of(jf, files[b]))) {
                describe(jf, files[a], other, sizeof other);
                return invalid(jf, files[b], err, "the same file as %s; each needs its own file",
                               other);
            }
        }
    }
    return 0;
}

/* ---- Reference ---------------------------------------------------------- */

/* Writes text for a Markdown table cell: '|' would end the cell and '*'
 * could start emphasis, so both are escaped. */
static void put_cell(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|' || *p == '*')
            fputc('\\', out);
        fputc(*p, out);
    }
}

static const char *value_sentence(kp_key_type type)
{
    switch (type) {
    case KP_KEY_COUNT:
        return " Value: an integer >= 0.";
    case KP_KEY_AUTO_COUNT:
        return " Value: `auto` or an integer >= 1.";
    case KP_KEY_SECONDS:
        return " Value: seconds >= 0, fractions allowed.";
    case KP_KEY_BOOL:
        return " Value: `true` or `false` (also `yes`/`no`, `on`/`off`, `1`/`0`).";
    case KP_KEY_RANGE:
        return " Value: `start:stop[:step]`, step not 0.";
    case KP_KEY_HALT:
        return " Value: `continue`, `stop`, `soon,fail=N`, `soon,fail=P%`, `now,fail=N` or "
               "`now,fail=P%`.";
    default:
        return "";
    }
}

void kp_jobfile_reference(FILE *out)
{
    fputs("| key | default | meaning |\n", out);
    fputs("|---|---|---|\n", out);
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        const kp_job_key *k = &kp_job_keys[i];
        fprintf(out, "| `%s.%s` | ", k->section, k->key);
        if (key_is_required((kp_job_key_id)i))
            fputs("(required)", out);
        else if (k->def[0])
            fprintf(out, "`%s`", k->def);
        else
            fputs("(none)", out);
        fputs(" | ", out);
        put_cell(out, k->doc);
        if (k->type == KP_KEY_ENUM) {
            fputs(" Choices: ", out);
            for (const char *c = k->choices; *c;) {
                size_t len = strcspn(c, "|");
                fprintf(out, "%s`%.*s`", c == k->choices ? "" : ", ", (int)len, c);
                c += len;
                if (*c == '|')
                    c++;
            }
            fputs(".", out);
        }
        fputs(value_sentence(k->type), out);
        fputs(" |\n", out);
    }
}
