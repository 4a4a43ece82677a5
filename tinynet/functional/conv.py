"""2-D convolution: ``conv2d`` (by im2col and one matrix product) and ``pointwise_conv2d`` (1x1, no im2col).

Layouts are PyTorch's: images are NCHW, a conv weight is (O, C/groups, kh, kw). Window arguments (stride,
padding incl. 'same'/'valid', dilation) and the output size: ``geometry.py``. The columns: ``im2col.py``.
Depthwise convolutions have their own kernel: ``depthwise.py``. The textbook versions, built from
differentiable ops only: ``reference.py``.

What a convolution computes (a *cross-correlation*, as in every deep-learning library)::

    y[n, o, r, q] = b[o] + Σ_c Σ_i Σ_j  W[o, c, i, j] · x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left]

(x is 0 outside the image). With cols = im2col(x), this is one matrix product per image:
``y[n] = W.reshape(O, C·kh·kw) @ cols[n]``, shape (O, H'·W'), which is already NCHW.
"""
from __future__ import annotations

import numpy as np

from ..tensor import as_tensor, make_result
from . import reference as R
from .geometry import window_geometry
from .im2col import col2im_by_tap, col2im_same_size, im2col_array, output_is_input_sized
from .reference_mode import reference_is_on

__all__ = ["conv2d", "pointwise_conv2d"]


# ------------------------------------------------------------------------------------------------------------
# Checks shared by the convolutions (conv2d, pointwise_conv2d, depthwise_conv2d)
# ------------------------------------------------------------------------------------------------------------
def check_input(op, x):
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")


def check_weight(op, weight, layout):
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D {layout}, got shape {weight.shape}")


def check_bias(op, bias, out_channels):
    if bias is None:
        return None
    bias = as_tensor(bias)
    if bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},) (one per output channel), got {bias.shape}")
    return bias


# ------------------------------------------------------------------------------------------------------------
# conv2d
# ------------------------------------------------------------------------------------------------------------
def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, r, q] = b[o] + Σ_{c ∈ group(o)} Σ_{i,j} W[o, c, i, j] · x[n, c, u, v],
    u = r·s_h + i·d_h − p_top,  v = q·s_w + j·d_w − p_left   (x is 0 in the padding).

    Reference: `R.conv2d` (im2col, one matrix product, reshape).

    Shapes: x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,), y (N, O, H', W') with
    H' = floor((H + 2p − d(kh−1) − 1)/s) + 1 (see ``geometry.py`` for the window arguments). With groups > 1,
    output channels [k·O/groups, (k+1)·O/groups) see only input channels [k·C/groups, (k+1)·C/groups);
    groups = 1 is the ordinary conv.

    Forward, with cols = im2col(x) viewed as (N, groups, C/groups·kh·kw, H'W') and W as
    (groups, O/groups, C/groups·kh·kw)::

        y[n, k] = W[k] @ cols[n, k]  (+ b)            (O/groups, H'W') per image and group k: NCHW directly

    Backward (g = dL/dy viewed as (N, groups, O/groups, H'W'))::

        dW[k] = Σ_n g[n, k] @ cols[n, k]ᵀ              (O/groups, C/groups·kh·kw)
        dx    = col2im(W[k]ᵀ @ g[n, k])               (N, C, H, W): each column entry goes back to its pixel
        db    = Σ_{n, r, q} g[n, o, r, q]             (O,): b was broadcast to every output pixel

    Speed and memory (cols is kh·kw times the input, 9x for 3x3). A 1x1 kernel with stride 1 and no padding
    needs no im2col at all: its columns are x itself, viewed as (N, C, H·W). cols is kept from the forward pass
    for dW, and dropped as soon as dW is done (a second backward with retain_graph=True rebuilds it from x).
    dcols = Wᵀg would be just as big, so col2im takes it one kernel row at a time: the rows of tap (i, j) are
    W[:, :, i, j]ᵀ g, computed just before they are added back (``_dcols_by_kernel_row``). When the output has
    the input's size (stride 1, 'same' padding: the common case), each tap is one constant shift of an image's
    flattened planes, and the rows are added with one long contiguous ``+=`` per image (``col2im_same_size``).
    Peak of a forward + backward: about kh·kw·|x| + |y| + the per-image products of dW, where the textbook
    version holds cols, dcols, y and dx together (~2x more). Those products, (N, C/groups·kh·kw, O/groups) before
    the sum over images, are small for big images (0.7x the input for 32 -> 64 channels at 28x28) but not for
    small ones with many channels (5.9x for 64 -> 128 at 14x14). PyTorch's fallback im2col kernel (slow_conv2d;
    its float32 CPU convs normally run on oneDNN) avoids them: BLAS adds each image's product into dW (a GEMM
    with β = 1), one image at a time. ``np.matmul`` cannot accumulate, and a Python loop over the batch (one
    product, then ``+=``, per image) was ~15% slower on that 14x14 workload's dW.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    check_input("conv2d", x)
    check_weight("conv2d", weight, "(out_channels, in_channels/groups, kh, kw)")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    N, C, H, W = x.shape
    O, Cg, kh, kw = weight.shape
    if C % groups or O % groups:
        raise ValueError(f"conv2d: groups={groups} must divide both the input channels ({C}) and the output "
                         f"channels ({O}; weight shape {weight.shape})")
    if Cg * groups != C:
        raise ValueError(f"conv2d: the input has {C} channels (shape {x.shape}), but weight {weight.shape} with "
                         f"groups={groups} expects in_channels = weight.shape[1]·groups = {Cg * groups}")
    bias = check_bias("conv2d", bias, O)
    geo = window_geometry("conv2d", (H, W), (kh, kw), stride, padding, dilation)
    if reference_is_on():
        return R.conv2d(x, weight, bias, stride, padding, dilation, groups)
    Ho, Wo = geo.out_size
    Og, K, L = O // groups, Cg * kh * kw, Ho * Wo                    # per group: outputs, column length, pixels
    pointwise = (kh, kw) == (1, 1) and geo.stride == (1, 1) and geo.padding == ((0, 0), (0, 0))

    def columns():                                                   # (N, groups, K, L)
        cols = x.data.reshape(N, C, H * W) if pointwise else im2col_array(x.data, geo)
        return cols.reshape(N, groups, K, L)

    cols = columns()
    w3 = weight.data.reshape(groups, Og, K)                          # (groups, O/groups, K)
    y = np.matmul(w3, cols)                                          # (N, groups, O/groups, L)
    if bias is not None:                                             # on (..., L): long rows, one fast pass
        y += bias.data.reshape(groups, Og, 1)
    y = y.reshape(N, O, Ho, Wo)
    saved = [cols] if weight.requires_grad else []                   # needed again only for dW
    del cols
    inputs = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g_grouped = g.reshape(N, groups, Og, L)                      # (N, groups, O/groups, L)
        dw = dx = None
        if weight.requires_grad:
            cols = saved.pop() if saved else columns()               # rebuilt only on a second backward
            # dWᵀ = Σ_n cols[n] @ g[n]ᵀ: the same sum; OpenBLAS runs this orientation 5-15% faster here
            dw_t = np.matmul(cols, g_grouped.swapaxes(-1, -2)).sum(axis=0)   # (groups, K, O/groups), Σ images
            dw = np.ascontiguousarray(dw_t.swapaxes(-1, -2)).reshape(weight.shape)   # C order, as the weight
            del cols                                                 # free kh·kw·|x| before dcols exists
        if x.requires_grad:
            if pointwise:                                            # dcols = Wᵀ g is dx itself
                dx = np.matmul(w3.swapaxes(-1, -2), g_grouped).reshape(x.shape)
            else:                                                    # dx = col2im(Wᵀ g), one kernel row at a time
                dtype = np.result_type(weight.data, g)
                add_back = col2im_same_size if output_is_input_sized(geo) else col2im_by_tap
                dx = add_back(_dcols_by_kernel_row(weight.data, g_grouped, geo, dtype), x.shape, geo, dtype)
        if bias is None:
            return dx, dw
        db = np.einsum("nohw->o", g) if bias.requires_grad else None   # Σ over images, pixels
        return dx, dw, db

    return make_result("conv2d", y, inputs, backward,
                       lambda *tensors: R.conv2d(*tensors, stride=stride, padding=padding, dilation=dilation,
                                                 groups=groups))


def _dcols_by_kernel_row(weight, g_grouped, geo, dtype):
    """``tap_rows(i, j)`` for col2im: the rows (c, i, j) of dcols = Wᵀ g, shape (N, groups, C/groups, H', W').

    The rows of tap (i, j) are W[:, :, i, j]ᵀ g. They are computed for a whole kernel row i at once (one matrix
    product with kw·C/groups rows: bigger products run faster than kw small ones, ~15% on a 3x3 conv) and kept
    until col2im moves on to the next kernel row, so at most kw/(kh·kw) of dcols exists at any time. Every kernel
    row is written into the same buffer (``out=``): a fresh buffer per row would cost its page faults again.
    The slabs handed out are scratch, valid until a tap of another kernel row is asked for (that overwrites
    them), and col2im may overwrite them: ask for each tap once, kernel row by kernel row.
    """
    O, Cg, kh, kw = weight.shape
    N, groups, Og, _ = g_grouped.shape
    Ho, Wo = geo.out_size
    w_rows = np.ascontiguousarray(                                   # (kh, groups, kw·C/groups, O/groups)
        weight.reshape(groups, Og, Cg, kh, kw).transpose(3, 0, 4, 2, 1)).reshape(kh, groups, kw * Cg, Og)
    row_buffer = np.empty((N, groups, kw * Cg, Ho * Wo), dtype=dtype)   # one kernel row of dcols
    row_in_buffer = None

    def tap_rows(i, j):
        nonlocal row_in_buffer
        if row_in_buffer != i:                                       # a new kernel row overwrites the old one
            np.matmul(w_rows[i], g_grouped, out=row_buffer)
            row_in_buffer = i
        return row_buffer.reshape(N, groups, kw, Cg, Ho, Wo)[:, :, j]   # (N, groups, C/groups, H', W')

    return tap_rows


# ------------------------------------------------------------------------------------------------------------
# pointwise_conv2d
# ------------------------------------------------------------------------------------------------------------
def pointwise_conv2d(x, weight, bias=None):
    """y[n, o, h, w] = b[o] + Σ_c W[o, c, 0, 0] · x[n, c, h, w]: a 1x1 convolution, the same (O, C) matrix
    applied to the channel vector of every pixel.

    Reference: `R.pointwise_conv2d`.

    Shapes: x (N, C, H, W), weight (O, C, 1, 1), bias (O,), y (N, O, H, W). With X = x viewed as (N, C, H·W)
    (a view: no im2col copy) and Wm = weight viewed as (O, C)::

        y[n] = Wm @ X[n] (+ b)             (O, C)·(C, HW) = (O, HW), already NCHW

    Backward (g = dL/dy viewed as (N, O, HW))::

        dX[n] = Wmᵀ @ g[n]                  (C, O)·(O, HW)
        dW    = Σ_n g[n] @ X[n]ᵀ            (O, HW)·(HW, C), summed over the batch
        db    = Σ_{n, pixels} g
    """
    x, weight = as_tensor(x), as_tensor(weight)
    check_input("pointwise_conv2d", x)
    check_weight("pointwise_conv2d", weight, "(out_channels, in_channels, 1, 1)")
    N, C, H, W = x.shape
    O = weight.shape[0]
    if weight.shape[2:] != (1, 1) or weight.shape[1] != C:
        raise ValueError(f"pointwise_conv2d: weight must have shape (out_channels, {C}, 1, 1) for an input with "
                         f"{C} channels (shape {x.shape}), got {weight.shape}")
    bias = check_bias("pointwise_conv2d", bias, O)
    if reference_is_on():
        return R.pointwise_conv2d(x, weight, bias)
    X = x.data.reshape(N, C, H * W)                                  # (N, C, HW)
    Wm = weight.data.reshape(O, C)                                   # (O, C)
    y = np.matmul(Wm, X)                                             # (N, O, HW)
    if bias is not None:
        y += bias.data.reshape(O, 1)
    y = y.reshape(N, O, H, W)
    inputs = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g3 = g.reshape(N, O, H * W)                                  # (N, O, HW)
        dx = np.matmul(Wm.T, g3).reshape(x.shape) if x.requires_grad else None
        dw = np.matmul(g3, X.swapaxes(1, 2)).sum(axis=0).reshape(weight.shape) if weight.requires_grad else None
        if bias is None:
            return dx, dw
        db = np.einsum("nohw->o", g) if bias.requires_grad else None   # Σ over images, pixels
        return dx, dw, db

    return make_result("pointwise_conv2d", y, inputs, backward, R.pointwise_conv2d)
