-- noble population: synthetic neurons from a trained checkpoint (docs/population.md).
local pop = require("noble.population")
local cli = require("noble.cli")

local usage = [=[
usage: noble population [--checkpoint FILE] --out POP.h5 --stimuli -110,50,150,270
                        (--sample N [--seed S] | --points I1:s1,I2:s2,... | --path I1:s1,I2:s2 [--steps 11])
                        [--dataset FILE] [--traces true|false] [--batch 64] [--outside flag|refuse]
                        [--report FILE.json] [--progress true|false] [--quiet true|false]
The checkpoint defaults to the shipped model (models/pretrained/pvalb-noble.h5; NOBLE_PRETRAINED
names another). Points are (I_thr pA, s_thr Hz/pA). --sample draws uniformly inside the convex hull of the
training models in the embedding's scaled plane; --path interpolates between points.
Features are always written, traces with --traces true. --dataset enables the check of features
against the training models' range.]=]

local specs = {}
for k, v in pairs(pop.options) do specs[k] = v end
specs.stimuli, specs.points, specs.path = cli.string, cli.string, cli.string -- lists, read below
local opts = cli.parse("noble population", { ... }, specs, usage)
local function die(msg) cli.usage_error("noble population: " .. msg .. " (noble population --help)") end
if not opts.out then die("where to? (--out FILE.h5)") end
local list, bad = cli.numbers(opts.stimuli or "")
if not list then die("--stimuli " .. opts.stimuli .. ": bad stimulus '" .. bad .. "' (pA, comma-separated)") end
if #list == 0 then die("the stimulus list is empty (--stimuli -110,50,150)") end
opts.stimuli = list
for _, key in ipairs({ "points", "path" }) do
  if opts[key] then
    local pts = {}
    for item in opts[key]:gmatch("[^,]+") do
      local a, b = item:match("^%s*([^:]+):([^:]+)%s*$")
      local x, y = tonumber(a), tonumber(b)
      if not x or not y or x ~= x or y ~= y or math.abs(x) == math.huge or math.abs(y) == math.huge then
        die("--" .. key .. " " .. opts[key] .. ": bad point '" .. item .. "' (I_thr:s_thr, two finite numbers)")
      end
      pts[#pts + 1] = { x, y }
    end
    if #pts == 0 then die("--" .. key .. " takes I_thr:s_thr pairs, comma-separated") end
    opts[key] = pts
  end
end
pop.run(opts)
