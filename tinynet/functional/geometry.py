"""Window geometry: where a sliding window (a conv kernel or a pooling window) reads, and how big its output is.

Convolution and pooling slide a kh x kw window over an NCHW image in the same way. With stride s, padding p
(cells added around the image) and dilation d (the gap between kernel taps), output pixel (r, q) is computed
from the input pixels

    x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left]        for every tap (i, j), i < kh, j < kw

(a tap that falls outside the image reads padding), and the output size along each axis is

    H' = floor((H + p_top + p_bottom − d·(k − 1) − 1) / s) + 1          (with p_top = p_bottom = p: the usual
                                                                          floor((H + 2p − d(k−1) − 1)/s) + 1)

Arguments shared by every windowed function
-------------------------------------------
``stride`` and ``dilation``: an int or an (h, w) pair, >= 1. ``padding``: an int or (h, w) pair >= 0,
``'valid'`` (no padding) or ``'same'`` (stride 1 only: pad d·(k−1) in total so H' = H; when that total is odd the
extra row/column goes at the bottom/right, as in PyTorch). ``kernel_size``: an int or (kh, kw) pair.

This module normalises those arguments once (``window_geometry``, ``pool_geometry``) and walks the taps as
plain strided slices (``taps``), so that conv2d, im2col, col2im and pooling share one copy of the index math.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["pair", "padding_sides", "WindowGeometry", "conv_output_size", "window_geometry", "pool_geometry",
           "axis_range", "taps"]


def pair(op, name, value, minimum):
    """``value`` (an int or a pair of ints) as a pair (h, w), each >= ``minimum``, or a clear error."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints (h, w), got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def padding_sides(op, padding, kernel, stride, dilation):
    """Padding as ((top, bottom), (left, right)) from an int, a pair, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1 (the output could not keep the input's "
                                 f"size with stride {stride}); give the padding as numbers instead")
            sides = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)                       # H' = H + total − d(k−1) = H
                sides.append((total // 2, total - total // 2))
            return tuple(sides)
        raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    ph, pw = pair(op, "padding", padding, 0)
    return (ph, ph), (pw, pw)


class WindowGeometry(NamedTuple):
    """Everything about a sliding window, normalised: pairs of ints, padding as ((top, bottom), (left, right))."""
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    in_size: tuple      # (H, W)
    out_size: tuple     # (H', W')


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """floor((size + 2·padding − dilation·(kernel_size − 1) − 1) / stride) + 1, for one axis (ints)."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def window_geometry(op, in_size, kernel_size, stride, padding, dilation):
    """Normalise the window arguments and compute the output size, with an error if the window does not fit."""
    kernel = pair(op, "kernel_size", kernel_size, 1)
    stride = pair(op, "stride", stride, 1)
    dilation = pair(op, "dilation", dilation, 1)
    pads = padding_sides(op, padding, kernel, stride, dilation)
    out = []
    for axis, size, k, s, d, (lo, hi) in zip("HW", in_size, kernel, stride, dilation, pads):
        span = d * (k - 1) + 1                            # the dilated kernel's extent
        if size + lo + hi < span:
            raise ValueError(
                f"{op}: the input is too small for the kernel along {axis}: size {size} + padding {lo}+{hi} = "
                f"{size + lo + hi}, but the dilated kernel spans {span} (kernel {k}, dilation {d}); "
                f"input (H, W) = {tuple(in_size)}, kernel = {kernel}")
        out.append((size + lo + hi - span) // s + 1)
    return WindowGeometry(kernel, stride, pads, dilation, tuple(in_size), tuple(out))


def pool_geometry(op, x, kernel_size, stride, padding):
    """The geometry of a pooling window on x (N, C, H, W): ``stride`` defaults to the kernel (PyTorch's
    non-overlapping windows), no dilation, and padding at most half the kernel, so that every window holds at
    least one real pixel."""
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be floating-point, got dtype {x.dtype}")
    kernel = pair(op, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else stride
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair of ints, got {padding!r}")
    pads = pair(op, "padding", padding, 0)
    if any(p > k // 2 for p, k in zip(pads, kernel)):
        raise ValueError(f"{op}: padding {pads} must be at most half the kernel size {kernel} (so that every "
                         f"window holds at least one real pixel), as in PyTorch")
    return window_geometry(op, x.shape[2:], kernel, stride, pads, 1)


def axis_range(offset, stride, n_out, n_in):
    """Outputs r in [r0, r1) read input index r·stride + offset inside [0, n_in); return (r0, r1, input slice)."""
    r0 = max(0, -(offset // stride))                      # first r with r·stride + offset >= 0
    r1 = min(n_out, (n_in - 1 - offset) // stride + 1)    # one past the last r with r·stride + offset <= n_in − 1
    if r1 <= r0:
        return 0, 0, slice(0, 0)
    start = r0 * stride + offset
    return r0, r1, slice(start, start + (r1 - r0 - 1) * stride + 1, stride)


def taps(geo):
    """For each kernel tap (i, j): (i, j, out_index, in_index).

    ``x[..., in_index]`` are the input pixels that tap (i, j) reads for the outputs ``y[..., out_index]``;
    the other outputs' tap (i, j) falls on padding. Output (r, q) reads input (r·s_h + i·d_h − p_top,
    q·s_w + j·d_w − p_left), so both indices are plain (strided) slices: no index arrays, no copy of a padded x.
    """
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dil_h, dil_w) = geo.kernel, geo.stride, geo.padding, geo.dilation
    (H, W), (Ho, Wo) = geo.in_size, geo.out_size
    for i in range(kh):
        r0, r1, rows = axis_range(i * dil_h - pt, sh, Ho, H)
        for j in range(kw):
            q0, q1, cols = axis_range(j * dil_w - pl, sw, Wo, W)
            yield i, j, (slice(r0, r1), slice(q0, q1)), (rows, cols)
