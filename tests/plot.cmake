# noble.plot (scripting/lua_plot.c): PNGs through PLplot's cairo driver.
add_test(NAME test_plot COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_plot.sh $<TARGET_FILE:noble> ${CMAKE_CURRENT_SOURCE_DIR})
set_tests_properties(test_plot PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 300 LABELS "lua")
