# `noble bench population` on a checkpoint trained on the mini dataset
# (fixture mini_dataset, tests/dataset.cmake): JSON fields and clear errors.
add_test(NAME test_bench_population
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_bench_population.sh $<TARGET_FILE:noble> ${NOBLE_MINI_DATASET})
set_tests_properties(test_bench_population PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 600
                     FIXTURES_REQUIRED mini_dataset LABELS "bench;cli")
