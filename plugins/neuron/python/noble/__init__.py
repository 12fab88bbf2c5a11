"""noble - NOBLE from Python (docs/neuron.md).

  noble.neuron   NobleModel, NobleCell, NobleIClamp: NOBLE cells in NEURON
                 (imports NEURON);
  noble._abi     the embedding ABI of libnoble.so through ctypes
                 (plugins/embed/noble_embed.h; no NEURON needed).

Installed by `cmake --install BUILD --prefix P` into
P/lib/python3/dist-packages/noble, next to P/lib/libnoble.so.
"""
from ._abi import NobleError, UnsupportedError, version_string  # noqa: F401

__all__ = ["NobleError", "UnsupportedError", "version_string"]
