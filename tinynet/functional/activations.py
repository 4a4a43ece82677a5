"""Activation functions as functions of a Tensor. The math and backward rules live in
``tinynet/ops/elementwise.py``; these are the ``F.relu(x)`` spellings PyTorch users expect.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops import elementwise
from ..tensor import as_tensor, make_result
from . import reference as R
from .erf import erfc_array
from .reference_mode import reference_is_on

__all__ = ["relu", "tanh", "sigmoid", "gelu"]


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
