/* scaffold.c - `kpool new NAME [DIR]`: the templates of a plugin project and
 * the code that writes them.
 *
 * Every template is a C string in which @NAME@ stands for the plugin's name
 * and @VERSION@ for kpool's MAJOR.MINOR version. The name is checked to be a
 * plain C identifier first, so it can be pasted into C, CMake, INI and
 * Markdown text without quoting. */
#include "scaffold.h"

#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KP_STR_(x)          #x
#define KP_STR(x)           KP_STR_(x)
#define KP_SCAFFOLD_VERSION KP_STR(KPOOL_VERSION_MAJOR) "." KP_STR(KPOOL_VERSION_MINOR)

static const char kernel_template[] =
    "/* @NAME@.c - a kpool plugin: a shared object of kernels that `kpool run` calls.\n"
    " *\n"
    " * A kernel is an ordinary C function. kpool calls it once per task, in one of\n"
    " * its worker processes, with the task's arguments converted to the C types of\n"
    " * its parameters. Here a task is one line of input.csv plus two bounds (see\n"
    " * @NAME@.ini: args = $0, 4, 8), and the kernel returns the sum of the line's\n"
    " * numbers that lie in [minimum, maximum].\n"
    " *\n"
    " * Build: cmake -S . -B build && cmake --build build    (makes build/lib@NAME@.so)\n"
    " * Run:   kpool run @NAME@.ini\n"
    " *\n"
    " * kpool/plugin.h is the only header a plugin needs, and a plugin does not\n"
    " * link libkpool. A kernel runs in a forked worker: what it writes to memory\n"
    " * stays there; only its return value (or its kpool_fail message) comes back.\n"
    " */\n"
    "#include <kpool/plugin.h>\n"
    "\n"
    "/* An `i64[]` parameter is one element of the task's tuple and two C\n"
    " * parameters: a pointer to the elements and their count. The elements belong\n"
    " * to kpool: read them, never write or free them. */\n"
    "static int64_t @NAME@(const int64_t *row, size_t n, int64_t minimum, int64_t maximum)\n"
    "{\n"
    "    if (minimum > maximum) {\n"
    "        /* kpool_fail fails this task with a message. The worker lives on and\n"
    "         * the run goes on with the other tasks; kpool reports the failure and\n"
    "         * exits with status 1 at the end. kpool_fail returns, so that a kernel\n"
    "         * can free what it holds: return right after it (the value is\n"
    "         * ignored). */\n"
    "        kpool_fail(\"minimum %lld is greater than maximum %lld\", (long long)minimum,\n"
    "                   (long long)maximum);\n"
    "        return 0;\n"
    "    }\n"
    "    int64_t sum = 0;\n"
    "    for (size_t i = 0; i < n; i++) {\n"
    "        int64_t x = row[i];\n"
    "        if (x < minimum || x > maximum)\n"
    "            continue;\n"
    "        if ((x > 0 && sum > INT64_MAX - x) || (x < 0 && sum < INT64_MIN - x)) {\n"
    "            kpool_fail(\"the sum overflows int64 at element %zu\", i);\n"
    "            return 0;\n"
    "        }\n"
    "        sum += x;\n"
    "    }\n"
    "    return sum;\n"
    "}\n"
    "\n"
    "/* The plugin's descriptor: the kernels kpool may call, looked up by name\n"
    " * (`kernel = @NAME@` in the job file). KPOOL_KERNEL_TYPED gives the return\n"
    " * type, then one type word per element of the task's tuple: i64_array is the\n"
    " * row, `const int64_t *, size_t` in C. The compiler checks these words\n"
    " * against the function's C type, so a mismatch is a compile error, not a\n"
    " * crash at run time. Type words: i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 bool\n"
    " * str (const char *) and T_array; see kpool/plugin.h. More kernels: more\n"
    " * entries, separated by commas. */\n"
    "KPOOL_PLUGIN(\n"
    "    KPOOL_KERNEL_TYPED(@NAME@, i64, i64_array, i64, i64),\n"
    ")\n";

static const char cmake_template[] =
    "# CMakeLists.txt - builds the kpool plugin @NAME@ into build/lib@NAME@.so.\n"
    "#\n"
    "#     cmake -S . -B build && cmake --build build\n"
    "#     kpool run @NAME@.ini\n"
    "#\n"
    "# find_package(kpool) finds an installed kpool (cmake --install). When it is\n"
    "# installed under a prefix of your own, add -DCMAKE_PREFIX_PATH=PREFIX to the\n"
    "# first command.\n"
    "cmake_minimum_required(VERSION 3.18)\n"
    "project(@NAME@ LANGUAGES C)\n"
    "\n"
    "find_package(kpool @VERSION@ REQUIRED)\n"
    "\n"
    "# A MODULE library lib@NAME@.so, compiled as C11 against kpool/plugin.h. It\n"
    "# does not link libkpool: kpool hands a plugin its services when it loads it.\n"
    "kpool_add_plugin(@NAME@ SOURCES @NAME@.c)\n"
    "target_compile_options(@NAME@ PRIVATE -Wall -Wextra)\n"
    "\n"
    "# `ctest --test-dir build` runs the job with the plugin just built.\n"
    "enable_testing()\n"
    "add_test(NAME @NAME@.job\n"
    "         COMMAND kpool::kpool_exe run ${CMAKE_CURRENT_SOURCE_DIR}/@NAME@.ini\n"
    "                 --set job.plugin=$<TARGET_FILE:@NAME@>)\n";

static const char job_template[] =
    "; @NAME@.ini - runs the kernel @NAME@ of build/lib@NAME@.so over input.csv.\n"
    ";\n"
    "; Each line of input.csv is one task: the line's numbers are the row ($0), and\n"
    "; the task's tuple (row, 4, 8) is unpacked into @NAME@(row, n, minimum, maximum),\n"
    "; as Python's pool.starmap(@NAME@, [(row, 4, 8) for row in rows]) would.\n"
    ";\n"
    ";     kpool run @NAME@.ini                    results on stdout, one line per task\n"
    ";     kpool run @NAME@.ini -o results.csv     results in a file\n"
    ";     kpool check @NAME@.ini                  says what would run, runs nothing\n"
    ";\n"
    "; Every path in this file is relative to this file's folder.\n"
    "\n"
    "[job]\n"
    "plugin  = build/lib@NAME@.so      ; made by: cmake -S . -B build && cmake --build build\n"
    "kernel  = @NAME@\n"
    "mode    = starmap                 ; each task's tuple is unpacked into the C parameters\n"
    "args    = $0, 4, 8                ; the tuple: (row, minimum, maximum)\n"
    "\n"
    "[input]\n"
    "path    = input.csv               ; one row of integers per line\n"
    "\n"
    "[pool]\n"
    "workers = auto                    ; one worker per CPU this process may use\n"
    "\n"
    "[output]\n"
    "path    = -                       ; - = stdout; -o FILE on the command line overrides it\n"
    "format  = csv                     ; one line per task, in input order\n";

/* Rows of different lengths: the kernel gets each row's own length. */
static const char input_template[] = "5,6,7,0,9\n"
                                     "1,2,3,4,5,6,7,8,9\n"
                                     "8,8,8\n"
                                     "0,1,2,3\n"
                                     "4\n"
                                     "10,-3,7,4,12\n";

static const char readme_template[] =
    "# @NAME@ - a kpool plugin\n"
    "\n"
    "`@NAME@.c` holds the kernel `@NAME@`: it sums the numbers of a row that lie\n"
    "in `[minimum, maximum]`. `@NAME@.ini` runs it over every line of `input.csv`\n"
    "with the bounds 4 and 8, as Python's\n"
    "`pool.starmap(@NAME@, [(row, 4, 8) for row in rows])` would.\n"
    "\n"
    "## Build and run\n"
    "\n"
    "```sh\n"
    "cmake -S . -B build && cmake --build build   # makes build/lib@NAME@.so\n"
    "kpool run @NAME@.ini                          # one sum per line of input.csv\n"
    "```\n"
    "\n"
    "When kpool is installed under a prefix of your own, add\n"
    "`-DCMAKE_PREFIX_PATH=PREFIX` to the first command. `ctest --test-dir build`\n"
    "runs the job with the plugin just built.\n"
    "\n"
    "## Next steps\n"
    "\n"
    "- `kpool check @NAME@.ini` validates the job and says what would run;\n"
    "  `kpool inspect build/lib@NAME@.so` lists the plugin's kernels.\n"
    "- Change the kernel in `@NAME@.c`. When you change its parameters, change\n"
    "  the type words of its `KPOOL_KERNEL_TYPED` line too (the compiler checks\n"
    "  them against the function) and the `args` of the job.\n"
    "- A kernel that calls `kpool_fail` fails only its own task; see it with\n"
    "  `kpool run @NAME@.ini --set 'job.args=$0, 8, 4'`.\n"
    "- `-o results.csv` writes the results to a file, `-j 8` runs 8 workers, and\n"
    "  `--set section.key=value` overrides any key of the job file.\n"
    "- The type words, arrays, strings and `kpool_fail` are documented in\n"
    "  `kpool/plugin.h` (in the include folder of the kpool installation).\n";

/* The files of a project, in the order they are written and reported. */
typedef struct scaffold_file {
    const char *name; /* the file name; "@NAME@" is replaced */
    const char *text;
    const char *what; /* a few words for the report */
} scaffold_file;

static const scaffold_file project_files[] = {
    {"@NAME@.c", kernel_template, "the kernel @NAME@"},
    {"CMakeLists.txt", cmake_template, "builds build/lib@NAME@.so"},
    {"@NAME@.ini", job_template, "the job: @NAME@ over input.csv"},
    {"input.csv", input_template, "sample input, one task per line"},
    {"README.md", readme_template, "how to build, run and change it"},
};

#define N_PROJECT_FILES (sizeof project_files / sizeof project_files[0])
#define JOB_FILE        2 /* the index of @NAME@.ini in project_files */

/* Names a kernel cannot have: C keywords (C11 and C23, for compilers that
 * default to C23), and macros or functions of the headers the kernel source
 * includes (plugin.h includes stdarg.h, stdbool.h, stddef.h and stdint.h),
 * with which the function would clash. Names ending in _t and the INT..._MAX
 * family of stdint.h are refused by rule in kp_scaffold_check_name. */
static const char *const taken_names[] = {
    "auto",          "break",       "case",           "char",
    "const",         "continue",    "default",        "do",
    "double",        "else",        "enum",           "extern",
    "float",         "for",         "goto",           "if",
    "inline",        "int",         "long",           "register",
    "restrict",      "return",      "short",          "signed",
    "sizeof",        "static",      "struct",         "switch",
    "typedef",       "union",       "unsigned",       "void",
    "volatile",      "while",       "bool",           "true",
    "false",         "nullptr",     "constexpr",      "static_assert",
    "thread_local",  "alignas",     "alignof",        "typeof",
    "typeof_unqual", "NULL",        "offsetof",       "va_start",
    "va_end",        "va_arg",      "va_copy",        "SIZE_MAX",
    "PTRDIFF_MAX",   "PTRDIFF_MIN", "WCHAR_MAX",      "WCHAR_MIN",
    "WINT_MAX",      "WINT_MIN",    "SIG_ATOMIC_MAX", "SIG_ATOMIC_MIN",
    "main",
};

/* Target names CMake reserves (policy CMP0037) or its generators define. */
static const char *const cmake_reserved[] = {
    "all",           "clean",         "help",           "install",
    "test",          "package",       "package_source", "edit_cache",
    "rebuild_cache", "depend",        "preinstall",     "list_install_components",
    "install_local", "install_strip",
};

/* 1 when `name` is a macro name stdint.h has or C reserves for it: INT or
 * UINT, then anything, then _MAX, _MIN or _C (C11 7.31.10). */
static int is_stdint_macro(const char *name)
{
    size_t len = strlen(name);
    if (strncmp(name, "INT", 3) != 0 && strncmp(name, "UINT", 4) != 0)
        return 0;
    return (len > 4 &&
            (strcmp(name + len - 4, "_MAX") == 0 || strcmp(name + len - 4, "_MIN") == 0)) ||
           (len > 2 && strcmp(name + len - 2, "_C") == 0);
}

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

int kp_scaffold_check_name(const char *name, kp_err *err)
{
    if (!name || !name[0])
        return kp_err_set(err, KPOOL_EINVAL, "new: the plugin's name is empty");
    size_t len = strlen(name);
    if (name[0] >= '0' && name[0] <= '9')
        return kp_err_set(err, KPOOL_EINVAL,
                          "new: '%s' starts with a digit; the name becomes the kernel's C "
                          "function, so it must be a C identifier, e.g. my_kernel",
                          name);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (c >= '0' && c <= '9')))
            return kp_err_set(err, KPOOL_EINVAL,
                              "new: '%s' is not a C identifier: character %zu, '%c', is not a "
                              "letter, digit or '_'; the name becomes the kernel's C function, "
                              "e.g. my_kernel",
                              name, i + 1, c >= ' ' && c < 127 ? c : '?');
    }
    if (len > KP_SCAFFOLD_NAME_MAX)
        return kp_err_set(err, KPOOL_EINVAL,
                          "new: the name '%.20s...' is %zu characters long; at "
                          "most %d are allowed",
                          name, len, KP_SCAFFOLD_NAME_MAX);
    if (name[0] == '_')
        return kp_err_set(err, KPOOL_EINVAL,
                          "new: '%s' starts with '_', which C reserves for the implementation; "
                          "start it with a letter",
                          name);
    if (strncmp(name, "kpool_", 6) == 0 || strncmp(name, "KPOOL_", 6) == 0)
        return kp_err_set(err, KPOOL_EINVAL,
                          "new: '%s' starts with '%.6s', which kpool/plugin.h reserves for its "
                          "own names; choose another name",
                          name, name);
    if (in_list(name, taken_names, sizeof taken_names / sizeof taken_names[0]))
        return kp_err_set(err, KPOOL_EINVAL,
                          "new: '%s' is a C keyword or a name the C headers of a plugin "
                          "define; choose another name",
                          name);
    if (len > 2 && strcmp(name + len - 2, "_t") == 0)
        return kp_err_set(err, KPOOL_EINVAL,
                          "new: '%s' ends in '_t', which POSIX reserves for type names; choose "
                          "another name",
                          name);
    if (is_stdint_macro(name))
        return kp_err_set(err, KPOOL_EINVAL,
                          "new: '%s' is a macro name of <stdint.h>, which plugin.h includes; "
                          "choose another name",
                          name);
    if (in_list(name, cmake_reserved, sizeof cmake_reserved / sizeof cmake_reserved[0]))
        return kp_err_set(err, KPOOL_EINVAL,
                          "new: '%s' is a target name CMake reserves, and the name becomes the "
                          "plugin's CMake target; choose another name",
                          name);
    return 0;
}

/* Returns a malloc'd copy of `text` with every @NAME@ replaced by `name` and
 * every @VERSION@ by kpool's MAJOR.MINOR, or NULL when out of memory. */
static char *expand(const char *text, const char *name)
{
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    if (!f)
        return NULL;
    for (const char *p = text; *p;) {
        if (strncmp(p, "@NAME@", 6) == 0) {
            fputs(name, f);
            p += 6;
        } else if (strncmp(p, "@VERSION@", 9) == 0) {
            fputs(KP_SCAFFOLD_VERSION, f);
            p += 9;
        } else {
            fputc(*p++, f);
        }
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(out);
        return NULL;
    }
    return out;
}

/* "dir/file" without a doubled '/'; malloc'd, NULL when out of memory. */
static char *join_path(const char *dir, const char *file)
{
    size_t n = strlen(dir);
    char *path = NULL;
    if (asprintf(&path, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", file) < 0)
        return NULL;
    return path;
}

/* Writes `s` to `out` quoted for a POSIX shell when it needs quoting. */
static void put_shell_word(FILE *out, const char *s)
{
    int plain = s[0] != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+,:=@%", *p))
            plain = 0;
    if (plain) {
        fputs(s, out);
        return;
    }
    fputc('\'', out);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", out);
        else
            fputc(*p, out);
    }
    fputc('\'', out);
}

/* Returns 1 when the folder `dir` has no entries but . and .., 0 when it has
 * some, -1 with errno when it cannot be read. */
static int folder_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int empty = 1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

/* The prefix kpool is installed under, when this program runs from
 * PREFIX/bin and PREFIX holds kpool's CMake package, so that `kpool new` can
 * tell the user the -DCMAKE_PREFIX_PATH that find_package(kpool) needs. Not
 * reported for /usr and /usr/local, which CMake searches anyway. Returns a
 * malloc'd path or NULL. */
static char *installed_prefix(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash || slash == exe)
        return NULL;
    *slash = '\0'; /* exe is now the binary's folder */
    slash = strrchr(exe, '/');
    if (!slash || strcmp(slash, "/bin") != 0)
        return NULL;
    *slash = '\0'; /* exe is now the prefix ("" for /) */
    if (exe[0] == '\0' || strcmp(exe, "/usr") == 0 || strcmp(exe, "/usr/local") == 0)
        return NULL;
    /* The package is in PREFIX/LIBDIR/cmake/kpool, where LIBDIR is lib, lib64
     * or a multiarch lib/TRIPLET; only a match proves it is kpool's prefix. */
    static const char *const patterns[] = {"/lib*/cmake/kpool/kpoolConfig.cmake",
                                           "/lib/*/cmake/kpool/kpoolConfig.cmake"};
    int found = 0;
    for (size_t i = 0; i < 2 && !found; i++) {
        char pattern[PATH_MAX + 64];
        if (snprintf(pattern, sizeof pattern, "%s%s", exe, patterns[i]) >= (int)sizeof pattern)
            return NULL;
        glob_t g;
        if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0)
            found = g.gl_pathc > 0;
        globfree(&g);
    }
    return found ? strdup(exe) : NULL;
}

static void report_project(FILE *out, const char *name, const char *dir, const char *build,
                           char **paths)
{
    fprintf(out, "kpool: wrote the plugin project %s into %s:\n", name, dir);
    int width = 0;
    for (size_t i = 0; i < N_PROJECT_FILES; i++)
        if ((int)strlen(paths[i]) > width)
            width = (int)strlen(paths[i]);
    for (size_t i = 0; i < N_PROJECT_FILES; i++) {
        char *what = expand(project_files[i].what, name);
        fprintf(out, "  %-*s  %s\n", width, paths[i], what ? what : project_files[i].what);
        free(what);
    }
    char *prefix = installed_prefix();
    fputs("Build it and run it:\n  cmake -S ", out);
    put_shell_word(out, dir);
    fputs(" -B ", out);
    put_shell_word(out, build);
    if (prefix) {
        fputs(" -DCMAKE_PREFIX_PATH=", out);
        put_shell_word(out, prefix);
    }
    fputs(" && cmake --build ", out);
    put_shell_word(out, build);
    fputs("\n  kpool run ", out);
    put_shell_word(out, paths[JOB_FILE]);
    fputc('\n', out);
    free(prefix);
}

int kp_scaffold_new(const char *name, const char *dir, FILE *report, kp_err *err)
{
    int rc = kp_scaffold_check_name(name, err);
    if (rc < 0)
        return rc;
    if (!dir || !dir[0])
        dir = name;

    char *paths[N_PROJECT_FILES] = {NULL};
    char *build = NULL; /* the folder the report tells cmake to build in */
    size_t written = 0;
    int made_dir = 0;
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return kp_err_set(err, KPOOL_EINVAL,
                              "new: %s exists and is not a folder; give another folder as DIR",
                              dir);
        int empty = folder_is_empty(dir);
        if (empty < 0)
            return kp_err_set(err, KPOOL_EIO, "new: cannot read the folder %s: %s", dir,
                              strerror(errno));
        if (!empty)
            return kp_err_set(err, KPOOL_EINVAL,
                              "new: %s exists and is not empty; kpool new never overwrites files: "
                              "give a new or empty folder as DIR (kpool new %s DIR)",
                              dir, name);
    } else if (errno != ENOENT) {
        return kp_err_set(err, KPOOL_EIO, "new: cannot use %s: %s", dir, strerror(errno));
    } else if (mkdir(dir, 0777) != 0) {
        return kp_err_set(err, KPOOL_EIO, "new: cannot create the folder %s: %s%s", dir,
                          strerror(errno),
                          errno == ENOENT ? " (its parent folder does not exist)" : "");
    } else {
        made_dir = 1;
    }

    for (size_t i = 0; i < N_PROJECT_FILES; i++) {
        char *file = expand(project_files[i].name, name);
        paths[i] = file ? join_path(dir, file) : NULL;
        free(file);
        if (!paths[i]) {
            rc = kp_err_set(err, KPOOL_ENOMEM, "new: out of memory");
            goto fail;
        }
    }
    build = join_path(dir, "build");
    if (!build) {
        rc = kp_err_set(err, KPOOL_ENOMEM, "new: out of memory");
        goto fail;
    }
    for (; written < N_PROJECT_FILES; written++) {
        const char *path = paths[written];
        char *text = expand(project_files[written].text, name);
        if (!text) {
            rc = kp_err_set(err, KPOOL_ENOMEM, "new: out of memory");
            goto fail;
        }
        /* "x": create the file or fail, so that a file that appeared since the
         * folder was checked is never overwritten. */
        FILE *f = fopen(path, "wxe");
        if (!f) {
            rc = kp_err_set(err, KPOOL_EIO, "new: cannot create %s: %s", path, strerror(errno));
            free(text);
            goto fail;
        }
        size_t len = strlen(text);
        int bad = fwrite(text, 1, len, f) != len;
        int saved = errno;
        bad |= fclose(f) != 0;
        if (bad)
            saved = errno ? errno : saved;
        free(text);
        if (bad) {
            written++; /* it exists now: remove it too */
            rc = kp_err_set(err, KPOOL_EIO, "new: cannot write %s: %s", path, strerror(saved));
            goto fail;
        }
    }
    if (report)
        report_project(report, name, dir, build, paths);
    free(build);
    for (size_t i = 0; i < N_PROJECT_FILES; i++)
        free(paths[i]);
    return 0;

fail:
    /* Take back what this call wrote, so that a second try starts clean. */
    for (size_t i = 0; i < written; i++)
        unlink(paths[i]);
    if (made_dir)
        rmdir(dir);
    free(build);
    for (size_t i = 0; i < N_PROJECT_FILES; i++)
        free(paths[i]);
    return rc;
}
