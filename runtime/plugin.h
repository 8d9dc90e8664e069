/* plugin.h (runtime) - loading plugins and finding kernels in them.
 *
 * A kpool plugin exports `kpool_plugin` (include/kpool/plugin.h); any other
 * shared object is a foreign plugin whose functions are called by the
 * signature the job file gives. */
#ifndef KP_PLUGIN_H
#define KP_PLUGIN_H

#include "error.h"
#include "kernel.h"

#include <kpool/plugin.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct kp_plugin {
    void *handle;
    char path[4096];                 /* as given to kp_plugin_open */
    const kpool_plugin_desc_t *desc; /* NULL for a foreign shared object */
} kp_plugin;

/* Loads `path` (a path, or a bare name for the dynamic loader's search) with
 * dlopen(RTLD_NOW | RTLD_LOCAL). When it exports a descriptor, checks its ABI
 * version (major equal, minor not newer) and size before anything else, then
 * gives it the host table. Errors name the file: "libx.so: cannot load:
 * <dlerror>", "libx.so: built for kpool plugin ABI 2.0, this kpool speaks
 * 1.0: rebuild the plugin against this kpool's plugin.h". On failure nothing
 * stays loaded. */
int kp_plugin_open(kp_plugin *p, const char *path, kp_err *err);

/* Finds kernel `name` and fills *k (signature parsed, libffi call prepared).
 * `signature` is the job file's text or NULL. For a descriptor kernel, a
 * given signature must have the descriptor's types; a foreign function needs
 * one. Errors: "libx.so: no kernel 'foo'; it has: a, b", "libm.so.6: pow has
 * no kpool descriptor: give its signature in [job] signature". */
int kp_plugin_kernel(const kp_plugin *p, const char *name, const char *signature, kp_kernel *k,
                     kp_err *err);

/* Writes the plugin's kernels with their signatures and C prototypes, one
 * block per kernel, for `kpool inspect`. */
int kp_plugin_list(const kp_plugin *p, FILE *out, kp_err *err);

/* dlcloses the plugin. Accepts a zeroed or already closed one. */
void kp_plugin_close(kp_plugin *p);

/* The worker side of kpool_fail: forget any failure before a task, and after
 * it, return the message the kernel failed with (NULL when it did not). The
 * state is per process: each worker runs one task at a time. */
void kp_task_fail_reset(void);
const char *kp_task_fail_message(void);

#endif
