"""Benchmark: one full training step (forward, cross-entropy, backward, Adam update), tinynet vs PyTorch.

Workloads, float32 (with the ratio to torch that tinynet aims at):
    mlp   MLP 784-256-256-10 with ReLU, batch 256                                     aim: ratio <= 1.0
    seed  the seed article's model (demos/seed_model.py: conv stem, two residual SeparableConv2d blocks,
          SelfAttention2d, GlobalAvgPool2d, Linear) on a batch of 64 1x28x28 inputs;  aim: ratio <= 2.2
          the stem's stride-2 conv gives a 14x14 map, so attention runs over 196 positions
          (--stem-stride 4: a 7x7 map, 49 positions)
One step = zero_grad; loss = cross_entropy(model(x), y); loss.backward(); optimizer.step(). The torch models
have the same architecture and start from the same weights (copied through state_dict: the names match), and
the first step is checked to give the same loss and the same updated weights.

Timing as in the other benchmarks: implementations interleaved in one process, median over --reps rounds;
rounds during which other processes used more than 0.25 cores are discarded and re-run (counted in the
output). Both sides use --threads threads (NumPy's BLAS through threadpoolctl when it is installed, torch via
set_num_threads). Ratio = tinynet time / torch time. When torch is absent, tinynet's times are printed alone.

    python benchmarks/train_step.py                  # both workloads, 2 threads
    python benchmarks/train_step.py --threads 1 --reps 21 --workload seed --stem-stride 4
    python benchmarks/train_step.py --isolated 3     # also: each side alone in its own process, 3 times each
    python benchmarks/train_step.py --keep-memory    # with tn.keep_freed_memory() (whole process: torch too)

Why --isolated: torch's OpenMP threads (libgomp) and NumPy's OpenBLAS threads in ONE process slow each other
down (benchmarks/README.md, "Noise"), by up to 3x for the small seed-model kernels. Interleaving
is fair to machine noise but not to that; isolated runs (alternating tinynet / torch processes) are fair to that
but not to noise. The honest answer is both numbers, so --isolated prints both.

Why --keep-memory: by default glibc returns freed big buffers to the OS, and every step page-faults them back in
(about 20,000 faults in a seed-model step; see tinynet/memory.py). ``tn.keep_freed_memory()`` stops that for the
whole process, so with the flag both sides run with it (and so do the --isolated children). The default run
leaves glibc as it is: that is what a user gets without the call.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinynet as tn  # noqa: E402
from machine import busy_seconds, own_seconds, thread_limit, timed  # noqa: E402  (benchmarks/machine.py)
from tinynet import functional as F  # noqa: E402
from demos.seed_model import SeedModel  # noqa: E402


# ---- tinynet models ------------------------------------------------------------------------------------------
def tinynet_mlp():
    nn = tn.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def tinynet_step(model, x, y):
    optimizer = tn.optim.Adam(model.parameters(), lr=1e-3)
    tx = tn.Tensor(x)

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tx), y)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


# ---- the same models in torch --------------------------------------------------------------------------------
def torch_models(torch):
    nn = torch.nn

    def mlp():
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))

    class Separable(nn.Module):
        def __init__(self, c, o):
            super().__init__()
            self.depthwise = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
            self.pointwise = nn.Conv2d(c, o, 1)

        def forward(self, x):
            return self.pointwise(self.depthwise(x))

    class Residual(nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x):
            return x + self.block(x)

    class SelfAttention2d(nn.Module):
        def __init__(self, c, heads):
            super().__init__()
            self.norm = nn.LayerNorm(c)
            self.attn = nn.MultiheadAttention(c, heads, batch_first=True)

        def forward(self, x):
            n, c, h, w = x.shape
            t = self.norm(x.reshape(n, c, h * w).transpose(1, 2))
            out = self.attn(t, t, t, need_weights=False)[0]
            return x + out.transpose(1, 2).reshape(n, c, h, w)

    class Seed(nn.Module):
        def __init__(self, stem_stride, channels=64, stem_channels=32):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, stem_channels, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(stem_channels, channels, 3, stride=stem_stride, padding=1), nn.ReLU())
            self.block1 = Residual(nn.Sequential(Separable(channels, channels), nn.ReLU()))
            self.block2 = Residual(nn.Sequential(Separable(channels, channels), nn.ReLU()))
            self.attention = SelfAttention2d(channels, 1)
            self.head = nn.Linear(channels, 10)

        def forward(self, x):
            x = self.attention(self.block2(self.block1(self.stem(x))))
            return self.head(x.mean(dim=(2, 3)))

    return mlp, Seed


def torch_step(torch, model, x, y):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx, ty = torch.tensor(x), torch.tensor(y)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


# ---- timing helpers ------------------------------------------------------------------------------------------
def run_interleaved(steps, reps, warmup):
    """Median seconds per step for each implementation; rounds disturbed by other processes are re-run."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    kept = discarded = 0
    while kept < reps and kept + discarded < 4 * reps:
        busy0, own0, wall0 = busy_seconds(), own_seconds(), time.perf_counter()
        round_times = {name: timed(step) for name, step in steps.items()}
        if busy0 is not None:
            others = ((busy_seconds() - busy0) - (own_seconds() - own0)) / (time.perf_counter() - wall0)
            if others > 0.25:
                discarded += 1
                continue
        kept += 1
        for name, t in round_times.items():
            times[name].append(t)
    return {name: statistics.median(ts) if ts else float("nan") for name, ts in times.items()}, kept, discarded


def build(workload, torch, stem_stride, check=True):
    """(description, {name: step}) for one workload, with the first step checked against torch."""
    rng = np.random.default_rng(0)
    if workload == "mlp":
        x = rng.standard_normal((256, 784)).astype(np.float32)
        y = rng.integers(0, 10, 256)
        tn.manual_seed(0)
        ours = tinynet_mlp()
        text = "MLP 784-256-256-10 (ReLU), batch 256, cross-entropy + Adam"
    else:
        x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
        y = rng.integers(0, 10, 64)
        tn.manual_seed(0)
        ours = SeedModel(stem_stride=stem_stride)
        side = (28 + stem_stride - 1) // stem_stride
        text = (f"seed model, batch 64 x 1x28x28, attention over {side}x{side} = {side * side} positions, "
                f"cross-entropy + Adam")
    steps = {"tinynet": tinynet_step(ours, x, y)}
    if torch is None:
        return text, steps, None
    if not check:                       # --only torch: the torch side alone, same initial weights
        steps = {}
    mlp, Seed = torch_models(torch)
    theirs = mlp() if workload == "mlp" else Seed(stem_stride)
    state = ours.state_dict()
    theirs_keys = set(theirs.state_dict())
    if set(state) != theirs_keys:
        raise RuntimeError(f"parameter names differ: {sorted(set(state) ^ theirs_keys)}")
    theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    steps["torch"] = torch_step(torch, theirs, x, y)
    if not check:
        return text, steps, None
    # one checked step on both sides (from the same weights), then the timing continues from there
    loss_ours, loss_theirs = steps["tinynet"](), steps["torch"]()
    worst = 0.0
    their_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        other = their_state[name].detach().numpy()
        worst = max(worst, float(np.max(np.abs(value - other))))
    check = f"check after one step: loss {loss_ours:.6f} vs {loss_theirs:.6f}, max |Δweight| {worst:.1e}"
    return text, steps, check


def time_alone(workload, side, args):
    """Median ms per step of one side in a fresh process (``--only``), so that it shares no thread pools."""
    import json
    import subprocess
    command = [sys.executable, os.path.abspath(__file__), "--workload", workload, "--only", side,
               "--stem-stride", str(args.stem_stride), "--threads", str(args.threads), "--reps", str(args.reps),
               "--warmup", str(args.warmup)] + (["--keep-memory"] if args.keep_memory else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["ms"]


def only(args):
    """--only tinynet|torch: time one side alone and print {"ms": median} (used by --isolated)."""
    import json
    limit, _ = thread_limit(args.threads)
    torch = None
    if args.only == "torch":
        import torch
        torch.set_num_threads(args.threads)
    with limit:
        _, steps, _ = build(args.workload, torch, args.stem_stride, check=False)
        name = "tinynet" if args.only == "tinynet" else "torch"
        medians, _, _ = run_interleaved({name: steps[name]}, args.reps, args.warmup)
    print(json.dumps({"ms": medians[name] * 1e3}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["mlp", "seed", "both"], default="both")
    parser.add_argument("--stem-stride", type=int, default=2, help="2: 14x14 attention map (default), 4: 7x7")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--isolated", type=int, default=0, metavar="K",
                        help="also time each side alone in K fresh processes per side, alternating")
    parser.add_argument("--keep-memory", action="store_true",
                        help="tn.keep_freed_memory() first: glibc keeps freed buffers (whole process: torch too)")
    parser.add_argument("--only", choices=["tinynet", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keep_memory and not tn.keep_freed_memory():
        print("(--keep-memory: this C library is not glibc; running without it)")
    if args.only:
        return only(args)

    limit, limit_note = thread_limit(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
        torch_note = f"torch {torch.__version__}, {args.threads} thread(s)"
    except ImportError:
        torch = None
        torch_note = "torch is not importable: printing tinynet's numbers only"
    print(f"one training step (fwd + cross-entropy + bwd + Adam), float32; {args.reps} interleaved reps, median"
          + ("; freed memory kept (tn.keep_freed_memory)" if args.keep_memory else ""))
    print(f"  {limit_note}; {torch_note}")
    targets = {"mlp": 1.0, "seed": 2.2}
    workloads = ["mlp", "seed"] if args.workload == "both" else [args.workload]
    with limit:
        for workload in workloads:
            text, steps, check = build(workload, torch, args.stem_stride)
            print(f"\n{text}")
            if check:
                print(f"  {check}")
            medians, kept, discarded = run_interleaved(steps, args.reps, args.warmup)
            for name, t in medians.items():
                print(f"  {name:<8} {t * 1e3:8.2f} ms per step")
            if "torch" in medians:
                ratio = medians["tinynet"] / medians["torch"]
                print(f"  ratio tinynet/torch = {ratio:.2f}   (aim <= {targets[workload]:.1f}; {kept} rounds kept, "
                      f"{discarded} discarded for other processes' CPU use)")
            if args.isolated and torch is not None:
                alone = {"tinynet": [], "torch": []}
                for _ in range(args.isolated):
                    for side in alone:
                        alone[side].append(time_alone(workload, side, args))
                ours, theirs = (statistics.median(alone[side]) for side in ("tinynet", "torch"))
                print(f"  isolated processes ({args.isolated} per side, median of medians): tinynet {ours:.2f} ms, "
                      f"torch {theirs:.2f} ms, ratio {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
