#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, then build
# and run every test twice, in a normal build and in an ASan+UBSan build.
# Tests run on lavapipe (Mesa's CPU Vulkan driver) with validation on.
# A third build, without Vulkan (-DNOBLE_VULKAN=OFF), runs the CPU backend's
# tests and those that need no device (about a minute).
set -euo pipefail
cd "$(dirname "$0")"

./install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)

run_suite() { # build-dir, extra cmake args...
  local dir=$1; shift
  echo "== $dir: configure and build"
  cmake -S . -B "$dir" "$@" > "$dir.log" 2>&1 || { cat "$dir.log"; exit 1; }
  cmake --build "$dir" -j "$jobs" >> "$dir.log" 2>&1 || { tail -60 "$dir.log"; exit 1; }
  echo "== $dir: ctest"
  (cd "$dir" && ctest --output-on-failure -j "$jobs")
}

run_suite build -DCMAKE_BUILD_TYPE=Release -DNOBLE_MPI=ON
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DNOBLE_SANITIZE=ON -DNOBLE_MPI=ON
run_suite build-novk -DCMAKE_BUILD_TYPE=Release -DNOBLE_VULKAN=OFF
echo "test.sh: all suites passed"
