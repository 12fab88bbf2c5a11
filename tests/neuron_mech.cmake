# The NobleCell mechanism (plugins/neuron/mod_noble): nrnivmodl against the
# installed libnoble, nrniv runs, spikes and errors (docs/plugin-abi.md,
# "NEURON, from hoc"). Skipped (77) without NEURON and in the sanitizer build.
add_test(NAME test_neuron_mech
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_neuron_mech.sh ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR}
                 ${CMAKE_C_COMPILER} $<BOOL:${NOBLE_SANITIZE}>)
set_tests_properties(test_neuron_mech PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 300 SKIP_RETURN_CODE 77
                     LABELS "neuron;embed;cpu")
