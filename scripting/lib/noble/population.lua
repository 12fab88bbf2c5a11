-- noble.population: synthetic neurons made by moving inside the embedding,
-- run at a list of stimuli in large batches, streamed to HDF5; and the
-- variability of an ensemble against NEURON's (docs/population.md).
--
--   local pop = require("noble.population")
--   pop.run{checkpoint = "models/pretrained/pvalb-reduced.h5", sample = 200,
--           stimuli = {-110, 50, 150, 270}, out = "pop.h5"}
--   pop.variability{checkpoint = ..., dataset = "data/pvalb60.h5", amplitude = 150, out = "var"}
--
-- Points live in the scaled (I_thr, s_thr) plane of the checkpoint's
-- embedding (the scaler fitted on the training models); the convex hull of
-- the training models there is where the operator has seen neurons.
local noble = require("noble")
local json = require("noble.json")
local eval = require("noble.eval")
local progress = require("noble.progress")
local cli = require("noble.cli")
local ranks = require("noble.ranks")

local M = {}

-- ------------------------------------------------------------ geometry

local function cross(o, a, b) return (a[1] - o[1]) * (b[2] - o[2]) - (a[2] - o[2]) * (b[1] - o[1]) end

-- The convex hull of 2-D points (Andrew's monotone chain), counter-clockwise,
-- without repeated points. Fewer than 3 distinct points give a degenerate hull.
function M.hull(points)
  local p = {}
  for i, v in ipairs(points) do p[i] = { v[1], v[2] } end
  table.sort(p, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  if #p < 3 then return p end
  local lower, upper = {}, {}
  for _, v in ipairs(p) do
    while #lower >= 2 and cross(lower[#lower - 1], lower[#lower], v) <= 0 do lower[#lower] = nil end
    lower[#lower + 1] = v
  end
  for i = #p, 1, -1 do
    local v = p[i]
    while #upper >= 2 and cross(upper[#upper - 1], upper[#upper], v) <= 0 do upper[#upper] = nil end
    upper[#upper + 1] = v
  end
  lower[#lower] = nil
  upper[#upper] = nil
  for _, v in ipairs(upper) do lower[#lower + 1] = v end
  return lower
end

-- Whether q lies inside (or on) a counter-clockwise hull, with a small
-- tolerance in scaled units.
function M.inside(hull, q, tol)
  tol = tol or 1e-9
  if #hull < 3 then return false end
  for i = 1, #hull do
    local a, b = hull[i], hull[i % #hull + 1]
    local len = math.sqrt((b[1] - a[1]) ^ 2 + (b[2] - a[2]) ^ 2)
    if cross(a, b, q) < -tol * len then return false end
  end
  return true
end

-- ------------------------------------------------------------- context

-- The shipped checkpoint (noble.pretrained), for a call that names none
function M.shipped(who)
  local f = io.open(noble.pretrained, "rb")
  if not f then error(who .. ": no checkpoint given and the shipped one, " .. noble.pretrained .. ", is missing", 3) end
  f:close()
  return noble.pretrained
end

-- Loads a trained checkpoint with what populations need: the model, the
-- embedding (scaler), the window geometry and the training models' points
-- (from the checkpoint's training state; a dataset fills in for older
-- checkpoints).
function M.load(checkpoint, opts)
  opts = opts or {}
  local m = noble.model{ checkpoint = checkpoint, training = false, max_batch = opts.batch or 64,
                         context = opts.context }
  local info = m:info()
  if not info.embedding then
    m:close()
    error("population: " .. checkpoint .. " has no embedding: it was not trained on a dataset by noble train", 3)
  end
  local st = info.state and json.decode(info.state) or {}
  local geo, pts = st.geometry, st.train_points
  if (not geo or not pts) and opts.dataset then
    local train = require("noble.train")
    local ds <close> = noble.dataset(opts.dataset)
    geo = geo or train.geometry(ds, (st.options or {}).stride or 1, info.length)
    if not pts then
      pts = {}
      for _, mid in ipairs(ds:models("train")) do
        local md = ds:model(mid)
        pts[#pts + 1] = { md.I_thr, md.s_thr }
      end
    end
  end
  if not geo or not pts then
    m:close()
    error("population: " .. checkpoint .. " does not record its window and training models (made before "
      .. "noble 0.1's population support): give the dataset it was trained on (dataset = FILE)", 3)
  end
  local e = info.embedding
  local ctx = { model = m, info = info, embedding = e, geometry = geo, train_points = pts, checkpoint = checkpoint }
  function ctx.scale(p) -- physical (I_thr, s_thr) -> scaled plane
    local out = {}
    for k = 1, 2 do
      local lo, hi = e.min[k + 1], e.max[k + 1]
      out[k] = hi > lo and e.lo + (e.hi - e.lo) * (p[k] - lo) / (hi - lo) or 0.5 * (e.lo + e.hi)
    end
    return out
  end
  function ctx.unscale(q)
    local out = {}
    for k = 1, 2 do
      local lo, hi = e.min[k + 1], e.max[k + 1]
      out[k] = lo + (q[k] - e.lo) * (hi - lo) / (e.hi - e.lo)
    end
    return out
  end
  local scaled = {}
  for i, p in ipairs(pts) do scaled[i] = ctx.scale(p) end
  ctx.hull = M.hull(scaled)
  function ctx.inside(p) return M.inside(ctx.hull, ctx.scale(p), 1e-6) end
  return ctx
end

-- n points drawn uniformly inside the hull of the training models (in the
-- scaled plane) by rejection from its bounding box; physical units.
function M.sample(ctx, n, rng)
  local h = ctx.hull
  if #h < 3 then error("population: the training models span no area in (I_thr, s_thr): cannot sample a hull", 2) end
  local x0, x1, y0, y1 = math.huge, -math.huge, math.huge, -math.huge
  for _, v in ipairs(h) do
    x0, x1 = math.min(x0, v[1]), math.max(x1, v[1])
    y0, y1 = math.min(y0, v[2]), math.max(y1, v[2])
  end
  local out, tries = {}, 0
  while #out < n do
    tries = tries + 1
    if tries > 1000 * n + 1000 then error("population: rejection sampling made no progress", 2) end
    local q = { rng:uniform(x0, x1), rng:uniform(y0, y1) }
    if M.inside(h, q) then out[#out + 1] = ctx.unscale(q) end
  end
  return out
end

-- Points along a path through the given points (physical units), n per
-- segment, the ends included once.
function M.path(points, n)
  local out = {}
  for s = 1, #points - 1 do
    local a, b = points[s], points[s + 1]
    for k = (s == 1 and 0 or 1), n - 1 do
      local t = k / (n - 1)
      out[#out + 1] = { a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2]) }
    end
  end
  if #points == 1 then out[1] = { points[1][1], points[1][2] } end
  return out
end

-- The injected current of a step of amp pA in the checkpoint's window
-- (models/window.c, the code the embedding ABI runs too).
local function fill_step(cur, row, amp, geo)
  noble.step_current(cur, row, amp, geo)
end

-- Runs neurons x stimuli through the operator, batch traces at a time:
-- calls sink(first_trace, y, count) for each batch (y: (count, L) mV).
-- Only the rows [first, last] (1-based; default all) when given: a rank's
-- block of whole batches (noble.ranks.block).
local function run_batches(ctx, neurons, stimuli, batch, sink, progress, first, last)
  local L = ctx.info.length
  local done = (first or 1) - 1
  local total = last or #neurons * #stimuli
  local base = done
  local cur <close> = noble.tensor(batch, L)
  local codes <close> = noble.tensor(batch, 3)
  local steps <close> = noble.tensor(math.max(#stimuli, 1), L)
  for s, amp in ipairs(stimuli) do fill_step(steps, s, amp, ctx.geometry) end
  if progress then progress(0, total - base) end
  while done < total do
    local k = math.min(batch, total - done)
    local c <close> = k < batch and noble.tensor(k, L) or nil -- the last, partial batch
    local q <close> = k < batch and noble.tensor(k, 3) or nil
    local ct, qt = c or cur, q or codes
    for r = 1, k do
      local idx = done + r - 1
      local n, s = idx // #stimuli + 1, idx % #stimuli + 1
      ct:copy_row(r, steps, s)
      qt:set(r, 1, stimuli[s]); qt:set(r, 2, neurons[n][1]); qt:set(r, 3, neurons[n][2])
    end
    local y <close> = ctx.model:predict(ct, qt)
    sink(done, y, k)
    done = done + k
    if progress then progress(done - base, total - base) end
  end
end

local function features_of(y, row, geo)
  return noble.features(y, geo.dt_ms, geo.stim_start_ms, geo.stim_end_ms, row)
end

M.feature_names = { "Spikecount", "time_to_first_spike", "AP1_peak", "AP1_width", "mean_AP_amplitude",
  "AHP_depth", "AHP1_depth_from_peak", "AHP_time_from_peak", "inv_first_ISI", "mean_frequency",
  "voltage_base", "steady_state_voltage", "steady_state_voltage_stimend",
  "decay_time_constant_after_stim", "depol_block", "sag_amplitude" }

M.defaults = { steps = 11, traces = false, batch = 64, seed = 0, outside = "flag", progress = true, quiet = false }
-- What each option takes (noble.cli specs; `noble population` parses with them).
M.options = { checkpoint = cli.string, dataset = cli.string, out = cli.string, report = cli.string,
              sample = cli.int(0, 2 ^ 31 - 1), points = cli.any, path = cli.any, stimuli = cli.any,
              steps = cli.int(2, 2 ^ 31 - 1), seed = cli.int(0, 2 ^ 53), traces = cli.boolean,
              batch = cli.int(1, 65536), outside = cli.choice("flag", "refuse"), progress = cli.boolean,
              quiet = cli.boolean, context = cli.any }
M.variability_options = { checkpoint = cli.string, dataset = cli.string, out = cli.string,
                          amplitude = cli.num(-1e6, 1e6), population = cli.int(1, 2 ^ 31 - 1),
                          seed = cli.int(0, 2 ^ 53), batch = cli.int(1, 65536), progress = cli.boolean,
                          quiet = cli.boolean, context = cli.any }

-- Host memory a population holds per neuron (its point, hull flag, columns
-- and spike counts per stimulus, as Lua values), for the check before work.
local function bytes_per_neuron(stimuli) return 512 + 48 * stimuli end

-- A list of {I_thr, s_thr} points, checked.
local function check_points(key, pts)
  if type(pts) ~= "table" or #pts == 0 then
    error("population: " .. key .. " = " .. tostring(pts) .. ": expected a list of {I_thr, s_thr} points", 3)
  end
  for i, p in ipairs(pts) do
    if type(p) ~= "table" or cli.bad(p[1], cli.num()) or cli.bad(p[2], cli.num()) then
      error(string.format("population: %s[%d] is not {I_thr, s_thr} (two finite numbers)", key, i), 3)
    end
  end
end

-- A population. Exactly one of sample = N (uniform in the hull), points =
-- {{I_thr, s_thr}, ...}, path = {{I_thr, s_thr}, ...} (with steps per
-- segment) picks the neurons; stimuli = {amplitudes in pA}. Writes out (HDF5,
-- streamed: features always, traces when traces = true) and a JSON report
-- (out with .json) and returns the report.
function M.run(opts)
  cli.check("population", opts, M.options, 2)
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  o.checkpoint = o.checkpoint or M.shipped("population")
  if not o.out then error("population: where to? (out = FILE.h5)", 2) end
  if type(o.stimuli) ~= "table" or #o.stimuli == 0 then
    error("population: the stimulus list is empty (stimuli = {amplitudes in pA})", 2)
  end
  for i, a in ipairs(o.stimuli) do
    if cli.bad(a, cli.num(-1e6, 1e6)) then
      error(string.format("population: stimuli[%d] = %s: expected %s (pA)", i, tostring(a),
        cli.expected(cli.num(-1e6, 1e6))), 2)
    end
  end
  local ways = (o.sample and 1 or 0) + (o.points and 1 or 0) + (o.path and 1 or 0)
  if ways ~= 1 then error("population: give exactly one of sample = N, points = {...}, path = {...}", 2) end
  if o.points then check_points("points", o.points) end
  if o.path then check_points("path", o.path) end
  -- how many neurons, and whether host memory holds them, before any work
  local n = o.sample or o.points and #o.points or (#o.path - 1) * (o.steps - 1) + 1
  local per = bytes_per_neuron(#o.stimuli)
  local ok_mem, why = pcall(cli.check_memory, "population", o.sample and "sample" or o.path and "steps" or "points",
                            o.sample or o.path and o.steps or n, per * n / (o.sample or o.path and o.steps or n))
  if not ok_mem then error(why, 2) end
  local rpath = o.report or (o.out:gsub("%.h5$", "") .. ".json")
  -- across the ranks of an MPI job (docs/mpi.md): every rank draws the same
  -- neurons, runs its block of whole batches into its shard, and rank 0 joins
  -- the shards into out
  local R, N = ranks.rank(), ranks.size()
  if R == 0 then cli.check_writable("population", rpath) end
  local t0 = noble.now()
  local ctx = M.load(o.checkpoint, { batch = o.batch, dataset = o.dataset, context = o.context })
  local m <close> = ctx.model
  local neurons, how
  if o.sample then
    neurons, how = M.sample(ctx, o.sample, noble.rng(o.seed)), string.format("uniform in the hull (seed %d)", o.seed)
  elseif o.points then
    neurons, how = o.points, "given points"
  else
    neurons, how = M.path(o.path, o.steps), string.format("a path through %d points, %d per segment", #o.path, o.steps)
  end
  if #neurons == 0 then error("population: no neurons requested (sample = 0 or an empty list)", 2) end
  local inside, outside = {}, 0
  for i, p in ipairs(neurons) do
    if type(p) ~= "table" or type(p[1]) ~= "number" or type(p[2]) ~= "number" then
      error(string.format("population: point %d is not {I_thr, s_thr}", i), 2)
    end
    inside[i] = ctx.inside(p)
    if not inside[i] then outside = outside + 1 end
  end
  if outside > 0 and o.outside == "refuse" then
    error(string.format("population: %d of %d points lie outside the hull of the training models", outside, #neurons), 2)
  end

  local L, geo, nf = ctx.info.length, ctx.geometry, #M.feature_names
  local first, last = ranks.block(#neurons * #o.stimuli, o.batch, R, N)
  local st <close> = noble.store(N > 1 and ranks.shard(o.out, R, N) or o.out)
  st:attr("format", "noble-population")
  st:attr("format_version", 1)
  st:attr("checkpoint", o.checkpoint)
  st:attr("how", how)
  st:attr("n_neurons", #neurons)
  st:attr("stimuli_pA", o.stimuli)
  st:attr("dt_ms", geo.dt_ms)
  st:attr("stim_start_ms", geo.stim_start_ms)
  st:attr("stim_end_ms", geo.stim_end_ms)
  st:attr("feature_names", table.concat(M.feature_names, ","))
  st:attr("layout", "rows of features and traces are (neuron, stimulus) pairs: row = neuron * n_stimuli + stimulus")
  st:dataset("neurons/I_thr", {}, { units = "pA" })
  st:dataset("neurons/s_thr", {}, { units = "Hz/pA" })
  st:dataset("neurons/inside_hull", {}, { units = "1" })
  st:dataset("features", { nf }, { units = "eFEL units (docs/dataset.md); NaN = undefined" })
  if o.traces then st:dataset("traces", { L }, { units = "mV" }) end
  local col = { {}, {}, {} }
  for i, p in ipairs(neurons) do col[1][i], col[2][i], col[3][i] = p[1], p[2], inside[i] and 1 or 0 end
  if R == 0 then -- the neurons once, in rank 0's shard
    st:append("neurons/I_thr", col[1]); st:append("neurons/s_thr", col[2]); st:append("neurons/inside_hull", col[3])
  end

  -- plausibility: the training models' feature ranges at the same amplitudes
  local ranges
  if o.dataset then
    ranges = {}
    local ds <close> = noble.dataset(o.dataset)
    for _, id in ipairs(ds:traces("train")) do
      local tr = ds:trace(id)
      for s, amp in ipairs(o.stimuli) do
        if math.abs(tr.amplitude - amp) < 1e-6 then
          ranges[s] = ranges[s] or {}
          for _, name in ipairs(M.feature_names) do
            local v = tr.features[name]
            if v == v then
              local r = ranges[s][name] or { math.huge, -math.huge }
              r[1], r[2] = math.min(r[1], v), math.max(r[2], v)
              ranges[s][name] = r
            end
          end
        end
      end
    end
  end
  local out_of_range, checked = {}, 0
  local spikes = {}
  run_batches(ctx, neurons, o.stimuli, o.batch, function(first, y, k)
    local f <close> = noble.tensor(k, nf)
    for r = 1, k do
      local idx = first + r - 1
      local n, s = idx // #o.stimuli + 1, idx % #o.stimuli + 1
      local ft = features_of(y, r, geo)
      for j, name in ipairs(M.feature_names) do f:set(r, j, ft[name]) end
      spikes[n] = spikes[n] or {}
      spikes[n][s] = ft.Spikecount_stimint -- the f-I count (docs/dataset.md)
      local rg = ranges and ranges[s]
      if rg and inside[n] then
        for _, name in ipairs(M.feature_names) do
          local v, rr = ft[name], rg[name]
          if rr and v == v then
            checked = checked + 1
            local pad = 0.1 * (rr[2] - rr[1]) + 1e-9 * math.abs(rr[2])
            if v < rr[1] - pad or v > rr[2] + pad then out_of_range[name] = (out_of_range[name] or 0) + 1 end
          end
        end
      end
    end
    st:append("features", f)
    if o.traces then st:append("traces", y) end
  end, progress.counter("population", o.progress and R == 0), first, last)
  local join_s
  if N == 1 then
    st:attr("ranks", 1)
    st:finish()
  else
    st:finish()
    local all = ranks.gather({ spikes = spikes, checked = checked, out_of_range = out_of_range })
    if R ~= 0 then
      return { rank = R, ranks = N, rows = { first, last }, shard = ranks.shard(o.out, R, N) }
    end
    spikes, checked, out_of_range = {}, 0, {}
    for _, part in ipairs(all) do
      for n, row in pairs(part.spikes) do
        spikes[n] = spikes[n] or {}
        for s, v in pairs(row) do spikes[n][s] = v end
      end
      checked = checked + part.checked
      for name, c in pairs(part.out_of_range) do out_of_range[name] = (out_of_range[name] or 0) + c end
    end
    join_s = ranks.join(o.out, N)
  end
  -- f-I curves rise with current: spike counts never fall as the amplitude grows
  local order = {}
  for s = 1, #o.stimuli do order[s] = s end
  table.sort(order, function(a, b) return o.stimuli[a] < o.stimuli[b] end)
  local falling = 0
  for n = 1, #neurons do
    for k = 2, #order do
      if spikes[n][order[k]] < spikes[n][order[k - 1]] - 1 then falling = falling + 1 break end
    end
  end
  local wall = (noble.now() - t0) / 1000
  local report = {
    population = o.out, checkpoint = o.checkpoint, how = how, neurons = #neurons, stimuli_pA = o.stimuli,
    traces = #neurons * #o.stimuli, traces_written = o.traces, wall_s = wall,
    traces_per_s = #neurons * #o.stimuli / wall,
    outside_hull = outside, ranks = N, join_s = join_s,
    checks = {
      fi_rises = { neurons_with_falling_fi = falling, tolerance_spikes = 1,
                   note = "spike counts may not fall by more than one spike as the amplitude grows" },
      feature_ranges = ranges and { values_checked = checked, outside_training_range = out_of_range,
        note = "features of neurons inside the hull against the training models' range at the same "
          .. "amplitude, widened by 10% of the range; amplitudes absent from the dataset are not checked" }
        or "no dataset given: not checked",
    },
  }
  json.write(rpath, report)
  report.report = rpath
  if not o.quiet then
    print(string.format("population: %d neurons x %d stimuli in %.1f s (%.1f traces/s) -> %s; %d outside the "
      .. "hull; %d with a falling f-I curve; report %s", #neurons, #o.stimuli, wall, report.traces_per_s, o.out,
      outside, falling, rpath))
  end
  return report
end

-- ---------------------------------------------------------- variability

local function quantiles(values)
  return { q25 = eval.quantile(values, 0.25), median = eval.quantile(values, 0.5), q75 = eval.quantile(values, 0.75) }
end

-- The two-sample Kolmogorov-Smirnov statistic D (NaN dropped); nil when a
-- sample is empty.
function M.ks(a, b)
  local x, y = {}, {}
  for _, v in ipairs(a) do if v == v then x[#x + 1] = v end end
  for _, v in ipairs(b) do if v == v then y[#y + 1] = v end end
  if #x == 0 or #y == 0 then return nil end
  table.sort(x); table.sort(y)
  local i, j, d = 1, 1, 0
  while i <= #x and j <= #y do
    local v = math.min(x[i], y[j])
    while i <= #x and x[i] <= v do i = i + 1 end
    while j <= #y and y[j] <= v do j = j + 1 end
    d = math.max(d, math.abs((i - 1) / #x - (j - 1) / #y))
  end
  return d
end

-- The spread of responses to one stimulus: every HoF model of the dataset
-- (or a sampled population, population = N) run by noble at amplitude,
-- against NEURON's traces of the same models at that amplitude. Median and
-- inter-quartile range of traces (per sample) and features, a KS statistic
-- per feature. Writes out/variability.json and out/variability.png.
function M.variability(opts)
  cli.check("variability", opts, M.variability_options, 2)
  local o = { batch = 64, seed = 0, progress = true, quiet = false }
  for k, v in pairs(opts or {}) do o[k] = v end
  if not o.dataset then error("variability: which dataset? (dataset = FILE: NEURON's traces to compare with)", 2) end
  o.checkpoint = o.checkpoint or M.shipped("variability")
  if type(o.amplitude) ~= "number" then error("variability: which stimulus? (amplitude = pA)", 2) end
  o.out = o.out or "variability"
  local ds <close> = noble.dataset(o.dataset)
  local ctx = M.load(o.checkpoint, { batch = o.batch, dataset = o.dataset, context = o.context })
  local m <close> = ctx.model
  if o.population then -- its traces are kept as Lua numbers (16 bytes a sample) for the quartiles
    local ok_mem, why = pcall(cli.check_memory, "variability", "population", o.population,
                              2 * 16 * ctx.info.length + 1024)
    if not ok_mem then error(why, 2) end
  end
  local info = ds:info()
  local geo, L = ctx.geometry, ctx.info.length
  local stride = geo.stride or 1
  -- NEURON: the traces at this amplitude, one per model
  local ids, models = {}, {}
  for _, id in ipairs(ds:traces("all")) do
    local tr = ds:trace(id)
    if math.abs(tr.amplitude - o.amplitude) < 1e-6 and not models[tr.model] then
      ids[#ids + 1] = id
      models[tr.model] = true
    end
  end
  if #ids == 0 then error(string.format("variability: the dataset has no trace at %g pA", o.amplitude), 2) end
  local outdir <close> = cli.output_dir(o.out)
  local b = ds:batch(ids, { length = L, stride = stride })
  local neuron_feats = {}
  for r = 1, #ids do
    neuron_feats[r] = features_of(b.voltage, r, geo)
  end
  local vn = b.voltage:table()
  b.current:close(); b.codes:close(); b.voltage:close()
  -- noble: the same models' embeddings (or a sampled population)
  local neurons = {}
  local ensemble
  if o.population then
    neurons = M.sample(ctx, o.population, noble.rng(o.seed))
    ensemble = string.format("%d neurons sampled in the hull (seed %d)", o.population, o.seed)
  else
    for r, id in ipairs(ids) do
      local md = ds:model(ds:trace(id).model)
      neurons[r] = { md.I_thr, md.s_thr }
    end
    ensemble = string.format("the %d HoF models' embeddings", #ids)
  end
  local noble_feats, vp = {}, {}
  run_batches(ctx, neurons, { o.amplitude }, o.batch, function(first, y, k)
    for r = 1, k do
      noble_feats[first + r] = features_of(y, r, geo)
      for i = 1, L do vp[(first + r - 1) * L + i] = y:get(r, i) end
    end
  end, progress.counter("variability", o.progress))
  local function band(flat, n)
    local q = { {}, {}, {} }
    for i = 1, L do
      local col = {}
      for r = 1, n do col[r] = flat[(r - 1) * L + i] end
      table.sort(col)
      q[1][i], q[2][i], q[3][i] = eval.quantile(col, 0.25), eval.quantile(col, 0.5), eval.quantile(col, 0.75)
    end
    return q
  end
  local qn, qp = band(vn, #ids), band(vp, #neurons)
  local feats = {}
  for _, name in ipairs(M.feature_names) do
    local a, c = {}, {}
    for r = 1, #ids do a[r] = neuron_feats[r][name] end
    for r = 1, #neurons do c[r] = noble_feats[r][name] end
    feats[name] = { neuron = quantiles(a), noble = quantiles(c), ks_statistic = M.ks(a, c) }
  end
  local t = {}
  for i = 1, L do t[i] = (i - 1) * geo.dt_ms end
  local band_err = 0
  for i = 1, L do band_err = band_err + math.abs(qp[2][i] - qn[2][i]) end
  local report = {
    checkpoint = o.checkpoint, dataset = o.dataset, amplitude_pA = o.amplitude, ensemble = ensemble,
    neuron_traces = #ids, noble_traces = #neurons, features = feats,
    median_trace_mean_abs_difference_mV = band_err / L,
    units = { voltage = "mV", time = "ms", ks_statistic = "two-sample Kolmogorov-Smirnov D, 0 to 1" },
  }
  local panels = {
    { title = string.format("NEURON, %d models at %g pA: median and IQR", #ids, o.amplitude), xlabel = "t (ms)",
      ylabel = "V (mV)", series = {
        { x = t, y = qn[2], label = "median", color = 1 },
        { x = t, y = qn[1], label = "25% / 75%", color = 1, width = 0.6 },
        { x = t, y = qn[3], color = 1, width = 0.6 } } },
    { title = string.format("noble, %s", ensemble), xlabel = "t (ms)", ylabel = "V (mV)", series = {
        { x = t, y = qp[2], label = "median", color = 2 },
        { x = t, y = qp[1], label = "25% / 75%", color = 2, width = 0.6 },
        { x = t, y = qp[3], color = 2, width = 0.6 } } },
  }
  local fx, fy = {}, {}
  for i, name in ipairs(M.feature_names) do
    local d = feats[name].ks_statistic
    if d then fx[#fx + 1], fy[#fy + 1] = i, d end
  end
  if #fx > 0 then
    panels[3] = { title = "KS statistic per feature (index: report)", xlabel = "feature", ylabel = "D",
                  ylim = { 0, 1.05 }, series = { { x = fx, y = fy, style = "points", color = 3, label = "D" } } }
  end
  noble.plot{ path = outdir:file(o.out .. "/variability.png"), width = 1500, height = 450, rows = 1, cols = #panels,
              title = string.format("variability at %g pA", o.amplitude), panels = panels }
  report.feature_index = M.feature_names
  report.plot = o.out .. "/variability.png"
  json.write(outdir:file(o.out .. "/variability.json"), report)
  report.path = o.out .. "/variability.json"
  if not o.quiet then
    print(string.format("variability at %g pA: NEURON %d traces, noble %d; median traces differ by %.2f mV on "
      .. "average; Spikecount KS %.2f -> %s", o.amplitude, #ids, #neurons, report.median_trace_mean_abs_difference_mV,
      feats.Spikecount.ks_statistic or 0 / 0, report.path))
  end
  return report
end

return M
