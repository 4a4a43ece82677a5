"""Matrix product ``a @ b`` with NumPy's ``matmul`` semantics: 1-D, 2-D and batched with broadcasting.

For 2-D a (n, k) and b (k, m), y = a @ b has shape (n, m) and y[i, j] = Σ_p a[i, p] b[p, j], so

    dL/da[i, p] = Σ_j g[i, j] b[p, j]   →   da = g @ bᵀ      (n, m)·(m, k) = (n, k)
    dL/db[p, j] = Σ_i a[i, p] g[i, j]   →   db = aᵀ @ g      (k, n)·(n, m) = (k, m)

Batched: a (..., n, k) @ b (..., k, m) multiplies matrix by matrix over the leading "batch" axes, which
broadcast like any elementwise op. The formulas hold per batch item (ᵀ swaps only the last two axes), and a
batch axis that was broadcast gets its gradient summed back by ``unbroadcast``, e.g. one weight (k, m)
shared by every item of a batch (B, n, k): db = Σ_batch aᵀ @ g.

1-D operands: NumPy treats a vector a (k,) as a row (1, k) and a vector b (k,) as a column (k, 1), then
drops that axis from y. We do the same in backward: put the axis back on a, b and g, use the matrix
formulas, and drop it again.
"""
from __future__ import annotations

import numpy as np

from ..broadcast import unbroadcast
from ..autograd import differentiable_rules
from ..tensor import Tensor, as_tensor, make_result, values


__all__ = ["matmul"]

# Every rule below also works on a Tensor g, so these ops can be differentiated twice (autograd.py).
differentiable_rules("matmul")


def _swap_last(x):
    """xᵀ over the last two axes (arrays: a view; Tensors: the transpose op, so create_graph can follow it)."""
    return x.transpose(-1, -2) if isinstance(x, Tensor) else np.swapaxes(x, -1, -2)


def _insert_axis(x, axis):
    """x with a new size-1 axis at ``axis`` (-1 or -2)."""
    shape = list(x.shape)
    shape.insert(len(shape) + 1 + axis, 1)
    return x.reshape(tuple(shape))


def matmul(a, b):
    """y = a @ b.   Backward: da = g @ bᵀ,  db = aᵀ @ g  (per batch item, then unbroadcast)."""
    a, b = as_tensor(a), as_tensor(b)
    _check_shapes(a.shape, b.shape)
    y = np.matmul(a.data, b.data)

    def backward(g):                                          # g: an array, or a Tensor under create_graph
        a_, b_ = values(g, a, b)
        a2 = _insert_axis(a_, -2) if a.ndim == 1 else a_      # (k,) -> (1, k)
        b2 = _insert_axis(b_, -1) if b.ndim == 1 else b_      # (k,) -> (k, 1)
        g2 = g
        if b.ndim == 1:
            g2 = _insert_axis(g2, -1)                         # restore the column axis of y
        if a.ndim == 1:
            g2 = _insert_axis(g2, -2)                         # restore the row axis of y
        da = db = None
        if a.requires_grad:
            da = g2 @ _swap_last(b2)                          # (..., n, m)·(..., m, k) = (..., n, k)
            da = unbroadcast(da, a2.shape)
            da = da.reshape(a.shape)
        if b.requires_grad:
            db = _swap_last(a2) @ g2                          # (..., k, n)·(..., n, m) = (..., k, m)
            db = unbroadcast(db, b2.shape)
            db = db.reshape(b.shape)
        return da, db

    return make_result("matmul", y, (a, b), backward)


def _check_shapes(sa, sb):
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {sa} and {sb} "
                         f"(use * to multiply by a scalar)")
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {sa} and {sb} do not match: the last axis of the first ({k_a}) "
                         f"must equal the {'only' if len(sb) == 1 else 'second-to-last'} axis of the "
                         f"second ({k_b})")
    batch_a, batch_b = sa[:-2], sb[:-2]
    try:
        np.broadcast_shapes(batch_a, batch_b)
    except ValueError:
        raise ValueError(f"matmul: shapes {sa} and {sb}: the batch axes {batch_a} and {batch_b} cannot be "
                         f"broadcast together") from None
