"""Shared helpers for the benchmarks: timing, thread limits, and noticing when other processes share the CPU.

The benchmarks run on shared machines. A step timed while another process used the cores says nothing about
tinynet, so each benchmark measures how much CPU *other* processes used during a round (from /proc/stat) and
re-runs disturbed rounds.
"""
from __future__ import annotations

import contextlib
import os
import time


def thread_limit(threads):
    """(context manager limiting NumPy's BLAS threads, a sentence saying what it did)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), "threadpoolctl not installed: NumPy uses its default BLAS threads"
    return threadpool_limits(limits=threads), f"NumPy BLAS limited to {threads} thread(s) by threadpoolctl"


def busy_seconds():
    """CPU seconds used by all processes on the machine so far (Linux /proc/stat), or None elsewhere."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)          # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_seconds():
    """CPU seconds used by this process so far."""
    t = os.times()
    return t.user + t.system


def others_cores(busy0, own0, wall0):
    """Cores used by *other* processes since (busy0, own0, wall0)."""
    if busy0 is None:
        return 0.0
    return max(0.0, (busy_seconds() - busy0) - (own_seconds() - own0)) / (time.perf_counter() - wall0)


def wait_until_quiet(limit_seconds, window=2.0, threshold=0.1):
    """Wait (up to limit_seconds) for a window in which other processes use < threshold cores."""
    deadline = time.perf_counter() + limit_seconds
    while time.perf_counter() < deadline:
        start = busy_seconds(), own_seconds(), time.perf_counter()
        time.sleep(window)
        if others_cores(*start) < threshold:
            return True
    return False


def timed(step, *args):
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    step(*args)
    return time.perf_counter() - start


def copy_bandwidth(megabytes=8, reps=9):
    """GB/s of a single-threaded NumPy copy of ``megabytes`` MiB (bytes read + written; median of ``reps``).

    Source and target (16 MiB for 8) fit the 32 MiB last-level cache of this project's VM, so this tells whether
    the cache is really there: it measured ~65 GB/s on a quiet machine and ~25 GB/s (DRAM speed) while other VMs
    were thrashing the shared L3. NumPy's memory-bound passes (one core) lose more in that state than PyTorch's
    (two cores), so a benchmark that prints a ratio should print this beside it.
    """
    import numpy as np
    source = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    target = np.empty_like(source)
    seconds = sorted(timed(np.copyto, target, source) for _ in range(reps))
    return 2 * source.nbytes / seconds[reps // 2] / 1e9
