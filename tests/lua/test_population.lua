-- Synthetic neurons and variability on the mini dataset (tests/test_population.sh):
-- the hull and its sampling, a population larger than one batch streamed to
-- HDF5 with features (and traces), the plausibility checks, interpolation,
-- the variability report, and the errors of empty requests.
--   noble run test_population.lua MINI.h5 WORKDIR
local noble = require("noble")
local train = require("noble.train")
local pop = require("noble.population")
local json = require("noble.json")

local dataset, work = ...
assert(dataset and work, "usage: test_population.lua MINI.h5 WORKDIR")
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local check = T.check

-- geometry: a square's hull and inside tests
local h = pop.hull({ { 0, 0 }, { 1, 0 }, { 1, 1 }, { 0, 1 }, { 0.5, 0.5 }, { 0.2, 0.9 } })
check(#h == 4, "the hull of a square with inner points has 4 corners")
check(pop.inside(h, { 0.5, 0.5 }) and pop.inside(h, { 1, 1 }) and not pop.inside(h, { 1.01, 0.5 }),
  "inside and outside a hull")
local path = pop.path({ { 10, 1 }, { 20, 2 }, { 30, 1 } }, 5)
check(#path == 9 and path[5][1] == 20 and path[3][1] == 15 and path[9][2] == 1, "a path through three points")
check(pop.ks({ 1, 2, 3 }, { 1, 2, 3 }) == 0 and pop.ks({ 1, 2 }, { 3, 4 }) == 1, "KS statistic")

-- a small trained checkpoint (the population machinery does not need a good one)
local r = train.run{ dataset = dataset, out = work .. "/run", width = 8, blocks = 2, modes = 16,
  lifting_channels = 16, projection_channels = 32, mlp_channels = 4, stride = 4, batch = 8, epochs = 3,
  resume = false, progress = false, quiet = true }
local ctx = pop.load(r.best)
check(#ctx.train_points == 4 and ctx.geometry.dt_ms == 0.24, "the checkpoint records its training models and window")
local samples = pop.sample(ctx, 50, noble.rng(1))
local all_in = true
for _, p in ipairs(samples) do all_in = all_in and ctx.inside(p) end
check(#samples == 50 and all_in, "50 samples, all inside the hull")
ctx.model:close()

-- 1. a population larger than one batch: 23 neurons x 3 stimuli in batches of 16
local out = work .. "/pop.h5"
local rep = pop.run{ checkpoint = r.best, dataset = dataset, sample = 23, stimuli = { -110, 60, 270 },
                     out = out, traces = true, batch = 16, progress = false, quiet = true }
check(rep.neurons == 23 and rep.traces == 69, "23 neurons x 3 stimuli")
check(rep.outside_hull == 0, "sampled neurons are inside the hull")
check(type(rep.checks.feature_ranges) == "table" and rep.checks.feature_ranges.values_checked > 0,
  "features checked against the training models' range")
check(rep.checks.fi_rises.neurons_with_falling_fi >= 0, "the f-I check ran")
local f = io.open(rep.report)
check(f ~= nil and json.decode(f:read("a")).neurons == 23, "the JSON report")
if f then f:close() end

-- 2. points given, one outside the hull: flagged, or refused when asked
local far = { { 500, 5 }, { 50, 0.85 } }
local rep2 = pop.run{ checkpoint = r.best, points = far, stimuli = { 150 }, out = work .. "/far.h5",
                      progress = false, quiet = true }
check(rep2.outside_hull >= 1, "a point outside the hull is flagged")
local ok, err = pcall(pop.run, { checkpoint = r.best, points = far, stimuli = { 150 }, out = work .. "/no.h5",
                                 outside = "refuse", progress = false, quiet = true })
check(not ok and tostring(err):find("outside the hull", 1, true) ~= nil, "... or refused: " .. tostring(err))
local gone = io.open(work .. "/no.h5")
check(gone == nil, "... and nothing written")
if gone then gone:close() end

-- 3. empty requests are clear errors and write nothing
ok, err = pcall(pop.run, { checkpoint = r.best, sample = 0, stimuli = { 150 }, out = work .. "/zero.h5",
                           progress = false, quiet = true })
check(not ok and tostring(err):find("no neurons requested", 1, true) ~= nil, "zero neurons: " .. tostring(err))
ok, err = pcall(pop.run, { checkpoint = r.best, sample = 5, stimuli = {}, out = work .. "/empty.h5",
                           progress = false, quiet = true })
check(not ok and tostring(err):find("stimulus list is empty", 1, true) ~= nil, "no stimuli: " .. tostring(err))
for _, name in ipairs({ "zero.h5", "empty.h5" }) do
  local g = io.open(work .. "/" .. name)
  check(g == nil, name .. " not written")
  if g then g:close() end
end

-- 4. variability over the HoF embeddings at one amplitude
local v = pop.variability{ checkpoint = r.best, dataset = dataset, amplitude = 150, out = work .. "/var",
                           progress = false, quiet = true }
check(v.neuron_traces == 6 and v.noble_traces == 6, "six models in both ensembles")
check(v.features.Spikecount.ks_statistic ~= nil and v.features.voltage_base.neuron.median < -60,
  "feature medians and a KS statistic per feature")
local png = io.open(v.plot, "rb")
check(png ~= nil and png:read(8) == "\137PNG\r\n\26\n", "variability.png")
if png then png:close() end

T.finish("population tests")
