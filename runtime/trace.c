/* trace.c - the task trace: workers write their own lines, the coordinator
 * writes those of tasks whose worker died (see trace.h).
 *
 * Cost matters: the seed job runs 200000 tasks of a few hundred nanoseconds,
 * and tracing it may not slow it by more than a tenth. So a worker formats
 * each line by hand (no printf) into a large static buffer and appends the
 * buffer with one write when it is nearly full and before each batch of
 * results; nothing is merged or sorted after the run. */
#include "trace.h"

#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SLOT_FREE, SLOT_OPEN, SLOT_DEAD };

/* What one worker slot is running, shared between the worker (writes) and
 * the coordinator and the slot's next worker (read after it died). */
typedef struct trace_slot {
    _Atomic uint32_t state;   /* SLOT_* */
    _Atomic uint32_t writing; /* inside a write of the trace: a SIGKILL may cut it */
    int32_t pid;
    int32_t sig; /* SLOT_DEAD: the signal it died of, 0 for exit() */
    uint32_t attempt;
    uint32_t reserved;
    uint64_t index; /* the pool's task number */
    int64_t start_ns, end_ns;
    char pad[16];
} trace_slot;

_Static_assert(sizeof(trace_slot) == 64, "one cache line per slot");

struct kp_trace {
    int fd;
    int workers;
    char *path;
    int64_t t0;
    double task_timeout;
    const size_t *map;
    trace_slot *slots; /* shared: MAP_SHARED | MAP_ANONYMOUS */
    size_t slots_size;
    _Atomic int *torn; /* in the same mapping, after the slots */
};

/* The longest line without its message, and the worst escaped message. */
#define LINE_MAX_FIXED 256
#define LINE_MAX       (LINE_MAX_FIXED + 6 * KP_ERR_MAX)
#define WORKER_BUF     (256 * 1024)

/* ---- formatting -------------------------------------------------------- */

static const char digit_pairs[] = "00010203040506070809"
                                  "10111213141516171819"
                                  "20212223242526272829"
                                  "30313233343536373839"
                                  "40414243444546474849"
                                  "50515253545556575859"
                                  "60616263646566676869"
                                  "70717273747576777879"
                                  "80818283848586878889"
                                  "90919293949596979899";

char *kp_fmt_u64(char *p, uint64_t v)
{
    /* Count the digits first and fill them in from the end: no copy of a
     * variable length (which would be a call to memmove). */
    size_t n = 1;
    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    char *q = p + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, digit_pairs + 2 * r, 2);
    }
    if (v >= 10)
        memcpy(q - 2, digit_pairs + 2 * v, 2);
    else
        q[-1] = (char)('0' + v);
    return p + n;
}

char *kp_fmt_seconds(char *p, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    p = kp_fmt_u64(p, (uint64_t)ns / 1000000000u);
    *p++ = '.';
    uint32_t frac = (uint32_t)((uint64_t)ns % 1000000000u);
    /* Nine digits: four pairs and one. */
    p[8] = (char)('0' + frac % 10);
    frac /= 10;
    for (int i = 6; i >= 0; i -= 2) {
        memcpy(p + i, digit_pairs + 2 * (frac % 100), 2);
        frac /= 100;
    }
    return p + 9;
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
static size_t utf8_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t min, cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

char *kp_json_string(char *p, const char *str, size_t len, bool html)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    *p++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t n = utf8_length(s + i, len - i);
            if (!n) {
                memcpy(p, "\\ufffd", 6);
                p += 6;
                i++;
                continue;
            }
            /* U+2028 and U+2029 end a line in JavaScript source. */
            if (html && n == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] & 0xfe) == 0xa8) {
                memcpy(p, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
                p += 6;
            } else {
                memcpy(p, s + i, n);
                p += n;
            }
            i += n;
            continue;
        }
        i++;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c == '\n') {
            *p++ = '\\';
            *p++ = 'n';
        } else if (c == '\t') {
            *p++ = '\\';
            *p++ = 't';
        } else if (c < 0x20 || c == 0x7f || (html && (c == '<' || c == '>' || c == '&'))) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            p += 6;
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    return p;
}

/* One line of the trace; returns its end. `message` is written for every
 * outcome but ok. */
static char *format_line(char *p, uint64_t task, int worker, int32_t pid, uint32_t attempt,
                         int64_t start, int64_t end, const char *outcome, const char *message)
{
#define PUT(lit)                                                                                   \
    do {                                                                                           \
        memcpy(p, lit, sizeof lit - 1);                                                            \
        p += sizeof lit - 1;                                                                       \
    } while (0)
    PUT("{\"task\":");
    p = kp_fmt_u64(p, task);
    PUT(",\"worker\":");
    if (worker < 0) {
        PUT("-1");
    } else {
        p = kp_fmt_u64(p, (uint64_t)worker);
    }
    PUT(",\"pid\":");
    p = kp_fmt_u64(p, (uint64_t)(pid > 0 ? pid : 0));
    PUT(",\"attempt\":");
    p = kp_fmt_u64(p, attempt);
    PUT(",\"start\":");
    p = kp_fmt_seconds(p, start);
    PUT(",\"end\":");
    p = kp_fmt_seconds(p, end < start ? start : end);
    if (outcome[0] == 'o' && outcome[1] == 'k' && !outcome[2]) {
        PUT(",\"outcome\":\"ok\"}\n");
        return p;
    }
    PUT(",\"outcome\":\"");
    size_t n = strlen(outcome);
    memcpy(p, outcome, n);
    p += n;
    PUT("\",\"message\":");
    const char *m = message ? message : "";
    size_t mlen = strlen(m);
    if (mlen > KP_ERR_MAX)
        mlen = KP_ERR_MAX;
    p = kp_json_string(p, m, mlen, false);
    PUT("}\n");
    return p;
#undef PUT
}

/* ---- coordinator ------------------------------------------------------- */

int kp_trace_open(kp_trace **out, const char *path, int workers, kp_err *err)
{
    *out = NULL;
    kp_trace *tr = calloc(1, sizeof *tr);
    if (!tr || !(tr->path = strdup(path))) {
        free(tr);
        return kp_err_set(err, KPOOL_ENOMEM, "out of memory");
    }
    tr->workers = workers > 0 ? workers : 1;
    tr->slots_size = (size_t)tr->workers * sizeof(trace_slot) + 64;
    tr->slots =
        mmap(NULL, tr->slots_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tr->slots == MAP_FAILED) {
        free(tr->path);
        free(tr);
        return kp_err_set(err, KPOOL_ENOMEM, "cannot map the trace's shared memory");
    }
    tr->torn = (_Atomic int *)(void *)(tr->slots + tr->workers);
    /* O_APPEND: every write of a worker lands whole at the end of the file. */
    tr->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0666);
    if (tr->fd < 0) {
        int e = errno;
        munmap(tr->slots, tr->slots_size);
        free(tr->path);
        free(tr);
        return kp_err_set(err, KPOOL_EIO, "%s: cannot create the trace file: %s", path,
                          strerror(e));
    }
    *out = tr;
    return 0;
}

void kp_trace_start(kp_trace *tr, const size_t *index_map, double task_timeout)
{
    tr->map = index_map;
    tr->task_timeout = task_timeout;
    tr->t0 = kp_now_ns();
}

/* How a task whose worker died looks from the slot alone. */
static const char *death_outcome(const trace_slot *s, bool stopped, char *msg, size_t n)
{
    uint32_t state = atomic_load(&s->state);
    if (stopped && (state == SLOT_OPEN || s->sig == SIGTERM)) {
        snprintf(msg, n, "the run stopped while this task ran");
        return "stopped";
    }
    if (state == SLOT_OPEN) {
        snprintf(msg, n, "SIGKILL");
        return "crashed";
    }
    if (s->sig == SIGTERM) {
        snprintf(msg, n, "ran longer than task_timeout");
        return "timeout";
    }
    if (s->sig == 0) {
        snprintf(msg, n, "the worker exited");
        return "crashed";
    }
    kp_signal_name(s->sig, msg, n);
    return "crashed";
}

/* Writes the line of the task open in slot i and frees the slot. */
static void write_open_task(kp_trace *tr, int i, const char *outcome, const char *message,
                            int64_t now)
{
    trace_slot *s = &tr->slots[i];
    char line[LINE_MAX];
    int64_t end = atomic_load(&s->state) == SLOT_DEAD ? s->end_ns : now;
    uint64_t task = tr->map ? tr->map[s->index] : s->index;
    char *e = format_line(line, task, i, s->pid, s->attempt, s->start_ns - tr->t0, end - tr->t0,
                          outcome, message);
    if (kp_write_all(tr->fd, line, (size_t)(e - line)) < 0)
        atomic_store(tr->torn, 1);
    atomic_store(&s->state, SLOT_FREE);
}

void kp_trace_failure(kp_trace *tr, const kp_outcome *o)
{
    if (!tr || (o->kind != KP_TASK_CRASHED && o->kind != KP_TASK_TIMEOUT))
        return;
    int64_t now = kp_now_ns();
    for (int i = 0; i < tr->workers; i++) {
        trace_slot *s = &tr->slots[i];
        if (atomic_load(&s->state) != SLOT_FREE && s->index == o->index &&
            s->attempt == (uint32_t)o->attempts) {
            if (atomic_load(&s->writing))
                atomic_store(tr->torn, 1);
            write_open_task(tr, i, kp_task_kind_name(o->kind), o->message, now);
            return;
        }
    }
    /* No slot ran it (it cannot happen: a worker publishes its task before
     * the pool can blame it); still give the failure its line. */
    char line[LINE_MAX];
    uint64_t task = tr->map ? tr->map[o->index] : o->index;
    char *e = format_line(line, task, -1, 0, (uint32_t)o->attempts, now - tr->t0, now - tr->t0,
                          kp_task_kind_name(o->kind), o->message);
    kp_write_all(tr->fd, line, (size_t)(e - line));
}

int kp_trace_close(kp_trace *tr, bool stopped, kp_err *err)
{
    if (!tr)
        return 0;
    int64_t now = kp_now_ns();
    for (int i = 0; i < tr->workers; i++) {
        trace_slot *s = &tr->slots[i];
        if (atomic_load(&s->writing))
            atomic_store(tr->torn, 1);
        if (atomic_load(&s->state) != SLOT_FREE) {
            char msg[128];
            const char *outcome = death_outcome(s, stopped, msg, sizeof msg);
            write_open_task(tr, i, outcome, msg, now);
        }
    }
    int rc = 0;
    if (close(tr->fd) != 0)
        rc =
            kp_err_set(err, KPOOL_EIO, "%s: cannot write the trace: %s", tr->path, strerror(errno));
    if (rc == 0 && atomic_load(tr->torn))
        rc = kp_trace_repair(tr->path, err);
    munmap(tr->slots, tr->slots_size);
    free(tr->path);
    free(tr);
    return rc;
}

int kp_trace_repair(const char *path, kp_err *err)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return kp_err_set(err, KPOOL_EIO, "%s: cannot read the trace: %s", path, strerror(e));
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return kp_err_set(err, KPOOL_ENOMEM, "%s: no memory to check the trace", path);
    }
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    /* Keep each line from its last {"task": (a cut line is followed, on the
     * same line, by the next write's first line); drop a cut last line. A
     * message cannot contain {"task": because its quotes are escaped. */
    static const char head[] = "{\"task\":";
    size_t out = 0, at = 0;
    while (at < got) {
        char *nl = memchr(buf + at, '\n', got - at);
        if (!nl)
            break;
        size_t end = (size_t)(nl - buf) + 1, keep = SIZE_MAX;
        for (size_t k = at; k + sizeof head - 1 <= end; k++)
            if (memcmp(buf + k, head, sizeof head - 1) == 0)
                keep = k;
        if (keep != SIZE_MAX) {
            memmove(buf + out, buf + keep, end - keep);
            out += end - keep;
        }
        at = end;
    }
    int rc = 0;
    size_t put = 0;
    while (put < out) {
        ssize_t n = pwrite(fd, buf + put, out - put, (off_t)put);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        put += (size_t)n;
    }
    if (put < out || ftruncate(fd, (off_t)out) != 0)
        rc = kp_err_set(err, KPOOL_EIO, "%s: cannot rewrite the trace: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = kp_err_set(err, KPOOL_EIO, "%s: cannot rewrite the trace: %s", path, strerror(errno));
    free(buf);
    return rc;
}

/* ---- worker ------------------------------------------------------------ */

/* The worker's own state: one worker per process. `wlen` counts bytes of
 * complete lines, so a handler never writes half a line. */
static kp_trace *wtr;
static trace_slot *wslot;
static int wslot_no;
static int32_t wpid;
static char wbuf[WORKER_BUF];
static volatile sig_atomic_t wlen;
/* The end of the previous task, when the next one follows it directly. */
static int64_t wlast_end;
static bool wchained;
/* Pieces of the last ok line, for the next one (see format_ok_line). */
static char ok_task[32], ok_mid[64], ok_end[32];
static size_t ok_task_len, ok_mid_len, ok_end_len;
static uint64_t ok_task_num = UINT64_MAX;
static uint32_t ok_mid_attempt; /* 0: ok_mid not made yet */
static int64_t ok_end_ns = -1;

bool kp_trace_worker_begin(kp_trace *tr, int slot)
{
    if (slot < 0 || slot >= tr->workers)
        return false;
    wtr = tr;
    wslot_no = slot;
    wslot = &tr->slots[slot];
    wpid = (int32_t)getpid();
    wlen = 0;
    ok_task_num = UINT64_MAX;
    ok_mid_attempt = 0;
    ok_end_ns = -1;
    if (atomic_load(&wslot->writing))
        atomic_store(tr->torn, 1);
    atomic_store(&wslot->writing, 0);
    if (atomic_load(&wslot->state) != SLOT_FREE) {
        /* The previous worker of this slot died under a task that the pool
         * retries: it gets its line here. */
        char msg[160];
        const char *outcome = death_outcome(wslot, false, msg, sizeof msg);
        if (wslot->sig == SIGTERM && atomic_load(&wslot->state) == SLOT_DEAD)
            snprintf(msg, sizeof msg, "ran longer than task_timeout = %g s", tr->task_timeout);
        int64_t end = atomic_load(&wslot->state) == SLOT_DEAD ? wslot->end_ns : kp_now_ns();
        uint64_t task = tr->map ? tr->map[wslot->index] : wslot->index;
        char *e = format_line(wbuf, task, slot, wslot->pid, wslot->attempt,
                              wslot->start_ns - tr->t0, end - tr->t0, outcome, msg);
        wlen = (sig_atomic_t)(e - wbuf);
        atomic_store(&wslot->state, SLOT_FREE);
    }
    wslot->pid = wpid;
    return true;
}

/* The line of a task that ended ok, as format_line writes it, from pieces
 * the previous line already formatted: the task number when it is the next
 * one (its text is incremented), the worker, pid and attempt (the same for
 * a whole range), and the start when it is the previous line's end (always,
 * within a range). Copies are of fixed sizes, which compile to a few moves;
 * the line buffer has LINE_MAX bytes of room, far more than they overrun. */

static char *format_ok_line(char *p, uint64_t task, uint32_t attempt, int64_t start, int64_t end)
{
    if (task == ok_task_num + 1 && ok_task_num != UINT64_MAX) {
        size_t i = ok_task_len;
        while (i > 0 && ok_task[i - 1] == '9')
            ok_task[--i] = '0';
        if (i > 0) {
            ok_task[i - 1]++;
        } else {
            memmove(ok_task + 1, ok_task, ok_task_len++);
            ok_task[0] = '1';
        }
    } else {
        ok_task_len = (size_t)(kp_fmt_u64(ok_task, task) - ok_task);
    }
    ok_task_num = task;
    if (attempt != ok_mid_attempt) {
        char *m = ok_mid;
        memcpy(m, ",\"worker\":", 10);
        m = kp_fmt_u64(m + 10, (uint64_t)wslot_no);
        memcpy(m, ",\"pid\":", 7);
        m = kp_fmt_u64(m + 7, (uint64_t)wpid);
        memcpy(m, ",\"attempt\":", 11);
        m = kp_fmt_u64(m + 11, attempt);
        memcpy(m, ",\"start\":", 9);
        ok_mid_len = (size_t)(m + 9 - ok_mid);
        ok_mid_attempt = attempt;
    }
    if (end < start)
        end = start;
    memcpy(p, "{\"task\":", 8);
    memcpy(p + 8, ok_task, sizeof ok_task);
    p += 8 + ok_task_len;
    memcpy(p, ok_mid, sizeof ok_mid);
    p += ok_mid_len;
    if (start == ok_end_ns) {
        memcpy(p, ok_end, sizeof ok_end);
        p += ok_end_len;
    } else {
        p = kp_fmt_seconds(p, start);
    }
    memcpy(p, ",\"end\":", 7);
    p += 7;
    char *e = kp_fmt_seconds(p, end);
    memcpy(ok_end, p, sizeof ok_end);
    ok_end_len = (size_t)(e - p);
    ok_end_ns = end;
    memcpy(e, ",\"outcome\":\"ok\"}\n", 17);
    return e + 17;
}

void kp_trace_task_begin(uint64_t index, uint32_t attempt, bool follows)
{
    wslot->index = index;
    wslot->attempt = attempt;
    wslot->start_ns = follows && wchained ? wlast_end : kp_now_ns();
    atomic_store_explicit(&wslot->state, SLOT_OPEN, memory_order_release);
}

void kp_trace_task_end(const kp_outcome *o)
{
    int64_t end = kp_now_ns();
    atomic_store_explicit(&wslot->state, SLOT_FREE, memory_order_relaxed);
    wlast_end = end;
    wchained = true;
    if ((size_t)wlen > sizeof wbuf - LINE_MAX) {
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigprocmask(SIG_BLOCK, &block, &old);
        kp_trace_worker_flush();
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    const kp_trace *tr = wtr;
    uint64_t task = tr->map ? tr->map[o->index] : o->index;
    int64_t start_rel = wslot->start_ns - tr->t0, end_rel = end - tr->t0;
    char *e = o->kind == KP_TASK_OK
                  ? format_ok_line(wbuf + wlen, task, wslot->attempt, start_rel, end_rel)
                  : format_line(wbuf + wlen, task, wslot_no, wpid, wslot->attempt, start_rel,
                                end_rel, kp_task_kind_name(o->kind), o->message);
    wlen = (sig_atomic_t)(e - wbuf);
}

void kp_trace_worker_flush(void)
{
    if (!wtr || !wlen)
        return;
    atomic_store_explicit(&wslot->writing, 1, memory_order_relaxed);
    /* A failed write (disk full) loses these lines, not the run. */
    (void)kp_write_all(wtr->fd, wbuf, (size_t)wlen);
    atomic_store_explicit(&wslot->writing, 0, memory_order_relaxed);
    wlen = 0;
    wchained = false; /* the write's time is nobody's task */
}

void kp_trace_worker_dying(int sig)
{
    if (!wtr)
        return;
    kp_trace_worker_flush();
    if (atomic_load(&wslot->state) == SLOT_OPEN) {
        wslot->end_ns = kp_now_ns();
        wslot->sig = sig;
        atomic_store(&wslot->state, SLOT_DEAD);
    }
}
