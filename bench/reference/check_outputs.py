#!/usr/bin/python3
"""Checks noble's operator output against the PyTorch reference.

  check_outputs.py ckpt.h5 io.h5 [--rtol 1e-4] [--json]

ckpt.h5 is a noble checkpoint (docs/checkpoint.md). io.h5 holds dataset x (float32,
(B, in_channels, N): the network input, current in pA and embedding channels) and
dataset y ((B, out_channels, N): noble's output, mV). The PyTorch forward runs on x
in float64 and in float32; the float64 result is the reference noble is held to:

  max relative error   ||y_torch - y_noble||_inf / ||y_torch||_inf   (whole file)
  per-trace rel. L2    ||y_torch[b] - y_noble[b]||_2 / ||y_torch[b]||_2 (worst trace)

Both must be at most rtol. noble against PyTorch's float32 forward, and PyTorch float32
against float64 (how far PyTorch's own single precision is), are printed beside it.

Exit status: 0 within rtol, 1 not within rtol, 2 malformed input (the message names
the file, the dataset and what is wrong).
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import noble_fno as nf  # noqa: E402


class Malformed(Exception):
    pass


def read_io(path: str, cfg: nf.FNOConfig):
    import h5py
    if not os.path.exists(path):
        raise Malformed(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise Malformed(f"{path} is not an HDF5 file ({e})")
    with f:
        for name in ("x", "y"):
            if name not in f:
                raise Malformed(f"{path}: missing dataset '{name}'"
                                f" ({'input, float32 (B, in_channels, N)' if name == 'x' else 'noble output (B, out_channels, N)'})")
            if not isinstance(f[name], h5py.Dataset):
                raise Malformed(f"{path}: '{name}' is not a dataset")
            if f[name].dtype.kind != "f":
                raise Malformed(f"{path}: dataset '{name}' has dtype {f[name].dtype}, expected floating point")
        x, y = f["x"], f["y"]
        if x.ndim != 3:
            raise Malformed(f"{path}: dataset 'x' has shape {x.shape}, expected 3 dimensions (B, {cfg.in_channels}, N)")
        B, cin, N = x.shape
        if cin != cfg.in_channels:
            raise Malformed(f"{path}: dataset 'x' has shape {x.shape}: {cin} channels, the checkpoint's "
                            f"model takes in_channels = {cfg.in_channels}")
        if B < 1 or N < 1:
            raise Malformed(f"{path}: dataset 'x' is empty (shape {x.shape})")
        if N // 2 + 1 < cfg.modes:
            raise Malformed(f"{path}: dataset 'x' has length {N}, too short for the model's {cfg.modes} modes "
                            f"(needs at least {2 * (cfg.modes - 1)})")
        if tuple(y.shape) != (B, cfg.out_channels, N):
            raise Malformed(f"{path}: dataset 'y' has shape {y.shape}, expected {(B, cfg.out_channels, N)} "
                            "(batch and length of x, out_channels of the model)")
        xa = np.asarray(x[()], dtype=np.float32)
        ya = np.asarray(y[()], dtype=np.float64)
    if not np.all(np.isfinite(xa)):
        raise Malformed(f"{path}: dataset 'x' holds non-finite values")
    return xa, ya


def forward(model, x: np.ndarray, dtype, chunk: int = 8) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], chunk):
            xt = torch.from_numpy(x[i:i + chunk]).to(dtype)
            out.append(model(xt).to(torch.float64).numpy())
    return np.concatenate(out, axis=0)


def errors(ref: np.ndarray, y: np.ndarray) -> dict:
    d = ref - y
    inf_ref = float(np.max(np.abs(ref)))
    max_rel = float(np.max(np.abs(d))) / inf_ref if inf_ref > 0 else float(np.max(np.abs(d)))
    b = ref.shape[0]
    num = np.linalg.norm(d.reshape(b, -1), axis=1)
    den = np.linalg.norm(ref.reshape(b, -1), axis=1)
    per = np.where(den > 0, num / np.where(den > 0, den, 1), num)
    if not np.all(np.isfinite(y)):
        max_rel, per = float("inf"), np.full(b, float("inf"))
    return {"max_rel_inf": max_rel, "per_trace_rel_l2": [float(v) for v in per],
            "worst_trace_rel_l2": float(np.max(per)), "worst_trace": int(np.argmax(per))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Compare noble's operator output with the PyTorch reference.")
    ap.add_argument("checkpoint", help="noble checkpoint (HDF5)")
    ap.add_argument("io", help="HDF5 file with datasets x (B, in_channels, N) and y (B, out_channels, N)")
    ap.add_argument("--rtol", type=float, default=1e-4, help="largest relative error accepted (default 1e-4)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    a = ap.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    try:
        model32, cfg = nf.load_checkpoint(a.checkpoint)
    except nf.CheckpointError as e:
        print(f"check_outputs: malformed checkpoint: {e}", file=sys.stderr)
        return 2
    try:
        x, y = read_io(a.io, cfg)
    except Malformed as e:
        print(f"check_outputs: malformed input: {e}", file=sys.stderr)
        return 2
    model64 = nf.to_dtype(model32, torch.float64)
    ref64 = forward(model64, x, torch.float64)
    ref32 = forward(model32, x, torch.float32)
    e_noble = errors(ref64, y)
    e_torch32 = errors(ref64, ref32)
    e_noble32 = errors(ref32, y)
    ok = e_noble["max_rel_inf"] <= a.rtol and e_noble["worst_trace_rel_l2"] <= a.rtol
    res = {"checkpoint": a.checkpoint, "io": a.io, "batch": int(x.shape[0]), "length": int(x.shape[2]),
           "rtol": a.rtol, "pass": bool(ok), "noble_vs_torch64": e_noble, "noble_vs_torch32": e_noble32,
           "torch32_vs_torch64": e_torch32}
    if x.shape[2] != cfg.length:
        res["note"] = f"length {x.shape[2]} differs from the checkpoint's length {cfg.length}"
    if a.json:
        print(json.dumps(res))
    else:
        if "note" in res:
            print(f"note: {res['note']}")
        print(f"{x.shape[0]} traces of {x.shape[2]} samples, rtol {a.rtol:g}")
        for label, e in (("noble   vs torch float64", e_noble), ("noble   vs torch float32", e_noble32),
                         ("torch32 vs torch float64", e_torch32)):
            print(f"  {label}: max |diff| / max |y_torch| = {e['max_rel_inf']:.3e}; worst per-trace rel. L2 = "
                  f"{e['worst_trace_rel_l2']:.3e} (trace {e['worst_trace']})")
        print("PASS" if ok else f"FAIL: noble's output differs from PyTorch's by more than {a.rtol:g} relative")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
