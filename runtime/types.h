/* types.h - the scalar types a kernel's parameters and result may have. */
#ifndef KP_TYPES_H
#define KP_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kp_type {
    KP_T_VOID,
    KP_T_BOOL,
    KP_T_I8,
    KP_T_I16,
    KP_T_I32,
    KP_T_I64,
    KP_T_U8,
    KP_T_U16,
    KP_T_U32,
    KP_T_U64,
    KP_T_F32,
    KP_T_F64,
    KP_T_STR, /* const char *, NUL-terminated */
    KP_T_COUNT_
} kp_type;

/* Returns the short name ("i64", "f32", "str", "void"). */
const char *kp_type_name(kp_type t);

/* Returns the C spelling ("int64_t", "double", "const char *", "bool"). */
const char *kp_type_c_name(kp_type t);

/* Returns the size in bytes of one value in C (0 for void, pointer size for str). */
size_t kp_type_size(kp_type t);

/* True for the integer types (not bool). */
bool kp_type_is_int(kp_type t);
/* True for the signed integer types. */
bool kp_type_is_signed(kp_type t);
/* True for f32 and f64. */
bool kp_type_is_float(kp_type t);

/* Range of an integer type, as int64 (signed) or uint64 (unsigned) bounds. */
int64_t kp_type_min(kp_type t);
uint64_t kp_type_max(kp_type t);

/* One scalar in C representation, wide enough for every kp_type. */
typedef union kp_scalar {
    bool b;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    float f32;
    double f64;
    const char *str;
} kp_scalar;

#endif
