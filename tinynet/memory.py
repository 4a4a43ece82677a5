"""Why a NumPy training step page-faults, and ``keep_freed_memory()``, the opt-in fix (Linux, glibc).

Every op in tinynet returns a new array, and most backward rules make one or two more. A training step of the
seed model creates and drops hundreds of arrays, many of a few MB. glibc's ``malloc`` hands big blocks back
to the operating system when they are freed: blocks above its *mmap threshold* are unmapped at once, and free
space at the top of the heap beyond its *trim threshold* is released. The next step asks for the same sizes
again, and the kernel must supply fresh pages: a page fault, and zeroing, per page touched (4 KB, or 2 MB
where the kernel backs an array with a huge page, as NumPy requests for large arrays). Measured on this
project's machine: about 20,000 faults in every seed-model step, a fifth to a third of its time. Nothing in
the arithmetic changes; the time goes to the kernel.

``keep_freed_memory()`` asks glibc (through ``mallopt``) to serve big blocks from its heap and never to trim
it, so a freed block is reused by the next step without a fault. What it costs, and why it is not on by
default:

* it applies to the **whole process**, every library's memory included;
* the process keeps its peak memory for its lifetime instead of returning freed blocks to the system;
* ``np.zeros`` of a big array can no longer get pre-zeroed pages from the kernel, so it writes the zeros
  itself (one fast pass, much cheaper than the faults it replaces).

It does nothing for a process whose ``malloc`` is not glibc's, including one where jemalloc or tcmalloc was
loaded with ``LD_PRELOAD`` (those keep freed memory on their own; PyTorch's performance guide recommends them).
The same two glibc settings can also be given before start-up with the environment variables
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_``.
"""
from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1          # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLDS = (1 << 30, 1 << 25)   # blocks up to 1 GiB from the heap; older glibc refuses more than 32 MiB
_TRIM_THRESHOLD = 2**31 - 1             # never give free heap memory back (the largest value mallopt accepts)


def keep_freed_memory() -> bool:
    """Keep freed big blocks in the process for reuse instead of returning them to the OS (glibc only).

    Returns True if glibc accepted both settings; False if there is no glibc here (macOS, Windows, musl: then
    nothing changed) or glibc refused one. Process-wide and permanent for the process. See the module docstring for
    why it helps (fewer page faults per training step) and what it costs (the process keeps its peak memory).
    """
    libc = _glibc()
    if libc is None:
        return False
    mmap_set = any(libc.mallopt(_M_MMAP_THRESHOLD, size) for size in _MMAP_THRESHOLDS)   # first one accepted
    trim_set = bool(libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return mmap_set and trim_set


def _glibc():
    """The C library if it is glibc (the only one with these mallopt settings), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.gnu_get_libc_version                    # only glibc has it
    except (OSError, AttributeError, TypeError):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc
