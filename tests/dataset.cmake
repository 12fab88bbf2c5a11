# Datasets (models/dataset.c) on a mini PVALB dataset made by the real generator.
# The fixture mini_dataset writes it once per ctest run (about 20 s on 2 cores:
# 6 models, 4 train / 1 validation / 1 test, 6 protocol + 2 near-threshold steps);
# other tests may use it too: FIXTURES_REQUIRED mini_dataset and ${NOBLE_MINI_DATASET}.
set(NOBLE_MINI_DATASET ${CMAKE_BINARY_DIR}/tests/mini6.h5)
add_test(NAME mini_dataset
         COMMAND bash -c "rm -rf \"$1\" \"$1.partial\" && \"$0\" datagen --models 6 --amplitudes -110,-30,0,60,150,270 --threshold-offsets 0,20 --test 1 --validation 1 --seed 5 --jobs 2 --out \"$1\""
                 $<TARGET_FILE:noble> ${NOBLE_MINI_DATASET})
set_tests_properties(mini_dataset PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 300
                     FIXTURES_SETUP mini_dataset LABELS "datagen;dataset")

add_executable(test_dataset test_dataset.c)
target_compile_options(test_dataset PRIVATE ${NOBLE_WARNINGS})
target_compile_definitions(test_dataset PRIVATE ${NOBLE_DEFINES})
find_package(HDF5 REQUIRED COMPONENTS C)
target_include_directories(test_dataset SYSTEM PRIVATE ${HDF5_C_INCLUDE_DIRS})
target_link_libraries(test_dataset PRIVATE noble_models noble_static m ${CMAKE_DL_LIBS} ${HDF5_C_LIBRARIES})
add_test(NAME test_dataset COMMAND test_dataset ${NOBLE_MINI_DATASET})
set_tests_properties(test_dataset PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 120
                     FIXTURES_REQUIRED mini_dataset LABELS "dataset")
