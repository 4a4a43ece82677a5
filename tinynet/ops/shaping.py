"""Ops that move values around without arithmetic: reshape, transpose, permute, broadcast_to, contiguous,
indexing, concatenate, stack, where.

Each backward sends every gradient entry back to the place its value came from:
reshape → reshape back; transpose → swap the same two axes back; permute → the inverse permutation;
broadcast_to → sum the copies (unbroadcast); contiguous → g unchanged (same values, new layout);
indexing → scatter (adding where an index repeats); concatenate/stack → slice the gradient into the pieces.

Each of those backward steps is itself one of these ops (or ``scatter_add``, indexing's adjoint), so every rule
here works on a Tensor ``g`` as well as on an array, and is differentiable again (``create_graph``).
"""
from __future__ import annotations

import numpy as np

from ..broadcast import broadcast_shapes, unbroadcast
from ..autograd import differentiable_rules
from ..tensor import Tensor, as_tensor, make_result
from .arithmetic import _pass_through


__all__ = ["reshape", "transpose", "permute", "broadcast_to", "contiguous", "getitem", "scatter_add", "concatenate",
           "stack", "where"]

# Every rule below also works on a Tensor g, so these ops can be differentiated twice (autograd.py).
differentiable_rules("reshape", "transpose", "permute", "broadcast_to", "contiguous", "getitem", "scatter_add",
                     "concatenate", "stack", "where")


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


def _axis(op, axis, ndim):
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) or not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{op}: dimension {axis!r} is out of range for a tensor with {ndim} dimensions")
    return int(axis) % max(ndim, 1)


def transpose(x, *dims):
    """y = x with axes ``dim0`` and ``dim1`` swapped: ``x.transpose(dim0, dim1)``, as PyTorch's (``x.transpose(0,
    1)`` of a matrix is its transpose; for any other order of the axes use ``permute``, for all axes reversed
    ``.T``). Note: NumPy's ``transpose(axes)`` is a permutation; tinynet follows PyTorch here.

    Backward: swapping the same two axes again undoes it, so dx = g.transpose(dim0, dim1).
    """
    if len(dims) != 2:
        raise TypeError(f"transpose: expected two dimensions to swap, transpose(dim0, dim1), as in PyTorch; got "
                        f"{dims!r}. For a permutation of all the axes use permute{dims!r}, for every axis "
                        f"reversed use .T")
    dim0, dim1 = dims
    if x.ndim == 0 and dim0 in (0, -1) and dim1 in (0, -1):     # PyTorch allows it: nothing to swap
        return x
    d0, d1 = _axis("transpose", dim0, x.ndim), _axis("transpose", dim1, x.ndim)
    y = np.swapaxes(x.data, d0, d1)
    return make_result("transpose", y, (x,), lambda g: (_swap(g, d0, d1),))


def _swap(g, d0, d1):
    return transpose(g, d0, d1) if isinstance(g, Tensor) else np.swapaxes(g, d0, d1)


def permute(x, *dims):
    """y = x with its axes reordered: y's axis i is x's axis dims[i] (``np.transpose(x, dims)``), as PyTorch.

    Backward: the inverse permutation puts every axis back, dx = g.permute(argsort(dims)).
    """
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and -x.ndim <= d < max(x.ndim, 1)
               for d in dims) or sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes of a tensor of shape "
                         f"{x.shape}")
    dims = tuple(int(d) % max(x.ndim, 1) for d in dims)
    inverse = tuple(int(i) for i in np.argsort(dims))
    y = x.data.transpose(dims)
    return make_result("permute", y, (x,), lambda g: (_permute(g, inverse),))


def _permute(g, dims):
    return permute(g, dims) if isinstance(g, Tensor) else g.transpose(dims)


def reverse_axes(x):
    """``x.T``: every axis reversed (NumPy's ``.T``; for a matrix, its transpose)."""
    return permute(x, tuple(reversed(range(x.ndim))))


def matrix_transpose(x):
    """``x.mT``: the last two axes swapped (a batch of matrices, each transposed), as PyTorch."""
    if x.ndim < 2:
        raise ValueError(f"mT: needs at least 2 dimensions, got a tensor of shape {x.shape}")
    return transpose(x, -2, -1)


def broadcast_to(x, shape):
    """y = x repeated along broadcast axes to ``shape`` (NumPy's rules), as ``torch.broadcast_to``.

    Backward: each x entry was copied to several y entries; their gradients add up: dx = unbroadcast(g, x.shape).
    """
    shape = tuple(shape)
    broadcast_shapes("broadcast_to", x.shape, shape)
    if np.broadcast_shapes(x.shape, shape) != shape:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    y = np.broadcast_to(x.data, shape)
    return make_result("broadcast_to", y, (x,), lambda g: (unbroadcast(g, x.shape),))


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
    if isinstance(index, list):                 # [] is an empty *integer* index, as in NumPy and PyTorch
        return np.asarray(index) if index else np.zeros(0, dtype=np.intp)
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
    return make_result("getitem", np.asarray(y), (x,), lambda g: (_scatter(g, index, x.shape),))


def _scatter(g, index, shape):
    """zeros(shape) with g added at ``index``: getitem's backward, for an array or a Tensor g."""
    if isinstance(g, Tensor):
        return scatter_add(g, index, shape)
    dx = np.zeros(shape, dtype=g.dtype)
    if _is_advanced(index):
        np.add.at(dx, index, g)    # an index may repeat (x[[0, 0]]): both reads add their gradient
    else:
        dx[index] = g              # basic indexing reads each x entry at most once
    return dx


def scatter_add(values, index, shape):
    """y = zeros(shape) with ``values`` added at ``index`` (repeated indices add): the adjoint of ``x[index]``.

    It is what getitem's backward computes; as an op of its own it makes that backward differentiable.
    Backward: each y entry at ``index`` received one value, so d(values) = g[index] (getitem again).
    """
    values, index = as_tensor(values), _plain_index(index)
    return make_result("scatter_add", _scatter(values.data, index, tuple(shape)), (values,),
                       lambda g: (getitem(g, index) if isinstance(g, Tensor) else np.asarray(g[index]),))


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
    axis = axis % y.ndim
    starts = np.cumsum([0] + [t.shape[axis] for t in tensors])

    def backward(g):                # each piece's slice of g (a getitem, so a Tensor g stays on the tape)
        before = (slice(None),) * axis
        return tuple(g[before + (slice(start, end),)] for start, end in zip(starts[:-1], starts[1:]))

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

    axis = axis % y.ndim
    before = (slice(None),) * axis

    def backward(g):                # piece i is g at index i along the new axis
        return tuple(g[before + (i,)] for i in range(len(tensors)))

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
        pick = where if isinstance(g, Tensor) else np.where
        dx = unbroadcast(pick(cond, g, 0), x.shape) if x.requires_grad else None
        dy = unbroadcast(pick(cond, 0, g), y.shape) if y.requires_grad else None
        return dx, dy

    return make_result("where", out, (x, y), backward)
