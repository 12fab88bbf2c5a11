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

Across MPI ranks (noble passes --rank and --ranks; docs/mpi.md) the candidates
are shared out in rounds and each rank saves its own in OUT.rank-R-of-N.partial/;
rank 0 writes the dataset from all of them (run_ranks).
"""
import argparse
import ctypes
import hashlib
import json
import math
import multiprocessing as mp
import multiprocessing.connection
import os
import re
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


# Bounds on what users choose: each keeps a run's loops, memory and disk finite.
MAX_MODELS = 100000
MAX_CANDIDATES = 10000000
MAX_AMPLITUDES = 1000      # protocol steps per model
MAX_AMP_PA = 1e5
MAX_OFFSETS = 100
MAX_OFFSET_PA = 1000.0
MAX_JOBS = 256
MAX_SEED = 2**63 - 1       # stored as an HDF5 int64 attribute
S_THR_STEPS = (0.0, 10.0, 20.0, 30.0, 40.0, 50.0)  # simulated for s_thr alone when too few steps lie in the span
HH_MAX_CELSIUS = 25.0      # NEURON's hh fires no repetitive spikes above about this (docs/neuron-cell.md)
CRITERIA = {"v_rest": "mV", "input_resistance": "MOhm", "rheobase": "pA", "max_rate": "Hz",
            "ap_width": "ms", "sag": "mV", "sustained": "1"}
NOISE = (b"Warning: no DISPLAY environment variable.", b"--No graphics will be displayed.")


class UsageError(Exception):
    """A user's mistake in an option or the cell spec (exit status 2)."""


class RunError(Exception):
    """A run that cannot go on (exit status 1)."""


def fail(msg, code=1):
    sys.stderr.write("noble datagen: %s\n" % msg)
    sys.stderr.flush()
    sys.exit(code)


def describe(e):
    """One line for an exception: its last line and where in the user's code it came from."""
    import traceback
    lines = "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()
    msg = lines[-1] if lines else type(e).__name__
    where = ""
    if isinstance(e, SyntaxError) and e.filename:
        where = " (%s, line %s)" % (os.path.basename(e.filename), e.lineno)
    else:
        for fr in reversed(traceback.extract_tb(e.__traceback__)):
            if fr.filename.startswith("<") or os.path.abspath(fr.filename) == os.path.abspath(__file__):
                continue
            where = " (%s, line %d, in %s)" % (os.path.basename(fr.filename), fr.lineno, fr.name)
            break
    return msg + where


# ----------------------------------------------------------------- arguments

def int_option(name, text, lo, hi, what=""):
    """A whole number in [lo, hi], or a message naming the option, the value and the range."""
    t = str(text).strip()
    rng = "an integer from %d to %d%s" % (lo, hi, what)
    if not re.fullmatch(r"[+-]?[0-9]+", t):
        raise UsageError("%s '%s' is not a whole number: give %s" % (name, text, rng))
    v = int(t)
    if not lo <= v <= hi:
        raise UsageError("%s %s is out of range: give %s" % (name, t, rng))
    return v


def number(item, what):
    try:
        x = float(item)
    except ValueError:
        raise UsageError(what)
    if not math.isfinite(x):
        raise UsageError(what)
    return x


def parse_amplitudes(spec):
    """'a:b:step' ranges and single values, comma-separated, in pA."""
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        bad = ("--amplitudes: bad amplitude '%s': give numbers in pA or ranges FROM:TO:STEP, "
               "comma-separated (e.g. -110:270:20)" % item)
        if ":" in item:
            parts = [number(x, bad) for x in item.split(":")]
            if len(parts) != 3 or parts[2] <= 0 or parts[1] < parts[0]:
                raise UsageError(bad)
            a, b, st = parts
            n = int(math.floor((b - a) / st + 1e-9)) + 1
            if n + len(out) > MAX_AMPLITUDES:
                raise UsageError("--amplitudes '%s' gives more than %d steps (at most %d per model)" %
                                 (spec, MAX_AMPLITUDES, MAX_AMPLITUDES))
            out.extend(a + st * i for i in range(n))
        else:
            out.append(number(item, bad))
    out = sorted(set(round(x, 6) for x in out))
    if not out:
        raise UsageError("the amplitude list is empty: give at least one amplitude in pA "
                         "(e.g. --amplitudes -110:270:20)")
    if len(out) > MAX_AMPLITUDES:
        raise UsageError("--amplitudes '%s' gives %d steps: at most %d per model" % (spec, len(out), MAX_AMPLITUDES))
    for x in out:
        if abs(x) > MAX_AMP_PA:
            raise UsageError("--amplitudes: %g pA is out of range: amplitudes lie in [-%g, %g] pA" %
                             (x, MAX_AMP_PA, MAX_AMP_PA))
    return out


def parse_offsets(spec):
    if spec.strip().lower() == "none":
        return []
    bad = ("--threshold-offsets '%s': give comma-separated offsets in pA from 0 to %g, or none" %
           (spec, MAX_OFFSET_PA))
    items = [x for x in spec.split(",") if x.strip()]
    if not items:
        raise UsageError(bad)
    out = sorted(set(round(number(x, bad), 6) for x in items))
    if any(not 0 <= x <= MAX_OFFSET_PA for x in out):
        raise UsageError(bad)
    if len(out) > MAX_OFFSETS:
        raise UsageError("--threshold-offsets gives %d steps: at most %d" % (len(out), MAX_OFFSETS))
    return out


# ----------------------------------------------------------------- cell specs

SPEC_KEYS = ("name", "description", "python", "class", "hoc", "template", "mechanisms", "v_init",
             "celsius", "parameters", "criteria")
PARAM_KEYS = ("name", "value", "unit", "sample", "sigma", "halfwidth", "what", "description")
CRIT_KEYS = ("range", "unit", "what")
NAME_RE = r"[A-Za-z_][A-Za-z0-9_]*"


def _no_duplicate_keys(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise UsageError("key '%s' is given twice" % k)
        d[k] = v
    return d


def _is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_spec(spec, path):
    """Every field of a cell spec, before any work; unknown keys are errors."""
    def err(msg):
        raise UsageError("cell spec '%s': %s" % (path, msg))

    if not isinstance(spec, dict):
        err("the spec must be a JSON object")
    for k in spec:
        if k not in SPEC_KEYS:
            err("unknown key '%s' (the keys are %s)" % (k, ", ".join(SPEC_KEYS)))
    for key in ("name", "parameters", "criteria"):
        if key not in spec:
            err("'%s' is missing" % key)
    for k in ("name", "description", "python", "class", "hoc", "template", "mechanisms"):
        if k in spec and not (isinstance(spec[k], str) and spec[k].strip()):
            err("'%s' must be a non-empty string, not %s" % (k, json.dumps(spec[k])))
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", spec["name"]):
        err("name '%s': use letters, digits, '_', '.' and '-'" % spec["name"])
    if ("python" in spec) == ("hoc" in spec):
        err("give exactly one of 'python' (with 'class') or 'hoc' (with 'template')")
    for code, obj in (("python", "class"), ("hoc", "template")):
        if code in spec and obj not in spec:
            err("'%s' needs '%s' (the %s to build)" % (code, obj, "class" if obj == "class" else "template"))
        if obj in spec and code not in spec:
            err("'%s' needs '%s' (the file that defines it)" % (obj, code))
        if obj in spec and not re.fullmatch(NAME_RE, spec[obj]):
            err("%s '%s' is not a %s name" % (obj, spec[obj], "Python class" if obj == "class" else "hoc template"))
    for k, lo, hi, unit in (("v_init", -150.0, 50.0, "mV"), ("celsius", 0.0, 50.0, "degC")):
        if k in spec and not (_is_num(spec[k]) and lo <= spec[k] <= hi):
            err("%s %s is out of range: give a number from %g to %g %s" % (k, json.dumps(spec[k]), lo, hi, unit))
    params = spec["parameters"]
    if not isinstance(params, list):
        err("'parameters' must be a list")
    seen = set()
    for i, p in enumerate(params):
        where = "parameters[%d]" % i
        if not isinstance(p, dict):
            err("%s must be an object with name, value, sample ..." % where)
        if isinstance(p.get("name"), str):
            where += " '%s'" % p["name"]
        for k in p:
            if k not in PARAM_KEYS:
                err("%s: unknown key '%s' (the keys are %s)" % (where, k, ", ".join(PARAM_KEYS)))
        if "name" not in p or "value" not in p:
            err("%s: every parameter needs a name and a value" % where)
        if not (isinstance(p["name"], str) and
                re.fullmatch(NAME_RE + "(@" + NAME_RE + "(," + NAME_RE + ")*)?", p["name"])):
            err("%s: name must be VAR@LIST[,LIST...] (a range variable in section lists) or a NEURON "
                "global, not %s" % (where, json.dumps(p["name"])))
        if p["name"] in seen:
            err("%s is given twice" % where)
        seen.add(p["name"])
        if not _is_num(p["value"]):
            err("%s: value %s is not a finite number" % (where, json.dumps(p["value"])))
        for k in ("unit", "what", "description"):
            if k in p and not isinstance(p[k], str):
                err("%s: '%s' must be a string" % (where, k))
        kind = p.get("sample", "fixed")
        if kind not in ("fixed", "lognormal", "uniform"):
            err("%s: sample %s: give fixed, lognormal (with sigma) or uniform (with halfwidth)" %
                (where, json.dumps(kind)))
        need = {"lognormal": "sigma", "uniform": "halfwidth"}.get(kind)
        for k in ("sigma", "halfwidth"):
            if k in p and k != need:
                err("%s: '%s' belongs to %s sampling, not %s" %
                    (where, k, "lognormal" if k == "sigma" else "uniform", kind))
        if kind == "lognormal":
            if "sigma" not in p:
                err("%s: lognormal sampling needs 'sigma' (a number in (0, 2])" % where)
            if not (_is_num(p["sigma"]) and 0 < p["sigma"] <= 2):
                err("%s: sigma %s is out of range: give a number in (0, 2]" % (where, json.dumps(p["sigma"])))
            if p["value"] == 0:
                err("%s: a lognormal parameter needs a nonzero value (its samples are value x exp(...))" % where)
        if kind == "uniform":
            if "halfwidth" not in p:
                err("%s: uniform sampling needs 'halfwidth' (a number > 0, in the parameter's unit)" % where)
            if not (_is_num(p["halfwidth"]) and p["halfwidth"] > 0):
                err("%s: halfwidth %s is out of range: give a number > 0" % (where, json.dumps(p["halfwidth"])))
    crit = spec["criteria"]
    if not isinstance(crit, dict):
        err("'criteria' must be an object {name: {range: [lo, hi], unit: ...}}")
    for name, c in crit.items():
        if name not in CRITERIA:
            err("unknown criterion '%s' (the criteria are %s)" % (name, ", ".join(CRITERIA)))
        where = "criterion %s" % name
        if not isinstance(c, dict):
            err("%s must be an object {range: [lo, hi], unit: '%s'}" % (where, CRITERIA[name]))
        for k in c:
            if k not in CRIT_KEYS:
                err("%s: unknown key '%s' (the keys are %s)" % (where, k, ", ".join(CRIT_KEYS)))
        r = c.get("range")
        if not (isinstance(r, list) and len(r) == 2 and all(_is_num(x) for x in r) and r[0] <= r[1]):
            err("%s: range %s must be [lo, hi], two finite numbers with lo <= hi" % (where, json.dumps(r)))
        if "unit" in c and c["unit"] != CRITERIA[name]:
            err("%s: unit %s: %s is measured in %s" % (where, json.dumps(c["unit"]), name, CRITERIA[name]))
        if "what" in c and not isinstance(c["what"], str):
            err("%s: 'what' must be a string" % where)
        if name == "rheobase" and (r[1] < 1 or r[0] > BISECT_MAX):
            err("%s: range %s lies outside the rheobase search, [1, %g] pA" % (where, json.dumps(r), BISECT_MAX))
        if name == "sustained" and (r[1] < 0 or r[0] > 1):
            err("%s: range %s: sustained is 0 or 1" % (where, json.dumps(r)))


def find_library(path):
    """A compiled mechanism library, or the folder nrnivmodl ran in."""
    if os.path.isdir(path):
        for sub in ("x86_64/.libs/libnrnmech.so", ".libs/libnrnmech.so", "x86_64/libnrnmech.so"):
            if os.path.isfile(os.path.join(path, sub)):
                return os.path.join(path, sub)
        return None
    return path if os.path.isfile(path) else None


def resolve_cell(cell, cells_dir):
    """A built-in name (cells/NAME.json) or the path of a cell spec (.json), validated."""
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
            spec = json.load(f, object_pairs_hook=_no_duplicate_keys)
    except UsageError as e:
        raise UsageError("cell spec '%s': %s" % (path, e))
    except (OSError, ValueError) as e:
        raise UsageError("cannot read cell spec '%s': %s (plain JSON: no comments)" % (path, e))
    validate_spec(spec, path)
    base = os.path.dirname(path)
    for key in ("python", "hoc", "mechanisms"):
        if key in spec:
            given = spec[key]
            spec[key] = os.path.normpath(os.path.join(base, given))
            if key == "mechanisms":
                lib = find_library(spec[key])
                if lib is None:
                    raise UsageError("cell spec '%s': mechanisms '%s' is neither a compiled library nor a "
                                     "folder with x86_64/.libs/libnrnmech.so (compile your mod files first: "
                                     "docs/neuron-cell.md)" % (path, given))
                spec[key] = lib
            elif not os.path.isfile(spec[key]):
                raise UsageError("cell spec '%s': %s '%s' does not exist" % (path, key, given))
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

class CellError(Exception):
    """The cell cannot be built or loaded (the message says why)."""


def _mapped(path):
    """Whether this very file is already mapped into the process (NEURON loaded it)."""
    try:
        st = os.stat(path)
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and int(parts[4]) == st.st_ino and parts[5].strip().startswith("/"):
                    p = parts[5].strip()
                    if os.path.exists(p) and os.path.samefile(p, path):
                        return True
    except (OSError, ValueError):
        pass
    return False


class Sim:
    """One NEURON cell in this process, re-parameterised for each model."""

    def __init__(self, spec, mech_lib, feat_lib):
        from neuron import h  # NEURON loads ./x86_64 of the current folder here, if there is one
        self.h = h
        self.spec = spec
        h.load_file("stdrun.hoc")
        # noble's nb_* mechanisms, unless loaded already (from ./x86_64, or a user's library has them)
        if not _mapped(mech_lib) and not self._can_insert("nb_leak"):
            self._load(mech_lib, "noble's mechanism library")
        if "mechanisms" in spec and not _mapped(spec["mechanisms"]):
            self._load(spec["mechanisms"], "the cell's mechanisms")
        self.feat = Features(feat_lib)
        what = ("%s (%s)" % (spec["class"], os.path.basename(spec["python"])) if "python" in spec
                else "%s (%s)" % (spec["template"], os.path.basename(spec["hoc"])))
        try:
            if "python" in spec:
                import importlib.util
                mod_spec = importlib.util.spec_from_file_location("noble_cell_" + spec["name"].replace(".", "_"),
                                                                  spec["python"])
                mod = importlib.util.module_from_spec(mod_spec)
                mod_spec.loader.exec_module(mod)
                cls = getattr(mod, spec["class"], None)
                if cls is None:
                    raise CellError("%s defines no class '%s'" % (spec["python"], spec["class"]))
                self.cell = cls()
            else:
                if not h.load_file(spec["hoc"]):
                    raise CellError("NEURON cannot load %s" % spec["hoc"])
                if not hasattr(h, spec["template"]):
                    raise CellError("%s defines no template '%s'" % (spec["hoc"], spec["template"]))
                self.cell = getattr(h, spec["template"])()
        except CellError:
            raise
        except Exception as e:
            hint = ""
            if "mechanism name" in str(e) and "mechanisms" not in spec:
                hint = ("; the spec has no 'mechanisms': give the library of your compiled mod files "
                        "(docs/neuron-cell.md)")
            raise CellError("building the cell %s failed: %s%s" % (what, describe(e), hint))
        soma = getattr(self.cell, "soma", None)
        if soma is None:
            raise CellError("the cell %s has no 'soma' (the section that receives the step)" % what)
        if isinstance(soma, list) or hasattr(soma, "__len__") and not hasattr(soma, "L"):
            soma = soma[0]
        self.soma = soma
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

    def _load(self, path, what):
        try:
            ok = self.h.nrn_load_dll(path)
        except RuntimeError:
            ok = 0
        if not ok:
            here = find_library(os.getcwd())
            raise CellError("NEURON cannot load %s %s (where NEURON says a name already exists, a mechanism "
                            "of that name is loaded already: noble's nb_* are always loaded%s)" %
                            (what, path, ", and NEURON loaded %s of the current folder by itself" %
                             os.path.relpath(here) if here else ""))

    def _can_insert(self, name):
        s = self.h.Section(name="_nbprobe")
        try:
            s.insert(name)
            return True
        except ValueError:
            return False
        finally:
            self.h.delete_section(sec=s)

    def check(self):
        """The parameter table against the built cell; returns warnings (a list of lines)."""
        h = self.h
        for i, p in enumerate(self.spec["parameters"]):
            name, where = p["name"], "parameters[%d] '%s'" % (i, p["name"])
            if "@" not in name:
                try:
                    float(getattr(h, name))
                except Exception:
                    raise UsageError("%s: NEURON has no global variable '%s' (a mechanism's GLOBAL is "
                                     "NAME_SUFFIX, e.g. vshift_nb_nat)" % (where, name))
                continue
            var, lists = name.split("@", 1)
            for lst in lists.split(","):
                obj = getattr(self.cell, lst, None)
                if obj is None:
                    raise UsageError("%s: the cell has no section list '%s'" % (where, lst))
                try:
                    secs = list(obj) if not hasattr(obj, "L") else [obj]
                    for sec in secs:
                        sec.name()
                except Exception:
                    raise UsageError("%s: the cell's '%s' is not a section or a list of sections" % (where, lst))
                if not secs:
                    raise UsageError("%s: the cell's section list '%s' is empty" % (where, lst))
                if var == "Ra":
                    continue
                for sec in secs:
                    try:
                        float(getattr(sec(0.5), var))
                    except Exception:
                        raise UsageError("%s: section %s has no range variable '%s' (is its mechanism "
                                         "inserted there?)" % (where, sec.name(), var))
        try:
            self.apply([p["value"] for p in self.spec["parameters"]])
        except Exception as e:
            raise UsageError("the parameter table's base values cannot be set: %s" % describe(e))
        warnings = []
        hh = [sec.name().split(".")[-1] for sec in h.allsec() if sec.has_membrane("hh")]
        if hh and h.celsius > HH_MAX_CELSIUS:
            warnings.append("warning: the cell uses NEURON's hh (%s) at celsius = %g degC; hh scales its rates "
                            "by 3^((celsius - 6.3)/10) (x%.0f here) and fires no repetitive spikes above about "
                            "%g degC: set \"celsius\": 6.3 in the spec for hh (docs/neuron-cell.md)" %
                            (hh[0] if len(hh) == 1 else "%s and %d more" % (hh[0], len(hh) - 1), h.celsius,
                             3 ** ((h.celsius - 6.3) / 10), HH_MAX_CELSIUS))
        return warnings

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
    # s_thr from every simulated step in [I_thr, I_thr + 50 pA]; with fewer than two of them
    # (--threshold-offsets none, or offsets outside the span), the steps I_thr + S_THR_STEPS
    # are simulated for the slope alone and not stored
    amp_arr = np.array([a for a, _ in amps])
    fit_a, fit_r = list(amp_arr), list(rates)
    if len({a for a in fit_a if hi - 1e-9 <= a <= hi + S_THR_SPAN + 1e-9}) < 2:
        for o in S_THR_STEPS:
            a = round(hi + o, 6)
            if a not in have:
                v, _ = sim.run(a)
                fit_a.append(a)
                fit_r.append(F.spikes_in_step(v) / (STIM_DUR * 1e-3))
    s_thr = F.fi_slope(np.array(fit_a), np.array(fit_r), hi, S_THR_SPAN)
    return True, {
        "criteria": m, "I_thr": hi, "s_thr": s_thr,
        "amplitudes": amp_arr, "near_threshold": np.array([t for _, t in amps], dtype=np.uint8),
        "voltage": V, "features": feats, "wall": walls, "rates": rates,
    }


# ------------------------------------------------------------------ workers

def worker_run(sim, spec, job):
    k, fam, values, amplitudes, offsets, partial = job
    t0 = time.perf_counter()
    ok, info = evaluate(sim, spec, values, amplitudes, offsets)
    info.update(candidate=k, family=fam, params=np.array(values), accepted=ok,
                eval_wall=time.perf_counter() - t0, neuron_version=sim.version_long)
    save_candidate(partial, k, info)
    return k, ok


def worker_main(conn, out_w, parent_ends, parent_pid, spec, mech_lib, feat_lib):
    """One NEURON process: builds the cell, says "ready" (or why not), then runs candidates
    until told to stop or until its parent goes away. Its stdout and stderr go to out_w."""
    try:  # die with the generator, even when it is killed
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for c in parent_ends:
        c.close()
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.close(out_w)
    try:
        sim = Sim(spec, mech_lib, feat_lib)
        warnings = sim.check()
    except UsageError as e:
        conn.send(("spec-error", str(e)))
        return
    except CellError as e:
        conn.send(("init-error", str(e)))
        return
    except BaseException as e:
        conn.send(("init-error", "building the cell failed: %s" % describe(e)))
        return
    conn.send(("ready", warnings))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            k, ok = worker_run(sim, spec, job)
        except Exception as e:
            conn.send(("error", job[0], describe(e)))
            return
        conn.send(("done", k, ok))


def rss_bytes(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class Workers:
    """NEURON processes, one candidate at a time each. A worker that fails to start, raises, or
    dies (a signal, an exit) is never restarted: the run stops with its reason (RunError, or
    UsageError for a spec the built cell contradicts)."""

    def __init__(self, spec, mech_lib, feat_lib):
        self.ctx = mp.get_context("fork")
        self.args = (spec, mech_lib, feat_lib)
        self.ws = []
        self.seen = set()

    def start(self, n):
        for _ in range(n):
            parent, child = self.ctx.Pipe()
            r, w = os.pipe()
            sys.stdout.flush()
            sys.stderr.flush()
            ends = [x["conn"] for x in self.ws] + [parent]
            proc = self.ctx.Process(target=worker_main, args=(child, w, ends, os.getpid()) + self.args,
                                    daemon=True)
            proc.start()
            child.close()
            os.close(w)
            os.set_blocking(r, False)
            self.ws.append({"n": len(self.ws) + 1, "proc": proc, "conn": parent, "out": r, "tail": b"",
                            "shown": 0, "pending": b"", "job": None, "ready": False})

    def _read_output(self, w):
        while w["out"] is not None:
            try:
                chunk = os.read(w["out"], 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                os.close(w["out"])
                w["out"] = None
                return
            w["tail"] = (w["tail"] + chunk)[-8192:]
            w["pending"] += chunk
            self._show(w)

    def _show(self, w):
        """Passes a worker's own output on (20 lines at most), NEURON's display notice aside; a
        worker's output before its cell is built only goes into the error if building fails."""
        if not w["ready"]:
            return
        *lines, w["pending"] = w["pending"].split(b"\n")
        for line in lines:
            line = line.strip()
            if line and not line.startswith(NOISE) and line not in self.seen and w["shown"] < 20:
                self.seen.add(line)  # each distinct line once, not once per worker
                w["shown"] += 1
                sys.stderr.write("noble datagen: worker %d: %s\n" % (w["n"], line.decode(errors="replace")))
                if w["shown"] == 20:
                    sys.stderr.write("noble datagen: worker %d: (further output not shown)\n" % w["n"])

    def _neuron_said(self, w):
        lines = [x.strip().decode(errors="replace") for x in w["tail"].splitlines()]
        said = [x for x in lines if x.startswith("NEURON:")]
        return ("; NEURON said: %s" % said[-1][7:].strip()) if said else ""

    def _death(self, w):
        proc = w["proc"]
        proc.join(5)
        self._read_output(w)
        code = proc.exitcode
        detail = ""
        if code is None:
            why = "closed its connection but did not exit"
        elif code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "signal %d" % -code
            why = "was killed by signal %d (%s)" % (-code, name)
            if -code == signal.SIGKILL:
                detail = (": the kernel's out-of-memory killer sends SIGKILL when memory runs out "
                        "(`dmesg` says whether it did); fewer --jobs need less memory")
        else:
            why = "exited with status %d" % code
            lines = [x.strip().decode(errors="replace") for x in w["tail"].splitlines()
                     if x.strip() and not x.strip().startswith(NOISE)]
            if lines:
                detail = "; its last output: %s" % lines[-1]
        what = ("while simulating candidate %d" % w["job"]) if w["job"] is not None else \
            ("before its cell was built" if not w["ready"] else "while idle")
        return "NEURON worker %d (pid %d) %s %s%s" % (w["n"], proc.pid, why, what, detail)

    def events(self, timeout=None):
        """Waits for what the workers say: [(worker, message)], message ("died", reason) for a death."""
        live = [w for w in self.ws if w["conn"] is not None]
        objs = []
        for w in live:
            objs += [w["conn"], w["proc"].sentinel] + ([w["out"]] if w["out"] is not None else [])
        if not objs:
            return []
        mp.connection.wait(objs, timeout)
        out = []
        for w in live:
            self._read_output(w)
            try:
                while w["conn"].poll():
                    out.append((w, w["conn"].recv()))
            except (EOFError, OSError):
                out.append((w, ("died", self._death(w))))
                w["conn"].close()
                w["conn"] = None
                continue
            if not w["proc"].is_alive():
                try:
                    while w["conn"].poll():
                        out.append((w, w["conn"].recv()))
                except (EOFError, OSError):
                    pass
                if not any(ww is w and m[0] in ("spec-error", "init-error", "error") for ww, m in out):
                    out.append((w, ("died", self._death(w))))
                w["conn"].close()
                w["conn"] = None
        return out

    def wait_ready(self):
        """Warnings of the workers' cells, once every worker has built its cell."""
        warnings = None
        while not all(w["ready"] for w in self.ws):
            for w, m in self.events():
                if m[0] == "ready":
                    w["ready"] = True
                    self._show(w)
                    if warnings is None:
                        warnings = m[1]
                else:
                    self._raise(w, m)
        return warnings or []

    def _raise(self, w, m):
        if m[0] == "spec-error":
            raise UsageError("cell spec '%s': %s" % (self.args[0]["spec_path"], m[1]))
        if m[0] == "init-error":
            raise RunError("%s%s" % (m[1], self._neuron_said(w)))
        if m[0] == "error":
            raise RunError("simulating candidate %d failed in NEURON worker %d: %s%s" %
                           (m[1], w["n"], m[2], self._neuron_said(w)))
        if m[0] == "died":
            raise RunError(m[1])
        raise RunError("NEURON worker %d said %r" % (w["n"], m))

    def idle(self):
        return [w for w in self.ws if w["conn"] is not None and w["ready"] and w["job"] is None]

    def busy(self):
        return [w for w in self.ws if w["job"] is not None]

    def send(self, w, job):
        w["job"] = job[0]
        w["conn"].send(job)

    def results(self):
        """(candidate, accepted) of the workers that finished one; raises on any failure."""
        out = []
        for w, m in self.events():
            if m[0] == "done":
                w["job"] = None
                out.append((m[1], m[2]))
            else:
                self._raise(w, m)
        return out

    def close(self, now=False):
        for w in self.ws:
            if w["conn"] is not None and not now:
                try:
                    w["conn"].send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + (0 if now else 5)
        for w in self.ws:
            w["proc"].join(max(0.0, deadline - time.monotonic()))
            if w["proc"].is_alive():
                w["proc"].terminate()
                w["proc"].join(5)
            if w["proc"].is_alive():
                w["proc"].kill()
                w["proc"].join()
            if w["conn"] is not None:
                w["conn"].close()
                w["conn"] = None
            if w["out"] is not None:
                os.close(w["out"])
                w["out"] = None


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


class Search:
    """Which candidates make the ensemble: in candidate order, the first quota[f] accepted
    candidates of each family f = k mod families (k < max_cand). A function of the candidates'
    outcomes alone, not of who simulated them or when, so workers and MPI ranks may finish them
    in any order. status holds the outcomes not yet settled (candidate -> accepted)."""

    def __init__(self, n_models, fams, max_cand):
        self.n_models, self.fams, self.max_cand = n_models, fams, max_cand
        self.quota = [n_models // fams + (1 if f < n_models % fams else 0) for f in range(fams)]
        self.accepted, self.taken, self.reasons = [], [0] * fams, {}
        self.tried = self.rejected = 0
        self.status = {}
        self.next_k = 0  # the first candidate not settled

    def settle(self, folder):
        """Takes the outcomes known in candidate order; folder(k): where candidate k's file is."""
        while len(self.accepted) < self.n_models and self.next_k < self.max_cand:
            k = self.next_k
            fam = k % self.fams
            if self.taken[fam] >= self.quota[fam]:
                self.status.pop(k, None)
                self.next_k += 1
                continue
            if k not in self.status:
                break
            ok = self.status.pop(k)
            self.tried += 1
            if ok:
                self.accepted.append(k)
                self.taken[fam] += 1
            else:
                self.rejected += 1
                try:  # the reason, for the message when too few pass
                    with open(os.path.join(folder(k), "cand_%06d.json" % k)) as f:
                        r = json.load(f)["reason"].split(" = ")[0].split(" (")[0]
                except (OSError, ValueError, KeyError):
                    r = "unknown (cand_%06d.json unreadable)" % k
                self.reasons[r] = self.reasons.get(r, 0) + 1
            self.next_k += 1

    def wanted(self, k):
        """Whether candidate k (not yet settled) is still to simulate."""
        return k not in self.status and self.taken[k % self.fams] < self.quota[k % self.fams]

    def next_wanted(self, n):
        """The next n candidates still to simulate, in order (fewer at max_cand)."""
        out, k = [], self.next_k
        while len(out) < n and k < self.max_cand:
            if self.wanted(k):
                out.append(k)
            k += 1
        return out

    def shortfall(self):
        top = ", ".join("%s (%d)" % kv for kv in sorted(self.reasons.items(), key=lambda kv: -kv[1])[:4])
        return ("only %d of %d models passed the criteria after %d candidates (--max-candidates %d); most "
                "common rejections: %s" % (len(self.accepted), self.n_models, self.tried, self.max_cand,
                                           top or "none"))


def saved_outcomes(partial, max_cand):
    """The candidates an earlier run saved in the folder partial, from one listing: {k: accepted}."""
    out = {}
    for name in os.listdir(partial):
        m = re.fullmatch(r"cand_([0-9]{6,})\.(npz|json)", name)
        if m and int(m.group(1)) < max_cand:
            out[int(m.group(1))] = m.group(2) == "npz"
    return out


# ------------------------------------------------------------------ the file

def split_models(n, seed, n_test, n_val):
    order = np.random.default_rng([seed, 31337]).permutation(n)
    split = np.zeros(n, dtype=np.int8)
    split[order[:n_test]] = 2
    split[order[n_test:n_test + n_val]] = 1
    return split


def write_dataset(out, where, accepted, state, spec, feat):
    """The dataset from the accepted candidates' files (cand_K.npz in the folder where(K)),
    written to a temporary name and renamed when complete."""
    import h5py
    keep = ("candidate", "family", "params", "I_thr", "s_thr", "amplitudes", "near_threshold", "wall",
            "features", "crit_names", "crit_values", "neuron_version")
    models = []
    for k in accepted:  # everything but the voltages, which are read one model at a time below
        with np.load(os.path.join(where(k), "cand_%06d.npz" % k)) as z:
            models.append({key: z[key] for key in keep})
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
                                 "against amplitude over every simulated step in [I_thr, I_thr + %g pA]; "
                                 "with fewer than two such steps, the steps I_thr + %s pA are simulated "
                                 "for the slope alone (not stored)"
                                 % (S_THR_SPAN, ", ".join("%g" % o for o in S_THR_STEPS)))
            a["I_thr_method"] = ("smallest whole pA whose step gives a spike (peak above %g mV inside "
                                 "the step), by bisection on [0, %g] pA" % (SPIKE_THRESHOLD, BISECT_MAX))
            a["candidates_tried"] = state["tried"]
            a["candidates_rejected"] = state["rejected"]
            a["ranks"] = state.get("ranks", 1)  # MPI ranks that made it (docs/mpi.md)

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
                with np.load(os.path.join(where(accepted[mi]), "cand_%06d.npz" % accepted[mi])) as z:
                    dv[row:row + n] = z["voltage"]
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


# ------------------------------------------------------------ across ranks

ROUND = 4  # at most this many candidates per worker and round across ranks


def shard_name(out, r, n):
    return "%s.rank-%d-of-%d.partial" % (out, r, n)


def unfinished_counts(out):
    """The rank counts of unfinished runs for OUT: 1 for OUT.partial, n for OUT.rank-R-of-n.partial."""
    counts = {1} if os.path.isdir(out + ".partial") else set()
    pat = re.escape(os.path.basename(out)) + r"\.rank-[0-9]+-of-([0-9]+)\.partial"
    for name in os.listdir(os.path.dirname(out)):
        m = re.fullmatch(pat, name)
        if m and os.path.isdir(os.path.join(os.path.dirname(out), name)):
            counts.add(int(m.group(1)))
    return counts


def rank_cores():
    """Cores for this rank's workers: its CPU set when the launcher bound it, else the node's
    cores shared by the ranks on the node."""
    n = len(os.sched_getaffinity(0))
    if n >= (os.cpu_count() or 1):
        for var in ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"):
            try:
                n //= max(1, int(os.environ[var]))
                break
            except (KeyError, ValueError):
                pass
    return max(1, n)


def run_ranks(rank, ranks, given, out, partial, resumed, state, spec, o, mech_lib, feat_lib, feat, avail,
              per_model):
    """Rank `rank` of `ranks` (noble datagen under mpirun or srun, docs/mpi.md). The candidate search
    goes in rounds: every rank knows every outcome so far, so all take the same next candidates still
    wanted (Search.next_wanted, about as many as are still needed) and rank r simulates the contiguous block
    r of them with its own workers, saving each in its shard OUT.rank-R-of-N.partial; then the ranks
    swap the round's outcomes (a line "sync JOBS;K:OK,..." to noble, which answers every rank's in rank
    order, MPI_Allgatherv). The ensemble is Search's, a function of the outcomes alone, and each
    candidate's parameters depend on (seed, k) alone: the dataset rank 0 writes from the shards is the
    single process's. Rank 0 alone says progress and writes; the others end quietly."""
    n_models, fams, max_cand = o["models"], o["families"], o["max_candidates"]
    amplitudes, offsets = o["amplitudes"], o["offsets"]
    search = Search(n_models, fams, max_cand)
    where = {}  # candidate -> the shard folder with its file
    lead = rank == 0
    jobs = 0
    any_saved = [resumed]

    def sync(news):
        sys.stdout.write("sync %d;%s\n" % (jobs, ",".join("%d:%d" % (k, ok) for k, ok in news)))
        sys.stdout.flush()
        line = sys.stdin.readline()
        parts = line.split()
        if not line.endswith("\n") or len(parts) != ranks:
            raise RunError("rank %d of %d: noble did not answer a sync (%r)" % (rank, ranks, line[:60]))
        js = []
        for r, part in enumerate(parts):
            j, _, items = part.partition(";")
            js.append(int(j))
            for item in filter(None, items.split(",")):
                k, ok = item.split(":")
                search.status[int(k)] = ok == "1"
                where[int(k)] = shard_name(out, r, ranks)
                any_saved[0] = True
        search.settle(lambda k: where[k])
        if lead:
            sys.stdout.write("progress %d %d %d\n" % (len(search.accepted), n_models, search.tried))
            sys.stdout.flush()
        return js

    created = False
    pool = None
    try:
        sync(sorted(saved_outcomes(partial, max_cand).items()) if resumed else [])  # what every rank saved
        if len(search.accepted) < n_models:
            pool, jobs = start_workers(spec, mech_lib, feat_lib, o["jobs"], avail, per_model, rank_cores(), lead)
        js = sync([])
        if lead:
            sys.stdout.write("info cell=%s models=%d amplitudes=%d jobs=%d ranks=%d resumed=%d\n" %
                             (spec["name"], n_models, len(amplitudes), sum(js), ranks, int(any_saved[0])))
            sys.stdout.flush()
        if not resumed:
            created = make_partial(partial, state, out)
        while pool and len(search.accepted) < n_models:
            # as many candidates as the acceptance so far says are still needed, at least one per
            # worker, at most ROUND per worker; the contiguous block of rank r in proportion to its workers
            sizes = [max(1, j) for j in js]
            left = n_models - len(search.accepted)
            need = -(-left * (search.tried + 1) // (len(search.accepted) + 1))
            todo = search.next_wanted(min(ROUND * sum(sizes), max(sum(sizes), need)))
            if not todo:
                break
            lo = len(todo) * sum(sizes[:rank]) // sum(sizes)
            hi = len(todo) * sum(sizes[:rank + 1]) // sum(sizes)
            block, news = todo[lo:hi], []
            while block or pool.busy():
                for w in pool.idle():
                    if not block:
                        break
                    k = block.pop(0)
                    fam, vals = sample_params(spec, o["seed"], k, fams)
                    pool.send(w, (k, fam, vals, amplitudes, offsets, partial))
                if pool.busy():
                    news += pool.results()
            js = sync(news)
        if pool:
            pool.close()
            pool = None
        if len(search.accepted) < n_models:
            if not lead:  # every rank knows it; rank 0 says it
                sys.exit(0)
            raise RunError(search.shortfall(), "more")
    except (UsageError, RunError, KeyboardInterrupt) as e:
        if pool:
            pool.close(now=True)
        stopped(e, partial, created)
    finally:
        if pool:
            pool.close(now=True)
    if not lead:
        return
    # every candidate's file is saved before its outcome is sent: rank 0 joins the shards
    state.update(tried=search.tried, rejected=search.rejected, ranks=ranks)
    del state["rank"]
    finish(out, given, lambda k: where[k], [shard_name(out, r, ranks) for r in range(ranks)], search, state,
           spec, feat)


# --------------------------------------------------------------------- main

def mib(x):
    return "%.0f MiB" % (x / 2**20)


def check_options(args):
    """Every option, before any work: (settings dict) or UsageError naming option, value and range."""
    o = {}
    o["amplitudes"] = parse_amplitudes(args.amplitudes)
    o["offsets"] = parse_offsets(args.threshold_offsets)
    o["models"] = models = int_option("--models", args.models, 1, MAX_MODELS)
    o["seed"] = int_option("--seed", args.seed, 0, MAX_SEED)
    o["jobs"] = int_option("--jobs", args.jobs, 0, MAX_JOBS, " (0: as many as cores and memory allow)")
    if args.families is None:
        o["families"] = min(3, models)
    else:
        o["families"] = int_option("--families", args.families, 1, models, " (at most --models)")
    if args.test is None:
        o["test"] = max(1, round(models / 6)) if models >= 3 else 0
    else:
        o["test"] = int_option("--test", args.test, 0, models - 1, " (fewer than --models)")
    if args.validation is None:
        o["validation"] = max(1, round(models / 12)) if models >= 3 else 0
    else:
        o["validation"] = int_option("--validation", args.validation, 0, models - 1, " (fewer than --models)")
    if o["test"] + o["validation"] >= models:
        raise UsageError("--test %d and --validation %d leave no training model out of %d: together they "
                         "must be at most %d" % (o["test"], o["validation"], models, models - 1))
    if args.max_candidates is None:
        o["max_candidates"] = 20 * models + 40
    else:
        o["max_candidates"] = int_option("--max-candidates", args.max_candidates, models, MAX_CANDIDATES,
                                         " (at least --models)")
    if not args.out:
        raise UsageError("--out '': give the path of the HDF5 file to write")
    return o


def main():
    ap = argparse.ArgumentParser(prog="noble datagen", allow_abbrev=False)
    ap.add_argument("--cell", default="pvalb")
    ap.add_argument("--models", default="60")
    ap.add_argument("--families")
    ap.add_argument("--amplitudes", default="-110:270:20")
    ap.add_argument("--threshold-offsets", default="0,10,20,30,40,50")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--jobs", default="0")
    ap.add_argument("--test")
    ap.add_argument("--validation")
    ap.add_argument("--max-candidates")
    ap.add_argument("--out", required=True)
    ap.add_argument("--mechanisms", required=True)
    ap.add_argument("--features-lib", required=True)
    ap.add_argument("--cells-dir", required=True)
    ap.add_argument("--rank", type=int, default=0)   # given by noble under MPI (docs/mpi.md)
    ap.add_argument("--ranks", type=int, default=1)
    args = ap.parse_args()
    rank, ranks = args.rank, args.ranks
    try:
        o = check_options(args)
        spec = resolve_cell(args.cell, args.cells_dir)
    except UsageError as e:
        fail(str(e), 2)
    amplitudes, offsets, n_models = o["amplitudes"], o["offsets"], o["models"]
    fams = o["families"]
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
    # an unfinished run of another rank count is not continued (docs/mpi.md)
    others = sorted(unfinished_counts(out) - {ranks})
    if others:
        n = others[0]
        fail("'%s' holds an unfinished run across %d MPI rank%s (%s), this run has %d: resume it with %s, "
             "or delete %s to start over" %
             (os.path.dirname(args.out) or ".", n, "s" if n > 1 else "",
              shard_name(out, 0, n) + ", ..." if n > 1 else out + ".partial", ranks,
              "mpirun -np %d" % n if n > 1 else "one process (without mpirun, or mpirun -np 1)",
              "them" if n > 1 else "it"))
    partial = out + ".partial" if ranks == 1 else shard_name(out, rank, ranks)
    with open(spec["spec_path"], "rb") as f:
        spec_sha1 = hashlib.sha1(f.read()).hexdigest()
    state = {"cell": spec["name"], "spec_sha1": spec_sha1,
             "models": n_models, "families": fams, "amplitudes": amplitudes, "offsets": offsets,
             "seed": o["seed"], "n_test": o["test"], "n_validation": o["validation"],
             "format_version": FORMAT_VERSION, "dt_sim": DT_SIM, "t_stop": T_STOP, "stim_start": STIM_START}
    if ranks > 1:
        state.update(rank=rank, ranks=ranks)
    state_path = os.path.join(partial, "state.json")
    resumed = os.path.isdir(partial)
    if resumed:
        try:
            with open(state_path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        if not isinstance(old, dict) or {k: old.get(k) for k in state} != state:
            fail("'%s' holds an unfinished run with other settings (or is damaged); "
                 "rerun with the same settings to resume it, or delete it to start over" % partial)

    # sizes against the disk and memory, before any work
    per_model = len(amplitudes) + len(offsets)
    n_traces = n_models * per_model
    raw = n_traces * N_SAMPLES * 4  # float32 voltages: uncompressed in OUT.partial, compressed in OUT
    st = os.statvfs(outdir)
    free = st.f_bavail * st.f_frsize
    if 2 * raw > free:
        fail("the dataset needs up to %s on disk (%d models x %d traces x %d samples x 4 bytes, in %s and "
             "then in %s) but '%s' has %s free: lower --models or the number of amplitudes" %
             (mib(2 * raw), n_models, per_model, N_SAMPLES, os.path.basename(partial), os.path.basename(out),
              outdir, mib(free)))
    avail = mem_available()
    if avail is not None and n_traces * 256 > avail // 2:
        fail("writing %d traces needs about %s of memory (per-trace features and indices) but %s is "
             "available: lower --models or the number of amplitudes" % (n_traces, mib(n_traces * 256), mib(avail)))

    max_cand = o["max_candidates"]
    mech_lib = os.path.abspath(args.mechanisms)
    feat_lib = os.path.abspath(args.features_lib)
    feat = Features(feat_lib)
    if ranks > 1:
        return run_ranks(rank, ranks, args.out, out, partial, resumed, state, spec, o, mech_lib, feat_lib, feat,
                         avail, per_model)
    search = Search(n_models, fams, max_cand)
    accepted = search.accepted

    def progress():
        sys.stdout.write("progress %d %d %d\n" % (len(accepted), n_models, search.tried))
        sys.stdout.flush()

    if resumed:  # the candidates saved by earlier runs, from one listing
        search.status.update(saved_outcomes(partial, max_cand))
    search.settle(lambda k: partial)

    created = False
    pool = None
    jobs = o["jobs"]
    try:
        if len(accepted) < n_models:
            pool, jobs = start_workers(spec, mech_lib, feat_lib, jobs, avail, per_model, os.cpu_count() or 1)
        sys.stdout.write("info cell=%s models=%d amplitudes=%d jobs=%d resumed=%d\n" %
                         (spec["name"], n_models, len(amplitudes), jobs if pool else 0, int(resumed)))
        progress()
        if not resumed:
            created = make_partial(partial, state, out)
        k = search.next_k
        while pool and len(accepted) < n_models:
            # every idle worker gets the next candidate still wanted, in candidate order
            for w in pool.idle():
                while k < max_cand and not search.wanted(k):
                    k += 1
                if k >= max_cand:
                    break
                fam, vals = sample_params(spec, o["seed"], k, fams)
                pool.send(w, (k, fam, vals, amplitudes, offsets, partial))
                k += 1
            if not pool.busy():
                break
            for kk, ok in pool.results():
                search.status[kk] = ok
            search.settle(lambda k: partial)
            progress()
        if pool:
            pool.close()
            pool = None
        if len(accepted) < n_models:
            raise RunError(search.shortfall(), "more")
    except (UsageError, RunError, KeyboardInterrupt) as e:
        if pool:
            pool.close(now=True)
        stopped(e, partial, created)
    finally:
        if pool:
            pool.close(now=True)
    state.update(tried=search.tried, rejected=search.rejected)
    finish(out, args.out, lambda k: partial, [partial], search, state, spec, feat)


def start_workers(spec, mech_lib, feat_lib, jobs, avail, per_model, cores, say=True):
    """NEURON workers, ready: one first, which checks the cell and tells how much memory a NEURON
    process takes, then the rest (jobs = 0: as many as cores and memory allow). Returns (pool, jobs);
    says the cell's warnings on stderr when say."""
    pool = Workers(spec, mech_lib, feat_lib)
    try:
        pool.start(1)
        warnings = pool.wait_ready()
        for w in warnings if say else []:
            sys.stderr.write("noble datagen: %s\n" % w)
        sys.stderr.flush()
        need = rss_bytes(pool.ws[0]["proc"].pid) + 3 * per_model * N_SAMPLES * 4 + 64 * 2**20
        fit = max(0, int((avail + rss_bytes(pool.ws[0]["proc"].pid)) * 0.8 // need)) if avail else MAX_JOBS
        if jobs == 0:
            jobs = min(cores, max(1, fit))
        elif jobs > max(1, fit):
            raise UsageError("--jobs %d: each NEURON process of this cell needs about %s and %s of "
                             "memory is available, enough for --jobs %d" % (jobs, mib(need), mib(avail), fit))
        if avail and fit < 1:
            raise RunError("one NEURON process of this cell needs about %s but only %s of memory is "
                           "available" % (mib(need), mib(avail)))
        pool.start(jobs - 1)
        pool.wait_ready()
    except BaseException:
        pool.close(now=True)
        raise
    return pool, jobs


def make_partial(partial, state, out):
    """The folder of an unfinished run: UNFINISHED and state.json (the settings a resume must match)."""
    try:
        os.makedirs(partial)
        with open(os.path.join(partial, "UNFINISHED"), "w") as f:
            f.write("An unfinished `noble datagen` run: rerun the same command to resume it.\n"
                    "The dataset %s is written only when every model is done.\n" % out)
        state_path = os.path.join(partial, "state.json")
        tmp = state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f, indent=1)
        os.replace(tmp, state_path)
    except OSError as e:
        raise RunError("cannot write '%s': %s" % (partial, e))
    return True


def stopped(e, partial, created):
    """Ends a run that stopped (UsageError, RunError, KeyboardInterrupt) with its message and what
    was saved for a resume; a folder this run created and saved nothing in is removed."""
    saved = [x for x in os.listdir(partial) if x.startswith("cand_")] if os.path.isdir(partial) else []
    where = ""
    if created and not saved:  # nothing to resume: leave nothing behind
        shutil.rmtree(partial, ignore_errors=True)
    elif os.path.isdir(partial):
        where = "; %d candidate%s saved in %s: rerun %s to resume" % (
            len(saved), " is" if len(saved) == 1 else "s are", partial, "with a larger --max-candidates" if e.args[1:] == ("more",)
            else "the same command")
    if isinstance(e, KeyboardInterrupt):
        fail("interrupted%s" % where, 130)
    fail("%s%s" % (e.args[0], where if isinstance(e, RunError) else ""), 2 if isinstance(e, UsageError) else 1)


def finish(out, given, where, partials, search, state, spec, feat):
    """Writes the dataset from the candidates' files (where(k): their folder), removes the folders
    partials and says "done" on stdout."""
    try:
        M, T = write_dataset(out, where, search.accepted, state, spec, feat)
    except OSError as e:
        fail("cannot write '%s': %s; the simulated models stay in %s: rerun the same command to write it" %
             (given, e, ", ".join(partials)))
    except KeyboardInterrupt:
        fail("interrupted while writing %s; the simulated models stay in %s: rerun the same command to "
             "write it" % (given, ", ".join(partials)), 130)
    for p in partials:
        shutil.rmtree(p, ignore_errors=True)
    sys.stdout.write("done %s %d %d %d %d\n" % (out, M, T, search.tried, search.rejected))
    sys.stdout.flush()

if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a bug of the generator's: one line, and where
        import traceback
        fr = traceback.extract_tb(e.__traceback__)[-1]
        fail("internal error: %s (%s, line %d, in %s)" % ("".join(traceback.format_exception_only(type(e), e))
                                                         .strip().splitlines()[-1], os.path.basename(fr.filename),
                                                         fr.lineno, fr.name))
