"""``tinynet.functional.reference`` (import as ``R``): the textbook version of every fused op, built only from
differentiable tinynet ops (no hand-written backward, no in-place updates), property-tested equal to its twin."""
from __future__ import annotations

import numpy as np

from ..ops.shaping import concatenate, where
from ..tensor import Tensor, as_tensor
from .conv import conv2d

# ============================================================================================================
# batch_norm, embedding, conv_transpose2d (fused ops in normalization.py, embedding.py, conv_transpose.py)
# ============================================================================================================
__all__ = ["batch_norm", "embedding", "conv_transpose2d"]


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
    else:                                                         # constants, in x's dtype as F.batch_norm's
        mean = Tensor._wrap(np.asarray(_data(running_mean), dtype=x.dtype).reshape(channel_shape))
        var = Tensor._wrap(np.asarray(_data(running_var), dtype=x.dtype).reshape(channel_shape))
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * as_tensor(weight).reshape(channel_shape)
    if bias is not None:
        y = y + as_tensor(bias).reshape(channel_shape)
    return y


def _data(a):
    return a.data if isinstance(a, Tensor) else a


def embedding(indices, weight, padding_idx=None):
    """y = weight[indices]: integer-array indexing, whose gradient adds up repeated rows by itself.

    The padding row is read through ``weight.detach()``, so it contributes its value but no gradient.
    """
    weight = as_tensor(weight)
    index_array = np.asarray(_data(indices))
    rows = weight[index_array]
    if padding_idx is None:
        return rows
    is_padding = (index_array == padding_idx % weight.shape[0])[..., None]      # (*, 1), broadcast over D
    return where(is_padding, weight.detach()[index_array], rows)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """A transposed convolution as a "fractionally strided" ordinary convolution (Dumoulin & Visin, *A guide to
    convolution arithmetic for deep learning*, 2016, section 4):

    1. put stride − 1 zeros between neighbouring input pixels (rows and columns);
    2. pad with d·(k − 1) − p zeros on each side, plus output_padding at the bottom/right (crop if negative);
    3. run a stride-1 conv2d (same dilation, same groups) with the kernel flipped in space and its two channel
       axes swapped: w[o, c, i, j] = W[c, o, kh − 1 − i, kw − 1 − j] within each group.

    Output size: (H − 1)·s + 1 + 2(d(k − 1) − p) + output_padding − d(k − 1) = (H − 1)·s − 2p + d(k − 1) +
    output_padding + 1, as it must be.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    (sh, sw), (ph, pw) = _pair2(stride), _pair2(padding)
    (oh, ow), (dh, dw) = _pair2(output_padding), _pair2(dilation)
    C_in, Og, kh, kw = weight.shape
    stuffed = _zeros_between(_zeros_between(x, sh, axis=2), sw, axis=3)                  # step 1
    padded = _pad_or_crop(stuffed, dh * (kh - 1) - ph, dh * (kh - 1) - ph + oh, axis=2)  # step 2
    padded = _pad_or_crop(padded, dw * (kw - 1) - pw, dw * (kw - 1) - pw + ow, axis=3)
    # step 3: the flipped, channel-swapped kernel, gathered from W by an index map (integer indexing is
    # differentiable: its gradient adds each entry back to where it was read)
    positions = np.arange(weight.size).reshape(groups, C_in // groups, Og, kh, kw)
    flipped = positions.transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1].reshape(-1)
    w = weight.reshape(-1)[flipped].reshape(groups * Og, C_in // groups, kh, kw)
    return conv2d(padded, w, bias, stride=1, padding=0, dilation=(dh, dw), groups=groups)


def _pair2(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _zeros_between(x, s, axis):
    """x with s − 1 zeros inserted between neighbours along ``axis`` (2 or 3 of an NCHW tensor)."""
    if s == 1:
        return x
    n = x.shape[axis]
    spread = x.reshape(x.shape[:axis + 1] + (1,) + x.shape[axis + 1:])                  # a new axis after it
    zeros = Tensor._wrap(np.zeros(x.shape[:axis + 1] + (s - 1,) + x.shape[axis + 1:], dtype=x.dtype))
    interleaved = concatenate([spread, zeros], axis=axis + 1)                           # each pixel, s − 1 zeros
    merged = interleaved.reshape(x.shape[:axis] + (n * s,) + x.shape[axis + 1:])
    keep = (n - 1) * s + 1                                                               # no zeros after the last
    return merged[(slice(None),) * axis + (slice(0, keep),)]


def _pad_or_crop(x, before, after, axis):
    """x with ``before``/``after`` zeros added along ``axis`` (removed where the count is negative)."""
    if before < 0 or after < 0:
        x = x[(slice(None),) * axis + (slice(max(0, -before), x.shape[axis] - max(0, -after)),)]
        before, after = max(0, before), max(0, after)
    parts = []
    for count in (before, None, after):
        if count is None:
            parts.append(x)
        elif count > 0:
            parts.append(Tensor._wrap(np.zeros(x.shape[:axis] + (count,) + x.shape[axis + 1:], dtype=x.dtype)))
    return concatenate(parts, axis=axis) if len(parts) > 1 else x
# ============================================================================================================
# end of batch_norm, embedding, conv_transpose2d
# ============================================================================================================
