-- noble.cli: --name value options for the standard scripts (noble train,
-- noble eval). Names take dashes or underscores; --name=value works too;
-- "true"/"false" become booleans and numbers numbers, unless the option is
-- listed as a string. A usage error prints the usage and exits with 2.
local cli = {}

-- known: name -> "number" | "string" | "boolean"
function cli.parse(who, args, known, usage)
  local opts = {}
  local function die(msg)
    io.stderr:write(who, ": ", msg, "\n", usage, "\n")
    os.exit(2)
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then print(usage) os.exit(0) end
    local name, inline = a:match("^%-%-([%w%-_]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-_]+)$") end
    if not name then die("unexpected argument '" .. a .. "'") end
    name = name:gsub("%-", "_")
    local kind = known[name]
    if not kind then die("unknown option --" .. name:gsub("_", "-")) end
    local v = inline
    if v == nil then
      i = i + 1
      v = args[i]
      if v == nil then die("--" .. name:gsub("_", "-") .. " needs a value") end
    end
    if kind == "boolean" then
      if v ~= "true" and v ~= "false" then die("--" .. name:gsub("_", "-") .. " takes true or false") end
      v = v == "true"
    elseif kind == "number" then
      local num = tonumber(v)
      if not num then die("--" .. name:gsub("_", "-") .. " takes a number, got '" .. v .. "'") end
      v = math.tointeger(num) or num
    end
    opts[name] = v
    i = i + 1
  end
  return opts
end

return cli
