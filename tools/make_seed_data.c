/* make_seed_data.c - writes the seed's input data and its expected results.
 *
 *   make_seed_data DIR [ROWS]
 *
 * writes, for ROWS (default 200000) rows of 5 integers drawn uniformly from
 * 0..9:
 *   DIR/seed.npy           the rows as a ROWS x 5 '<i8' array (npy 1.0)
 *   DIR/seed.csv           the rows, 5 comma-separated integers per line
 *   DIR/seed.jsonl         one starmap tuple per line: [[5, 6, 7, 0, 9], 4, 8]
 *   DIR/seed.expected.csv  per row, how many of its elements lie in [4, 8]:
 *                          what pool.starmap(howmany_within_range,
 *                          [(row, 4, 8) for row in data]) returns
 *
 * The numbers come from splitmix64 with a fixed seed and are written byte by
 * byte in little-endian order, so every machine makes the same files. The
 * expected counts come from a plain loop, independent of kpool. Each file is
 * written to a temporary name in DIR and renamed into place when complete,
 * so an interrupted run never leaves a short file under a final name.
 *
 * Only libc and POSIX are used; the program does not link libkpool.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_ROWS 200000
#define COLS         5
#define MINIMUM      4
#define MAXIMUM      8
#define SEED         UINT64_C(0x6b706f6f6c736565) /* "kpoolsee" */

enum { F_NPY, F_CSV, F_JSONL, F_EXPECTED, F_COUNT };

static const char *const file_names[F_COUNT] = {"seed.npy", "seed.csv", "seed.jsonl",
                                                "seed.expected.csv"};

typedef struct out_file {
    char tmp[4096];   /* the temporary name while writing */
    char final[4096]; /* the name it is renamed to */
    FILE *f;
} out_file;

/* splitmix64 (Steele, Lea, Flood 2014): a tiny generator whose sequence is
 * defined by integer arithmetic alone, hence the same everywhere. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A uniform integer in 0..n-1: draws below 2^64 mod n are rejected so that
 * every residue is equally likely. */
static uint64_t uniform_below(uint64_t *state, uint64_t n)
{
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = splitmix64(state);
        if (r >= threshold)
            return r % n;
    }
}

static int parse_rows(const char *text, uint64_t *out)
{
    if (!*text)
        return -1;
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int open_out(out_file *o, const char *dir, const char *name)
{
    int n1 = snprintf(o->final, sizeof o->final, "%s/%s", dir, name);
    int n2 = snprintf(o->tmp, sizeof o->tmp, "%s/.%s.XXXXXX", dir, name);
    if (n1 < 0 || (size_t)n1 >= sizeof o->final || n2 < 0 || (size_t)n2 >= sizeof o->tmp) {
        fprintf(stderr, "make_seed_data: %s/%s: path too long\n", dir, name);
        o->tmp[0] = '\0';
        return -1;
    }
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        fprintf(stderr, "make_seed_data: %s: cannot create: %s\n", o->tmp, strerror(errno));
        o->tmp[0] = '\0';
        return -1;
    }
    /* mkstemp creates 0600; data files are for everyone to read. */
    if (fchmod(fd, 0644) < 0 || !(o->f = fdopen(fd, "wb"))) {
        fprintf(stderr, "make_seed_data: %s: %s\n", o->tmp, strerror(errno));
        close(fd);
        return -1;
    }
    return 0;
}

/* Flushes, syncs and closes the file; returns -1 (with a message) when any
 * write to it failed. */
static int finish_out(out_file *o)
{
    int failed = ferror(o->f) || fflush(o->f) != 0 || fsync(fileno(o->f)) != 0;
    int saved = errno;
    if (fclose(o->f) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    o->f = NULL;
    if (failed) {
        fprintf(stderr, "make_seed_data: %s: cannot write: %s\n", o->final, strerror(saved));
        return -1;
    }
    return 0;
}

static void put_le64(FILE *f, int64_t v)
{
    uint64_t u = (uint64_t)v;
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(u >> (8 * i));
    fwrite(b, 1, sizeof b, f);
}

/* Writes the npy 1.0 preamble for a rows x COLS '<i8' array, padded with
 * spaces so that the data starts at a multiple of 64 bytes, as numpy does. */
static int write_npy_header(FILE *f, uint64_t rows)
{
    char dict[128];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '<i8', 'fortran_order': False, 'shape': (%llu, %d), }",
                       (unsigned long long)rows, COLS);
    if (len < 0 || (size_t)len >= sizeof dict)
        return -1;
    size_t total = 10 + (size_t)len + 1;
    total = (total + 63) / 64 * 64;
    size_t hlen = total - 10;
    unsigned char pre[10] = {0x93,
                             'N',
                             'U',
                             'M',
                             'P',
                             'Y',
                             1,
                             0,
                             (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, sizeof pre, f);
    fwrite(dict, 1, (size_t)len, f);
    for (size_t i = 10 + (size_t)len; i < total - 1; i++)
        fputc(' ', f);
    fputc('\n', f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr,
                "usage: make_seed_data DIR [ROWS]\n"
                "writes DIR/seed.npy, seed.csv, seed.jsonl and seed.expected.csv "
                "(ROWS rows of %d integers in 0..9; default %d)\n",
                COLS, DEFAULT_ROWS);
        return 2;
    }
    const char *dir = argv[1];
    uint64_t rows = DEFAULT_ROWS;
    if (argc == 3 && parse_rows(argv[2], &rows) < 0) {
        fprintf(stderr, "make_seed_data: ROWS must be a non-negative integer, not '%s'\n", argv[2]);
        return 2;
    }

    out_file out[F_COUNT];
    memset(out, 0, sizeof out);
    int status = 1;
    for (int i = 0; i < F_COUNT; i++)
        if (open_out(&out[i], dir, file_names[i]) < 0)
            goto cleanup;
    if (write_npy_header(out[F_NPY].f, rows) < 0) {
        fprintf(stderr, "make_seed_data: %s: shape too long for the header\n", out[F_NPY].final);
        goto cleanup;
    }

    uint64_t state = SEED;
    for (uint64_t r = 0; r < rows; r++) {
        int64_t row[COLS];
        int within = 0;
        for (int c = 0; c < COLS; c++) {
            row[c] = (int64_t)uniform_below(&state, 10);
            within += MINIMUM <= row[c] && row[c] <= MAXIMUM;
            put_le64(out[F_NPY].f, row[c]);
        }
        fprintf(out[F_CSV].f, "%d,%d,%d,%d,%d\n", (int)row[0], (int)row[1], (int)row[2],
                (int)row[3], (int)row[4]);
        fprintf(out[F_JSONL].f, "[[%d, %d, %d, %d, %d], %d, %d]\n", (int)row[0], (int)row[1],
                (int)row[2], (int)row[3], (int)row[4], MINIMUM, MAXIMUM);
        fprintf(out[F_EXPECTED].f, "%d\n", within);
    }

    for (int i = 0; i < F_COUNT; i++)
        if (finish_out(&out[i]) < 0)
            goto cleanup;
    for (int i = 0; i < F_COUNT; i++) {
        if (rename(out[i].tmp, out[i].final) < 0) {
            fprintf(stderr, "make_seed_data: cannot rename %s to %s: %s\n", out[i].tmp,
                    out[i].final, strerror(errno));
            goto cleanup;
        }
        out[i].tmp[0] = '\0';
    }
    status = 0;

cleanup:
    for (int i = 0; i < F_COUNT; i++) {
        if (out[i].f)
            fclose(out[i].f);
        if (out[i].tmp[0])
            unlink(out[i].tmp);
    }
    return status;
}
