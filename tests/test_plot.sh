#!/usr/bin/env bash
# noble.plot: the checks of tests/lua/test_plot.lua (PNGs drawn, bad specs
# refused, nothing left behind), and PLplot kept quiet throughout.
set -u
noble=$1
dir=$2
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$noble" run "$dir/lua/test_plot.lua" "$tmp" > "$tmp/plot.out" 2>&1
rc=$?
cat "$tmp/plot.out"
check "the plot checks pass" test $rc -eq 0
check "... to the end" grep -q "lua plot: all checks passed" "$tmp/plot.out"
check "PLplot printed nothing" test "$(grep -v '^plot: \|^lua plot: \|^ok   ' "$tmp/plot.out" | wc -l)" -eq 0
check "the PNGs are there" test -s "$tmp/grid.png" -a -s "$tmp/speed.png"
finish
