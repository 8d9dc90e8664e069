/* trace.c - the task trace: workers write their own lines, the coordinator
 * writes those of tasks whose worker died (see trace.h).
 *
 * Cost matters: the seed job runs 200000 tasks of a few hundred nanoseconds,
 * and tracing it may not slow it by more than a tenth. What costs is the
 * bytes written, so a worker writes one line per run of tasks it ran back to
 * back, adding a few digits per task (its duration), formatted by hand (no
 * printf) into static buffers that it appends to the file with one write when
 * they are nearly full and before each batch of results; nothing is merged
 * or sorted after the run. */
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

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

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
    uint64_t tsc0; /* the TSC at t0; 0 = the workers read the clock itself */
    double task_timeout;
    const size_t *map;
    trace_slot *slots; /* shared: MAP_SHARED | MAP_ANONYMOUS */
    size_t slots_size;
    _Atomic int *torn; /* in the same mapping, after the slots */
};

/* The longest head of a line (format_head), the longest line of one task
 * (with the worst escaped message), and the worker's buffer. */
#define LINE_HEAD_MAX 256
#define LINE_MAX_ONE  (LINE_HEAD_MAX + 24 + 6 * KP_ERR_MAX)
#define WORKER_BUF    (256 * 1024)

/* ---- time ------------------------------------------------------------- */

/* Reading CLOCK_MONOTONIC costs a worker about 35 ns here (a VM), which on
 * the seed job's tasks of 200 ns was most of what the trace cost. Where the
 * kernel itself counts time with the TSC (x86, clocksource "tsc": constant
 * rate, in step across CPUs), a worker reads the TSC instead (about 13 ns)
 * and turns it into CLOCK_MONOTONIC's time by interpolation from an *anchor*,
 * a clock reading paired with a TSC reading, at a rate measured from the
 * pair read at the run's start (t0) to the anchor. An anchor serves 1 ms at
 * most; then, or when the TSC reads out of range (say, across CPUs), the
 * clock is read again. The rate is measured over at least 2 ms (before that,
 * the clock is read for every task), so its error over an anchor's 1 ms is
 * at most about 100 ns, and shrinks as the run goes on. */
#define TSC_CALIBRATE_NS 2000000
#define TSC_ANCHOR_NS    1000000
/* The most TSC ticks between the two reads around a clock reading for the
 * pair to count: about 50 normally, thousands when preempted in between. */
#define TSC_PAIR_TICKS 512

static uint64_t read_tsc(void)
{
#if HAVE_TSC
    return __rdtsc();
#else
    return 0;
#endif
}

/* Whether the kernel's clock is the TSC. */
static bool clock_is_tsc(void)
{
    if (!HAVE_TSC)
        return false;
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                  O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char name[16];
    ssize_t n = read(fd, name, sizeof name);
    close(fd);
    return n == 4 && memcmp(name, "tsc\n", 4) == 0;
}

/* Reads the clock between two TSC readings; returns the clock and sets *tsc
 * to the TSC in the middle, or to 0 when the two are too far apart. */
static int64_t read_pair(uint64_t *tsc)
{
    uint64_t a = read_tsc();
    int64_t now = kp_now_ns();
    uint64_t b = read_tsc();
    *tsc = b - a <= TSC_PAIR_TICKS ? a + (b - a) / 2 : 0;
    return now;
}

/* ---- formatting -------------------------------------------------------- */

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
        memcpy(p + i, kp_digit_pairs + 2 * (frac % 100), 2);
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

#define PUT(lit)                                                                                   \
    do {                                                                                           \
        memcpy(p, lit, sizeof lit - 1);                                                            \
        p += sizeof lit - 1;                                                                       \
    } while (0)

/* The head of a line, from its first key to the opening bracket of "ns";
 * returns its end. At most LINE_HEAD_MAX bytes for an outcome of the list. */
static char *format_head(char *p, uint64_t task, int worker, int32_t pid, uint32_t attempt,
                         int64_t start, int64_t end, const char *outcome)
{
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
    p = kp_fmt_seconds(p, end);
    PUT(",\"outcome\":\"");
    size_t n = strlen(outcome);
    memcpy(p, outcome, n);
    p += n;
    PUT("\",\"ns\":[");
    return p;
}

/* The line of one task; returns its end. `message` is written for every
 * outcome but ok. */
static char *format_line(char *p, uint64_t task, int worker, int32_t pid, uint32_t attempt,
                         int64_t start, int64_t end, const char *outcome, const char *message)
{
    if (start < 0)
        start = 0;
    if (end < start)
        end = start;
    p = format_head(p, task, worker, pid, attempt, start, end, outcome);
    p = kp_fmt_u64(p, (uint64_t)(end - start));
    if (outcome[0] == 'o' && outcome[1] == 'k' && !outcome[2]) {
        PUT("]}\n");
        return p;
    }
    PUT("],\"message\":");
    const char *m = message ? message : "";
    size_t mlen = strlen(m);
    if (mlen > KP_ERR_MAX)
        mlen = KP_ERR_MAX;
    p = kp_json_string(p, m, mlen, false);
    PUT("}\n");
    return p;
}

#undef PUT

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
    /* A first reading may be slow (the clock's page is not mapped yet). */
    uint64_t tsc = 0;
    for (int i = 0; i < 4 && !tsc; i++)
        tr->t0 = read_pair(&tsc);
    tr->tsc0 = tsc && clock_is_tsc() ? tsc : 0;
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
    char line[LINE_MAX_ONE];
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
    char line[LINE_MAX_ONE];
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

/* A worker keeps complete lines in wbuf and, apart from them, the open
 * *run*: tasks it ran back to back, ok, with consecutive job indices and the
 * same attempt, each starting where the previous one ended. The run's line
 * is written out only when it closes, since its end precedes its durations;
 * until then its durations ("d1,d2,...,dn," in decimal nanoseconds) wait in
 * wns and the rest of its line in run_* and the committed state.
 *
 * A signal handler (kp_trace_worker_dying) may interrupt the worker between
 * any two instructions and must then write every line and the open run, once
 * each. So what it reads is committed in one step: the worker fills the copy
 * of the state the handler does not read, and then flips wcur to it. The
 * text a state counts (wbuf up to len, wns up to ns_len) and the run_*
 * fields are never changed while a committed state counts them: the worker
 * writes past them, and sets run_* only while no run is committed open. */
#define RUN_NS_MAX (32 * 1024)
/* The room a line needs in wbuf: a whole run, or one task with a message. */
#define LINE_ROOM                                                                                  \
    (LINE_HEAD_MAX + RUN_NS_MAX + 3 > LINE_MAX_ONE ? LINE_HEAD_MAX + RUN_NS_MAX + 3 : LINE_MAX_ONE)

typedef struct wstate {
    size_t len;    /* bytes of complete lines in wbuf */
    size_t ns_len; /* bytes of the open run's durations in wns; 0 = no run open */
    int64_t end;   /* the open run's end, ns since the run started */
} wstate;

static kp_trace *wtr;
static trace_slot *wslot;
static int wslot_no;
static int32_t wpid;
static char wbuf[WORKER_BUF];
static char wns[RUN_NS_MAX];
static wstate wstates[2];
static volatile sig_atomic_t wcur;
/* The open run's first task (the job's index), the index its next task must
 * have, its attempt and its start (ns since the run started). */
static uint64_t run_task, run_next;
static uint32_t run_attempt;
static int64_t run_start;
/* The end of the previous task, when the next one follows it directly. */
static int64_t wlast_end;
static bool wchained;
/* The worker's clock (see "time"): its TSC rate in ns per tick (0 = read
 * the clock), and the anchor (anchor_tsc 0 = none) with how many ticks it
 * serves. */
static double wrate;
static int64_t anchor_ns;
static uint64_t anchor_tsc, anchor_ticks;

/* Reads the clock, and anchors the TSC to it when the TSC may stand in. */
static int64_t clock_now(void)
{
    int64_t now = kp_now_ns();
    if (!wtr->tsc0 || now - wtr->t0 < TSC_CALIBRATE_NS)
        return now;
    /* Called once per anchor (1 ms) or range: a second reading is cheap. */
    uint64_t tsc;
    now = read_pair(&tsc);
    anchor_tsc = 0;
    if (tsc > wtr->tsc0) {
        wrate = (double)(now - wtr->t0) / (double)(tsc - wtr->tsc0);
        anchor_ns = now;
        anchor_tsc = tsc;
        anchor_ticks = (uint64_t)(TSC_ANCHOR_NS / wrate);
    }
    return now;
}

/* The time now, CLOCK_MONOTONIC: from the TSC while an anchor serves. */
static int64_t worker_now(void)
{
    if (anchor_tsc) {
        uint64_t ticks = read_tsc() - anchor_tsc;
        if (ticks < anchor_ticks)
            return anchor_ns + (int64_t)((double)ticks * wrate);
    }
    return clock_now();
}

/* Makes (len, ns_len, end) the state a handler sees, in one step. */
static void commit(size_t len, size_t ns_len, int64_t end)
{
    wstate *s = &wstates[!wcur];
    s->len = len;
    s->ns_len = ns_len;
    s->end = end;
    /* Everything written before (lines, durations, run_*) is in place
     * before the flip, as seen from a handler in this thread. */
    atomic_signal_fence(memory_order_seq_cst);
    wcur = !wcur;
}

/* The line of the open run of state s, appended at p; returns its end. */
static char *format_run(char *p, const wstate *s)
{
    p = format_head(p, run_task, wslot_no, wpid, run_attempt, run_start, s->end, "ok");
    memcpy(p, wns, s->ns_len - 1); /* without the last comma */
    p += s->ns_len - 1;
    memcpy(p, "]}\n", 3);
    return p + 3;
}

bool kp_trace_worker_begin(kp_trace *tr, int slot)
{
    if (slot < 0 || slot >= tr->workers)
        return false;
    wtr = tr;
    wslot_no = slot;
    wslot = &tr->slots[slot];
    wpid = (int32_t)getpid();
    wchained = false;
    anchor_tsc = 0;
    size_t len = 0;
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
        len = (size_t)(e - wbuf);
        atomic_store(&wslot->state, SLOT_FREE);
    }
    commit(len, 0, 0);
    wslot->pid = wpid;
    return true;
}

void kp_trace_task_begin(uint64_t index, uint32_t attempt, bool follows)
{
    wslot->index = index;
    wslot->attempt = attempt;
    wslot->start_ns = follows && wchained ? wlast_end : clock_now();
    atomic_store_explicit(&wslot->state, SLOT_OPEN, memory_order_release);
}

void kp_trace_task_end(const kp_outcome *o)
{
    int64_t now = worker_now();
    atomic_store_explicit(&wslot->state, SLOT_FREE, memory_order_relaxed);
    /* A new anchor may put the clock a few ns behind the TSC's time. */
    if (now < wslot->start_ns)
        now = wslot->start_ns;
    wlast_end = now;
    wchained = true;
    const kp_trace *tr = wtr;
    uint64_t task = tr->map ? tr->map[o->index] : o->index;
    uint32_t attempt = wslot->attempt;
    int64_t start = wslot->start_ns - tr->t0, end = now - tr->t0;
    uint64_t ns = (uint64_t)(end - start);
    const wstate *s = &wstates[wcur];
    size_t len = s->len;
    if (s->ns_len) {
        /* The common case: the task extends the open run by its duration. */
        if (o->kind == KP_TASK_OK && start == s->end && task == run_next &&
            attempt == run_attempt && s->ns_len + 21 <= sizeof wns) {
            char *e = kp_fmt_u64(wns + s->ns_len, ns);
            *e++ = ',';
            run_next++;
            commit(len, (size_t)(e - wns), end);
            return;
        }
        len = (size_t)(format_run(wbuf + len, s) - wbuf);
        commit(len, 0, 0);
    }
    if (len > sizeof wbuf - LINE_ROOM) {
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigprocmask(SIG_BLOCK, &block, &old);
        kp_trace_worker_flush();
        sigprocmask(SIG_SETMASK, &old, NULL);
        len = 0;
    }
    if (o->kind == KP_TASK_OK) {
        run_task = task;
        run_next = task + 1;
        run_attempt = attempt;
        run_start = start;
        char *e = kp_fmt_u64(wns, ns);
        *e++ = ',';
        commit(len, (size_t)(e - wns), end);
    } else {
        char *e = format_line(wbuf + len, task, wslot_no, wpid, attempt, start, end,
                              kp_task_kind_name(o->kind), o->message);
        commit((size_t)(e - wbuf), 0, 0);
    }
}

void kp_trace_worker_flush(void)
{
    if (!wtr)
        return;
    const wstate *s = &wstates[wcur];
    atomic_signal_fence(memory_order_seq_cst);
    size_t len = s->len;
    if (s->ns_len)
        len = (size_t)(format_run(wbuf + len, s) - wbuf);
    if (!len)
        return;
    atomic_store_explicit(&wslot->writing, 1, memory_order_relaxed);
    /* A failed write (disk full) loses these lines, not the run. */
    (void)kp_write_all(wtr->fd, wbuf, len);
    atomic_store_explicit(&wslot->writing, 0, memory_order_relaxed);
    commit(0, 0, 0);
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
