/* fuzz_signature.c - the signature parser on hostile text.
 *
 * The bytes, cut at the first NUL (the parser reads C strings), are parsed.
 * A failure must say "column N: ..." with N inside the text. A success must
 * survive a round trip: its canonical form (kp_signature_format) parses
 * again to the same types, names and canonical text, and the C prototype
 * and labels are written without overflowing small buffers. */
#include "fuzz_common.h"

#include "signature.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formats with kp_signature_format into a malloc'ed buffer of exactly the
 * length it reports, checking that smaller buffers truncate safely. */
static char *format_exact(const kp_signature *sig)
{
    size_t need = kp_signature_format(sig, NULL, 0);
    static const size_t small[] = {1, 2, 9};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        char *buf = malloc(small[i]);
        if (!buf)
            abort();
        size_t got = kp_signature_format(sig, buf, small[i]);
        if (got != need)
            kp_fuzz_fail("kp_signature_format reports %zu bytes into %zu but %zu into none", got,
                         small[i], need);
        if (!memchr(buf, '\0', small[i]))
            kp_fuzz_fail("kp_signature_format into %zu bytes left no NUL", small[i]);
        free(buf);
    }
    char *text = malloc(need + 1);
    if (!text)
        abort();
    if (kp_signature_format(sig, text, need + 1) != need || strlen(text) != need)
        kp_fuzz_fail("kp_signature_format wrote %zu bytes, not the %zu it reported", strlen(text),
                     need);
    return text;
}

static void check_column(const char *text, const kp_err *err)
{
    size_t column = 0;
    if (sscanf(err->msg, "column %zu: ", &column) != 1)
        kp_fuzz_fail("kp_signature_parse: the message does not start with a column: %s", err->msg);
    size_t len = strlen(text);
    if (column < 1 || column > len + 1)
        kp_fuzz_fail("kp_signature_parse: column %zu is outside the %zu-byte text: %s", column, len,
                     err->msg);
}

static void check_prototype(const kp_signature *sig)
{
    size_t need = kp_signature_prototype(sig, NULL, NULL, 0);
    char *buf = malloc(need + 1);
    if (!buf)
        abort();
    if (kp_signature_prototype(sig, NULL, buf, need + 1) != need || strlen(buf) != need)
        kp_fuzz_fail("kp_signature_prototype wrote %zu bytes, not the %zu it reported", strlen(buf),
                     need);
    char small[7];
    if (kp_signature_prototype(sig, "k", small, sizeof small) == 0 ||
        !memchr(small, '\0', sizeof small))
        kp_fuzz_fail("kp_signature_prototype into 7 bytes broke the buffer");
    free(buf);
    for (size_t i = 0; i <= sig->nparams; i++) {
        char label[4];
        const char *l = kp_param_label(sig, i, label, sizeof label);
        if (!l)
            kp_fuzz_fail("kp_param_label(%zu) gave NULL", i);
        volatile size_t len = strlen(l); /* ASan checks that it ends inside its buffer */
        (void)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = kp_fuzz_strndup(data, size);
    kp_signature sig;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_signature_parse(text, &sig, &err);
    if (rc < 0) {
        kp_fuzz_check_error("kp_signature_parse", rc, &err);
        if (rc != KPOOL_ESIG)
            kp_fuzz_fail("kp_signature_parse failed with %d, not KPOOL_ESIG", rc);
        check_column(text, &err);
        free(text);
        return 0;
    }
    if (sig.nparams > KP_MAX_PARAMS)
        kp_fuzz_fail("kp_signature_parse gave %zu parameters", sig.nparams);
    for (size_t i = 0; i < sig.nparams; i++)
        if (sig.params[i].type == KP_T_VOID || sig.params[i].type >= KP_T_COUNT_ ||
            (sig.params[i].is_array && sig.params[i].type == KP_T_STR))
            kp_fuzz_fail("parameter %zu has type %d%s", i + 1, (int)sig.params[i].type,
                         sig.params[i].is_array ? "[]" : "");

    char *canonical = format_exact(&sig);
    kp_signature again;
    kp_err_clear(&err);
    rc = kp_signature_parse(canonical, &again, &err);
    if (rc < 0)
        kp_fuzz_fail("the canonical form '%s' of '%s' does not parse: %s", canonical, text,
                     err.msg);
    if (!kp_signature_same_types(&sig, &again))
        kp_fuzz_fail("the canonical form '%s' of '%s' parses to other types", canonical, text);
    if (strcmp(sig.name, again.name) != 0)
        kp_fuzz_fail("the canonical form '%s' of '%s' names the function '%s', not '%s'", canonical,
                     text, again.name, sig.name);
    for (size_t i = 0; i < sig.nparams; i++)
        if (strcmp(sig.params[i].name, again.params[i].name) != 0)
            kp_fuzz_fail("the canonical form '%s' of '%s' names parameter %zu '%s', not '%s'",
                         canonical, text, i + 1, again.params[i].name, sig.params[i].name);
    char *twice = format_exact(&again);
    if (strcmp(canonical, twice) != 0)
        kp_fuzz_fail("formatting is not stable: '%s' then '%s'", canonical, twice);

    check_prototype(&sig);
    free(twice);
    free(canonical);
    free(text);
    return 0;
}
