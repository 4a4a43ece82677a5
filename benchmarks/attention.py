"""Benchmark: scaled dot-product attention, forward + backward, tinynet vs PyTorch on the CPU.

Workload: B=8 sequences, 4 heads, L=S=256 tokens, d_k=d_v=64, float32.
    tinynet:  out = F.scaled_dot_product_attention(q, k, v);  out.backward(g)
    torch:    out = torch.softmax(q @ kᵀ / √d_k, -1) @ v;     out.backward(g)    ("explicit softmax" attention)
    torch-sdpa (also printed): torch.nn.functional.scaled_dot_product_attention, PyTorch's fused kernel.
The implementations run interleaved in one process (rep 1 of each, then rep 2 of each, ...; the order rotates
every round), so a slow period of the machine hits all of them; each time is the median over the reps. A short
pause before each step lets the previous library's busy-waiting BLAS/OpenMP threads go idle (without it,
whichever library runs second loses its cores: measured 2-3x slowdowns of torch right after NumPy). Rounds
during which other processes used the CPUs are discarded and repeated (the count is printed). Both sides use the same
number of threads (--threads, default 2: OpenBLAS via threadpoolctl when installed, torch via
set_num_threads). Ratio = tinynet time / torch time; tinynet aims at <= 1.3 against explicit softmax.

    python benchmarks/attention.py                 # 2 threads, 15 reps
    python benchmarks/attention.py --threads 1 --reps 21
    python benchmarks/attention.py --mask causal   # both sides with a causal mask
    python benchmarks/attention.py --module        # also nn.MultiHeadAttention(256, 4) vs torch's, projections
                                                   # included (x: B x L x 256, weights copied across)
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tinynet as tn  # noqa: E402
from machine import busy_seconds, own_seconds, thread_limit, timed, wait_until_quiet  # noqa: E402  (benchmarks/machine.py)
from tinynet import functional as F  # noqa: E402


def make_tinynet(q, k, v, g, causal):
    tq, tk, tv = (tn.Tensor(a.copy(), requires_grad=True) for a in (q, k, v))

    def step():
        for t in (tq, tk, tv):
            t.grad = None
        out = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
        out.backward(g)
        return out.data, tq.grad, tk.grad, tv.grad
    return step


def make_torch(torch, q, k, v, g, causal, fused):
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tg = torch.tensor(g)
    L, S = q.shape[-2], k.shape[-2]
    blocked = torch.ones(L, S, dtype=torch.bool).triu(1) if causal else None

    def step():
        for t in (tq, tk, tv):
            t.grad = None
        if fused:
            out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
        else:
            scores = tq @ tk.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if blocked is not None:
                scores = scores.masked_fill(blocked, float("-inf"))
            out = torch.softmax(scores, dim=-1) @ tv
        out.backward(tg)
        return out.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()
    return step


def make_module_pair(torch, batch, heads, length, dk, causal):
    """tinynet nn.MultiHeadAttention and torch.nn.MultiheadAttention with the same weights, fwd+bwd steps."""
    E = heads * dk
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, length, E)).astype(np.float32)
    g = rng.standard_normal((batch, length, E)).astype(np.float32)
    ours = tn.nn.MultiHeadAttention(E, heads)
    theirs = torch.nn.MultiheadAttention(E, heads, batch_first=True)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    tx, tg = tn.Tensor(x.copy(), requires_grad=True), torch.tensor(g)
    px = torch.tensor(x, requires_grad=True)
    blocked = torch.ones(length, length, dtype=torch.bool).triu(1) if causal else None

    def ours_step():
        ours.zero_grad()
        tx.grad = None
        out = ours(tx, is_causal=causal)
        out.backward(g)
        return out.data

    def theirs_step():
        theirs.zero_grad()
        px.grad = None
        out = theirs(px, px, px, attn_mask=blocked, need_weights=False)[0]
        out.backward(tg)
        return out.detach().numpy()
    return ours_step, theirs_step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--length", type=int, default=256, help="L = S")
    parser.add_argument("--dk", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=15, help="interleaved rounds to keep")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--mask", choices=["none", "causal"], default="none")
    parser.add_argument("--pause", type=float, default=0.2, metavar="S",
                        help="sleep before each timed step (default 0.2 s): OpenBLAS and OpenMP worker threads "
                             "busy-wait for a while after a call and would steal the CPUs from the next library")
    parser.add_argument("--module", action="store_true", help="also time nn.MultiHeadAttention vs torch's")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                        help="first wait up to S seconds for other processes to leave the CPUs alone")
    args = parser.parse_args()
    causal = args.mask == "causal"

    rng = np.random.default_rng(0)
    shape = (args.batch, args.heads, args.length, args.dk)
    q, k, v, g = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    flops = 6 * 2 * args.batch * args.heads * args.length * args.length * args.dk   # 2 GEMMs fwd + 4 bwd

    if args.wait_quiet and not wait_until_quiet(args.wait_quiet):
        print(f"  (the machine did not become quiet within {args.wait_quiet:g} s; timing anyway)")
    limit, limit_note = thread_limit(args.threads)
    steps = {"tinynet": make_tinynet(q, k, v, g, causal)}
    try:
        import torch
        torch.set_num_threads(args.threads)
        steps["torch explicit softmax"] = make_torch(torch, q, k, v, g, causal, fused=False)
        steps["torch F.sdpa"] = make_torch(torch, q, k, v, g, causal, fused=True)
        if args.module:
            ours, theirs = make_module_pair(torch, args.batch, args.heads, args.length, args.dk, causal)
            steps["tinynet MHA module"], steps["torch MHA module"] = ours, theirs
        torch_note = f"torch {torch.__version__}, {args.threads} thread(s)"
    except ImportError:
        torch = None
        torch_note = "torch is not importable: printing tinynet's numbers only"

    print(f"attention fwd+bwd, float32, B={args.batch} heads={args.heads} L=S={args.length} d_k={args.dk}, "
          f"mask={args.mask}; {args.reps} interleaved reps, median")
    print(f"  {limit_note}; {torch_note}")
    with limit:
        if torch is not None:                    # same answer on both sides before timing anything
            ours = steps["tinynet"]()
            theirs = steps["torch explicit softmax"]()
            worst = max(float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-30)) for a, b in zip(ours, theirs))
            print(f"  check: max |tinynet - torch| / max|torch| over out, dq, dk, dv = {worst:.1e}")
        for _ in range(args.warmup):
            for step in steps.values():
                step()
        # One "round" runs every implementation once. Other processes' CPU use is measured per round (from
        # /proc/stat); a round during which they used more than 0.25 cores is discarded and run again (up to
        # 4 x reps rounds), because a descheduled BLAS thread makes 2-thread timings meaningless.
        times = {name: [] for name in steps}
        kept = discarded = 0
        others_total, wall_total = 0.0, 0.0
        while kept < args.reps and kept + discarded < 4 * args.reps:
            busy0, own0, wall0 = busy_seconds(), own_seconds(), time.perf_counter()
            names = list(steps)
            names = names[kept % len(names):] + names[:kept % len(names)]    # rotate who goes first
            round_times = {}
            for name in names:
                time.sleep(args.pause)         # let the other library's spinning threads go idle first
                round_times[name] = timed(steps[name])
            wall = time.perf_counter() - wall0
            others = 0.0 if busy0 is None else max(0.0, (busy_seconds() - busy0) - (own_seconds() - own0)) / wall
            if others > 0.25:
                discarded += 1
                continue
            kept += 1
            others_total += others * wall
            wall_total += wall
            for name, t in round_times.items():
                times[name].append(t)

    print(f"  {kept} rounds kept, {discarded} discarded because other processes used > 0.25 cores; "
          f"others used {others_total / max(wall_total, 1e-9):.2f} cores on average in the kept rounds")
    if kept == 0:
        print("  the machine was never quiet: no timings to report")
        return
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        med = medians[name]
        print(f"  {name:<24} {med * 1e3:7.2f} ms  [{min(t) * 1e3:.2f} .. {max(t) * 1e3:.2f}]  "
              f"{flops / med / 1e9:6.1f} GFLOP/s")
    if torch is not None:
        ratio = medians["tinynet"] / medians["torch explicit softmax"]
        per_rep = [a / b for a, b in zip(times["tinynet"], times["torch explicit softmax"])]
        print(f"  ratio tinynet / torch explicit softmax = {ratio:.2f}  (per-rep ratios "
              f"{min(per_rep):.2f} .. {max(per_rep):.2f}; aim <= 1.3)")
        print(f"  ratio tinynet / torch F.sdpa           = {medians['tinynet'] / medians['torch F.sdpa']:.2f}")
        if args.module:
            print(f"  ratio MultiHeadAttention module, tinynet / torch = "
                  f"{medians['tinynet MHA module'] / medians['torch MHA module']:.2f}")


if __name__ == "__main__":
    main()
