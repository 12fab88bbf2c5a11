-- End to end on the mini dataset (tests/test_train.sh): training lowers the
-- held-out error below a stated bound, a resumed run ends where an unbroken
-- one ends, bit for bit, and eval writes its report and plots.
--   noble run test_train.lua MINI.h5 WORKDIR
local noble = require("noble")
local train = require("noble.train")
local eval = require("noble.eval")
local json = require("noble.json")

local dataset, work = ...
assert(dataset and work, "usage: test_train.lua MINI.h5 WORKDIR")
package.path = (arg[0]:match("^(.*/)") or "./") .. "?.lua;" .. package.path
local T = require("testlib")
local check = T.check

-- a reduced network and a coarse time step, so that 20 epochs take seconds
local net = { width = 8, blocks = 2, modes = 16, lifting_channels = 16, projection_channels = 32,
              mlp_channels = 4, stride = 4, batch = 8, progress = false, quiet = true, dataset = dataset }
local function opts(extra)
  local o = {}
  for k, v in pairs(net) do o[k] = v end
  for k, v in pairs(extra) do o[k] = v end
  return o
end

local ds <close> = noble.dataset(dataset)
local length = train.window_length(ds, 4)
local test_ids = ds:traces("test")
check(#test_ids > 0 and #ds:traces("validation") > 0 and #ds:traces("train") > 0, "the mini dataset has all three splits")

-- the module's data functions
do
  local info = ds:info()
  check(info.n_samples == 9101 and info.dt_ms == 0.06 and info.jitter_ms[2] == 30, "dataset info")
  local all, tr, va, te = ds:traces("all"), ds:traces("train"), ds:traces("validation"), ds:traces("test")
  check(#all == #tr + #va + #te and #all == info.n_traces, "the splits cover every trace")
  local t = ds:trace(te[1])
  check(ds:model(t.model).split == "test" and t.features.voltage_base < -60, "trace and model records")
  check(not pcall(ds.trace, ds, info.n_traces), "a trace id out of range is refused")
  check(ds:window_start(0) == 500 and ds:window_start(30) == 0, "window starts (0.06 ms samples)")
  local r1, r2 = noble.rng(7), noble.rng(7)
  local st = r1:state()
  local a = r1:uniform()
  check(a == r2:uniform() and a >= 0 and a < 1, "rng: same seed, same draws")
  r1:set_state(st)
  check(r1:uniform() == a, "rng: state round trip")
  local perm = r1:shuffle({ 1, 2, 3, 4, 5, 6, 7, 8 })
  local seen = {}
  for _, v in ipairs(perm) do seen[v] = true end
  check(#perm == 8 and #seen == 8, "rng: shuffle is a permutation")
  local b = ds:batch({ tr[1], tr[2] }, { length = 100, stride = 2, jitter = noble.rng(3) })
  local sh = b.current:shape()
  check(sh[1] == 2 and sh[2] == 100 and b.starts[1] >= 0 and b.starts[1] <= 500, "batch: shapes and a jittered start")
  local full_c, full_v = ds:trace_data(tr[1])
  check(b.voltage:get(1, 7) == full_v:get(b.starts[1] + 1 + 6 * 2), "batch: strided window of the trace")
  check(b.codes:get(1, 1) == ds:trace(tr[1]).amplitude and b.codes:get(1, 2) == ds:model(ds:trace(tr[1]).model).I_thr,
    "batch: codes are amplitude and I_thr, s_thr")
  full_c:close(); full_v:close(); b.current:close(); b.voltage:close(); b.codes:close()
  local ok, err = pcall(ds.batch, ds, { tr[1] }, { length = 9000, starts = { 500 } })
  check(not ok and tostring(err):find("window", 1, true), "a window past the trace is refused: " .. tostring(err))
  local p, q = noble.tensor({ 1, 2, 3, 4 }, { 2, 2 }), noble.tensor({ 1, 1, 3, 2 }, { 2, 2 })
  local met = noble.metrics(p, q)
  check(math.abs(met.l1[1] - 1 / 2) < 1e-12 and math.abs(met.l2[2] - 2 / math.sqrt(13)) < 1e-12
    and math.abs(met.l4[2] - 2 / (97 ^ 0.25)) < 1e-12, "metrics: relative L1, L2, L4 per row")
  check(noble.fft_length(4291) == 4224 and noble.fft_length(8583) == 8580, "fft_length")
end

-- the embedding's scaler sees the training models only
local emb = train.fit_embedding(ds, train.defaults)
local lo, hi = math.huge, -math.huge
for _, mid in ipairs(ds:models("train")) do
  lo = math.min(lo, ds:model(mid).I_thr); hi = math.max(hi, ds:model(mid).I_thr)
end
check(emb.min[2] == lo and emb.max[2] == hi, "the I_thr scaler is fitted on training models only")

-- held-out error before training (same initialisation as the run below)
local e0
do
  local m0 <close> = noble.model{ width = 8, blocks = 2, modes = 16, lifting_channels = 16,
    projection_channels = 32, mlp_channels = 4, in_channels = 23, length = length, max_batch = 8,
    seed = 0, embedding = emb }
  e0 = train.evaluate(m0, ds, test_ids, { length = length, stride = 4, batch = 8 }).l4
end

-- the split step of data-parallel training (docs/mpi.md): m:backward, then
-- m:grads / m:set_grads and m:adamw_step, is m:train_step bit for bit, with
-- the host terms; the sag denominators of two halves add up to the batch's
do
  local function mk()
    return noble.model{ width = 8, blocks = 2, modes = 16, lifting_channels = 16, projection_channels = 32,
      mlp_channels = 4, in_channels = 23, length = length, max_batch = 8, seed = 0, embedding = emb }
  end
  local tr = ds:traces("train")
  local ids = table.move(tr, 1, 8, 1, {})
  local bt = ds:batch(ids, { length = length, stride = 4, jitter = noble.rng(1) })
  local so = { p = 4, lr = 4e-3, sag = { lambda = 25, tau = 0.1 }, spikes = { lambda = 1 }, shape = { lambda = 1 } }
  local m1 <close> = mk()
  local m2 <close> = mk()
  local l1, t1, l2, t2
  for _ = 1, 2 do
    l1, t1 = m1:train_step(bt, so)
    l2, t2 = m2:backward(bt, so)
    local g = m2:grads()
    m2:set_grads(g)
    m2:adamw_step({ lr = 4e-3 })
    g:close()
  end
  local p1, p2 = m1:params():table(), m2:params():table()
  local same = #p1 == #p2 and l1 == l2 and t1 == t2 and m1:info().step == m2:info().step
  for i = 1, #p1 do if p1[i] ~= p2[i] then same = false break end end
  check(same and t1 > 0, "m:backward + m:set_grads + m:adamw_step = m:train_step, bit for bit (with the host terms)")
  local h1 = ds:batch(table.move(ids, 1, 4, 1, {}), { length = length, stride = 4, starts = table.move(bt.starts, 1, 4, 1, {}) })
  local h2 = ds:batch(table.move(ids, 5, 8, 1, {}), { length = length, stride = 4, starts = table.move(bt.starts, 5, 8, 1, {}) })
  local d, d1, d2 = m1:sag_denominator(bt), m1:sag_denominator(h1), m1:sag_denominator(h2)
  check(d > 0 and math.abs(d1 + d2 - d) <= 1e-12 * d, "the halves' sag denominators add up to the batch's")
  local ok, err = pcall(function() return m1:set_grads(noble.tensor({ 1, 2, 3 }, { 3 })) end)
  check(not ok and tostring(err):find("parameters", 1, true), "set_grads of the wrong size is refused")
end

-- 1. training lowers the held-out relative L4 below 0.30 (measured: 0.854 -> 0.227)
local r = train.run(opts{ out = work .. "/run", epochs = 20, resume = false })
local e1
do
  local m1 <close> = noble.model{ checkpoint = r.best, training = false, max_batch = 8 }
  e1 = train.evaluate(m1, ds, test_ids, { length = length, stride = 4, batch = 8 }).l4
end
print(string.format("held-out relative L4: untrained %.4f, trained %.4f (best epoch %d, %.1f s)",
  e0, e1, r.best_epoch, r.wall_s))
check(e1 < 0.30, "held-out relative L4 below 0.30 after 20 epochs")
check(e1 < 0.5 * e0, "held-out relative L4 at least halved")
check(r.epochs == 20 and r.best_epoch >= 1, "20 epochs, a best epoch chosen")
local lines = 0
for line in io.lines(r.log) do
  local rec = json.decode(line)
  lines = lines + 1
  assert(rec.epoch == lines and rec.val_l4 and rec.train_loss and rec.lr and rec.traces_per_s)
end
check(lines == 20, "log.jsonl has one record per epoch")

-- 2. resume: 6 epochs at once, or 3 then 3 more from last.h5, end in the same bits
local a = train.run(opts{ out = work .. "/a", epochs = 6, resume = false })
local b1 = train.run(opts{ out = work .. "/b", epochs = 3, resume = false })
local b2 = train.run(opts{ out = work .. "/b", epochs = 6 })
check(b2.resumed and b2.epochs == 6, "the second run resumed from last.h5")
local function params(path)
  local m <close> = noble.model{ checkpoint = path, training = false, max_batch = 1 }
  local p = m:params()
  local t = p:table()
  p:close()
  return t, m:info()
end
local pa, ia = params(a.last)
local pb, ib = params(b2.last)
local same = #pa == #pb
for i = 1, #pa do if pa[i] ~= pb[i] then same = false break end end
check(same, "resumed run's parameters equal the unbroken run's, bit for bit")
check(ia.step == ib.step and ia.epoch == 6 and ib.epoch == 6, "same step and epoch")
check(a.best_val_l4 == b2.best_val_l4 and a.best_epoch == b2.best_epoch, "same best validation epoch and error")
local la, lb = {}, {}
for line in io.lines(a.log) do la[#la + 1] = json.decode(line).val_l4 end
for line in io.lines(b2.log) do lb[#lb + 1] = json.decode(line).val_l4 end
check(#la == 6 and #lb == 6 and la[6] == lb[6] and la[3] == lb[3], "the logs agree epoch by epoch")
check(b1.epochs == 3, "the first part stopped after 3 epochs")

-- 3. a run directory made with another configuration is refused, naming the setting
local ok, err = pcall(train.run, opts{ out = work .. "/b", epochs = 7, width = 12 })
check(not ok and tostring(err):find("was made with width = 8, this run asks for 12", 1, true) ~= nil,
  "resuming with another width is refused: " .. tostring(err))

-- 3b. the sag fine-tune from the trained checkpoint (lambda 25, lr 5e-4, patience 12)
local ft = train.run(opts{ out = work .. "/sag", init = r.best, epochs = 2, resume = false, sag_lambda = 25,
                           lr = 5e-4, patience = 12 })
local terms = {}
for line in io.lines(ft.log) do terms[#terms + 1] = json.decode(line).extra_term end
check(#terms == 2 and terms[1] > 0 and terms[2] > 0, "the fine-tune logs a positive sag term")
check(ft.best_val_l4 < 0.5, "the fine-tune keeps the validation error in bounds: " .. ft.best_val_l4)
-- 3c. the spike-count term with the best epoch chosen by the validation f-I error
local sp = train.run(opts{ out = work .. "/spikes", init = r.best, epochs = 2, resume = false, spike_lambda = 1,
                           select = "fi", lr = 1e-3 })
local recs = {}
for line in io.lines(sp.log) do recs[#recs + 1] = json.decode(line) end
check(#recs == 2 and recs[1].extra_term > 0 and recs[1].val_fi_Hz >= 0 and recs[1].best,
  "the spike term is logged with the validation f-I error")
check(sp.select == "fi" and sp.best_val_l4 == nil and math.abs(sp.best_metric - math.min(recs[1].val_fi_Hz,
  recs[2].val_fi_Hz)) < 1e-9, "the best epoch is the lowest validation f-I error: " .. tostring(sp.best_metric))
-- 3d. the shape term with the spike-count term (two host terms: their sum and gradients add up)
local sh = train.run(opts{ out = work .. "/shape", init = r.best, epochs = 1, resume = false, shape_lambda = 1,
                           spike_lambda = 1, select = "fi", lr = 1e-3 })
local shrec = json.decode(io.lines(sh.log)())
local only = train.run(opts{ out = work .. "/shape1", init = r.best, epochs = 1, resume = false, shape_lambda = 1,
                             select = "fi", lr = 1e-3 })
local onlyrec = json.decode(io.lines(only.log)())
check(onlyrec.extra_term > 0 and shrec.extra_term > onlyrec.extra_term,
  "the shape term is logged, and the spike term adds to it: " .. onlyrec.extra_term .. " < " .. shrec.extra_term)
local okl, errl = pcall(train.run, opts{ out = work .. "/shape2", epochs = 1, shape_lambda = -1 })
check(not okl and tostring(errl):find("shape_lambda", 1, true) ~= nil, "a negative shape lambda is refused: " .. tostring(errl))
local oks, errs = pcall(train.run, opts{ out = work .. "/spikes2", epochs = 1, select = "l2" })
check(not oks and tostring(errs):find('select = \'l2\': expected one of "l4", "fi"', 1, true) ~= nil, "an unknown selection is refused")
local okw, errw = pcall(train.run, opts{ out = work .. "/sag2", init = r.best, epochs = 1, stride = 2 })
check(not okw and tostring(errw):find("takes windows of 2112 samples", 1, true) ~= nil,
  "a fine-tune at another window is refused: " .. tostring(errw))

-- 4. eval: report and plots
local rep = eval.run{ checkpoint = r.best, out = work .. "/eval", batch = 8, progress = false, quiet = true }
local f = io.open(work .. "/eval/report.json")
local back = json.decode(f:read("a"))
f:close()
check(back.splits.test and back.splits.train and back.splits.validation, "report.json has the three splits")
local t = back.splits.test
check(math.abs(t.relative_error.l4.mean - e1) < 1e-6, "eval's held-out L4 agrees with training's evaluation")
check(t.traces == #test_ids and #t.per_model == 1 and #t.per_amplitude >= 6, "per trace, model and amplitude")
check(t.missed_firing + t.missed_nonfiring + t.spiking_traces + t.nonspiking_traces == t.traces,
  "every trace counted once in the firing tally")
check(#t.fi == 1 and #t.fi[1].amplitude_pA == t.traces, "an f-I curve per model")
-- the spiking summary: the traces where NEURON fires, whether the prediction does or not
local nsp = t.spiking_traces + t.missed_firing
check((nsp == 0 and t.relative_error_spiking == nil) or
  (t.relative_error_spiking and t.relative_error_spiking.l4.n == nsp),
  "relative_error_spiking summarises the " .. nsp .. " traces where NEURON fires")
for _, png in ipairs(rep.plots) do
  local g = io.open(png, "rb")
  local head = g and g:read(8)
  if g then g:close() end
  check(head == "\137PNG\r\n\26\n", "plot " .. png .. " is a PNG")
end

T.finish("train tests")
