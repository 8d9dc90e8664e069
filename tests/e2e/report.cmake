# --trace and --report (tests/e2e/report.sh). e2e.report.browser opens the
# report in headless Chromium (skipped, exit 77, without it); Chromium can
# take seconds to start, hence its long TIMEOUT.
set(KPOOL_REPORT_CASES
    trace_known_run trace_equals_form trace_retries trace_timeout trace_sigint trace_seed report_offline
    report_escapes
    bad_paths)
foreach(case ${KPOOL_REPORT_CASES})
  add_test(NAME e2e.report.${case}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/report.sh ${case})
  set_tests_properties(e2e.report.${case} PROPERTIES TIMEOUT 120
    ENVIRONMENT "KPOOL=$<TARGET_FILE:kpool>;SRC=${PROJECT_SOURCE_DIR};TP=${KPOOL_TEST_PLUGIN_DIR};E2E_TMP=${CMAKE_CURRENT_BINARY_DIR}/e2e-tmp;${KPOOL_TEST_ENV}")
endforeach()
add_test(NAME e2e.report.browser COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/report.sh browser)
set_tests_properties(e2e.report.browser PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
  ENVIRONMENT "KPOOL=$<TARGET_FILE:kpool>;SRC=${PROJECT_SOURCE_DIR};TP=${KPOOL_TEST_PLUGIN_DIR};E2E_TMP=${CMAKE_CURRENT_BINARY_DIR}/e2e-tmp;${KPOOL_TEST_ENV}")
