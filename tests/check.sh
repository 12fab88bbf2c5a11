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
