/* kernel.c - converting an argument tuple to C values and calling a kernel.
 *
 * How a value converts to a declared type (anything not listed is refused
 * with the value's kind named, e.g. "expected a number, got a list of 5"):
 *
 *   integer  -> integer types when in range ("300 does not fit i8");
 *               f32 / f64 always (rounded to nearest, as C does);
 *               bool only when 0 or 1.
 *   number   -> f64 as is; f32 when finite values lie within +-FLT_MAX
 *               (rounded; inf and nan stay what they are); integer types
 *               only when finite, integral and in range (2.0 -> 2, 2.5 is
 *               refused); bool only when 0.0 or 1.0.
 *   boolean  -> bool; integer types as 0 or 1, as C converts it and as
 *               kernels commonly take an `int` flag. Not to f32 / f64: a
 *               true where a real number is expected almost always means
 *               the record is laid out differently than the signature says.
 *   string   -> str as it is (it is NUL-terminated already). To a number
 *               the text is read strictly, since csv fields are strings:
 *               white space around it is allowed, the rest must be one
 *               decimal integer or float (or inf / nan), then the rules
 *               above apply. bool also takes "true" / "false" in any case.
 *               An empty field is refused.
 *   null     -> refused: "missing value (null)".
 *   list     -> T[]: each element converted to T into an arena buffer.
 *   nums     -> T[]: passed by pointer, without a copy, when its type is T
 *               and its data is aligned for T (and, for bool, every byte is
 *               0 or 1); otherwise converted element by element like a list.
 *
 * Messages name the argument by its 1-based number and, when it has one, its
 * name; elements of an array count from 1 as well, like $1..$N.
 *
 * The per-call path allocates nothing but arena memory for arrays that need
 * converting: the C values, pointers and the libffi argument vector live on
 * the stack, bounded by KP_MAX_PARAMS.
 *
 * A call goes through libffi, or - for kernels whose C parameters all fit in
 * registers on x86-64 System V - directly through a function pointer of a
 * fixed register-only type, planned once by kp_kernel_prepare (see "the
 * direct path" below). */
#include "kernel.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* bool travels through libffi as uint8: C's one-byte _Bool is passed and
 * returned like an unsigned char on every ABI libffi supports. */
_Static_assert(sizeof(bool) == 1, "kpool passes bool to libffi as a uint8");
_Static_assert(sizeof(size_t) == 8 || sizeof(size_t) == 4, "size_t must be 32 or 64 bits");

static ffi_type *ffi_type_of(kp_type t)
{
    switch (t) {
    case KP_T_VOID:
        return &ffi_type_void;
    case KP_T_BOOL:
        return &ffi_type_uint8;
    case KP_T_I8:
        return &ffi_type_sint8;
    case KP_T_I16:
        return &ffi_type_sint16;
    case KP_T_I32:
        return &ffi_type_sint32;
    case KP_T_I64:
        return &ffi_type_sint64;
    case KP_T_U8:
        return &ffi_type_uint8;
    case KP_T_U16:
        return &ffi_type_uint16;
    case KP_T_U32:
        return &ffi_type_uint32;
    case KP_T_U64:
        return &ffi_type_uint64;
    case KP_T_F32:
        return &ffi_type_float;
    case KP_T_F64:
        return &ffi_type_double;
    case KP_T_STR:
        return &ffi_type_pointer;
    default:
        return NULL;
    }
}

static ffi_type *ffi_type_of_size_t(void)
{
    return sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
}

static size_t type_align(kp_type t)
{
    switch (t) {
    case KP_T_BOOL:
        return _Alignof(bool);
    case KP_T_I8:
    case KP_T_U8:
        return _Alignof(int8_t);
    case KP_T_I16:
    case KP_T_U16:
        return _Alignof(int16_t);
    case KP_T_I32:
    case KP_T_U32:
        return _Alignof(int32_t);
    case KP_T_I64:
    case KP_T_U64:
        return _Alignof(int64_t);
    case KP_T_F32:
        return _Alignof(float);
    case KP_T_F64:
        return _Alignof(double);
    default:
        return _Alignof(max_align_t);
    }
}

/* ---- the direct path ------------------------------------------------ */

/* On x86-64 System V the first 6 integer-class arguments (integers, bool,
 * pointers) travel in rdi, rsi, rdx, rcx, r8, r9 and the first 8 float or
 * double ones in xmm0..xmm7, each sequence in parameter order whatever the
 * other does. A function whose C parameters fit in those registers therefore
 * receives exactly the right values when it is called through a function
 * pointer of type direct_int_fn or direct_fp_fn below, with its integer-class
 * values in order in the uint64_t parameters and its floating ones in order
 * in the double ones: the registers it does not read are ignored, and no
 * argument goes on the stack. This is the ABI fact libffi itself relies on. */
#if defined(__x86_64__) && !defined(_WIN32) && !defined(__ILP32__)
#define KP_DIRECT_CALLS 1
#else
#define KP_DIRECT_CALLS 0
#endif
_Static_assert(!KP_DIRECT_CALLS || (sizeof(size_t) == 8 && sizeof(void *) == 8),
               "the direct path loads pointers and lengths as 64-bit words");

/* How a C parameter is read from its avalue slot into a 64-bit register
 * word. Narrow integers are sign- or zero-extended from their own type,
 * because callees built by clang rely on the caller extending them to at
 * least 32 bits. A float is its 32 bits in the low half of its xmm register
 * with the upper half zero: the callee reads only the low 32 bits. */
enum direct_load {
    LOAD_S8,
    LOAD_S16,
    LOAD_S32,
    LOAD_U8, /* u8, and bool (stored as 0 or 1) */
    LOAD_U16,
    LOAD_U32, /* u32, and the bits of an f32 */
    LOAD_64   /* i64, u64, pointers, size_t, the bits of an f64 */
};

static enum direct_load load_of(kp_type t)
{
    switch (t) {
    case KP_T_I8:
        return LOAD_S8;
    case KP_T_I16:
        return LOAD_S16;
    case KP_T_I32:
        return LOAD_S32;
    case KP_T_BOOL:
    case KP_T_U8:
        return LOAD_U8;
    case KP_T_U16:
        return LOAD_U16;
    case KP_T_U32:
    case KP_T_F32:
        return LOAD_U32;
    default:
        return LOAD_64;
    }
}

/* Set to anything but "" or "0", KPOOL_LIBFFI_ONLY keeps every kernel on
 * libffi (see kernel.h). */
static bool libffi_only_requested(void)
{
    const char *v = getenv("KPOOL_LIBFFI_ONLY");
    return v && *v && strcmp(v, "0") != 0;
}

/* Decides at prepare time whether k is called directly, and where each of
 * its C parameters goes, so that a call only loads and calls. */
static void plan_direct(kp_kernel *k)
{
    k->direct = false;
    if (!KP_DIRECT_CALLS || libffi_only_requested())
        return;
    size_t ints = 0, fps = 0, c = 0;
    for (size_t i = 0; i < k->sig.nparams; i++) {
        const kp_param *p = &k->sig.params[i];
        if (p->is_array) {
            /* The data pointer, then its size_t length. */
            if (ints + 2 > KP_DIRECT_INT_REGS)
                return;
            k->direct_load[c] = LOAD_64;
            k->direct_slot[c++] = (uint8_t)ints++;
            k->direct_load[c] = LOAD_64;
            k->direct_slot[c++] = (uint8_t)ints++;
        } else if (kp_type_is_float(p->type)) {
            if (fps + 1 > KP_DIRECT_FP_REGS)
                return;
            k->direct_load[c] = (uint8_t)load_of(p->type);
            k->direct_slot[c++] = (uint8_t)(KP_DIRECT_INT_REGS + fps++);
        } else {
            if (ints + 1 > KP_DIRECT_INT_REGS)
                return;
            k->direct_load[c] = (uint8_t)load_of(p->type);
            k->direct_slot[c++] = (uint8_t)ints++;
        }
    }
    k->direct = true;
}

static const char *kernel_name(const kp_kernel *k)
{
    if (k->name[0])
        return k->name;
    return k->sig.name[0] ? k->sig.name : "(unnamed)";
}

int kp_kernel_prepare(kp_kernel *k, kp_err *err)
{
    const kp_signature *sig = &k->sig;
    const char *name = kernel_name(k);
    char label[KP_NAME_MAX + 8];

    k->direct = false; /* until plan_direct says otherwise */
    if (!k->fn)
        return kp_err_set(err, KPOOL_EINVAL, "kernel '%s' has no function to call", name);
    if (sig->nparams > KP_MAX_PARAMS)
        return kp_err_set(err, KPOOL_ESIG,
                          "kernel '%s' has %zu parameters; at most %d are supported", name,
                          sig->nparams, KP_MAX_PARAMS);
    ffi_type *rtype = ffi_type_of(sig->ret);
    if (!rtype)
        return kp_err_set(err, KPOOL_ESIG, "kernel '%s': its return type (%d) is not a kpool type",
                          name, (int)sig->ret);
    size_t rsize = kp_type_size(sig->ret);
    k->ret_bool = sig->ret == KP_T_BOOL;
    k->ret_signed = kp_type_is_signed(sig->ret);
    k->ret_shift = (uint8_t)(rsize > 0 && rsize < 8 ? 64 - 8 * rsize : 0);
    k->ret_fp = sig->ret == KP_T_F32 || sig->ret == KP_T_F64;

    size_t n = 0;
    for (size_t i = 0; i < sig->nparams; i++) {
        const kp_param *p = &sig->params[i];
        const char *what = kp_param_label(sig, i, label, sizeof label);
        if (p->type == KP_T_VOID || !ffi_type_of(p->type))
            return kp_err_set(err, KPOOL_ESIG, "kernel '%s': parameter %s has no value type (%s)",
                              name, what, kp_type_name(p->type));
        if (!p->is_array) {
            k->arg_types[n++] = ffi_type_of(p->type);
            continue;
        }
        if (p->type == KP_T_STR)
            return kp_err_set(err, KPOOL_ESIG,
                              "kernel '%s': parameter %s is str[]; arrays hold numbers or booleans",
                              name, what);
        k->arg_types[n++] = &ffi_type_pointer;
        k->arg_types[n++] = ffi_type_of_size_t();
    }
    k->n_cargs = n;

    ffi_status status = ffi_prep_cif(&k->cif, FFI_DEFAULT_ABI, (unsigned)n, rtype, k->arg_types);
    if (status != FFI_OK)
        return kp_err_set(err, KPOOL_ENOTSUP,
                          "kernel '%s': libffi cannot prepare the call (status %d)", name,
                          (int)status);
    plan_direct(k);
    return 0;
}

void kp_kernel_use_libffi(kp_kernel *k)
{
    k->direct = false;
}

/* ---- conversion ------------------------------------------------------- */

/* Where a conversion failure is reported: parameter `param` (0-based) and,
 * inside an array, its 1-based `element` (0 for the argument itself). */
typedef struct target {
    const kp_signature *sig;
    size_t param;
    size_t element;
    kp_err *err;
} target;

__attribute__((format(printf, 3, 4))) static int refuse(const target *tg, int code, const char *fmt,
                                                        ...)
{
    if (!tg->err)
        return code;
    char what[KP_ERR_MAX], where[48] = "", label[KP_NAME_MAX + 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (tg->element)
        snprintf(where, sizeof where, "element %zu: ", tg->element);
    if (tg->sig->params[tg->param].name[0])
        return kp_err_set(tg->err, code, "argument %zu (%s): %s%s", tg->param + 1,
                          kp_param_label(tg->sig, tg->param, label, sizeof label), where, what);
    return kp_err_set(tg->err, code, "argument %zu: %s%s", tg->param + 1, where, what);
}

/* Short text of a value for messages. */
typedef struct shown {
    char text[48];
} shown;

static shown show(const kp_value *v)
{
    shown s;
    kp_value_describe(v, s.text, sizeof s.text);
    return s;
}

/* What a parameter of type t needs, for "expected ..." messages. */
static const char *expected_kind(kp_type t)
{
    if (t == KP_T_STR)
        return "a string";
    if (t == KP_T_BOOL)
        return "a boolean";
    return "a number";
}

/* Stores an in-range integer: `s` is its value for signed types, `u` for
 * unsigned ones and bool. */
static void store_integer(kp_type t, int64_t s, uint64_t u, kp_scalar *out)
{
    switch (t) {
    case KP_T_BOOL:
        out->b = u != 0;
        break;
    case KP_T_I8:
        out->i8 = (int8_t)s;
        break;
    case KP_T_I16:
        out->i16 = (int16_t)s;
        break;
    case KP_T_I32:
        out->i32 = (int32_t)s;
        break;
    case KP_T_I64:
        out->i64 = s;
        break;
    case KP_T_U8:
        out->u8 = (uint8_t)u;
        break;
    case KP_T_U16:
        out->u16 = (uint16_t)u;
        break;
    case KP_T_U32:
        out->u32 = (uint32_t)u;
        break;
    case KP_T_U64:
        out->u64 = u;
        break;
    default:
        break;
    }
}

static int out_of_range(const target *tg, kp_type t, const kp_value *v)
{
    if (t == KP_T_BOOL)
        return refuse(tg, KPOOL_ERANGE, "%s does not fit bool (only 0 and 1 do)", show(v).text);
    return refuse(tg, KPOOL_ERANGE, "%s does not fit %s", show(v).text, kp_type_name(t));
}

/* v is an INT or a UINT. */
static int integer_to(kp_type t, const kp_value *v, kp_scalar *out, const target *tg)
{
    bool negative = v->kind == KP_V_INT && v->as.i < 0;
    uint64_t u = v->kind == KP_V_INT ? (uint64_t)v->as.i : v->as.u;

    if (t == KP_T_F64) {
        out->f64 = v->kind == KP_V_INT ? (double)v->as.i : (double)v->as.u;
        return 0;
    }
    if (t == KP_T_F32) {
        out->f32 = v->kind == KP_V_INT ? (float)v->as.i : (float)v->as.u;
        return 0;
    }

    bool fits;
    if (negative)
        fits = kp_type_is_signed(t) && v->as.i >= kp_type_min(t);
    else
        fits = u <= kp_type_max(t);
    if (!fits)
        return out_of_range(tg, t, v);
    store_integer(t, negative ? v->as.i : (u <= INT64_MAX ? (int64_t)u : 0), u, out);
    return 0;
}

static int float_to(kp_type t, const kp_value *v, kp_scalar *out, const target *tg)
{
    double f = v->as.f;
    if (t == KP_T_F64) {
        out->f64 = f;
        return 0;
    }
    if (t == KP_T_F32) {
        if (isfinite(f) && fabs(f) > FLT_MAX)
            return out_of_range(tg, t, v);
        out->f32 = (float)f;
        return 0;
    }

    if (!isfinite(f))
        return out_of_range(tg, t, v);
    if (f != trunc(f)) {
        if (t == KP_T_BOOL)
            return out_of_range(tg, t, v);
        return refuse(tg, KPOOL_ERANGE, "%s has a fraction; %s needs an integer", show(v).text,
                      kp_type_name(t));
    }
    /* max + 1 is a power of two, so it and min are exact doubles even for
     * the 64-bit types, whose max itself is not. */
    double above = ((double)(kp_type_max(t) / 2 + 1)) * 2.0;
    double below = kp_type_is_signed(t) ? (double)kp_type_min(t) : 0.0;
    if (!(f >= below && f < above))
        return out_of_range(tg, t, v);
    if (kp_type_is_signed(t))
        store_integer(t, (int64_t)f, 0, out);
    else
        store_integer(t, 0, (uint64_t)f, out);
    return 0;
}

/* ---- reading numbers from text ------------------------------------- */

static bool word_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int to_scalar(kp_type t, const kp_value *v, kp_scalar *out, const target *tg);

static int text_to(kp_type t, const kp_value *v, kp_scalar *out, const target *tg)
{
    if (t == KP_T_STR) {
        out->str = v->as.s.ptr;
        return 0;
    }
    const char *s = v->as.s.ptr;
    size_t len = v->as.s.len;
    while (len > 0 && is_space(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len == 0) {
        if (t == KP_T_BOOL)
            return refuse(tg, KPOOL_ETYPE, "empty field; bool needs true, false, 0 or 1");
        return refuse(tg, KPOOL_ETYPE, "empty field; %s needs a number", kp_type_name(t));
    }
    if (t == KP_T_BOOL && (word_is(s, len, "true") || word_is(s, len, "false"))) {
        out->b = len == 4;
        return 0;
    }

    kp_value number;
    int rc = kp_value_parse_number(s, len, &number);
    if (rc == KPOOL_EINVAL) {
        if (t == KP_T_BOOL)
            return refuse(tg, KPOOL_ETYPE, "%s is not a boolean (true, false, 0 or 1)",
                          show(v).text);
        return refuse(tg, KPOOL_ETYPE, "%s is not a number", show(v).text);
    }
    if (rc == KPOOL_ERANGE)
        return out_of_range(tg, t, v);
    return to_scalar(t, &number, out, tg);
}

/* What a list or nums value is, with its length: "a list of 5". */
static shown show_sequence(const kp_value *v)
{
    shown s;
    if (v->kind == KP_V_LIST)
        snprintf(s.text, sizeof s.text, "a list of %zu", v->as.list.len);
    else
        snprintf(s.text, sizeof s.text, "an array of %zu %s", v->as.nums.len,
                 kp_type_name(v->as.nums.type));
    return s;
}

static int to_scalar(kp_type t, const kp_value *v, kp_scalar *out, const target *tg)
{
    switch (v->kind) {
    case KP_V_NULL:
        return refuse(tg, KPOOL_ETYPE, "missing value (null)");
    case KP_V_STR:
        return text_to(t, v, out, tg);
    case KP_V_LIST:
    case KP_V_NUMS:
        return refuse(tg, KPOOL_ETYPE, "expected %s, got %s", expected_kind(t),
                      show_sequence(v).text);
    default:
        break;
    }
    if (t == KP_T_STR)
        return refuse(tg, KPOOL_ETYPE, "expected a string, got %s (%s)", kp_value_kind_name(v),
                      show(v).text);

    switch (v->kind) {
    case KP_V_BOOL:
        if (kp_type_is_float(t))
            return refuse(tg, KPOOL_ETYPE, "%s is a boolean; %s needs a number", show(v).text,
                          kp_type_name(t));
        store_integer(t, v->as.b, v->as.b, out);
        return 0;
    case KP_V_INT:
    case KP_V_UINT:
        return integer_to(t, v, out, tg);
    case KP_V_FLOAT:
        return float_to(t, v, out, tg);
    default:
        return refuse(tg, KPOOL_ETYPE, "expected %s, got %s", expected_kind(t),
                      kp_value_kind_name(v));
    }
}

/* True when a nums value can be handed to a T[] parameter as it is. */
static bool passes_as_is(const kp_value *v, kp_type t)
{
    if (v->kind != KP_V_NUMS || v->as.nums.type != t)
        return false;
    if ((uintptr_t)v->as.nums.data % type_align(t) != 0)
        return false;
    if (t == KP_T_BOOL) {
        /* A byte other than 0 or 1 is not a valid bool in C: such a row is
         * converted (normalised to 0/1) instead. */
        const unsigned char *b = v->as.nums.data;
        for (size_t i = 0; i < v->as.nums.len; i++)
            if (b[i] > 1)
                return false;
    }
    return true;
}

static int to_array(const kp_signature *sig, size_t i, const kp_value *v, kp_arena *arena,
                    const void **data, size_t *len, kp_err *err)
{
    kp_type t = sig->params[i].type;
    target tg = {sig, i, 0, err};

    if (v->kind == KP_V_NULL)
        return refuse(&tg, KPOOL_ETYPE, "missing value (null)");
    if (v->kind != KP_V_LIST && v->kind != KP_V_NUMS)
        return refuse(&tg, KPOOL_ETYPE, "expected a list for %s[], got %s", kp_type_name(t),
                      kp_value_kind_name(v));
    size_t n = kp_value_len(v);
    if (passes_as_is(v, t)) {
        *data = v->as.nums.data;
        *len = n;
        return 0;
    }

    size_t size = kp_type_size(t);
    if (n > SIZE_MAX / size)
        return refuse(&tg, KPOOL_ENOMEM, "%zu elements are too many to convert", n);
    unsigned char *buf = kp_arena_alloc(arena, n ? n * size : size);
    if (!buf)
        return refuse(&tg, KPOOL_ENOMEM, "out of memory converting %zu elements to %s", n,
                      kp_type_name(t));
    for (size_t e = 0; e < n; e++) {
        kp_value item;
        kp_scalar c;
        tg.element = e + 1;
        if (!kp_value_element(v, e, &item))
            return refuse(&tg, KPOOL_EINPUT, "cannot be read (array of unknown type %d)",
                          (int)v->as.nums.type);
        int rc = to_scalar(t, &item, &c, &tg);
        if (rc < 0)
            return rc;
        /* Every member of kp_scalar starts at offset 0, so its first `size`
         * bytes are the value of type t on any byte order. */
        memcpy(buf + e * size, &c, size);
    }
    *data = buf;
    *len = n;
    return 0;
}

int kp_convert_arg(const kp_signature *sig, size_t i, const kp_value *v, kp_arena *arena,
                   kp_scalar *out, const void **data, size_t *len, kp_err *err)
{
    if (i >= sig->nparams)
        return kp_err_set(err, KPOOL_EINVAL, "argument %zu: the kernel takes only %zu", i + 1,
                          sig->nparams);
    if (sig->params[i].is_array)
        return to_array(sig, i, v, arena, data, len, err);
    target tg = {sig, i, 0, err};
    return to_scalar(sig->params[i].type, v, out, &tg);
}

/* ---- calling ---------------------------------------------------------- */

static int wrong_arity(const kp_signature *sig, size_t nargs, kp_err *err)
{
    char params[KP_ERR_MAX / 2] = "";
    size_t used = 0;
    for (size_t i = 0; i < sig->nparams && used < sizeof params; i++) {
        const kp_param *p = &sig->params[i];
        int w = snprintf(params + used, sizeof params - used, "%s%s%s", i ? ", " : "",
                         p->name[0] ? p->name : kp_type_name(p->type),
                         !p->name[0] && p->is_array ? "[]" : "");
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (sig->nparams == 0)
        return kp_err_set(err, KPOOL_EINPUT, "the tuple has %zu value%s; the kernel takes none",
                          nargs, nargs == 1 ? "" : "s");
    return kp_err_set(err, KPOOL_EINPUT, "the tuple has %zu value%s; the kernel takes %zu (%s)",
                      nargs, nargs == 1 ? "" : "s", sig->nparams, params);
}

void kp_call_args_bind(kp_call_args *a, const kp_signature *sig)
{
    size_t c = 0;
    for (size_t i = 0; i < sig->nparams; i++) {
        if (sig->params[i].is_array) {
            a->avalue[c++] = &a->pointers[i];
            a->avalue[c++] = &a->lengths[i];
        } else {
            a->avalue[c++] = &a->values[i];
        }
    }
}

/* Where a kernel's return value lands. libffi widens integer returns
 * narrower than ffi_arg to a whole ffi_arg (sign- or zero-extended), so they
 * are read back by a cast from it, which is right on either byte order;
 * floats and doubles are stored as themselves. The direct path stores rax
 * as the ffi_arg (the bits above the return type's width may be anything,
 * and the casts below drop them) or xmm0 as the double, whose low 32 bits
 * are a float return: on little-endian x86-64 they are the union's first
 * four bytes, where f32 lies. */
typedef union raw_return {
    ffi_arg arg;
    ffi_sarg sarg;
    int64_t i64;
    uint64_t u64;
    double f64;
    float f32;
    void *ptr;
} raw_return;

#if KP_DIRECT_CALLS
typedef uint64_t (*direct_int_fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                                  double, double, double, double, double, double, double, double);
typedef double (*direct_fp_fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, double,
                               double, double, double, double, double, double, double);

/* clang 17 brought UBSan's check of function pointer types to C
 * (-fsanitize=function, part of -fsanitize=undefined); older clang accepts
 * the attribute as it is. gcc has no such check. */
#if defined(__clang__)
#define KP_NO_SANITIZE_FUNCTION __attribute__((no_sanitize("function")))
#else
#define KP_NO_SANITIZE_FUNCTION
#endif

/* The one place that calls a kernel through a type other than its own.
 * ISO C leaves a call through an incompatible function pointer type
 * undefined; on x86-64 System V it is well defined by the ABI for the
 * register-only kernels plan_direct admits (see above), and that is all this
 * relies on. `w` holds the integer registers, then the floating ones' bits. */
/* Floating register i's bits, loaded straight from w: copying the eight
 * at once went through the stack in 16-byte stores read back 8 bytes at a
 * time, which the CPU cannot forward (40% of this function's time). */
static inline double fp_word(const uint64_t w[KP_DIRECT_REGS], int i)
{
    double d;
    memcpy(&d, w + KP_DIRECT_INT_REGS + i, sizeof d);
    return d;
}

KP_NO_SANITIZE_FUNCTION static void
call_registers(kp_fnptr fn, bool fp_return, const uint64_t w[KP_DIRECT_REGS], raw_return *ret)
{
#define KP_FP_WORDS                                                                                \
    fp_word(w, 0), fp_word(w, 1), fp_word(w, 2), fp_word(w, 3), fp_word(w, 4), fp_word(w, 5),      \
        fp_word(w, 6), fp_word(w, 7)
    _Static_assert(KP_DIRECT_FP_REGS == 8, "eight floating registers");
    if (fp_return) {
        direct_fp_fn f = (direct_fp_fn)fn;
        ret->f64 = f(w[0], w[1], w[2], w[3], w[4], w[5], KP_FP_WORDS);
    } else {
        direct_int_fn f = (direct_int_fn)fn;
        ret->u64 = f(w[0], w[1], w[2], w[3], w[4], w[5], KP_FP_WORDS);
    }
#undef KP_FP_WORDS
}

/* Reads one C parameter as plan_direct said: memcpy, because avalue points
 * at kp_scalar members, pointers and size_t lengths alike. */
static inline uint64_t load_word(uint8_t load, const void *p)
{
    switch (load) {
    case LOAD_S8: {
        int8_t v;
        memcpy(&v, p, sizeof v);
        return (uint64_t)(int64_t)v;
    }
    case LOAD_S16: {
        int16_t v;
        memcpy(&v, p, sizeof v);
        return (uint64_t)(int64_t)v;
    }
    case LOAD_S32: {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return (uint64_t)(int64_t)v;
    }
    case LOAD_U8: {
        uint8_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case LOAD_U16: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case LOAD_U32: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    }
}

#endif

bool kp_kernel_load_words(const kp_kernel *k, void **avalue, uint64_t w[KP_DIRECT_REGS])
{
#if KP_DIRECT_CALLS
    if (!k->direct)
        return false;
    /* Registers the kernel does not take are passed as 0. Two memsets, not
     * one: gcc turns a single 112-byte one into `rep stos`, whose start-up
     * cost was half of the call's time in the seed job; these become a few
     * vector stores. */
    memset(w, 0, KP_DIRECT_INT_REGS * sizeof w[0]);
    memset(w + KP_DIRECT_INT_REGS, 0, KP_DIRECT_FP_REGS * sizeof w[0]);
    for (size_t j = 0; j < k->n_cargs; j++)
        w[k->direct_slot[j]] = load_word(k->direct_load[j], avalue[j]);
    return true;
#else
    (void)k;
    (void)avalue;
    (void)w;
    return false;
#endif
}

#if KP_DIRECT_CALLS
static void invoke_direct(const kp_kernel *k, void **avalue, raw_return *ret)
{
    uint64_t w[KP_DIRECT_REGS];
    kp_kernel_load_words(k, avalue, w);
    call_registers(k->fn, k->ret_fp, w, ret);
}
#endif

unsigned kp_kernel_word_slot(const kp_kernel *k, size_t cparam)
{
    return k->direct_slot[cparam];
}

static void read_return(const kp_signature *sig, const raw_return *r, kp_result *out);

/* The direct call with prepared words (kp_kernel_invoke_words and _value). */
static inline raw_return call_words(const kp_kernel *k, const uint64_t w[KP_DIRECT_REGS])
{
    raw_return ret;
    memset(&ret, 0, sizeof ret);
#if KP_DIRECT_CALLS
    call_registers(k->fn, k->ret_fp, w, &ret);
#else
    (void)k;
    (void)w; /* never called: kp_kernel_load_words said no */
#endif
    return ret;
}

void kp_kernel_invoke_words(const kp_kernel *k, const uint64_t w[KP_DIRECT_REGS], kp_result *out)
{
    raw_return ret = call_words(k, w);
    read_return(&k->sig, &ret, out);
}

uint64_t kp_kernel_invoke_value(const kp_kernel *k, const uint64_t w[KP_DIRECT_REGS])
{
    raw_return ret = call_words(k, w);
    /* As read_return and then a kp_outcome's value would hold it, in one
     * step: going through the kp_result costs the seed job 5% of its CPU;
     * and with no switch on the type, no jump through a table loaded after
     * every call (this and fp_word: trivial kernel CPU -4%). The widened value's
     * bits are the return register's low bits, sign- or zero-extended: a
     * float's are its low 32 (the union's first four bytes), zero-extended. */
    uint64_t bits = ret.u64;
    if (k->ret_bool)
        return (uint8_t)bits != 0;
    unsigned s = k->ret_shift;
    return k->ret_signed ? (uint64_t)((int64_t)(bits << s) >> s) : bits << s >> s;
}

void kp_kernel_invoke(const kp_kernel *k, void **avalue, kp_result *out)
{
    raw_return ret;
    memset(&ret, 0, sizeof ret);
#if KP_DIRECT_CALLS
    if (k->direct)
        invoke_direct(k, avalue, &ret);
    else
#endif
        ffi_call((ffi_cif *)&k->cif, k->fn, &ret, avalue);
    read_return(&k->sig, &ret, out);
}

/* The return value as the kernel's type says, from either path. */
static void read_return(const kp_signature *sig, const raw_return *r, kp_result *out)
{
    raw_return ret = *r;
    out->type = sig->ret;
    memset(&out->value, 0, sizeof out->value);
    switch (sig->ret) {
    case KP_T_BOOL:
        out->value.b = (uint8_t)ret.arg != 0;
        break;
    case KP_T_I8:
        out->value.i8 = (int8_t)ret.sarg;
        break;
    case KP_T_I16:
        out->value.i16 = (int16_t)ret.sarg;
        break;
    case KP_T_I32:
        out->value.i32 = (int32_t)ret.sarg;
        break;
    case KP_T_I64:
        out->value.i64 = sizeof(int64_t) <= sizeof(ffi_sarg) ? (int64_t)ret.sarg : ret.i64;
        break;
    case KP_T_U8:
        out->value.u8 = (uint8_t)ret.arg;
        break;
    case KP_T_U16:
        out->value.u16 = (uint16_t)ret.arg;
        break;
    case KP_T_U32:
        out->value.u32 = (uint32_t)ret.arg;
        break;
    case KP_T_U64:
        out->value.u64 = sizeof(uint64_t) <= sizeof(ffi_arg) ? (uint64_t)ret.arg : ret.u64;
        break;
    case KP_T_F32:
        out->value.f32 = ret.f32;
        break;
    case KP_T_F64:
        out->value.f64 = ret.f64;
        break;
    case KP_T_STR:
        out->value.str = ret.ptr;
        break;
    default:
        break;
    }
}

int kp_kernel_call(const kp_kernel *k, const kp_value *args, size_t nargs, kp_arena *arena,
                   kp_result *out, kp_err *err)
{
    const kp_signature *sig = &k->sig;

    /* The cif points at k->arg_types: a kernel copied after it was prepared
     * would hand libffi the old struct's array. */
    if (k->cif.arg_types != (ffi_type **)k->arg_types || sig->nparams > KP_MAX_PARAMS)
        return kp_err_set(err, KPOOL_EINVAL,
                          "kernel '%s' is not prepared (or was copied after kp_kernel_prepare)",
                          kernel_name(k));
    if (nargs != sig->nparams)
        return wrong_arity(sig, nargs, err);

    kp_call_args a;
    kp_call_args_bind(&a, sig);
    for (size_t i = 0; i < nargs; i++) {
        int rc = kp_convert_arg(sig, i, &args[i], arena, &a.values[i], &a.pointers[i],
                                &a.lengths[i], err);
        if (rc < 0)
            return rc;
    }

    kp_kernel_invoke(k, a.avalue, out);

    return 0;
}
