"""Layer normalization: each sample's features rescaled to mean 0 and variance 1, then an affine map."""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import as_tensor, make_result

__all__ = ["layer_norm"]


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x - μ) / √(σ² + ε) · w + b, with μ, σ² the mean and (biased) variance over the last axes.

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
    axes = tuple(range(x.ndim - len(shape), x.ndim))        # the normalized axes
    batch_axes = tuple(range(x.ndim - len(shape)))          # the "rows"
    eps = float(eps)

    mu = x.data.mean(axis=axes, keepdims=True)
    xc = x.data - mu                                        # x - μ (a new array)
    var = np.mean(xc * xc, axis=axes, keepdims=True)        # σ², biased (divides by n), as PyTorch
    r = 1.0 / np.sqrt(var + eps)                            # 1/√(σ² + ε), one per row
    x_hat = xc
    x_hat *= r                                              # x̂ (in place on our own copy)
    y = x_hat if weight is None else x_hat * weight.data
    if bias is not None:
        y = y + bias.data
    if y is x_hat:
        y = x_hat.copy()                                    # keep x̂ private: the user may modify y

    inputs = (x,) + tuple(p for p in (weight, bias) if p is not None)

    def backward(g):
        grads = []
        if x.requires_grad:
            dx_hat = g if weight is None else g * weight.data
            mean_dx_hat = dx_hat.mean(axis=axes, keepdims=True)
            mean_dx_hat_x_hat = np.mean(dx_hat * x_hat, axis=axes, keepdims=True)
            dx = dx_hat - mean_dx_hat
            dx -= x_hat * mean_dx_hat_x_hat
            dx *= r
            grads.append(dx)
        else:
            grads.append(None)
        if weight is not None:
            grads.append((g * x_hat).sum(axis=batch_axes) if weight.requires_grad else None)
        if bias is not None:
            grads.append(g.sum(axis=batch_axes) if bias.requires_grad else None)
        return tuple(grads)

    return make_result("layer_norm", y, inputs, backward)


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
