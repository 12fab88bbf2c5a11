-- noble population: synthetic neurons from a trained checkpoint (docs/population.md).
local pop = require("noble.population")
local cli = require("noble.cli")

local usage = [=[
usage: noble population --checkpoint FILE --out POP.h5 --stimuli -110,50,150,270
                        (--sample N [--seed S] | --points I1:s1,I2:s2,... | --path I1:s1,I2:s2 [--steps 11])
                        [--dataset FILE] [--traces true|false] [--batch 64] [--outside flag|refuse]
                        [--report FILE.json] [--progress true|false] [--quiet true|false]
Points are (I_thr pA, s_thr Hz/pA). --sample draws uniformly inside the convex hull of the
training models in the embedding's scaled plane; --path interpolates between points.
Features are always written, traces with --traces true. --dataset enables the check of features
against the training models' range.]=]

local opts = cli.parse("noble population", { ... }, { checkpoint = "string", out = "string",
  stimuli = "string", sample = "number", seed = "number", points = "string", path = "string",
  steps = "number", dataset = "string", traces = "boolean", batch = "number", outside = "string",
  report = "string", progress = "boolean", quiet = "boolean" }, usage)
local function die(msg) io.stderr:write("noble population: ", msg, "\n", usage, "\n") os.exit(2) end
if not opts.checkpoint then die("which checkpoint? (--checkpoint FILE)") end
if not opts.out then die("where to? (--out FILE.h5)") end
if opts.outside and opts.outside ~= "flag" and opts.outside ~= "refuse" then die("--outside flag or refuse") end
local list = {}
for v in (opts.stimuli or ""):gmatch("[^,]+") do
  local n = tonumber(v)
  if not n then die("bad stimulus '" .. v .. "' (pA)") end
  list[#list + 1] = n
end
if #list == 0 then die("the stimulus list is empty (--stimuli -110,50,150)") end
opts.stimuli = list
for _, key in ipairs({ "points", "path" }) do
  if opts[key] then
    local pts = {}
    for a, b in opts[key]:gmatch("([^,:]+):([^,]+)") do
      if not tonumber(a) or not tonumber(b) then die("bad point '" .. a .. ":" .. b .. "' (I_thr:s_thr)") end
      pts[#pts + 1] = { tonumber(a), tonumber(b) }
    end
    if #pts == 0 then die("--" .. key .. " takes I_thr:s_thr pairs, comma-separated") end
    opts[key] = pts
  end
end
pop.run(opts)
