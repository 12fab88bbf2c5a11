# `noble datagen` end to end: errors, a mini PVALB dataset, the hoc cell, kill and resume.
add_test(NAME test_datagen COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_datagen.sh $<TARGET_FILE:noble>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(test_datagen PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 900 LABELS "datagen")
# Worker failures (constructor errors, ./x86_64 auto-load, SIGKILL), s_thr without offsets, hh at 34 degC.
add_test(NAME test_datagen_errors COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_datagen_errors.sh $<TARGET_FILE:noble>
         ${CMAKE_SOURCE_DIR})
set_tests_properties(test_datagen_errors PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 900 LABELS "datagen")
