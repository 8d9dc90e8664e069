/* journal.h - the record of finished tasks that `kpool run --resume` reads.
 *
 * A journal is a header that fingerprints the run (job, plugin, input) and
 * then one checksummed record per finished task, appended as results come in.
 * A kill -9 at any instant leaves a valid prefix: on resume, a torn or corrupt
 * last record is cut off and its task simply runs again. A new journal's
 * file is made only once the run has lasted 0.1 s, or when its buffer fills
 * or the run ends unfinished: a run that completes sooner never touches the
 * disk for it (making and removing the file cost the seed job 5%), and one
 * killed outright sooner has no journal and runs again. */
#ifndef KP_JOURNAL_H
#define KP_JOURNAL_H

#include "error.h"
#include "output.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What must not change between a run and its resumption. */
typedef struct kp_fingerprint {
    uint64_t job;    /* the keys that decide the results (not workers, paths of output) */
    uint64_t plugin; /* the shared object's bytes */
    /* The input's bytes, or its range. A new journal leaves it 0 for an
     * input file, whose bytes would cost a pass over the whole file: it is
     * filled in when a run ends without finishing (kp_journal_set_input),
     * and a run killed before that is known by input_id alone. */
    uint64_t input;
    uint64_t input_id; /* the input file: device, inode, size, mtime (0: none) */
    uint64_t total;    /* number of tasks */
    int type;          /* the kernel's return type */
} kp_fingerprint;

typedef struct kp_journal kp_journal;

/* In input order the output file itself is the record of the tasks it
 * holds: a prefix says that its first `bytes` bytes are the results of the
 * tasks before `tasks`, all recorded, so the journal needs no record of
 * them. A resumed run keeps those bytes and runs the rest. */
typedef struct kp_journal_prefix {
    uint64_t tasks;
    uint64_t bytes;
} kp_journal_prefix;

/* FNV-1a, 64 bits, continuing from h (start with KP_HASH_INIT). */
#define KP_HASH_INIT UINT64_C(14695981039346656037)
uint64_t kp_hash(uint64_t h, const void *data, size_t n);

/* The same idea eight bytes at a time, for whole files (not FNV-1a itself). */
uint64_t kp_hash_bulk(uint64_t h, const void *data, size_t n);

/* Hashes a whole file's bytes. Errors name the file. */
int kp_hash_file(const char *path, uint64_t *out, kp_err *err);

/* Starts a new journal at `path`, with the fingerprint: removes any file
 * there at once, and makes the new one later (above). */
int kp_journal_create(kp_journal **out, const char *path, const kp_fingerprint *fp, kp_err *err);

/* Opens the journal of an interrupted run for appending, after checking that
 * its fingerprint equals `fp` (refusing with a sentence naming what changed).
 * *done receives the recorded outcomes sorted by index (texts owned by the
 * array; free with kp_journal_free_outcomes), *ndone their number. */
int kp_journal_resume(kp_journal **out, const char *path, const kp_fingerprint *fp,
                      kp_outcome **done, size_t *ndone, kp_err *err);

/* Records one finished task (not NOT_RUN ones), in a buffer. */
int kp_journal_append(kp_journal *j, const kp_outcome *o, kp_err *err);
/* Records n successes (ok, first attempt, no text) of the tasks first ..
 * first + n - 1, whose values are the 8 bytes at values + k * stride. */
int kp_journal_append_run(kp_journal *j, uint64_t first, const unsigned char *values, size_t stride,
                          size_t n, kp_err *err);

/* Writes the input's bytes' fingerprint into the journal's header, for a
 * run that ends without finishing (see kp_fingerprint.input). */
int kp_journal_set_input(kp_journal *j, uint64_t input, kp_err *err);

/* Records a prefix (see kp_journal_prefix), in the buffer: the output's
 * bytes must be written before the next kp_journal_flush. Prefixes only
 * grow. */
int kp_journal_prefix_record(kp_journal *j, const kp_journal_prefix *prefix, kp_err *err);

/* The last prefix recorded, or read by kp_journal_resume ({0, 0}: none;
 * NULL gives none). kp_journal_resume drops the records of tasks inside it. */
kp_journal_prefix kp_journal_prefix_of(const kp_journal *j);

/* Writes the buffered records as one block (one write); a new journal in
 * its first 0.1 s keeps them. Accepts NULL. */
int kp_journal_flush(kp_journal *j, kp_err *err);

/* Writes what is buffered (making the file of a new journal if need be),
 * closes, and with `remove` deletes the file (the run finished: nothing is
 * left to resume; a file never made stays unmade). Accepts NULL. */
int kp_journal_close(kp_journal *j, bool remove, kp_err *err);

void kp_journal_free_outcomes(kp_outcome *done, size_t n);

#endif
