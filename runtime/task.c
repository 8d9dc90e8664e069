#include "task.h"

#include "plugin.h"

#include <stdio.h>
#include <string.h>

/* Widens the kernel's C return value into the writer's outcome. */
static void store_result(const kp_result *r, kp_outcome *o)
{
    o->type = r->type;
    switch (r->type) {
    case KP_T_BOOL:
        o->value.b = r->value.b;
        break;
    case KP_T_I8:
        o->value.i = r->value.i8;
        break;
    case KP_T_I16:
        o->value.i = r->value.i16;
        break;
    case KP_T_I32:
        o->value.i = r->value.i32;
        break;
    case KP_T_I64:
        o->value.i = r->value.i64;
        break;
    case KP_T_U8:
        o->value.u = r->value.u8;
        break;
    case KP_T_U16:
        o->value.u = r->value.u16;
        break;
    case KP_T_U32:
        o->value.u = r->value.u32;
        break;
    case KP_T_U64:
        o->value.u = r->value.u64;
        break;
    case KP_T_F32:
        o->value.f32 = r->value.f32;
        break;
    case KP_T_F64:
        o->value.f64 = r->value.f64;
        break;
    case KP_T_STR:
        o->str = r->value.str ? r->value.str : "";
        break;
    default:
        break;
    }
}

/* After the call: kpool_fail's message, or the result. */
static void finish_task(kp_task_ctx *ctx, const kp_result *result, kp_outcome *o)
{
    const char *failure = kp_task_fail_message();
    if (failure) {
        o->kind = KP_TASK_FAILED;
        snprintf(ctx->message, sizeof ctx->message, "%s", failure);
        o->message = ctx->message;
        return;
    }
    o->kind = KP_TASK_OK;
    store_result(result, o);
}

/* See kp_task_prepare: decides whether tasks take the row plan. */
static void plan_rows(kp_task_ctx *ctx)
{
    ctx->rows = false;
    const kp_kernel *k = ctx->kernel;
    const kp_signature *sig = &k->sig;
    const unsigned char *base = NULL;
    size_t stride = 0, cols = 0;
    kp_type type = KP_T_VOID;
    int ndim = 0;
    int64_t start = 0, step = 0;
    bool range = ctx->input && kp_input_range_of(ctx->input, &start, &step);
    if (!ctx->input ||
        (!range && !kp_input_npy_rows(ctx->input, &base, &stride, &cols, &type, &ndim)) ||
        !kp_kernel_load_words(k, ctx->call.avalue, ctx->words))
        return;
    size_t c = 0, n = 0;
    for (size_t i = 0; i < sig->nparams; c += sig->params[i].is_array ? 2 : 1, i++) {
        const kp_param *p = &sig->params[i];
        const kp_template_item *item = ctx->plan[i].item;
        if (ctx->plan[i].constant)
            continue;
        ctx->row_word[n].word = (uint8_t)kp_kernel_word_slot(k, c);
        ctx->row_word[n].offset = 0;
        if (range) {
            /* A range's integers are i64: other types need a range check. */
            if (p->is_array || p->type != KP_T_I64 || item->kind != KP_ARG_RECORD)
                return;
            ctx->row_word[n++].how = KP_ROW_RANGE;
            continue;
        }
        if (p->is_array && item->kind == KP_ARG_RECORD && ndim == 2 && p->type == type && cols) {
            /* The row itself, by address, and its length (the same for all). */
            ctx->row_word[n++].how = KP_ROW_ADDRESS;
            ctx->words[kp_kernel_word_slot(k, c + 1)] = cols;
            continue;
        }
        size_t element = item->kind == KP_ARG_ELEMENT ? item->element : 0;
        bool scalar_of_row = ndim == 2 && element >= 1 && element <= cols;
        bool the_record = ndim < 2 && item->kind == KP_ARG_RECORD;
        if (p->is_array || p->type != type || kp_type_size(type) != 8 ||
            !(scalar_of_row || the_record))
            return; /* a conversion is needed: the general way */
        ctx->row_word[n].how = KP_ROW_VALUE;
        ctx->row_word[n++].offset = (uint32_t)(scalar_of_row ? (element - 1) * 8 : 0);
    }
    ctx->nrow = n;
    ctx->row_base = base;
    ctx->row_stride = stride;
    ctx->row_count = kp_input_count(ctx->input);
    ctx->range_start = (uint64_t)start;
    ctx->range_step = (uint64_t)step;
    ctx->rows = true;
}

int kp_task_prepare(kp_task_ctx *ctx, kp_err *err)
{
    const kp_signature *sig = &ctx->kernel->sig;
    const kp_template *t = ctx->args;
    kp_arena_init(&ctx->constants);
    ctx->per_item = t->n == sig->nparams;
    for (size_t i = 0; ctx->per_item && i < t->n; i++)
        ctx->per_item = t->items[i].kind != KP_ARG_SPREAD;
    if (!ctx->per_item)
        return 0;
    kp_call_args_bind(&ctx->call, sig);
    for (size_t i = 0; i < t->n; i++) {
        kp_task_arg *arg = &ctx->plan[i];
        arg->item = &t->items[i];
        arg->constant = arg->item->kind == KP_ARG_LITERAL;
        if (arg->constant) {
            int rc =
                kp_convert_arg(sig, i, &arg->item->literal, &ctx->constants, &ctx->call.values[i],
                               &ctx->call.pointers[i], &ctx->call.lengths[i], err);
            if (rc < 0)
                return rc;
        }
    }
    plan_rows(ctx);
    return 0;
}

void kp_task_release(kp_task_ctx *ctx)
{
    kp_arena_free(&ctx->constants);
    kp_arena_free(&ctx->arena);
}

/* Converts the task's arguments straight from its record into C values;
 * literals and libffi's pointers were set up once by kp_task_prepare. */
static int call_per_item(kp_task_ctx *ctx, const kp_value *record, kp_result *result, kp_err *err)
{
    const kp_signature *sig = &ctx->kernel->sig;
    kp_call_args *a = &ctx->call;
    for (size_t i = 0; i < sig->nparams; i++) {
        const kp_task_arg *arg = &ctx->plan[i];
        if (arg->constant)
            continue;
        kp_value v;
        int rc = kp_template_item_value(arg->item, record, &v, err);
        if (rc == 0)
            rc = kp_convert_arg(sig, i, &v, &ctx->arena, &a->values[i], &a->pointers[i],
                                &a->lengths[i], err);
        if (rc < 0)
            return rc;
    }
    kp_task_fail_reset();
    kp_kernel_invoke(ctx->kernel, a->avalue, result);
    return 0;
}

/* Builds the whole tuple first: the general path, for templates with $*. */
static int call_tuple(kp_task_ctx *ctx, const kp_value *record, kp_result *result, kp_err *err)
{
    kp_value *args = NULL;
    size_t nargs = 0;
    int rc = kp_template_apply(ctx->args, record, &ctx->arena, &args, &nargs, err);
    if (rc == 0) {
        kp_task_fail_reset();
        rc = kp_kernel_call(ctx->kernel, args, nargs, &ctx->arena, result, err);
    }
    return rc;
}

/* The row plan: puts row `row`'s words into ctx->words. */
static inline void put_row(kp_task_ctx *ctx, size_t row)
{
    uint64_t *w = ctx->words;
    const unsigned char *p = ctx->row_base ? ctx->row_base + row * ctx->row_stride : NULL;
    for (size_t k = 0; k < ctx->nrow; k++) {
        uint64_t *word = &w[ctx->row_word[k].word];
        switch (ctx->row_word[k].how) {
        case KP_ROW_ADDRESS:
            *word = (uint64_t)(uintptr_t)p;
            break;
        case KP_ROW_VALUE:
            memcpy(word, p + ctx->row_word[k].offset, 8);
            break;
        default: /* the bits of start + row * step, as kp_range_record */
            *word = ctx->range_start + (uint64_t)row * ctx->range_step;
            break;
        }
    }
}

static void begin_outcome(const kp_task_ctx *ctx, size_t index, kp_outcome *o)
{
    memset(o, 0, sizeof *o);
    o->index = index;
    o->attempts = 1;
    o->type = ctx->kernel->sig.ret;
}

bool kp_task_fast(const kp_task_ctx *ctx)
{
    kp_type t = ctx->kernel->sig.ret;
    return ctx->rows && !ctx->index_map && t != KP_T_STR && t != KP_T_VOID;
}

bool kp_task_run_value(kp_task_ctx *ctx, size_t index, uint64_t *value, kp_outcome *o)
{
    if (index >= ctx->row_count) {
        kp_task_run(ctx, index, o);
        return false;
    }
    put_row(ctx, index);
    kp_task_fail_reset();
    *value = kp_kernel_invoke_value(ctx->kernel, ctx->words);
    if (!kp_task_fail_message())
        return true;
    begin_outcome(ctx, index, o);
    kp_result none = {.type = o->type};
    finish_task(ctx, &none, o); /* FAILED, with kpool_fail's message */
    return false;
}

void kp_task_run(kp_task_ctx *ctx, size_t index, kp_outcome *o)
{
    begin_outcome(ctx, index, o);
    kp_result result;
    size_t row = ctx->index_map ? ctx->index_map[index] : index;
    if (ctx->rows && row < ctx->row_count) {
        put_row(ctx, row);
        kp_task_fail_reset();
        kp_kernel_invoke_words(ctx->kernel, ctx->words, &result);
        finish_task(ctx, &result, o);
        return;
    }
    kp_arena_reset(&ctx->arena);

    kp_err err;
    err.code = 0;
    kp_value record;
    int rc = 0;
    if (ctx->input)
        rc = kp_input_record(ctx->input, ctx->index_map ? ctx->index_map[index] : index,
                             &ctx->arena, &record, &err);
    if (rc == 0)
        rc = ctx->per_item ? call_per_item(ctx, ctx->input ? &record : NULL, &result, &err)
                           : call_tuple(ctx, ctx->input ? &record : NULL, &result, &err);
    if (rc < 0) {
        o->kind = KP_TASK_BAD_INPUT;
        memcpy(ctx->message, err.msg, sizeof ctx->message);
        o->message = ctx->message;
        return;
    }
    finish_task(ctx, &result, o);
}

int kp_task_call_literals(const kp_kernel *kernel, const kp_template *args, kp_err *err)
{
    kp_arena arena;
    kp_arena_init(&arena);
    kp_value *tuple = NULL;
    size_t n = 0;
    kp_result result;
    int rc = kp_template_apply(args, NULL, &arena, &tuple, &n, err);
    if (rc == 0) {
        kp_task_fail_reset();
        rc = kp_kernel_call(kernel, tuple, n, &arena, &result, err);
    }
    if (rc == 0 && kp_task_fail_message())
        rc = kp_err_set(err, KPOOL_EFAILED, "%s", kp_task_fail_message());
    kp_arena_free(&arena);
    return rc;
}
