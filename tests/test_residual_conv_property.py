"""The residual theorem for depthwise + pointwise conv stacks, checked on gradients from tinynet's tape.

A block is  z = P·DW(x) + biases,  y = φ(z)  (depthwise 3x3 with zero padding 1, then pointwise 1x1); plain stacks
apply it, residual stacks add it: x + α·φ(z). The theorem of ``tinynet/diagnostics.py`` needs the operator norm
of the linear part, and two facts bound it without ever forming the (C·H·W)² matrix:

* a zero-padded depthwise conv is Σ_taps k_c[tap]·(a zero-fill shift of channel c), and a zero-fill shift has
  operator norm ≤ 1, so ‖DW‖₂ ≤ max_c ‖k_c‖₁  (``depthwise_norm_bound``; checked against a dense matrix in
  ``tests/test_diagnostics.py``);
* a pointwise conv applies the same C×C matrix P at every pixel (block-diagonal), so ‖PW‖₂ = ‖P‖₂.

Hence ‖D(block)‖₂ ≤ s·max_c‖k_c‖₁·‖P‖₂, and the tests assert

    plain:     ‖g_0‖/‖g_L‖ ≤ Π_l s·max_c‖k_{l,c}‖₁·‖P_l‖₂
    residual:  Π(1 − c_l) ≤ ‖g_0‖/‖g_L‖ ≤ Π(1 + c_l),   c_l = α·s·max_c‖k_{l,c}‖₁·‖P_l‖₂,   Σ c_l ≤ γ < 1

with 1e-9 relative slack, for Hypothesis-drawn depth (1–64), channels, image size, batch, ρ ≤ 1, γ < 1,
activation, input/bias scale and seed; kernels are normalised k ← (k / max_c‖k_c‖₁)·ρ_dw and P ← (P / ‖P‖₂)·ρ
(divide first). Soak: ``TINYNET_EXAMPLES=2000 python -m pytest tests/test_residual_conv_property.py``.
"""
import math

import numpy as np
from hypothesis import given, settings, strategies as st

import tinynet as tn
from tinynet import nn
from tinynet.diagnostics import depthwise_norm_bound, grad_norm, spectral_norm
from tinynet.testing import seeds

SLACK = 1e-9
ACTIVATIONS = {"sigmoid": (nn.Sigmoid, 0.25), "tanh": (nn.Tanh, 1.0)}


def conv_pair(kernel, dw_bias, pointwise, pw_bias):
    """nn.DepthwiseConv2d (3x3, padding 1) and nn.PointwiseConv2d holding the given float64 arrays."""
    channels = kernel.shape[0]
    dw = nn.DepthwiseConv2d(channels, kernel_size=3, padding=1, dtype=np.float64)
    pw = nn.PointwiseConv2d(channels, channels, dtype=np.float64)
    dw.weight.data, dw.bias.data = kernel.copy(), dw_bias.copy()
    pw.weight.data, pw.bias.data = pointwise.reshape(channels, channels, 1, 1).copy(), pw_bias.copy()
    return dw, pw


def plain_stack(pairs, act):
    return nn.Sequential(*[nn.Sequential(dw, pw, ACTIVATIONS[act][0]()) for dw, pw in pairs])


def residual_stack(pairs, act, alpha):
    return nn.Sequential(*[nn.Residual(nn.Sequential(dw, pw, ACTIVATIONS[act][0](), nn.Scale(alpha)))
                           for dw, pw in pairs])


def input_gradient(stack, x, g):
    x0 = tn.Tensor(np.array(x), requires_grad=True)
    (stack(x0) * tn.Tensor(g)).sum().backward()
    return x0.grad


def block_norms(pairs):
    """max_c‖k_c‖₁·‖P‖₂ for each block, from the weights the layers hold."""
    return [depthwise_norm_bound(dw.weight) * spectral_norm(pw.weight) for dw, pw in pairs]


@st.composite
def configs(draw, max_depth=64):
    return dict(act=draw(st.sampled_from(sorted(ACTIVATIONS))),
                depth=draw(st.integers(1, max_depth)),
                channels=draw(st.integers(1, 6)),
                size=draw(st.integers(1, 6)),
                batch=draw(st.integers(1, 2)),
                rho=draw(st.one_of(st.just(1.0), st.just(0.0), st.floats(0.05, 1.0))),
                spread=draw(st.booleans()),
                gamma=draw(st.one_of(st.just(0.0), st.floats(0.0, 0.99))),
                scale=draw(st.sampled_from([0.0, 0.1, 1.0, 10.0, 100.0])),
                seed=draw(seeds()))


def draw_stack_arrays(cfg):
    """Normalised kernels (max_c‖k_c‖₁ = ρ_dw ≤ 1) and pointwise matrices (‖P‖₂ = ρ_l ≤ ρ), biases, x and g."""
    rng = np.random.default_rng(cfg["seed"])
    L, C, H, B = cfg["depth"], cfg["channels"], cfg["size"], cfg["batch"]
    rhos = cfg["rho"] * (rng.uniform(0, 1, L) if cfg["spread"] else np.ones(L))
    pairs = []
    for rho in rhos:
        k = rng.standard_normal((C, 1, 3, 3))
        k = k / np.abs(k).sum(axis=(1, 2, 3)).max()          # max_c ‖k_c‖₁ = 1
        if cfg["spread"]:
            k = k * rng.uniform(0.5, 1.0)
        p = rng.standard_normal((C, C))
        p = (p / np.linalg.norm(p, 2)) * rho
        pairs.append(conv_pair(k, rng.standard_normal(C) * cfg["scale"], p, rng.standard_normal(C) * cfg["scale"]))
    x = rng.standard_normal((B, C, H, H)) * cfg["scale"]
    g = rng.standard_normal((B, C, H, H))
    return pairs, x, g


def alpha_for(cfg):
    s = ACTIVATIONS[cfg["act"]][1]
    return cfg["gamma"] / (cfg["depth"] * cfg["rho"] * s) if cfg["rho"] > 0 else 1.0


@given(cfg=configs())
def test_plain_conv_stack_gradient_is_bounded_by_the_product(cfg):
    pairs, x, g = draw_stack_arrays(cfg)
    s = ACTIVATIONS[cfg["act"]][1]
    ratio = grad_norm(input_gradient(plain_stack(pairs, cfg["act"]), x, g)) / grad_norm(g)
    bound = math.prod(s * c for c in block_norms(pairs))
    assert ratio <= bound * (1 + SLACK), f"plain conv ratio {ratio:.17g} > bound {bound:.17g}"
    assert bound <= (s * cfg["rho"]) ** cfg["depth"] * (1 + 1e-12)


@given(cfg=configs())
def test_residual_conv_stack_gradient_is_preserved(cfg):
    pairs, x, g = draw_stack_arrays(cfg)
    s, alpha, gamma = ACTIVATIONS[cfg["act"]][1], alpha_for(cfg), cfg["gamma"]
    ratio = grad_norm(input_gradient(residual_stack(pairs, cfg["act"], alpha), x, g)) / grad_norm(g)
    cs = [alpha * s * c for c in block_norms(pairs)]
    # This checks the test's own choice of α; the absolute term (as in the dense test) covers a subnormal γ,
    # whose products α·s·c have no relative precision left.
    assert sum(cs) <= gamma * (1 + 1e-12) + 1e-300
    lower, upper = math.prod(1 - c for c in cs), math.prod(1 + c for c in cs)
    assert lower * (1 - SLACK) <= ratio <= upper * (1 + SLACK), f"{ratio:.17g} not in [{lower:.17g}, {upper:.17g}]"
    assert (1 - gamma) * (1 - SLACK) <= ratio <= math.exp(gamma) * (1 + SLACK)


@given(cfg=configs())
def test_residual_conv_beats_plain_by_exponential_factor(cfg):
    pairs, x, g = draw_stack_arrays(cfg)
    s, alpha, gamma = ACTIVATIONS[cfg["act"]][1], alpha_for(cfg), cfg["gamma"]
    plain = grad_norm(input_gradient(plain_stack(pairs, cfg["act"]), x, g)) / grad_norm(g)
    residual = grad_norm(input_gradient(residual_stack(pairs, cfg["act"], alpha), x, g)) / grad_norm(g)
    assert plain * (1 - gamma) <= residual * (s * cfg["rho"]) ** cfg["depth"] * (1 + 3 * SLACK)


@settings(max_examples=max(5, settings().max_examples // 2))
@given(cfg=configs(max_depth=2), residual=st.booleans())
def test_small_conv_stacks_pass_gradcheck(cfg, residual):
    cfg = dict(cfg, channels=min(cfg["channels"], 2), size=min(cfg["size"], 3))
    pairs, x, g = draw_stack_arrays(cfg)
    stack = residual_stack(pairs, cfg["act"], alpha_for(cfg)) if residual else plain_stack(pairs, cfg["act"])
    assert tn.gradcheck(lambda t: stack(t), [x], mode="full", grad_output=g, seed=cfg["seed"])


@given(depth=st.integers(1, 32), channels=st.integers(1, 4), size=st.integers(1, 5), seed=seeds())
def test_plain_conv_bound_is_attained_on_a_centre_tap_kernel(depth, channels, size, seed):
    """With only the centre tap (k = e_centre, so DW = I) and an orthogonal P, each block is exactly an MLP
    layer per pixel: biases zeroing the pre-activations make the ratio exactly (1/4)^L, the bound."""
    rng = np.random.default_rng(seed)
    k = np.zeros((channels, 1, 3, 3))
    k[:, 0, 1, 1] = 1.0
    x = rng.standard_normal((1, channels, 1, 1)) * np.ones((1, channels, size, size))   # constant per channel
    pairs, h = [], x[0, :, 0, 0]
    for _ in range(depth):
        q, r = np.linalg.qr(rng.standard_normal((channels, channels)))
        pairs.append(conv_pair(k, np.zeros(channels), q, -(q @ h)))
        h = np.full(channels, 0.5)
    g = rng.standard_normal(x.shape)
    ratio = grad_norm(input_gradient(plain_stack(pairs, "sigmoid"), x, g)) / grad_norm(g)
    assert abs(ratio / 0.25 ** depth - 1) < 1e-12
