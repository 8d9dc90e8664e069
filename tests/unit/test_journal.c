/* The resume journal: what a run records is what a resumed run reads back,
 * whatever point a kill -9 cut the file at. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kp_journal_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const kp_fingerprint fp = {
    .job = 1, .plugin = 2, .input = 3, .total = 100, .type = KP_T_I64};

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A new journal writes nothing during its first 0.1 s (journal.c). */
static void let_the_journal_age(void)
{
    usleep(110 * 1000);
}

/* Writes tasks 0..n-1 (every 7th failed with a message), in blocks of `per`. */
static void write_journal(const char *path, size_t n, size_t per)
{
    kp_journal *j;
    kp_err err;
    assert_int_equal(kp_journal_create(&j, path, &fp, &err), 0);
    let_the_journal_age();
    for (size_t i = 0; i < n; i++) {
        kp_outcome o = {.index = i, .type = KP_T_I64, .attempts = 1};
        if (i % 7 == 6) {
            o.kind = KP_TASK_FAILED;
            o.message = "row is empty";
        } else {
            o.value.i = (int64_t)i * 3;
        }
        assert_int_equal(kp_journal_append(j, &o, &err), 0);
        if ((i + 1) % per == 0)
            assert_int_equal(kp_journal_flush(j, &err), 0);
    }
    assert_int_equal(kp_journal_close(j, false, &err), 0);
}

static void test_resume_reads_every_record(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "all.journal");
    write_journal(path, 50, 10);
    kp_journal *j;
    kp_outcome *done;
    size_t n;
    kp_err err;
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(n, 50);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(done[i].index, i);
        assert_int_equal(done[i].type, KP_T_I64);
        if (i % 7 == 6) {
            assert_int_equal(done[i].kind, KP_TASK_FAILED);
            assert_string_equal(done[i].message, "row is empty");
        } else {
            assert_int_equal(done[i].kind, KP_TASK_OK);
            assert_int_equal(done[i].value.i, (int64_t)i * 3);
        }
    }
    /* Appending continues the same journal. */
    kp_outcome more = {.index = 77, .kind = KP_TASK_OK, .type = KP_T_I64, .value.i = 5};
    assert_int_equal(kp_journal_append(j, &more, &err), 0);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(n, 51);
    assert_int_equal(done[50].index, 77);
    assert_int_equal(kp_journal_close(j, true, &err), 0);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(access(path, F_OK), -1);
}

/* A run that completes in its first 0.1 s makes no journal file at all,
 * and removes an earlier run's at once; one that ends unfinished makes its
 * file when it closes, with every record and the input's bytes; a longer
 * run makes it at its first flush after 0.1 s. */
static void test_a_short_run_makes_no_file(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "short.journal");
    put_file(path, "an earlier run's journal");
    kp_journal *j;
    kp_err err;
    assert_int_equal(kp_journal_create(&j, path, &fp, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    kp_outcome o = {.index = 4, .type = KP_T_I64, .attempts = 1, .value.i = 8};
    assert_int_equal(kp_journal_append(j, &o, &err), 0);
    assert_int_equal(kp_journal_flush(j, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(kp_journal_close(j, true, &err), 0);
    assert_int_equal(access(path, F_OK), -1);

    kp_fingerprint later = fp; /* the input's bytes are known at the end */
    later.input = 0;
    assert_int_equal(kp_journal_create(&j, path, &later, &err), 0);
    assert_int_equal(kp_journal_append(j, &o, &err), 0);
    assert_int_equal(kp_journal_flush(j, &err), 0);
    assert_int_equal(kp_journal_set_input(j, fp.input, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    kp_outcome *done;
    size_t n;
    kp_fingerprint other = fp;
    other.input = fp.input + 1;
    assert_int_equal(kp_journal_resume(&j, path, &other, &done, &n, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "cannot resume: the input changed"));
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(done[0].value.i, 8);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(kp_journal_close(j, true, &err), 0);
    assert_int_equal(access(path, F_OK), -1);

    assert_int_equal(kp_journal_create(&j, path, &fp, &err), 0);
    assert_int_equal(kp_journal_append(j, &o, &err), 0);
    let_the_journal_age();
    assert_int_equal(kp_journal_flush(j, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 16 + (off_t)sizeof fp + 16);
    assert_int_equal(kp_journal_close(j, true, &err), 0);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_resume_reads_a_run(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "run.journal");
    kp_fingerprint big = fp;
    big.total = 100000;
    kp_journal *j;
    kp_err err;
    assert_int_equal(kp_journal_create(&j, path, &big, &err), 0);
    /* Tasks 10 .. 40009 as one run (more than a buffer holds), then task 3. */
    enum { N = 40000 };
    unsigned char *values = calloc(N, 16);
    for (size_t k = 0; k < N; k++) {
        int64_t v = -(int64_t)k * 11;
        memcpy(values + 16 * k, &v, 8);
    }
    assert_int_equal(kp_journal_append_run(j, 10, values, 16, N, &err), 0);
    kp_outcome o = {.index = 3, .type = KP_T_I64, .attempts = 1, .value.i = 9};
    assert_int_equal(kp_journal_append(j, &o, &err), 0);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    free(values);
    kp_outcome *done;
    size_t n;
    assert_int_equal(kp_journal_resume(&j, path, &big, &done, &n, &err), 0);
    assert_int_equal(n, N + 1);
    assert_int_equal(done[0].index, 3);
    assert_int_equal(done[0].value.i, 9);
    for (size_t k = 0; k < N; k++) {
        assert_int_equal(done[k + 1].index, 10 + k);
        assert_int_equal(done[k + 1].kind, KP_TASK_OK);
        assert_int_equal(done[k + 1].attempts, 1);
        assert_int_equal(done[k + 1].value.i, -(int64_t)k * 11);
    }
    assert_int_equal(kp_journal_close(j, true, &err), 0);
    kp_journal_free_outcomes(done, n);
}

static void test_resume_reads_the_prefix_and_drops_records_inside_it(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "prefix.journal");
    kp_journal *j;
    kp_err err;
    assert_int_equal(kp_journal_create(&j, path, &fp, &err), 0);
    assert_int_equal(kp_journal_prefix_of(j).tasks, 0);
    kp_outcome o = {.index = 5, .type = KP_T_I64, .attempts = 1, .value.i = 50};
    assert_int_equal(kp_journal_append(j, &o, &err), 0); /* inside the later prefix */
    o.index = 60;
    assert_int_equal(kp_journal_append(j, &o, &err), 0); /* after it */
    kp_journal_prefix p = {10, 30};
    assert_int_equal(kp_journal_prefix_record(j, &p, &err), 0);
    assert_int_equal(kp_journal_flush(j, &err), 0);
    p = (kp_journal_prefix){40, 120};
    assert_int_equal(kp_journal_prefix_record(j, &p, &err), 0);
    assert_int_equal(kp_journal_prefix_of(j).tasks, 40);
    assert_int_equal(kp_journal_close(j, false, &err), 0);

    kp_outcome *done;
    size_t n;
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(kp_journal_prefix_of(j).tasks, 40);
    assert_int_equal(kp_journal_prefix_of(j).bytes, 120);
    assert_int_equal(n, 1);
    assert_int_equal(done[0].index, 60);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(kp_journal_close(j, false, &err), 0);

    /* A block whose prefix shrinks is not ours: it and what follows drop. */
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    kp_journal_free_outcomes(done, n);
    p = (kp_journal_prefix){20, 60};
    assert_int_equal(kp_journal_prefix_record(j, &p, &err), 0);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(kp_journal_prefix_of(j).tasks, 40);
    assert_int_equal(kp_journal_prefix_of(j).bytes, 120);
    kp_journal_free_outcomes(done, n);
    /* Nor can a prefix hold more tasks than the run has. */
    p = (kp_journal_prefix){fp.total + 1, 1000};
    assert_int_equal(kp_journal_prefix_record(j, &p, &err), 0);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(kp_journal_prefix_of(j).tasks, 40);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(kp_journal_close(j, true, &err), 0);
    assert_null(kp_journal_prefix_of(NULL).tasks ? (void *)1 : NULL);
}

static void test_resume_knows_the_input_by_bytes_or_identity(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "identity.journal");
    kp_fingerprint lazy = fp;
    lazy.input = 0; /* not computed yet */
    lazy.input_id = 77;
    kp_fingerprint now = fp; /* a resume computes everything */
    now.input_id = 77;
    kp_journal *j;
    kp_outcome *done;
    size_t n;
    kp_err err;
    assert_int_equal(kp_journal_create(&j, path, &lazy, &err), 0);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    /* Known by its identity: the same file resumes, another is refused. */
    assert_int_equal(kp_journal_resume(&j, path, &now, &done, &n, &err), 0);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    now.input_id = 78;
    assert_int_equal(kp_journal_resume(&j, path, &now, &done, &n, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "cannot resume: the input changed"));
    /* Once its bytes are recorded, they decide, whatever the file. */
    now.input_id = 77;
    assert_int_equal(kp_journal_resume(&j, path, &now, &done, &n, &err), 0);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(kp_journal_set_input(j, fp.input, &err), 0);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    now.input_id = 78;
    assert_int_equal(kp_journal_resume(&j, path, &now, &done, &n, &err), 0);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    now.input = fp.input + 1;
    now.input_id = 77;
    assert_int_equal(kp_journal_resume(&j, path, &now, &done, &n, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "cannot resume: the input changed"));
}

static void test_resume_cuts_a_torn_block(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "torn.journal");
    write_journal(path, 30, 10); /* three blocks of 10 */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* A kill -9 in the middle of the last block's write. */
    assert_int_equal(truncate(path, st.st_size - 5), 0);
    kp_journal *j;
    kp_outcome *done;
    size_t n;
    kp_err err;
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(n, 20);
    assert_int_equal(done[19].index, 19);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    kp_journal_free_outcomes(done, n);
    /* The torn tail was cut off, so what is appended next is readable. */
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    kp_outcome o = {.index = 25, .kind = KP_TASK_OK, .type = KP_T_I64, .value.i = 1};
    assert_int_equal(kp_journal_append(j, &o, &err), 0);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    kp_journal_free_outcomes(done, n);
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(n, 21);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    kp_journal_free_outcomes(done, n);
}

static void test_resume_drops_a_corrupt_block(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "corrupt.journal");
    write_journal(path, 30, 10);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fseek(f, st.st_size - 20, SEEK_SET); /* inside the last block */
    fputc('X', f);
    fclose(f);
    kp_journal *j;
    kp_outcome *done;
    size_t n;
    kp_err err;
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), 0);
    assert_int_equal(n, 20);
    assert_int_equal(kp_journal_close(j, false, &err), 0);
    kp_journal_free_outcomes(done, n);
}

static void test_resume_refuses_what_changed(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "fp.journal");
    write_journal(path, 5, 5);
    struct {
        kp_fingerprint fp;
        const char *what;
    } cases[] = {
        {{.job = 9, .plugin = 2, .input = 3, .total = 100, .type = KP_T_I64}, "the job file's"},
        {{.job = 1, .plugin = 9, .input = 3, .total = 100, .type = KP_T_I64}, "the plugin"},
        {{.job = 1, .plugin = 2, .input = 9, .total = 100, .type = KP_T_I64}, "the input"},
        {{.job = 1, .plugin = 2, .input = 3, .total = 99, .type = KP_T_I64}, "number of tasks"},
        {{.job = 1, .plugin = 2, .input = 3, .total = 100, .type = KP_T_F64}, "return type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_journal *j;
        kp_outcome *done;
        size_t n;
        kp_err err;
        assert_int_equal(kp_journal_resume(&j, path, &cases[i].fp, &done, &n, &err), KPOOL_EJOB);
        assert_non_null(strstr(err.msg, "cannot resume"));
        assert_non_null(strstr(err.msg, cases[i].what));
        assert_null(j);
    }
}

static void test_resume_without_journal(void **state)
{
    (void)state;
    char path[300];
    kp_journal *j;
    kp_outcome *done;
    size_t n;
    kp_err err;
    path_of(path, sizeof path, "missing.journal");
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "nothing to resume"));
    path_of(path, sizeof path, "garbage.journal");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not a journal, but it is long enough to have a header in it.........\n", f);
    fclose(f);
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "is not a kpool journal"));
    /* A journal of version 1 (one lane of hashing, no prefixes). */
    path_of(path, sizeof path, "old.journal");
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("KPOOL-JOURNAL 1\n", f);
    fwrite(&fp, sizeof fp, 1, f);
    fclose(f);
    assert_int_equal(kp_journal_resume(&j, path, &fp, &done, &n, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "was written by another version of kpool"));
}

static void test_hash_bulk_sees_every_byte_and_lane(void **state)
{
    (void)state;
    unsigned char buf[101];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7);
    uint64_t base = kp_hash_bulk(KP_HASH_INIT, buf, sizeof buf);
    assert_int_equal(kp_hash_bulk(KP_HASH_INIT, buf, sizeof buf), base);
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] ^= 1;
        assert_true(kp_hash_bulk(KP_HASH_INIT, buf, sizeof buf) != base);
        buf[i] ^= 1;
    }
    /* Words swapped between lanes, or lengths that differ, hash apart. */
    unsigned char swapped[101];
    memcpy(swapped, buf, sizeof buf);
    memcpy(swapped, buf + 8, 8);
    memcpy(swapped + 8, buf, 8);
    assert_true(kp_hash_bulk(KP_HASH_INIT, swapped, sizeof swapped) != base);
    assert_true(kp_hash_bulk(KP_HASH_INIT, buf, 100) != base);
    assert_true(kp_hash_bulk(KP_HASH_INIT, buf, 0) != kp_hash_bulk(KP_HASH_INIT + 1, buf, 0));
}

static void test_hash_file_sees_one_byte(void **state)
{
    (void)state;
    char path[300];
    path_of(path, sizeof path, "data.bin");
    put_file(path, "0123456789abcdef0123456789abcdef");
    uint64_t a, b;
    kp_err err;
    assert_int_equal(kp_hash_file(path, &a, &err), 0);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fseek(f, 17, SEEK_SET);
    fputc('X', f);
    fclose(f);
    assert_int_equal(kp_hash_file(path, &b, &err), 0);
    assert_true(a != b);
    path_of(path, sizeof path, "nope.bin");
    assert_int_equal(kp_hash_file(path, &a, &err), KPOOL_EIO);
    assert_non_null(strstr(err.msg, "nope.bin: cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_reads_every_record),
        cmocka_unit_test(test_a_short_run_makes_no_file),
        cmocka_unit_test(test_resume_reads_a_run),
        cmocka_unit_test(test_resume_knows_the_input_by_bytes_or_identity),
        cmocka_unit_test(test_hash_bulk_sees_every_byte_and_lane),
        cmocka_unit_test(test_resume_reads_the_prefix_and_drops_records_inside_it),
        cmocka_unit_test(test_resume_cuts_a_torn_block),
        cmocka_unit_test(test_resume_drops_a_corrupt_block),
        cmocka_unit_test(test_resume_refuses_what_changed),
        cmocka_unit_test(test_resume_without_journal),
        cmocka_unit_test(test_hash_file_sees_one_byte),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
