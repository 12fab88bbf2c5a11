#!/usr/bin/python3
"""pv_network.py - the example network of docs/neuron.md ("Example network").

N_PV PVALB cells, each driven by one current step at the checkpoint's placement,
inhibit N_PYR pyramidal-like cells through Exp2Syn (e = -75 mV). The network is
run twice, same seed, same connectivity:

  NOBLE   each PV cell is a NobleCell at a HoF model of the checkpoint
          (NobleCell(hof_model=k), k = i mod the checkpoint's training models);
  NEURON  each PV cell is the PVALB model that HoF model stands for:
          plugins/neuron/cells/pvalb.py with that model's parameters from the
          dataset (models/params of the dataset's training split, in the order
          the checkpoint records them), built, settled and run by
          noble_datagen.Sim exactly as `noble datagen` does.

The PV cells receive no synapses (a NobleCell is a source of spikes only), so
the network is feed-forward. The pvalb mechanism nb_nat has a GLOBAL vshift,
one of the HoF parameters: NEURON cannot give 100 cells in one simulation 100
values of it. So the NEURON network runs in two passes: (1) each twin alone
(noble_datagen.Sim: one PvalbCell re-parameterised per PV cell) records its
spike times; (2) the pyramidal network with each PV cell's spikes replayed by a
NobleSpikeTrain (the NobleCells' own spike source; Debian's NEURON 8.2 has no
VecStim) through the same NetCons (weight, delay) as the NobleCell's
spike_source. Since nothing feeds back onto the PV cells, the pyramidal cells
see exactly what a one-pass network would give them. Wall times: pass 1 + pass
2 for NEURON; h.finitialize (which runs the NOBLE prediction) + h.continuerun
for NOBLE; building cells and loading the checkpoint/mechanisms are setup,
reported separately.

Pyramidal-like cell: soma (20 x 20 um) + one dendrite (400 um x 2 um, 9
segments); nb_leak everywhere (g 5e-5 S/cm2, e -70 mV), soma nb_nat 0.2,
nb_kdr 0.06, nb_km 0.004 S/cm2 (adapting); Ra 150 ohm cm, cm 1 uF/cm2; at the
pvalb spec's celsius (34 degC), with vshift_nb_nat (a GLOBAL) at 0 mV while
the pyramidal cells run, in both networks (at the spec's -5 mV the cell fires
rebound spikes after each IPSP). Driven by a constant step (--pyr-amp nA, from
0 ms to the end) so that it fires tonically (77 Hz alone; a 500-Hz Poisson
train of IPSPs at 2 nS slows it to about 26 Hz).
Connectivity: each (PV, pyr) pair connected with probability --p-connect (0.2),
Exp2Syn at the soma, tau1 0.5 ms, tau2 6 ms, e -75 mV, weight --weight uS
(0.001), delay 1 + U(0, 1) ms. PV step amplitudes: U(0, amplitude_max_pA) of
the checkpoint (its trained range, the hyperpolarising part left out).

Without a dataset (--dataset none) the twins are the pvalb spec's base model
for every cell: not the models the NobleCells stand for, so the agreement
numbers mean nothing then (the report says so); the network runs all the same.

  /usr/bin/python3 pv_network.py --datagen-json BUILD/plugins/neuron/datagen.json \
      [--checkpoint C] [--dataset D|none] [--n-pv 100] [--n-pyr 10] [--seed 1] [--out DIR]
Needs noble.neuron importable (an installed tree on PYTHONPATH, docs/neuron.md).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
NN = os.path.dirname(HERE)  # plugins/neuron
REPO = os.path.dirname(os.path.dirname(NN))
sys.path.insert(0, NN)
import noble_datagen as dg  # noqa: E402  (the generator's Sim: how datagen builds and runs a model)

TAU1, TAU2, E_INH = 0.5, 6.0, -75.0
MATCH_MS = 2.0
PYR_VSHIFT = 0.0  # mV, vshift_nb_nat while the pyramidal cells run


def args_():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", default=os.path.join(REPO, "models/pretrained/pvalb-reduced.h5"))
    d = os.path.join(REPO, "data/pvalb60.h5")
    ap.add_argument("--dataset", default=d if os.path.exists(d) else "none",
                    help="the dataset of the checkpoint's HoF models (default data/pvalb60.h5 if present), or none")
    ap.add_argument("--datagen-json", required=True,
                    help="BUILD/plugins/neuron/datagen.json (the nb_* mechanisms and the feature library)")
    ap.add_argument("--n-pv", type=int, default=100)
    ap.add_argument("--n-pyr", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--p-connect", type=float, default=0.2)
    ap.add_argument("--weight", type=float, default=0.001, help="Exp2Syn weight, uS")
    ap.add_argument("--pyr-amp", type=float, default=0.2, help="pyramidal cells' step, nA")
    ap.add_argument("--dt", type=float, default=0.025, help="NEURON's dt for the pyramidal cells, ms")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--out", default=None, help="folder for report.json (and raster.png with matplotlib)")
    a = ap.parse_args()
    if a.n_pv < 1 or a.n_pyr < 1:
        ap.error("--n-pv and --n-pyr must be >= 1")
    return a


class Pyr:
    """Soma + dendrite, regular spiking (see the module's docstring)."""

    def __init__(self, h, i, amp):
        self.soma = h.Section(name="pyr%d_soma" % i)
        self.soma.L = self.soma.diam = 20.0
        self.dend = h.Section(name="pyr%d_dend" % i)
        self.dend.L, self.dend.diam, self.dend.nseg = 400.0, 2.0, 9
        self.dend.connect(self.soma(1.0))
        for s in (self.soma, self.dend):
            s.Ra, s.cm = 150.0, 1.0
            s.insert("nb_leak")
            for seg in s:
                seg.g_nb_leak, seg.e_nb_leak = 5e-5, -70.0
        for m, g in (("nb_nat", 0.2), ("nb_kdr", 0.06), ("nb_km", 0.004)):
            self.soma.insert(m)
            setattr(self.soma(0.5), "gbar_" + m, g)
        self.soma.ena, self.soma.ek = 50.0, -90.0
        self.stim = h.IClamp(self.soma(0.5))
        self.stim.delay, self.stim.dur, self.stim.amp = 0.0, 1e9, amp
        self.syn = h.Exp2Syn(self.soma(0.5))
        self.syn.tau1, self.syn.tau2, self.syn.e = TAU1, TAU2, E_INH
        self.spk = h.Vector()
        self.nc = h.NetCon(self.soma(0.5)._ref_v, None, sec=self.soma)
        self.nc.threshold = -20.0
        self.nc.record(self.spk)


def run_pyr(h, pyrs, tstop, dt, v_init=-70.0):
    h.cvode.active(0)
    h.dt = dt
    h.steps_per_ms = 1.0 / dt
    t0 = time.perf_counter()
    h.finitialize(v_init)
    h.continuerun(tstop)
    wall = time.perf_counter() - t0
    return wall, [np.array(p.spk.to_python()) for p in pyrs]


def stats(noble_sp, nrn_sp, window):
    cn = np.array([len(s) for s in noble_sp], dtype=float)
    cr = np.array([len(s) for s in nrn_sp], dtype=float)
    r = None
    if len(cn) > 1 and cn.std() > 0 and cr.std() > 0:
        r = float(np.corrcoef(cn, cr)[0, 1])
    fs = [abs(a[0] - b[0]) for a, b in zip(noble_sp, nrn_sp) if len(a) and len(b)]
    hit = sum(int(len(a) and np.min(np.abs(a - x)) <= MATCH_MS) for a, b in zip(noble_sp, nrn_sp) for x in b)
    prec = sum(int(len(b) and np.min(np.abs(b - x)) <= MATCH_MS) for a, b in zip(noble_sp, nrn_sp) for x in a)
    both_silent = int(sum(1 for a, b in zip(noble_sp, nrn_sp) if not len(a) and not len(b)))
    return {
        "counts_noble": [int(c) for c in cn], "counts_neuron": [int(c) for c in cr],
        "count_mean_abs_diff": float(np.mean(np.abs(cn - cr))),
        "count_correlation": r,
        "rate_noble_mean_hz": float(cn.mean() / window * 1e3), "rate_neuron_mean_hz": float(cr.mean() / window * 1e3),
        "first_spike_cells_both": len(fs), "cells_silent_in_both": both_silent,
        "first_spike_mean_abs_diff_ms": float(np.mean(fs)) if fs else None,
        "first_spike_median_abs_diff_ms": float(np.median(fs)) if fs else None,
        "match_window_ms": MATCH_MS,
        "neuron_spikes_matched_fraction": float(hit / cr.sum()) if cr.sum() else None,
        "noble_spikes_matched_fraction": float(prec / cn.sum()) if cn.sum() else None,
    }


def main():
    a = args_()
    with open(a.datagen_json) as f:
        dgj = json.load(f)
    spec = dg.resolve_cell("pvalb", dgj["cells_dir"])
    base = [p["value"] for p in spec["parameters"]]
    names = [p["name"] for p in spec["parameters"]]
    from neuron import h
    import noble.neuron as nn
    h.load_file("stdrun.hoc")
    rng = np.random.default_rng(a.seed)

    # ---- the NOBLE model: window, HoF models, amplitudes
    t_setup = time.perf_counter()
    model = nn.NobleModel(a.checkpoint, backend=a.backend)
    info = model.info
    window = info["samples"] * info["dt_ms"] - info["dt_ms"]
    n_hof = info["hof_models"]
    if n_hof < 1:
        sys.exit("pv_network: %s records no HoF models" % a.checkpoint)
    hof = [i % n_hof for i in range(a.n_pv)]
    amps = rng.uniform(0.0, info["amplitude_max_pA"], a.n_pv)
    conn = rng.random((a.n_pyr, a.n_pv)) < a.p_connect
    delays = 1.0 + rng.random((a.n_pyr, a.n_pv))
    ck = np.array([model.hof_model(k) for k in range(n_hof)])
    model.close()  # opened again for the NOBLE network: a NobleModel takes no cells after an h.finitialize
    setup_noble_model = time.perf_counter() - t_setup

    # ---- the twins' parameters
    twins_note = "the dataset's training models, in the checkpoint's order (train_points)"
    if a.dataset != "none":
        import h5py
        with h5py.File(a.dataset, "r") as f:
            tr = f["split/train"][:]
            pnames = [n.decode() if isinstance(n, bytes) else str(n) for n in f["models/params"].attrs["names"]]
            params = f["models/params"][:][tr]
            pts = np.stack([f["models/I_thr"][:][tr], f["models/s_thr"][:][tr]], 1)
        if pnames != names:
            sys.exit("pv_network: %s's parameters are not the pvalb spec's" % a.dataset)
        if len(pts) != n_hof or np.abs(pts - ck).max() > 1e-6:
            sys.exit("pv_network: the checkpoint's HoF models are not %s's training models (points differ)"
                     % a.dataset)
        twin_params = [params[k] for k in hof]
    else:
        twins_note = ("no dataset: every twin is the pvalb spec's base model, NOT the HoF model its NobleCell "
                      "stands for; the PV agreement numbers are meaningless")
        twin_params = [base] * a.n_pv

    # ---- NEURON pass 1: each twin alone, as noble datagen runs it
    t0 = time.perf_counter()
    sim = dg.Sim(spec, dgj["mechanisms"], dgj["features_lib"])
    setup_neuron = time.perf_counter() - t0
    offset = dg.STIM_START - info["step_start_ms"]  # datagen's step at 45 ms; the window's at 15 ms
    nrn_sp, pass1 = [], 0.0
    for i in range(a.n_pv):
        t0 = time.perf_counter()
        sim.apply(twin_params[i])
        sim.run(float(amps[i]))
        pass1 += time.perf_counter() - t0
        s = np.array(sim.spk.to_python()) - offset
        nrn_sp.append(s[(s >= 0) & (s < window)])
    # the twin leaves the simulation; the shared globals back to the spec's base values
    sim.stim = sim.nc = sim.vrec = None
    sim.cell = sim.soma = None
    del sim
    h.vshift_nb_nat = PYR_VSHIFT  # the pyramidal cells' (the twins' is theirs, set by sim.apply)
    h.celsius = float(spec.get("celsius", 34))
    left = sum(1 for s in h.allsec() if not s.name().startswith("pyr"))
    if left:
        sys.exit("pv_network: %d sections of the twin remain in the simulation" % left)

    # ---- the pyramidal cells, shared by both networks
    t0 = time.perf_counter()
    pyrs = [Pyr(h, j, a.pyr_amp) for j in range(a.n_pyr)]
    vstims = []
    ncs_nrn = []
    for i in range(a.n_pv):
        vs_ = h.NobleSpikeTrain()  # the NobleCell's spike source, replaying the twin's spikes (no VecStim in
        vec = h.Vector(nrn_sp[i])  # Debian's NEURON 8.2)
        vs_.play(vec)
        vs_.vm = float("nan")
        vstims.append((vs_, vec))
    for j, p in enumerate(pyrs):
        for i in range(a.n_pv):
            if conn[j, i]:
                nc = h.NetCon(vstims[i][0], p.syn)
                nc.weight[0], nc.delay = a.weight, float(delays[j, i])
                ncs_nrn.append(nc)
    setup_neuron += time.perf_counter() - t0
    pass2, pyr_nrn = run_pyr(h, pyrs, window, a.dt)
    for nc in ncs_nrn:
        nc.weight[0] = 0.0
    _, pyr_free = run_pyr(h, pyrs, window, a.dt)
    ncs_nrn = vstims = None

    # ---- the NOBLE network: NobleCells through the same NetCons
    t0 = time.perf_counter()
    model = nn.NobleModel(a.checkpoint, backend=a.backend)
    cells = []
    for i in range(a.n_pv):
        c = nn.NobleCell(model, hof_model=hof[i])
        nn.NobleIClamp(c, amp_pA=float(amps[i]))
        cells.append(c)
    ncs = []
    for j, p in enumerate(pyrs):
        for i in range(a.n_pv):
            if conn[j, i]:
                nc = h.NetCon(cells[i].spike_source, p.syn)
                nc.weight[0], nc.delay = a.weight, float(delays[j, i])
                ncs.append(nc)
    events = h.Vector()
    counter = h.NetCon(cells[0].spike_source, None)  # events leaving PV cell 0
    counter.record(events)
    setup_noble = setup_noble_model + time.perf_counter() - t0
    wall_noble, pyr_noble = run_pyr(h, pyrs, window, a.dt)
    noble_sp = [np.array(c.spike_times.to_python()) for c in cells]
    noble_sp = [s[(s >= 0) & (s < window)] for s in noble_sp]

    # ---- the report
    pv = stats(noble_sp, nrn_sp, window)
    wall_nrn = pass1 + pass2
    rate = lambda sp: [float(len(s) / window * 1e3) for s in sp]  # noqa: E731
    pr = {"rates_noble_hz": rate(pyr_noble), "rates_neuron_hz": rate(pyr_nrn),
          "rates_no_inhibition_hz": rate(pyr_free)}
    for k in list(pr):
        pr[k.replace("rates", "mean_rate")] = float(np.mean(pr[k]))
    pr["mean_abs_rate_diff_hz"] = float(np.mean(np.abs(np.array(pr["rates_noble_hz"]) - pr["rates_neuron_hz"])))
    rep = {
        "checkpoint": os.path.abspath(a.checkpoint), "dataset": a.dataset if a.dataset == "none"
        else os.path.abspath(a.dataset), "twins": twins_note,
        "backend": info["backend"], "device": info["device"],
        "n_pv": a.n_pv, "n_pyr": a.n_pyr, "seed": a.seed, "window_ms": window, "dt_ms": a.dt,
        "network": {"p_connect": a.p_connect, "weight_uS": a.weight, "tau1_ms": TAU1, "tau2_ms": TAU2,
                    "e_mV": E_INH, "delay_ms": "1 + U(0, 1)", "pyr_amp_nA": a.pyr_amp,
                    "connections": int(conn.sum()), "pv_amp_pA": [float(x) for x in amps], "pv_hof_model": hof,
                    "events_from_pv0_noble": int(events.size()), "spikes_pv0_noble": int(len(noble_sp[0]))},
        "pv": pv, "pyr": pr,
        "wall_s": {"noble_run": wall_noble, "neuron_run": wall_nrn, "neuron_pass1_twins": pass1,
                   "neuron_pass2_pyr": pass2, "ratio_neuron_over_noble": wall_nrn / wall_noble,
                   "setup_noble": setup_noble, "setup_neuron": setup_neuron,
                   "what": "run: NOBLE h.finitialize (the batched prediction) + h.continuerun; NEURON each twin's "
                           "datagen run (600 ms settling at dt 2 ms + the window at dt 0.02 ms) + the pyramidal "
                           "pass (the twins' spikes replayed) at dt %g ms; setup (cells, checkpoint, "
                           "mechanisms) excluded" % a.dt},
    }
    ok = all(math.isfinite(x) for x in (wall_noble, wall_nrn, pv["count_mean_abs_diff"]))
    print("pv_network: %d PV (%s), %d pyramidal, %d connections, window %.2f ms, %s backend"
          % (a.n_pv, "HoF twins" if a.dataset != "none" else "base-model twins", a.n_pyr, conn.sum(), window,
             info["backend"]))
    print("%-44s %12s %12s" % ("", "NOBLE", "NEURON"))
    print("%-44s %12.1f %12.1f" % ("PV mean rate (Hz)", pv["rate_noble_mean_hz"], pv["rate_neuron_mean_hz"]))
    print("%-44s %12.2f" % ("PV spike count: mean |NOBLE - NEURON|", pv["count_mean_abs_diff"]))
    print("%-44s %12s" % ("PV spike count: correlation", "%.3f" % pv["count_correlation"]
                          if pv["count_correlation"] is not None else "n/a"))
    print("%-44s %12s" % ("PV first spike: mean |diff| (ms)", "%.2f" % pv["first_spike_mean_abs_diff_ms"]
                          if pv["first_spike_mean_abs_diff_ms"] is not None else "n/a"))
    f = pv["neuron_spikes_matched_fraction"]
    print("%-44s %12s" % ("NEURON spikes with a NOBLE one within 2 ms", "%.3f" % f if f is not None else "n/a"))
    print("%-44s %12.1f %12.1f   (no inhibition %.1f)" % ("pyramidal mean rate (Hz)", pr["mean_rate_noble_hz"],
                                                           pr["mean_rate_neuron_hz"], pr["mean_rate_no_inhibition_hz"]))
    print("%-44s %12.3f %12.3f   (NEURON/NOBLE %.1fx)" % ("run wall time (s), setup excluded", wall_noble, wall_nrn,
                                                          wall_nrn / wall_noble))
    print("%-44s %12.3f %12.3f" % ("setup wall time (s)", setup_noble, setup_neuron))
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "report.json"), "w") as f:
            json.dump(rep, f, indent=1)
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots(1, 2, figsize=(10, 5), sharey=True)
            for k, (sp, py, title) in enumerate(((noble_sp, pyr_noble, "NOBLE"), (nrn_sp, pyr_nrn, "NEURON"))):
                for i, s in enumerate(sp):
                    ax[k].plot(s, np.full(len(s), i), "|", color="C0", ms=3)
                for j, s in enumerate(py):
                    ax[k].plot(s, np.full(len(s), a.n_pv + j), "|", color="C3", ms=3)
                ax[k].set_title(title)
                ax[k].set_xlabel("ms")
            fig.savefig(os.path.join(a.out, "raster.png"), dpi=100)
        except ImportError:
            pass
    model.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
