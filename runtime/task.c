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

int kp_task_prepare(kp_task_ctx *ctx, kp_err *err)
{
    const kp_signature *sig = &ctx->kernel->sig;
    const kp_template *t = ctx->args;
    kp_arena_init(&ctx->constants);
    ctx->direct = t->n == sig->nparams;
    for (size_t i = 0; ctx->direct && i < t->n; i++)
        ctx->direct = t->items[i].kind != KP_ARG_SPREAD;
    if (!ctx->direct)
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
    return 0;
}

void kp_task_release(kp_task_ctx *ctx)
{
    kp_arena_free(&ctx->constants);
    kp_arena_free(&ctx->arena);
}

/* Converts the task's arguments straight from its record into C values;
 * literals and libffi's pointers were set up once by kp_task_prepare. */
static int call_direct(kp_task_ctx *ctx, const kp_value *record, kp_result *result, kp_err *err)
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

void kp_task_run(kp_task_ctx *ctx, size_t index, kp_outcome *o)
{
    memset(o, 0, sizeof *o);
    o->index = index;
    o->attempts = 1;
    o->type = ctx->kernel->sig.ret;
    kp_arena_reset(&ctx->arena);

    kp_err err;
    err.code = 0;
    kp_value record;
    int rc = 0;
    if (ctx->input)
        rc = kp_input_record(ctx->input, ctx->index_map ? ctx->index_map[index] : index,
                             &ctx->arena, &record, &err);
    kp_result result;
    if (rc == 0)
        rc = ctx->direct ? call_direct(ctx, ctx->input ? &record : NULL, &result, &err)
                         : call_tuple(ctx, ctx->input ? &record : NULL, &result, &err);
    if (rc < 0) {
        o->kind = KP_TASK_BAD_INPUT;
        memcpy(ctx->message, err.msg, sizeof ctx->message);
        o->message = ctx->message;
        return;
    }
    const char *failure = kp_task_fail_message();
    if (failure) {
        o->kind = KP_TASK_FAILED;
        snprintf(ctx->message, sizeof ctx->message, "%s", failure);
        o->message = ctx->message;
        return;
    }
    o->kind = KP_TASK_OK;
    store_result(&result, o);
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
