-- noble.cli: the one place where options are checked, for the standard
-- commands (noble train, eval, population, variability) and for the library
-- functions they run (noble.train.run, noble.eval.run, ...).
--
-- An option's spec says what it takes:
--   cli.int(lo, hi)           a whole number from lo to hi
--   cli.num(lo, hi, open)     a finite number from lo (excluded when open) to hi
--   cli.choice(a, b, ...)     one of the values (strings or numbers)
--   cli.string, cli.boolean, cli.any
-- cli.check validates a Lua option table (unknown keys are errors); cli.parse
-- reads --name value arguments (dashes or underscores, --name=value too) and
-- validates them with the same specs. Every message names the option, the
-- value and what is allowed:
--   "train: stride = 0.5: expected an integer from 1 to 1024"
--   "noble train: --stride 0.5: expected an integer from 1 to 1024 (noble train --help)"
-- A command-line mistake is raised as a usage error (cli.usage_error): a
-- table {status = 2, message = ...} that `noble` prints as one line and
-- turns into exit status 2.
local noble = require("noble")

local cli = {}

function cli.int(lo, hi) return { kind = "integer", min = lo, max = hi } end
function cli.num(lo, hi, open) return { kind = "number", min = lo or -math.huge, max = hi or math.huge, open = open } end
function cli.choice(...) return { kind = "choice", choices = { ... } } end
cli.string = { kind = "string" }
cli.boolean = { kind = "boolean" }
cli.any = { kind = "any" }

local function num_text(x)
  if math.type(x) == "float" and x == math.floor(x) and math.abs(x) < 2 ^ 53 then return string.format("%d", x) end
  return tostring(x)
end

-- What a spec allows, as a message says it.
function cli.expected(s)
  if s.kind == "integer" then
    return string.format("an integer from %s to %s", num_text(s.min), num_text(s.max))
  elseif s.kind == "number" then
    if s.min == -math.huge and s.max == math.huge then return "a finite number" end
    if s.max == math.huge then
      return string.format("a finite number %s %s", s.open and ">" or ">=", num_text(s.min))
    end
    if s.min == -math.huge then return "a number <= " .. num_text(s.max) end
    return string.format("a number from %s%s to %s", num_text(s.min), s.open and " (excluded)" or "", num_text(s.max))
  elseif s.kind == "choice" then
    local t = {}
    for i, c in ipairs(s.choices) do t[i] = type(c) == "string" and '"' .. c .. '"' or tostring(c) end
    return "one of " .. table.concat(t, ", ")
  elseif s.kind == "boolean" then
    return "true or false"
  elseif s.kind == "string" then
    return "a string"
  end
  return "anything"
end

-- nil when v passes spec s, else what was expected.
function cli.bad(v, s)
  if s.kind == "any" then return nil end
  if s.kind == "integer" then
    if math.type(v) == "float" and v == math.floor(v) and v >= s.min and v <= s.max then return nil end
    if math.type(v) == "integer" and v >= s.min and v <= s.max then return nil end
  elseif s.kind == "number" then
    if type(v) == "number" and v == v and v > -math.huge and v < math.huge and v <= s.max
        and (s.open and v > s.min or not s.open and v >= s.min) then return nil end
  elseif s.kind == "choice" then
    for _, c in ipairs(s.choices) do if v == c then return nil end end
  elseif s.kind == "boolean" then
    if type(v) == "boolean" then return nil end
  elseif s.kind == "string" then
    if type(v) == "string" then return nil end
  end
  return cli.expected(s)
end

local function show(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  if type(v) == "number" then return num_text(v) end
  return tostring(v)
end

-- Checks a Lua option table: each key must have a spec, each value must pass
-- it. Raises "who: name = value: expected ..." (level: for error()).
-- Integers given as whole floats (2.0) become integers in place.
function cli.check(who, opts, specs, level)
  level = (level or 1) + 1
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("%s: the options must be a table, not %s", who, show(opts)), level)
  end
  for k, v in pairs(opts or {}) do
    local s = specs[k]
    if not s then
      local names = {}
      for name in pairs(specs) do names[#names + 1] = name end
      table.sort(names)
      error(string.format("%s: unknown option %s (known: %s)", who, show(k), table.concat(names, ", ")), level)
    end
    local why = cli.bad(v, s)
    if why then error(string.format("%s: %s = %s: expected %s", who, k, show(v), why), level) end
    if s.kind == "integer" then opts[k] = math.tointeger(v) end
  end
  return opts
end

local usage_mt = { __tostring = function(e) return e.message end }

-- Raises a usage error: `noble` prints message as one line and exits with
-- status (default 2).
function cli.usage_error(message, status)
  error(setmetatable({ status = status or 2, message = message }, usage_mt), 0)
end

-- Parses --name value arguments. specs: name -> spec, or the old names
-- "number", "string", "boolean". Returns the option table.
function cli.parse(who, args, specs, usage)
  local opts = {}
  local hint = " (" .. who .. " --help)"
  local function die(msg) cli.usage_error(who .. ": " .. msg .. hint) end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then print(usage) os.exit(0) end
    local name, inline = a:match("^%-%-([%w%-_]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-_]+)$") end
    if not name then die("unexpected argument '" .. a .. "'") end
    name = name:gsub("%-", "_")
    local flag = "--" .. name:gsub("_", "-")
    local s = specs[name]
    if s == "number" then s = cli.num() elseif s == "string" then s = cli.string
    elseif s == "boolean" then s = cli.boolean end
    if not s or s.kind == "any" then die("unknown option " .. flag) end
    local v = inline
    if v == nil then
      i = i + 1
      v = args[i]
      if v == nil then die(flag .. " needs a value: " .. cli.expected(s)) end
    end
    local raw = v
    if s.kind == "boolean" then
      if v == "true" then v = true elseif v == "false" then v = false end
    elseif s.kind == "integer" or s.kind == "number"
        or s.kind == "choice" and type(s.choices[1]) == "number" then
      v = tonumber(v) or v
      if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 63 then v = math.tointeger(v) end
    end
    local why = cli.bad(v, s)
    if why then die(string.format("%s %s: expected %s", flag, raw, why)) end
    opts[name] = v
    i = i + 1
  end
  return opts
end

-- A comma-separated list of numbers ("-110,50,150"); nil and the bad item
-- when one is not a finite number.
function cli.numbers(text)
  local list = {}
  for item in text:gmatch("[^,]+") do
    local n = tonumber(item)
    if not n or n ~= n or n == math.huge or n == -math.huge then return nil, item end
    list[#list + 1] = n
  end
  return list
end

-- Refuses a count whose host memory (count * bytes_each) would not fit in
-- half of what the system has available now, before any work.
function cli.check_memory(who, name, count, bytes_each)
  local avail = noble.host_memory()
  local most = math.floor(avail / 2 / bytes_each)
  if count > most then
    error(string.format("%s: %s = %s needs about %.1f GiB of host memory, %.1f GiB is available: at most %d",
      who, name, num_text(count), count * bytes_each / 2 ^ 30, avail / 2 ^ 30, most), 0)
  end
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- An output directory made for a command, and the files it writes there:
--   local out <close> = cli.output_dir("runs/x")
--   out:file("runs/x/report.json")   -- before writing it
--   out:keep()                       -- once there is something worth keeping
-- If the scope ends by an error before keep(), the files registered (those
-- that were not there before) and the directories made are removed, so a
-- failed command leaves nothing behind.
function cli.output_dir(path)
  local made = noble.mkdir(path)
  local g = { path = path, made = made, files = {}, kept = false }
  function g.file(self, p)
    if not exists(p) then self.files[#self.files + 1] = p end
    return p
  end
  function g.keep(self) self.kept = true end
  function g.clean(self)
    for i = #self.files, 1, -1 do os.remove(self.files[i]) end
    for i = #self.made, 1, -1 do os.remove(self.made[i]) end -- only empty directories go
    self.files, self.made = {}, {}
  end
  return setmetatable(g, { __close = function(self, err) if err ~= nil and not self.kept then self:clean() end end })
end

-- Whether a file can be written at path (its directory exists and is
-- writable), tested before work starts and left as it was.
function cli.check_writable(who, path)
  local was = exists(path)
  local f, why = io.open(path, "a")
  if not f then error(string.format("%s: cannot write %s: %s", who, path, why:gsub("^[^:]*: ", "")), 0) end
  f:close()
  if not was then os.remove(path) end
end

return cli
