"""Activation functions as functions of a Tensor. The math and backward rules live in
``tinynet/ops/elementwise.py``; these are the ``F.relu(x)`` spellings PyTorch users expect.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import differentiable_rules
from ..ops import elementwise
from ..ops.shaping import where
from ..tensor import Tensor, as_tensor, make_result
from . import reference as R
from .erf import erfc_array
from .reference_mode import reference_is_on

__all__ = ["relu", "tanh", "sigmoid", "gelu", "leaky_relu", "softplus", "elu"]

# leaky_relu, softplus and elu have one rule each that also works on a Tensor g (autograd.py): twice
# differentiable. gelu is fused: its second derivative comes from its reference, R.gelu.
differentiable_rules("leaky_relu", "softplus", "elu")


def relu(x):
    """max(x, 0) elementwise (gradient 0 at x = 0)."""
    return elementwise.relu(as_tensor(x))


def tanh(x):
    """tanh(x) elementwise."""
    return elementwise.tanh(as_tensor(x))


def sigmoid(x):
    """1 / (1 + e⁻ˣ) elementwise, computed without overflow."""
    return elementwise.sigmoid(as_tensor(x))


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_C = 0.044715


def gelu(x, approximate="none"):
    """GELU(x) = x · Φ(x), Φ the standard normal CDF: each input is weighted by how likely a N(0, 1) draw is
    to be below it (so ≈ x for large x, ≈ 0 for very negative x, smooth in between).

    Reference: `R.gelu`.

    Shapes: x, y and dx all have x's shape.

    ``approximate="none"`` (exact, PyTorch's default):
        Φ(x) = ½ erfc(-x/√2)  (= ½ (1 + erf(x/√2)), but erfc keeps full precision in the left tail, where
               1 + erf(x/√2) loses every digit: at x = -10, Φ = 7.6e-24 while 1 + erf rounds to 0)
        y = x Φ(x)
        Backward: d/dx [x Φ(x)] = Φ(x) + x φ(x),  φ(x) = e^{-x²/2} / √(2π) (the normal density, Φ' = φ),
        so  dx = g ⊙ (Φ(x) + x φ(x)).
    ``approximate="tanh"`` (as PyTorch's, from the GELU paper):
        u = √(2/π) (x + 0.044715 x³),  y = ½ x (1 + tanh u) = x σ(2u)   (since ½ (1 + tanh u) = σ(2u);
        the sigmoid form avoids the same cancellation 1 + tanh u → 0 for very negative x)
        Backward, with s = σ(2u):  dy/dx = s + x · 2 s (1 - s) · du/dx,  du/dx = √(2/π) (1 + 3·0.044715 x²),
        so  dx = g ⊙ dy/dx.
    """
    x = as_tensor(x)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if x.dtype.kind != "f":
        raise TypeError(f"gelu: needs floating-point input, got dtype {x.dtype}")
    if reference_is_on():
        return R.gelu(x, approximate)
    data = x.data
    if approximate == "none":
        cdf = erfc_array(data * -_SQRT_HALF)
        cdf *= 0.5                                                  # Φ(x) = ½ erfc(−x/√2), built in place
        y = data * cdf

        def backward(g):
            dydx = np.exp(data * data * -0.5)                       # dy/dx, built in place:
            dydx *= _INV_SQRT_2PI                                   # φ(x)
            dydx *= data                                            # x φ(x)
            dydx += cdf                                             # Φ(x) + x φ(x)
            return (g * dydx,)
    else:
        x2 = data * data
        two_u = (2 * _SQRT_2_OVER_PI * data) * (1 + _GELU_C * x2)    # 2u = 2√(2/π)(x + c x³)
        decay = np.exp(-np.abs(two_u))                               # the stable sigmoid (see ops/elementwise.py)
        s = np.where(two_u >= 0, 1, decay) / (1 + decay)             # s = σ(2u)
        y = data * s

        def backward(g):
            du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x2)
            return (g * (s + data * (2 * s * (1 - s)) * du_dx),)

    return make_result("gelu", y, (x,), backward, lambda t: R.gelu(t, approximate))


# ---- leaky_relu, softplus, elu ------------------------------------------------------------------------------
# Their rules work for an array g (ordinary backward) and for a Tensor g (a gradient to be differentiated again):
# piecewise-constant factors stay arrays; smooth factors are recomputed from the input Tensor with tinynet ops.


def _activation_input(op, x):
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: needs floating-point input, got dtype {x.dtype}")
    return x


def _number(op, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def leaky_relu(x, negative_slope=0.01):
    """y = x for x > 0, negative_slope · x otherwise: a ReLU that keeps a small gradient for negative inputs.

    f'(x) = 1 for x > 0, negative_slope for x <= 0 (PyTorch's choice at the kink x = 0), so
        dx = g * where(x > 0, 1, negative_slope)   (a piecewise-constant array for either kind of g).
    Shapes: x, y, g and dx all have x's shape.
    """
    x = _activation_input("leaky_relu", x)
    slope = np.asarray(_number("leaky_relu", "negative_slope", negative_slope), dtype=x.dtype)
    positive = x.data > 0
    y = np.where(positive, x.data, x.data * slope)
    factor = np.where(positive, 1, slope).astype(x.dtype)
    return make_result("leaky_relu", y, (x,), lambda g: (g * factor,))


def softplus(x, beta=1.0, threshold=20.0):
    """y = (1/β) log(1 + e^{βx}): a smooth ReLU; above the threshold (βx > threshold) it is x itself, as PyTorch.

    Stable form: log(1 + eᶻ) = max(z, 0) + log1p(e^{-|z|}) with z = βx, so e^{-|z|} ≤ 1 never overflows (the
    naive form gives inf at z = 1000) and log1p keeps the digits of the tiny tail for very negative z.
    Backward: d/dx (1/β) log(1 + e^{βx}) = e^{βx} / (1 + e^{βx}) = σ(βx), and 1 above the threshold:
        dx = g * σ(βx)  where βx <= threshold,   dx = g  where βx > threshold.
    (For a Tensor g, σ(βx) is recomputed with tinynet's sigmoid, so its own derivative βσ(1 - σ) is recorded.)
    ``beta`` must not be 0.
    """
    x = _activation_input("softplus", x)
    beta = _number("softplus", "beta", beta)
    threshold = _number("softplus", "threshold", threshold)
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero (y = log(1 + e^{βx}) / β), got 0")
    z = x.data * np.asarray(beta, dtype=x.dtype)
    linear = z > threshold
    smooth = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / np.asarray(beta, dtype=x.dtype)
    y = np.where(linear, x.data, smooth)
    e = np.exp(-np.abs(z))
    sigma = np.where(z >= 0, 1, e) / (1 + e)                 # σ(βx), the stable sigmoid of ops/elementwise.py

    def backward(g):
        if not isinstance(g, Tensor):                   # an array g: the ordinary backward
            return (np.where(linear, g, g * sigma),)
        return (where(linear, g, g * elementwise.sigmoid(x * beta)),)

    return make_result("softplus", y, (x,), backward)


def elu(x, alpha=1.0):
    """y = x for x > 0, α (eˣ - 1) for x <= 0: smooth below 0, saturating at -α.

    f'(x) = 1 for x > 0 and α eˣ for x <= 0 (PyTorch's choice at x = 0), so
        dx = g * where(x > 0, 1, α eˣ).
    eˣ is evaluated at min(x, 0) only, so a large positive x never overflows it (and, for a Tensor g, never
    puts an inf into the recorded gradient computation, where 0 * inf would give NaN). expm1 keeps the digits
    of α (eˣ - 1) for tiny negative x.
    """
    x = _activation_input("elu", x)
    alpha = np.asarray(_number("elu", "alpha", alpha), dtype=x.dtype)
    positive = x.data > 0
    negative_part = np.where(positive, 0, x.data)                         # min(x, 0), with 0 where x > 0
    y = np.where(positive, x.data, alpha * np.expm1(negative_part))

    def backward(g):
        if not isinstance(g, Tensor):                   # an array g: the ordinary backward
            return (g * np.where(positive, 1, alpha * np.exp(negative_part)),)
        slope = where(positive, 1.0, elementwise.exp(where(positive, 0.0, x)) * alpha)
        return (g * slope,)

    return make_result("elu", y, (x,), backward)
