/* input_fixture.h - the temporary folder, file, record and arena helpers of the input tests.
 *
 * Included only by test_input.c, test_input_npy.c, test_input_csv.c and
 * test_input_jsonl.c, each of which defines INPUT_FIXTURE_DIR, the name its
 * temporary folder starts with, before including this. Each test executable
 * gets its own copy of `tmpdir` and the helpers. The functions are static
 * inline so that a test file that does not use one of them (read_ok and the
 * arena pair) builds without an unused-function warning. */
#ifndef KP_INPUT_FIXTURE_H
#define KP_INPUT_FIXTURE_H

#include "input.h"

#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef INPUT_FIXTURE_DIR
#error "define INPUT_FIXTURE_DIR (the temporary folder's name prefix) before input_fixture.h"
#endif

#ifndef KP_TEST_TMP_DIR
#define KP_TEST_TMP_DIR "/tmp"
#endif

/* The group's temporary folder, made by group_setup. */
static char tmpdir[PATH_MAX];

/* Group setup: creates KP_TEST_TMP_DIR/INPUT_FIXTURE_DIR_XXXXXX in tmpdir. */
static inline int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/" INPUT_FIXTURE_DIR "_XXXXXX", KP_TEST_TMP_DIR);
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* Group teardown: removes tmpdir with the files and the empty folders in it. */
static inline int group_teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    struct dirent *e;
    char path[PATH_MAX + 256];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        if (unlink(path) < 0)
            rmdir(path);
    }
    closedir(d);
    return rmdir(tmpdir);
}

/* Writes `len` bytes to tmpdir/name and puts the full path in `path` (n bytes). */
static inline void write_file(char *path, size_t n, const char *name, const void *data, size_t len)
{
    snprintf(path, n, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Reads record `i`, which must succeed (else the test fails with the message). */
static inline kp_value read_ok(const kp_input *in, size_t i, kp_arena *a)
{
    kp_value v;
    kp_err err;
    int rc = kp_input_record(in, i, a, &v, &err);
    if (rc != 0)
        print_error("record %zu: %s\n", i, err.msg);
    assert_int_equal(rc, 0);
    return v;
}

/* Test setup: each test gets a fresh arena in *state, freed by arena_teardown. */
static inline int arena_setup(void **state)
{
    kp_arena *a = malloc(sizeof *a);
    if (!a)
        return -1;
    kp_arena_init(a);
    *state = a;
    return 0;
}

static inline int arena_teardown(void **state)
{
    kp_arena_free(*state);
    free(*state);
    return 0;
}

#endif
