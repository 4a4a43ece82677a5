"""Per-op cost of the autograd engine itself: a chain of 1,000 elementwise ops (add, mul, tanh in turn) on 4x4
float32 tensors, forward and backward, in microseconds per op.

With tiny tensors the NumPy work is small, so this measures the bookkeeping: creating the output Tensor, the
tape entry, the backward closure, and the reverse walk. When PyTorch is importable the same chain runs in torch,
interleaved with tinynet in one process, and the ratio is printed (tinynet aims at 0.5x torch or less).

Two ratios are printed. "median / median" divides the two sides' median times. "paired" is the median of the
per-rep ratios, each from a tinynet run and the torch run right after it: a slow spell of the shared machine
then hits both halves of a pair, so it moves less between runs of this script.

    python benchmarks/overhead.py [--ops 1000] [--reps 31]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tinynet as tn


def chain(x, n_ops):
    y = x
    for i in range(n_ops):
        kind = i % 3
        if kind == 0:
            y = y + 0.5
        elif kind == 1:
            y = y * 0.9
        else:
            y = y.tanh()
    return y


def time_tinynet(x0, n_ops):
    x = tn.tensor(x0, requires_grad=True)
    start = time.perf_counter()
    y = chain(x, n_ops)
    y.backward(np.ones_like(x0))
    return time.perf_counter() - start


def time_numpy_floor(x0, n_ops):
    """Forward NumPy only: what the arithmetic itself costs."""
    start = time.perf_counter()
    y = x0
    for i in range(n_ops):
        kind = i % 3
        y = y + np.float32(0.5) if kind == 0 else (y * np.float32(0.9) if kind == 1 else np.tanh(y))
    return time.perf_counter() - start


def time_torch(torch, x0, n_ops):
    x = torch.tensor(x0, requires_grad=True)
    start = time.perf_counter()
    y = chain(x, n_ops)
    y.backward(torch.ones_like(x))
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=31)
    args = parser.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    x0 = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    results = {"tinynet": [], "numpy forward only": [], "torch": []}
    for _ in range(args.reps):                       # interleaved, so machine noise hits all alike
        results["numpy forward only"].append(time_numpy_floor(x0, args.ops))
        results["tinynet"].append(time_tinynet(x0, args.ops))
        if torch is not None:                        # right after tinynet: the two halves of a pair
            results["torch"].append(time_torch(torch, x0, args.ops))
    print(f"chain of {args.ops} elementwise ops on 4x4 float32, forward+backward; median of {args.reps} reps")
    per_op = {k: statistics.median(v) / args.ops * 1e6 for k, v in results.items() if v}
    for name, us in per_op.items():
        print(f"  {name:<20} {us:6.2f} µs/op")
    if "torch" in per_op:
        paired = statistics.median(a / b for a, b in zip(results["tinynet"], results["torch"]))
        print(f"  ratio tinynet / torch: {per_op['tinynet'] / per_op['torch']:.2f}x median / median, "
              f"{paired:.2f}x paired   (aim <= 0.5x)")
    else:
        print("  torch is not installed: no ratio (pip install torch to compare)")


if __name__ == "__main__":
    main()
