-- noble.json: a small JSON encoder and decoder for reports, logs and the
-- training state kept in checkpoints. Tables with keys 1..n are arrays;
-- other tables are objects with their keys sorted, so output is stable.
-- NaN and infinities become null (JSON has no such numbers).
local json = {}

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  local n = #t
  if n == 0 then return next(t) == nil end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, indent, level, seen)
  local kind = type(v)
  if kind == "nil" then return "null"
  elseif kind == "boolean" then return tostring(v)
  elseif kind == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if math.type(v) == "integer" then return tostring(v) end
    local short = string.format("%.15g", v) -- the shortest form that reads back exactly
    return tonumber(short) == v and short or string.format("%.17g", v)
  elseif kind == "string" then return encode_string(v)
  elseif kind == "table" then
    if seen[v] then error("json.encode: a table contains itself") end
    seen[v] = true
    local nl, pad, pad_in = "", "", ""
    if indent then
      nl = "\n"
      pad = string.rep(indent, level)
      pad_in = string.rep(indent, level + 1)
    end
    local parts = {}
    local out
    if is_array(v) then
      for i = 1, #v do parts[i] = pad_in .. encode(v[i], indent, level + 1, seen) end
      out = #parts == 0 and "[]" or "[" .. nl .. table.concat(parts, "," .. nl) .. nl .. pad .. "]"
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= "string" and type(k) ~= "number" then
          error("json.encode: a key of type " .. type(k))
        end
        keys[#keys + 1] = k
      end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      for i, k in ipairs(keys) do
        parts[i] = pad_in .. encode_string(tostring(k)) .. (indent and ": " or ":") ..
                   encode(v[k], indent, level + 1, seen)
      end
      out = #parts == 0 and "{}" or "{" .. nl .. table.concat(parts, "," .. nl) .. nl .. pad .. "}"
    end
    seen[v] = nil
    return out
  else
    error("json.encode: cannot encode a " .. kind)
  end
end

-- json.encode(value [, indent]): indent is a string such as "  " for
-- readable output; without it, one line.
function json.encode(v, indent) return encode(v, indent, 0, {}) end

-- json.decode(text) -> value
function json.decode(s)
  local pos = 1
  local function fail(what) error(string.format("json.decode: %s at character %d", what, pos), 0) end
  local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
  local value
  local function str()
    local out, i = {}, pos + 1
    while true do
      local c = s:sub(i, i)
      if c == "" then fail("unfinished string") end
      if c == '"' then pos = i + 1; return table.concat(out) end
      if c == "\\" then
        local e = s:sub(i + 1, i + 1)
        local map = { b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" }
        if map[e] then out[#out + 1] = map[e]; i = i + 2
        elseif e == "u" then
          out[#out + 1] = utf8.char(tonumber(s:sub(i + 2, i + 5), 16)); i = i + 6
        else fail("bad escape") end
      else out[#out + 1] = c; i = i + 1 end
    end
  end
  function value()
    ws()
    local c = s:sub(pos, pos)
    if c == "{" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "}" then pos = pos + 1; return t end
      while true do
        ws()
        if s:sub(pos, pos) ~= '"' then fail("expected a key") end
        local k = str(); ws()
        if s:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        t[k] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "}" then return t end
        if d ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      local t = {}
      pos = pos + 1; ws()
      if s:sub(pos, pos) == "]" then pos = pos + 1; return t end
      while true do
        t[#t + 1] = value(); ws()
        local d = s:sub(pos, pos); pos = pos + 1
        if d == "]" then return t end
        if d ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then return str()
    elseif s:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif s:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif s:sub(pos, pos + 3) == "null" then pos = pos + 4; return nil
    else
      local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" then fail("unexpected input") end
      pos = pos + #num
      return math.tointeger(tonumber(num)) or tonumber(num)
    end
  end
  local v = value()
  ws()
  if pos <= #s then fail("trailing input") end
  return v
end

-- Writes value to path as JSON through a temporary file and a rename.
function json.write(path, value)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then error("cannot write " .. path .. ": " .. err, 2) end
  f:write(json.encode(value, "  "), "\n")
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then os.remove(tmp); error("cannot write " .. path .. ": " .. rerr, 2) end
end

return json
