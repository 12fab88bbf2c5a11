#!/usr/bin/env bash
# Cross-builds the CPU backend for aarch64 (NEON) and runs its tests under
# qemu-user: not part of test.sh (see docs/architecture.md, "aarch64").
# Run as root on Debian 12 x86-64. Usage: tests/cross_aarch64.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-arm64}
dev=/opt/noble-arm64 # -dev packages that cannot be installed beside the host's
export DEBIAN_FRONTEND=noninteractive
dpkg --add-architecture arm64
apt-get update -qq
# Multi-Arch: same packages only, so the host's own -dev packages stay.
apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu qemu-user \
  libfftw3-dev:arm64 liblua5.4-dev:arm64 libhdf5-103-1:arm64 libplplot17:arm64
# libhdf5-dev and libplplot-dev are not co-installable: unpack the arm64 ones.
tmp=$(mktemp -d)
(cd "$tmp" && apt-get download libhdf5-dev:arm64 libplplot-dev:arm64 >/dev/null)
mkdir -p "$dev"
for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$dev"; done
rm -rf "$tmp"
lib=$dev/usr/lib/aarch64-linux-gnu
for l in "$lib"/*.so; do # their .so links point at libraries installed above
  [ -e "$l" ] || ln -sfn "/usr/lib/aarch64-linux-gnu/$(basename "$(readlink "$l")")" "$l"
done
sed -i "s|=/usr/lib/aarch64-linux-gnu|=$lib|; s|=/usr/include|=$dev/usr/include|" \
  "$lib"/pkgconfig/hdf5-serial.pc "$lib"/pkgconfig/plplot.pc

cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE=tests/aarch64-linux-gnu.cmake -DNOBLE_ARM64_DEV="$dev" \
  -DNOBLE_VULKAN=OFF -DCMAKE_BUILD_TYPE=Release -DNRNIVMODL=/usr/bin/nrnivmodl >"$dir.log"
tests="test_memory test_kernels test_record test_ops test_operator test_training"
# shellcheck disable=SC2086
cmake --build "$dir" -j "$(nproc)" --target $tests >>"$dir.log"
# One thread: with two or more, the tests made no progress under qemu-user 7.2.
for t in $tests; do
  echo "== $t (aarch64, qemu-user, NOBLE_THREADS=1)"
  NOBLE_BACKEND=cpu NOBLE_THREADS=1 NOBLE_CACHE_DIR="$dir/cache" \
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$dir/tests/$t" | tail -1
done
