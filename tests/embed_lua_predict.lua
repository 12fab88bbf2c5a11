-- The Lua module's prediction of embed_consumer.c's cells, compared bit for
-- bit with what the embedding ABI wrote (tests/test_embed.sh):
--   noble run embed_lua_predict.lua CHECKPOINT BACKEND ABI_OUT.bin
-- The cells (make_cells in embed_consumer.c): the largest trained amplitude
-- on HoF model 0, -100 pA on HoF model 1, 150 pA at (55 pA, 0.84 Hz/pA),
-- 0 pA on HoF model 2; the model is made for 32 cells (the ABI's batch).
package.path = (arg[0]:match("^(.*/)") or "./") .. "lua/?.lua;" .. package.path
local T = require("testlib")
local noble = require("noble")
local json = require("noble.json")
local ckpt, backend, abi_out = arg[1], arg[2], arg[3]

local ctx = noble.device{ backend = backend }
local m <close> = noble.model{ checkpoint = ckpt, training = false, max_batch = 32, context = ctx }
local info = m:info()
local st = json.decode(info.state)
local geo, pts, e = st.geometry, st.train_points, info.embedding
local L = info.length
local cells = { { e.max[1], pts[1][1], pts[1][2] }, { -100, pts[2][1], pts[2][2] }, { 150, 55, 0.84 },
                { 0, pts[3][1], pts[3][2] } }
local cur <close> = noble.tensor(#cells, L)
local codes <close> = noble.tensor(#cells, 3)
for r, c in ipairs(cells) do
  noble.step_current(cur, r, c[1], geo)
  for k = 1, 3 do codes:set(r, k, c[k]) end
end
local y <close> = m:predict(cur, codes)

local f = assert(io.open(abi_out, "rb"))
local bytes = f:read("a")
f:close()
T.check(#bytes == #cells * L * 4, string.format("the ABI wrote %d cells x %d samples (%d bytes)", #cells, L, #bytes))
local differ, first = 0, nil
for r = 1, #cells do
  for i = 1, L do
    local at = ((r - 1) * L + i - 1) * 4 + 1
    if bytes:sub(at, at + 3) ~= string.pack("<f", y:get(r, i)) then
      differ = differ + 1
      first = first or string.format("cell %d sample %d: ABI %.9g, Lua %.9g", r, i,
                                     string.unpack("<f", bytes, at), y:get(r, i))
    end
  end
end
T.check(differ == 0, string.format("the ABI's voltages equal m:predict's bit for bit on %s (%d differ%s)", backend,
                                   differ, first and "; first " .. first or ""))
-- and the step current is where the window puts it
local a = math.floor(geo.stim_start_ms / geo.dt_ms + 0.5)
T.check(cur:get(1, a) == 0 and cur:get(1, a + 1) == cells[1][1], "the step starts at sample " .. a)
T.finish("embed lua parity")
