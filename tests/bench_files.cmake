# The bench files (format_version 2, docs/benchmarks.md "File format"):
# `noble bench runtime|operator|population --quick --json` on each backend, their
# identity, conditions, samples, per-op and accuracy blocks, and `noble bench
# compare` on them and on files it must refuse.
add_test(NAME test_bench_files COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_bench_files.sh $<TARGET_FILE:noble>)
set_tests_properties(test_bench_files PROPERTIES ENVIRONMENT "${NOBLE_TEST_ENV}" TIMEOUT 900 LABELS "bench;cli")
