# noble.neuron (plugins/neuron/python, docs/neuron.md) in Debian's NEURON 8.2,
# against an installed tree; in the sanitizer build with the ASan runtime
# preloaded into Python; skipped (77) where /usr/bin/python3 lacks NEURON.
add_test(NAME test_neuron_python
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_neuron_python.sh $<TARGET_FILE:noble> ${PROJECT_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR} $<BOOL:${NOBLE_SANITIZE}> $<BOOL:${NOBLE_VULKAN}>)
set_tests_properties(test_neuron_python PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 300
                     SKIP_RETURN_CODE 77 LABELS "neuron;embed;cpu")
