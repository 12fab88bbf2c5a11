# Stores (store.c): streaming, appendable HDF5 files for outputs larger than
# memory. HDF5 comes with operator.cmake.
list(APPEND NM_SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/store.c)
