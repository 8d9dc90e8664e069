/* main.c - the kpool command line. It parses arguments and calls libkpool;
 * everything else lives in the library, except `kpool new`'s templates
 * (scaffold.c), which only the binary needs. */
#include <kpool/kpool.h>
#include <kpool/plugin.h>

#include "scaffold.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: kpool run JOB.ini [-j N] [-o PATH] [--set SECTION.KEY=VALUE]... [--resume]\n"
    "                 [--progress | --quiet] [--trace FILE.jsonl] [--report FILE.html]\n"
    "       kpool check JOB.ini [-j N] [-o PATH] [--set SECTION.KEY=VALUE]...\n"
    "       kpool inspect PLUGIN.so\n"
    "       kpool info\n"
    "       kpool new NAME [DIR]\n"
    "       kpool help [COMMAND] | kpool COMMAND --help\n"
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
    "  new NAME [DIR]   write a ready-to-build plugin project: kernel, CMakeLists.txt,\n"
    "                   job file and sample input\n"
    "  help [COMMAND]   this overview, or the help of one command\n"
    "\n"
    "Options of run and check (before or after JOB.ini):\n"
    "  -j N                        same as --set pool.workers=N\n"
    "  -o PATH                     same as --set output.path=PATH\n"
    "  --set SECTION.KEY=VALUE     override one job-file key (repeatable);\n"
    "                              paths are relative to the current directory\n"
    "Options of run only:\n"
    "  --resume                    after an interruption (Ctrl-C, kill -9), run only\n"
    "                              the tasks the journal (OUTPUT.journal) lacks\n"
    "  --progress                  draw the progress bar even when stderr is not a terminal\n"
    "  -q, --quiet                 no progress bar and no summary line on stderr\n"
    "  --trace FILE.jsonl          write every task attempt to a JSON lines file\n"
    "  --report FILE.html          write a self-contained HTML report of the run\n"
    "\n"
    "Exit status: 0 every task succeeded; 1 some tasks failed (the others' results\n"
    "are written); 2 usage, job-file, plugin or signature error (nothing ran);\n"
    "3 system failure; 130/143 interrupted by SIGINT/SIGTERM.\n"
    "\n"
    "'kpool COMMAND --help' explains one command; the job file's keys are in\n"
    "kpool.ini(5), the whole command line in kpool(1).\n";

/* The help of each command: `kpool CMD --help` and `kpool help CMD`. */
static const char run_help[] =
    "usage: kpool run JOB.ini [options]\n"
    "\n"
    "Runs the job JOB.ini describes: each input record becomes one task, the kernel\n"
    "runs the tasks on a pool of worker processes, and the results go to [output]\n"
    "path (stdout by default), one per task. A task that fails, crashes or times out\n"
    "costs that task only; it is reported on stderr and the run goes on.\n"
    "\n"
    "Options (before or after JOB.ini):\n"
    "  -j N                        worker processes; same as --set pool.workers=N\n"
    "  -o PATH                     where results go; same as --set output.path=PATH\n"
    "  --set SECTION.KEY=VALUE     override one job-file key, e.g. --set pool.chunksize=100\n"
    "                              (repeatable, applied in order; paths are relative\n"
    "                              to the current directory)\n"
    "  --resume                    after an interruption (Ctrl-C, SIGTERM, kill -9), keep\n"
    "                              the results the output holds and run only the tasks\n"
    "                              the journal (OUTPUT.journal) lacks; needs the output in\n"
    "                              a file, and refuses when the job, plugin or input changed\n"
    "  --progress                  draw the progress bar even when stderr is not a terminal\n"
    "  -q, --quiet                 no progress bar and no summary line\n"
    "  --trace FILE.jsonl          write every task attempt as JSON lines: its worker,\n"
    "                              start, duration, attempt and outcome (one line per\n"
    "                              run of tasks a worker ran back to back)\n"
    "  --report FILE.html          write a self-contained HTML report: a timeline per\n"
    "                              worker, throughput, task durations and failures\n"
    "  -h, --help                  this help\n"
    "\n"
    "On a terminal, a progress bar on stderr shows done/total, rate, ETA and\n"
    "failures; the run ends with one summary line on stderr.\n"
    "\n"
    "Exit status: 0 every task succeeded; 1 some tasks failed (the others' results\n"
    "are written); 2 usage, job-file, plugin or signature error (nothing ran);\n"
    "3 system failure; 130/143 interrupted by SIGINT/SIGTERM.\n"
    "\n"
    "Example: kpool run config/seed.ini -j 4 -o results.csv\n";

static const char check_help[] =
    "usage: kpool check JOB.ini [-j N] [-o PATH] [--set SECTION.KEY=VALUE]...\n"
    "\n"
    "Validates everything a run needs and runs nothing: the job file's keys, the\n"
    "plugin and its ABI, the kernel and its signature, the args template against\n"
    "the signature, the input, and the output. Then prints what would run: the\n"
    "kernel with its signature and the C prototype it must have, the input, the\n"
    "number of tasks, the workers and how they claim tasks (chunking), and the\n"
    "output. No output file or journal is written.\n"
    "\n"
    "Options (before or after JOB.ini):\n"
    "  -j N                        same as --set pool.workers=N\n"
    "  -o PATH                     same as --set output.path=PATH\n"
    "  --set SECTION.KEY=VALUE     override one job-file key (repeatable)\n"
    "  -h, --help                  this help\n"
    "\n"
    "Exit status: 0 the job is valid; 2 it is not (the message names the file,\n"
    "line and key, and what is wrong).\n";

static const char inspect_help[] =
    "usage: kpool inspect PLUGIN.so\n"
    "\n"
    "Lists the kernels a kpool plugin exports: for each, its name, its signature\n"
    "(\"i64 (i64[] row, i64 minimum, i64 maximum)\") and the C prototype the\n"
    "function must have (an array parameter T[] is two C parameters: const T *\n"
    "and size_t). PLUGIN.so is a path, or a bare name the dynamic loader finds.\n"
    "For a shared object without a kpool descriptor (libm.so.6) it says so: any\n"
    "function it exports can still be a kernel, with a signature in the job file.\n"
    "\n"
    "Exit status: 0 listed; 2 the plugin cannot be loaded or was built for\n"
    "another ABI.\n";

static const char info_help[] =
    "usage: kpool info\n"
    "\n"
    "Prints kpool's version, the plugin ABI it speaks, the number of CPUs this\n"
    "process may use (its affinity mask, capped by a cgroup CPU quota: what\n"
    "workers = auto means), and the backends built in.\n";

static const char new_help[] =
    "usage: kpool new NAME [DIR]\n"
    "\n"
    "Writes a ready-to-build plugin project into DIR (default: ./NAME): NAME.c, a\n"
    "documented kernel declared with KPOOL_KERNEL_TYPED; CMakeLists.txt, which\n"
    "builds libNAME.so against an installed kpool (find_package(kpool)); NAME.ini,\n"
    "a job that runs the kernel; a small sample input; and a README.md. Then\n"
    "prints the commands that build and run it.\n"
    "\n"
    "NAME must be a C identifier. An existing DIR that is not empty is refused:\n"
    "nothing is ever overwritten.\n";

static const char help_help[] =
    "usage: kpool help [COMMAND]\n"
    "\n"
    "Without COMMAND, prints the overview (as kpool --help does); with one,\n"
    "prints that command's help (as kpool COMMAND --help does). Commands: run,\n"
    "check, inspect, info, new, help.\n";

static const struct {
    const char *name, *help;
} command_helps[] = {
    {"run", run_help},   {"check", check_help}, {"inspect", inspect_help},
    {"info", info_help}, {"new", new_help},     {"help", help_help},
};

/* The help of command `name`, or NULL when there is no such command. */
static const char *command_help(const char *name)
{
    for (size_t i = 0; i < sizeof command_helps / sizeof command_helps[0]; i++)
        if (strcmp(command_helps[i].name, name) == 0)
            return command_helps[i].help;
    return NULL;
}

static bool is_help_option(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* True when the arguments after a command ask for its help. The value of an
 * option that takes one is skipped, so that `-o -h` still names a file. */
static bool wants_help(int argc, char **argv)
{
    static const char *const with_value[] = {"-j", "-o", "--set", "--trace", "--report"};
    for (int i = 0; i < argc; i++) {
        if (is_help_option(argv[i]))
            return true;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
            if (strcmp(argv[i], with_value[k]) == 0) {
                i++;
                break;
            }
        }
    }
    return false;
}

static int overview(void)
{
    fputs(usage_text, stdout);
    fputs("\n", stdout);
    fputs(help_text, stdout);
    return 0;
}

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
    char mpi[512];
    if (kpool_mpi_available(mpi, sizeof mpi))
        printf("backends: local, mpi (%s)\n", mpi);
    else
        printf("backends: local (mpi: %s)\n", mpi);
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

static int cmd_new(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-')
            return usage_error("new: unknown option '%s'", argv[i]);
    if (argc < 1 || argc > 2)
        return usage_error("new takes a plugin name and an optional folder%s", "");
    kp_err err = {0};
    int rc = kp_scaffold_new(argv[0], argc == 2 ? argv[1] : NULL, stdout, &err);
    if (rc < 0) {
        fprintf(stderr, "kpool: %s\n", err.msg);
        return rc == KPOOL_EINVAL ? 2 : 3;
    }
    return 0;
}

/* run and check share their options. */
static int cmd_job(int argc, char **argv, int run)
{
    const char *path = NULL;
    int quiet = 0, resume = 0, progress = 0;
    const char *trace = NULL, *report = NULL; /* --trace FILE, --report FILE */
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
        } else if (strcmp(a, "--trace") == 0 || strcmp(a, "--report") == 0) {
            if (i + 1 >= argc) {
                status = usage_error("%s needs a file", a);
                goto out;
            }
            *(a[2] == 't' ? &trace : &report) = argv[++i];
        } else if (strncmp(a, "--trace=", 8) == 0) {
            trace = a + 8;
        } else if (strncmp(a, "--report=", 9) == 0) {
            report = a + 9;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--resume") == 0) {
            resume = 1;
        } else if (strcmp(a, "--progress") == 0) {
            progress = 1;
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
    if (progress && quiet) {
        status =
            usage_error("--progress draws the bar and --quiet hides it: give one of them%s", "");
        goto out;
    }
    if (!run && (trace || report)) {
        status = usage_error("--trace and --report are options of run, not of check%s", "");
        goto out;
    }
    int rc = kpool_job_open(&job, path);
    for (int i = 0; rc == 0 && i < nsets; i++)
        rc = kpool_job_set(job, sets[i]);
    if (rc == 0 && (trace || report))
        rc = kpool_job_set_trace(job, trace, report);
    if (rc == 0)
        rc = run ? kpool_job_run(job, (quiet ? KPOOL_RUN_QUIET : 0) |
                                          (resume ? KPOOL_RUN_RESUME : 0) |
                                          (progress ? KPOOL_RUN_PROGRESS : 0))
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
    if (is_help_option(cmd) || (strcmp(cmd, "help") == 0 && argc == 2))
        return overview();
    if (strcmp(cmd, "help") == 0) {
        if (argc > 3)
            return usage_error("help takes one command%s", "");
        const char *text = is_help_option(argv[2]) ? help_help : command_help(argv[2]);
        if (!text)
            return usage_error("no help for '%s': not a command", argv[2]);
        fputs(text, stdout);
        return 0;
    }
    if (command_help(cmd) && wants_help(argc - 2, argv + 2)) {
        fputs(command_help(cmd), stdout);
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
    if (strcmp(cmd, "new") == 0)
        return cmd_new(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", cmd);
}
