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
expect 2 "--epochs takes a number, got 'many'" -- "$noble" train --epochs many
expect 2 "which checkpoint?" -- "$noble" eval
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

# a checkpoint without an embedding (a bare operator) cannot be evaluated
"$noble" model init --preset small --length 64 --out "$tmp/bare.h5" > /dev/null 2>&1
expect 1 "has no embedding" -- "$noble" eval --checkpoint "$tmp/bare.h5" --dataset "$mini" --out "$tmp/ev"
check "... and no report" test ! -e "$tmp/ev/report.json"
# a checkpoint of another configuration for a run directory: refused, naming it
cp "$tmp/bare.h5" "$tmp/lua/run/last.h5"
expect 1 "holds no training state" -- "$noble" train --dataset "$mini" --out "$tmp/lua/run" --epochs 30 \
  --width 8 --blocks 2 --modes 16 --stride 4 --batch 8
finish
