#!/usr/bin/env bash
# The NobleCell mechanism (plugins/neuron/mod_noble, docs/plugin-abi.md
# "NEURON, from hoc"): installs libnoble into a scratch prefix, builds the
# mechanism with nrnivmodl against it, runs tests/neuron_mech.hoc in nrniv
# (four NobleCells of the shipped checkpoint driving NetCon.record vectors
# and, with a delay, ExpSyns on passive sections) under fixed step, CVode
# and two threads, and requires the spikes the ABI predicts (computed by
# tests/neuron_mech_spikes.c against the same installed library), bit for
# bit, and their arrival at the synapses (exact under CVode, at the next
# step under fixed step); then the errors: a step longer than the window,
# a step placed elsewhere, a missing checkpoint, none opened, an event sent
# to a NobleCell, vm outside the window. Also compiles the mod files' own
# code (VERBATIM) as C and as C++ (tests/neuron_mech_verbatim.py).
#   test_neuron_mech.sh SOURCE_DIR BUILD_DIR C_COMPILER SANITIZE(0|1)
# Exits 77 (skipped) without NEURON. In the sanitizer build nrniv runs with
# libasan preloaded (below).
set -u
src=$1 build=$2 cc=$3 sanitize=$4
. "$src/tests/check.sh"
python=/usr/bin/python3

for p in nrnivmodl nrniv; do
  if ! command -v $p > /dev/null; then
    echo "skip: $p not found: NEURON 8.2 is not installed (./install-deps.sh installs neuron, neuron-dev)"
    exit 77
  fi
done
# The sanitizer build: Debian's nrniv is not built with AddressSanitizer, and
# an ASan-built library cannot be loaded into it unless the runtime comes
# first (LD_PRELOAD); the mechanism is compiled with the sanitizers too. Leak
# detection is off in nrniv: it reports NEURON's own allocations (and those
# of the shells nrniv starts, which inherit LD_PRELOAD).
nrniv_env=(env)
san=""
if [ "$sanitize" = 1 ]; then
  libasan=$("$cc" -print-file-name=libasan.so)
  if [ ! -f "$libasan" ]; then
    echo "skip: sanitizer build, and no libasan.so from $cc to preload into nrniv (an ASan-built libnoble" \
      "cannot be loaded into Debian's nrniv without it)"
    exit 77
  fi
  san="-fsanitize=address,undefined -fno-omit-frame-pointer"
  export NOBLECELL_CFLAGS="$san" NOBLECELL_LDFLAGS="$san"
  nrniv_env=(env LD_PRELOAD="$libasan" ASAN_OPTIONS=detect_leaks=0)
  echo "sanitizer build: nrniv runs with LD_PRELOAD=$libasan ASAN_OPTIONS=detect_leaks=0"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p=$tmp/prefix
cmake --install "$build" --prefix "$p" > "$tmp/install.log" 2>&1
check "cmake --install to a scratch prefix" test $? -eq 0 || cat "$tmp/install.log"

# The mod files' code as C (NEURON 8.2) and as C++ (NEURON 9).
for f in noblecell noble; do
  "$python" "$src/tests/neuron_mech_verbatim.py" "$src/plugins/neuron/mod_noble/$f.mod" > "$tmp/v_$f.c"
  "$cc" -std=gnu17 -x c -fsyntax-only -Wall -Wextra -Werror -I"$p/include" "$tmp/v_$f.c" > "$tmp/cc.log" 2>&1
  check "$f.mod's VERBATIM code compiles as C" test $? -eq 0 || cat "$tmp/cc.log"
  if command -v g++ > /dev/null; then
    g++ -std=c++17 -x c++ -fsyntax-only -Wall -Wextra -Werror -I"$p/include" "$tmp/v_$f.c" > "$tmp/cc.log" 2>&1
    check "$f.mod's VERBATIM code compiles as C++ (NEURON 9)" test $? -eq 0 || cat "$tmp/cc.log"
  else
    echo "skip the C++ compile of $f.mod's code: no g++"
  fi
done

bash "$src/plugins/neuron/mod_noble/build_noblecell.sh" "$p" "$tmp/mech" > "$tmp/nrnivmodl.out" 2>&1
check "nrnivmodl builds the mechanism against the installed library" test $? -eq 0 || cat "$tmp/nrnivmodl.out"
lib=$tmp/mech/x86_64/.libs/libnrnmech.so
check "libnrnmech.so links libnoble.so.0 from the prefix" \
  sh -c "ldd '$lib' | grep -q 'libnoble.so.0 => $p/lib/libnoble.so.0'"

# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -O2 $san "$src/tests/neuron_mech_spikes.c" -o "$tmp/spikes" -I"$p/include" \
  -L"$p/lib" -lnoble -Wl,-rpath,"$p/lib" > "$tmp/cc.log" 2>&1
check "tests/neuron_mech_spikes.c builds against the installed library" test $? -eq 0 || cat "$tmp/cc.log"

# The checkpoint outside the source tree; the CPU backend, in nrniv and in
# the ABI's own run (the same bits need the same backend).
mkdir -p "$tmp/run"
cp "$src/models/pretrained/pvalb-reduced.h5" "$tmp/run/ckpt.h5"
cd "$tmp/run" || exit 1
export NOBLE_BACKEND=cpu
unset NOBLE_CHECKPOINT
nrn() { # hoc statements..., then a file: nrniv with the mechanism
  local a=()
  while [ $# -gt 1 ]; do a+=(-c "$1"); shift; done
  "${nrniv_env[@]}" nrniv -nobanner -dll "$lib" "${a[@]}" "$1" < /dev/null 2>&1 | grep -v "DISPLAY\|No graphics"
}

# The cells of tests/neuron_mech.hoc: start:amp:hof:I_thr:s_thr.
"$tmp/spikes" ckpt.h5 0:200:0:0:0 5:300:5:0:0 0:150:-1:55:0.84 0:-100:20:0:0 > expected.txt 2> spikes.err
check "the ABI predicts the four cells" test $? -eq 0 || cat spikes.err
sed 's/^/    expected: /' expected.txt | cut -c1-150
SECONDS=0
nrn 'strdef ckpt, out' 'ckpt = "ckpt.h5"' 'out = "got.txt"' "$src/tests/neuron_mech.hoc" > hoc.out
check "nrniv runs tests/neuron_mech.hoc (fixed step, CVode, two threads)" grep -q "neuron_mech.hoc: done" hoc.out \
  || cat hoc.out
echo "    ($SECONDS s)"
check "every NobleCell's nspike is its recorded count" sh -c "! grep -q '^nspike' got.txt"
check "cell 0 spikes, cell 3 (-100 pA) does not" \
  sh -c "test \"\$(sed -n 1p expected.txt | cut -d' ' -f1)\" -gt 0 && test \"\$(sed -n 4p expected.txt)\" = 0"
for method in fixed cvode threads2; do
  for i in 0 1 2 3; do
    want=$(sed -n "$((i + 1))p" expected.txt)
    got=$(awk -v m=$method -v c=$i '$1 == "spikes" && $2 == m && $3 == c { $1 = $2 = $3 = ""; print substr($0, 4) }' got.txt)
    check "$method, cell $i: the NetCon's events are the ABI's spike times, bit for bit ($(echo "$want" | cut -d' ' -f1) spikes)" \
      test "$got" = "$want"
    # Arrivals at the ExpSyn (NetCon delay 2 ms): the steps where g jumps.
    # CVode delivers at the event's time exactly (spike + delay, in doubles); the fixed step (dt 0.025 ms) by
    # the end of the step that holds it.
    got=$(awk -v m=$method -v c=$i '$1 == "arrivals" && $2 == m && $3 == c { $1 = $2 = $3 = ""; print substr($0, 4) }' got.txt)
    check "$method, cell $i: the spikes arrive at the synapse at spike + delay" \
      awk -v want="$want" -v got="$got" -v m=$method 'BEGIN {
        nw = split(want, w, " "); ng = split(got, g, " ")
        if (nw != ng) { print "    " ng - 1 " arrivals, " nw - 1 " spikes"; exit 1 }
        for (k = 2; k <= nw; ++k) {
          d = g[k] - (w[k] + 2)
          if (m == "cvode" ? d != 0 : (d < -1e-9 || d > 0.025 + 1e-9)) {
            printf "    arrival %.17g for spike %.17g\n", g[k], w[k]; exit 1 }
        }
      }'
  done
done

# Errors: the run stops, with the ABI's or the mechanism's message.
error_case() { # label, expected text, hoc statements (a script; "after" must not print)
  local label=$1 text=$2
  printf '%s\nprint "after"\n' "$3" > err.hoc
  nrn err.hoc > err.out
  stopped() { grep -qF -- "$text" err.out && ! grep -q '^after' err.out; }
  check "$label: stops with '$text'" stopped || sed 's/^/    /' err.out
  sed 's/^/    /' err.out | grep -F "nrniv:" | cut -c1-220
}
cells='load_file("stdrun.hoc")
objref c, nc, nil
c = new NobleCell()
c.amp_pA = 200
c.hof = 0
tstop = 20'
error_case "a step longer than the window" "does not fit NOBLE's window of 506.88 ms" \
  "open_noble(\"ckpt.h5\")
$cells
c.dur = 1000
run()"
error_case "a step placed elsewhere" "this checkpoint was trained on steps from 15 to 415 ms" \
  "open_noble(\"ckpt.h5\")
$cells
c.del = 35
run()"
error_case "a missing checkpoint" "open_noble: cannot read checkpoint /nonexistent/ckpt.h5" \
  'open_noble("/nonexistent/ckpt.h5")'
error_case "no checkpoint opened" "no NOBLE checkpoint is open" \
  "$cells
run()"
NOBLE_CHECKPOINT=/nonexistent/env.h5 error_case "a missing NOBLE_CHECKPOINT" \
  "NobleCell: cannot read checkpoint /nonexistent/env.h5" "$cells
run()"
error_case "an event sent to a NobleCell" "NOBLE is open-loop" \
  "open_noble(\"ckpt.h5\")
$cells
objref s, snc
s = new NetStim()
s.start = 5
s.number = 1
snc = new NetCon(s, c)
run()"
# The same on two threads: on a worker thread no hoc error can be raised
# (NEURON 8 would wait for ever), so the message is printed and the run
# stopped at that step; on the main thread it is the hoc error. Not a hang.
cat > thread_input.hoc <<'HOC'
load_file("stdrun.hoc")
open_noble("ckpt.h5")
objref c[4], pc, s, snc
for i = 0, 3 { c[i] = new NobleCell()  c[i].hof = i  c[i].amp_pA = 200 }
s = new NetStim()
s.start = 5
s.number = 1
snc = new NetCon(s, c[3])
pc = new ParallelContext()
pc.nthread(2)
tstop = 30
run()
printf("after t = %g\n", t)
HOC
timeout 120 "${nrniv_env[@]}" nrniv -nobanner -dll "$lib" thread_input.hoc < /dev/null > thread_input.out 2>&1
rc=$?
input_stopped() {
  grep -q "NOBLE is open-loop" thread_input.out && test $rc -ne 124 \
    && { ! grep -q "^after" thread_input.out || grep -q "^after t = [67][.0-9]*$" thread_input.out; }
}
check "an event sent to a NobleCell on a second thread: the message, the run stopped at 6 ms, no hang" \
  input_stopped || sed 's/^/    /' thread_input.out
grep "NOBLE is open-loop" thread_input.out | sed 's/^/    /' | cut -c1-60,260-400
error_case "a HoF index out of range" "hof = 45: expected -1" \
  "open_noble(\"ckpt.h5\")
$cells
c.hof = 45
run()"
error_case "vm after the window" "outside NOBLE's window" \
  "open_noble(\"ckpt.h5\")
$cells
run()
print c.vm(600)"

# After an error, the next initialization starts afresh: a cell whose
# INITIAL failed drops the cells registered before it (here one whose step
# the prediction would refuse), and a failed prediction leaves no voltage.
printf '%s\n%s\n' 'open_noble("ckpt.h5")' "$cells" > retry.hoc
cat >> retry.hoc <<'HOC'
objref d
d = new NobleCell()
d.amp_pA = 200
c.dur = 1000
d.hof = 99
e1 = execute1("run()")
c.dur = -1
d.hof = 1
run()
n1 = c.nspike
c.dur = 1000
e2 = execute1("run()")
e3 = execute1("print c.vm(100)")
c.dur = -1
run()
printf("retry %d %d %d %d %d %d\n", e1, e2, e3, n1, c.nspike, d.nspike)
HOC
nrn retry.hoc > retry.out
n0=$(sed -n 1p expected.txt | cut -d' ' -f1)
check "after errors at INITIAL and at the prediction, a fixed model runs" \
  grep -q "^retry 0 0 0 $n0 $n0 [1-9]" retry.out || sed 's/^/    /' retry.out
check "... the errors were hof's, dur's, and vm's after the failed prediction" \
  test "$(grep -c "hof = 99: expected\|from 15 to 1015 ms does not fit" retry.out)" = 3

# NOBLE_CHECKPOINT instead of open_noble, and the info functions.
printf '%s\nrun()\nprintf("nspike %%d window %%g step %%g %%g hof %%d dt %%g v %%g\\n", c.nspike, window_noble(), step_start_noble(), step_duration_noble(), hof_models_noble(), sample_dt_noble(), c.vm(14.4))\n' "$cells" > env.hoc
NOBLE_CHECKPOINT=ckpt.h5 nrn env.hoc > env.out
check "NOBLE_CHECKPOINT opens the model; the window's numbers" \
  grep -q "nspike $(sed -n 1p expected.txt | cut -d' ' -f1) window 506.88 step 15 400 hof 45 dt 0.12 v -" env.out \
  || sed 's/^/    /' env.out
finish
