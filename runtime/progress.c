/* progress.c - the live progress line: its rate, its layout, its drawing. */
#include "progress.h"

#include <math.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* LINE_MAX_WIDTH: the widest line drawn, whatever the terminal. The bar
 * graphic's columns inside its brackets: at least BAR_MIN, at most BAR_MAX,
 * and BAR_WANT before "0 failed" is shown beside it. */
enum { LINE_MAX_WIDTH = 240, BAR_MIN = 10, BAR_WANT = 20, BAR_MAX = 40 };

void kp_progress_init(kp_progress *p, FILE *f, size_t total, size_t base, bool draw)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->draw = draw && f;
    p->total = total;
    p->base = base;
    p->start_ns = kp_now_ns();
}

double kp_progress_update(kp_progress *p, int64_t now_ns, size_t done)
{
    /* The reference point: the newest sample at least a window old (or the
     * oldest one kept, when ticks come so often that none is), else the
     * start. */
    int64_t ref_t = p->start_ns;
    size_t ref_done = 0;
    bool found = false;
    for (unsigned k = 1; k <= p->count && !found; k++) {
        unsigned i = (p->head + KP_PROGRESS_SAMPLES - k) % KP_PROGRESS_SAMPLES;
        if (now_ns - p->ring[i].t >= KP_PROGRESS_WINDOW_NS || k == KP_PROGRESS_SAMPLES) {
            ref_t = p->ring[i].t;
            ref_done = p->ring[i].done;
            found = true;
        }
    }
    /* Too few completions in the window to say much (slow tasks finish in
     * bursts): the average since the start does not jump with each one. */
    if (done < ref_done || done - ref_done < KP_PROGRESS_MIN_DELTA) {
        ref_t = p->start_ns;
        ref_done = 0;
    }
    p->ring[p->head].t = now_ns;
    p->ring[p->head].done = done;
    p->head = (p->head + 1) % KP_PROGRESS_SAMPLES;
    if (p->count < KP_PROGRESS_SAMPLES)
        p->count++;

    if (done == 0 || now_ns <= ref_t)
        return -1.0;
    return (double)(done - ref_done) / ((double)(now_ns - ref_t) / 1e9);
}

/* The columns of the terminal f is, or 80 when it is not one. */
static size_t terminal_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

void kp_progress_tick(kp_progress *p, const kp_pool_stats *stats, int busy)
{
    if (!p->draw)
        return;
    size_t run_done = stats->ok + stats->failed;
    double rate = kp_progress_update(p, kp_now_ns(), run_done);
    kp_progress_view v = {
        .done = p->base + run_done,
        .total = p->total,
        .failed = stats->failed,
        .rate = rate,
        .busy = busy,
        .workers = stats->workers,
    };
    if (v.done >= v.total)
        v.eta = 0.0;
    else
        v.eta = rate > 0 ? (double)(v.total - v.done) / rate : -1.0;

    /* One column less than the terminal: a character in the last column
     * leaves some terminals waiting to wrap, and the next "\r" would then
     * return to the start of a new line. */
    size_t width = terminal_width(p->f);
    width = width > 1 ? width - 1 : 1;
    if (width > LINE_MAX_WIDTH)
        width = LINE_MAX_WIDTH;
    char line[LINE_MAX_WIDTH + 8];
    line[0] = '\r';
    size_t n = 1 + kp_progress_format(&v, width, line + 1, sizeof line - 4);
    memcpy(line + n, "\033[K", 3);
    n += 3;
    /* One write for the whole line, so that it reaches the terminal whole. */
    fwrite(line, 1, n, p->f);
    fflush(p->f);
    p->shown = true;
}

void kp_progress_clear(kp_progress *p)
{
    if (!p->draw || !p->shown)
        return;
    fputs("\r\033[K", p->f);
    fflush(p->f);
    p->shown = false;
}

void kp_progress_end(kp_progress *p)
{
    kp_progress_clear(p);
    p->draw = false;
}

void kp_progress_rate_text(double rate, char *buf, size_t size)
{
    if (!(rate >= 0) || !isfinite(rate)) {
        snprintf(buf, size, "--");
        return;
    }
    static const char *const suffix[] = {"", "k", "M", "G", "T"};
    int u = 0;
    /* 999.5 would print as "1000" at three digits: it is 1.00k. */
    while (rate >= 999.5 && u < 4) {
        rate /= 1000.0;
        u++;
    }
    const char *fmt = rate < 9.995 ? "%.2f%s" : rate < 99.95 ? "%.1f%s" : "%.0f%s";
    snprintf(buf, size, fmt, rate, suffix[u]);
}

void kp_progress_duration_text(double seconds, char *buf, size_t size)
{
    if (!(seconds >= 0) || !isfinite(seconds) || seconds >= 1000.0 * 3600.0) {
        snprintf(buf, size, "--");
        return;
    }
    unsigned long s = (unsigned long)(seconds + 0.5);
    snprintf(buf, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
}

/* The parts of the line, in the order they are shown. */
enum { PART_BAR, PART_COUNT, PART_PERCENT, PART_RATE, PART_ETA, PART_FAILED, PART_WORKERS, NPARTS };

static int digits(uint64_t v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Appends text to buf (of `size`, holding *n characters), as far as it fits. */
static void append(char *buf, size_t size, size_t *n, const char *text)
{
    size_t len = strlen(text);
    if (*n + len >= size)
        len = size - 1 - *n;
    memcpy(buf + *n, text, len);
    *n += len;
    buf[*n] = '\0';
}

/* Writes the bar graphic, `inner` characters between brackets, into out. */
static void draw_bar(const kp_progress_view *v, size_t inner, char *out)
{
    size_t fill = inner;
    if (v->total > 0 && v->done < v->total) {
        fill = (size_t)((double)v->done / (double)v->total * (double)inner);
        /* Full only when every task is done. */
        if (fill >= inner)
            fill = inner - 1;
    }
    out[0] = '[';
    memset(out + 1, '#', fill);
    memset(out + 1 + fill, '.', inner - fill);
    out[inner + 1] = ']';
    out[inner + 2] = '\0';
}

size_t kp_progress_format(const kp_progress_view *v, size_t width, char *buf, size_t size)
{
    if (size == 0)
        return 0;
    buf[0] = '\0';
    if (width > size - 1)
        width = size - 1;
    if (width == 0)
        return 0;

    /* The numbers are padded to, and their room reserved for, the widest
     * they get during the run, so that neither the bar nor the columns move
     * as they grow. The bar reserves its smallest size and takes what is
     * left over. */
    char part[NPARTS][64], num[32];
    size_t reserve[NPARTS];
    int priority[NPARTS];
    bool on[NPARTS];
    int dt = digits(v->total), dw = digits(v->workers > 0 ? (uint64_t)v->workers : 0);
    part[PART_BAR][0] = '\0';
    reserve[PART_BAR] = BAR_MIN + 2;
    snprintf(part[PART_COUNT], sizeof part[0], "%*zu/%zu", dt, v->done, v->total);
    reserve[PART_COUNT] = 2 * (size_t)dt + 1;
    unsigned percent = 100;
    if (v->total > 0 && v->done < v->total) {
        percent = (unsigned)((double)v->done * 100.0 / (double)v->total);
        /* With totals past 2^53 the division may round up to 100. */
        if (percent > 99)
            percent = 99;
    }
    snprintf(part[PART_PERCENT], sizeof part[0], "%3u%%", percent);
    reserve[PART_PERCENT] = 4;
    kp_progress_rate_text(v->rate, num, sizeof num);
    snprintf(part[PART_RATE], sizeof part[0], "%5s tasks/s", num);
    reserve[PART_RATE] = 13;
    kp_progress_duration_text(v->eta, num, sizeof num);
    snprintf(part[PART_ETA], sizeof part[0], "ETA %-7s", num);
    reserve[PART_ETA] = 11;
    /* Failures are rare: their count takes its room when it grows. */
    snprintf(part[PART_FAILED], sizeof part[0], "%zu failed", v->failed);
    reserve[PART_FAILED] = 0;
    snprintf(part[PART_WORKERS], sizeof part[0], "workers %*d/%d", dw, v->busy, v->workers);
    reserve[PART_WORKERS] = 9 + 2 * (size_t)dw;

    /* What a narrow terminal keeps longest has the highest priority. */
    priority[PART_COUNT] = 100;
    priority[PART_FAILED] = v->failed ? 70 : 10;
    priority[PART_PERCENT] = 60;
    priority[PART_ETA] = 50;
    priority[PART_RATE] = 40;
    priority[PART_WORKERS] = 30;
    priority[PART_BAR] = 20;

    size_t len = 0;
    for (int i = 0; i < NPARTS; i++) {
        size_t actual = strlen(part[i]);
        if (reserve[i] < actual)
            reserve[i] = actual;
        on[i] = true;
        len += reserve[i] + (i ? 2 : 0);
    }
    while (len > width) {
        int drop = -1;
        for (int i = 0; i < NPARTS; i++)
            if (on[i] && i != PART_COUNT && (drop < 0 || priority[i] < priority[drop]))
                drop = i;
        if (drop < 0)
            break;
        on[drop] = false;
        /* Its separator goes with it; the bar takes the count's. */
        len -= reserve[drop] + 2;
    }
    /* "0 failed" says little: a bar of fewer than BAR_WANT columns would
     * rather have its room. */
    if (on[PART_BAR] && on[PART_FAILED] && !v->failed && BAR_MIN + (width - len) < BAR_WANT) {
        on[PART_FAILED] = false;
        len -= reserve[PART_FAILED] + 2;
    }
    if (on[PART_BAR]) {
        size_t inner = BAR_MIN + (width - len);
        if (inner > BAR_MAX)
            inner = BAR_MAX;
        draw_bar(v, inner, part[PART_BAR]);
    }

    size_t n = 0;
    bool first = true;
    for (int i = 0; i < NPARTS; i++) {
        if (!on[i])
            continue;
        if (!first)
            append(buf, width + 1, &n, "  ");
        append(buf, width + 1, &n, part[i]);
        first = false;
    }
    return n;
}
