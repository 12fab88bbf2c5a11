-- noble.train: NOBLE's training recipe on a ground-truth dataset (docs/training.md).
--
--   local train = require("noble.train")
--   local result = train.run{dataset = "data/pvalb60.h5", out = "runs/pvalb"}
--
-- The published recipe is the default: relative L4 loss, AdamW (lr 4e-3,
-- betas 0.9/0.999, eps 1e-6, no weight decay), batches of 64 traces,
-- ReduceLROnPlateau on the training loss (factor 0.4, patience 4), windows
-- whose start is jittered by 0-30 ms, 300 epochs. The embedding's scaler is
-- fitted on the training models only; the best epoch is chosen on the
-- validation models only (never the test models).
--
-- The run directory holds last.h5 (every epoch: resume from it), best.h5
-- (the best validation epoch) and log.jsonl (one line per epoch). A run
-- started again with the same options resumes where last.h5 ends and ends
-- where an uninterrupted run would (same seed, same device).
--
-- Under mpirun (docs/mpi.md) the training is data-parallel: every rank draws
-- the same batches, runs the forward and backward of its contiguous share of
-- each batch, the ranks' gradients are summed in a fixed order
-- (noble.mpi.allreduce_sum_fixed) and every rank takes the same AdamW step on
-- the same sum. The validation is split across the ranks by blocks of
-- batches as noble eval does; only rank 0 writes the run directory.
local noble = require("noble")
local json = require("noble.json")
local progress = require("noble.progress")
local cli = require("noble.cli")
local ranks = require("noble.ranks")

local M = {}

M.defaults = {
  dataset = "data/pvalb60.h5",
  out = "runs/noble",
  preset = "noble",      -- the network; these fields override it:
  width = nil, blocks = nil, modes = nil, lifting_channels = nil,
  projection_channels = nil, mlp_channels = nil,
  stride = 1,            -- keep every stride-th sample (a coarser time step)
  length = nil,          -- samples per window; default: the largest the FFT
                         -- takes exactly within the dataset's window
  epochs = 300,
  batch = 64,
  max_batch = nil,       -- traces per device call; default: batch
  lr = 4e-3,
  weight_decay = 0,
  p = 4,                 -- relative Lp loss
  factor = 0.4, patience = 4, threshold = 1e-4, min_lr = 0,
  jitter = true,         -- random window starts (the dataset's jitter range)
  seed = 0,
  resume = true,         -- continue from OUT/last.h5 when there is one
  time_limit_s = nil,    -- stop after the epoch that would pass this
  amp_freqs = 9, feat_freqs = 1,
  voltage_scale = 100,   -- mV: the network predicts V / voltage_scale
  sag_lambda = 0,        -- > 0: NOBLE's sag fine-tune, loss + lambda * relative squared sag error
  sag_tau = 0.1,         -- mV: the soft minimum's temperature
  spike_lambda = 0,      -- > 0: loss + lambda * the spike-count term (not in the published recipe)
  spike_threshold = -20, -- mV: where the soft count's logistic is one half
  spike_width = 5,       -- mV: the logistic's width
  shape_lambda = 0,      -- > 0: loss + lambda * the shape term (sorted values and changes; not published)
  select = "l4",         -- the best epoch: lowest validation "l4", or lowest validation f-I error ("fi")
  init = "",             -- a checkpoint to start from (its parameters, moments and embedding),
                         -- as the fine-tune does: --init runs/x/best.h5 --sag-lambda 25 --lr 5e-4 --patience 12
  progress = true,       -- a progress bar on stderr
  quiet = false,         -- no summary lines on stdout
}

-- Settings that must agree between a run and its resumption.
local fixed = { "dataset", "preset", "width", "blocks", "modes", "lifting_channels",
                "projection_channels", "mlp_channels", "stride", "length", "batch", "p",
                "factor", "patience", "threshold", "min_lr", "jitter", "seed",
                "amp_freqs", "feat_freqs", "voltage_scale", "weight_decay", "sag_lambda", "sag_tau",
                "spike_lambda", "spike_threshold", "spike_width", "shape_lambda", "select" }

-- What each option takes (noble.cli specs): `noble train` parses its
-- arguments with these, train.run checks its table with them, so both give
-- the same message. The ranges are the network's (nm_config_check), the
-- device call's (max_batch) and what makes sense for the recipe.
M.options = {
  dataset = cli.string, out = cli.string, preset = cli.choice("noble", "small"), init = cli.string,
  width = cli.int(1, 256), blocks = cli.int(1, 64), modes = cli.int(1, 524287),
  lifting_channels = cli.int(1, 256), projection_channels = cli.int(1, 256), mlp_channels = cli.int(1, 256),
  stride = cli.int(1, 1024), length = cli.int(8, 1048576),
  epochs = cli.int(1, 1000000), batch = cli.int(1, 65536), max_batch = cli.int(1, 65536),
  lr = cli.num(0, 1, true), weight_decay = cli.num(0, 10),
  p = cli.choice(2, 4), factor = cli.num(0, 1, true), patience = cli.int(0, 1000000), threshold = cli.num(0, 1),
  min_lr = cli.num(0, 1),
  jitter = cli.boolean, seed = cli.int(0, 2 ^ 53), resume = cli.boolean, time_limit_s = cli.num(0, 1e9, true),
  amp_freqs = cli.int(0, 16), feat_freqs = cli.int(0, 16), voltage_scale = cli.num(0, 1e6, true),
  sag_lambda = cli.num(0, 1e6), sag_tau = cli.num(0, 1e3, true),
  spike_lambda = cli.num(0, 1e6), spike_threshold = cli.num(-1000, 1000), spike_width = cli.num(0, 1e3, true),
  shape_lambda = cli.num(0, 1e6),
  select = cli.choice("l4", "fi"), progress = cli.boolean, quiet = cli.boolean,
  context = cli.any,
}

local function with_defaults(opts)
  cli.check("train", opts, M.options, 3)
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.max_batch and o.max_batch < o.batch then
    error(string.format("train: max_batch = %d: expected an integer from batch (%d) to 65536 (a device call "
      .. "takes a whole batch)", o.max_batch, o.batch), 3)
  end
  return o
end

-- The embedding with its scaler fitted on the training models only:
-- amplitude over their traces, I_thr and s_thr over the models.
function M.fit_embedding(ds, o)
  o = o or M.defaults
  local lo = { math.huge, math.huge, math.huge }
  local hi = { -math.huge, -math.huge, -math.huge }
  local amax = 0
  for _, t in ipairs(ds:traces("train")) do
    local a = ds:trace(t).amplitude
    lo[1] = math.min(lo[1], a); hi[1] = math.max(hi[1], a)
    amax = math.max(amax, math.abs(a))
  end
  for _, mid in ipairs(ds:models("train")) do
    local m = ds:model(mid)
    lo[2] = math.min(lo[2], m.I_thr); hi[2] = math.max(hi[2], m.I_thr)
    lo[3] = math.min(lo[3], m.s_thr); hi[3] = math.max(hi[3], m.s_thr)
  end
  if lo[1] == math.huge then error("train: the dataset has no training models", 2) end
  return {
    amp_freqs = o.amp_freqs, feat_freqs = o.feat_freqs,
    names = { "amplitude", "I_thr", "s_thr" }, units = { "pA", "pA", "Hz/pA" },
    min = lo, max = hi, lo = 0.5, hi = 3.5,
    current_scale = amax > 0 and amax or 1, voltage_scale = o.voltage_scale,
  }
end

-- Samples per window for a dataset at a stride: the largest length the
-- operator takes that fits the dataset's window.
function M.window_length(ds, stride)
  local info = ds:info()
  local n = math.floor(info.window_ms / info.dt_ms / (stride or 1))
  if n < 8 then
    error(string.format("train: stride = %d leaves %d samples in the %g ms window of %s (the FFT needs 8): "
      .. "expected at most %d", stride, n, info.window_ms, info.path, math.floor(info.window_ms / info.dt_ms / 8)), 2)
  end
  return noble.fft_length(n)
end

-- The window as a checkpoint records it: sample spacing, the unjittered
-- window's start in the trace, and the step's place in the window.
function M.geometry(ds, stride, length)
  local info = ds:info()
  local start_ms = ds:window_start(0) * info.dt_ms
  return { dt_ms = info.dt_ms * stride, stride = stride, length = length, source_dt_ms = info.dt_ms,
           window_start_ms = start_ms, stim_start_ms = info.stim_start_ms - start_ms,
           stim_end_ms = info.stim_end_ms - start_ms, cell = info.cell }
end

local function close_batch(b)
  b.current:close(); b.voltage:close(); b.codes:close()
end

-- Mean relative Lp errors (l1, l2, l4) of the model on traces ids, windows
-- without jitter, and fi: the mean absolute difference of firing rate in the
-- step (Hz) between prediction and truth. Returns the means and the
-- per-trace table of noble.metrics.
function M.evaluate(m, ds, ids, o)
  local per = { l1 = {}, l2 = {}, l4 = {}, fi = {} }
  local chunk = o.max_batch or o.batch or 16
  local info = ds:info()
  local dt, dur_s = info.dt_ms * o.stride, (info.stim_end_ms - info.stim_start_ms) / 1000
  for i = 1, #ids, chunk do
    local part = table.move(ids, i, math.min(i + chunk - 1, #ids), 1, {})
    local b = ds:batch(part, { length = o.length, stride = o.stride })
    local y = m:predict(b)
    local met = noble.metrics(y, b.voltage)
    for _, k in ipairs({ "l1", "l2", "l4" }) do
      for j = 1, #part do per[k][#per[k] + 1] = met[k][j] end
    end
    for j = 1, #part do
      local t0 = b.starts[j] * info.dt_ms
      local s0, s1 = info.stim_start_ms - t0, info.stim_end_ms - t0
      local cp = noble.features(y, dt, s0, s1, j).Spikecount_stimint
      local ct = noble.features(b.voltage, dt, s0, s1, j).Spikecount_stimint
      per.fi[#per.fi + 1] = math.abs(cp - ct) / dur_s
    end
    y:close(); close_batch(b)
  end
  local mean = {}
  for k, v in pairs(per) do
    local s = 0
    for _, x in ipairs(v) do s = s + x end
    mean[k] = #v > 0 and s / #v or 0 / 0
  end
  return mean, per
end

-- M.evaluate across the ranks of an MPI job: rank r evaluates its block of
-- the batches of ids (noble.ranks.block: the batches one process would run),
-- the per-trace values come to rank 0 exactly and in trace order, and every
-- rank gets the means rank 0 computes, the same bits as one process's.
local function evaluate_ranks(m, ds, ids, o)
  local n = noble.mpi.size()
  if n == 1 then return (M.evaluate(m, ds, ids, o)) end
  local first, last = ranks.block(#ids, o.max_batch or o.batch or 16)
  local per = { l1 = {}, l2 = {}, l4 = {}, fi = {} }
  if last >= first then
    local _, p = M.evaluate(m, ds, table.move(ids, first, last, 1, {}), o)
    per = p
  end
  local all = ranks.gather(per)
  local packed
  if all then
    local mean = {}
    for _, k in ipairs({ "l1", "l2", "l4", "fi" }) do
      local s, c = 0, 0
      for _, pr in ipairs(all) do
        for _, x in ipairs(pr[k]) do s, c = s + x, c + 1 end
      end
      mean[k] = c > 0 and s / c or 0 / 0
    end
    packed = ranks.pack(mean)
  end
  return ranks.unpack(noble.mpi.bcast(packed))
end

local function clock_string(s)
  if s ~= s or s == math.huge then return "--:--" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, s % 3600 // 60) end
  return string.format("%d:%02d", s // 60, s % 60)
end

local function bar(frac, width)
  local n = math.floor(frac * width + 0.5)
  return "[" .. string.rep("#", n) .. string.rep(".", width - n) .. "]"
end

local function read_log(path, upto)
  local lines = {}
  local f = io.open(path, "r")
  if not f then return lines end
  for line in f:lines() do
    local ok, rec = pcall(json.decode, line)
    if ok and rec and rec.epoch and rec.epoch <= upto then lines[#lines + 1] = line end
  end
  f:close()
  return lines
end

-- Runs (or resumes) training. Returns a summary table.
function M.run(opts)
  -- Everything is checked, and the model made, before the run directory is:
  -- a failure before the first epoch is saved leaves nothing behind.
  local o = with_defaults(opts)
  local nr, rk = noble.mpi.size(), noble.mpi.rank()
  local root = rk == 0
  local t_start = noble.now and noble.now() or os.time()
  local ds <close> = noble.dataset(o.dataset)
  local info = ds:info()
  o.length = o.length or M.window_length(ds, o.stride)
  if (o.length - 1) * o.stride >= info.n_samples then
    error(string.format("train: length = %d at stride %d spans %d samples, %s has %d", o.length, o.stride,
      (o.length - 1) * o.stride + 1, o.dataset, info.n_samples), 2)
  end
  local train_ids, val_ids = ds:traces("train"), ds:traces("validation")
  if #train_ids == 0 then error("train: " .. o.dataset .. " has no training traces", 2) end

  local last_path, best_path, log_path = o.out .. "/last.h5", o.out .. "/best.h5", o.out .. "/log.jsonl"
  local rng = noble.rng(o.seed)
  local lr = o.lr
  local sched = { best = math.huge, bad = 0 }
  local best_val, best_epoch = math.huge, 0
  local start_epoch = 1
  local m
  local resumed = false
  local f = o.resume and io.open(last_path, "r")
  if f then
    f:close()
    m = noble.model{ checkpoint = last_path, max_batch = o.max_batch or o.batch, context = o.context }
    local st = json.decode(m:info().state or error("train: " .. last_path .. " holds no training state"))
    for _, k in ipairs(fixed) do
      local a, b = st.options[k], o[k]
      if a == nil then a = M.defaults[k] end -- a setting added since that run: its default
      if a ~= b and not (a == nil and b == nil) then
        m:close()
        error(string.format("train: %s was made with %s = %s, this run asks for %s (use another out "
          .. "directory, or resume = false to start over)", last_path, k, tostring(a), tostring(b)), 2)
      end
    end
    if (st.ranks or 1) ~= nr then
      m:close()
      error(string.format("train: %s was trained across %d MPI rank(s), this run has %d: resume with the same "
        .. "rank count (mpirun -np %d; the rank count sets how each batch is split and so the last bits of the "
        .. "gradients, docs/mpi.md), or start from it with --init (resume = false)", last_path, st.ranks or 1, nr,
        st.ranks or 1), 2)
    end
    rng:set_state(st.rng)
    lr, sched, best_val, best_epoch = st.lr, st.sched, st.best_val or math.huge, st.best_epoch
    start_epoch = st.epoch + 1
    resumed = true
  elseif o.init ~= "" then
    m = noble.model{ checkpoint = o.init, max_batch = o.max_batch or o.batch, context = o.context }
    local mi = m:info()
    if not mi.embedding or mi.length ~= o.length then
      m:close()
      error(string.format("train: %s %s", o.init, not mi.embedding and "has no embedding (not made by noble train)"
        or string.format("takes windows of %d samples, this run %d (stride and length must match)", mi.length, o.length)), 2)
    end
  else
    local emb = M.fit_embedding(ds, o)
    local in_ch = 1 + 2 * o.amp_freqs + 2 * 2 * o.feat_freqs
    m = noble.model{
      preset = o.preset, width = o.width, blocks = o.blocks, modes = o.modes,
      lifting_channels = o.lifting_channels, projection_channels = o.projection_channels,
      mlp_channels = o.mlp_channels, in_channels = in_ch, length = o.length,
      max_batch = o.max_batch or o.batch, seed = o.seed, embedding = emb, context = o.context,
    }
  end
  -- the log keeps the epochs that the checkpoint has
  -- only rank 0 writes the run directory
  local outdir <close> = root and cli.output_dir(o.out) or
    setmetatable({ file = function(_, p) return p end, keep = function() end }, { __close = function() end })
  local logf = nil
  if root then
    local keep = read_log(log_path, start_epoch - 1)
    outdir:file(log_path)
    local why
    logf, why = io.open(log_path, "w")
    if not logf then
      m:close()
      error("train: cannot write the run's log: " .. why, 2)
    end
    for _, line in ipairs(keep) do logf:write(line, "\n") end
    logf:flush()
  end

  local mi = m:info()
  local say = (o.quiet or not root) and function() end or function(...) print(string.format(...)) end
  say("train: %s, %d training traces (%d models), %d validation traces; %s%s, %d parameters, window %d samples at %.3g ms",
      o.dataset, #train_ids, #ds:models("train"), #val_ids, mi.preset ~= "" and mi.preset or "custom",
      (o.width or o.blocks or o.modes) and string.format(" (width %d, blocks %d, modes %d)", mi.width, mi.blocks, mi.modes) or "",
      mi.parameters, o.length, info.dt_ms * o.stride)
  if nr > 1 then
    say("train: data-parallel across %d MPI ranks: each takes %d or %d traces of a batch of %d", nr,
        o.batch // nr, (o.batch + nr - 1) // nr, o.batch)
  end
  if resumed then say("train: resuming %s after epoch %d (lr %.3g)", last_path, start_epoch - 1, lr) end

  -- what a checkpoint needs to be used without the dataset (noble.population):
  -- the window's geometry and the training models' (I_thr, s_thr)
  local geometry, train_points = M.geometry(ds, o.stride, o.length), {}
  for _, mid in ipairs(ds:models("train")) do
    local md = ds:model(mid)
    train_points[#train_points + 1] = { md.I_thr, md.s_thr }
  end
  local show = progress.writer(o.progress and root)
  local rate, val_s = nil, 0
  local stopped = nil
  local epoch = start_epoch - 1
  local last_train
  -- One step across the ranks: every rank draws the whole batch's window
  -- starts from the one rng stream (as ds:batch would), takes its share
  -- [floor(B r / n), floor(B (r + 1) / n)) of the batch, and the gradients
  -- (and the sag term's denominator, a sum over the batch) are summed in a
  -- fixed order before the same AdamW step on every rank.
  local grad, reduce_s, reduce_bytes = nil, 0, 0
  local rank_step
  local jit = info.jitter_ms
  rank_step = function(ids, step_opts)
    local B = #ids
    local starts = nil
    if o.jitter then
      starts = {}
      for j = 1, B do starts[j] = ds:window_start(rng:uniform(jit[1], jit[2])) end
    end
    local lo, hi = B * rk // nr + 1, B * (rk + 1) // nr
    local b = nil
    if hi >= lo then
      b = ds:batch(table.move(ids, lo, hi, 1, {}), { length = o.length, stride = o.stride,
                   starts = starts and table.move(starts, lo, hi, 1, {}) or nil })
    end
    if step_opts.sag then
      step_opts.sag.denom = noble.mpi.allreduce_sum_fixed(b and m:sag_denominator(b, { tau = o.sag_tau }) or 0)
    end
    local loss, term = 0, 0
    if b then
      loss, term = m:backward(b, step_opts)
      grad = m:grads(grad)
      close_batch(b)
    else
      grad = grad or m:grads()
      grad:fill(0)
    end
    local t0 = noble.now()
    noble.mpi.allreduce_sum_fixed(grad)
    local lt = noble.mpi.allreduce_sum_fixed({ loss, term })
    reduce_s = reduce_s + (noble.now() - t0) / 1000
    reduce_bytes = reduce_bytes + 4 * mi.parameters
    m:set_grads(grad)
    m:adamw_step({ lr = lr, weight_decay = o.weight_decay })
    return lt[1], lt[2]
  end
  for e = start_epoch, o.epochs do
    reduce_s = 0
    local t0 = noble.now()
    local order = rng:shuffle(table.move(train_ids, 1, #train_ids, 1, {}))
    local sum, seen, term_sum = 0, 0, 0
    for i = 1, #order, o.batch do
      local ids = table.move(order, i, math.min(i + o.batch - 1, #order), 1, {})
      local step_opts = { p = o.p, lr = lr, weight_decay = o.weight_decay,
        sag = o.sag_lambda > 0 and { lambda = o.sag_lambda, tau = o.sag_tau } or nil,
        spikes = o.spike_lambda > 0 and { lambda = o.spike_lambda, threshold = o.spike_threshold,
                                          width = o.spike_width } or nil,
        shape = o.shape_lambda > 0 and { lambda = o.shape_lambda } or nil }
      local loss, term
      if nr == 1 then
        local b = ds:batch(ids, { length = o.length, stride = o.stride, jitter = o.jitter and rng or nil })
        loss, term = m:train_step(b, step_opts)
        close_batch(b)
      else
        loss, term = rank_step(ids, step_opts)
      end
      sum, seen, term_sum = sum + loss, seen + #ids, term_sum + term
      local dt = (noble.now() - t0) / 1000
      local r = seen / math.max(dt, 1e-9)
      local left = (#order - seen) / r + (o.epochs - e) * (#order / (rate or r) + val_s)
      show(string.format("epoch %d/%d %s %d/%d loss %.4f lr %.2e %.1f traces/s ETA %s",
        e, o.epochs, bar(seen / #order, 20), seen, #order, sum / seen, lr, r, clock_string(left)))
    end
    local train_s = (noble.now() - t0) / 1000
    rate = seen / train_s
    local train_loss = sum / seen
    last_train = train_loss
    local tv = noble.now()
    local val = #val_ids > 0 and evaluate_ranks(m, ds, val_ids, o) or { l4 = train_loss, fi = 0 / 0 }
    val_s = (noble.now() - tv) / 1000
    -- ReduceLROnPlateau (mode min, relative threshold) on the training loss
    local old_lr = lr
    if train_loss < sched.best * (1 - o.threshold) then
      sched.best, sched.bad = train_loss, 0
    else
      sched.bad = sched.bad + 1
      if sched.bad > o.patience then
        lr = math.max(lr * o.factor, o.min_lr)
        sched.bad = 0
      end
    end
    local metric = o.select == "fi" and #val_ids > 0 and val.fi or val.l4
    local improved = metric < best_val
    if improved then best_val, best_epoch = metric, e end
    epoch = e
    local options = {}
    for _, k in ipairs(fixed) do options[k] = o[k] end
    local state = json.encode({ version = 1, epoch = e, lr = lr, sched = sched, rng = rng:state(), ranks = nr,
                                best_val = best_val, best_epoch = best_epoch, options = options,
                                geometry = geometry, train_points = train_points })
    local rec = { epoch = e, step = m:info().step, train_loss = train_loss, val_l4 = val.l4,
                  val_l2 = val.l2, val_l1 = val.l1, val_fi_Hz = val.fi, lr = old_lr, next_lr = lr,
                  traces_per_s = rate, epoch_s = train_s + val_s, best = improved,
                  extra_term = (o.sag_lambda > 0 or o.spike_lambda > 0 or o.shape_lambda > 0) and term_sum / seen or nil,
                  wall_s = (noble.now() - t_start) / 1000,
                  ranks = nr > 1 and nr or nil, reduce_s = nr > 1 and reduce_s or nil }
    if root then
      logf:write(json.encode(rec), "\n"); logf:flush()
      if improved then m:save(outdir:file(best_path), { epoch = e, best_metric = best_val, state = state }) end
      m:save(outdir:file(last_path), { epoch = e, best_metric = best_val, state = state })
      outdir:keep() -- a run that can be resumed
    end
    show(string.format("epoch %d/%d train loss %.4f  validation L4 %.4f, f-I %.1f Hz%s  lr %.2e  %.1f traces/s  %.0f s",
      e, o.epochs, train_loss, val.l4, val.fi, improved and " (best)" or "", old_lr, rate, train_s + val_s), true)
    if o.time_limit_s and e < o.epochs then
      local elapsed = (noble.now() - t_start) / 1000
      local stop = elapsed + train_s + val_s > o.time_limit_s
      if nr > 1 then stop = noble.mpi.bcast(stop and 1 or 0) == 1 end -- rank 0's clock decides for all
      if stop then
        stopped = "time limit"
        break
      end
    end
  end
  if logf then logf:close() end
  m:close()
  local wall = (noble.now() - t_start) / 1000
  local summary = { epochs = epoch, best_epoch = best_epoch, select = o.select, best_metric = best_val,
                    best_val_l4 = o.select == "l4" and best_val or nil,
                    last_train_loss = last_train, wall_s = wall, stopped = stopped,
                    best = best_path, last = last_path, log = log_path, length = o.length,
                    stride = o.stride, resumed = resumed }
  say("train: %s after epoch %d of %d in %.0f s; best validation %s %.4f at epoch %d -> %s",
      stopped and ("stopped (" .. stopped .. ")") or "done", epoch, o.epochs, wall,
      o.select == "fi" and "f-I error (Hz)" or "L4", best_val, best_epoch, best_path)
  return summary
end

return M
