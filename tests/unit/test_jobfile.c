/* test_jobfile.c - the job-file loader: defaults, inih parsing with line
 * numbers, every value type, --set, validation, where() and the reference. */
#include "jobfile.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KP_TEST_TMP_DIR
#define KP_TEST_TMP_DIR "/tmp"
#endif

#define PATH_SIZE 4096

/* The group's scratch folder; fixtures are written here at run time. */
static char tmpdir[PATH_SIZE];

/* snprintf that fails the test instead of truncating. */
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
    snprintf(tmpdir, sizeof tmpdir, "%s/jobfile.XXXXXX", KP_TEST_TMP_DIR);
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

/* Writes `len` bytes to tmpdir/name (creating its folders); the full path
 * goes to `path`. */
static void write_bytes(char *path, const char *name, const char *data, size_t len)
{
    format_into(path, PATH_SIZE, "%s/%s", tmpdir, name);
    for (char *p = path + strlen(tmpdir) + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        assert_true(mkdir(path, 0777) == 0 || errno == EEXIST);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(char *path, const char *name, const char *text)
{
    write_bytes(path, name, text, strlen(text));
}

/* Initialises jf and loads `text` as tmpdir/job.ini; returns load's result. */
static int load_text(kp_jobfile *jf, char *path, const char *text, kp_err *err)
{
    write_text(path, "job.ini", text);
    assert_int_equal(kp_jobfile_init(jf, err), 0);
    kp_err_clear(err);
    return kp_jobfile_load(jf, path, err);
}

/* Asserts the error code and the exact message, formatted from fmt. */
static void assert_err(const kp_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void assert_err(const kp_err *err, int code, const char *fmt, ...)
{
    char want[KP_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(want, sizeof want, fmt, ap);
    va_end(ap);
    assert_string_equal(err->msg, want);
    assert_int_equal(err->code, code);
}

/* Loads `text` expecting failure with "<job.ini>:" + tail. */
static void assert_load_fails(const char *text, const char *tail)
{
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE];
    int rc = load_text(&jf, path, text, &err);
    if (rc == 0)
        fail_msg("loaded, but expected '%s'", tail);
    assert_int_equal(rc, KPOOL_EJOB);
    assert_err(&err, KPOOL_EJOB, "%s:%s", path, tail);
    kp_jobfile_free(&jf);
}

/* Loads `text` expecting success; the caller frees jf. */
static void assert_loads(kp_jobfile *jf, const char *text)
{
    kp_err err;
    char path[PATH_SIZE];
    int rc = load_text(jf, path, text, &err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err.msg);
}

/* ---- The table and the defaults ---------------------------------------- */

static void test_load_halt_rules(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t mode, count;
        double percent;
    } cases[] = {
        {"continue", 0, 0, 0},         {"stop", 1, 1, 0},         {"soon,fail=5", 1, 5, 0},
        {"now,fail=1", 2, 1, 0},       {"soon,fail=5%", 1, 0, 5}, {"now,fail=12.5%", 2, 0, 12.5},
        {"SOON,FAIL=100%", 1, 0, 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_jobfile jf;
        kp_err err;
        char text[128];
        snprintf(text, sizeof text, "[pool]\non_error = %s\n", cases[i].text);
        assert_loads(&jf, text);
        assert_int_equal(jf.v[KP_KEY_pool_on_error].num, cases[i].mode);
        if (cases[i].mode) {
            assert_int_equal(jf.v[KP_KEY_pool_on_error].start, cases[i].count);
            assert_true(jf.v[KP_KEY_pool_on_error].seconds == cases[i].percent);
        }
        kp_jobfile_free(&jf);
        assert_int_equal(kp_jobfile_init(&jf, &err), 0);
        snprintf(text, sizeof text, "pool.on_error=%s", cases[i].text);
        assert_int_equal(kp_jobfile_set(&jf, text, &err), 0);
        assert_int_equal(jf.v[KP_KEY_pool_on_error].num, cases[i].mode);
        kp_jobfile_free(&jf);
    }
}

static void test_table_matches_the_enum(void **state)
{
    (void)state;
    assert_int_equal(KP_JOB_KEY_COUNT, 29);
    assert_int_equal(kp_job_keys[KP_KEY_pool_memory_limit].type, KP_KEY_COUNT);
    assert_int_equal(kp_job_keys[KP_KEY_pool_cpu_limit].type, KP_KEY_SECONDS);
    assert_int_equal(kp_job_keys[KP_KEY_pool_open_files].type, KP_KEY_COUNT);
    assert_int_equal(kp_job_keys[KP_KEY_pool_core_dumps].type, KP_KEY_BOOL);
    assert_string_equal(kp_job_keys[KP_KEY_pool_core_dumps].def, "false");
    assert_int_equal(kp_job_keys[KP_KEY_pool_worker_nice].type, KP_KEY_COUNT);
    assert_string_equal(kp_job_keys[KP_KEY_pool_worker_nice].def, "10");
    assert_string_equal(kp_job_keys[KP_KEY_job_plugin].section, "job");
    assert_string_equal(kp_job_keys[KP_KEY_job_plugin].key, "plugin");
    assert_int_equal(kp_job_keys[KP_KEY_job_plugin].type, KP_KEY_PLUGIN);
    assert_string_equal(kp_job_keys[KP_KEY_pool_workers].key, "workers");
    assert_int_equal(kp_job_keys[KP_KEY_pool_workers].type, KP_KEY_AUTO_COUNT);
    assert_string_equal(kp_job_keys[KP_KEY_output_journal].section, "output");
    assert_string_equal(kp_job_keys[KP_KEY_input_format].choices, "auto|npy|csv|jsonl");
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        assert_true(kp_job_keys[i].doc[0] != '\0');
        for (size_t j = 0; j < i; j++)
            assert_false(strcmp(kp_job_keys[i].section, kp_job_keys[j].section) == 0 &&
                         strcmp(kp_job_keys[i].key, kp_job_keys[j].key) == 0);
    }
}

static void test_init_every_key_has_its_default(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_string_equal(jf.path, "");
    assert_string_equal(jf.dir, ".");
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        assert_string_equal(jf.v[i].text, kp_job_keys[i].def);
        assert_false(jf.v[i].set);
        assert_int_equal(jf.v[i].line, 0);
    }
    assert_int_equal(jf.v[KP_KEY_job_mode].num, 2); /* starmap */
    assert_int_equal(jf.v[KP_KEY_input_format].num, 0);
    assert_int_equal(jf.v[KP_KEY_input_header].num, 0);
    assert_int_equal(jf.v[KP_KEY_pool_workers].num, 0);
    assert_int_equal(jf.v[KP_KEY_pool_chunksize].num, 0);
    assert_int_equal(jf.v[KP_KEY_pool_max_tasks_per_worker].num, 0);
    assert_true(jf.v[KP_KEY_pool_task_timeout].seconds == 0.0);
    assert_int_equal(jf.v[KP_KEY_pool_retries].num, 0);
    assert_int_equal(jf.v[KP_KEY_pool_on_error].num, 0);
    assert_int_equal(jf.v[KP_KEY_pool_backend].num, 0);
    assert_string_equal(jf.v[KP_KEY_output_path].text, "-");
    assert_int_equal(jf.v[KP_KEY_output_format].num, 0);
    assert_int_equal(jf.v[KP_KEY_output_order].num, 0);
    assert_int_equal(jf.v[KP_KEY_output_index].num, 0);
    assert_string_equal(jf.v[KP_KEY_output_errors].text, "-");
    assert_string_equal(jf.v[KP_KEY_output_journal].text, "");
    assert_string_equal(jf.v[KP_KEY_input_range].text, "");
    kp_jobfile_free(&jf);
}

static void test_free_twice_is_harmless(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    kp_jobfile_free(&jf);
    assert_null(jf.path);
    assert_null(jf.v[0].text);
    kp_jobfile_free(&jf);
    kp_jobfile_free(NULL);
}

/* ---- Loading valid files ----------------------------------------------- */

/* SPEC section 5's example, verbatim. */
static const char spec_example[] =
    "; config/seed.ini — count the elements of each row that lie in [4, 8]\n"
    "[job]\n"
    "plugin  = ../plugins/libseed.so   ; relative to this file; a bare name (libm.so.6) is "
    "looked up by the loader\n"
    "kernel  = howmany_within_range\n"
    "mode    = starmap                 ; apply | map | starmap\n"
    "args    = $0, 4, 8                ; the tuple each task gets (see 6)\n"
    "; signature = ...                 ; required only when the plugin has no descriptor\n"
    "\n"
    "[input]\n"
    "path    = ../data/seed.npy        ; .npy | .csv | .jsonl | - (stdin)\n"
    "format  = auto                    ; auto (by extension) | npy | csv | jsonl; required for "
    "stdin\n"
    "; range = 0:1000000               ; instead of path: the integers start:stop[:step]\n"
    "header  = false                   ; csv: the first line is a header\n"
    "\n"
    "[pool]\n"
    "workers = auto                    ; auto = CPUs this process may use (affinity, cgroup "
    "quota)\n"
    "chunksize = auto\n"
    "max_tasks_per_worker = 0          ; 0 = never recycle (Pool's maxtasksperchild)\n"
    "task_timeout = 0                  ; seconds per task, 0 = none\n"
    "retries = 0                       ; extra attempts for a task that crashed or timed out\n"
    "on_error = continue               ; continue | stop\n"
    "initializer =                     ; a kernel of the same plugin, run once in each worker\n"
    "initargs =                        ; its tuple (literals)\n"
    "backend = local                   ; local | mpi\n"
    "\n"
    "[output]\n"
    "path   = -                        ; - = stdout\n"
    "format = csv                      ; csv | jsonl | npy\n"
    "order  = input                    ; input (map/starmap) | completion (the _async / "
    "imap_unordered family)\n"
    "index  = auto                     ; auto (= true when order = completion) | true | false\n"
    "errors = -                        ; failed tasks: - = stderr (readable lines), or a .jsonl "
    "path\n"
    "journal =                         ; resume journal; default: the output path + "
    "\".journal\"\n";

static void test_load_spec_example(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE], want[PATH_SIZE];
    write_text(path, "config/seed.ini", spec_example);
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_int_equal(kp_jobfile_load(&jf, path, &err), 0);

    assert_string_equal(jf.path, path);
    format_into(want, sizeof want, "%s/config", tmpdir);
    assert_string_equal(jf.dir, want);

    format_into(want, sizeof want, "%s/config/../plugins/libseed.so", tmpdir);
    assert_string_equal(jf.v[KP_KEY_job_plugin].text, want);
    assert_true(jf.v[KP_KEY_job_plugin].set);
    assert_int_equal(jf.v[KP_KEY_job_plugin].line, 3);
    assert_string_equal(jf.v[KP_KEY_job_kernel].text, "howmany_within_range");
    assert_int_equal(jf.v[KP_KEY_job_kernel].line, 4);
    assert_string_equal(jf.v[KP_KEY_job_mode].text, "starmap");
    assert_int_equal(jf.v[KP_KEY_job_mode].num, 2);
    assert_string_equal(jf.v[KP_KEY_job_args].text, "$0, 4, 8");
    assert_int_equal(jf.v[KP_KEY_job_args].line, 6);
    assert_false(jf.v[KP_KEY_job_signature].set);

    format_into(want, sizeof want, "%s/config/../data/seed.npy", tmpdir);
    assert_string_equal(jf.v[KP_KEY_input_path].text, want);
    assert_int_equal(jf.v[KP_KEY_input_path].line, 10);
    assert_string_equal(jf.v[KP_KEY_input_format].text, "auto");
    assert_true(jf.v[KP_KEY_input_format].set);
    assert_false(jf.v[KP_KEY_input_range].set);
    assert_int_equal(jf.v[KP_KEY_input_header].num, 0);
    assert_int_equal(jf.v[KP_KEY_input_header].line, 13);

    assert_string_equal(jf.v[KP_KEY_pool_workers].text, "auto");
    assert_int_equal(jf.v[KP_KEY_pool_workers].num, 0);
    assert_int_equal(jf.v[KP_KEY_pool_workers].line, 16);
    assert_int_equal(jf.v[KP_KEY_pool_chunksize].num, 0);
    assert_int_equal(jf.v[KP_KEY_pool_max_tasks_per_worker].num, 0);
    assert_true(jf.v[KP_KEY_pool_task_timeout].seconds == 0.0);
    assert_int_equal(jf.v[KP_KEY_pool_retries].num, 0);
    assert_string_equal(jf.v[KP_KEY_pool_on_error].text, "continue");
    /* "initializer =" is the same as leaving the key out. */
    assert_string_equal(jf.v[KP_KEY_pool_initializer].text, "");
    assert_false(jf.v[KP_KEY_pool_initializer].set);
    assert_false(jf.v[KP_KEY_pool_initargs].set);
    assert_string_equal(jf.v[KP_KEY_pool_backend].text, "local");

    assert_string_equal(jf.v[KP_KEY_output_path].text, "-");
    assert_int_equal(jf.v[KP_KEY_output_path].line, 27);
    assert_string_equal(jf.v[KP_KEY_output_format].text, "csv");
    assert_string_equal(jf.v[KP_KEY_output_order].text, "input");
    assert_string_equal(jf.v[KP_KEY_output_index].text, "auto");
    assert_string_equal(jf.v[KP_KEY_output_errors].text, "-");
    assert_string_equal(jf.v[KP_KEY_output_journal].text, "");
    assert_false(jf.v[KP_KEY_output_journal].set);
    assert_int_equal(jf.v[KP_KEY_output_journal].line, 0);

    assert_int_equal(kp_jobfile_validate(&jf, &err), 0);
    kp_jobfile_free(&jf);
}

static void test_load_resolves_paths_against_the_file(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE], want[PATH_SIZE];
    write_text(path, "sub/dir/paths.ini",
               "[job]\n"
               "plugin = ./libx.so\n"
               "[input]\n"
               "path = /abs/data.csv\n"
               "[output]\n"
               "path = out/results.csv\n"
               "errors = failed.jsonl\n"
               "journal = -\n");
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_int_equal(kp_jobfile_load(&jf, path, &err), 0);
    format_into(want, sizeof want, "%s/sub/dir/./libx.so", tmpdir);
    assert_string_equal(jf.v[KP_KEY_job_plugin].text, want);
    assert_string_equal(jf.v[KP_KEY_input_path].text, "/abs/data.csv");
    format_into(want, sizeof want, "%s/sub/dir/out/results.csv", tmpdir);
    assert_string_equal(jf.v[KP_KEY_output_path].text, want);
    format_into(want, sizeof want, "%s/sub/dir/failed.jsonl", tmpdir);
    assert_string_equal(jf.v[KP_KEY_output_errors].text, want);
    assert_string_equal(jf.v[KP_KEY_output_journal].text, "-");
    kp_jobfile_free(&jf);
}

static void test_load_keeps_a_bare_plugin_name(void **state)
{
    (void)state;
    kp_jobfile jf;
    assert_loads(&jf, "[job]\nplugin = libm.so.6\nkernel = pow\n");
    assert_string_equal(jf.v[KP_KEY_job_plugin].text, "libm.so.6");
    kp_jobfile_free(&jf);
}

static void test_load_from_the_current_folder_keeps_relative_paths(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE], cwd[PATH_SIZE], here[PATH_SIZE];
    write_text(path, "cwd/job.ini", "[job]\nplugin = plugins/p.so\n[input]\npath = data.csv\n");
    assert_non_null(getcwd(cwd, sizeof cwd));
    format_into(here, sizeof here, "%s/cwd", tmpdir);
    assert_int_equal(chdir(here), 0);
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    int rc = kp_jobfile_load(&jf, "job.ini", &err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_string_equal(jf.path, "job.ini");
    assert_string_equal(jf.dir, ".");
    assert_string_equal(jf.v[KP_KEY_job_plugin].text, "plugins/p.so");
    assert_string_equal(jf.v[KP_KEY_input_path].text, "data.csv");
    kp_jobfile_free(&jf);
}

static void test_load_folder_ending_in_a_slash_joins_cleanly(void **state)
{
    (void)state;
    /* "dir//job.ini" has the folder "dir/", which needs no second slash. */
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE], alias[PATH_SIZE], want[PATH_SIZE];
    write_text(path, "slash/job.ini", "[input]\npath = data.csv\n");
    format_into(alias, sizeof alias, "%s/slash//job.ini", tmpdir);
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_int_equal(kp_jobfile_load(&jf, alias, &err), 0);
    format_into(want, sizeof want, "%s/slash/data.csv", tmpdir);
    assert_string_equal(jf.v[KP_KEY_input_path].text, want);
    kp_jobfile_free(&jf);
}

static void test_load_inline_and_whole_line_comments(void **state)
{
    (void)state;
    kp_jobfile jf;
    assert_loads(&jf, "# a hash comment\n"
                      "; a semicolon comment\n"
                      "[job] ; the job\n"
                      "kernel = f;g\n"
                      "args = $0 ;x\n"
                      "   ; an indented comment\n"
                      "[pool]\n"
                      "workers = 4   ; four\n"
                      "    # another indented comment\n"
                      "retries = 2\n");
    assert_string_equal(jf.v[KP_KEY_job_kernel].text, "f;g");
    assert_string_equal(jf.v[KP_KEY_job_args].text, "$0");
    assert_int_equal(jf.v[KP_KEY_pool_workers].num, 4);
    assert_int_equal(jf.v[KP_KEY_pool_workers].line, 8);
    assert_int_equal(jf.v[KP_KEY_pool_retries].num, 2);
    assert_int_equal(jf.v[KP_KEY_pool_retries].line, 10);
    kp_jobfile_free(&jf);
}

static void test_load_colon_separator_and_blank_section_names(void **state)
{
    (void)state;
    kp_jobfile jf;
    assert_loads(&jf, "[ job ]\nkernel: f\n[pool]\n  workers = 3\n");
    assert_string_equal(jf.v[KP_KEY_job_kernel].text, "f");
    /* The first key under a header may be indented: nothing precedes it. */
    assert_int_equal(jf.v[KP_KEY_pool_workers].num, 3);
    assert_int_equal(jf.v[KP_KEY_pool_workers].line, 4);
    kp_jobfile_free(&jf);
}

static void test_load_crlf_and_bom(void **state)
{
    (void)state;
    kp_jobfile jf;
    assert_loads(&jf, "\xEF\xBB\xBF[job]\r\nkernel = f\r\n\r\n[pool]\r\nretries = 5\r\n");
    assert_string_equal(jf.v[KP_KEY_job_kernel].text, "f");
    assert_int_equal(jf.v[KP_KEY_pool_retries].num, 5);
    assert_int_equal(jf.v[KP_KEY_pool_retries].line, 5);
    kp_jobfile_free(&jf);
}

static void test_load_empty_file_keeps_defaults(void **state)
{
    (void)state;
    kp_jobfile jf;
    assert_loads(&jf, "");
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++)
        assert_false(jf.v[i].set);
    kp_jobfile_free(&jf);
    assert_loads(&jf, "[job]\n[input]\n[pool]\n[output]\n");
    assert_false(jf.v[KP_KEY_job_kernel].set);
    kp_jobfile_free(&jf);
}

static void test_load_good_values_of_every_type(void **state)
{
    (void)state;
    kp_jobfile jf;
    assert_loads(&jf, "[job]\n"
                      "mode = MAP\n"
                      "signature = double pow(double x, double y)\n"
                      "[input]\n"
                      "range = -5 : 5 : -2\n"
                      "header = On\n"
                      "format = CSV\n"
                      "[pool]\n"
                      "workers = AUTO\n"
                      "chunksize = 007\n"
                      "max_tasks_per_worker = 2147483647\n"
                      "task_timeout = 2.5\n"
                      "retries = 0\n"
                      "on_error = stop\n"
                      "backend = mpi\n"
                      "[output]\n"
                      "index = false\n"
                      "order = completion\n"
                      "format = jsonl\n");
    assert_string_equal(jf.v[KP_KEY_job_mode].text, "map");
    assert_int_equal(jf.v[KP_KEY_job_mode].num, 1);
    assert_string_equal(jf.v[KP_KEY_job_signature].text, "double pow(double x, double y)");
    assert_int_equal(jf.v[KP_KEY_input_range].start, -5);
    assert_int_equal(jf.v[KP_KEY_input_range].stop, 5);
    assert_int_equal(jf.v[KP_KEY_input_range].step, -2);
    assert_string_equal(jf.v[KP_KEY_input_range].text, "-5 : 5 : -2");
    assert_int_equal(jf.v[KP_KEY_input_header].num, 1);
    assert_string_equal(jf.v[KP_KEY_input_format].text, "csv");
    assert_int_equal(jf.v[KP_KEY_input_format].num, 2);
    assert_string_equal(jf.v[KP_KEY_pool_workers].text, "auto");
    assert_int_equal(jf.v[KP_KEY_pool_workers].num, 0);
    assert_int_equal(jf.v[KP_KEY_pool_chunksize].num, 7);
    assert_int_equal(jf.v[KP_KEY_pool_max_tasks_per_worker].num, INT_MAX);
    assert_true(jf.v[KP_KEY_pool_task_timeout].seconds == 2.5);
    assert_int_equal(jf.v[KP_KEY_pool_on_error].num, 1);
    assert_int_equal(jf.v[KP_KEY_pool_backend].num, 1);
    assert_int_equal(jf.v[KP_KEY_output_index].num, 2);
    assert_int_equal(jf.v[KP_KEY_output_order].num, 1);
    assert_int_equal(jf.v[KP_KEY_output_format].num, 1);
    kp_jobfile_free(&jf);
}

static void test_load_bool_spellings(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t num;
    } cases[] = {{"true", 1},  {"TRUE", 1}, {"yes", 1}, {"on", 1},  {"1", 1},
                 {"false", 0}, {"No", 0},   {"off", 0}, {"OFF", 0}, {"0", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128];
        kp_jobfile jf;
        format_into(text, sizeof text, "[input]\nheader = %s\n", cases[i].text);
        assert_loads(&jf, text);
        assert_int_equal(jf.v[KP_KEY_input_header].num, cases[i].num);
        assert_string_equal(jf.v[KP_KEY_input_header].text, cases[i].text);
        kp_jobfile_free(&jf);
    }
}

static void test_load_seconds_forms(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double seconds;
    } cases[] = {{"0", 0},      {".5", 0.5},      {"5.", 5},
                 {"1e3", 1000}, {"2.5E-1", 0.25}, {"1000000000", 1e9}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128];
        kp_jobfile jf;
        format_into(text, sizeof text, "[pool]\ntask_timeout = %s\n", cases[i].text);
        assert_loads(&jf, text);
        assert_true(jf.v[KP_KEY_pool_task_timeout].seconds == cases[i].seconds);
        kp_jobfile_free(&jf);
    }
}

static void test_load_range_forms(void **state)
{
    (void)state;
    kp_jobfile jf;
    assert_loads(&jf, "[input]\nrange = 0:1000000\n");
    assert_true(jf.v[KP_KEY_input_range].set);
    assert_int_equal(jf.v[KP_KEY_input_range].start, 0);
    assert_int_equal(jf.v[KP_KEY_input_range].stop, 1000000);
    assert_int_equal(jf.v[KP_KEY_input_range].step, 1);
    kp_jobfile_free(&jf);
    assert_loads(&jf, "[input]\nrange = -9223372036854775808:9223372036854775807:+3\n");
    assert_int_equal(jf.v[KP_KEY_input_range].start, INT64_MIN);
    assert_int_equal(jf.v[KP_KEY_input_range].stop, INT64_MAX);
    assert_int_equal(jf.v[KP_KEY_input_range].step, 3);
    kp_jobfile_free(&jf);
}

static void test_load_empty_value_of_an_optional_key_means_unset(void **state)
{
    (void)state;
    kp_jobfile jf;
    assert_loads(&jf, "[output]\njournal =\n[input]\nrange =\n");
    assert_false(jf.v[KP_KEY_output_journal].set);
    assert_string_equal(jf.v[KP_KEY_output_journal].text, "");
    assert_false(jf.v[KP_KEY_input_range].set);
    kp_jobfile_free(&jf);
}

static void test_load_twice_overlays_the_second_file(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    char first[PATH_SIZE], second[PATH_SIZE];
    write_text(first, "a.ini", "[job]\nkernel = a\n[pool]\nworkers = 2\n");
    write_text(second, "b.ini", "\n[pool]\nworkers = 3\n");
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_int_equal(kp_jobfile_load(&jf, first, &err), 0);
    /* A key given again in another file is an override, not a duplicate. */
    assert_int_equal(kp_jobfile_load(&jf, second, &err), 0);
    assert_string_equal(jf.v[KP_KEY_job_kernel].text, "a");
    assert_int_equal(jf.v[KP_KEY_pool_workers].num, 3);
    assert_int_equal(jf.v[KP_KEY_pool_workers].line, 3);
    assert_string_equal(jf.path, second);
    kp_jobfile_free(&jf);
}

/* ---- Loading: errors ---------------------------------------------------- */

static void test_load_cannot_open(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE];
    format_into(path, sizeof path, "%s/no-such.ini", tmpdir);
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_int_equal(kp_jobfile_load(&jf, path, &err), KPOOL_EJOB);
    assert_err(&err, KPOOL_EJOB, "%s: cannot open: No such file or directory", path);
    assert_int_equal(kp_jobfile_load(&jf, tmpdir, &err), KPOOL_EJOB);
    assert_err(&err, KPOOL_EJOB, "%s: cannot read: Is a directory", tmpdir);
    /* Reading offset 0 of a process's own memory fails with EIO (where
     * /proc is mounted and readable). */
    FILE *mem = fopen("/proc/self/mem", "r");
    if (mem) {
        fclose(mem);
        assert_int_equal(kp_jobfile_load(&jf, "/proc/self/mem", &err), KPOOL_EJOB);
        assert_err(&err, KPOOL_EJOB, "/proc/self/mem: cannot read: Input/output error");
    }
    kp_jobfile_free(&jf);
}

static void test_load_unknown_section_with_keys(void **state)
{
    (void)state;
    assert_load_fails("[job]\nkernel = k\n[jobs]\nplugin = x\n",
                      "3: unknown section [jobs]; sections are [job] [input] [pool] [output]");
}

static void test_load_unknown_empty_section(void **state)
{
    (void)state;
    assert_load_fails("[job]\nkernel = k\n\n[extra]\n",
                      "4: unknown section [extra]; sections are [job] [input] [pool] [output]");
    assert_load_fails("[]\n", "1: unknown section []; sections are [job] [input] [pool] [output]");
}

static void test_load_unknown_key_suggests_the_closest(void **state)
{
    (void)state;
    assert_load_fails("[job]\nkernal = f\n", "2: [job] kernal: unknown key (did you mean kernel?)");
    assert_load_fails("[job]\nkenrel = f\n", "2: [job] kenrel: unknown key (did you mean kernel?)");
    assert_load_fails("[pool]\nWorkers = 2\n",
                      "2: [pool] Workers: unknown key (did you mean workers?)");
    assert_load_fails("[pool]\nmax_task_per_worker = 2\n",
                      "2: [pool] max_task_per_worker: unknown key (did you mean "
                      "max_tasks_per_worker?)");
}

static void test_load_unknown_key_without_suggestion(void **state)
{
    (void)state;
    assert_load_fails("[job]\nbogus = 1\n", "2: [job] bogus: unknown key");
    assert_load_fails("[pool]\nformat = csv\n",
                      "2: [pool] format: unknown key in [pool] (format is a key of [input] and "
                      "[output])");
    assert_load_fails("[input]\nkernel = f\n",
                      "2: [input] kernel: unknown key in [input] (kernel is a key of [job])");
}

static void test_load_key_before_any_section(void **state)
{
    (void)state;
    assert_load_fails("plugin = x.so\n[job]\n",
                      "1: plugin: key before any section header (it belongs under [job])");
    assert_load_fails("\npath = x\n",
                      "2: path: key before any section header (it belongs under [input] or "
                      "[output])");
    assert_load_fails("nothing = 1\n", "1: nothing: key before any section header");
}

static void test_load_key_given_twice(void **state)
{
    (void)state;
    assert_load_fails("[pool]\nworkers = 2\n\n[pool]\nworkers = 3\n",
                      "5: [pool] workers: given twice (first on line 2)");
    assert_load_fails("[output]\njournal =\njournal = j\n",
                      "3: [output] journal: given twice (first on line 2)");
}

static void test_load_indented_line_would_continue_a_value(void **state)
{
    (void)state;
    assert_load_fails("[job]\nplugin = x.so\n\n  kernel = f\n",
                      "4: [job] plugin: this indented line would continue the value from line 2; "
                      "a value must fit on one line, so remove the indentation");
    assert_load_fails("[job]\nplugin = x.so\n; note\n\tmore\n",
                      "4: [job] plugin: this indented line would continue the value from line 2; "
                      "a value must fit on one line, so remove the indentation");
    /* An indented header after a key is a continuation too, for inih. */
    assert_load_fails("[job]\nkernel = f\n  [pool]\n",
                      "3: [job] kernel: this indented line would continue the value from line 2; "
                      "a value must fit on one line, so remove the indentation");
}

static void test_load_lines_inih_cannot_parse(void **state)
{
    (void)state;
    assert_load_fails("[job\nplugin = x\n", "1: section header has no closing ']': '[job'");
    assert_load_fails("[job ; x]\n", "1: section header has no closing ']': '[job ; x]'");
    assert_load_fails("[job]\nkernel\n",
                      "2: expected key = value, a [section] header or a ; comment, not 'kernel'");
    assert_load_fails("[job]\n= value\n", "2: a key name is missing before '='");
}

static void test_load_line_length_limit(void **state)
{
    (void)state;
    /* "args = " is 7 characters; inih holds 197 plus "\r\n" and the NUL. */
    char text[512], value[256];
    kp_jobfile jf;
    memset(value, 'a', 190);
    value[190] = '\0';
    format_into(text, sizeof text, "[job]\nargs = %s\nkernel = f\n", value);
    assert_loads(&jf, text);
    assert_int_equal(strlen(jf.v[KP_KEY_job_args].text), 190);
    assert_int_equal(jf.v[KP_KEY_job_kernel].line, 3);
    kp_jobfile_free(&jf);

    format_into(text, sizeof text, "[job]\r\nargs = %s\r\nkernel = f\r\n", value);
    assert_loads(&jf, text);
    assert_int_equal(strlen(jf.v[KP_KEY_job_args].text), 190);
    kp_jobfile_free(&jf);

    /* A comment may be longer: cutting it changes nothing. */
    format_into(text, sizeof text, "[job]\n  ; %s%s\nkernel = f\n", value, value);
    assert_loads(&jf, text);
    assert_int_equal(jf.v[KP_KEY_job_kernel].line, 3);
    kp_jobfile_free(&jf);
    format_into(text, sizeof text, "# %s%s\n[job]\nkernel = f\n", value, value);
    assert_loads(&jf, text);
    assert_int_equal(jf.v[KP_KEY_job_kernel].line, 3);
    kp_jobfile_free(&jf);

    value[190] = 'a';
    value[191] = '\0';
    format_into(text, sizeof text, "[job]\nkernel = f\nargs = %s\nbad = 1\n", value);
    assert_load_fails(text, "3: line too long (198 characters; inih reads at most 197 per line)");
}

static void test_load_nul_byte(void **state)
{
    (void)state;
    static const char data[] = "[job]\nkernel = a\0b\n";
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE];
    write_bytes(path, "nul.ini", data, sizeof data - 1);
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_int_equal(kp_jobfile_load(&jf, path, &err), KPOOL_EJOB);
    assert_err(&err, KPOOL_EJOB, "%s:2: contains a NUL byte (a job file is text)", path);
    kp_jobfile_free(&jf);
}

static void test_load_reports_the_first_error(void **state)
{
    (void)state;
    /* Two handler errors. */
    assert_load_fails("[pool]\nworkers = 2\nretries = x\nworkers = 3\nbogus = 1\n",
                      "3: [pool] retries: not a number: 'x' (expected an integer >= 0)");
    /* A line inih refuses, before a handler error. */
    assert_load_fails("[pool]\nworkers\nretries = x\n",
                      "2: expected key = value, a [section] header or a ; comment, not "
                      "'workers'");
    /* A handler error before a line inih refuses. */
    assert_load_fails("[pool]\nretries = x\nworkers\n",
                      "2: [pool] retries: not a number: 'x' (expected an integer >= 0)");
    /* A line inih refuses, before an unknown (empty) section. */
    assert_load_fails("[pool]\nworkers\n[nope]\n",
                      "2: expected key = value, a [section] header or a ; comment, not "
                      "'workers'");
}

static void test_load_bad_values(void **state)
{
    (void)state;
    static const struct {
        const char *section, *line, *tail;
    } cases[] = {
        {"pool", "workers = x",
         "[pool] workers: not a number: 'x' (expected auto or an integer >= 1)"},
        {"pool", "workers = 0", "[pool] workers: must be auto or at least 1: '0'"},
        {"pool", "workers = -2", "[pool] workers: must be auto or at least 1: '-2'"},
        {"pool", "workers =",
         "[pool] workers: empty value; expected auto or an integer >= 1 (leave "
         "the key out for the default, auto)"},
        {"pool", "chunksize = automatic",
         "[pool] chunksize: not a number: 'automatic' (expected auto or an integer >= 1)"},
        {"pool", "retries = -1", "[pool] retries: must not be negative: '-1'"},
        {"pool", "retries = +3", "[pool] retries: not a number: '+3' (expected an integer >= 0)"},
        {"pool", "retries = 1.5", "[pool] retries: not a number: '1.5' (expected an integer >= 0)"},
        {"pool", "retries = 0x10",
         "[pool] retries: not a number: '0x10' (expected an integer >= 0)"},
        {"pool", "retries = 2147483648",
         "[pool] retries: too large: '2147483648' (at most 2147483647)"},
        {"pool", "retries = 99999999999999999999",
         "[pool] retries: too large: '99999999999999999999' (at most 2147483647)"},
        {"pool", "retries = 4 # four",
         "[pool] retries: not a number: '4 # four' (expected an integer >= 0); note: an inline "
         "comment starts with ' ;', '#' only starts a whole-line comment"},
        {"pool", "max_tasks_per_worker =",
         "[pool] max_tasks_per_worker: empty value; expected an integer >= 0 (leave the key out "
         "for the default, 0)"},
        {"pool", "task_timeout = abc",
         "[pool] task_timeout: not a number of seconds: 'abc' (expected a number >= 0, e.g. 2.5)"},
        {"pool", "task_timeout = 30s",
         "[pool] task_timeout: not a number of seconds: '30s' (expected a number >= 0, e.g. 2.5)"},
        {"pool", "task_timeout = -1", "[pool] task_timeout: must not be negative: '-1'"},
        {"pool", "task_timeout = -0.5", "[pool] task_timeout: must not be negative: '-0.5'"},
        {"pool", "task_timeout = inf",
         "[pool] task_timeout: not a number of seconds: 'inf' (expected a number >= 0, e.g. 2.5)"},
        {"pool", "task_timeout = nan",
         "[pool] task_timeout: not a number of seconds: 'nan' (expected a number >= 0, e.g. 2.5)"},
        {"pool", "task_timeout = 0x1p3",
         "[pool] task_timeout: not a number of seconds: '0x1p3' (expected a number >= 0, e.g. "
         "2.5)"},
        {"pool", "task_timeout = 1e",
         "[pool] task_timeout: not a number of seconds: '1e' (expected a number >= 0, e.g. 2.5)"},
        {"pool", "task_timeout = 1e999",
         "[pool] task_timeout: too large: '1e999' (at most 1000000000 seconds)"},
        {"pool", "task_timeout = 2e9",
         "[pool] task_timeout: too large: '2e9' (at most 1000000000 seconds)"},
        {"pool", "on_error = halt",
         "[pool] on_error: not a halt rule: 'halt' (expected continue, stop, soon,fail=N, "
         "soon,fail=P%, now,fail=N or now,fail=P%)"},
        {"pool", "on_error = soon,fail=",
         "[pool] on_error: 'soon,fail=': fail= needs a number of tasks or a percentage"},
        {"pool", "on_error = now,fail=0",
         "[pool] on_error: 'now,fail=0': fail= needs a whole number of tasks >= 1, or a "
         "percentage"},
        {"pool", "on_error = soon,fail=2.5",
         "[pool] on_error: 'soon,fail=2.5': fail= needs a whole number of tasks >= 1, or a "
         "percentage"},
        {"pool", "on_error = soon,fail=0%",
         "[pool] on_error: 'soon,fail=0%': the percentage must be above 0 and at most 100"},
        {"pool", "on_error = soon,fail=101%",
         "[pool] on_error: 'soon,fail=101%': the percentage must be above 0 and at most 100"},
        {"pool", "backend = mpii",
         "[pool] backend: not one of local|mpi: 'mpii' (did you mean mpi?)"},
        {"input", "header = maybe",
         "[input] header: not a boolean: 'maybe' (expected true or false; yes/no, on/off, 1/0 "
         "also work)"},
        {"input", "header = 2",
         "[input] header: not a boolean: '2' (expected true or false; yes/no, on/off, 1/0 also "
         "work)"},
        {"input", "format = jsonn",
         "[input] format: not one of auto|npy|csv|jsonl: 'jsonn' (did you mean jsonl?)"},
        {"input", "range = 10",
         "[input] range: not a range: '10' (expected start:stop[:step], e.g. 0:1000)"},
        {"input", "range = 1:2:3:4",
         "[input] range: not a range: '1:2:3:4' (expected start:stop[:step], e.g. 0:1000)"},
        {"input", "range = 0:x", "[input] range: not a range: '0:x' (stop is not an integer)"},
        {"input", "range = 0:10:1.5",
         "[input] range: not a range: '0:10:1.5' (step is not an integer)"},
        {"input", "range = 0:-", "[input] range: not a range: '0:-' (stop is not an integer)"},
        {"input", "range = :10",
         "[input] range: not a range: ':10' (start is missing; expected start:stop[:step])"},
        {"input", "range = 0:10:0", "[input] range: step must not be 0: '0:10:0'"},
        {"input", "range = 0:99999999999999999999",
         "[input] range: not a range: '0:99999999999999999999' (stop does not fit in a 64-bit "
         "integer)"},
        {"input", "path = \"data.csv\"",
         "[input] path: remove the quotes: '\"data.csv\"' (job-file values are not quoted)"},
        {"output", "path =",
         "[output] path: empty value; expected a file path, or - for standard input or output "
         "(leave the key out for the default, -)"},
        {"output", "order = random", "[output] order: not one of input|completion: 'random'"},
        {"output", "index = yes", "[output] index: not one of auto|true|false: 'yes'"},
        {"job", "plugin =", "[job] plugin: empty value; this key is required"},
        {"job", "plugin = 'libm.so.6'",
         "[job] plugin: remove the quotes: ''libm.so.6'' (job-file values are not quoted)"},
        {"job", "kernel =", "[job] kernel: empty value; this key is required"},
        {"job", "mode = mapp",
         "[job] mode: not one of apply|map|starmap: 'mapp' (did you mean map?)"},
        {"job", "mode = banana", "[job] mode: not one of apply|map|starmap: 'banana'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256], tail[KP_ERR_MAX];
        format_into(text, sizeof text, "; case %zu\n[%s]\n%s\n", i, cases[i].section,
                    cases[i].line);
        format_into(tail, sizeof tail, "3: %s", cases[i].tail);
        assert_load_fails(text, tail);
    }
}

/* ---- --set -------------------------------------------------------------- */

static void test_set_overrides_a_file_value(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    assert_loads(&jf, "[pool]\nworkers = 2\n");
    assert_int_equal(kp_jobfile_set(&jf, "pool.workers=8", &err), 0);
    assert_int_equal(jf.v[KP_KEY_pool_workers].num, 8);
    assert_true(jf.v[KP_KEY_pool_workers].set);
    assert_int_equal(jf.v[KP_KEY_pool_workers].line, 0);
    assert_int_equal(kp_jobfile_set(&jf, "  output . format =  jsonl ", &err), 0);
    assert_string_equal(jf.v[KP_KEY_output_format].text, "jsonl");
    assert_int_equal(kp_jobfile_set(&jf, "job.args=$0 ; 4", &err), 0);
    assert_string_equal(jf.v[KP_KEY_job_args].text, "$0 ; 4");
    assert_int_equal(kp_jobfile_set(&jf, "job.signature=a=b", &err), 0);
    assert_string_equal(jf.v[KP_KEY_job_signature].text, "a=b");
    kp_jobfile_free(&jf);
}

static void test_set_paths_stay_relative_to_the_current_folder(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE];
    write_text(path, "setdir/job.ini", "[input]\npath = in.csv\n");
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_int_equal(kp_jobfile_load(&jf, path, &err), 0);
    assert_int_equal(kp_jobfile_set(&jf, "input.path=data/x.csv", &err), 0);
    assert_string_equal(jf.v[KP_KEY_input_path].text, "data/x.csv");
    assert_int_equal(kp_jobfile_set(&jf, "job.plugin=./p.so", &err), 0);
    assert_string_equal(jf.v[KP_KEY_job_plugin].text, "./p.so");
    assert_int_equal(kp_jobfile_set(&jf, "output.path=-", &err), 0);
    assert_string_equal(jf.v[KP_KEY_output_path].text, "-");
    kp_jobfile_free(&jf);
}

static void test_set_empty_value_resets_an_optional_key(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    assert_loads(&jf, "[input]\npath = in.csv\n");
    assert_int_equal(kp_jobfile_set(&jf, "input.path=", &err), 0);
    assert_false(jf.v[KP_KEY_input_path].set);
    assert_string_equal(jf.v[KP_KEY_input_path].text, "");
    assert_int_equal(kp_jobfile_set(&jf, "input.range=0:10", &err), 0);
    assert_true(jf.v[KP_KEY_input_range].set);
    assert_int_equal(jf.v[KP_KEY_input_range].stop, 10);
    kp_jobfile_free(&jf);
}

static void test_set_errors(void **state)
{
    (void)state;
    static const struct {
        const char *assignment, *msg;
    } cases[] = {
        {"foo", "--set foo: expected SECTION.KEY=VALUE"},
        {"pool.workers", "--set pool.workers: expected SECTION.KEY=VALUE"},
        {"workers=3", "--set workers=3: expected SECTION.KEY=VALUE"},
        {"=3", "--set =3: expected SECTION.KEY=VALUE"},
        {".workers=3", "--set .workers=3: expected SECTION.KEY=VALUE"},
        {"pool.=3", "--set pool.=3: expected SECTION.KEY=VALUE"},
        {"jobs.kernel=x",
         "--set jobs.kernel=x: unknown section [jobs]; sections are [job] [input] [pool] [output]"},
        {"pool.worker=3",
         "--set pool.worker=3: [pool] worker: unknown key (did you mean workers?)"},
        {"pool.workers=x",
         "--set pool.workers=x: [pool] workers: not a number: 'x' (expected auto or an integer "
         ">= 1)"},
        {"pool.workers.x=1",
         "--set pool.workers.x=1: [pool] workers.x: unknown key (did you mean workers?)"},
        {"job.kernel=", "--set job.kernel=: [job] kernel: empty value; this key is required"},
        {"output.order=any", "--set output.order=any: [output] order: not one of input|completion: "
                             "'any'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kp_jobfile jf;
        kp_err err;
        assert_int_equal(kp_jobfile_init(&jf, &err), 0);
        assert_int_equal(kp_jobfile_set(&jf, cases[i].assignment, &err), KPOOL_EJOB);
        assert_err(&err, KPOOL_EJOB, "%s", cases[i].msg);
        /* A failed --set leaves the key as it was. */
        assert_false(jf.v[KP_KEY_pool_workers].set);
        kp_jobfile_free(&jf);
    }
}

/* ---- where() ------------------------------------------------------------ */

static void test_where_names_file_line_or_set(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE], buf[PATH_SIZE], want[PATH_SIZE];

    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    kp_jobfile_where(&jf, KP_KEY_job_plugin, buf, sizeof buf);
    assert_string_equal(buf, "--set [job] plugin");
    kp_jobfile_free(&jf);

    assert_int_equal(load_text(&jf, path, "[job]\n\nkernel = f\n", &err), 0);
    kp_jobfile_where(&jf, KP_KEY_job_kernel, buf, sizeof buf);
    format_into(want, sizeof want, "%s:3: [job] kernel", path);
    assert_string_equal(buf, want);
    kp_jobfile_where(&jf, KP_KEY_pool_workers, buf, sizeof buf);
    format_into(want, sizeof want, "%s: [pool] workers", path);
    assert_string_equal(buf, want);
    assert_int_equal(kp_jobfile_set(&jf, "pool.workers=3", &err), 0);
    kp_jobfile_where(&jf, KP_KEY_pool_workers, buf, sizeof buf);
    assert_string_equal(buf, "--set [pool] workers");

    /* A short buffer is truncated, never overrun; n = 0 writes nothing. */
    char small[8] = "xxxxxxx";
    kp_jobfile_where(&jf, KP_KEY_pool_workers, small, sizeof small);
    assert_string_equal(small, "--set [");
    small[0] = 'y';
    kp_jobfile_where(&jf, KP_KEY_pool_workers, small, 0);
    assert_int_equal(small[0], 'y');
    kp_jobfile_free(&jf);
}

/* ---- validate() --------------------------------------------------------- */

/* Loads `text`, then validates; on failure err holds the message. */
static int validate_text(char *path, const char *text, kp_err *err)
{
    kp_jobfile jf;
    int rc = load_text(&jf, path, text, err);
    if (rc != 0)
        fail_msg("load failed: %s", err->msg);
    rc = kp_jobfile_validate(&jf, err);
    kp_jobfile_free(&jf);
    return rc;
}

static void assert_valid(const char *text)
{
    kp_err err;
    char path[PATH_SIZE];
    if (validate_text(path, text, &err) != 0)
        fail_msg("unexpected error: %s", err.msg);
}

/* Expects validation to fail with "<job.ini>" + tail. */
static void assert_invalid(const char *text, const char *tail)
{
    kp_err err;
    char path[PATH_SIZE];
    int rc = validate_text(path, text, &err);
    if (rc == 0)
        fail_msg("valid, but expected '%s'", tail);
    assert_int_equal(rc, KPOOL_EJOB);
    assert_err(&err, KPOOL_EJOB, "%s%s", path, tail);
}

#define JOB "[job]\nplugin = p.so\nkernel = k\n"

static void test_validate_accepts_complete_jobs(void **state)
{
    (void)state;
    assert_valid(JOB "[input]\nrange = 0:10\n");
    assert_valid(JOB "mode = apply\nargs = 1, 2\n");
    assert_valid(JOB "[input]\npath = data.CSV\nheader = true\n");
    assert_valid(JOB "[input]\npath = -\nformat = jsonl\n");
    assert_valid(JOB "[input]\npath = d.npy\nheader = false\n");
    assert_valid(JOB "[input]\nrange = 0:10\n[pool]\ninitializer = init\ninitargs = 1\n");
    assert_valid(JOB "[input]\nrange = 0:10\n[output]\norder = completion\nindex = false\n");
    assert_valid(JOB "[input]\nrange = 0:10\n[output]\nformat = npy\npath = out.npy\n"
                     "journal = out.journal\nerrors = failed.jsonl\n");
}

static void test_validate_required_keys(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    assert_int_equal(kp_jobfile_init(&jf, &err), 0);
    assert_int_equal(kp_jobfile_validate(&jf, &err), KPOOL_EJOB);
    assert_err(&err, KPOOL_EJOB, "--set [job] plugin: required key is missing");
    assert_int_equal(kp_jobfile_set(&jf, "job.plugin=libm.so.6", &err), 0);
    assert_int_equal(kp_jobfile_validate(&jf, &err), KPOOL_EJOB);
    assert_err(&err, KPOOL_EJOB, "--set [job] kernel: required key is missing");
    assert_int_equal(kp_jobfile_set(&jf, "job.kernel=pow", &err), 0);
    assert_int_equal(kp_jobfile_set(&jf, "job.mode=apply", &err), 0);
    assert_int_equal(kp_jobfile_validate(&jf, &err), 0);
    kp_jobfile_free(&jf);

    assert_invalid("[job]\nkernel = k\n[input]\nrange = 0:1\n",
                   ": [job] plugin: required key is missing");
    assert_invalid("[job]\nplugin = p.so\n[input]\nrange = 0:1\n",
                   ": [job] kernel: required key is missing");
}

static void test_validate_input_rules(void **state)
{
    (void)state;
    assert_invalid(JOB "mode = apply\n[input]\npath = d.csv\n",
                   ":6: [input] path: mode = apply takes no input (one task with literal args; "
                   "see [job] mode (line 4)); remove it or use mode = map or starmap");
    assert_invalid(JOB "mode = apply\n[input]\nrange = 0:5\n",
                   ":6: [input] range: mode = apply takes no input (one task with literal args; "
                   "see [job] mode (line 4)); remove it or use mode = map or starmap");
    assert_invalid(JOB "[input]\npath = d.csv\nrange = 0:5\n",
                   ":6: [input] range: cannot be combined with [input] path (line 5); give path "
                   "or range, not both");
    assert_invalid(JOB, ": [input] path: required for mode = starmap (or give [input] range "
                        "instead)");
    assert_invalid(JOB "mode = map\n", ": [input] path: required for mode = map (or give [input] "
                                       "range instead)");
    assert_invalid(JOB "[input]\npath = -\n",
                   ": [input] format: stdin (path = -) needs format = npy|csv|jsonl");
    assert_invalid(JOB "[input]\npath = -\nformat = auto\n",
                   ":6: [input] format: stdin (path = -) needs format = npy|csv|jsonl");
}

static void test_validate_input_format_and_header(void **state)
{
    (void)state;
    /* An extension auto cannot place is the input reader's to report. */
    assert_valid(JOB "[input]\npath = data.txt\n");
    assert_valid(JOB "[input]\npath = data.txt\nformat = csv\nheader = true\n");
    assert_valid(JOB "[input]\npath = data.txt\nheader = true\n");

    assert_invalid(JOB "[input]\npath = d.bin\nformat = npy\nheader = true\n",
                   ":7: [input] header: applies to csv input only, and this input is npy");
    assert_invalid(JOB "[input]\npath = d.jsonl\nheader = yes\n",
                   ":6: [input] header: applies to csv input only, and this input is jsonl (by "
                   "its extension)");
    assert_invalid(JOB "[input]\npath = d.NDJSON\nheader = 1\n",
                   ":6: [input] header: applies to csv input only, and this input is jsonl (by "
                   "its extension)");
    assert_invalid(JOB "[input]\npath = in.dir/d.npy\nheader = on\n",
                   ":6: [input] header: applies to csv input only, and this input is npy (by "
                   "its extension)");
    assert_invalid(JOB "[input]\npath = -\nformat = jsonl\nheader = true\n",
                   ":7: [input] header: applies to csv input only, and this input is jsonl");
}

static void test_validate_pool_rules(void **state)
{
    (void)state;
    assert_invalid(JOB "[input]\nrange = 0:1\n[pool]\ninitargs = 1, 2\n",
                   ":7: [pool] initargs: given without [pool] initializer");
}

static void test_validate_output_rules(void **state)
{
    (void)state;
    assert_invalid(JOB "[input]\nrange = 0:1\n[output]\nformat = npy\norder = completion\n",
                   ":8: [output] order: completion cannot be written as npy (one array in input "
                   "order, [output] format (line 7)); use format = csv or jsonl");
    assert_invalid(JOB "[input]\nrange = 0:1\n[output]\nformat = npy\nindex = true\n",
                   ":8: [output] index: an npy output has no index (it is one array in input "
                   "order); use format = csv or jsonl");
    assert_invalid(JOB "[input]\nrange = 0:1\n[output]\nformat = jsonl\nindex = false\n",
                   ":8: [output] index: a jsonl output always has the index; remove index = "
                   "false");
    assert_invalid(JOB "[input]\nrange = 0:1\n[output]\npath = out.csv\njournal = -\n",
                   ":8: [output] journal: must be a file, not -");
    assert_invalid(JOB "[input]\nrange = 0:1\n[output]\njournal = run.journal\n",
                   ":7: [output] journal: needs [output] path to be a file (results on stdout "
                   "cannot be resumed)");
}

static void test_validate_files_must_differ(void **state)
{
    (void)state;
    assert_invalid(JOB "[input]\npath = d.csv\n[output]\npath = d.csv\n",
                   ":7: [output] path: the same file as [input] path (line 5); each needs its "
                   "own file");
    assert_invalid(JOB "[input]\nrange = 0:1\n[output]\npath = o.csv\nerrors = o.csv\n",
                   ":8: [output] errors: the same file as [output] path (line 7); each needs its "
                   "own file");
    assert_invalid(JOB "[input]\nrange = 0:1\n[output]\npath = o.csv\nerrors = e.jsonl\n"
                       "journal = e.jsonl\n",
                   ":9: [output] journal: the same file as [output] errors (line 8); each needs "
                   "its own file");
    /* Different spellings of one existing file are caught by its inode. */
    char data[PATH_SIZE];
    write_text(data, "same.csv", "1\n");
    assert_invalid(JOB "[input]\npath = same.csv\n[output]\npath = ./same.csv\n",
                   ":7: [output] path: the same file as [input] path (line 5); each needs its "
                   "own file");
    /* stdin in and stdout out are not files. */
    assert_valid(JOB "[input]\npath = -\nformat = csv\n[output]\npath = -\n");
}

static void test_validate_names_set_values(void **state)
{
    (void)state;
    kp_jobfile jf;
    kp_err err;
    char path[PATH_SIZE];
    assert_int_equal(load_text(&jf, path, JOB "mode = apply\n", &err), 0);
    assert_int_equal(kp_jobfile_validate(&jf, &err), 0);
    assert_int_equal(kp_jobfile_set(&jf, "input.range=0:3", &err), 0);
    assert_int_equal(kp_jobfile_validate(&jf, &err), KPOOL_EJOB);
    assert_err(&err, KPOOL_EJOB,
               "--set [input] range: mode = apply takes no input (one task with literal args; see "
               "[job] mode (line 4)); remove it or use mode = map or starmap");
    assert_int_equal(kp_jobfile_set(&jf, "job.mode=map", &err), 0);
    assert_int_equal(kp_jobfile_validate(&jf, &err), 0);
    kp_jobfile_free(&jf);
}

/* ---- reference() -------------------------------------------------------- */

static char *reference_text(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    kp_jobfile_reference(out);
    assert_int_equal(fclose(out), 0);
    return text;
}

static void test_reference_lists_every_key(void **state)
{
    (void)state;
    char *text = reference_text(), *again = reference_text();
    assert_string_equal(text, again);
    assert_true(strncmp(text, "| key | default | meaning |\n|---|---|---|\n", 41) == 0);

    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2 + KP_JOB_KEY_COUNT);

    const char *prev = text;
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        char cell[128];
        format_into(cell, sizeof cell, "\n| `%s.%s` | ", kp_job_keys[i].section,
                    kp_job_keys[i].key);
        const char *row = strstr(text, cell);
        assert_non_null(row);
        assert_true(row > prev); /* in table order, so grouped by section */
        prev = row;
        /* Each row has exactly four unescaped '|'. */
        const char *end = strchr(row + 1, '\n');
        int bars = 0;
        for (const char *p = row + 1; p < end; p++)
            bars += *p == '|' && p[-1] != '\\';
        assert_int_equal(bars, 4);
    }
    assert_non_null(strstr(text, "| `job.plugin` | (required) | The shared object"));
    assert_non_null(strstr(text, "| `job.mode` | `starmap` | "));
    assert_non_null(strstr(text, "Choices: `apply`, `map`, `starmap`."));
    assert_non_null(strstr(text, "Choices: `auto`, `npy`, `csv`, `jsonl`."));
    assert_non_null(strstr(text, "| `output.journal` | (none) | "));
    assert_non_null(strstr(text, "| `pool.workers` | `auto` | "));
    assert_non_null(strstr(text, "$\\* (all elements)"));
    free(text);
    free(again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_the_enum),
        cmocka_unit_test(test_load_halt_rules),
        cmocka_unit_test(test_init_every_key_has_its_default),
        cmocka_unit_test(test_free_twice_is_harmless),
        cmocka_unit_test(test_load_spec_example),
        cmocka_unit_test(test_load_resolves_paths_against_the_file),
        cmocka_unit_test(test_load_keeps_a_bare_plugin_name),
        cmocka_unit_test(test_load_from_the_current_folder_keeps_relative_paths),
        cmocka_unit_test(test_load_folder_ending_in_a_slash_joins_cleanly),
        cmocka_unit_test(test_load_inline_and_whole_line_comments),
        cmocka_unit_test(test_load_colon_separator_and_blank_section_names),
        cmocka_unit_test(test_load_crlf_and_bom),
        cmocka_unit_test(test_load_empty_file_keeps_defaults),
        cmocka_unit_test(test_load_good_values_of_every_type),
        cmocka_unit_test(test_load_bool_spellings),
        cmocka_unit_test(test_load_seconds_forms),
        cmocka_unit_test(test_load_range_forms),
        cmocka_unit_test(test_load_empty_value_of_an_optional_key_means_unset),
        cmocka_unit_test(test_load_twice_overlays_the_second_file),
        cmocka_unit_test(test_load_cannot_open),
        cmocka_unit_test(test_load_unknown_section_with_keys),
        cmocka_unit_test(test_load_unknown_empty_section),
        cmocka_unit_test(test_load_unknown_key_suggests_the_closest),
        cmocka_unit_test(test_load_unknown_key_without_suggestion),
        cmocka_unit_test(test_load_key_before_any_section),
        cmocka_unit_test(test_load_key_given_twice),
        cmocka_unit_test(test_load_indented_line_would_continue_a_value),
        cmocka_unit_test(test_load_lines_inih_cannot_parse),
        cmocka_unit_test(test_load_line_length_limit),
        cmocka_unit_test(test_load_nul_byte),
        cmocka_unit_test(test_load_reports_the_first_error),
        cmocka_unit_test(test_load_bad_values),
        cmocka_unit_test(test_set_overrides_a_file_value),
        cmocka_unit_test(test_set_paths_stay_relative_to_the_current_folder),
        cmocka_unit_test(test_set_empty_value_resets_an_optional_key),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_where_names_file_line_or_set),
        cmocka_unit_test(test_validate_accepts_complete_jobs),
        cmocka_unit_test(test_validate_required_keys),
        cmocka_unit_test(test_validate_input_rules),
        cmocka_unit_test(test_validate_input_format_and_header),
        cmocka_unit_test(test_validate_pool_rules),
        cmocka_unit_test(test_validate_output_rules),
        cmocka_unit_test(test_validate_files_must_differ),
        cmocka_unit_test(test_validate_names_set_values),
        cmocka_unit_test(test_reference_lists_every_key),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
