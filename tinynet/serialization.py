"""Saving and loading parameters as NumPy ``.npz`` files, the counterpart of ``torch.save`` / ``torch.load``
for a ``state_dict``.

A ``.npz`` file is a zip archive holding one ``.npy`` array per key, so any NumPy program can read it back::

    tinynet.serialization.save(model.state_dict(), "model.npz")     # or model.save("model.npz")
    model.load_state_dict(tinynet.serialization.load("model.npz"))  # or model.load("model.npz")
    np.load("model.npz")["0.weight"]                                 # plain NumPy works too

Keys are PyTorch's ("0.weight", "blocks.1.block.pointwise.bias"), and arrays keep their dtype. Arrays of Python
objects are refused (``allow_pickle=False`` when writing and when reading), so loading a file never runs code.
"""
from __future__ import annotations

import os
import zipfile
from collections import OrderedDict

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load"]


def save(state_dict, path):
    """Write ``{name: array}`` to ``path`` (written under exactly that name; ``.npz`` is the usual suffix).

    Values may be NumPy arrays or Tensors. Returns ``path``.
    """
    if not hasattr(state_dict, "items"):
        raise TypeError(f"save: expected a dict of arrays (e.g. model.state_dict()), got {type(state_dict).__name__}")
    arrays = OrderedDict()
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.hasobject:                   # checked before the file is opened: an old file survives
            raise ValueError(f"save: {name!r} is an array of Python objects (dtype {array.dtype}), which only pickle "
                             f"could store; load() never unpickles, so save() refuses it")
        arrays[name] = array
    # What np.savez does, written out (np.savez(f, **arrays) would fail on a key named "file", its own argument):
    # one uncompressed "<name>.npy" member per array, in the .npy format np.load reads.
    with zipfile.ZipFile(os.fspath(path), "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return path


def load(path):
    """Read a file written by ``save``: an ``OrderedDict`` name -> ``np.ndarray``, in the saved order."""
    with np.load(os.fspath(path), allow_pickle=False) as archive:   # by member name: keys "a" and "a.npy" differ
        return OrderedDict((member[:-4] if member.endswith(".npy") else member, archive[member])
                           for member in archive.zip.namelist())
