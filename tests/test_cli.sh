#!/usr/bin/env bash
# The noble program: device listing (text and JSON), a device that is not
# there, the self-check, the runtime bench's JSON, and usage errors.
set -u
noble=$1
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$noble" devices > "$tmp/dev.txt" 2> "$tmp/dev.err"
check "devices exits 0" test $? -eq 0
check "devices lists lavapipe, marked chosen" grep -q '^\* 0  llvmpipe' "$tmp/dev.txt"
check "devices shows the driver" grep -q 'driver llvmpipe Mesa' "$tmp/dev.txt"

"$noble" devices --json > "$tmp/dev.json"
check "devices --json exits 0" test $? -eq 0
check "devices --json is JSON with chosen device 0 and its features" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["chosen"] == 0, d
dev = d["devices"][0]
assert dev["chosen"] is True and dev["type"] == "CPU", dev
assert dev["features"]["timestamps"] is True and dev["limits"]["max_storage_buffer_range"] > 0
' "$tmp/dev.json"

NOBLE_DEVICE=no-such-gpu "$noble" devices > "$tmp/nodev.txt" 2> "$tmp/nodev.err"
check "a missing NOBLE_DEVICE exits 1" test $? -eq 1
check "... and says why" grep -q "NOBLE_DEVICE='no-such-gpu' matches none" "$tmp/nodev.err"
NOBLE_DEVICE=no-such-gpu "$noble" selfcheck > /dev/null 2> "$tmp/nodev2.err"
check "selfcheck on a missing device exits 1 with a message" grep -q "cannot open a device" "$tmp/nodev2.err"

"$noble" selfcheck > "$tmp/self.txt" 2>&1
check "selfcheck passes" grep -q '^selfcheck passed' "$tmp/self.txt"
check "selfcheck names the FFT backend (the host on lavapipe)" grep -q 'FFT R2C (host (FFTW))' "$tmp/self.txt"
check "devices says where FFTs run" grep -q 'FFT: FFTW on the host' "$tmp/dev.txt"
NOBLE_GPU_CONFIG=1 "$noble" devices > "$tmp/devgpu.txt" 2>&1
check "NOBLE_GPU_CONFIG=1: devices says the GPU configuration is in use, with VkFFT" \
  sh -c "grep -q 'GPU configuration (NOBLE_GPU_CONFIG=1)' '$tmp/devgpu.txt' && grep -q 'FFT: VkFFT' '$tmp/devgpu.txt'"
NOBLE_GPU_CONFIG=1 "$noble" devices --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["gpu_config"] is True else 1)'
check "devices --json has gpu_config" test $? -eq 0
NOBLE_GPU_CONFIG=2 "$noble" devices > /dev/null 2> "$tmp/devgpu.err"
check "NOBLE_GPU_CONFIG=2 is refused" sh -c "grep -q 'NOBLE_GPU_CONFIG' '$tmp/devgpu.err'"
NOBLE_GPU_CONFIG=1 NOBLE_STAGING_BYTES=64K "$noble" selfcheck > "$tmp/selfgpu.txt" 2>&1
check "selfcheck in the GPU configuration passes, with VkFFT and staged transfers" \
  sh -c "grep -q '^selfcheck passed' '$tmp/selfgpu.txt' && grep -q 'GPU configuration' '$tmp/selfgpu.txt' && grep -q 'FFT R2C (VkFFT)' '$tmp/selfgpu.txt'"
NOBLE_GPU_CONFIG=yes "$noble" selfcheck > "$tmp/selfgpu2.txt" 2>&1
check "a context refuses NOBLE_GPU_CONFIG=yes" grep -q "NOBLE_GPU_CONFIG='yes': expected 0 or 1" "$tmp/selfgpu2.txt"
NOBLE_GPU_CONFIG=1 NOBLE_STAGING_BYTES=12 "$noble" selfcheck > "$tmp/selfgpu3.txt" 2>&1
check "a context refuses a staging buffer of 12 bytes" grep -q "NOBLE_STAGING_BYTES='12'" "$tmp/selfgpu3.txt"
NOBLE_FFT=vkfft "$noble" selfcheck > "$tmp/self-vk.txt" 2>&1
check "NOBLE_FFT=vkfft selfcheck passes with VkFFT" grep -q 'FFT R2C (VkFFT).*ok' "$tmp/self-vk.txt"
NOBLE_FFT=cuda "$noble" selfcheck > /dev/null 2> "$tmp/fft.err"
check "an unknown NOBLE_FFT exits 1 and names it" grep -q "NOBLE_FFT='cuda': use auto, vkfft or host" "$tmp/fft.err"

"$noble" bench runtime --quick --json > "$tmp/bench.json" 2> "$tmp/bench.err"
check "bench runtime --quick --json exits 0" test $? -eq 0
check "bench JSON has every ceiling, all positive" python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
keys = ["copy_shader_gbps", "copy_vkcmdcopybuffer_gbps", "copy_host_memcpy_gbps", "fma_fp32_gflops",
        "dispatch_dependent_us", "dispatch_independent_us", "empty_submit_us", "fft_pair_ms",
        "fftw_pair_ms", "fft_vs_fftw_ratio", "fft_band_pair_ms", "fft_band_vs_fftw_ratio", "startup_cold_ms",
        "startup_warm_ms"]
for k in keys:
    assert isinstance(b.get(k), (int, float)) and b[k] > 0, (k, b.get(k))
assert b["bench"] == "runtime" and b["fft_n"] == 8580
' "$tmp/bench.json"

"$noble" frobnicate > /dev/null 2>&1
check "an unknown command exits 2" test $? -eq 2
"$noble" bench nothing > /dev/null 2>&1
check "an unknown bench exits 2" test $? -eq 2
"$noble" devices --bogus > /dev/null 2>&1
check "an unknown flag exits 2" test $? -eq 2

finish
