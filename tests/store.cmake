# Stores (models/store.c, scripting/lua_store.c): streaming, appendable HDF5
# files. test_store reads them back with the HDF5 C API; test_store_lua runs
# tests/lua/test_store.lua in a fresh folder and reads back with h5py.
noble_test(test_store)
target_link_libraries(test_store PRIVATE noble_models)
find_package(HDF5 REQUIRED COMPONENTS C)
target_include_directories(test_store SYSTEM PRIVATE ${HDF5_C_INCLUDE_DIRS})
target_link_libraries(test_store PRIVATE ${HDF5_C_LIBRARIES})
set_tests_properties(test_store PROPERTIES TIMEOUT 300 LABELS "store")

set(NOBLE_STORE_LUA_DIR ${CMAKE_CURRENT_BINARY_DIR}/store_lua)
add_test(NAME test_store_lua
         COMMAND bash -c "rm -rf \"$1\" && mkdir -p \"$1\" && \"$0\" run \"$2\" \"$1\" && rm -rf \"$1\""
                 $<TARGET_FILE:noble> ${NOBLE_STORE_LUA_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/lua/test_store.lua)
set_tests_properties(test_store_lua PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 120 LABELS "lua")
