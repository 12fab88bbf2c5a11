-- noble.store with plain assertions (run by the ctest test_store_lua through
-- `noble run test_store.lua DIR`, DIR empty; it writes there). Files are read
-- back with h5py (/usr/bin/python3). Each check names what it proves.
local noble = require("noble")
local json = require("noble.json")
local dir = assert(arg[1], "usage: noble run test_store.lua DIR")

package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local check, fails = T.check, T.fails

local function listing()
  local p = assert(io.popen('ls -A "' .. dir .. '"'))
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  table.sort(names)
  return table.concat(names, " ")
end

-- Everything in an HDF5 file as JSON (NaN as "nan"): datasets with dtype,
-- shape, maxshape, values and attributes, and the attributes of groups.
local READ = [[
import h5py, json, math, sys
def clean(v):
    if isinstance(v, bytes): return v.decode()
    if hasattr(v, "tolist"): v = v.tolist()
    if isinstance(v, list): return [clean(x) for x in v]
    if isinstance(v, float) and math.isnan(v): return "nan"
    return v
out = {}
def visit(name, o):
    e = {"attrs": {k: clean(v) for k, v in o.attrs.items()}}
    if isinstance(o, h5py.Dataset):
        e.update(dtype=str(o.dtype), shape=list(o.shape), maxshape=[m if m is not None else -1 for m in o.maxshape],
                 chunks=list(o.chunks), compression=o.compression, opts=o.compression_opts, shuffle=o.shuffle,
                 values=clean(o[()]))
    out[name] = e
with h5py.File(sys.argv[1], "r") as f:
    out["/"] = {"attrs": {k: clean(v) for k, v in f.attrs.items()}}
    f.visititems(visit)
print(json.dumps(out))
]]
local function read_back(path)
  local p = assert(io.popen("/usr/bin/python3 -c '" .. READ .. "' '" .. path .. "'"))
  local text = p:read("a")
  p:close()
  check(#text > 0, "h5py read " .. path)
  return json.decode(text)
end

local function same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do if not same(a[i], b[i]) then return false end end
  return true
end

-- a store of three datasets, appended in pieces, with attributes
do
  local path = dir .. "/pop.h5"
  local st = noble.store(path)
  check(tostring(st):find("open", 1, true), "tostring says open")
  st:dataset("traces/voltage", {2, 4}, {units = "mV"})
  st:dataset("amplitude", {}, {units = "pA"})
  st:dataset("traces/model", nil, {type = "int32"})
  local vals = {}
  for i = 1, 9 * 8 do vals[i] = (i - 1) * 0.25 - 3 end
  local function part(from, rows, shape)
    local t = {}
    for i = 1, rows * 8 do t[i] = vals[from * 8 + i] end
    return noble.tensor(t, shape)
  end
  st:append("traces/voltage", part(0, 3, {3, 2, 4}))
  st:append("traces/voltage", part(3, 5, {5, 2, 4}))
  st:append("traces/voltage", part(8, 1, {2, 4})) -- a single row
  check(st:rows("traces/voltage") == 9, "9 rows so far, got " .. st:rows("traces/voltage"))
  st:append("amplitude", {-110, 0 / 0, 60})
  st:append("amplitude", 270)
  st:append("amplitude", noble.tensor{1.5, 2.5})
  st:append("traces/model", {0, 1, 2.0, -7})
  st:append("traces/model", noble.tensor{16777216, 5}) -- float32 holds integers to 2^24
  st:append("amplitude", {}) -- nothing
  st:attr("dt_ms", 0.025)
  st:attr("cell", "PVALB 689331391")
  st:attr("window_ms", {-15, 500})
  st:attr("note", "per trace", "traces/voltage")
  st:attr("count", 3, "traces")
  check(st:finish() == path, "finish returns the path")
  check(tostring(st):find("finished", 1, true), "tostring says finished")
  fails(function() st:append("amplitude", {1}) end, "was finished", "appending after finish")
  fails(function() st:finish() end, "was finished", "finishing twice")
  st:close() -- nothing, and no error
  check(listing() == "pop.h5", "finish leaves exactly PATH, got: " .. listing())

  local f = read_back(path)
  check(f["/"].attrs.complete == 1, "complete = 1")
  check(f["/"].attrs.dt_ms == 0.025 and f["/"].attrs.cell == "PVALB 689331391", "root attributes")
  check(same(f["/"].attrs.window_ms, {-15, 500}), "a list attribute")
  local v = f["traces/voltage"]
  check(v.dtype == "float32" and same(v.shape, {9, 2, 4}) and same(v.maxshape, {-1, 2, 4}),
        "voltage (9, 2, 4), growing")
  check(v.compression == "gzip" and v.opts == 4 and v.shuffle == true, "gzip 4 with shuffle")
  check(same(v.chunks, {32768, 2, 4}), "a chunk of 1 MiB of rows")
  check(v.attrs.units == "mV" and v.attrs.note == "per trace", "voltage's attributes")
  local flat = {}
  for _, r in ipairs(v.values) do for _, q in ipairs(r) do for _, x in ipairs(q) do flat[#flat + 1] = x end end end
  check(same(flat, vals), "3 + 5 + 1 rows read back exactly")
  local a = f["amplitude"]
  check(a.attrs.units == "pA" and same(a.shape, {6}), "amplitude (6,)")
  check(a.values[1] == -110 and a.values[2] == "nan" and a.values[3] == 60 and a.values[4] == 270 and
        a.values[5] == 1.5 and a.values[6] == 2.5, "scalar rows, NaN kept: " .. json.encode(a.values))
  local m = f["traces/model"]
  check(m.dtype == "int32" and same(m.values, {0, 1, 2, -7, 16777216, 5}), "int32 rows: " .. json.encode(m.values))
  check(f["traces"].attrs.count == 3, "a group attribute")
  os.remove(path)
end

-- errors name the problem; the store stays usable after them
do
  fails(function() noble.store(dir .. "/nodir/x.h5") end, "does not exist", "a missing directory")
  fails(function() noble.store(dir .. "/nodir/x.h5") end, dir .. "/nodir", "the message names the directory")
  local path = dir .. "/err.h5"
  local st <close> = noble.store(path)
  st:dataset("v", {3})
  st:dataset("n", {}, {type = "int32"})
  fails(function() st:append("nope", {1}) end, "no dataset 'nope'", "appending to an unknown dataset")
  fails(function() st:append("v", noble.tensor(2, 4)) end, "a tensor of shape (2, 4) is not rows of shape (3,)",
        "a tensor of the wrong shape")
  fails(function() st:append("v", {1, 2, 3}) end, "come in a tensor", "a table for rows that are not scalars")
  fails(function() st:append("v", "x") end, "expected a tensor", "a string")
  fails(function() st:append("n", {1, 2.5}) end, "entry 2 is not an int32", "a fraction into int32")
  fails(function() st:append("n", noble.tensor{1, 0 / 0}) end, "value 2", "NaN into int32")
  fails(function() st:append("n", {2 ^ 31}) end, "not an int32", "out of int32 range")
  fails(function() st:dataset("v", {3}) end, "'v' already exists", "a dataset twice")
  fails(function() st:dataset("v/w", {}) end, "'v' is a dataset, not a group", "a dataset under a dataset")
  fails(function() st:dataset("w", {1, 2, 3, 4}) end, "rank 4", "rows of rank 4")
  fails(function() st:dataset("w", {0}) end, "not a positive integer", "a zero dimension")
  fails(function() st:dataset("w", {}, {unit = "mV"}) end, "unknown option 'unit'", "a misspelt option")
  fails(function() st:dataset("w", {}, {type = "float64"}) end, "float32", "an unknown type")
  fails(function() st:attr("x", true) end, "expected a number, a string or a list", "a boolean attribute")
  fails(function() st:attr("x", {1, "a"}) end, "entry 2 is not a number", "a list with a string")
  fails(function() st:attr("x", 1, "nothing") end, "no dataset or group 'nothing'", "an attribute of nothing")
  fails(function() st:attr("complete", 1) end, "the store's own", "setting complete")
  local t = noble.tensor(1, 3)
  t:close()
  fails(function() st:append("v", t) end, "closed", "a closed tensor")
  st:append("v", noble.tensor(4, 3))
  check(st:rows("v") == 4, "usable after errors")
  check(listing() == "err.h5.tmp." .. listing():match("err%.h5%.tmp%.(%d+)"), "only the temporary while writing")
  st:close()
  fails(function() st:append("v", noble.tensor(1, 3)) end, "was closed", "appending after close")
  fails(function() st:finish() end, "was closed", "finishing after close")
  check(listing() == "", "close leaves no file, got: " .. listing())
end

-- an error inside a <close> block leaves nothing behind
do
  local ok, err = pcall(function()
    local s <close> = noble.store(dir .. "/boom.h5")
    s:dataset("x", {})
    s:append("x", {1, 2, 3})
    error("boom")
  end)
  check(not ok and tostring(err):find("boom", 1, true), "the error comes through")
  check(listing() == "", "an error in a <close> block leaves no file, got: " .. listing())
end

-- a store dropped without close or finish is aborted when collected
do
  local s = noble.store(dir .. "/lost.h5")
  s:dataset("x", {})
  s:append("x", 1)
  s = nil
  collectgarbage()
  collectgarbage()
  check(listing() == "", "__gc leaves no file, got: " .. listing())
end

-- many small appends: a trace at a time, as a simulation loop would
do
  local path = dir .. "/loop.h5"
  local st <close> = noble.store(path)
  st:dataset("v", {100}, {units = "mV"})
  st:dataset("id", {}, {type = "int32"})
  local row = noble.tensor(100)
  for i = 1, 500 do
    row:fill(i)
    st:append("v", row)
    st:append("id", i - 1)
  end
  st:finish()
  local f = read_back(path)
  check(same(f["v"].shape, {500, 100}) and f["v"].values[500][100] == 500 and f["id"].values[500] == 499,
        "500 appends of one row")
  os.remove(path)
end

check(listing() == "", "nothing left, got: " .. listing())
T.finish("lua store")
