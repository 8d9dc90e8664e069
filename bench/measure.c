/* measure.c - runs one command and reports its wall time and peak memory.
 *
 *   measure [-t] -r REPORT -- COMMAND [ARG]...
 *
 * The command inherits stdin, stdout and stderr, so the caller redirects them
 * as for the bare command. Its exit status is measure's exit status (128 +
 * the signal if it was killed); measure's own failures exit with 125.
 *
 * REPORT gets key=value lines:
 *   wall_s          seconds from just before the command starts to the moment
 *                   it has exited and been reaped (CLOCK_MONOTONIC)
 *   status          the exit code, or 128 + the signal that killed it
 *   cpu_s           user + system CPU of the command and of the descendants
 *                   it waited for (wait4's rusage)
 *   tree_maxrss_kb  wait4's ru_maxrss of the command: on Linux the largest
 *                   peak RSS of the command itself and of every descendant it
 *                   (recursively) reaped; what GNU time's %M prints
 *   other_cpu_s     CPU seconds the whole machine was busy during the run
 *                   (/proc/stat) minus cpu_s: what other processes took from
 *                   the cores meanwhile; with USER_HZ ticks, +-0.02 s or so
 *   steal_s         CPU seconds the hypervisor stole from this VM meanwhile
 * With -t (trace) the whole process tree is followed with ptrace, stopping
 * each process only when it forks, execs or exits, and these lines follow:
 *   root_hwm_kb     the command's own peak RSS (VmHWM of /proc/PID/status,
 *                   read at its exit stop, when its memory still exists)
 *   desc_n          how many descendant processes ran (workers)
 *   desc_max_kb     the largest peak RSS among them
 *   desc_sum_kb     the sum of their peaks (an upper bound: pages shared
 *                   with the parent count in every process that maps them)
 *   desc_unmeasured descendants whose peak could not be read
 *   leftover        descendants still alive when the command had exited
 *   proc PID ppid=PPID peak_kb=K end=exit:N|signal:N   one line per process
 * A descendant's peak is VmHWM read at its exit stop, or, when it was killed
 * with SIGKILL (which skips that stop), the ru_maxrss that wait4 returns to
 * the tracer for it; the larger of the two when both exist. Peaks are in KiB.
 *
 * Without -t the command runs untraced: only the first four lines, and
 * tree_maxrss_kb is the only memory figure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct proc {
    pid_t pid;
    pid_t ppid;
    long hwm_kb; /* VmHWM at the exit stop, -1 if not seen */
    long ru_kb;  /* wait4's ru_maxrss, -1 if not seen */
    int ended;
    int end_status;
} proc;

static proc *procs;
static size_t n_procs, cap_procs;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "measure: %s: %s\n", what, strerror(errno));
    exit(125);
}

static proc *find_proc(pid_t pid)
{
    for (size_t i = 0; i < n_procs; i++)
        if (procs[i].pid == pid)
            return &procs[i];
    return NULL;
}

static proc *add_proc(pid_t pid, pid_t ppid)
{
    proc *p = find_proc(pid);
    if (p)
        return p;
    if (n_procs == cap_procs) {
        cap_procs = cap_procs ? 2 * cap_procs : 64;
        procs = realloc(procs, cap_procs * sizeof *procs);
        if (!procs)
            die("realloc");
    }
    p = &procs[n_procs++];
    *p = (proc){.pid = pid, .ppid = ppid, .hwm_kb = -1, .ru_kb = -1};
    return p;
}

/* Reads one "Key:  value" number from /proc/PID/status; -1 if absent. */
static long status_field(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/* Busy and stolen CPU seconds of the whole machine so far (/proc/stat's
 * first line); both 0 when it cannot be read. */
static void machine_cpu(double *busy, double *steal)
{
    unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                       st = 0;
    *busy = *steal = 0;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
                   &iowait, &irq, &softirq, &st);
    fclose(f);
    if (n < 7)
        return;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *busy = (double)(user + nice + sys + irq + softirq) / hz;
    *steal = (double)st / hz;
}

static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 125;
}

static void describe_end(char *buf, size_t len, int st)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exit:%d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "signal:%d", WTERMSIG(st));
    else
        snprintf(buf, len, "unknown");
}

/* Follows the tree under root until no traced task is left. Returns the
 * root's wait status; *t_end is when the root was reaped. */
static int trace_tree(pid_t root, struct rusage *root_ru, double *t_end, int *leftover)
{
    int root_status = 0, root_done = 0;
    *leftover = 0;
    for (;;) {
        int st;
        struct rusage ru;
        pid_t pid = wait4(-1, &st, __WALL, &ru);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD)
                break;
            die("wait4");
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            proc *p = find_proc(pid);
            if (p && !p->ended) {
                p->ended = 1;
                p->end_status = st;
                p->ru_kb = ru.ru_maxrss;
            }
            if (pid == root) {
                *t_end = now_s();
                root_status = st;
                *root_ru = ru;
                root_done = 1;
                for (size_t i = 0; i < n_procs; i++)
                    if (!procs[i].ended && procs[i].pid != root)
                        (*leftover)++;
            }
            continue;
        }
        if (!WIFSTOPPED(st))
            continue;
        int sig = WSTOPSIG(st);
        int event = st >> 16;
        int inject = 0;
        if (sig == SIGTRAP && event) {
            unsigned long msg = 0;
            switch (event) {
            case PTRACE_EVENT_FORK:
            case PTRACE_EVENT_VFORK:
                if (ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) == 0) {
                    long tgid = status_field(pid, "Tgid");
                    add_proc((pid_t)msg, tgid > 0 ? (pid_t)tgid : pid);
                }
                break;
            case PTRACE_EVENT_CLONE:
                /* A thread or, without CLONE_THREAD, a process. */
                if (ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) == 0 &&
                    status_field((pid_t)msg, "Tgid") == (long)msg) {
                    long tgid = status_field(pid, "Tgid");
                    add_proc((pid_t)msg, tgid > 0 ? (pid_t)tgid : pid);
                }
                break;
            case PTRACE_EVENT_EXIT: {
                proc *p = find_proc(pid);
                if (p) {
                    long hwm = status_field(pid, "VmHWM");
                    if (hwm > p->hwm_kb)
                        p->hwm_kb = hwm;
                }
                break;
            }
            default: /* PTRACE_EVENT_EXEC, PTRACE_EVENT_STOP */
                break;
            }
        } else if (event == PTRACE_EVENT_STOP) {
            /* A new tracee's first stop or a group stop: let it run. */
        } else {
            inject = sig; /* a signal on its way to the tracee: deliver it */
        }
        /* The tracee may have been killed meanwhile (ESRCH): not an error. */
        ptrace(PTRACE_CONT, pid, 0, (void *)(intptr_t)inject);
    }
    if (!root_done) {
        fprintf(stderr, "measure: lost track of the command\n");
        exit(125);
    }
    return root_status;
}

int main(int argc, char **argv)
{
    int trace = 0;
    const char *report = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+tr:")) != -1) {
        switch (opt) {
        case 't':
            trace = 1;
            break;
        case 'r':
            report = optarg;
            break;
        default:
            fprintf(stderr, "usage: measure [-t] -r REPORT -- COMMAND [ARG]...\n");
            return 125;
        }
    }
    if (!report || optind >= argc) {
        fprintf(stderr, "usage: measure [-t] -r REPORT -- COMMAND [ARG]...\n");
        return 125;
    }
    char **cmd = argv + optind;

    double busy0, steal0, busy1, steal1;
    machine_cpu(&busy0, &steal0);
    double t0 = now_s(), t_end = 0;
    pid_t root = fork();
    if (root < 0)
        die("fork");
    if (root == 0) {
        if (trace)
            raise(SIGSTOP); /* wait until the parent has attached */
        execvp(cmd[0], cmd);
        fprintf(stderr, "measure: cannot run %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }

    int st, leftover = 0;
    struct rusage ru;
    if (trace) {
        if (waitpid(root, &st, WUNTRACED) < 0)
            die("waitpid");
        if (!WIFSTOPPED(st)) {
            fprintf(stderr, "measure: the command ended before it could be traced\n");
            return 125;
        }
        long opts = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                    PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL;
        if (ptrace(PTRACE_SEIZE, root, 0, (void *)opts) < 0)
            die("ptrace(PTRACE_SEIZE)");
        add_proc(root, getpid());
        t0 = now_s();
        kill(root, SIGCONT);
        st = trace_tree(root, &ru, &t_end, &leftover);
    } else {
        while (wait4(root, &st, 0, &ru) < 0)
            if (errno != EINTR)
                die("wait4");
        t_end = now_s();
    }
    machine_cpu(&busy1, &steal1);

    FILE *f = fopen(report, "we");
    if (!f)
        die(report);
    fprintf(f, "wall_s=%.6f\n", t_end - t0);
    fprintf(f, "status=%d\n", status_code(st));
    double cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    fprintf(f, "cpu_s=%.6f\n", cpu_s);
    fprintf(f, "tree_maxrss_kb=%ld\n", ru.ru_maxrss);
    double other = busy1 - busy0 - cpu_s;
    fprintf(f, "other_cpu_s=%.3f\n", other > 0 ? other : 0.0);
    fprintf(f, "steal_s=%.3f\n", steal1 - steal0);
    if (trace) {
        proc *r = find_proc(root);
        long n = 0, max = 0, sum = 0, unmeasured = 0;
        for (size_t i = 0; i < n_procs; i++) {
            proc *p = &procs[i];
            if (p->pid == root)
                continue;
            long peak = p->hwm_kb > p->ru_kb ? p->hwm_kb : p->ru_kb;
            n++;
            if (peak < 0) {
                unmeasured++;
                continue;
            }
            if (peak > max)
                max = peak;
            sum += peak;
        }
        fprintf(f, "root_hwm_kb=%ld\n", r->hwm_kb);
        fprintf(f, "desc_n=%ld\n", n);
        fprintf(f, "desc_max_kb=%ld\n", n ? max : -1);
        fprintf(f, "desc_sum_kb=%ld\n", n ? sum : -1);
        fprintf(f, "desc_unmeasured=%ld\n", unmeasured);
        fprintf(f, "leftover=%d\n", leftover);
        for (size_t i = 0; i < n_procs; i++) {
            proc *p = &procs[i];
            char end[32];
            long peak = p->hwm_kb > p->ru_kb ? p->hwm_kb : p->ru_kb;
            if (p->pid == root)
                peak = p->hwm_kb;
            describe_end(end, sizeof end, p->end_status);
            fprintf(f, "proc %d ppid=%d peak_kb=%ld hwm_kb=%ld ru_kb=%ld end=%s\n", (int)p->pid,
                    (int)p->ppid, peak, p->hwm_kb, p->ru_kb, p->ended ? end : "running");
        }
    }
    if (fclose(f) != 0)
        die(report);
    return status_code(st);
}
