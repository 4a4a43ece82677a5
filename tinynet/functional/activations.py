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
# NumPy has no erf, and tinynet depends on NumPy only, so erf and erfc are computed here with rational
# approximations whose coefficients come from the Cephes math library (S. L. Moshier, ndtr.c), the same ones
# behind scipy.special.erf/erfc. Accuracy: about 1e-16 in float64 (tests/test_gelu.py compares with SciPy);
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


def erf(x):
    """The error function erf(x) = (2/√π) ∫₀ˣ e^{-t²} dt of a NumPy array (not a Tensor op: no gradient).

    |x| < 1: a rational function of x² (``_erf_small``);  |x| ≥ 1: sign(x) · (1 - erfc(|x|)) (``_erfc_large``).
    Both formulas run on the whole array and ``np.where`` picks one per entry (faster than boolean-mask
    indexing). NaN stays NaN; ±inf gives ±1. Returns an array of x's float dtype and shape.
    """
    x = _as_float_array(x)
    outer = np.copysign(1 - _erfc_large(np.abs(x)), x)
    return np.where(np.abs(x) < 1, _erf_small(x), outer)


def erfc(x):
    """The complementary error function erfc(x) = 1 - erf(x), accurate *relative to its value* even where
    1 - erf(x) would cancel (erfc(10) ≈ 2e-45 in float64, where 1 - erf(10) is exactly 0).

    |x| < 1: 1 - erf(x);  x ≥ 1: e^{-x²} P/Q or R/S (``_erfc_large``);  x ≤ -1: 2 - erfc(-x).
    """
    x = _as_float_array(x)
    tail = _erfc_large(np.abs(x))
    outer = np.where(x > 0, tail, 2 - tail)
    return np.where(np.abs(x) < 1, 1 - _erf_small(x), outer)


_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_C = 0.044715


def gelu(x, approximate="none"):
    """GELU(x) = x · Φ(x), Φ the standard normal CDF: each input is weighted by how likely a N(0, 1) draw is
    to be below it (so ≈ x for large x, ≈ 0 for very negative x, smooth in between).

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
    data = x.data
    if approximate == "none":
        cdf = erfc(data * -_SQRT_HALF)
        cdf *= 0.5                                                  # Φ(x)
        y = data * cdf

        def backward(g):
            dydx = np.exp(data * data * -0.5)
            dydx *= _INV_SQRT_2PI                                   # φ(x)
            dydx *= data
            dydx += cdf                                             # Φ(x) + x φ(x)
            return (g * dydx,)
    else:
        x2 = data * data
        two_u = (2 * _SQRT_2_OVER_PI * data) * (1 + _GELU_C * x2)    # 2u = 2√(2/π)(x + c x³)
        e = np.exp(-np.abs(two_u))                                   # the stable sigmoid (see ops/elementwise.py)
        s = np.where(two_u >= 0, 1, e) / (1 + e)                     # s = σ(2u)
        y = data * s

        def backward(g):
            du_dx = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x2)
            return (g * (s + data * (2 * s * (1 - s)) * du_dx),)

    return make_result("gelu", y, (x,), backward)


# ---- leaky_relu, softplus, elu ------------------------------------------------------------------------------
# Their rules work for an array g (ordinary backward) and for a Tensor g (a gradient to be differentiated again):
# piecewise-constant factors stay arrays; smooth factors are recomputed from the input Tensor with tinynet ops.
from ..autograd import differentiable_rules  # noqa: E402
from ..ops.shaping import where  # noqa: E402
from ..tensor import Tensor  # noqa: E402

__all__ += ["leaky_relu", "softplus", "elu"]
differentiable_rules("leaky_relu", "softplus", "elu")


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
