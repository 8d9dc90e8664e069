/* fuzz_jobfile.c - the job-file loader and --set on hostile text.
 *
 * The bytes are split at the first "\n--set ": what comes before is written
 * as job.ini and loaded (kp_jobfile_load) on top of the defaults, then
 * validated; each line after it is one --set assignment (a leading "--set "
 * is dropped), applied with kp_jobfile_set, then the job is validated again.
 * Without the marker, the file's last line is also tried as an assignment,
 * so every input reaches --set. Errors must name where they are: the file
 * for the loader, "--set" for assignments. */
#include "fuzz_common.h"

#include "jobfile.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKER          "\n--set "
#define ASSIGNMENTS_CAP 8

static const uint8_t *find(const uint8_t *data, size_t size, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, needle, n) == 0)
            return data + i;
    return NULL;
}

static void check_values(const kp_jobfile *jf, const char *when)
{
    if (!jf->path || !jf->dir)
        kp_fuzz_fail("%s: the job's path or folder is NULL", when);
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        if (!jf->v[i].text)
            kp_fuzz_fail("%s: [%s] %s has no text", when, kp_job_keys[i].section,
                         kp_job_keys[i].key);
        char where[256], tiny[3];
        kp_jobfile_where(jf, (kp_job_key_id)i, where, sizeof where);
        kp_jobfile_where(jf, (kp_job_key_id)i, tiny, sizeof tiny);
        if (!memchr(where, '\0', sizeof where) || !memchr(tiny, '\0', sizeof tiny))
            kp_fuzz_fail("%s: kp_jobfile_where left no NUL", when);
    }
}

static void validate(const kp_jobfile *jf, const char *when)
{
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_jobfile_validate(jf, &err);
    if (rc < 0) {
        kp_fuzz_check_error("kp_jobfile_validate", rc, &err);
        if (rc != KPOOL_EJOB)
            kp_fuzz_fail("%s: kp_jobfile_validate failed with %d: %s", when, rc, err.msg);
    }
}

static void set(kp_jobfile *jf, const uint8_t *line, size_t len)
{
    if (len >= 6 && memcmp(line, "--set ", 6) == 0) {
        line += 6;
        len -= 6;
    }
    char *assignment = kp_fuzz_strndup(line, len);
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_jobfile_set(jf, assignment, &err);
    if (rc < 0) {
        kp_fuzz_check_error("kp_jobfile_set", rc, &err);
        if (strncmp(err.msg, "--set ", 6) != 0)
            kp_fuzz_fail("kp_jobfile_set: the message does not start with --set: %s", err.msg);
    }
    free(assignment);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *marker = find(data, size, MARKER);
    size_t file_size = marker ? (size_t)(marker - data) + 1 : size;
    char path[PATH_MAX + 64];
    kp_fuzz_write_file("job.ini", data, file_size, path, sizeof path);

    kp_jobfile jf;
    kp_err err;
    kp_err_clear(&err);
    if (kp_jobfile_init(&jf, &err) < 0)
        kp_fuzz_fail("kp_jobfile_init failed: %s", err.msg);
    check_values(&jf, "after init");

    int rc = kp_jobfile_load(&jf, path, &err);
    if (rc < 0) {
        kp_fuzz_check_error("kp_jobfile_load", rc, &err);
        if (strncmp(err.msg, path, strlen(path)) != 0)
            kp_fuzz_fail("kp_jobfile_load: the message does not start with the file: %s", err.msg);
    }
    check_values(&jf, "after load");
    validate(&jf, "after load");

    if (marker) {
        const uint8_t *p = marker + 1, *end = data + size;
        for (int k = 0; k < ASSIGNMENTS_CAP && p < end; k++) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            const uint8_t *stop = nl ? nl : end;
            set(&jf, p, (size_t)(stop - p));
            p = nl ? nl + 1 : end;
        }
    } else {
        size_t start = size;
        while (start > 0 && data[start - 1] == '\n')
            start--;
        size_t stop = start;
        while (start > 0 && data[start - 1] != '\n')
            start--;
        set(&jf, data + start, stop - start);
    }
    check_values(&jf, "after --set");
    validate(&jf, "after --set");

    kp_jobfile_free(&jf);
    return 0;
}
