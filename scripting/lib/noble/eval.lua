-- noble.eval: how well a trained operator reproduces its ground truth
-- (docs/training.md, "Evaluation").
--
--   local eval = require("noble.eval")
--   local report = eval.run{checkpoint = "runs/pvalb/best.h5", out = "runs/pvalb/eval"}
--
-- For each split (train, validation, test): relative L1, L2 and L4 errors
-- per trace, per model and per amplitude; the eFEL-named features of
-- prediction and NEURON on the same window, their relative errors (spiking
-- traces: the spiking features; others: the subthreshold ones), and the
-- traces where the two disagree on firing ("missed firing": NEURON fires,
-- the prediction does not; "missed non-firing": the reverse), left out of
-- the feature errors; f-I curves of every model, predicted and NEURON's.
-- A trace fires when a spike peaks inside the step, and its rate is those
-- spikes over the step's duration (Spikecount_stimint / duration): the one
-- f-I definition of the project (docs/dataset.md). Undefined features (NaN)
-- are never errors of 0: they are counted apart (undefined on one side or on
-- both), as are true values of 0. Writes report.json and traces.png, fi.png,
-- errors.png.
local noble = require("noble")
local json = require("noble.json")
local progress = require("noble.progress")
local cli = require("noble.cli")
local ranks = require("noble.ranks")

local M = {}

M.spiking_features = { "Spikecount", "time_to_first_spike", "AP1_peak", "AP1_width", "mean_AP_amplitude",
  "AHP_depth", "AHP1_depth_from_peak", "AHP_time_from_peak", "inv_first_ISI", "mean_frequency",
  "voltage_base", "steady_state_voltage", "steady_state_voltage_stimend",
  "decay_time_constant_after_stim", "depol_block_bool" }
M.subthreshold_features = { "sag_amplitude", "voltage_base", "steady_state_voltage",
  "steady_state_voltage_stimend", "decay_time_constant_after_stim" }
-- Features whose error is |pred - true| (0/1 answers: the fraction that
-- disagree), not relative. depol_block_bool stands for NOBLE's depol_block,
-- which eFEL leaves undefined (NaN) exactly where a block is.
M.absolute_error = { depol_block_bool = true }

-- The f-I count of a trace's features: spikes peaking in the step.
function M.fi_count(f) return f.Spikecount_stimint end

local function mean(t)
  local s, n = 0, 0
  for _, v in ipairs(t) do if v == v then s, n = s + v, n + 1 end end
  return n > 0 and s / n or nil
end

local function quantile(t, q)
  local v = {}
  for _, x in ipairs(t) do if x == x then v[#v + 1] = x end end
  if #v == 0 then return nil end
  table.sort(v)
  local pos = 1 + (#v - 1) * q
  local lo = math.floor(pos)
  local hi = math.min(lo + 1, #v)
  return v[lo] + (v[hi] - v[lo]) * (pos - lo)
end

M.quantile = quantile

local function summary(t)
  return { mean = mean(t), median = quantile(t, 0.5), q25 = quantile(t, 0.25), q75 = quantile(t, 0.75), n = #t }
end

-- The error of one feature, or nil and why not: "undefined_truth" (NEURON's
-- is NaN), "undefined_pred" (the prediction's), "undefined_both", "zero_truth".
local function feature_err(name, p, t)
  if p ~= p and t ~= t then return nil, "undefined_both" end
  if t ~= t then return nil, "undefined_truth" end
  if p ~= p then return nil, "undefined_pred" end
  if M.absolute_error[name] then return math.abs(p - t) end
  if t == 0 then return nil, "zero_truth" end
  return math.abs(p - t) / math.abs(t)
end

-- Evaluates every trace of one split. Returns the split's report and the
-- per-trace records (for plots). Across the ranks of an MPI job each rank
-- runs a fixed block of whole batches and rank 0 gathers the records (in
-- trace order, as one process makes them); the other ranks return nothing.
local function eval_split(m, ds, split, o, show)
  local info = ds:info()
  local ids = ds:traces(split)
  local recs = {}
  local dt = info.dt_ms * o.stride
  local dur_s = (info.stim_end_ms - info.stim_start_ms) / 1000
  local first, last = ranks.block(#ids, o.batch)
  show(split, 0, last - first + 1)
  for i = first, last, o.batch do
    local part = table.move(ids, i, math.min(i + o.batch - 1, last), 1, {})
    local b = ds:batch(part, { length = o.length, stride = o.stride })
    local y = m:predict(b)
    local met = noble.metrics(y, b.voltage)
    for j, id in ipairs(part) do
      local t0 = b.starts[j] * info.dt_ms -- the window's first sample, ms into the trace
      local s0, s1 = info.stim_start_ms - t0, info.stim_end_ms - t0
      local fp = noble.features(y, dt, s0, s1, j)
      local ft = noble.features(b.voltage, dt, s0, s1, j)
      local tr = ds:trace(id)
      recs[#recs + 1] = { id = id, model = tr.model, amplitude = tr.amplitude,
        l1 = met.l1[j], l2 = met.l2[j], l4 = met.l4[j], pred = fp, truth = ft,
        rate_pred = M.fi_count(fp) / dur_s, rate_true = M.fi_count(ft) / dur_s }
    end
    y:close(); b.current:close(); b.voltage:close(); b.codes:close()
    show(split, #recs, last - first + 1)
  end
  if ranks.size() > 1 then
    local all = ranks.gather(recs)
    if not all then return nil end
    recs = {}
    for _, part in ipairs(all) do table.move(part, 1, #part, #recs + 1, recs) end
  end
  -- errors per trace, model, amplitude
  local l = { l1 = {}, l2 = {}, l4 = {} }
  local ls = { l1 = {}, l2 = {}, l4 = {} } -- over the traces where NEURON fires
  local by_model, by_amp = {}, {}
  local feat_err = {}
  local missed_firing, missed_nonfiring, spiking, nonspiking = 0, 0, 0, 0
  for _, r in ipairs(recs) do
    for _, k in ipairs({ "l1", "l2", "l4" }) do l[k][#l[k] + 1] = r[k] end
    by_model[r.model] = by_model[r.model] or { l4 = {}, l2 = {}, l1 = {} }
    local amp = string.format("%g", r.amplitude)
    by_amp[amp] = by_amp[amp] or { l4 = {}, l2 = {}, l1 = {} }
    for _, k in ipairs({ "l1", "l2", "l4" }) do
      table.insert(by_model[r.model][k], r[k]); table.insert(by_amp[amp][k], r[k])
    end
    local tf, pf = M.fi_count(r.truth) > 0, M.fi_count(r.pred) > 0
    if tf then for _, k in ipairs({ "l1", "l2", "l4" }) do ls[k][#ls[k] + 1] = r[k] end end
    if tf and not pf then missed_firing = missed_firing + 1
    elseif pf and not tf then missed_nonfiring = missed_nonfiring + 1
    else
      if tf then spiking = spiking + 1 else nonspiking = nonspiking + 1 end
      local kind = tf and "spiking" or "subthreshold"
      for _, name in ipairs(tf and M.spiking_features or M.subthreshold_features) do
        local e, why = feature_err(name, r.pred[name], r.truth[name])
        feat_err[name] = feat_err[name] or { spiking = {}, subthreshold = {}, missing = {} }
        local f = feat_err[name]
        if e then table.insert(f[kind], e)
        else
          f.missing[kind] = f.missing[kind] or {}
          f.missing[kind][why] = (f.missing[kind][why] or 0) + 1
        end
      end
    end
  end
  local models, amps, feats = {}, {}, {}
  for mid, v in pairs(by_model) do
    models[#models + 1] = { model = mid, l1 = mean(v.l1), l2 = mean(v.l2), l4 = mean(v.l4), traces = #v.l4 }
  end
  table.sort(models, function(a, b) return a.model < b.model end)
  for a, v in pairs(by_amp) do
    amps[#amps + 1] = { amplitude_pA = tonumber(a), l1 = mean(v.l1), l2 = mean(v.l2), l4 = mean(v.l4), traces = #v.l4 }
  end
  table.sort(amps, function(a, b) return a.amplitude_pA < b.amplitude_pA end)
  for name, v in pairs(feat_err) do
    local undefined = 0
    for _, m in pairs(v.missing) do for _, c in pairs(m) do undefined = undefined + c end end
    feats[name] = { spiking = #v.spiking > 0 and summary(v.spiking) or nil,
                    subthreshold = #v.subthreshold > 0 and summary(v.subthreshold) or nil,
                    error = M.absolute_error[name] and "absolute" or "relative",
                    missing = v.missing, undefined = undefined }
  end
  -- f-I curves: rate against amplitude per model
  local fi = {}
  for _, r in ipairs(recs) do
    fi[r.model] = fi[r.model] or {}
    table.insert(fi[r.model], { r.amplitude, r.rate_true, r.rate_pred })
  end
  local fi_out, fi_diff = {}, {}
  for mid, pts in pairs(fi) do
    table.sort(pts, function(a, b) return a[1] < b[1] end)
    local amp, rt, rp, d = {}, {}, {}, {}
    for k, p in ipairs(pts) do
      amp[k], rt[k], rp[k] = p[1], p[2], p[3]
      d[#d + 1] = math.abs(p[3] - p[2])
    end
    fi_out[#fi_out + 1] = { model = mid, amplitude_pA = amp, rate_neuron_Hz = rt, rate_noble_Hz = rp,
                            mean_abs_rate_error_Hz = mean(d) }
    fi_diff[#fi_diff + 1] = mean(d)
  end
  table.sort(fi_out, function(a, b) return a.model < b.model end)
  return {
    traces = #recs, models = #models,
    relative_error = { l1 = summary(l.l1), l2 = summary(l.l2), l4 = summary(l.l4) },
    relative_error_spiking = #ls.l4 > 0 and { l1 = summary(ls.l1), l2 = summary(ls.l2), l4 = summary(ls.l4) } or nil,
    per_model = models, per_amplitude = amps, features = feats,
    spiking_traces = spiking, nonspiking_traces = nonspiking,
    missed_firing = missed_firing, missed_nonfiring = missed_nonfiring,
    fi = fi_out, fi_mean_abs_rate_error_Hz = mean(fi_diff),
  }, recs
end

M.defaults = { checkpoint = nil, dataset = nil, out = nil, splits = { "train", "validation", "test" },
               batch = 16, stride = nil, length = nil, plots = true, progress = true, quiet = false }

-- What each option takes (noble.cli specs; `noble eval` parses with them).
M.options = { checkpoint = cli.string, dataset = cli.string, out = cli.string, splits = cli.any,
              batch = cli.int(1, 65536), stride = cli.int(1, 1024), length = cli.int(8, 1048576),
              plots = cli.boolean, progress = cli.boolean, quiet = cli.boolean, context = cli.any }

-- Runs the evaluation; returns the report (also written to out/report.json).
-- The output directory is made only once the checkpoint and dataset are
-- read; a failure removes what was made.
function M.run(opts)
  cli.check("eval", opts, M.options, 2)
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  if type(o.splits) ~= "table" or #o.splits == 0 then
    error("eval: splits = " .. tostring(o.splits) .. ": expected a list of \"train\", \"validation\", \"test\"", 2)
  end
  for _, sp in ipairs(o.splits) do
    if sp ~= "train" and sp ~= "validation" and sp ~= "test" then
      error("eval: splits: '" .. tostring(sp) .. "': expected one of \"train\", \"validation\", \"test\"", 2)
    end
  end
  if not o.checkpoint then
    o.checkpoint = noble.pretrained -- the shipped model; its report in the working folder
    o.out = o.out or "pretrained-eval"
    local f = io.open(o.checkpoint, "rb")
    if not f then error("eval: no checkpoint given and the shipped one, " .. o.checkpoint .. ", is missing", 2) end
    f:close()
  end
  local t_start = noble.now()
  local m <close> = noble.model{ checkpoint = o.checkpoint, training = false, max_batch = o.batch,
                                 context = o.context }
  local mi = m:info()
  if not mi.embedding then
    error("eval: " .. o.checkpoint .. " has no embedding: it was not trained on a dataset by noble train", 2)
  end
  local state = mi.state and json.decode(mi.state) or {}
  local trained = state.options or {}
  if not o.dataset and trained.dataset then
    -- the dataset it was trained on: where training found it, or, where that is
    -- not (a checkpoint moved to another machine, the shipped one), the same
    -- file name under data/ of the working folder
    local function readable(path)
      local f = io.open(path, "rb")
      if f then f:close() end
      return f ~= nil
    end
    local here = "data/" .. trained.dataset:match("[^/]*$")
    o.dataset = readable(trained.dataset) and trained.dataset or readable(here) and here or
      error("eval: " .. o.checkpoint .. " was trained on " .. trained.dataset .. ", which is not there, nor " ..
        here .. " (dataset = FILE)", 2)
  end
  o.dataset = o.dataset or error("eval: which dataset? (dataset = FILE)", 2)
  o.stride = o.stride or trained.stride or 1
  o.length = o.length or mi.length
  if o.length ~= mi.length then
    error(string.format("eval: the model takes windows of %d samples, not %d", mi.length, o.length), 2)
  end
  o.out = o.out or (o.checkpoint:gsub("%.h5$", "") .. "-eval")
  local ds <close> = noble.dataset(o.dataset)
  local info = ds:info()
  if (o.length - 1) * o.stride >= info.n_samples then
    error(string.format("eval: the model's window of %d samples at stride %d does not fit the %d samples of %s",
      o.length, o.stride, info.n_samples, o.dataset), 2)
  end
  -- across ranks (docs/mpi.md): rank 0 alone makes the output directory,
  -- the report and the plots
  local R, N = ranks.rank(), ranks.size()
  local outdir <close> = R == 0 and cli.output_dir(o.out) or nil
  local counters = {}
  local function show(split, k, n)
    counters[split] = counters[split] or progress.counter("eval " .. split .. ":", o.progress and R == 0)
    counters[split](k, n)
  end
  local report = {
    checkpoint = o.checkpoint, dataset = o.dataset, cell = info.cell,
    model = { parameters = mi.parameters, width = mi.width, blocks = mi.blocks, modes = mi.modes,
              length = mi.length, epoch = mi.epoch, best_validation_l4 = mi.best_metric },
    window = { samples = o.length, dt_ms = info.dt_ms * o.stride, stride = o.stride,
               start = "15 ms before the step, no jitter" },
    device = (function() -- the context the model runs on (the CPU backend is no Vulkan device)
      local ci = (o.context or noble.device()):info()
      return ci.name .. " (" .. ci.driver .. ")"
    end)(),
    units = { current = "pA", voltage = "mV", rate = "Hz", time = "ms", errors = "relative (1 = 100%)" },
    splits = {}, ranks = N,
  }
  local recs = {}
  for _, split in ipairs(o.splits) do
    if #ds:traces(split) > 0 then
      report.splits[split], recs[split] = eval_split(m, ds, split, o, show)
    end
  end
  if R ~= 0 then return { rank = R, ranks = N } end
  report.wall_s = (noble.now() - t_start) / 1000
  if o.plots then
    for _, name in ipairs({ "traces.png", "fi.png", "errors.png" }) do outdir:file(o.out .. "/" .. name) end
    report.plots = M.plot(m, ds, o, report, recs)
  end
  json.write(outdir:file(o.out .. "/report.json"), report)
  report.path = o.out .. "/report.json"
  if not o.quiet then
    for _, split in ipairs(o.splits) do
      local r = report.splits[split]
      if r then
        print(string.format("eval %-10s %4d traces %2d models: relative L4 %.4f (median %.4f), L2 %.4f, L1 %.4f; "
          .. "missed firing %d, missed non-firing %d; f-I error %.1f Hz",
          split, r.traces, r.models, r.relative_error.l4.mean, r.relative_error.l4.median,
          r.relative_error.l2.mean, r.relative_error.l1.mean, r.missed_firing, r.missed_nonfiring,
          r.fi_mean_abs_rate_error_Hz or 0 / 0))
      end
    end
    print("eval: report " .. report.path .. (report.plots and ("; plots " .. table.concat(report.plots, ", ")) or ""))
  end
  return report
end

local palette = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b" }

-- The plots: traces overlaid, f-I curves, error distributions.
function M.plot(m, ds, o, report, recs)
  local info = ds:info()
  local split = recs.test and "test" or recs.validation and "validation" or "train"
  local files = {}
  -- traces: up to 3 models of the held-out split, 3 amplitudes each
  local models, of = {}, {}
  for _, r in ipairs(recs[split]) do
    if not of[r.model] then of[r.model] = {}; models[#models + 1] = r.model end
    table.insert(of[r.model], r)
  end
  local panels = {}
  local dt = info.dt_ms * o.stride
  for k = 1, math.min(3, #models) do
    local list = of[models[k]]
    table.sort(list, function(a, b) return a.amplitude < b.amplitude end)
    local pick = { list[1], list[(#list + 1) // 2 + 1] or list[#list], list[#list] }
    for _, r in ipairs(pick) do
      local b = ds:batch({ r.id }, { length = o.length, stride = o.stride })
      local y = m:predict(b)
      local t = {}
      for i = 1, o.length do t[i] = (b.starts[1] + (i - 1) * o.stride) * info.dt_ms end
      panels[#panels + 1] = {
        title = string.format("%s model %d, %g pA (L4 %.3f)", split, r.model, r.amplitude, r.l4),
        xlabel = "t (ms)", ylabel = "V (mV)",
        series = { { x = t, y = b.voltage:table(), label = "NEURON", color = palette[1] },
                   { x = t, y = y:table(), label = "noble", color = palette[2] } },
      }
      y:close(); b.current:close(); b.voltage:close(); b.codes:close()
    end
  end
  local cols = 3
  noble.plot{ path = o.out .. "/traces.png", width = 1500, height = 330 * math.ceil(#panels / cols),
              title = "NEURON and noble, " .. split .. " models", rows = math.ceil(#panels / cols),
              cols = cols, panels = panels }
  files[#files + 1] = o.out .. "/traces.png"
  -- f-I curves of the held-out models
  panels = {}
  for _, c in ipairs(report.splits[split].fi) do
    if #panels >= 12 then break end
    local top = 10
    for k = 1, #c.amplitude_pA do top = math.max(top, c.rate_neuron_Hz[k], c.rate_noble_Hz[k]) end
    panels[#panels + 1] = {
      ylim = { -0.03 * top, 1.08 * top }, legend = "top left", -- f-I curves rise to the right
      title = string.format("%s model %d (mean |error| %.1f Hz)", split, c.model, c.mean_abs_rate_error_Hz or 0),
      xlabel = "I (pA)", ylabel = "rate (Hz)",
      series = { { x = c.amplitude_pA, y = c.rate_neuron_Hz, label = "NEURON", color = palette[1], style = "linepoints" },
                 { x = c.amplitude_pA, y = c.rate_noble_Hz, label = "noble", color = palette[2], style = "linepoints" } },
    }
  end
  cols = math.min(4, #panels)
  noble.plot{ path = o.out .. "/fi.png", width = 350 * cols + 100, height = 300 * math.ceil(#panels / cols),
              title = "f-I curves, " .. split .. " models", rows = math.ceil(#panels / cols), cols = cols,
              panels = panels }
  files[#files + 1] = o.out .. "/fi.png"
  -- error distributions: relative L4 per split, feature errors
  panels = {}
  for i, s in ipairs({ "train", "validation", "test" }) do
    if recs[s] then
      local v = {}
      for _, r in ipairs(recs[s]) do v[#v + 1] = r.l4 end
      panels[#panels + 1] = { title = "relative L4, " .. s, xlabel = "relative L4 error", ylabel = "traces",
                              hist = { values = v, bins = 30, label = s, color = palette[i] } }
    end
  end
  local fx, fy, names = {}, {}, {}
  for _, name in ipairs(M.spiking_features) do
    local f = report.splits[split].features[name]
    if f and f.spiking and f.spiking.median then
      fx[#fx + 1] = #fx + 1; fy[#fy + 1] = f.spiking.median; names[#names + 1] = #fx .. " " .. name
    end
  end
  if #fx > 0 then
    panels[#panels + 1] = { title = "median feature error (" .. split .. ", spiking traces)",
                            xlabel = "feature (see report.json)", ylabel = "relative error", logy = true,
                            series = { { x = fx, y = fy, label = "median", color = palette[2], style = "points" } } }
  end
  noble.plot{ path = o.out .. "/errors.png", width = 1400, height = 400, title = "error distributions",
              rows = 1, cols = #panels, panels = panels }
  files[#files + 1] = o.out .. "/errors.png"
  report.feature_index = names
  return files
end

return M
