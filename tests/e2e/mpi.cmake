# backend = mpi under `mpiexec -n 3` (tests/e2e/mpi.sh), when kpool was
# built with MPI (scripts/setup.sh installs MPICH, so CI always runs them).
if(KPOOL_HAVE_MPI AND KPOOL_MPIEXEC)
  set(KPOOL_MPI_CASES
      seed_identical singleton every_rank_works crash_on_rank2 timeout unordered
      resume_after_killing_launcher rank_lost agent_killed relay_killed job_error_once on_error_stop
      brake_every_rank
      initializer_every_rank)
  foreach(case ${KPOOL_MPI_CASES})
    add_test(NAME mpi.${case} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/mpi.sh ${case})
    set_tests_properties(mpi.${case} PROPERTIES TIMEOUT 180
      ENVIRONMENT "KPOOL=$<TARGET_FILE:kpool>;SRC=${PROJECT_SOURCE_DIR};TP=${KPOOL_TEST_PLUGIN_DIR};E2E_TMP=${CMAKE_CURRENT_BINARY_DIR}/e2e-tmp;MPIEXEC=${KPOOL_MPIEXEC};${KPOOL_TEST_ENV}")
  endforeach()
endif()
