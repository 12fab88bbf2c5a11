#!/usr/bin/env bash
# `noble datagen` end to end (plugins/neuron, docs/dataset.md): clear errors for
# bad input with nothing left behind; a mini PVALB dataset checked for shapes,
# units, split and criteria; the hoc cell given by path (bring your own cell);
# a run killed half way resumes and gives the same dataset as an unbroken run.
# usage: test_datagen.sh NOBLE_EXE SOURCE_DIR
set -uo pipefail
noble=$1
src=$2
py=/usr/bin/python3
check="$py $src/tests/test_datagen_check.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

expect() { # rc pattern -- command...
  local want=$1 pat=$2; shift 3
  "$@" > "$work/out.txt" 2> "$work/err.txt"
  local rc=$?
  [ $rc -eq "$want" ] || fail "$* -> exit $rc, expected $want: $(cat "$work/err.txt")"
  grep -q -- "$pat" "$work/err.txt" || fail "$* -> stderr lacks '$pat': $(cat "$work/err.txt")"
}

# bad input: clear messages, exit codes, no file left behind
expect 2 "unknown cell 'no_such_cell'" -- "$noble" datagen --cell no_such_cell --out "$work/x.h5"
expect 2 "amplitude list is empty" -- "$noble" datagen --amplitudes "" --out "$work/x.h5"
expect 2 "amplitude list is empty" -- "$noble" datagen --amplitudes=, --out "$work/x.h5"
expect 2 "bad amplitude 'abc'" -- "$noble" datagen --amplitudes 10,abc --out "$work/x.h5"
expect 1 "cannot write" -- "$noble" datagen --out /nonexistent/dir/x.h5
mkdir "$work/ro" && chmod 555 "$work/ro"
if [ "$(id -u)" -ne 0 ]; then
  expect 1 "not writable" -- "$noble" datagen --out "$work/ro/x.h5"
fi
expect 2 "unknown argument" -- "$noble" datagen --bogus 1 --out "$work/x.h5"
expect 2 "required" -- "$noble" datagen --models 2
expect 2 "cell spec '/nonexistent.json' does not exist" -- "$noble" datagen --cell /nonexistent.json --out "$work/x.h5"
[ -z "$(ls "$work" | grep -v -e out.txt -e err.txt -e ro)" ] || fail "files left behind: $(ls "$work")"

# mini PVALB dataset
t0=$(date +%s)
"$noble" datagen --models 3 --amplitudes -110,-30,0,150,270 --threshold-offsets 0,25,50 --seed 5 --jobs 2 \
  --out "$work/mini.h5" > "$work/mini.log" 2> "$work/mini.err" || fail "mini dataset: $(tail -5 "$work/mini.err")"
echo "mini PVALB dataset: $(( $(date +%s) - t0 )) s: $(cat "$work/mini.log")"
grep -q "ETA" "$work/mini.err" || fail "no progress bar with ETA on stderr"
$check "$work/mini.h5" 3 || fail "mini dataset check"
h5dump -H "$work/mini.h5" > /dev/null || fail "h5dump cannot read the dataset"
h5dump -a /neuron_version "$work/mini.h5" | grep -q "NEURON" || fail "h5dump: no neuron_version"
[ ! -e "$work/mini.h5.partial" ] || fail "partial folder left after success"

# bring your own cell (hoc template given by path), killed and resumed
spec="$src/plugins/neuron/cells/ballstick.json"
args=(datagen --cell "$spec" --models 6 --amplitudes -110,0,120,240 --threshold-offsets 0,40 --seed 3 --jobs 2)
"$noble" "${args[@]}" --out "$work/ref.h5" > /dev/null 2> "$work/ref.err" || fail "ballstick: $(tail -3 "$work/ref.err")"
$check "$work/ref.h5" 6 || fail "ballstick dataset check"
setsid "$noble" "${args[@]}" --out "$work/bs.h5" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  n=$(ls "$work/bs.h5.partial" 2>/dev/null | grep -c '^cand_.*\.npz$')
  [ "$n" -ge 2 ] && break
  sleep 0.1
done
kill -KILL -- -"$pid" 2> /dev/null
wait "$pid" 2> /dev/null
[ ! -e "$work/bs.h5" ] || fail "a killed run left a dataset at the output path"
[ -e "$work/bs.h5.partial/UNFINISHED" ] || fail "the unfinished run is not marked UNFINISHED"
before=$(ls "$work/bs.h5.partial" | grep -c '^cand_')
[ "$before" -ge 2 ] || fail "nothing saved before the kill ($before)"
expect 1 "other settings" -- "$noble" datagen --cell "$spec" --models 5 --amplitudes -110,0,120,240 \
  --threshold-offsets 0,40 --seed 3 --out "$work/bs.h5"
"$noble" "${args[@]}" --out "$work/bs.h5" > "$work/bs.log" 2> "$work/bs.err" || fail "resume: $(tail -3 "$work/bs.err")"
grep -q "resumed=1" "$work/bs.err" || fail "the second run did not resume"
$check "$work/bs.h5" 6 || fail "resumed dataset check"
$py - "$work/ref.h5" "$work/bs.h5" << 'PYEOF' || fail "resumed dataset differs from an unbroken run"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
for k in ("models/params", "models/I_thr", "models/s_thr", "models/split", "traces/amplitude", "traces/voltage"):
    assert np.array_equal(a[k][:], b[k][:]), k
print("resumed run == unbroken run")
PYEOF
echo "candidates saved before the kill: $before"

[ $fails -eq 0 ] && echo "all datagen checks passed"
exit $(( fails > 0 ))
