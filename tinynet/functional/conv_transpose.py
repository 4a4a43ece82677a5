"""Transposed convolution (``conv_transpose2d``): the backward pass of conv2d with respect to its input, used
as a layer of its own to go *up* in resolution (decoders, U-Nets, GAN generators).

The idea in one line
--------------------
conv2d with weight W maps an image z (N, C_out, H_out, W_out) to x (N, C_in, H, W_in) by x = W · im2col(z) (per image
and group: im2col unfolds the windows, the matrix W of shape (C_in, C_out·kh·kw) mixes them). Its transpose, the
map that conv2d's backward applies to a gradient, goes the other way:

    y = col2im(Wᵀ x)            x (N, C_in, H, W_in)  ->  y (N, C_out, H_out, W_out)

Wᵀ x turns every input pixel into one column of C_out·kh·kw values, and col2im adds each column back onto the
kh x kw window of the output it belongs to: every input pixel *stamps* a copy of the kernel, scaled by its value,
onto the output, at stride s apart; where stamps overlap they add up. That is why a stride-2 transposed conv
doubles the resolution. Written out (x is 0 outside the input; sums over every index that lands there)::

    y[n, γ·C_out/groups + o, r·s_h + i·d_h − p_h, q·s_w + j·d_w − p_w]
        += Σ_c x[n, γ·C_in/groups + c, r, q] · W[γ·C_in/groups + c, o, i, j]        (γ: the group)

Shapes (PyTorch's layout): weight (C_in, C_out/groups, kh, kw) — the layout of the conv2d it transposes, whose
weight is (out = C_in, in/groups = C_out/groups, kh, kw) — bias (C_out,), and

    H_out = (H − 1)·s − 2p + d·(k − 1) + output_padding + 1.

Several output sizes map back to the same H under the forward conv (its floor division forgets the remainder);
``output_padding`` (< stride or < dilation) picks the larger ones by adding rows/columns at the bottom/right.

Backward (g = dL/dy (N, C_out, H_out, W_out)): y = col2im(Wᵀ x) is linear in x and in W, and im2col is col2im's
adjoint. With K = C_out/groups·kh·kw, g_cols = im2col(g) viewed as (N, groups, K, H·W_in) and X = x viewed as
(N, groups, C_in/groups, H·W_in), per group:

    dx = W · g_cols                (C_in/groups, K)·(K, H·W_in) per image
       = conv2d(g, W, stride, padding, dilation, groups)       — the forward conv itself, applied to g
    dW = Σ_n X[n] · g_cols[n]ᵀ     (C_in/groups, H·W_in)·(H·W_in, K), summed over the images
    db = Σ_{n, r, q} g[n, o, r, q]

The textbook version, ``tinynet.functional.reference.conv_transpose2d``, is the other classic picture: insert
s − 1 zeros between the input pixels, pad, and run an ordinary stride-1 conv with the flipped kernel.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F           # the public F.im2col / F.col2im, looked up when called
from ..tensor import Tensor, as_tensor, make_result
from . import reference as R
from .geometry import pair as _pair
from .reference_mode import reference_is_on

__all__ = ["conv_transpose2d"]


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """y = col2im(Wᵀ x) + b: the transpose of conv2d (see the module docstring for the math and its backward).

    x (N, C_in, H, W), weight (C_in, C_out/groups, kh, kw), bias (C_out,) -> y (N, C_out, H_out, W_out) with
    H_out = (H − 1)·stride − 2·padding + dilation·(kh − 1) + output_padding + 1, as
    ``torch.nn.functional.conv_transpose2d`` (note its argument order: groups before dilation).

    Reference: `R.conv_transpose2d` (zeros between the input pixels, padding, a conv with the flipped kernel).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    kernel, stride, padding, output_padding, dilation, out_size, conv_size = _transpose_geometry(
        x, weight, stride, padding, output_padding, groups, dilation)
    N, C_in, H, W_in = x.shape
    _, Og, kh, kw = weight.shape
    Cg, C_out = C_in // groups, Og * groups                          # input channels per group, output channels
    K = Og * kh * kw                                                 # rows of one group's columns
    L = conv_size[0] * conv_size[1]                                  # one column per (zero-extended) pixel
    bias = _checked_bias(bias, C_out, x.dtype)
    if reference_is_on():
        return R.conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)
    out_shape = (N, C_out) + out_size
    window = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)

    # With output_padding >= stride (allowed when it is < dilation), conv2d of a y this size has more outputs
    # (conv_size) than x has pixels: those extra positions stamp nothing, so x is taken as 0 there.
    X = _zero_extended(x.data, conv_size).reshape(N, groups, Cg, L)    # (N, groups, C_in/groups, L)
    W3 = weight.data.reshape(groups, Cg, K)                          # (groups, C_in/groups, K)
    cols = np.matmul(W3.swapaxes(-1, -2), X)                         # Wᵀ x: (N, groups, K, L), a column per pixel
    y = _array(F.col2im(cols.reshape(N, C_out * kh * kw, L), out_shape, **window))    # stamp them onto y
    del cols
    if bias is not None:
        y += bias.data.reshape(C_out, 1, 1)
    inputs = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g_cols = _array(F.im2col(g, **window)).reshape(N, groups, K, L)    # (N, groups, K, L): col2im's adjoint
        dx = dweight = db = None
        if x.requires_grad:
            dx_conv = np.matmul(W3, g_cols)                          # W · im2col(g) = conv2d(g, W), (N, C_in, L)
            dx = np.ascontiguousarray(dx_conv.reshape((N, C_in) + conv_size)[:, :, :H, :W_in])
        if weight.requires_grad:
            dweight = np.matmul(X, g_cols.swapaxes(-1, -2)).sum(axis=0).reshape(weight.shape)   # Σ_n X g_colsᵀ
        if bias is not None and bias.requires_grad:
            db = np.einsum("nohw->o", g)                             # Σ over images and pixels
        return (dx, dweight) if bias is None else (dx, dweight, db)

    settings = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    return make_result("conv_transpose2d", y, inputs, backward,
                       lambda *tensors: R.conv_transpose2d(*tensors, **settings))


def _transpose_geometry(x, weight, stride, padding, output_padding, groups, dilation):
    """Check the arguments; return kernel, stride, padding, output_padding, dilation, (H_out, W_out) and
    conv_size, all pairs; conv_size is the output size conv2d gives for an input of size (H_out, W_out), >= (H, W)."""
    op = "conv_transpose2d"
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C_in, H, W), got shape {x.shape}")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (in_channels, out_channels/groups, kh, kw), got shape "
                         f"{weight.shape}")
    if x.dtype.kind != "f" or weight.dtype != x.dtype:
        raise TypeError(f"{op}: input and weight must have the same floating dtype, got {x.dtype} and "
                        f"{weight.dtype} (convert one, e.g. module.to(np.float64))")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    C_in = x.shape[1]
    if weight.shape[0] != C_in or C_in % groups:
        raise ValueError(f"{op}: the input has {C_in} channels (shape {x.shape}), but weight {weight.shape} has "
                         f"{weight.shape[0]} input channels (weight.shape[0]), which groups={groups} must divide")
    kernel = (weight.shape[2], weight.shape[3])
    stride = _pair(op, "stride", stride, 1)
    padding = _pair(op, "padding", padding, 0)
    dilation = _pair(op, "dilation", dilation, 1)
    output_padding = _pair(op, "output_padding", output_padding, 0)
    for axis, extra, s, d in zip("HW", output_padding, stride, dilation):
        if extra >= s and extra >= d:
            raise ValueError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                             f"output_padding {output_padding}, stride {stride}, dilation {dilation} (axis {axis})")
    out_size, conv_size = [], []
    for axis, n, k, s, p, d, extra in zip("HW", x.shape[2:], kernel, stride, padding, dilation, output_padding):
        size = (n - 1) * s - 2 * p + d * (k - 1) + extra + 1
        if size < 1:
            raise ValueError(f"{op}: the output would have size {size} along {axis}: (H − 1)·stride − 2·padding + "
                             f"dilation·(k − 1) + output_padding + 1 with H = {n}, stride {s}, padding {p}, "
                             f"dilation {d}, kernel {k}, output_padding {extra}; reduce the padding")
        out_size.append(size)
        conv_size.append(F.conv_output_size(size, k, s, p, d))
    return kernel, stride, padding, output_padding, dilation, tuple(out_size), tuple(conv_size)


def _array(result):
    """The NumPy array of an F.im2col / F.col2im result (given arrays, they compute on arrays; a Tensor result
    is unwrapped: nothing here is recorded, the fused rule is array-only)."""
    return result.data if isinstance(result, Tensor) else result


def _zero_extended(x, size):
    """x (N, C, H, W) with zero rows/columns appended at the bottom/right up to ``size`` (x itself if it fits)."""
    if x.shape[2:] == size:
        return x
    extended = np.zeros(x.shape[:2] + size, dtype=x.dtype)
    extended[:, :, :x.shape[2], :x.shape[3]] = x
    return extended


def _checked_bias(bias, out_channels, dtype):
    if bias is None:
        return None
    bias = as_tensor(bias)
    if bias.shape != (out_channels,):
        raise ValueError(f"conv_transpose2d: bias must have shape ({out_channels},) (one per output channel), got "
                         f"{bias.shape}")
    if bias.dtype != dtype:
        raise TypeError(f"conv_transpose2d: bias has dtype {bias.dtype} but the input has dtype {dtype}")
    return bias
