#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build,
# list the Vulkan devices and run the self-check on the default device.
set -euo pipefail
cd "$(dirname "$0")"

./install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build.log 2>&1 ||
  { cat build.log; echo "quickstart: cmake configure failed (log above)"; exit 1; }
cmake --build build -j "$jobs" --target noble >> build.log 2>&1 ||
  { tail -50 build.log; echo "quickstart: build failed (log: build.log)"; exit 1; }
echo "built build/scripting/noble"
echo
./build/scripting/noble devices
echo
./build/scripting/noble selfcheck
