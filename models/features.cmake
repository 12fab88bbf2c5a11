# Electrophysiology features (features.c): in noble_models for C and Lua, and
# alone as libnm_features.so for the NEURON generator (Python ctypes). The
# shared library carries no sanitizer flags (Python cannot load an ASan
# library) and its own copy of nb_error (-DNM_FEATURES_STANDALONE).
list(APPEND NM_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/features.c)

add_library(nm_features SHARED ${CMAKE_CURRENT_SOURCE_DIR}/features.c)
set_target_properties(nm_features PROPERTIES COMPILE_OPTIONS "" LINK_OPTIONS ""
                      C_VISIBILITY_PRESET default)
target_compile_options(nm_features PRIVATE ${NOBLE_WARNINGS} -O2)
target_compile_definitions(nm_features PRIVATE ${NOBLE_DEFINES} NM_FEATURES_STANDALONE)
target_include_directories(nm_features PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
                           ${CMAKE_SOURCE_DIR}/runtime)
target_link_libraries(nm_features PRIVATE m)
