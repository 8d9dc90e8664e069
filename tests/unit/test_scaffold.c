/* test_scaffold.c - `kpool new`: which names are refused and why, the files a
 * project gets, folders that are refused, taking back a half-written project,
 * and that the job file written loads and validates. (Building and running a
 * project against an installed kpool is tests/e2e/sdk.sh.) */
#include "jobfile.h"
#include "scaffold.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KP_TEST_TMP_DIR
#define KP_TEST_TMP_DIR "/tmp"
#endif

#define PATH_SIZE 8192

/* kpool's MAJOR.MINOR, as the generated CMakeLists.txt asks for it. */
#define STR_(x)        #x
#define STR(x)         STR_(x)
#define KP_STR_VERSION STR(KPOOL_VERSION_MAJOR) "." STR(KPOOL_VERSION_MINOR)

/* The group's scratch folder; every test makes its own folder inside. */
static char tmpdir[PATH_SIZE];

static void format_into(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void format_into(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    assert_true(len >= 0 && (size_t)len < n);
}

static int group_setup(void **state)
{
    (void)state;
    if (mkdir(KP_TEST_TMP_DIR, 0777) != 0 && errno != EEXIST)
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "%s/scaffold.XXXXXX", KP_TEST_TMP_DIR);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reads a whole file into a malloc'd string; the test fails if it cannot. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s: %s", path, strerror(errno));
    char *text = NULL;
    size_t size = 0;
    FILE *m = open_memstream(&text, &size);
    assert_non_null(m);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        assert_int_equal(fwrite(buf, 1, n, m), n);
    fclose(f);
    assert_int_equal(fclose(m), 0);
    return text;
}

/* The entries of a folder (without . and ..), or -1 when it does not exist. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("'%s' lacks '%s'", text, part);
}

/* Runs kp_scaffold_new with a report captured into *report (malloc'd). */
static int scaffold(const char *name, const char *dir, char **report, kp_err *err)
{
    size_t size = 0;
    *report = NULL;
    FILE *out = open_memstream(report, &size);
    assert_non_null(out);
    kp_err_clear(err);
    int rc = kp_scaffold_new(name, dir, out, err);
    assert_int_equal(fclose(out), 0);
    return rc;
}

/* ---- Names ------------------------------------------------------------- */

static void test_check_name_refuses_with_reason(void **state)
{
    (void)state;
    static const struct {
        const char *name, *message;
    } cases[] = {
        {"", "new: the plugin's name is empty"},
        {"2fast", "new: '2fast' starts with a digit; the name becomes the kernel's C function, so "
                  "it must be a C identifier, e.g. my_kernel"},
        {"my-plugin", "new: 'my-plugin' is not a C identifier: character 3, '-', is not a letter, "
                      "digit or '_'; the name becomes the kernel's C function, e.g. my_kernel"},
        {"a b", "new: 'a b' is not a C identifier: character 2, ' ', is not a letter, digit or "
                "'_'; the name becomes the kernel's C function, e.g. my_kernel"},
        {"../x", "new: '../x' is not a C identifier: character 1, '.', is not a letter, digit or "
                 "'_'; the name becomes the kernel's C function, e.g. my_kernel"},
        {"caf\xc3\xa9", "new: 'caf\xc3\xa9' is not a C identifier: character 4, '?', is not a "
                        "letter, digit or '_'; the name becomes the kernel's C function, e.g. "
                        "my_kernel"},
        {"_hidden", "new: '_hidden' starts with '_', which C reserves for the implementation; "
                    "start it with a letter"},
        {"kpool_plugin", "new: 'kpool_plugin' starts with 'kpool_', which kpool/plugin.h reserves "
                         "for its own names; choose another name"},
        {"KPOOL_X", "new: 'KPOOL_X' starts with 'KPOOL_', which kpool/plugin.h reserves for its "
                    "own names; choose another name"},
        {"int", "new: 'int' is a C keyword or a name the C headers of a plugin define; choose "
                "another name"},
        {"bool", "new: 'bool' is a C keyword or a name the C headers of a plugin define; choose "
                 "another name"},
        {"NULL", "new: 'NULL' is a C keyword or a name the C headers of a plugin define; choose "
                 "another name"},
        {"row_t", "new: 'row_t' ends in '_t', which POSIX reserves for type names; choose another "
                  "name"},
        {"INT64_MAX", "new: 'INT64_MAX' is a macro name of <stdint.h>, which plugin.h includes; "
                      "choose another name"},
        {"UINT8_C", "new: 'UINT8_C' is a macro name of <stdint.h>, which plugin.h includes; "
                    "choose another name"},
        {"test", "new: 'test' is a target name CMake reserves, and the name becomes the plugin's "
                 "CMake target; choose another name"},
        {"install", "new: 'install' is a target name CMake reserves, and the name becomes the "
                    "plugin's CMake target; choose another name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_err err;
        kp_err_clear(&err);
        assert_int_equal(kp_scaffold_check_name(cases[i].name, &err), KPOOL_EINVAL);
        assert_int_equal(err.code, KPOOL_EINVAL);
        assert_string_equal(err.msg, cases[i].message);
    }
}

static void test_check_name_refuses_long_names(void **state)
{
    (void)state;
    char name[KP_SCAFFOLD_NAME_MAX + 2];
    memset(name, 'k', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    kp_err err;
    kp_err_clear(&err);
    assert_int_equal(kp_scaffold_check_name(name, &err), KPOOL_EINVAL);
    assert_string_equal(err.msg, "new: the name 'kkkkkkkkkkkkkkkkkkkk...' is 65 characters long; "
                                 "at most 64 are allowed");
    name[KP_SCAFFOLD_NAME_MAX] = '\0'; /* exactly the maximum is fine */
    assert_int_equal(kp_scaffold_check_name(name, &err), 0);
}

static void test_check_name_accepts_identifiers(void **state)
{
    (void)state;
    static const char *const good[] = {"demo",  "my_kernel2", "Sum",    "x",
                                       "kpool", "INTEGRAL",   "uint_c", "tests"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        kp_err err;
        kp_err_clear(&err);
        if (kp_scaffold_check_name(good[i], &err) != 0)
            fail_msg("'%s' refused: %s", good[i], err.msg);
    }
}

/* ---- Writing a project ------------------------------------------------- */

static void test_new_writes_project(void **state)
{
    (void)state;
    char dir[PATH_SIZE], path[PATH_SIZE];
    format_into(dir, sizeof dir, "%s/writes", tmpdir);
    kp_err err;
    char *report;
    int rc = scaffold("demo", dir, &report, &err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(count_entries(dir), 5);

    static const struct {
        const char *file, *parts[4];
    } files[] = {
        {"demo.c",
         {"#include <kpool/plugin.h>",
          "static int64_t demo(const int64_t *row, size_t n, int64_t minimum, int64_t maximum)",
          "kpool_fail(\"minimum %lld is greater than maximum %lld\"",
          "KPOOL_KERNEL_TYPED(demo, i64, i64_array, i64, i64),"}},
        {"CMakeLists.txt",
         {"project(demo LANGUAGES C)", "find_package(kpool " KP_STR_VERSION " REQUIRED)",
          "kpool_add_plugin(demo SOURCES demo.c)", "COMMAND kpool::kpool_exe run"}},
        {"demo.ini",
         {"plugin  = build/libdemo.so", "kernel  = demo", "args    = $0, 4, 8",
          "path    = input.csv"}},
        {"input.csv", {"5,6,7,0,9\n1,2,3,4,5,6,7,8,9\n8,8,8\n0,1,2,3\n4\n10,-3,7,4,12\n"}},
        {"README.md", {"# demo - a kpool plugin", "kpool run demo.ini", "cmake -S . -B build"}},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        format_into(path, sizeof path, "%s/%s", dir, files[i].file);
        char *text = read_file(path);
        for (size_t j = 0; j < 4 && files[i].parts[j]; j++)
            assert_contains(text, files[i].parts[j]);
        /* Every placeholder was filled in. */
        if (strchr(text, '@'))
            fail_msg("%s still holds a placeholder: %s", path, strchr(text, '@'));
        free(text);
        /* The report names each file. */
        assert_contains(report, path);
    }
    char want[3 * PATH_SIZE];
    format_into(want, sizeof want, "cmake -S %s -B %s/build", dir, dir);
    assert_contains(report, want);
    format_into(want, sizeof want, "&& cmake --build %s/build\n  kpool run %s/demo.ini\n", dir,
                dir);
    assert_contains(report, want);
    free(report);
}

static void test_new_default_folder_is_the_name(void **state)
{
    (void)state;
    char cwd[PATH_SIZE], work[PATH_SIZE];
    assert_non_null(getcwd(cwd, sizeof cwd));
    format_into(work, sizeof work, "%s/default", tmpdir);
    assert_int_equal(mkdir(work, 0777), 0);
    assert_int_equal(chdir(work), 0);
    kp_err err;
    char *report;
    int rc = scaffold("sum_rows", NULL, &report, &err);
    int n = count_entries("sum_rows");
    int has_kernel = access("sum_rows/sum_rows.c", F_OK) == 0;
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(n, 5);
    assert_true(has_kernel);
    assert_contains(report, "kpool: wrote the plugin project sum_rows into sum_rows:\n");
    assert_contains(report, "cmake -S sum_rows -B sum_rows/build");
    assert_contains(report, "kpool run sum_rows/sum_rows.ini\n");
    free(report);
}

static void test_new_quotes_folders_for_the_shell(void **state)
{
    (void)state;
    char dir[PATH_SIZE], want[2 * PATH_SIZE];
    format_into(dir, sizeof dir, "%s/it's here", tmpdir);
    kp_err err;
    char *report;
    int rc = scaffold("demo", dir, &report, &err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
    format_into(want, sizeof want, "kpool run '%s/it'\\''s here/demo.ini'\n", tmpdir);
    assert_contains(report, want);
    free(report);
}

static void test_new_uses_an_empty_folder(void **state)
{
    (void)state;
    char dir[PATH_SIZE];
    format_into(dir, sizeof dir, "%s/empty", tmpdir);
    assert_int_equal(mkdir(dir, 0777), 0);
    kp_err err;
    char *report;
    int rc = scaffold("demo", dir, &report, &err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
    assert_int_equal(count_entries(dir), 5);
    free(report);
}

/* ---- Folders that are refused ------------------------------------------ */

static void test_new_refuses_a_folder_with_files(void **state)
{
    (void)state;
    char dir[PATH_SIZE], keep[PATH_SIZE];
    format_into(dir, sizeof dir, "%s/full", tmpdir);
    format_into(keep, sizeof keep, "%s/demo.c", dir);
    assert_int_equal(mkdir(dir, 0777), 0);
    FILE *f = fopen(keep, "w");
    assert_non_null(f);
    fputs("my own kernel\n", f);
    assert_int_equal(fclose(f), 0);

    kp_err err;
    char *report;
    assert_int_equal(scaffold("demo", dir, &report, &err), KPOOL_EINVAL);
    char want[2 * PATH_SIZE];
    format_into(want, sizeof want,
                "new: %s exists and is not empty; kpool new never overwrites files: give a new "
                "or empty folder as DIR (kpool new demo DIR)",
                dir);
    assert_string_equal(err.msg, want);
    assert_string_equal(report, ""); /* nothing reported as written */
    free(report);
    /* Nothing was written and the user's file is as it was. */
    assert_int_equal(count_entries(dir), 1);
    char *text = read_file(keep);
    assert_string_equal(text, "my own kernel\n");
    free(text);
}

static void test_new_refuses_a_file_as_folder(void **state)
{
    (void)state;
    char dir[PATH_SIZE];
    format_into(dir, sizeof dir, "%s/a_file", tmpdir);
    FILE *f = fopen(dir, "w");
    assert_non_null(f);
    assert_int_equal(fclose(f), 0);
    kp_err err;
    char *report;
    assert_int_equal(scaffold("demo", dir, &report, &err), KPOOL_EINVAL);
    char want[2 * PATH_SIZE];
    format_into(want, sizeof want, "new: %s exists and is not a folder; give another folder as DIR",
                dir);
    assert_string_equal(err.msg, want);
    free(report);
}

static void test_new_needs_the_parent_folder(void **state)
{
    (void)state;
    char dir[PATH_SIZE], parent[PATH_SIZE];
    format_into(parent, sizeof parent, "%s/no_such", tmpdir);
    format_into(dir, sizeof dir, "%s/demo", parent);
    kp_err err;
    char *report;
    assert_int_equal(scaffold("demo", dir, &report, &err), KPOOL_EIO);
    char want[2 * PATH_SIZE];
    format_into(want, sizeof want,
                "new: cannot create the folder %s: No such file or directory (its parent folder "
                "does not exist)",
                dir);
    assert_string_equal(err.msg, want);
    assert_int_equal(count_entries(parent), -1);
    free(report);
}

static void test_new_bad_name_writes_nothing(void **state)
{
    (void)state;
    char dir[PATH_SIZE];
    format_into(dir, sizeof dir, "%s/badname", tmpdir);
    kp_err err;
    char *report;
    assert_int_equal(scaffold("my-plugin", dir, &report, &err), KPOOL_EINVAL);
    assert_contains(err.msg, "'my-plugin' is not a C identifier");
    assert_int_equal(count_entries(dir), -1);
    free(report);
}

/* A folder path so long that DIR/demo.c still fits in PATH_MAX but
 * DIR/CMakeLists.txt does not: the second file fails, and the first one and
 * the folder the call made are removed again. */
static void test_new_takes_back_a_half_written_project(void **state)
{
    (void)state;
    char dir[PATH_SIZE], parent[PATH_SIZE];
    format_into(parent, sizeof parent, "%s/deep", tmpdir);
    assert_int_equal(mkdir(parent, 0777), 0);
    /* Grow parent by folders of 200 characters while the last, made by
     * kp_scaffold_new, can still bring the path to exactly `target`. */
    const size_t target = 4085; /* + "/demo.c" = 4092 < 4096 <= + "/CMakeLists.txt" */
    char part[201];
    memset(part, 'd', 200);
    part[200] = '\0';
    while (strlen(parent) + 1 + 200 + 1 + 1 < target) {
        size_t len = strlen(parent);
        format_into(parent + len, sizeof parent - len, "/%s", part);
        assert_int_equal(mkdir(parent, 0777), 0);
    }
    size_t last = target - strlen(parent) - 1;
    assert_true(last >= 1 && last <= 200);
    format_into(dir, sizeof dir, "%s/%.*s", parent, (int)last, part);
    assert_int_equal(strlen(dir), target);

    kp_err err;
    char *report;
    assert_int_equal(scaffold("demo", dir, &report, &err), KPOOL_EIO);
    char want[2 * PATH_SIZE];
    format_into(want, sizeof want, "new: cannot create %s/CMakeLists.txt: File name too long", dir);
    want[KP_ERR_MAX - 1] = '\0'; /* a kp_err holds that much of a message */
    assert_string_equal(err.msg, want);
    assert_string_equal(report, "");
    free(report);
    /* demo.c had been written; it is gone, and so is the folder. */
    assert_int_equal(count_entries(dir), -1);
    assert_int_equal(count_entries(parent), 0);
}

/* ---- The job file ------------------------------------------------------ */

static void test_new_job_file_loads_and_validates(void **state)
{
    (void)state;
    char dir[PATH_SIZE], path[PATH_SIZE], want[PATH_SIZE];
    format_into(dir, sizeof dir, "%s/jobfile", tmpdir);
    kp_err err;
    char *report;
    int rc = scaffold("count_in", dir, &report, &err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
    free(report);

    kp_jobfile jf;
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    format_into(path, sizeof path, "%s/count_in.ini", dir);
    rc = kp_jobfile_load(&jf, path, &err);
    if (rc != 0)
        fail_msg("the job file does not load: %s", err.msg);
    rc = kp_jobfile_validate(&jf, &err);
    if (rc != 0)
        fail_msg("the job file does not validate: %s", err.msg);
    format_into(want, sizeof want, "%s/build/libcount_in.so", dir);
    assert_string_equal(jf.v[KP_KEY_job_plugin].text, want);
    assert_string_equal(jf.v[KP_KEY_job_kernel].text, "count_in");
    assert_string_equal(jf.v[KP_KEY_job_args].text, "$0, 4, 8");
    assert_int_equal(jf.v[KP_KEY_job_mode].num, 2); /* starmap */
    format_into(want, sizeof want, "%s/input.csv", dir);
    assert_string_equal(jf.v[KP_KEY_input_path].text, want);
    assert_string_equal(jf.v[KP_KEY_output_path].text, "-");
    kp_jobfile_free(&jf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_name_refuses_with_reason),
        cmocka_unit_test(test_check_name_refuses_long_names),
        cmocka_unit_test(test_check_name_accepts_identifiers),
        cmocka_unit_test(test_new_writes_project),
        cmocka_unit_test(test_new_default_folder_is_the_name),
        cmocka_unit_test(test_new_quotes_folders_for_the_shell),
        cmocka_unit_test(test_new_uses_an_empty_folder),
        cmocka_unit_test(test_new_refuses_a_folder_with_files),
        cmocka_unit_test(test_new_refuses_a_file_as_folder),
        cmocka_unit_test(test_new_needs_the_parent_folder),
        cmocka_unit_test(test_new_bad_name_writes_nothing),
        cmocka_unit_test(test_new_takes_back_a_half_written_project),
        cmocka_unit_test(test_new_job_file_loads_and_validates),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
