#!/usr/bin/python3
"""noble_datagen.py - ground-truth ensembles ("halls of fame") of a NEURON cell.

Run by `noble datagen` (scripting/cmd_datagen.c), which passes the paths of the
compiled mechanisms and of the feature library; docs/dataset.md describes the
output. Pipeline, for candidate models k = 0, 1, 2, ... in order:

  1. parameters: the cell's parameter table sampled around its base values
     (family centre per "optimisation seed", then a member around the centre);
  2. criteria: -110 pA (rest, sag), -50 pA (input resistance), +270 pA (maximum
     rate, AP width, sustained firing), rheobase by bisection to 1 pA; a model
     outside any range is rejected (the reason is kept);
  3. protocol: every amplitude of the protocol plus steps just above threshold;
     features of every trace (C, libnm_features.so), s_thr from the f-I slope.

Each finished candidate is written at once to OUT.partial/ (atomic rename), so a
killed run resumes where it stopped; the dataset itself is written to a
temporary name and renamed when complete. Progress lines go to stdout
("progress DONE TOTAL MODELS_ACCEPTED"), errors to stderr.
"""
import argparse
import ctypes
import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
import signal
import sys
import time

import numpy as np

FORMAT_VERSION = 1
DT_SIM = 0.02          # ms, NEURON's fixed step
DOWNSAMPLE = 3         # recorded every 3 steps: 0.06 ms
DT = DT_SIM * DOWNSAMPLE
STIM_START = 45.0      # ms: room for a 515-ms window starting 15 ms before the step, minus 0-30 ms of jitter
STIM_DUR = 400.0
STIM_END = STIM_START + STIM_DUR
T_STOP = 546.0         # ms: the latest window (start 30 ms) ends at 545 ms
N_SAMPLES = int(round(T_STOP / DT)) + 1
WINDOW_MS = 515.0
WINDOW_STEP_AT_MS = 15.0
JITTER_MS = (0.0, 30.0)
CRIT_AMPS = {"sag": -110.0, "rin": -50.0, "top": 270.0}
BISECT_MAX = 400.0
S_THR_SPAN = 50.0
SPIKE_THRESHOLD = -20.0


class UsageError(Exception):
    pass


def fail(msg, code=1):
    sys.stderr.write("noble datagen: %s\n" % msg)
    sys.stderr.flush()
    sys.exit(code)


# ----------------------------------------------------------------- arguments

def parse_amplitudes(spec):
    """'a:b:step' ranges and single values, comma-separated, in pA."""
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            if ":" in item:
                parts = [float(x) for x in item.split(":")]
                if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                    raise ValueError
                a, b, st = parts
                n = int(math.floor((b - a) / st + 1e-9)) + 1
                out.extend(a + st * i for i in range(n))
            else:
                out.append(float(item))
        except ValueError:
            raise UsageError("bad amplitude '%s': give numbers in pA or ranges FROM:TO:STEP, "
                             "comma-separated (e.g. -110:270:20)" % item)
    out = sorted(set(round(x, 6) for x in out))
    if not out:
        raise UsageError("the amplitude list is empty: give at least one amplitude in pA "
                         "(e.g. --amplitudes -110:270:20)")
    if any(not math.isfinite(x) or abs(x) > 1e5 for x in out):
        raise UsageError("amplitudes must be finite and at most 1e5 pA in size")
    return out


def parse_offsets(spec):
    if spec.strip().lower() in ("", "none"):
        return []
    try:
        out = sorted(set(float(x) for x in spec.split(",") if x.strip()))
    except ValueError:
        raise UsageError("bad --threshold-offsets '%s': comma-separated pA, or none" % spec)
    if any(x < 0 for x in out):
        raise UsageError("--threshold-offsets must be >= 0 pA")
    return out


def resolve_cell(cell, cells_dir):
    """A built-in name (cells/NAME.json) or the path of a cell spec (.json)."""
    if os.sep in cell or cell.endswith(".json"):
        path = os.path.abspath(cell)
        if not os.path.isfile(path):
            raise UsageError("cell spec '%s' does not exist" % cell)
    else:
        path = os.path.join(cells_dir, cell + ".json")
        if not os.path.isfile(path):
            names = sorted(f[:-5] for f in os.listdir(cells_dir) if f.endswith(".json"))
            raise UsageError("unknown cell '%s': the built-in cells are %s; or give the path "
                             "of a cell spec (.json, docs/neuron-cell.md)" % (cell, ", ".join(names)))
    try:
        with open(path) as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError("cannot read cell spec '%s': %s" % (path, e))
    base = os.path.dirname(path)
    for key in ("name", "parameters", "criteria"):
        if key not in spec:
            raise UsageError("cell spec '%s' has no '%s'" % (path, key))
    if ("python" in spec) == ("hoc" in spec):
        raise UsageError("cell spec '%s' needs exactly one of 'python' (with 'class') or "
                         "'hoc' (with 'template')" % path)
    for key in ("python", "hoc", "mechanisms"):
        if key in spec:
            spec[key] = os.path.normpath(os.path.join(base, spec[key]))
            if not os.path.exists(spec[key]):
                raise UsageError("cell spec '%s': %s '%s' does not exist" % (path, key, spec[key]))
    for p in spec["parameters"]:
        if "name" not in p or "value" not in p:
            raise UsageError("cell spec '%s': every parameter needs a name and a value" % path)
        if p.get("sample", "fixed") not in ("fixed", "lognormal", "uniform"):
            raise UsageError("cell spec '%s': parameter %s: sample must be fixed, lognormal or "
                             "uniform" % (path, p["name"]))
    spec["spec_path"] = path
    return spec


# ------------------------------------------------------------ feature library

class Features:
    """ctypes face of models/features.c (libnm_features.so)."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.nm_feature_name.restype = ctypes.c_char_p
        self.lib.nm_feature_unit.restype = ctypes.c_char_p
        self.lib.nm_last = self.lib.nb_last_error
        self.lib.nm_last.restype = ctypes.c_char_p
        self.count = 0
        while self.lib.nm_feature_name(self.count):
            self.count += 1
        self.names = [self.lib.nm_feature_name(i).decode() for i in range(self.count)]
        self.units = [self.lib.nm_feature_unit(i).decode() for i in range(self.count)]
        self.idx = {n: i for i, n in enumerate(self.names)}

    def _err(self, what):
        raise RuntimeError("%s: %s" % (what, self.lib.nm_last().decode()))

    def of(self, v):
        v = np.ascontiguousarray(v, dtype=np.float64)
        out = (ctypes.c_double * self.count)()
        st = self.lib.nm_features(v.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                                  ctypes.c_size_t(len(v)), ctypes.c_double(DT),
                                  ctypes.c_double(STIM_START), ctypes.c_double(STIM_END),
                                  None, out)
        if st != 0:
            self._err("nm_features")
        return np.array(out[:], dtype=np.float64)

    def spikes_in_step(self, v):
        v = np.ascontiguousarray(v, dtype=np.float64)
        c = ctypes.c_size_t(0)
        st = self.lib.nm_spike_count_in(v.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                                        ctypes.c_size_t(len(v)), ctypes.c_double(DT),
                                        ctypes.c_double(SPIKE_THRESHOLD), ctypes.c_double(STIM_START),
                                        ctypes.c_double(STIM_END), ctypes.byref(c))
        if st != 0:
            self._err("nm_spike_count_in")
        return c.value

    def fi_slope(self, amps, rates, i_thr, span):
        a = np.ascontiguousarray(amps, dtype=np.float64)
        r = np.ascontiguousarray(rates, dtype=np.float64)
        s = ctypes.c_double(0)
        P = ctypes.POINTER(ctypes.c_double)
        st = self.lib.nm_fi_slope(a.ctypes.data_as(P), r.ctypes.data_as(P), ctypes.c_size_t(len(a)),
                                  ctypes.c_double(i_thr), ctypes.c_double(span), ctypes.byref(s))
        if st != 0:
            self._err("nm_fi_slope")
        return s.value


# ------------------------------------------------------------------ the cell

class Sim:
    """One NEURON cell in this process, re-parameterised for each model."""

    def __init__(self, spec, mech_lib, feat_lib):
        from neuron import h
        self.h = h
        h.load_file("stdrun.hoc")
        if not self._can_insert("nb_leak"):  # not already loaded (NEURON loads ./x86_64 itself)
            h.nrn_load_dll(mech_lib)
        if "mechanisms" in spec:
            h.nrn_load_dll(spec["mechanisms"])
        self.spec = spec
        self.feat = Features(feat_lib)
        if "python" in spec:
            import importlib.util
            mod_spec = importlib.util.spec_from_file_location("noble_cell_" + spec["name"], spec["python"])
            mod = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(mod)
            self.cell = getattr(mod, spec["class"])()
        else:
            h.load_file(spec["hoc"])
            self.cell = getattr(h, spec["template"])()
        self.soma = self.cell.soma
        if isinstance(self.soma, list) or hasattr(self.soma, "__len__") and not hasattr(self.soma, "L"):
            self.soma = self.soma[0]
        h.celsius = float(spec.get("celsius", 34))
        self.v_init = float(spec.get("v_init", -70))
        self.stim = h.IClamp(self.soma(0.5))
        self.stim.delay = STIM_START
        self.stim.dur = STIM_DUR
        self.vrec = h.Vector()
        self.vrec.record(self.soma(0.5)._ref_v)
        self.spk = h.Vector()
        self.nc = h.NetCon(self.soma(0.5)._ref_v, None, sec=self.soma)
        self.nc.threshold = SPIKE_THRESHOLD
        self.nc.record(self.spk)
        self.version = h.nrnversion(5) if hasattr(h, "nrnversion") else "unknown"
        self.version_long = h.nrnversion()

    def _can_insert(self, name):
        s = self.h.Section(name="_nbprobe")
        try:
            s.insert(name)
            return True
        except ValueError:
            return False
        finally:
            self.h.delete_section(sec=s)

    def sections(self, lists):
        secs = []
        for lst in lists.split(","):
            obj = getattr(self.cell, lst, None)
            if obj is None:
                raise RuntimeError("cell %s has no section list '%s' (parameter table)" %
                                   (self.spec["name"], lst))
            secs.extend(list(obj) if not hasattr(obj, "L") else [obj])
        return secs

    def apply(self, values):
        h = self.h
        for p, val in zip(self.spec["parameters"], values):
            name = p["name"]
            if "@" not in name:
                if not hasattr(h, name):
                    raise RuntimeError("parameter %s: no such NEURON global" % name)
                setattr(h, name, float(val))
                continue
            var, lists = name.split("@", 1)
            for sec in self.sections(lists):
                if var == "Ra":
                    sec.Ra = float(val)
                    continue
                for seg in sec:
                    setattr(seg, var, float(val))

    def run(self, amp, stop_on_spike=False, t_stop=T_STOP):
        """Somatic voltage (mV, every 0.06 ms) for a step of amp pA, and the wall time (s)."""
        h = self.h
        t0 = time.perf_counter()
        self.stim.amp = amp * 1e-3  # nA
        h.dt = DT_SIM
        h.finitialize(self.v_init)
        # settle to the resting state before t = 0 (Ih and Km are slow)
        h.cvode.active(0)
        h.t = -600.0
        h.dt = 2.0
        while h.t < -1.0:
            h.fadvance()
        h.dt = DT_SIM
        h.steps_per_ms = 1.0 / DT_SIM  # else stdrun's setdt() changes dt
        h.t = 0.0
        h.fcurrent()
        h.frecord_init()
        if stop_on_spike:
            t = 0.0
            while t < t_stop - 1e-9:
                t = min(t + 5.0, t_stop)
                h.continuerun(t)
                if self.spk.size() > 0 and h.t > self.spk.x[0] + 2.0:
                    break
        else:
            h.continuerun(t_stop)
        wall = time.perf_counter() - t0
        if abs(h.dt - DT_SIM) > 1e-12:
            raise RuntimeError("NEURON ran at dt = %g ms, not %g ms" % (h.dt, DT_SIM))
        v = np.array(self.vrec.as_numpy()[::DOWNSAMPLE], dtype=np.float64)
        if not stop_on_spike:
            if len(v) < N_SAMPLES:
                raise RuntimeError("NEURON recorded %d samples, expected %d" % (len(v), N_SAMPLES))
            v = v[:N_SAMPLES]
        return v, wall

    def spikes(self, v):
        if len(v) * DT <= STIM_END + 1:
            # an early-stopped trace: pad so the step lies inside it
            v = np.concatenate([v, np.full(N_SAMPLES - len(v), v[-1])])
        return self.feat.spikes_in_step(v)


# ------------------------------------------------------------ one candidate

def sample_params(spec, seed, k, n_families):
    """Deterministic parameters of candidate k: family centre, then member."""
    fam = k % n_families
    rc = np.random.default_rng([seed, 7919, fam])
    rm = np.random.default_rng([seed, 104729, k])
    vals = []
    for p in spec["parameters"]:
        base = float(p["value"])
        kind = p.get("sample", "fixed")
        zc, zm = rc.standard_normal(), rm.standard_normal()
        uc, um = rc.uniform(-1, 1), rm.uniform(-1, 1)
        if kind == "lognormal":
            s = float(p["sigma"])
            vals.append(base * math.exp(0.5 * s * zc + 0.75 * s * zm))
        elif kind == "uniform":
            w = float(p["halfwidth"])
            vals.append(base + 0.4 * w * uc + 0.6 * w * um)
        else:
            vals.append(base)
    return fam, vals


def in_range(crit, name, value):
    lo, hi = crit[name]["range"]
    return value is not None and math.isfinite(value) and lo <= value <= hi


def evaluate(sim, spec, values, amplitudes, offsets):
    """Criteria, then the protocol. Returns (accepted, info dict)."""
    crit = spec["criteria"]
    F = sim.feat
    sim.apply(values)
    m = {}
    checks = []

    def check(name):
        if name in crit and not in_range(crit, name, m[name]):
            return "%s = %.4g %s outside [%g, %g]" % (name, m[name], crit[name]["unit"], *crit[name]["range"])
        return None

    v, _ = sim.run(CRIT_AMPS["sag"])
    f = F.of(v)
    m["v_rest"] = f[F.idx["voltage_base"]]
    m["sag"] = f[F.idx["sag_amplitude"]] if F.spikes_in_step(v) == 0 else float("nan")
    for name in ("v_rest", "sag"):
        r = check(name)
        if r:
            return False, {"reason": r}
    v, _ = sim.run(CRIT_AMPS["rin"])
    f = F.of(v)
    m["input_resistance"] = (f[F.idx["steady_state_voltage_stimend"]] - f[F.idx["voltage_base"]]) / CRIT_AMPS["rin"] * 1e3
    r = check("input_resistance")
    if r:
        return False, {"reason": r}
    v, _ = sim.run(CRIT_AMPS["top"])
    f = F.of(v)
    n_top = F.spikes_in_step(v)
    m["max_rate"] = n_top / (STIM_DUR * 1e-3)
    m["ap_width"] = f[F.idx["AP1_width"]]
    tail = v[int((STIM_END - 100.0) / DT):int(STIM_END / DT)]
    m["sustained"] = 1.0 if (f[F.idx["depol_block"]] == 1.0 and tail.max() > SPIKE_THRESHOLD) else 0.0
    for name in ("max_rate", "ap_width", "sustained"):
        r = check(name)
        if r:
            return False, {"reason": r}
    # rheobase: smallest whole pA with a spike in the step, by bisection
    lo, hi = 0.0, BISECT_MAX
    v, _ = sim.run(lo, stop_on_spike=True)
    if sim.spikes(v) > 0:
        return False, {"reason": "fires spontaneously (at 0 pA)"}
    v, _ = sim.run(hi, stop_on_spike=True)
    if sim.spikes(v) == 0:
        return False, {"reason": "no spike at %g pA" % hi}
    while hi - lo > 1.0:
        mid = math.floor((lo + hi) / 2)
        v, _ = sim.run(mid, stop_on_spike=True)
        if sim.spikes(v) > 0:
            hi = mid
        else:
            lo = mid
    m["rheobase"] = hi
    r = check("rheobase")
    if r:
        return False, {"reason": r}

    # the protocol, plus steps just above threshold
    amps = [(a, 0) for a in amplitudes]
    have = set(amplitudes)
    for o in offsets:
        a = round(hi + o, 6)
        if a not in have:
            amps.append((a, 1))
            have.add(a)
    amps.sort()
    V = np.empty((len(amps), N_SAMPLES), dtype=np.float32)
    feats = np.empty((len(amps), F.count), dtype=np.float64)
    walls = np.empty(len(amps), dtype=np.float64)
    rates = np.empty(len(amps), dtype=np.float64)
    for i, (a, _) in enumerate(amps):
        v, w = sim.run(a)
        V[i] = v
        walls[i] = w
        feats[i] = F.of(v)
        rates[i] = F.spikes_in_step(v) / (STIM_DUR * 1e-3)
    # s_thr from every simulated step in [I_thr, I_thr + 50 pA]
    amp_arr = np.array([a for a, _ in amps])
    try:
        s_thr = F.fi_slope(amp_arr, rates, hi, S_THR_SPAN)
    except RuntimeError:
        s_thr = float("nan")
    return True, {
        "criteria": m, "I_thr": hi, "s_thr": s_thr,
        "amplitudes": amp_arr, "near_threshold": np.array([t for _, t in amps], dtype=np.uint8),
        "voltage": V, "features": feats, "wall": walls, "rates": rates,
    }


# ------------------------------------------------------------------ workers

_W = {}


def worker_init(spec, mech_lib, feat_lib):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _W["sim"] = Sim(spec, mech_lib, feat_lib)
    _W["spec"] = spec


def worker_run(job):
    k, fam, values, amplitudes, offsets, partial = job
    sim = _W["sim"]
    t0 = time.perf_counter()
    ok, info = evaluate(sim, _W["spec"], values, amplitudes, offsets)
    info.update(candidate=k, family=fam, params=np.array(values), accepted=ok,
                eval_wall=time.perf_counter() - t0, neuron_version=sim.version_long)
    save_candidate(partial, k, info)
    return k, ok


def save_candidate(partial, k, info):
    """Atomically: cand_K.npz (accepted) or cand_K.json (rejected)."""
    if info["accepted"]:
        final = os.path.join(partial, "cand_%06d.npz" % k)
        tmp = final + ".tmp.%d.npz" % os.getpid()
        crit = info["criteria"]
        np.savez(tmp, candidate=k, family=info["family"], params=info["params"],
                 I_thr=info["I_thr"], s_thr=info["s_thr"], amplitudes=info["amplitudes"],
                 near_threshold=info["near_threshold"], voltage=info["voltage"],
                 features=info["features"], wall=info["wall"],
                 crit_names=np.array(sorted(crit)), crit_values=np.array([crit[c] for c in sorted(crit)]),
                 neuron_version=info["neuron_version"], eval_wall=info["eval_wall"])
    else:
        final = os.path.join(partial, "cand_%06d.json" % k)
        tmp = final + ".tmp.%d" % os.getpid()
        with open(tmp, "w") as f:
            json.dump({"candidate": k, "family": info["family"], "reason": info["reason"],
                       "params": list(info["params"])}, f)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


def load_candidate(partial, k):
    p = os.path.join(partial, "cand_%06d.npz" % k)
    if os.path.exists(p):
        return True
    p = os.path.join(partial, "cand_%06d.json" % k)
    if os.path.exists(p):
        return False
    return None


# ------------------------------------------------------------------ the file

def split_models(n, seed, n_test, n_val):
    order = np.random.default_rng([seed, 31337]).permutation(n)
    split = np.zeros(n, dtype=np.int8)
    split[order[:n_test]] = 2
    split[order[n_test:n_test + n_val]] = 1
    return split


def write_dataset(out, partial, accepted, state, spec, feat):
    import h5py
    models = [np.load(os.path.join(partial, "cand_%06d.npz" % k)) for k in accepted]
    M = len(models)
    T = sum(len(m["amplitudes"]) for m in models)
    split = split_models(M, state["seed"], state["n_test"], state["n_validation"])
    tmp = "%s.tmp.%d" % (out, os.getpid())
    try:
        with h5py.File(tmp, "w") as f:
            a = f.attrs
            a["format"] = "noble-dataset"
            a["format_version"] = FORMAT_VERSION
            a["complete"] = 0
            a["cell"] = spec["name"]
            a["cell_spec"] = json.dumps({k: v for k, v in spec.items() if k != "spec_path"})
            a["seed"] = state["seed"]
            a["n_models"] = M
            a["n_traces"] = T
            a["neuron_version"] = str(models[0]["neuron_version"])
            a["generator"] = "noble datagen (plugins/neuron/noble_datagen.py)"
            a["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            a["units"] = json.dumps({"voltage": "mV", "current": "pA", "time": "ms", "rate": "Hz",
                                     "s_thr": "Hz/pA", "neuron_wall_s": "s"})
            a["dt_sim_ms"] = DT_SIM
            a["dt_ms"] = DT
            a["n_samples"] = N_SAMPLES
            a["t_stop_ms"] = T_STOP
            a["stim_start_ms"] = STIM_START
            a["stim_end_ms"] = STIM_END
            a["stim_duration_ms"] = STIM_DUR
            a["window_ms"] = WINDOW_MS
            a["window_step_start_ms"] = WINDOW_STEP_AT_MS
            a["window_jitter_ms"] = np.array(JITTER_MS)
            a["protocol"] = ("Long Square: one current step of %g ms from %g ms, simulated at %g ms "
                             "and recorded every %g ms; a %g-ms window starting %g ms before the step, "
                             "minus a jitter in [%g, %g] ms, fits in the trace" %
                             (STIM_DUR, STIM_START, DT_SIM, DT, WINDOW_MS, WINDOW_STEP_AT_MS, *JITTER_MS))
            a["amplitudes_pA"] = np.array(state["amplitudes"])
            a["threshold_offsets_pA"] = np.array(state["offsets"], dtype=np.float64)
            a["criteria"] = json.dumps(spec["criteria"])
            a["s_thr_method"] = ("least-squares slope of the firing rate (spikes in the step / 0.4 s) "
                                 "against amplitude over every simulated step in [I_thr, I_thr + %g pA]"
                                 % S_THR_SPAN)
            a["I_thr_method"] = ("smallest whole pA whose step gives a spike (peak above %g mV inside "
                                 "the step), by bisection on [0, %g] pA" % (SPIKE_THRESHOLD, BISECT_MAX))
            a["candidates_tried"] = state["tried"]
            a["candidates_rejected"] = state["rejected"]

            g = f.create_group("traces")
            chunks = (1, N_SAMPLES)
            dv = g.create_dataset("voltage", (T, N_SAMPLES), dtype="f4", chunks=chunks,
                                  compression="gzip", compression_opts=4, shuffle=True)
            dv.attrs["units"] = "mV"
            di = g.create_dataset("current", (T, N_SAMPLES), dtype="f4", chunks=chunks,
                                  compression="gzip", compression_opts=4, shuffle=True)
            di.attrs["units"] = "pA"
            step = np.zeros(N_SAMPLES, dtype=np.float32)
            t = np.arange(N_SAMPLES) * DT
            step[(t >= STIM_START - 1e-9) & (t < STIM_END - 1e-9)] = 1.0
            amp_all, mid_all, near_all, wall_all, feat_all = [], [], [], [], []
            row = 0
            for mi, m in enumerate(models):
                n = len(m["amplitudes"])
                dv[row:row + n] = m["voltage"]
                di[row:row + n] = m["amplitudes"][:, None].astype(np.float32) * step[None, :]
                amp_all.append(m["amplitudes"])
                mid_all.append(np.full(n, mi, dtype=np.int32))
                near_all.append(m["near_threshold"])
                wall_all.append(m["wall"])
                feat_all.append(m["features"])
                row += n
            g.create_dataset("amplitude", data=np.concatenate(amp_all)).attrs["units"] = "pA"
            g.create_dataset("model", data=np.concatenate(mid_all))
            g.create_dataset("near_threshold", data=np.concatenate(near_all))
            w = g.create_dataset("neuron_wall_s", data=np.concatenate(wall_all))
            w.attrs["units"] = "s"
            w.attrs["what"] = ("wall time of NEURON for the trace (initialisation, settling and "
                               "%g ms at dt %g ms), one process, on the machine that made the file" % (T_STOP, DT_SIM))
            ft = g.create_dataset("features", data=np.concatenate(feat_all))
            ft.attrs["names"] = feat.names
            ft.attrs["units"] = feat.units
            ft.attrs["what"] = "eFEL-named features (models/features.c, docs/dataset.md); NaN = undefined"

            gm = f.create_group("models")
            pm = gm.create_dataset("params", data=np.stack([m["params"] for m in models]))
            pm.attrs["names"] = [p["name"] for p in spec["parameters"]]
            pm.attrs["units"] = [p.get("unit", "") for p in spec["parameters"]]
            gm.create_dataset("I_thr", data=np.array([float(m["I_thr"]) for m in models])).attrs["units"] = "pA"
            gm.create_dataset("s_thr", data=np.array([float(m["s_thr"]) for m in models])).attrs["units"] = "Hz/pA"
            crit_names = [str(x) for x in models[0]["crit_names"]]
            cr = gm.create_dataset("criteria", data=np.stack([m["crit_values"] for m in models]))
            cr.attrs["names"] = crit_names
            cr.attrs["units"] = [spec["criteria"].get(c, {}).get("unit", "") for c in crit_names]
            gm.create_dataset("family", data=np.array([int(m["family"]) for m in models], dtype=np.int32))
            gm.create_dataset("candidate", data=np.array([int(m["candidate"]) for m in models], dtype=np.int32))
            sp = gm.create_dataset("split", data=split)
            sp.attrs["labels"] = ["train", "validation", "test"]
            gs = f.create_group("split")
            for code, name in ((0, "train"), (1, "validation"), (2, "test")):
                gs.create_dataset(name, data=np.nonzero(split == code)[0].astype(np.int32))
            f.attrs["complete"] = 1
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return M, T


# --------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(prog="noble datagen")
    ap.add_argument("--cell", default="pvalb")
    ap.add_argument("--models", type=int, default=60)
    ap.add_argument("--families", type=int, default=3)
    ap.add_argument("--amplitudes", default="-110:270:20")
    ap.add_argument("--threshold-offsets", default="0,10,20,30,40,50")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--test", type=int, default=-1)
    ap.add_argument("--validation", type=int, default=-1)
    ap.add_argument("--max-candidates", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mechanisms", required=True)
    ap.add_argument("--features-lib", required=True)
    ap.add_argument("--cells-dir", required=True)
    args = ap.parse_args()
    try:
        amplitudes = parse_amplitudes(args.amplitudes)
        offsets = parse_offsets(args.threshold_offsets)
        if args.models < 1:
            raise UsageError("--models must be at least 1")
        if args.seed < 0:
            raise UsageError("--seed must be >= 0")
        spec = resolve_cell(args.cell, args.cells_dir)
        fams = max(1, min(args.families, args.models))
        n_test = args.test if args.test >= 0 else (max(1, round(args.models / 6)) if args.models >= 3 else 0)
        n_val = args.validation if args.validation >= 0 else (max(1, round(args.models / 12)) if args.models >= 3 else 0)
        if n_test + n_val >= args.models:
            raise UsageError("--test %d and --validation %d leave no training model out of %d" %
                             (n_test, n_val, args.models))
    except UsageError as e:
        fail(str(e), 2)
    for p, what in ((args.mechanisms, "mechanism library"), (args.features_lib, "feature library")):
        if not os.path.isfile(p):
            fail("%s '%s' is missing: build noble first (cmake --build build)" % (what, p))

    out = os.path.abspath(args.out)
    outdir = os.path.dirname(out)
    if not os.path.isdir(outdir):
        fail("cannot write '%s': the folder '%s' does not exist" % (args.out, outdir))
    if not os.access(outdir, os.W_OK):
        fail("cannot write '%s': the folder '%s' is not writable" % (args.out, outdir))
    if os.path.isdir(out):
        fail("cannot write '%s': it is a folder" % args.out)
    partial = out + ".partial"
    state = {"cell": spec["name"], "spec_sha1": hashlib.sha1(open(spec["spec_path"], "rb").read()).hexdigest(),
             "models": args.models, "families": fams, "amplitudes": amplitudes, "offsets": offsets,
             "seed": args.seed, "n_test": n_test, "n_validation": n_val, "format_version": FORMAT_VERSION,
             "dt_sim": DT_SIM, "t_stop": T_STOP, "stim_start": STIM_START}
    state_path = os.path.join(partial, "state.json")
    try:
        if os.path.isdir(partial):
            try:
                with open(state_path) as f:
                    old = json.load(f)
            except (OSError, ValueError):
                old = None
            if old is None or {k: old.get(k) for k in state} != state:
                fail("'%s' holds an unfinished run with other settings (or is damaged); "
                     "rerun with the same settings to resume it, or delete it to start over" % partial)
            resumed = True
        else:
            os.makedirs(partial)
            with open(os.path.join(partial, "UNFINISHED"), "w") as f:
                f.write("An unfinished `noble datagen` run: rerun the same command to resume it.\n"
                        "The dataset %s is written only when every model is done.\n" % out)
            tmp = state_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(state, f, indent=1)
            os.replace(tmp, state_path)
            resumed = False
    except OSError as e:
        fail("cannot write '%s': %s" % (partial, e))

    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    max_cand = args.max_candidates if args.max_candidates > 0 else 20 * args.models + 40
    quota = [args.models // fams + (1 if f < args.models % fams else 0) for f in range(fams)]
    mech_lib = os.path.abspath(args.mechanisms)
    feat_lib = os.path.abspath(args.features_lib)
    feat = Features(feat_lib)

    accepted, taken, reasons = [], [0] * fams, {}
    tried = rejected = 0
    # the accepted set is decided in candidate order, whatever order workers finish in
    status = {}
    next_k = 0

    def settle():
        nonlocal next_k, tried, rejected
        while len(accepted) < args.models and next_k < max_cand:
            fam = next_k % fams
            if taken[fam] >= quota[fam]:
                status.pop(next_k, None)
                next_k += 1
                continue
            if next_k not in status:
                break
            ok = status.pop(next_k)
            tried += 1
            if ok:
                accepted.append(next_k)
                taken[fam] += 1
            elif not ok:
                rejected += 1
                with open(os.path.join(partial, "cand_%06d.json" % next_k)) as f:
                    r = json.load(f)["reason"].split(" = ")[0].split(" (")[0]
                reasons[r] = reasons.get(r, 0) + 1
            next_k += 1

    def progress():
        sys.stdout.write("progress %d %d %d\n" % (len(accepted), args.models, tried))
        sys.stdout.flush()

    sys.stdout.write("info cell=%s models=%d amplitudes=%d jobs=%d resumed=%d\n" %
                     (spec["name"], args.models, len(amplitudes), jobs, int(resumed)))
    for k in range(max_cand):
        s = load_candidate(partial, k)
        if s is not None:
            status[k] = s
    settle()
    progress()

    if len(accepted) < args.models:
        ctx = mp.get_context("fork")
        pool = ctx.Pool(jobs, initializer=worker_init, initargs=(spec, mech_lib, feat_lib))
        inflight = {}
        k = next_k
        try:
            while len(accepted) < args.models:
                # keep every worker busy, never far ahead of the settled candidates
                while len(inflight) < 2 * jobs and k < max_cand:
                    fam, vals = sample_params(spec, args.seed, k, fams)
                    if k not in status and taken[fam] < quota[fam]:
                        inflight[k] = pool.apply_async(worker_run, ((k, fam, vals, amplitudes, offsets, partial),))
                    k += 1
                if not inflight:
                    break
                done = [kk for kk, r in inflight.items() if r.ready()]
                if not done:
                    time.sleep(0.05)
                    continue
                for kk in done:
                    _, ok = inflight.pop(kk).get()
                    status[kk] = ok
                settle()
                progress()
        except KeyboardInterrupt:
            pool.terminate()
            fail("interrupted; rerun the same command to resume", 130)
        except Exception as e:
            pool.terminate()
            fail("simulation failed: %s" % e)
        finally:
            pool.terminate()
            pool.join()
    if len(accepted) < args.models:
        top = ", ".join("%s (%d)" % kv for kv in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
        fail("only %d of %d models passed the criteria after %d candidates; most common "
             "rejections: %s" % (len(accepted), args.models, tried, top or "none"))
    state.update(tried=tried, rejected=rejected)
    try:
        M, T = write_dataset(out, partial, accepted, state, spec, feat)
    except OSError as e:
        fail("cannot write '%s': %s" % (args.out, e))
    shutil.rmtree(partial, ignore_errors=True)
    sys.stdout.write("done %s %d %d %d %d\n" % (out, M, T, tried, rejected))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
