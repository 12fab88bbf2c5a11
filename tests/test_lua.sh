#!/usr/bin/env bash
# `noble run`: the Lua API's own assertions (tests/lua/test_api.lua), and a
# script error reported with its traceback and the underlying message.
set -u
noble=$1
dir=$2
. "$(dirname "$0")/check.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$noble" run "$dir/lua/test_api.lua" > "$tmp/api.out" 2>&1
rc=$?
cat "$tmp/api.out"
check "the Lua API checks pass" test $rc -eq 0
check "... to the end" grep -q "lua api: all checks passed" "$tmp/api.out"

cat > "$tmp/bad.lua" <<'LUA'
local noble = require("noble")
local function inner() return noble.model{preset = "small", length = 8583} end
inner()
LUA
"$noble" run "$tmp/bad.lua" > "$tmp/bad.out" 2> "$tmp/bad.err"
check "a failing script exits 1" test $? -eq 1
check "... with the library's message" grep -q "length 8583 is not one the FFT computes exactly; the nearest that is: 8580" "$tmp/bad.err"
check "... and a traceback through the script" grep -q "bad.lua:2: in" "$tmp/bad.err"
printf 'this is not lua(\n' > "$tmp/syntax.lua"
"$noble" run "$tmp/syntax.lua" 2> "$tmp/syn.err"
check "a syntax error names file and line" grep -q "syntax.lua:1:" "$tmp/syn.err"
"$noble" run "$tmp/missing.lua" 2> "$tmp/miss.err"
check "a missing script is named" grep -q "cannot open $tmp/missing.lua" "$tmp/miss.err"
finish
