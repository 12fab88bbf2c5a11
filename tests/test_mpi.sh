#!/usr/bin/env bash
# noble population, noble eval or noble train (the last argument) across MPI
# ranks against one process (docs/mpi.md). Train: 3 epochs of a tiny network
# at -np 2 and 3 within 1e-5 of one process (tests/mpi_train_compare.py), -np 1
# bit for bit, a resume at 2 ranks bit for bit, another rank count refused,
# the sag term. Population and eval: a tiny checkpoint trained on the mini
# dataset, then the command without mpirun, under mpirun -np 2 and -np 1;
# every dataset of the population file identical bit for bit
# (tests/mpi_compare.py), the root attribute ranks, no shard left; eval's
# report.json identical but for wall_s, ranks and the plots' paths; the
# comparison fails on a population that differs; a rank that fails ends the
# job with a message instead of hanging.
set -u
noble=$(realpath "$1")
dir=$(realpath "$2")
mini=$(realpath "$3")
mpiexec=$4
what=$5
. "$dir/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
mpi_init "$mpiexec"

"$noble" train --dataset "$mini" --out run --width 8 --blocks 2 --modes 16 --lifting-channels 16 \
  --projection-channels 32 --mlp-channels 4 --stride 4 --batch 8 --epochs 1 --progress false > train.out 2>&1
check "a tiny checkpoint" test -s run/best.h5 || { cat train.out; finish; }
ck=run/best.h5

if [ "$what" = train ]; then
  # data-parallel training against one process: 3 epochs of the tiny network
  # (batches of 8 over 32 training traces: 4 steps an epoch, each split 4 + 4
  # at 2 ranks, 3 + 2 + 3 at 3)
  targs=(train --dataset "$mini" --width 8 --blocks 2 --modes 16 --lifting-channels 16 --projection-channels 32
         --mlp-channels 4 --stride 4 --batch 8 --progress false)
  cmp() { /usr/bin/python3 "$dir/mpi_train_compare.py" "$@"; }
  "$noble" "${targs[@]}" --epochs 3 --out t1 > t1.out 2>&1
  check "train: one process" test $? -eq 0 -a -s t1/last.h5
  mpi 2 "$noble" "${targs[@]}" --epochs 3 --out t2 > t2.out 2>&1
  rc=$?
  check "train: mpirun -np 2 (exit $rc)" test $rc -eq 0 -a -s t2/last.h5
  [ $rc -eq 0 ] || cat t2.out
  cmp t1 t2 close --rtol 1e-5 --ptol 1e-5
  check "train: -np 2 within 1e-5 of one process (losses, val L4, parameters, moments)" test $? -eq 0
  cmp t1 t2 equal > /dev/null
  check "train: ... and not bit for bit (the comparison sees the split)" test $? -ne 0
  check "train: one log line per epoch, written once, ranks = 2" test "$(grep -c '"ranks":2' t2/log.jsonl)" -eq 3
  check "train: only rank 0 printed the summary" test "$(grep -c 'train: done' t2.out)" -eq 1
  mpi 3 "$noble" "${targs[@]}" --epochs 3 --out t3 > t3.out 2>&1
  check "train: mpirun -np 3 (uneven shares)" test $? -eq 0 -a -s t3/last.h5
  cmp t1 t3 close --rtol 1e-5 --ptol 1e-5
  check "train: -np 3 within 1e-5 of one process" test $? -eq 0
  mpi 1 "$noble" "${targs[@]}" --epochs 3 --out tn1 > tn1.out 2>&1
  check "train: mpirun -np 1" test $? -eq 0 -a -s tn1/last.h5
  cmp t1 tn1 equal
  check "train: -np 1 identical bit for bit to no mpirun" test $? -eq 0
  # resume at 2 ranks: stopped after epoch 2, resumed to 3 = the unbroken run
  mpi 2 "$noble" "${targs[@]}" --epochs 2 --out tr > tr1.out 2>&1
  mpi 2 "$noble" "${targs[@]}" --epochs 3 --out tr > tr2.out 2>&1
  check "train: -np 2 resumed after epoch 2" grep -q "resuming tr/last.h5 after epoch 2" tr2.out
  cmp t2 tr equal
  check "train: ... identical bit for bit to the unbroken -np 2 run" test $? -eq 0
  # another rank count refuses to resume, and leaves the run as it was
  cp -r t2 tx
  mpi 3 "$noble" "${targs[@]}" --epochs 4 --out tx > tx.out 2>&1
  check "train: resume at -np 3 of a -np 2 run refused" test $? -ne 0
  check "... with a message naming both rank counts" grep -q "trained across 2 MPI rank(s), this run has 3" tx.out
  "$noble" "${targs[@]}" --epochs 4 --out tx > tx1.out 2>&1
  check "... and in one process too" grep -q "trained across 2 MPI rank(s), this run has 1" tx1.out
  cmp t2 tx equal > /dev/null
  check "... the run left as it was" test $? -eq 0
  # the sag term (its denominator is a sum over the whole batch)
  "$noble" "${targs[@]}" --epochs 2 --sag-lambda 25 --out s1 > s1.out 2>&1
  mpi 2 "$noble" "${targs[@]}" --epochs 2 --sag-lambda 25 --out s2 > s2.out 2>&1
  check "train: --sag-lambda 25 at -np 2" test $? -eq 0 -a -s s2/last.h5
  cmp s1 s2 close --rtol 1e-5 --ptol 1e-4
  check "train: ... within 1e-5 (losses) and 1e-4 (parameters) of one process" test $? -eq 0
  # the comparison fails on a run that differs (another seed)
  "$noble" "${targs[@]}" --epochs 3 --seed 1 --out ts > ts.out 2>&1
  cmp t1 ts close > /dev/null
  check "train: the comparison fails on another seed" test $? -ne 0 -a -s ts/last.h5
  finish
fi

if [ "$what" = population ]; then
  args=(population --checkpoint "$ck" --stimuli -110,50,150,270 --sample 13 --seed 5 --batch 8 --traces true
        --dataset "$mini" --progress false)
  "$noble" "${args[@]}" --out one.h5 > one.out 2>&1
  check "one process" test $? -eq 0 -a -s one.h5
  mpi 2 "$noble" "${args[@]}" --out np2.h5 > np2.out 2>&1
  rc=$?
  check "mpirun -np 2 (exit $rc)" test $rc -eq 0 -a -s np2.h5
  [ $rc -eq 0 ] || cat np2.out
  mpi 1 "$noble" "${args[@]}" --out np1.h5 > np1.out 2>&1
  check "mpirun -np 1" test -s np1.h5
  [ -s np1.h5 ] || cat np1.out
  /usr/bin/python3 "$dir/mpi_compare.py" one.h5 1 np2.h5 2
  check "-np 2: every dataset identical to one process, ranks = 2" test $? -eq 0
  /usr/bin/python3 "$dir/mpi_compare.py" one.h5 1 np1.h5 1
  check "-np 1: identical to no mpirun, ranks = 1" test $? -eq 0
  check "no shard or temporary file left" test -z "$(ls | grep -E '\.part|\.tmp')"
  other=("${args[@]}")
  other[8]=6 # --seed 5 -> 6
  "$noble" "${other[@]}" --out other.h5 > other.out 2>&1
  /usr/bin/python3 "$dir/mpi_compare.py" one.h5 1 other.h5 1 > cmp.out
  check "the comparison fails on another population" test $? -ne 0 -a -s other.h5
  /usr/bin/python3 - one.json np2.json <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["ranks"] == 1 and b["ranks"] == 2, (a["ranks"], b["ranks"])
for r in (a, b):
    for k in ("wall_s", "traces_per_s", "ranks", "join_s", "population", "report"):
        r.pop(k, None)
assert a == b, "the reports differ"
PY
  check "the reports agree (ranks 1 and 2)" test $? -eq 0
else
  args=(eval --checkpoint "$ck" --batch 3 --progress false)
  "$noble" "${args[@]}" --out one > one.out 2>&1
  check "one process" test $? -eq 0 -a -s one/report.json
  mpi 2 "$noble" "${args[@]}" --out np2 > np2.out 2>&1
  check "mpirun -np 2" test $? -eq 0 -a -s np2/report.json -a -s np2/fi.png
  [ -s np2/report.json ] || cat np2.out
  mpi 1 "$noble" "${args[@]}" --out np1 > np1.out 2>&1
  check "mpirun -np 1" test $? -eq 0 -a -s np1/report.json
  [ -s np1/report.json ] || cat np1.out
  for n in 2 1; do
    /usr/bin/python3 - one/report.json np$n/report.json $n <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["ranks"] == 1 and b["ranks"] == int(sys.argv[3]), (a["ranks"], b["ranks"])
for r in (a, b):
    for k in ("wall_s", "ranks", "plots", "path"):
        r.pop(k, None)
assert a["splits"], "no split evaluated"
assert a == b, "the reports differ"
PY
    check "-np $n: report.json identical to one process's" test $? -eq 0
  done
  check "only rank 0 printed the report" test "$(grep -c 'eval: report' np2.out)" -eq 1
fi

# a rank that fails ends the job (MPI_Abort), it does not hang
cat > fail.lua <<'LUA'
local noble = require("noble")
if noble.mpi.rank() == 1 then error("rank 1 fails on purpose") end
noble.mpi.barrier()
LUA
mpi 2 "$noble" run fail.lua > fail.out 2>&1
rc=$?
check "a failing rank ends the job (exit $rc, not a timeout)" test $rc -ne 0 -a $rc -ne 124
check "... with the rank's message" grep -q "rank 1 fails on purpose" fail.out
check "... and says it aborts all ranks" grep -q "rank 1 of 2 failed" fail.out || cat fail.out
finish
