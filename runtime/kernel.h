/* kernel.h - calling a kernel with one argument tuple.
 *
 * A kp_kernel is prepared once per run (ffi_prep_cif) and then called once per
 * task: each tuple value is converted to its parameter's C type with range
 * checks, arrays are passed as (const T *, size_t) - by pointer into the
 * input when the element type already matches - and the return value is
 * widened from ffi_arg storage into a kp_scalar.
 *
 * On x86-64 System V a kernel whose C parameters all travel in registers (at
 * most 6 integer-class ones - integers, bool, pointers, array lengths - and
 * at most 8 f32/f64 ones) is called directly through a C function pointer
 * instead of ffi_call, which would classify every argument again on every
 * call. Every other kernel, and every kernel on other targets, goes through
 * libffi. Both paths fill kp_result the same way.
 *
 * KPOOL_LIBFFI_ONLY: when this environment variable is set to anything but
 * "" or "0" at kp_kernel_prepare time, the kernel is called through libffi
 * even when the direct path could take it (for comparing the two, e.g. in
 * bench/). */
#ifndef KP_KERNEL_H
#define KP_KERNEL_H

#include "arena.h"
#include "error.h"
#include "signature.h"
#include "value.h"

#include <ffi.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*kp_fnptr)(void);

/* The registers of the direct path: rdi, rsi, rdx, rcx, r8, r9 for
 * integer-class C parameters and xmm0..xmm7 for floating ones. */
#define KP_DIRECT_INT_REGS 6
#define KP_DIRECT_FP_REGS  8
#define KP_DIRECT_REGS     (KP_DIRECT_INT_REGS + KP_DIRECT_FP_REGS)

/* A prepared kernel must not be copied or moved: its ffi_cif points at its
 * own arg_types. */
typedef struct kp_kernel {
    char name[KP_NAME_MAX];
    kp_signature sig;
    kp_fnptr fn;
    size_t n_cargs; /* C parameters: arrays count twice */
    ffi_cif cif;
    ffi_type *arg_types[2 * KP_MAX_PARAMS];
    /* The direct path, planned by kp_kernel_prepare: when `direct` is true,
     * C parameter j is read from avalue[j] as direct_load[j] says (its width
     * and signedness) into register slot direct_slot[j] (0..5 integer
     * registers, 6..13 floating ones). */
    bool direct;
    uint8_t direct_load[KP_DIRECT_REGS];
    uint8_t direct_slot[KP_DIRECT_REGS];
    /* How kp_kernel_invoke_value widens the return register to a value's
     * 8 bytes, set by kp_kernel_prepare: a bool becomes 0 or 1; anything
     * else is shifted up by ret_shift bits (64 less its width, 0 for 8-byte
     * types) and back down, arithmetically when ret_signed. */
    bool ret_bool, ret_signed;
    uint8_t ret_shift;
    bool ret_fp; /* the result comes back in a floating register */
} kp_kernel;

/* Fills in k->cif and k->arg_types from k->sig, and decides whether the
 * kernel is called directly (k->direct); k->fn and k->sig must be set.
 * Call once per kernel, never per task. */
int kp_kernel_prepare(kp_kernel *k, kp_err *err);

/* Makes every later call of a prepared kernel go through libffi (tests and
 * comparisons of the two paths use it). */
void kp_kernel_use_libffi(kp_kernel *k);

/* Converts `v` to parameter `i` of `sig` and stores the C value(s) in *out
 * (for an array: out[0].str is unused; the pointer goes in *data and the
 * length in *len). Buffers for converted arrays and strings come from `arena`.
 * On failure returns KPOOL_ERANGE or KPOOL_ETYPE and err names the parameter:
 * "argument 2 (minimum): 300 does not fit i8". */
int kp_convert_arg(const kp_signature *sig, size_t i, const kp_value *v, kp_arena *arena,
                   kp_scalar *out, const void **data, size_t *len, kp_err *err);

/* The outcome of one call. */
typedef struct kp_result {
    kp_type type;    /* the kernel's return type */
    kp_scalar value; /* value.str points into the kernel's memory: copy it */
} kp_result;

/* The direct path in two steps, for a caller that keeps the register words
 * from call to call (task.c's row plan: literals loaded once, only the
 * record's words change). kp_kernel_load_words fills w from avalue as a call
 * would and returns true, or returns false when k is not called directly;
 * kp_kernel_word_slot says which word C parameter `cparam` is; only after
 * kp_kernel_load_words returned true, kp_kernel_invoke_words calls k with w
 * and fills *out as kp_kernel_invoke does. */
bool kp_kernel_load_words(const kp_kernel *k, void **avalue, uint64_t w[KP_DIRECT_REGS]);
unsigned kp_kernel_word_slot(const kp_kernel *k, size_t cparam);
void kp_kernel_invoke_words(const kp_kernel *k, const uint64_t w[KP_DIRECT_REGS], kp_result *out);
/* The same call, for a fixed-width return type (not str or void): returns
 * the result as a kp_outcome's 8 value bytes hold it (integers widened, the
 * unused bytes 0), without the kp_result between. */
uint64_t kp_kernel_invoke_value(const kp_kernel *k, const uint64_t w[KP_DIRECT_REGS]);

/* The C values of one call's arguments, and the pointers libffi takes to
 * them. The pointers depend only on the signature: bind them once, then
 * refill the values for each call. */
typedef struct kp_call_args {
    kp_scalar values[KP_MAX_PARAMS];
    const void *pointers[KP_MAX_PARAMS]; /* array parameters: data */
    size_t lengths[KP_MAX_PARAMS];       /* array parameters: element count */
    void *avalue[2 * KP_MAX_PARAMS];
} kp_call_args;

/* Points a->avalue at the values of sig's parameters (an array parameter
 * takes two C parameters: its pointer and its length). */
void kp_call_args_bind(kp_call_args *a, const kp_signature *sig);

/* Calls the kernel with C argument values already converted: avalue[j]
 * points at C parameter j (an array parameter takes two: the pointer and the
 * length). The hot path of a task; no checks. Takes the direct path when
 * k->direct, libffi otherwise. */
void kp_kernel_invoke(const kp_kernel *k, void **avalue, kp_result *out);

/* Converts `nargs` tuple values and calls the kernel. Fails with KPOOL_EINPUT
 * when nargs differs from the signature's parameter count ("the tuple has 2
 * values; the kernel takes 3 (row, minimum, maximum)"), or as kp_convert_arg.
 * The kernel itself reports failure through kpool_fail, which the caller
 * checks after this returns. */
int kp_kernel_call(const kp_kernel *k, const kp_value *args, size_t nargs, kp_arena *arena,
                   kp_result *out, kp_err *err);

#endif
