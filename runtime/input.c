/* input.c - opening an input: format choice, mapping, stdin spooling, dispatch.
 *
 * A file is mapped MAP_SHARED and read-only, whole, and its descriptor is
 * closed once mapped: after kp_input_open nothing is opened, allocated or
 * cached on the kp_input, which is what makes records readable from forked
 * workers. The hazard of a mapping is a file truncated by someone else while
 * kpool runs: touching the lost pages raises SIGBUS. Input that cannot be
 * mapped in place (stdin, a pipe, a FIFO, a character device) is first copied
 * into an unlinked temporary file, which nobody else can truncate.
 */
#include "input.h"
#include "fdio.h"
#include "input_impl.h"
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define STDIN_NAME  "<stdin>"
#define SPOOL_CHUNK 65536

static const char *format_name(kp_input_format f)
{
    switch (f) {
    case KP_IN_AUTO:
        return "auto";
    case KP_IN_NPY:
        return "npy";
    case KP_IN_CSV:
        return "csv";
    case KP_IN_JSONL:
        return "jsonl";
    case KP_IN_RANGE:
        return "range";
    case KP_IN_MEMORY:
        return "memory";
    }
    return "?";
}

int kp_text_index_push(kp_text_index *ix, size_t offset, size_t line)
{
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 1024;
        if (cap < ix->cap || cap > SIZE_MAX / sizeof *ix->recs)
            return KPOOL_ENOMEM;
        kp_text_rec *recs = realloc(ix->recs, cap * sizeof *recs);
        if (!recs)
            return KPOOL_ENOMEM;
        ix->recs = recs;
        ix->cap = cap;
    }
    ix->recs[ix->n].offset = offset;
    ix->recs[ix->n].line = line;
    ix->n++;
    return 0;
}

void kp_text_index_free(kp_text_index *ix)
{
    free(ix->recs);
    ix->recs = NULL;
    ix->n = ix->cap = 0;
}

size_t kp_text_bom_len(const kp_input *in)
{
    if (in->size >= 3 && in->map[0] == 0xEF && in->map[1] == 0xBB && in->map[2] == 0xBF)
        return 3;
    return 0;
}

/* Picks the format from the extension of the path's last component. */
static int format_from_extension(const char *path, kp_input_format *out, kp_err *err)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) {
        const char *ext = dot + 1;
        if (strcasecmp(ext, "npy") == 0) {
            *out = KP_IN_NPY;
            return 0;
        }
        if (strcasecmp(ext, "csv") == 0) {
            *out = KP_IN_CSV;
            return 0;
        }
        if (strcasecmp(ext, "jsonl") == 0 || strcasecmp(ext, "ndjson") == 0) {
            *out = KP_IN_JSONL;
            return 0;
        }
        if (strcasecmp(ext, "json") == 0)
            return kp_err_set(err, KPOOL_EJOB,
                              "%s: cannot tell the input format from the extension '.json': "
                              "kpool reads JSON Lines (one value per line, .jsonl or .ndjson); "
                              "if that is what the file holds, set format = jsonl",
                              path);
        return kp_err_set(err, KPOOL_EJOB,
                          "%s: cannot tell the input format from the extension '.%s'; "
                          "the formats are .npy, .csv and .jsonl (or .ndjson), or set "
                          "format = npy, csv or jsonl",
                          path, ext);
    }
    return kp_err_set(err, KPOOL_EJOB,
                      "%s: cannot tell the input format without a file extension; the formats "
                      "are .npy, .csv and .jsonl (or .ndjson), or set format = npy, csv or jsonl",
                      path);
}

/* Maps `size` bytes of fd read-only and shared; an empty file maps to NULL
 * (mmap refuses a length of 0). */
static int map_fd(kp_input *in, int fd, size_t size, kp_err *err)
{
    in->size = size;
    if (size == 0) {
        in->map = NULL;
        return 0;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return kp_err_set(err, KPOOL_ESYS, "%s: cannot map %zu bytes into memory: %s", in->name,
                          size, strerror(errno));
    in->map = p;
    return 0;
}

/* Creates an unlinked temporary file in $TMPDIR (or /tmp). */
static int open_spool_file(char *dir_out, size_t dir_n)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    snprintf(dir_out, dir_n, "%s", dir);
    int fd = -1;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    /* No O_TMPFILE here (or the file system lacks it): name, then unlink. */
    char tmpl[4096];
    int len = snprintf(tmpl, sizeof tmpl, "%s/kpool-stdin-XXXXXX", dir);
    if (len < 0 || (size_t)len >= sizeof tmpl) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0)
        return -1;
    unlink(tmpl);
    return fd;
}

/* Copies everything readable from `src` into an unlinked temporary file and
 * maps that. */
static int spool_and_map(kp_input *in, int src, kp_err *err)
{
    char dir[4096];
    int fd = open_spool_file(dir, sizeof dir);
    if (fd < 0)
        return kp_err_set(err, KPOOL_ESYS, "%s: cannot create a temporary file in %s: %s", in->name,
                          dir, strerror(errno));
    char *buf = malloc(SPOOL_CHUNK);
    if (!buf) {
        close(fd);
        return kp_err_set(err, KPOOL_ENOMEM, "%s: out of memory", in->name);
    }
    size_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(src, buf, SPOOL_CHUNK);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = kp_err_set(err, KPOOL_EIO, "%s: cannot read: %s", in->name, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        if ((size_t)r > SIZE_MAX - total) {
            rc = kp_err_set(err, KPOOL_EIO, "%s: too large to hold", in->name);
            break;
        }
        if (kp_write_all(fd, buf, (size_t)r) < 0) {
            rc = kp_err_set(err, KPOOL_ESYS, "%s: cannot copy into a temporary file in %s: %s",
                            in->name, dir, strerror(errno));
            break;
        }
        total += (size_t)r;
    }
    free(buf);
    if (rc == 0)
        rc = map_fd(in, fd, total, err);
    close(fd);
    return rc;
}

static int map_path(kp_input *in, const char *path, kp_err *err)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC); /* a FIFO blocks here until a writer comes */
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return kp_err_set(err, KPOOL_EIO, "%s: cannot open: %s", in->name, strerror(errno));
    struct stat st;
    int rc;
    if (fstat(fd, &st) < 0) {
        rc = kp_err_set(err, KPOOL_EIO, "%s: cannot stat: %s", in->name, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = kp_err_set(err, KPOOL_EIO, "%s: is a directory, not an input file", in->name);
    } else if (S_ISREG(st.st_mode)) {
        if ((uintmax_t)st.st_size > SIZE_MAX)
            rc = kp_err_set(err, KPOOL_EIO, "%s: too large to map (%jd bytes)", in->name,
                            (intmax_t)st.st_size);
        else
            rc = map_fd(in, fd, (size_t)st.st_size, err);
    } else {
        /* A FIFO, a character device, /dev/stdin on a pipe: it cannot be
         * mapped, and reading it twice would not give the same bytes. */
        rc = spool_and_map(in, fd, err);
    }
    close(fd);
    return rc;
}

/* Decides the format (and whether the input is a range) from the config. */
static int resolve_format(const kp_input_config *cfg, kp_input_format *out, kp_err *err)
{
    kp_input_format f = cfg->format;
    if (f == KP_IN_MEMORY)
        return kp_err_set(err, KPOOL_EINVAL,
                          "input: records in memory are given with kp_input_from_records, "
                          "not with a configuration");
    if (f < KP_IN_AUTO || f > KP_IN_RANGE)
        return kp_err_set(err, KPOOL_EINVAL, "input: unknown format code %d", (int)f);
    if (f == KP_IN_RANGE) {
        if (cfg->path)
            return kp_err_set(err, KPOOL_EJOB,
                              "input: give either a path (%s) or a range, not both", cfg->path);
        *out = f;
        return 0;
    }
    if (!cfg->path) {
        if (f != KP_IN_AUTO)
            return kp_err_set(err, KPOOL_EJOB, "input: format %s needs a path (or - for stdin)",
                              format_name(f));
        *out = KP_IN_RANGE;
        return 0;
    }
    if (!*cfg->path)
        return kp_err_set(err, KPOOL_EJOB, "input: the path is empty");
    if (strcmp(cfg->path, "-") == 0) {
        if (f == KP_IN_AUTO)
            return kp_err_set(err, KPOOL_EJOB,
                              "%s: the format of standard input cannot be told from a file "
                              "extension; set format = npy, csv or jsonl",
                              STDIN_NAME);
        *out = f;
        return 0;
    }
    if (f == KP_IN_AUTO)
        return format_from_extension(cfg->path, out, err);
    *out = f;
    return 0;
}

int kp_input_open(kp_input **out, const kp_input_config *cfg, kp_err *err)
{
    *out = NULL;
    if (!cfg)
        return kp_err_set(err, KPOOL_EINVAL, "input: no configuration given");
    kp_input_format format = KP_IN_AUTO;
    int rc = resolve_format(cfg, &format, err);
    if (rc < 0)
        return rc;

    kp_input *in = calloc(1, sizeof *in);
    if (!in)
        return kp_err_set(err, KPOOL_ENOMEM, "input: out of memory");
    in->format = format;
    const char *name = format == KP_IN_RANGE         ? "range"
                       : strcmp(cfg->path, "-") == 0 ? STDIN_NAME
                                                     : cfg->path;
    in->name = strdup(name);
    if (!in->name) {
        rc = kp_err_set(err, KPOOL_ENOMEM, "input: out of memory");
        goto fail;
    }

    if (format == KP_IN_RANGE) {
        rc = kp_range_init(in, cfg->start, cfg->stop, cfg->step, err);
        if (rc < 0)
            goto fail;
        *out = in;
        return 0;
    }

    if (strcmp(cfg->path, "-") == 0)
        rc = spool_and_map(in, STDIN_FILENO, err);
    else
        rc = map_path(in, cfg->path, err);
    if (rc < 0)
        goto fail;

    switch (format) {
    case KP_IN_NPY:
        rc = kp_npy_index(in, err);
        break;
    case KP_IN_CSV:
        rc = kp_csv_index(in, cfg->header, err);
        break;
    case KP_IN_JSONL:
        rc = kp_jsonl_index(in, err);
        break;
    default:
        rc = kp_err_set(err, KPOOL_EINVAL, "%s: no reader for format %s", in->name,
                        format_name(format));
        break;
    }
    if (rc < 0)
        goto fail;
    *out = in;
    return 0;

fail:
    kp_input_close(in);
    return rc;
}

int kp_input_from_records(kp_input **out, const kp_value *records, size_t n, kp_err *err)
{
    *out = NULL;
    if (!records && n > 0)
        return kp_err_set(err, KPOOL_EINVAL, "memory: %zu records but no array of them", n);
    kp_input *in = calloc(1, sizeof *in);
    if (!in || !(in->name = strdup("memory"))) {
        free(in);
        return kp_err_set(err, KPOOL_ENOMEM, "memory: out of memory");
    }
    in->format = KP_IN_MEMORY;
    in->count = n;
    in->u.memory.records = records;
    *out = in;
    return 0;
}

size_t kp_input_count(const kp_input *in)
{
    return in->count;
}

kp_input_format kp_input_format_of(const kp_input *in)
{
    return in->format;
}

int kp_input_record(const kp_input *in, size_t index, kp_arena *arena, kp_value *out, kp_err *err)
{
    memset(out, 0, sizeof *out);
    out->kind = KP_V_NULL;
    if (index >= in->count)
        return kp_err_set(err, KPOOL_EINVAL, "record %zu does not exist (%s has %zu record%s)",
                          index, in->name, in->count, in->count == 1 ? "" : "s");
    switch (in->format) {
    case KP_IN_NPY:
        return kp_npy_record(in, index, out, err);
    case KP_IN_CSV:
        return kp_csv_record(in, index, arena, out, err);
    case KP_IN_JSONL:
        return kp_jsonl_record(in, index, arena, out, err);
    case KP_IN_RANGE:
        kp_range_record(in, index, out);
        return 0;
    case KP_IN_MEMORY:
        *out = in->u.memory.records[index];
        return 0;
    case KP_IN_AUTO:
        break;
    }
    return kp_err_set(err, KPOOL_EINVAL, "%s: no reader for format %s", in->name,
                      format_name(in->format));
}

void kp_input_describe(const kp_input *in, char *buf, size_t n)
{
    if (!buf || n == 0)
        return;
    switch (in->format) {
    case KP_IN_NPY:
        kp_npy_describe(in, buf, n);
        return;
    case KP_IN_RANGE:
        kp_range_describe(in, buf, n);
        return;
    case KP_IN_CSV:
        snprintf(buf, n, "%s: csv, %zu record%s%s", in->name, in->count, in->count == 1 ? "" : "s",
                 in->u.text.header ? " after a header line" : "");
        return;
    case KP_IN_JSONL:
        snprintf(buf, n, "%s: jsonl, %zu record%s", in->name, in->count, in->count == 1 ? "" : "s");
        return;
    case KP_IN_MEMORY:
        snprintf(buf, n, "%zu record%s in memory", in->count, in->count == 1 ? "" : "s");
        return;
    case KP_IN_AUTO:
        break;
    }
    snprintf(buf, n, "%s", in->name);
}

void kp_input_close(kp_input *in)
{
    if (!in)
        return;
    if (in->map)
        munmap((void *)in->map, in->size);
    if (in->format == KP_IN_CSV || in->format == KP_IN_JSONL)
        kp_text_index_free(&in->u.text.index);
    free(in->name);
    free(in);
}

bool kp_input_npy_rows(const kp_input *in, const unsigned char **base, size_t *stride, size_t *cols,
                       kp_type *type, int *ndim)
{
    if (in->format != KP_IN_NPY || !in->map || in->count == 0)
        return false;
    const kp_npy_info *info = &in->u.npy;
    *base = in->map + info->data_offset;
    *stride = info->cols * info->itemsize;
    *cols = info->cols;
    *type = info->type;
    *ndim = info->ndim;
    return true;
}

bool kp_input_range_of(const kp_input *in, int64_t *start, int64_t *step)
{
    if (in->format != KP_IN_RANGE)
        return false;
    *start = in->u.range.start;
    *step = in->u.range.step;
    return true;
}

uint64_t kp_input_identity(const kp_input *in)
{
    struct stat st;
    if (!in->map || strcmp(in->name, STDIN_NAME) == 0 || stat(in->name, &st) != 0)
        return 0;
    uint64_t id[6] = {(uint64_t)st.st_dev,          (uint64_t)st.st_ino,
                      (uint64_t)st.st_size,         (uint64_t)st.st_mtim.tv_sec,
                      (uint64_t)st.st_mtim.tv_nsec, (uint64_t)in->format};
    uint64_t h = kp_hash(KP_HASH_INIT, id, sizeof id);
    return h ? h : 1;
}

uint64_t kp_input_fingerprint(const kp_input *in)
{
    uint64_t h = kp_hash(KP_HASH_INIT, &in->format, sizeof in->format);
    h = kp_hash(h, &in->count, sizeof in->count);
    if (in->format == KP_IN_RANGE)
        return kp_hash(h, &in->u.range, sizeof in->u.range);
    /* In chunks, each dropped from this process's resident set once hashed:
     * the coordinator never reads the input otherwise, and its pages stay
     * in the page cache for the workers. */
    const size_t chunk = (size_t)1 << 20;
    for (size_t off = 0; in->map && off < in->size; off += chunk) {
        size_t n = in->size - off < chunk ? in->size - off : chunk;
        h = kp_hash_bulk(h, in->map + off, n);
        madvise((void *)(in->map + off), n, MADV_DONTNEED);
    }
    return h;
}
