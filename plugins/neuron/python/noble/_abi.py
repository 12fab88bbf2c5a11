"""noble._abi - the embedding ABI of libnoble.so (plugins/embed/noble_embed.h) through ctypes.

One small layer: it finds and loads the library, declares the functions and
structs of noble_embed.h, and turns a failed call's status and message
(noble_last_error) into a NobleError. Nothing here knows NEURON; noble.neuron
is built on it. Units are the ABI's: pA, mV, ms, Hz/pA.

Which library: the first of
  1. an explicit path (Model(..., library=PATH), or load_library(PATH));
  2. the NOBLE_LIBRARY environment variable (a path to libnoble.so*);
  3. the installed one next to this package: cmake --install puts the package
     in P/lib/python3/dist-packages/noble and the library in P/lib;
  4. ctypes.util.find_library("noble") (the system's search path).
"""
import ctypes
import ctypes.util
import math
import os

import numpy as np

ABI_VERSION = 1  # NOBLE_ABI_VERSION of the header this wrapper was written for

# noble_status
OK, ERR_ARGUMENT, ERR_IO, ERR_CHECKPOINT, ERR_UNSUPPORTED, ERR_DEVICE, ERR_MEMORY = range(7)


class NobleError(Exception):
    """A failed call of the ABI, or a request NOBLE cannot serve.

    status: the noble_status (an int, or None for errors found in Python);
    status_name: its short name ("unsupported", ...); the message says why.
    """

    def __init__(self, message, status=None, status_name=None):
        super().__init__(message)
        self.status = status
        self.status_name = status_name


class UnsupportedError(NobleError, ValueError):
    """What NOBLE cannot represent (NOBLE_ERR_UNSUPPORTED): a stimulus that is
    not the checkpoint's step, one longer than the window, input during the
    window. The message says what is accepted."""


class _Info(ctypes.Structure):
    _fields_ = [("samples", ctypes.c_uint32), ("dt_ms", ctypes.c_double), ("window_ms", ctypes.c_double),
                ("step_start_ms", ctypes.c_double), ("step_duration_ms", ctypes.c_double),
                ("amplitude_min_pA", ctypes.c_double), ("amplitude_max_pA", ctypes.c_double),
                ("I_thr_min_pA", ctypes.c_double), ("I_thr_max_pA", ctypes.c_double),
                ("s_thr_min", ctypes.c_double), ("s_thr_max", ctypes.c_double),
                ("hof_models", ctypes.c_uint32), ("batch", ctypes.c_uint32),
                ("backend", ctypes.c_char * 16), ("device", ctypes.c_char * 256), ("cell", ctypes.c_char * 64)]


class _Cell(ctypes.Structure):
    _fields_ = [("amplitude_pA", ctypes.c_double), ("hof_model", ctypes.c_int32),
                ("I_thr_pA", ctypes.c_double), ("s_thr", ctypes.c_double)]


_lib = None
_lib_path = None


def _candidates(path):
    if path:
        return [("the path given", path)]
    env = os.environ.get("NOBLE_LIBRARY")
    if env:
        return [("NOBLE_LIBRARY", env)]
    found = []
    # installed: P/lib/python3/dist-packages/noble -> P/lib
    here = os.path.dirname(os.path.abspath(__file__))
    libdir = os.path.normpath(os.path.join(here, "..", "..", ".."))
    for name in ("libnoble.so.0", "libnoble.so"):
        p = os.path.join(libdir, name)
        if os.path.exists(p):
            found.append(("the installed tree", p))
            break
    sys_name = ctypes.util.find_library("noble")
    if sys_name:
        found.append(("ctypes.util.find_library", sys_name))
    return found


def load_library(path=None):
    """Loads libnoble.so (once per process; see the module's docstring for
    where it is looked for) and returns the ctypes library. A second call with
    another explicit path than the one loaded is an error."""
    global _lib, _lib_path
    if _lib is not None:
        if path and os.path.realpath(path) != os.path.realpath(_lib_path):
            raise NobleError("libnoble is already loaded from %s; cannot load %s as well" % (_lib_path, path))
        return _lib
    tried = []
    for how, p in _candidates(path):
        try:
            lib = ctypes.CDLL(p)
        except OSError as e:
            tried.append("%s (%s): %s" % (p, how, e))
            continue
        _declare(lib)
        abi = lib.noble_version(None, None, None)
        if abi != ABI_VERSION:
            raise NobleError("%s has ABI version %d; this module speaks version %d" % (p, abi, ABI_VERSION))
        _lib, _lib_path = lib, p
        return lib
    raise NobleError("libnoble.so not found: give its path (library=...), set NOBLE_LIBRARY, install noble "
                     "(cmake --install BUILD --prefix P, then PYTHONPATH=P/lib/python3/dist-packages) or put it "
                     "on the linker's path" + ("; tried " + "; ".join(tried) if tried else ""))


def library_path():
    """The path libnoble was loaded from (None before load_library)."""
    return _lib_path


def _declare(lib):
    c = ctypes
    lib.noble_version.argtypes = [c.POINTER(c.c_int)] * 3
    lib.noble_version.restype = c.c_int
    lib.noble_version_string.argtypes = []
    lib.noble_version_string.restype = c.c_char_p
    lib.noble_status_name.argtypes = [c.c_int]
    lib.noble_status_name.restype = c.c_char_p
    lib.noble_last_error.argtypes = []
    lib.noble_last_error.restype = c.c_char_p
    lib.noble_open.argtypes = [c.c_char_p, c.c_char_p, c.c_int, c.c_int, c.POINTER(c.c_void_p)]
    lib.noble_open.restype = c.c_int
    lib.noble_close.argtypes = [c.c_void_p]
    lib.noble_close.restype = None
    lib.noble_get_info.argtypes = [c.c_void_p, c.POINTER(_Info)]
    lib.noble_get_info.restype = c.c_int
    lib.noble_hof_model.argtypes = [c.c_void_p, c.c_uint32, c.POINTER(c.c_double), c.POINTER(c.c_double)]
    lib.noble_hof_model.restype = c.c_int
    lib.noble_output_samples.argtypes = [c.c_void_p, c.c_double]
    lib.noble_output_samples.restype = c.c_uint32
    lib.noble_predict.argtypes = [c.c_void_p, c.POINTER(_Cell), c.c_uint32, c.c_double, c.c_double, c.c_double,
                                  c.POINTER(c.c_float), c.POINTER(c.c_double), c.c_uint32, c.POINTER(c.c_uint32)]
    lib.noble_predict.restype = c.c_int


def version_string():
    """The loaded library's version, e.g. "0.1.0 (ABI 1)"."""
    return load_library().noble_version_string().decode()


def _raise(lib, status, what):
    msg = lib.noble_last_error().decode(errors="replace")
    name = lib.noble_status_name(status).decode()
    cls = UnsupportedError if status == ERR_UNSUPPORTED else NobleError
    raise cls("%s: %s (%s)" % (what, msg, name) if what else "%s (%s)" % (msg, name), status, name)


class Model:
    """One opened checkpoint (noble_open .. noble_close). Use it from one
    thread at a time (the ABI's rule). close() or a with-block frees it."""

    def __init__(self, checkpoint, backend="auto", device=-1, threads=0, library=None):
        self._lib = load_library(library)
        self.checkpoint = os.fspath(checkpoint)
        h = ctypes.c_void_p()
        st = self._lib.noble_open(self.checkpoint.encode(), (backend or "auto").encode(), int(device), int(threads),
                                  ctypes.byref(h))
        if st != OK:
            _raise(self._lib, st, None)
        self._h = h
        info = _Info()
        st = self._lib.noble_get_info(self._h, ctypes.byref(info))
        if st != OK:
            self.close()
            _raise(self._lib, st, "noble_get_info")
        self.info = {name: (getattr(info, name).decode() if isinstance(getattr(info, name), bytes)
                            else getattr(info, name)) for name, _ in _Info._fields_}

    def close(self):
        """Frees the model (a second call does nothing)."""
        if getattr(self, "_h", None):
            self._lib.noble_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _handle(self):
        if not self._h:
            raise NobleError("the model of %s is closed" % self.checkpoint)
        return self._h

    def hof_model(self, index):
        """(I_thr pA, s_thr Hz/pA) of the checkpoint's recorded HoF model index."""
        i, s = ctypes.c_double(), ctypes.c_double()
        if not isinstance(index, (int, np.integer)) or index < 0 or index >= 2**32:
            raise NobleError("HoF model %r: expected an index from 0 to %d" % (index, self.info["hof_models"] - 1),
                             ERR_ARGUMENT, "argument")
        st = self._lib.noble_hof_model(self._handle(), int(index), ctypes.byref(i), ctypes.byref(s))
        if st != OK:
            _raise(self._lib, st, None)
        return i.value, s.value

    def output_samples(self, dt_ms):
        """Samples of an output trace at dt_ms (noble_output_samples)."""
        n = self._lib.noble_output_samples(self._handle(), float(dt_ms))
        if n == 0:
            st = ERR_UNSUPPORTED if math.isfinite(dt_ms) and dt_ms > 0 else ERR_ARGUMENT
            _raise(self._lib, st, None)
        return n

    def check_step(self, delay_ms, duration_ms, dt_ms=None):
        """Raises what noble_predict would for this step placement (and dt):
        the ABI checks a call of no cells and runs nothing."""
        dt = self.info["dt_ms"] if dt_ms is None else dt_ms
        st = self._lib.noble_predict(self._handle(), None, 0, float(delay_ms), float(duration_ms), float(dt),
                                     None, None, 0, None)
        if st != OK:
            _raise(self._lib, st, None)

    def predict(self, cells, delay_ms, duration_ms, dt_ms, spike_cap=1000):
        """Predicts the cells in one noble_predict call.

        cells: a sequence of (amplitude_pA, hof_model, I_thr_pA, s_thr), hof_model
        an index or -1 for the point given. Returns (voltage float32 [n, samples]
        mV at t_k = k dt_ms, list of n float64 arrays of spike peak times in ms).
        A cell with more than spike_cap spikes raises (none is dropped silently).
        """
        n = len(cells)
        arr = (_Cell * max(n, 1))()
        for i, (amp, hof, ithr, sthr) in enumerate(cells):
            arr[i] = _Cell(float(amp), int(hof), float(ithr), float(sthr))
        samples = self.output_samples(dt_ms)
        v = np.empty((n, samples), dtype=np.float32)
        sp = np.empty((n, max(spike_cap, 1)), dtype=np.float64)
        counts = np.zeros(n, dtype=np.uint32)
        st = self._lib.noble_predict(self._handle(), arr, n, float(delay_ms), float(duration_ms), float(dt_ms),
                                     v.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                     sp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), spike_cap,
                                     counts.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)))
        if st != OK:
            _raise(self._lib, st, None)
        if n and int(counts.max()) > spike_cap:
            i = int(counts.argmax())
            raise NobleError("cell %d has %d spikes, more than the %d kept" % (i, int(counts[i]), spike_cap))
        return v, [sp[i, :counts[i]].copy() for i in range(n)]
