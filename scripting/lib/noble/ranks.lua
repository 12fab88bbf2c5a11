-- noble.ranks: what the standard commands share to run across the ranks of
-- an MPI job (docs/mpi.md): the fixed partition of work, values sent between
-- ranks, and per-rank shards of a store joined into one file.
--
-- Work is cut into batches (the batches a single process would run); rank r
-- of n runs a contiguous block of them, fixed by the indices alone (never by
-- timing), so every batch holds the same rows as in one process and gives the
-- same bits.
local noble = require("noble")

local M = {}

function M.rank() return noble.mpi.rank() end
function M.size() return noble.mpi.size() end

-- The rows [first, last] (1-based, inclusive; last < first when none) that
-- rank r of n runs out of total rows in batches of batch.
function M.block(total, batch, r, n)
  r, n = r or M.rank(), n or M.size()
  local nb = (total + batch - 1) // batch
  local b0, b1 = nb * r // n, nb * (r + 1) // n
  return b0 * batch + 1, math.min(b1 * batch, total)
end

-- A Lua value (tables of numbers, strings, booleans, nested) as a chunk that
-- gives it back exactly (numbers as %q: hexadecimal floats, NaN and
-- infinities included).
local function pack(v, out)
  local t = type(v)
  if t == "number" then
    if v ~= v then out[#out + 1] = "(0/0)"
    elseif math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    else out[#out + 1] = string.format("%q", v) end
  elseif t == "string" then out[#out + 1] = string.format("%q", v)
  elseif t == "boolean" or t == "nil" then out[#out + 1] = tostring(v)
  elseif t == "table" then
    out[#out + 1] = "{"
    for k, x in pairs(v) do
      out[#out + 1] = "["
      pack(k, out)
      out[#out + 1] = "]="
      pack(x, out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error("noble.ranks: cannot send a " .. t .. " between ranks", 2)
  end
end

function M.pack(v)
  local out = { "return " }
  pack(v, out)
  return table.concat(out)
end

function M.unpack(s) return assert(load(s, "=rank data", "t", {}))() end

-- Every rank's value, in rank order, on rank 0 (nil elsewhere).
function M.gather(v)
  local all = noble.mpi.gather(M.pack(v))
  if not all then return nil end
  for k, s in ipairs(all) do all[k] = M.unpack(s) end
  return all
end

-- The shard of rank r of n for the output path.
function M.shard(path, r, n)
  return string.format("%s.rank-%d-of-%d.part", path, r or M.rank(), n or M.size())
end

-- On rank 0: the shards of all n ranks joined in rank order into path (a
-- store: PATH.tmp.PID renamed to PATH at the end), rank 0's root attributes,
-- and the root attribute ranks = n; the shards are removed. Returns the
-- seconds it took.
function M.join(path, n)
  local t0 = noble.now()
  local st <close> = noble.store(path)
  for r = 0, n - 1 do st:append_file(M.shard(path, r, n), r == 0) end
  st:attr("ranks", n)
  st:finish()
  for r = 0, n - 1 do os.remove(M.shard(path, r, n)) end
  return (noble.now() - t0) / 1000
end

return M
