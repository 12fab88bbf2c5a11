# Tests of the operator (models/): CPU reference, GPU kernels, model, checkpoints.
function(noble_model_test name)
  noble_test(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE noble_models)
  set_tests_properties(${name} PROPERTIES LABELS "operator")
endfunction()

noble_model_test(test_reference)
noble_model_test(test_operator)
noble_model_test(test_checkpoint)
find_package(HDF5 REQUIRED COMPONENTS C)
target_include_directories(test_checkpoint SYSTEM PRIVATE ${HDF5_C_INCLUDE_DIRS})
target_link_libraries(test_checkpoint PRIVATE ${HDF5_C_LIBRARIES})
noble_model_test(test_training)
add_test(NAME test_cli_model COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_model.sh $<TARGET_FILE:noble>)
set_tests_properties(test_cli_model PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 600 LABELS "operator;cli")
add_test(NAME test_torch_parity COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_torch_parity.sh $<TARGET_FILE:noble> ${PROJECT_SOURCE_DIR})
set_tests_properties(test_torch_parity PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 600 LABELS "operator;reference")
noble_model_test(test_ops)

# The model tests again the way a discrete GPU runs them, in the GPU
# configuration (NOBLE_GPU_CONFIG=1, tests/CMakeLists.txt): VkFFT where the
# device would choose the host FFT, the GPU's weight-gradient tiles where it
# would choose the CPU's, storage-buffer loads where it would read texels
# (lavapipe), device buffers the host does not map and staged transfers.
# Both paths of each stay covered: every kernel (test_ops), forward,
# gradients and the embedded path (test_operator), checkpoints
# (test_checkpoint), training (test_training), the CLI's model commands
# (test_cli_model).
if(NOBLE_GPU_CONFIG_TESTS)
  foreach(t test_ops test_operator test_checkpoint test_training)
    add_test(NAME ${t}_gpuconfig COMMAND ${t})
    set_tests_properties(${t}_gpuconfig PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_GPU}" TIMEOUT 600
                         LABELS "operator;gpuconfig")
  endforeach()
  add_test(NAME test_cli_model_gpuconfig COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_model.sh $<TARGET_FILE:noble>)
  set_tests_properties(test_cli_model_gpuconfig PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_GPU}" TIMEOUT 600
                       LABELS "operator;cli;gpuconfig")
endif()

# The model tests on the native CPU backend too (issue 14): every kernel
# (test_ops), forward, gradients, the embedded path, the sag and spike terms
# (test_operator), a training run (test_training), parity with PyTorch.
foreach(t test_ops test_operator test_training)
  add_test(NAME ${t}_cpu COMMAND ${t})
  set_tests_properties(${t}_cpu PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_CPU}" TIMEOUT 600
                       LABELS "operator;cpu")
endforeach()
add_test(NAME test_torch_parity_cpu COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_torch_parity.sh $<TARGET_FILE:noble> ${PROJECT_SOURCE_DIR})
set_tests_properties(test_torch_parity_cpu PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_CPU}" TIMEOUT 600
                     LABELS "operator;reference;cpu")

# One training step at the real sizes (the quickstart, the pretrained
# recipe, the published preset at batch 64) against the CPU reference: minutes
# of double-precision reference, so the Release build runs it and the
# sanitizer build (every kernel and the reference already under test above)
# does not.
if(NOT NOBLE_SANITIZE)
  noble_model_test(test_realsize TIMEOUT 1500)
  set_tests_properties(test_realsize PROPERTIES LABELS "operator;realsize")
endif()
