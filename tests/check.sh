# Sourced by the shell tests: check "what" command... runs the command and
# prints ok/FAIL; finish prints the count and exits with the status.
fails=0
check() {
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
finish() {
  echo "$fails failure(s)"
  exit $((fails > 0))
}
# expect STATUS TEXT -- command...: the command exits with STATUS and its
# stderr holds TEXT (needs $tmp, a scratch folder).
expect() {
  local want=$1 text=$2; shift 3
  "$@" > "$tmp/out" 2> "$tmp/err"
  local got=$?
  check "exit $want and '$text': $*" test $got -eq "$want"
  grep -qF -- "$text" "$tmp/err" || { echo "  stderr was:"; sed 's/^/    /' "$tmp/err"; check "... message" false; }
}

# MPI tests: mpi_init MPIEXEC sets mpi_flags (Open MPI: --oversubscribe for more
# ranks than cores, and --allow-run-as-root as root); mpi N CMD... runs CMD on N
# ranks under a 300-s limit.
mpi_init() {
  mpiexec=$1
  mpi_flags=()
  if "$mpiexec" --version 2>&1 | grep -qE "Open MPI|OpenRTE"; then
    mpi_flags+=(--oversubscribe)
    [ "$(id -u)" = 0 ] && mpi_flags+=(--allow-run-as-root)
  fi
}
mpi() { local n=$1; shift; timeout 300 "$mpiexec" "${mpi_flags[@]}" -np "$n" "$@"; }
