# End-to-end tests: the real kpool binary on real job files. Each case is a
# function in e2e.sh; every case runs under a TIMEOUT so a hang fails.
set(KPOOL_E2E_CASES
    seed_starmap output_replaces_file seed_map seed_apply seed_async seed_jsonl seed_csv_map seed_stdin
    foreign_libm foreign_plugin_signature npy_output jsonl_types void_kernel str_kernel
    crash_segv crash_abort crash_exit crash_fpe crash_bus crash_repeated kpool_fail errors_jsonl on_error_stop on_error_soon_count
    on_error_soon_percent on_error_now
    timeout retries_succeed max_tasks_per_worker workers_honoured initializer
    initializer_fails initializer_fails_in_replacement limit_cpu limit_open_files limit_core_dumps
    worker_nice
    crash_storm crash_brake bad_record bad_value literal_does_not_fit job_unknown_key job_bad_value job_missing_kernel
    job_missing_input set_override set_bad signature_mismatch signature_required
    wrong_abi not_a_plugin no_such_kernel check_command inspect_command info_command
    help_version usage_errors sigint sigint_twice sigterm kill9_coordinator
    resume_after_kill9 resume_keeps_the_output_prefix resume_checks_the_input resume_after_sigint_npy resume_completion_order resume_refused
    journal_not_regular)
foreach(case ${KPOOL_E2E_CASES})
  add_test(NAME e2e.${case}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e.sh ${case})
  set_tests_properties(e2e.${case} PROPERTIES TIMEOUT 120
    ENVIRONMENT "KPOOL=$<TARGET_FILE:kpool>;SRC=${PROJECT_SOURCE_DIR};TP=${KPOOL_TEST_PLUGIN_DIR};E2E_TMP=${CMAKE_CURRENT_BINARY_DIR}/e2e-tmp;${KPOOL_TEST_ENV}")
endforeach()
# Ten thousand crashes fork ten thousand workers: slower under ASan.
set_tests_properties(e2e.crash_storm PROPERTIES TIMEOUT 600)

# RLIMIT_AS cannot be tested under AddressSanitizer: ASan reserves terabytes
# of address space for its shadow memory, so any address-space limit stops
# every allocation of the worker. The plain build tests it.
if(NOT KPOOL_SANITIZE)
  add_test(NAME e2e.limit_memory COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e.sh limit_memory)
  set_tests_properties(e2e.limit_memory PROPERTIES TIMEOUT 120
    ENVIRONMENT "KPOOL=$<TARGET_FILE:kpool>;SRC=${PROJECT_SOURCE_DIR};TP=${KPOOL_TEST_PLUGIN_DIR};E2E_TMP=${CMAKE_CURRENT_BINARY_DIR}/e2e-tmp")
endif()

# valgrind: no leak and no invalid access in normal runs (not under ASan).
find_program(KPOOL_VALGRIND valgrind)
if(KPOOL_VALGRIND AND NOT KPOOL_SANITIZE)
  foreach(case valgrind_seed valgrind_failures valgrind_output_fails)
    add_test(NAME e2e.${case} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/e2e.sh ${case})
    set_tests_properties(e2e.${case} PROPERTIES TIMEOUT 300
      ENVIRONMENT "KPOOL=$<TARGET_FILE:kpool>;SRC=${PROJECT_SOURCE_DIR};TP=${KPOOL_TEST_PLUGIN_DIR};E2E_TMP=${CMAKE_CURRENT_BINARY_DIR}/e2e-tmp;VALGRIND=${KPOOL_VALGRIND}")
  endforeach()
endif()
