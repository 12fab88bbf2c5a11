#!/usr/bin/python3
"""noble.neuron against an installed tree (run by tests/test_neuron_python.sh):
  neuron_python.py CHECKPOINT POPULATION OUT_DIR          everything, on the CPU backend
  neuron_python.py CHECKPOINT - OUT_DIR vulkan            only the cells of embed_lua_predict.lua
                                                          on Vulkan, into OUT_DIR/abi_vulkan.bin
NobleCells from HoF models, (I_thr, s_thr) points and a population file;
their voltage at the checkpoint's dt written to OUT_DIR/abi_cpu.bin (the
cells of tests/embed_lua_predict.lua, which the shell compares with m:predict),
at h.dt = 0.025 ms compared with the ABI's resampling bit for bit; spikes
delivered through NetCons to an IntFire1 and to an ExpSyn on a passive soma
under the fixed step and CVode; the error cases. One check per line
("ok ..."/"FAIL ..."), the count last; exit status 1 on any failure."""
import os
import subprocess
import sys
import warnings

import numpy as np

ckpt, population, out_dir = sys.argv[1:4]
fails = 0


def check(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        fails += 1
    return ok


def raises(cls, text, fn, what):
    """fn() raises cls whose message holds text."""
    try:
        fn()
    except cls as e:
        return check(text in str(e), "%s: %s %r" % (what, cls.__name__, str(e)))
    except Exception as e:  # noqa: BLE001 - report what else it was
        return check(False, "%s: expected %s, got %s: %s" % (what, cls.__name__, type(e).__name__, e))
    return check(False, "%s: expected %s, nothing raised" % (what, cls.__name__))


from neuron import h  # noqa: E402

import noble  # noqa: E402
import noble.neuron as nn  # noqa: E402
from noble import _abi  # noqa: E402

h.load_file("stdrun.hoc")


def lua_cells(model):
    """The cells of embed_consumer.c / embed_lua_predict.lua, in that order."""
    cs = [nn.NobleCell(model, hof_model=0), nn.NobleCell(model, hof_model=1), nn.NobleCell(model, I_thr=55, s_thr=0.84),
          nn.NobleCell(model, hof_model=2)]
    for c, a in zip(cs, (model.info["amplitude_max_pA"], -100.0, 150.0, 0.0)):
        nn.NobleIClamp(c, amp_pA=a)
    return cs


def write_window(cs, backend):
    """Runs the fixed step at the checkpoint's dt and writes the cells' voltage
    (float32, little-endian, cell after cell) to OUT_DIR/abi_BACKEND.bin."""
    h.CVode().active(0)
    h.dt = cs[0].model.info["dt_ms"]
    h.tstop = cs[0].model.info["window_ms"] - h.dt
    h.finitialize(-65)
    h.continuerun(h.tstop)
    vs = [np.array(c.v.to_python()) for c in cs]
    with open(os.path.join(out_dir, "abi_%s.bin" % backend), "wb") as f:
        for v in vs:
            f.write(v.astype("<f4").tobytes())
    return vs


if len(sys.argv) > 4 and sys.argv[4] == "vulkan":
    mv = nn.NobleModel(ckpt, backend="vulkan")
    check(mv.info["backend"] == "vulkan", "a NobleModel on Vulkan: %s" % mv.info["device"])
    vs = write_window(lua_cells(mv), "vulkan")
    check(all(len(v) == 4224 and np.isfinite(v).all() for v in vs), "four cells of 4224 finite samples")
    mv.close()
    print("%d failure(s)" % fails)
    sys.exit(1 if fails else 0)

m = nn.NobleModel(ckpt, backend="cpu")
lib = os.path.realpath(_abi.library_path())
check("/prefix/lib/" in lib, "libnoble found next to the package: " + lib)
check(noble.version_string().endswith("(ABI 1)"), "version " + noble.version_string())
info = m.info
check(info["samples"] == 4224 and info["dt_ms"] == 0.12 and info["step_start_ms"] == 15.0
      and info["step_duration_ms"] == 400.0, "the window: %(samples)d samples at %(dt_ms)g ms, step from "
      "%(step_start_ms)g ms for %(step_duration_ms)g ms" % info)

# The cells of embed_consumer.c / embed_lua_predict.lua, first and in that
# order; then (I_thr, s_thr) points and population neurons.
amax = info["amplitude_max_pA"]
cells = lua_cells(m)
extra = nn.NobleCell(m, I_thr=40, s_thr=0.9)
stim = nn.NobleIClamp(extra, amp=0.2)  # nA
check(stim.amp_pA == 200.0 and stim.delay == 15.0 and stim.dur == 400.0,
      "NobleIClamp amp = 0.2 nA is %g pA; delay %g ms, dur %g ms (the checkpoint's step)"
      % (stim.amp_pA, stim.delay, stim.dur))
pop = [nn.NobleCell.from_population(m, population, i) for i in range(3)]
for c in pop:
    nn.NobleIClamp(c, amp_pA=150.0)
check([c.inside_hull for c in pop] == [True, True, False] and pop[0].I_thr == 55.0 and pop[1].s_thr == float(np.float32(0.9)),
      "population neurons: %s" % ", ".join("(%g, %g, inside %s)" % (c.I_thr, c.s_thr, c.inside_hull) for c in pop))
all_cells = cells + [extra] + pop

# 1. fixed step at the checkpoint's dt: the window's samples, m:predict's bits
write_window(cells, "cpu")
check(all(c.v.size() == 4224 and c.t.size() == 4224 for c in all_cells), "h.dt = 0.12 ms: 4224 samples per cell")
check(abs(cells[0].t[4223] - 4223 * 0.12) < 1e-9, "cell.t ends at %g ms" % cells[0].t[4223])
v_window = [np.array(c.v.to_python()) for c in all_cells]
check(all(np.array_equal(v.astype(np.float32).astype(np.float64), v) for v in v_window),
      "the Vectors hold the ABI's float32 voltages exactly")
check(v_window[0][:100].max() < -50 and len(cells[0].spike_times) > 5 and len(cells[1].spike_times) == 0
      and len(cells[3].spike_times) == 0, "rest before the step; %d spikes at %g pA, none at -100 or 0 pA"
      % (len(cells[0].spike_times), amax))
# the population file's traces (noble population, the Lua m:predict, batches of 64)
import h5py  # noqa: E402

with h5py.File(population, "r") as f:
    tr = f["traces"][:]
    st = list(f.attrs["stimuli_pA"])
for i, c in enumerate(pop):
    row = tr[i * len(st) + st.index(150.0)]
    d = np.abs(row.astype(np.float64) - v_window[5 + i]).max()
    check(d < 1e-3, "population neuron %d at 150 pA: the file's trace and the NobleCell's differ by %.3g mV%s"
          % (i, d, " (bit for bit)" if d == 0 else ""))

# 2. fixed step at h.dt = 0.025 ms: the ABI's resampling, bit for bit
abi = _abi.Model(ckpt, backend="cpu")
h.dt = 0.025
h.finitialize(-65)
h.continuerun(100)
n025 = abi.output_samples(0.025)
v_abi, sp_abi = abi.predict([c._inputs() for c in all_cells], 15.0, 400.0, 0.025)
check(all(c.v.size() == n025 for c in all_cells), "h.dt = 0.025 ms: %d samples per cell" % n025)
check(all(np.array_equal(np.array(c.v.to_python()), v_abi[k].astype(np.float64)) for k, c in enumerate(all_cells)),
      "at h.dt = 0.025 ms each cell's voltage is noble_predict's at 0.025 ms, bit for bit")
check(all(np.array_equal(np.array(c.spike_times.to_python()), sp_abi[k]) for k, c in enumerate(all_cells)),
      "spike times are noble_predict's")
v0 = np.array(cells[0].v.to_python())
check(np.array_equal(v0[::24], v_window[0][::5]), "every 0.6 ms the 0.025-ms and 0.12-ms traces agree exactly")
# the voltage recorded like a section's (Vector.record of cell._ref_v)
rec = h.Vector()
rec.record(cells[0]._ref_v, h.dt)
h.finitialize(-65)
h.continuerun(200)
r = np.array(rec.to_python())
k = min(len(r), len(v0))
check(k > 7000 and np.abs(r[:k] - v0[:k]).max() < 1e-6,
      "h.Vector().record(cell._ref_v, h.dt) records cell.v (%d samples, max difference %.3g mV)"
      % (k, np.abs(r[:k] - v0[:k]).max()))
abi.close()

# 3. spikes delivered to a downstream synapse, fixed step and CVode
soma = h.Section(name="soma")
soma.L = soma.diam = 20
soma.insert("pas")
syn = h.ExpSyn(soma(0.5))
syn.tau = 2
src = cells[0].spike_source
delay = 1.5
nc_syn = h.NetCon(src, syn)
nc_syn.delay, nc_syn.weight[0] = delay, 0.001
target = h.IntFire1()  # fires at once on a weight above 1: its output time is the arrival time
target.refrac = 0.01   # ms; spikes are more than 0.2 ms apart
nc_if = h.NetCon(src, target)
nc_if.delay, nc_if.weight[0] = delay, 2.0
arrived = h.Vector()
nc_out = h.NetCon(target, None)
nc_out.record(arrived)
sent = h.Vector()
nc_src = h.NetCon(src, None)
nc_src.record(sent)
g, tg = h.Vector(), h.Vector()
tq = h.Vector(np.arange(0, 506, 0.01))
g.record(syn._ref_g, tq)
rec_v, rec_t = h.Vector(), h.Vector()  # every step, like a section's v (the model has a section now)
rec_v.record(cells[0]._ref_v)
rec_t.record(h._ref_t)
for cvode in (0, 1):
    mode = "CVode" if cvode else "fixed step"
    h.CVode().active(cvode)
    h.dt = 0.025
    h.finitialize(-65)
    h.continuerun(506)
    spikes = np.array(cells[0].spike_times.to_python())
    se = np.array(sent.to_python())
    check(len(spikes) > 5 and len(se) == len(spikes) and np.abs(se - spikes).max() < 1e-9,
          "%s: the source emits the %d predicted spikes at their times" % (mode, len(spikes)))
    a = np.array(arrived.to_python())
    check(len(a) == len(spikes) and np.abs(a - (spikes + delay)).max() < 1e-9,
          "%s: an IntFire1 receives them at the predicted times + %g ms" % (mode, delay))
    gv = np.array(g.to_python())
    jumps = [gv[int(round((s + delay + 0.05) / 0.01))] > gv[int(round((s + delay - 0.05) / 0.01))] + 5e-4
             for s in spikes]
    check(all(jumps) and gv[: int(round((spikes[0] + delay - 0.05) / 0.01))].max() == 0,
          "%s: the ExpSyn's conductance rises by the weight at each arrival (within 0.05 ms) and not before the "
          "first" % mode)
    rv, rt = np.array(rec_v.to_python()), np.array(rec_t.to_python())
    cv, ct = np.array(cells[0].v.to_python()), np.array(cells[0].t.to_python())
    if cvode:
        check(abs(m.output_dt() - 0.12) < 1e-15 and cells[0].v.size() == 4224,
              "CVode: the trace is kept at the checkpoint's dt (4224 samples)")
        d = np.abs(rv - np.interp(rt, ct, cv)).max()
        check(len(rv) > 1000 and d < 1e-6, "CVode: Vector.record(cell._ref_v) at its %d steps is the trace linearly "
              "interpolated (max difference %.3g mV)" % (len(rv), d))
    else:
        d = np.abs(rv - cv[:len(rv)]).max()
        check(len(rv) == 20241 and d < 1e-6, "fixed step: Vector.record(cell._ref_v) records cell.v sample for "
              "sample (max difference %.3g mV: the play interpolates at NEURON's summed t)" % d)
h.CVode().active(0)

# 4. errors
raises(nn.UnsupportedError, "trained on steps from 15 to 415 ms", lambda: setattr(stim, "delay", 35),
       "a step at 35 ms")
raises(nn.UnsupportedError, "does not fit NOBLE's window of 506.88 ms", lambda: setattr(stim, "dur", 1000),
       "a step of 1000 ms")
raises(nn.UnsupportedError, "trained on steps from 15 to 415 ms", lambda: stim.set_step(15, 200),
       "a step of 200 ms")
check(stim.delay == 15.0 and stim.dur == 400.0, "a refused placement leaves the step as it was")
raises(nn.UnsupportedError, "already has a step", lambda: nn.NobleIClamp(extra, amp=0.1), "a second stimulus")
raises(nn.UnsupportedError, "not a step", lambda: stim.play(h.Vector([0, 1])), "a played waveform")
raises(nn.NobleError, "expected a finite number", lambda: setattr(stim, "amp", float("nan")), "amp = nan")
raises(nn.NobleError, "created after h.finitialize", lambda: nn.NobleCell(m, I_thr=50, s_thr=0.8),
       "a cell made after finitialize")
raises(nn.NobleError, "HoF model 45", lambda: nn.NobleModel(ckpt, backend="cpu").hof_model(45), "HoF model 45")
raises(nn.NobleError, "cannot read checkpoint", lambda: nn.NobleModel("/nonexistent/ckpt.h5"), "a missing checkpoint")
raises(nn.NobleError, "backend 'cuda'", lambda: nn.NobleModel(ckpt, backend="cuda"), "backend cuda")
m2 = nn.NobleModel(ckpt, backend="cpu")
raises(nn.NobleError, "needs I_thr (pA) and s_thr", lambda: nn.NobleCell(m2, I_thr=50), "a cell without s_thr")
raises(nn.NobleError, "the file has 3", lambda: nn.NobleCell.from_population(m2, population, 3), "neuron 3 of 3")
raises(nn.NobleError, "not a noble population file", lambda: nn.NobleCell.from_population(m2, ckpt, 0),
       "a checkpoint as a population file")
nn.NobleIClamp(nn.NobleCell(m2, hof_model=4), amp=0.1)
h.tstop = 600
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    h.finitialize(-65)
check(any(issubclass(x.category, nn.WindowWarning) and "beyond NOBLE's window of 506.88 ms" in str(x.message)
          for x in w), "h.tstop = 600 ms warns that the cells are silent after the window")
m2.dt = 0.0
raises(nn.NobleError, "output dt 0 ms: expected a finite number", m2.predict, "an output dt of 0 through predict()")
raises(RuntimeError, "", lambda: h.finitialize(-65), "the same at h.finitialize")
check(isinstance(m2.error, nn.NobleError), "... which keeps the NobleError in model.error: %s" % m2.error)
m2.close()
h.dt = 0.025
h.finitialize(-65)
c2 = m2.cells[0]
check(c2.spike_times.size() == 0 and all(np.isnan(c2.v.to_python())) and m.cells[0].spike_times.size() > 5,
      "a closed model's cell is silent; the open model's cells still run")
env = dict(os.environ, NOBLE_LIBRARY="/nonexistent/libnoble.so")
p = subprocess.run([sys.executable, "-c", "import noble.neuron as nn; nn.NobleModel(%r)" % ckpt], env=env,
                   capture_output=True, text=True)
check(p.returncode != 0 and "libnoble.so not found" in p.stderr and "NOBLE_LIBRARY" in p.stderr,
      "NOBLE_LIBRARY=/nonexistent: %s" % (p.stderr.strip().splitlines() or ["(nothing)"])[-1])
m.close()
print("%d failure(s)" % fails)
sys.exit(1 if fails else 0)
