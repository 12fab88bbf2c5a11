# The NEURON plugin: compiles the NMODL channels in mod/ with nrnivmodl into
# build/plugins/neuron/x86_64/.libs/libnrnmech.so, and writes datagen.json,
# which tells `noble datagen` where the generator, the cells, the mechanisms
# and the feature library (models/features.cmake) are.
find_program(NRNIVMODL nrnivmodl DOC "NEURON's nrnivmodl (Debian: neuron-dev)")
if(NOT NRNIVMODL)
  message(FATAL_ERROR "nrnivmodl not found: install NEURON 8.2 (./install-deps.sh installs neuron, neuron-dev, python3-neuron)")
endif()
set(NOBLE_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with NEURON, numpy and h5py (Debian's)")

set(NN_SRC ${CMAKE_CURRENT_SOURCE_DIR}/neuron)
set(NN_OUT ${CMAKE_CURRENT_BINARY_DIR}/neuron)
file(GLOB NN_MODS CONFIGURE_DEPENDS ${NN_SRC}/mod/*.mod)
set(NN_LIB ${NN_OUT}/x86_64/.libs/libnrnmech.so)
add_custom_command(
  OUTPUT ${NN_LIB}
  COMMAND bash ${NN_SRC}/build_mechanisms.sh ${NN_SRC}/mod ${NN_OUT}
  DEPENDS ${NN_MODS} ${NN_SRC}/build_mechanisms.sh
  COMMENT "nrnivmodl: NEURON mechanisms of plugins/neuron/mod"
  VERBATIM)
add_custom_target(noble_neuron_mechanisms ALL DEPENDS ${NN_LIB})

file(GENERATE OUTPUT ${NN_OUT}/datagen.json CONTENT "{
  \"python\": \"${NOBLE_PYTHON}\",
  \"script\": \"${NN_SRC}/noble_datagen.py\",
  \"cells_dir\": \"${NN_SRC}/cells\",
  \"mechanisms\": \"${NN_LIB}\",
  \"features_lib\": \"$<TARGET_FILE:nm_features>\"
}
")
