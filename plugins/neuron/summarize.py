#!/usr/bin/python3
"""summarize.py FILE.h5|FILE.h5.partial - the ensemble summary of docs/dataset.md:
counts, criteria and feature ranges, NEURON wall time per trace. Reads a finished
dataset, or the saved models of an unfinished run."""
import glob
import json
import os
import sys

import numpy as np

path = sys.argv[1]
if os.path.isdir(path):
    files = sorted(glob.glob(os.path.join(path, "cand_*.npz")))
    rej = sorted(glob.glob(os.path.join(path, "cand_*.json")))
    ms = [np.load(f) for f in files]
    crit_names = [str(x) for x in ms[0]["crit_names"]]
    crit = np.stack([m["crit_values"] for m in ms])
    ithr = np.array([float(m["I_thr"]) for m in ms])
    sthr = np.array([float(m["s_thr"]) for m in ms])
    wall = np.concatenate([m["wall"] for m in ms])
    feats = np.concatenate([m["features"] for m in ms])
    sys.path.insert(0, os.path.dirname(__file__))
    names = ["Spikecount", "time_to_first_spike", "AP1_peak", "AP1_width", "mean_AP_amplitude", "AHP_depth",
             "AHP1_depth_from_peak", "AHP_time_from_peak", "inv_first_ISI", "mean_frequency", "voltage_base",
             "steady_state_voltage", "steady_state_voltage_stimend", "decay_time_constant_after_stim",
             "depol_block", "sag_amplitude"]
    print("unfinished run: %d models saved, %d candidates rejected" % (len(ms), len(rej)))
else:
    import h5py
    with h5py.File(path, "r") as f:
        crit_names = [str(x) for x in f["models/criteria"].attrs["names"]]
        crit = f["models/criteria"][:]
        ithr, sthr = f["models/I_thr"][:], f["models/s_thr"][:]
        wall = f["traces/neuron_wall_s"][:]
        feats = f["traces/features"][:]
        names = [str(x) for x in f["traces/features"].attrs["names"]]
        print("%d models (%d train, %d validation, %d test), %d traces; %d candidates, %d rejected"
              % (f.attrs["n_models"], len(f["split/train"]), len(f["split/validation"]), len(f["split/test"]),
                 f.attrs["n_traces"], f.attrs["candidates_tried"], f.attrs["candidates_rejected"]))
print("| quantity | min | median | max |\n|---|---|---|---|")
for j, n in enumerate(crit_names):
    c = crit[:, j]
    print("| %s (criterion) | %.4g | %.4g | %.4g |" % (n, c.min(), np.median(c), c.max()))
print("| I_thr (pA) | %.4g | %.4g | %.4g |" % (ithr.min(), np.median(ithr), ithr.max()))
print("| s_thr (Hz/pA) | %.4g | %.4g | %.4g |" % (sthr.min(), np.median(sthr), sthr.max()))
for j, n in enumerate(names):
    c = feats[:, j]
    c = c[np.isfinite(c)]
    if len(c):
        print("| %s | %.4g | %.4g | %.4g |" % (n, c.min(), np.median(c), c.max()))
print("NEURON wall time per trace: median %.3f s, mean %.3f s, min %.3f s, max %.3f s over %d traces"
      % (np.median(wall), wall.mean(), wall.min(), wall.max(), len(wall)))
