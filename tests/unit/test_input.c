/* test_input.c - opening inputs: format choice, files and stdin, ranges, forks. */
#include "input.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define INPUT_FIXTURE_DIR "input"
#include "input_fixture.h"

/* A v1.0 npy file of rows x cols int64 values r * 100 + c, data at byte 128. */
static unsigned char *make_npy(size_t rows, size_t cols, size_t *len)
{
    char dict[128];
    int dl =
        snprintf(dict, sizeof dict,
                 "{'descr': '<i8', 'fortran_order': False, 'shape': (%zu, %zu), }", rows, cols);
    assert_true(dl > 0 && dl < 117);
    size_t data = rows * cols * 8;
    unsigned char *b = malloc(128 + data);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY\x01\x00\x76\x00", 10);
    memset(b + 10, ' ', 118);
    memcpy(b + 10, dict, (size_t)dl);
    b[127] = '\n';
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            int64_t v = (int64_t)(r * 100 + c);
            memcpy(b + 128 + (r * cols + c) * 8, &v, 8);
        }
    *len = 128 + data;
    return b;
}

static int open_cfg(kp_input **in, const char *path, kp_input_format f, kp_err *err)
{
    kp_input_config cfg = {.path = path, .format = f};
    kp_err_clear(err);
    return kp_input_open(in, &cfg, err);
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* ---- format choice ---------------------------------------------------- */

static void test_open_auto_picks_format_by_extension(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        kp_input_format f;
    } cases[] = {
        {"a.csv", KP_IN_CSV},      {"a.CSV", KP_IN_CSV},     {"a.jsonl", KP_IN_JSONL},
        {"a.ndjson", KP_IN_JSONL}, {"a.JsonL", KP_IN_JSONL}, {"a.b.csv", KP_IN_CSV},
    };
    char path[PATH_MAX + 64];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        write_file(path, sizeof path, cases[k].name, "1\n", 2);
        kp_input *in;
        kp_err err;
        assert_int_equal(open_cfg(&in, path, KP_IN_AUTO, &err), 0);
        assert_int_equal(kp_input_format_of(in), cases[k].f);
        assert_int_equal(kp_input_count(in), 1);
        kp_input_close(in);
    }
    size_t len;
    unsigned char *b = make_npy(2, 3, &len);
    write_file(path, sizeof path, "m.NPY", b, len);
    free(b);
    kp_input *in;
    kp_err err;
    assert_int_equal(open_cfg(&in, path, KP_IN_AUTO, &err), 0);
    assert_int_equal(kp_input_format_of(in), KP_IN_NPY);
    assert_int_equal(kp_input_count(in), 2);
    kp_input_close(in);
}

static void test_open_auto_unknown_extension_fails(void **state)
{
    (void)state;
    kp_input *in = (kp_input *)1;
    kp_err err;
    assert_int_equal(open_cfg(&in, "data/rows.txt", KP_IN_AUTO, &err), KPOOL_EJOB);
    assert_null(in);
    assert_non_null(strstr(err.msg, "data/rows.txt: cannot tell the input format from the "
                                    "extension '.txt'"));
    assert_non_null(strstr(err.msg, ".npy, .csv and .jsonl"));

    assert_int_equal(open_cfg(&in, "dir.v2/rows", KP_IN_AUTO, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "dir.v2/rows: cannot tell the input format without a file "
                                    "extension"));
    assert_int_equal(open_cfg(&in, ".csv", KP_IN_AUTO, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "without a file extension"));

    assert_int_equal(open_cfg(&in, "x.json", KP_IN_AUTO, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "x.json: cannot tell the input format"));
    assert_non_null(strstr(err.msg, "JSON Lines"));
}

static void test_open_explicit_format_overrides_extension(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, "rows.txt", "[1, 2]\n", 7);
    kp_input *in;
    kp_err err;
    assert_int_equal(open_cfg(&in, path, KP_IN_JSONL, &err), 0);
    assert_int_equal(kp_input_format_of(in), KP_IN_JSONL);
    kp_input_close(in);
    assert_int_equal(open_cfg(&in, path, KP_IN_CSV, &err), 0);
    assert_int_equal(kp_input_format_of(in), KP_IN_CSV);
    kp_arena a;
    kp_arena_init(&a);
    kp_value v;
    assert_int_equal(kp_input_record(in, 0, &a, &v, &err), 0);
    assert_int_equal(v.as.list.len, 2);
    assert_string_equal(v.as.list.items[0].as.s.ptr, "[1");
    kp_arena_free(&a);
    kp_input_close(in);
    /* A csv file read as npy is refused by the npy reader. */
    assert_int_equal(open_cfg(&in, path, KP_IN_NPY, &err), KPOOL_EINPUT);
    assert_non_null(strstr(err.msg, "rows.txt: not an npy file"));
}

static void test_open_missing_file_and_directory_fail(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/absent.csv", tmpdir);
    kp_input *in = (kp_input *)1;
    kp_err err;
    assert_int_equal(open_cfg(&in, path, KP_IN_AUTO, &err), KPOOL_EIO);
    assert_null(in);
    assert_non_null(strstr(err.msg, "absent.csv: cannot open: No such file or directory"));
    assert_int_equal(strncmp(err.msg, path, strlen(path)), 0); /* the path as given */

    snprintf(path, sizeof path, "%s/folder.csv", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(open_cfg(&in, path, KP_IN_AUTO, &err), KPOOL_EIO);
    assert_non_null(strstr(err.msg, "folder.csv: is a directory"));
}

static void test_open_config_errors(void **state)
{
    (void)state;
    kp_input *in = (kp_input *)1;
    kp_err err;
    assert_int_equal(kp_input_open(&in, NULL, &err), KPOOL_EINVAL);
    assert_null(in);
    assert_int_equal(open_cfg(&in, "", KP_IN_CSV, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "the path is empty"));
    assert_int_equal(open_cfg(&in, NULL, KP_IN_CSV, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "format csv needs a path"));
    assert_int_equal(open_cfg(&in, "x.csv", KP_IN_RANGE, &err), KPOOL_EJOB);
    assert_non_null(strstr(err.msg, "either a path (x.csv) or a range"));
    assert_int_equal(open_cfg(&in, "x.csv", (kp_input_format)42, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "unknown format"));
}

static void test_open_empty_file_has_no_records(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, "empty.csv", "", 0);
    kp_input *in;
    kp_err err;
    assert_int_equal(open_cfg(&in, path, KP_IN_AUTO, &err), 0);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);
}

static void test_open_keeps_no_descriptor(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, "fds.csv", "1,2\n", 4);
    int before = count_open_fds();
    kp_input *in;
    kp_err err;
    assert_int_equal(open_cfg(&in, path, KP_IN_AUTO, &err), 0);
    assert_int_equal(count_open_fds(), before);
    kp_input_close(in);
    assert_int_equal(count_open_fds(), before);
}

static void test_record_index_out_of_range_fails(void **state)
{
    (void)state;
    kp_input_config cfg = {.format = KP_IN_RANGE, .start = 0, .stop = 3, .step = 1};
    kp_input *in;
    kp_err err;
    assert_int_equal(kp_input_open(&in, &cfg, &err), 0);
    kp_value v;
    assert_int_equal(kp_input_record(in, 3, NULL, &v, &err), KPOOL_EINVAL);
    assert_non_null(strstr(err.msg, "record 3 does not exist (range has 3 records)"));
    assert_int_equal(kp_input_record(in, SIZE_MAX, NULL, &v, &err), KPOOL_EINVAL);
    kp_input_close(in);
    kp_input_close(NULL);
}

/* ---- stdin ------------------------------------------------------------- */

/* Opens stdin with `fd` standing in for descriptor 0, then restores it. */
static int open_stdin_from(int fd, kp_input_format f, bool header, kp_input **in, kp_err *err)
{
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    kp_input_config cfg = {.path = "-", .format = f, .header = header};
    int rc = kp_input_open(in, &cfg, err);
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    return rc;
}

static void test_stdin_from_a_file(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, "stdin.csv", "h\n10,20\n30,40\n", 14);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    kp_input *in;
    kp_err err;
    assert_int_equal(open_stdin_from(fd, KP_IN_CSV, true, &in, &err), 0);
    close(fd);
    /* The spooled copy does not depend on the original any more. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(kp_input_count(in), 2);
    kp_arena a;
    kp_arena_init(&a);
    kp_value v;
    assert_int_equal(kp_input_record(in, 1, &a, &v, &err), 0);
    assert_string_equal(v.as.list.items[1].as.s.ptr, "40");
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_string_equal(desc, "<stdin>: csv, 2 records after a header line");
    kp_arena_free(&a);
    kp_input_close(in);
}

static void test_stdin_npy_from_a_pipe_larger_than_its_buffer(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = make_npy(20000, 5, &len); /* 800 KiB: many pipe buffers */
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        size_t off = 0;
        while (off < len) {
            ssize_t w = write(p[1], b + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(p[1]);
    kp_input *in;
    kp_err err;
    int rc = open_stdin_from(p[0], KP_IN_NPY, false, &in, &err);
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    free(b);
    assert_int_equal(rc, 0);
    assert_int_equal(kp_input_count(in), 20000);
    kp_value v;
    assert_int_equal(kp_input_record(in, 19999, NULL, &v, &err), 0);
    int64_t last[5];
    memcpy(last, v.as.nums.data, sizeof last);
    assert_int_equal(last[4], 1999904);
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_string_equal(desc, "<stdin>: npy v1.0, 20000 rows x 5 <i8");
    kp_input_close(in);
}

static void test_stdin_empty(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    kp_input *in;
    kp_err err;
    assert_int_equal(open_stdin_from(p[0], KP_IN_JSONL, false, &in, &err), 0);
    close(p[0]);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);
}

static void test_stdin_needs_a_format(void **state)
{
    (void)state;
    kp_input *in = (kp_input *)1;
    kp_err err;
    assert_int_equal(open_cfg(&in, "-", KP_IN_AUTO, &err), KPOOL_EJOB);
    assert_null(in);
    assert_non_null(strstr(err.msg, "<stdin>: the format of standard input cannot be told"));
    assert_non_null(strstr(err.msg, "format = npy, csv or jsonl"));
}

static void test_stdin_errors_name_stdin(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    write_file(path, sizeof path, "junk", "not npy", 7);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    kp_input *in;
    kp_err err;
    assert_int_equal(open_stdin_from(fd, KP_IN_NPY, false, &in, &err), KPOOL_EINPUT);
    close(fd);
    assert_non_null(strstr(err.msg, "<stdin>: not an npy file"));
}

static void test_fifo_path_is_spooled(void **state)
{
    (void)state;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/pipe.jsonl", tmpdir);
    assert_int_equal(mkfifo(path, 0600), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            _exit(1);
        const char text[] = "[1]\n\n[2, 3]\n";
        _exit(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1) ? 0 : 2);
    }
    kp_input *in;
    kp_err err;
    int rc = open_cfg(&in, path, KP_IN_AUTO, &err);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(rc, 0);
    assert_int_equal(kp_input_count(in), 2);
    kp_arena a;
    kp_arena_init(&a);
    kp_value v;
    assert_int_equal(kp_input_record(in, 1, &a, &v, &err), 0);
    assert_int_equal(v.as.list.len, 2);
    kp_arena_free(&a);
    kp_input_close(in);
}

/* ---- range ------------------------------------------------------------- */

static kp_input *open_range(int64_t start, int64_t stop, int64_t step)
{
    kp_input_config cfg = {
        .path = NULL, .format = KP_IN_AUTO, .start = start, .stop = stop, .step = step};
    kp_input *in;
    kp_err err;
    int rc = kp_input_open(&in, &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(kp_input_format_of(in), KP_IN_RANGE);
    return in;
}

static int64_t range_at(const kp_input *in, size_t i)
{
    kp_value v;
    kp_err err;
    assert_int_equal(kp_input_record(in, i, NULL, &v, &err), 0);
    assert_int_equal(v.kind, KP_V_INT);
    return v.as.i;
}

static void test_range_positive_step(void **state)
{
    (void)state;
    kp_input *in = open_range(0, 10, 1);
    assert_int_equal(kp_input_count(in), 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(range_at(in, i), (int64_t)i);
    kp_input_close(in);
    in = open_range(-5, 6, 4); /* -5, -1, 3 */
    assert_int_equal(kp_input_count(in), 3);
    assert_int_equal(range_at(in, 2), 3);
    kp_input_close(in);
}

static void test_range_negative_step(void **state)
{
    (void)state;
    kp_input *in = open_range(10, 0, -3); /* 10, 7, 4, 1 */
    assert_int_equal(kp_input_count(in), 4);
    assert_int_equal(range_at(in, 0), 10);
    assert_int_equal(range_at(in, 3), 1);
    kp_input_close(in);
}

static void test_range_empty(void **state)
{
    (void)state;
    kp_input *in = open_range(5, 5, 1);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);
    in = open_range(5, 0, 1);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);
    in = open_range(0, 5, -1);
    assert_int_equal(kp_input_count(in), 0);
    kp_input_close(in);
}

static void test_range_extremes_do_not_overflow(void **state)
{
    (void)state;
    kp_input *in = open_range(INT64_MIN, INT64_MAX, 1);
    assert_int_equal(kp_input_count(in), (size_t)UINT64_MAX);
    assert_int_equal(range_at(in, 0), INT64_MIN);
    assert_int_equal(range_at(in, (size_t)UINT64_MAX - 1), INT64_MAX - 1);
    assert_int_equal(range_at(in, (size_t)INT64_MAX), -1);
    kp_input_close(in);
    in = open_range(INT64_MAX, INT64_MIN, -1);
    assert_int_equal(kp_input_count(in), (size_t)UINT64_MAX);
    assert_int_equal(range_at(in, (size_t)UINT64_MAX - 1), INT64_MIN + 1);
    kp_input_close(in);
    in = open_range(INT64_MAX, INT64_MIN, INT64_MIN); /* MAX, -1 */
    assert_int_equal(kp_input_count(in), 2);
    assert_int_equal(range_at(in, 1), -1);
    kp_input_close(in);
    in = open_range(INT64_MIN, INT64_MAX, INT64_MAX); /* MIN, -1, MAX-1 */
    assert_int_equal(kp_input_count(in), 3);
    assert_int_equal(range_at(in, 2), INT64_MAX - 1);
    kp_input_close(in);
}

static void test_range_zero_step_fails(void **state)
{
    (void)state;
    kp_input_config cfg = {.format = KP_IN_RANGE, .start = 1, .stop = 9, .step = 0};
    kp_input *in = (kp_input *)1;
    kp_err err;
    assert_int_equal(kp_input_open(&in, &cfg, &err), KPOOL_EJOB);
    assert_null(in);
    assert_string_equal(err.msg, "range 1:9:0: the step must not be 0");
}

static void test_range_describe(void **state)
{
    (void)state;
    kp_input *in = open_range(0, 1000000, 1);
    char desc[128];
    kp_input_describe(in, desc, sizeof desc);
    assert_string_equal(desc, "range 0:1000000:1, 1000000 integers");
    kp_input_close(in);
    in = open_range(3, 2, -1);
    kp_input_describe(in, desc, sizeof desc);
    assert_string_equal(desc, "range 3:2:-1, 1 integer");
    kp_input_close(in);
}

/* ---- forked workers ---------------------------------------------------- */

/* In a child: reads every record listed and checks it; the exit status is 0
 * when all match, else the number of the first failed check. Never asserts. */
static int child_check(const kp_input *npy, const kp_input *csv, const kp_input *jsonl)
{
    kp_arena a;
    kp_arena_init(&a);
    kp_err err;
    kp_value v;
    if (kp_input_record(npy, 77, &a, &v, &err) != 0 || v.kind != KP_V_NUMS || v.as.nums.len != 3)
        return 1;
    int64_t row[3];
    memcpy(row, v.as.nums.data, sizeof row);
    if (row[0] != 7700 || row[2] != 7702)
        return 2;
    if (kp_input_record(csv, 1, &a, &v, &err) != 0 || v.kind != KP_V_LIST || v.as.list.len != 2 ||
        strcmp(v.as.list.items[1].as.s.ptr, "b\nc") != 0)
        return 3;
    if (kp_input_record(jsonl, 2, &a, &v, &err) != 0 || v.kind != KP_V_LIST || v.as.list.len != 1 ||
        v.as.list.items[0].kind != KP_V_INT || v.as.list.items[0].as.i != 3)
        return 4;
    if (kp_input_record(jsonl, 1, &a, &v, &err) != KPOOL_EINPUT || !strstr(err.msg, "line 3:"))
        return 5;
    return 0;
}

static void test_records_are_readable_in_forked_children(void **state)
{
    (void)state;
    char p1[PATH_MAX + 64], p2[PATH_MAX + 64], p3[PATH_MAX + 64];
    size_t len;
    unsigned char *b = make_npy(100, 3, &len);
    write_file(p1, sizeof p1, "fork.npy", b, len);
    free(b);
    write_file(p2, sizeof p2, "fork.csv", "x,y\na,\"b\nc\"\n", 12);
    write_file(p3, sizeof p3, "fork.jsonl", "[1]\n\n[2,\n[3]\n", 13);
    kp_input *npy, *csv, *jsonl;
    kp_err err;
    assert_int_equal(open_cfg(&npy, p1, KP_IN_AUTO, &err), 0);
    assert_int_equal(open_cfg(&csv, p2, KP_IN_AUTO, &err), 0);
    assert_int_equal(open_cfg(&jsonl, p3, KP_IN_AUTO, &err), 0);
    pid_t pids[4];
    for (int k = 0; k < 4; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0)
            _exit(child_check(npy, csv, jsonl));
    }
    for (int k = 0; k < 4; k++) {
        int status;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    kp_input_close(npy);
    kp_input_close(csv);
    kp_input_close(jsonl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_auto_picks_format_by_extension),
        cmocka_unit_test(test_open_auto_unknown_extension_fails),
        cmocka_unit_test(test_open_explicit_format_overrides_extension),
        cmocka_unit_test(test_open_missing_file_and_directory_fail),
        cmocka_unit_test(test_open_config_errors),
        cmocka_unit_test(test_open_empty_file_has_no_records),
        cmocka_unit_test(test_open_keeps_no_descriptor),
        cmocka_unit_test(test_record_index_out_of_range_fails),
        cmocka_unit_test(test_stdin_from_a_file),
        cmocka_unit_test(test_stdin_npy_from_a_pipe_larger_than_its_buffer),
        cmocka_unit_test(test_stdin_empty),
        cmocka_unit_test(test_stdin_needs_a_format),
        cmocka_unit_test(test_stdin_errors_name_stdin),
        cmocka_unit_test(test_fifo_path_is_spooled),
        cmocka_unit_test(test_range_positive_step),
        cmocka_unit_test(test_range_negative_step),
        cmocka_unit_test(test_range_empty),
        cmocka_unit_test(test_range_extremes_do_not_overflow),
        cmocka_unit_test(test_range_zero_step_fails),
        cmocka_unit_test(test_range_describe),
        cmocka_unit_test(test_records_are_readable_in_forked_children),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
