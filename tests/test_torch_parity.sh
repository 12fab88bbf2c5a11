#!/usr/bin/env bash
# noble and the PyTorch reference (bench/reference/noble_fno.py) give the same
# output for the NOBLE preset from the same checkpoint: PyTorch loads noble's
# HDF5 checkpoint, runs in float64 on the same input, and noble's float32
# output must match within 1e-4 relative (max norm, and L2 per trace).
set -u
noble=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
set -e
"$noble" model init --preset noble --length 1040 --seed 3 --out "$tmp/ck.h5"
/usr/bin/python3 - "$tmp/io.h5" <<'PY'
import sys
import h5py
import numpy as np
rng = np.random.default_rng(11)
B, C, N = 3, 23, 1040
x = rng.standard_normal((B, C, N)).astype(np.float32)
x[:, 0, :] = 0.0
x[:, 0, 100:900] = [[1.2], [-0.8], [0.3]]  # current steps (scaled)
with h5py.File(sys.argv[1], "w") as f:
    f["x"] = x
PY
"$noble" model run --checkpoint "$tmp/ck.h5" --input "$tmp/io.h5" --output "$tmp/io.h5"
set +e
/usr/bin/python3 "$src/bench/reference/check_outputs.py" "$tmp/ck.h5" "$tmp/io.h5" --rtol 1e-4
