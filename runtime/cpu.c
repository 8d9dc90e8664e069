/* cpu.c - how many CPUs this process may really use.
 *
 * Python's os.cpu_count() counts the machine's CPUs; a process pinned with
 * taskset or limited by a container's CPU quota gets fewer. kpool counts the
 * affinity mask and caps it by the cgroup v2 quota (cpu.max) of the
 * process's own cgroup and its ancestors. */
#include <kpool/kpool.h>

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a quota and period from `path`; cgroup v2 cpu.max holds "QUOTA PERIOD"
 * ("max" = none), v1 holds the quota alone in cpu.cfs_quota_us (-1 = none). */
static int quota_cpus(const char *quota_path, const char *period_path)
{
    long long quota = -1, period = 0;
    char word[32] = "";
    FILE *f = fopen(quota_path, "re");
    if (!f)
        return 0;
    int got = period_path ? fscanf(f, "%31s", word) : fscanf(f, "%31s %lld", word, &period);
    fclose(f);
    if (got < 1 || strcmp(word, "max") == 0)
        return 0;
    quota = atoll(word);
    if (period_path) {
        f = fopen(period_path, "re");
        if (!f)
            return 0;
        if (fscanf(f, "%lld", &period) != 1)
            period = 0;
        fclose(f);
    }
    if (quota <= 0 || period <= 0)
        return 0;
    long long cpus = (quota + period - 1) / period;
    return cpus < 1 ? 1 : (int)(cpus > 1 << 20 ? 1 << 20 : cpus);
}

/* The smallest quota of the cgroup `rel` (below `root`) and its ancestors, or 0. */
static int cgroup_tree_cpus(const char *root, const char *rel, bool v2)
{
    char dir[2048], qpath[4096], ppath[4096];
    int best = 0;
    snprintf(dir, sizeof dir, "%s", rel);
    for (;;) {
        size_t len = strlen(dir);
        while (len > 0 && dir[len - 1] == '/')
            dir[--len] = '\0';
        int cpus;
        if (v2) {
            snprintf(qpath, sizeof qpath, "%s%s/cpu.max", root, dir);
            cpus = quota_cpus(qpath, NULL);
        } else {
            snprintf(qpath, sizeof qpath, "%s%s/cpu.cfs_quota_us", root, dir);
            snprintf(ppath, sizeof ppath, "%s%s/cpu.cfs_period_us", root, dir);
            cpus = quota_cpus(qpath, ppath);
        }
        if (cpus > 0 && (!best || cpus < best))
            best = cpus;
        char *slash = strrchr(dir, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
    return best;
}

/* The CPU quota of this process's cgroup (v2, or v1's cpu controller), or 0. */
static int cgroup_cpus(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return 0;
    char line[4096];
    int cpus = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *controllers = strchr(line, ':');
        char *path = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!path)
            continue;
        *path++ = '\0';
        controllers++;
        int c = 0;
        if (*controllers == '\0')
            c = cgroup_tree_cpus("/sys/fs/cgroup", path, true);
        else if (strcmp(controllers, "cpu") == 0 || strcmp(controllers, "cpu,cpuacct") == 0)
            c = cgroup_tree_cpus(strcmp(controllers, "cpu") == 0 ? "/sys/fs/cgroup/cpu"
                                                                 : "/sys/fs/cgroup/cpu,cpuacct",
                                 path, false);
        if (c > 0 && (!cpus || c < cpus))
            cpus = c;
    }
    fclose(f);
    return cpus;
}

int kpool_cpu_count(void)
{
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
    if (n < 1) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
    }
    int quota = cgroup_cpus();
    if (quota > 0 && quota < n)
        n = quota;
    return n;
}
