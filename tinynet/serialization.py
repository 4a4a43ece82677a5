"""Saving and loading parameters as NumPy ``.npz`` files, the counterpart of ``torch.save`` / ``torch.load``
for a ``state_dict``.

A ``.npz`` file is a zip archive holding one ``.npy`` array per key, so any NumPy program can read it back::

    tinynet.serialization.save(model.state_dict(), "model.npz")     # or model.save("model.npz")
    model.load_state_dict(tinynet.serialization.load("model.npz"))  # or model.load("model.npz")
    np.load("model.npz")["0.weight"]                                 # plain NumPy works too

Keys are PyTorch's ("0.weight", "blocks.1.block.pointwise.bias"), and arrays keep their dtype. Arrays of Python
objects are refused when writing and when reading, so loading a file never runs code.

Saving is atomic: the archive is written to a temporary file beside ``path``, flushed to disk, and only then
renamed over ``path`` (``os.replace``, a single step on POSIX and Windows). A save that fails midway (a full
disk, Ctrl-C) leaves the previous file as it was, never half a file.

Loading checks what it reads and says what is wrong with a file that ``save`` did not write whole (empty, cut
off, a single ``.npy`` array, unrelated bytes), naming the path.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
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
    target = os.path.realpath(os.fspath(path))     # through a symlink: replace the file it points to, keep the link
    directory = os.path.dirname(target)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=os.path.basename(target) + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            _write_npz(file, arrays)
            file.flush()
            os.fsync(file.fileno())                 # the bytes are on disk before the name points at them
        os.chmod(temporary, _file_mode(target))     # mkstemp makes it private (0o600): the mode it should have
        os.replace(temporary, target)               # atomic: readers see the old file or the new one, never half
    except BaseException:
        os.unlink(temporary)
        raise
    return path


def _file_mode(target):
    """The permissions the saved file should have: an existing file's own, else what open(path, "w") gives a new
    file (0o666 less the umask)."""
    try:
        return os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask():
    """The process's umask, read from /proc where Linux offers it (os.umask can only read it by setting it, which
    other threads creating files at that moment would see)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _write_npz(file, arrays):
    """What np.savez does, written out (np.savez(f, **arrays) would fail on a key named "file", its own
    argument): one uncompressed "<name>.npy" member per array, in the .npy format np.load reads."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


_NPY_MAGIC = b"\x93NUMPY"           # how every .npy file starts
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")   # how a zip archive starts (the second: an empty archive)


def load(path):
    """Read a file written by ``save``: an ``OrderedDict`` name -> ``np.ndarray``, in the saved order.

    Raises ``ValueError`` naming the path and the problem when the file is empty, cut off, a single ``.npy``
    array, not a zip archive of ``.npy`` arrays, or holds an array of Python objects (never loaded: reading
    objects could run code). A missing file is ``FileNotFoundError``.
    """
    where = f"load: {os.fspath(path)!r}"
    with open(path, "rb") as file:
        start = file.read(len(_NPY_MAGIC))
    if not start:
        raise ValueError(f"{where} is empty (0 bytes): no state dict was written to it (was a save interrupted?)")
    if start.startswith(_NPY_MAGIC):
        raise ValueError(f"{where} holds a single array (a .npy file, as np.save writes), not a state dict; read "
                         f"it with np.load, or save a dict of arrays with tn.save(model.state_dict(), path)")
    if not start.startswith(_ZIP_MAGICS):
        raise ValueError(f"{where} is not a file written by tn.save: a .npz file is a zip archive of .npy arrays "
                         f"and starts with b'PK', this one starts with {start!r}")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(f"{where} is an incomplete zip archive: the file was cut off (an interrupted save or "
                         f"copy?) and cannot be read") from None
    with archive:
        return OrderedDict((member[:-4] if member.endswith(".npy") else member,   # keys "a" and "a.npy" differ
                            _read_member(archive, member, where))
                           for member in archive.namelist())


def _read_member(archive, member, where):
    """One member of the archive as an array; a damaged or non-array member is a ValueError naming it."""
    try:
        with archive.open(member) as file:
            if file.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                raise ValueError(f"{where}: member {member!r} is not a .npy array")
            file.seek(0)
            version = np.lib.format.read_magic(file)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            dtype = read_header(file)[2]                       # (shape, fortran_order, dtype)
            if dtype.hasobject:
                raise ValueError(f"{where}: member {member!r} is an array of Python objects (dtype {dtype}); load "
                                 f"reads numeric arrays only (reading objects could run code)")
            file.seek(0)
            return np.lib.format.read_array(file, allow_pickle=False)
    except (EOFError, OSError, zipfile.BadZipFile, zlib.error) as error:
        raise ValueError(f"{where}: member {member!r} is damaged ({type(error).__name__}: the file was cut off or "
                         f"changed after it was written)") from None
