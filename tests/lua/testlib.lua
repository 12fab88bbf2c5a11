-- What the Lua test scripts share: check, fails and finish. A script finds
-- this file next to itself:
--   package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
--   local T = require("testlib")
-- Every check prints "ok" or "FAIL" and its name; a failed one is counted
-- and the script goes on, so that one run shows every failure. finish(name)
-- raises an error (exit 1) when any check failed, else prints
-- "<name>: all checks passed", the line the shell wrappers look for.
local T = { failures = 0 }

function T.check(ok, what)
  print((ok and "ok   " or "FAIL ") .. what)
  if not ok then T.failures = T.failures + 1 end
  return ok
end

-- fn must raise an error whose message contains pattern (plain text).
function T.fails(fn, pattern, what)
  local ok, err = pcall(fn)
  if T.check(not ok, what .. " (should fail)") then
    T.check(tostring(err):find(pattern, 1, true) ~= nil,
      what .. ": message '" .. tostring(err) .. "' names '" .. pattern .. "'")
  end
end

function T.finish(name)
  if T.failures > 0 then error(T.failures .. " check(s) failed", 2) end
  print(name .. ": all checks passed")
end

return T
