#!/usr/bin/env bash
# `noble datagen` when NEURON's side goes wrong (issue 13, docs/dataset.md "Errors"):
# every case ends within a bounded time, with one clear line naming the worker's
# reason (no traceback), no endless restarts, nothing left behind when nothing was
# saved, and a run that stays resumable when something was.
#
#   A. an exception in a user cell's constructor (a spec without "mechanisms")
#   B. any other exception in a Python cell's constructor; a hoc template's error
#   C. a worker that exits while building its cell
#   D. the spec in its own folder, run from there: NEURON auto-loads ./x86_64, which
#      is the spec's "mechanisms" (works); a different library of the same
#      mechanism names (a clear error)
#   E. a worker killed with SIGKILL (as the OOM killer would) in the middle of a
#      run: the run stops naming signal 9, and the same command resumes it
#   F. --threshold-offsets none: s_thr is still defined for every model
#   G. NEURON's hh at 34 degC: a warning that it cannot fire there
#   H. the example spec of docs/neuron-cell.md is valid JSON and a valid spec
#
# Option and spec validation (fast, no simulation) is tests/bad_inputs/datagen.tsv.
# usage: test_datagen_errors.sh NOBLE_EXE SOURCE_DIR
set -uo pipefail
noble=$(realpath "$1")
src=$(cd "$2" && pwd)
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
bs="$src/plugins/neuron/cells/ballstick"

# bounded LIMIT_S WANT_RC PATTERN DIR -- command...: runs the command in DIR in its own
# session; a run past LIMIT_S is a hang (the whole session is killed). Checks the exit
# status, that stderr matches PATTERN (extended regex) and holds no traceback.
bounded() {
  local limit=$1 want=$2 pat=$3 dir=$4
  shift 5
  (cd "$dir" && exec setsid "$@" > "$work/out.txt" 2> "$work/err.txt") &
  local pid=$! t=0
  while kill -0 "$pid" 2> /dev/null && [ $t -lt $((limit * 10)) ]; do
    sleep 0.1
    t=$((t + 1))
  done
  if kill -0 "$pid" 2> /dev/null; then
    kill -KILL -- -"$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    fail "$* -> still running after $limit s (a hang); $(grep -c Traceback "$work/err.txt") tracebacks: $(tail -c 300 "$work/err.txt")"
    return
  fi
  wait "$pid"
  local rc=$?
  echo "  $(basename "$dir"): exit $rc after $(awk "BEGIN{print $t / 10}") s: $(grep -v '^\[' "$work/err.txt" | tail -1 | cut -c1-240)"
  [ $rc -eq "$want" ] || fail "$* -> exit $rc, expected $want: $(tail -c 600 "$work/err.txt")"
  grep -Eq -- "$pat" "$work/err.txt" || fail "$* -> stderr does not match /$pat/: $(tail -c 600 "$work/err.txt")"
  ! grep -q "Traceback (most recent call last)" "$work/err.txt" || fail "$* -> a traceback on stderr"
}

# a user mechanism (myk) and cells that use it
mkdir -p "$work/mymod"
cat > "$work/mymod/myk.mod" << 'EOF'
NEURON { SUFFIX myk NONSPECIFIC_CURRENT i RANGE g, e }
PARAMETER { g = 0 (S/cm2) e = -70 (mV) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = g*(v - e) }
EOF
cat > "$work/mycell.py" << 'EOF'
from neuron import h


class MyCell:
    def __init__(self):
        self.soma = h.Section(name="soma", cell=self)
        self.soma.L = self.soma.diam = 20
        for m in ("nb_leak", "nb_nat", "nb_kv3", "nb_kdr", "myk"):
            self.soma.insert(m)
        self.soma.gbar_nb_nat, self.soma.gbar_nb_kv3, self.soma.gbar_nb_kdr = 0.3, 0.3, 0.005
        self.soma.g_nb_leak, self.soma.e_nb_leak = 1e-4, -70
        self.all = [self.soma]
        self.somatic = [self.soma]
EOF
spec() { # NAME PYFILE CLASS [EXTRA JSON] > file
  printf '{"name": "%s", "python": "%s", "class": "%s", "v_init": -70, "celsius": 34%s,\n' "$1" "$2" "$3" "${4:-}"
  printf ' "parameters": [{"name": "g_nb_leak@all", "value": 1e-4, "unit": "S/cm2", "sample": "lognormal", "sigma": 0.1}],\n'
  printf ' "criteria": {"rheobase": {"range": [1, 400], "unit": "pA"}}}\n'
}
few=(--models 1 --amplitudes 0,100 --threshold-offsets 0 --seed 2)

echo "A. exception in the constructor: a spec without \"mechanisms\""
mkdir -p "$work/A"
cp "$work/mycell.py" "$work/A/"
spec a mycell.py MyCell > "$work/A/a.json"
bounded 60 1 "building the cell MyCell \(mycell.py\) failed: ValueError: argument not a density mechanism name.*mycell.py, line [0-9]+.*has no 'mechanisms'" \
  "$work/A" -- "$noble" datagen --cell a.json "${few[@]}" --jobs 1 --out a.h5
[ "$(ls "$work/A")" = "$(printf 'a.json\nmycell.py')" ] || fail "A left behind: $(ls "$work/A")"

echo "B. other constructor errors (Python, hoc)"
mkdir -p "$work/B"
printf 'class Bad:\n    def __init__(self):\n        raise RuntimeError("broken on purpose")\n' > "$work/B/bad.py"
spec b bad.py Bad > "$work/B/b.json"
bounded 60 1 "RuntimeError: broken on purpose \(bad.py, line 3, in __init__\)" \
  "$work/B" -- "$noble" datagen --cell b.json "${few[@]}" --jobs 1 --out b.h5
printf 'begintemplate BadT\npublic soma\ncreate soma\nproc init() {\n  execerror("broken template", "on purpose")\n}\nendtemplate BadT\n' > "$work/B/bad.hoc"
$py - "$work/B/b.json" "$work/B/h.json" << 'EOF'
import json, sys
s = json.load(open(sys.argv[1])); del s["python"], s["class"]
s.update(name="h", hoc="bad.hoc", template="BadT"); json.dump(s, open(sys.argv[2], "w"))
EOF
bounded 60 1 "building the cell BadT \(bad.hoc\) failed.*NEURON said: broken template on purpose" \
  "$work/B" -- "$noble" datagen --cell h.json "${few[@]}" --jobs 1 --out h.h5
[ -z "$(ls "$work/B" | grep -v -e '^bad' -e '^b.json$' -e '^h.json$')" ] || fail "B left behind: $(ls "$work/B")"

echo "C. a worker that exits while building its cell"
mkdir -p "$work/C"
printf 'import os\nclass Quit:\n    def __init__(self):\n        print("about to quit", flush=True)\n        os._exit(3)\n' > "$work/C/quit.py"
spec c quit.py Quit > "$work/C/c.json"
bounded 60 1 "NEURON worker 1 \(pid [0-9]+\) exited with status 3 before its cell was built; its last output: about to quit" \
  "$work/C" -- "$noble" datagen --cell c.json "${few[@]}" --jobs 2 --out c.h5
[ ! -e "$work/C/c.h5.partial" ] || fail "C left a partial folder"

echo "D. the cell's own folder, where NEURON auto-loads ./x86_64"
mkdir -p "$work/D"
cp "$work/mycell.py" "$work/D/"
cp -r "$work/mymod" "$work/D/mod"
(cd "$work/D" && bash "$src/plugins/neuron/build_mechanisms.sh" mod . > /dev/null) || fail "D: build_mechanisms.sh"
spec d mycell.py MyCell ', "mechanisms": "x86_64/.libs/libnrnmech.so"' > "$work/D/d.json"
bounded 300 0 "" "$work/D" -- "$noble" datagen --cell d.json "${few[@]}" --jobs 1 --out d.h5
[ -f "$work/D/d.h5" ] || fail "D: no dataset"
# the folder itself as "mechanisms", run from elsewhere
spec d2 D/mycell.py MyCell ', "mechanisms": "D"' > "$work/d2.json"
bounded 300 0 "" "$work" -- "$noble" datagen --cell d2.json "${few[@]}" --jobs 1 --out d2.h5
# another library with the same mechanism names: refused with NEURON's reason
mkdir -p "$work/D2"
cp -r "$work/mymod" "$work/D2/mod"
(cd "$work/D2" && bash "$src/plugins/neuron/build_mechanisms.sh" mod . > /dev/null) || fail "D2: build_mechanisms.sh"
spec d3 mycell.py MyCell ", \"mechanisms\": \"$work/D2/x86_64/.libs/libnrnmech.so\"" > "$work/D/d3.json"
bounded 60 1 "cannot load the cell's mechanisms .*NEURON loaded x86_64/.libs/libnrnmech.so of the current folder.*NEURON said: The user defined name already exists: myk" \
  "$work/D" -- "$noble" datagen --cell d3.json "${few[@]}" --jobs 1 --out d3.h5
[ ! -e "$work/D/d3.h5.partial" ] || fail "D3 left a partial folder"

echo "E. a worker killed with SIGKILL in the middle of a run, then resumed"
mkdir -p "$work/E"
args=(datagen --cell "$bs.json" --models 6 --amplitudes -110,0,120,240 --threshold-offsets 0,40 --seed 3 --jobs 2)
(cd "$work/E" && exec setsid "$noble" "${args[@]}" --out e.h5 > "$work/E.out" 2> "$work/E.err") &
pid=$!
victim=
for _ in $(seq 1 600); do
  gen=$(pgrep -P "$pid" | head -1)
  if [ -n "$gen" ] && [ "$(ls "$work/E/e.h5.partial" 2> /dev/null | grep -c '^cand_.*\.npz$')" -ge 1 ]; then
    victim=$(pgrep -P "$gen" | head -1)
    [ -n "$victim" ] && break
  fi
  sleep 0.1
done
if [ -z "$victim" ]; then
  fail "E: no worker to kill"
  kill -KILL -- -"$pid" 2> /dev/null
else
  kill -KILL "$victim"
  t=0
  while kill -0 "$pid" 2> /dev/null && [ $t -lt 300 ]; do sleep 0.1; t=$((t + 1)); done
  if kill -0 "$pid" 2> /dev/null; then
    fail "E: still running 30 s after a worker was killed (a hang): $(tail -c 300 "$work/E.err")"
    kill -KILL -- -"$pid" 2> /dev/null
  fi
fi
wait "$pid"
rc=$?
echo "  E: exit $rc: $(tail -1 "$work/E.err" | cut -c1-300)"
[ $rc -eq 1 ] || fail "E: exit $rc, expected 1"
grep -Eq "NEURON worker [12] \(pid $victim\) was killed by signal 9 \(SIGKILL\) while simulating candidate [0-9]+: the kernel's out-of-memory killer.*candidates? (is|are) saved in .*e.h5.partial: rerun the same command to resume" "$work/E.err" ||
  fail "E: stderr does not name the killed worker's reason: $(tail -c 600 "$work/E.err")"
! grep -q Traceback "$work/E.err" || fail "E: a traceback on stderr"
[ -z "$(pgrep -P "$gen" 2> /dev/null)" ] || fail "E: workers left running"
bounded 300 0 "resumed=1" "$work/E" -- "$noble" "${args[@]}" --out e.h5
$py "$src/tests/test_datagen_check.py" "$work/E/e.h5" 6 || fail "E: resumed dataset check"

echo "F. --threshold-offsets none: s_thr still defined"
mkdir -p "$work/F"
bounded 300 0 "" "$work/F" -- "$noble" datagen --cell "$bs.json" --models 2 --amplitudes -110,0,300 \
  --threshold-offsets none --seed 3 --jobs 2 --out f.h5
$py "$src/tests/test_datagen_check.py" "$work/F/f.h5" 2 || fail "F: dataset check (s_thr)"
$py - "$work/F/f.h5" << 'EOF' || fail "F: near-threshold steps stored with --threshold-offsets none"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1])
assert not f["traces/near_threshold"][:].any() and sorted(set(f["traces/amplitude"][:])) == [-110, 0, 300]
print("  F: s_thr", f["models/s_thr"][:], "with only the protocol steps stored")
EOF

echo "G. NEURON's hh at 34 degC"
mkdir -p "$work/G"
printf 'from neuron import h\nclass HH:\n    def __init__(self):\n        self.soma = h.Section(name="soma", cell=self)\n        self.soma.L = self.soma.diam = 20\n        self.soma.insert("hh")\n        self.all = [self.soma]\n' > "$work/G/hh.py"
printf '{"name": "hh34", "python": "hh.py", "class": "HH", "v_init": -65, "celsius": 34,\n "parameters": [{"name": "gnabar_hh@all", "value": 0.12, "sample": "lognormal", "sigma": 0.1}],\n "criteria": {"max_rate": {"range": [10, 1000], "unit": "Hz"}}}\n' > "$work/G/hh34.json"
bounded 120 1 "warning: the cell uses NEURON's hh \(soma\) at celsius = 34 degC.*fires no repetitive spikes above about 25 degC" \
  "$work/G" -- "$noble" datagen --cell hh34.json --models 1 --max-candidates 1 --amplitudes 0 --jobs 1 --out g.h5
grep -q "only 0 of 1 models passed the criteria after 1 candidates (--max-candidates 1); most common rejections: max_rate" "$work/err.txt" ||
  fail "G: hh at 34 degC should be rejected for max_rate: $(tail -c 300 "$work/err.txt")"
sed 's/"celsius": 34/"celsius": 6.3/; s/hh34/hh6/' "$work/G/hh34.json" > "$work/G/hh6.json"
bounded 120 0 "" "$work/G" -- "$noble" datagen --cell hh6.json --models 1 --amplitudes 0,100 --jobs 1 --out g6.h5
! grep -q "warning" "$work/err.txt" || fail "G: a warning at 6.3 degC"

echo "H. the example spec of docs/neuron-cell.md is valid"
$py - "$src" << 'EOF' || fail "H: the example spec in docs/neuron-cell.md"
import json, re, sys
sys.path.insert(0, sys.argv[1] + "/plugins/neuron")
import noble_datagen
blocks = re.findall(r"```json\n(.*?)```", open(sys.argv[1] + "/docs/neuron-cell.md").read(), re.S)
assert blocks, "no JSON example"
for b in blocks:
    noble_datagen.validate_spec(json.loads(b), "docs/neuron-cell.md")
print("  H: %d example spec(s) valid" % len(blocks))
EOF

[ $fails -eq 0 ] && echo "all datagen error checks passed"
exit $((fails > 0))
