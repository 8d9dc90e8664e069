#include "types.h"

static const struct {
    const char *name;
    const char *c_name;
    size_t size;
} type_info[KP_T_COUNT_] = {
    [KP_T_VOID] = {"void", "void", 0},
    [KP_T_BOOL] = {"bool", "bool", sizeof(bool)},
    [KP_T_I8] = {"i8", "int8_t", 1},
    [KP_T_I16] = {"i16", "int16_t", 2},
    [KP_T_I32] = {"i32", "int32_t", 4},
    [KP_T_I64] = {"i64", "int64_t", 8},
    [KP_T_U8] = {"u8", "uint8_t", 1},
    [KP_T_U16] = {"u16", "uint16_t", 2},
    [KP_T_U32] = {"u32", "uint32_t", 4},
    [KP_T_U64] = {"u64", "uint64_t", 8},
    [KP_T_F32] = {"f32", "float", 4},
    [KP_T_F64] = {"f64", "double", 8},
    [KP_T_STR] = {"str", "const char *", sizeof(const char *)},
};

const char *kp_type_name(kp_type t)
{
    return (unsigned)t < KP_T_COUNT_ ? type_info[t].name : "?";
}

const char *kp_type_c_name(kp_type t)
{
    return (unsigned)t < KP_T_COUNT_ ? type_info[t].c_name : "?";
}

size_t kp_type_size(kp_type t)
{
    return (unsigned)t < KP_T_COUNT_ ? type_info[t].size : 0;
}

bool kp_type_is_int(kp_type t)
{
    return t >= KP_T_I8 && t <= KP_T_U64;
}

bool kp_type_is_signed(kp_type t)
{
    return t >= KP_T_I8 && t <= KP_T_I64;
}

bool kp_type_is_float(kp_type t)
{
    return t == KP_T_F32 || t == KP_T_F64;
}

int64_t kp_type_min(kp_type t)
{
    switch (t) {
    case KP_T_I8:
        return INT8_MIN;
    case KP_T_I16:
        return INT16_MIN;
    case KP_T_I32:
        return INT32_MIN;
    case KP_T_I64:
        return INT64_MIN;
    default:
        return 0;
    }
}

uint64_t kp_type_max(kp_type t)
{
    switch (t) {
    case KP_T_BOOL:
        return 1;
    case KP_T_I8:
        return INT8_MAX;
    case KP_T_I16:
        return INT16_MAX;
    case KP_T_I32:
        return INT32_MAX;
    case KP_T_I64:
        return INT64_MAX;
    case KP_T_U8:
        return UINT8_MAX;
    case KP_T_U16:
        return UINT16_MAX;
    case KP_T_U32:
        return UINT32_MAX;
    case KP_T_U64:
        return UINT64_MAX;
    default:
        return 0;
    }
}
