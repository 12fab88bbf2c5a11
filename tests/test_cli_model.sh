#!/usr/bin/env bash
# `noble model` and `noble bench operator`: the NOBLE preset's parameter
# count, a checkpoint made and run on an HDF5 input, and clear errors for a
# missing file, a wrong input shape, NaN input and a bad preset.
set -u
noble=$1
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

"$noble" model info --preset noble > "$tmp/info.txt"
check "model info --preset noble: 1,803,001 parameters" grep -q '^model noble: 1,803,001 parameters' "$tmp/info.txt"
"$noble" model info --preset noble --json > "$tmp/info.json"
check "model info --json lists 104 tensors adding up to 1,803,001" $py -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["parameters"] == 1803001 and len(d["tensors"]) == 104
assert sum(t["count"] for t in d["tensors"]) == 1803001
assert d["tensors"][4]["name"] == "fno_blocks.convs.0.weight.tensor" and d["tensors"][4]["complex"]
' "$tmp/info.json"

"$noble" model init --preset small --seed 4 --out "$tmp/small.h5" > /dev/null
check "model init writes a checkpoint" test -s "$tmp/small.h5"
$py -c '
import h5py, numpy as np, sys
with h5py.File(sys.argv[1], "w") as f:
    x = np.random.default_rng(0).standard_normal((3, 1, 256)).astype(np.float32)
    f["x"] = x
    f["x"].attrs["units"] = "pA"
    f["bad"] = np.zeros((3, 2, 256), np.float32)
    n = x.copy(); n[0, 0, 5] = np.nan
    f["nan"] = n
' "$tmp/io.h5"
"$noble" model run --checkpoint "$tmp/small.h5" --input "$tmp/io.h5" --output "$tmp/out.h5" > /dev/null
check "model run writes y (3, 1, 256), units \"1\" (no embedding: the raw output)" $py -c '
import h5py, numpy as np, sys
with h5py.File(sys.argv[1]) as f:
    y = f["y"][...]
    u = f["y"].attrs["units"]
    assert y.shape == (3, 1, 256) and np.isfinite(y).all() and (u.decode() if isinstance(u, bytes) else u) == "1"
' "$tmp/out.h5"

"$noble" model run --checkpoint "$tmp/small.h5" --input "$tmp/io.h5" --dataset bad --output "$tmp/o2.h5" 2> "$tmp/e1"
check "a wrong input shape exits 1 and says so" grep -q "has shape (3, 2, 256), the model takes (batch, 1, 256)" "$tmp/e1"
check "... and writes no output" test ! -e "$tmp/o2.h5"
"$noble" model run --checkpoint "$tmp/small.h5" --input "$tmp/io.h5" --dataset nan --output "$tmp/o3.h5" 2> "$tmp/e2"
check "NaN input is refused" grep -q "not finite" "$tmp/e2"
"$noble" model run --checkpoint "$tmp/missing.h5" --input "$tmp/io.h5" --output "$tmp/o4.h5" 2> "$tmp/e3"
check "a missing checkpoint is named" grep -q "cannot read checkpoint $tmp/missing.h5" "$tmp/e3"
for v in NOBLE_LOADS=disk NOBLE_WGRAD_TILES=tpu; do
  env "$v" "$noble" model run --checkpoint "$tmp/small.h5" --input "$tmp/io.h5" --output "$tmp/o5.h5" 2> "$tmp/e7"
  check "a bad $v is named" grep -q "${v%%=*}='${v#*=}': expected" "$tmp/e7"
  check "... and writes no output" test ! -e "$tmp/o5.h5"
done
"$noble" model info --preset nonsense 2> "$tmp/e4"
check "an unknown preset is named" grep -q "unknown preset 'nonsense'" "$tmp/e4"
"$noble" model init --preset small --out /nonexistent-dir/x.h5 2> "$tmp/e5"
check "an unwritable path is named" grep -q "cannot create /nonexistent-dir/x.h5" "$tmp/e5"

# export: an inference copy without the optimiser's moments, same output
$py -c '
import h5py, numpy as np, shutil, sys
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "a") as f:
    p = sum(d.size for d in f["params"].values()) if isinstance(f["params"], h5py.Group) else f["params"].size
    g = f.require_group("optimizer")
    for k in ("exp_avg", "exp_avg_sq"):
        if k in g: del g[k]
        g[k] = np.full(p, 0.5, np.float32)
' "$tmp/small.h5" "$tmp/moments.h5"
"$noble" model export --checkpoint "$tmp/moments.h5" --out "$tmp/export.h5" > "$tmp/export.txt"
check "model export says what it wrote" grep -q "no optimiser moments" "$tmp/export.txt"
check "the export has no moments" $py -c '
import h5py, sys
with h5py.File(sys.argv[1]) as f:
    assert "optimizer/exp_avg" not in f and "optimizer/exp_avg_sq" not in f
with h5py.File(sys.argv[2]) as f:
    assert "optimizer/exp_avg" in f
' "$tmp/export.h5" "$tmp/moments.h5"
"$noble" model run --checkpoint "$tmp/export.h5" --input "$tmp/io.h5" --output "$tmp/out-export.h5" > /dev/null
check "the export gives the same output" $py -c '
import h5py, numpy as np, sys
a, b = (h5py.File(p)["y"][...] for p in sys.argv[1:3])
assert np.array_equal(a, b)
' "$tmp/out.h5" "$tmp/out-export.h5"
"$noble" model export --checkpoint "$tmp/small.h5" 2> "$tmp/e6"
check "export without --out is a usage error" grep -q "export needs --checkpoint FILE --out FILE" "$tmp/e6"

"$noble" bench operator --quick --no-torch --json > "$tmp/bench.json" 2> "$tmp/bench.err"
check "bench operator --quick --json exits 0" test $? -eq 0
check "bench operator reports throughput, memory and per-op efficiency" $py -c '
import json, sys
b = json.load(open(sys.argv[1]))
for k in ["forward_traces_per_s", "train_traces_per_s", "peak_device_mib", "ceiling_copy_shader_gbps",
          "ceiling_fma_fp32_gflops", "op_spectral_r2c_ms", "op_adamw_efficiency"]:
    assert isinstance(b.get(k), (int, float)) and b[k] > 0, (k, b.get(k))
assert b["parameters"] == 1803001 and b["length"] == 520
assert sum(1 for k in b if k.endswith("_efficiency")) >= 20
# every backend present, each with its own ceilings, sweep and op table; the
# top-level figures are the first (the default) backend'"'"'s
names = [x["backend"] for x in b["backends"]]
assert "cpu" in names and len(set(names)) == len(names), names
assert b["backends_measured"] == ", ".join(names)
assert b["backend"] == names[0] and b["forward_traces_per_s"] == b["backends"][0]["forward_traces_per_s"]
assert sum(x["default_backend"] for x in b["backends"]) <= 1
for x in b["backends"]:
    for k in ["forward_b1_traces_per_s", "train_b2_traces_per_s", "forward_traces_per_s", "peak_device_mib",
              "ceiling_copy_shader_gbps", "ceiling_fma_fp32_gflops", "op_spectral_r2c_ms", "op_adamw_efficiency"]:
        assert isinstance(x.get(k), (int, float)) and x[k] > 0, (x["backend"], k, x.get(k))
    assert x["device"] and x["driver"] and x["fft_backend"], x
    assert "forward_vs_torch_ratio" not in x, "no PyTorch with --no-torch"
' "$tmp/bench.json"

"$noble" bench operator --quick --no-torch --json --backend cpu --batches 1 > "$tmp/bench-cpu.json" 2> "$tmp/bench.err"
check "bench operator --backend cpu measures the CPU backend alone" $py -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert [x["backend"] for x in b["backends"]] == ["cpu"] and b["backend"] == "cpu", b["backends_measured"]
x = b["backends"][0]
assert x["device_type"] == "CPU" and x["threads"] >= 1 and x["simd"], x
' "$tmp/bench-cpu.json"
"$noble" bench operator --quick --no-torch --backend cpu --batches 1 > "$tmp/bench-cpu.txt" 2>&1
check "the text names the CPU backend ceilings as the cores own" grep -q "the cores' copy" "$tmp/bench-cpu.txt"
check "no GPU timestamps on the CPU backend" test "$(grep -c "GPU" "$tmp/bench-cpu.txt")" -eq 0
expect 2 "--backend metal: expected all, auto, vulkan or cpu" -- "$noble" bench operator --backend metal

finish
