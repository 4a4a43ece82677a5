"""Softmax and log-softmax along one axis: numerically stable, with the backward rule derived as a VJP.

Stability
---------
softmax(x)ᵢ = e^{xᵢ} / Σⱼ e^{xⱼ}. Computed literally, e^{1000} overflows to inf and inf/inf is NaN. But the
ratio does not change when the same constant c is subtracted from every xⱼ of a row (the e^{-c} cancels), so
we subtract the row maximum m = maxⱼ xⱼ: every exponent is then ≤ 0, every e^{xⱼ - m} lies in (0, 1], and the
largest is exactly 1, so the sum lies in [1, n] and never overflows or becomes 0.
log-softmax uses the same shift: log softmax(x)ᵢ = (xᵢ - m) - log Σⱼ e^{xⱼ - m}  ("log-sum-exp"), which stays
finite even where softmax itself underflows to 0 (log(0) would be -inf).
"""
from __future__ import annotations

import numpy as np

from ..tensor import as_tensor, make_result
from . import reference as R
from .reference_mode import reference_is_on

__all__ = ["softmax", "log_softmax"]


def _check_axis(op, x, axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: axis must be an int, got {axis!r}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: needs floating-point input, got dtype {x.dtype}")
    ndim = max(x.ndim, 1)                   # a 0-d tensor is treated as one row of length 1, as in PyTorch
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of shape {x.shape} "
                         f"(valid: {-ndim} .. {ndim - 1})")
    return int(axis) % ndim


def softmax(x, axis=-1):
    """s = softmax(x) along ``axis``:  sᵢ = e^{xᵢ - m} / Σⱼ e^{xⱼ - m},  m = maxⱼ xⱼ (the stable form).

    Reference: `R.softmax`.

    Shapes: x, s and the gradients all have x's shape; each 1-D slice along ``axis`` (a "row") is independent.
    A zero-length axis gives an empty result, as in PyTorch.

    Backward, derived.  Within one row, ∂sᵢ/∂xⱼ = sᵢ(δᵢⱼ - sⱼ)  (quotient rule on e^{xᵢ}/Σ).  The Jacobian is
    J = diag(s) - s sᵀ (symmetric), so for an upstream gradient g = dL/ds the vector-Jacobian product is

        dxⱼ = Σᵢ gᵢ ∂sᵢ/∂xⱼ = Σᵢ gᵢ sᵢ(δᵢⱼ - sⱼ) = sⱼ gⱼ - sⱼ Σᵢ gᵢ sᵢ,   i.e.   dx = s ⊙ (g - Σ g ⊙ s),

    with the sum over the row. It costs O(n) per row instead of building the n×n Jacobian. Note that when g is
    the same in every entry of a row (as in ``softmax(x).sum()``), g - Σ g ⊙ s = 0: the rows of s always sum to
    1, so such a loss does not depend on x. Always check this gradient with a *random* g.

    A row that is entirely -inf has no softmax (0/0); it gives NaN, as in PyTorch. Attention masks are handled
    in ``scaled_dot_product_attention``, which defines fully masked rows as zeros.

    Speed: the exponentials are written over x - m and the probabilities over the exponentials (one new array).
    """
    x = as_tensor(x)
    axis = _check_axis("softmax", x, axis)
    if reference_is_on():
        return R.softmax(x, axis)
    if x.size == 0:                                         # nothing to normalise: an empty result
        return make_result("softmax", np.empty(x.shape, x.dtype), (x,), _empty_gradient, lambda t: R.softmax(t, axis))
    data = x.data.reshape(1) if x.ndim == 0 else x.data
    shifted = data - data.max(axis=axis, keepdims=True)     # x - m: a new array (x is never modified), each <= 0
    exps = np.exp(shifted, out=shifted)                     # e^{x - m}, in (0, 1], over x - m (no longer needed)
    probs = np.divide(exps, exps.sum(axis=axis, keepdims=True), out=exps)   # s, over the exponentials
    s = probs.reshape(x.shape)

    def backward(g):
        dot = (g * s).sum(axis=axis, keepdims=True) if x.ndim else (g * s)    # Σ g ⊙ s per row
        return ((g - dot) * s,)

    return make_result("softmax", s, (x,), backward, lambda t: R.softmax(t, axis))


def log_softmax(x, axis=-1):
    """y = log softmax(x) along ``axis``:  yᵢ = (xᵢ - m) - log Σⱼ e^{xⱼ - m},  m = maxⱼ xⱼ.

    Reference: `R.log_softmax`.

    Shapes: x, y and the gradients all have x's shape. A zero-length axis gives an empty result.

    Backward, derived.  yᵢ = xᵢ - LSE(x) with LSE(x) = log Σⱼ e^{xⱼ}, and ∂LSE/∂xⱼ = e^{xⱼ}/Σ e = sⱼ
    (the softmax). So ∂yᵢ/∂xⱼ = δᵢⱼ - sⱼ and, for g = dL/dy,

        dxⱼ = Σᵢ gᵢ (δᵢⱼ - sⱼ) = gⱼ - sⱼ Σᵢ gᵢ,   i.e.   dx = g - s ⊙ Σ g,    with s = e^{y}.

    Taking s = e^{y} in backward reuses the forward result instead of storing a second array.
    """
    x = as_tensor(x)
    axis = _check_axis("log_softmax", x, axis)
    if reference_is_on():
        return R.log_softmax(x, axis)
    if x.size == 0:                                         # nothing to normalise: an empty result
        return make_result("log_softmax", np.empty(x.shape, x.dtype), (x,), _empty_gradient,
                           lambda t: R.log_softmax(t, axis))
    data = x.data.reshape(1) if x.ndim == 0 else x.data
    shifted = data - data.max(axis=axis, keepdims=True)    # x - m: every entry <= 0
    log_sum_exp = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))   # log Σ e^{x - m}, one per row
    y = np.subtract(shifted, log_sum_exp, out=shifted).reshape(x.shape)   # written over x - m

    def backward(g):
        total = g.sum(axis=axis, keepdims=True) if x.ndim else g    # Σ g per row
        return (g - np.exp(y) * total,)

    return make_result("log_softmax", y, (x,), backward, lambda t: R.log_softmax(t, axis))


def _empty_gradient(g):
    """The backward rule of an empty result: the gradient is as empty as the input."""
    return (g,)
