/* examples/seed.c - the seed's Python program, in C with libkpool.
 *
 *     pool = mp.Pool(mp.cpu_count())
 *     results = pool.starmap(howmany_within_range, [(row, 4, 8) for row in data])
 *
 * Usage: example_seed data/seed.csv plugins/libseed.so
 * reads the rows of 5 integers, prints one count per row. The workers read
 * the rows where this program keeps them: nothing is serialized. */
#include <kpool/kpool.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COLS 5

typedef int64_t row_t[COLS];

/* Reads "a,b,c,d,e" lines into a growing array of rows. */
static row_t *read_rows(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 1024;
    row_t *rows = malloc(cap * sizeof *rows);
    int64_t r[COLS];
    *n = 0;
    while (rows && fscanf(f, "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64, &r[0],
                          &r[1], &r[2], &r[3], &r[4]) == COLS) {
        if (*n == cap) {
            row_t *more = realloc(rows, (cap *= 2) * sizeof *rows);
            if (!more) {
                free(rows);
                rows = NULL;
                break;
            }
            rows = more;
        }
        memcpy(rows[(*n)++], r, sizeof r);
    }
    fclose(f);
    return rows;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA.csv PLUGIN.so\n", argv[0]);
        return 2;
    }
    size_t n;
    row_t *data = read_rows(argv[1], &n);
    if (!data) {
        fprintf(stderr, "example_seed: %s: cannot read the rows\n", argv[1]);
        return 2;
    }

    /* pool = mp.Pool(mp.cpu_count()) */
    kpool_pool_t *pool = NULL;
    kpool_kernel_t *count = NULL;
    if (kpool_pool_open(&pool, NULL) < 0 ||
        kpool_kernel_load(pool, argv[2], "howmany_within_range", NULL, &count) < 0) {
        fprintf(stderr, "example_seed: %s\n", kpool_pool_error(pool));
        kpool_pool_free(pool);
        free(data);
        return 2;
    }

    /* [(row, 4, 8) for row in data]: the tuples one after the other */
    kpool_arg_t(*args)[3] = malloc((n + 1) * sizeof *args);
    kpool_outcome_t *results = malloc((n + 1) * sizeof *results);
    int rc = args && results ? 0 : KPOOL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        args[i][0] = kpool_array_i64(data[i], COLS);
        args[i][1] = kpool_i64(4);
        args[i][2] = kpool_i64(8);
    }

    /* results = pool.starmap(howmany_within_range, ...) */
    if (rc == 0)
        rc = kpool_starmap(pool, count, &args[0][0], n, 3, results);
    if (rc < 0 && rc != KPOOL_EFAILED) {
        const char *why = kpool_pool_error(pool);
        fprintf(stderr, "example_seed: %s\n", *why ? why : kpool_strerror(rc));
    } else {
        for (size_t i = 0; i < n; i++) {
            const kpool_outcome_t *o = &results[i];
            if (o->kind == KPOOL_TASK_OK) {
                printf("%" PRId64 "\n", o->value.i);
                continue;
            }
            printf("\n"); /* a failed task keeps its line, as `kpool run` writes it */
            fprintf(stderr, "example_seed: task %zu %s: %s\n", i, kpool_task_kind_name(o->kind),
                    o->message);
        }
    }

    kpool_pool_free(pool);
    free(results);
    free(args);
    free(data);
    return rc == 0 ? 0 : 1;
}
