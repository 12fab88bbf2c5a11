# noble population, noble eval, noble train and noble datagen across MPI ranks (docs/mpi.md), each
# against its single-process result on the mini dataset: mpirun -np 2 and
# -np 1 give files identical in every dataset (reports identical but for
# timings and ranks) to a run without mpirun; a failing rank ends the job.
# Registered only when the build found MPI (NOBLE_MPI). The CPU backend: the
# comparisons are bit for bit.
# Under the sanitizers, LeakSanitizer reports Open MPI's own allocations left at
# MPI_Finalize (in its MCA components, unloaded by then, so no suppression can
# name them): these tests run with leak detection off there (ASan and UBSan
# still on); the leak checks of noble's code are the other tests', which never
# initialise MPI.
set(NOBLE_TEST_ENV_MPI ${NOBLE_TEST_ENV_CPU})
if(NOBLE_SANITIZE)
  list(FILTER NOBLE_TEST_ENV_MPI EXCLUDE REGEX "^ASAN_OPTIONS=")
  list(APPEND NOBLE_TEST_ENV_MPI ASAN_OPTIONS=detect_leaks=0:abort_on_error=0)
endif()
if(NOBLE_HAVE_MPI)
  foreach(what population eval train)
    add_test(NAME test_mpi_${what} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_mpi.sh $<TARGET_FILE:noble>
             ${CMAKE_CURRENT_SOURCE_DIR} ${NOBLE_MINI_DATASET} ${MPIEXEC_EXECUTABLE} ${what})
    set_tests_properties(test_mpi_${what} PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_MPI}" TIMEOUT 600
                         FIXTURES_REQUIRED mini_dataset LABELS "mpi;cpu")
  endforeach()
  # noble datagen across ranks (NEURON, no runtime device): -np 2 and -np 1 against one
  # process, resume per rank, another rank count refused, a dying rank ends the job.
  add_test(NAME test_mpi_datagen COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_mpi_datagen.sh
           $<TARGET_FILE:noble> ${CMAKE_CURRENT_SOURCE_DIR} ${MPIEXEC_EXECUTABLE})
  set_tests_properties(test_mpi_datagen PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_MPI}" TIMEOUT 900
                       LABELS "mpi;datagen")
endif()
