"""The error function erf(x) = (2/√π) ∫₀ˣ e^{-t²} dt and erfc(x) = 1 − erf(x), as NumPy kernels and as
differentiable ops (the exact GELU is x·Φ(x) with Φ(x) = ½ erfc(−x/√2)).

NumPy has no erf, and tinynet depends on NumPy only, so erf and erfc are computed here with rational
approximations whose coefficients come from the Cephes math library (S. L. Moshier, ndtr.c), the same ones
behind scipy.special.erf/erfc. Accuracy: about 1e-16 in float64 (tests/test_gelu.py compares with SciPy);
float32 inputs are computed in float32 (about 1e-7).

The ops ``erf`` and ``erfc`` are primitives with a one-line backward rule each (the derivative of erf is the
Gaussian bump (2/√π) e^{-x²}); ``reference.gelu`` is built from ``erfc``.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.elementwise import exp
from ..autograd import differentiable_rules
from ..tensor import Tensor, as_tensor, make_result

__all__ = ["erf", "erfc", "erf_array", "erfc_array"]

# The rules of the two ops below also work on a Tensor g (they can be differentiated twice: autograd.py).
differentiable_rules("erf", "erfc")

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
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _horner(z, coefficients):
    """c₀ zⁿ + c₁ zⁿ⁻¹ + ... + cₙ, evaluated as (((c₀ z + c₁) z + c₂) ...) (Python-float coefficients keep
    z's dtype)."""
    result = np.full_like(z, coefficients[0])
    for c in coefficients[1:]:
        result *= z
        result += c
    return result


def _as_float_array(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _erf_small(x):
    """erf(x) = x · T(x²) / U(x²), valid for |x| < 1 (x is clipped to [-1, 1] so other entries stay finite)."""
    x = np.clip(x, -1.0, 1.0)
    z = x * x
    return x * _horner(z, _ERF_T) / _horner(z, _ERF_U)


def _erfc_large(a):
    """erfc(a) = e^{-a²} · P(a)/Q(a) for 1 ≤ a < 8 and e^{-a²} · R(a)/S(a) for a ≥ 8, with full *relative*
    accuracy (no 1 - erf cancellation). a is clipped to [1, 27]: erfc(27) ≈ 5e-319, below which float64 is 0;
    the clipping also keeps the degree-8 polynomials finite in float32 for huge inputs."""
    a = np.clip(a, 1.0, 27.0)
    near, far = np.minimum(a, 8.0), np.maximum(a, 8.0)
    ratio = np.where(a < 8, _horner(near, _ERFC_P) / _horner(near, _ERFC_Q),
                     _horner(far, _ERFC_R) / _horner(far, _ERFC_S))
    return np.exp(-a * a) * ratio


def erf_array(x):
    """The error function erf(x) = (2/√π) ∫₀ˣ e^{-t²} dt of a NumPy array
    (the NumPy kernel of the ``erf`` op below).

    |x| < 1: a rational function of x² (``_erf_small``);  |x| ≥ 1: sign(x) · (1 - erfc(|x|)) (``_erfc_large``).
    Both formulas run on the whole array and ``np.where`` picks one per entry (faster than boolean-mask
    indexing). NaN stays NaN; ±inf gives ±1. Returns an array of x's float dtype and shape.
    """
    x = _as_float_array(x)
    outer = np.copysign(1 - _erfc_large(np.abs(x)), x)
    return np.where(np.abs(x) < 1, _erf_small(x), outer)


def erfc_array(x):
    """The complementary error function erfc(x) = 1 - erf(x), accurate *relative to its value* even where
    1 - erf(x) would cancel (erfc(10) ≈ 2e-45 in float64, where 1 - erf(10) is exactly 0).

    |x| < 1: 1 - erf(x);  x ≥ 1: e^{-x²} P/Q or R/S (``_erfc_large``);  x ≤ -1: 2 - erfc(-x).
    """
    x = _as_float_array(x)
    tail = _erfc_large(np.abs(x))
    outer = np.where(x > 0, tail, 2 - tail)
    return np.where(np.abs(x) < 1, 1 - _erf_small(x), outer)


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _gaussian_bump(x, g):
    """(2/√π) e^{-x²}, the derivative of erf, as an array when g is an array and as a Tensor computed from the
    input Tensor x when g is a Tensor (so that the tape can differentiate the gradient again)."""
    if isinstance(g, Tensor):
        return exp(x * x * -1.0) * _TWO_OVER_SQRT_PI
    return np.exp(-(x.data * x.data)) * _TWO_OVER_SQRT_PI


def erf(x):
    """y = erf(x) = (2/√π) ∫₀ˣ e^{-t²} dt, elementwise.   Shapes: x, y, g and dx all alike.

    Backward: d erf/dx = (2/√π) e^{-x²} (the integrand at the upper limit), so  dx = g · (2/√π) e^{-x²}.
    """
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"erf: needs floating-point input, got dtype {x.dtype}")
    return make_result("erf", erf_array(x.data), (x,), lambda g: (g * _gaussian_bump(x, g),))


def erfc(x):
    """y = erfc(x) = 1 − erf(x), elementwise, accurate relative to its value in the right tail.

    Backward: d erfc/dx = −(2/√π) e^{-x²},  so  dx = −g · (2/√π) e^{-x²}.
    """
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"erfc: needs floating-point input, got dtype {x.dtype}")
    return make_result("erfc", erfc_array(x.data), (x,), lambda g: (-g * _gaussian_bump(x, g),))
