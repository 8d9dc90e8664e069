/* main.c - the kpool command line. It parses arguments and calls libkpool;
 * everything else lives in the library. */
#include <kpool/kpool.h>
#include <kpool/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: kpool run JOB.ini [-j N] [-o PATH] [--set SECTION.KEY=VALUE]... [--resume] [--quiet]\n"
    "       kpool check JOB.ini [-j N] [-o PATH] [--set SECTION.KEY=VALUE]...\n"
    "       kpool inspect PLUGIN.so\n"
    "       kpool info\n"
    "       kpool --help | --version\n";

static const char help_text[] =
    "kpool runs one compiled C function (a kernel) over many inputs on a pool of\n"
    "worker processes, as Python's multiprocessing.Pool does, described by a job file.\n"
    "\n"
    "Commands:\n"
    "  run JOB.ini      run the job; results go to [output] path (stdout by default)\n"
    "  check JOB.ini    validate the job file, plugin, kernel, signature and input;\n"
    "                   print what would run, and run nothing\n"
    "  inspect PLUGIN   list a plugin's kernels, their signatures and C prototypes\n"
    "  info             version, CPUs this process may use, backends built in\n"
    "\n"
    "Options of run and check (before or after JOB.ini):\n"
    "  -j N                        same as --set pool.workers=N\n"
    "  -o PATH                     same as --set output.path=PATH\n"
    "  --set SECTION.KEY=VALUE     override one job-file key (repeatable);\n"
    "                              paths are relative to the current directory\n"
    "  --resume                    run: after an interruption (Ctrl-C, kill -9), run only\n"
    "                              the tasks the journal (OUTPUT.journal) lacks\n"
    "  --quiet                     no summary line on stderr\n"
    "\n"
    "Exit status: 0 every task succeeded; 1 some tasks failed (the others' results\n"
    "are written); 2 usage, job-file, plugin or signature error (nothing ran);\n"
    "3 system failure; 130/143 interrupted by SIGINT/SIGTERM.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "kpool: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

static int cmd_info(void)
{
    printf("kpool %s\n", kpool_version());
    printf("plugin ABI: %d.%d\n", KPOOL_ABI_MAJOR, KPOOL_ABI_MINOR);
    printf("cpu count: %d (CPUs this process may use: affinity and cgroup quota)\n",
           kpool_cpu_count());
    printf("backends: local (mpi: not built in this version)\n");
    return 0;
}

static int cmd_inspect(int argc, char **argv)
{
    if (argc != 1)
        return usage_error("inspect takes one plugin path%s", "");
    char err[2048];
    if (kpool_plugin_describe(argv[0], stdout, err, sizeof err) < 0) {
        fprintf(stderr, "kpool: %s\n", err);
        return 2;
    }
    return 0;
}

/* run and check share their options. */
static int cmd_job(int argc, char **argv, int run)
{
    const char *path = NULL;
    int quiet = 0, resume = 0;
    /* Overrides are applied after the file is read, in the order given. */
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    char **owned = calloc((size_t)argc + 1, sizeof *owned);
    int nsets = 0, nowned = 0, status = 2;
    kpool_job_t *job = NULL;
    if (!sets || !owned) {
        fprintf(stderr, "kpool: out of memory\n");
        goto out;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-j") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--set") == 0) {
            if (i + 1 >= argc) {
                status = usage_error("%s needs a value", a);
                goto out;
            }
            const char *v = argv[++i];
            if (strcmp(a, "--set") == 0) {
                sets[nsets++] = v;
                continue;
            }
            const char *key = a[1] == 'j' ? "pool.workers=" : "output.path=";
            char *s = malloc(strlen(key) + strlen(v) + 1);
            if (!s) {
                fprintf(stderr, "kpool: out of memory\n");
                goto out;
            }
            strcpy(s, key);
            strcat(s, v);
            owned[nowned++] = s;
            sets[nsets++] = s;
        } else if (strncmp(a, "--set=", 6) == 0) {
            sets[nsets++] = a + 6;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--resume") == 0) {
            resume = 1;
        } else if (strcmp(a, "--progress") == 0) {
            fprintf(stderr, "kpool: --progress is not built yet: this kpool prints one summary "
                            "line when the run ends\n");
            goto out;
        } else if (a[0] == '-' && a[1] != '\0') {
            status = usage_error("unknown option '%s'", a);
            goto out;
        } else if (path) {
            status = usage_error("one job file only; '%s' is a second one", a);
            goto out;
        } else {
            path = a;
        }
    }
    if (!path) {
        status = usage_error("%s needs a job file", run ? "run" : "check");
        goto out;
    }
    int rc = kpool_job_open(&job, path);
    for (int i = 0; rc == 0 && i < nsets; i++)
        rc = kpool_job_set(job, sets[i]);
    if (rc == 0)
        rc = run ? kpool_job_run(job,
                                 (quiet ? KPOOL_RUN_QUIET : 0) | (resume ? KPOOL_RUN_RESUME : 0))
                 : kpool_job_check(job, stdout);
    if (rc < 0 && !job)
        fprintf(stderr, "kpool: %s\n", kpool_strerror(rc));
    else if (rc < 0 && kpool_job_error(job)[0])
        fprintf(stderr, "kpool: %s\n", kpool_job_error(job));
    status = kpool_job_exit_code(job, rc);
out:
    kpool_job_free(job);
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(sets);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        fputs("\n", stdout);
        fputs(help_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("kpool %s\n", kpool_version());
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_job(argc - 2, argv + 2, 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_job(argc - 2, argv + 2, 0);
    if (strcmp(cmd, "inspect") == 0)
        return cmd_inspect(argc - 2, argv + 2);
    if (strcmp(cmd, "info") == 0)
        return cmd_info();
    return usage_error("unknown command '%s'", cmd);
}
