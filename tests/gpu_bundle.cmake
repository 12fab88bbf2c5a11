# bench/gpu-bundle.sh and gpu-check.sh --bundle --quick from a copy of the tracked
# files under env -i (tests/test_gpu_bundle.sh). It configures and builds a second
# Release tree (BUILD/gpu-bundle-build) and compresses 160 MB, minutes on 2 cores,
# so it is registered only with -DNOBLE_TEST_GPU_BUNDLE=ON (label gpucheck).
option(NOBLE_TEST_GPU_BUNDLE "Register test_gpu_bundle (builds a second tree for the GPU bundle)" OFF)
if(NOBLE_TEST_GPU_BUNDLE AND NOBLE_VULKAN AND NOT NOBLE_SANITIZE)
  add_test(NAME test_gpu_bundle
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_gpu_bundle.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(test_gpu_bundle PROPERTIES TIMEOUT 1500 LABELS "gpucheck;bench")
endif()
