#!/usr/bin/python3
"""Times noble's operator in PyTorch (bench/reference/noble_fno.py) on the CPU, in
PyTorch's best configuration on these machines (../shared/PLATFORM.md):

* glibc's malloc kept from returning large buffers to the system
  (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_; glibc reads them at
  start-up, so the script re-executes itself with them set when they are not);
* torch.set_num_threads(T); forward under torch.inference_mode();
* warm-up rounds, then the median of the timed rounds, for each batch size; the best
  batch size is reported for forward and for training.

A training step is NOBLE's: relative L4 loss per trace summed over the batch, backward,
AdamW (lr 4e-3, betas 0.9/0.999, eps 1e-6, weight decay 0).

  torch_bench.py --preset noble --length 8580 --batches 1,8,16,32,64 --threads 2 --train --json

Prints one JSON object on stdout with --json, else a table.
"""
import os
import sys

BEST_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
    "MALLOC_TOP_PAD_": "536870912",
}


def _reexec_with_malloc_settings() -> None:
    if "--plain-malloc" in sys.argv:
        return
    if all(os.environ.get(k) for k in BEST_MALLOC):
        return
    if os.environ.get("NOBLE_TORCH_BENCH_REEXEC") == "1":
        return  # set, but something stripped them: report what is in effect, do not loop
    env = dict(os.environ)
    for k, v in BEST_MALLOC.items():
        env.setdefault(k, v)
        if not env[k]:
            env[k] = v
    env["NOBLE_TORCH_BENCH_REEXEC"] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


if __name__ == "__main__":
    _reexec_with_malloc_settings()

sys.dont_write_bytecode = True
import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noble_fno as nf  # noqa: E402


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(fn, warmup: int, rounds: int):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def parse_batches(s: str):
    try:
        b = [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"error: --batches '{s}': expected comma-separated positive integers")
    if not b or any(v < 1 for v in b):
        raise SystemExit(f"error: --batches '{s}': expected comma-separated positive integers")
    return b


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Time noble's operator in PyTorch (CPU, best configuration).")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--preset", choices=sorted(nf.PRESETS), help="model configuration (default noble)")
    src.add_argument("--checkpoint", help="a noble checkpoint (HDF5) to time instead of a preset")
    ap.add_argument("--length", type=int, default=8580, help="samples per trace (default 8580 = 514.8 ms at 0.06 ms)")
    ap.add_argument("--batches", default="1,8,16,32,64", help="batch sizes (default 1,8,16,32,64)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per measurement (median; default 5)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    ap.add_argument("--train", action="store_true", help="also time one AdamW training step per batch")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--plain-malloc", action="store_true",
                    help="do not set the malloc variables (to show what they are worth)")
    a = ap.parse_args(argv)
    if a.threads < 1 or a.rounds < 1 or a.warmup < 0 or a.length < 8:
        ap.error("--threads and --rounds must be >= 1, --warmup >= 0, --length >= 8")
    batches = parse_batches(a.batches)

    torch.set_num_threads(a.threads)
    try:
        if a.checkpoint:
            model, cfg = nf.load_checkpoint(a.checkpoint)
            cfg.length = a.length
        else:
            cfg = nf.preset(a.preset or "noble", a.length)
            model = nf.build_model(cfg)
    except nf.CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.length // 2 + 1 < cfg.modes:
        print(f"error: length {a.length} gives {a.length // 2 + 1} rFFT bins, fewer than the "
              f"{cfg.modes} modes of the model", file=sys.stderr)
        return 2

    load_start = os.getloadavg()
    gen = torch.Generator().manual_seed(1)
    rows = []
    for b in batches:
        x = torch.randn(b, cfg.in_channels, a.length, generator=gen)
        row = {"batch": b}
        model.eval()
        with torch.inference_mode():
            ts = timed(lambda: model(x), a.warmup, a.rounds)
        fwd = statistics.median(ts)
        row.update(forward_ms=fwd * 1e3, forward_ms_per_trace=fwd * 1e3 / b,
                   forward_traces_per_s=b / fwd, forward_ms_min=min(ts) * 1e3, forward_rounds_ms=[t * 1e3 for t in ts])
        if a.train:
            tm = nf.to_dtype(model, torch.float32)  # a copy, so steps do not change the forward model
            tm.train()
            opt = nf.make_adamw(tm)
            # a target with nonzero norm per trace, like a voltage trace in mV
            y = -65.0 + 10.0 * torch.randn(b, cfg.out_channels, a.length, generator=gen)
            ts = timed(lambda: nf.train_step(tm, opt, x, y), a.warmup, a.rounds)
            st = statistics.median(ts)
            row.update(train_ms=st * 1e3, train_ms_per_trace=st * 1e3 / b, train_traces_per_s=b / st,
                       train_ms_min=min(ts) * 1e3,
                       train_rounds_ms=[t * 1e3 for t in ts])
            del tm, opt, y
        rows.append(row)
        if not a.json:
            msg = f"batch {b:4d}: forward {row['forward_ms']:9.1f} ms ({row['forward_ms_per_trace']:6.2f} ms/trace, " \
                  f"{row['forward_traces_per_s']:7.2f} traces/s)"
            if a.train:
                msg += f"; train step {row['train_ms']:9.1f} ms ({row['train_ms_per_trace']:6.2f} ms/trace, " \
                       f"{row['train_traces_per_s']:7.2f} traces/s)"
            print(msg, flush=True)

    def best(key):
        r = max(rows, key=lambda r: r[key])
        return {"batch": r["batch"], "traces_per_s": r[key], "ms_per_trace": 1e3 / r[key]}

    out = {
        "tool": "bench/reference/torch_bench.py",
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "length": a.length,
        "model": "checkpoint" if a.checkpoint else (a.preset or "noble"),
        "checkpoint": a.checkpoint,
        "config": {k: v for k, v in vars(cfg).items()},
        "parameters": nf.count_parameters(model),
        "rounds": a.rounds,
        "warmup": a.warmup,
        "statistic": "median",
        "malloc": {k: os.environ.get(k) for k in BEST_MALLOC},
        "malloc_best_configuration": all(os.environ.get(k) == v for k, v in BEST_MALLOC.items()),
        "machine": {"cpu": cpu_name(), "logical_cpus": os.cpu_count(), "python": platform.python_version()},
        # other processes on the machine make timings noisy: the 1/5/15-minute load averages
        "loadavg_start": list(load_start),
        "loadavg_end": list(os.getloadavg()),
        "batches": rows,
        "best_forward": best("forward_traces_per_s"),
    }
    if a.train:
        out["best_train"] = best("train_traces_per_s")
        out["train"] = {"loss": "relative L4 per trace, summed over the batch",
                        "optimizer": "AdamW", "lr": 4e-3, "betas": [0.9, 0.999], "eps": 1e-6,
                        "weight_decay": 0.0}
    if a.json:
        print(json.dumps(out))
    else:
        bf = out["best_forward"]
        print(f"best forward: batch {bf['batch']}, {bf['traces_per_s']:.2f} traces/s ({bf['ms_per_trace']:.2f} ms/trace)")
        if a.train:
            bt = out["best_train"]
            print(f"best train:   batch {bt['batch']}, {bt['traces_per_s']:.2f} traces/s ({bt['ms_per_trace']:.2f} ms/trace)")
        print(f"torch {out['torch_version']}, {out['threads']} threads, length {a.length}, "
              f"malloc best configuration: {out['malloc_best_configuration']}, load average "
              f"{out['loadavg_start'][0]:.2f} -> {out['loadavg_end'][0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
