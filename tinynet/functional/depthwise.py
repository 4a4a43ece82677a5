"""Depthwise convolution: one kh x kw filter per (input channel, multiplier), computed tap by tap.

A depthwise conv is ``conv2d`` with groups = C, but im2col's matrix product would spend most of its work on the
zeros of a block-diagonal weight, so it has its own kernel here. Its textbook version (``R.depthwise_conv2d``) is
literally im2col: channel c's columns, dotted with channel c's kernels.
"""
from __future__ import annotations

import numpy as np

from ..tensor import as_tensor, make_result
from . import reference as R
from .conv import check_bias, check_input, check_weight
from .geometry import window_geometry
from .reference_mode import reference_is_on

__all__ = ["depthwise_conv2d"]


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """y[n, c·m + k, r, q] = b[c·m + k] + Σ_{i,j} W[c·m + k, 0, i, j] · x[n, c, u, v],
    u = r·s_h + i·d_h − p_top,  v = q·s_w + j·d_w − p_left   (x is 0 in the padding).

    Reference: `R.depthwise_conv2d` (per-channel im2col columns, a per-channel dot with the kernel).

    Shapes: x (N, C, H, W), weight (C·m, 1, kh, kw) with channel multiplier m >= 1, bias (C·m,),
    y (N, C·m, H', W'). Output channel o = c·m + k reads only input channel c = o // m. It equals
    ``conv2d(x, weight, bias, stride, padding, dilation, groups=C)``. N = 0 gives an empty (0, C·m, H', W')
    result and zero weight and bias gradients, as in PyTorch.

    Backward (g = dL/dy)::

        dW[c·m + k, 0, i, j] = Σ_{n,r,q} g[n, c·m + k, r, q] · x[n, c, u, v]
        dx[n, c, u, v] += Σ_k W[c·m + k, 0, i, j] · g[n, c·m + k, r, q]      (for every r, q, i, j)
        db[c·m + k] = Σ_{n, r, q} g[n, c·m + k, r, q]

    How (the per-channel im2col, without materialising it). Lay the zero-padded images out channel-major and
    flatten each channel's N padded planes into one long row: xf (C, N·Hp·Wp). Moving by kernel tap (i, j) is
    moving by off = i·d_h·Wp + j·d_w along that row, so row t of channel c's im2col matrix is just the slice
    xf[c, off_t : off_t + L]. The stride-1 output at canvas position p is then

        y1[c, k, p] = Σ_taps W[c, k, tap] · xf[c, p + off_tap]

    — kh·kw multiply-adds of whole long rows (a loop over taps only; numpy runs each over all N·C·H·W
    pixels). Positions p past a row's last valid output are "garbage" (their window wraps into the next row or
    image) and are simply not read back. A stride s > 1 keeps every s-th row and column of the stride-1 result
    (it costs s² times the work of a native strided loop; the code stays one path). In backward, g is scattered
    onto the same canvas (zero at the garbage positions, so they add nothing): dW is one dot product per
    (channel, tap), dx is kh·kw shifted adds on the canvas, then the padding is cropped.

    Why channel-major: numpy pays a fixed cost (~0.1 µs) per row of a strided or broadcast operation. NCHW
    slices have N·C·H' rows of W' pixels, and that overhead was most of the time; C rows of N·Hp·Wp pixels
    make each tap one fast pass (measured ~5x faster than einsum over a sliding-window view). The price is two
    transposing copies, x into the canvas and the result back to NCHW.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    check_input("depthwise_conv2d", x)
    check_weight("depthwise_conv2d", weight, "(channels·multiplier, 1, kh, kw)")
    N, C, H, W = x.shape
    Cm, one, kh, kw = weight.shape
    if one != 1 or Cm % C or Cm == 0:
        raise ValueError(f"depthwise_conv2d: weight must have shape (C·m, 1, kh, kw) with C = {C} input channels "
                         f"(input shape {x.shape}) and an integer multiplier m >= 1, got weight {weight.shape}")
    m = Cm // C
    bias = check_bias("depthwise_conv2d", bias, Cm)
    geo = window_geometry("depthwise_conv2d", (H, W), (kh, kw), stride, padding, dilation)
    if reference_is_on():
        return R.depthwise_conv2d(x, weight, bias, stride, padding, dilation)
    (sh, sw), ((pt, pb), (pl, pr)), (dil_h, dil_w) = geo.stride, geo.padding, geo.dilation
    Ho, Wo = geo.out_size
    Hp, Wp = H + pt + pb, W + pl + pr                                # padded plane
    H1, W1 = Hp - dil_h * (kh - 1), Wp - dil_w * (kw - 1)            # stride-1 output size
    P = N * Hp * Wp                                                  # one channel's canvas, flattened
    offsets = [(i, j, i * dil_h * Wp + j * dil_w) for i in range(kh) for j in range(kw)]
    L = max(P - offsets[-1][2], 0)                                   # canvas positions every tap can read (0: N = 0)
    w4 = weight.data.reshape(C, m, kh, kw)
    dtype = np.result_type(x.data, weight.data)

    # Canvas: xf[c, n·Hp·Wp + u·Wp + v] = x[n, c, u − p_top, v − p_left] (0 in the padding).
    canvas = np.zeros((C, N, Hp, Wp), dtype=x.dtype)
    canvas[:, :, pt:pt + H, pl:pl + W] = x.data.transpose(1, 0, 2, 3)
    xf = canvas.reshape(C, P)

    acc = np.empty((C, m, P), dtype=dtype)                           # stride-1 outputs on the canvas grid;
    part = np.empty((C, m, L), dtype=dtype)                          # positions >= L are never read back
    for t, (i, j, off) in enumerate(offsets):
        product = acc[:, :, :L] if t == 0 else part                  # the first tap writes the sum directly
        np.multiply(xf[:, None, off:off + L], w4[:, :, i, j, None], out=product)   # (C, m, L)
        if t > 0:
            acc[:, :, :L] += part
    del part
    # Read the valid outputs back: rows/cols 0, s, 2s, ... of each plane, then NCHW.
    grid = acc.reshape(Cm, N, Hp, Wp)[:, :, 0:H1:sh, 0:W1:sw]        # (C·m, N, H', W')
    if bias is None:
        y = np.ascontiguousarray(grid.transpose(1, 0, 2, 3))
    else:
        y = grid.transpose(1, 0, 2, 3) + bias.data.reshape(Cm, 1, 1)   # the copy and the bias in one pass
    del acc, grid
    inputs = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        # g on the canvas grid: gf[c, k, n·Hp·Wp + r·s·Wp + q·s] = g[n, c·m + k, r, q], zero elsewhere.
        g_canvas = np.zeros((C, m, N, Hp, Wp), dtype=g.dtype)
        g_canvas[:, :, :, 0:H1:sh, 0:W1:sw] = g.reshape(N, C, m, Ho, Wo).transpose(1, 2, 0, 3, 4)
        gf = g_canvas.reshape(C, m, P)[:, :, :L]                     # (C, m, L)
        dx = dw = None
        if weight.requires_grad:
            dw = np.empty((C, m, kh, kw), dtype=dtype)
            for i, j, off in offsets:                                # (C, m, L) @ (C, L, 1): a dot per channel
                dw[:, :, i, j] = np.matmul(gf, xf[:, off:off + L, None])[:, :, 0]
            dw = dw.reshape(weight.shape)
        if x.requires_grad:
            dxf = np.empty((C, P), dtype=dtype)
            dxf[:, L:] = 0                                           # the first tap (off = 0) writes [0, L)
            part = np.empty((C, L), dtype=dtype)
            for t, (i, j, off) in enumerate(offsets):
                product = dxf[:, :L] if t == 0 else part
                if m == 1:
                    np.multiply(gf[:, 0], w4[:, 0, i, j, None], out=product)       # (C, L)
                else:                                                # Σ_k W[c, k, tap] · g[c, k, p]
                    np.matmul(w4[:, None, :, i, j], gf, out=product[:, None, :])
                if t > 0:
                    dxf[:, off:off + L] += part
            dx = np.ascontiguousarray(dxf.reshape(C, N, Hp, Wp)[:, :, pt:pt + H, pl:pl + W].transpose(1, 0, 2, 3))
        if bias is None:
            return dx, dw
        db = np.einsum("nohw->o", g) if bias.requires_grad else None   # Σ over images, pixels
        return dx, dw, db

    return make_result("depthwise_conv2d", y, inputs, backward,
                       lambda *tensors: R.depthwise_conv2d(*tensors, stride=stride, padding=padding,
                                                           dilation=dilation))
