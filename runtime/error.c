#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *kpool_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
#define KP_STRERROR_CASE(name, num, text)                                                          \
    case KPOOL_##name:                                                                             \
        return text;
        KPOOL_ERRNO_MAP(KP_STRERROR_CASE)
#undef KP_STRERROR_CASE
    }
    return "unknown error";
}

int kp_err_set(kp_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int kp_err_prefix(kp_err *err, const char *fmt, ...)
{
    char prefix[KP_ERR_MAX], old[KP_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is fine: the message stays readable, only its end is lost. */
    int len = snprintf(err->msg, sizeof err->msg, "%s: ", prefix);
    if (len >= 0 && (size_t)len < sizeof err->msg)
        snprintf(err->msg + len, sizeof err->msg - (size_t)len, "%s", old);
    return err->code;
}

void kp_err_clear(kp_err *err)
{
    err->code = 0;
    err->msg[0] = '\0';
}
