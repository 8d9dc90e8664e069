/* A plugin whose string-form signature is malformed. */
#include <kpool/plugin.h>

static int64_t twice(int64_t x)
{
    return 2 * x;
}

KPOOL_PLUGIN(KPOOL_KERNEL(twice, "i64 (i65 x)"), )
