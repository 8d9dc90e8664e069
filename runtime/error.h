/* error.h - the error record that internal functions fill in.
 *
 * Internal functions return 0 or a negative KPOOL_E* code and, on failure,
 * write one user-facing sentence into a kp_err the caller owns. The sentence
 * names the file, line, column, task index or parameter it is about. */
#ifndef KP_ERROR_H
#define KP_ERROR_H

#include <kpool/kpool.h>

#define KP_ERR_MAX 1024

typedef struct kp_err {
    int code;
    char msg[KP_ERR_MAX];
} kp_err;

/* Formats the message into *err (which may be NULL) and returns `code`, so a
 * failure reads `return kp_err_set(err, KPOOL_EJOB, "...", ...);`. */
int kp_err_set(kp_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Puts "prefix: " before the message already in *err (e.g. a file name);
 * returns err->code. */
int kp_err_prefix(kp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears *err to code 0 and an empty message. */
void kp_err_clear(kp_err *err);

#endif
