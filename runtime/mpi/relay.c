/* mpi/relay.c - a slot of rank 0's pool that stands for another rank.
 *
 * To the pool it looks like a worker: it claims ranges from the shared
 * cursor (so input order's window and on_error's stop hold for every rank
 * alike), says READY and IDLE, and sends result records. The records are
 * made by the other rank's pool, which ran the tasks in its own workers
 * with its own crash isolation, timeouts and retries; they arrive through
 * the agents unchanged. It keeps up to two claims in flight so that the
 * other rank never waits for the round trip. */
#include "relay.h"

#include "../fdio.h"
#include "msg.h"
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* What rank 0 says when its agent stopped relaying (MPI failed: a rank's
 * process or node died, or the agent was killed). MPI does not say which
 * rank failed; the run stops, and the journal lets --resume finish it. */
#define RANK_LOST                                                                                  \
    "unreachable: the MPI job lost a rank (a process or its node died); the tasks this rank "      \
    "held did not come back. With the results in a file, `kpool run --resume` runs the tasks "     \
    "left, on MPI or on one machine"

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

typedef struct relay {
    const kp_worker_args *a;
    kp_pool_shared *sh;
    int rank, fd;
    uint64_t per_claim; /* the other rank's workers: its claims are that many times larger */
    uint64_t in_flight; /* tasks sent whose records have not come back */
    uint64_t last_claim;
    bool claiming;  /* told to claim from the cursor */
    bool want_idle; /* the cursor ran dry: say IDLE once nothing is in flight */
    bool stop_sent, stop_now_sent, end_sent;
} relay;

static void control(relay *r, uint8_t kind, const char *msg)
{
    uint32_t len = msg ? (uint32_t)strlen(msg) : 0;
    if (len > KP_WIRE_MSG_MAX)
        len = KP_WIRE_MSG_MAX;
    kp_wire_result rec = {.tag = (uint64_t)(kind | (len ? KP_WIRE_EXT : 0)) << KP_WIRE_KIND_SHIFT};
    kp_wire_ext x = {len, 0};
    if (kp_write_all(r->a->result_fd, &rec, sizeof rec) < 0 ||
        (len && (kp_write_all(r->a->result_fd, &x, sizeof x) < 0 ||
                 kp_write_all(r->a->result_fd, msg, len) < 0)))
        _exit(3); /* the coordinator is gone */
}

static _Noreturn void fatal(relay *r, const char *what)
{
    char msg[KP_WIRE_MSG_MAX];
    snprintf(msg, sizeof msg, "MPI rank %d: %s", r->rank, what);
    control(r, KP_WIRE_FATAL, msg);
    _exit(3);
}

static void send_chunk(relay *r, uint32_t kind, uint64_t start, uint64_t count)
{
    kp_msg_chunk c = {.h.type = KP_MSG_CHUNK, .kind = kind, .start = start, .count = count};
    if (kp_msg_send(r->fd, &c, sizeof c, NULL, 0) < 0)
        fatal(r, RANK_LOST);
}

/* Keeps two claims' worth of tasks at the other rank while there are any. */
static void keep_fed(relay *r)
{
    if (atomic_load_explicit(&r->sh->stop, memory_order_relaxed) && !r->stop_sent) {
        r->stop_sent = true;
        send_chunk(r, KP_CHUNK_STOP, 0, 0);
    }
    while (r->claiming && !r->stop_sent) {
        if (r->in_flight > r->last_claim)
            break;
        uint64_t start, n = kp_wire_claim(r->sh, r->per_claim, UINT64_MAX, &start);
        if (!n) {
            r->claiming = false;
            r->want_idle = true;
            break;
        }
        send_chunk(r, KP_CHUNK_RANGE, start, n);
        r->in_flight += n;
        r->last_claim = n;
    }
    if (r->stop_sent && r->claiming) {
        r->claiming = false;
        r->want_idle = true;
    }
    if (r->want_idle && !r->in_flight) {
        r->want_idle = false;
        control(r, KP_WIRE_IDLE, NULL);
    }
}

/* Counts the finished tasks in a RESULTS packet and passes it on. */
static void results(relay *r, const unsigned char *p, size_t len)
{
    size_t off = 0;
    while (len - off >= sizeof(kp_wire_result)) {
        kp_wire_result rec;
        memcpy(&rec, p + off, sizeof rec);
        uint8_t kind = (uint8_t)(rec.tag >> KP_WIRE_KIND_SHIFT);
        size_t size = sizeof rec;
        if (kind & KP_WIRE_EXT) {
            kp_wire_ext x;
            if (len - off < sizeof rec + sizeof x)
                break;
            memcpy(&x, p + off + sizeof rec, sizeof x);
            size += sizeof x + (size_t)x.msg_len + x.str_len;
        }
        if (len - off < size)
            break;
        if ((kind & (uint8_t)~KP_WIRE_EXT) < KP_WIRE_READY && r->in_flight)
            r->in_flight--;
        off += size;
    }
    if (off != len)
        fatal(r, "sent a malformed results packet");
    if (kp_write_all(r->a->result_fd, p, len) < 0)
        _exit(3);
}

void kp_mpi_relay_main(const kp_worker_args *a, int remote, void *user)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != a->parent)
        _exit(3);
    kp_relay_ctx *ctx = user;
    relay r = {.a = a, .sh = a->shared, .rank = remote + 1, .fd = ctx->fds[remote + 1]};
    /* The pool closed the other ranks' sockets in this process (pool.h,
     * remote_fds); the agent's socket is the pool process's alone. */
    close(ctx->ctl);
    int32_t w = ctx->workers[r.rank];
    r.per_claim = w > 0 ? (uint64_t)w : 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigset_t block, wait_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);

    unsigned char *pkt = malloc(KP_MSG_MAX);
    if (!pkt)
        _exit(3);
    int task_fd = a->task_fd;
    bool ready = false;
    for (;;) {
        if (got_term && !r.stop_now_sent) {
            /* Interrupt or on_error now: that rank stops its workers,
             * which send what they finished; then its pool exits. */
            r.stop_now_sent = r.stop_sent = true;
            send_chunk(&r, KP_CHUNK_STOP_NOW, 0, 0);
        }
        struct pollfd fds[2] = {{.fd = r.fd, .events = POLLIN}, {.fd = task_fd, .events = POLLIN}};
        int nfds = task_fd >= 0 && !got_term ? 2 : 1;
        if (ppoll(fds, (nfds_t)nfds, NULL, &wait_mask) < 0) {
            if (errno == EINTR)
                continue;
            _exit(3);
        }
        if (nfds == 2 && fds[1].revents) {
            kp_wire_chunk c;
            ssize_t n = read(task_fd, &c, sizeof c);
            if (n < 0 && errno == EINTR)
                continue;
            if (n == (ssize_t)sizeof c && c.count == 0) {
                r.claiming = true;
            } else if (n == (ssize_t)sizeof c) {
                /* The pool gives remote slots fresh claims only (pool.h):
                 * a handed-back range here would break the increasing
                 * order the other rank relies on. */
                fatal(&r, "was handed back a range (a bug in kpool)");
            } else {
                /* The pool closed the pipe: the run is over. */
                close(task_fd);
                task_fd = -1;
                if (!r.end_sent) {
                    r.end_sent = true;
                    send_chunk(&r, KP_CHUNK_END, 0, 0);
                }
            }
        }
        if (fds[0].revents) {
            ssize_t n = kp_msg_recv(r.fd, pkt, KP_MSG_MAX, NULL, NULL, 0);
            if (n <= 0)
                fatal(&r, RANK_LOST);
            const kp_msg_head *h = (const kp_msg_head *)pkt;
            if ((size_t)n < sizeof *h)
                fatal(&r, "sent a malformed packet");
            if (h->type == KP_MSG_READY && !ready) {
                ready = true;
                control(&r, KP_WIRE_READY, NULL);
            } else if (h->type == KP_MSG_RESULTS) {
                results(&r, pkt + sizeof *h, (size_t)n - sizeof *h);
            } else if (h->type == KP_MSG_EXIT && (size_t)n >= sizeof(kp_msg_exit)) {
                const kp_msg_exit *ex = (const kp_msg_exit *)pkt;
                if (ex->failed)
                    fatal(&r, ex->text);
                /* Interrupted there (mpiexec passes Ctrl-C to every rank):
                 * an end like ours after SIGTERM; rank 0's pool hands what
                 * that rank held to the others or stops too. */
                if (ex->interrupted)
                    _exit(KP_WORKER_EXIT_TERMINATED);
                if (!r.end_sent && !r.stop_sent)
                    fatal(&r, "its pool ended before the run did");
                _exit(got_term ? KP_WORKER_EXIT_TERMINATED : 0);
            }
        }
        keep_fed(&r);
    }
}
