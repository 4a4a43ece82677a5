"""im2col and col2im: every sliding window of an image as a column, and back.

Both are differentiable ops on the tape: each is the other's adjoint, so each one's backward is the other.

im2col (x (N, C, H, W) -> cols (N, C·kh·kw, H'·W'))
-----------------------------------------------------
Copy, for every output position (r, q), the C·kh·kw input values its window reads into one column (window
geometry, padding and output size: see ``geometry.py``; padding reads 0)::

    cols[n, (c·kh + i)·kw + j, r·W' + q] = x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left]

Row (c, i, j) of a column is "channel c seen through kernel tap (i, j)"; column (r, q) is output pixel (r, q).
It is the layout of ``torch.nn.functional.unfold``. With it a convolution is one matrix product per image:
``y[n] = W.reshape(O, C·kh·kw) @ cols[n]`` (``reference.conv2d``). The price is memory: cols holds kh·kw copies
of the input (9x for a 3x3 kernel).

col2im (cols -> x of shape input_shape): the adjoint
----------------------------------------------------
Add every column entry back to the input pixel it was read from (entries read from padding are dropped)::

    x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left] += cols[n, (c·kh + i)·kw + j, r·W' + q]

Where windows overlap, a pixel was copied into several columns, so it receives the *sum* of their entries. So
⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for every x and c: col2im is im2col's transpose (adjoint).

Backward rules, from that identity. im2col is linear, cols = A x with A the 0/1 copy matrix, so for
g = dL/dcols the VJP is dx = Aᵀ g = col2im(g); col2im is x = Aᵀ cols, so for g = dL/dx it is dcols = A g =
im2col(g). Given a Tensor g (a gradient that is itself being differentiated, ``create_graph=True``), each rule
calls the other *op*, so the tape records it; given an array g, it calls the other's NumPy kernel.

The NumPy kernels (``im2col_array``, ``col2im_by_tap``, ``col2im_same_size``) are also what ``conv2d`` uses.
"""
from __future__ import annotations

import numpy as np

from ..autograd import differentiable_rules
from ..tensor import Tensor, as_tensor, make_result
from .geometry import taps, window_geometry

__all__ = ["im2col", "col2im"]        # F's names; the NumPy kernels below are imported by name (conv.py)

# Both rules below also work on a Tensor g, so these ops can be differentiated twice (autograd.py).
differentiable_rules("im2col", "col2im")


# ------------------------------------------------------------------------------------------------------------
# The differentiable ops
# ------------------------------------------------------------------------------------------------------------
def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """cols = im2col(x): every sliding window of x (N, C, H, W) as a column, cols (N, C·kh·kw, H'·W').

    Forward:  cols[n, (c·kh + i)·kw + j, r·W' + q] = x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left]
              (0 where that pixel is padding).
    Backward: dx = col2im(g)   (the adjoint: each entry of g goes back to the pixel it was read from).
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"im2col: x must be 4-D (N, C, H, W), got shape {x.shape}")
    geo = window_geometry("im2col", x.shape[2:], kernel_size, stride, padding, dilation)

    def backward(g):
        if isinstance(g, Tensor):
            return (col2im(g, x.shape, kernel_size, stride, padding, dilation),)
        return (col2im_array(g, x.shape, geo),)

    return make_result("im2col", im2col_array(x.data, geo), (x,), backward)


def col2im(cols, input_shape, kernel_size, stride=1, padding=0, dilation=1):
    """x = col2im(cols): cols (N, C·kh·kw, H'·W') added back onto an image of ``input_shape`` (N, C, H, W).

    Forward:  x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left] += cols[n, (c·kh + i)·kw + j, r·W' + q]
              (entries that fall on padding are dropped; overlapping windows add up).
    Backward: dcols = im2col(g)   (the adjoint: each column entry reads the gradient of the pixel it went to).
    """
    cols = as_tensor(cols)
    if len(input_shape) != 4:
        raise ValueError(f"col2im: input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    input_shape = tuple(int(s) for s in input_shape)
    N, C, H, W = input_shape
    geo = window_geometry("col2im", (H, W), kernel_size, stride, padding, dilation)
    (kh, kw), (Ho, Wo) = geo.kernel, geo.out_size
    if cols.shape != (N, C * kh * kw, Ho * Wo):
        raise ValueError(f"col2im: cols has shape {cols.shape}, but input_shape {input_shape} with kernel "
                         f"{geo.kernel}, stride {geo.stride}, padding {geo.padding}, dilation {geo.dilation} "
                         f"gives columns of shape {(N, C * kh * kw, Ho * Wo)}")

    def backward(g):
        if isinstance(g, Tensor):
            return (im2col(g, kernel_size, stride, padding, dilation),)
        return (im2col_array(g, geo),)

    return make_result("col2im", col2im_array(cols.data, input_shape, geo), (cols,), backward)


# ------------------------------------------------------------------------------------------------------------
# The NumPy kernels (arrays in, arrays out; shared with conv2d)
# ------------------------------------------------------------------------------------------------------------
def im2col_array(x, geo):
    """im2col of a NumPy array x (N, C, H, W) for the window ``geo``: cols (N, C·kh·kw, H'·W').

    Built in (N, C, kh, kw, H', W') order, so the long spatial axis stays innermost: the windows are first a
    strided *view* of the zero-padded input, then one copy writes them out in order (measured ~2x faster on
    28x28 images than kh·kw separate copies, each of which would sweep the whole buffer).
    """
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = geo.kernel, geo.stride, geo.padding, geo.dilation
    Ho, Wo = geo.out_size
    x_padded = x
    if pt or pb or pl or pr:                                          # the zero-padded input (N, C, Hp, Wp)
        x_padded = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=x.dtype)
        x_padded[:, :, pt:pt + H, pl:pl + W] = x
    # windows[n, c, i, j, r, q] = x_padded[n, c, r·s_h + i·d_h, q·s_w + j·d_w]: a *view*, made by choosing the
    # byte steps of each axis (tap i moves d_h rows, output r moves s_h rows; likewise for columns). No copy yet.
    step_n, step_c, step_row, step_col = x_padded.strides
    windows = np.lib.stride_tricks.as_strided(
        x_padded, shape=(N, C, kh, kw, Ho, Wo), writeable=False,
        strides=(step_n, step_c, dh * step_row, dw * step_col, sh * step_row, sw * step_col))
    cols = np.ascontiguousarray(windows)                              # the one copy, written front to back
    return cols.reshape(N, C * kh * kw, Ho * Wo)                      # a view: (c, i, j) rows, (r, q) columns


def col2im_array(cols, input_shape, geo):
    """col2im of a NumPy array cols (N, C·kh·kw, H'·W') onto a new array of ``input_shape`` (N, C, H, W)."""
    N, C, H, W = input_shape
    (kh, kw), (Ho, Wo) = geo.kernel, geo.out_size
    cols6 = cols.reshape(N, C, kh, kw, Ho, Wo)
    return col2im_by_tap(lambda i, j: cols6[:, :, i, j], input_shape, geo, cols.dtype)


def col2im_by_tap(tap_rows, input_shape, geo, dtype):
    """col2im, reading the columns one kernel tap at a time, taps in row-major order: ``tap_rows(i, j)`` returns
    the slab of rows (c, i, j) for every c, shape (N, C, H', W') (or (N, groups, C/groups, H', W')). col2im
    never needs two taps at once, so a caller can compute each slab just before it is added (conv2d's
    backward does: the full dcols, as big as cols, then never exists). One strided ``+=`` per kernel tap."""
    x = np.zeros(input_shape, dtype=dtype)
    for i, j, (out_rows, out_cols), (in_rows, in_cols) in taps(geo):
        slab = tap_rows(i, j)
        x_view = x.reshape(slab.shape[:-2] + x.shape[-2:])           # same memory, the slab's leading axes
        x_view[..., in_rows, in_cols] += slab[..., out_rows, out_cols]   # (N, C, rows, cols) per tap
    return x


def output_is_input_sized(geo):
    """True for stride 1 with H' = H and W' = W ('same' padding, e.g. a 3x3 kernel with padding 1). Then every
    kernel tap is one constant shift of an image's flattened planes (``col2im_same_size``)."""
    return geo.stride == (1, 1) and geo.out_size == geo.in_size


def col2im_same_size(tap_rows, input_shape, geo, dtype):
    """col2im when ``output_is_input_sized(geo)``: one long add per kernel tap. The slabs are overwritten.

    Flatten each image's group of channels, its C/groups planes one after another, into one row of C/groups·H·W
    values (the slab too: it has the same shape, since H' = H and W' = W). Output (c, r, q) reads, through tap
    (i, j), input pixel (c, r + a, q + b) with a = i·d_h − p_top and b = j·d_w − p_left; flattened, that is
    position c·H·W + r·W + q + (a·W + b): the *same* shift a·W + b for every output. So the whole tap is
    ``x_flat[n, g, p + shift] += slab_flat[n, g, p]`` over one contiguous range of p: N·groups long rows, where
    ``col2im_by_tap`` adds N·C·H' rows of W' pixels (numpy pays a fixed cost per row; with 32 images of 32 channels
    of 28x28, one tap's strided ``+=`` took ~7x as long as this one). Entries whose tap falls outside the image
    must not be added: flattened, they would land in another row or plane (or past either end of the row), so
    the slab is set to 0 there first:

    - rows r with r + a outside [0, H) (the tap reads above or below the image);
    - columns q with q + b outside [0, W) (it reads left or right of the image).
    """
    (dil_h, dil_w), ((pt, _), (pl, _)) = geo.dilation, geo.padding
    N, C, H, W = input_shape
    x = np.zeros(input_shape, dtype=dtype)
    for i, j, (out_rows, out_cols), _ in taps(geo):
        if out_rows.start == out_rows.stop or out_cols.start == out_cols.stop:
            continue                                                 # this tap reads only padding
        slab = tap_rows(i, j)                                        # (N, groups, C/groups, H, W), scratch
        slab[..., :out_rows.start, :] = 0                            # rows that read above the image
        slab[..., out_rows.stop:, :] = 0                             # ... below it
        slab[..., :out_cols.start] = 0                               # columns that read left of it
        slab[..., out_cols.stop:] = 0                                # ... right of it
        length = slab.shape[2] * H * W                               # C/groups·H·W
        slab_flat = slab.reshape(N, slab.shape[1], length)           # (N, groups, C/groups·H·W)
        x_flat = x.reshape(slab_flat.shape)
        shift = (i * dil_h - pt) * W + (j * dil_w - pl)
        lo, hi = max(0, -shift), min(length, length - shift)        # p and p + shift both in [0, length)
        x_flat[..., lo + shift:hi + shift] += slab_flat[..., lo:hi]
    return x
