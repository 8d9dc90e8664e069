/* fuzz_common.c - scratch files and contract checks for the fuzz targets. */
#include "fuzz_common.h"

#include "input.h"
#include "input_impl.h"
#include "kernel.h"
#include "signature.h"
#include "types.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Records read per input: enough to reach every state of a reader, few
 * enough that one run stays fast on a file of a million tiny records. */
#define RECORD_CAP 1000
/* Records, and elements of each, that also go through every conversion: a
 * failed conversion formats a message, which costs more than the reading. */
#define CONVERT_CAP 4
/* Nesting the value walker follows; jsonl and templates nest at most 64. */
#define DEPTH_CAP 128

void kp_fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: contract broken: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static char scratch[PATH_MAX];

static void remove_scratch(void)
{
    DIR *d = opendir(scratch);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[PATH_MAX + 256];
            snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(scratch);
}

const char *kp_fuzz_scratch_dir(void)
{
    if (scratch[0])
        return scratch;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    int len = snprintf(scratch, sizeof scratch, "%s/kpool-fuzz-XXXXXX", tmp);
    if (len < 0 || (size_t)len >= sizeof scratch || !mkdtemp(scratch)) {
        fprintf(stderr, "fuzz: cannot make a scratch folder under %s: %s\n", tmp, strerror(errno));
        abort();
    }
    atexit(remove_scratch);
    return scratch;
}

void kp_fuzz_write_file(const char *name, const uint8_t *data, size_t size, char *path, size_t n)
{
    int len = snprintf(path, n, "%s/%s", kp_fuzz_scratch_dir(), name);
    if (len < 0 || (size_t)len >= n) {
        fprintf(stderr, "fuzz: the scratch path of %s is too long\n", name);
        abort();
    }
    /* A new file rather than a truncated one: ext4 flushes a file that was
     * truncated and rewritten when it is closed, which would cost more than
     * the run itself. */
    if (unlink(path) < 0 && errno != ENOENT) {
        fprintf(stderr, "fuzz: cannot remove %s: %s\n", path, strerror(errno));
        abort();
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot create %s: %s\n", path, strerror(errno));
        abort();
    }
    while (size > 0) {
        ssize_t w = write(fd, data, size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
            abort();
        }
        data += w;
        size -= (size_t)w;
    }
    close(fd);
}

char *kp_fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) {
        fputs("fuzz: out of memory copying the input\n", stderr);
        abort();
    }
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

void kp_fuzz_check_error(const char *what, int rc, const kp_err *err)
{
    if (rc >= 0)
        kp_fuzz_fail("%s: expected a failure, got %d", what, rc);
    if (err->code != rc)
        kp_fuzz_fail("%s: returned %d but err->code is %d", what, rc, err->code);
    if (!memchr(err->msg, '\0', sizeof err->msg))
        kp_fuzz_fail("%s: the error message is not NUL-terminated", what);
    if (err->msg[0] == '\0')
        kp_fuzz_fail("%s: failed with %d (%s) but gave no message", what, rc, kpool_strerror(rc));
}

static bool is_numeric_type(kp_type t)
{
    return t == KP_T_BOOL || kp_type_is_int(t) || kp_type_is_float(t);
}

static void check_value(const kp_value *v, bool no_nul, const unsigned char *map, size_t map_size,
                        int depth)
{
    if (depth > DEPTH_CAP)
        kp_fuzz_fail("a value nests deeper than %d levels", DEPTH_CAP);
    switch (v->kind) {
    case KP_V_NULL:
    case KP_V_BOOL:
    case KP_V_INT:
    case KP_V_FLOAT:
        return;
    case KP_V_UINT:
        if (v->as.u <= (uint64_t)INT64_MAX)
            kp_fuzz_fail("a UINT value holds %llu, which fits an INT", (unsigned long long)v->as.u);
        return;
    case KP_V_STR:
        if (!v->as.s.ptr)
            kp_fuzz_fail("a string of length %zu has a NULL pointer", v->as.s.len);
        if (v->as.s.ptr[v->as.s.len] != '\0')
            kp_fuzz_fail("a string of length %zu is not NUL-terminated at its length", v->as.s.len);
        if (no_nul && memchr(v->as.s.ptr, '\0', v->as.s.len))
            kp_fuzz_fail(
                "a string of length %zu holds a NUL byte at %zu", v->as.s.len,
                (size_t)((const char *)memchr(v->as.s.ptr, '\0', v->as.s.len) - v->as.s.ptr));
        return;
    case KP_V_LIST:
        if (v->as.list.len > 0 && !v->as.list.items)
            kp_fuzz_fail("a list of %zu items has a NULL array", v->as.list.len);
        for (size_t i = 0; i < v->as.list.len; i++)
            check_value(&v->as.list.items[i], no_nul, map, map_size, depth + 1);
        return;
    case KP_V_NUMS: {
        kp_type t = v->as.nums.type;
        if (!is_numeric_type(t))
            kp_fuzz_fail("a nums value has element type %d, not a number or bool", (int)t);
        size_t bytes = v->as.nums.len * kp_type_size(t);
        if (v->as.nums.len && bytes / v->as.nums.len != kp_type_size(t))
            kp_fuzz_fail("a nums value of %zu elements overflows size_t", v->as.nums.len);
        if (map && v->as.nums.len) {
            const unsigned char *p = v->as.nums.data;
            if (p < map || p > map + map_size || bytes > (size_t)(map + map_size - p))
                kp_fuzz_fail("a row of %zu bytes at offset %td lies outside the %zu-byte file",
                             bytes, p - map, map_size);
        }
        /* Reads every element: a row beyond the mapping faults here. */
        for (size_t i = 0; i < v->as.nums.len; i++) {
            kp_value e;
            if (!kp_value_element(v, i, &e))
                kp_fuzz_fail("element %zu of a nums value of %zu is unreadable", i, v->as.nums.len);
            check_value(&e, no_nul, map, map_size, depth + 1);
        }
        return;
    }
    }
    kp_fuzz_fail("a value has unknown kind %d", (int)v->kind);
}

void kp_fuzz_check_value(const kp_value *v, bool no_nul, const void *map, size_t map_size)
{
    check_value(v, no_nul, map, map_size, 0);
}

void kp_fuzz_describe_value(const kp_value *v)
{
    static const size_t sizes[] = {1, 2, 5, 16, 80, 512};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *buf = malloc(sizes[i]);
        if (!buf)
            abort();
        kp_value_describe(v, buf, sizes[i]);
        if (!memchr(buf, '\0', sizes[i]))
            kp_fuzz_fail("kp_value_describe into %zu bytes left no NUL", sizes[i]);
        free(buf);
    }
}

/* A one-parameter signature "void (T[] x)" or "void (T x)". */
static void one_param(kp_signature *sig, kp_type t, bool is_array)
{
    memset(sig, 0, sizeof *sig);
    sig->ret = KP_T_VOID;
    sig->nparams = 1;
    sig->params[0].type = t;
    sig->params[0].is_array = is_array;
    snprintf(sig->params[0].name, sizeof sig->params[0].name, "x");
}

void kp_fuzz_convert_value(const kp_value *v, kp_arena *arena, const void *map, size_t map_size)
{
    const unsigned char *lo = map, *hi = lo ? lo + map_size : NULL;
    for (int t = KP_T_BOOL; t < KP_T_COUNT_; t++) {
        for (int as_array = 0; as_array < 2; as_array++) {
            if (as_array && t == KP_T_STR)
                continue; /* the signature parser refuses str[] */
            kp_signature sig;
            one_param(&sig, (kp_type)t, as_array);
            kp_scalar out;
            const void *data = NULL;
            size_t len = 0;
            kp_err err;
            kp_err_clear(&err);
            memset(&out, 0, sizeof out);
            int rc = kp_convert_arg(&sig, 0, v, arena, &out, &data, &len, &err);
            if (rc < 0) {
                kp_fuzz_check_error("kp_convert_arg", rc, &err);
                continue;
            }
            if (as_array) {
                if (len > 0 && !data)
                    kp_fuzz_fail("kp_convert_arg to %s[] gave %zu elements at NULL",
                                 kp_type_name((kp_type)t), len);
                /* An array passed by pointer into the mapped file must end
                 * inside it; then it is read whole, as the kernel would. */
                const unsigned char *p = data;
                size_t bytes = len * kp_type_size((kp_type)t);
                if (lo && len && p >= lo && p < hi && bytes > (size_t)(hi - p))
                    kp_fuzz_fail("kp_convert_arg to %s[] gave %zu bytes at offset %td of the "
                                 "%zu-byte file",
                                 kp_type_name((kp_type)t), bytes, p - lo, map_size);
                volatile unsigned char sink = 0;
                for (size_t i = 0; i < bytes; i++)
                    sink ^= p[i];
                (void)sink;
            } else if (t == KP_T_STR) {
                if (!out.str)
                    kp_fuzz_fail("kp_convert_arg to str succeeded with a NULL string");
                volatile size_t slen = strlen(out.str); /* ASan checks the string's end */
                (void)slen;
            }
        }
    }
}

/* Reads record `index` of `in` and checks it; the first records and their
 * elements also go through every conversion. */
static void read_record(const kp_input *in, size_t index, kp_arena *arena, bool no_nul,
                        const void *map, size_t map_size)
{
    kp_value rec;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_input_record(in, index, arena, &rec, &err);
    if (rc < 0) {
        kp_fuzz_check_error("kp_input_record", rc, &err);
        return;
    }
    kp_fuzz_check_value(&rec, no_nul, map, map_size);
    kp_fuzz_describe_value(&rec);
    if (index < CONVERT_CAP) {
        kp_fuzz_convert_value(&rec, arena, map, map_size);
        size_t n = kp_value_len(&rec);
        for (size_t e = 0; e < n && e < CONVERT_CAP; e++) {
            kp_value elem;
            if (!kp_value_element(&rec, e, &elem))
                kp_fuzz_fail("record %zu: element %zu of %zu is missing", index, e, n);
            kp_fuzz_convert_value(&elem, arena, map, map_size);
        }
    }
    kp_arena_reset(arena);
}

long long kp_fuzz_input(const uint8_t *data, size_t size, const char *ext, bool header,
                        bool read_records)
{
    char name[32], path[PATH_MAX + 64];
    snprintf(name, sizeof name, "input.%s", ext);
    kp_fuzz_write_file(name, data, size, path, sizeof path);

    kp_input_config cfg = {.path = path, .format = KP_IN_AUTO, .header = header};
    kp_input *in = NULL;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_input_open(&in, &cfg, &err);
    if (rc < 0) {
        kp_fuzz_check_error("kp_input_open", rc, &err);
        if (in)
            kp_fuzz_fail("kp_input_open failed but set *out");
        return -1;
    }
    if (!in)
        kp_fuzz_fail("kp_input_open succeeded without an input");
    if (kp_input_format_of(in) == KP_IN_AUTO)
        kp_fuzz_fail("kp_input_format_of is AUTO after open");

    /* npy rows point into the mapping; text records live in the arena. */
    bool npy = kp_input_format_of(in) == KP_IN_NPY;
    const void *map = npy ? in->map : NULL;
    size_t map_size = npy ? in->size : 0;
    bool no_nul = !npy;

    size_t count = kp_input_count(in);
    if (!read_records) {
        kp_input_close(in);
        return (long long)count;
    }
    kp_arena arena;
    kp_arena_init(&arena);
    for (size_t i = 0; i < count && i < RECORD_CAP; i++)
        read_record(in, i, &arena, no_nul, map, map_size);
    /* The last record probes the far end of a file with more records than
     * the cap. */
    if (count > RECORD_CAP)
        read_record(in, count - 1, &arena, no_nul, map, map_size);
    /* One past the end is an error, never a read. */
    kp_value rec;
    kp_err_clear(&err);
    rc = kp_input_record(in, count, &arena, &rec, &err);
    kp_fuzz_check_error("kp_input_record past the end", rc, &err);
    kp_arena_free(&arena);

    static const size_t sizes[] = {1, 7, 64, 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char buf[1024];
        memset(buf, 'x', sizeof buf);
        kp_input_describe(in, buf, sizes[i]);
        if (!memchr(buf, '\0', sizes[i]))
            kp_fuzz_fail("kp_input_describe into %zu bytes left no NUL", sizes[i]);
    }
    kp_input_close(in);
    return (long long)count;
}
