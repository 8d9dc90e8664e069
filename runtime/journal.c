#include "journal.h"

#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Version 2: kp_hash_bulk hashes four lanes, and prefix records exist. */
#define KP_JOURNAL_MAGIC "KPOOL-JOURNAL 2\n"
#define KP_JOURNAL_BUF   (256 * 1024)
/* A new journal's file is made only once the run has lasted this long, or
 * its buffer fills, or the run ends unfinished (journal.h). */
#define KP_JOURNAL_LATER_NS (100 * 1000000)

struct kp_journal {
    int fd; /* -1 while the file is not made yet */
    char *path;
    unsigned char *buf; /* a block: its header, then records */
    size_t len;
    kp_journal_prefix prefix; /* the last one recorded */
    kp_fingerprint fp;        /* while the file is not made: its header's */
    int64_t created_ns;       /* when it was created or resumed (CLOCK_MONOTONIC) */
};

/* On disk, after the header, the journal is a sequence of blocks, each
 * written with one write(): a block header, then records. A block whose
 * check does not match (a kill -9 in the middle of its write) ends the
 * journal; its tasks run again. A record is a tag (the task index, its kind
 * in the top byte, KP_REC_EXT when more follows) and the value; with
 * KP_REC_EXT a record_ext and `len` bytes of message or string result.
 * A record of kind KP_REC_PREFIX says instead that the output file's first
 * `value` bytes hold the results of the tasks before its index (see
 * kp_journal_prefix). */
typedef struct block {
    uint32_t magic;
    uint32_t size; /* bytes of records after this header */
    uint64_t check;
} block;

typedef struct record_ext {
    int32_t signal;
    int32_t attempts;
    uint32_t len;
    uint32_t has_str;
} record_ext;

#define KP_BLOCK_MAGIC 0x424a504bu /* "KPJB" */
#define KP_REC_EXT     0x80
#define KP_REC_PREFIX  0x40
#define KP_REC_SHIFT   56
#define KP_REC_INDEX   ((UINT64_C(1) << KP_REC_SHIFT) - 1)

typedef struct header {
    char magic[16];
    kp_fingerprint fp;
} header;

uint64_t kp_hash(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

uint64_t kp_hash_bulk(uint64_t h, const void *data, size_t n)
{
    /* Four independent lanes, so that four multiplications are in flight
     * at once instead of each waiting for the one before: the input of the
     * seed job (8 MB) is hashed at memory speed, not at one multiplication
     * per 8 bytes. */
    const uint64_t prime = UINT64_C(1099511628211);
    const unsigned char *p = data;
    uint64_t lane[4] = {h, h ^ 1, h ^ 2, h ^ 3};
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        for (int k = 0; k < 4; k++)
            lane[k] = (lane[k] ^ w[k]) * prime;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        lane[0] = (lane[0] ^ w) * prime;
    }
    h = kp_hash(KP_HASH_INIT, lane, sizeof lane);
    return kp_hash(h, p + i, n - i);
}

int kp_hash_file(const char *path, uint64_t *out, kp_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kp_err_set(err, KPOOL_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return kp_err_set(err, KPOOL_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    uint64_t h = kp_hash(KP_HASH_INIT, &st.st_size, sizeof st.st_size);
    if (st.st_size > 0) {
        void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return kp_err_set(err, KPOOL_EIO, "%s: cannot map: %s", path, strerror(e));
        }
        h = kp_hash_bulk(h, map, (size_t)st.st_size);
        munmap(map, (size_t)st.st_size);
    }
    close(fd);
    *out = h;
    return 0;
}

static int write_header(int fd, const kp_fingerprint *fp)
{
    header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, KP_JOURNAL_MAGIC, sizeof h.magic);
    h.fp = *fp;
    return kp_write_all(fd, &h, sizeof h);
}

/* Makes the file of a new journal, its header first. */
static int make_file(kp_journal *j, kp_err *err)
{
    /* O_NONBLOCK: a FIFO made there since the journal was created must not
     * block us; it is refused below. */
    int fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0)
        return kp_err_set(err, KPOOL_EIO, "%s: cannot create the journal: %s", j->path,
                          strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kp_err_set(err, KPOOL_EIO, "%s: cannot create the journal: not a regular file",
                          j->path);
    }
    if (fcntl(fd, F_SETFL, 0) < 0 || write_header(fd, &j->fp) < 0) {
        int e = errno;
        close(fd);
        return kp_err_set(err, KPOOL_EIO, "%s: cannot create the journal: %s", j->path,
                          strerror(e));
    }
    j->fd = fd;
    return 0;
}

static int flush(kp_journal *j, kp_err *err)
{
    if (j->fd < 0 && j->len > sizeof(block)) {
        int rc = make_file(j, err);
        if (rc < 0)
            return rc;
    }
    if (j->len > sizeof(block)) {
        block b = {KP_BLOCK_MAGIC, (uint32_t)(j->len - sizeof b), 0};
        b.check = kp_hash_bulk(KP_HASH_INIT, j->buf + sizeof b, b.size);
        memcpy(j->buf, &b, sizeof b);
        if (kp_write_all(j->fd, j->buf, j->len) < 0)
            return kp_err_set(err, KPOOL_EIO, "%s: write failed: %s", j->path, strerror(errno));
    }
    j->len = sizeof(block);
    return 0;
}

int kp_journal_flush(kp_journal *j, kp_err *err)
{
    if (!j || (j->fd < 0 && kp_now_ns() - j->created_ns < KP_JOURNAL_LATER_NS))
        return 0; /* a run this short would not be worth resuming */
    return flush(j, err);
}

static int journal_new(kp_journal **out, const char *path, int fd, kp_err *err)
{
    kp_journal *j = calloc(1, sizeof *j);
    if (j) {
        j->path = strdup(path);
        j->buf = malloc(KP_JOURNAL_BUF);
    }
    if (!j || !j->path || !j->buf) {
        if (j) {
            free(j->path);
            free(j->buf);
        }
        free(j);
        if (fd >= 0)
            close(fd);
        return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", path);
    }
    j->fd = fd;
    j->len = sizeof(block);
    j->created_ns = kp_now_ns();
    *out = j;
    return 0;
}

int kp_journal_create(kp_journal **out, const char *path, const kp_fingerprint *fp, kp_err *err)
{
    *out = NULL;
    /* Never a device or a FIFO: the journal is deleted when the run completes. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return kp_err_set(err, KPOOL_EJOB,
                          "%s: the journal must be a regular file (kpool deletes it when the "
                          "run completes); set [output] journal to a file name",
                          path);
    /* An earlier run's journal goes now: it must not outlive the output
     * this run rewrites, even if this run is killed before its own. */
    if (unlink(path) < 0 && errno != ENOENT)
        return kp_err_set(err, KPOOL_EIO, "%s: cannot create the journal: %s", path,
                          strerror(errno));
    int rc = journal_new(out, path, -1, err);
    if (rc == 0)
        (*out)->fp = *fp;
    return rc;
}

static int by_index(const void *a, const void *b)
{
    const kp_outcome *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

void kp_journal_free_outcomes(kp_outcome *done, size_t n)
{
    for (size_t i = 0; done && i < n; i++) {
        free((char *)done[i].message);
        free((char *)done[i].str);
    }
    free(done);
}

/* Names the first part of the fingerprint that differs. */
/* What differs between the journal's fingerprint `a` and the run's `b`
 * (which has every field). */
static const char *changed(const kp_fingerprint *a, const kp_fingerprint *b)
{
    if (a->plugin != b->plugin)
        return "the plugin";
    if (a->input ? a->input != b->input : a->input_id != b->input_id)
        return "the input";
    if (a->job != b->job)
        return "the job file's settings (kernel, mode, args, input or output format)";
    if (a->total != b->total)
        return "the number of tasks";
    if (a->type != b->type)
        return "the kernel's return type";
    return NULL;
}

static int add_outcome(const char *path, kp_outcome **list, size_t *n, size_t *cap, kp_err *err)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        kp_outcome *more = realloc(*list, c * sizeof **list);
        if (!more)
            return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory reading it", path);
        *list = more;
        *cap = c;
    }
    memset(&(*list)[*n], 0, sizeof **list);
    (*n)++;
    return 0;
}

/* Reads the records of one block; false when they do not parse. */
static bool read_block(const char *path, const unsigned char *p, size_t size,
                       const kp_fingerprint *fp, kp_outcome **list, size_t *n, size_t *cap,
                       kp_journal_prefix *prefix, int *rc, kp_err *err)
{
    size_t off = 0;
    while (off < size) {
        uint64_t tag, value;
        if (size - off < 16)
            return false;
        memcpy(&tag, p + off, 8);
        memcpy(&value, p + off + 8, 8);
        off += 16;
        uint8_t kind = (uint8_t)(tag >> KP_REC_SHIFT);
        if (kind == KP_REC_PREFIX) {
            /* Prefixes only grow; one that shrinks is not ours. */
            uint64_t tasks = tag & KP_REC_INDEX;
            if (tasks > fp->total || tasks < prefix->tasks || value < prefix->bytes)
                return false;
            prefix->tasks = tasks;
            prefix->bytes = value;
            continue;
        }
        record_ext x = {0, 1, 0, 0};
        const unsigned char *text = NULL;
        if (kind & KP_REC_EXT) {
            if (size - off < sizeof x)
                return false;
            memcpy(&x, p + off, sizeof x);
            off += sizeof x;
            if (x.len > size - off)
                return false;
            text = p + off;
            off += x.len;
        }
        kind &= (uint8_t)~KP_REC_EXT;
        if ((tag & KP_REC_INDEX) >= fp->total || kind > KP_TASK_BAD_INPUT)
            return false;
        if ((*rc = add_outcome(path, list, n, cap, err)) < 0)
            return false;
        kp_outcome *o = &(*list)[*n - 1];
        o->index = (size_t)(tag & KP_REC_INDEX);
        o->kind = (kp_task_kind)kind;
        o->type = (kp_type)fp->type;
        memcpy(&o->value, &value, sizeof o->value);
        o->signal = x.signal;
        o->attempts = x.attempts;
        if (text || x.has_str) {
            char *copy = malloc((size_t)x.len + 1);
            if (!copy) {
                *rc = kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory reading it", path);
                return false;
            }
            memcpy(copy, text, x.len);
            copy[x.len] = '\0';
            if (x.has_str)
                o->str = copy;
            else
                o->message = copy;
        }
    }
    return true;
}

/* Reads the blocks of `data` (size bytes after the header) into *done;
 * *valid is the length of the good prefix. */
static int read_records(const char *path, const unsigned char *data, size_t size,
                        const kp_fingerprint *fp, kp_outcome **done, size_t *ndone,
                        kp_journal_prefix *prefix, size_t *valid, kp_err *err)
{
    size_t cap = 0, n = 0, off = 0;
    kp_outcome *list = NULL;
    int rc = 0;
    while (size - off >= sizeof(block)) {
        block b;
        memcpy(&b, data + off, sizeof b);
        if (b.magic != KP_BLOCK_MAGIC || b.size > size - off - sizeof b ||
            kp_hash_bulk(KP_HASH_INIT, data + off + sizeof b, b.size) != b.check)
            break; /* torn or corrupt: everything from here runs again */
        size_t before = n;
        kp_journal_prefix prefix_before = *prefix;
        if (!read_block(path, data + off + sizeof b, b.size, fp, &list, &n, &cap, prefix, &rc,
                        err)) {
            *prefix = prefix_before;
            /* A block that checks but does not parse: drop it whole. */
            for (size_t i = before; i < n; i++) {
                free((char *)list[i].message);
                free((char *)list[i].str);
            }
            n = before;
            if (rc < 0) {
                kp_journal_free_outcomes(list, n);
                return rc;
            }
            break;
        }
        off += sizeof b + b.size;
    }
    if (n)
        qsort(list, n, sizeof *list, by_index);
    /* A task recorded twice cannot happen; if it did, keep the first. A
     * task inside the prefix is in the output already. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if ((k && list[k - 1].index == list[i].index) || list[i].index < prefix->tasks) {
            free((char *)list[i].message);
            free((char *)list[i].str);
            continue;
        }
        list[k++] = list[i];
    }
    *done = list;
    *ndone = k;
    *valid = off;
    return 0;
}

int kp_journal_resume(kp_journal **out, const char *path, const kp_fingerprint *fp,
                      kp_outcome **done, size_t *ndone, kp_err *err)
{
    *out = NULL;
    *done = NULL;
    *ndone = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return kp_err_set(err, KPOOL_EJOB,
                              "nothing to resume: %s does not exist (its run finished, "
                              "never started, or was killed in its first 0.1 s)",
                              path);
        return kp_err_set(err, KPOOL_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    header h;
    memset(&h, 0, sizeof h);
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof h ||
        pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
        memcmp(h.magic, KP_JOURNAL_MAGIC, sizeof h.magic) != 0) {
        close(fd);
        if (memcmp(h.magic, KP_JOURNAL_MAGIC, sizeof h.magic - 2) == 0)
            return kp_err_set(err, KPOOL_EJOB,
                              "cannot resume: %s was written by another version of kpool; run "
                              "without --resume to start again",
                              path);
        return kp_err_set(err, KPOOL_EJOB, "%s is not a kpool journal", path);
    }
    const char *what = changed(&h.fp, fp);
    if (what) {
        close(fd);
        return kp_err_set(err, KPOOL_EJOB,
                          "cannot resume: %s changed since the interrupted run (journal %s); "
                          "run without --resume to start again",
                          what, path);
    }
    size_t size = (size_t)st.st_size - sizeof h, valid = 0;
    kp_journal_prefix prefix = {0, 0};
    int rc = 0;
    if (size > 0) {
        unsigned char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return kp_err_set(err, KPOOL_EIO, "%s: cannot map: %s", path, strerror(e));
        }
        rc = read_records(path, map + sizeof h, size, fp, done, ndone, &prefix, &valid, err);
        munmap(map, (size_t)st.st_size);
    }
    /* Cut a torn tail off, then append after the last good record. */
    if (rc == 0 && (ftruncate(fd, (off_t)(sizeof h + valid)) < 0 || lseek(fd, 0, SEEK_END) < 0))
        rc = kp_err_set(err, KPOOL_EIO, "%s: cannot truncate: %s", path, strerror(errno));
    if (rc < 0) {
        kp_journal_free_outcomes(*done, *ndone);
        *done = NULL;
        *ndone = 0;
        close(fd);
        return rc;
    }
    rc = journal_new(out, path, fd, err);
    if (rc < 0) {
        kp_journal_free_outcomes(*done, *ndone);
        *done = NULL;
        *ndone = 0;
        return rc;
    }
    (*out)->prefix = prefix;
    return 0;
}

int kp_journal_set_input(kp_journal *j, uint64_t input, kp_err *err)
{
    if (j->fd < 0) { /* in the header it will be made with */
        j->fp.input = input;
        return 0;
    }
    off_t at = (off_t)(offsetof(header, fp) + offsetof(kp_fingerprint, input));
    if (pwrite(j->fd, &input, sizeof input, at) != (ssize_t)sizeof input)
        return kp_err_set(err, KPOOL_EIO, "%s: cannot write the journal: %s", j->path,
                          strerror(errno));
    return 0;
}

int kp_journal_prefix_record(kp_journal *j, const kp_journal_prefix *prefix, kp_err *err)
{
    if (j->len + 16 > KP_JOURNAL_BUF) {
        int rc = flush(j, err);
        if (rc < 0)
            return rc;
    }
    uint64_t tag = (prefix->tasks & KP_REC_INDEX) | (uint64_t)KP_REC_PREFIX << KP_REC_SHIFT;
    memcpy(j->buf + j->len, &tag, 8);
    memcpy(j->buf + j->len + 8, &prefix->bytes, 8);
    j->len += 16;
    j->prefix = *prefix;
    return 0;
}

kp_journal_prefix kp_journal_prefix_of(const kp_journal *j)
{
    kp_journal_prefix none = {0, 0};
    return j ? j->prefix : none;
}

int kp_journal_append(kp_journal *j, const kp_outcome *o, kp_err *err)
{
    const char *text = o->kind == KP_TASK_OK ? o->str : o->message;
    size_t len = text ? strlen(text) : 0;
    if (len > KP_JOURNAL_BUF / 2)
        len = KP_JOURNAL_BUF / 2; /* a longer string result is cut in the journal */
    bool ext = o->kind != KP_TASK_OK || o->str;
    size_t size = 16 + (ext ? sizeof(record_ext) + len : 0);
    if (j->len + size > KP_JOURNAL_BUF) {
        int rc = flush(j, err);
        if (rc < 0)
            return rc;
    }
    unsigned char *p = j->buf + j->len;
    uint64_t tag = ((uint64_t)o->index & KP_REC_INDEX) |
                   (uint64_t)(o->kind | (ext ? KP_REC_EXT : 0)) << KP_REC_SHIFT;
    memcpy(p, &tag, 8);
    memcpy(p + 8, &o->value, 8);
    if (ext) {
        record_ext x = {o->signal, o->attempts, (uint32_t)len, o->kind == KP_TASK_OK};
        memcpy(p + 16, &x, sizeof x);
        if (len)
            memcpy(p + 16 + sizeof x, text, len);
    }
    j->len += size;
    return 0;
}

int kp_journal_append_run(kp_journal *j, uint64_t first, const unsigned char *values, size_t stride,
                          size_t n, kp_err *err)
{
    for (size_t k = 0; k < n; k++) {
        if (j->len + 16 > KP_JOURNAL_BUF) {
            int rc = flush(j, err);
            if (rc < 0)
                return rc;
        }
        /* A plain record: the index (kind KP_TASK_OK is 0) and the value. */
        uint64_t tag = (first + k) & KP_REC_INDEX;
        memcpy(j->buf + j->len, &tag, 8);
        memcpy(j->buf + j->len + 8, values + k * stride, 8);
        j->len += 16;
    }
    return 0;
}

int kp_journal_close(kp_journal *j, bool remove, kp_err *err)
{
    if (!j)
        return 0;
    /* A journal never made that the run does not keep needs nothing; one
     * it keeps is made now. */
    bool on_disk = j->fd >= 0 || !remove;
    int rc = on_disk && j->fd < 0 ? make_file(j, err) : 0;
    if (rc == 0 && on_disk)
        rc = flush(j, err);
    if (j->fd >= 0 && close(j->fd) < 0 && rc == 0)
        rc = kp_err_set(err, KPOOL_EIO, "%s: write failed: %s", j->path, strerror(errno));
    if (rc == 0 && remove && on_disk && unlink(j->path) < 0 && errno != ENOENT)
        rc = kp_err_set(err, KPOOL_EIO, "%s: cannot remove: %s", j->path, strerror(errno));
    free(j->path);
    free(j->buf);
    free(j);
    return rc;
}
