# The example network (plugins/neuron/examples/pv_network.py) at a small size in
# Debian's NEURON 8.2, against an installed tree; in the sanitizer build with the
# ASan runtime preloaded into Python; skipped (77) where /usr/bin/python3 lacks
# NEURON or the NEURON plugin is not built.
add_test(NAME test_neuron_network
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_neuron_network.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}
                 $<BOOL:${NOBLE_SANITIZE}>)
set_tests_properties(test_neuron_network PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 120
                     SKIP_RETURN_CODE 77 LABELS "neuron;embed;cpu")
