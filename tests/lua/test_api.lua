-- The noble Lua module, with plain assertions (run by ctest through
-- `noble run`). Each check names what it proves.
local noble = require("noble")

package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local check, fails = T.check, T.fails

check(type(noble.version) == "string", "version")
local devs = noble.devices()
if os.getenv("NOBLE_TEST_NO_VULKAN") == "1" then
  check(#devs == 0, "no Vulkan devices in a build without Vulkan")
else
  check(#devs >= 1 and devs[1].name ~= nil, "devices listed")
end

-- tensors
local t = noble.tensor(2, 3)
check(#t == 6, "tensor length")
t:set(2, 3, 7.5)
check(t:get(2, 3) == 7.5 and t:get(6) == 7.5, "multi-index and flat index agree")
local s = t:shape()
check(s[1] == 2 and s[2] == 3, "shape")
local u = noble.tensor({1, 2, 3, 4, 5, 6}, {3, 2})
check(u:get(3, 1) == 5, "tensor from values and shape")
local lo, hi, mean = u:stats()
check(lo == 1 and hi == 6 and mean == 3.5, "stats")
fails(function() return t:get(3, 1) end, "index 1 = 3: expected an integer from 1 to 2", "index out of range")
local w = noble.tensor(3, 2)
w:copy_row(2, u, 3)
check(w:get(2, 1) == 5 and w:get(2, 2) == 6 and w:get(1, 1) == 0 and w:get(3, 2) == 0, "copy_row copies one row")
fails(function() return w:copy_row(1, t, 1) end, "rows of 2 and 3 values", "copy_row between rows of other sizes")
fails(function() return w:copy_row(4, u, 1) end, "r = 4: expected an integer from 1 to 3", "copy_row outside the rows")
w:close()
fails(function() return noble.tensor({1, 2, 3}, {2, 2}) end, "do not fill", "values that do not fill the shape")
t:close()
fails(function() return t:get(1) end, "closed", "a closed tensor")

-- features (the C implementation): a hand-made trace with two spikes
do
  local dt, n = 0.1, 3000 -- 300 ms
  local v = noble.tensor(n)
  for i = 1, n do v:set(i, -70) end
  for _, at in ipairs({1200, 1700}) do -- spikes peaking at 120 and 170 ms
    for k = -5, 5 do v:set(at + k, 30 - 18 * math.abs(k)) end
  end
  local f = noble.features(v, dt, 100, 250)
  check(f.Spikecount == 2, "two spikes counted, got " .. tostring(f.Spikecount))
  check(math.abs(f.time_to_first_spike - 19.9) < 0.3, "first spike 20 ms after the step, got " .. f.time_to_first_spike)
  check(math.abs(f.voltage_base + 70) < 1e-9, "voltage_base")
  fails(function() return noble.features(v, -1, 100, 250) end, "dt", "a negative dt")
end

-- a model: training lowers the loss; save and load give the same output
local N, B = 256, 4
local x, y = noble.tensor(B, 1, N), noble.tensor(B, 1, N)
for b = 1, B do
  for n = 1, N do
    x:set(b, 1, n, (n > 40 and n < 200) and 0.3 * b or 0)
    y:set(b, 1, n, 0.1 * b * math.sin(n / 30) + 0.05)
  end
end
do
  local m <close> = noble.model{preset = "small", length = N, max_batch = B, seed = 1}
  check(m:info().parameters == 4753, "small preset parameters")
  local first = m:loss(x, y)
  for _ = 1, 30 do m:train_step(x, y, {lr = 4e-3}) end
  local last = m:loss(x, y)
  check(last < 0.7 * first, string.format("training lowers the loss (%.3f -> %.3f)", first, last))
  local tmp = os.tmpname()
  m:save(tmp)
  local out = m:forward(x)
  local m2 <close> = noble.model{checkpoint = tmp, max_batch = B}
  local out2 = m2:forward(x)
  for i = 1, #out do check(out:get(i) == out2:get(i), "a reloaded model gives the same output") end
  check(m2:info().step == 30, "the step survives the checkpoint")
  os.remove(tmp)
  -- wrong shapes and batches are refused with the reason
  fails(function() return m:forward(noble.tensor(B, 2, N)) end, "must have shape (batch, 1, 256)", "wrong channels")
  fails(function() return m:forward(noble.tensor(B + 1, 1, N)) end, "at most 4", "batch over max_batch")
  local bad = noble.tensor(B, 1, N)
  bad:set(1, 1, 1, 0 / 0)
  fails(function() return m:train_step(bad, y) end, "not finite", "NaN input")
end
-- a checkpoint of another configuration, a missing file, an unknown preset
fails(function() return noble.model{checkpoint = "/nonexistent/ck.h5"} end, "cannot read checkpoint", "missing checkpoint")
fails(function() return noble.model{preset = "nope"} end, "unknown preset 'nope'", "unknown preset")

-- closing the context with a model open is refused; after, models fail clearly
local ctx = noble.device()
local m3 = noble.model{preset = "small", length = N, max_batch = 1, context = ctx}
fails(function() ctx:close() end, "open model", "closing a context under an open model")
m3:close()
fails(function() return m3:forward(noble.tensor(1, 1, N)) end, "closed", "a closed model")
ctx:close()
T.finish("lua api")
