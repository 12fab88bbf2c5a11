"""noble.neuron - NOBLE cells in NEURON's Python (docs/neuron.md).

A NobleCell is a neuron at a point (I_thr pA, s_thr Hz/pA) of a checkpoint's
embedding, at one of its recorded HoF models, or at a sampled neuron of a
`noble population` file. Its input is one current step, given like an IClamp
(NobleIClamp: amp in nA, delay and dur in ms). At h.finitialize() every
NobleCell of a NobleModel is predicted in one batched noble_predict call, and:

  cell.v, cell.t         h.Vectors: the somatic voltage (mV) and its times (ms),
                         at h.dt under the fixed step (the ABI's linear
                         resampling; at the checkpoint's own dt the operator's
                         output bit for bit), at the checkpoint's dt under CVode;
  cell._ref_v            a pointer to the voltage played in during the run
                         (Vector.play, linear), so h.Vector().record(cell._ref_v)
                         records it like a section's v;
  cell.spike_source      an artificial cell (NobleSpikeTrain) emitting an event
                         at each predicted spike (the peak time, as the
                         project's features find spikes: a -20 mV upward crossing
                         paired with the next downward one): h.NetCon(
                         cell.spike_source, syn) delivers them, fixed step or CVode;
  cell.spike_times       an h.Vector of those times.

What NOBLE cannot do (and is refused here, with the reason): it maps a whole
window (the checkpoint's, e.g. 506.88 ms) of one step current to the voltage
over that window, open-loop. It cannot answer input that arrives during the
window (synapses onto a NobleCell, a second step, a ramp, a played current):
a NobleCell is a source of spikes, never a target. Its step must have the
checkpoint's placement (delay and duration round to the window's samples of
the trained step). After the window the cell is silent: no spikes, the
voltage holds its last value; h.tstop beyond the window warns.

Time: the window starts at t = 0 of the simulation.
"""
import math
import os
import warnings

import numpy as np
from neuron import h

from ._abi import Model, NobleError, UnsupportedError

__all__ = ["NobleModel", "NobleCell", "NobleIClamp", "NobleError", "UnsupportedError", "WindowWarning",
           "load_mechanisms"]

MECHANISM = "NobleSpikeTrain"


class WindowWarning(UserWarning):
    """h.tstop lies beyond the window: after it the NobleCells are silent."""


def load_mechanisms(path=None):
    """Makes NobleSpikeTrain (the spike source, mod/noble_spikes.mod) available:
    already there (loaded before, or in a `special`/x86_64 NEURON picked up), or
    loaded with h.nrn_load_dll from the first of: path, NOBLE_NRNMECH, the
    library installed in this package (noble/_mech/libnrnmech.so)."""
    if hasattr(h, MECHANISM):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    p = path or os.environ.get("NOBLE_NRNMECH") or os.path.join(here, "_mech", "libnrnmech.so")
    if not os.path.exists(p):
        raise NobleError("the NEURON mechanism %s is not loaded and %s does not exist: install noble (cmake "
                         "--install), or build plugins/neuron/python/mod with nrnivmodl and set NOBLE_NRNMECH to "
                         "its libnrnmech.so" % (MECHANISM, p))
    if not h.nrn_load_dll(p) or not hasattr(h, MECHANISM):
        raise NobleError("h.nrn_load_dll(%s) did not make %s" % (p, MECHANISM))


def _finite(x, what):
    try:
        f = float(x)
    except (TypeError, ValueError):
        raise NobleError("%s %r: expected a number" % (what, x), 1, "argument") from None
    if not math.isfinite(f):
        raise NobleError("%s %r: expected a finite number" % (what, x), 1, "argument")
    return f


class NobleModel:
    """One opened checkpoint shared by its NobleCells; it predicts them all in
    one noble_predict call at each h.finitialize() (or at predict()).

    backend "auto" | "cpu" | "vulkan", device (-1: choose), threads (0: all),
    library: an explicit libnoble.so (else NOBLE_LIBRARY, the installed tree,
    the linker's path). dt: the output's spacing in ms; None (default) takes
    h.dt under the fixed step and the checkpoint's dt under CVode.
    close() (or a with-block) frees the checkpoint; cells then stop working.
    """

    def __init__(self, checkpoint, backend="auto", device=-1, threads=0, library=None, dt=None, mechanisms=None):
        load_mechanisms(mechanisms)
        self._m = Model(checkpoint, backend, device, threads, library)
        self.info = dict(self._m.info)
        self.window_ms = self.info["window_ms"]
        self.step_delay_ms = self.info["step_start_ms"]
        self.step_duration_ms = self.info["step_duration_ms"]
        self.dt = dt
        self.cells = []
        self.initialized = False  # set by the first finitialize
        self.error = None         # the exception of the last failed prediction at finitialize
        self._done = None         # what the last prediction was made for
        self._fih = h.FInitializeHandler(0, self._finitialize)
        h.load_file("stdrun.hoc")

    def close(self):
        """Frees the checkpoint. Its cells are silent from then on (no spikes,
        no voltage: NaN) and cannot be predicted again."""
        self._fih = None
        self._m.close()
        for c in self.cells:
            c._fill(np.array([0.0, 1.0]), np.full(2, np.nan, dtype=np.float32), np.empty(0))
        self._done = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def hof_model(self, index):
        """(I_thr pA, s_thr Hz/pA) of the checkpoint's recorded HoF model."""
        return self._m.hof_model(index)

    def output_dt(self):
        """The dt (ms) of the next prediction: self.dt, else h.dt (fixed step)
        or the checkpoint's (CVode)."""
        if self.dt is not None:
            return float(self.dt)
        return self.info["dt_ms"] if h.CVode().active() else float(h.dt)

    def predict(self):
        """Predicts every cell now (one noble_predict call), filling their
        Vectors; h.finitialize() does it too, but there a failure becomes
        NEURON's "Python Callback failed" (the exception is kept in
        self.error), so call this first to get the NobleError itself."""
        dt = self.output_dt()
        key = (dt, tuple(c._inputs() for c in self.cells))
        if key == self._done:
            return
        self._done = None
        inputs = [c._inputs() for c in self.cells]
        spike_cap = int(math.ceil(self.window_ms / 0.1)) + 1  # more than the 0.1-ms trace can hold
        v, spikes = self._m.predict(inputs, self.step_delay_ms, self.step_duration_ms, dt,
                                    spike_cap)
        n = v.shape[1] if len(inputs) else 0
        t = np.arange(n, dtype=np.float64) * dt
        for k, c in enumerate(self.cells):
            c._fill(t, v[k], spikes[k])
        self._done = key

    def _finitialize(self):
        self.initialized = True
        if h.tstop > self.window_ms + 1e-9:
            warnings.warn("h.tstop = %g ms is beyond NOBLE's window of %g ms: after it the NobleCells of %s are "
                          "silent (no spikes, the voltage holds its last value); NOBLE maps one window open-loop "
                          "and cannot continue it" % (h.tstop, self.window_ms, self._m.checkpoint), WindowWarning,
                          stacklevel=2)
        try:
            self.predict()
            self.error = None
        except Exception as e:
            self.error = e
            raise


class NobleIClamp:
    """The step current of a NobleCell, like an IClamp: amp in nA (NEURON's
    convention; amp_pA in pA, what NOBLE takes: amp_pA = 1000 amp), delay and
    dur in ms. delay and dur default to the checkpoint's step, the only
    placement it was trained on; others are refused (UnsupportedError) with
    the accepted one. One per cell. Not a Vector to play: NOBLE knows steps."""

    def __init__(self, cell, amp=None, delay=None, dur=None, amp_pA=None):
        if not isinstance(cell, NobleCell):
            raise NobleError("NobleIClamp(%r): expected a NobleCell (NOBLE's cells take no IClamp of a section)"
                             % (cell,))
        if cell.stim is not None:
            raise UnsupportedError("this NobleCell already has a step (%g nA from %g ms for %g ms): NOBLE maps one "
                                   "step per window and cannot add a second stimulus"
                                   % (cell.stim.amp, cell.stim.delay, cell.stim.dur), 4, "unsupported")
        if amp is not None and amp_pA is not None:
            raise NobleError("give amp (nA) or amp_pA, not both")
        m = cell.model
        self._cell = cell
        self._amp_pA = 0.0
        self._delay = m.step_delay_ms
        self._dur = m.step_duration_ms
        if amp_pA is not None:
            self.amp_pA = amp_pA
        elif amp is not None:
            self.amp = amp
        if delay is not None or dur is not None:
            self.set_step(self._delay if delay is None else delay, self._dur if dur is None else dur)
        cell.stim = self

    @property
    def amp(self):
        """nA."""
        return self._amp_pA / 1000.0

    @amp.setter
    def amp(self, nA):
        self._amp_pA = _finite(nA, "amp (nA)") * 1000.0

    @property
    def amp_pA(self):
        return self._amp_pA

    @amp_pA.setter
    def amp_pA(self, pA):
        self._amp_pA = _finite(pA, "amp_pA")

    @property
    def delay(self):
        return self._delay

    @delay.setter
    def delay(self, ms):
        self.set_step(ms, self._dur)

    @property
    def dur(self):
        return self._dur

    @dur.setter
    def dur(self, ms):
        self.set_step(self._delay, ms)

    def set_step(self, delay, dur):
        """Sets delay and dur (ms) together, checked by the ABI against the
        checkpoint's window and step."""
        d, u = _finite(delay, "delay (ms)"), _finite(dur, "dur (ms)")
        self._cell.model._m.check_step(d, u)
        self._delay, self._dur = d, u

    def play(self, *args):
        """Refused: NOBLE maps a step current only."""
        raise UnsupportedError("NobleIClamp.play: not a step: NOBLE maps one step current (amp, delay, dur) over "
                               "its window, open-loop; it cannot take a waveform, a ramp or input during the "
                               "window", 4, "unsupported")


class NobleCell:
    """A NOBLE neuron in a NEURON model: NobleCell(model, I_thr=pA, s_thr=Hz/pA),
    NobleCell(model, hof_model=i) or NobleCell.from_population(model, file, i).
    Create every cell before h.finitialize(): the model predicts its cells in
    one batch there, and a cell made later is refused."""

    def __init__(self, model, I_thr=None, s_thr=None, hof_model=None, name=None):
        if not isinstance(model, NobleModel):
            raise NobleError("NobleCell(%r): expected a NobleModel" % (model,))
        if model.initialized:
            raise NobleError("a NobleCell created after h.finitialize(): NOBLE predicts all cells of a model in "
                             "one batch at finitialize, so create the cells first (or open another NobleModel)")
        if hof_model is not None:
            if I_thr is not None or s_thr is not None:
                raise NobleError("give hof_model or (I_thr, s_thr), not both")
            self.I_thr, self.s_thr = model.hof_model(hof_model)
            self.hof_model = int(hof_model)
        else:
            if I_thr is None or s_thr is None:
                raise NobleError("a NobleCell needs I_thr (pA) and s_thr (Hz/pA), or hof_model")
            self.I_thr, self.s_thr = _finite(I_thr, "I_thr (pA)"), _finite(s_thr, "s_thr (Hz/pA)")
            self.hof_model = -1
        self.model = model
        self.name = name or "NobleCell[%d]" % len(model.cells)
        self.stim = None
        self.inside_hull = None
        # two placeholder samples until the prediction fills them (Vector.play
        # refuses empty vectors)
        self.t = h.Vector([0.0, 1.0])
        self.v = h.Vector([float("nan")] * 2)
        self.spike_times = h.Vector()
        self.spike_source = h.NobleSpikeTrain()
        self.spike_source.play(self.spike_times)
        self.spike_source.vm = float("nan")
        self._play = self.v.play(self.spike_source._ref_vm, self.t, 1)
        self._predicted = False
        model.cells.append(self)

    @classmethod
    def from_population(cls, model, path, index, name=None):
        """The neuron `index` of a `noble population` file (docs/population.md):
        its (I_thr, s_thr) from neurons/I_thr and neurons/s_thr; inside_hull
        says whether it lies inside the training models' hull."""
        import h5py
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            fmt = fmt.decode(errors="replace") if isinstance(fmt, bytes) else fmt
            if fmt != "noble-population":
                raise NobleError("%s is not a noble population file (attribute format = %r)" % (path, fmt))
            n = f["neurons/I_thr"].shape[0]
            if not isinstance(index, (int, np.integer)) or not 0 <= index < n:
                raise NobleError("%s: neuron %r: the file has %d (0 .. %d)" % (path, index, n, n - 1))
            c = cls(model, I_thr=float(f["neurons/I_thr"][index]), s_thr=float(f["neurons/s_thr"][index]),
                    name=name or "%s[%d]" % (os.path.basename(path), index))
            if "neurons/inside_hull" in f:
                c.inside_hull = bool(f["neurons/inside_hull"][index])
        return c

    @property
    def _ref_v(self):
        """The voltage played in during the run (mV), for Vector.record."""
        return self.spike_source._ref_vm

    def _inputs(self):
        amp = self.stim.amp_pA if self.stim is not None else 0.0
        return (amp, self.hof_model, self.I_thr if self.hof_model < 0 else 0.0,
                self.s_thr if self.hof_model < 0 else 0.0)

    def _fill(self, t, v, spikes):
        self.t.from_python(t)
        self.v.from_python(v.astype(np.float64))
        self.spike_times.from_python(spikes)
        # Vector.play has already set vm from the placeholder at this point of
        # finitialize; from the first step on it plays the prediction
        self.spike_source.vm = float(v[0])
        self._predicted = True

    def __repr__(self):
        return "<%s (I_thr %g pA, s_thr %g Hz/pA), step %s>" % (
            self.name, self.I_thr, self.s_thr,
            "%g nA from %g ms for %g ms" % (self.stim.amp, self.stim.delay, self.stim.dur) if self.stim else "none")
