/* mpi/mpi.c - a rank of backend = mpi: the fork before MPI_Init, and the
 * pool process's two roles (see proto.h for who says what).
 *
 * Why fork before MPI_Init: MPI libraries register memory with the network
 * card, map shared segments and start progress threads; a process forked
 * after MPI_Init shares or corrupts that state (Open MPI and MPICH both warn
 * against fork with several transports). So the kpool process forks its
 * pool process first, and only then calls MPI_Init (in the agent module);
 * every worker and relay descends from the pool process, which never calls
 * MPI. A kernel that crashes kills its worker only, never an MPI rank, so
 * MPI's fatal default error handler never sees it. */
#include "mpi.h"

#include "../job.h"
#include "../wire.h"
#include "msg.h"
#include "proto.h"
#include "relay.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the pool process: rank 0 ------------------------------------------ */

static int send_start(int ctl, const size_t *left, size_t nleft, int run)
{
    kp_msg_start st = {
        .h.type = KP_MSG_START, .tasks = nleft, .mapped = left ? nleft : 0, .run = run};
    if (kp_msg_send(ctl, &st, sizeof st, NULL, 0) < 0)
        return -1;
    if (!left)
        return 0;
    size_t per = (KP_MSG_MAX - sizeof(kp_msg_map)) / sizeof(uint64_t);
    kp_msg_map *m = malloc(sizeof *m + per * sizeof(uint64_t));
    if (!m)
        return -1;
    int rc = 0;
    for (size_t off = 0; off < nleft && rc == 0; off += per) {
        size_t n = nleft - off < per ? nleft - off : per;
        m->h.type = KP_MSG_MAP;
        m->count = n;
        for (size_t k = 0; k < n; k++)
            m->index[k] = left[off + k];
        rc = kp_msg_send(ctl, m, sizeof *m + n * sizeof(uint64_t), NULL, 0);
    }
    free(m);
    return rc;
}

static int rank0_start(void *user, kp_pool_config *cfg, const size_t *left, size_t nleft,
                       kp_err *err)
{
    kp_relay_ctx *r = user;
    cfg->remotes = r->size - 1;
    cfg->remote_workers = 0;
    for (int k = 1; k < r->size; k++)
        cfg->remote_workers += r->workers[k];
    cfg->remote_main = kp_mpi_relay_main;
    cfg->remote_user = r;
    cfg->remote_fds = r->fds + 1;
    r->all_workers = cfg->workers + cfg->remote_workers;
    r->started = true;
    if (send_start(r->ctl, left, nleft, 1) < 0)
        return kp_err_set(err, KPOOL_ESYS, "cannot tell the other MPI ranks to start: %s",
                          strerror(errno));
    return 0;
}

static int run_rank0(kpool_job_t *job, int flags, kp_relay_ctx *r)
{
    kp_job_hooks hooks = {.start = rank0_start, .user = r};
    int rc = kp_job_run_local(job, flags, &hooks);
    if (!r->started)
        send_start(r->ctl, NULL, 0, 0); /* the other ranks stop too */
    if (rc < 0 && kpool_job_error(job)[0])
        fprintf(stderr, "kpool: %s\n", kpool_job_error(job));
    return kpool_job_exit_code(job, rc);
}

/* ---- the pool process: the other ranks --------------------------------- */

typedef struct remote {
    int ctl;
    unsigned char *buf; /* a RESULTS packet being filled */
    size_t len;
    bool lost; /* rank 0 is gone */
} remote;

static int remote_feed_read(void *user, kp_feed_kind *kind, uint64_t *start, uint64_t *count)
{
    remote *rm = user;
    kp_msg_chunk c;
    ssize_t n = kp_msg_recv(rm->ctl, &c, sizeof c, NULL, NULL, 1);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n < (ssize_t)sizeof c || c.h.type != KP_MSG_CHUNK)
        return -1;
    *start = c.start;
    *count = c.count;
    switch (c.kind) {
    case KP_CHUNK_RANGE:
        *kind = KP_FEED_RANGE;
        return 1;
    case KP_CHUNK_END:
        *kind = KP_FEED_END;
        return 1;
    case KP_CHUNK_STOP:
        *kind = KP_FEED_STOP;
        return 1;
    default:
        *kind = KP_FEED_STOP_NOW;
        return 1;
    }
}

static int remote_flush(void *user, kp_err *err)
{
    (void)err;
    remote *rm = user;
    if (rm->len > sizeof(kp_msg_head) && !rm->lost &&
        kp_msg_send(rm->ctl, rm->buf, rm->len, NULL, 0) < 0) {
        /* Results that cannot go to rank 0 must not be run for nothing:
         * say why and stop as if interrupted (EPIPE: the agent is gone). */
        rm->lost = true;
        if (errno != EPIPE)
            fprintf(stderr, "kpool: cannot pass results to this rank's agent: %s\n",
                    strerror(errno));
        raise(SIGTERM);
    }
    rm->len = sizeof(kp_msg_head);
    return 0;
}

/* A finished task as the wire record a worker would send (wire.h). */
static int remote_emit(const kp_outcome *o, void *user, kp_err *err)
{
    remote *rm = user;
    kp_wire_result r = {.tag = (uint64_t)o->index & KP_WIRE_INDEX_MASK};
    kp_wire_ext x = {0, 0};
    const char *msg = NULL, *str = NULL;
    if (o->kind == KP_TASK_OK) {
        memcpy(&r.value, &o->value, sizeof r.value);
        if (o->str) {
            str = o->str;
            x.str_len = (uint32_t)strlen(str);
        }
    } else {
        r.value = KP_WIRE_FAILURE_VALUE(o->attempts, o->signal);
        msg = o->message ? o->message : "";
        size_t ml = strlen(msg);
        x.msg_len = (uint32_t)(ml > KP_WIRE_MSG_MAX ? KP_WIRE_MSG_MAX : ml);
    }
    bool ext = o->kind != KP_TASK_OK || str;
    if (ext)
        r.tag |= (uint64_t)(o->kind | KP_WIRE_EXT) << KP_WIRE_KIND_SHIFT;
    size_t size = sizeof r + (ext ? sizeof x + x.msg_len + x.str_len : 0);
    if (rm->len + size > KP_MSG_MAX)
        remote_flush(rm, err);
    if (rm->len + size > KP_MSG_MAX)
        return kp_err_set(err, KPOOL_ENOTSUP,
                          "task %zu: a string result of %u bytes is too long for backend = mpi "
                          "(at most %d)",
                          o->index, x.str_len, KP_MSG_MAX - 64);
    unsigned char *p = rm->buf + rm->len;
    memcpy(p, &r, sizeof r);
    if (ext) {
        memcpy(p + sizeof r, &x, sizeof x);
        if (x.msg_len)
            memcpy(p + sizeof r + sizeof x, msg, x.msg_len);
        if (x.str_len)
            memcpy(p + sizeof r + sizeof x + x.msg_len, str, x.str_len);
    }
    rm->len += size;
    return 0;
}

static void remote_started(void *user)
{
    remote *rm = user;
    kp_msg_head h = {.type = KP_MSG_READY};
    if (!rm->lost && kp_msg_send(rm->ctl, &h, sizeof h, NULL, 0) < 0)
        rm->lost = true;
}

static int run_remote(kpool_job_t *job, int ctl)
{
    kp_msg_start st;
    ssize_t n = kp_msg_recv(ctl, &st, sizeof st, NULL, NULL, 0);
    if (n != (ssize_t)sizeof st || st.h.type != KP_MSG_START || !st.run)
        return 0; /* rank 0 could not start, and says why */
    size_t *map = NULL;
    if (st.mapped) {
        map = malloc(st.mapped * sizeof *map);
        unsigned char *pkt = malloc(KP_MSG_MAX);
        size_t got = 0;
        while (map && pkt && got < st.mapped) {
            n = kp_msg_recv(ctl, pkt, KP_MSG_MAX, NULL, NULL, 0);
            const kp_msg_map *m = (const kp_msg_map *)pkt;
            if (n < (ssize_t)sizeof *m || m->h.type != KP_MSG_MAP || m->count > st.mapped - got)
                break;
            for (uint64_t k = 0; k < m->count; k++)
                map[got++] = (size_t)m->index[k];
        }
        free(pkt);
        if (got < st.mapped) {
            free(map);
            fprintf(stderr, "kpool: the list of tasks to resume did not arrive from rank 0\n");
            return 3;
        }
    }
    remote rm = {.ctl = ctl, .buf = malloc(KP_MSG_MAX), .len = sizeof(kp_msg_head)};
    if (!rm.buf) {
        free(map);
        return 3;
    }
    ((kp_msg_head *)rm.buf)->type = KP_MSG_RESULTS;
    ((kp_msg_head *)rm.buf)->pad = 0;

    kp_task_ctx *ctx = kp_job_task_ctx(job);
    ctx->index_map = map;
    kp_pool_feed feed = {.fd = ctl, .read = remote_feed_read, .user = &rm};
    kp_pool_config cfg;
    kp_job_pool_config(job, &cfg);
    /* Rank 0 orders, counts, halts and reports: this rank only runs. */
    cfg.completion_order = true;
    cfg.stop_on_error = false;
    cfg.stop_now = false;
    cfg.not_run_tail = false;
    cfg.feed = &feed;
    kp_pool_sink sink = {
        .emit = remote_emit, .flush = remote_flush, .started = remote_started, .user = &rm};
    kp_pool_stats stats;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_pool_run(&cfg, ctx, (size_t)st.tasks, &sink, &stats, &err);
    remote_flush(&rm, &err);
    ctx->index_map = NULL;
    kp_msg_exit ex = {.h.type = KP_MSG_EXIT,
                      .status = kpool_job_exit_code(job, rc),
                      .failed = err.code != 0 && rc != KPOOL_EINTR,
                      .interrupted = stats.interrupted_by != 0};
    snprintf(ex.text, sizeof ex.text, "%s", err.msg);
    if (!rm.lost)
        kp_msg_send(ctl, &ex, sizeof ex, NULL, 0);
    free(rm.buf);
    free(map);
    return 0;
}

/* ---- the pool process -------------------------------------------------- */

/* True when process `pid` is exiting or gone: /proc shows it a zombie, or
 * its flags PF_EXITING, or it is not there. */
static bool exiting(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* pid (comm) state ppid pgrp session tty_nr tpgid flags ...; comm may
     * hold spaces and parentheses, so fields count from the last ')'. */
    const char *p = strrchr(buf, ')');
    char state;
    unsigned long flags;
    if (!p || sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
        return false;
    return state == 'Z' || state == 'X' || (flags & 0x4); /* PF_EXITING */
}

/* After rank 0's run stopped on SIGTERM: true when the agent is gone or
 * going, not merely forwarding a SIGTERM. The parent-death signal comes
 * when the agent's first thread exits; its end of ctl closes only when its
 * last thread has torn down its memory, which under load took longer than
 * the 100 ms this waits for it (1 run in 15 of the MPI tests), so the
 * agent's state in /proc says it too. */
static bool agent_died(int ctl, pid_t agent)
{
    if (getppid() != agent || exiting(agent))
        return true;
    struct pollfd p = {.fd = ctl, .events = POLLIN};
    char c;
    return (poll(&p, 1, 100) == 1 && recv(ctl, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) ||
           getppid() != agent || exiting(agent);
}

static _Noreturn void pool_process(kpool_job_t *job, int flags, int ctl, pid_t agent)
{
    /* Die with the agent (SIGTERM: stop and write what finished). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != agent)
        _exit(3);
    /* Signals reach this process group only through the agent. SIGTERM
     * stays blocked outside the pool's wait (pool.c takes it there), so a
     * SIGTERM during setup stops the run as soon as it starts, and a second
     * one cannot kill this process while it writes what finished: the
     * parent-death signal comes once per thread of the agent (MPI starts
     * threads), and hydra kills every rank with SIGKILL when one dies. */
    setpgid(0, 0);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);

    kp_msg_hello hello = {.h.type = KP_MSG_HELLO};
    int rc = kp_job_prepare(job);
    if (rc == 0)
        rc = kp_job_fingerprint(job, &hello.fp, true);
    if (rc == 0) {
        kp_pool_config cfg;
        kp_job_pool_config(job, &cfg);
        hello.workers = cfg.workers;
    }
    hello.rc = rc;
    hello.exit_status = rc < 0 ? kpool_job_exit_code(job, rc) : 0;
    snprintf(hello.text, sizeof hello.text, "%s", rc < 0 ? kpool_job_error(job) : "");
    if (kp_msg_send(ctl, &hello, sizeof hello, NULL, 0) < 0)
        _exit(3);

    size_t cap = sizeof(kp_msg_setup) + KP_MPI_MAX_RANKS * sizeof(int32_t);
    kp_msg_setup *setup = malloc(cap);
    if (!setup)
        _exit(3);
    ssize_t n = kp_msg_recv(ctl, setup, cap, NULL, NULL, 0);
    if (n < (ssize_t)sizeof *setup || setup->h.type != KP_MSG_SETUP)
        _exit(n >= (ssize_t)sizeof *setup && setup->h.type == KP_MSG_ABORT ? setup->exit_status
                                                                           : 3);
    int status;
    if (setup->rank == 0) {
        kp_relay_ctx r = {.ctl = ctl, .size = setup->size, .workers = setup->workers};
        r.fds = malloc(sizeof(int) * (size_t)(setup->size > 0 ? setup->size : 1));
        if (!r.fds)
            _exit(3);
        /* One socket per other rank, in packets of at most 250. */
        for (int got = 1; got < setup->size;) {
            int want = setup->size - got > 250 ? 250 : setup->size - got;
            kp_msg_head h;
            int nfds = want;
            n = kp_msg_recv(ctl, &h, sizeof h, r.fds + got, &nfds, 0);
            if (n != (ssize_t)sizeof h || nfds != want)
                _exit(3);
            got += nfds;
        }
        /* Each other rank costs rank 0 three descriptors. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        status = run_rank0(job, flags, &r);
        free(r.fds);
        /* A dead agent cannot say what stopped the run; say it here. */
        if (status == 143 && agent_died(ctl, agent))
            fprintf(stderr,
                    "kpool: rank 0's MPI process died before the run ended (MPI launchers kill "
                    "every rank when one rank is lost: a process or its node died); with the "
                    "results in a file, `kpool run --resume` runs the tasks left, on MPI or on "
                    "one machine\n");
    } else {
        status = run_remote(job, ctl);
    }
    free(setup);
    fflush(NULL);
    _exit(status);
}

/* ---- the agent --------------------------------------------------------- */

/* The agent module sits next to libkpool (build tree and install alike);
 * KPOOL_MPI_MODULE names another. */
static void *load_agent(kp_err *err)
{
    const char *env = getenv("KPOOL_MPI_MODULE");
    char path[4096];
    if (env && env[0]) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        Dl_info info;
        if (!dladdr((void *)load_agent, &info) || !info.dli_fname) {
            kp_err_set(err, KPOOL_ENOTSUP, "backend = mpi: cannot find where libkpool is");
            return NULL;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", info.dli_fname);
        snprintf(path, sizeof path, "%s/libkpool_mpi.so", dirname(dir));
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        kp_err_set(err, KPOOL_ENOTSUP,
                   "backend = mpi needs kpool's MPI module, which this kpool does not have "
                   "(%s); build kpool with MPI (Debian: apt-get install libmpich-dev mpich) or "
                   "use backend = local",
                   dlerror());
        return NULL;
    }
    return h;
}

int kpool_mpi_available(char *buf, size_t size)
{
    kp_err err;
    kp_err_clear(&err);
    void *module = load_agent(&err);
    if (!module) {
        snprintf(buf, size, "not available: %s", err.msg);
        return 0;
    }
    Dl_info info;
    void *sym = dlsym(module, KP_MPI_AGENT_SYMBOL);
    if (sym && dladdr(sym, &info) && info.dli_fname)
        snprintf(buf, size, "%s", info.dli_fname);
    else
        snprintf(buf, size, "the module lacks %s", KP_MPI_AGENT_SYMBOL);
    return sym != NULL;
}

int kp_mpi_run(kpool_job_t *job, int flags)
{
    kp_err *err = kp_job_err(job);
    void *module = load_agent(err);
    if (!module)
        return KPOOL_ENOTSUP;
    kp_mpi_agent_fn agent;
    *(void **)&agent = dlsym(module, KP_MPI_AGENT_SYMBOL);
    if (!agent) {
        dlclose(module);
        return kp_err_set(err, KPOOL_ENOTSUP, "kpool's MPI module lacks %s", KP_MPI_AGENT_SYMBOL);
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        dlclose(module);
        return kp_err_set(err, KPOOL_ESYS, "cannot create a socket: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t agent_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        dlclose(module);
        return kp_err_set(err, KPOOL_ESYS, "cannot start the pool process: %s", strerror(errno));
    }
    if (pid == 0) {
        close(sv[0]);
        pool_process(job, flags, sv[1], agent_pid);
    }
    close(sv[1]);
    kp_mpi_agent_result res = {.exit_status = 3};
    agent(sv[0], (int)pid, &res);
    close(sv[0]);
    /* The module stays loaded: MPI libraries do not survive dlclose. */
    if (res.text[0]) {
        kp_job_set_exit_status(job, res.exit_status);
        kp_err_set(err, KPOOL_EJOB, "%s", res.text);
        return KPOOL_EJOB;
    }
    kp_job_set_exit_status(job, res.exit_status);
    return res.exit_status == 0 ? 0 : KPOOL_EFAILED;
}
