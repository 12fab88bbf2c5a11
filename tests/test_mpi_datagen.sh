#!/usr/bin/env bash
# noble datagen across MPI ranks (docs/mpi.md) against one process: a small
# PVALB ensemble (3 models, 2 amplitudes + 2 offsets, a resting potential range
# that rejects most candidates) without mpirun, under mpirun -np 2 and
# -np 1; every dataset identical bit for bit (tests/mpi_compare.py) but the
# measured NEURON wall times (traces/neuron_wall_s) and the root attributes
# created and ranks (2, 1); no shard left; printed once. Then resume per rank:
# a -np 2 run killed once both ranks saved a candidate is refused by one
# process and by -np 3 (its shards left as they were), then resumed at -np 2
# to the same dataset. A rank whose generator is killed ends the job.
# usage: test_mpi_datagen.sh NOBLE_EXE TESTS_DIR MPIEXEC
set -u
noble=$(realpath "$1")
dir=$(realpath "$2")
mpiexec=$3
. "$dir/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
mpi_init "$mpiexec"
cmp() { /usr/bin/python3 "$dir/mpi_compare.py" "$@" --ignore traces/neuron_wall_s --ignore created; }

# PVALB with a narrower resting potential, so that most candidates are rejected, after one
# simulation each (7 of 10 at seed 7)
/usr/bin/python3 - "$dir/../plugins/neuron/cells/pvalb.json" > tight.json << 'PYEOF'
import json, os, sys
spec = json.load(open(sys.argv[1]))
spec["python"] = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), spec["python"])
spec["criteria"]["v_rest"]["range"] = [-80, -73]
json.dump(spec, sys.stdout)
PYEOF
args=(datagen --cell "$tmp/tight.json" --models 3 --amplitudes -110,150 --threshold-offsets 0,25 --seed 7)
t0=$(date +%s)
"$noble" "${args[@]}" --jobs 2 --out one.h5 > one.out 2> one.err
check "one process" test $? -eq 0 -a -s one.h5 || cat one.err
t1=$(date +%s)
mpi 2 "$noble" "${args[@]}" --jobs 1 --out two.h5 > two.out 2> two.err
rc=$?
check "mpirun -np 2 (exit $rc)" test $rc -eq 0 -a -s two.h5 || cat two.err
t2=$(date +%s)
echo "one process (2 workers): $((t1 - t0)) s; 2 ranks (1 worker each): $((t2 - t1)) s"
cmp one.h5 1 two.h5 2
check "-np 2: every dataset identical to one process's" test $? -eq 0
check "... some candidates were rejected ($(cat one.out))" grep -qv " 0 rejected" one.out
check "... printed once" test "$(grep -c '^wrote' two.out)" -eq 1
check "... the info line says ranks=2" grep -q "ranks=2" two.err
check "... no shard or temporary left" test -z "$(ls | grep -e partial -e '\.tmp')"
mpi 1 "$noble" "${args[@]}" --jobs 2 --out n1.h5 > n1.out 2> n1.err
check "mpirun -np 1" test $? -eq 0 -a -s n1.h5 || cat n1.err
cmp one.h5 1 n1.h5 1
check "-np 1: identical to no mpirun" test $? -eq 0
/usr/bin/python3 -c "
import shutil, sys, h5py
shutil.copy('one.h5', 'other.h5')
with h5py.File('other.h5', 'r+') as f:
    f['traces/voltage'][3, 100] += 1e-3
"
cmp one.h5 1 other.h5 1 > /dev/null
check "the comparison fails on a voltage changed by 1e-3 mV" test $? -ne 0 -a -s other.h5

# resume per rank: killed once both ranks saved a candidate
setsid "$mpiexec" "${mpi_flags[@]}" -np 2 "$noble" "${args[@]}" --jobs 1 --out res.h5 > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
  a=$(ls res.h5.rank-0-of-2.partial 2>/dev/null | grep -c '^cand_')
  b=$(ls res.h5.rank-1-of-2.partial 2>/dev/null | grep -c '^cand_')
  [ "$a" -ge 1 ] && [ "$b" -ge 1 ] && break
  sleep 0.1
done
kill -KILL -- -"$pid" 2> /dev/null
wait "$pid" 2> /dev/null
sleep 1 # the generators end with their ranks (SIGTERM), their workers with them
check "a killed run left no dataset" test ! -e res.h5
check "... and a shard per rank, marked UNFINISHED" \
  test -e res.h5.rank-0-of-2.partial/UNFINISHED -a -e res.h5.rank-1-of-2.partial/UNFINISHED
saved=$(ls res.h5.rank-*-of-2.partial | grep -c '^cand_')
listing=$(ls -R res.h5.rank-*)
expect 1 "unfinished run across 2 MPI ranks" -- "$noble" "${args[@]}" --out res.h5
expect 1 "this run has 3" -- mpi 3 "$noble" "${args[@]}" --out res.h5
check "... the shards left as they were" test "$(ls -R res.h5.rank-*)" = "$listing"
mpi 2 "$noble" "${args[@]}" --jobs 1 --out res.h5 > res.out 2> res.err
check "resumed at -np 2" test $? -eq 0 -a -s res.h5 || cat res.err
check "... said resumed=1" grep -q "resumed=1" res.err
cmp one.h5 1 res.h5 2
check "... identical to one process's ($saved candidates saved before the kill)" test $? -eq 0
check "... no shard left" test -z "$(ls | grep partial)"

# a generator that dies on one rank ends the job with a message, not a hang
setsid "$mpiexec" "${mpi_flags[@]}" -np 2 "$noble" "${args[@]}" --jobs 1 --out die.h5 > die.out 2>&1 &
pid=$!
victim=
for _ in $(seq 1 1200); do
  for p in $(pgrep -f "noble_datagen.py .*--out=die.h5 .*--rank 1 --ranks 2"); do
    # this test's rank 1 generator (its parent is noble; its NEURON workers' is the generator)
    [ "$(readlink "/proc/$p/cwd")" = "$tmp" ] && [ "$(cat "/proc/$(ps -o ppid= -p "$p" | tr -d ' ')/comm")" = noble ] \
      && victim=$p
  done
  [ -n "$victim" ] && [ -e die.h5.rank-1-of-2.partial ] && break
  sleep 0.1
done
[ -n "$victim" ] && kill -KILL "$victim"
timeout 120 tail --pid="$pid" -f /dev/null
wait "$pid"
rc=$?
check "a rank whose generator dies ends the job (exit $rc)" test -n "$victim" -a $rc -ne 0
check "... with its message" grep -q "the generator was killed (signal 9)" die.out
check "... and aborts all ranks" grep -q "rank 1 of 2 failed" die.out || cat die.out
kill -KILL -- -"$pid" 2> /dev/null
finish
