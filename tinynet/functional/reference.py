"""``tinynet.functional.reference`` (import as R): the textbook version of every fused op.

A fused op in ``tinynet.functional`` (F) computes its result with NumPy and has one long hand-written backward rule,
written for speed. Its twin here computes the same function the way a textbook writes it, with differentiable
tinynet ops only (Tensor operators, ``exp``, ``sum``, ``mean``, ``reshape``, ``@``, indexing, ``tn.where``,
``concatenate``, and the ``im2col`` op), so the tape derives its backward pass: there is no backward rule here, no
in-place update, no speed trick. Each function is short, with the formula and the shapes in its docstring, and takes
the same arguments as its F twin. This is where to read an idea first; then read the fused op to see how it is made
fast.

Three uses:

* ``tests/test_reference.py`` proves every pair equal (forward values and every input's gradient, in float64);
* ``with tn.use_reference():`` makes every fused op run its twin (``reference_mode.py``), e.g. to compare a
  model's loss and gradients in both tiers;
* a fused op hands its twin to the tape (``make_result(..., reference)``), which differentiates the twin when a
  gradient must itself be differentiated (``create_graph=True``).

The twins assume the arguments their F twin has already checked (calling one directly with bad arguments gives
NumPy's or the op's error, not F's explanation).
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.shaping import concatenate, where
from ..tensor import Tensor, as_tensor
from .erf import erfc
from .geometry import pool_geometry, window_geometry
from .im2col import im2col

__all__ = ["linear", "softmax", "log_softmax", "cross_entropy", "mse_loss", "gelu", "layer_norm", "conv2d",
           "depthwise_conv2d", "pointwise_conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d",
           "scaled_dot_product_attention", "batch_norm", "embedding", "conv_transpose2d"]


# ------------------------------------------------------------------------------------------------------------
# Dense layers and activations
# ------------------------------------------------------------------------------------------------------------
def linear(x, weight, bias=None):
    """y = x Wᵀ + b.   x (*, in), W (out, in), b (out,)  ->  y (*, out)."""
    x, weight = as_tensor(x), as_tensor(weight)
    y = x @ weight.T                                                 # (*, in)·(in, out)
    return y if bias is None else y + as_tensor(bias)


def gelu(x, approximate="none"):
    """GELU(x) = x · Φ(x), Φ the standard normal CDF.   x, y: any shape, alike.

    approximate="none":  Φ(x) = ½ erfc(−x/√2)             (erfc keeps Φ's digits in the far left tail)
    approximate="tanh":  y = ½ x (1 + tanh u) = x · σ(2u),  u = √(2/π) (x + 0.044715 x³)
                         (the σ form: 1 + tanh u would round to 0 for very negative x)
    """
    x = as_tensor(x)
    if approximate == "tanh":
        u = (x + x ** 3 * 0.044715) * math.sqrt(2 / math.pi)
        return x * (u * 2.0).sigmoid()
    cdf = erfc(x * -math.sqrt(0.5)) * 0.5                            # Φ(x)
    return x * cdf


# ------------------------------------------------------------------------------------------------------------
# Softmax and the losses built on it
# ------------------------------------------------------------------------------------------------------------
def _row_max(x, axis):
    """max over ``axis`` (kept as size 1), as a constant: softmax(x − c) = softmax(x) for any c, so the shift
    only keeps e^{x − max} ≤ 1 (no overflow) and carries no gradient."""
    return Tensor(x.data.max(axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """s = e^{x − m} / Σ_axis e^{x − m},  m = max_axis x.   x, s: any shape, alike; each slice along ``axis``
    is one distribution. A 0-d x is one row of length 1; an empty axis gives an empty result."""
    x = as_tensor(x)
    if x.ndim == 0:
        return softmax(x.reshape(1), 0).reshape(())
    if x.shape[axis] == 0:
        return x * 1.0                                               # nothing to normalise
    exps = (x - _row_max(x, axis)).exp()
    return exps / exps.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """y = (x − m) − log Σ_axis e^{x − m},  m = max_axis x  (= log softmax(x), stable).   x, y alike."""
    x = as_tensor(x)
    if x.ndim == 0:
        return log_softmax(x.reshape(1), 0).reshape(())
    if x.shape[axis] == 0:
        return x * 1.0
    shifted = x - _row_max(x, axis)
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def cross_entropy(logits, target, label_smoothing=0.0, reduction="mean"):
    """lossᵢ = −Σⱼ qᵢⱼ log softmax(xᵢ)ⱼ,  qᵢ = (1 − ε)·onehot(tᵢ) + ε/C   (ε = label_smoothing).

    logits (N, C), target (N,) class indices; "mean" -> (1/N) Σᵢ lossᵢ, "sum" -> Σᵢ lossᵢ, "none" -> (N,).
    With q as above, lossᵢ = (1 − ε)·(−log pᵢ,tᵢ) + (ε/C)·(−Σⱼ log pᵢⱼ).
    """
    logits = as_tensor(logits)
    classes = np.asarray(target.data if isinstance(target, Tensor) else target)
    n, c = logits.shape
    log_p = log_softmax(logits, axis=1)                              # (N, C)
    nll = -log_p[np.arange(n), classes]                              # (N,): −log p of each row's class
    per_row = nll * (1.0 - label_smoothing) - log_p.sum(axis=1) * (label_smoothing / c)
    if reduction == "none":
        return per_row
    return per_row.sum() if reduction == "sum" else per_row.mean()


def mse_loss(input, target, reduction="mean"):
    """loss = (1/n) Σₖ (xₖ − yₖ)²  ("sum": no 1/n; "none": the (x − y)² themselves).   x, y alike."""
    diff = as_tensor(input) - as_tensor(target)
    squared = diff * diff
    if reduction == "none":
        return squared
    return squared.sum() if reduction == "sum" else squared.mean()


# ------------------------------------------------------------------------------------------------------------
# Normalization
# ------------------------------------------------------------------------------------------------------------
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x − μ) / √(σ² + ε) · w + b,  μ and σ² (biased) over the last len(normalized_shape) axes.

    x (*, *normalized_shape); weight, bias: normalized_shape; y: x's shape.
    """
    x = as_tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)                          # μ, one per row
    centered = x - mean
    variance = (centered * centered).mean(axis=axes, keepdims=True)  # σ², biased (divide by n)
    x_hat = centered / (variance + float(eps)).sqrt()
    y = x_hat if weight is None else x_hat * as_tensor(weight)
    return y if bias is None else y + as_tensor(bias)


# ------------------------------------------------------------------------------------------------------------
# Convolutions: im2col, then a matrix product
# ------------------------------------------------------------------------------------------------------------
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o] = b[o] + W_o · (the windows of o's group of input channels):  im2col -> one matmul -> reshape.

    x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,)  ->  y (N, O, H', W').
    cols = im2col(x) (N, C·kh·kw, H'W') viewed as (N, groups, C/groups·kh·kw, H'W'); weight viewed as
    (groups, O/groups, C/groups·kh·kw); y = weight @ cols  (N, groups, O/groups, H'W') = (N, O, H', W').
    """
    x, weight = as_tensor(x), as_tensor(weight)
    N, C, H, W = x.shape
    O, C_group, kh, kw = weight.shape
    (Ho, Wo) = window_geometry("conv2d", (H, W), (kh, kw), stride, padding, dilation).out_size
    cols = im2col(x, (kh, kw), stride, padding, dilation).reshape(N, groups, C_group * kh * kw, Ho * Wo)
    kernels = weight.reshape(groups, O // groups, C_group * kh * kw)     # one matrix per group
    y = (kernels @ cols).reshape(N, O, Ho, Wo)
    return y if bias is None else y + as_tensor(bias).reshape(O, 1, 1)


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """y[n, c·m + k] = b[c·m + k] + W[c·m + k] · (channel c's windows): per-channel im2col, per-channel dot.

    x (N, C, H, W), weight (C·m, 1, kh, kw), bias (C·m,)  ->  y (N, C·m, H', W').
    cols = im2col(x) viewed as (N, C, kh·kw, H'W'): channel c's columns. weight viewed as (C, m, kh·kw): channel
    c's m kernels. y = weight @ cols  (N, C, m, H'W'), one (m, kh·kw)·(kh·kw, H'W') product per channel.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    N, C, H, W = x.shape
    C_out, _, kh, kw = weight.shape
    (Ho, Wo) = window_geometry("depthwise_conv2d", (H, W), (kh, kw), stride, padding, dilation).out_size
    cols = im2col(x, (kh, kw), stride, padding, dilation).reshape(N, C, kh * kw, Ho * Wo)
    kernels = weight.reshape(C, C_out // C, kh * kw)                 # channel c's kernels, one per row
    y = (kernels @ cols).reshape(N, C_out, Ho, Wo)
    return y if bias is None else y + as_tensor(bias).reshape(C_out, 1, 1)


def pointwise_conv2d(x, weight, bias=None):
    """y[n] = W @ x[n] + b at every pixel: x (N, C, H, W) as (N, C, HW), weight (O, C, 1, 1) as (O, C),
    bias (O,)  ->  y (N, O, H, W)."""
    x, weight = as_tensor(x), as_tensor(weight)
    N, C, H, W = x.shape
    O = weight.shape[0]
    y = (weight.reshape(O, C) @ x.reshape(N, C, H * W)).reshape(N, O, H, W)
    return y if bias is None else y + as_tensor(bias).reshape(O, 1, 1)


# ------------------------------------------------------------------------------------------------------------
# Pooling: im2col, then a max or a mean over each window
# ------------------------------------------------------------------------------------------------------------
def max_pool2d(x, kernel_size, stride=None, padding=0):
    """y[n, c, r, q] = the first maximum (row-major) of window (r, q) of x[n, c]; padding is never a candidate.

    x (N, C, H, W)  ->  y (N, C, H', W'). windows = im2col(x) viewed as (N, C, kh·kw, H'W'). Which tap wins is
    a choice (piecewise constant, no gradient); y then *reads* the winner (indexing), so the tape sends each
    window's gradient to its winning pixel. A NaN in a window wins it.
    """
    x = as_tensor(x)
    geo = pool_geometry("max_pool2d", x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    taps, pixels = geo.kernel[0] * geo.kernel[1], geo.out_size[0] * geo.out_size[1]
    windows = im2col(x, geo.kernel, geo.stride, padding).reshape(N, C, taps, pixels)
    real = im2col(np.ones((1, 1, H, W)), geo.kernel, geo.stride, padding).data.reshape(1, 1, taps, pixels) == 1
    candidates = np.where(real, windows.data, -np.inf)                # padding can never win
    best = candidates.max(axis=2, keepdims=True)
    winner = np.argmax(((candidates == best) | np.isnan(candidates)) & real, axis=2)   # (N, C, H'W'): first
    n, c, pixel = np.ix_(np.arange(N), np.arange(C), np.arange(pixels))
    return windows[n, c, winner, pixel].reshape(N, C, *geo.out_size)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """y[n, c, r, q] = mean of window (r, q) of x[n, c], padded zeros counted (divisor kh·kw).

    x (N, C, H, W)  ->  y (N, C, H', W'). windows = im2col(x) viewed as (N, C, kh·kw, H'W'), then a mean.
    """
    x = as_tensor(x)
    geo = pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    N, C = x.shape[:2]
    taps, pixels = geo.kernel[0] * geo.kernel[1], geo.out_size[0] * geo.out_size[1]
    windows = im2col(x, geo.kernel, geo.stride, padding).reshape(N, C, taps, pixels)
    return windows.mean(axis=2).reshape(N, C, *geo.out_size)


def global_avg_pool2d(x):
    """y[n, c, 0, 0] = mean over (h, w) of x[n, c]:  x (N, C, H, W)  ->  y (N, C, 1, 1)."""
    return as_tensor(x).mean(axis=(2, 3), keepdims=True)


# ------------------------------------------------------------------------------------------------------------
# Attention
# ------------------------------------------------------------------------------------------------------------
def _allowed(mask, is_causal, L, S):
    """The boolean "may attend" array (broadcastable to (…, L, S)), or None when every pair may attend."""
    allowed = None if mask is None else np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if is_causal:
        causal = np.tril(np.ones((L, S), dtype=bool))                # query i sees keys 0..i
        allowed = causal if allowed is None else allowed & causal
    return allowed


def scaled_dot_product_attention(q, k, v, mask=None, is_causal=False, scale=None, return_weights=False):
    """out = softmax(q kᵀ · scale, blocked scores −∞) v,  scale = 1/√d_k unless given.

    q (…, L, d_k), k (…, S, d_k), v (…, S, d_v)  ->  out (…, L, d_v); weights (…, L, S) sum to 1 per row.
    A query that may attend to no key (a fully masked row) gets zero weights, so a zero output and zero
    gradients, never NaN (its shift is 0 and its sum 0 is divided as 1). ``return_weights`` adds the weights,
    cut from the tape.
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    L, S = q.shape[-2], k.shape[-2]
    scale = 1 / math.sqrt(max(q.shape[-1], 1)) if scale is None else float(scale)
    scores = (q @ k.mT) * scale                         # (…, L, S)
    allowed = _allowed(mask, is_causal, L, S)
    if allowed is not None:
        scores = where(allowed, scores, -np.inf)                     # blocked: e^{−∞} = 0
    row_max = scores.data.max(axis=-1, keepdims=True)
    shift = Tensor(np.where(np.isfinite(row_max), row_max, 0))       # a constant (see _row_max); 0 if fully masked
    exps = (scores - shift).exp()
    totals = exps.sum(axis=-1, keepdims=True)
    weights = exps / where(totals.data > 0, totals, 1.0)             # a fully masked row: 0 / 1 = 0
    out = weights @ v
    return (out, weights.detach()) if return_weights else out


# ------------------------------------------------------------------------------------------------------------
# Batch norm, embedding, transposed convolution
# ------------------------------------------------------------------------------------------------------------
def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """y = (x - μ) / √(σ² + ε) · w + b per channel (axis 1), written as the formula.

    x (N, C, *); running_mean, running_var, weight, bias (C,); y has x's shape.
    training=True: μ and σ² are the batch's mean and biased variance over every axis but the channel axis.
    training=False: μ = running_mean, σ² = running_var (constants). (F.batch_norm on an empty batch in training
    passes training=False here with placeholder statistics: there is no batch to take them from.)
    Unlike ``F.batch_norm`` this computes the output only: it never updates the running statistics
    (``momentum`` is accepted for the same signature and unused).
    """
    x = as_tensor(x)
    channel_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)         # broadcasts a (C,) vector along axis 1
    if training:
        axes = (0,) + tuple(range(2, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    else:                                                         # constants (copies), in x's dtype, as F's
        mean = Tensor._wrap(np.array(_data(running_mean), dtype=x.dtype).reshape(channel_shape))
        var = Tensor._wrap(np.array(_data(running_var), dtype=x.dtype).reshape(channel_shape))
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

    indices: integers, any shape (*); weight (num_embeddings, D)  ->  y (*, D).
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
    Shapes: x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,)  ->  y (N, C_out, H', W').
    """
    x, weight = as_tensor(x), as_tensor(weight)
    (sh, sw), (ph, pw) = _pair2(stride), _pair2(padding)
    (oh, ow), (dil_h, dil_w) = _pair2(output_padding), _pair2(dilation)
    C_in, Og, kh, kw = weight.shape
    stuffed = _zeros_between(_zeros_between(x, sh, axis=2), sw, axis=3)                  # step 1
    padded = _pad_or_crop(stuffed, dil_h * (kh - 1) - ph, dil_h * (kh - 1) - ph + oh, axis=2)  # step 2
    padded = _pad_or_crop(padded, dil_w * (kw - 1) - pw, dil_w * (kw - 1) - pw + ow, axis=3)
    # step 3: the flipped, channel-swapped kernel, gathered from W by an index map (integer indexing is
    # differentiable: its gradient adds each entry back to where it was read)
    positions = np.arange(weight.size).reshape(groups, C_in // groups, Og, kh, kw)
    flipped = positions.transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1].reshape(-1)
    w = weight.reshape(-1)[flipped].reshape(groups * Og, C_in // groups, kh, kw)
    return conv2d(padded, w, bias, stride=1, padding=0, dilation=(dil_h, dil_w), groups=groups)


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
