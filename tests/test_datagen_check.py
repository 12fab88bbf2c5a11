#!/usr/bin/python3
"""Checks a dataset written by `noble datagen` (docs/dataset.md).

usage: test_datagen_check.py FILE MODELS [CELL_SPEC]
Shapes, units, protocol attributes, a split by model without overlap, per-model
criteria inside the cell's stated ranges, features consistent with the traces.
"""
import json
import sys

import h5py
import numpy as np

path, n_models = sys.argv[1], int(sys.argv[2])
bad = []


def check(cond, msg):
    if not cond:
        bad.append(msg)


with h5py.File(path, "r") as f:
    a = f.attrs
    check(a["format"] == "noble-dataset" and int(a["complete"]) == 1, "not a complete noble dataset")
    check(abs(a["dt_sim_ms"] - 0.02) < 1e-12 and abs(a["dt_ms"] - 0.06) < 1e-12, "dt")
    check("NEURON" in a["neuron_version"] and "8.2" in a["neuron_version"], "neuron_version %s" % a["neuron_version"])
    units = json.loads(a["units"])
    check(units["voltage"] == "mV" and units["current"] == "pA", "units %s" % units)
    S = int(a["n_samples"])
    start, end = a["stim_start_ms"], a["stim_end_ms"]
    check(abs(end - start - 400) < 1e-9, "step is not 400 ms")
    # every jittered 515-ms window fits: start at start-15-30 >= 0, end at start-15+515 <= T
    check(start - 15 - 30 >= 0 and start - 15 + 515 <= (S - 1) * a["dt_ms"] + 1e-9, "windows do not fit")
    V, I = f["traces/voltage"], f["traces/current"]
    T = V.shape[0]
    check(V.shape == (T, S) and I.shape == (T, S), "trace shapes %s %s" % (V.shape, I.shape))
    check(V.attrs["units"] == "mV" and I.attrs["units"] == "pA", "trace units")
    amp = f["traces/amplitude"][:]
    mid = f["traces/model"][:]
    wall = f["traces/neuron_wall_s"][:]
    check(len(amp) == T and len(mid) == T and len(wall) == T, "per-trace lengths")
    check(np.all(wall > 0) and np.all(wall < 60), "neuron_wall_s out of range")
    check(set(mid.tolist()) == set(range(n_models)), "model ids %s" % sorted(set(mid.tolist())))
    Iv = I[:]
    t = np.arange(S) * a["dt_ms"]
    inside = (t >= start) & (t < end - 1e-9)
    check(np.allclose(Iv[:, inside], amp[:, None]) and np.all(Iv[:, ~inside] == 0), "current traces != steps")
    Vv = V[:]
    check(np.all(np.isfinite(Vv)) and Vv.min() > -120 and Vv.max() < 80, "voltage range %g..%g" % (Vv.min(), Vv.max()))
    for m in range(n_models):
        n_amp = len(set(amp[mid == m].tolist()))
        check(n_amp == np.sum(mid == m), "model %d repeats an amplitude" % m)
    M = f["models/params"].shape[0]
    check(M == n_models == int(a["n_models"]), "n_models %d" % M)
    check(len(f["models/params"].attrs["names"]) == f["models/params"].shape[1], "param names")
    split = f["models/split"][:]
    tr, va, te = (set(f["split/" + k][:].tolist()) for k in ("train", "validation", "test"))
    check(not (tr & va) and not (tr & te) and not (va & te), "split overlaps")
    check(tr | va | te == set(range(M)), "split does not cover every model")
    check(all(split[i] == 0 for i in tr) and all(split[i] == 2 for i in te), "split labels")
    if M >= 3:
        check(len(te) >= 1 and len(va) >= 1 and len(tr) >= 1, "split sizes %d/%d/%d" % (len(tr), len(va), len(te)))
    # criteria inside the stated bounds
    crit = json.loads(a["criteria"])
    cn = [str(x) for x in f["models/criteria"].attrs["names"]]
    cv = f["models/criteria"][:]
    for j, name in enumerate(cn):
        if name in crit:
            lo, hi = crit[name]["range"]
            check(np.all((cv[:, j] >= lo) & (cv[:, j] <= hi)), "criterion %s outside [%g, %g]: %s" % (name, lo, hi, cv[:, j]))
    ithr = f["models/I_thr"][:]
    check(np.allclose(ithr, cv[:, cn.index("rheobase")]), "I_thr != rheobase criterion")
    sthr = f["models/s_thr"][:]
    check(np.all(np.isfinite(sthr)) and np.all(sthr > 0), "s_thr %s" % sthr)
    # features: consistent with the traces and with I_thr
    F = f["traces/features"][:]
    names = [str(x) for x in f["traces/features"].attrs["names"]]
    check(F.shape == (T, len(names)) and len(names) >= 16, "feature shape %s, %d names" % (F.shape, len(names)))
    sc = F[:, names.index("Spikecount")]
    for r in range(T):
        m = mid[r]
        if amp[r] < ithr[m]:
            check(sc[r] == 0, "trace %d: %g pA below I_thr %g but %d spikes" % (r, amp[r], ithr[m], sc[r]))
        if abs(amp[r] - ithr[m]) < 1e-9:
            check(sc[r] >= 1, "trace %d at I_thr has no spike" % r)
        if amp[r] < 0:
            check(np.isfinite(F[r, names.index("sag_amplitude")]), "no sag at %g pA" % amp[r])
        if sc[r] > 0:
            w = F[r, names.index("AP1_width")]
            check(0.05 < w < 3, "AP1_width %g" % w)
            check(F[r, names.index("AP1_peak")] > -20, "AP1_peak")
    vb = F[:, names.index("voltage_base")]
    check(np.all((vb > -90) & (vb < -50)), "voltage_base %s" % vb)

if bad:
    print("\n".join("FAIL: " + b for b in bad))
    sys.exit(1)
print("dataset %s: %d models, %d traces, all checks passed" % (path, M, T))
