/* report.h - `--report FILE.html`: a self-contained page about one run.
 *
 * The page is made from the run's trace (trace.h): a header with the job,
 * totals and wall time; a timeline with one row per worker slot, where
 * neighbouring tasks of a worker with the same outcome are merged into one
 * segment so that at most about KP_REPORT_MAX_SEGMENTS are drawn; throughput
 * (tasks finished per second over time); the distribution of task durations
 * in logarithmic buckets; and the failures (every attempt that did not end
 * ok, the first KP_REPORT_MAX_FAILURES of them). Everything is inline: the
 * data is JSON in a <script type="application/json"> element, drawn into SVG
 * by inline JavaScript; nothing is fetched, so the page opens offline.
 * Texts from the user (paths, messages) reach the page only as escaped JSON
 * and are put into the document as text, never as markup.
 *
 * Internal to libkpool: job.c drives it through kp_tracing. */
#ifndef KP_REPORT_H
#define KP_REPORT_H

#include "error.h"
#include "trace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define KP_REPORT_MAX_SEGMENTS 20000
#define KP_REPORT_MAX_FAILURES 500

/* What the page says about the run besides the trace. */
typedef struct kp_report_info {
    const char *job;    /* the job file (as given) */
    const char *kernel; /* its name */
    const char *plugin; /* the plugin's path */
    size_t total, ok, failed, not_run, retried;
    int workers;
    double wall_seconds;
    int interrupted_by; /* SIGINT, SIGTERM or 0 */
} kp_report_info;

/* Reads the trace at `trace_path` and writes the page to `out` (not closed).
 * `out_name` names the report in errors. Lines of the trace that are not
 * trace lines are skipped. Returns 0, KPOOL_EIO naming the file, or
 * KPOOL_ENOMEM. */
int kp_report_write(FILE *out, const char *out_name, const char *trace_path,
                    const kp_report_info *info, kp_err *err);

/* --trace and --report for one run of a job. */
typedef struct kp_tracing kp_tracing;

/* Opens the trace (at trace_path, or a temporary file when only the report
 * is asked for) and creates the report file, so that a path that cannot be
 * written is an error before any task runs. Either path may be NULL, not
 * both. Returns 0 with *out set, or KPOOL_EIO naming the path. */
int kp_tracing_open(kp_tracing **out, const char *trace_path, const char *report_path, int workers,
                    kp_err *err);

/* The trace the pool's workers write to (kp_pool_config.trace). */
kp_trace *kp_tracing_trace(kp_tracing *t);

/* After the run: closes the trace (see kp_trace_close; `stopped` when the
 * run was interrupted or stopped), writes the report, removes a temporary
 * trace and frees t. With `info` NULL (the run never started) it writes no
 * report and removes the report file it created. Returns 0 or the first
 * error. Accepts NULL. */
int kp_tracing_close(kp_tracing *t, const kp_report_info *info, bool stopped, kp_err *err);

#endif
