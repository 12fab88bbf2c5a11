#!/usr/bin/env bash
# Synthetic neurons: tests/lua/test_population.lua on the mini dataset, the
# population file read back by h5py (shapes, units, chunked and compressed),
# and noble population / noble variability's usage errors.
set -u
noble=$1
dir=$2
mini=$3
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/work"

"$noble" run "$dir/lua/test_population.lua" "$mini" "$tmp/work" > "$tmp/lua.out" 2>&1
rc=$?
cat "$tmp/lua.out"
check "the population checks pass" test $rc -eq 0
check "... to the end" grep -q "population tests: all checks passed" "$tmp/lua.out"

/usr/bin/python3 - "$tmp/work/pop.h5" > "$tmp/py.out" 2>&1 <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["complete"] == 1
    assert f.attrs["format"] in ("noble-population", b"noble-population")
    n = int(f.attrs["n_neurons"]); s = len(f.attrs["stimuli_pA"])
    assert (n, s) == (23, 3), (n, s)
    assert f["features"].shape == (69, 16), f["features"].shape
    assert f["traces"].shape[0] == 69 and f["traces"].shape[1] > 1000
    assert f["neurons/I_thr"].shape == (23,)
    u = f["traces"].attrs["units"]
    assert (u.decode() if isinstance(u, bytes) else u) == "mV"
    assert f["traces"].compression == "gzip" and f["traces"].chunks is not None
    assert f["traces"].maxshape[0] is None
    v = f["traces"][:]
    assert np.isfinite(v).all() and -150 < v.min() and v.max() < 100
    sc = f["features"][:, 0]  # Spikecount
    assert np.isfinite(sc).all()
print("h5py: population file ok")
PY
rc=$?
cat "$tmp/py.out"
check "the population file reads back in h5py" test $rc -eq 0

ck="$tmp/work/run/best.h5"
NOBLE_PRETRAINED=/nonexistent/pvalb.h5 expect 1 "the shipped one, /nonexistent/pvalb.h5, is missing" -- "$noble" population --out x.h5 --stimuli 10 --sample 3
expect 2 "the stimulus list is empty" -- "$noble" population --checkpoint "$ck" --out "$tmp/x.h5" --stimuli , --sample 3
expect 2 "bad stimulus 'abc'" -- "$noble" population --checkpoint "$ck" --out "$tmp/x.h5" --stimuli 10,abc --sample 3
expect 1 "no neurons requested" -- "$noble" population --checkpoint "$ck" --out "$tmp/x.h5" --stimuli 10 --sample 0
expect 1 "give exactly one of" -- "$noble" population --checkpoint "$ck" --out "$tmp/x.h5" --stimuli 10
check "... no file left" test ! -e "$tmp/x.h5"
expect 2 "--dataset and --amplitude are needed" -- "$noble" variability --checkpoint "$ck"
expect 1 "has no trace at 777 pA" -- "$noble" variability --checkpoint "$ck" --dataset "$mini" --amplitude 777 --out "$tmp/v"
"$noble" population --checkpoint "$ck" --out "$tmp/cli.h5" --stimuli -110,150 --path 40:0.8,80:0.9 --steps 4 \
  --progress false > "$tmp/cli.out" 2>&1
check "noble population --path writes a file" test -s "$tmp/cli.h5" -a -s "$tmp/cli.json"
finish
