#!/usr/bin/env bash
# bench/gpu-check.sh --quick on this build (lavapipe): it exits 0 and leaves
# every file the GPU run would (devices, ctest log, the three bench JSON files
# of format_version 2 on the Vulkan device with their logs, the comparisons with
# bench/reference-results/, summary.txt saying PASS); and it refuses, with a
# clear message and its own exit status, a machine with no GPU driver (3), a
# driver whose only device is a CPU (4), and a missing OUTDIR (2).
set -u
src=$1
build=$2
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gc=$src/bench/gpu-check.sh

bash "$gc" --quick --build-dir "$build" --no-build "$tmp/q" > "$tmp/q.out" 2>&1
rc=$?
check "gpu-check --quick exits 0" test $rc -eq 0
[ $rc -eq 0 ] || tail -40 "$tmp/q.out"
for f in summary.txt devices.txt devices.json ctest.log gpu-check.log deps.txt phases.txt \
         runtime.json runtime.log operator.json operator.log population.json population.log; do
  check "gpu-check --quick wrote $f" test -f "$tmp/q/$f"
done
check "summary says PASS, names the device and the driver" \
  grep -q "^result: PASS" "$tmp/q/summary.txt"
check "... device and driver lines" grep -q "^driver: .*Vulkan" "$tmp/q/summary.txt"
check "... tests passed, none failed" grep -Eq "^tests: [1-9][0-9]* run: [1-9][0-9]* passed, 0 failed" "$tmp/q/summary.txt"
check "... headline figures" grep -q "^operator (N 520): best forward" "$tmp/q/summary.txt"
check "the bench files are format_version 2 on the Vulkan device, quick" /usr/bin/python3 - "$tmp/q" <<'PY'
import json, sys
for b in ("runtime", "operator", "population"):
    j = json.load(open("%s/%s.json" % (sys.argv[1], b)))
    assert j["bench"] == b and j["format_version"] == 2, b
    x = j["backends"][0]
    assert [y["backend"] for y in j["backends"]] == ["vulkan"], j["backends_measured"]
    assert x["accuracy"]["finite"] == 1, x["accuracy"]
    assert b == "population" or x["conditions"]["quick"] == 1, x["conditions"]
PY
for b in runtime operator population; do
  if [ -f "$src/bench/reference-results/quick-$b.json" ]; then
    check "compare-$b.txt: the reference's backends and this run side by side" \
      grep -Eq "^ +\[3\] $tmp/q/$b.json: .*vulkan backend" "$tmp/q/compare-$b.txt"
  fi
done

# No GPU driver: only lavapipe's ICD: exit 3, what is missing
lvp=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
VK_DRIVER_FILES=$lvp VK_ICD_FILENAMES=$lvp bash "$gc" --build-dir "$build" --no-build "$tmp/n" > "$tmp/n.out" 2> "$tmp/n.err"
check "full mode without a GPU driver exits 3" test $? -eq 3
check "... and says a GPU Vulkan driver is missing" grep -q "MISSING a GPU Vulkan driver\|- a GPU Vulkan driver" "$tmp/n.err" "$tmp/n/deps.txt"
check "... summary says so" grep -q "^result: MISSING DEPENDENCIES" "$tmp/n/summary.txt"

# A driver that is not lavapipe's by name but whose device is a CPU: exit 4, no GPU
cp "$lvp" "$tmp/some_gpu_icd.json"
VK_DRIVER_FILES=$tmp/some_gpu_icd.json VK_ICD_FILENAMES=$tmp/some_gpu_icd.json \
  bash "$gc" --build-dir "$build" --no-build "$tmp/c" > "$tmp/c.out" 2> "$tmp/c.err"
check "full mode with only a CPU device exits 4" test $? -eq 4
check "... and says there is no GPU" grep -q "no GPU among the Vulkan devices" "$tmp/c.err"
check "... summary says so" grep -q "^result: NO GPU" "$tmp/c/summary.txt"

bash "$gc" --quick > /dev/null 2> "$tmp/u.err"
check "no OUTDIR: exit 2" test $? -eq 2
check "... which OUTDIR?" grep -q "which OUTDIR" "$tmp/u.err"
finish
