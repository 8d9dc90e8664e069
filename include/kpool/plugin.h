/* plugin.h - all a kpool plugin (a shared object of kernels) needs.
 *
 *     #include <kpool/plugin.h>
 *
 *     static int64_t howmany_within_range(const int64_t *row, size_t n,
 *                                         int64_t minimum, int64_t maximum) { ... }
 *
 *     KPOOL_PLUGIN(
 *         KPOOL_KERNEL_TYPED(howmany_within_range, i64, i64_array, i64, i64),
 *     )
 *
 * Build it as an ordinary shared object (cc -shared -fPIC); it does not link
 * against libkpool. KPOOL_PLUGIN exports one descriptor, `kpool_plugin`, that
 * carries the ABI version and its own size; the host checks both before it
 * touches anything else, then hands the plugin a table of host services
 * (kpool_fail reaches the host through it).
 *
 * Two ways to declare a kernel:
 *   KPOOL_KERNEL_TYPED(fn, ret, params...)  recommended: the signature is built
 *       from type words, and the compiler checks that `fn` has exactly the C
 *       type they spell. A mismatch is a compile error.
 *   KPOOL_KERNEL(fn, "i64 (i64[] row, i64 minimum, i64 maximum)")  the string
 *       form: quick, and carries parameter names for messages, but no compiler
 *       can look inside a string, so a wrong signature is only found at run time.
 *
 * Type words of the typed form, and the C type each one is:
 *   i8 i16 i32 i64 u8 u16 u32 u64   int8_t ... uint64_t
 *   f32 f64                         float, double
 *   bool                            bool
 *   str                             const char *
 *   void                            return type void; as the only parameter: none
 *   T_array (e.g. i64_array)        two C parameters: const T *data, size_t len
 */
#ifndef KPOOL_PLUGIN_H
#define KPOOL_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version: major must equal the host's; minor may be older than the
 * host's (a newer host still understands it), never newer. */
#define KPOOL_ABI_MAJOR   1
#define KPOOL_ABI_MINOR   0
#define KPOOL_ABI_VERSION ((uint32_t)(KPOOL_ABI_MAJOR << 16 | KPOOL_ABI_MINOR))

/* The name of the one symbol a plugin exports. */
#define KPOOL_PLUGIN_SYMBOL "kpool_plugin"

#if defined(__GNUC__)
#define KPOOL_PLUGIN_EXPORT       __attribute__((visibility("default")))
#define KPOOL_PLUGIN_HIDDEN       __attribute__((visibility("hidden")))
#define KPOOL_PLUGIN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KPOOL_PLUGIN_EXPORT
#define KPOOL_PLUGIN_HIDDEN
#define KPOOL_PLUGIN_PRINTF(f, a)
#endif

/* Services the host offers to plugins. Append-only: new members go at the
 * end, and a plugin checks `size` before using a member added after 1.0. */
typedef struct kpool_host {
    uint32_t abi_version; /* the host's KPOOL_ABI_VERSION */
    uint32_t size;        /* sizeof(kpool_host_t) as the host was built */
    /* Fails the task running in this worker with a printf-style message. */
    void (*vfail)(const char *fmt, va_list ap);
} kpool_host_t;

/* Any kernel, whatever its C type; called through libffi by its signature. */
typedef void (*kpool_kernel_fn)(void);

typedef struct kpool_kernel_desc {
    const char *name;      /* looked up by `kernel =` in the job file */
    const char *signature; /* SPEC section 4 */
    kpool_kernel_fn fn;
} kpool_kernel_desc_t;

typedef struct kpool_plugin_desc {
    uint32_t abi_version; /* KPOOL_ABI_VERSION the plugin was built with */
    uint32_t size;        /* sizeof(kpool_plugin_desc_t) as the plugin was built */
    const kpool_kernel_desc_t *kernels;
    size_t n_kernels;
    /* The host stores its service table here right after loading, before any
     * kernel runs. */
    const kpool_host_t **host;
} kpool_plugin_desc_t;

/* The host table of this plugin, set by the host; defined by KPOOL_PLUGIN. */
extern KPOOL_PLUGIN_HIDDEN const kpool_host_t *kpool_plugin_host;

/* Fails the current task with a message (printf format). The task's return
 * value is then ignored and the task is reported as `failed` with this
 * message; the worker lives on. kpool_fail returns, so that the kernel can
 * free what it holds: return right after calling it. When called more than
 * once in a task, the first message is kept. */
static inline KPOOL_PLUGIN_PRINTF(1, 2) void kpool_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (kpool_plugin_host && kpool_plugin_host->vfail)
        kpool_plugin_host->vfail(fmt, ap);
    va_end(ap);
}

/* Declares a kernel by its signature string (SPEC section 4). */
#define KPOOL_KERNEL(fn, signature)                                                                \
    {                                                                                              \
#fn, signature, (kpool_kernel_fn)(fn)                                                      \
    }

/* Declares a kernel by type words; the compiler checks them against `fn`. */
#define KPOOL_KERNEL_TYPED(fn, ret, ...)                                                           \
    {                                                                                              \
        &(#fn)[0 * sizeof(struct {                                                                 \
                   int kpool_check;                                                                \
                   _Static_assert(_Generic(&(fn),                                                  \
                                           KPOOL_CT_##ret(*)(KPOOL_MAP_(                           \
                                               KPOOL_CTYPE_, KPOOL_COMMA_, __VA_ARGS__)) : 1,      \
                                           default : 0),                                           \
                                  "KPOOL_KERNEL_TYPED(" #fn                                        \
                                  "): the declared signature does not match "                      \
                                  "the C function's type");                                        \
               })],                                                                                \
            KPOOL_SIG_##ret " (" KPOOL_MAP_(KPOOL_SIGWORD_, KPOOL_SIGSEP_, __VA_ARGS__) ")",       \
            (kpool_kernel_fn)(fn)                                                                  \
    }

/* Exports the plugin's descriptor; its arguments are KPOOL_KERNEL(...) and
 * KPOOL_KERNEL_TYPED(...) entries separated by commas. Use once per plugin. */
#define KPOOL_PLUGIN(...)                                                                          \
    KPOOL_PLUGIN_HIDDEN const kpool_host_t *kpool_plugin_host;                                     \
    static const kpool_kernel_desc_t kpool_plugin_kernels[] = {__VA_ARGS__};                       \
    KPOOL_PLUGIN_EXPORT const kpool_plugin_desc_t kpool_plugin = {                                 \
        KPOOL_ABI_VERSION, (uint32_t)sizeof(kpool_plugin_desc_t), kpool_plugin_kernels,            \
        sizeof kpool_plugin_kernels / sizeof kpool_plugin_kernels[0], &kpool_plugin_host};

/* ---- Machinery of KPOOL_KERNEL_TYPED; not for direct use. ---- */

/* C types of the type words. `bool` may arrive already expanded to `_Bool`. */
#define KPOOL_CT_void        void
#define KPOOL_CT_bool        bool
#define KPOOL_CT__Bool       bool
#define KPOOL_CT_i8          int8_t
#define KPOOL_CT_i16         int16_t
#define KPOOL_CT_i32         int32_t
#define KPOOL_CT_i64         int64_t
#define KPOOL_CT_u8          uint8_t
#define KPOOL_CT_u16         uint16_t
#define KPOOL_CT_u32         uint32_t
#define KPOOL_CT_u64         uint64_t
#define KPOOL_CT_f32         float
#define KPOOL_CT_f64         double
#define KPOOL_CT_str         const char *
#define KPOOL_CT_bool_array  const bool *, size_t
#define KPOOL_CT__Bool_array const bool *, size_t
#define KPOOL_CT_i8_array    const int8_t *, size_t
#define KPOOL_CT_i16_array   const int16_t *, size_t
#define KPOOL_CT_i32_array   const int32_t *, size_t
#define KPOOL_CT_i64_array   const int64_t *, size_t
#define KPOOL_CT_u8_array    const uint8_t *, size_t
#define KPOOL_CT_u16_array   const uint16_t *, size_t
#define KPOOL_CT_u32_array   const uint32_t *, size_t
#define KPOOL_CT_u64_array   const uint64_t *, size_t
#define KPOOL_CT_f32_array   const float *, size_t
#define KPOOL_CT_f64_array   const double *, size_t

/* Signature words of the type words. */
#define KPOOL_SIG_void        "void"
#define KPOOL_SIG_bool        "bool"
#define KPOOL_SIG__Bool       "bool"
#define KPOOL_SIG_i8          "i8"
#define KPOOL_SIG_i16         "i16"
#define KPOOL_SIG_i32         "i32"
#define KPOOL_SIG_i64         "i64"
#define KPOOL_SIG_u8          "u8"
#define KPOOL_SIG_u16         "u16"
#define KPOOL_SIG_u32         "u32"
#define KPOOL_SIG_u64         "u64"
#define KPOOL_SIG_f32         "f32"
#define KPOOL_SIG_f64         "f64"
#define KPOOL_SIG_str         "str"
#define KPOOL_SIG_bool_array  "bool[]"
#define KPOOL_SIG__Bool_array "bool[]"
#define KPOOL_SIG_i8_array    "i8[]"
#define KPOOL_SIG_i16_array   "i16[]"
#define KPOOL_SIG_i32_array   "i32[]"
#define KPOOL_SIG_i64_array   "i64[]"
#define KPOOL_SIG_u8_array    "u8[]"
#define KPOOL_SIG_u16_array   "u16[]"
#define KPOOL_SIG_u32_array   "u32[]"
#define KPOOL_SIG_u64_array   "u64[]"
#define KPOOL_SIG_f32_array   "f32[]"
#define KPOOL_SIG_f64_array   "f64[]"

#define KPOOL_CTYPE_(w)   KPOOL_CT_##w
#define KPOOL_SIGWORD_(w) KPOOL_SIG_##w
#define KPOOL_COMMA_()    ,
#define KPOOL_SIGSEP_()   ", "

#define KPOOL_CAT_(a, b)   KPOOL_CAT_I_(a, b)
#define KPOOL_CAT_I_(a, b) a##b
#define KPOOL_NARGS_(...)                                                                          \
    KPOOL_NARGS_I_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define KPOOL_NARGS_I_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, n,   \
                       ...)                                                                        \
    n
/* Applies m to each argument (at most 16), with sep() between results. */
#define KPOOL_MAP_(m, sep, ...)                                                                    \
    KPOOL_CAT_(KPOOL_MAP_, KPOOL_NARGS_(__VA_ARGS__))(m, sep, __VA_ARGS__)
#define KPOOL_MAP_1(m, s, x)       m(x)
#define KPOOL_MAP_2(m, s, x, ...)  m(x) s() KPOOL_MAP_1(m, s, __VA_ARGS__)
#define KPOOL_MAP_3(m, s, x, ...)  m(x) s() KPOOL_MAP_2(m, s, __VA_ARGS__)
#define KPOOL_MAP_4(m, s, x, ...)  m(x) s() KPOOL_MAP_3(m, s, __VA_ARGS__)
#define KPOOL_MAP_5(m, s, x, ...)  m(x) s() KPOOL_MAP_4(m, s, __VA_ARGS__)
#define KPOOL_MAP_6(m, s, x, ...)  m(x) s() KPOOL_MAP_5(m, s, __VA_ARGS__)
#define KPOOL_MAP_7(m, s, x, ...)  m(x) s() KPOOL_MAP_6(m, s, __VA_ARGS__)
#define KPOOL_MAP_8(m, s, x, ...)  m(x) s() KPOOL_MAP_7(m, s, __VA_ARGS__)
#define KPOOL_MAP_9(m, s, x, ...)  m(x) s() KPOOL_MAP_8(m, s, __VA_ARGS__)
#define KPOOL_MAP_10(m, s, x, ...) m(x) s() KPOOL_MAP_9(m, s, __VA_ARGS__)
#define KPOOL_MAP_11(m, s, x, ...) m(x) s() KPOOL_MAP_10(m, s, __VA_ARGS__)
#define KPOOL_MAP_12(m, s, x, ...) m(x) s() KPOOL_MAP_11(m, s, __VA_ARGS__)
#define KPOOL_MAP_13(m, s, x, ...) m(x) s() KPOOL_MAP_12(m, s, __VA_ARGS__)
#define KPOOL_MAP_14(m, s, x, ...) m(x) s() KPOOL_MAP_13(m, s, __VA_ARGS__)
#define KPOOL_MAP_15(m, s, x, ...) m(x) s() KPOOL_MAP_14(m, s, __VA_ARGS__)
#define KPOOL_MAP_16(m, s, x, ...) m(x) s() KPOOL_MAP_15(m, s, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif /* KPOOL_PLUGIN_H */
