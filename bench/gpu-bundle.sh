#!/usr/bin/env bash
# bench/gpu-bundle.sh: a prebuilt bundle for bench/gpu-check.sh --bundle, so that a
# lent GPU machine that has none of noble's build dependencies (docs/benchmarks.md,
# "The GPU check") runs the check in one call.
#
#   bench/gpu-bundle.sh [--build-dir DIR] [--no-build] BUNDLE
#
# Builds noble (Release, -DNOBLE_NEURON=OFF, tests on the loader's driver with
# synchronization validation, every executable with DT_RPATH $ORIGIN/../../lib) in
# DIR (default build-gpu-bundle/ in the repository), then writes into BUNDLE:
#   noble-bundle.tar.xz  build/scripting/noble and the test executables (stripped),
#                        lib/ the shared libraries they load that are not glibc's
#                        (HDF5, FFTW, Lua, PLplot, ... and the Vulkan loader
#                        libvulkan.so.1), lib-fallback/ libstdc++ and libgcc_s (used
#                        only where the machine has none), layers/ the Khronos
#                        validation layer with its manifest, tests.json (the ctest
#                        list with @SRC@ and @BUILD@ for the absolute paths)
#   bundle-info.txt      what was built, from which commit, on which system
# BUNDLE should be an ignored folder in the repository (.gpu-bundle/ is in
# .gitignore), so that the device tool's `carry` takes it along. The source tree
# itself travels as the repository: the bundle holds only what was built.
# Needs what a normal build needs (./install-deps.sh), vulkan-validationlayers,
# ldd, strip, xz.
# shellcheck disable=SC2016,SC2012,SC1091  # '$ORIGIN' is the linker's; ls of plain names; /etc/os-release
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=$src/build-gpu-bundle
do_build=1
bundle=""
usage() { sed -n '6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) [ $# -ge 2 ] || usage; build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    -h|--help) usage ;;
    -*) echo "gpu-bundle: unknown option '$1'" >&2; usage ;;
    *) [ -z "$bundle" ] || usage; bundle=$1 ;;
  esac
  shift
done
[ -n "$bundle" ] || { echo "gpu-bundle: which BUNDLE folder?" >&2; usage; }
for c in cmake ldd strip xz python3 ldconfig; do
  command -v "$c" > /dev/null || { echo "gpu-bundle: '$c' is missing" >&2; exit 3; }
done
mkdir -p "$build_dir" "$bundle"
build_dir=$(cd "$build_dir" && pwd)
bundle=$(cd "$bundle" && pwd)
say() { echo "gpu-bundle: $*" >&2; }

if [ "$do_build" = 1 ]; then
  say "configure and build in $build_dir"
  cmake -S "$src" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DNOBLE_NEURON=OFF \
    -DNOBLE_TEST_ICD= -DNOBLE_TEST_VALIDATE_MODE=sync \
    -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON '-DCMAKE_INSTALL_RPATH=$ORIGIN/../../lib' \
    -DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags > "$build_dir/gpu-bundle-configure.log"
  cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)"
fi
noble=$build_dir/scripting/noble
[ -x "$noble" ] || { say "$noble is not built"; exit 5; }
readelf -d "$noble" | grep -F 'RPATH' | grep -F '$ORIGIN/../../lib' > /dev/null || {
  say "$noble has no DT_RPATH \$ORIGIN/../../lib: that build is not a bundle's (build it without --no-build)"
  exit 5
}

stage=$(mktemp -d "${TMPDIR:-/tmp}/gpu-bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build/scripting" "$stage/build/tests" "$stage/lib" "$stage/lib-fallback" "$stage/layers"

# the executables: noble and every ELF test program of the build
exes=("$noble")
for f in "$build_dir"/tests/*; do
  [ -f "$f" ] && [ -x "$f" ] && head -c 4 "$f" | grep -q ELF && exes+=("$f")
done
for f in "${exes[@]}"; do
  strip -o "$stage/build/${f#"$build_dir"/}" "$f"
done

# the validation layer, its manifest pointing next to itself
layer_json=""
for d in /usr/share/vulkan/explicit_layer.d /etc/vulkan/explicit_layer.d /usr/local/share/vulkan/explicit_layer.d; do
  [ -f "$d/VkLayer_khronos_validation.json" ] && { layer_json=$d/VkLayer_khronos_validation.json; break; }
done
[ -n "$layer_json" ] || { say "the Khronos validation layer is not installed (Debian: vulkan-validationlayers)"; exit 3; }
layer_so=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layer"]["library_path"])' "$layer_json")
case $layer_so in
  /*) ;;
  */*) layer_so=$(dirname "$layer_json")/$layer_so ;;
  *) layer_so=$(ldconfig -p | awk -v n="$layer_so" '$1 == n && /x86-64/ && !n++ {print $NF}') ;;
esac
[ -f "$layer_so" ] || { say "cannot find the validation layer's library ($layer_so)"; exit 3; }
strip -o "$stage/layers/libVkLayer_khronos_validation.so" "$layer_so"
python3 - "$layer_json" "$stage/layers/VkLayer_khronos_validation.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
j["layer"]["library_path"] = "./libVkLayer_khronos_validation.so"
json.dump(j, open(sys.argv[2], "w"), indent=1)
PY

# the Vulkan loader (volk opens it with dlopen, so ldd does not list it)
loader=$(ldconfig -p | awk '$1 == "libvulkan.so.1" && /x86-64/ && !n++ {print $NF}')
[ -n "$loader" ] || { say "the Vulkan loader libvulkan.so.1 is not installed (Debian: libvulkan1)"; exit 3; }

# the shared libraries: everything ldd resolves, except glibc's own (the machine's
# newer glibc serves them) and the C++ runtime (lib-fallback: the machine's own,
# newer one wins, and the NVIDIA driver loaded into the same process may need it)
glibc='^(libc|libm|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libmvec|ld-linux-x86-64|linux-vdso)\.so'
{ for f in "${exes[@]}" "$layer_so" "$loader"; do ldd "$f"; done; echo "libvulkan.so.1 => $loader (0)"; } |
  awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do
    if grep -Eq "$glibc" <<< "$name"; then continue; fi
    if [[ $name == libstdc++.so.* || $name == libgcc_s.so.* ]]; then
      cp -L "$path" "$stage/lib-fallback/$name"
    else
      cp -L "$path" "$stage/lib/$name"
      strip --strip-unneeded "$stage/lib/$name" 2> /dev/null || true
    fi
  done
if ldd "${exes[@]}" | grep -F 'not found'; then say "some library was not found (above)"; exit 3; fi

# the test list, relocatable
(cd "$build_dir" && ctest --show-only=json-v1) > "$stage/ctest.json"
python3 - "$stage/ctest.json" "$stage/tests.json" "$src" "$build_dir" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
src, build = sys.argv[3], sys.argv[4]
def sub(s):
    return s.replace(build, "@BUILD@").replace(src, "@SRC@")
tests = []
for t in d["tests"]:
    p = {x["name"]: x["value"] for x in t.get("properties", [])}
    tests.append({"name": t["name"], "command": [sub(c) for c in t.get("command", [])],
                  "env": [sub(e) for e in p.get("ENVIRONMENT", [])],
                  "timeout": p.get("TIMEOUT", 1500), "labels": p.get("LABELS", []),
                  "disabled": bool(p.get("DISABLED", False)),
                  "fixtures_required": p.get("FIXTURES_REQUIRED", []),
                  "fixtures_setup": p.get("FIXTURES_SETUP", []),
                  "working_directory": sub(p.get("WORKING_DIRECTORY", build + "/tests"))})
json.dump({"format": 1, "tests": tests}, open(sys.argv[2], "w"), indent=1)
PY
rm "$stage/ctest.json"
# every executable a test names under the build folder must be in the bundle
python3 - "$stage" <<'PY'
import json, os, sys
stage = sys.argv[1]
for t in json.load(open(os.path.join(stage, "tests.json")))["tests"]:
    for c in t["command"]:
        if c.startswith("@BUILD@/") and not t["disabled"]:
            p = os.path.join(stage, "build", c[len("@BUILD@/"):])
            if not os.path.exists(p) and not c.endswith((".h5", "store_lua")):
                print("gpu-bundle: note: %s names %s, which is not in the bundle" % (t["name"], c), file=sys.stderr)
PY

commit=$(git -C "$src" rev-parse HEAD 2> /dev/null || echo unknown)
{
  echo "noble GPU bundle (bench/gpu-bundle.sh; bench/gpu-check.sh --bundle)"
  echo "commit: $commit$(git -C "$src" diff --quiet HEAD -- . ':!.gpu-bundle' 2> /dev/null || echo ' (with local changes)')"
  echo "built_utc: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "built_on: $(. /etc/os-release 2> /dev/null && echo "$PRETTY_NAME"), $(ldd --version | head -1), $(uname -m)"
  echo "source_dir: $src"
  echo "build_dir: $build_dir"
  echo "validation_layer: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layer"]["api_version"])' "$layer_json") ($layer_so)"
  echo "vulkan_loader: $(readlink -f "$loader")"
  echo "executables: $(cd "$stage/build" && find . -type f | sed 's|^\./||' | sort | tr '\n' ' ')"
  echo "lib: $(ls "$stage/lib" | tr '\n' ' ')"
  echo "lib-fallback: $(ls "$stage/lib-fallback" | tr '\n' ' ')"
  echo "unpacked_bytes: $(du -sb "$stage" | cut -f1)"
} > "$stage/bundle-info.txt"
say "compressing ($(du -sh "$stage" | cut -f1) unpacked)"
rm -f "$bundle/noble-bundle.tar.xz" "$bundle/bundle-info.txt"
# one xz stream with a 64 MiB window: the test programs share most of their code
# (GPU_BUNDLE_XZ=-1: faster, larger; the test uses it)
tar -C "$stage" -cf - bundle-info.txt tests.json lib lib-fallback layers build |
  xz "${GPU_BUNDLE_XZ:--9}" -T1 > "$bundle/noble-bundle.tar.xz"
cp "$stage/bundle-info.txt" "$bundle/"
echo "bundle_bytes: $(du -cb "$bundle"/* | tail -1 | cut -f1)" >> "$bundle/bundle-info.txt"
say "$bundle: $(du -sh "$bundle" | cut -f1) ($bundle/bundle-info.txt)"
