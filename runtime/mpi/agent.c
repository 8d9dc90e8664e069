/* mpi/agent.c - the MPI side of a rank: kpool's MPI module.
 *
 * Built as libkpool_mpi.so and loaded only for backend = mpi, so that a
 * local run never pays for loading an MPI library. The agent is the only
 * process that calls MPI. It checks that every rank loaded the same job,
 * then carries packets: on rank 0 between each relay and its rank, on the
 * other ranks between rank 0 and the rank's pool process.
 *
 * MPI has no descriptor to wait on, so the loop polls its sockets with a
 * timeout and probes MPI in between; the timeout is an eighth of the time
 * since the last packet, between 20 us and 2 ms: small chunks come and go
 * without waiting, and a long chunk costs its agents a few dozen wake-ups
 * and then 500 a second. (A blocking MPI_Recv would spin a core in MPICH.) Errors return
 * instead of aborting the job (MPI_ERRORS_RETURN), so a lost rank ends the
 * run with a message rather than killing rank 0 before it wrote what
 * finished. */
#include "msg.h"
#include "proto.h"

#include <mpi.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TAG         7
#define MAX_WAIT_NS 2000000
#define MIN_WAIT_NS 20000

static volatile pid_t pool_pid;
static volatile sig_atomic_t got_sigterm;

/* Ctrl-C and SIGTERM go to the pool process, which stops its workers and
 * writes what finished (it is in its own process group: one delivery). */
static void forward(int sig)
{
    if (sig == SIGTERM)
        got_sigterm = 1;
    if (pool_pid > 0)
        kill(pool_pid, sig);
}

static int wait_pool(void)
{
    int status = 0;
    while (waitpid(pool_pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void mpi_failed(int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    fprintf(stderr, "kpool: MPI failed (%s): %.*s\n", what, len, s);
}

/* Names what rank r loaded differently from rank 0, or returns NULL. */
static const char *differs(const kp_fingerprint *a, const kp_fingerprint *b)
{
    if (a->plugin != b->plugin)
        return "plugin";
    if (a->input != b->input)
        return "input";
    if (a->job != b->job)
        return "job file (the keys that decide results)";
    if (a->total != b->total)
        return "number of tasks";
    if (a->type != b->type)
        return "kernel return type";
    return NULL;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_or_poll(struct pollfd *fds, int n, int64_t *last_busy_ns, bool busy)
{
    int64_t now = mono_ns(), wait = 0;
    if (busy) {
        *last_busy_ns = now;
    } else {
        /* An eighth of the time since the last packet: a packet is late by
         * at most ~1/8 of the gap before it, and a long gap costs a few
         * dozen wake-ups, not thousands. */
        wait = (now - *last_busy_ns) / 8;
        if (wait < MIN_WAIT_NS)
            wait = MIN_WAIT_NS;
        if (wait > MAX_WAIT_NS)
            wait = MAX_WAIT_NS;
    }
    struct timespec ts = {.tv_sec = 0, .tv_nsec = wait};
    if (ppoll(fds, (nfds_t)n, &ts, NULL) < 0 && errno != EINTR)
        for (int k = 0; k < n; k++)
            fds[k].revents = 0;
}

/* ---- rank 0 ------------------------------------------------------------ */

/* Rank r's relay is gone (it died, or rank 0's pool stopped): nothing will
 * take rank r's results, so stop that rank's workers. */
static void drop_relay(int *socks, const bool *done, int r, bool mpi_ok)
{
    if (socks[r] < 0)
        return;
    close(socks[r]);
    socks[r] = -1;
    kp_msg_chunk c = {.h.type = KP_MSG_CHUNK, .kind = KP_CHUNK_STOP_NOW};
    if (!done[r] && mpi_ok)
        MPI_Send(&c, sizeof c, MPI_BYTE, r, TAG, MPI_COMM_WORLD);
}

static int rank0_relay(int ctl, int size, int *socks)
{
    unsigned char *pkt = malloc(KP_MSG_MAX);
    struct pollfd *fds = calloc((size_t)size + 1, sizeof *fds);
    int *who = calloc((size_t)size + 1, sizeof *who);
    bool *done = calloc((size_t)size, sizeof *done);
    if (!pkt || !fds || !who || !done) {
        fprintf(stderr, "kpool: out of memory\n");
        kill(pool_pid, SIGTERM);
        free(pkt), free(fds), free(who), free(done);
        return wait_pool();
    }
    done[0] = true;
    int status = -1, left = size - 1;
    int64_t last_busy_ns = mono_ns(), pool_gone_ns = 0;
    bool mpi_ok = true;
    while (status < 0 || (left > 0 && mpi_ok)) {
        int n = 0;
        if (status < 0) {
            fds[n] = (struct pollfd){.fd = ctl, .events = POLLIN};
            who[n++] = 0;
        }
        for (int r = 1; r < size; r++) {
            if (socks[r] >= 0) {
                fds[n] = (struct pollfd){.fd = socks[r], .events = POLLIN};
                who[n++] = r;
            }
        }
        bool busy = false;
        int flag = 1;
        while (mpi_ok && flag) {
            MPI_Status st;
            int rc = MPI_Iprobe(MPI_ANY_SOURCE, TAG, MPI_COMM_WORLD, &flag, &st);
            if (rc != MPI_SUCCESS) {
                mpi_failed(rc, "probing for results");
                mpi_ok = false;
                break;
            }
            if (!flag)
                break;
            int len = 0;
            MPI_Get_count(&st, MPI_BYTE, &len);
            int src = st.MPI_SOURCE;
            unsigned char *buf = len <= KP_MSG_MAX ? pkt : malloc((size_t)len);
            rc = buf ? MPI_Recv(buf, len, MPI_BYTE, src, TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE)
                     : MPI_ERR_NO_MEM;
            if (rc != MPI_SUCCESS) {
                mpi_failed(rc, "receiving results");
                mpi_ok = false;
            } else if (src > 0 && src < size) {
                const kp_msg_head *h = (const kp_msg_head *)buf;
                if ((size_t)len >= sizeof *h && h->type == KP_MSG_EXIT && !done[src]) {
                    done[src] = true;
                    left--;
                }
                if (socks[src] >= 0 && kp_msg_send(socks[src], buf, (size_t)len, NULL, 0) < 0)
                    drop_relay(socks, done, src, mpi_ok);
            }
            if (buf != pkt)
                free(buf);
            busy = true;
        }
        if (!mpi_ok) {
            /* The relays see their sockets close and stop the run; the
             * journal keeps what finished. */
            for (int r = 1; r < size; r++) {
                if (socks[r] >= 0)
                    close(socks[r]);
                socks[r] = -1;
            }
            n = status < 0 ? 1 : 0;
        }
        if (status >= 0 && left > 0) {
            /* The pool process ended while other ranks still run (it was
             * killed, or failed): stop them, and give up waiting after a
             * while. */
            int64_t now = (int64_t)time(NULL);
            if (!pool_gone_ns) {
                pool_gone_ns = now;
                for (int r = 1; r < size; r++) {
                    kp_msg_chunk c = {.h.type = KP_MSG_CHUNK, .kind = KP_CHUNK_STOP_NOW};
                    if (!done[r])
                        MPI_Send(&c, sizeof c, MPI_BYTE, r, TAG, MPI_COMM_WORLD);
                }
            } else if (now - pool_gone_ns > 5) {
                break;
            }
        }
        sleep_or_poll(fds, n, &last_busy_ns, busy);
        for (int k = 0; k < n; k++) {
            if (!fds[k].revents)
                continue;
            int r = who[k];
            int fd = r == 0 ? ctl : socks[r];
            ssize_t got = kp_msg_recv(fd, pkt, KP_MSG_MAX, NULL, NULL, 1);
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                continue;
            last_busy_ns = mono_ns();
            if (got <= 0) {
                if (r == 0)
                    status = wait_pool();
                else
                    drop_relay(socks, done, r, mpi_ok);
                continue;
            }
            /* Rank 0's pool sends nothing more after START; a relay sends
             * chunks for its rank. */
            if (r > 0 && mpi_ok) {
                int rc = MPI_Send(pkt, (int)got, MPI_BYTE, r, TAG, MPI_COMM_WORLD);
                if (rc != MPI_SUCCESS) {
                    mpi_failed(rc, "sending tasks");
                    mpi_ok = false;
                }
            }
        }
    }
    if (status < 0) {
        kill(pool_pid, SIGTERM);
        status = wait_pool();
    }
    free(pkt), free(fds), free(who), free(done);
    return status;
}

/* ---- the other ranks --------------------------------------------------- */

static int rank_relay(int ctl)
{
    unsigned char *pkt = malloc(KP_MSG_MAX);
    if (!pkt) {
        kill(pool_pid, SIGTERM);
        return wait_pool();
    }
    bool exit_sent = false, mpi_ok = true, stopped = false;
    int status = -1;
    int64_t last_busy_ns = mono_ns();
    while (status < 0) {
        bool busy = false;
        int flag = 1;
        while (mpi_ok && flag) {
            MPI_Status st;
            int rc = MPI_Iprobe(0, TAG, MPI_COMM_WORLD, &flag, &st);
            if (rc != MPI_SUCCESS || !flag) {
                if (rc != MPI_SUCCESS) {
                    mpi_failed(rc, "probing for tasks");
                    mpi_ok = false;
                }
                break;
            }
            int len = 0;
            MPI_Get_count(&st, MPI_BYTE, &len);
            rc = len > KP_MSG_MAX
                     ? MPI_ERR_TRUNCATE
                     : MPI_Recv(pkt, len, MPI_BYTE, 0, TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) {
                mpi_failed(rc, "receiving tasks");
                mpi_ok = false;
                break;
            }
            kp_msg_send(ctl, pkt, (size_t)len, NULL, 0); /* fails only if the pool is gone */
            busy = true;
        }
        if (!mpi_ok && !stopped) {
            stopped = true;
            kill(pool_pid, SIGTERM); /* rank 0 is unreachable: stop, once */
        }
        struct pollfd fd = {.fd = ctl, .events = POLLIN};
        sleep_or_poll(&fd, 1, &last_busy_ns, busy);
        if (!fd.revents)
            continue;
        ssize_t got = kp_msg_recv(ctl, pkt, KP_MSG_MAX, NULL, NULL, 1);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        last_busy_ns = mono_ns();
        if (got <= 0) {
            status = wait_pool();
            break;
        }
        const kp_msg_head *h = (const kp_msg_head *)pkt;
        if ((size_t)got >= sizeof *h && h->type == KP_MSG_EXIT)
            exit_sent = true;
        if (mpi_ok && MPI_Send(pkt, (int)got, MPI_BYTE, 0, TAG, MPI_COMM_WORLD) != MPI_SUCCESS)
            mpi_ok = false;
    }
    if (!exit_sent && mpi_ok) {
        kp_msg_exit ex = {.h.type = KP_MSG_EXIT, .status = status, .failed = 1};
        snprintf(ex.text, sizeof ex.text,
                 "its pool process ended without reporting (exit status %d); the tasks it "
                 "held did not come back",
                 status);
        MPI_Send(&ex, sizeof ex, MPI_BYTE, 0, TAG, MPI_COMM_WORLD);
    }
    free(pkt);
    return status;
}

/* ---- the start --------------------------------------------------------- */

/* Rank 0 reads START (and MAP packets) from its pool and every rank gets
 * them; the other ranks hand them to their pool. False when no run. */
static bool share_start(int rank, int ctl, unsigned char *pkt, bool ok)
{
    kp_msg_start st = {.h.type = KP_MSG_START};
    if (rank == 0 && !ok) {
        kill(pool_pid, SIGTERM);
    } else if (rank == 0) {
        ssize_t n = kp_msg_recv(ctl, &st, sizeof st, NULL, NULL, 0);
        if (n != (ssize_t)sizeof st || st.h.type != KP_MSG_START)
            st = (kp_msg_start){.h.type = KP_MSG_START, .run = 0};
    }
    MPI_Bcast(&st, sizeof st, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank != 0)
        kp_msg_send(ctl, &st, sizeof st, NULL, 0);
    if (!st.run)
        return false;
    for (uint64_t got = 0; got < st.mapped;) {
        uint64_t len = 0;
        if (rank == 0) {
            ssize_t n = kp_msg_recv(ctl, pkt, KP_MSG_MAX, NULL, NULL, 0);
            len = n > (ssize_t)sizeof(kp_msg_map) ? (uint64_t)n : 0;
        }
        MPI_Bcast(&len, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
        if (!len)
            return false;
        MPI_Bcast(pkt, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rank != 0)
            kp_msg_send(ctl, pkt, (size_t)len, NULL, 0);
        got += ((const kp_msg_map *)pkt)->count;
    }
    return true;
}

__attribute__((visibility("default"))) int kpool_mpi_agent(int ctl, int pid,
                                                           kp_mpi_agent_result *res)
{
    pool_pid = pid;
    res->exit_status = 3;
    res->text[0] = '\0';
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        snprintf(res->text, sizeof res->text, "backend = mpi: MPI_Init failed");
        kill(pool_pid, SIGKILL);
        wait_pool();
        return -1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    res->rank = rank;

    /* 1. Every rank loaded the job: the same one? */
    kp_msg_hello hello;
    ssize_t n = kp_msg_recv(ctl, &hello, sizeof hello, NULL, NULL, 0);
    if (n != (ssize_t)sizeof hello || hello.h.type != KP_MSG_HELLO) {
        memset(&hello, 0, sizeof hello);
        hello.rc = -1;
        hello.exit_status = 3;
        snprintf(hello.text, sizeof hello.text, "the pool process died before it was ready");
    }
    kp_msg_hello *all = rank == 0 ? calloc((size_t)size, sizeof *all) : NULL;
    size_t setup_size = sizeof(kp_msg_setup) + (size_t)size * sizeof(int32_t);
    kp_msg_setup *setup = calloc(1, setup_size);
    unsigned char *pkt = malloc(KP_MSG_MAX);
    int verdict[2] = {-1, 0}; /* exit status when the run cannot start, -1 = go */
    if ((rank == 0 && !all) || !setup || !pkt || size > KP_MPI_MAX_RANKS) {
        verdict[0] = 3;
        snprintf(res->text, sizeof res->text,
                 size > KP_MPI_MAX_RANKS ? "backend = mpi: more than 4096 ranks" : "out of memory");
    }
    int cannot = verdict[0] >= 0; /* this rank cannot go on, whatever rank 0 says */
    MPI_Gather(&hello, sizeof hello, MPI_BYTE, all, sizeof hello, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rank == 0 && all) {
        for (int r = 0; r < size && verdict[0] < 0; r++) {
            const char *what = NULL;
            if (all[r].rc < 0) {
                verdict[0] = all[r].exit_status;
                if (r == 0)
                    snprintf(res->text, sizeof res->text, "%s", all[r].text);
                else
                    snprintf(res->text, sizeof res->text, "MPI rank %d: %.1000s", r, all[r].text);
            } else if (r > 0 && all[0].rc == 0 && (what = differs(&all[0].fp, &all[r].fp))) {
                verdict[0] = 2;
                snprintf(res->text, sizeof res->text,
                         "MPI rank %d does not see the same %s as rank 0: every rank must "
                         "read the same job, plugin and input (a shared file system, or "
                         "identical copies at the same paths)",
                         r, what);
            }
            if (setup)
                setup->workers[r] = all[r].workers;
        }
    }
    MPI_Bcast(verdict, 2, MPI_INT, 0, MPI_COMM_WORLD);
    int any_cannot = 0;
    MPI_Allreduce(&cannot, &any_cannot, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any_cannot && verdict[0] < 0) {
        verdict[0] = 3;
        if (rank == 0)
            snprintf(res->text, sizeof res->text,
                     "an MPI rank ran out of memory while setting up; nothing ran");
    }
    if (verdict[0] < 0)
        MPI_Bcast(setup->workers, size, MPI_INT32_T, 0, MPI_COMM_WORLD);
    if (verdict[0] >= 0) {
        kp_msg_setup abort_msg = {.h.type = KP_MSG_ABORT, .exit_status = verdict[0]};
        kp_msg_send(ctl, &abort_msg, sizeof abort_msg, NULL, 0);
        wait_pool();
        res->exit_status = verdict[0];
        if (rank != 0)
            res->text[0] = '\0';
        free(all), free(setup), free(pkt);
        MPI_Finalize();
        return -1;
    }

    /* 2. Tell the pool process its part; rank 0's gets a socket per rank
     * for its relays. */
    setup->h.type = KP_MSG_SETUP;
    setup->rank = rank;
    setup->size = size;
    int *socks = calloc((size_t)size, sizeof *socks);
    int *ends = calloc((size_t)size, sizeof *ends);
    bool ok = socks && ends && kp_msg_send(ctl, setup, setup_size, NULL, 0) == 0;
    for (int r = 1; ok && rank == 0 && r < size; r++) {
        int sv[2];
        ok = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0;
        if (ok) {
            socks[r] = sv[0];
            ends[r] = sv[1];
        }
    }
    for (int r = 1; ok && rank == 0 && r < size; r += 250) {
        int k = size - r > 250 ? 250 : size - r;
        kp_msg_head h = {.type = KP_MSG_SETUP};
        ok = kp_msg_send(ctl, &h, sizeof h, ends + r, k) == 0;
    }
    for (int r = 1; ends && rank == 0 && r < size; r++)
        if (ends[r] > 0)
            close(ends[r]);
    if (!ok)
        fprintf(stderr, "kpool: MPI rank %d cannot set up its pool process: %s\n", rank,
                strerror(errno));

    /* 3. Start, and relay until the run is over. */
    int status;
    bool run = share_start(rank, ctl, pkt, ok);
    if (run && ok) {
        status = rank == 0 ? rank0_relay(ctl, size, socks) : rank_relay(ctl);
    } else {
        if (run && rank != 0) {
            /* Rank 0's relay waits for this rank: say it cannot run. */
            kp_msg_exit ex = {.h.type = KP_MSG_EXIT, .status = 3, .failed = 1};
            snprintf(ex.text, sizeof ex.text, "could not set up its pool process");
            MPI_Send(&ex, sizeof ex, MPI_BYTE, 0, TAG, MPI_COMM_WORLD);
        }
        /* The pool process may be waiting for START or the task list. */
        shutdown(ctl, SHUT_RDWR);
        status = wait_pool();
    }
    res->exit_status = status;
    /* srun stops every rank with SIGTERM when one rank dies (hydra kills
     * them with SIGKILL; then rank 0's pool process speaks, mpi.c): say
     * what that means for the run. */
    if (rank == 0 && got_sigterm)
        fprintf(stderr, "kpool: the MPI launcher stopped the run (SIGTERM: it does so when a "
                        "rank is lost); with the results in a file, `kpool run --resume` runs "
                        "the tasks left, on MPI or on one machine\n");
    for (int r = 1; socks && r < size; r++)
        if (socks[r] > 0)
            close(socks[r]);
    free(socks), free(ends), free(all), free(setup), free(pkt);
    MPI_Finalize();
    return 0;
}
