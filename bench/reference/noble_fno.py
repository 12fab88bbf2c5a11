#!/usr/bin/python3
"""PyTorch reference of noble's operator (docs/checkpoint.md, ../shared/NOBLE.md).

A plain PyTorch (1.13, CPU) implementation of the 1-D Fourier Neural Operator that
noble trains, written so that its ``state_dict()`` has the keys and shapes of
neuraloperator 1.0.x's ``FNO`` built with

    FNO(n_modes=(2 * (modes - 1),), in_channels, out_channels, hidden_channels=width,
        n_layers=blocks, lifting_channel_ratio=lifting // width,
        projection_channel_ratio=projection // width,
        channel_mlp_expansion=mlp / width, positional_embedding="grid",
        channel_mlp_skip="soft-gating", fno_skip="linear")   # post-activation

(``neuralop_kwargs(config)`` gives these arguments). neuraloperator keeps
``n_modes // 2 + 1`` rFFT bins, so the published ``n_modes=256`` keeps 129.

The checkpoint's parameter names are neuraloperator 1.0.x's state_dict keys; the
spectral weight of block j is ``fno_blocks.convs.j.weight.tensor`` (neuraloperator
holds it in a tltorch ``DenseTensor``), complex64 (C, C, M), stored in the file as
float32 (C, C, M, 2).

Nothing here imports neuraloperator (it is not installed); the code is our own.

Units: the network maps current (pA) plus embedding channels to voltage (mV); it does
not care about units itself.
"""
import dataclasses
import datetime
import math
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "noble-checkpoint"
FORMAT_VERSION = 1
NOBLE_VERSION = "0.1.0"


class CheckpointError(ValueError):
    """A checkpoint (or a model configuration) is malformed; the message says what."""


# --------------------------------------------------------------------- config

@dataclasses.dataclass
class FNOConfig:
    """The attributes of /config in a noble checkpoint (docs/checkpoint.md)."""
    in_channels: int = 23            # data channels into the network
    out_channels: int = 1
    width: int = 24                  # hidden channels of the FNO blocks
    blocks: int = 12
    modes: int = 129                 # rFFT bins kept (0 .. modes-1)
    length: int = 8580               # samples per trace the model was built for
    lifting_channels: int = 48
    projection_channels: int = 96
    mlp_channels: int = 12           # hidden channels of each block's channel MLP
    grid: int = 1                    # 1: append linspace(0, 1, N+1)[:-1] as a channel
    last_block_activation: int = 0   # 0: no GELU after the last block (NOBLE)
    preset: str = ""

    INT_FIELDS = ("in_channels", "out_channels", "width", "blocks", "modes", "length",
                  "lifting_channels", "projection_channels", "mlp_channels", "grid",
                  "last_block_activation")

    @property
    def lifting_in(self) -> int:
        return self.in_channels + (1 if self.grid else 0)

    def check(self) -> None:
        """Raises CheckpointError naming the first field that is out of range."""
        for f in self.INT_FIELDS:
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)):
                raise CheckpointError(f"model configuration: {f} = {v!r} is not an integer")
        for f in ("in_channels", "out_channels", "width", "lifting_channels",
                  "projection_channels", "mlp_channels"):
            if not 1 <= getattr(self, f) <= 256:
                raise CheckpointError(f"model configuration: {f} {getattr(self, f)} (1 to 256)")
        if not 1 <= self.blocks <= 64:
            raise CheckpointError(f"model configuration: blocks {self.blocks} (1 to 64)")
        if self.grid not in (0, 1) or self.last_block_activation not in (0, 1):
            raise CheckpointError("model configuration: grid and last_block_activation are 0 or 1")
        if self.length < 8:
            raise CheckpointError(f"model configuration: length {self.length} (at least 8)")
        if not 1 <= self.modes < self.length // 2:
            raise CheckpointError(f"model configuration: modes {self.modes} "
                                  f"(1 to {self.length // 2 - 1} for length {self.length})")


PRESETS: Dict[str, FNOConfig] = {
    # The published configuration (NOBLE.md): 1,803,001 real parameters.
    "noble": FNOConfig(23, 1, 24, 12, 129, 8580, 48, 96, 12, 1, 0, "noble"),
    # noble's "small" preset (models/config.c), for tests.
    "small": FNOConfig(1, 1, 8, 2, 16, 256, 16, 16, 4, 1, 0, "small"),
}


def preset(name: str, length: Optional[int] = None) -> FNOConfig:
    if name not in PRESETS:
        raise CheckpointError(f"unknown preset '{name}' (known: {', '.join(PRESETS)})")
    c = dataclasses.replace(PRESETS[name])
    if length is not None:
        c.length = int(length)
    c.check()
    return c


def neuralop_kwargs(c: FNOConfig) -> dict:
    """Arguments of neuraloperator 1.0.x's FNO that build the same network."""
    if c.lifting_channels % c.width or c.projection_channels % c.width:
        raise CheckpointError("neuraloperator's FNO sets lifting/projection channels as integer "
                              "multiples of the width; this configuration is not expressible")
    if c.last_block_activation or not c.grid:
        raise CheckpointError("neuraloperator's FNO always appends the grid and never applies "
                              "GELU after the last block")
    return dict(n_modes=(2 * (c.modes - 1),), in_channels=c.in_channels,
                out_channels=c.out_channels, hidden_channels=c.width, n_layers=c.blocks,
                lifting_channel_ratio=c.lifting_channels // c.width,
                projection_channel_ratio=c.projection_channels // c.width,
                channel_mlp_expansion=c.mlp_channels / c.width, positional_embedding="grid",
                channel_mlp_skip="soft-gating", fno_skip="linear", preactivation=False)


# ---------------------------------------------------------- parameter table

@dataclasses.dataclass
class ParamInfo:
    """One parameter as noble stores it: checkpoint name, PyTorch shape (complex
    tensors without the (re, im) axis), complex or not, offset in the flat buffer."""
    name: str
    shape: Tuple[int, ...]
    complex: bool
    offset: int
    count: int  # real numbers (2 per complex element)


def param_table(c: FNOConfig) -> List[ParamInfo]:
    """noble's parameter table (models/config.c, docs/checkpoint.md), in flat order."""
    I, L, C, E = c.lifting_in, c.lifting_channels, c.width, c.mlp_channels
    H, O, M = c.projection_channels, c.out_channels, c.modes
    rows = [("lifting.fcs.0.weight", (L, I, 1), False), ("lifting.fcs.0.bias", (L,), False),
            ("lifting.fcs.1.weight", (C, L, 1), False), ("lifting.fcs.1.bias", (C,), False)]
    for j in range(c.blocks):
        b = "fno_blocks"
        rows += [(f"{b}.convs.{j}.weight.tensor", (C, C, M), True),
                 (f"{b}.convs.{j}.bias", (C, 1), False),
                 (f"{b}.fno_skips.{j}.conv.weight", (C, C, 1), False),
                 (f"{b}.channel_mlp.{j}.fcs.0.weight", (E, C, 1), False),
                 (f"{b}.channel_mlp.{j}.fcs.0.bias", (E,), False),
                 (f"{b}.channel_mlp.{j}.fcs.1.weight", (C, E, 1), False),
                 (f"{b}.channel_mlp.{j}.fcs.1.bias", (C,), False),
                 (f"{b}.channel_mlp_skips.{j}.weight", (1, C, 1), False)]
    rows += [("projection.fcs.0.weight", (H, C, 1), False), ("projection.fcs.0.bias", (H,), False),
             ("projection.fcs.1.weight", (O, H, 1), False), ("projection.fcs.1.bias", (O,), False)]
    out, off = [], 0
    for name, shape, cplx in rows:
        n = int(np.prod(shape)) * (2 if cplx else 1)
        out.append(ParamInfo(name, tuple(shape), cplx, off, n))
        off += n
    return out


def state_dict_key(checkpoint_name: str) -> str:
    """The state_dict key of a checkpoint parameter: noble's checkpoints use
    neuraloperator 1.0.x's keys as they are (fno_blocks.convs.j.weight.tensor
    included), so this is the name itself."""
    return checkpoint_name


def count_parameters(model: nn.Module) -> int:
    """Real parameters (a complex number counts as two), as noble counts them."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


# -------------------------------------------------------------------- layers

class ChannelMLP(nn.Module):
    """Pointwise MLP: Conv1d(k=1) layers with GELU between (neuraloperator names: fcs.i)."""

    def __init__(self, cin: int, hidden: int, cout: int):
        super().__init__()
        self.fcs = nn.ModuleList([nn.Conv1d(cin, hidden, 1), nn.Conv1d(hidden, cout, 1)])

    def forward(self, x):
        return self.fcs[1](F.gelu(self.fcs[0](x)))


class DenseWeight(nn.Module):
    """Holds one dense complex tensor as the parameter 'tensor' (the state_dict layout
    of tltorch's DenseTensor, which neuraloperator 1.0.x uses for spectral weights)."""

    def __init__(self, shape):
        super().__init__()
        self.tensor = nn.Parameter(torch.empty(shape, dtype=torch.complex64))


class SpectralConv1d(nn.Module):
    """y = irfft(rfft(x, norm='forward')[:M] mixed by W (in, out, M), n=N, norm='forward') + b."""

    def __init__(self, cin: int, cout: int, modes: int):
        super().__init__()
        self.modes = modes
        self.weight = DenseWeight((cin, cout, modes))
        self.bias = nn.Parameter(torch.empty(cout, 1))

    def forward(self, x):
        n = x.shape[-1]
        if n // 2 + 1 < self.modes:
            raise ValueError(f"length {n} has {n // 2 + 1} rFFT bins, fewer than the {self.modes} "
                             "modes this layer keeps")
        xf = torch.fft.rfft(x, norm="forward")[..., :self.modes]
        w = self.weight.tensor
        if w.dtype != xf.dtype:
            w = w.to(xf.dtype)
        # Y[b, o, k] = sum_i X[b, i, k] W[i, o, k]: a batched matmul over the modes
        yf = torch.matmul(xf.permute(2, 0, 1), w.permute(2, 0, 1)).permute(1, 2, 0)
        # irfft zero-fills the bins above M
        return torch.fft.irfft(yf, n=n, norm="forward") + self.bias


class Flattened1dConv(nn.Module):
    """Linear 1x1 skip without bias (neuraloperator names: conv.weight)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.conv(x)


class SoftGating(nn.Module):
    """Per-channel scale, weight (1, C, 1), no bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        return self.weight * x


class FNOBlocks(nn.Module):
    """The FNO blocks, post-activation, as neuraloperator 1.0.x's FNOBlocks with
    fno_skip='linear', channel_mlp_skip='soft-gating', no norm, no stabiliser."""

    def __init__(self, c: FNOConfig):
        super().__init__()
        C = c.width
        self.n_layers = c.blocks
        self.last_activation = bool(c.last_block_activation)
        self.convs = nn.ModuleList([SpectralConv1d(C, C, c.modes) for _ in range(c.blocks)])
        self.fno_skips = nn.ModuleList([Flattened1dConv(C, C) for _ in range(c.blocks)])
        self.channel_mlp = nn.ModuleList([ChannelMLP(C, c.mlp_channels, C) for _ in range(c.blocks)])
        self.channel_mlp_skips = nn.ModuleList([SoftGating(C) for _ in range(c.blocks)])

    def forward(self, x, j: int):
        act = j < self.n_layers - 1 or self.last_activation
        y = self.convs[j](x) + self.fno_skips[j](x)
        if act:
            y = F.gelu(y)
        y = self.channel_mlp[j](y) + self.channel_mlp_skips[j](x)
        if act:
            y = F.gelu(y)
        return y


class NobleFNO(nn.Module):
    """x (B, in_channels, N) -> (B, out_channels, N). Module creation order (blocks,
    lifting, projection) follows neuraloperator's FNO, so state_dict order does too."""

    def __init__(self, c: FNOConfig):
        super().__init__()
        c.check()
        self.config = dataclasses.replace(c)
        self.fno_blocks = FNOBlocks(c)
        self.lifting = ChannelMLP(c.lifting_in, c.lifting_channels, c.width)
        self.projection = ChannelMLP(c.width, c.projection_channels, c.out_channels)
        self._grid_cache = {}

    def grid(self, n: int, dtype, device):
        key = (n, dtype, str(device))
        g = self._grid_cache.get(key)
        if g is None:
            # linspace(0, 1, n + 1)[:-1], i.e. i / n, rounded once to dtype
            g = (torch.arange(n, dtype=torch.float64) / n).to(dtype=dtype, device=device)
            self._grid_cache = {key: g}
        return g

    def forward(self, x):
        c = self.config
        if x.dim() != 3 or x.shape[1] != c.in_channels:
            raise ValueError(f"input shape {tuple(x.shape)}: expected (batch, {c.in_channels}, length)")
        if c.grid:
            g = self.grid(x.shape[-1], x.dtype, x.device)
            x = torch.cat([x, g.expand(x.shape[0], 1, -1)], dim=1)
        v = self.lifting(x)
        for j in range(c.blocks):
            v = self.fno_blocks(v, j)
        return self.projection(v)


def init_parameters(model: NobleFNO, seed: int = 0) -> None:
    """PyTorch-style initialisation, as neuraloperator: Conv1d default (uniform with
    bound 1/sqrt(fan_in)), spectral weights complex normal with std sqrt(2/(in+out)),
    spectral bias normal with that std, soft gates 1."""
    gen = torch.Generator().manual_seed(seed)
    C = model.config.width
    std = math.sqrt(2.0 / (C + C))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight.tensor"):
                re = torch.randn(p.shape, generator=gen, dtype=torch.float32)
                im = torch.randn(p.shape, generator=gen, dtype=torch.float32)
                p.copy_(torch.complex(re, im) * (std / math.sqrt(2.0)))
            elif ".convs." in name and name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * std)
            elif "channel_mlp_skips" in name:
                p.fill_(1.0)
            else:
                fan_in = p.shape[1] if p.dim() == 3 else None
                if fan_in is None:  # a bias: fan_in of its layer's weight
                    wname = name[:-len("bias")] + "weight"
                    fan_in = dict(model.named_parameters())[wname].shape[1]
                bound = 1.0 / math.sqrt(fan_in)
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)


def build_model(config: FNOConfig, seed: int = 0) -> NobleFNO:
    """A NobleFNO for this configuration, initialised deterministically from seed."""
    m = NobleFNO(config)
    init_parameters(m, seed)
    return m


def to_dtype(model: NobleFNO, dtype: torch.dtype) -> NobleFNO:
    """A copy of the model in float64 or float32, complex weights included
    (nn.Module.double() leaves complex parameters alone)."""
    import copy
    m = copy.deepcopy(model)
    cdt = torch.complex128 if dtype == torch.float64 else torch.complex64
    with torch.no_grad():
        for mod in m.modules():
            for k, p in list(mod._parameters.items()):
                if p is not None:
                    mod._parameters[k] = nn.Parameter(p.to(cdt if p.is_complex() else dtype),
                                                      requires_grad=p.requires_grad)
    if hasattr(m, "_grid_cache"):
        m._grid_cache = {}
    return m


# ---------------------------------------------------------------- checkpoint

def _attr_str(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").rstrip("\0")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _attr_str(v[()])
    return str(v)


def read_config(f, path: str) -> FNOConfig:
    """Reads and checks /config of an open h5py file."""
    if f.attrs.get("format") is None or _attr_str(f.attrs["format"]) != FORMAT:
        raise CheckpointError(f'{path} is not a noble checkpoint (no format = "{FORMAT}" attribute)')
    ver = f.attrs.get("format_version")
    if ver is None or int(np.asarray(ver)) != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {ver}, this reader reads {FORMAT_VERSION}")
    if "config" not in f:
        raise CheckpointError(f"{path}: missing group /config")
    g = f["config"]
    vals = {}
    for k in FNOConfig.INT_FIELDS:
        if k not in g.attrs:
            raise CheckpointError(f"{path}: /config lacks the attribute '{k}'")
        v = np.asarray(g.attrs[k])
        if v.shape not in ((), (1,)) or v.dtype.kind not in "iu":
            raise CheckpointError(f"{path}: /config attribute '{k}' is not an integer scalar "
                                  f"(dtype {v.dtype}, shape {v.shape})")
        vals[k] = int(v.reshape(()))
    vals["preset"] = _attr_str(g.attrs["preset"]) if "preset" in g.attrs else ""
    c = FNOConfig(**vals)
    try:
        c.check()
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return c


def load_checkpoint(path: str, dtype: torch.dtype = torch.float32) -> Tuple[NobleFNO, FNOConfig]:
    """Loads a noble checkpoint: checks the format, the configuration and every
    parameter's presence, shape and finiteness, and names what is wrong."""
    import h5py
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise CheckpointError(f"{path} is not an HDF5 file ({e})") from None
    with f:
        c = read_config(f, path)
        if "params" not in f:
            raise CheckpointError(f"{path}: missing group /params")
        g = f["params"]
        table = param_table(c)
        expected = {t.name for t in table}
        extra = sorted(k for k in g.keys() if k not in expected)
        if extra:
            raise CheckpointError(f"{path} /params: unexpected dataset(s) {', '.join(extra[:5])}"
                                  f"{' ...' if len(extra) > 5 else ''} for this configuration")
        model = NobleFNO(c)
        sd = {}
        for t in table:
            if t.name not in g:
                raise CheckpointError(f"{path} /params: missing dataset '{t.name}'")
            d = g[t.name]
            want = t.shape + ((2,) if t.complex else ())
            if not isinstance(d, h5py.Dataset):
                raise CheckpointError(f"{path} /params/{t.name} is not a dataset")
            if tuple(d.shape) != want:
                raise CheckpointError(f"{path} /params/{t.name}: shape {tuple(d.shape)}, expected {want}"
                                      f"{' (complex: real, imaginary last)' if t.complex else ''}")
            if d.dtype.kind != "f":
                raise CheckpointError(f"{path} /params/{t.name}: dtype {d.dtype}, expected float32")
            cflag = int(np.asarray(d.attrs.get("complex", 0)))
            if cflag != int(t.complex):
                raise CheckpointError(f"{path} /params/{t.name}: attribute complex = {cflag}, "
                                      f"expected {int(t.complex)}")
            if "offset" in d.attrs and int(np.asarray(d.attrs["offset"])) != t.offset:
                raise CheckpointError(f"{path} /params/{t.name}: offset {int(np.asarray(d.attrs['offset']))}, "
                                      f"expected {t.offset}")
            a = np.ascontiguousarray(d[()], dtype=np.float32)
            if not np.all(np.isfinite(a)):
                raise CheckpointError(f"{path} /params/{t.name}: holds non-finite values")
            ten = torch.from_numpy(a)
            if t.complex:
                ten = torch.view_as_complex(ten).clone()
            sd[state_dict_key(t.name)] = ten
    model.load_state_dict(sd, strict=True)
    if dtype != torch.float32:
        model = to_dtype(model, dtype)
    return model, c


def flat_parameters(model: NobleFNO) -> np.ndarray:
    """noble's flat float32 parameter buffer (complex interleaved re, im)."""
    sd = model.state_dict()
    out = []
    for t in param_table(model.config):
        v = sd[state_dict_key(t.name)].detach().cpu()
        v = torch.view_as_real(v.to(torch.complex64)) if t.complex else v.to(torch.float32)
        out.append(v.reshape(-1).numpy())
    return np.concatenate(out)


def _adamw_moments(model: NobleFNO, opt: torch.optim.Optimizer):
    """AdamW's first and second moments in noble's flat order, or None when empty."""
    params = dict(model.named_parameters())
    m1, m2 = [], []
    for t in param_table(model.config):
        p = params[state_dict_key(t.name)]
        st = opt.state.get(p)
        if not st or "exp_avg" not in st:
            return None
        for dst, key in ((m1, "exp_avg"), (m2, "exp_avg_sq")):
            v = st[key].detach()
            v = torch.view_as_real(v) if v.is_complex() else v
            dst.append(v.to(torch.float32).reshape(-1).numpy())
    return np.concatenate(m1), np.concatenate(m2)


def _splitmix_state(seed: int) -> np.ndarray:
    """xoshiro256** state from a seed, as noble's nm_rng_seed (splitmix64)."""
    z, out, m = seed & (2**64 - 1), [], 2**64 - 1
    for _ in range(4):
        z = (z + 0x9E3779B97F4A7C15) & m
        t = z
        t = ((t ^ (t >> 30)) * 0xBF58476D1CE4E5B9) & m
        t = ((t ^ (t >> 27)) * 0x94D049BB133111EB) & m
        out.append(t ^ (t >> 31))
    return np.array(out, dtype=np.uint64)


def save_checkpoint(model: NobleFNO, config: FNOConfig, path: str,
                    optimizer: Optional[torch.optim.Optimizer] = None, epoch: int = 0,
                    step: int = 0, best_metric: float = float("inf"), seed: int = 0) -> None:
    """Writes the checkpoint format noble writes (docs/checkpoint.md) to
    '<path>.tmp.<pid>' and renames it over path when complete."""
    import h5py
    config.check()
    if dataclasses.asdict(config) != dataclasses.asdict(model.config):
        raise CheckpointError("save_checkpoint: the configuration differs from the model's")
    flat = flat_parameters(model)
    if not np.all(np.isfinite(flat)):
        raise CheckpointError(f"not saving {path}: a parameter is not finite")
    sd = model.state_dict()
    tmp = f"{path}.tmp.{os.getpid()}"
    s = lambda v: np.bytes_(v.encode())  # fixed-length strings, as noble writes them
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = s(FORMAT)
            f.attrs["format_version"] = np.uint32(FORMAT_VERSION)
            f.attrs["noble_version"] = s(NOBLE_VERSION)
            f.attrs["created"] = s(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            f.attrs["writer"] = s(f"bench/reference/noble_fno.py (PyTorch {torch.__version__})")
            g = f.create_group("config")
            for k in FNOConfig.INT_FIELDS:
                g.attrs[k] = np.uint32(getattr(config, k))
            g.attrs["preset"] = s(config.preset)
            g = f.create_group("params")
            for t in param_table(config):
                v = sd[state_dict_key(t.name)].detach().cpu()
                a = (torch.view_as_real(v.to(torch.complex64)) if t.complex else v.to(torch.float32)).numpy()
                d = g.create_dataset(t.name, data=np.ascontiguousarray(a), dtype="<f4")
                d.attrs["offset"] = np.uint64(t.offset)
                d.attrs["complex"] = np.uint32(1 if t.complex else 0)
            g = f.create_group("optimizer")
            hp = dict(lr=4e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0)
            if optimizer is not None:
                hp = optimizer.param_groups[0]
            g.attrs["type"] = s("AdamW")
            g.attrs["lr"] = np.float64(hp["lr"])
            g.attrs["beta1"] = np.float64(hp["betas"][0])
            g.attrs["beta2"] = np.float64(hp["betas"][1])
            g.attrs["eps"] = np.float64(hp["eps"])
            g.attrs["weight_decay"] = np.float64(hp["weight_decay"])
            g.attrs["step"] = np.uint64(step)
            mom = _adamw_moments(model, optimizer) if optimizer is not None else None
            if mom is not None:
                g.create_dataset("exp_avg", data=mom[0], dtype="<f4")
                g.create_dataset("exp_avg_sq", data=mom[1], dtype="<f4")
            g = f.create_group("train")
            g.attrs["epoch"] = np.uint64(epoch)
            g.attrs["step"] = np.uint64(step)
            g.attrs["best_metric"] = np.float64(best_metric)
            g.create_dataset("rng_state", data=_splitmix_state(seed), dtype="<u8")
            # no /embedding group: the operator alone (docs/checkpoint.md)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_adamw(path: str, model: NobleFNO) -> torch.optim.AdamW:
    """An AdamW over model's parameters with the hyper-parameters, step and moments
    stored in the checkpoint (moments only when present)."""
    import h5py
    with h5py.File(path, "r") as f:
        g = f["optimizer"] if "optimizer" in f else None
        a = (lambda k, d: float(np.asarray(g.attrs[k])) if g is not None and k in g.attrs else d)
        opt = make_adamw(model, lr=a("lr", 4e-3), betas=(a("beta1", 0.9), a("beta2", 0.999)),
                         eps=a("eps", 1e-6), weight_decay=a("weight_decay", 0.0))
        if g is None or "exp_avg" not in g:
            return opt
        step = int(np.asarray(g.attrs.get("step", 0)))
        m1, m2 = np.asarray(g["exp_avg"], np.float32), np.asarray(g["exp_avg_sq"], np.float32)
    table = param_table(model.config)
    P = table[-1].offset + table[-1].count
    if m1.shape != (P,) or m2.shape != (P,):
        raise CheckpointError(f"{path} /optimizer: moments of shape {m1.shape}/{m2.shape}, expected ({P},)")
    params = dict(model.named_parameters())
    for t in table:
        p = params[state_dict_key(t.name)]
        st = {}
        for key, src in (("exp_avg", m1), ("exp_avg_sq", m2)):
            v = torch.from_numpy(src[t.offset:t.offset + t.count].copy())
            v = torch.view_as_complex(v.reshape(t.shape + (2,))) if t.complex else v.reshape(t.shape)
            st[key] = v.to(p.dtype).clone()
        st["step"] = torch.tensor(float(step))
        opt.state[p] = st
    return opt


# ------------------------------------------------------------ training bits

def relative_lp(yhat: torch.Tensor, y: torch.Tensor, p: int = 4) -> torch.Tensor:
    """Per-trace relative Lp error ||yhat - y||_p / ||y||_p over channels and time: (B,)."""
    b = y.shape[0]
    d = (yhat - y).reshape(b, -1)
    return d.norm(p=p, dim=1) / y.reshape(b, -1).norm(p=p, dim=1)


def make_adamw(model: nn.Module, lr=4e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
    """NOBLE's optimiser (NOBLE.md): AdamW lr 4e-3, betas 0.9/0.999, eps 1e-6, wd 0."""
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, eps=eps,
                             weight_decay=weight_decay)


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> float:
    """One step: relative L4 loss summed over the batch, backward, AdamW step."""
    opt.zero_grad(set_to_none=True)
    loss = relative_lp(model(x), y, 4).sum()
    loss.backward()
    opt.step()
    return float(loss.detach())


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="noble's operator in PyTorch: print a configuration's "
                                 "parameter count and state_dict, or check a checkpoint loads")
    ap.add_argument("--preset", default="noble", choices=sorted(PRESETS))
    ap.add_argument("--checkpoint", help="a noble checkpoint (HDF5) to load")
    ap.add_argument("--keys", action="store_true", help="list state_dict keys and shapes")
    a = ap.parse_args()
    try:
        m, cfg = load_checkpoint(a.checkpoint) if a.checkpoint else (build_model(preset(a.preset)), preset(a.preset))
    except CheckpointError as e:
        raise SystemExit(f"error: {e}")
    print(f"config: {dataclasses.asdict(cfg)}")
    print(f"parameters: {count_parameters(m):,} (complex counted twice)")
    print(f"neuraloperator 1.0.x FNO arguments: {neuralop_kwargs(cfg)}")
    if a.keys:
        for k, v in m.state_dict().items():
            print(f"  {k:45s} {tuple(v.shape)} {v.dtype}")
