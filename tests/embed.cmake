# The installed library and its embedding ABI (docs/plugin-abi.md).
add_test(NAME test_embed
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_embed.sh $<TARGET_FILE:noble> ${PROJECT_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER} $<BOOL:${NOBLE_SANITIZE}> $<BOOL:${NOBLE_VULKAN}>)
set_tests_properties(test_embed PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 300 LABELS "embed;cpu")
# The embedding ABI's Vulkan run in the GPU configuration (tests/CMakeLists.txt).
if(NOBLE_GPU_CONFIG_TESTS)
  add_test(NAME test_embed_gpuconfig
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_embed.sh $<TARGET_FILE:noble> ${PROJECT_SOURCE_DIR}
                   ${CMAKE_BINARY_DIR} ${CMAKE_C_COMPILER} $<BOOL:${NOBLE_SANITIZE}> $<BOOL:${NOBLE_VULKAN}>)
  set_tests_properties(test_embed_gpuconfig PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV_GPU}" TIMEOUT 300
                       LABELS "embed;gpuconfig")
endif()
