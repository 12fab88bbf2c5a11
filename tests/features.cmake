# Electrophysiology features (models/features.c) on hand-made traces.
noble_test(test_features LABELS features TIMEOUT 60)
target_link_libraries(test_features PRIVATE noble_models)
target_include_directories(test_features PRIVATE ${CMAKE_SOURCE_DIR}/models)
