# bench/gpu-check.sh in its quick mode (lavapipe allowed, a few runtime tests,
# the benches with --quick) on this build, so that the prepared GPU check keeps
# working; and its refusals: no GPU driver, no GPU device, no OUTDIR. Not in the
# sanitizer build (test_bench_files runs the benches there) nor without Vulkan.
if(NOBLE_VULKAN AND NOT NOBLE_SANITIZE)
  add_test(NAME test_gpu_check
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_gpu_check.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(test_gpu_check PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 300 LABELS "gpucheck;bench")
endif()
