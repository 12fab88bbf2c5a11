-- noble.progress: progress lines on stderr. On a terminal one line is
-- redrawn in place; into a file or pipe, a line at most every 30 s (and the
-- final one), so logs stay readable.
local noble = require("noble")

local progress = {}

-- Returns show(text, final): final ends the line (on a terminal) and is
-- always written.
function progress.writer(enabled)
  local tty = noble.isatty(2)
  local last = -math.huge
  return function(text, final)
    if not enabled then return end
    if tty then
      io.stderr:write("\r\27[K", text, final and "\n" or "")
    else
      local now = noble.now()
      if not (final or now - last >= 30000) then return end
      io.stderr:write(text, "\n")
      last = now
    end
    io.stderr:flush()
  end
end

-- Returns count(done, total): "LABEL done/total traces, rate, ETA"; the
-- clock starts at the first call, which may be count(0, total).
function progress.counter(label, enabled)
  local show = progress.writer(enabled)
  local t0
  return function(done, total)
    t0 = t0 or noble.now()
    if done == 0 then return end
    local rate = done / math.max((noble.now() - t0) / 1000, 1e-9)
    show(string.format("%s %d/%d traces, %.1f traces/s, ETA %.0f s", label, done, total, rate,
      (total - done) / rate), done == total)
  end
end

return progress
