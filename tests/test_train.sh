#!/usr/bin/env bash
# NOBLE end to end in Lua on the mini dataset: tests/lua/test_train.lua
# (training lowers the held-out error below a bound, resume equivalence,
# eval's report and plots), then the command-line faces: noble train and
# noble eval with bad input give a clear message, the right exit status,
# and leave nothing behind.
set -u
noble=$1
dir=$2
mini=$3
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$noble" run "$dir/lua/test_train.lua" "$mini" "$tmp/lua" > "$tmp/lua.out" 2>&1
rc=$?
cat "$tmp/lua.out"
check "the end-to-end checks pass" test $rc -eq 0
check "... to the end" grep -q "train tests: all checks passed" "$tmp/lua.out"


expect 2 "unknown option --bogus" -- "$noble" train --bogus 1
expect 2 "--epochs many: expected an integer from 1 to 1000000" -- "$noble" train --epochs many
NOBLE_PRETRAINED=/nonexistent/pvalb.h5 expect 1 "the shipped one, /nonexistent/pvalb.h5, is missing" -- "$noble" eval
expect 2 "unknown split 'holdout'" -- "$noble" eval --checkpoint x.h5 --splits train,holdout

# a dataset with a missing field: named, and no run directory made
/usr/bin/python3 - "$mini" "$tmp/broken.h5" <<'PY'
import shutil, sys, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "r+") as f:
    del f["models/I_thr"]
PY
expect 1 "/models/I_thr is missing" -- "$noble" train --dataset "$tmp/broken.h5" --out "$tmp/never" --epochs 1
check "... and no run directory" test ! -e "$tmp/never"
expect 1 "cannot read" -- "$noble" train --dataset "$tmp/none.h5" --out "$tmp/never" --epochs 1

# a checkpoint whose training dataset has moved: eval takes data/NAME of the working
# folder, else names both places
mkdir -p "$tmp/gone" "$tmp/here/data" "$tmp/elsewhere"
cp "$mini" "$tmp/gone/m.h5"
"$noble" train --dataset "$tmp/gone/m.h5" --out "$tmp/moved" --epochs 1 --width 4 --blocks 1 --modes 8 \
  --stride 8 --progress false > /dev/null 2>&1
check "a 1-epoch run to move" test -s "$tmp/moved/best.h5"
mv "$tmp/gone/m.h5" "$tmp/here/data/m.h5"
(cd "$tmp/here" && "$noble" eval --checkpoint "$tmp/moved/best.h5" --splits test --plots false --out ev \
  --progress false > out.txt 2>&1)
check "eval finds the moved dataset under data/" test -s "$tmp/here/ev/report.json"
start=$PWD
cd "$tmp/elsewhere" || exit 1
expect 1 "was trained on $tmp/gone/m.h5, which is not there, nor data/m.h5" -- \
  "$noble" eval --checkpoint "$tmp/moved/best.h5" --out ev
cd "$start" || exit 1
check "... and elsewhere, no report" test ! -e "$tmp/elsewhere/ev"

# a checkpoint without an embedding (a bare operator) cannot be evaluated
"$noble" model init --preset small --length 64 --out "$tmp/bare.h5" > /dev/null 2>&1
expect 1 "has no embedding" -- "$noble" eval --checkpoint "$tmp/bare.h5" --dataset "$mini" --out "$tmp/ev"
check "... and no report" test ! -e "$tmp/ev/report.json"
# noble model run on a trained checkpoint runs what it is: NOBLE's input (current, codes) or the
# operator's, either way y in mV, the same numbers
ck="$tmp/lua/run/best.h5"
"$noble" run /dev/stdin "$ck" "$tmp/nin.h5" > /dev/null 2>&1 <<'LUA'
local noble = require("noble")
local ck, out = ...
local m <close> = noble.model{ checkpoint = ck, training = false, max_batch = 2 }
local L = m:info().length
local cur, codes = noble.tensor(2, L), noble.tensor({ 150, 50, 0.8, -110, 60, 0.9 }, { 2, 3 })
for i = 1, L do cur:set(1, i, i > L // 10 and 150 or 0); cur:set(2, i, i > L // 10 and -110 or 0) end
cur:save(out, "current", "pA"); codes:save(out, "codes")
m:predict(cur, codes):save(out, "v", "mV")
LUA
"$noble" model run --checkpoint "$ck" --input "$tmp/nin.h5" --current current --codes codes --output "$tmp/nout.h5" > "$tmp/nrun.txt"
check "model run on an embedded checkpoint writes mV" grep -q "in mV" "$tmp/nrun.txt"
check "... the voltage m:predict gives" /usr/bin/python3 -c '
import h5py, numpy as np, sys
a = h5py.File(sys.argv[1])["v"][...]; f = h5py.File(sys.argv[2]); y = f["y"][...]
u = f["y"].attrs["units"]
assert (u.decode() if isinstance(u, bytes) else u) == "mV", u
assert y.shape == a.shape and np.abs(y - a).max() < 1e-3 and np.abs(y).max() > 10, (y.shape, np.abs(y - a).max())
' "$tmp/nin.h5" "$tmp/nout.h5"

# a checkpoint of another configuration for a run directory: refused, naming it
cp "$tmp/bare.h5" "$tmp/lua/run/last.h5"
expect 1 "holds no training state" -- "$noble" train --dataset "$mini" --out "$tmp/lua/run" --epochs 30 \
  --width 8 --blocks 2 --modes 16 --stride 4 --batch 8
finish
