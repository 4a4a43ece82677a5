"""Loss functions: ``cross_entropy`` (softmax + negative log-likelihood in one stable op) and ``mse_loss``.

Each loss is one op with its own backward, because the fused gradient is both simpler and more accurate than
the chain of its parts: for cross-entropy, d loss / d logits = (softmax − target distribution) / N, with no
division by a probability that may have underflowed to 0.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor, as_tensor, make_result
from . import reference as R
from .reference_mode import reference_is_on

__all__ = ["cross_entropy", "mse_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _class_indices(target, n, num_classes):
    """``target`` as an int64 array of shape (N,) with values in [0, C), or a clear error."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        if t.dtype.kind == "f" and t.size and np.all(t == np.round(t)):
            hint = " (it holds whole numbers: make it with dtype=np.int64, e.g. tn.tensor(labels, dtype=np.int64))"
        else:
            hint = ""
        raise TypeError(f"cross_entropy: target must hold integer class indices, got dtype {t.dtype}{hint}; "
                        f"one-hot or probability targets are not supported")
    if t.shape != (n,):
        raise ValueError(f"cross_entropy: logits of shape ({n}, {num_classes}) need target of shape ({n},) "
                         f"(one class index per row), got target of shape {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"cross_entropy: target values must be class indices in [0, {num_classes}), "
                         f"got values from {t.min()} to {t.max()}")
    return t.astype(np.int64)        # a copy: backward must see the classes of this call, whatever the caller does


def cross_entropy(logits, target, label_smoothing=0.0, reduction="mean"):
    """lossᵢ = −Σⱼ qᵢⱼ log softmax(xᵢ)ⱼ,  qᵢ = (1 − ε)·onehot(tᵢ) + ε/C:  the softmax cross-entropy between
    ``logits`` (N, C) and integer class indices ``target`` (N,), as PyTorch's ``F.cross_entropy``.

    Reference: `R.cross_entropy`.

    Forward. For row i with logits xᵢ (C,) and class tᵢ:
        log pᵢⱼ = xᵢⱼ − logsumexp(xᵢ),   logsumexp(xᵢ) = mᵢ + log Σₖ exp(xᵢₖ − mᵢ),   mᵢ = maxₖ xᵢₖ
    Subtracting the row maximum mᵢ makes every exponent ≤ 0, so exp never overflows (logits of ±1e4 are fine)
    and the largest term is exp(0) = 1, so the log never sees 0.
    The target distribution qᵢ is the one-hot vector of tᵢ, or with label smoothing ε:
        qᵢⱼ = (1 − ε)·[j = tᵢ] + ε / C
        lossᵢ = −Σⱼ qᵢⱼ log pᵢⱼ          (= −log pᵢ,tᵢ when ε = 0)
        loss  = (1/N) Σᵢ lossᵢ           (reduction="mean"; "sum" drops the 1/N, "none" returns lossᵢ (N,))

    Backward (derivation). Write lossᵢ = −Σⱼ qᵢⱼ xᵢⱼ + (Σⱼ qᵢⱼ) logsumexp(xᵢ), and Σⱼ qᵢⱼ = 1. Since
    ∂ logsumexp(xᵢ) / ∂xᵢₖ = exp(xᵢₖ) / Σⱼ exp(xᵢⱼ) = pᵢₖ  (the softmax),
        ∂lossᵢ / ∂xᵢₖ = −qᵢₖ + pᵢₖ,    i.e.  ∂lossᵢ/∂xᵢ = softmax(xᵢ) − qᵢ   (= softmax − onehot when ε = 0).
    The mean divides by N, so for an upstream scalar g:
        dlogits = g · (softmax(x) − q) / N            shape (N, C)
    ("none": row i is scaled by its own gᵢ instead.) The target is an index, not differentiable: no gradient.

    Shapes: logits (N, C) float; target (N,) integer in [0, C); result () for "mean"/"sum", (N,) for "none".
    """
    logits = as_tensor(logits)
    _check_reduction("cross_entropy", reduction)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be 2-D (N, C) (a batch of rows of class scores), got shape "
                         f"{logits.shape}")
    if logits.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating-point, got dtype {logits.dtype}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    n, c = logits.shape
    t = _class_indices(target, n, c)
    if reference_is_on():
        return R.cross_entropy(logits, t, label_smoothing, reduction)
    rows = np.arange(n)

    x = logits.data
    shifted = x - x.max(axis=1, keepdims=True)           # (N, C), every entry <= 0
    exps = np.exp(shifted)
    totals = exps.sum(axis=1, keepdims=True)             # (N, 1), in [1, C]
    log_p = shifted - np.log(totals)                     # (N, C) log-softmax
    if label_smoothing:
        eps = label_smoothing
        per_row = -(1 - eps) * log_p[rows, t] - (eps / c) * log_p.sum(axis=1)
    else:
        per_row = -log_p[rows, t]                        # (N,)
    if reduction == "mean":
        out = per_row.sum() / n if n else np.asarray(np.nan, x.dtype)   # N = 0: 0/0 is nan, as in PyTorch
    elif reduction == "sum":
        out = per_row.sum()
    else:
        out = per_row
    out = np.asarray(out, dtype=x.dtype)

    def backward(g):
        if not logits.requires_grad:
            return (None,)
        dlogits = exps / totals                          # softmax p, (N, C): a new array, edited in place into
        if label_smoothing:                              # p − q, then scaled by g
            dlogits -= label_smoothing / c
            dlogits[rows, t] -= 1 - label_smoothing
        else:
            dlogits[rows, t] -= 1                        # p − onehot
        if reduction == "mean":
            dlogits *= g / max(n, 1)                     # (dlogits is empty when N = 0)
        elif reduction == "sum":
            dlogits *= g
        else:
            dlogits *= g[:, None]                        # (N, C) · (N, 1)
        return (dlogits,)

    return make_result("cross_entropy", out, (logits,), backward,
                       lambda logits_in: R.cross_entropy(logits_in, t, label_smoothing, reduction))


def mse_loss(input, target, reduction="mean"):
    """loss = (1/n) Σₖ (xₖ − yₖ)² over all n elements: the mean squared error, as PyTorch's ``F.mse_loss``.

    Reference: `R.mse_loss`.

    Backward: ∂loss/∂xₖ = 2 (xₖ − yₖ) / n,  ∂loss/∂yₖ = −2 (xₖ − yₖ) / n, each times the upstream g.
    ("sum" drops the 1/n; "none" returns the elementwise (x − y)² and scales by the elementwise g.)
    Shapes: input and target must have the same shape (no silent broadcasting: a (N,) vs (N, 1) mix-up
    would otherwise compare every prediction with every target).
    """
    input, target = as_tensor(input), as_tensor(target)
    _check_reduction("mse_loss", reduction)
    if input.dtype.kind != "f":
        raise TypeError(f"mse_loss: input must be floating-point, got dtype {input.dtype}")
    if target.dtype.kind != "f":                         # integer targets: compare in the input's dtype
        target = Tensor._wrap(target.data.astype(input.dtype))
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input has shape {input.shape} but target has shape {target.shape}; they must "
                         f"match (reshape one of them, e.g. target.reshape(-1, 1))")
    if reference_is_on():
        return R.mse_loss(input, target, reduction)
    diff = input.data - target.data
    if reduction == "none":
        out = diff * diff
    else:
        out = np.sum(diff * diff)
        if reduction == "mean":
            out = out / diff.size if diff.size else np.nan   # an empty input: 0/0 is nan, as in PyTorch
        out = np.asarray(out, dtype=diff.dtype)

    def backward(g):
        scale = 2 * g / max(diff.size, 1) if reduction == "mean" else 2 * g
        dinput = diff * scale                            # 2 (x − y) · g (/ n)
        dx = dinput if input.requires_grad else None
        dy = -dinput if target.requires_grad else None
        return dx, dy

    return make_result("mse_loss", out, (input, target), backward, lambda x, y: R.mse_loss(x, y, reduction))
