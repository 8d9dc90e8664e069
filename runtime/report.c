/* report.c - the HTML report of a run, made from its trace (see report.h).
 *
 * The C side does the counting (segments, buckets, the failures list) so
 * that the page carries a few hundred kilobytes of data however many tasks
 * ran, and its script only draws. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Outcomes as the trace spells them; the page gets the same list. */
static const char *const outcome_names[] = {"ok",      "failed",  "bad-input",
                                            "crashed", "timeout", "stopped"};
#define NOUTCOMES (sizeof outcome_names / sizeof outcome_names[0])

typedef struct rec {
    uint64_t task;
    int64_t start, end; /* ns since the run started */
    int32_t worker;
    uint32_t attempt;
    uint8_t outcome;
} rec;

typedef struct failure {
    uint64_t task;
    uint32_t attempt;
    int32_t worker;
    uint8_t outcome;
    char *message;
} failure;

typedef struct trace_data {
    rec *recs;
    size_t n, cap;
    failure *fails;
    size_t nfails, fails_cap, fails_more;
    size_t skipped; /* lines that are not trace lines */
} trace_data;

/* ---- reading the trace ------------------------------------------------- */

static bool expect(const char **p, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool parse_u64(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9') {
        if (x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(*s++ - '0');
    }
    *p = s;
    *v = x;
    return true;
}

/* Seconds with up to nine decimals, as nanoseconds. */
static bool parse_seconds(const char **p, int64_t *ns)
{
    uint64_t whole, frac = 0;
    if (!parse_u64(p, &whole) || whole > INT64_MAX / 1000000000)
        return false;
    int digits = 0;
    if (**p == '.') {
        (*p)++;
        while (**p >= '0' && **p <= '9') {
            if (digits < 9) {
                frac = frac * 10 + (uint64_t)(**p - '0');
                digits++;
            }
            (*p)++;
        }
    }
    for (; digits < 9; digits++)
        frac *= 10;
    if (whole * 1000000000u > (uint64_t)INT64_MAX - frac)
        return false;
    *ns = (int64_t)(whole * 1000000000u + frac);
    return true;
}

static char *put_utf8(char *q, uint32_t cp)
{
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xc0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xe0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (char)(0xf0 | (cp >> 18));
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *q++ = (char)(0x80 | (cp & 0x3f));
    }
    return q;
}

static bool hex4(const char *s, uint32_t *v)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return false;
        x = x * 16 + (uint32_t)d;
    }
    *v = x;
    return true;
}

/* Decodes the JSON string at *p (its opening quote) into a new string. */
static char *parse_string(const char **p)
{
    const char *s = *p;
    if (*s++ != '"')
        return NULL;
    const char *end = s;
    while (*end && *end != '"')
        end += *end == '\\' && end[1] ? 2 : 1;
    if (*end != '"')
        return NULL;
    char *out = malloc((size_t)(end - s) + 1), *q = out;
    if (!out)
        return NULL;
    while (s < end) {
        if (*s != '\\') {
            *q++ = *s++;
            continue;
        }
        char c = s[1];
        s += 2;
        switch (c) {
        case 'n':
            *q++ = '\n';
            break;
        case 't':
            *q++ = '\t';
            break;
        case 'r':
            *q++ = '\r';
            break;
        case 'b':
            *q++ = '\b';
            break;
        case 'f':
            *q++ = '\f';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (end - s < 4 || !hex4(s, &cp)) {
                free(out);
                return NULL;
            }
            s += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && end - s >= 6 && s[0] == '\\' && s[1] == 'u' &&
                hex4(s + 2, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                s += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd;
            }
            q = put_utf8(q, cp);
            break;
        }
        default:
            *q++ = c; /* \" \\ \/ */
            break;
        }
    }
    *q = '\0';
    *p = end + 1;
    return out;
}

/* One entry of a line's durations (trace.h): a task's duration, or [n,d],
 * n tasks (2 .. KP_TRACE_RUN_MAX) timed together that took d ns. */
static bool parse_entry(const char **p, uint64_t *tasks, uint64_t *ns)
{
    if (!expect(p, "[")) {
        *tasks = 1;
        return parse_u64(p, ns);
    }
    return parse_u64(p, tasks) && *tasks >= 2 && *tasks <= KP_TRACE_RUN_MAX && expect(p, ",") &&
           parse_u64(p, ns) && expect(p, "]");
}

/* One trace line: the fields its tasks' records share, where its durations
 * are and how many tasks (it covers head.task .. head.task + count - 1). */
typedef struct line {
    rec head; /* task, start, end, worker, attempt, outcome of the line */
    const char *ns;
    uint64_t count;
} line;

/* Parses one trace line (without its newline); false if it is not one: a
 * key out of place, a value of the wrong kind, no durations, a group of
 * fewer than 2 or more than KP_TRACE_RUN_MAX tasks, durations that do not
 * add up to end - start (to the nanosecond, give or take one for a writer
 * that rounds), or a line of an outcome other than ok that covers more than
 * one task. */
static bool parse_line(const char *text, line *l, char **message)
{
    const char *p = text;
    rec *r = &l->head;
    uint64_t worker, pid, attempt;
    *message = NULL;
    if (!expect(&p, "{\"task\":") || !parse_u64(&p, &r->task) || !expect(&p, ",\"worker\":"))
        return false;
    if (expect(&p, "-1"))
        worker = UINT64_MAX;
    else if (!parse_u64(&p, &worker) || worker > 1000000)
        return false;
    if (!expect(&p, ",\"pid\":") || !parse_u64(&p, &pid) || !expect(&p, ",\"attempt\":") ||
        !parse_u64(&p, &attempt) || attempt > UINT32_MAX || !expect(&p, ",\"start\":") ||
        !parse_seconds(&p, &r->start) || !expect(&p, ",\"end\":") || !parse_seconds(&p, &r->end) ||
        !expect(&p, ",\"outcome\":\""))
        return false;
    r->worker = worker == UINT64_MAX ? -1 : (int32_t)worker;
    r->attempt = (uint32_t)attempt;
    r->outcome = NOUTCOMES;
    for (size_t k = 0; k < NOUTCOMES; k++) {
        const char *name = outcome_names[k];
        size_t n = strlen(name);
        if (strncmp(p, name, n) == 0 && p[n] == '"') {
            r->outcome = (uint8_t)k;
            p += n + 1;
            break;
        }
    }
    if (r->outcome == NOUTCOMES || !expect(&p, ",\"ns\":["))
        return false;
    l->ns = p;
    l->count = 0;
    uint64_t sum = 0, ns, tasks;
    do {
        if (!parse_entry(&p, &tasks, &ns) || ns > (uint64_t)INT64_MAX - sum ||
            tasks > UINT64_MAX - l->count)
            return false;
        sum += ns;
        l->count += tasks;
    } while (expect(&p, ","));
    if (!expect(&p, "]") || l->count - 1 > UINT64_MAX - r->task || (r->outcome && l->count > 1))
        return false;
    uint64_t reach = (uint64_t)r->start + sum, end = (uint64_t)r->end;
    if (reach > end + 1 || end > reach + 1)
        return false;
    if (expect(&p, ",\"message\":") && !(*message = parse_string(&p)))
        return false;
    if (*p != '}') {
        free(*message);
        *message = NULL;
        return false;
    }
    return true;
}

/* Returns arr with room for one more element (n used, *cap allocated),
 * grown if need be; NULL when memory runs out (arr is then untouched). */
static void *room_for_one(void *arr, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return arr;
    size_t c = *cap ? *cap * 2 : first;
    void *a = realloc(arr, c * size);
    if (a)
        *cap = c;
    return a;
}

/* Adds the records of one line (one per task it covers) and its failure. */
static int add_line(trace_data *d, const char *text)
{
    line l;
    char *message;
    if (!parse_line(text, &l, &message)) {
        d->skipped++;
        return 0;
    }
    /* Task k starts where task k - 1 ended; the tasks of a group [n,d] get
     * d / n each (the first d % n one more). The sum of the durations is at
     * most end - start + 1, so no time overflows. */
    const char *p = l.ns;
    uint64_t at = (uint64_t)l.head.start, k = 0;
    while (k < l.count) {
        uint64_t tasks = 1, ns = 0;
        parse_entry(&p, &tasks, &ns); /* parse_line checked it */
        p++;                          /* the comma or the closing bracket */
        for (uint64_t i = 0; i < tasks; i++, k++) {
            rec *recs = room_for_one(d->recs, &d->cap, d->n, sizeof *recs, 4096);
            if (!recs) {
                free(message);
                return KPOOL_ENOMEM;
            }
            d->recs = recs;
            rec r = l.head;
            r.task += k;
            r.start = (int64_t)(at < INT64_MAX ? at : INT64_MAX);
            at += ns / tasks + (i < ns % tasks);
            r.end = (int64_t)(at < INT64_MAX ? at : INT64_MAX);
            d->recs[d->n++] = r;
        }
    }
    if (l.head.outcome == 0) {
        free(message);
        return 0;
    }
    if (d->nfails >= KP_REPORT_MAX_FAILURES) {
        d->fails_more++;
        free(message);
        return 0;
    }
    failure *fails = room_for_one(d->fails, &d->fails_cap, d->nfails, sizeof *fails, 64);
    if (!fails) {
        free(message);
        return KPOOL_ENOMEM;
    }
    d->fails = fails;
    d->fails[d->nfails++] = (failure){.task = l.head.task,
                                      .attempt = l.head.attempt,
                                      .worker = l.head.worker,
                                      .outcome = l.head.outcome,
                                      .message = message};
    return 0;
}

static void free_data(trace_data *d)
{
    for (size_t i = 0; i < d->nfails; i++)
        free(d->fails[i].message);
    free(d->fails);
    free(d->recs);
}

static int read_trace(const char *path, trace_data *d, kp_err *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return kp_err_set(err, KPOOL_EIO, "%s: cannot read the trace: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[n - 1] = '\0';
        rc = add_line(d, line);
    }
    if (rc == 0 && ferror(f))
        rc = kp_err_set(err, KPOOL_EIO, "%s: cannot read the trace: %s", path, strerror(errno));
    else if (rc == KPOOL_ENOMEM)
        kp_err_set(err, rc, "%s: no memory for the trace's %zu lines", path, d->n);
    free(line);
    fclose(f);
    return rc;
}

/* ---- the page's data ----------------------------------------------------- */

static int by_task_attempt(const void *a, const void *b)
{
    const failure *x = a, *y = b;
    if (x->task != y->task)
        return x->task < y->task ? -1 : 1;
    return x->attempt < y->attempt ? -1 : x->attempt > y->attempt;
}

static int by_worker_start(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->worker != y->worker)
        return x->worker < y->worker ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return 0;
}

/* A growing output buffer; `failed` sticks after the first allocation error. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf;

static char *reserve(sbuf *b, size_t n)
{
    if (b->failed)
        return NULL;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap - b->len < n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

static void put(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    char *q = reserve(b, n);
    if (q) {
        memcpy(q, s, n);
        b->len += n;
    }
}

static void put_u64(sbuf *b, uint64_t v)
{
    char *q = reserve(b, 24);
    if (q)
        b->len += (size_t)(kp_fmt_u64(q, v) - q);
}

static void put_i64(sbuf *b, int64_t v)
{
    if (v < 0) {
        put(b, "-");
        v = -v;
    }
    put_u64(b, (uint64_t)v);
}

static void put_double(sbuf *b, double v)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.9g", isfinite(v) ? v : 0.0);
    put(b, tmp);
}

/* A string for the page: JSON, safe inside <script>. */
static void put_string(sbuf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *q = reserve(b, 6 * n + 2);
    if (q)
        b->len += (size_t)(kp_json_string(q, s ? s : "", n, true) - q);
}

/* Merges neighbouring tasks of a worker with the same outcome (any outcome
 * when `mixed`: the segment then shows the last one that was not ok) whose
 * gap is at most `gap` ns; returns how many segments that makes (written to
 * b when b is not NULL). The records are sorted by worker and start. */
static size_t segments(const trace_data *d, int64_t gap, bool mixed, sbuf *b)
{
    size_t count = 0;
    for (size_t i = 0; i < d->n;) {
        const rec *r = &d->recs[i];
        int64_t start = r->start, end = r->end;
        size_t tasks = 1, j = i + 1;
        uint8_t outcome = r->outcome;
        for (; j < d->n; j++) {
            const rec *s = &d->recs[j];
            if (s->worker != r->worker || (!mixed && s->outcome != r->outcome) ||
                s->start - end > gap)
                break;
            if (s->end > end)
                end = s->end;
            if (s->outcome)
                outcome = s->outcome;
            tasks++;
        }
        if (b) {
            put(b, count ? ",[" : "[");
            put_i64(b, r->worker);
            put(b, ",");
            put_i64(b, start);
            put(b, ",");
            put_i64(b, end);
            put(b, ",");
            put_u64(b, tasks);
            put(b, ",");
            put_u64(b, outcome);
            put(b, "]");
        }
        count++;
        i = j;
    }
    return count;
}

static void put_data(sbuf *b, trace_data *d, const kp_report_info *info)
{
    int64_t wall = 0;
    int workers = info->workers > 0 ? info->workers : 1;
    for (size_t i = 0; i < d->n; i++) {
        if (d->recs[i].end > wall)
            wall = d->recs[i].end;
        if (d->recs[i].worker >= workers)
            workers = d->recs[i].worker + 1;
    }
    int64_t info_wall = (int64_t)(info->wall_seconds * 1e9);
    if (info_wall > wall)
        wall = info_wall;
    if (wall <= 0)
        wall = 1;

    put(b, "{\"job\":");
    put_string(b, info->job);
    put(b, ",\"kernel\":");
    put_string(b, info->kernel);
    put(b, ",\"plugin\":");
    put_string(b, info->plugin);
    put(b, ",\"workers\":");
    put_u64(b, (uint64_t)workers);
    put(b, ",\"wall_ns\":");
    put_i64(b, wall);
    put(b, ",\"total\":");
    put_u64(b, info->total);
    put(b, ",\"ok\":");
    put_u64(b, info->ok);
    put(b, ",\"failed\":");
    put_u64(b, info->failed);
    put(b, ",\"not_run\":");
    put_u64(b, info->not_run);
    put(b, ",\"retried\":");
    put_u64(b, info->retried);
    put(b, ",\"attempts\":");
    put_u64(b, d->n);
    put(b, ",\"skipped_lines\":");
    put_u64(b, d->skipped);
    put(b, ",\"interrupted\":");
    if (info->interrupted_by)
        put_string(b, info->interrupted_by == SIGINT ? "SIGINT" : "SIGTERM");
    else
        put(b, "null");
    put(b, ",\"outcomes\":[");
    for (size_t k = 0; k < NOUTCOMES; k++) {
        put(b, k ? "," : "");
        put_string(b, outcome_names[k]);
    }
    put(b, "]");

    /* Timeline: widen the merging gap until the segments fit the cap. */
    if (d->n)
        qsort(d->recs, d->n, sizeof *d->recs, by_worker_start);
    /* Outcomes that alternate cannot be merged by time alone: once the gap
     * spans the whole run, merge across outcomes too (which ends with one
     * segment per worker, so the loop ends). */
    int64_t gap = wall / 4000;
    bool mixed = false;
    while (segments(d, gap, mixed, NULL) > KP_REPORT_MAX_SEGMENTS) {
        gap = gap ? gap * 2 : 1;
        if (gap > wall && !mixed) {
            mixed = true;
            gap = wall / 4000;
        }
    }
    put(b, ",\"merge_gap_ns\":");
    put_i64(b, gap);
    put(b, ",\"merge_outcomes\":");
    put(b, mixed ? "true" : "false");
    put(b, ",\"segments\":[");
    segments(d, gap, mixed, b);
    put(b, "]");

    /* Throughput: attempts finished per bucket of time. */
    enum { BUCKETS = 100 };
    size_t per[BUCKETS] = {0};
    for (size_t i = 0; i < d->n; i++) {
        int64_t e = d->recs[i].end < 0 ? 0 : d->recs[i].end;
        size_t k = (size_t)((double)e / (double)wall * BUCKETS);
        per[k < BUCKETS ? k : BUCKETS - 1]++;
    }
    put(b, ",\"throughput\":{\"bucket_ns\":");
    put_double(b, (double)wall / BUCKETS);
    put(b, ",\"counts\":[");
    for (size_t k = 0; k < BUCKETS; k++) {
        put(b, k ? "," : "");
        put_u64(b, per[k]);
    }
    put(b, "]}");

    /* Durations: four buckets per decade of nanoseconds. */
    int lo = INT32_MAX, hi = 0;
    for (size_t i = 0; i < d->n; i++) {
        int64_t ns = d->recs[i].end - d->recs[i].start;
        int k = (int)floor(log10((double)(ns > 1 ? ns : 1)) * 4);
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    /* A narrow spread still gets some context: at least eight buckets. */
    for (int k = 0; d->n && hi - lo + 1 < 8; k++) {
        if (k % 2 == 0 && lo > 0)
            lo--;
        else
            hi++;
    }
    put(b, ",\"histogram\":{\"per_decade\":4,\"first\":");
    put_i64(b, d->n ? lo : 0);
    put(b, ",\"counts\":[");
    if (d->n) {
        size_t nb = (size_t)(hi - lo + 1);
        size_t *hist = calloc(nb, sizeof *hist);
        if (!hist) {
            b->failed = true;
            return;
        }
        for (size_t i = 0; i < d->n; i++) {
            int64_t ns = d->recs[i].end - d->recs[i].start;
            int k = (int)floor(log10((double)(ns > 1 ? ns : 1)) * 4);
            hist[k - lo]++;
        }
        for (size_t k = 0; k < nb; k++) {
            put(b, k ? "," : "");
            put_u64(b, hist[k]);
        }
        free(hist);
    }
    put(b, "]}");

    if (d->nfails)
        qsort(d->fails, d->nfails, sizeof *d->fails, by_task_attempt);
    put(b, ",\"failures\":[");
    for (size_t i = 0; i < d->nfails; i++) {
        const failure *f = &d->fails[i];
        put(b, i ? ",[" : "[");
        put_u64(b, f->task);
        put(b, ",");
        put_string(b, outcome_names[f->outcome]);
        put(b, ",");
        put_string(b, f->message);
        put(b, ",");
        put_u64(b, f->attempt);
        put(b, ",");
        put_i64(b, f->worker);
        put(b, "]");
    }
    put(b, "],\"failures_more\":");
    put_u64(b, d->fails_more);
    put(b, "}");
}

/* ---- the page ------------------------------------------------------------ */

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>kpool report</title>\n<style>\n"
    "body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222;background:#fff}\n"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}\n"
    ".sub{color:#555;margin:0 0 10px;word-break:break-all}\n"
    "table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left;"
    "vertical-align:top}\n"
    "#totals td:first-child{color:#555}\n"
    "#failures th{border-bottom:1px solid #999}#failures td{border-bottom:1px solid #eee}\n"
    "#failures td.msg{font-family:monospace;white-space:pre-wrap;word-break:break-all;"
    "max-width:700px}\n"
    "svg{display:block;overflow:visible}svg text{font:11px system-ui,sans-serif;fill:#444}\n"
    ".axis{stroke:#999;stroke-width:1}\n"
    ".o0{fill:#4a90d9}.o1{fill:#e8a33d}.o2{fill:#b07cc6}.o3{fill:#d9453b}"
    ".o4{fill:#8b5a2b}.o5{fill:#999}\n"
    ".bar{fill:#4a90d9}.hbar{fill:#5aa469}\n"
    ".legend span{display:inline-block;margin-right:14px}"
    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\n"
    ".note{color:#555;font-size:12px}\n"
    "</style>\n</head>\n<body>\n"
    "<h1>kpool report</h1>\n<p class=\"sub\" id=\"job\"></p>\n"
    "<table id=\"totals\"></table>\n"
    "<h2>Timeline</h2>\n<p class=\"note\" id=\"timeline-note\"></p>\n"
    "<div class=\"legend\" id=\"legend\"></div>\n"
    "<svg id=\"timeline\" width=\"1000\" height=\"40\"></svg>\n"
    "<h2>Throughput</h2>\n<p class=\"note\">attempts finished per second</p>\n"
    "<svg id=\"throughput\" width=\"1000\" height=\"180\"></svg>\n"
    "<h2>Task durations</h2>\n<p class=\"note\">attempts per duration bucket "
    "(logarithmic, four buckets per decade)</p>\n"
    "<svg id=\"histogram\" width=\"1000\" height=\"200\"></svg>\n"
    "<h2>Failures</h2>\n<p class=\"note\" id=\"failures-note\"></p>\n"
    "<table id=\"failures\"></table>\n"
    "<script type=\"application/json\" id=\"kpool-data\">";

static const char page_tail[] =
    "</script>\n<script>\n"
    "(function(){\n"
    "'use strict';\n"
    "var D=JSON.parse(document.getElementById('kpool-data').textContent);\n"
    /* The SVG namespace, taken from an element the HTML parser made. */
    "var NS=document.getElementById('timeline').namespaceURI;\n"
    "function el(tag,attrs,parent){var e=document.createElementNS(NS,tag);"
    "for(var k in attrs)e.setAttribute(k,attrs[k]);if(parent)parent.appendChild(e);return e}\n"
    "function text(parent,x,y,s,anchor){var t=el('text',{x:x,y:y},parent);"
    "if(anchor)t.setAttribute('text-anchor',anchor);t.textContent=s;return t}\n"
    "function secs(ns){if(!ns)return '0';var s=ns/1e9;if(s>=100)return s.toFixed(0)+' "
    "s';if(s>=1)return "
    "s.toFixed(2)+' s';if(s>=1e-3)return (s*1e3).toPrecision(3)+' ms';if(s>=1e-6)return "
    "(s*1e6).toPrecision(3)+' \\u00b5s';return ns.toFixed(0)+' ns'}\n"
    "function num(n){return n.toLocaleString('en-US')}\n"
    "function td(tr,s,cls){var c=document.createElement('td');c.textContent=s;"
    "if(cls)c.className=cls;tr.appendChild(c);return c}\n"
    "var W=1000,L=70;\n"
    /* Header. */
    "document.getElementById('job').textContent=D.job+' \\u2014 kernel '+D.kernel+"
    "' from '+D.plugin;\n"
    "var tot=document.getElementById('totals');\n"
    "[['tasks',num(D.total)],['ok',num(D.ok)],['failed',num(D.failed)],"
    "['not run',num(D.not_run)],['retried',num(D.retried)],"
    "['attempts traced',num(D.attempts)],['workers',num(D.workers)],"
    "['wall time',secs(D.wall_ns)]].concat(D.interrupted?[['interrupted by',D.interrupted]]:[])"
    ".forEach(function(r){var tr=document.createElement('tr');td(tr,r[0]);td(tr,r[1]);"
    "tot.appendChild(tr)});\n"
    /* Timeline: one row per worker slot. */
    "var tl=document.getElementById('timeline'),RH=18,top=4;\n"
    "tl.setAttribute('height',top+D.workers*(RH+4)+24);\n"
    "var sx=(W-L)/D.wall_ns,rows=[];\n"
    "for(var w=0;w<D.workers;w++){var g=el('g',{'class':'row','data-worker':w},tl);"
    "rows.push(g);text(g,L-8,top+w*(RH+4)+RH-5,'worker '+w,'end');"
    "el('rect',{x:L,y:top+w*(RH+4),width:W-L,height:RH,fill:'#f3f3f3'},g)}\n"
    "var other=null;\n"
    /* Failures on top of the ok segments around them, at least 2 px wide. */
    "D.segments.slice().sort(function(a,b){return (a[4]>0)-(b[4]>0)}).forEach(function(s){var "
    "w=s[0],g;if(w<0||w>=D.workers){if(!other){"
    "other=el('g',{'class':'row-unknown'},tl)}g=other;w=D.workers}else g=rows[w];"
    "var x=L+s[1]*sx,wd=Math.max((s[2]-s[1])*sx,s[4]?2:1);"
    "var r=el('rect',{'class':'seg o'+s[4],x:x.toFixed(2),y:top+w*(RH+4),"
    "width:wd.toFixed(2),height:RH},g);"
    "var t=el('title',{},r);t.textContent=(s[3]>1?num(s[3])+' tasks, ':'')+D.outcomes[s[4]]+"
    "', '+secs(s[1])+' \\u2013 '+secs(s[2])});\n"
    "var ay=top+D.workers*(RH+4)+4;el('line',{'class':'axis',x1:L,y1:ay,x2:W,y2:ay},tl);\n"
    "for(var i=0;i<=5;i++){var x=L+(W-L)*i/5;el('line',{'class':'axis',x1:x,y1:ay,x2:x,"
    "y2:ay+4},tl);text(tl,x,ay+16,secs(D.wall_ns*i/5),i==0?'start':i==5?'end':'middle')}\n"
    "document.getElementById('timeline-note').textContent=num(D.segments.length)+"
    "' segments'+(D.merge_gap_ns>0?' (neighbouring attempts of a worker'+"
    "(D.merge_outcomes?'':' with the same outcome')+', less than '+secs(D.merge_gap_ns)+"
    "' apart, drawn as one'+(D.merge_outcomes?'; a segment shows its last outcome that was "
    "not ok':'')+')':'');\n"
    "var lg=document.getElementById('legend');D.outcomes.forEach(function(o,k){"
    "var s=document.createElement('span');var i=document.createElement('i');"
    "i.style.background=getComputedStyle(el('rect',{'class':'o'+k},tl)).fill;"
    "s.appendChild(i);s.appendChild(document.createTextNode(o));lg.appendChild(s)});\n"
    "tl.querySelectorAll('svg > rect:not(.seg)').forEach(function(r){r.remove()});\n"
    /* Bars with a y axis. */
    "function bars(svg,counts,cls,scale,label){var H=+svg.getAttribute('height')-30;"
    "var max=0;counts.forEach(function(c){max=Math.max(max,c*scale)});if(!max)max=1;"
    "el('line',{'class':'axis',x1:L,y1:H,x2:W,y2:H},svg);"
    "el('line',{'class':'axis',x1:L,y1:0,x2:L,y2:H},svg);"
    "text(svg,L-6,10,num(Math.round(max)),'end');text(svg,L-6,H,'0','end');"
    "var bw=(W-L)/Math.max(counts.length,1);counts.forEach(function(c,k){"
    "var h=c*scale/max*(H-2);var r=el('rect',{'class':cls,x:(L+k*bw).toFixed(2),"
    "y:(H-h).toFixed(2),width:Math.max(bw-1,0.5).toFixed(2),height:h.toFixed(2)},svg);"
    "el('title',{},r).textContent=label(k)+': '+num(Math.round(c*scale))});return bw}\n"
    "var tp=document.getElementById('throughput'),bns=D.throughput.bucket_ns;\n"
    "bars(tp,D.throughput.counts,'bar',1e9/bns,function(k){return secs(k*bns)+' \\u2013 '+"
    "secs((k+1)*bns)});\n"
    "for(var i=0;i<=5;i++){var x=L+(W-L)*i/5;text(tp,x,+tp.getAttribute('height')-14,"
    "secs(D.wall_ns*i/5),i==0?'start':i==5?'end':'middle')}\n"
    "var hs=document.getElementById('histogram'),H=D.histogram;\n"
    "function edge(k){return Math.pow(10,(H.first+k)/H.per_decade)}\n"
    "var hbw=bars(hs,H.counts,'hbar',1,function(k){return secs(edge(k))+' \\u2013 '+"
    "secs(edge(k+1))});\n"
    "H.counts.forEach(function(c,k){if(k%2==0||H.counts.length<12)text(hs,L+k*hbw,"
    "+hs.getAttribute('height')-14,secs(edge(k)),'start')});\n"
    /* Failures. */
    "var ft=document.getElementById('failures');\n"
    "if(D.failures.length){var hr=document.createElement('tr');"
    "['task','kind','message','attempt','worker'].forEach(function(h){"
    "var th=document.createElement('th');th.textContent=h;hr.appendChild(th)});"
    "ft.appendChild(hr)}\n"
    "D.failures.forEach(function(f){var tr=document.createElement('tr');"
    "tr.className='failure';td(tr,f[0]);td(tr,f[1]);td(tr,f[2],'msg');td(tr,f[3]);"
    "td(tr,f[4]<0?'?':f[4]);ft.appendChild(tr)});\n"
    "document.getElementById('failures-note').textContent=D.failures.length?"
    "(num(D.failures.length)+' attempt'+(D.failures.length==1?'':'s')+' did not end ok'+"
    "(D.failures_more?'; '+num(D.failures_more)+' more are in the trace':'')):"
    "'Every attempt ended ok.';\n"
    "document.body.setAttribute('data-rendered','1');\n"
    "})();\n</script>\n</body>\n</html>\n";

int kp_report_write(FILE *out, const char *out_name, const char *trace_path,
                    const kp_report_info *info, kp_err *err)
{
    trace_data d = {0};
    int rc = read_trace(trace_path, &d, err);
    if (rc < 0) {
        free_data(&d);
        return rc;
    }
    sbuf b = {0};
    put_data(&b, &d, info);
    free_data(&d);
    if (b.failed) {
        free(b.p);
        return kp_err_set(err, KPOOL_ENOMEM, "%s: no memory to make the report", out_name);
    }
    fputs(page_head, out);
    fwrite(b.p, 1, b.len, out);
    fputs(page_tail, out);
    free(b.p);
    if (fflush(out) != 0 || ferror(out))
        return kp_err_set(err, KPOOL_EIO, "%s: cannot write the report: %s", out_name,
                          strerror(errno));
    return 0;
}

/* ---- one run's trace and report ----------------------------------------- */

struct kp_tracing {
    kp_trace *trace;
    char *trace_path;
    bool temporary; /* made for the report only: removed at the end */
    FILE *report;
    char *report_path;
};

static void tracing_free(kp_tracing *t)
{
    if (t->report)
        fclose(t->report);
    if (t->temporary && t->trace_path)
        unlink(t->trace_path);
    free(t->trace_path);
    free(t->report_path);
    free(t);
}

int kp_tracing_open(kp_tracing **out, const char *trace_path, const char *report_path, int workers,
                    kp_err *err)
{
    *out = NULL;
    kp_tracing *t = calloc(1, sizeof *t);
    if (!t)
        return kp_err_set(err, KPOOL_ENOMEM, "out of memory");
    int rc = 0;
    if (trace_path) {
        t->trace_path = strdup(trace_path);
    } else {
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir)
            dir = "/tmp";
        size_t n = strlen(dir) + sizeof "/kpool-trace-XXXXXX";
        t->trace_path = malloc(n);
        if (t->trace_path) {
            snprintf(t->trace_path, n, "%s/kpool-trace-XXXXXX", dir);
            int fd = mkostemp(t->trace_path, O_CLOEXEC);
            if (fd < 0) {
                rc = kp_err_set(err, KPOOL_EIO,
                                "%s: cannot create a temporary trace for the report: %s", dir,
                                strerror(errno));
                free(t->trace_path);
                t->trace_path = NULL;
            } else {
                close(fd);
                t->temporary = true;
            }
        }
    }
    if (rc == 0 && !t->trace_path)
        rc = kp_err_set(err, KPOOL_ENOMEM, "out of memory");
    if (rc == 0)
        rc = kp_trace_open(&t->trace, t->trace_path, workers, err);
    if (rc == 0 && report_path) {
        t->report_path = strdup(report_path);
        if (!t->report_path)
            rc = kp_err_set(err, KPOOL_ENOMEM, "out of memory");
        else if (!(t->report = fopen(report_path, "we")))
            rc = kp_err_set(err, KPOOL_EIO, "%s: cannot create the report: %s", report_path,
                            strerror(errno));
    }
    if (rc < 0) {
        kp_trace_close(t->trace, false, NULL);
        tracing_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

kp_trace *kp_tracing_trace(kp_tracing *t)
{
    return t->trace;
}

int kp_tracing_close(kp_tracing *t, const kp_report_info *info, bool stopped, kp_err *err)
{
    if (!t)
        return 0;
    int rc = kp_trace_close(t->trace, stopped, err);
    t->trace = NULL;
    if (!info && t->report) {
        /* The run never started: no report, and no empty file left behind. */
        fclose(t->report);
        t->report = NULL;
        unlink(t->report_path);
    }
    if (rc == 0 && t->report) {
        rc = kp_report_write(t->report, t->report_path, t->trace_path, info, err);
        if (fclose(t->report) != 0 && rc == 0)
            rc = kp_err_set(err, KPOOL_EIO, "%s: cannot write the report: %s", t->report_path,
                            strerror(errno));
        t->report = NULL;
    }
    tracing_free(t);
    return rc;
}
