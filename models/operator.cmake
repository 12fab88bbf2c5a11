# The operator: configuration, CPU reference, GPU model, checkpoints.
list(APPEND NM_SOURCES
  ${CMAKE_CURRENT_SOURCE_DIR}/config.c
  ${CMAKE_CURRENT_SOURCE_DIR}/reference.c
  ${CMAKE_CURRENT_SOURCE_DIR}/operator.c)
