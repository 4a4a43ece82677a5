"""Convolution speed and memory: tinynet vs PyTorch CPU, float32 forward + backward.

    python benchmarks/conv.py                 # 2 threads (the project's reference setting), 7 reps
    python benchmarks/conv.py --threads 1 --reps 11
    python benchmarks/conv.py --only depthwise

For each workload it prints tinynet's median time and, when torch is importable, torch's median and the ratio
tinynet / torch. The two run interleaved in one process (tinynet rep, torch rep, tinynet rep, ...) so that both
see the same machine state; each side gets warm-up reps first, and a short pause (--pause, 0.2 s) separates
the sides: OpenBLAS's and libgomp's worker threads spin for a while after each call, and without the pause one
library's spinning threads steal the cores the other needs (measured here: torch's conv3x3 at 30-100 ms instead
of ~16 ms right after a NumPy step). Both sides do the same work:
``y = conv(x, w, b); y.backward(gy)`` with a fixed random upstream gradient gy, gradients for x, w and b.

Memory: the peak of NumPy allocations (``tracemalloc``; NumPy reports its buffers to it) during one forward +
backward, divided by the input's bytes. Traced from just after x, the parameters and gy exist, so it counts
what the step itself allocates: the output, the im2col columns, every gradient (including the copy that lands
in ``x.grad``).

"bg load" is the CPU time other processes used during the timed reps, in cores: a ratio measured while
another job was running is not to be trusted (2-thread BLAS collapses when a core is taken).
Ratios are printed, never asserted: timing is noisy (see /work/shared/notes/performance.md §6).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tinynet as tn                      # noqa: E402
import tinynet.functional as F            # noqa: E402

try:
    import torch
except ImportError:                       # torch is optional: tinynet's numbers are printed alone
    torch = None

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

# name, (N, C, H, W), weight shape, kind. Targets (ratio to torch, 2 threads) from the issue.
WORKLOADS = [
    ("conv3x3 N32 32->64 28x28", (32, 32, 28, 28), (64, 32, 3, 3), "conv", 2.0),
    ("conv3x3 N16 64->128 14x14", (16, 64, 14, 14), (128, 64, 3, 3), "conv", 2.0),
    ("depthwise3x3 N32 C64 28x28", (32, 64, 28, 28), (64, 1, 3, 3), "depthwise", 3.0),
    ("pointwise N32 64->128 28x28", (32, 64, 28, 28), (128, 64, 1, 1), "pointwise", 1.0),
]
MEMORY_TARGET = 12.0      # peak bytes of one conv3x3 forward+backward / input bytes


def tinynet_step(kind, x, w, b, gy):
    """One forward + backward; returns nothing (gradients land in .grad)."""
    x.grad = w.grad = b.grad = None
    if kind == "conv":
        y = F.conv2d(x, w, b, padding=1)
    elif kind == "depthwise":
        y = F.depthwise_conv2d(x, w, b, padding=1)
    else:
        y = F.pointwise_conv2d(x, w, b)
    y.backward(gy)


def torch_step(kind, x, w, b, gy):
    x.grad = w.grad = b.grad = None
    if kind == "conv":
        y = torch.nn.functional.conv2d(x, w, b, padding=1)
    elif kind == "depthwise":
        y = torch.nn.functional.conv2d(x, w, b, padding=1, groups=x.shape[1])
    else:
        y = torch.nn.functional.conv2d(x, w, b)
    y.backward(gy)


def busy_jiffies():
    """Total non-idle CPU time of the machine (all processes), in clock ticks, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields) - fields[3] - fields[4]          # minus idle and iowait
    except OSError:
        return None


def measure(kind, x_shape, w_shape, reps, warmup, rng, pause):
    x_np = rng.standard_normal(x_shape).astype(np.float32)
    w_np = (rng.standard_normal(w_shape) / np.sqrt(np.prod(w_shape[1:]))).astype(np.float32)
    b_np = rng.standard_normal(w_shape[0]).astype(np.float32)
    x, w, b = (tn.Tensor(a.copy(), requires_grad=True) for a in (x_np, w_np, b_np))
    with tn.no_grad():
        y_shape = {"conv": lambda: F.conv2d(x, w, b, padding=1),
                   "depthwise": lambda: F.depthwise_conv2d(x, w, b, padding=1),
                   "pointwise": lambda: F.pointwise_conv2d(x, w, b)}[kind]().shape
    gy_np = rng.standard_normal(y_shape).astype(np.float32)
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
        tgy = torch.tensor(gy_np)

    for _ in range(warmup):
        tinynet_step(kind, x, w, b, gy_np)
        if torch is not None:
            torch_step(kind, tx, tw, tb, tgy)

    ours, theirs = [], []
    ticks0, own0, wall0 = busy_jiffies(), time.process_time(), time.perf_counter()
    for _ in range(reps):
        time.sleep(pause)
        start = time.perf_counter()
        tinynet_step(kind, x, w, b, gy_np)
        ours.append(time.perf_counter() - start)
        if torch is not None:
            time.sleep(pause)
            start = time.perf_counter()
            torch_step(kind, tx, tw, tb, tgy)
            theirs.append(time.perf_counter() - start)
    ticks1, own1, wall1 = busy_jiffies(), time.process_time(), time.perf_counter()
    bg = None
    if ticks0 is not None:                # other processes' CPU seconds per second of the timed loop
        hz = os.sysconf("SC_CLK_TCK")
        bg = max(0.0, ((ticks1 - ticks0) / hz - (own1 - own0)) / (wall1 - wall0))

    tracemalloc.start()
    tinynet_step(kind, x, w, b, gy_np)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (np.median(ours) * 1e3, np.median(theirs) * 1e3 if theirs else None, peak / x_np.nbytes, bg,
            x_np.nbytes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds of sleep before each timed step")
    parser.add_argument("--only", default=None, help="run only workloads whose name contains this text")
    args = parser.parse_args()

    if torch is not None:
        torch.set_num_threads(args.threads)
    limits = threadpool_limits(args.threads) if threadpool_limits is not None else None
    print(f"tinynet conv benchmark: float32 forward+backward, {args.threads} thread(s), median of {args.reps} "
          f"interleaved reps; numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed (tinynet only)")
          + ("" if limits is not None else "; threadpoolctl absent: BLAS threads left at their default"))
    header = f"{'workload':<30} {'tinynet ms':>10} {'torch ms':>9} {'ratio':>6} {'target':>7} {'peak mem':>9}  bg load"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for name, x_shape, w_shape, kind, target in WORKLOADS:
        if args.only and args.only not in name:
            continue
        ours, theirs, mem, bg, _ = measure(kind, x_shape, w_shape, args.reps, args.warmup, rng, args.pause)
        ratio = f"{ours / theirs:6.2f}" if theirs else "   n/a"
        their_text = f"{theirs:9.1f}" if theirs else "      n/a"
        bg_text = f"{bg:.2f} cores" if bg is not None else "n/a"
        print(f"{name:<30} {ours:10.1f} {their_text} {ratio} {'<=' + format(target, '.1f') + 'x':>7} "
              f"{mem:8.1f}x  {bg_text}")
    print(f"peak mem = tracemalloc peak of one forward+backward / input bytes; target for conv3x3: "
          f"<= {MEMORY_TARGET:.0f}x")


if __name__ == "__main__":
    main()
