# The SDK (tests/e2e/sdk.sh): `cmake --install` of this build tree into a
# temporary prefix, then `kpool new` + an out-of-tree plugin build + run, and
# programs that embed libkpool through pkg-config and through find_package.
# The cases install the same build tree, so they hold one lock: two installs
# at once would both write its install_manifest.txt.
include(GNUInstallDirs)
if(KPOOL_SANITIZE)
  set(KPOOL_SDK_SANITIZE 1)
else()
  set(KPOOL_SDK_SANITIZE 0)
endif()
foreach(case sdk_install sdk_new_plugin sdk_embed_pkgconfig sdk_embed_cmake)
  add_test(NAME e2e.${case} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/sdk.sh ${case})
  set_tests_properties(e2e.${case} PROPERTIES TIMEOUT 300 RESOURCE_LOCK kpool_install
    ENVIRONMENT "KPOOL=$<TARGET_FILE:kpool>;SRC=${PROJECT_SOURCE_DIR};TP=${KPOOL_TEST_PLUGIN_DIR};E2E_TMP=${CMAKE_CURRENT_BINARY_DIR}/e2e-tmp;BUILD=${CMAKE_BINARY_DIR};LIBDIR=${CMAKE_INSTALL_LIBDIR};CMAKE=${CMAKE_COMMAND};CTEST=${CMAKE_CTEST_COMMAND};CC=${CMAKE_C_COMPILER};SANITIZE=${KPOOL_SDK_SANITIZE};${KPOOL_TEST_ENV}")
endforeach()
