#!/usr/bin/env python3
"""Regenerates tests/data/efel/: the reference traces and efel_reference.h,
the numbers eFEL itself computes on them (run by hand, not by CI: CI has no
eFEL). See README.md in this folder.

usage: make_reference.py --efel-git EFEL_GIT_DIR --efel-path EFEL_IMPORT_PATH[:...]
                         [--build BUILD_DIR] [--skip-neuron]

  --efel-git   a git clone or mirror of eFEL (github.com/openbraininstitute/eFEL);
               the real recordings are read from its tests/testdata at HEAD
  --efel-path  where `import efel` finds eFEL built from that same commit
               (prepended to sys.path)
  --build      a noble build folder (default build/): the NEURON mechanisms and
               libnm_features.so the generator needs for the NEURON traces
  --skip-neuron  keep the NEURON traces already in this folder
"""
import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# The features of models/features.c, in its order (nm_feature_name). eFEL
# gives one value per spike for the two marked "mean"; noble's feature is the
# mean over spikes of that array.
NAMES = ["Spikecount", "time_to_first_spike", "AP1_peak", "AP1_width", "mean_AP_amplitude", "AHP_depth",
         "AHP1_depth_from_peak", "AHP_time_from_peak", "inv_first_ISI", "mean_frequency", "voltage_base",
         "steady_state_voltage", "steady_state_voltage_stimend", "decay_time_constant_after_stim",
         "depol_block", "sag_amplitude", "depol_block_bool", "Spikecount_stimint"]
MEAN_OF = {"AHP_depth", "AHP_time_from_peak"}

# Real recordings among eFEL's test data: (name, path in the eFEL repository,
# column of the voltage, dt in ms, stim_start, stim_end (ms, as eFEL's own
# tests use them), first and last sample kept).
REAL = [
    ("real_l5_testdata", "tests/testdata/allfeatures/testdata.txt", 1, 0.25, 700.0, 2700.0, 0, 12000),
    ("real_abf95810005", "tests/testdata/basic/AP_begin_indices_95810005.abf.csv", 0, 0.1, 31.2, 431.2, 0, 7168),
    ("real_abf95824004", "tests/testdata/basic/zero_ISI_log_slope_skip95824004.abf.csv", 1, 0.1, 31.2, 431.2,
     0, 7168),
    ("real_init_burst1", "tests/testdata/basic/init_burst1.txt", 1, 0.1, 250.0, 1600.0, 0, 18500),
]

# A simulated trace of eFEL's test data with spikes before and after the step
# (variable time steps): resampled linearly at dt from 0 to t_max.
RESAMPLED = [
    ("sim_spike_outside_stim", "tests/testdata/basic/spike_outside_stim.txt", 0.1, 700.0, 2700.0, 2900.0),
]


def write_trace(name, v, dt, s0, s1, source):
    path = os.path.join(HERE, name + ".txt")
    with open(path, "w") as f:
        f.write("# %s\n" % source)
        f.write("# dt_ms %r\n# stim_start_ms %r\n# stim_end_ms %r\n# samples %d\n" % (dt, s0, s1, len(v)))
        for x in v:
            f.write("%.4f\n" % x)
    return path


def read_trace(path):
    meta, v = {}, []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                p = line[1:].split()
                if len(p) == 2:
                    try:
                        meta[p[0]] = float(p[1])
                    except ValueError:
                        pass
            elif line.strip():
                v.append(float(line))
    return np.array(v), meta["dt_ms"], meta["stim_start_ms"], meta["stim_end_ms"]


def real_traces(git_dir):
    commit = subprocess.check_output(["git", "-C", git_dir, "rev-parse", "HEAD"]).decode().strip()
    for name, rel, col, dt, s0, s1, a, b in REAL:
        text = subprocess.check_output(["git", "-C", git_dir, "show", "HEAD:" + rel]).decode()
        data = np.loadtxt(text.splitlines(), ndmin=2)
        v = data[a:b, col]
        write_trace(name, v, dt, s0, s1, "eFEL %s %s (commit %s), samples %d-%d, time = i * dt" %
                    ("recording", rel, commit, a, b - 1))
    for name, rel, dt, s0, s1, t_max in RESAMPLED:
        text = subprocess.check_output(["git", "-C", git_dir, "show", "HEAD:" + rel]).decode()
        data = np.loadtxt(text.splitlines(), ndmin=2)
        t = np.arange(int(round(t_max / dt))) * dt
        v = np.interp(t, data[:, 0], data[:, 1])
        write_trace(name, v, dt, s0, s1, "eFEL test trace %s (commit %s; a simulation with variable steps), "
                    "resampled linearly at %g ms from 0 to %g ms" % (rel, commit, dt, t_max))
    return commit


def neuron_traces(build):
    """Traces of the PVALB-like cell (candidate 0 of seed 1, as `noble datagen`
    draws it) from noble's own generator, at 0.06 ms."""
    sys.path.insert(0, os.path.join(ROOT, "plugins", "neuron"))
    import noble_datagen as g
    spec = g.resolve_cell("pvalb", os.path.join(ROOT, "plugins", "neuron", "cells"))
    mech = os.path.join(build, "plugins", "neuron", "x86_64", ".libs", "libnrnmech.so")
    feat = os.path.join(build, "models", "libnm_features.so")
    sim = g.Sim(spec, mech, feat)
    _, values = g.sample_params(spec, 1, 0, 3)
    sim.apply(values)
    lo, hi = 0.0, g.BISECT_MAX
    while hi - lo > 1.0:
        mid = np.floor((lo + hi) / 2)
        v, _ = sim.run(mid, stop_on_spike=True)
        if sim.spikes(v) > 0:
            hi = mid
        else:
            lo = mid
    steps = [("neuron_sag_m110", -110.0, "hyperpolarising step with sag"),
             ("neuron_hyper_m400", -400.0, "large hyperpolarising step, deep sag"),
             ("neuron_rheobase", hi, "at rheobase (I_thr = %g pA): slow firing" % hi),
             ("neuron_100", 100.0, "repetitive firing"),
             ("neuron_270", 270.0, "fast firing"),
             ("neuron_block_3000", 3000.0, "a large step: depolarisation block")]
    for name, amp, what in steps:
        v, _ = sim.run(amp)
        write_trace(name, v, g.DT, g.STIM_START, g.STIM_END,
                    "NEURON %s, noble's pvalb cell (plugins/neuron, candidate 0 of seed 1), %g pA step: %s"
                    % (sim.version, amp, what))


def efel_values(efel, v, dt, s0, s1):
    tr = {"T": np.arange(len(v)) * dt, "V": v, "stim_start": [s0], "stim_end": [s1]}
    r = efel.get_feature_values([tr], NAMES, raise_warnings=False)[0]
    out = []
    for k in NAMES:
        x = r[k]
        if x is None or len(x) == 0:
            out.append(float("nan"))
        elif k in MEAN_OF:
            out.append(float(np.mean(x)))
        else:
            out.append(float(x[0]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--efel-git", required=True)
    ap.add_argument("--efel-path", required=True)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--skip-neuron", action="store_true")
    args = ap.parse_args()
    commit = real_traces(args.efel_git)
    if not args.skip_neuron:
        neuron_traces(os.path.abspath(args.build))
    sys.path[:0] = args.efel_path.split(":")
    import efel
    version = subprocess.check_output(["git", "-C", args.efel_git, "describe", "--tags", "--always", "HEAD"]
                                      ).decode().strip()
    files = sorted(f for f in os.listdir(HERE) if f.endswith(".txt"))
    rows = []
    for f in files:
        v, dt, s0, s1 = read_trace(os.path.join(HERE, f))
        rows.append((f, dt, s0, s1, efel_values(efel, v, dt, s0, s1)))
    settings = efel.get_settings()
    with open(os.path.join(HERE, "efel_reference.h"), "w") as h:
        h.write("/* efel_reference.h - written by tests/data/efel/make_reference.py; do not edit.\n"
                " * eFEL %s (commit %s), default settings (Threshold %g mV, DerivativeThreshold %g mV/ms,\n"
                " * DerivativeWindow %d, interp_step %g ms), on the traces of this folder with\n"
                " * T = i * dt. NaN: eFEL gives no value (None). The per-spike arrays of %s are\n"
                " * averaged over spikes. */\n" %
                (version, commit, settings.Threshold, settings.DerivativeThreshold, settings.DerivativeWindow,
                 settings.interp_step, " and ".join(sorted(MEAN_OF))))
        h.write("#define EFEL_N_FEATURES %d\n" % len(NAMES))
        h.write("static const char *const efel_names[EFEL_N_FEATURES] = {\n")
        for k in NAMES:
            h.write('    "%s",\n' % k)
        h.write("};\n")
        h.write("static const struct efel_case {\n    const char *file;\n    double dt, stim_start, stim_end;\n"
                "    double value[EFEL_N_FEATURES];\n} efel_cases[] = {\n")
        for f, dt, s0, s1, vals in rows:
            h.write('    {"%s", %r, %r, %r,\n     {%s}},\n' % (f, dt, s0, s1, ", ".join(
                "NAN" if np.isnan(x) else repr(x) for x in vals)))
        h.write("};\n")
    for f, dt, s0, s1, vals in rows:
        print(f, " ".join("%s=%.6g" % (k, x) for k, x in zip(NAMES, vals)))


if __name__ == "__main__":
    main()
