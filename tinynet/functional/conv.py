"""2-D convolution by im2col: ``im2col`` / ``col2im``, ``conv2d``, ``depthwise_conv2d``, ``pointwise_conv2d``.

Layouts are PyTorch's: images are NCHW, a conv weight is (O, C/groups, kh, kw).

What a convolution computes (a *cross-correlation*, as in every deep-learning library)
---------------------------------------------------------------------------------------
With stride s, padding p (zeros around the image), dilation d (the gap between kernel taps)::

    y[n, o, r, q] = b[o] + Σ_c Σ_i Σ_j  W[o, c, i, j] · x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left]

(x is 0 outside the image), and the output size along each axis is

    H' = floor((H + p_top + p_bottom − d·(k − 1) − 1) / s) + 1          (with p_top = p_bottom = p: the usual
                                                                          floor((H + 2p − d(k−1) − 1)/s) + 1)

im2col turns this into one matrix product
-----------------------------------------
Copy, for every output position (r, q), the C·kh·kw input values its window reads into one column:

    cols[n, (c·kh + i)·kw + j, r·W' + q] = x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left]

Then the sum above is a matrix product per image: ``y[n] = W.reshape(O, C·kh·kw) @ cols[n]``, shape (O, H'·W'),
which is already NCHW. The columns are built in (N, C, kh, kw, H', W') order so that the long spatial axis stays
innermost: each of the kh·kw copies moves whole output rows, and the product writes NCHW directly (no transpose).
The price is memory: cols holds kh·kw copies of the input (9x for a 3x3 kernel).

Backward (G = dL/dy reshaped to (N, O, H'·W'))::

    dW = Σ_n G[n] @ cols[n]ᵀ                    (O, H'W')·(H'W', C·kh·kw) = (O, C·kh·kw)
    dcols[n] = Wᵀ @ G[n]                          (C·kh·kw, O)·(O, H'W') = (C·kh·kw, H'W')
    dx = col2im(dcols)                           every column entry is added back to the pixel it was read from
    db = Σ_{n, r, q} G                           b was broadcast to every output pixel

``col2im`` is the adjoint (transpose) of ``im2col``: where windows overlap, one pixel was copied into several
columns, so its gradient is the *sum* of those entries. It is written as kh·kw strided ``+=`` (one per tap),
and since each ``+=`` needs only one tap's rows of dcols, conv2d computes those rows (W[:, :, i, j]ᵀ G) just
before adding them: dcols, as big as cols, never exists as a whole. When the output has the input's size (stride
1, 'same' padding: the common case), each tap is one constant shift of an image's flattened planes, and conv2d
adds it with one long contiguous ``+=`` per image instead (``_col2im_same_size``).

Depthwise convolutions (one filter per channel) would waste im2col's matrix product on zeros; they have their
own tap-by-tap kernel (``depthwise_conv2d``). A 1x1 ("pointwise") conv needs no im2col at all: its columns are
the input itself (``pointwise_conv2d``).

Arguments shared by every function here
---------------------------------------
``stride`` and ``dilation``: an int or an (h, w) pair, >= 1. ``padding``: an int or (h, w) pair >= 0,
``'valid'`` (no padding) or ``'same'`` (stride 1 only: pad d·(k−1) in total so H' = H; when that total is odd the
extra row/column goes at the bottom/right, as in PyTorch). ``kernel_size``: an int or (kh, kw) pair.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..tensor import Tensor, as_tensor, make_result

__all__ = ["im2col", "col2im", "conv2d", "depthwise_conv2d", "pointwise_conv2d", "conv_output_size"]


# ------------------------------------------------------------------------------------------------------------
# Argument normalisation (shared with pooling.py)
# ------------------------------------------------------------------------------------------------------------
def _pair(op, name, value, minimum):
    """``value`` (an int or a pair of ints) as a pair (h, w), each >= ``minimum``, or a clear error."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints (h, w), got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def _padding(op, padding, kernel, stride, dilation):
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
    ph, pw = _pair(op, "padding", padding, 0)
    return (ph, ph), (pw, pw)


class ConvGeometry(NamedTuple):
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


def _geometry(op, in_size, kernel_size, stride, padding, dilation):
    """Normalise the window arguments and compute the output size, with an error if the window does not fit."""
    kernel = _pair(op, "kernel_size", kernel_size, 1)
    stride = _pair(op, "stride", stride, 1)
    dilation = _pair(op, "dilation", dilation, 1)
    pads = _padding(op, padding, kernel, stride, dilation)
    out = []
    for axis, size, k, s, d, (lo, hi) in zip("HW", in_size, kernel, stride, dilation, pads):
        span = d * (k - 1) + 1                            # the dilated kernel's extent
        if size + lo + hi < span:
            raise ValueError(
                f"{op}: the input is too small for the kernel along {axis}: size {size} + padding {lo}+{hi} = "
                f"{size + lo + hi}, but the dilated kernel spans {span} (kernel {k}, dilation {d}); "
                f"input (H, W) = {tuple(in_size)}, kernel = {kernel}")
        out.append((size + lo + hi - span) // s + 1)
    return ConvGeometry(kernel, stride, pads, dilation, tuple(in_size), tuple(out))


def _axis_range(offset, stride, n_out, n_in):
    """Outputs r in [r0, r1) read input index r·stride + offset inside [0, n_in); return (r0, r1, input slice)."""
    r0 = max(0, -(offset // stride))                      # first r with r·stride + offset >= 0
    r1 = min(n_out, (n_in - 1 - offset) // stride + 1)    # one past the last r with r·stride + offset <= n_in − 1
    if r1 <= r0:
        return 0, 0, slice(0, 0)
    start = r0 * stride + offset
    return r0, r1, slice(start, start + (r1 - r0 - 1) * stride + 1, stride)


def _taps(geo):
    """For each kernel tap (i, j): (i, j, out_index, in_index).

    ``x[..., in_index]`` are the input pixels that tap (i, j) reads for the outputs ``y[..., out_index]``;
    the other outputs' tap (i, j) falls on padding. Output (r, q) reads input (r·s_h + i·d_h − p_top,
    q·s_w + j·d_w − p_left), so both indices are plain (strided) slices: no index arrays, no copy of a padded x.
    """
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dh, dw) = geo.kernel, geo.stride, geo.padding, geo.dilation
    (H, W), (Ho, Wo) = geo.in_size, geo.out_size
    for i in range(kh):
        r0, r1, rows = _axis_range(i * dh - pt, sh, Ho, H)
        for j in range(kw):
            q0, q1, cols = _axis_range(j * dw - pl, sw, Wo, W)
            yield i, j, (slice(r0, r1), slice(q0, q1)), (rows, cols)


def _plain_array(op, x):
    if isinstance(x, Tensor):
        raise TypeError(f"{op} works on NumPy arrays, got a Tensor (it records nothing for autograd): pass "
                        f"x.data, or use conv2d, which calls {op} and has a backward rule")
    return np.asarray(x)


# ------------------------------------------------------------------------------------------------------------
# im2col / col2im (NumPy arrays)
# ------------------------------------------------------------------------------------------------------------
def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold every sliding window of ``x`` (N, C, H, W) into a column: cols (N, C·kh·kw, H'·W').

    Index math (x is 0 outside the image)::

        cols[n, (c·kh + i)·kw + j, r·W' + q] = x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left]

    Row (c, i, j) of a column is "channel c seen through kernel tap (i, j)"; column (r, q) is output pixel (r, q).
    The same layout as ``torch.nn.functional.unfold``. Built in (N, C, kh, kw, H', W') order, so the long
    spatial axis stays innermost: the windows are first a strided *view* of the zero-padded input, then one copy
    writes them out in order (measured ~2x faster on 28x28 images than kh·kw separate copies, each of which
    would sweep the whole buffer).
    """
    x = _plain_array("im2col", x)
    if x.ndim != 4:
        raise ValueError(f"im2col: x must be 4-D (N, C, H, W), got shape {x.shape}")
    return _im2col(x, _geometry("im2col", x.shape[2:], kernel_size, stride, padding, dilation))


def _im2col(x, geo):
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = geo.kernel, geo.stride, geo.padding, geo.dilation
    Ho, Wo = geo.out_size
    xp = x
    if pt or pb or pl or pr:                                          # the zero-padded input (N, C, Hp, Wp)
        xp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=x.dtype)
        xp[:, :, pt:pt + H, pl:pl + W] = x
    # windows[n, c, i, j, r, q] = xp[n, c, r·s_h + i·d_h, q·s_w + j·d_w]: a *view* of xp, made by choosing the
    # byte steps of each axis (tap i moves d_h rows, output r moves s_h rows; likewise for columns). No copy yet.
    step_n, step_c, step_row, step_col = xp.strides
    windows = np.lib.stride_tricks.as_strided(
        xp, shape=(N, C, kh, kw, Ho, Wo), writeable=False,
        strides=(step_n, step_c, dh * step_row, dw * step_col, sh * step_row, sw * step_col))
    cols = np.ascontiguousarray(windows)                              # the one copy, written front to back
    return cols.reshape(N, C * kh * kw, Ho * Wo)                      # a view: (c, i, j) rows, (r, q) columns


def col2im(cols, input_shape, kernel_size, stride=1, padding=0, dilation=1):
    """The adjoint of ``im2col``: add every column entry back to the input pixel it was read from.

    cols (N, C·kh·kw, H'·W') -> x (N, C, H, W) = input_shape::

        x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left] += cols[n, (c·kh + i)·kw + j, r·W' + q]

    Entries that were read from padding are dropped. Where windows overlap, a pixel was copied into several
    columns, so it receives the *sum* of their entries: ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for every x and c, which
    is why col2im of dL/dcols is dL/dx. One strided ``+=`` per kernel tap.
    """
    cols = _plain_array("col2im", cols)
    if len(input_shape) != 4:
        raise ValueError(f"col2im: input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    N, C, H, W = (int(s) for s in input_shape)
    geo = _geometry("col2im", (H, W), kernel_size, stride, padding, dilation)
    (kh, kw), (Ho, Wo) = geo.kernel, geo.out_size
    if cols.shape != (N, C * kh * kw, Ho * Wo):
        raise ValueError(f"col2im: cols has shape {cols.shape}, but input_shape {tuple(input_shape)} with kernel "
                         f"{geo.kernel}, stride {geo.stride}, padding {geo.padding}, dilation {geo.dilation} "
                         f"gives columns of shape {(N, C * kh * kw, Ho * Wo)}")
    cols6 = cols.reshape(N, C, kh, kw, Ho, Wo)
    return _col2im(lambda i, j: cols6[:, :, i, j], (N, C, H, W), geo, cols.dtype)


def _col2im(tap_rows, input_shape, geo, dtype):
    """col2im, reading the columns one kernel tap at a time, taps in row-major order: ``tap_rows(i, j)`` returns
    the slab of rows (c, i, j) for every c, shape (N, C, H', W') (or (N, groups, C/groups, H', W')). col2im
    never needs two taps at once, so a caller can compute each slab just before it is added (conv2d's
    backward does: the full dcols, as big as cols, then never exists)."""
    x = np.zeros(input_shape, dtype=dtype)
    for i, j, (out_rows, out_cols), (in_rows, in_cols) in _taps(geo):
        slab = tap_rows(i, j)
        x_view = x.reshape(slab.shape[:-2] + x.shape[-2:])           # same memory, the slab's leading axes
        x_view[..., in_rows, in_cols] += slab[..., out_rows, out_cols]   # (N, C, rows, cols) per tap
    return x


def _output_is_input_sized(geo):
    """True for stride 1 with H' = H and W' = W ('same' padding, e.g. a 3x3 kernel with padding 1). Then every
    kernel tap is one constant shift of an image's flattened planes (``_col2im_same_size``)."""
    return geo.stride == (1, 1) and geo.out_size == geo.in_size


def _col2im_same_size(tap_rows, input_shape, geo, dtype):
    """col2im when ``_output_is_input_sized(geo)``: one long add per kernel tap. The slabs are overwritten.

    Flatten each image's group of channels, its C/groups planes one after another, into one row of C/groups·H·W
    values (the slab too: it has the same shape, since H' = H and W' = W). Output (c, r, q) reads, through tap
    (i, j), input pixel (c, r + a, q + b) with a = i·d_h − p_top and b = j·d_w − p_left; flattened, that is
    position c·H·W + r·W + q + (a·W + b): the *same* shift a·W + b for every output. So the whole tap is
    ``x_flat[n, g, p + shift] += slab_flat[n, g, p]`` over one contiguous range of p: N·groups long rows, where
    ``_col2im`` adds N·C·H' rows of W' pixels (numpy pays a fixed cost per row; with 32 images of 32 channels
    of 28x28, one tap's strided ``+=`` took ~7x as long as this one). Entries whose tap falls outside the image
    must not be added: flattened, they would land in another row or plane (or past either end of the row), so
    the slab is set to 0 there first:

    - rows r with r + a outside [0, H) (the tap reads above or below the image);
    - columns q with q + b outside [0, W) (it reads left or right of the image).
    """
    (dil_h, dil_w), ((pt, _), (pl, _)) = geo.dilation, geo.padding
    N, C, H, W = input_shape
    x = np.zeros(input_shape, dtype=dtype)
    for i, j, (out_rows, out_cols), _ in _taps(geo):
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


# ------------------------------------------------------------------------------------------------------------
# Shared checks
# ------------------------------------------------------------------------------------------------------------
def _check_input(op, x):
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")


def _check_weight(op, weight, layout):
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D {layout}, got shape {weight.shape}")


def _check_bias(op, bias, out_channels):
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
    """y = conv(x, W) + b by im2col and one batched matrix product.

    Shapes: x (N, C, H, W), weight (O, C/groups, kh, kw), bias (O,), y (N, O, H', W') with
    H' = floor((H + 2p − d(kh−1) − 1)/s) + 1 (see the module docstring for the window arguments).

    Forward, with cols = im2col(x) viewed as (N, groups, C/groups·kh·kw, H'W') and W as
    (groups, O/groups, C/groups·kh·kw)::

        y[n, g] = W[g] @ cols[n, g]  (+ b)            (O/groups, H'W') per image and group: NCHW directly

    With groups > 1, output channels [g·O/groups, (g+1)·O/groups) see only input channels
    [g·C/groups, (g+1)·C/groups); groups = 1 is the ordinary conv. A 1x1 kernel with stride 1 and no padding
    needs no im2col at all: its columns are x itself, viewed as (N, C, H·W).

    Backward (G = dL/dy viewed as (N, groups, O/groups, H'W'))::

        dW[g] = Σ_n G[n, g] @ cols[n, g]ᵀ              (O/groups, C/groups·kh·kw)
        dx    = col2im(Wᵀ[g] @ G[n, g])               (N, C, H, W): each column entry goes back to its pixel
        db    = Σ_{n, r, q} G[n, o, r, q]             (O,)

    Memory (cols is kh·kw times the input, 9x for 3x3). cols is kept from the forward pass for dW, and dropped
    as soon as dW is done (a second backward with retain_graph=True rebuilds it from x). dcols = WᵀG would be
    just as big, so col2im takes it one kernel row at a time: the rows of tap (i, j) are W[:, :, i, j]ᵀ G,
    computed just before they are added back (``_dcols_by_kernel_row``). Peak of a forward + backward: about
    kh·kw·|x| + |y| + the per-image products of dW, where the textbook version holds cols, dcols, y and dx
    together (~2x more). Those products, (N, C/groups·kh·kw, O/groups) before the sum over images, are small for
    big images (0.7x the input for 32 -> 64 channels at 28x28) but not for small ones with many channels (5.9x
    for 64 -> 128 at 14x14). PyTorch's fallback im2col kernel (slow_conv2d; its float32 CPU convs normally run
    on oneDNN) avoids them: BLAS adds each image's product into dW (a GEMM with β = 1), one image at a time.
    ``np.matmul`` cannot accumulate, and a Python loop over the batch (one product, then ``+=``, per image) was
    ~15% slower on that 14x14 workload's dW.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    _check_input("conv2d", x)
    _check_weight("conv2d", weight, "(out_channels, in_channels/groups, kh, kw)")
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
    bias = _check_bias("conv2d", bias, O)
    geo = _geometry("conv2d", (H, W), (kh, kw), stride, padding, dilation)
    Ho, Wo = geo.out_size
    G, Og, K, L = groups, O // groups, Cg * kh * kw, Ho * Wo
    pointwise = (kh, kw) == (1, 1) and geo.stride == (1, 1) and geo.padding == ((0, 0), (0, 0))

    def columns():                                                   # (N, groups, K, L)
        cols = x.data.reshape(N, C, H * W) if pointwise else _im2col(x.data, geo)
        return cols.reshape(N, G, K, L)

    cols = columns()
    w3 = weight.data.reshape(G, Og, K)                               # (groups, O/groups, K)
    y = np.matmul(w3, cols)                                          # (N, groups, O/groups, L)
    if bias is not None:                                             # on (..., L): long rows, one fast pass
        y += bias.data.reshape(G, Og, 1)
    y = y.reshape(N, O, Ho, Wo)
    saved = [cols] if weight.requires_grad else []                   # needed again only for dW
    del cols
    inputs = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        g4 = g.reshape(N, G, Og, L)                                  # (N, groups, O/groups, L)
        dw = dx = None
        if weight.requires_grad:
            cols = saved.pop() if saved else columns()               # rebuilt only on a second backward
            # dWᵀ = Σ_n cols[n] @ G[n]ᵀ: the same sum; OpenBLAS runs this orientation 5-15% faster here
            dw_t = np.matmul(cols, g4.swapaxes(-1, -2)).sum(axis=0)  # (groups, K, O/groups), summed over images
            dw = np.ascontiguousarray(dw_t.swapaxes(-1, -2)).reshape(weight.shape)   # C order, as the weight
            del cols                                                 # free kh·kw·|x| before dcols exists
        if x.requires_grad:
            if pointwise:                                            # dcols = Wᵀ G is dx itself
                dx = np.matmul(w3.swapaxes(-1, -2), g4).reshape(x.shape)
            else:                                                    # dx = col2im(Wᵀ G), one kernel row at a time
                dtype = np.result_type(weight.data, g)
                add_back = _col2im_same_size if _output_is_input_sized(geo) else _col2im
                dx = add_back(_dcols_by_kernel_row(weight.data, g4, geo, dtype), x.shape, geo, dtype)
        if bias is None:
            return dx, dw
        db = np.einsum("nohw->o", g) if bias.requires_grad else None   # Σ over images, pixels
        return dx, dw, db

    return make_result("conv2d", y, inputs, backward)


def _dcols_by_kernel_row(weight, g4, geo, dtype):
    """``tap_rows(i, j)`` for col2im: the rows (c, i, j) of dcols = Wᵀ G, shape (N, groups, C/groups, H', W').

    The rows of tap (i, j) are W[:, :, i, j]ᵀ G. They are computed for a whole kernel row i at once (one matrix
    product with kw·C/groups rows: bigger products run faster than kw small ones, ~15% on a 3x3 conv) and kept
    until col2im moves on to the next kernel row, so at most kw/(kh·kw) of dcols exists at any time. Every kernel
    row is written into the same buffer (``out=``): a fresh buffer per row would cost its page faults again.
    The slabs handed out are scratch, valid until a tap of another kernel row is asked for (that overwrites
    them), and col2im may overwrite them: ask for each tap once, kernel row by kernel row.
    """
    O, Cg, kh, kw = weight.shape
    N, G, Og, _ = g4.shape
    Ho, Wo = geo.out_size
    w_rows = np.ascontiguousarray(                                   # (kh, groups, kw·C/groups, O/groups)
        weight.reshape(G, Og, Cg, kh, kw).transpose(3, 0, 4, 2, 1)).reshape(kh, G, kw * Cg, Og)
    row_buffer = np.empty((N, G, kw * Cg, Ho * Wo), dtype=dtype)     # one kernel row of dcols
    row_in_buffer = None

    def tap_rows(i, j):
        nonlocal row_in_buffer
        if row_in_buffer != i:                                       # a new kernel row overwrites the old one
            np.matmul(w_rows[i], g4, out=row_buffer)
            row_in_buffer = i
        return row_buffer.reshape(N, G, kw, Cg, Ho, Wo)[:, :, j]     # (N, groups, C/g, H', W')

    return tap_rows


# ------------------------------------------------------------------------------------------------------------
# depthwise_conv2d
# ------------------------------------------------------------------------------------------------------------
def depthwise_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """One kh x kw filter per (input channel, multiplier): conv2d with groups = C, computed tap by tap.

    Shapes: x (N, C, H, W), weight (C·m, 1, kh, kw) with channel multiplier m >= 1, bias (C·m,),
    y (N, C·m, H', W'). Output channel o = c·m + k reads only input channel c = o // m::

        y[n, c·m + k, r, q] = b[c·m + k] + Σ_{i,j} W[c·m + k, 0, i, j] · x[n, c, r·s + i·d − p, q·s + j·d − p]

    How (the per-channel im2col, without materialising it). Lay the zero-padded images out channel-major and
    flatten each channel's N padded planes into one long row: xf (C, N·Hp·Wp). Moving by kernel tap (i, j) is
    moving by off = i·d_h·Wp + j·d_w along that row, so row t of channel c's im2col matrix is just the slice
    xf[c, off_t : off_t + L]. The stride-1 output at canvas position p is then

        y1[c, k, p] = Σ_taps W[c, k, tap] · xf[c, p + off_tap]

    — kh·kw multiply-adds of whole long rows (a loop over taps only; numpy runs each over all N·C·H·W
    pixels). Positions p past a row's last valid output are "garbage" (their window wraps into the next row or
    image) and are simply not read back. A stride s > 1 keeps every s-th row and column of the stride-1 result
    (it costs s² times the work of a native strided loop; the code stays one path).

    Why channel-major: numpy pays a fixed cost (~0.1 µs) per row of a strided or broadcast operation. NCHW
    slices have N·C·H' rows of W' pixels, and that overhead was most of the time; C rows of N·Hp·Wp pixels
    make each tap one fast pass (measured ~5x faster than einsum over a sliding-window view). The price is two
    transposing copies, x into the canvas and the result back to NCHW.

    Backward (G scattered onto the same canvas, zero at the garbage positions, so they add nothing)::

        dW[c, k, tap] = Σ_p G[c, k, p] · xf[c, p + off_tap]          one dot product per (channel, tap)
        dxf[c, p + off_tap] += Σ_k W[c, k, tap] · G[c, k, p]          kh·kw shifted adds, then crop the padding
        db[c·m + k] = Σ_{n, r, q} G
    """
    x, weight = as_tensor(x), as_tensor(weight)
    _check_input("depthwise_conv2d", x)
    _check_weight("depthwise_conv2d", weight, "(channels·multiplier, 1, kh, kw)")
    N, C, H, W = x.shape
    Cm, one, kh, kw = weight.shape
    if one != 1 or Cm % C or Cm == 0:
        raise ValueError(f"depthwise_conv2d: weight must have shape (C·m, 1, kh, kw) with C = {C} input channels "
                         f"(input shape {x.shape}) and an integer multiplier m >= 1, got weight {weight.shape}")
    m = Cm // C
    bias = _check_bias("depthwise_conv2d", bias, Cm)
    geo = _geometry("depthwise_conv2d", (H, W), (kh, kw), stride, padding, dilation)
    (sh, sw), ((pt, pb), (pl, pr)), (dh, dw_) = geo.stride, geo.padding, geo.dilation
    Ho, Wo = geo.out_size
    Hp, Wp = H + pt + pb, W + pl + pr                                # padded plane
    H1, W1 = Hp - dh * (kh - 1), Wp - dw_ * (kw - 1)                 # stride-1 output size
    P = N * Hp * Wp                                                  # one channel's canvas, flattened
    offsets = [(i, j, i * dh * Wp + j * dw_) for i in range(kh) for j in range(kw)]
    L = P - offsets[-1][2]                                           # canvas positions every tap can read
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
        # G on the canvas grid: gf[c, k, n·Hp·Wp + r·s·Wp + q·s] = g[n, c·m + k, r, q], zero elsewhere.
        gcanvas = np.zeros((C, m, N, Hp, Wp), dtype=g.dtype)
        gcanvas[:, :, :, 0:H1:sh, 0:W1:sw] = g.reshape(N, C, m, Ho, Wo).transpose(1, 2, 0, 3, 4)
        gf = gcanvas.reshape(C, m, P)[:, :, :L]                      # (C, m, L)
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
                else:                                                # Σ_k W[c, k, tap] · G[c, k, p]
                    np.matmul(w4[:, None, :, i, j], gf, out=product[:, None, :])
                if t > 0:
                    dxf[:, off:off + L] += part
            dx = np.ascontiguousarray(dxf.reshape(C, N, Hp, Wp)[:, :, pt:pt + H, pl:pl + W].transpose(1, 0, 2, 3))
        if bias is None:
            return dx, dw
        db = np.einsum("nohw->o", g) if bias.requires_grad else None   # Σ over images, pixels
        return dx, dw, db

    return make_result("depthwise_conv2d", y, inputs, backward)


# ------------------------------------------------------------------------------------------------------------
# pointwise_conv2d
# ------------------------------------------------------------------------------------------------------------
def pointwise_conv2d(x, weight, bias=None):
    """A 1x1 convolution: the same matrix applied to the channel vector of every pixel.

    Shapes: x (N, C, H, W), weight (O, C, 1, 1), bias (O,), y (N, O, H, W). With X = x viewed as (N, C, H·W)
    (a view: no im2col copy) and Wm = weight viewed as (O, C)::

        y[n] = Wm @ X[n] (+ b)             (O, C)·(C, HW) = (O, HW), already NCHW

    Backward (G = dL/dy as (N, O, HW))::

        dX[n] = Wmᵀ @ G[n]                  (C, O)·(O, HW)
        dW    = Σ_n G[n] @ X[n]ᵀ            (O, HW)·(HW, C), summed over the batch
        db    = Σ_{n, pixels} G
    """
    x, weight = as_tensor(x), as_tensor(weight)
    _check_input("pointwise_conv2d", x)
    _check_weight("pointwise_conv2d", weight, "(out_channels, in_channels, 1, 1)")
    N, C, H, W = x.shape
    O = weight.shape[0]
    if weight.shape[2:] != (1, 1) or weight.shape[1] != C:
        raise ValueError(f"pointwise_conv2d: weight must have shape (out_channels, {C}, 1, 1) for an input with "
                         f"{C} channels (shape {x.shape}), got {weight.shape}")
    bias = _check_bias("pointwise_conv2d", bias, O)
    X = x.data.reshape(N, C, H * W)                                  # (N, C, HW)
    Wm = weight.data.reshape(O, C)                                   # (O, C)
    y = np.matmul(Wm, X)                                             # (N, O, HW)
    if bias is not None:
        y += bias.data.reshape(O, 1)
    y = y.reshape(N, O, H, W)
    inputs = (x, weight) if bias is None else (x, weight, bias)

    def backward(g):
        G = g.reshape(N, O, H * W)
        dx = np.matmul(Wm.T, G).reshape(x.shape) if x.requires_grad else None
        dw = np.matmul(G, X.swapaxes(1, 2)).sum(axis=0).reshape(weight.shape) if weight.requires_grad else None
        if bias is None:
            return dx, dw
        db = np.einsum("nohw->o", g) if bias.requires_grad else None   # Σ over images, pixels
        return dx, dw, db

    return make_result("pointwise_conv2d", y, inputs, backward)
