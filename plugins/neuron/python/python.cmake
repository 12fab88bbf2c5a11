# noble.neuron, NOBLE cells in NEURON's Python (docs/neuron.md): a pure-Python
# package over libnoble.so (ctypes), and its spike source NobleSpikeTrain
# (mod/noble_spikes.mod) compiled with nrnivmodl into
# build/plugins/neuron/python/x86_64/.libs/libnrnmech.so.
# cmake --install BUILD --prefix P puts the package in
# P/<libdir>/python3/dist-packages/noble (libdir: lib, as for libnoble.so) and the
# mechanism library in its _mech/, so that PYTHONPATH=P/lib/python3/dist-packages
# and `import noble.neuron` finds both libraries without any other setting.
set(NP_SRC ${CMAKE_CURRENT_SOURCE_DIR}/neuron/python)
set(NP_OUT ${CMAKE_CURRENT_BINARY_DIR}/neuron/python)
set(NP_LIB ${NP_OUT}/x86_64/.libs/libnrnmech.so)
add_custom_command(
  OUTPUT ${NP_LIB}
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/neuron/build_mechanisms.sh ${NP_SRC}/mod ${NP_OUT}
  DEPENDS ${NP_SRC}/mod/noble_spikes.mod ${CMAKE_CURRENT_SOURCE_DIR}/neuron/build_mechanisms.sh
  COMMENT "nrnivmodl: NobleSpikeTrain, the spike source of noble.neuron"
  VERBATIM)
add_custom_target(noble_neuron_python ALL DEPENDS ${NP_LIB})

include(GNUInstallDirs)
set(NOBLE_PYTHON_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/python3/dist-packages CACHE STRING
    "Where cmake --install puts the Python package noble (relative to the prefix)")
install(FILES ${NP_SRC}/noble/__init__.py ${NP_SRC}/noble/_abi.py ${NP_SRC}/noble/neuron.py
        DESTINATION ${NOBLE_PYTHON_INSTALL_DIR}/noble)
install(FILES ${NP_LIB} ${NP_SRC}/mod/noble_spikes.mod DESTINATION ${NOBLE_PYTHON_INSTALL_DIR}/noble/_mech)
