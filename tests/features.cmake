# Electrophysiology features (models/features.c) against eFEL and on hand-made traces.
noble_test(test_features LABELS features TIMEOUT 60)
target_link_libraries(test_features PRIVATE noble_models)
target_include_directories(test_features PRIVATE ${CMAKE_SOURCE_DIR}/models)
# The eFEL reference traces (tests/data/efel) and their numbers (efel_reference.h).
target_include_directories(test_features PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(test_features PRIVATE NM_EFEL_DIR="${CMAKE_CURRENT_SOURCE_DIR}/data/efel")
