#include "plugin.h"

#include "signature.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The failure of the task running in this process. A worker runs one task
 * at a time, so process-wide state is enough; it is reset before each task. */
static char fail_message[KP_ERR_MAX];
static bool fail_set;

static void host_vfail(const char *fmt, va_list ap)
{
    if (fail_set)
        return;
    fail_set = true;
    if (!fmt)
        fmt = "(no message)";
    vsnprintf(fail_message, sizeof fail_message, fmt, ap);
}

static const kpool_host_t host_table = {
    .abi_version = KPOOL_ABI_VERSION,
    .size = sizeof(kpool_host_t),
    .vfail = host_vfail,
};

void kp_task_fail_reset(void)
{
    fail_set = false;
    fail_message[0] = '\0';
}

const char *kp_task_fail_message(void)
{
    return fail_set ? fail_message : NULL;
}

/* The descriptor fields the host reads, up to and including `host`. */
#define KP_DESC_MIN_SIZE (offsetof(kpool_plugin_desc_t, host) + sizeof(void *))

static int check_descriptor(const kp_plugin *p, const kpool_plugin_desc_t *d, kp_err *err)
{
    unsigned major = d->abi_version >> 16, minor = d->abi_version & 0xffff;
    if (major != KPOOL_ABI_MAJOR || minor > KPOOL_ABI_MINOR)
        return kp_err_set(err, KPOOL_EABI,
                          "%s: built for kpool plugin ABI %u.%u, this kpool speaks %u.%u: "
                          "rebuild the plugin against this kpool's <kpool/plugin.h>",
                          p->path, major, minor, KPOOL_ABI_MAJOR, KPOOL_ABI_MINOR);
    if (d->size < KP_DESC_MIN_SIZE)
        return kp_err_set(err, KPOOL_EABI,
                          "%s: its descriptor is %u bytes, smaller than the %zu bytes of ABI "
                          "%u.%u: the plugin is corrupt or not built with <kpool/plugin.h>",
                          p->path, d->size, (size_t)KP_DESC_MIN_SIZE, major, minor);
    if (d->n_kernels && !d->kernels)
        return kp_err_set(err, KPOOL_EPLUGIN, "%s: its descriptor lists %zu kernels but no table",
                          p->path, d->n_kernels);
    for (size_t i = 0; i < d->n_kernels; i++) {
        const kpool_kernel_desc_t *kd = &d->kernels[i];
        if (!kd->name || !kd->signature || !kd->fn)
            return kp_err_set(err, KPOOL_EPLUGIN,
                              "%s: kernel %zu of its descriptor has no name, signature or "
                              "function",
                              p->path, i + 1);
    }
    return 0;
}

int kp_plugin_open(kp_plugin *p, const char *path, kp_err *err)
{
    memset(p, 0, sizeof *p);
    snprintf(p->path, sizeof p->path, "%s", path);
    dlerror();
    p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->handle) {
        const char *why = dlerror();
        return kp_err_set(err, KPOOL_EPLUGIN, "%s: cannot load: %s", path,
                          why ? why : "unknown dlopen error");
    }
    const kpool_plugin_desc_t *d = dlsym(p->handle, KPOOL_PLUGIN_SYMBOL);
    if (d) {
        int rc = check_descriptor(p, d, err);
        if (rc < 0) {
            kp_plugin_close(p);
            return rc;
        }
        if (d->host)
            *d->host = &host_table;
        p->desc = d;
    }
    return 0;
}

static const kpool_kernel_desc_t *find_kernel(const kp_plugin *p, const char *name)
{
    for (size_t i = 0; p->desc && i < p->desc->n_kernels; i++)
        if (strcmp(p->desc->kernels[i].name, name) == 0)
            return &p->desc->kernels[i];
    return NULL;
}

static void list_names(const kp_plugin *p, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->desc->n_kernels && used < n; i++)
        used +=
            (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", p->desc->kernels[i].name);
    if (!p->desc->n_kernels)
        snprintf(buf, n, "no kernels at all");
}

int kp_plugin_kernel(const kp_plugin *p, const char *name, const char *signature, kp_kernel *k,
                     kp_err *err)
{
    memset(k, 0, sizeof *k);
    if (strlen(name) >= sizeof k->name)
        return kp_err_set(err, KPOOL_ENOENT, "%s: kernel name '%.40s...' is too long", p->path,
                          name);
    snprintf(k->name, sizeof k->name, "%s", name);

    kp_signature given;
    if (signature && *signature) {
        int rc = kp_signature_parse(signature, &given, err);
        if (rc < 0)
            return kp_err_prefix(err, "signature '%s'", signature);
    }
    if (p->desc) {
        const kpool_kernel_desc_t *kd = find_kernel(p, name);
        if (!kd) {
            char names[1024];
            list_names(p, names, sizeof names);
            return kp_err_set(err, KPOOL_ENOENT, "%s: no kernel '%s'; it has: %s", p->path, name,
                              names);
        }
        int rc = kp_signature_parse(kd->signature, &k->sig, err);
        if (rc < 0)
            return kp_err_prefix(err, "%s: kernel %s has a bad signature '%s'", p->path, name,
                                 kd->signature);
        if (signature && *signature && !kp_signature_same_types(&given, &k->sig)) {
            char have[512], want[512];
            kp_signature_format(&k->sig, have, sizeof have);
            kp_signature_format(&given, want, sizeof want);
            return kp_err_set(err, KPOOL_ESIG,
                              "signature '%s' does not match kernel %s of %s, which is '%s'", want,
                              name, p->path, have);
        }
        k->fn = kd->fn;
    } else {
        if (!signature || !*signature)
            return kp_err_set(err, KPOOL_ESIG,
                              "%s has no kpool descriptor, so kpool cannot know the type of %s: "
                              "give it in [job] signature, e.g. signature = double %s(double, "
                              "double)",
                              p->path, name, name);
        dlerror();
        void *sym = dlsym(p->handle, name);
        const char *why = dlerror();
        if (why || !sym)
            return kp_err_set(err, KPOOL_ENOENT, "%s: no function '%s' (%s)", p->path, name,
                              why ? why : "symbol is NULL");
        k->sig = given;
        /* POSIX guarantees that a data pointer from dlsym converts to a
         * function pointer; C itself does not, hence the memcpy. */
        memcpy(&k->fn, &sym, sizeof k->fn);
    }
    return kp_kernel_prepare(k, err);
}

int kp_plugin_list(const kp_plugin *p, FILE *out, kp_err *err)
{
    if (!p->desc) {
        fprintf(out,
                "%s: no kpool descriptor. Any exported function can be a kernel: give its "
                "signature in the job file ([job] signature).\n",
                p->path);
        return 0;
    }
    fprintf(out, "%s: kpool plugin ABI %u.%u, %zu kernel%s\n", p->path, p->desc->abi_version >> 16,
            p->desc->abi_version & 0xffff, p->desc->n_kernels, p->desc->n_kernels == 1 ? "" : "s");
    for (size_t i = 0; i < p->desc->n_kernels; i++) {
        const kpool_kernel_desc_t *kd = &p->desc->kernels[i];
        kp_signature sig;
        kp_err perr;
        if (kp_signature_parse(kd->signature, &sig, &perr) < 0) {
            fprintf(out, "\n  %s\n    signature: %s\n    error: %s\n", kd->name, kd->signature,
                    perr.msg);
            continue;
        }
        char text[1024], proto[1024];
        kp_signature_format(&sig, text, sizeof text);
        kp_signature_prototype(&sig, kd->name, proto, sizeof proto);
        fprintf(out, "\n  %s\n    signature: %s\n    C:         %s;\n", kd->name, text, proto);
    }
    (void)err;
    return 0;
}

void kp_plugin_close(kp_plugin *p)
{
    if (p->handle)
        dlclose(p->handle);
    p->handle = NULL;
    p->desc = NULL;
}

int kpool_plugin_describe(const char *path, FILE *out, char *errbuf, size_t errlen)
{
    kp_plugin p;
    kp_err err;
    kp_err_clear(&err);
    int rc = kp_plugin_open(&p, path, &err);
    if (rc == 0) {
        rc = kp_plugin_list(&p, out, &err);
        kp_plugin_close(&p);
    }
    if (rc < 0 && errbuf && errlen)
        snprintf(errbuf, errlen, "%s", err.msg);
    return rc;
}
