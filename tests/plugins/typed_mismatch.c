/* Must NOT compile: the typed descriptor says i32 parameters, the function
 * takes int64_t. The test plugin.typed_mismatch_is_compile_error expects the
 * compiler to refuse this file with KPOOL_KERNEL_TYPED's message. */
#include <kpool/plugin.h>

static int64_t add(int64_t a, int64_t b)
{
    return a + b;
}

KPOOL_PLUGIN(KPOOL_KERNEL_TYPED(add, i64, i32, i32))
