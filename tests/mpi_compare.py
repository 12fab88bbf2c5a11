#!/usr/bin/python3
"""Compares two noble HDF5 stores dataset by dataset (docs/mpi.md): the same
datasets, shapes, types and bytes (bit for bit, NaN included), the same
attributes on datasets and at the root, but for the root attribute 'ranks',
which must be the given counts. Exit status 0 when they match, 1 otherwise.
--ignore NAME (repeatable): a dataset whose values are not compared (its
shape, type and attributes still are), or a root attribute not compared:
what differs between any two runs, such as datagen's measured wall times
(traces/neuron_wall_s) and the time it was made (created).

usage: mpi_compare.py A.h5 RANKS_A B.h5 RANKS_B [--ignore NAME]..."""
import sys

import h5py
import numpy as np


def objects(f):
    out = {}
    f.visititems(lambda name, o: out.__setitem__(name, o) if isinstance(o, h5py.Dataset) else None)
    return out


def same_attr(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and x.dtype.kind == y.dtype.kind and x.tobytes() == y.tobytes() \
        if x.dtype.kind != "O" else list(x.flat) == list(y.flat)


def main():
    a_path, ra, b_path, rb = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    rest, ignore = sys.argv[5:], set()
    while rest[:1] == ["--ignore"] and len(rest) >= 2:
        ignore.add(rest[1])
        rest = rest[2:]
    if rest:
        sys.exit(f"mpi_compare: unexpected arguments {rest} (see the usage at the top of {sys.argv[0]})")
    bad = []
    with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
        da, db = objects(a), objects(b)
        if sorted(da) != sorted(db):
            bad.append(f"datasets differ: {sorted(da)} vs {sorted(db)}")
        for name in sorted(set(da) & set(db)):
            x, y = da[name][()], db[name][()]
            if x.shape != y.shape or x.dtype != y.dtype:
                bad.append(f"{name}: {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
            elif x.tobytes() != y.tobytes() and name not in ignore:
                n = int(np.sum(x.view(np.uint8) != y.view(np.uint8)))
                bad.append(f"{name}: values differ ({n} bytes of {x.nbytes})")
            if sorted(da[name].attrs) != sorted(db[name].attrs) or \
                    any(not same_attr(da[name].attrs[k], db[name].attrs[k]) for k in da[name].attrs):
                bad.append(f"{name}: attributes differ")
        for f, r, p in ((a, ra, a_path), (b, rb, b_path)):
            if f.attrs.get("ranks") != r:
                bad.append(f"{p}: root attribute ranks = {f.attrs.get('ranks')}, expected {r}")
        ka = sorted(k for k in a.attrs if k != "ranks")
        kb = sorted(k for k in b.attrs if k != "ranks")
        if ka != kb:
            bad.append(f"root attributes differ: {ka} vs {kb}")
        for k in set(ka) & set(kb) - ignore:
            if not same_attr(a.attrs[k], b.attrs[k]):
                bad.append(f"root attribute {k}: {a.attrs[k]!r} vs {b.attrs[k]!r}")
        summary = ", ".join(f"{n} {da[n].shape}" for n in sorted(da))
    for m in bad:
        print("mpi_compare:", m)
    if not bad:
        but = f" but the values of {', '.join(sorted(ignore))}" if ignore else ""
        print(f"mpi_compare: {a_path} and {b_path} are identical in every dataset{but} ({summary})")
    return 1 if bad else 0


sys.exit(main())
