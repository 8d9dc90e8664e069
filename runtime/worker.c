/* worker.c - the life of a worker process.
 *
 * A worker runs the tasks of one chunk after another and sends their results
 * back in batches. Before each task it publishes the task's index in shared
 * memory, so that if the kernel kills the process the coordinator knows which
 * task did it. Results finished before a fatal signal are still sent: the
 * signal handlers write out the batch (only bytes of complete results, see
 * `committed`) and then die of the same signal. */
#include "plugin.h"
#include "wire.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define KP_WORKER_BATCH (256 * 1024)

static int result_fd = -1;
static unsigned char batch[KP_WORKER_BATCH];
/* Bytes of `batch` holding complete results. Signal handlers read it, so it
 * is only advanced after a whole result has been copied in. */
static volatile sig_atomic_t committed;

int64_t kp_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* write() all of buf, retrying on EINTR; async-signal-safe. */
static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends the batch. Termination signals are blocked meanwhile so that a
 * handler never sends the same bytes a second time. */
static void flush_batch(void)
{
    if (!committed)
        return;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    if (write_all(result_fd, batch, (size_t)committed) < 0)
        _exit(3); /* the coordinator is gone */
    committed = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void send_result(const kp_wire_result *h, const char *msg, const char *str)
{
    size_t size = sizeof *h + h->msg_len + h->str_len;
    if ((size_t)committed + size > sizeof batch)
        flush_batch();
    if (size > sizeof batch) {
        /* A huge string result goes out on its own. */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigprocmask(SIG_BLOCK, &block, &old);
        if (write_all(result_fd, h, sizeof *h) < 0 || write_all(result_fd, msg, h->msg_len) < 0 ||
            write_all(result_fd, str, h->str_len) < 0)
            _exit(3);
        sigprocmask(SIG_SETMASK, &old, NULL);
        return;
    }
    unsigned char *p = batch + committed;
    memcpy(p, h, sizeof *h);
    if (h->msg_len)
        memcpy(p + sizeof *h, msg, h->msg_len);
    if (h->str_len)
        memcpy(p + sizeof *h + h->msg_len, str, h->str_len);
    committed += (sig_atomic_t)size;
}

static void send_control(uint8_t kind, uint64_t index, const char *msg)
{
    kp_wire_result h = {.index = index, .kind = kind};
    size_t len = msg ? strlen(msg) : 0;
    h.msg_len = (uint32_t)(len > KP_WIRE_MSG_MAX ? KP_WIRE_MSG_MAX : len);
    send_result(&h, msg, NULL);
}

static void send_outcome(const kp_outcome *o)
{
    kp_wire_result h = {.index = o->index, .kind = (uint8_t)o->kind};
    _Static_assert(sizeof o->value == sizeof h.value, "outcome value is 8 bytes");
    memcpy(&h.value, &o->value, sizeof h.value);
    size_t mlen = o->message ? strlen(o->message) : 0;
    h.msg_len = (uint32_t)(mlen > KP_WIRE_MSG_MAX ? KP_WIRE_MSG_MAX : mlen);
    size_t slen = o->kind == KP_TASK_OK && o->str ? strlen(o->str) : 0;
    if (slen > UINT32_MAX / 2)
        slen = UINT32_MAX / 2;
    h.str_len = (uint32_t)slen;
    send_result(&h, o->message, o->str);
}

/* SIGTERM from the coordinator (interrupt or timeout): send what is done, go. */
static void on_term(int sig)
{
    (void)sig;
    write_all(result_fd, batch, (size_t)committed);
    _exit(KP_WORKER_EXIT_TERMINATED);
}

/* A fatal signal in a kernel: send what is done, then die of the signal so
 * the coordinator sees which one. */
static void on_fatal(int sig)
{
    write_all(result_fd, batch, (size_t)committed);
    signal(sig, SIG_DFL);
    raise(sig);
    _exit(128 + sig);
}

/* exit() called by a kernel: still send what is done. */
static void at_exit_flush(void)
{
    write_all(result_fd, batch, (size_t)committed);
    committed = 0;
}

static void setup_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    /* Ctrl-C reaches the whole process group; the coordinator decides. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_fatal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        sigaction(fatal[i], &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int read_chunk(int fd, kp_wire_chunk *c)
{
    unsigned char *p = (unsigned char *)c;
    size_t got = 0;
    while (got < sizeof *c) {
        ssize_t n = read(fd, p + got, sizeof *c - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

_Noreturn void kp_worker_main(const kp_worker_args *a)
{
    /* Die with the coordinator, even if it was killed before this line. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != a->parent)
        _exit(3);
    result_fd = a->result_fd;
    committed = 0;
    setup_signals();
    atexit(at_exit_flush);
    /* A kernel's printf must not end up between the results on stdout. */
    dup2(STDERR_FILENO, STDOUT_FILENO);

    kp_worker_shared *me = &a->shared->slots[a->slot];
    if (a->cfg->initializer) {
        kp_err err;
        kp_err_clear(&err);
        atomic_store(&me->started_ns, kp_now_ns());
        if (kp_task_call_literals(a->cfg->initializer, a->cfg->initargs, &err) < 0) {
            send_control(KP_WIRE_INIT_FAILED, 0, err.msg);
            flush_batch();
            _exit(0);
        }
    }
    send_control(KP_WIRE_READY, 0, NULL);
    flush_batch();

    kp_wire_chunk chunk;
    while (read_chunk(a->task_fd, &chunk) == 0) {
        uint64_t ran = 0;
        for (; ran < chunk.count; ran++) {
            if (atomic_load_explicit(&a->shared->stop, memory_order_relaxed))
                break;
            uint64_t index = chunk.start + ran;
            atomic_store_explicit(&me->started_ns, kp_now_ns(), memory_order_relaxed);
            atomic_store(&me->current, index + 1);
            kp_outcome o;
            kp_task_run(a->ctx, (size_t)index, &o);
            /* Clear `current` before the result is queued: a death between
             * the two re-runs the task rather than blaming it. */
            atomic_store(&me->current, 0);
            o.attempts = (int)chunk.attempt;
            send_outcome(&o);
        }
        send_control(KP_WIRE_CHUNK_DONE, ran, NULL);
        flush_batch();
    }
    flush_batch();
    _exit(0);
}
