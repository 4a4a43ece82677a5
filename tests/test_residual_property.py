"""The residual theorem as a Hypothesis property, checked on gradients from tinynet's own tape.

Theorem (g_l = ∂L/∂x_l, ‖·‖ Euclidean norm, ‖·‖₂ spectral norm; full statement and proof in
``tinynet/diagnostics.py``):

* plain stack x_{l+1} = φ(W_l x_l + b_l) with |φ'| ≤ s:      ‖g_0‖ ≤ Π_l (s‖W_l‖₂) · ‖g_L‖;
* residual stack x_{l+1} = x_l + f_l(x_l), ‖Df_l‖₂ ≤ c_l:   Π(1 − c_l) ≤ ‖g_0‖/‖g_L‖ ≤ Π(1 + c_l),
  and with Σ c_l ≤ γ < 1 the ratio lies in [1 − γ, e^γ] at every depth.

Proof sketch: J_lᵀ g = W_lᵀ D_l g with ‖D_l‖₂ ≤ s, so each plain layer shrinks ‖g‖ by at most s‖W_l‖₂; a residual
layer has J_l = I + A_l with ‖A_l‖₂ ≤ c_l, so (1 − c_l)‖g‖ ≤ ‖J_lᵀ g‖ ≤ (1 + c_l)‖g‖ by the triangle inequality.

How the tests are built
-----------------------
Hypothesis draws the activation (sigmoid, s = 1/4; tanh, s = 1), depth L ∈ [1, 64], width, batch size, ρ ≤ 1,
γ < 1, an input/bias scale and a seed; every array comes from ``np.random.default_rng(seed)``. Weights are
spectrally normalised, W ← (W / ‖W‖₂)·ρ (divide first: W·(ρ/‖W‖₂) overflows to inf/NaN when ‖W‖₂ is subnormal).
The stacks are ``nn.Sequential`` / ``nn.Residual`` / ``nn.Linear`` / ``nn.Sigmoid`` / ``nn.Tanh`` in float64;
the gradient is ``x0.grad`` after ``(x_L * g).sum().backward()``. The bounds are computed from the spectral
norms of the weights the stack actually holds, and are asserted with 1e-9 relative slack (round-off of an
L-layer product is ~L·n^1.5·ε ≲ 1e-11). The sharpness tests show the bounds are attained, so that slack hides
nothing, and small stacks pass ``tn.gradcheck``, so the property is about true gradients.

These tests are theorems, not statistics: they must never fail. Soak run (documented in the README):

    TINYNET_EXAMPLES=2000 python -m pytest tests/test_residual_property.py tests/test_residual_conv_property.py
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import tinynet as tn
from tinynet import nn
from tinynet.diagnostics import grad_norm, spectral_norm
from tinynet.testing import seeds

SLACK = 1e-9
ACTIVATIONS = {"sigmoid": (nn.Sigmoid, 0.25), "tanh": (nn.Tanh, 1.0)}   # layer, s = sup |φ'|


# ---- building the stacks -------------------------------------------------------------------------------------
def normalised(w, rho):
    """(W / ‖W‖₂)·ρ: spectral norm exactly ρ up to ~1e-15 (a numerically zero matrix stays zero)."""
    s = np.linalg.norm(w, 2)
    if not s > 1e-150:
        return np.zeros_like(w)
    return (w / s) * rho


def linear(weight, bias):
    layer = nn.Linear(weight.shape[1], weight.shape[0], dtype=np.float64)
    layer.weight.data = np.array(weight, dtype=np.float64)
    layer.bias.data = np.array(bias, dtype=np.float64)
    return layer


def plain_stack(linears, act):
    return nn.Sequential(*[nn.Sequential(lin, ACTIVATIONS[act][0]()) for lin in linears])


def residual_stack(linears, act, alpha):
    return nn.Sequential(*[nn.Residual(nn.Sequential(lin, ACTIVATIONS[act][0](), nn.Scale(alpha))) for lin in linears])


def input_gradient(stack, x, g):
    """∂L/∂x_0 from tinynet's tape for L = Σ x_L * g."""
    x0 = tn.Tensor(np.array(x, dtype=np.float64), requires_grad=True)
    (stack(x0) * tn.Tensor(g)).sum().backward()
    return x0.grad


@st.composite
def configs(draw, act=None, max_depth=64, max_width=48):
    """Everything Hypothesis chooses; the arrays then come from the seed."""
    return dict(act=act or draw(st.sampled_from(sorted(ACTIVATIONS))),
                depth=draw(st.integers(1, max_depth)),
                width=draw(st.integers(1, max_width)),
                batch=draw(st.integers(1, 3)),
                rho=draw(st.one_of(st.just(1.0), st.just(0.0), st.floats(0.05, 1.0))),
                spread=draw(st.booleans()),          # per-layer norms ρ_l = ρ·u_l, u_l ~ U(0, 1)
                gamma=draw(st.one_of(st.just(0.0), st.floats(0.0, 0.99))),
                scale=draw(st.sampled_from([0.0, 0.1, 1.0, 10.0, 100.0])),
                seed=draw(seeds()))


def draw_arrays(cfg):
    """Weights (spectral norm ρ_l ≤ ρ), biases, input and upstream gradient, all from cfg["seed"]."""
    rng = np.random.default_rng(cfg["seed"])
    L, n, B = cfg["depth"], cfg["width"], cfg["batch"]
    rhos = cfg["rho"] * (rng.uniform(0, 1, L) if cfg["spread"] else np.ones(L))
    weights = [normalised(rng.standard_normal((n, n)), r) for r in rhos]
    biases = [rng.standard_normal(n) * cfg["scale"] for _ in range(L)]
    x = rng.standard_normal((B, n)) * cfg["scale"]
    g = rng.standard_normal((B, n))
    return weights, biases, x, g


def residual_alpha(cfg):
    """α with Σ_l α·s·‖W_l‖₂ ≤ γ, i.e. c_l ≤ γ/L."""
    s = ACTIVATIONS[cfg["act"]][1]
    return cfg["gamma"] / (cfg["depth"] * cfg["rho"] * s) if cfg["rho"] > 0 else 1.0


def assert_plain_bound(stack, s, ratio):
    norms = [spectral_norm(block[0].weight) for block in stack]
    bound = math.prod(s * w for w in norms)
    assert ratio <= bound * (1 + SLACK), f"plain ratio {ratio:.17g} > bound Π s‖W_l‖₂ = {bound:.17g}"
    return bound


def assert_residual_bounds(stack, s, alpha, gamma, ratio):
    cs = [alpha * s * spectral_norm(block.block[0].weight) for block in stack]
    assert sum(cs) <= gamma * (1 + 1e-12) + 1e-300, f"branch Lipschitz constants sum to {sum(cs)} > γ = {gamma}"
    lower, upper = math.prod(1 - c for c in cs), math.prod(1 + c for c in cs)
    assert ratio >= lower * (1 - SLACK), f"residual ratio {ratio:.17g} < Π(1 − c_l) = {lower:.17g}"
    assert ratio <= upper * (1 + SLACK), f"residual ratio {ratio:.17g} > Π(1 + c_l) = {upper:.17g}"
    # the depth-free corollary
    assert (1 - gamma) * (1 - SLACK) <= ratio <= math.exp(gamma) * (1 + SLACK)


# ---- P1–P3: the theorem on seeded random stacks --------------------------------------------------------------
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@given(data=st.data())
def test_plain_stack_input_gradient_decays_geometrically(act, data):
    cfg = data.draw(configs(act), label="cfg")
    weights, biases, x, g = draw_arrays(cfg)
    stack = plain_stack([linear(w, b) for w, b in zip(weights, biases)], cfg["act"])
    ratio = grad_norm(input_gradient(stack, x, g)) / grad_norm(g)
    bound = assert_plain_bound(stack, ACTIVATIONS[cfg["act"]][1], ratio)
    # the weights really are normalised, so the bound is the corollary's (ρs)^L or smaller
    assert bound <= (ACTIVATIONS[cfg["act"]][1] * cfg["rho"]) ** cfg["depth"] * (1 + 1e-12)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@given(data=st.data())
def test_residual_stack_input_gradient_is_preserved(act, data):
    cfg = data.draw(configs(act), label="cfg")
    weights, biases, x, g = draw_arrays(cfg)
    alpha = residual_alpha(cfg)
    stack = residual_stack([linear(w, b) for w, b in zip(weights, biases)], cfg["act"], alpha)
    ratio = grad_norm(input_gradient(stack, x, g)) / grad_norm(g)
    assert_residual_bounds(stack, ACTIVATIONS[cfg["act"]][1], alpha, cfg["gamma"], ratio)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@given(data=st.data())
def test_residual_beats_plain_by_exponential_factor(act, data):
    cfg = data.draw(configs(act), label="cfg")
    """Same Linear layers, only the skip toggled: plain/residual ≤ Π s‖W_l‖₂ / (1 − γ), e.g. for sigmoid with
    ρ = 1 the residual ratio is at least (1 − γ)·4^L times the plain one."""
    weights, biases, x, g = draw_arrays(cfg)
    s, alpha = ACTIVATIONS[cfg["act"]][1], residual_alpha(cfg)
    linears = [linear(w, b) for w, b in zip(weights, biases)]
    plain, residual = plain_stack(linears, cfg["act"]), residual_stack(linears, cfg["act"], alpha)
    plain_ratio = grad_norm(input_gradient(plain, x, g)) / grad_norm(g)
    residual_ratio = grad_norm(input_gradient(residual, x, g)) / grad_norm(g)
    bound = assert_plain_bound(plain, s, plain_ratio)
    assert_residual_bounds(residual, s, alpha, cfg["gamma"], residual_ratio)
    assert plain_ratio * (1 - cfg["gamma"]) <= residual_ratio * bound * (1 + 3 * SLACK)


# ---- P4: adversarial values (raw Hypothesis floats, subnormals included), then normalised --------------------
def raw(shape):
    return hnp.arrays(np.float64, shape, elements=st.floats(-1e3, 1e3, allow_subnormal=True))


@settings(max_examples=max(10, settings().max_examples))
@given(data=st.data(), act=st.sampled_from(sorted(ACTIVATIONS)), depth=st.integers(1, 6), width=st.integers(1, 4),
       rho=st.one_of(st.just(0.0), st.floats(1e-100, 1.0)), gamma=st.floats(0.0, 0.99))
def test_bounds_hold_for_adversarial_values(data, act, depth, width, rho, gamma):
    n = width
    weights = [normalised(data.draw(raw((n, n))), rho) for _ in range(depth)]
    biases = [data.draw(raw((n,))) for _ in range(depth)]
    x, g = data.draw(raw((1, n))), data.draw(raw((1, n)))
    assume(grad_norm(g) > 1e-150)
    s = ACTIVATIONS[act][1]
    linears = [linear(w, b) for w, b in zip(weights, biases)]
    plain = plain_stack(linears, act)
    assert_plain_bound(plain, s, grad_norm(input_gradient(plain, x, g)) / grad_norm(g))
    alpha = gamma / (depth * rho * s) if rho > 0 else 1.0
    residual = residual_stack(linears, act, alpha)
    assert_residual_bounds(residual, s, alpha, gamma, grad_norm(input_gradient(residual, x, g)) / grad_norm(g))


# ---- sharpness: the bounds are attained, so the 1e-9 slack hides nothing --------------------------------------
def orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


@given(depth=st.integers(1, 64), width=st.integers(1, 32), rho=st.floats(0.05, 1.0), seed=seeds())
def test_plain_bound_is_attained_with_zero_preactivations(depth, width, rho, seed):
    """Orthogonal W_l·ρ and b_l = −W_l x_l put every pre-activation at 0, where σ' = 1/4: ratio = (ρ/4)^L."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, width))
    linears, h = [], x[0]
    for _ in range(depth):
        w = orthogonal(rng, width) * rho
        linears.append(linear(w, -(w @ h)))
        h = np.full(width, 0.5)                       # σ(0)
    g = rng.standard_normal((1, width))
    ratio = grad_norm(input_gradient(plain_stack(linears, "sigmoid"), x, g)) / grad_norm(g)
    assert abs(ratio / (rho / 4) ** depth - 1) < 1e-12


@given(depth=st.integers(1, 64), width=st.integers(1, 32), gamma=st.floats(0.01, 0.99), sign=st.sampled_from([-1, 1]),
       seed=seeds())
def test_residual_bounds_are_attained(depth, width, gamma, sign, seed):
    """W_l = ±I, α = 4γ/L and pre-activations at 0 make J_l = (1 ± γ/L)·I: ratio = (1 ± γ/L)^L exactly."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, width))
    alpha = 4 * gamma / depth
    linears, h = [], x[0]
    for _ in range(depth):
        linears.append(linear(sign * np.eye(width), -sign * h))
        h = h + alpha * 0.5
    g = rng.standard_normal((1, width))
    ratio = grad_norm(input_gradient(residual_stack(linears, "sigmoid", alpha), x, g)) / grad_norm(g)
    assert abs(ratio / (1 + sign * gamma / depth) ** depth - 1) < 1e-12


# ---- the gradients are true gradients ------------------------------------------------------------------------
@settings(max_examples=max(5, settings().max_examples // 2))
@given(cfg=configs(max_depth=3, max_width=4), residual=st.booleans())
def test_small_stacks_pass_gradcheck(cfg, residual):
    weights, biases, x, g = draw_arrays(cfg)
    linears = [linear(w, b) for w, b in zip(weights, biases)]
    stack = residual_stack(linears, cfg["act"], residual_alpha(cfg)) if residual else plain_stack(linears, cfg["act"])
    assert tn.gradcheck(lambda t: stack(t), [x], mode="full", grad_output=g, seed=cfg["seed"])
