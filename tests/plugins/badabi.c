/* A plugin that claims a future ABI: the loader must refuse it, naming both versions. */
#include <kpool/plugin.h>

static int64_t one(void)
{
    return 1;
}

static const kpool_kernel_desc_t kernels[] = {KPOOL_KERNEL(one, "i64 ()")};
KPOOL_PLUGIN_HIDDEN const kpool_host_t *kpool_plugin_host;

KPOOL_PLUGIN_EXPORT const kpool_plugin_desc_t kpool_plugin = {(uint32_t)(99 << 16 | 0),
                                                              (uint32_t)sizeof(kpool_plugin_desc_t),
                                                              kernels, 1, &kpool_plugin_host};
