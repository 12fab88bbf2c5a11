#!/usr/bin/env bash
# The bad-input suite: every case of tests/bad_inputs/*.tsv, one per line,
# tab-separated (lines starting with # and blank lines are skipped):
#
#   name <TAB> exit status <TAB> extended regex stderr must match <TAB> bash command [<TAB> setup [<TAB> flags]]
#
# Each case runs in a fresh empty directory with NOBLE (the program), SRC
# (the sources), MINI (the mini dataset, when given) and FIX (fixtures made
# once: FIX/ck.h5 a small trained checkpoint of MINI, FIX/bare.h5 an operator
# without an embedding, FIX/in.h5 inputs for noble model run) exported; setup
# runs first, then the command, under a 60 s limit. A case fails when the
# status differs, stderr does not match, stderr holds a traceback (unless
# flags holds traceback-ok: an error inside a user's own script), the
# command ran out of time (a hang), or it left anything behind (the
# directory's listing must be what it was after setup).
#
#   bash tests/test_bad_inputs.sh build/scripting/noble [mini6.h5]
set -u
NOBLE=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/.." && pwd)
MINI=${2:+$(realpath "$2")}
export NOBLE SRC MINI
FIX=$(mktemp -d)
scratch=$(mktemp -d)
trap 'rm -rf "$FIX" "$scratch"' EXIT
export FIX

if [ -n "$MINI" ]; then
  "$NOBLE" train --dataset "$MINI" --out "$FIX/run" --epochs 1 --width 4 --blocks 1 --modes 8 --stride 8 \
    --progress false --quiet true > "$FIX/train.log" 2>&1 || { cat "$FIX/train.log"; echo "FAIL fixtures"; exit 1; }
  cp "$FIX/run/best.h5" "$FIX/ck.h5"
fi
"$NOBLE" model init --preset small --length 64 --out "$FIX/bare.h5" > /dev/null || { echo "FAIL fixtures"; exit 1; }
/usr/bin/python3 - "$FIX/in.h5" <<'PY' || { echo "FAIL fixtures"; exit 1; }
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    f["x"] = np.zeros((2, 1, 64), np.float32)
    f["current"] = np.zeros((2, 1056), np.float32)
    f["codes"] = np.array([[0, 50, 0.8], [100, 50, 0.8]], np.float32)
    f["badcodes"] = np.zeros((2, 2), np.float32)
PY

passed=0 failed=0 skipped=0
n=0
for table in "$SRC"/tests/bad_inputs/*.tsv; do
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    # tabs are whitespace to read, which would merge an empty column: split on a unit separator
    IFS=$'\x1f' read -r name want regex cmd setup flags <<< "${line//$'\t'/$'\x1f'}"
    if [ -z "$MINI" ] && [[ "$cmd$setup" =~ MINI|FIX/ck|FIX/run ]]; then
      skipped=$((skipped + 1))
      continue
    fi
    n=$((n + 1))
    dir="$scratch/$n"
    mkdir -p "$dir"
    why=""
    (
      cd "$dir" || exit 99
      if [ -n "${setup:-}" ]; then bash -c "$setup" > "$scratch/setup.out" 2>&1 || exit 98; fi
      exit 0
    )
    case $? in 98) why="setup failed: $(tail -3 "$scratch/setup.out")" ;; 99) why="no scratch directory" ;; esac
    if [ -z "$why" ]; then
      before=$(cd "$dir" && find . | LC_ALL=C sort)
      (cd "$dir" && timeout 60 bash -c "$cmd" > "$scratch/out" 2> "$scratch/err" < /dev/null)
      got=$?
      after=$(cd "$dir" && find . | LC_ALL=C sort)
      if [ "$got" -eq 124 ]; then
        why="ran past 60 s (a hang)"
      elif [ "$got" != "$want" ]; then
        why="exit $got, expected $want"
      elif [ "$regex" != "-" ] && ! grep -Eq -- "$regex" "$scratch/err"; then
        why="stderr does not match /$regex/"
      elif [ "${flags:-}" != "traceback-ok" ] && grep -Eq "stack traceback|Traceback \(most recent call last\)" "$scratch/err"; then
        why="stderr holds a traceback"
      elif [ "$before" != "$after" ]; then
        why="left behind: $(diff <(echo "$before") <(echo "$after") | grep '^>' | tr '\n' ' ')"
      fi
    fi
    if [ -z "$why" ]; then
      passed=$((passed + 1))
      echo "ok   $(basename "$table" .tsv): $name"
    else
      failed=$((failed + 1))
      echo "FAIL $(basename "$table" .tsv): $name: $why"
      echo "     command: $cmd"
      sed 's/^/     stderr: /' "$scratch/err" 2> /dev/null | head -8
    fi
    rm -rf "$dir"
  done < "$table"
done
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed ($skipped skipped: no mini dataset)"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$n" -gt 0 ]
