# The operator: configuration, CPU reference, GPU model, checkpoints.
list(APPEND NM_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/config.c
  ${CMAKE_CURRENT_SOURCE_DIR}/reference.c
  ${CMAKE_CURRENT_SOURCE_DIR}/operator.c
  ${CMAKE_CURRENT_SOURCE_DIR}/checkpoint.c
  ${CMAKE_CURRENT_SOURCE_DIR}/embedding.c
  ${CMAKE_CURRENT_SOURCE_DIR}/window.c
  ${CMAKE_CURRENT_SOURCE_DIR}/cpu_kernels.c
  ${CMAKE_CURRENT_SOURCE_DIR}/cpu_pointwise.c
  ${CMAKE_CURRENT_SOURCE_DIR}/cpu_grad.c)
# The CPU kernels never read errno: without math-errno GCC vectorises their
# sqrtf (AdamW; with it, one scalar sqrtss and divss per parameter).
set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/cpu_grad.c PROPERTIES COMPILE_OPTIONS -fno-math-errno)
find_package(HDF5 REQUIRED COMPONENTS C)
set(NM_LINK ${NM_LINK} ${HDF5_C_LIBRARIES})
set(NM_INCLUDE ${NM_INCLUDE} ${HDF5_C_INCLUDE_DIRS})
