# Synthetic neurons and variability (scripting/lib/noble/population.lua) on the mini dataset.
add_test(NAME test_population COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_population.sh $<TARGET_FILE:noble>
         ${CMAKE_CURRENT_SOURCE_DIR} ${NOBLE_MINI_DATASET})
set_tests_properties(test_population PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 900
                     FIXTURES_REQUIRED mini_dataset LABELS "lua;population")
# The same in the GPU configuration (tests/CMakeLists.txt).
if(NOBLE_GPU_CONFIG_TESTS)
  add_test(NAME test_population_gpuconfig COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_population.sh
           $<TARGET_FILE:noble> ${CMAKE_CURRENT_SOURCE_DIR} ${NOBLE_MINI_DATASET})
  set_tests_properties(test_population_gpuconfig PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_GPU}" TIMEOUT 900
                       FIXTURES_REQUIRED mini_dataset LABELS "lua;population;gpuconfig")
endif()
