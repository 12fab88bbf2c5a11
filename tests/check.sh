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
