/* output.c - result files (csv, jsonl, npy) and the failure log.
 *
 * The writer runs once per task in the coordinator, so for millions of tasks
 * it is on the hot path: numbers are converted by hand (no printf), nothing is
 * allocated per task, and everything goes through one 1 MiB stdio buffer with
 * the unlocked stdio calls (a writer belongs to one thread). */
#include "output.h"

#include "fdio.h"
#include "fmt.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OUTPUT_BUFFER = 1 << 20, ERRLOG_BUFFER = 1 << 16 };

/* numpy pads the header so that the data starts at a multiple of 64 bytes,
 * and leaves room for a shape of up to 21 digits so that a writer may grow
 * the array in place (numpy/lib/format.py, ARRAY_ALIGN and
 * GROWTH_AXIS_MAX_DIGITS); we pad the same way so the file is byte for byte
 * what np.save writes. */
enum { NPY_ALIGN = 64, NPY_GROWTH_DIGITS = 21, NPY_PREAMBLE = 10 };

/* One destination: a file, or a private duplicate of stdout / stderr. */
typedef struct stream {
    FILE *fp;
    char *vbuf;
    char *name;      /* the path, or "stdout" / "stderr", for messages */
    int write_errno; /* errno of the first failed write, 0 while none */
} stream;

struct kp_output {
    stream s;
    kp_output_format format;
    kp_type type;
    bool index;
    size_t total;
    size_t slots; /* npy: slots written so far */
};

struct kp_errlog {
    stream s;
    bool readable; /* stderr lines rather than jsonl objects */
};

/* ---- names ------------------------------------------------------------- */

const char *kp_task_kind_name(kp_task_kind k)
{
    switch (k) {
    case KP_TASK_OK:
        return "ok";
    case KP_TASK_FAILED:
        return "failed";
    case KP_TASK_CRASHED:
        return "crashed";
    case KP_TASK_TIMEOUT:
        return "timeout";
    case KP_TASK_BAD_INPUT:
        return "bad-input";
    case KP_TASK_NOT_RUN:
        return "not-run";
    }
    return "unknown";
}

static const char *standard_signal_name(int sig)
{
    /* The common signals by their macros, so the numbers are the platform's. */
    switch (sig) {
    case SIGHUP:
        return "SIGHUP";
    case SIGINT:
        return "SIGINT";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGILL:
        return "SIGILL";
    case SIGTRAP:
        return "SIGTRAP";
    case SIGABRT:
        return "SIGABRT";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGKILL:
        return "SIGKILL";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGSEGV:
        return "SIGSEGV";
    case SIGUSR2:
        return "SIGUSR2";
    case SIGPIPE:
        return "SIGPIPE";
    case SIGALRM:
        return "SIGALRM";
    case SIGTERM:
        return "SIGTERM";
    case SIGCHLD:
        return "SIGCHLD";
    case SIGCONT:
        return "SIGCONT";
    case SIGSTOP:
        return "SIGSTOP";
    case SIGTSTP:
        return "SIGTSTP";
    case SIGTTIN:
        return "SIGTTIN";
    case SIGTTOU:
        return "SIGTTOU";
    case SIGURG:
        return "SIGURG";
    case SIGXCPU:
        return "SIGXCPU";
    case SIGXFSZ:
        return "SIGXFSZ";
    case SIGVTALRM:
        return "SIGVTALRM";
    case SIGPROF:
        return "SIGPROF";
    case SIGSYS:
        return "SIGSYS";
    default:
        return NULL;
    }
}

/* The name is always written into buf when there is one: callers may use
 * either the return value or buf. */
const char *kp_signal_name(int sig, char *buf, size_t n)
{
    const char *name = standard_signal_name(sig);
    if (!buf || n == 0)
        return name ? name : "unknown signal";
    if (name) {
        snprintf(buf, n, "%s", name);
        return buf;
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev) {
        snprintf(buf, n, "SIG%s", abbrev);
        return buf;
    }
#endif
#ifdef SIGRTMIN
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        snprintf(buf, n, "SIGRTMIN+%d", sig - SIGRTMIN);
        return buf;
    }
#endif
    snprintf(buf, n, "signal %d", sig);
    return buf;
}

/* ---- streams ----------------------------------------------------------- */

/* Opens `path`, or with "-" a close-on-exec duplicate of std_fd, so that
 * closing the writer never closes the process's stdout or stderr. */
/* Without the large buffer the stream still works with stdio's own. */
static void set_buffer(stream *s, size_t bufsize)
{
    s->vbuf = malloc(bufsize);
    if (s->vbuf)
        setvbuf(s->fp, s->vbuf, _IOFBF, bufsize);
}

static int stream_open(stream *s, const char *path, int std_fd, size_t bufsize, kp_err *err)
{
    memset(s, 0, sizeof *s);
    bool std = strcmp(path, "-") == 0;
    s->name = strdup(std ? (std_fd == STDOUT_FILENO ? "stdout" : "stderr") : path);
    if (!s->name)
        return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", path);
    if (std) {
        /* Anything already buffered for the real stream goes first. */
        fflush(std_fd == STDOUT_FILENO ? stdout : stderr);
        int fd = fcntl(std_fd, F_DUPFD_CLOEXEC, 3);
        if (fd >= 0) {
            s->fp = fdopen(fd, "w");
            if (!s->fp) {
                int e = errno;
                close(fd);
                errno = e;
            }
        }
    } else {
        /* A new file rather than the old one truncated (fdio.h). */
        int fd = kp_open_afresh(path, O_WRONLY);
        if (fd >= 0 && !(s->fp = fdopen(fd, "w"))) {
            int e = errno;
            close(fd);
            errno = e;
        }
    }
    if (!s->fp) {
        int code = kp_err_set(err, KPOOL_EIO, "%s: cannot open: %s", s->name, strerror(errno));
        free(s->name);
        s->name = NULL;
        return code;
    }
    set_buffer(s, bufsize);
    return 0;
}

/* Opens the output of a resumed run for writing after its first `keep`
 * bytes, which an earlier run wrote (see kp_output_config.keep_bytes), and
 * drops what it wrote after them. The file must still hold them; text
 * formats end them with a newline. */
static int stream_open_kept(stream *s, const char *path, uint64_t keep, bool text, size_t bufsize,
                            kp_err *err)
{
    memset(s, 0, sizeof *s);
    s->name = strdup(path);
    if (!s->name)
        return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = kp_err_set(err, KPOOL_EIO, "%s: cannot open to resume: %s", path, strerror(errno));
    } else {
        char last = '\n';
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < keep ||
            (text && keep && pread(fd, &last, 1, (off_t)keep - 1) != 1) || last != '\n')
            rc = kp_err_set(err, KPOOL_EJOB,
                            "cannot resume: %s no longer holds the %llu bytes of results the "
                            "interrupted run wrote (it was changed or replaced); run without "
                            "--resume to start again",
                            path, (unsigned long long)keep);
        else if (ftruncate(fd, (off_t)keep) < 0 || lseek(fd, (off_t)keep, SEEK_SET) < 0 ||
                 !(s->fp = fdopen(fd, "w")))
            rc = kp_err_set(err, KPOOL_EIO, "%s: cannot reopen to resume: %s", path,
                            strerror(errno));
    }
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        free(s->name);
        s->name = NULL;
        return rc;
    }
    set_buffer(s, bufsize);
    return 0;
}

static void put(stream *s, const void *p, size_t n)
{
    if (n && fwrite_unlocked(p, 1, n, s->fp) != n && !s->write_errno)
        s->write_errno = errno ? errno : EIO;
}

static void put_char(stream *s, char c)
{
    if (putc_unlocked(c, s->fp) == EOF && !s->write_errno)
        s->write_errno = errno ? errno : EIO;
}

#define PUT_LITERAL(s, lit) put((s), (lit), sizeof(lit) - 1)

/* Returns the error of the first failed write, if any. */
static int stream_check(const stream *s, kp_err *err)
{
    if (!s->write_errno)
        return 0;
    return kp_err_set(err, KPOOL_EIO, "%s: write failed: %s", s->name, strerror(s->write_errno));
}

static int stream_flush(stream *s, kp_err *err)
{
    if (fflush(s->fp) != 0 && !s->write_errno)
        s->write_errno = errno ? errno : EIO;
    return stream_check(s, err);
}

/* Flushes and closes; reports the first failure (an earlier write error wins). */
static int stream_close(stream *s, kp_err *err)
{
    int rc = 0;
    if (s->fp) {
        rc = stream_flush(s, err);
        int closed = fclose(s->fp);
        if (closed != 0 && rc == 0)
            rc = kp_err_set(err, KPOOL_EIO, "%s: write failed: %s", s->name, strerror(errno));
    }
    free(s->vbuf);
    free(s->name);
    memset(s, 0, sizeof *s);
    return rc;
}

/* ---- numbers and strings ----------------------------------------------- */

/* Writes v in decimal into buf (at least 20 bytes); returns the length. */
static size_t u64_text(uint64_t v, char *buf)
{
    char rev[20];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = rev[n - 1 - i];
    return n;
}

static void put_u64(stream *s, uint64_t v)
{
    char buf[20];
    put(s, buf, u64_text(v, buf));
}

static void put_i64(stream *s, int64_t v)
{
    if (v < 0) {
        put_char(s, '-');
        /* Negating in unsigned arithmetic keeps INT64_MIN exact. */
        put_u64(s, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(s, (uint64_t)v);
    }
}

/* Python's json.dumps writes non-finite floats as these bare words. */
static void put_float(stream *s, double v, bool single, bool json)
{
    if (json && !isfinite(v)) {
        if (isnan(v))
            PUT_LITERAL(s, "NaN");
        else if (v > 0)
            PUT_LITERAL(s, "Infinity");
        else
            PUT_LITERAL(s, "-Infinity");
        return;
    }
    char buf[32];
    size_t n =
        single ? kp_format_f32((float)v, buf, sizeof buf) : kp_format_f64(v, buf, sizeof buf);
    put(s, buf, n);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static size_t utf8_length(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        if (p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* A JSON string as json.dumps(ensure_ascii=False) writes it: UTF-8 passes
 * through, control characters are escaped. A byte that is not part of valid
 * UTF-8 becomes U+FFFD so that every line stays valid JSON. */
static void put_json_string(stream *s, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)str, *run = p;
    put_char(s, '"');
    while (*p) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            p++;
            continue;
        }
        size_t len = c >= 0x80 ? utf8_length(p) : 0;
        if (len) {
            p += len;
            continue;
        }
        put(s, run, (size_t)(p - run));
        switch (c) {
        case '"':
            PUT_LITERAL(s, "\\\"");
            break;
        case '\\':
            PUT_LITERAL(s, "\\\\");
            break;
        case '\b':
            PUT_LITERAL(s, "\\b");
            break;
        case '\f':
            PUT_LITERAL(s, "\\f");
            break;
        case '\n':
            PUT_LITERAL(s, "\\n");
            break;
        case '\r':
            PUT_LITERAL(s, "\\r");
            break;
        case '\t':
            PUT_LITERAL(s, "\\t");
            break;
        default:
            if (c >= 0x80) {
                PUT_LITERAL(s, "\\ufffd");
            } else {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(s, esc, sizeof esc);
            }
            break;
        }
        run = ++p;
    }
    put(s, run, (size_t)(p - run));
    put_char(s, '"');
}

/* A CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF, or
 * is empty (so that an empty string differs from a failed task's empty
 * field), with quotes doubled. */
static void put_csv_field(stream *s, const char *str)
{
    if (str[0] != '\0' && !str[strcspn(str, ",\"\r\n")]) {
        put(s, str, strlen(str));
        return;
    }
    put_char(s, '"');
    for (const char *p = str;;) {
        const char *q = strchr(p, '"');
        if (!q) {
            put(s, p, strlen(p));
            break;
        }
        put(s, p, (size_t)(q - p + 1));
        put_char(s, '"');
        p = q + 1;
    }
    put_char(s, '"');
}

/* Escapes control characters C-style so that a failure stays on one line. */
static void put_readable(stream *s, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)str, *run = p;
    for (; *p; p++) {
        if (*p >= 0x20 && *p != 0x7f)
            continue;
        put(s, run, (size_t)(p - run));
        run = p + 1;
        if (*p == '\n') {
            PUT_LITERAL(s, "\\n");
        } else if (*p == '\r') {
            PUT_LITERAL(s, "\\r");
        } else if (*p == '\t') {
            PUT_LITERAL(s, "\\t");
        } else {
            char esc[4] = {'\\', 'x', hex[*p >> 4], hex[*p & 15]};
            put(s, esc, sizeof esc);
        }
    }
    put(s, run, (size_t)(p - run));
}

/* The text that describes a failure: the outcome's message, else the name of
 * the signal that killed the worker, else "". */
static const char *failure_message(const kp_outcome *o, char *buf, size_t n)
{
    if (o->message)
        return o->message;
    if (o->kind == KP_TASK_CRASHED && o->signal > 0)
        return kp_signal_name(o->signal, buf, n);
    return "";
}

/* ---- result writer ----------------------------------------------------- */

static const char *npy_descr(kp_type t)
{
    switch (t) {
    case KP_T_BOOL:
        return "|b1";
    case KP_T_I8:
        return "|i1";
    case KP_T_I16:
        return "<i2";
    case KP_T_I32:
        return "<i4";
    case KP_T_I64:
        return "<i8";
    case KP_T_U8:
        return "|u1";
    case KP_T_U16:
        return "<u2";
    case KP_T_U32:
        return "<u4";
    case KP_T_U64:
        return "<u8";
    case KP_T_F32:
        return "<f4";
    case KP_T_F64:
        return "<f8";
    default:
        return NULL;
    }
}

static int npy_check_config(const kp_output_config *cfg, const char *name, kp_err *err)
{
    if (cfg->type == KP_T_VOID || cfg->type == KP_T_STR)
        return kp_err_set(err, KPOOL_EJOB,
                          "%s: npy output needs a numeric or bool result, but the kernel "
                          "returns %s; use format = csv or jsonl",
                          name, kp_type_name(cfg->type));
    if (!npy_descr(cfg->type))
        return kp_err_set(err, KPOOL_EJOB, "%s: npy output cannot hold results of type %s", name,
                          kp_type_name(cfg->type));
    if (cfg->completion_order)
        return kp_err_set(err, KPOOL_EJOB,
                          "%s: npy output holds results in input order, but order = completion; "
                          "use order = input, or format = csv or jsonl",
                          name);
    if (cfg->index)
        return kp_err_set(err, KPOOL_EJOB,
                          "%s: npy output cannot hold the task index; set index = false, or use "
                          "format = csv or jsonl",
                          name);
    return 0;
}

static void npy_header(kp_output *out)
{
    char dict[128];
    char total[24];
    total[u64_text(out->total, total)] = '\0';
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s,), }",
                     npy_descr(out->type), total);
    /* numpy's _wrap_header: the padding is 1 to 64 spaces, never 0. */
    size_t len = (size_t)n + NPY_GROWTH_DIGITS - strlen(total) + 1;
    size_t header_len = len + NPY_ALIGN - (NPY_PREAMBLE + len) % NPY_ALIGN;
    unsigned char preamble[NPY_PREAMBLE] = {0x93,
                                            'N',
                                            'U',
                                            'M',
                                            'P',
                                            'Y',
                                            1,
                                            0,
                                            (unsigned char)(header_len & 0xff),
                                            (unsigned char)(header_len >> 8)};
    put(&out->s, preamble, sizeof preamble);
    put(&out->s, dict, (size_t)n);
    for (size_t i = (size_t)n; i < header_len - 1; i++)
        put_char(&out->s, ' ');
    put_char(&out->s, '\n');
}

int kp_output_open(kp_output **out, const kp_output_config *cfg, kp_err *err)
{
    *out = NULL;
    const char *name = strcmp(cfg->path, "-") == 0 ? "stdout" : cfg->path;
    if ((unsigned)cfg->type >= KP_T_COUNT_)
        return kp_err_set(err, KPOOL_EINVAL, "%s: unknown result type %d", name, (int)cfg->type);
    if (cfg->format == KP_OUT_NPY) {
        int rc = npy_check_config(cfg, name, err);
        if (rc)
            return rc;
    } else if (cfg->format != KP_OUT_CSV && cfg->format != KP_OUT_JSONL) {
        return kp_err_set(err, KPOOL_EINVAL, "%s: unknown output format %d", name,
                          (int)cfg->format);
    }
    kp_output *o = calloc(1, sizeof *o);
    if (!o)
        return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", name);
    o->format = cfg->format;
    o->type = cfg->type;
    o->index = cfg->index;
    o->total = cfg->total;
    bool kept = cfg->keep_bytes > 0 && strcmp(cfg->path, "-") != 0;
    int rc = kept ? stream_open_kept(&o->s, cfg->path, cfg->keep_bytes, o->format != KP_OUT_NPY,
                                     OUTPUT_BUFFER, err)
                  : stream_open(&o->s, cfg->path, STDOUT_FILENO, OUTPUT_BUFFER, err);
    if (rc) {
        free(o);
        return rc;
    }
    if (kept)
        o->slots = cfg->keep_tasks; /* npy: the slots written before */
    if (o->format == KP_OUT_NPY && !kept) {
        npy_header(o);
        rc = stream_check(&o->s, err);
        if (rc) {
            stream_close(&o->s, NULL);
            free(o);
            return rc;
        }
    }
    *out = o;
    return 0;
}

static void put_result(kp_output *out, const kp_outcome *o, bool json)
{
    stream *s = &out->s;
    switch (out->type) {
    case KP_T_BOOL:
        if (o->value.b)
            PUT_LITERAL(s, "true");
        else
            PUT_LITERAL(s, "false");
        break;
    case KP_T_I8:
    case KP_T_I16:
    case KP_T_I32:
    case KP_T_I64:
        put_i64(s, o->value.i);
        break;
    case KP_T_U8:
    case KP_T_U16:
    case KP_T_U32:
    case KP_T_U64:
        put_u64(s, o->value.u);
        break;
    case KP_T_F32:
        put_float(s, o->value.f32, true, json);
        break;
    case KP_T_F64:
        put_float(s, o->value.f64, false, json);
        break;
    case KP_T_STR:
        if (json && !o->str)
            PUT_LITERAL(s, "null");
        else if (json)
            put_json_string(s, o->str);
        else if (o->str)
            put_csv_field(s, o->str);
        break;
    default:
        break;
    }
}

static void write_csv(kp_output *out, const kp_outcome *o)
{
    stream *s = &out->s;
    bool ok = o->kind == KP_TASK_OK;
    if (out->type == KP_T_VOID) {
        if (ok && out->index) {
            put_u64(s, o->index);
            put_char(s, '\n');
        }
        return;
    }
    if (out->index) {
        put_u64(s, o->index);
        put_char(s, ',');
    }
    if (ok)
        put_result(out, o, false);
    put_char(s, '\n');
}

static void write_jsonl(kp_output *out, const kp_outcome *o)
{
    stream *s = &out->s;
    bool ok = o->kind == KP_TASK_OK;
    if (out->type == KP_T_VOID) {
        if (ok && out->index) {
            PUT_LITERAL(s, "{\"index\": ");
            put_u64(s, o->index);
            PUT_LITERAL(s, "}\n");
        }
        return;
    }
    PUT_LITERAL(s, "{\"index\": ");
    put_u64(s, o->index);
    if (ok) {
        PUT_LITERAL(s, ", \"result\": ");
        put_result(out, o, true);
    } else {
        char sig[32];
        PUT_LITERAL(s, ", \"error\": ");
        put_json_string(s, kp_task_kind_name(o->kind));
        PUT_LITERAL(s, ", \"message\": ");
        put_json_string(s, failure_message(o, sig, sizeof sig));
    }
    PUT_LITERAL(s, "}\n");
}

/* Stores the slot little-endian whatever the host's byte order. */
static void write_npy(kp_output *out, const kp_outcome *o)
{
    bool ok = o->kind == KP_TASK_OK;
    uint64_t bits = 0;
    switch (out->type) {
    case KP_T_BOOL:
        bits = ok && o->value.b;
        break;
    case KP_T_I8:
    case KP_T_I16:
    case KP_T_I32:
    case KP_T_I64:
        bits = ok ? (uint64_t)o->value.i : 0;
        break;
    case KP_T_F32: {
        float f = ok ? o->value.f32 : NAN;
        uint32_t b32;
        memcpy(&b32, &f, sizeof b32);
        bits = b32;
        break;
    }
    case KP_T_F64: {
        double d = ok ? o->value.f64 : NAN;
        memcpy(&bits, &d, sizeof bits);
        break;
    }
    default:
        bits = ok ? o->value.u : 0;
        break;
    }
    unsigned char bytes[8];
    size_t size = kp_type_size(out->type);
    for (size_t i = 0; i < size; i++)
        bytes[i] = (unsigned char)(bits >> (8 * i));
    put(&out->s, bytes, size);
    out->slots++;
}

int kp_output_write(kp_output *out, const kp_outcome *o, kp_err *err)
{
    if (o->kind == KP_TASK_OK && o->type != out->type)
        return kp_err_set(err, KPOOL_EINVAL, "%s: task %zu returned %s, but the output holds %s",
                          out->s.name, o->index, kp_type_name(o->type), kp_type_name(out->type));
    switch (out->format) {
    case KP_OUT_CSV:
        write_csv(out, o);
        break;
    case KP_OUT_JSONL:
        write_jsonl(out, o);
        break;
    case KP_OUT_NPY:
        if (out->slots >= out->total)
            return kp_err_set(err, KPOOL_EINVAL,
                              "%s: task %zu is one result too many: the npy header declares %zu",
                              out->s.name, o->index, out->total);
        if (o->index != out->slots)
            return kp_err_set(err, KPOOL_EINVAL,
                              "%s: task %zu arrived for slot %zu; npy results must be written in "
                              "input order",
                              out->s.name, o->index, out->slots);
        write_npy(out, o);
        break;
    }
    return stream_check(&out->s, err);
}

/* The longest line of an integer result: jsonl with a 20-digit index and a
 * 20-digit negative value. */
#define INT_LINE_MAX 66

/* Appends task `index`'s whole line for an integer result (its value's 8
 * bytes `v`) at p, as write_csv / write_jsonl would write it, and returns
 * the end. */
static inline char *int_line(char *p, bool jsonl, bool with_index, bool sign, uint64_t index,
                             uint64_t v)
{
    if (jsonl) {
        memcpy(p, "{\"index\": ", 10);
        p = kp_fmt_u64_wide(p + 10, index);
        memcpy(p, ", \"result\": ", 12);
        p += 12;
    } else if (with_index) {
        p = kp_fmt_u64_wide(p, index);
        *p++ = ',';
    }
    if (sign && (int64_t)v < 0) {
        *p++ = '-';
        v = (uint64_t)0 - v; /* exact for INT64_MIN too */
    }
    p = kp_fmt_u64_wide(p, v);
    if (jsonl)
        *p++ = '}';
    *p++ = '\n';
    return p;
}

/* The lines of a run of integer results, csv or jsonl: the seed's shape, so
 * the hot case of the hot path. Lines are formatted into a block, a block is
 * one fwrite. */
static void write_int_run(kp_output *out, size_t first, const unsigned char *values, size_t stride,
                          size_t n)
{
    bool jsonl = out->format == KP_OUT_JSONL, sign = kp_type_is_signed(out->type);
    char block[16384], *p = block, *end = block + sizeof block - INT_LINE_MAX;
    if (!jsonl && !out->index) {
        /* csv lines of the value alone, the commonest shape, in a loop of
         * their own (no branch on the format): 3% off 2,000,000 lines. */
        for (size_t k = 0; k < n; k++) {
            if (p > end) {
                put(&out->s, block, (size_t)(p - block));
                p = block;
            }
            uint64_t v;
            memcpy(&v, values + k * stride, sizeof v);
            if (v < 10) {
                /* Counts and flags, the commonest results, in two stores. */
                p[0] = (char)('0' + v);
                p[1] = '\n';
                p += 2;
                continue;
            }
            if (sign && (int64_t)v < 0) {
                *p++ = '-';
                v = (uint64_t)0 - v; /* exact for INT64_MIN too */
            }
            p = kp_fmt_u64_wide(p, v);
            *p++ = '\n';
        }
    } else {
        for (size_t k = 0; k < n; k++) {
            if (p > end) {
                put(&out->s, block, (size_t)(p - block));
                p = block;
            }
            uint64_t v;
            memcpy(&v, values + k * stride, sizeof v);
            p = int_line(p, jsonl, out->index, sign, first + k, v);
        }
    }
    put(&out->s, block, (size_t)(p - block));
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The slots of a run of npy results: on a little-endian host a value's
 * first bytes are its slot's bytes (values are widened to 8 bytes the way
 * write_npy reads them), so a run is packed into blocks, or written as it
 * is when its values are 8-byte slots side by side. */
static void write_npy_run(kp_output *out, const unsigned char *values, size_t stride, size_t n)
{
    size_t size = kp_type_size(out->type);
    if (size == stride) {
        put(&out->s, values, n * size);
    } else {
        unsigned char block[16384];
        size_t used = 0;
        for (size_t k = 0; k < n; k++) {
            if (used + size > sizeof block) {
                put(&out->s, block, used);
                used = 0;
            }
            if (out->type == KP_T_BOOL)
                block[used] = values[k * stride] != 0;
            else
                memcpy(block + used, values + k * stride, size);
            used += size;
        }
        put(&out->s, block, used);
    }
    out->slots += n;
}
#endif

int kp_output_write_run(kp_output *out, size_t first, kp_type type, const unsigned char *values,
                        size_t stride, size_t n, kp_err *err)
{
    if (n && type != out->type)
        return kp_err_set(err, KPOOL_EINVAL, "%s: task %zu returned %s, but the output holds %s",
                          out->s.name, first, kp_type_name(type), kp_type_name(out->type));
    if ((out->format == KP_OUT_CSV || out->format == KP_OUT_JSONL) && kp_type_is_int(type)) {
        write_int_run(out, first, values, stride, n);
        return stream_check(&out->s, err);
    }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* A run that fits the slots left, starting at the next one; any other
     * goes one by one below, which says what is wrong with it. */
    if (out->format == KP_OUT_NPY && first == out->slots && n <= out->total - out->slots) {
        write_npy_run(out, values, stride, n);
        return stream_check(&out->s, err);
    }
#endif
    for (size_t k = 0; k < n; k++) {
        kp_outcome o = {.index = first + k, .kind = KP_TASK_OK, .type = type, .attempts = 1};
        memcpy(&o.value, values + k * stride, sizeof o.value);
        int rc = kp_output_write(out, &o, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

uint64_t kp_output_tell(kp_output *out)
{
    off_t at = ftello(out->s.fp);
    return at > 0 ? (uint64_t)at : 0;
}

int kp_output_flush(kp_output *out, kp_err *err)
{
    return stream_flush(&out->s, err);
}

int kp_output_close(kp_output *out, kp_err *err)
{
    if (!out)
        return 0;
    int rc = 0;
    if (out->format == KP_OUT_NPY && out->slots != out->total)
        rc = kp_err_set(err, KPOOL_EIO,
                        "%s: only %zu of %zu results were written; the npy file is incomplete",
                        out->s.name, out->slots, out->total);
    int closed = stream_close(&out->s, rc ? NULL : err);
    free(out);
    return rc ? rc : closed;
}

/* ---- failure log ------------------------------------------------------- */

int kp_errlog_open(kp_errlog **out, const char *path, kp_err *err)
{
    *out = NULL;
    kp_errlog *log = calloc(1, sizeof *log);
    if (!log)
        return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", path);
    log->readable = strcmp(path, "-") == 0;
    int rc = stream_open(&log->s, path, STDERR_FILENO, ERRLOG_BUFFER, err);
    if (rc) {
        free(log);
        return rc;
    }
    *out = log;
    return 0;
}

static void errlog_readable(stream *s, const kp_outcome *o, const char *message, int max_attempts)
{
    bool parenthesized = o->kind == KP_TASK_CRASHED || o->kind == KP_TASK_TIMEOUT;
    PUT_LITERAL(s, "kpool: task ");
    put_u64(s, o->index);
    put_char(s, ' ');
    const char *kind = kp_task_kind_name(o->kind);
    put(s, kind, strlen(kind));
    if (message[0] != '\0') {
        if (parenthesized)
            PUT_LITERAL(s, " (");
        else
            PUT_LITERAL(s, ": ");
        put_readable(s, message);
        if (parenthesized)
            put_char(s, ')');
    }
    /* A task the run never started has no attempt to count. */
    if (o->attempts > 0) {
        PUT_LITERAL(s, ", attempt ");
        put_i64(s, o->attempts);
        PUT_LITERAL(s, " of ");
        put_i64(s, max_attempts);
    }
    put_char(s, '\n');
}

static void errlog_jsonl(stream *s, const kp_outcome *o, const char *message)
{
    PUT_LITERAL(s, "{\"index\": ");
    put_u64(s, o->index);
    PUT_LITERAL(s, ", \"kind\": ");
    put_json_string(s, kp_task_kind_name(o->kind));
    PUT_LITERAL(s, ", \"message\": ");
    put_json_string(s, message);
    PUT_LITERAL(s, ", \"attempts\": ");
    put_i64(s, o->attempts);
    if (o->kind == KP_TASK_CRASHED && o->signal > 0) {
        PUT_LITERAL(s, ", \"signal\": ");
        put_i64(s, o->signal);
    }
    PUT_LITERAL(s, "}\n");
}

int kp_errlog_write(kp_errlog *log, const kp_outcome *o, int max_attempts, kp_err *err)
{
    if (o->kind == KP_TASK_OK)
        return 0;
    char sig[32];
    const char *message = failure_message(o, sig, sizeof sig);
    if (log->readable)
        errlog_readable(&log->s, o, message, max_attempts);
    else
        errlog_jsonl(&log->s, o, message);
    /* Failures are rare and someone may be watching: each line is flushed as
     * one write, so it also never interleaves with the workers' stderr. */
    return stream_flush(&log->s, err);
}

int kp_errlog_close(kp_errlog *log, kp_err *err)
{
    if (!log)
        return 0;
    int rc = stream_close(&log->s, err);
    free(log);
    return rc;
}
