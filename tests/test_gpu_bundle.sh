#!/usr/bin/env bash
# bench/gpu-bundle.sh and bench/gpu-check.sh --bundle --quick as a bare machine
# runs them: the bundle made from its own build tree (BUILD/gpu-bundle-build, or
# GPU_BUNDLE_TEST_BUILD), the tracked files copied elsewhere with the bundle, run
# under `env -i` on lavapipe: it passes with the bundle's validation layer, leaves
# the 7 compact files, and the bundle's programs load HDF5, FFTW, Lua and the
# Vulkan loader from the bundle.
set -u
src=$1
build=$2
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lvp=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json

GPU_BUNDLE_XZ=-1 bash "$src/bench/gpu-bundle.sh" --build-dir "${GPU_BUNDLE_TEST_BUILD:-$build/gpu-bundle-build}" \
  "$tmp/bundle" > "$tmp/b.out" 2>&1
rc=$?
check "gpu-bundle.sh exits 0" test $rc -eq 0
[ $rc -eq 0 ] || { tail -30 "$tmp/b.out"; finish; }
check "... wrote noble-bundle.tar.xz and bundle-info.txt" test -s "$tmp/bundle/noble-bundle.tar.xz" -a -s "$tmp/bundle/bundle-info.txt"
check "... under 50 MiB" test "$(du -cb "$tmp/bundle"/* | tail -1 | cut -f1)" -lt $((50 << 20))

mkdir -p "$tmp/repo" "$tmp/home"
(cd "$src" && git ls-files -z | xargs -0 cp --parents -t "$tmp/repo")
cp -a "$tmp/bundle" "$tmp/repo/.gpu-bundle"
(cd "$tmp/repo" && env -i PATH=/usr/bin:/bin HOME="$tmp/home" VK_DRIVER_FILES=$lvp VK_ICD_FILENAMES=$lvp \
   bash bench/gpu-check.sh --bundle .gpu-bundle --quick "$tmp/out") > "$tmp/q.out" 2>&1
rc=$?
check "gpu-check.sh --bundle --quick from a copy, env -i, exits 0" test $rc -eq 0
[ $rc -eq 0 ] || tail -40 "$tmp/q.out"
check "... 7 files in OUTDIR" test "$(find "$tmp/out" -mindepth 1 | wc -l)" -eq 7
for f in summary.txt gpu-check.log ctest.log runtime.json operator.json population.json all.tgz; do
  check "... $f" test -s "$tmp/out/$f"
done
check "... PASS" grep -q "^result: PASS$" "$tmp/out/summary.txt"
check "... tests passed with validation" grep -q "^  validation: sync" "$tmp/out/summary.txt"
check "... 5 tests passed" grep -Eq "^tests: 5 run: 5 passed, 0 failed" "$tmp/out/summary.txt"

mkdir -p "$tmp/u"
python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$tmp/bundle/noble-bundle.tar.xz" "$tmp/u"
env -i PATH=/usr/bin:/bin HOME="$tmp/home" VK_DRIVER_FILES=$lvp LD_DEBUG=libs "$tmp/u/build/scripting/noble" devices \
  > /dev/null 2> "$tmp/ld.log"
for l in libhdf5_serial.so.103 libfftw3f.so.3 liblua5.4.so.0 libvulkan.so.1; do
  check "noble loads $l from the bundle" grep -q "calling init: $tmp/u/build/scripting/../../lib/$l" "$tmp/ld.log"
done
finish
