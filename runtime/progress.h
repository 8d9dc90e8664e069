/* progress.h - the live progress line of a run on stderr, and its parts.
 *
 * The line is redrawn in place with "\r" and erase-to-end-of-line, and is
 * never wider than the terminal, so it never wraps into a second line that a
 * redraw could not erase. Anything else written to the same terminal during
 * the run (a failure message) must come after kp_progress_clear; the next
 * tick draws the line again below it. The formatting is pure and separate
 * (kp_progress_format) so that it can be tested without a terminal. */
#ifndef KP_PROGRESS_H
#define KP_PROGRESS_H

#include "pool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* How many recent (time, done) samples the rate is smoothed over: at about
 * five ticks a second, the last dozen seconds. */
enum { KP_PROGRESS_SAMPLES = 64 };

/* The window of the smoothed rate, and the fewest completions in it for the
 * window's own rate to be trusted (slower runs use their average so far). */
#define KP_PROGRESS_WINDOW_NS (5 * INT64_C(1000000000))
#define KP_PROGRESS_MIN_DELTA 8

/* What one line shows. */
typedef struct kp_progress_view {
    size_t done, total; /* tasks finished (ok or failed) and in all */
    size_t failed;
    double rate;       /* tasks per second; negative while not known */
    double eta;        /* seconds left; negative while not known */
    int busy, workers; /* workers running tasks, and the pool's size */
} kp_progress_view;

/* The state of one display. Its fields are private to progress.c; it lives
 * wherever the caller likes (no allocation, so it cannot fail). */
typedef struct kp_progress {
    FILE *f;
    bool draw;  /* false: every call below does nothing */
    bool shown; /* a line is on the screen now */
    size_t total, base;
    int64_t start_ns;
    struct {
        int64_t t;
        size_t done;
    } ring[KP_PROGRESS_SAMPLES];
    unsigned head, count;
} kp_progress;

/* Starts a display of `total` tasks on f, of which `base` are done before
 * the run starts (a resumed run); the rate counts only the run's own. With
 * draw false nothing is ever written. */
void kp_progress_init(kp_progress *p, FILE *f, size_t total, size_t base, bool draw);

/* Records that `done` of the run's tasks (not counting base) are finished at
 * `now_ns` (kp_now_ns's clock) and returns the smoothed rate in tasks per
 * second: over the last KP_PROGRESS_WINDOW_NS when at least
 * KP_PROGRESS_MIN_DELTA tasks finished in it, else since the start; negative
 * while no task has finished. Pure apart from p: tests feed it times. */
double kp_progress_update(kp_progress *p, int64_t now_ns, size_t done);

/* Redraws the line from the pool's stats and its busy workers, fitted to the
 * width of the terminal f is (80 columns when f is not one). The pool's
 * tick callback calls it. */
void kp_progress_tick(kp_progress *p, const kp_pool_stats *stats, int busy);

/* Erases the line if one is shown; the next tick draws it again. Call it
 * before writing anything else to the same terminal. */
void kp_progress_clear(kp_progress *p);

/* Erases the line for good: later calls draw nothing. */
void kp_progress_end(kp_progress *p);

/* Formats v into buf as one line of at most `width` characters (and at most
 * size - 1), NUL-terminated; returns its length. As the width shrinks, parts
 * are left out in this order: the bar graphic, "0 failed", the busy workers,
 * the rate, the ETA, the percentage, a nonzero failure count; the done/total
 * count is cut as a last resort. Holds no "\r" or escape codes. */
size_t kp_progress_format(const kp_progress_view *v, size_t width, char *buf, size_t size);

/* A rate with three significant digits and a k, M, G or T suffix ("0.50",
 * "12.3", "457", "1.20k", "3.46M"); "--" when negative or not finite. */
void kp_progress_rate_text(double rate, char *buf, size_t size);

/* A duration as h:mm:ss ("0:00:07", "12:34:56"), to the nearest second;
 * "--" when negative, not finite, or 1000 hours or more. */
void kp_progress_duration_text(double seconds, char *buf, size_t size);

#endif
