#!/usr/bin/env bash
# The bench files of format_version 2 (docs/benchmarks.md, "File format"):
# `noble bench runtime --quick --json`, `noble bench operator --quick --json`
# and `noble bench population --quick --json --dataset ''` (the checkpoint in
# models/pretrained/) on each backend this build has (the CPU backend; lavapipe unless
# NOBLE_VULKAN=OFF), the identity, conditions, timings, per-op and accuracy
# blocks with sane values, and `noble bench compare` on them: side by side
# with ratios, and refusing another format_version, a file that is not a
# noble bench file, and files of two benches.
set -u
noble=$1
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

backends="cpu"
[ -z "${NOBLE_TEST_NO_VULKAN:-}" ] && backends="cpu vulkan"

# What every backend object of a file of format_version 2 must hold.
cat > "$tmp/validate.py" <<'PY'
import json, math, re, sys
path, bench, backend = sys.argv[1], sys.argv[2], sys.argv[3]
b = json.load(open(path))
assert b["bench"] == bench and b["format_version"] == 2, (b.get("bench"), b.get("format_version"))
top = b["identity"]
assert re.fullmatch(r"\d+\.\d+\.\d+", top["noble_version"]), top
assert top["noble_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", top["noble_commit"]), top
assert top["fftw_version"].startswith("fftw-3"), top
assert top["host_cpus"] >= 1 and top["started_utc"].endswith("Z"), top
assert [x["backend"] for x in b["backends"]] == [backend], b["backends_measured"]
x = b["backends"][0]
i = x["identity"]
for k in ["backend", "name", "device_type", "vendor_id", "device_id", "driver_id", "driver_name", "driver_info",
          "vulkan_api_version", "conformance_version", "device_uuid", "noble_version", "noble_commit",
          "vkfft_version", "fftw_version"]:
    assert k in i, ("identity", k)
assert i["backend"] == backend and i["name"] == x["device"], i
assert i["noble_commit"] == top["noble_commit"]
if backend == "cpu":
    assert i["cpu_model"] and i["threads"] >= 1 and i["driver_id"] == 0 and i["device_type"] == "CPU", i
else:
    assert re.fullmatch(r"0x[0-9a-f]{4,}", i["vendor_id"]) and i["driver_id"] > 0, i
    assert re.fullmatch(r"\d+\.\d+\.\d+", i["vulkan_api_version"]), i
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", i["conformance_version"]), i
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", i["device_uuid"]), i
    assert re.fullmatch(r"\d+\.\d+\.\d+", i["vkfft_version"]), i
c = x["conditions"]
assert c["rounds"] >= 1 and c["warmup_rounds"] >= 1, c
assert bench == "population" or c["quick"] == 1, c
assert c["timestamp_period_ns"] > 0 and 1 <= c["timestamp_valid_bits"] <= 64, c
t = x["timings"]
assert len(t) >= 2, t
for k, s in t.items():
    assert s["unit"] == "ms" and s["n"] == len(s["samples"]) and s["n"] >= 1, (k, s)
    v = sorted(s["samples"])
    assert all(isinstance(a, (int, float)) and a >= 0 for a in v), (k, s)
    assert s["min"] == v[0] and s["max"] == v[-1] and s["q1"] <= s["median"] <= s["q3"], (k, s)
    assert s["min"] <= s["q1"] and s["q3"] <= s["max"], (k, s)
    assert math.isclose(s["median"], (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2, rel_tol=1e-5), (k, s)
a = x["accuracy"]
assert a["finite"] == 1 and a["batch"] == 1 and a["length"] >= 8, a
assert 0 <= a["max_rel_error"] < 1e-4, a      # fp32 against double: ~1e-6 here
assert 0 <= a["rel_l2_error"] <= a["max_rel_error"] * 10, a
assert a["reference_max_abs"] > 0 and a["reference_ms"] > 0, a
w = a["where"]
assert w["trace"] == 0 and 0 <= w["sample"] < a["length"], w
if bench == "runtime":
    assert c["copy_bytes"] > 0, c
    for k in ["copy_shader_storage", "copy_vkcmdcopybuffer", "fma_fp32", "fft_pair", "fftw_pair"]:
        assert t[k]["n"] == c["rounds"], (k, t[k])
    assert x["fma_fp32_gflops"] > 0 and x["copy_shader_gbps"] > 0, x
    # the old layout still reads
    assert b["copy_shader_gbps"] == x["copy_shader_gbps"] and b["fft_n"] == 8580
elif bench == "population":
    assert c["batches"] == [1, 4] and c["length"] > 0, c
    for p in x["batches"]:
        f = t["predict_b%d" % p["batch"]]
        assert f["n"] == c["rounds"] == b["rounds"], f
        assert math.isclose(p["ms_per_call"], f["median"], rel_tol=1e-5), (p, f)
else:
    assert c["batches"] == [1, 2] and c["length"] == 520, c
    for n in c["batches"]:
        f = t["forward_b%d" % n]
        assert f["n"] == c["rounds"], f
        assert math.isclose(x["forward_b%d_traces_per_s" % n], n / (f["median"] * 1e-3), rel_tol=1e-5), (n, f)
    ops = x["ops"]
    names = [k for k in ops if isinstance(ops[k], dict)]
    assert len(names) >= 15 and "spectral_r2c" in names and "adamw" in names, names
    for k in names:
        o = ops[k]
        assert o["count"] >= 1 and o["ms"] >= 0 and o["bytes"] >= 0 and o["flops"] >= 0, (k, o)
        assert math.isclose(o["ms"], x["op_%s_ms" % k], rel_tol=1e-5), (k, o)
        assert o["bound"] in ("bandwidth", "flops"), (k, o)
        if o["ms"] > 0:
            assert math.isclose(o["bandwidth_ceiling_share"], o["gbps"] / x["ceiling_copy_shader_gbps"], rel_tol=1e-4), (k, o)
    assert math.isclose(sum(ops[k]["time_share"] for k in names), 1, rel_tol=1e-3)
    # every op counts what it moves but fill, copy and the loss's last sum (not counted by the model)
    assert all(ops[k]["bytes"] > 0 for k in names if k not in ("fill", "copy", "loss")), names
    assert sum(ops[k]["flops"] > 0 for k in names) >= len(names) // 2, names
    assert b["forward_traces_per_s"] == x["forward_traces_per_s"]
PY

for be in $backends; do
  "$noble" bench runtime --quick --json --backend "$be" > "$tmp/runtime-$be.json" 2> "$tmp/err"
  check "bench runtime --quick --json --backend $be exits 0" test $? -eq 0
  check "bench runtime --backend $be: format 2, identity, conditions, samples, accuracy" \
    $py "$tmp/validate.py" "$tmp/runtime-$be.json" runtime "$be"
  "$noble" bench operator --quick --no-torch --json --backend "$be" > "$tmp/operator-$be.json" 2> "$tmp/err"
  check "bench operator --quick --json --backend $be exits 0" test $? -eq 0
  check "bench operator --backend $be: format 2, identity, conditions, samples, ops, accuracy" \
    $py "$tmp/validate.py" "$tmp/operator-$be.json" operator "$be"
  "$noble" bench population --quick --json --dataset '' --backend "$be" > "$tmp/population-$be.json" 2> "$tmp/err"
  check "bench population --quick --json --backend $be exits 0" test $? -eq 0
  check "bench population --backend $be: format 2, identity, conditions, samples, accuracy" \
    $py "$tmp/validate.py" "$tmp/population-$be.json" population "$be"
done

# compare: one column per file's backend, the shared metrics, ratios to the first
set -- $backends
first=$1; last=${!#}
"$noble" bench compare "$tmp/runtime-$first.json" "$tmp/runtime-$last.json" > "$tmp/cmp.txt" 2> "$tmp/err"
check "bench compare of two runtime files exits 0" test $? -eq 0
check "compare names both files' devices and backends" $py - "$tmp/cmp.txt" "$tmp/runtime-$first.json" "$tmp/runtime-$last.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
a, b = (json.load(open(p))["backends"][0] for p in sys.argv[2:4])
assert "[1] " + sys.argv[2] + ": " + a["device"] in text, text[:600]
assert "[2] " + sys.argv[3] + ": " + b["device"] in text, text[:600]
# the row of a metric both have: both values and the ratio of the second to the first
for line in text.splitlines():
    if line.startswith("fma_fp32_gflops "):
        f = line.split()
        assert abs(float(f[1]) - a["fma_fp32_gflops"]) <= 1e-3 * a["fma_fp32_gflops"] + 1e-4, line
        assert abs(float(f[2]) - b["fma_fp32_gflops"]) <= 1e-3 * b["fma_fp32_gflops"] + 1e-4, line
        assert abs(float(f[3]) - b["fma_fp32_gflops"] / a["fma_fp32_gflops"]) <= 0.01 * float(f[3]), line
        break
else:
    raise AssertionError("no fma_fp32_gflops row")
for row in ["copy_shader_gbps ", "timings.fft_pair.median ", "accuracy.max_rel_error ", "identity.noble_commit "]:
    assert any(l.startswith(row) for l in text.splitlines()), row
PY
"$noble" bench compare "$tmp/operator-$first.json" "$tmp/operator-$last.json" > "$tmp/cmp-op.txt" 2> "$tmp/err"
check "bench compare of two operator files exits 0" test $? -eq 0
check "compare shows the operator's throughput, ceilings and per-op ms" $py -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
for row in ["forward_b1_traces_per_s ", "ceiling_fma_fp32_gflops ", "op_spectral_r2c_ms ", "timings.train_b2.median "]:
    assert any(l.startswith(row) for l in lines), row
' "$tmp/cmp-op.txt"

"$noble" bench compare "$tmp/population-$first.json" "$tmp/population-$last.json" > "$tmp/cmp-pop.txt" 2> "$tmp/err"
check "bench compare of two population files exits 0" test $? -eq 0
check "compare shows the population's throughput and samples" $py -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
for row in ["best_traces_per_s ", "timings.predict_b4.median ", "accuracy.max_rel_error "]:
    assert any(l.startswith(row) for l in lines), row
' "$tmp/cmp-pop.txt"

# refusals: another format_version, not a bench file, not JSON, mixed benches
$py - "$tmp/runtime-$first.json" "$tmp" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["format_version"] = 1
json.dump(b, open(sys.argv[2] + "/v1.json", "w"))
del b["format_version"]
json.dump(b, open(sys.argv[2] + "/v0.json", "w"))
json.dump({"traces": [1, 2]}, open(sys.argv[2] + "/other.json", "w"))
PY
echo '{"bench": "runtime", "format_version": 2,' > "$tmp/cut.json"
expect 1 "v1.json has format_version 1; this noble reads format_version 2 only" -- \
  "$noble" bench compare "$tmp/runtime-$first.json" "$tmp/v1.json"
expect 1 "v0.json has no format_version" -- "$noble" bench compare "$tmp/v0.json" "$tmp/runtime-$first.json"
expect 1 "other.json is not a noble bench JSON file" -- "$noble" bench compare "$tmp/runtime-$first.json" "$tmp/other.json"
expect 1 "cut.json is not a noble bench JSON file: it is not JSON" -- "$noble" bench compare "$tmp/cut.json"
expect 1 "cannot compare $tmp/runtime-$first.json (bench runtime) with $tmp/operator-$first.json (bench operator)" -- \
  "$noble" bench compare "$tmp/runtime-$first.json" "$tmp/operator-$first.json"
expect 1 "cannot compare $tmp/population-$first.json (bench population) with $tmp/runtime-$first.json (bench runtime)" -- \
  "$noble" bench compare "$tmp/population-$first.json" "$tmp/runtime-$first.json"
expect 1 "cannot read $tmp/missing.json" -- "$noble" bench compare "$tmp/missing.json"
expect 2 "which files?" -- "$noble" bench compare

finish
