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

Other processes: the CPU they use is read from /proc/stat around every round (one tinynet step + one torch
step); a round during which they used more than 0.25 cores is thrown away and run again (at most 4 x reps
rounds in all), since a 2-thread BLAS collapses when another job takes a core. The table says how many rounds
were kept and discarded, and the average load of others during the kept ones. ``--wait-quiet S`` first waits
(up to S seconds) for a quiet machine.
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
    start = time.perf_counter()
    step(*args)
    return time.perf_counter() - start


def measure(kind, x_shape, w_shape, reps, warmup, rng, pause, noise_limit=0.25):
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
        tinynet_step(kind, x, w, b, gy_np)                  # same gradients as torch (a sanity check)
        torch_step(kind, tx, tw, tb, tgy)
        worst = max(float(np.abs(ours.grad - theirs.grad.numpy()).max() / np.abs(theirs.grad.numpy()).max())
                    for ours, theirs in ((x, tx), (w, tw), (b, tb)))
        assert worst < 1e-3, f"{kind}: tinynet's gradients differ from torch's (max relative error {worst:.1e})"

    for _ in range(warmup):
        tinynet_step(kind, x, w, b, gy_np)
        if torch is not None:
            torch_step(kind, tx, tw, tb, tgy)

    # One round = a tinynet step then a torch step, each after a pause. A round during which other processes
    # used more than noise_limit cores is discarded and run again (up to 4 x reps rounds): a descheduled BLAS
    # thread makes 2-thread timings meaningless.
    ours, theirs, others_total, wall_total, discarded = [], [], 0.0, 0.0, 0
    while len(ours) < reps and len(ours) + discarded < 4 * reps:
        start = busy_seconds(), own_seconds(), time.perf_counter()
        time.sleep(pause)
        mine = timed(tinynet_step, kind, x, w, b, gy_np)
        if torch is not None:
            time.sleep(pause)
            other = timed(torch_step, kind, tx, tw, tb, tgy)
        others = others_cores(*start)
        if others > noise_limit:
            discarded += 1
            continue
        others_total += others * (time.perf_counter() - start[2])
        wall_total += time.perf_counter() - start[2]
        ours.append(mine)
        if torch is not None:
            theirs.append(other)

    tracemalloc.start()
    tinynet_step(kind, x, w, b, gy_np)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    median = (lambda ts: float(np.median(ts)) * 1e3 if ts else float("nan"))
    return dict(ours=median(ours), theirs=median(theirs) if torch is not None else None, mem=peak / x_np.nbytes,
                kept=len(ours), discarded=discarded, others=others_total / max(wall_total, 1e-9))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds of sleep before each timed step")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                        help="first wait up to S seconds for other processes to go quiet")
    parser.add_argument("--only", default=None, help="run only workloads whose name contains this text")
    args = parser.parse_args()

    if torch is not None:
        torch.set_num_threads(args.threads)
    limits = threadpool_limits(args.threads) if threadpool_limits is not None else None
    print(f"tinynet conv benchmark: float32 forward+backward, {args.threads} thread(s), median of {args.reps} "
          f"interleaved reps; numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed (tinynet only)")
          + ("" if limits is not None else "; threadpoolctl absent: BLAS threads left at their default"))
    if args.wait_quiet and not wait_until_quiet(args.wait_quiet):
        print(f"(the machine did not become quiet within {args.wait_quiet:g} s; timing anyway)")
    header = (f"{'workload':<29} {'tinynet ms':>10} {'torch ms':>9} {'ratio':>6} {'target':>7} {'peak mem':>9}"
              f"  rounds kept/discarded, others' load")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for name, x_shape, w_shape, kind, target in WORKLOADS:
        if args.only and args.only not in name:
            continue
        r = measure(kind, x_shape, w_shape, args.reps, args.warmup, rng, args.pause)
        if r["kept"] == 0:
            print(f"{name:<29} no timing: other processes used > 0.25 cores in all {r['discarded']} rounds "
                  f"(peak mem {r['mem']:.1f}x)")
            continue
        ratio = f"{r['ours'] / r['theirs']:6.2f}" if r["theirs"] else "   n/a"
        their_text = f"{r['theirs']:9.1f}" if r["theirs"] else "      n/a"
        print(f"{name:<29} {r['ours']:10.1f} {their_text} {ratio} {'<=' + format(target, '.1f') + 'x':>7} "
              f"{r['mem']:8.1f}x  {r['kept']}/{r['discarded']}, {r['others']:.2f} cores")
    print(f"peak mem = tracemalloc peak of one forward+backward / input bytes (target for conv3x3: "
          f"<= {MEMORY_TARGET:.0f}x).\nA round is discarded when other processes used > 0.25 cores during it.")


if __name__ == "__main__":
    main()
