#!/usr/bin/env python3
"""Compares two noble train run directories (docs/mpi.md, tests/test_mpi.sh).

usage: mpi_train_compare.py A B equal|close [--rtol R] [--ptol T]

equal: log.jsonl's train_loss and val_* and every dataset of last.h5's params/
and optimizer/ identical bit for bit; close: the per-epoch losses within a
relative rtol (default 1e-5), and each parameter dataset within ptol (default
1e-5) of its largest magnitude (max |a - b| <= ptol * max |a|), the moments
likewise. Exit status 0 when they agree; prints the largest differences.
"""
import json
import sys

import h5py
import numpy as np


def log(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    a, b, mode = sys.argv[1:4]
    rest = sys.argv[4:]
    rtol = float(rest[rest.index("--rtol") + 1]) if "--rtol" in rest else 1e-5
    ptol = float(rest[rest.index("--ptol") + 1]) if "--ptol" in rest else 1e-5
    ok = True
    la, lb = log(a + "/log.jsonl"), log(b + "/log.jsonl")
    if [r["epoch"] for r in la] != [r["epoch"] for r in lb] or not la:
        print("the logs hold different epochs:", [r["epoch"] for r in la], [r["epoch"] for r in lb])
        return 1
    worst = 0.0
    for ra, rb in zip(la, lb):
        for k in ("train_loss", "val_l4", "val_l2", "val_l1", "step", "lr", "next_lr"):
            x, y = ra[k], rb[k]
            if mode == "equal":
                if x != y:
                    print(f"epoch {ra['epoch']}: {k} {x!r} != {y!r}")
                    ok = False
            else:
                d = abs(x - y) / max(abs(x), 1e-300)
                worst = max(worst, d)
                if d > rtol:
                    print(f"epoch {ra['epoch']}: {k} {x!r} vs {y!r}: relative difference {d:.3g} > {rtol:g}")
                    ok = False
    print(f"log: {len(la)} epochs, largest relative difference of the losses {worst:.3g}")
    with h5py.File(a + "/last.h5", "r") as fa, h5py.File(b + "/last.h5", "r") as fb:
        names = []
        fa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and
                      n.split("/")[0] in ("params", "optimizer") else None)
        if not names:
            print("no parameters in", a)
            return 1
        pw = 0.0
        for n in names:
            if n not in fb:
                print("missing in", b, n)
                ok = False
                continue
            x, y = fa[n][()], fb[n][()]
            if x.shape != y.shape or x.dtype != y.dtype:
                print(n, "shape or type differ")
                ok = False
            elif mode == "equal":
                if x.tobytes() != y.tobytes():
                    print(n, "differs (bits)")
                    ok = False
            else:
                scale = float(np.max(np.abs(x.astype(np.float64)))) or 1.0
                d = float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))) / scale
                pw = max(pw, d) if n.startswith("params") else pw
                if d > ptol:
                    print(f"{n}: max |a - b| = {d:.3g} of max |a| > {ptol:g}")
                    ok = False
        print(f"checkpoint: {len(names)} datasets, largest parameter difference {pw:.3g} of the largest value")
    print("agree" if ok else "DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
