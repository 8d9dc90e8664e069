/* fuzz_template.c - the args template on hostile text.
 *
 * The bytes, cut at the first NUL (a job-file value is a C string), are
 * parsed as an `args` template. A failure must say "column N: ..." with N
 * inside the text. A template that parses is applied to a few fixed
 * records - a list of 3 integers, an npy-like row of 5 i64, an integer
 * scalar, and no record at all (apply) - and each tuple it builds is
 * checked: its length, every value, and every conversion a kernel's
 * parameter could ask of it. */
#include "fuzz_common.h"

#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arguments of one tuple that also go through every conversion. */
#define CONVERT_CAP 16

/* The tuple length `t` must build for `record`, or SIZE_MAX when it must
 * fail because the record lacks what an item refers to. */
static size_t expected_length(const kp_template *t, const kp_value *record)
{
    size_t total = 0, len = record ? kp_value_len(record) : 0;
    bool is_list = record && (record->kind == KP_V_LIST || record->kind == KP_V_NUMS);
    for (size_t i = 0; i < t->n; i++) {
        const kp_template_item *item = &t->items[i];
        switch (item->kind) {
        case KP_ARG_LITERAL:
            total++;
            break;
        case KP_ARG_RECORD:
            if (!record)
                return SIZE_MAX;
            total++;
            break;
        case KP_ARG_ELEMENT:
            if (!is_list || item->element < 1 || item->element > len)
                return SIZE_MAX;
            total++;
            break;
        case KP_ARG_SPREAD:
            if (!is_list)
                return SIZE_MAX;
            total += len;
            break;
        default:
            kp_fuzz_fail("template item %zu has unknown kind %d", i, (int)item->kind);
        }
    }
    return total;
}

static void apply_to(const kp_template *t, const kp_value *record, const char *name,
                     const void *map, size_t map_size)
{
    kp_arena arena;
    kp_arena_init(&arena);
    kp_value *args = NULL;
    size_t nargs = 0;
    kp_err err;
    kp_err_clear(&err);
    size_t want = expected_length(t, record);
    int rc = kp_template_apply(t, record, &arena, &args, &nargs, &err);
    if (rc < 0) {
        kp_fuzz_check_error("kp_template_apply", rc, &err);
        if (rc != KPOOL_EINPUT && rc != KPOOL_ENOMEM)
            kp_fuzz_fail("kp_template_apply to %s failed with %d: %s", name, rc, err.msg);
        if (want != SIZE_MAX && rc == KPOOL_EINPUT)
            kp_fuzz_fail("kp_template_apply to %s failed, yet every item is there: %s", name,
                         err.msg);
        kp_arena_free(&arena);
        return;
    }
    if (want == SIZE_MAX)
        kp_fuzz_fail("kp_template_apply to %s succeeded though an item refers to what the "
                     "record lacks",
                     name);
    if (nargs != want)
        kp_fuzz_fail("kp_template_apply to %s built %zu values, expected %zu", name, nargs, want);
    if (nargs > 0 && !args)
        kp_fuzz_fail("kp_template_apply to %s built %zu values at NULL", name, nargs);
    for (size_t i = 0; i < nargs; i++) {
        kp_fuzz_check_value(&args[i], true, map, map_size);
        kp_fuzz_describe_value(&args[i]);
        if (i < CONVERT_CAP)
            kp_fuzz_convert_value(&args[i], &arena, map, map_size);
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->items[i].kind == KP_ARG_SPREAD)
            continue;
        kp_value v;
        kp_err_clear(&err);
        rc = kp_template_item_value(&t->items[i], record, &v, &err);
        if (rc < 0)
            kp_fuzz_fail("kp_template_item_value of item %zu for %s failed after apply "
                         "succeeded: %s",
                         i, name, err.msg);
        kp_fuzz_check_value(&v, true, map, map_size);
    }
    kp_arena_free(&arena);
}

static void check_column(const char *text, const kp_err *err)
{
    size_t column = 0;
    if (sscanf(err->msg, "column %zu: ", &column) != 1)
        kp_fuzz_fail("kp_template_parse: the message does not start with a column: %s", err->msg);
    size_t len = strlen(text);
    if (column < 1 || column > len + 1)
        kp_fuzz_fail("kp_template_parse: column %zu is outside the %zu-byte text: %s", column, len,
                     err->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = kp_fuzz_strndup(data, size);
    kp_template t;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_template_parse(&t, text, &err);
    if (rc < 0) {
        kp_fuzz_check_error("kp_template_parse", rc, &err);
        if (rc == KPOOL_EJOB)
            check_column(text, &err);
        else if (rc != KPOOL_ENOMEM)
            kp_fuzz_fail("kp_template_parse failed with %d: %s", rc, err.msg);
        kp_template_free(&t);
        free(text);
        return 0;
    }
    if (t.n > 0 && !t.items)
        kp_fuzz_fail("kp_template_parse gave %zu items at NULL", t.n);
    for (size_t i = 0; i < t.n; i++)
        if (t.items[i].kind == KP_ARG_LITERAL)
            kp_fuzz_check_value(&t.items[i].literal, true, NULL, 0);

    /* The records live in exactly-sized heap blocks, so that an element
     * read past their end is an ASan report. */
    kp_value *three = malloc(3 * sizeof *three);
    int64_t *five = malloc(5 * sizeof *five);
    if (!three || !five)
        abort();
    for (int i = 0; i < 3; i++) {
        memset(&three[i], 0, sizeof three[i]);
        three[i].kind = KP_V_INT;
        three[i].as.i = i == 1 ? -2 : i + 1;
    }
    const int64_t row[5] = {5, 6, 7, INT64_MIN, INT64_MAX};
    memcpy(five, row, sizeof row);

    kp_value list = {.kind = KP_V_LIST};
    list.as.list.items = three;
    list.as.list.len = 3;
    kp_value nums = {.kind = KP_V_NUMS};
    nums.as.nums.data = five;
    nums.as.nums.len = 5;
    nums.as.nums.type = KP_T_I64;
    kp_value scalar = {.kind = KP_V_INT};
    scalar.as.i = 42;

    apply_to(&t, &list, "a list of 3 integers", NULL, 0);
    apply_to(&t, &nums, "a row of 5 i64", five, 5 * sizeof *five);
    apply_to(&t, &scalar, "an integer", NULL, 0);
    apply_to(&t, NULL, "no record", NULL, 0);
    if (!kp_template_uses_record(&t) && expected_length(&t, NULL) == SIZE_MAX)
        kp_fuzz_fail("a template that uses no record needs one");

    free(five);
    free(three);
    kp_template_free(&t);
    free(text);
    return 0;
}
