"""The affine map of a fully connected layer."""
from __future__ import annotations

import math

from ..tensor import as_tensor, make_result
from . import reference as R
from .reference_mode import reference_is_on

__all__ = ["linear"]


def linear(x, weight, bias=None):
    """y = x Wᵀ + b  (PyTorch's layout: ``weight`` is (out, in)).

    Reference: `R.linear`.

    Shapes: x (*, in), W (out, in), b (out,), y (*, out); the leading axes * are flattened into
    N rows for the math:  X (N, in), G = dL/dY (N, out).

    Backward:
        dX = G W          (N, out)·(out, in) = (N, in)
        dW = Gᵀ X         (out, N)·(N, in)   = (out, in)   — every row of the batch adds its outer product
        db = Σ_rows G     (out,)                            — b was broadcast to every row, so sum
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape {weight.shape}: "
                         f"the input's last axis must be in_features = {weight.shape[1]}")
    out_features = weight.shape[0]
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (out_features,):
            raise ValueError(f"linear: bias must have shape ({out_features},), got {bias.shape}")
    if reference_is_on():
        return R.linear(x, weight, bias)
    rows = math.prod(x.shape[:-1])                          # N: every leading axis (−1 fails when in = 0)
    x2 = x.data.reshape(rows, x.shape[-1])                  # (N, in)
    y = x2 @ weight.data.T                                  # (N, out)
    if bias is not None:
        y += bias.data
    y = y.reshape(x.shape[:-1] + (out_features,))
    inputs = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g2 = g.reshape(rows, out_features)                  # (N, out)
        dx = (g2 @ weight.data).reshape(x.shape) if x.requires_grad else None
        dw = g2.T @ x2 if weight.requires_grad else None
        if bias is None:
            return dx, dw
        db = g2.sum(axis=0) if bias.requires_grad else None
        return dx, dw, db

    return make_result("linear", y, inputs, backward, R.linear)
