"""Normalization: each group of values rescaled to mean 0 and variance 1, then an affine map.

``layer_norm``: the group is one sample's features (the last axes).  ``batch_norm``: the group is one channel
over the batch and the spatial axes (in training; in evaluation the running statistics stand in for it).
"""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor, as_tensor, make_result
from . import reference as R
from .reference_mode import reference_is_on

__all__ = ["layer_norm", "batch_norm"]


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


# ------------------------------------------------------------------------------------------------------------
# batch_norm
# ------------------------------------------------------------------------------------------------------------
def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """y = (x - μ) / √(σ² + ε) · w + b per channel, as ``torch.nn.functional.batch_norm``.

    Shapes: x (N, C, *) — (N, C), (N, C, L) or (N, C, H, W); running_mean, running_var, weight, bias (C,);
    y has x's shape. One channel's "group" is every value of that channel over the batch and the spatial axes:
    n = N·(H·W) values. μ, σ², r = 1/√(σ² + ε) are per channel, and x̂ = (x - μ)·r.

    Which μ and σ²:
      training=True:  the batch's own mean and *biased* variance (1/n), and, if running_mean/running_var are
                      given, they are updated in place (not differentiated) with the *unbiased* variance:
                          running_mean = (1 - momentum)·running_mean + momentum·μ
                          running_var  = (1 - momentum)·running_var  + momentum·σ²·n/(n - 1)
      training=False: μ = running_mean, σ² = running_var: constants, so y is a per-channel affine map of x.

    Backward, derived (g = dL/dy). The affine part gives, summing over the n values of each channel,
        db = Σ g,     dw = Σ g ⊙ x̂,     dx̂ = g ⊙ w.
    training=False: x̂ = (x - μ)·r with μ, r constants, so dx = r ⊙ dx̂.
    training=True: within one channel, x̂ⱼ = (xⱼ - μ)·r depends on every xₖ of that channel, through μ and r,
    exactly as one row of layer_norm (the derivation is in ``layer_norm``'s docstring, with the channel's n
    values as the row):
        ∂μ/∂xₖ = 1/n,   ∂r/∂xₖ = -(r²/n) x̂ₖ,   ∂x̂ⱼ/∂xₖ = (r/n)(n δⱼₖ - 1 - x̂ⱼ x̂ₖ), so with means over
        the channel's group

        dx = r ⊙ (dx̂ - mean(dx̂) - x̂ ⊙ mean(dx̂ ⊙ x̂)).

    The running statistics never get a gradient (they are buffers, not inputs of y's formula in training,
    and constants in evaluation), as in PyTorch.

    Reference: `R.batch_norm` (the formula with the mean and variance ops; it never updates running statistics).
    Speed notes: x is viewed as (N, C, M), M = H·W, so per-channel sums are over axes 0 and 2. They use
    ``np.einsum`` ("ncm->c", and "ncm,ncm->c" for sums of products, which makes no (N, C, M) temporary): about
    twice as fast as ``sum(axis=(0, 2))`` on small batches, where the per-call cost dominates.
    """
    x = as_tensor(x)
    weight, bias, running_mean, running_var = _batch_norm_arguments(x, weight, bias, running_mean, running_var,
                                                                     training, momentum)
    eps = float(eps)
    N, C = x.shape[0], x.shape[1]
    M = int(np.prod(x.shape[2:]))                       # spatial positions per image and channel
    n = N * M                                           # values per channel
    X = x.data.reshape(N, C, M)
    batch_statistics = training and n > 0           # an empty batch has none: PyTorch returns an empty result
    if batch_statistics:
        mean = np.einsum("ncm->c", X) / n                                   # μ, (C,)
        centered = X - mean[:, None]                                        # x - μ (a new array, ours)
        var = np.einsum("ncm,ncm->c", centered, centered) / n               # σ², biased, (C,)
        if running_mean is not None:
            _update_running_stats(running_mean, running_var, mean, var, n, float(momentum))
    if reference_is_on():                       # the textbook twin (the running statistics were updated above)
        return R.batch_norm(x, running_mean, running_var, weight, bias, training=training, eps=eps)
    if not batch_statistics:
        if training:                                                        # empty: any constants will do
            mean, var = np.zeros(C, dtype=x.dtype), np.ones(C, dtype=x.dtype)
        else:
            mean = running_mean.data.astype(x.dtype)
            var = running_var.data.astype(x.dtype)
        centered = X - mean[:, None]
    r = (1.0 / np.sqrt(var + eps)).astype(x.dtype)                          # 1/√(σ² + ε), (C,)
    x_hat = centered
    x_hat *= r[:, None]                                                     # x̂, in place on our own copy
    w = None if weight is None else weight.data
    y = x_hat * w[:, None] if w is not None else x_hat.copy()               # a copy keeps x̂ private
    if bias is not None:
        y += bias.data[:, None]
    y = y.reshape(x.shape)
    inputs = (x,) + tuple(p for p in (weight, bias) if p is not None)

    def backward(g):
        g_channels = g.reshape(N, C, M)                                     # dL/dy, one (N, M) group per channel
        dx = dw = db = None
        if x.requires_grad:
            dx_hat = g_channels * w[:, None] if w is not None else g_channels.copy()   # g ⊙ w, ours to modify
            bracket = dx_hat                                                # evaluation: dx = r ⊙ dx̂
            if batch_statistics:
                mean_dx_hat = np.einsum("ncm->c", dx_hat) / n               # mean(dx̂), (C,)
                mean_dx_hat_x_hat = np.einsum("ncm,ncm->c", dx_hat, x_hat) / n   # mean(dx̂ ⊙ x̂), (C,)
                bracket = np.subtract(dx_hat, mean_dx_hat[:, None], out=dx_hat)  # dx̂ − mean(dx̂), over dx̂
                bracket -= x_hat * mean_dx_hat_x_hat[:, None]               # ... − x̂ ⊙ mean(dx̂ ⊙ x̂)
            dx = (bracket * r[:, None]).reshape(x.shape)                    # dx = r ⊙ (...)
        if weight is not None and weight.requires_grad:
            dw = np.einsum("ncm,ncm->c", g_channels, x_hat)                 # Σ g ⊙ x̂
        if bias is not None and bias.requires_grad:
            db = np.einsum("ncm->c", g_channels)                            # Σ g
        return tuple([dx] + [d for p, d in ((weight, dw), (bias, db)) if p is not None])

    # The reference sees the statistics this call used: in evaluation, copies of the running ones as they are now.
    frozen_mean = None if batch_statistics else Tensor._wrap(mean)
    frozen_var = None if batch_statistics else Tensor._wrap(var)

    def reference(*tensors):
        x_in, rest = tensors[0], list(tensors[1:])
        w_in = rest.pop(0) if weight is not None else None
        b_in = rest.pop(0) if bias is not None else None
        return R.batch_norm(x_in, frozen_mean, frozen_var, w_in, b_in, training=batch_statistics, eps=eps)

    return make_result("batch_norm", y, inputs, backward, reference)


def _batch_norm_arguments(x, weight, bias, running_mean, running_var, training, momentum):
    """Check batch_norm's arguments; return weight, bias, running_mean, running_var as Tensors (or None)."""
    if x.dtype.kind != "f":
        raise TypeError(f"batch_norm: needs floating-point input, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C, *) with at least 2 axes, got shape {x.shape}")
    C = x.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError("batch_norm: training=False normalizes with running_mean and running_var, but they are "
                         "None; pass them, or training=True to use the batch's statistics")
    if training and x.shape[0] * int(np.prod(x.shape[2:])) == 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of shape "
                         f"{x.shape} (the batch variance of a single value is 0)")
    if not isinstance(momentum, numbers.Real) or isinstance(momentum, bool) or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm: momentum must be a number in [0, 1], got {momentum!r}")
    checked = []
    for label, p in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                     ("running_var", running_var)):
        if p is not None:
            if training and label.startswith("running") and not isinstance(p, (Tensor, np.ndarray)):
                raise TypeError(f"batch_norm: {label} is updated in place when training, so it must be a Tensor or a "
                                f"NumPy array, got {type(p).__name__}")
            p = as_tensor(p)
            if p.shape != (C,):
                raise ValueError(f"batch_norm: {label} must have shape (C,) = ({C},) for an input with {C} "
                                 f"channels (shape {x.shape}), got {p.shape}")
            if label in ("weight", "bias") and p.dtype != x.dtype:
                raise TypeError(f"batch_norm: {label} has dtype {p.dtype} but the input has dtype {x.dtype}; "
                                f"they must match (convert one, e.g. module.to(np.float64))")
            if label.startswith("running") and p.dtype.kind != "f":
                raise TypeError(f"batch_norm: {label} must be floating-point, got dtype {p.dtype}")
        checked.append(p)
    return checked


def _update_running_stats(running_mean, running_var, mean, var, n, momentum):
    """running ← (1 - momentum)·running + momentum·batch statistic, in place; the variance unbiased: σ²·n/(n-1)."""
    running_mean.data *= 1.0 - momentum
    running_mean.data += momentum * mean
    running_var.data *= 1.0 - momentum
    running_var.data += momentum * var * (n / (n - 1))
