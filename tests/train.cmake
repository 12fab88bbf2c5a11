# NOBLE end to end in Lua on the mini dataset (fixture mini_dataset, tests/dataset.cmake):
# training, resume, eval, and the errors of noble train / noble eval.
add_test(NAME test_train COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_train.sh $<TARGET_FILE:noble>
         ${CMAKE_CURRENT_SOURCE_DIR} ${NOBLE_MINI_DATASET})
set_tests_properties(test_train PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 900
                     FIXTURES_REQUIRED mini_dataset LABELS "lua;train")

# The same on the native CPU backend: training, resume bit for bit, eval.
add_test(NAME test_train_cpu COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_train.sh $<TARGET_FILE:noble>
         ${CMAKE_CURRENT_SOURCE_DIR} ${NOBLE_MINI_DATASET})
set_tests_properties(test_train_cpu PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_CPU}" TIMEOUT 900
                     FIXTURES_REQUIRED mini_dataset LABELS "lua;train;cpu")

# The same in the GPU configuration (tests/CMakeLists.txt): training, resume, eval as on a discrete GPU.
if(NOBLE_GPU_CONFIG_TESTS)
  add_test(NAME test_train_gpuconfig COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_train.sh $<TARGET_FILE:noble>
           ${CMAKE_CURRENT_SOURCE_DIR} ${NOBLE_MINI_DATASET})
  set_tests_properties(test_train_gpuconfig PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_GPU}" TIMEOUT 900
                       FIXTURES_REQUIRED mini_dataset LABELS "lua;train;gpuconfig")
endif()
