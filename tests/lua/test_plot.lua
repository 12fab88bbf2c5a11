-- noble.plot with plain assertions (run by tests/test_plot.sh through
-- `noble run test_plot.lua DIR`; it writes into DIR). Each check names what
-- it proves.
local noble = require("noble")
local dir = assert(arg[1], "usage: noble run test_plot.lua DIR")

package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local check, fails = T.check, T.fails

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- The PNG signature and the IHDR's size: a file this test did not just guess at.
local function png_size(path)
  local s = read(path)
  check(s, path .. " was written")
  check(s:sub(1, 8) == "\137PNG\r\n\26\n", path .. " starts with the PNG signature")
  check(s:sub(13, 16) == "IHDR", path .. " has its IHDR first")
  return string.unpack(">I4>I4", s, 17)
end

local function listing(d)
  local p = assert(io.popen('ls -A "' .. d .. '"'))
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return names
end

-- Three voltage-like traces of 8580 samples, one point not finite.
local n = 8580
local t, a, b, c = {}, {}, {}, {}
for i = 1, n do
  local x = (i - 1) * 0.06
  t[i] = x
  a[i] = -65 + 90 * math.exp(-((x % 50) - 10) ^ 2 / 4)
  b[i] = a[i] + 3 * math.sin(x)
  c[i] = -70 + 10 * math.sin(x / 20)
end
b[4000] = 0 / 0

-- speed: 1000 x 700, three series of 8580 points
do
  local path = dir .. "/speed.png"
  local clock = os.clock()
  local r = noble.plot{path = path, title = "NOBLE vs NEURON", panels = {{
    title = "trace 17", xlabel = "t (ms)", ylabel = "V (mV)", ylim = {-90, 40},
    series = {{x = t, y = a, label = "NEURON"}, {x = t, y = b, label = "NOBLE", color = "#d62728"},
              {x = t, y = c, label = "rest", color = 3}}}}}
  local took = os.clock() - clock
  check(r == path, "plot returns the path")
  local w, h = png_size(path)
  check(w == 1000 and h == 700, "default size 1000 x 700, got " .. w .. " x " .. h)
  check(took < 1.0, string.format("3 x 8580 points in well under a second, took %.3f s", took))
  print(string.format("plot: 1000 x 700, 3 x 8580 points: %.3f s", took))
end

-- a 2 x 2 grid: lines (one from a tensor), points, histograms, a log axis
do
  local tt = noble.tensor(b, {1, 1, n}) -- rank 3, flattened
  local vals = {}
  for i = 1, 3000 do vals[i] = math.sin(i * 12.9898) * 43758.5453 % 1 + math.sin(i * 78.233) % 1 end
  local path = dir .. "/grid.png"
  noble.plot{path = path, width = 1200, height = 800, title = "grid #1", rows = 2, cols = 2, panels = {
    {title = "lines", xlabel = "t (ms)", ylabel = "V (mV)",
     series = {{x = t, y = a, label = "list"}, {x = t, y = tt, label = "tensor", width = 1}}},
    {title = "points", xlabel = "x", ylabel = "y",
     series = {{x = {1, 2, 3, 4, 5}, y = {0.001, 0.002, 0.0015, 0.004, 0.003}, style = "linepoints", label = "linepoints"},
               {x = {1, 2, 3, 4, 5}, y = {0.003, 0.001, 0.002, 0.001, 0.0045}, style = "points", label = "points", width = 3}}},
    {title = "histograms", xlabel = "value", ylabel = "count",
     hist = {{values = vals, bins = 30, label = "uniform sum"}, {values = {0.5, 0.6, 1, 1.1, 1.2}, bins = 10, label = "few", color = "#000"}}},
    {title = "log axis", xlabel = "epoch", ylabel = "loss", logy = true, legend = "bottom left",
     series = {{y = {1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.012, 0.008, 0.005}, label = "train", style = "linepoints"},
               {y = {1.2, 0.7, 0.4, 0.3, 0.25, 0.22, 0.21, 0.2, 0.2}, label = "validation"}}},
  }}
  local w, h = png_size(path)
  check(w == 1200 and h == 800, "2 x 2 grid is 1200 x 800, got " .. w .. " x " .. h)
  tt:close()
  fails(function() noble.plot{path = dir .. "/closed.png", panels = {{series = {{y = tt}}}}} end,
        "closed", "a closed tensor")
end

-- what the data may hold: NaN, infinities, far-out values, non-positive values on a log axis, one point
do
  local path = dir .. "/odd.png"
  noble.plot{path = path, width = 640, height = 480, panels = {
    {ylim = {-1, 1}, series = {{y = {0, 0.5, 0 / 0, 1e300, -1e300, 1 / 0, -1 / 0, 0.2, 0.1}, style = "linepoints"}}},
    {logx = true, logy = true, series = {{x = {-1, 0, 1, 10, 100}, y = {1, 2, -3, 4, 5}}}},
    {series = {{y = {42}}}, hist = {values = {0 / 0, 3, 3, 3}}},
  }}
  local w, h = png_size(path)
  check(w == 640 and h == 480, "non-finite values are tolerated")
  noble.plot{path = dir .. "/nan.png", width = 200, height = 150, panels = {{series = {{y = {0 / 0, 0 / 0}}}}}}
  check(png_size(dir .. "/nan.png") == 200, "a series with no finite value still plots")
end

-- calls are independent: more calls than PLplot has streams
for i = 1, 110 do
  noble.plot{path = dir .. "/many.png", width = 160, height = 120, panels = {{series = {{y = {1, i % 3, 2}}}}}}
end
check(png_size(dir .. "/many.png") == 160, "110 plots in a row, each replacing the file")

-- bad specs: each names the problem, and writes nothing
local ok = {y = {1, 2}}
local function plot(spec) return function() return noble.plot(spec) end end
fails(plot{panels = {{series = {ok}}}}, "path", "a missing path")
fails(plot{path = dir .. "/bad.png"}, "no panels", "no panels")
fails(plot{path = dir .. "/bad.png", panels = {}}, "no panels", "an empty panel list")
fails(plot{path = dir .. "/bad.png", panels = {{title = "empty"}}}, "nothing to draw", "a panel with nothing to draw")
fails(plot{path = dir .. "/bad.png", panels = {{series = {ok, {x = {1, 2, 3}, y = {1, 2}}}}}},
      "panel 1: series 2: x has 3 values, y has 2", "x and y of different lengths")
fails(plot{path = dir .. "/bad.png", panels = {{series = {{x = {}, y = {}}}}}}, "empty series", "an empty series")
fails(plot{path = dir .. "/bad.png", panels = {{series = {{y = {1, "a"}}}}}}, "y[2] is string, not a number",
      "a value that is not a number")
fails(plot{path = dir .. "/bad.png", panels = {{series = {{y = {1, 2}, color = "blue"}}}}}, "bad color 'blue'",
      "a color name")
fails(plot{path = dir .. "/bad.png", panels = {{series = {{y = {1, 2}, color = "#12345g"}}}}}, "bad color",
      "a color with a bad digit")
fails(plot{path = dir .. "/bad.png", panels = {{series = {{y = {1, 2}, color = 11}}}}}, "palette index",
      "a palette index out of range")
fails(plot{path = dir .. "/bad.png", panels = {{series = {{y = {1, 2}, style = "dots"}}}}}, "unknown style 'dots'",
      "an unknown style")
fails(plot{path = dir .. "/bad.png", panels = {{hist = {values = {}}}}}, "empty histogram", "an empty histogram")
fails(plot{path = dir .. "/bad.png", panels = {{hist = {values = {1}, bins = 0}}}}, "bins", "zero bins")
fails(plot{path = dir .. "/bad.png", panels = {{xlim = {1, 1}, series = {ok}}}}, "xlim", "an empty x range")
fails(plot{path = dir .. "/bad.png", panels = {{logy = true, ylim = {0, 1}, series = {ok}}}}, "positive",
      "a log axis from 0")
fails(plot{path = dir .. "/bad.png", panels = {{legend = "middle", series = {ok}}}}, "legend position",
      "an unknown legend position")
fails(plot{path = dir .. "/bad.png", rows = 1, cols = 1, panels = {{series = {ok}}, {series = {ok}}}}, "do not fit",
      "more panels than the grid holds")
fails(plot{path = dir .. "/bad.png", width = 0, panels = {{series = {ok}}}}, "width", "a zero width")
check(read(dir .. "/bad.png") == nil, "no bad spec wrote a file")

-- unwritable paths: a clear message, nothing left behind
fails(plot{path = dir .. "/no/such/dir/x.png", panels = {{series = {ok}}}},
      "cannot write " .. dir .. "/no/such/dir/x.png: No such file or directory", "a missing directory")
local file = dir .. "/a_file"
assert(io.open(file, "w")):close()
fails(plot{path = file .. "/x.png", panels = {{series = {ok}}}}, "cannot write " .. file .. "/x.png: Not a directory",
      "a path under a file")
os.execute('mkdir "' .. dir .. '/taken"')
local before = #listing(dir)
fails(plot{path = dir .. "/taken", panels = {{series = {ok}}}}, "cannot write " .. dir .. "/taken",
      "a path that is a directory (the rename fails)")
fails(plot{path = dir .. "/small.png", width = 16, height = 16, panels = {{xlabel = "x", ylabel = "y", series = {ok}}}},
      "too small", "an image too small for its labels (fails while drawing)")
local after = listing(dir)
check(#after == before, "failed plots leave no file behind: " .. table.concat(after, " "))
for _, name in ipairs(after) do check(not name:find(".tmp.", 1, true), "no temporary file left: " .. name) end

T.finish("lua plot")
