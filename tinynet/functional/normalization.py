"""Layer normalization: each sample's features rescaled to mean 0 and variance 1, then an affine map."""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import as_tensor, make_result
from . import reference as R
from .reference_mode import reference_is_on

__all__ = ["layer_norm"]


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x - μ) / √(σ² + ε) · w + b, with μ, σ² the mean and (biased) variance over the last axes.

    Reference: `R.layer_norm`.

    Shapes: x (*, *normalized_shape), e.g. (N, L, E) with normalized_shape (E,); weight and bias have shape
    normalized_shape; y has x's shape. Below, one "row" is one slice over the normalized axes, with n entries;
    μ, σ² and r = 1/√(σ² + ε) are per row, and x̂ = (x - μ)·r is the normalized row.

    Forward:   μ = (1/n) Σ x,   σ² = (1/n) Σ (x - μ)²,   x̂ = (x - μ) r,   y = x̂ ⊙ w + b

    Backward, derived. Let g = dL/dy. The affine part gives
        db = Σ_rows g,     dw = Σ_rows g ⊙ x̂     (w and b are shared by every row, so their gradients add up),
        dx̂ = g ⊙ w.
    For one row, x̂ⱼ = (xⱼ - μ) r depends on xₖ directly and through μ and r:
        ∂μ/∂xₖ = 1/n,    ∂σ²/∂xₖ = (2/n)(xₖ - μ)   (the Σ (x - μ) ∂μ/∂xₖ term vanishes: Σ (x - μ) = 0),
        ∂r/∂xₖ = -½ (σ² + ε)^{-3/2} ∂σ²/∂xₖ = -(r³/n)(xₖ - μ) = -(r²/n) x̂ₖ,
        ∂x̂ⱼ/∂xₖ = r (δⱼₖ - 1/n) + (xⱼ - μ) ∂r/∂xₖ = (r/n) (n δⱼₖ - 1 - x̂ⱼ x̂ₖ).
    So  dxₖ = Σⱼ dx̂ⱼ ∂x̂ⱼ/∂xₖ = (r/n) (n dx̂ₖ - Σⱼ dx̂ⱼ - x̂ₖ Σⱼ dx̂ⱼ x̂ⱼ), i.e. with means over the row

        dx = r ⊙ (dx̂ - mean(dx̂) - x̂ ⊙ mean(dx̂ ⊙ x̂)).

    Reading it: the gradient loses its component along the all-ones direction (shifting a row does not change
    x̂) and along x̂ (scaling a row does not change x̂ either, up to ε).

    Speed: the code views x as a matrix X (R, n), one row per normalized slice, so every "per row" quantity is
    an (R, 1) column. Row sums of products, Σⱼ aⱼ bⱼ, use ``np.einsum("ij,ij->i", a, b)``, which makes no (R, n)
    temporary: memory traffic, not arithmetic, is what a layer norm costs.
    """
    x = as_tensor(x)
    shape = _normalized_shape(normalized_shape)
    if x.dtype.kind != "f":
        raise TypeError(f"layer_norm: needs floating-point input, got dtype {x.dtype}")
    if len(shape) == 0 or x.ndim < len(shape) or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be a non-empty match of the last axes of "
                         f"the input, got input of shape {x.shape}")
    for label, p in (("weight", weight), ("bias", bias)):
        if p is not None and as_tensor(p).shape != shape:
            raise ValueError(f"layer_norm: {label} must have shape normalized_shape = {shape}, got "
                             f"{as_tensor(p).shape}")
    weight = None if weight is None else as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    for label, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.dtype != x.dtype:          # as PyTorch: no silent promotion (or demotion)
            raise TypeError(f"layer_norm: {label} has dtype {p.dtype} but the input has dtype {x.dtype}; "
                            f"they must match (convert one, e.g. module.to(np.float64))")
    eps = float(eps)
    if reference_is_on():
        return R.layer_norm(x, shape, weight, bias, eps)
    n = int(np.prod(shape))                                 # entries per row
    rows = int(np.prod(x.shape[:x.ndim - len(shape)]))      # R: how many rows
    X = x.data.reshape(rows, n)                             # (R, n): the computation is on rows

    mu = X.mean(axis=1, keepdims=True)                      # (R, 1)
    centered = X - mu                                       # x - μ (a new array, ours to modify)
    var = np.einsum("ij,ij->i", centered, centered)[:, None] / n   # σ² = mean (x - μ)², biased; no (R, n) temp
    r = 1.0 / np.sqrt(var + eps)                            # (R, 1): 1/√(σ² + ε)
    x_hat = np.multiply(centered, r, out=centered)          # x̂, written over x - μ (no longer needed)
    w = None if weight is None else weight.data.reshape(n)
    y = x_hat * w if w is not None else x_hat.copy()        # a copy keeps x̂ private from the user
    if bias is not None:
        y += bias.data.reshape(n)
    y = y.reshape(x.shape)
    inputs = (x,) + tuple(p for p in (weight, bias) if p is not None)

    def backward(g):
        # Shapes as in the forward pass: g2 = g as (R, n). Two (R, n) arrays are made, dx̂ and one scratch;
        # the rest is in place or one number per row.
        g2 = g.reshape(rows, n)
        dx = dw = db = None
        if x.requires_grad:
            dx_hat = g2 * w if w is not None else g2.copy()                # dx̂ = g ⊙ w, ours to modify
            mean_dx_hat_x_hat = np.einsum("ij,ij->i", dx_hat, x_hat)[:, None] / n   # mean(dx̂ ⊙ x̂), (R, 1)
            row_means = dx_hat.mean(axis=1, keepdims=True)                 # mean(dx̂), (R, 1)
            dx_rows = np.subtract(dx_hat, row_means, out=dx_hat)           # dx̂ - mean(dx̂), written over dx̂
            scratch = x_hat * mean_dx_hat_x_hat
            dx_rows -= scratch                                             # ... - x̂ ⊙ mean(dx̂ ⊙ x̂)
            dx_rows *= r                                                   # r ⊙ (...) = dx, (R, n)
            dx = dx_rows.reshape(x.shape)
        if weight is not None and weight.requires_grad:
            dw = np.einsum("ij,ij->j", g2, x_hat).reshape(shape)           # Σ_rows g ⊙ x̂
        if bias is not None and bias.requires_grad:
            db = g2.sum(axis=0).reshape(shape)                             # Σ_rows g
        return tuple([dx] + [d for p, d in ((weight, dw), (bias, db)) if p is not None])

    return make_result("layer_norm", y, inputs, backward, _reference_for(shape, weight, bias, eps))


def _reference_for(shape, weight, bias, eps):
    """The tape's reference: ``R.layer_norm`` called with the entry's inputs, (x, weight, bias) without the
    ones that are None."""

    def reference(x, *affine):
        parameters = iter(affine)
        w = next(parameters) if weight is not None else None
        b = next(parameters) if bias is not None else None
        return R.layer_norm(x, shape, w, b, eps)

    return reference


def _normalized_shape(normalized_shape):
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        return (int(normalized_shape),)
    if isinstance(normalized_shape, str):
        normalized_shape = None                             # a str is iterable but never a shape
    try:
        shape = tuple(int(s) for s in normalized_shape)
    except TypeError:
        raise TypeError(f"layer_norm: normalized_shape must be an int or a tuple of ints, got "
                        f"{normalized_shape!r}") from None
    return shape
