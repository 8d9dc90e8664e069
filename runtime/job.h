/* job.h - the parts of a job (job.c) that the MPI backend drives: a rank's
 * pool process runs the prepared job either as rank 0 (the local run, with
 * slots that forward tasks to the other ranks) or as a rank that takes its
 * tasks from rank 0. Internal to libkpool. */
#ifndef KP_JOB_H
#define KP_JOB_H

#include <kpool/kpool.h>

#include "error.h"
#include "journal.h"
#include "pool.h"
#include "task.h"

typedef struct kp_job_hooks {
    /* Called by kp_job_run_local once the output and journal are open and
     * the tasks to run are known (a resumed run: `left`, nleft of them;
     * otherwise left is NULL and nleft the job's task count), just before
     * the pool starts. It may change cfg. A negative return (with err set)
     * ends the run before any task. */
    int (*start)(void *user, kp_pool_config *cfg, const size_t *left, size_t nleft, kp_err *err);
    void *user;
} kp_job_hooks;

/* Loads everything a task needs: plugin, kernels, templates, input. */
int kp_job_prepare(kpool_job_t *job);

/* kpool_job_run on this machine; hooks may be NULL. */
int kp_job_run_local(kpool_job_t *job, int flags, const kp_job_hooks *hooks);

/* The pool's configuration from the job's keys. */
void kp_job_pool_config(const kpool_job_t *job, kp_pool_config *cfg);

/* What decides a prepared job's results: the result keys, the plugin's and
 * the input's bytes, the task count, the return type (the journal's check,
 * and what every MPI rank must agree on). */
int kp_job_fingerprint(kpool_job_t *job, kp_fingerprint *fp, bool bytes);

kp_task_ctx *kp_job_task_ctx(kpool_job_t *job);
size_t kp_job_total(const kpool_job_t *job);
kp_err *kp_job_err(kpool_job_t *job);

/* Makes kpool_job_exit_code return `status` and clears the error: the run's
 * outcome was reported by another process (an MPI rank's pool process). */
void kp_job_set_exit_status(kpool_job_t *job, int status);

#endif
