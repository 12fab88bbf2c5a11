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
