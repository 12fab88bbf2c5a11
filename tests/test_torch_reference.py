#!/usr/bin/python3
"""Self-test of the PyTorch reference in bench/reference/ (needs nothing from noble).

Checks: the noble preset's parameter count and state_dict names/shapes; checkpoint
save -> load keeps every tensor bit for bit (and the AdamW moments) and the output;
the loader names what is wrong in a broken file; the spectral layer against a direct
double-precision DFT; the whole forward against an independent numpy forward read
straight from the checkpoint file; check_outputs.py exit codes 0 / 1 / 2;
torch_bench.py runs, sets the malloc variables, and reports the fields the bench reads.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(os.path.dirname(HERE), "bench", "reference")
sys.path.insert(0, REF)

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import noble_fno as nf  # noqa: E402

PY = "/usr/bin/python3"
failures = []


def check(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}", flush=True)
    if not cond:
        failures.append(what)


def run(args, **kw):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([PY] + args, capture_output=True, text=True, env=env, timeout=120, **kw)


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.is_complex():
        a, b = torch.view_as_real(a), torch.view_as_real(b)
    ia = a.contiguous().view(torch.int32 if a.dtype == torch.float32 else torch.int64)
    ib = b.contiguous().view(torch.int32 if b.dtype == torch.float32 else torch.int64)
    return torch.equal(ia, ib)


# ------------------------------------------------ independent numpy forward

def gelu(x):
    from math import erf
    verf = np.vectorize(erf)
    return 0.5 * x * (1.0 + verf(x / math.sqrt(2.0)))


def numpy_forward(ckpt: str, x: np.ndarray) -> np.ndarray:
    """The operator of docs/checkpoint.md, read straight from the HDF5 file by dataset
    name, with DFTs as explicit sums (float64). Shares no code with noble_fno.py."""
    with h5py.File(ckpt, "r") as f:
        c = {k: int(np.asarray(v)) for k, v in f["config"].attrs.items() if k != "preset"}
        P = {k: np.asarray(d[()], np.float64) for k, d in f["params"].items()}
    B, _, N = x.shape
    M = c["modes"]
    n = np.arange(N)
    k = np.arange(M)
    fwd = np.exp(-2j * np.pi * np.outer(n, k) / N) / N          # x[n] -> X[k], norm "forward"
    coef = np.where(k == 0, 1.0, 2.0)                            # Hermitian pairs (no Nyquist: M < N/2)
    inv = np.exp(2j * np.pi * np.outer(k, n) / N) * coef[:, None]

    def pw(v, w, b=None):  # pointwise conv, w (out, in, 1)
        y = np.einsum("oi,bin->bon", w[:, :, 0], v)
        return y if b is None else y + b[None, :, None]

    def mlp(v, pre):
        return pw(gelu(pw(v, P[pre + ".fcs.0.weight"], P[pre + ".fcs.0.bias"])),
                  P[pre + ".fcs.1.weight"], P[pre + ".fcs.1.bias"])

    v = x.astype(np.float64)
    if c["grid"]:
        v = np.concatenate([v, np.broadcast_to((n / N)[None, None, :], (B, 1, N))], axis=1)
    v = mlp(v, "lifting")
    for j in range(c["blocks"]):
        W = P[f"fno_blocks.convs.{j}.weight.tensor"]
        W = W[..., 0] + 1j * W[..., 1]                            # (in, out, M)
        X = v @ fwd                                               # (B, in, M)
        Y = np.einsum("bik,iok->bok", X, W)
        s = np.real(Y @ inv) + P[f"fno_blocks.convs.{j}.bias"][None]
        z = s + pw(v, P[f"fno_blocks.fno_skips.{j}.conv.weight"])
        act = j < c["blocks"] - 1 or c["last_block_activation"]
        y = gelu(z) if act else z
        out = mlp(y, f"fno_blocks.channel_mlp.{j}") + P[f"fno_blocks.channel_mlp_skips.{j}.weight"] * v
        v = gelu(out) if act else out
    return mlp(v, "projection")


# ----------------------------------------------------------------- tests

def test_parameter_count():
    cfg = nf.preset("noble")
    m = nf.build_model(cfg)
    check(nf.count_parameters(m) == 1_803_001, f"noble preset has {nf.count_parameters(m):,} parameters (1,803,001)")
    t = nf.param_table(cfg)
    check(t[-1].offset + t[-1].count == 1_803_001, "parameter table covers 1,803,001 floats")
    sd = m.state_dict()
    keys = {nf.state_dict_key(p.name): p for p in t}
    check(set(sd) == set(keys), "state_dict keys are exactly the table's (neuraloperator names)")
    check(all(tuple(sd[k].shape) == keys[k].shape and sd[k].is_complex() == keys[k].complex for k in keys),
          "state_dict shapes and complex dtypes match the table")
    check("fno_blocks.convs.0.weight.tensor" in sd and sd["fno_blocks.convs.0.weight.tensor"].shape == (24, 24, 129),
          "spectral weight key 'fno_blocks.convs.j.weight.tensor', (24, 24, 129) complex64")
    check(nf.neuralop_kwargs(cfg)["n_modes"] == (256,), "neuraloperator n_modes=256 keeps 129 modes")


def test_round_trip(tmp):
    cfg = nf.preset("noble", 512)
    m = nf.build_model(cfg, seed=7)
    opt = nf.make_adamw(m)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, cfg.in_channels, 512, generator=g)
    y = -65 + 5 * torch.randn(2, 1, 512, generator=g)
    nf.train_step(m, opt, x, y)  # parameters no longer at init, moments present
    path = os.path.join(tmp, "rt.h5")
    nf.save_checkpoint(m, cfg, path, optimizer=opt, epoch=3, step=1)
    check(not any(".tmp." in f for f in os.listdir(tmp)), "no temporary file left after saving")
    m2, cfg2 = nf.load_checkpoint(path)
    check(cfg2 == cfg, "configuration survives the round trip")
    a, b = m.state_dict(), m2.state_dict()
    check(list(a) == list(b) and all(bits_equal(a[k], b[k]) for k in a),
          f"all {len(a)} tensors survive save -> load bit for bit")
    with torch.inference_mode():
        check(bits_equal(m(x), m2(x)), "output after the round trip is bit-identical")
    with h5py.File(path, "r") as f:
        w = f["params/fno_blocks.convs.0.weight.tensor"]
        check(w.shape == (24, 24, 129, 2) and w.dtype == np.float32 and int(w.attrs["complex"]) == 1,
              "complex weight stored as float32 (C, C, M, 2) with complex = 1")
        re = torch.view_as_complex(torch.from_numpy(np.ascontiguousarray(w[()])))
        check(bits_equal(re, a["fno_blocks.convs.0.weight.tensor"].detach()), "view_as_complex of the dataset is the weight")
        check(f["optimizer/exp_avg"].shape == (1_803_001,), "AdamW moments stored flat (1,803,001)")
        flat = nf.flat_parameters(m)
        off = int(f["params/projection.fcs.0.weight"].attrs["offset"])
        check(np.array_equal(flat[off:off + 96 * 24], f["params/projection.fcs.0.weight"][()].reshape(-1)),
              "dataset offsets index noble's flat buffer")
    opt2 = nf.load_adamw(path, m2)
    p1, p2 = dict(m.named_parameters()), dict(m2.named_parameters())
    same = all(bits_equal(opt.state[p1[k]][s], opt2.state[p2[k]][s]) for k in p1 for s in ("exp_avg", "exp_avg_sq"))
    check(same, "AdamW moments survive the round trip bit for bit")
    nf.train_step(m, opt, x, y)
    nf.train_step(m2, opt2, x, y)
    check(all(bits_equal(p1[k].detach(), p2[k].detach()) for k in p1), "a training step after resume is bit-identical")


def expect_error(path, fragment, what):
    try:
        nf.load_checkpoint(path)
        check(False, f"{what}: load refused")
    except nf.CheckpointError as e:
        check(fragment in str(e), f"{what}: load refused with a message naming it ({e})")


def test_loader_errors(tmp):
    cfg = nf.preset("small")
    m = nf.build_model(cfg)
    good = os.path.join(tmp, "good.h5")
    nf.save_checkpoint(m, cfg, good)

    def variant(name, edit):
        p = os.path.join(tmp, name)
        with open(good, "rb") as s, open(p, "wb") as d:
            d.write(s.read())
        with h5py.File(p, "a") as f:
            edit(f)
        return p

    expect_error(variant("miss.h5", lambda f: f["params"].__delitem__("fno_blocks.fno_skips.1.conv.weight")),
                 "fno_blocks.fno_skips.1.conv.weight", "missing parameter")

    def reshape(f):
        del f["params/projection.fcs.0.bias"]
        f["params"].create_dataset("projection.fcs.0.bias", data=np.zeros(3, np.float32))
    expect_error(variant("shape.h5", reshape), "projection.fcs.0.bias: shape (3,)", "wrong shape")
    expect_error(variant("cfg.h5", lambda f: f["config"].attrs.__delitem__("modes")), "'modes'", "missing config attribute")
    expect_error(variant("fmt.h5", lambda f: f.attrs.__setitem__("format", np.bytes_(b"other"))),
                 "not a noble checkpoint", "wrong format")

    def nan(f):
        d = f["params/lifting.fcs.0.bias"]
        v = d[()]
        v[0] = np.nan
        d[...] = v
    expect_error(variant("nan.h5", nan), "non-finite", "non-finite parameter")


def test_spectral_vs_dft():
    torch.manual_seed(0)
    cin, cout, N, M, B = 3, 2, 32, 5, 2
    layer = nf.SpectralConv1d(cin, cout, M)
    with torch.no_grad():
        layer.weight.tensor.copy_(torch.randn(cin, cout, M, dtype=torch.complex64))
        layer.bias.copy_(torch.randn(cout, 1))
    x = np.random.default_rng(1).standard_normal((B, cin, N))
    W = layer.weight.tensor.detach().numpy().astype(np.complex128)
    b = layer.bias.detach().numpy().astype(np.float64)
    y_ref = np.zeros((B, cout, N))
    for bb in range(B):
        for o in range(cout):
            for n in range(N):
                acc = b[o, 0]
                for kk in range(M):
                    Y = sum(sum(x[bb, i, t] * np.exp(-2j * np.pi * kk * t / N) for t in range(N)) / N * W[i, o, kk]
                            for i in range(cin))
                    term = Y * np.exp(2j * np.pi * kk * n / N)
                    acc += term.real if kk == 0 else 2 * term.real
                y_ref[bb, o, n] = acc
    l64 = nf.to_dtype(layer, torch.float64)
    check(l64.weight.tensor.dtype == torch.complex128, "to_dtype converts complex weights to complex128")
    with torch.no_grad():
        y = l64(torch.from_numpy(x)).numpy()
    err = np.max(np.abs(y - y_ref)) / np.max(np.abs(y_ref))
    check(err < 1e-12, f"spectral layer equals a direct double DFT (N {N}, M {M}): rel. error {err:.1e}")


def test_numpy_forward(tmp):
    for last, grid in ((0, 1), (1, 0)):
        cfg = nf.FNOConfig(in_channels=3, out_channels=2, width=6, blocks=3, modes=7, length=64,
                           lifting_channels=10, projection_channels=9, mlp_channels=4, grid=grid,
                           last_block_activation=last, preset="")
        m = nf.build_model(cfg, seed=5)
        with torch.no_grad():  # gates away from 1 so a wrong skip would show
            for gsk in m.fno_blocks.channel_mlp_skips:
                gsk.weight.mul_(torch.linspace(0.5, 1.5, cfg.width).reshape(1, -1, 1))
        p = os.path.join(tmp, f"np_{last}{grid}.h5")
        nf.save_checkpoint(m, cfg, p)
        x = np.random.default_rng(2).standard_normal((2, 3, 64)).astype(np.float32)
        m64, _ = nf.load_checkpoint(p, dtype=torch.float64)
        with torch.inference_mode():
            yt = m64(torch.from_numpy(x).double()).numpy()
        yn = numpy_forward(p, x)
        err = np.max(np.abs(yt - yn)) / np.max(np.abs(yn))
        check(err < 1e-12, f"forward (last_block_activation {last}, grid {grid}) equals an independent numpy "
                           f"forward read from the file: rel. error {err:.1e}")


def test_check_outputs(tmp):
    cfg = nf.FNOConfig(in_channels=4, out_channels=1, width=8, blocks=2, modes=16, length=256,
                       lifting_channels=16, projection_channels=16, mlp_channels=4, preset="")
    m = nf.build_model(cfg, seed=11)
    ck = os.path.join(tmp, "co.h5")
    nf.save_checkpoint(m, cfg, ck)
    x = np.random.default_rng(3).standard_normal((3, 4, 256)).astype(np.float32)
    with torch.inference_mode():
        y = nf.to_dtype(m, torch.float64)(torch.from_numpy(x).double()).numpy().astype(np.float32)

    def io(name, **ds):
        p = os.path.join(tmp, name)
        with h5py.File(p, "w") as f:
            for k, v in ds.items():
                f.create_dataset(k, data=v)
        return p

    tool = os.path.join(REF, "check_outputs.py")
    r = run([tool, ck, io("io_ok.h5", x=x, y=y), "--json"])
    ok = r.returncode == 0
    if ok:
        res = json.loads(r.stdout)
        ok = res["pass"] and res["noble_vs_torch64"]["max_rel_inf"] < 1e-6
    check(ok, f"check_outputs.py passes on a matching pair (exit {r.returncode}) {r.stderr.strip()}")
    r = run([tool, ck, io("io_bad.h5", x=x, y=(y * (1 + 1e-3)).astype(np.float32))])
    check(r.returncode == 1 and "FAIL" in r.stdout, f"check_outputs.py fails (exit 1) on y perturbed by 1e-3 relative (exit {r.returncode})")
    r = run([tool, ck, io("io_noy.h5", x=x)])
    check(r.returncode == 2 and "missing dataset 'y'" in r.stderr,
          f"check_outputs.py exits 2 on a missing dataset: {r.stderr.strip()}")
    r = run([tool, ck, io("io_shape.h5", x=x, y=y[:, :, :100])])
    check(r.returncode == 2 and "dataset 'y' has shape" in r.stderr,
          f"check_outputs.py exits 2 on a wrong shape: {r.stderr.strip()}")
    r = run([tool, ck, io("io_chan.h5", x=x[:, :3], y=y)])
    check(r.returncode == 2 and "in_channels = 4" in r.stderr,
          f"check_outputs.py exits 2 on wrong input channels: {r.stderr.strip()}")
    r = run([tool, os.path.join(tmp, "nothere.h5"), io("io_ok2.h5", x=x, y=y)])
    check(r.returncode == 2 and "no such file" in r.stderr, f"check_outputs.py exits 2 on a missing checkpoint: {r.stderr.strip()}")


def test_relative_loss():
    g = torch.Generator().manual_seed(4)
    yh, y = torch.randn(3, 2, 50, generator=g, dtype=torch.float64), torch.randn(3, 2, 50, generator=g, dtype=torch.float64)
    l = nf.relative_lp(yh, y, 4).numpy()
    d = (yh - y).numpy().reshape(3, -1)
    ref = (np.sum(d ** 4, 1) ** 0.25) / (np.sum(y.numpy().reshape(3, -1) ** 4, 1) ** 0.25)
    check(np.allclose(l, ref, rtol=1e-13, atol=0), "relative L4 loss per trace matches its definition")


def test_bench_smoke():
    env_less = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    r = subprocess.run([PY, os.path.join(REF, "torch_bench.py"), "--preset", "small", "--length", "256",
                        "--batches", "1,2", "--rounds", "1", "--warmup", "0", "--threads", "1", "--train", "--json"],
                       capture_output=True, text=True, env=dict(env_less, PYTHONDONTWRITEBYTECODE="1"), timeout=120)
    ok = r.returncode == 0
    res = {}
    if ok:
        try:
            res = json.loads(r.stdout)
        except ValueError:
            ok = False
    check(ok, f"torch_bench.py --json runs and prints one JSON object (exit {r.returncode}) {r.stderr.strip()[-300:]}")
    if not ok:
        return
    check(res.get("malloc_best_configuration") is True and res["malloc"]["MALLOC_TOP_PAD_"] == "536870912",
          "torch_bench.py re-executes itself with the malloc settings")
    need = {"forward_ms", "forward_traces_per_s", "train_ms", "train_traces_per_s"}
    check(len(res["batches"]) == 2 and all(need <= set(b) for b in res["batches"]) and res["threads"] == 1
          and res["best_forward"]["batch"] in (1, 2) and "best_train" in res and res["length"] == 256,
          "torch_bench.py reports per-batch forward/train times, the best batches, threads and length")


def main():
    t0 = time.time()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="noble_torch_ref_") as tmp:
        test_parameter_count()
        test_relative_loss()
        test_spectral_vs_dft()
        test_numpy_forward(tmp)
        test_round_trip(tmp)
        test_loader_errors(tmp)
        test_check_outputs(tmp)
        test_bench_smoke()
    print(f"{len(failures)} failure(s), {time.time() - t0:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
