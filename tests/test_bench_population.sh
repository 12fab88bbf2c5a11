#!/usr/bin/env bash
# `noble bench population`: a small checkpoint trained on the mini dataset,
# benched with --quick --json (the JSON parses; throughputs and the speedup
# over NEURON are positive; speed itself is never asserted), and clear
# errors for a checkpoint without an embedding, a missing checkpoint and an
# unknown flag.
set -u
noble=$1
mini=$2
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

"$noble" train --dataset "$mini" --out "$tmp/run" --width 8 --blocks 2 --modes 16 --lifting-channels 16 \
  --projection-channels 32 --mlp-channels 4 --stride 4 --batch 8 --epochs 1 > "$tmp/train.out" 2>&1
check "noble train makes a small checkpoint with an embedding" test -s "$tmp/run/best.h5"

"$noble" bench population --quick --json --checkpoint "$tmp/run/best.h5" --dataset "$mini" \
  > "$tmp/bench.json" 2> "$tmp/bench.err"
rc=$?
check "bench population --quick --json exits 0" test $rc -eq 0
[ $rc -eq 0 ] || sed 's/^/    /' "$tmp/bench.err"
check "the JSON has positive throughputs and a positive speedup over NEURON" $py -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert b["bench"] == "population" and b["device"] and b["driver"], b
assert b["config"]["length"] == 2112 and b["config"]["width"] == 8 and b["window"]["stride"] == 4, b["config"]
assert abs(b["window"]["dt_ms"] - 0.24) < 1e-9 and b["window"]["amplitude_pA"] == 150, b["window"]
assert [p["batch"] for p in b["batches"]] == [1, 4], b["batches"]
for p in b["batches"]:
    for k in ["traces_per_s", "ms_per_trace", "ms_per_call", "peak_device_mib"]:
        assert isinstance(p[k], (int, float)) and p[k] > 0, (k, p)
assert b["best_traces_per_s"] > 0 and b["rounds"] == 1
lo, hi = b["codes"]["I_thr_pA"]
assert 0 < lo <= hi and b["codes"]["models"] == 4, b["codes"]
assert b["neuron"]["median_s_per_trace"] > 0 and b["neuron"]["mean_s_per_trace"] > 0
assert b["speedup_vs_neuron_median"] > 0 and b["speedup_vs_neuron_mean"] > 0
# every backend present, each with its own sweep and speedup; the top is the first
names = [x["backend"] for x in b["backends"]]
assert "cpu" in names and b["backend"] == names[0], names
assert b["best_traces_per_s"] == b["backends"][0]["best_traces_per_s"]
for x in b["backends"]:
    assert x["device"] and x["driver"] and x["fft_backend"] and [p["batch"] for p in x["batches"]] == [1, 4], x
    assert all(p["traces_per_s"] > 0 for p in x["batches"]) and x["speedup_vs_neuron_median"] > 0, x
' "$tmp/bench.json"

"$noble" bench population --quick --json --backend cpu --checkpoint "$tmp/run/best.h5" --dataset "$mini" \
  --batches 2 > "$tmp/cpu.json" 2> /dev/null
check "--backend cpu: the CPU backend alone" $py -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert [x["backend"] for x in b["backends"]] == ["cpu"] and b["device_type"] == "CPU", b
assert b["backends"][0]["threads"] >= 1
' "$tmp/cpu.json"

"$noble" bench population --quick --checkpoint "$tmp/run/best.h5" --dataset "$mini" --batches 2 \
  > "$tmp/bench.txt" 2> "$tmp/bench2.err"
check "the table for people names the speedup" grep -q "speedup .*x against NEURON's median" "$tmp/bench.txt"

"$noble" bench population --quick --json --checkpoint "$tmp/run/best.h5" --dataset '' --batches 1 \
  > "$tmp/nods.json" 2> /dev/null
check "without a dataset: no NEURON comparison, and the output says so" $py -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert "neuron" not in b and not any("speedup" in k for k in b), b
assert "no NEURON comparison" in b["note"] and b["codes"]["I_thr_pA"] == [50, 50], b
' "$tmp/nods.json"


"$noble" model init --preset small --length 64 --out "$tmp/plain.h5" > /dev/null
expect 1 "has no embedding" -- "$noble" bench population --quick --checkpoint "$tmp/plain.h5" --dataset "$mini"
expect 1 "checkpoint $tmp/missing.h5 does not exist" -- \
  "$noble" bench population --quick --checkpoint "$tmp/missing.h5" --dataset "$mini"
expect 2 "unknown argument '--bogus'" -- "$noble" bench population --bogus
expect 2 "--rounds 0: expected an integer from 1 to" -- "$noble" bench population --rounds 0
expect 2 "--backend gpu: expected all, auto, vulkan or cpu" -- "$noble" bench population --backend gpu

finish
