#!/usr/bin/env bash
# noble.neuron, NOBLE cells in NEURON's Python (docs/neuron.md), against an
# installed tree: cmake --install into a scratch prefix; a small population
# file by `noble population`; tests/neuron_python.py run with Debian's
# /usr/bin/python3 (NEURON 8.2) from a scratch folder, with PYTHONPATH the
# installed package and nothing of the source or build tree; its voltages at
# the checkpoint's dt compared bit for bit with the Lua module's m:predict
# (tests/embed_lua_predict.lua, the cells of test_embed) on the CPU backend.
# In the Vulkan builds without sanitizers, the same cells on Vulkan (lavapipe
# here) against m:predict on Vulkan.
#   test_neuron_python.sh NOBLE_EXE SOURCE_DIR BUILD_DIR SANITIZE(0|1) VULKAN(0|1)
# Exit status 77 (ctest: skipped) where it cannot run, with the reason.
set -u
noble=$1 src=$2 build=$3 sanitize=$4 vulkan=$5
. "$src/tests/neuron_python_env.sh"
. "$src/tests/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix

cmake --install "$build" --prefix "$p" > "$tmp/install.log" 2>&1
check "cmake --install to a scratch prefix" test $? -eq 0 || cat "$tmp/install.log"
pkg=$p/lib/python3/dist-packages/noble
check "the package: lib/python3/dist-packages/noble/{__init__,_abi,neuron}.py" \
  test -f "$pkg/__init__.py" -a -f "$pkg/_abi.py" -a -f "$pkg/neuron.py"
check "its spike source: noble/_mech/libnrnmech.so" test -f "$pkg/_mech/libnrnmech.so"

mkdir -p "$tmp/data" "$tmp/run" "$tmp/home" "$tmp/out"
cp "$src/models/pretrained/pvalb-reduced.h5" "$tmp/data/ckpt.h5"
# three neurons: two inside the training hull, one outside
NOBLE_BACKEND=cpu "$noble" population --checkpoint "$tmp/data/ckpt.h5" --out "$tmp/data/pop.h5" \
  --points 55:0.84,40:0.9,200:0.5 --stimuli 150,250 --traces true > "$tmp/pop.log" 2>&1
check "noble population: a population file of 3 neurons" test -f "$tmp/data/pop.h5" || cat "$tmp/pop.log"

(cd "$tmp/run" && env -u NOBLE_BACKEND -u NOBLE_VALIDATE -u NOBLE_TEST_REQUIRE_VALIDATION -u NOBLE_CACHE_DIR \
   -u NOBLE_LUA_PATH -u NOBLE_DEVICE -u NOBLE_THREADS -u NOBLE_LIBRARY -u NOBLE_NRNMECH HOME="$tmp/home" \
   PYTHONPATH="$p/lib/python3/dist-packages" PYTHONDONTWRITEBYTECODE=1 "${preload[@]}" \
   "$py" "$src/tests/neuron_python.py" "$tmp/data/ckpt.h5" "$tmp/data/pop.h5" "$tmp/out") > "$tmp/py.out" 2>&1
rc=$?
grep -v -e "^NEURON: Python Callback failed" -e "DISPLAY" -e "No graphics" "$tmp/py.out" | sed 's/^/    /'
check "neuron_python.py: its checks pass" test $rc -eq 0
check "... to the end" grep -q "^0 failure(s)" "$tmp/py.out"
"$noble" run "$src/tests/embed_lua_predict.lua" "$tmp/data/ckpt.h5" cpu "$tmp/out/abi_cpu.bin" > "$tmp/lua.out" 2>&1
check "cpu: NobleCell voltages are m:predict's, bit for bit" test $? -eq 0
sed 's/^/    /' "$tmp/lua.out"

# Vulkan: the test's NOBLE_VALIDATE is kept, so validation messages fail it.
if [ "$vulkan" = 1 ] && [ "$sanitize" != 1 ]; then
  (cd "$tmp/run" && env -u NOBLE_BACKEND -u NOBLE_LIBRARY -u NOBLE_NRNMECH HOME="$tmp/home" \
     PYTHONPATH="$p/lib/python3/dist-packages" PYTHONDONTWRITEBYTECODE=1 \
     "$py" "$src/tests/neuron_python.py" "$tmp/data/ckpt.h5" - "$tmp/out" vulkan) > "$tmp/vk.out" 2>&1
  rc=$?
  grep -v -e "DISPLAY" -e "No graphics" "$tmp/vk.out" | sed 's/^/    /'
  check "vulkan: neuron_python.py's checks pass" test $rc -eq 0
  "$noble" run "$src/tests/embed_lua_predict.lua" "$tmp/data/ckpt.h5" vulkan "$tmp/out/abi_vulkan.bin" \
    > "$tmp/lua.out" 2>&1
  check "vulkan: NobleCell voltages are m:predict's, bit for bit" test $? -eq 0
  sed 's/^/    /' "$tmp/lua.out"
else
  echo "skip the Vulkan run: $([ "$vulkan" = 1 ] && echo "sanitizer build" || echo "NOBLE_VULKAN=OFF")"
fi
finish
