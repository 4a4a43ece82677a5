"""``tinynet.functional.reference`` (import as ``R``): the textbook version of every fused op, built only from
differentiable tinynet ops (no hand-written backward, no in-place updates), property-tested equal to its twin."""
from __future__ import annotations

import numpy as np

from ..ops.shaping import where
from ..tensor import Tensor, as_tensor

# ============================================================================================================
# batch_norm, embedding, conv_transpose2d (fused ops in normalization.py, embedding.py, conv_transpose.py)
# ============================================================================================================
__all__ = ["batch_norm", "embedding"]


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """y = (x - μ) / √(σ² + ε) · w + b per channel (axis 1), written as the formula.

    training=True: μ and σ² are the batch's mean and biased variance over every axis but the channel axis.
    training=False: μ = running_mean, σ² = running_var (constants).
    Unlike ``F.batch_norm`` this computes the output only: it never updates the running statistics
    (``momentum`` is accepted for the same signature and unused).
    """
    x = as_tensor(x)
    channel_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)         # broadcasts a (C,) vector along axis 1
    if training:
        axes = (0,) + tuple(range(2, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    else:
        mean = as_tensor(running_mean).reshape(channel_shape)
        var = as_tensor(running_var).reshape(channel_shape)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * as_tensor(weight).reshape(channel_shape)
    if bias is not None:
        y = y + as_tensor(bias).reshape(channel_shape)
    return y


def embedding(indices, weight, padding_idx=None):
    """y = weight[indices]: integer-array indexing, whose gradient adds up repeated rows by itself.

    The padding row is read through ``weight.detach()``, so it contributes its value but no gradient.
    """
    weight = as_tensor(weight)
    index_array = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    rows = weight[index_array]
    if padding_idx is None:
        return rows
    is_padding = (index_array == padding_idx % weight.shape[0])[..., None]      # (*, 1), broadcast over D
    return where(is_padding, weight.detach()[index_array], rows)
# ============================================================================================================
# end of batch_norm, embedding, conv_transpose2d
# ============================================================================================================
