#!/usr/bin/env bash
# A NOBLE_VULKAN=OFF build: the CPU backend by default, and a clear error
# wherever Vulkan is asked for. Usage: test_no_vulkan.sh path/to/noble
set -u
NOBLE=$1
fails=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
msg="this noble was built without Vulkan (NOBLE_VULKAN=OFF)"

out=$(env -u NOBLE_BACKEND "$NOBLE" devices 2>&1); rc=$?
[ $rc -eq 0 ] && ok "devices exits 0" || bad "devices exits 0 (got $rc): $out"
grep -qF "no Vulkan: $msg" <<<"$out" && ok "devices says Vulkan was not built in" || bad "devices says Vulkan was not built in: $out"
grep -q "^\* cpu" <<<"$out" && ok "devices marks the CPU backend in use" || bad "devices marks the CPU backend: $out"
grep -q "backend cpu" <<<"$out" && ok "... and names it" || bad "... and names it: $out"

out=$(env -u NOBLE_BACKEND "$NOBLE" selfcheck 2>&1); rc=$?
[ $rc -eq 0 ] && ok "selfcheck passes on the CPU backend (auto)" || bad "selfcheck (auto) exits $rc: $out"

out=$(NOBLE_BACKEND=vulkan "$NOBLE" selfcheck 2>&1); rc=$?
[ $rc -eq 1 ] && grep -qF "$msg" <<<"$out" && ok "NOBLE_BACKEND=vulkan is refused with the reason" ||
  bad "NOBLE_BACKEND=vulkan: exit $rc: $out"

out=$("$NOBLE" run <(echo 'local noble = require("noble")
local ok, err = pcall(noble.device, {backend = "vulkan"})
assert(not ok and tostring(err):find("built without Vulkan", 1, true), tostring(err))
assert(#noble.devices() == 0)
print("lua ok")') 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "lua ok" <<<"$out" && ok "noble.device{backend = \"vulkan\"} is refused, noble.devices() is empty" ||
  bad "Lua: exit $rc: $out"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
