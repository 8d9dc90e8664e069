# The progress bar and the summary line (tests/e2e/progress.sh). The tty_*
# cases run kpool in a detached tmux pane and read its screen; without tmux
# they are skipped (exit 77). Each run lasts a few seconds by design: the bar
# must be seen while tasks run.
set(KPOOL_PROGRESS_CASES
    tty_bar tty_failures tty_quiet tty_results_on_terminal file_has_summary_only
    quiet_is_silent progress_to_file progress_and_quiet_conflict)
foreach(case ${KPOOL_PROGRESS_CASES})
  add_test(NAME e2e.progress.${case}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/progress.sh ${case})
  set_tests_properties(e2e.progress.${case} PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
    ENVIRONMENT "KPOOL=$<TARGET_FILE:kpool>;SRC=${PROJECT_SOURCE_DIR};TP=${KPOOL_TEST_PLUGIN_DIR};E2E_TMP=${CMAKE_CURRENT_BINARY_DIR}/e2e-tmp;${KPOOL_TEST_ENV}")
endforeach()
