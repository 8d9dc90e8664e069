/* value_fixture.h - building kp_value literals in tests.
 *
 * Included by test_value.c, test_kernel.c and test_template.c. Each builder
 * returns a value of one kind; string, list and nums values point at what the
 * caller passes and own nothing. The functions are static inline so that a
 * test file that does not use one of them builds without an unused-function
 * warning. */
#ifndef KP_VALUE_FIXTURE_H
#define KP_VALUE_FIXTURE_H

#include "value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline kp_value null_value(void)
{
    kp_value v = {.kind = KP_V_NULL};
    return v;
}

static inline kp_value bool_value(bool b)
{
    kp_value v = {.kind = KP_V_BOOL};
    v.as.b = b;
    return v;
}

static inline kp_value int_value(int64_t i)
{
    kp_value v = {.kind = KP_V_INT};
    v.as.i = i;
    return v;
}

static inline kp_value uint_value(uint64_t u)
{
    kp_value v = {.kind = KP_V_UINT};
    v.as.u = u;
    return v;
}

static inline kp_value float_value(double f)
{
    kp_value v = {.kind = KP_V_FLOAT};
    v.as.f = f;
    return v;
}

/* s must be NUL-terminated, as a kp_value string always is. */
static inline kp_value str_value(const char *s)
{
    kp_value v = {.kind = KP_V_STR};
    v.as.s.ptr = s;
    v.as.s.len = strlen(s);
    return v;
}

static inline kp_value list_value(const kp_value *items, size_t len)
{
    kp_value v = {.kind = KP_V_LIST};
    v.as.list.items = items;
    v.as.list.len = len;
    return v;
}

static inline kp_value nums_value(const void *data, size_t len, kp_type type)
{
    kp_value v = {.kind = KP_V_NUMS};
    v.as.nums.data = data;
    v.as.nums.len = len;
    v.as.nums.type = type;
    return v;
}

#endif
