"""Ops that move values around without arithmetic: reshape, transpose, contiguous, indexing, concatenate, stack,
where.

Each backward sends every gradient entry back to the place its value came from:
reshape → reshape back; transpose → the inverse permutation; contiguous → g unchanged (same values, new layout);
indexing → scatter (adding where an index repeats); concatenate/stack → slice the gradient into the pieces.
"""
from __future__ import annotations

import numpy as np

from ..broadcast import broadcast_shapes, unbroadcast
from ..tensor import Tensor, as_tensor, make_result
from .arithmetic import _pass_through

__all__ = ["reshape", "transpose", "contiguous", "getitem", "concatenate", "stack", "where"]


def reshape(x, *shape):
    """y = x viewed with a new shape (same elements, same order).   dx = g.reshape(x.shape)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        y = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                         f"into shape {shape}") from None
    return make_result("reshape", y, (x,), lambda g: (g.reshape(x.shape),))


def transpose(x, *axes):
    """y = x with its axes permuted (``axes`` as in ``np.transpose``; none given reverses them all).

    Backward: y's axis i is x's axis axes[i], so g is permuted back by the inverse permutation argsort(axes).
    """
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(reversed(range(x.ndim)))
    if not all(isinstance(a, (int, np.integer)) and -x.ndim <= a < x.ndim for a in axes) \
            or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of a tensor "
                         f"of shape {x.shape}")
    inverse = tuple(np.argsort([a % x.ndim for a in axes]))
    return make_result("transpose", x.data.transpose(axes), (x,), lambda g: (g.transpose(inverse),))


def contiguous(x):
    """y = x with its values laid out row by row in memory (C order): a copy if x is, say, a transposed view.

    The values do not change, so dx = g. Why it matters: a transpose is free (a view with permuted strides),
    but every later op on that view then walks memory with large steps. A reduction over the last axis, or a
    reshape to (rows, features) before a matrix product (which must copy a non-contiguous view, every time),
    pays for it. One copy up front, as PyTorch's ``.contiguous()``, makes all of them run over contiguous rows.
    """
    if x.data.flags.c_contiguous:
        return x
    return make_result("contiguous", np.ascontiguousarray(x.data), (x,), _pass_through)


def _plain_index(index):
    """Turn Tensors and lists inside an index into NumPy arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, np.ndarray) for p in parts)


def getitem(x, index):
    """y = x[index] with basic (slices, ints, None, ...) or integer-array / boolean indexing.

    Backward: each y entry was read from one x entry, so its gradient goes back there:
    dx = zeros(x.shape); dx[index] += g.  With integer arrays an index may repeat (x[[0, 0]] reads x[0]
    twice); both reads contribute, so we use ``np.add.at``, which adds repeated indices instead of keeping
    only the last write as ``dx[index] += g`` would.
    """
    index = _plain_index(index)
    try:
        y = x.data[index]
    except IndexError as error:
        raise IndexError(f"getitem: index {index!r} is invalid for a tensor of shape {x.shape}: {error}") from None
    advanced = _is_advanced(index)

    def backward(g):
        dx = np.zeros(x.shape, dtype=g.dtype)
        if advanced:
            np.add.at(dx, index, g)
        else:
            dx[index] = g          # basic indexing reads each x entry at most once
        return (dx,)

    return make_result("getitem", np.asarray(y), (x,), backward)


def concatenate(tensors, axis=0):
    """y = the tensors joined along an existing ``axis``.   Backward: split g back into the pieces.
    ``axis=None`` flattens every tensor first, as NumPy does (each piece's gradient is reshaped back)."""
    tensors = tuple(as_tensor(t) for t in tensors)
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    if axis is None:
        tensors, axis = tuple(reshape(t, -1) for t in tensors), 0
    try:
        y = np.concatenate([t.data for t in tensors], axis=axis)
    except (ValueError, np.exceptions.AxisError) as error:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"concatenate: cannot join shapes {shapes} along axis {axis}: {error}") from None
    ends = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, ends, axis=axis))

    return make_result("concatenate", y, tensors, backward)


def stack(tensors, axis=0):
    """y = the tensors (all one shape) stacked along a new ``axis``.   Backward: dx_i = g taken at i on that axis."""
    tensors = tuple(as_tensor(t) for t in tensors)
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    try:
        y = np.stack([t.data for t in tensors], axis=axis)
    except np.exceptions.AxisError:
        ndim = tensors[0].ndim + 1
        raise ValueError(f"stack: axis {axis} is out of range for stacking tensors of shape {tensors[0].shape} "
                         f"(the result has {ndim} axes: valid -{ndim} .. {ndim - 1})") from None

    def backward(g):
        return tuple(np.take(g, i, axis=axis) for i in range(len(tensors)))

    return make_result("stack", y, tensors, backward)


def where(condition, x, y):
    """out = x where condition is True, else y (all three broadcast together).

    Backward: the condition carries no gradient;  dx = unbroadcast(g * cond, x.shape),
    dy = unbroadcast(g * ~cond, y.shape).
    """
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition)
    if cond.dtype != bool:                   # as torch.where: 0.5 or -1 is not silently "True"
        raise TypeError(f"where: condition must be boolean (e.g. x > 0), got dtype {cond.dtype}; compare "
                        f"explicitly, e.g. tn.where(mask != 0, x, y)")
    if not isinstance(x, Tensor):
        x = as_tensor(x, like=y if isinstance(y, Tensor) else None)
    y = as_tensor(y, like=x)
    broadcast_shapes("where", cond.shape, x.shape, y.shape)
    out = np.where(cond, x.data, y.data)

    def backward(g):
        dx = unbroadcast(np.where(cond, g, 0), x.shape) if x.requires_grad else None
        dy = unbroadcast(np.where(cond, 0, g), y.shape) if y.requires_grad else None
        return dx, dy

    return make_result("where", out, (x, y), backward)
