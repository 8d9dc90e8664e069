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

void kp_task_run(kp_task_ctx *ctx, size_t index, kp_outcome *o)
{
    memset(o, 0, sizeof *o);
    o->index = index;
    o->attempts = 1;
    o->type = ctx->kernel->sig.ret;
    kp_arena_reset(&ctx->arena);

    kp_err err;
    kp_err_clear(&err);
    kp_value record, *args = NULL;
    size_t nargs = 0;
    int rc = 0;
    if (ctx->input)
        rc = kp_input_record(ctx->input, index, &ctx->arena, &record, &err);
    if (rc == 0)
        rc = kp_template_apply(ctx->args, ctx->input ? &record : NULL, &ctx->arena, &args, &nargs,
                               &err);
    kp_result result;
    if (rc == 0) {
        kp_task_fail_reset();
        rc = kp_kernel_call(ctx->kernel, args, nargs, &ctx->arena, &result, &err);
    }
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
