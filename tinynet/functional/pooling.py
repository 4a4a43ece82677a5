"""Pooling: ``max_pool2d``, ``avg_pool2d``, ``global_avg_pool2d`` on NCHW images.

A pooling window slides exactly like a convolution's (same output size, same index math: see ``geometry.py``), but
instead of a learned weighted sum it takes the max or the mean of the window, channel by channel. The code
walks the kh·kw window taps: for tap (i, j), output (r, q) reads input (r·s + i − p, q·s + j − p), a strided
slice of x (``geometry.taps``); outputs whose tap falls on padding skip it. One pass per tap, no Python loop over
pixels.
"""
from __future__ import annotations

import numpy as np

from ..tensor import as_tensor, make_result
from . import reference as R
from .geometry import pool_geometry, taps
from .reference_mode import reference_is_on

__all__ = ["max_pool2d", "avg_pool2d", "global_avg_pool2d"]


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """y[n, c, r, q] = max over the window of x[n, c, r·s + i − p, q·s + j − p], i < kh, j < kw.

    Reference: `R.max_pool2d` (im2col, then each window's first maximum).

    Shapes: x (N, C, H, W), y (N, C, H', W'), H' = floor((H + 2p − kh)/s) + 1. ``stride`` defaults to
    ``kernel_size``; padding (at most half the kernel) never wins: padded cells are simply not candidates,
    as if they held −∞.

    Backward: only the arg-max of each window moved y, so dx[arg-max of window (r, q)] += g[r, q] and every
    other pixel of the window gets 0 (overlapping windows may send several contributions to one pixel).
    **Ties**: when several pixels of a window share the maximum, the whole gradient goes to the *first* of them
    in row-major window order (top-left first), as PyTorch's CPU kernel does. Any split is a valid subgradient
    at a tie, so gradient checks must avoid ties (``tinynet.testing.separated_array``). A NaN in a window wins
    (the output is NaN, as in PyTorch).
    """
    x = as_tensor(x)
    geo = pool_geometry("max_pool2d", x, kernel_size, stride, padding)
    if reference_is_on():
        return R.max_pool2d(x, kernel_size, stride, padding)
    N, C = x.shape[:2]
    Ho, Wo = geo.out_size
    best = np.full((N, C, Ho, Wo), -np.inf, dtype=x.dtype)           # running max over the taps
    no_tap = geo.kernel[0] * geo.kernel[1]                           # "no pixel read yet" (taps are 0 .. kh·kw−1)
    arg = np.full((N, C, Ho, Wo), no_tap, dtype=np.min_scalar_type(no_tap))   # winning tap
    tap_slices = list(taps(geo))
    for t, (_, _, (out_rows, out_cols), (in_rows, in_cols)) in enumerate(tap_slices):
        value = x.data[:, :, in_rows, in_cols]
        best_here, arg_here = best[:, :, out_rows, out_cols], arg[:, :, out_rows, out_cols]   # views
        # strict >: on a tie the earlier tap stays. A window's first real pixel always takes the lead, even at
        # −∞ (then the gradient goes to it, as in PyTorch, not to a padding position).
        better = (value > best_here) | np.isnan(value) | (arg_here == no_tap)
        np.copyto(best_here, value, where=better)
        np.copyto(arg_here, t, where=better)

    def backward(g):
        dx = np.zeros(x.shape, dtype=g.dtype)
        for t, (_, _, (out_rows, out_cols), (in_rows, in_cols)) in enumerate(tap_slices):
            won = arg[:, :, out_rows, out_cols] == t
            dx[:, :, in_rows, in_cols] += np.where(won, g[:, :, out_rows, out_cols], 0)
        return (dx,)

    return make_result("max_pool2d", best, (x,), backward,
                       lambda t: R.max_pool2d(t, kernel_size, stride, padding))


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """y[n, c, r, q] = (1 / (kh·kw)) Σ_{i,j} x[n, c, r·s + i − p, q·s + j − p]   (zero padding counted).

    Reference: `R.avg_pool2d` (im2col, then the mean of each window).

    Shapes as ``max_pool2d``. The divisor is always kh·kw, padded zeros included (PyTorch's default,
    ``count_include_pad=True``): so avg_pool2d is exactly a depthwise convolution with the constant kernel
    1/(kh·kw).

    Backward: each window pixel contributed with weight 1/(kh·kw):  dx[n, c, r·s + i − p, q·s + j − p] +=
    g[n, c, r, q] / (kh·kw)  for every tap (i, j) (overlapping windows add up).
    """
    x = as_tensor(x)
    geo = pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    if reference_is_on():
        return R.avg_pool2d(x, kernel_size, stride, padding)
    N, C = x.shape[:2]
    Ho, Wo = geo.out_size
    count = geo.kernel[0] * geo.kernel[1]
    tap_slices = list(taps(geo))
    total = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for _, _, (out_rows, out_cols), (in_rows, in_cols) in tap_slices:
        total[:, :, out_rows, out_cols] += x.data[:, :, in_rows, in_cols]
    y = total / count                                                # (N, C, H', W'), x's dtype

    def backward(g):
        share = g / count                                            # each of the kh·kw pixels' part
        dx = np.zeros(x.shape, dtype=g.dtype)
        for _, _, (out_rows, out_cols), (in_rows, in_cols) in tap_slices:
            dx[:, :, in_rows, in_cols] += share[:, :, out_rows, out_cols]
        return (dx,)

    return make_result("avg_pool2d", y, (x,), backward,
                       lambda t: R.avg_pool2d(t, kernel_size, stride, padding))


def global_avg_pool2d(x):
    """y[n, c, 0, 0] = mean over (h, w) of x[n, c, h, w]:  x (N, C, H, W) -> y (N, C, 1, 1).

    Reference: `R.global_avg_pool2d` (the same: this op is already one differentiable ``mean``).

    The output keeps two size-1 axes, as PyTorch's ``adaptive_avg_pool2d(x, 1)`` (and ``nn.AdaptiveAvgPool2d(1)``)
    does; Keras' ``GlobalAveragePooling2D`` returns (N, C) instead: follow it with ``Flatten()`` (or
    ``y.reshape(N, C)``) before a ``Linear``.

    Backward: every pixel contributed 1/(H·W) of the mean:  dx[n, c, h, w] = g[n, c, 0, 0] / (H·W)
    (it is the ``mean`` op over axes (2, 3) with keepdims=True, whose rule lives in ops/reductions.py).
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"global_avg_pool2d: input must be 4-D (N, C, H, W), got shape {x.shape}")
    return x.mean(axis=(2, 3), keepdims=True)
