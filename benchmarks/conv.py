"""Convolution speed and memory: tinynet vs PyTorch CPU, float32 forward + backward.

    python benchmarks/conv.py                 # 2 threads (the project's reference setting), 7 reps
    python benchmarks/conv.py --threads 1 --reps 11
    python benchmarks/conv.py --processes 5     # median over 5 fresh processes (the ratio moves between runs)
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
``--keep-memory`` calls ``tn.keep_freed_memory()`` before anything runs (tinynet/memory.py): glibc then keeps
freed big buffers in the heap instead of returning them to the OS and page-faulting them in again at the next
step. It applies to the whole process, torch included; tinynet's conv steps allocate tens of MB of temporaries
and gain the most (measured here: depthwise 25-35 ms -> 18-22 ms). The default run leaves glibc as it is.

Ratios are printed, never asserted: timing is noisy (benchmarks/README.md, "Noise"). Between
processes the medians move by up to ±30 % on both sides, so compare the median ratio of several runs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tinynet as tn                      # noqa: E402
from machine import busy_seconds, copy_bandwidth, others_cores, own_seconds, timed, wait_until_quiet  # noqa: E402  (benchmarks/machine.py)
import tinynet.functional as F            # noqa: E402

try:
    import torch
except ImportError:                       # torch is optional: tinynet's numbers are printed alone
    torch = None

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

# name, (N, C, H, W), weight shape, kind, the time ratio to torch that tinynet aims at (2 threads), and the peak
# memory it aims at (x the input's bytes; set for the 28x28 conv3x3 only).
WORKLOADS = [
    ("conv3x3 N32 32->64 28x28", (32, 32, 28, 28), (64, 32, 3, 3), "conv", 2.0, 12.0),
    ("conv3x3 N16 64->128 14x14", (16, 64, 14, 14), (128, 64, 3, 3), "conv", 2.0, None),
    ("depthwise3x3 N32 C64 28x28", (32, 64, 28, 28), (64, 1, 3, 3), "depthwise", 3.0, None),
    ("pointwise N32 64->128 28x28", (32, 64, 28, 28), (128, 64, 1, 1), "pointwise", 1.0, None),
]


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
    cache = copy_bandwidth()                          # is the shared last-level cache there? (machine.py)
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
                kept=len(ours), discarded=discarded, others=others_total / max(wall_total, 1e-9), cache=cache)


def run_here(args):
    """Every selected workload in this process: a list of result dicts (see ``measure``)."""
    if args.keep_memory and not tn.keep_freed_memory():
        print("(--keep-memory: this C library is not glibc; running without it)")
    if torch is not None:
        torch.set_num_threads(args.threads)
    if threadpool_limits is not None:
        threadpool_limits(args.threads)
    if args.wait_quiet and not wait_until_quiet(args.wait_quiet):
        print(f"(the machine did not become quiet within {args.wait_quiet:g} s; timing anyway)")
    rng = np.random.default_rng(0)
    results = []
    for name, x_shape, w_shape, kind, target, mem_target in WORKLOADS:
        if args.only and args.only not in name:
            continue
        r = measure(kind, x_shape, w_shape, args.reps, args.warmup, rng, args.pause)
        results.append(dict(r, name=name, target=target, mem_target=mem_target))
    return results


def run_in_processes(args):
    """Run this script ``args.processes`` times in fresh processes; per workload, collect each run's medians."""
    command = [sys.executable, os.path.abspath(__file__), "--json", "--processes", "1"]
    for flag in ("threads", "reps", "warmup", "pause", "wait_quiet"):
        command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    command += (["--only", args.only] if args.only else []) + (["--keep-memory"] if args.keep_memory else [])
    runs = []
    for _ in range(args.processes):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    merged = []
    for k, first in enumerate(runs[0]):
        per_run = [run[k] for run in runs if run[k]["kept"] > 0]
        merged.append(dict(first, runs=per_run))
    return merged


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.2, help="seconds of sleep before each timed step")
    parser.add_argument("--processes", type=int, default=1,
                        help="run in K fresh processes and report the median over them (and the range of ratios)")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                        help="first wait up to S seconds for other processes to go quiet")
    parser.add_argument("--only", default=None, help="run only workloads whose name contains this text")
    parser.add_argument("--keep-memory", action="store_true",
                        help="tn.keep_freed_memory(): glibc keeps freed big buffers (whole process: torch too)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.json:                                   # a child of --processes: results as one JSON line
        print(json.dumps(run_here(args)))
        return
    print(f"tinynet conv benchmark: float32 forward+backward, {args.threads} thread(s), median of {args.reps} "
          f"interleaved reps" + (f" in each of {args.processes} processes" if args.processes > 1 else "")
          + f"; numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else ", torch not installed (tinynet only)")
          + ("" if threadpool_limits is not None else "; threadpoolctl absent: BLAS threads left at their default")
          + ("; freed memory kept (tn.keep_freed_memory)" if args.keep_memory else ""))
    if args.processes > 1:
        results = run_in_processes(args)
    else:
        results = [dict(r, runs=[r] if r["kept"] else []) for r in run_here(args)]
    header = (f"{'workload':<29} {'tinynet ms':>10} {'torch ms':>9} {'ratio':>6} {'time tgt':>8} {'peak mem':>9}"
              f" {'mem tgt':>7} {'copy GB/s':>9}"
              + ("  ratio range over processes" if args.processes > 1 else "  rounds kept/discarded, others' load"))
    print(header)
    print("-" * len(header))
    for r in results:
        runs = r["runs"]
        if not runs:
            print(f"{r['name']:<29} no timing: other processes used > 0.25 cores in every round "
                  f"(peak mem {r['mem']:.1f}x)")
            continue
        ours = float(np.median([run["ours"] for run in runs]))
        line = f"{r['name']:<29} {ours:10.1f} "
        if torch is not None:
            ratios = [run["ours"] / run["theirs"] for run in runs]
            theirs = float(np.median([run["theirs"] for run in runs]))
            line += f"{theirs:9.1f} {float(np.median(ratios)):6.2f} "
        else:
            line += f"{'n/a':>9} {'n/a':>6} "
        mem_target = "" if r["mem_target"] is None else f"<={r['mem_target']:.0f}x"
        line += f"{'<=' + format(r['target'], '.1f') + 'x':>8} {r['mem']:8.1f}x {mem_target:>7} "
        line += f"{float(np.median([run['cache'] for run in runs])):9.0f}  "
        if args.processes > 1:
            line += (f"{min(ratios):.2f}..{max(ratios):.2f} ({len(runs)} runs)" if torch is not None
                     else f"{len(runs)} runs")
        else:
            line += f"{r['kept']}/{r['discarded']}, {r['others']:.2f} cores"
        print(line)
    print(f"ratio = tinynet / torch (median{' of the per-process ratios' if args.processes > 1 else ''}); "
          f"peak mem = tracemalloc peak of one forward+backward / input bytes\n(the memory aim is for the "
          f"28x28 conv3x3; the 14x14 one also holds dW's per-image products, N·(C·kh·kw)·O floats = 5.9x its small "
          f"input: conv2d's docstring).\ncopy GB/s = one core copying 8 MiB after the workload's warm-up, before its "
          f"timed rounds{' (median over processes)' if args.processes > 1 else ''}: ~65 when the shared L3 cache "
          f"is there, ~25\n(DRAM speed) while other machines thrash it, and "
          f"then tinynet's one-core memory-bound passes slow down more than torch.\n"
          f"A round is discarded when other processes used > 0.25 cores during it.")


if __name__ == "__main__":
    main()
