"""Gradients of gradients, shown with numbers.   ``python -m demos.second_order``

``tn.grad(y, [x], create_graph=True)`` returns dy/dx as a Tensor that is itself on the tape, so it can be
differentiated again (see ``tinynet/autograd.py`` for how a backward rule becomes differentiable). Sections:

[1] Newton's method on f(x) = x⁴ − 2x²: x ← x − f'(x)/f''(x), both derivatives from the tape.
[2] The first three derivatives of tanh against their closed forms.
[3] A Hessian-vector product of a small conv + attention model's loss, against finite differences of gradients.
[4] The largest-magnitude Hessian eigenvalue (power iteration on Hessian-vector products) of plain and residual
    deep stacks built as the flagship builds them (tanh here, depth 16, width 16), at initialisation, on
    two-moons, for a few seeds: reported as measured.

Options: --seeds 0,1,2  --depth 16  --iterations 60
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import tinynet as tn
import tinynet.functional as F
from demos.deep_vs_residual import classifier, two_moons
from demos.seed_model import SeedModel


# ---- [1] Newton's method ------------------------------------------------------------------------------------------
def newton(x0=2.0, steps=6):
    """Iterates of x ← x − f'(x)/f''(x) for f(x) = x⁴ − 2x² (minima at ±1, f''(1) = 8)."""
    xs = [x0]
    for _ in range(steps):
        x = tn.tensor([xs[-1]], requires_grad=True, dtype=np.float64)
        f = x ** 4 - 2 * x ** 2
        (d1,) = tn.grad(f.sum(), [x], create_graph=True)     # f'(x) = 4x³ − 4x, on the tape
        (d2,) = tn.grad(d1.sum(), [x])                        # f''(x) = 12x² − 4
        xs.append(xs[-1] - d1.item() / d2.item())
    return xs


# ---- [2] tanh's derivatives ---------------------------------------------------------------------------------------
def tanh_derivatives(points):
    """d/dx, d²/dx², d³/dx³ of tanh by repeated tn.grad, and the largest difference from the closed forms."""
    x = tn.tensor(points, requires_grad=True, dtype=np.float64)
    ones = np.ones_like(x.data)
    (d1,) = tn.grad(x.tanh(), [x], ones, create_graph=True)
    (d2,) = tn.grad(d1, [x], ones, create_graph=True)
    (d3,) = tn.grad(d2, [x], ones)
    t = np.tanh(x.data)
    closed = [1 - t ** 2, -2 * t * (1 - t ** 2), -2 * (1 - t ** 2) * (1 - 3 * t ** 2)]
    return [d.data for d in (d1, d2, d3)], closed


# ---- [3] Hessian-vector product ----------------------------------------------------------------------------------
def hessian_vector_product(loss_fn, params, vector):
    """H v = ∇(∇L · v): one gradient with create_graph, then the gradient of its dot product with v."""
    grads = tn.grad(loss_fn(), params, create_graph=True)
    dot = sum((g * tn.Tensor(v)).sum() for g, v in zip(grads, vector))
    hv = tn.grad(dot, params, allow_unused=True)
    return [np.zeros(p.shape) if h is None else h.data for p, h in zip(params, hv)]


def gradient_at(loss_fn, params, arrays):
    """∇L with every parameter set to ``arrays`` (first order, no graph kept)."""
    for p, a in zip(params, arrays):
        p.data = a
    return [g.data for g in tn.grad(loss_fn(), params, allow_unused=True)]


def small_model_hvp(seed):
    rng = np.random.default_rng(seed)
    tn.manual_seed(seed)
    model = SeedModel(channels=8, stem_channels=4, num_heads=2, dtype=np.float64)
    images = tn.Tensor(rng.random((4, 1, 8, 8)))
    labels = rng.integers(0, 10, 4)
    params = list(model.parameters())
    loss_fn = lambda: F.cross_entropy(model(images), labels)       # noqa: E731
    v = [rng.standard_normal(p.shape) for p in params]
    hv = hessian_vector_product(loss_fn, params, v)
    start = [p.data.copy() for p in params]
    eps = 1e-5
    plus = gradient_at(loss_fn, params, [a + eps * d for a, d in zip(start, v)])
    minus = gradient_at(loss_fn, params, [a - eps * d for a, d in zip(start, v)])
    gradient_at(loss_fn, params, start)
    numeric = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
    flat_hv, flat_numeric = np.concatenate([h.ravel() for h in hv]), np.concatenate([n.ravel() for n in numeric])
    error = np.linalg.norm(flat_hv - flat_numeric) / np.linalg.norm(flat_numeric)
    return sum(p.size for p in params), np.linalg.norm(flat_hv), error


# ---- [4] top Hessian eigenvalue -----------------------------------------------------------------------------------
def top_eigenvalue(model, x, y, iterations, seed):
    """Power iteration v ← Hv / ‖Hv‖ on the loss's Hessian over all parameters; λ = v·Hv at the end. It
    converges to the eigenvalue of largest magnitude (which may be negative: the loss need not be convex there).

    Returns the estimates of λ, one per iteration, and the top eigenvector (one array per parameter)."""
    params = list(model.parameters())
    inputs = tn.Tensor(x)
    loss_fn = lambda: F.cross_entropy(model(inputs), y)            # noqa: E731
    rng = np.random.default_rng(seed)
    v = [rng.standard_normal(p.shape) for p in params]
    estimates = []
    for _ in range(iterations):
        norm = np.sqrt(sum(float((a * a).sum()) for a in v))
        v = [a / norm for a in v]
        hv = hessian_vector_product(loss_fn, params, v)
        estimates.append(sum(float((a * h).sum()) for a, h in zip(v, hv)))   # Rayleigh quotient vᵀHv
        v = hv
    norm = np.sqrt(sum(float((a * a).sum()) for a in v))
    return estimates, [a / norm for a in v]


def eigenvector_share(model, vector):
    """How much of the unit eigenvector's squared length lies in the first layer, the deep blocks and the head."""
    names = [name for name, _ in model.named_parameters()]
    first = last = 0.0
    total = 0.0
    for name, part in zip(names, vector):
        mass = float((part * part).sum())
        total += mass
        if name.startswith("0."):
            first += mass
        elif name.startswith(f"{len(model) - 1}."):
            last += mass
    return first / total, (total - first - last) / total, last / total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=lambda text: [int(t) for t in text.split(",")], default=[0, 1, 2])
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args(argv)
    start = time.perf_counter()

    xs = newton()
    print("[1] Newton's method on f(x) = x⁴ − 2x², from x = 2 (f' and f'' from tn.grad):")
    print("    " + "  ".join(f"{x:.12f}" for x in xs))
    print(f"    |x − 1| after {len(xs) - 1} steps: {abs(xs[-1] - 1):.1e} (quadratic convergence: the error squares)")

    points = np.array([-2.0, -0.5, 0.0, 0.3, 1.5])
    derivatives, closed = tanh_derivatives(points)
    print("\n[2] tanh's derivatives by repeated tn.grad(create_graph=True), at x =", points.tolist())
    for order, (d, c) in enumerate(zip(derivatives, closed), start=1):
        print(f"    order {order}: {np.array2string(d, precision=6, floatmode='fixed')}   "
              f"max |tape − closed form| = {np.max(np.abs(d - c)):.1e}")

    n_params, hv_norm, error = small_model_hvp(args.seeds[0])
    print("\n[3] Hessian-vector product of a conv + depthwise-separable + attention model's loss\n"
          f"    ({n_params} parameters, float64):")
    difference = "(∇L(θ + εv) − ∇L(θ − εv)) / 2ε"
    print(f"    ‖Hv‖ = {hv_norm:.4g};  ‖Hv − {difference}‖ / ‖{difference}‖ = {error:.1e}  (ε = 1e-5)")

    print(f"\n[4] largest-magnitude Hessian eigenvalue λ of the loss at initialisation: depth {args.depth}, width 16,"
          f" tanh,\n    two-moons (128 points), {args.iterations} power iterations; eigenvector share: first Linear /"
          f" blocks / head")
    print("    seed   plain λ   its share        residual λ   its share        residual / plain")
    ratios = []
    for seed in args.seeds:
        x, y = two_moons(128, 0.1, seed)
        row, values = f"    {seed:>4}", {}
        for name, residual in (("plain", False), ("residual", True)):
            model = classifier(args.depth, 16, "tanh", residual, seed)
            estimates, vector = top_eigenvalue(model, x, y, args.iterations, seed)
            values[name] = estimates[-1]
            settled = abs(estimates[-1] - estimates[-2]) <= 1e-3 * abs(estimates[-1])
            share = "/".join(f"{100 * part:.0f}" for part in eigenvector_share(model, vector)) + " %"
            row += f"   {estimates[-1]:>7.4g}{'' if settled else '?'}   {share:<13}"
        ratios.append(values["residual"] / values["plain"])
        print(row + f"  {ratios[-1]:>10.3g}")
    print("    (? marks an estimate still moving by more than 0.1 % per iteration: raise --iterations)")
    if all(r < 1 / 1.2 for r in ratios):
        verdict = "the plain stack's loss curves more sharply at every seed here"
    elif all(r > 1.2 for r in ratios):
        verdict = "the residual stack's loss curves more sharply at every seed here"
    else:
        verdict = "neither stack curves consistently more sharply: it depends on the seed"
    print(f"    So {verdict}.")
    print("    Near such a point, gradient descent with a fixed step lr diverges along the top eigenvector when\n"
          "    lr > 2/λ (a local, quadratic picture; adaptive optimizers such as Adam rescale the step).")
    print(f"\ndone in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
