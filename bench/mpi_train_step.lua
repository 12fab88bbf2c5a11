-- bench/mpi_train_step.lua: the cost of a data-parallel training step
-- (docs/mpi.md, "Measured"). Run with noble run, with or without mpirun:
--
--   noble run bench/mpi_train_step.lua DATASET [BATCH] [STEPS] [PRESET] [STRIDE]
--   mpirun -np 2 noble run bench/mpi_train_step.lua data/pvalb60.h5 8 3
--
-- Times, on rank 0, per step: the forward and backward of the rank's share
-- (m:backward + m:grads), the fixed-order gradient sum
-- (noble.mpi.allreduce_sum_fixed) and the library's MPI_Allreduce
-- (noble.mpi.allreduce_sum) of the same gradient, and the AdamW step; and,
-- in one process, m:train_step of the whole batch; then each sum alone, 20
-- times. Prints one JSON line (times in ms).
local noble = require("noble")
local train = require("noble.train")
local json = require("noble.json")
local args = { ... }
local path = args[1] or "data/pvalb60.h5"
local B, steps = tonumber(args[2] or 8), tonumber(args[3] or 3)
local preset, stride = args[4] or "noble", tonumber(args[5] or 1)
local nr, rk = noble.mpi.size(), noble.mpi.rank()
local ds <close> = noble.dataset(path)
local o = { stride = stride, amp_freqs = 9, feat_freqs = 1, voltage_scale = 100 }
local length = train.window_length(ds, stride)
local m <close> = noble.model{ preset = preset, in_channels = 1 + 2 * 9 + 4, length = length, max_batch = B,
                               seed = 0, embedding = train.fit_embedding(ds, o) }
local ids = table.move(ds:traces("train"), 1, B, 1, {})
local lo, hi = B * rk // nr + 1, B * (rk + 1) // nr
local b = ds:batch(table.move(ids, lo, hi, 1, {}), { length = length, stride = stride })
local bw, red, lib, opt, whole = 0, 0, 0, 0, 0
local g
for s = 0, steps do -- step 0 warms up
  noble.mpi.barrier()
  local t0 = noble.now()
  m:backward(b, { p = 4 })
  g = m:grads(g)
  local t1a = noble.now()
  noble.mpi.barrier() -- the reduce alone, not the wait for the slowest rank
  local t1 = noble.now()
  noble.mpi.allreduce_sum_fixed(g)
  local t2 = noble.now()
  m:set_grads(g)
  m:adamw_step({ lr = 1e-4 })
  local t3 = noble.now()
  local g2 = m:grads()
  noble.mpi.barrier()
  local t4 = noble.now()
  noble.mpi.allreduce_sum(g2)
  local t5 = noble.now()
  g2:close()
  if s > 0 then bw, red, opt, lib = bw + t1a - t0, red + t2 - t1, opt + t3 - t2, lib + t5 - t4 end
end
-- the two sums alone, 20 times each
local reps, rf, rl = 20, 0, 0
for _ = 1, reps do
  noble.mpi.barrier()
  local t0 = noble.now()
  noble.mpi.allreduce_sum_fixed(g)
  local t1 = noble.now()
  noble.mpi.barrier()
  local t2 = noble.now()
  noble.mpi.allreduce_sum(g)
  rf, rl = rf + t1 - t0, rl + noble.now() - t2
end
if nr == 1 then
  local bb = ds:batch(ids, { length = length, stride = stride })
  for s = 0, steps do
    local t0 = noble.now()
    m:train_step(bb, { p = 4, lr = 1e-4 })
    if s > 0 then whole = whole + noble.now() - t0 end
  end
end
if rk == 0 then
  local mi = m:info()
  print(json.encode({ ranks = nr, batch = B, share = hi - lo + 1, preset = preset, stride = stride,
    length = length, parameters = mi.parameters, grad_bytes = 4 * mi.parameters, steps = steps,
    backward_ms = bw / steps, reduce_fixed_ms = red / steps, allreduce_lib_ms = lib / steps,
    adamw_ms = opt / steps, reduce_fixed_only_ms = rf / reps, allreduce_lib_only_ms = rl / reps, train_step_ms = nr == 1 and whole / steps or nil,
    step_ms = (bw + red + opt) / steps }))
end
