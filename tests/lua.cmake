# The Lua face: `noble run` and the noble module.
add_test(NAME test_lua COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_lua.sh $<TARGET_FILE:noble> ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_lua PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 600 LABELS "lua")
