"""Activation functions as functions of a Tensor. The math and backward rules live in
``tinynet/ops/elementwise.py``; these are the ``F.relu(x)`` spellings PyTorch users expect.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops import elementwise
from ..tensor import as_tensor, make_result

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


# ---- GELU and the error function --------------------------------------------------------------------------
# NumPy has no erf, and tinynet depends on NumPy only, so erf is computed here with W. J. Cody-style rational
# approximations whose coefficients come from the Cephes math library (S. L. Moshier, ndtr.c), the same ones
# behind scipy.special.erf. Accuracy: about 1e-16 in float64 (tests/test_gelu.py compares with SciPy), and
# float32 inputs are computed in float32 (about 1e-7).
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)


def _horner(z, coefficients):
    """c₀ zⁿ + c₁ zⁿ⁻¹ + ... + cₙ, evaluated as (((c₀ z + c₁) z + c₂) ...) (Python-float coefficients keep
    z's dtype)."""
    result = np.full_like(z, coefficients[0])
    for c in coefficients[1:]:
        result *= z
        result += c
    return result


def erf(x):
    """The error function erf(x) = (2/√π) ∫₀ˣ e^{-t²} dt of a NumPy array (not a Tensor op: no gradient).

    Two rational approximations (Cephes):
      |x| < 1:  erf(x) = x · T(x²) / U(x²)
      |x| ≥ 1:  erf(x) = sign(x) · (1 - erfc(|x|)),  erfc(a) = e^{-a²} · P(a) / Q(a)
    For a ≥ 6, erfc(a) < 2.2e-17, so erf(x) = ±1 exactly in float64; clipping a at 6 keeps the polynomials
    (degree 8) far from float32 overflow for huge inputs. NaN stays NaN; ±inf gives ±1. Returns an array of
    x's float dtype and shape.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    # Both formulas run on the whole array, each on inputs clipped to its own range (so neither can overflow),
    # and np.where picks one per entry: faster than boolean-mask indexing, which gathers and scatters.
    xs = np.clip(x, -1.0, 1.0)
    z = xs * xs
    inner = xs * _horner(z, _ERF_T) / _horner(z, _ERF_U)           # valid where |x| < 1
    a = np.clip(np.abs(x), 1.0, 6.0)
    erfc_a = np.exp(-a * a) * _horner(a, _ERFC_P) / _horner(a, _ERFC_Q)
    outer = np.copysign(1 - erfc_a, x)                              # valid where |x| >= 1 (and NaN -> NaN)
    return np.where(np.abs(x) < 1, inner, outer)


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_C = 0.044715


def gelu(x, approximate="none"):
    """GELU(x) = x · Φ(x), Φ the standard normal CDF: each input is weighted by how likely a N(0, 1) draw is
    to be below it (so ≈ x for large x, ≈ 0 for very negative x, smooth in between).

    Shapes: x, y and dx all have x's shape.

    ``approximate="none"`` (exact, PyTorch's default):
        Φ(x) = ½ (1 + erf(x/√2)),                y = x Φ(x)
        Backward: d/dx [x Φ(x)] = Φ(x) + x φ(x),  φ(x) = e^{-x²/2} / √(2π) (the normal density, Φ' = φ),
        so  dx = g ⊙ (Φ(x) + x φ(x)).
    ``approximate="tanh"`` (as PyTorch's, from the original GELU paper):
        u = √(2/π) (x + 0.044715 x³),  t = tanh(u),  y = ½ x (1 + t)
        Backward: dy/dx = ½ (1 + t) + ½ x (1 - t²) · √(2/π) (1 + 3·0.044715 x²),  dx = g ⊙ dy/dx.
    """
    x = as_tensor(x)
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if x.dtype.kind != "f":
        raise TypeError(f"gelu: needs floating-point input, got dtype {x.dtype}")
    data = x.data
    if approximate == "none":
        cdf = erf(data * _SQRT_HALF)
        cdf += 1
        cdf *= 0.5                                                  # Φ(x)
        y = data * cdf

        def backward(g):
            pdf = np.exp(data * data * -0.5)
            pdf *= _INV_SQRT_2PI                                    # φ(x)
            pdf *= data
            pdf += cdf                                              # Φ(x) + x φ(x)
            return (g * pdf,)
    else:
        x2 = data * data
        t = np.tanh((_SQRT_2_OVER_PI * data) * (1 + _GELU_C * x2))          # tanh(√(2/π)(x + c x³))
        y = 0.5 * data * (1 + t)

        def backward(g):
            du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x2)
            return (g * (0.5 * (1 + t) + 0.5 * data * (1 - t * t) * du_dx),)

    return make_result("gelu", y, (x,), backward)
