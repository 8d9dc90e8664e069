/* The plugin loader: good plugins, broken ones, foreign shared objects. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "plugin.h"
#include "signature.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TP KP_TEST_PLUGIN_DIR "/"

static void test_open_good_plugin_lists_kernels(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    assert_int_equal(kp_plugin_open(&p, TP "libtestkernels.so", &err), 0);
    assert_non_null(p.desc);
    assert_true(p.desc->n_kernels > 10);
    kp_kernel k;
    assert_int_equal(kp_plugin_kernel(&p, "f64_half", NULL, &k, &err), 0);
    assert_int_equal(k.sig.ret, KP_T_F64);
    assert_int_equal(k.sig.nparams, 1);
    assert_non_null(k.fn);
    kp_plugin_close(&p);
}

static void test_open_wrong_abi_names_both_versions(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    assert_int_equal(kp_plugin_open(&p, TP "libbadabi.so", &err), KPOOL_EABI);
    assert_non_null(strstr(err.msg, "libbadabi.so"));
    assert_non_null(strstr(err.msg, "ABI 99.0"));
    assert_non_null(strstr(err.msg, "speaks 1.0"));
    assert_null(p.handle);
}

static void test_open_not_a_shared_object(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    assert_int_equal(kp_plugin_open(&p, TP "libnot_an_elf.so", &err), KPOOL_EPLUGIN);
    assert_non_null(strstr(err.msg, "libnot_an_elf.so: cannot load"));
}

static void test_open_missing_file(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    assert_int_equal(kp_plugin_open(&p, TP "libnope.so", &err), KPOOL_EPLUGIN);
    assert_non_null(strstr(err.msg, "libnope.so: cannot load"));
}

static void test_kernel_missing_lists_names(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    kp_kernel k;
    assert_int_equal(kp_plugin_open(&p, TP "libtestkernels.so", &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "nope", NULL, &k, &err), KPOOL_ENOENT);
    assert_non_null(strstr(err.msg, "no kernel 'nope'; it has: crash_on_3"));
    kp_plugin_close(&p);
}

static void test_kernel_signature_must_match_descriptor(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    kp_kernel k;
    assert_int_equal(kp_plugin_open(&p, TP "libtestkernels.so", &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "f64_half", "f64 (f64 y)", &k, &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "f64_half", "f32 (f32)", &k, &err), KPOOL_ESIG);
    assert_non_null(strstr(err.msg, "does not match kernel f64_half"));
    assert_int_equal(kp_plugin_kernel(&p, "f64_half", "f64 (f64", &k, &err), KPOOL_ESIG);
    assert_non_null(strstr(err.msg, "column"));
    kp_plugin_close(&p);
}

static void test_foreign_needs_signature(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    kp_kernel k;
    assert_int_equal(kp_plugin_open(&p, TP "libforeign.so", &err), 0);
    assert_null(p.desc);
    assert_int_equal(kp_plugin_kernel(&p, "scale", NULL, &k, &err), KPOOL_ESIG);
    assert_non_null(strstr(err.msg, "no kpool descriptor"));
    assert_int_equal(kp_plugin_kernel(&p, "scale", "f64 (f64, f64)", &k, &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "missing_symbol", "f64 (f64)", &k, &err), KPOOL_ENOENT);
    assert_non_null(strstr(err.msg, "no function 'missing_symbol'"));
    kp_plugin_close(&p);
}

static void test_foreign_libm_pow_is_callable(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    kp_kernel k;
    assert_int_equal(kp_plugin_open(&p, "libm.so.6", &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "pow", "double pow(double x, double y)", &k, &err), 0);
    kp_value args[2] = {{.kind = KP_V_INT, .as.i = 2}, {.kind = KP_V_FLOAT, .as.f = 10}};
    kp_arena arena;
    kp_arena_init(&arena);
    kp_result r;
    assert_int_equal(kp_kernel_call(&k, args, 2, &arena, &r, &err), 0);
    assert_true(r.value.f64 == 1024.0);
    kp_arena_free(&arena);
    kp_plugin_close(&p);
}

static void test_bad_descriptor_signature_is_reported(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    kp_kernel k;
    assert_int_equal(kp_plugin_open(&p, TP "libbadsig.so", &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "twice", NULL, &k, &err), KPOOL_ESIG);
    assert_non_null(strstr(err.msg, "bad signature 'i64 (i65 x)'"));
    kp_plugin_close(&p);
}

static void test_kpool_fail_reaches_host(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    kp_kernel k;
    assert_int_equal(kp_plugin_open(&p, TP "libtestkernels.so", &err), 0);
    assert_int_equal(kp_plugin_kernel(&p, "fail_if_negative", NULL, &k, &err), 0);
    kp_arena arena;
    kp_arena_init(&arena);
    kp_result r;
    kp_value arg = {.kind = KP_V_INT, .as.i = -7};
    kp_task_fail_reset();
    assert_int_equal(kp_kernel_call(&k, &arg, 1, &arena, &r, &err), 0);
    assert_non_null(kp_task_fail_message());
    assert_string_equal(kp_task_fail_message(), "value -7 is negative");
    kp_task_fail_reset();
    arg.as.i = 7;
    assert_int_equal(kp_kernel_call(&k, &arg, 1, &arena, &r, &err), 0);
    assert_null(kp_task_fail_message());
    assert_int_equal(r.value.i64, 7);
    kp_arena_free(&arena);
    kp_plugin_close(&p);
}

static void test_typed_descriptor_signature_text(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    assert_int_equal(kp_plugin_open(&p, KP_SOURCE_DIR "/plugins/libseed.so", &err), 0);
    assert_int_equal(p.desc->n_kernels, 2);
    assert_string_equal(p.desc->kernels[0].name, "howmany_within_range");
    assert_string_equal(p.desc->kernels[0].signature, "i64 (i64[], i64, i64)");
    assert_string_equal(p.desc->kernels[1].signature, "i64 (i64[])");
    kp_plugin_close(&p);
}

static void test_list_shows_prototypes(void **state)
{
    (void)state;
    kp_plugin p;
    kp_err err;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(kp_plugin_open(&p, KP_SOURCE_DIR "/plugins/libseed.so", &err), 0);
    assert_int_equal(kp_plugin_list(&p, f, &err), 0);
    fclose(f);
    assert_non_null(strstr(text, "2 kernels"));
    assert_non_null(strstr(text, "int64_t howmany_within_range(const int64_t *"));
    free(text);
    kp_plugin_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_good_plugin_lists_kernels),
        cmocka_unit_test(test_open_wrong_abi_names_both_versions),
        cmocka_unit_test(test_open_not_a_shared_object),
        cmocka_unit_test(test_open_missing_file),
        cmocka_unit_test(test_kernel_missing_lists_names),
        cmocka_unit_test(test_kernel_signature_must_match_descriptor),
        cmocka_unit_test(test_foreign_needs_signature),
        cmocka_unit_test(test_foreign_libm_pow_is_callable),
        cmocka_unit_test(test_bad_descriptor_signature_is_reported),
        cmocka_unit_test(test_kpool_fail_reaches_host),
        cmocka_unit_test(test_typed_descriptor_signature_text),
        cmocka_unit_test(test_list_shows_prototypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
