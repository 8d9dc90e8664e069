/* trace.c - the task trace: workers write their own lines, the coordinator
 * writes those of tasks whose worker died (see trace.h).
 *
 * Cost matters: the seed job runs 200000 tasks of a few tens of nanoseconds,
 * and tracing it may not slow it by more than a tenth. So a worker writes one
 * line per run of tasks it ran back to back, and per task it only counts
 * down its group and counts the task; it reads the TSC once per group of
 * short tasks (the inline path in trace.h). The readings of the open run
 * become nanoseconds and decimal digits, formatted by hand (no printf) into
 * a static buffer, when its line closes. The buffer is appended
 * to the file with one write when it is nearly full and before each batch of
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

struct kp_trace {
    int fd;
    int workers;
    char *path;
    int64_t t0;
    uint64_t tsc0; /* the TSC at t0; 0 = the workers read the clock itself */
    double task_timeout;
    const size_t *map;
    size_t map_tasks;     /* the map's length */
    kp_trace_slot *slots; /* shared: MAP_SHARED | MAP_ANONYMOUS */
    size_t slots_size;
    _Atomic int *torn; /* in the same mapping, after the slots */
};

/* The longest head of a line (format_head), the longest line of one task
 * (with the worst escaped message), and the worker's buffer. */
#define LINE_HEAD_MAX 256
#define LINE_MAX_ONE  (LINE_HEAD_MAX + 24 + 6 * KP_ERR_MAX)
#define WORKER_BUF    (512 * 1024)

/* ---- time ------------------------------------------------------------- */

/* Reading CLOCK_MONOTONIC costs a worker about 35 ns here (a VM), more than
 * a seed task. Where the kernel itself counts time with the TSC (x86-64,
 * clocksource "tsc": constant rate, in step across CPUs), a worker reads the
 * TSC instead (about 13 ns: the floor of what the trace costs per task), and
 * only when a line closes turns the readings into CLOCK_MONOTONIC's time, by
 * interpolation from an *anchor*: a clock reading paired with a TSC reading,
 * at a rate measured from the pair read at the run's start (t0) to the
 * anchor. A line is converted with an anchor read after its readings, or at
 * most min(1 ms, the anchor's distance from t0) before the newest: so a rate
 * is never applied to a span longer than the one it was measured over, and
 * a time is off the clock by about the uncertainty of two pairs (tens of ns)
 * at most, from the first line of the run on. */
#define TSC_ANCHOR_NS 1000000
/* The most TSC ticks between the two reads around a clock reading for the
 * pair to be trusted: about 50 normally, thousands when preempted in between. */
#define TSC_PAIR_TICKS 512

static uint64_t read_tsc(void)
{
#if KP_TRACE_TSC
    return __builtin_ia32_rdtsc();
#else
    return 0;
#endif
}

/* Whether the kernel's clock is the TSC. */
static bool clock_is_tsc(void)
{
    if (!KP_TRACE_TSC)
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

/* Reads the clock (*now) between two TSC readings and sets *tsc to the TSC
 * in the middle. Tries a few times for the two to be close; returns whether
 * they were (else the pair is the last try's, less exact). Async-signal-safe. */
static bool read_pair(int64_t *now, uint64_t *tsc)
{
    for (int i = 0; i < 4; i++) {
        uint64_t a = read_tsc();
        *now = kp_now_ns();
        uint64_t b = read_tsc();
        *tsc = a + (b - a) / 2;
        if (b - a <= TSC_PAIR_TICKS)
            return true;
    }
    return false;
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
    tr->slots_size = (size_t)tr->workers * sizeof(kp_trace_slot) + 64;
    tr->slots =
        mmap(NULL, tr->slots_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tr->slots == MAP_FAILED) {
        free(tr->path);
        free(tr);
        return kp_err_set(err, KPOOL_ENOMEM, "cannot map the trace's shared memory");
    }
    tr->torn = (_Atomic int *)(void *)(tr->slots + tr->workers);
    /* O_APPEND: every write of a worker lands whole at the end of the file. */
    tr->fd = kp_open_afresh(path, O_WRONLY | O_APPEND);
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

void kp_trace_start(kp_trace *tr, const size_t *index_map, size_t tasks, double task_timeout)
{
    tr->map = index_map;
    tr->map_tasks = index_map ? tasks : 0;
    tr->task_timeout = task_timeout;
    /* A first reading may be slow (the clock's page is not mapped yet):
     * read_pair tries again. */
    uint64_t tsc;
    bool exact = read_pair(&tr->t0, &tsc);
    tr->tsc0 = exact && clock_is_tsc() ? tsc : 0;
}

/* How a task whose worker died looks from the slot alone. */
static const char *death_outcome(const kp_trace_slot *s, bool stopped, char *msg, size_t n)
{
    uint32_t state = atomic_load(&s->state);
    if (stopped && (state == KP_TRACE_SLOT_OPEN || s->sig == SIGTERM)) {
        snprintf(msg, n, "the run stopped while this task ran");
        return "stopped";
    }
    if (state == KP_TRACE_SLOT_OPEN) {
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

/* The start and end (ns) of the task open in slot s when its worker died.
 * Its handler wrote them; a worker killed by SIGKILL left only the reading
 * of its start, converted here at the rate from t0 to now, and the task
 * ends now. */
static void open_task_times(const kp_trace *tr, const kp_trace_slot *s, int64_t now, int64_t *start,
                            int64_t *end)
{
    if (atomic_load(&s->state) == KP_TRACE_SLOT_DEAD) {
        *start = s->start_ns;
        *end = s->end_ns;
        return;
    }
    *end = now;
    *start = (int64_t)s->start;
    if (tr->tsc0) {
        int64_t ns;
        uint64_t tsc;
        read_pair(&ns, &tsc);
        double rate = tsc > tr->tsc0 ? (double)(ns - tr->t0) / (double)(tsc - tr->tsc0) : 0;
        *start = ns - (int64_t)((double)(int64_t)(tsc - s->start) * rate);
    }
    if (*start > now)
        *start = now;
    if (*start < tr->t0)
        *start = tr->t0;
}

/* Writes the line of the task open in slot i and frees the slot. */
static void write_open_task(kp_trace *tr, int i, const char *outcome, const char *message,
                            int64_t now)
{
    kp_trace_slot *s = &tr->slots[i];
    char line[LINE_MAX_ONE];
    int64_t start, end;
    open_task_times(tr, s, now, &start, &end);
    uint64_t task = tr->map ? tr->map[s->index] : s->index;
    char *e = format_line(line, task, i, s->pid, s->attempt, start - tr->t0, end - tr->t0, outcome,
                          message);
    if (kp_write_all(tr->fd, line, (size_t)(e - line)) < 0)
        atomic_store(tr->torn, 1);
    atomic_store(&s->state, KP_TRACE_SLOT_FREE);
}

void kp_trace_worker_died(kp_trace *tr, int slot, uint64_t running)
{
    if (!tr || slot < 0 || slot >= tr->workers || !running)
        return;
    kp_trace_slot *s = &tr->slots[slot];
    if (atomic_load(&s->state) == KP_TRACE_SLOT_FREE) {
        s->index = running - 1;
        atomic_store(&s->state, KP_TRACE_SLOT_OPEN);
    }
}

void kp_trace_failure(kp_trace *tr, const kp_outcome *o)
{
    if (!tr || (o->kind != KP_TASK_CRASHED && o->kind != KP_TASK_TIMEOUT))
        return;
    int64_t now = kp_now_ns();
    for (int i = 0; i < tr->workers; i++) {
        kp_trace_slot *s = &tr->slots[i];
        if (atomic_load(&s->state) != KP_TRACE_SLOT_FREE && s->index == o->index &&
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
        kp_trace_slot *s = &tr->slots[i];
        if (atomic_load(&s->writing))
            atomic_store(tr->torn, 1);
        if (atomic_load(&s->state) != KP_TRACE_SLOT_FREE) {
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
 * is formatted only when it closes: its end precedes its durations, and its
 * readings are best converted with an anchor read after them. Until then the
 * run is its first task and start (run_task, run_start), its attempt, its
 * tasks, and its readings: when a task ended and how many tasks had ended
 * by then (kp_trace_local.read_at and read_tasks), one per group of short
 * tasks.
 *
 * A signal handler (kp_trace_worker_dying) may interrupt the worker between
 * any two instructions and must then write every line and the open run, once
 * each. What it goes by is kp_trace_local.state, one word stored at once:
 * the bytes of complete lines in wbuf, and the readings and tasks of the
 * open run. The bytes and readings a committed state counts, and the run's
 * fields while it counts tasks, are never changed: the worker writes past
 * them and then commits a new state (a signal fence keeps the order for a
 * handler). So a task inside a group extends the run by committing the
 * state + 1 (the inline path in trace.h), and one that ends its group by
 * storing its reading and then committing one more reading and task; a line
 * closes by being formatted past the committed bytes and then committed
 * with no run open; a run opens by setting its fields and first reading,
 * and then committing one reading and task. */

/* The room a line needs in wbuf: a whole run (20 digits and a comma per
 * task at most; a pair of at least two tasks, "[8192,<20 digits>],", takes
 * less than 42), or one task with a message. */
#define RUN_LINE_MAX (LINE_HEAD_MAX + KP_TRACE_RUN_MAX * 21 + 3)
#define LINE_ROOM    (RUN_LINE_MAX > LINE_MAX_ONE ? RUN_LINE_MAX : LINE_MAX_ONE)
_Static_assert(LINE_ROOM <= WORKER_BUF / 2, "the buffer holds a few lines");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the state is committed in one store");

kp_trace_worker kp_trace_local;

static kp_trace *wtr;
static const _Atomic uint64_t *wrunning; /* the pool's task running here + 1, 0 = none */
static const size_t *wmap;               /* the pool's task numbers to the job's, or NULL */
static int wslot_no;
static int32_t wpid;
static char wbuf[WORKER_BUF];
/* The open run's first task (the job's index) and its start (ns). */
static uint64_t run_task;
static int64_t run_start;
/* Where a task that follows starts, in ns, while no run is open: the end
 * of the worker's last line, or the clock where a task started afresh. */
static int64_t wlast_ns;
/* The anchor (see "time"): a clock reading and the TSC in its middle; the
 * rate, in ns per tick times 2^32 (0 until measured); and how many ticks
 * past the anchor it may serve. */
static bool anchor_set;
static int64_t anchor_ns;
static uint64_t anchor_tsc, anchor_mult, anchor_span;

/* Makes `state` the one a handler sees, in one step. */
static void commit_state(uint64_t state)
{
    atomic_signal_fence(memory_order_release);
    atomic_store_explicit(&kp_trace_local.state, state, memory_order_relaxed);
}

/* The same, from its parts. */
static void commit(size_t len, uint32_t reads, uint32_t tasks)
{
    commit_state((uint64_t)len << 32 | (uint64_t)reads << 16 | tasks);
}

/* Makes (ns, tsc) the anchor, with the rate from t0 to it. */
static void set_anchor(int64_t ns, uint64_t tsc)
{
    anchor_set = true;
    anchor_ns = ns;
    anchor_tsc = tsc;
    anchor_span = 0;
    if (tsc > wtr->tsc0 && ns > wtr->t0) {
        uint64_t ticks = tsc - wtr->tsc0;
        double rate = (double)(ns - wtr->t0) / (double)ticks;
        anchor_mult = (uint64_t)(rate * 4294967296.0 + 0.5);
        double ms = TSC_ANCHOR_NS / rate;
        anchor_span = ms < (double)ticks ? (uint64_t)ms : ticks;
    }
}

/* Reads a new anchor, unless `force` is false and the anchor serves the
 * readings up to `newest`. Async-signal-safe. */
static void update_anchor(uint64_t newest, bool force)
{
    if (!kp_trace_local.tsc ||
        (!force && anchor_set && (int64_t)(newest - anchor_tsc) <= (int64_t)anchor_span))
        return;
    int64_t ns;
    uint64_t tsc;
    read_pair(&ns, &tsc);
    set_anchor(ns, tsc);
}

/* A reading in ns (CLOCK_MONOTONIC); never decreasing as readings grow. */
static int64_t reading_ns(uint64_t r)
{
#if KP_TRACE_TSC
    if (kp_trace_local.tsc) {
        bool after = r >= anchor_tsc;
        unsigned __int128 ns =
            ((unsigned __int128)(after ? r - anchor_tsc : anchor_tsc - r) * anchor_mult) >> 32;
        /* Only a wild reading is that far from the anchor. */
        if (ns > (unsigned __int128)(INT64_MAX / 4))
            ns = INT64_MAX / 4;
        return after ? anchor_ns + (int64_t)ns : anchor_ns - (int64_t)ns;
    }
#endif
    return (int64_t)r;
}

/* ---- groups of short tasks ------------------------------------------- */

/* Reading the TSC costs a worker about 13 ns here (a VM), a third of a seed
 * task: reading it after every task made --trace cost the seed job a sixth
 * more. So a worker reads it after a *group* of tasks that lasts at least
 * KP_TRACE_GROUP_COST times what one reading costs (min_span, measured when
 * the worker starts): a group is one task as long as tasks last that long,
 * and up to KP_TRACE_GROUP_MAX of them when they are shorter, doubled or
 * halved after each group from its time. A group costs the trace about four
 * readings' time (the reading, its bookkeeping, its entry of the line), so
 * this keeps the trace's share of the time to about 2%. Groups of at least
 * 50 readings and at most 64 tasks cost the seed job 0.42 ms more CPU time
 * a run (perf, 100 runs each) and 0.23 ms more wall time (151 paired runs).
 *
 * A task ended inside a group is only counted; the group's last task stores
 * its reading with the number of tasks so far. When a line is formatted,
 * the tasks since the previous reading become one entry of its durations,
 * [tasks,ns] (trace.h): a few bytes a group rather than a few a task, which
 * took 0.8 ms off the 2 ms the trace cost the seed job. A reading per group
 * rather than one per task (0 inside a group) spares each task a store and
 * the line a pass over every task: 0.37 ms less on the seed job (151 paired
 * runs). A task that leaves the run (it failed, or starts another line), the
 * end of a range, and a death read the clock at once, and share the time
 * since the last reading with the unread tasks before them, in proportion to
 * their numbers (close_tail). So a slow task among fast ones is seen as a
 * slow group (at most KP_TRACE_GROUP_MAX tasks), after which the next group
 * is one task, and groups grow again while tasks are fast. */

static void measure_reading_cost(kp_trace_worker *w)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 16; i++) {
        uint64_t a = kp_trace_read(), b = kp_trace_read();
        if (b > a && b - a < best)
            best = b - a;
    }
    w->min_span = KP_TRACE_GROUP_COST * (best == UINT64_MAX ? 1 : best);
    w->group = w->countdown = 1;
}

/* The group that ended at `now` (the reading): the size of the next one.
 * Without a division (it would cost a third of a reading): one task at a
 * time once tasks last min_span on average, else twice or half as many
 * until a group lasts between one and two min_spans. */
static uint32_t next_group(uint64_t now)
{
    kp_trace_worker *w = &kp_trace_local;
    /* The group of `group` tasks began at the previous reading, `last`. */
    uint64_t span = now > w->last ? now - w->last : 0;
    uint32_t g = w->group;
    if (span >= g * w->min_span)
        g = 1;
    else if (span < w->min_span)
        g = g * 2 > KP_TRACE_GROUP_MAX ? KP_TRACE_GROUP_MAX : g * 2;
    else if (span >= 2 * w->min_span)
        g /= 2;
    return g;
}

/* Starts a group of g tasks (no run open: 1, the task that opens one). */
static void start_group(uint32_t g, uint64_t now)
{
    kp_trace_worker *w = &kp_trace_local;
    w->group = w->countdown = g;
    w->last = now;
    w->slot->start = now;
}

/* Whether the open run of `state` ends with tasks after its last reading. */
static bool unread_tail(uint64_t state)
{
    uint32_t n = kp_trace_tasks_(state);
    return n && kp_trace_local.read_tasks[kp_trace_reads_(state) - 1] != n;
}

/* The open run's tasks after its last reading (unread, inside a group) and
 * `extra` tasks after them share the time from that reading to `now`: adds
 * the reading where the extra tasks begin, commits it and returns the new
 * state. The run's first task is always read. Async-signal-safe. */
static uint64_t close_tail(uint64_t state, uint64_t now, uint32_t extra)
{
    if (!unread_tail(state))
        return state;
    kp_trace_worker *w = &kp_trace_local;
    uint32_t n = kp_trace_tasks_(state), k = kp_trace_reads_(state);
    uint64_t unread = n - w->read_tasks[k - 1];
    /* As if `now` were the reading after the extra tasks. */
    uint64_t from = w->read_at[k - 1], span = now > from ? now - from : 0, m = unread + extra;
    w->read_at[k] = from + span / m * unread + span % m * unread / m;
    w->read_tasks[k] = (uint16_t)n;
    state += 1u << 16;
    commit_state(state);
    return state;
}

void kp_trace_close_group(void)
{
    uint64_t now = kp_trace_read();
    close_tail(atomic_load_explicit(&kp_trace_local.state, memory_order_relaxed), now, 0);
    start_group(1, now);
}

/* The text of each number below 1000 followed by a comma ("7," "42,"),
 * with its length; and each zero-padded to three digits ("042,"). Made by
 * kp_trace_worker_begin, before any line: the digits of a duration then cost
 * a load and a store, with no branch on their number (the CPU would
 * mispredict it as durations go from two digits to three and back). */
typedef struct small_number {
    char text[4];
    uint32_t len;
} small_number;
static small_number small_numbers[1000];
static char padded_numbers[1000][4];

static void make_numbers(void)
{
    if (small_numbers[0].len) /* "0," once made */
        return;
    for (int v = 0; v < 1000; v++) {
        char text[8];
        char *e = kp_fmt_u64(text, (uint64_t)v);
        *e++ = ',';
        memcpy(small_numbers[v].text, text, 4);
        small_numbers[v].len = (uint32_t)(e - text);
        padded_numbers[v][0] = (char)('0' + v / 100);
        memcpy(padded_numbers[v] + 1, kp_digit_pairs + 2 * (v % 100), 2);
        padded_numbers[v][3] = ',';
    }
}

/* Appends v and a comma at p; returns the end. Writes up to 4 bytes past
 * its text (a duration has room for 21). Always inline: most durations are
 * below 1000, and then it is a load, a store and an add. */
static inline __attribute__((always_inline)) char *put_duration(char *p, uint64_t v)
{
    if (__builtin_expect(v < 1000, 1)) {
        memcpy(p, small_numbers[v].text, 4);
        return p + small_numbers[v].len;
    }
    if (v < 1000000) {
        const small_number *high = &small_numbers[v / 1000];
        memcpy(p, high->text, 4);
        p += high->len - 1; /* over its comma */
        memcpy(p, padded_numbers[v % 1000], 4);
        return p + 4;
    }
    p = kp_fmt_u64(p, v);
    *p++ = ',';
    return p;
}

/* Appends the entry of m tasks that took span ns: its duration when m is
 * 1, else the pair [m,span] (trace.h). Writes up to 4 bytes past its text. */
static inline char *put_group(char *p, uint64_t span, uint64_t m)
{
    if (m == 1)
        return put_duration(p, span);
    *p++ = '[';
    p = put_duration(p, m);
    p = put_duration(p, span);
    p[-1] = ']';
    *p++ = ',';
    return p;
}

/* ticks * mult / 2^32: the ns of a span of readings. */
static inline int64_t ticks_ns(uint64_t ticks, uint64_t mult)
{
#ifdef __SIZEOF_INT128__
    return (int64_t)(((unsigned __int128)ticks * mult) >> 32);
#else
    (void)mult; /* no TSC without 128-bit products (trace.h): readings are ns */
    return (int64_t)ticks;
#endif
}

/* The line of the open run of `state`, appended at p; returns its end, and
 * sets wlast_ns to the run's end. Async-signal-safe.
 *
 * The tasks since the previous reading took the time from it (the first
 * reading's: from the run's start) to the next, never negative: a reading
 * below the highest so far counts as that one. Times after the first
 * reading are the ticks since it, summed and converted with one product
 * each, so the durations add up to the run's end less its start exactly.
 * The line's end is known only after the last duration: the durations are
 * written LINE_HEAD_MAX bytes on, and moved down behind the head. */
static char *format_run(char *p, uint64_t state)
{
    const uint64_t *r = kp_trace_local.read_at;
    const uint16_t *c = kp_trace_local.read_tasks;
    if (unread_tail(state)) /* between tasks of a group: the last ones end now */
        state = close_tail(state, kp_trace_read(), 0);
    uint32_t reads = kp_trace_reads_(state);
    /* ns per reading, times 2^32: readings are ns, or TSC ticks. */
    uint64_t mult = UINT64_C(1) << 32;
    int64_t first = (int64_t)r[0];
    if (kp_trace_local.tsc) {
        update_anchor(r[reads - 1], false);
        first = reading_ns(r[0]);
        mult = anchor_mult;
    }
    if (first < run_start)
        first = run_start;
    char *d = p + LINE_HEAD_MAX, *q = put_duration(d, (uint64_t)(first - run_start));
    uint64_t high = r[0], ticks = 0;
    int64_t since = 0; /* ns from the first reading to the previous one */
    for (uint32_t k = 1; k < reads; k++) {
        uint64_t v = r[k];
        ticks += v > high ? v - high : 0;
        high = v > high ? v : high;
        int64_t t = ticks_ns(ticks, mult);
        q = put_group(q, (uint64_t)(t - since), (uint16_t)(c[k] - c[k - 1]));
        since = t;
    }
    int64_t end = first + since;
    p = format_head(p, run_task, wslot_no, wpid, kp_trace_local.attempt, run_start - wtr->t0,
                    end - wtr->t0, "ok");
    size_t len = (size_t)(q - d);
    memmove(p, d, len);
    p += len;
    memcpy(p - 1, "]}\n", 3); /* over the last comma */
    wlast_ns = end;
    return p + 2;
}

/* Closes the open run of `state` after the bytes of its lines; returns the
 * new length. */
static size_t close_run(uint64_t state)
{
    size_t len = (size_t)(format_run(wbuf + (state >> 32), state) - wbuf);
    kp_trace_local.countdown = kp_trace_local.group = 1; /* no run open */
    commit(len, 0, 0);
    return len;
}

/* The most tasks a run that begins with pool task `index` may hold: as
 * many as a line holds, and in a resumed run only while their job indices
 * follow one another. */
static uint32_t run_limit(uint64_t index)
{
    if (!wmap)
        return KP_TRACE_RUN_MAX;
    uint64_t k = 1;
    while (k < KP_TRACE_RUN_MAX && index + k < wtr->map_tasks && wmap[index + k] == wmap[index] + k)
        k++;
    return (uint32_t)k;
}

bool kp_trace_worker_begin(kp_trace *tr, int slot, const _Atomic uint64_t *running)
{
    if (slot < 0 || slot >= tr->workers)
        return false;
    kp_trace_worker *w = &kp_trace_local;
    make_numbers();
    wtr = tr;
    wrunning = running;
    wslot_no = slot;
    wpid = (int32_t)getpid();
    kp_trace_slot *s = &tr->slots[slot];
    w->slot = s;
    wmap = tr->map;
    w->tsc = tr->tsc0 != 0;
    w->limit = 0;
    measure_reading_cost(w);
    w->last = kp_trace_read();
    anchor_set = false;
    anchor_mult = 0;
    wlast_ns = tr->t0;
    size_t len = 0;
    if (atomic_load(&s->writing))
        atomic_store(tr->torn, 1);
    atomic_store(&s->writing, 0);
    if (atomic_load(&s->state) != KP_TRACE_SLOT_FREE) {
        /* The previous worker of this slot died under a task that the pool
         * retries: it gets its line here. */
        char msg[160];
        const char *outcome = death_outcome(s, false, msg, sizeof msg);
        if (s->sig == SIGTERM && atomic_load(&s->state) == KP_TRACE_SLOT_DEAD)
            snprintf(msg, sizeof msg, "ran longer than task_timeout = %g s", tr->task_timeout);
        int64_t start, end;
        open_task_times(tr, s, kp_now_ns(), &start, &end);
        uint64_t task = tr->map ? tr->map[s->index] : s->index;
        char *e = format_line(wbuf, task, slot, s->pid, s->attempt, start - tr->t0, end - tr->t0,
                              outcome, msg);
        len = (size_t)(e - wbuf);
        atomic_store(&s->state, KP_TRACE_SLOT_FREE);
    }
    commit(len, 0, 0);
    s->pid = wpid;
    return true;
}

/* The next task starts now, apart from what ran before: reads the clock
 * (and a new anchor), closes the open run, and starts a group there. */
static void start_afresh(void)
{
    kp_trace_worker *w = &kp_trace_local;
    int64_t ns;
    uint64_t r;
    if (w->tsc) {
        read_pair(&ns, &r);
        set_anchor(ns, r);
    } else {
        ns = kp_now_ns();
        r = (uint64_t)ns;
    }
    /* The open run ends before this task (with this anchor, at most ns). */
    uint64_t state = atomic_load_explicit(&w->state, memory_order_relaxed);
    if (kp_trace_tasks_(state))
        close_run(state);
    if (ns < wlast_ns)
        ns = wlast_ns;
    wlast_ns = ns;
    start_group(1, r);
}

void kp_trace_range_begin(uint32_t attempt)
{
    start_afresh();
    kp_trace_local.slot->attempt = attempt;
    kp_trace_local.attempt = attempt;
}

/* Writes the buffered lines and the open run; returns whether there were
 * any. Async-signal-safe; call with SIGTERM blocked (or from a handler). */
static bool write_lines(void)
{
    uint64_t state = atomic_load_explicit(&kp_trace_local.state, memory_order_relaxed);
    atomic_signal_fence(memory_order_acquire);
    size_t len = (size_t)(state >> 32);
    if (kp_trace_tasks_(state))
        len = (size_t)(format_run(wbuf + len, state) - wbuf);
    if (!len)
        return false;
    kp_trace_slot *s = kp_trace_local.slot;
    atomic_store_explicit(&s->writing, 1, memory_order_relaxed);
    /* A failed write (disk full) loses these lines, not the run. */
    (void)kp_write_all(wtr->fd, wbuf, len);
    atomic_store_explicit(&s->writing, 0, memory_order_relaxed);
    commit(0, 0, 0);
    kp_trace_local.countdown = kp_trace_local.group = 1; /* no run open */
    return true;
}

/* A task (pool task number `index`, its outcome `kind` and `message`) that
 * does not extend the open run, ended at `now`: it closes the run (and
 * shares the time of the run's unread tasks), then opens a new one (ok) or
 * gets a line of its own. */
static void end_apart(uint64_t index, kp_task_kind kind, const char *message, uint64_t now,
                      uint32_t group)
{
    kp_trace_worker *w = &kp_trace_local;
    uint64_t state = atomic_load_explicit(&w->state, memory_order_relaxed);
    size_t len = (size_t)(state >> 32);
    uint64_t task = wmap ? wmap[index] : index;
    /* One anchor for the run that closes and this task. */
    update_anchor(now, false);
    if (kp_trace_tasks_(state))
        len = close_run(close_tail(state, now, 1)); /* this task's share too */
    int64_t start = wlast_ns;                       /* the task started where the last line ended */
    bool written = len > sizeof wbuf - LINE_ROOM;
    if (written) {
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigprocmask(SIG_BLOCK, &block, &old);
        write_lines();
        sigprocmask(SIG_SETMASK, &old, NULL);
        len = 0;
    }
    if (kind == KP_TASK_OK && !written) {
        run_task = task;
        run_start = start;
        w->read_at[0] = now;
        w->read_tasks[0] = 1;
        commit(len, 1, 1);
        w->limit = run_limit(index);
        start_group(group < w->limit ? group : w->limit, now);
    } else {
        int64_t end = reading_ns(now);
        if (end < start)
            end = start;
        char *e = format_line(wbuf + len, task, wslot_no, wpid, w->attempt, start - wtr->t0,
                              end - wtr->t0, kp_task_kind_name(kind), message);
        wlast_ns = end;
        commit((size_t)(e - wbuf), 0, 0);
        /* After a write, the next task starts afresh: the write's time is
         * nobody's (so this task, even ok, has a line of its own). */
        if (written)
            start_afresh();
        else
            start_group(1, now);
    }
}

void kp_trace_ok_read(uint64_t index)
{
    kp_trace_worker *w = &kp_trace_local;
    uint64_t now = kp_trace_read();
    uint32_t g = next_group(now); /* it ended its group */
    uint64_t state = atomic_load_explicit(&w->state, memory_order_relaxed);
    uint32_t n = kp_trace_tasks_(state);
    if (n && n < w->limit) {
        uint32_t k = kp_trace_reads_(state);
        w->read_at[k] = now;
        w->read_tasks[k] = (uint16_t)(n + 1);
        commit_state(state + (1u << 16) + 1);
        /* The next group's unread tasks must fit: n + 1 + (g - 1) <= limit. */
        start_group(g < w->limit - n ? g : w->limit - n, now);
        return;
    }
    end_apart(index, KP_TASK_OK, NULL, now, g);
}

void kp_trace_task_end_read(const kp_outcome *o)
{
    if (o->kind == KP_TASK_OK) {
        kp_trace_ok_read(o->index);
        return;
    }
    /* A failure cuts its group short. */
    end_apart(o->index, o->kind, o->message, kp_trace_read(), 1);
}

void kp_trace_worker_flush(void)
{
    if (wtr && write_lines())
        start_afresh(); /* the write's time is nobody's task */
}

void kp_trace_worker_dying(int sig)
{
    if (!wtr)
        return;
    /* The interrupted worker may have been changing the anchor. */
    update_anchor(0, true);
    kp_trace_slot *s = kp_trace_local.slot;
    uint64_t state = atomic_load_explicit(&kp_trace_local.state, memory_order_relaxed);
    atomic_signal_fence(memory_order_acquire);
    uint64_t running = wrunning ? atomic_load(wrunning) : 0;
    if (running)
        close_tail(state, kp_trace_read(), 1); /* the running task's share too */
    write_lines();
    if (running) {
        /* The task started where the last line ended, or afresh: wlast_ns
         * either way, now that the open run is closed. */
        int64_t now = kp_now_ns();
        s->index = running - 1;
        s->start_ns = wlast_ns;
        s->end_ns = now > wlast_ns ? now : wlast_ns;
        s->sig = sig;
        atomic_store(&s->state, KP_TRACE_SLOT_DEAD);
    }
}
