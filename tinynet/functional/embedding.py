"""Embedding: look up one learned row of a table per integer index."""
from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor, as_tensor, make_result
from . import reference as R
from .reference_mode import reference_is_on

__all__ = ["embedding"]


def embedding(indices, weight, padding_idx=None):
    """y[..., :] = weight[indices[...], :], as ``torch.nn.functional.embedding``.

    Shapes: indices (*) integers in [0, V), weight (V, D) (one row per index), y (*, D).
    It is a matrix product in disguise: with one-hot rows e(i), y = e(i)ᵀ W, which picks row i; the lookup
    skips the multiplications by zero.

    Backward (g = dL/dy, shape (*, D)): y[k] = W[indices[k]] reads one row, so row v's gradient is the sum of
    the gradients of every position that looked it up:

        dW[v] = Σ_{k : indices[k] = v} g[k]              (rows never looked up get 0)

    An index can repeat (the same word twice in a sentence), so the sum is ``np.add.at`` (a plain
    ``dW[indices] += g`` would keep only the last of the repeated writes). The indices get no gradient.

    ``padding_idx``: row padding_idx takes part in the forward pass as usual but gets no gradient
    (dW[padding_idx] = 0), so it stays as it is (zeros, as ``nn.Embedding`` initialises it) while the other rows
    train; a negative value counts from the end, as in PyTorch.

    Reference: `R.embedding` (integer-array indexing, the padding row read through ``detach()``).
    """
    weight = as_tensor(weight)
    index_array = _index_array(indices)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    if weight.dtype.kind != "f":
        raise TypeError(f"embedding: weight must be floating-point, got dtype {weight.dtype}")
    num_embeddings, dim = weight.shape
    if index_array.size and (index_array.min() < 0 or index_array.max() >= num_embeddings):
        bad = index_array[(index_array < 0) | (index_array >= num_embeddings)].ravel()[0]
        raise ValueError(f"embedding: index {bad} is out of range for a table of {num_embeddings} rows (weight "
                         f"shape {weight.shape}); indices must be in [0, {num_embeddings})")
    padding_idx = _padding_index("embedding", padding_idx, num_embeddings)
    if reference_is_on():
        return R.embedding(index_array, weight, padding_idx=padding_idx)
    y = weight.data[index_array]                                   # (*, D): fancy indexing copies the rows

    def backward(g):
        dw = np.zeros(weight.shape, dtype=g.dtype)
        np.add.at(dw, index_array.reshape(-1), g.reshape(-1, dim))  # dW[v] += g[k] for every k with index v
        if padding_idx is not None:
            dw[padding_idx] = 0                                     # the padding row is not trained
        return (dw,)

    index_tensor = Tensor._wrap(index_array)
    return make_result("embedding", y, (weight,), backward,
                       lambda w: R.embedding(index_tensor, w, padding_idx=padding_idx))


def _index_array(indices):
    """The indices as an integer NumPy array (a Tensor, an array, a list or an int), or a TypeError. A copy:
    backward reads them later, and the caller's array may have changed by then."""
    array = np.array(indices.data if isinstance(indices, Tensor) else indices)
    if array.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers (e.g. dtype int64), got dtype {array.dtype}")
    return array


def _padding_index(op, padding_idx, num_embeddings):
    """padding_idx as a row number in [0, num_embeddings), or None; negative counts from the end."""
    if padding_idx is None:
        return None
    if not isinstance(padding_idx, numbers.Integral) or isinstance(padding_idx, bool):
        raise TypeError(f"{op}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{op}: padding_idx must be within [-{num_embeddings}, {num_embeddings}) for "
                         f"{num_embeddings} embeddings, got {padding_idx}")
    return int(padding_idx) % num_embeddings
