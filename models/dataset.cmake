# Datasets written by `noble datagen` (dataset.c, docs/dataset.md): read whole
# into host memory and cut into windows. HDF5 comes with operator.cmake.
list(APPEND NM_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/dataset.c)
