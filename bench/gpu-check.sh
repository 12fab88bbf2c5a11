#!/usr/bin/env bash
# bench/gpu-check.sh: the prepared GPU check (issue 17; docs/benchmarks.md, "The GPU check").
#
#   bench/gpu-check.sh [--quick] [--allow-cpu-device] [--no-validation | --require-validation]
#                      [--build-dir DIR] [--no-build] [--budget SECONDS] OUTDIR
#   bench/gpu-check.sh --bundle BUNDLE [--quick] [...] OUTDIR
#
# Checks what it needs (and says what is missing), builds noble (Release, its own
# build folder, OUTDIR/build by default), lists the devices, picks the first GPU,
# runs the test suite there with the validation layer (NOBLE_VALIDATE=sync), then
# `noble bench runtime`, `operator` and `population` with --backend vulkan on that
# GPU, and writes every log and JSON into OUTDIR, with OUTDIR/summary.txt and
# `noble bench compare` against bench/reference-results/. Never uses the network.
# The whole run keeps to a time budget (default 480 s): each phase gets a share.
#
# --quick (or GPU_CHECK_QUICK=1): a CPU Vulkan device (lavapipe) is allowed, a few
#   runtime tests, the benches with --quick; CI runs it (ctest test_gpu_check).
# --allow-cpu-device (or GPU_CHECK_ALLOW_CPU=1): take a CPU device when no GPU is there.
# --no-validation (or GPU_CHECK_VALIDATE=0): run the tests without the Khronos
#   validation layer. Where the layer is not installed the tests run without it
#   anyway, and the summary says so; --require-validation (GPU_CHECK_VALIDATE=require)
#   makes that a missing dependency instead.
# --build-dir DIR: build there (default OUTDIR/build); --no-build: use DIR as built.
# --bundle BUNDLE: no build and no build dependencies: run what bench/gpu-bundle.sh
#   BUNDLE prepared on another machine (noble, the test programs, their libraries, the
#   Vulkan loader, the validation layer, a relocatable test list), unpacked into a
#   temporary folder (GPU_CHECK_BUNDLE_WORK), with this source tree. Implies --compact.
# --compact (--no-compact): at the end OUTDIR holds 7 files only (summary.txt,
#   gpu-check.log with every other log appended, ctest.log, runtime.json,
#   operator.json, population.json, all.tgz with everything else), for a device
#   tool that brings back a few files.
# GPU_CHECK_PREFIX=P1:P2: extra install prefixes (P/include, P/lib...) to build and
#   run with, e.g. Debian packages unpacked with `dpkg -x pkg.deb P`; their folders
#   are put on CMAKE_PREFIX_PATH, CPATH, LIBRARY_PATH, LD_LIBRARY_PATH, PKG_CONFIG_PATH,
#   PATH and VK_ADD_LAYER_PATH.
# GPU_CHECK_JOBS: build and ctest jobs (default: the cores).
# GPU_CHECK_TEST_BUDGET: at most this many seconds for the tests (default: what the
#   budget leaves after the build and the benches' limits).
#
# Exit status: 0 everything passed; 1 a test, bench or file check failed; 2 usage;
# 3 something it needs is missing (listed); 4 no GPU among the Vulkan devices;
# 5 the build failed.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quick=${GPU_CHECK_QUICK:-0}
allow_cpu=${GPU_CHECK_ALLOW_CPU:-0}
validate=${GPU_CHECK_VALIDATE:-1}
build_dir=""
do_build=1
budget=${GPU_CHECK_BUDGET:-}
out=""
bundle=""
compact=""

usage() {
  sed -n '4,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --allow-cpu-device) allow_cpu=1 ;;
    --no-validation) validate=0 ;;
    --require-validation) validate=require ;;
    --build-dir) [ $# -ge 2 ] || usage; build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --bundle) [ $# -ge 2 ] || usage; bundle=$2; shift ;;
    --compact) compact=1 ;;
    --no-compact) compact=0 ;;
    --budget) [ $# -ge 2 ] || usage; budget=$2; shift ;;
    -h|--help) usage ;;
    -*) echo "gpu-check: unknown option '$1'" >&2; usage ;;
    *) [ -z "$out" ] || { echo "gpu-check: one OUTDIR only ('$out', '$1')" >&2; usage; }; out=$1 ;;
  esac
  shift
done
[ -n "$out" ] || { echo "gpu-check: which OUTDIR?" >&2; usage; }
[ "$quick" = 1 ] && allow_cpu=1
if [ -z "$budget" ]; then
  if [ "$quick" = 1 ]; then budget=180; else budget=480; fi
fi
case $budget in ''|*[!0-9]*) echo "gpu-check: --budget '$budget': expected whole seconds" >&2; exit 2 ;; esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=""
own_work=0
# --compact: what a device tool that brings back a few files needs, the rest in all.tgz
# shellcheck disable=SC2317  # called from the EXIT trap
compact_out() {
  local f
  cd "$out" || return
  tar czf "$out/.all.tgz" --exclude=./cache --exclude=./build --exclude=./ctest --exclude=./.all.tgz . 2> /dev/null || true
  for f in run-info.txt deps.txt icds.txt devices.txt devices.err nvidia-smi.csv nvidia-smi.txt phases.txt \
           runtime.log operator.log population.log compare-runtime.txt compare-operator.txt compare-population.txt build.log; do
    [ -f "$f" ] && { echo; echo "===== $f"; cat "$f"; } >> gpu-check.log
  done
  for f in * .[!.]*; do
    case $f in
      summary.txt|gpu-check.log|ctest.log|runtime.json|operator.json|population.json) ;;
      .all.tgz) mv .all.tgz all.tgz ;;
      *) [ -e "$f" ] && rm -rf "$f" ;;
    esac
  done
}
# shellcheck disable=SC2317
on_exit() {
  local rc=$?
  if [ "${compact:-0}" = 1 ] && [ -d "$out" ]; then compact_out || true; fi
  if [ "$own_work" = 1 ]; then rm -rf "$work"; fi
  exit "$rc"
}
trap on_exit EXIT
if [ -n "$bundle" ]; then
  [ -f "$bundle/noble-bundle.tar.xz" ] || {
    echo "gpu-check: --bundle '$bundle': no noble-bundle.tar.xz there (make it with bench/gpu-bundle.sh '$bundle')" >&2
    exit 2
  }
  [ -z "$build_dir" ] || { echo "gpu-check: --bundle and --build-dir exclude each other" >&2; exit 2; }
  command -v python3 > /dev/null || { echo "gpu-check: --bundle needs python3 (to unpack it and run its tests)" >&2; exit 3; }
  bundle=$(cd "$bundle" && pwd)
  work=${GPU_CHECK_BUNDLE_WORK:-}
  if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/noble-gpu-bundle.XXXXXX")
    own_work=1
  fi
  mkdir -p "$work"
  work=$(cd "$work" && pwd)
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
    "$bundle/noble-bundle.tar.xz" "$work"
  build_dir=$work/build
  do_build=0
  [ -n "$compact" ] || compact=1
  # the bundle's validation layer; its libstdc++ only where the machine has none
  export VK_LAYER_PATH="$work/layers${VK_LAYER_PATH:+:$VK_LAYER_PATH}"
  if ! ldconfig -p 2> /dev/null | grep 'libstdc++\.so\.6' > /dev/null; then
    export LD_LIBRARY_PATH="$work/lib-fallback${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  # the paths compiled into the bundle's programs name the machine that built it:
  # these name this source tree instead
  export NOBLE_SOURCE_DIR=$src NM_EFEL_DIR=$src/tests/data/efel
  export NOBLE_LUA_PATH="$src/scripting/lib/?.lua;$src/scripting/lib/?/init.lua"
fi
[ -n "$compact" ] || compact=0
[ -n "$build_dir" ] || build_dir=$out/build
if [ "$do_build" = 0 ] && [ ! -x "$build_dir/scripting/noble" ]; then
  echo "gpu-check: --no-build, but $build_dir/scripting/noble is not there" >&2
  exit 2
fi
mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)
jobs=${GPU_CHECK_JOBS:-$(nproc 2>/dev/null || echo 2)}
noble=$build_dir/scripting/noble
log=$out/gpu-check.log
: > "$log"
start=$SECONDS
failed=0   # something failed (exit 1 at the end)

say() { echo "gpu-check: $*" | tee -a "$log"; }
elapsed() { echo $((SECONDS - start)); }
phase_done() { echo "$1 $2" >> "$out/phases.txt"; say "$1 took $2 s (at $(elapsed) s of $budget)"; }
: > "$out/phases.txt"
{
  echo "mode: $([ "$quick" = 1 ] && echo quick || echo full)"
  echo "started_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm); $(nproc 2>/dev/null || echo '?') CPUs"
  if git -C "$src" rev-parse HEAD > /dev/null 2>&1; then
    echo "commit: $(git -C "$src" rev-parse HEAD)$(git -C "$src" diff --quiet HEAD 2>/dev/null || echo ' (with local changes)')"
  else
    echo "commit: unknown (no git checkout here)"
  fi
  echo "budget_s: $budget"
  if [ -n "$bundle" ]; then
    echo "bundle: $bundle, unpacked in $work; built at $(grep -E '^(commit|built_on):' "$work/bundle-info.txt" | paste -sd';' -)"
  fi
} > "$out/run-info.txt"
say "mode $([ "$quick" = 1 ] && echo quick || echo full), budget $budget s, build $build_dir, output $out"

# ------------------------------------------------------------------ prefixes
prefixes=()
if [ -n "${GPU_CHECK_PREFIX:-}" ]; then
  IFS=: read -r -a prefixes <<< "$GPU_CHECK_PREFIX"
  for p in "${prefixes[@]}"; do
    [ -d "$p" ] || { echo "gpu-check: GPU_CHECK_PREFIX names '$p', which is not a folder" >&2; exit 2; }
    for sub in usr ""; do
      r=$p${sub:+/$sub}
      [ -d "$r/include" ] || [ -d "$r/lib" ] || continue
      export CMAKE_PREFIX_PATH="$r${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
      export CPATH="$r/include:$r/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
      export LIBRARY_PATH="$r/lib:$r/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
      export LD_LIBRARY_PATH="$r/lib:$r/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      export PKG_CONFIG_PATH="$r/lib/pkgconfig:$r/lib/x86_64-linux-gnu/pkgconfig:$r/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
      export PATH="$r/bin:$PATH"
      export VK_ADD_LAYER_PATH="$r/share/vulkan/explicit_layer.d${VK_ADD_LAYER_PATH:+:$VK_ADD_LAYER_PATH}"
      say "prefix $r added"
    done
  done
fi
roots=()
for p in "${prefixes[@]}"; do roots+=("$p/usr" "$p"); done
roots+=(/usr/local /usr)

# ------------------------------------------------------------- dependencies
missing=()
notes=()
need() { missing+=("$1"); }
have_cmd() { command -v "$1" > /dev/null 2>&1; }
have_header() { # any of the relative paths under any root's include folders
  local r d h
  for r in "${roots[@]}"; do
    for d in "$r/include" "$r/include/x86_64-linux-gnu"; do
      for h in "$@"; do [ -e "$d/$h" ] && return 0; done
    done
  done
  return 1
}
have_lib() { # libNAME.so or libNAME.a
  local r d
  for r in "${roots[@]}"; do
    for d in "$r/lib" "$r/lib64" "$r/lib/x86_64-linux-gnu"; do
      compgen -G "$d/lib$1.so*" > /dev/null || compgen -G "$d/lib$1.a" > /dev/null && return 0
    done
  done
  ldconfig -p 2>/dev/null | grep "lib$1\.so" > /dev/null  # not -q: ldconfig must not die of SIGPIPE
}
have_pc() { have_cmd pkg-config && pkg-config --exists "$1"; }
layer_dirs() {
  local p
  echo /usr/share/vulkan/explicit_layer.d /etc/vulkan/explicit_layer.d /usr/local/share/vulkan/explicit_layer.d
  for p in ${VK_LAYER_PATH:-} ${VK_ADD_LAYER_PATH:-}; do echo "${p//:/ }"; done
}
icd_files() { # every ICD JSON the loader could see
  local d
  if [ -n "${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-}}" ]; then
    tr ':' '\n' <<< "${VK_DRIVER_FILES:-$VK_ICD_FILENAMES}"
    return
  fi
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    compgen -G "$d/*.json" || true
  done
}

if [ "$do_build" = 1 ]; then
  if have_cmd cmake; then
    v=$(cmake --version | awk 'NR == 1 {print $3}')
    printf '3.20\n%s\n' "$v" | sort -V -C || need "cmake >= 3.20 (found $v)"
  else
    need "cmake >= 3.20 (Debian: cmake)"
  fi
  have_cmd cc || have_cmd gcc || have_cmd clang || need "a C compiler (Debian: build-essential)"
  have_cmd c++ || have_cmd g++ || have_cmd clang++ || need "a C++ compiler, to link glslang (Debian: build-essential)"
  have_cmd make || have_cmd ninja || need "make (Debian: build-essential)"
  have_cmd pkg-config || need "pkg-config (Debian: pkg-config)"
  have_header vulkan/vulkan.h || need "Vulkan headers vulkan/vulkan.h (Debian: libvulkan-dev)"
  have_header volk.c || need "volk's volk.c and volk.h (Debian: libvulkan-volk-dev)"
  have_header vkFFT.h || need "VkFFT 1.2.26 header vkFFT.h (Debian: libvkfft-dev)"
  { have_header glslang/Include/glslang_c_interface.h && have_lib glslang; } ||
    need "glslang headers, libraries and CMake package (Debian: glslang-dev, spirv-tools)"
  { have_header fftw3.h && have_lib fftw3f && have_lib fftw3f_threads; } ||
    need "FFTW 3, single and double, with threads (Debian: libfftw3-dev)"
  { have_header hdf5.h hdf5/serial/hdf5.h && { have_lib hdf5 || have_lib hdf5_serial; }; } ||
    need "HDF5 C library and headers (Debian: libhdf5-dev)"
  have_pc lua5.4 || need "Lua 5.4 with its pkg-config file lua5.4.pc (Debian: liblua5.4-dev)"
  have_pc plplot || need "PLplot with its pkg-config file plplot.pc (Debian: libplplot-dev)"
fi
have_cmd python3 || need "python3 (reads the JSON files)"
[ -f "$build_dir/../lib/libvulkan.so.1" ] || have_lib vulkan || need "the Vulkan loader libvulkan.so.1 (Debian: libvulkan1)"

# A GPU's Vulkan driver: an ICD JSON that is not lavapipe's. NVIDIA's driver
# containers keep theirs under /usr/local/nvidia, where the loader does not look:
# then it is named first in VK_DRIVER_FILES, before the drivers the loader finds.
icd_list=$(icd_files)
if [ -z "${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-}}" ] && ! grep -q nvidia <<< "$icd_list"; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then
      others=$(paste -sd: - <<< "$icd_list")
      export VK_DRIVER_FILES="$f${others:+:$others}" VK_ICD_FILENAMES="$f${others:+:$others}"
      notes+=("VK_DRIVER_FILES=$VK_DRIVER_FILES (NVIDIA's ICD is outside the loader's search path)")
      break
    fi
  done
fi
gpu_icds=$(icd_files | grep -v 'lvp_icd' || true)
if [ -z "$gpu_icds" ]; then
  if [ "$allow_cpu" = 1 ]; then
    notes+=("no GPU Vulkan driver (ICD JSON) found; a CPU device is allowed in this mode")
  else
    need "a GPU Vulkan driver: an ICD JSON other than lavapipe's in /usr/share/vulkan/icd.d or /etc/vulkan/icd.d, or VK_DRIVER_FILES (NVIDIA: nvidia_icd.json from the driver, libnvidia-gl)"
  fi
fi
icd_files > "$out/icds.txt" || true

validation="sync"
if [ "$validate" != 0 ]; then
  found_layer=0
  for d in $(layer_dirs); do [ -f "$d/VkLayer_khronos_validation.json" ] && found_layer=1; done
  if [ "$found_layer" = 0 ]; then
    if [ "$validate" = require ]; then
      need "the Khronos validation layer VkLayer_khronos_validation.json (Debian: vulkan-validationlayers)"
    else
      validate=0
      validation="OFF: the Khronos validation layer is not installed (Debian: vulkan-validationlayers)"
      notes+=("the tests run WITHOUT the validation layer: VkLayer_khronos_validation.json is not installed (--require-validation makes this an error)")
    fi
  fi
  [ "$validate" = 0 ] || validate=1
else
  validation="OFF (--no-validation)"
  notes+=("the tests run WITHOUT the validation layer (--no-validation)")
fi
if [ "$validate" = 0 ] && [ "$do_build" = 0 ]; then
  notes+=("--no-build: the tests keep the validation setting the build was configured with")
fi
export GPU_CHECK_VALIDATION_STATE=$validation

# optional: NEURON (the generator and its tests), PyTorch with h5py (the reference tests)
neuron=1
[ -z "$bundle" ] || { neuron=0; notes+=("the bundle is built without NEURON (-DNOBLE_NEURON=OFF): the tests that need it are disabled"); }
[ "$neuron" = 0 ] || have_cmd nrnivmodl || { neuron=0; notes+=("NEURON (nrnivmodl) missing: built with -DNOBLE_NEURON=OFF; the tests that need it are disabled"); }
torch=1
/usr/bin/python3 -c 'import torch, h5py, numpy' > /dev/null 2>&1 || {
  torch=0
  notes+=("/usr/bin/python3 lacks torch, h5py or numpy: the tests labelled 'reference' (PyTorch parity) are skipped")
}

{
  echo "missing: ${#missing[@]}"
  echo "validation: $validation"
  for m in "${missing[@]}"; do echo "  MISSING $m"; done
  for n in "${notes[@]}"; do echo "  note: $n"; done
} > "$out/deps.txt"
cat "$out/deps.txt" >> "$log"
if [ ${#missing[@]} -gt 0 ]; then
  {
    echo "gpu-check: cannot run: ${#missing[@]} thing(s) missing on this machine:"
    for m in "${missing[@]}"; do echo "  - $m"; done
    echo "(./install-deps.sh installs them on Debian 12; offline, unpack the packages with"
    echo " 'dpkg -x' into a folder and name it in GPU_CHECK_PREFIX)"
  } | tee -a "$log" >&2
  { cat "$out/run-info.txt"; echo "result: MISSING DEPENDENCIES"; cat "$out/deps.txt"; } > "$out/summary.txt"
  exit 3
fi
for n in "${notes[@]}"; do say "note: $n"; done

# -------------------------------------------------------------------- build
t0=$SECONDS
if [ "$do_build" = 1 ]; then
  say "configure and build (Release, -j$jobs) in $build_dir"
  vmode=sync
  [ "$validate" = 1 ] || vmode=0
  cfg=(-S "$src" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DNOBLE_TEST_ICD= "-DNOBLE_TEST_VALIDATE_MODE=$vmode")
  [ "$neuron" = 1 ] || cfg+=(-DNOBLE_NEURON=OFF)
  if ! cmake "${cfg[@]}" > "$out/build.log" 2>&1; then
    tail -40 "$out/build.log" >&2
    say "configure FAILED (whole log: $out/build.log)"
    { cat "$out/run-info.txt"; echo "result: CONFIGURE FAILED"; tail -20 "$out/build.log"; } > "$out/summary.txt"
    exit 5
  fi
  if ! timeout -k 10 $((budget * 2 / 5)) cmake --build "$build_dir" -j "$jobs" >> "$out/build.log" 2>&1; then
    tail -40 "$out/build.log" >&2
    say "build FAILED or ran past $((budget * 2 / 5)) s (whole log: $out/build.log)"
    { cat "$out/run-info.txt"; echo "result: BUILD FAILED"; tail -20 "$out/build.log"; } > "$out/summary.txt"
    exit 5
  fi
fi
phase_done build $((SECONDS - t0))

# ------------------------------------------------------------------ devices
t0=$SECONDS
"$noble" devices > "$out/devices.txt" 2>&1 || true
"$noble" devices --json > "$out/devices.json" 2> "$out/devices.err" || true
cat "$out/devices.txt" >> "$log"
# the NVIDIA driver's own view (name, driver version, memory, clocks), where it is there
if command -v nvidia-smi > /dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,pcie.link.gen.max,pcie.link.width.max \
    --format=csv > "$out/nvidia-smi.csv" 2>&1 || true
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
fi
pick=$(python3 - "$out/devices.json" "$allow_cpu" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("ERR cannot read noble devices --json: %s" % e)
    sys.exit(0)
devs = [x for x in d.get("devices", []) if x.get("usable")]
gpus = [x for x in devs if x["type"] in ("discrete GPU", "integrated GPU")]
if gpus:
    x = gpus[0]
elif sys.argv[2] == "1" and devs:
    x = devs[0]
else:
    print("NONE " + "; ".join("%d: %s (%s)" % (x["index"], x["name"], x["type"]) for x in d.get("devices", []))
          + (" -- " + d["error"] if d.get("error") else ""))
    sys.exit(0)
print("%d\t%s\t%s\t%s\t%s\t%s" % (x["index"], x["name"], x["type"], x["driver_name"], x["driver_info"], x["api_version"]))
PY
)
case $pick in
  ERR*|NONE*)
    {
      echo "gpu-check: no GPU among the Vulkan devices (${pick#* }); see $out/devices.txt"
      echo "  (a CPU device such as lavapipe is taken only with --quick or --allow-cpu-device)"
    } | tee -a "$log" >&2
    { cat "$out/run-info.txt"; echo "result: NO GPU"; cat "$out/devices.txt"; } > "$out/summary.txt"
    exit 4 ;;
esac
IFS=$'\t' read -r dev_index dev_name dev_type dev_driver dev_driver_info dev_api <<< "$pick"
export NOBLE_DEVICE=$dev_index
say "device $dev_index: $dev_name ($dev_type), $dev_driver, $dev_driver_info, Vulkan $dev_api"
phase_done devices $((SECONDS - t0))

# -------------------------------------------------------------------- tests
# Reserve for the benches (their own time limits), then the tests get the rest.
if [ "$quick" = 1 ]; then
  b_rt=30; b_op=60; b_pop=30
else
  b_rt=45; b_op=150; b_pop=45
fi
reserve=$((b_rt + b_op + b_pop + 15))
test_budget=$((budget - $(elapsed) - reserve))
[ -z "${GPU_CHECK_TEST_BUDGET:-}" ] || [ "$test_budget" -le "$GPU_CHECK_TEST_BUDGET" ] || test_budget=$GPU_CHECK_TEST_BUDGET
[ "$test_budget" -ge 30 ] || test_budget=30
per_test=$([ "$quick" = 1 ] && echo 60 || echo 150)
[ "$per_test" -le "$test_budget" ] || per_test=$test_budget
t0=$SECONDS
ctest_args=(--output-on-failure -j "$jobs" --timeout "$per_test"
            --stop-time "$(date -d "+$test_budget sec" +%H:%M:%S)")
export NOBLE_BACKEND=vulkan
quick_re='^(test_memory|test_kernels|test_record|test_devices|test_validation)$'
if [ -n "$bundle" ]; then
  # the bundle's test list, through bench/gpu_bundle_tests.py (ctest's files name
  # the paths of the machine that built it)
  runner=(python3 "$src/bench/gpu_bundle_tests.py" --manifest "$work/tests.json" --src "$src" --build "$build_dir"
          -j "$jobs" --timeout "$per_test" --stop-after "$test_budget")
  [ "$validate" = 1 ] || runner+=(--set NOBLE_VALIDATE=0 --set NOBLE_TEST_REQUIRE_VALIDATION=0)
  if [ "$quick" = 1 ]; then
    runner+=(--include "$quick_re")
    excluded="quick mode: test_memory, test_kernels, test_record, test_devices, test_validation only"
  else
    # and what the bundle cannot run: test_embed* (a C compiler and the build tree),
    # test_gpu_check (this script), test_plot (PLplot's cairo driver is not bundled)
    runner+=(--exclude '_cpu$|^test_realsize$|^test_embed|^test_gpu_check$|^test_plot$')
    excluded="the *_cpu tests (CPU backend), test_realsize (host reference, minutes); bundle: test_embed, test_embed_gpuconfig (compiler, build tree), test_gpu_check, test_plot (PLplot driver not bundled)"
    if [ "$torch" = 0 ]; then runner+=(--label-exclude reference); excluded+=", label 'reference' (no PyTorch)"; fi
    excluded+=", the NEURON tests (disabled: no NEURON)"
  fi
elif [ "$quick" = 1 ]; then
  # a few runtime tests; run from a copy of the test list, so that a ctest of
  # the same build (CI runs this inside one) keeps its own Testing/ logs
  tdir=$out/ctest
  mkdir -p "$tdir"
  cp "$build_dir/tests/CTestTestfile.cmake" "$tdir/"
  ctest_args+=(--test-dir "$tdir" -R "$quick_re")
  excluded="quick mode: test_memory, test_kernels, test_record, test_devices, test_validation only"
else
  # not the _cpu tests (the CPU backend, not the GPU); not test_realsize
  # (minutes of double-precision reference on the host, no more GPU work)
  ex='_cpu$|^test_realsize$'
  excluded="the *_cpu tests (CPU backend), test_realsize (host reference, minutes)"
  if [ "$torch" = 0 ]; then ctest_args+=(-LE reference); excluded+=", label 'reference' (no PyTorch)"; fi
  [ "$neuron" = 1 ] || excluded+=", the NEURON tests (disabled: no NEURON)"
  ctest_args+=(--test-dir "$build_dir" -E "$ex")
fi
# The tests' NOBLE_BACKEND, NOBLE_VALIDATE and driver come from the build
# (tests/CMakeLists.txt: NOBLE_TEST_VALIDATE_MODE, NOBLE_TEST_ICD, set above);
# NOBLE_DEVICE from here.
tv=""
if [ -f "$build_dir/CMakeCache.txt" ]; then
  tv=$(sed -n 's/^NOBLE_TEST_VALIDATE_MODE:STRING=//p' "$build_dir/CMakeCache.txt")
fi
say "$([ -n "$bundle" ] && echo "tests (bundle)" || echo ctest): budget $test_budget s, $per_test s per test, -j$jobs, NOBLE_DEVICE=$dev_index, validation ${tv:-sync}; left out: $excluded"
set +e
if [ -n "$bundle" ]; then
  timeout -k 10 $((test_budget + per_test + 30)) "${runner[@]}" > "$out/ctest.log" 2>&1
else
  timeout -k 10 $((test_budget + 30)) ctest "${ctest_args[@]}" > "$out/ctest.log" 2>&1
fi
test_rc=$?
set -e
[ "$test_rc" = 0 ] || failed=1
echo "left out: $excluded" >> "$out/ctest.log"
tail -25 "$out/ctest.log" | tee -a "$log"
phase_done tests $((SECONDS - t0))

# ------------------------------------------------------------------ benches
unset NOBLE_VALIDATE   # timings without the layer
export NOBLE_CACHE_DIR=${work:-$out}/cache
q=()
[ "$quick" = 1 ] && q=(--quick)
run_bench() { # name, time limit, extra args...
  local name=$1 limit=$2
  shift 2
  local t=$SECONDS rc=0
  say "bench $name (limit $limit s)"
  timeout -k 10 "$limit" "$noble" bench "$name" --backend vulkan --json "${q[@]}" "$@" \
    > "$out/$name.json" 2> "$out/$name.log" || rc=$?
  if [ "$rc" != 0 ]; then
    failed=1
    say "bench $name FAILED (exit $rc$([ "$rc" = 124 ] && echo ", past its $limit s"); $out/$name.log):"
    tail -5 "$out/$name.log" | tee -a "$log" >&2
  fi
  phase_done "bench_$name" $((SECONDS - t))
}
# FFTW_MEASURE's planning of FFTW's own pair takes minutes on a fresh machine
run_bench runtime "$b_rt" --fftw-estimate
run_bench operator "$b_op" --no-torch
if [ "$quick" = 0 ] && [ -f "$src/data/pvalb60.h5" ]; then
  run_bench population "$b_pop"
else
  run_bench population "$b_pop" --dataset ''
fi

# ------------------------------------------------- compare with the references
refdir=$src/bench/reference-results
prefix=$([ "$quick" = 1 ] && echo quick- || echo "")
for b in runtime operator population; do
  ref=$refdir/$prefix$b.json
  if [ ! -f "$ref" ]; then
    say "no reference $ref: no comparison for $b"
  elif [ -s "$out/$b.json" ]; then
    if ! "$noble" bench compare "$ref" "$out/$b.json" > "$out/compare-$b.txt" 2>&1; then
      failed=1
      say "bench compare $b FAILED ($out/compare-$b.txt)"
    fi
  fi
done

# ------------------------------------------------------- checks and summary
set +e
python3 - "$out" "$quick" "$test_rc" "$dev_type" <<'PY'
import json, os, re, sys
out, quick, test_rc, dev_type = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4]
errors = []
lines = open(os.path.join(out, "run-info.txt")).read().splitlines()

def load(name):
    p = os.path.join(out, name + ".json")
    try:
        b = json.load(open(p))
    except Exception as e:
        errors.append("%s.json: not a JSON file (%s)" % (name, e))
        return None
    try:
        assert b["bench"] == name and b["format_version"] == 2, "bench/format_version"
        x = b["backends"][0]
        assert x["backend"].startswith("vulkan"), "backend %s" % x["backend"]
        assert x["identity"]["device_type"] == dev_type, "device_type %s" % x["identity"]["device_type"]
        assert x["accuracy"]["finite"] == 1 and x["accuracy"]["max_rel_error"] < 1e-4, "accuracy %s" % x["accuracy"]
        assert x["conditions"].get("quick", 1 if quick else 0) == (1 if quick else 0) or name == "population"
    except Exception as e:
        errors.append("%s.json: %s: %s" % (name, type(e).__name__, e))
        return None
    return b

dev = json.load(open(os.path.join(out, "devices.json")))
idx = int(os.environ.get("NOBLE_DEVICE", "0"))
d = [x for x in dev["devices"] if x["index"] == idx][0]
lines += ["device: %d: %s (%s), vendor %s %s, device id %s" % (idx, d["name"], d["type"], d["vendor"], d["vendor_id"], d["device_id"]),
          "driver: %s, %s (driver version %s, driver id %d), Vulkan %s, conformance %s"
          % (d["driver_name"], d["driver_info"], d["driver_version"], d["driver_id"], d["api_version"], d["conformance_version"]),
          "device memory: %.1f GiB" % (d["limits"]["device_local_bytes"] / 2**30)]
smi = os.path.join(out, "nvidia-smi.csv")
if os.path.exists(smi):
    rows = [l.strip() for l in open(smi) if l.strip()]
    if len(rows) >= 2:
        lines.append("nvidia-smi: " + "; ".join("%s = %s" % (k.strip(), v.strip())
                                                for k, v in zip(rows[0].split(","), rows[1].split(","))))

# ctest's lines: "  3/40 Test  #3: name ....   Passed    1.23 sec", "***Failed", "***Timeout", "***Skipped", "Not Run (Disabled)"
res = {}
selected = 0
for l in open(os.path.join(out, "ctest.log")):
    m = re.match(r"\s*\d+/(\d+) Test", l)
    if m:
        selected = int(m.group(1))
    m = re.search(r"Test\s+#\d+: (\S+) \.+\s*(\**)\s*(Passed|Failed|Timeout|Skipped|Not Run \(Disabled\)|Not Run|Exception|\S+)", l)
    if m:
        res[m.group(1)] = m.group(3)
cnt = {}
for k, v in res.items():
    cnt.setdefault(v, []).append(k)
left = [l.strip() for l in open(os.path.join(out, "ctest.log")) if l.startswith("left out:")]
lines.append("tests: %d run: %d passed, %d failed, %d timed out, %d skipped, %d disabled; %d of %d selected not started "
             "before the stop time (ctest exit %d)"
             % (len(res), len(cnt.get("Passed", [])), len(cnt.get("Failed", [])) + len(cnt.get("Exception", [])),
                len(cnt.get("Timeout", [])), len(cnt.get("Skipped", [])),
                len(cnt.get("Not Run (Disabled)", [])), max(selected - len(res), 0), selected, test_rc))
for k in ("Failed", "Exception", "Timeout", "Skipped", "Not Run (Disabled)", "Not Run"):
    if cnt.get(k):
        lines.append("  %s: %s" % (k.lower(), ", ".join(sorted(cnt[k]))))
if left:
    lines.append("  " + left[-1])
if not res:
    errors.append("ctest ran no test (ctest.log)")

def f(v, fmt="%.4g"):
    return "-" if v is None else fmt % v

rt = load("runtime")
if rt:
    x = rt["backends"][0]
    lines.append("runtime: copy %s GB/s (shader), %s GB/s (vkCmdCopyBuffer); FMA %s GFLOP/s; dispatch %s us (dependent), "
                 "%s us (independent); empty submit %s us; start-up %s ms cold, %s ms warm; FFT pair N %d x %d: %s ms (%s)"
                 % (f(x.get("copy_shader_gbps")), f(x.get("copy_vkcmdcopybuffer_gbps")), f(x.get("fma_fp32_gflops")),
                    f(x.get("dispatch_dependent_us")), f(x.get("dispatch_independent_us")), f(x.get("empty_submit_us")),
                    f(x.get("startup_cold_ms")), f(x.get("startup_warm_ms")), x.get("fft_n", 0), x.get("fft_batch", 0),
                    f(x.get("fft_pair_ms")), x.get("fft_backend", "")))
op = load("operator")
if op:
    x = op["backends"][0]
    per = ", ".join("b%d %s/%s" % (n, f(x.get("forward_b%d_traces_per_s" % n), "%.1f"), f(x.get("train_b%d_traces_per_s" % n), "%.1f"))
                    for n in x["conditions"]["batches"])
    lines.append("operator (N %d): best forward %s traces/s (batch %d), best training step %s traces/s (batch %d); "
                 "forward/training by batch: %s; FFT share of the step %s; accuracy max rel %s"
                 % (x["conditions"]["length"], f(x["best_forward_traces_per_s"], "%.1f"), x["best_forward_batch"],
                    f(x["best_train_traces_per_s"], "%.1f"), x["best_train_batch"], per, f(x.get("op_fft_share"), "%.3f"),
                    f(x["accuracy"]["max_rel_error"], "%.2g")))
pop = load("population")
if pop:
    x = pop["backends"][0]
    lines.append("population: best %s neurons/s (batch %s)%s" % (f(x.get("best_traces_per_s"), "%.1f"), x.get("best_batch"),
                 ", %.0fx NEURON (median)" % x["speedup_vs_neuron_median"] if x.get("speedup_vs_neuron_median") else ", no NEURON comparison"))
phases = [l.split() for l in open(os.path.join(out, "phases.txt")) if l.strip()]
lines.append("phases (s): " + ", ".join("%s %s" % (a, b) for a, b in phases) + "; total %d" % sum(int(b) for _, b in phases))
for c in ("runtime", "operator", "population"):
    if os.path.exists(os.path.join(out, "compare-%s.txt" % c)):
        lines.append("compare: compare-%s.txt (bench/reference-results/ against this run)" % c)
lines.insert(lines.index([l for l in lines if l.startswith("tests: ")][0]) + 1,
             "  validation: " + os.environ.get("GPU_CHECK_VALIDATION_STATE", "?"))
ok = not errors and test_rc == 0
lines.append("result: " + ("PASS" if ok else "FAIL")
             + ("" if os.environ.get("GPU_CHECK_VALIDATION_STATE") == "sync" else " (tests without the validation layer)"))
lines += ["  " + e for e in errors]
open(os.path.join(out, "summary.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if not errors else 1)
PY
check_rc=$?
set -e
[ "$check_rc" = 0 ] || failed=1
say "done in $(elapsed) s: $out/summary.txt"
exit "$failed"
