"""Reductions over axes: ``sum``, ``mean``, ``max`` with ``axis`` (int, tuple or None) and ``keepdims``.

Backward idea: a reduction maps many inputs to one output, so each input's gradient is the output's gradient
``g`` sent back to it. With ``keepdims=False`` the reduced axes are gone from ``g``; we first put them back as
size-1 axes (``expand_dims``) and then let broadcasting repeat ``g`` along them.

Under ``create_graph`` (g is a Tensor, see autograd.py) the same steps are ops on the tape: a reshape puts the
axes back and ``broadcast_to`` repeats g (its own backward is a sum: the two are each other's adjoint). max's
mask is piecewise constant, so it stays an array and max's second derivative is 0.
"""
from __future__ import annotations

import numpy as np

from ..autograd import differentiable_rules
from ..tensor import Tensor, make_result


__all__ = ["sum", "mean", "max", "normalize_axis"]

# Every rule below also works on a Tensor g, so these ops can be differentiated twice (autograd.py).
differentiable_rules("sum", "mean", "max")


def normalize_axis(op, axis, ndim):
    """``axis`` as a sorted tuple of non-negative ints (``None`` means every axis), or a clear ValueError."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)) and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                                 for a in axis):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r}")
    if ndim == 0:                       # a 0-d tensor accepts axis 0 / -1, as in PyTorch: nothing to reduce
        if any(a not in (0, -1) for a in axes):
            raise ValueError(f"{op}: axis {axis} is out of range for a 0-d tensor")
        return ()
    result = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        result.append(int(a) % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(result))


def _restore_axes(g, axes, keepdims):
    """Give ``g`` back the reduced axes as size 1, so it broadcasts against the input."""
    if keepdims:
        return g
    if isinstance(g, Tensor):
        shape = list(g.shape)
        for axis in axes:                       # sorted, so each insert lands at its final position
            shape.insert(axis, 1)
        return g.reshape(tuple(shape))
    return np.expand_dims(g, axes)


def _broadcast_to(g, shape):
    if isinstance(g, Tensor):
        from .shaping import broadcast_to
        return broadcast_to(g, shape)
    return np.broadcast_to(g, shape)


def sum(x, axis=None, keepdims=False):
    """y = Σ x over ``axis``.   Each x element contributes with weight 1:  dx = broadcast(g, x.shape)."""
    axes = normalize_axis("sum", axis, x.ndim)
    y = x.data.sum(axis=axes, keepdims=keepdims)

    def backward(g):
        return (_broadcast_to(_restore_axes(g, axes, keepdims), x.shape),)

    return make_result("sum", y, (x,), backward)


def mean(x, axis=None, keepdims=False):
    """y = (1/n) Σ x over ``axis``, n = number of elements reduced.   dx = broadcast(g, x.shape) / n."""
    axes = normalize_axis("mean", axis, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    if n == 0:
        raise ValueError(f"mean: cannot take the mean over an empty axis (shape {x.shape}, axis {axis})")
    y = x.data.mean(axis=axes, keepdims=keepdims)

    def backward(g):
        return (_broadcast_to(_restore_axes(g, axes, keepdims) / n, x.shape),)

    return make_result("mean", y, (x,), backward)


def max(x, axis=None, keepdims=False):
    """y = max x over ``axis``.

    Backward: only the arg-max receives the gradient (the others do not change y when nudged):
    dx = g * mask / count,  mask = (x == y broadcast), count = number of maxima in that slice.
    **Ties**: when several entries share the maximum, the gradient is split equally among them (as
    ``torch.amax`` does), so the gradient still sums to g. Gradient checks should avoid ties: at a tie the
    function has a kink and finite differences disagree with any choice.
    """
    axes = normalize_axis("max", axis, x.ndim)
    if any(x.shape[a] == 0 for a in axes):             # an empty slice has no maximum (nor has it in PyTorch)
        raise ValueError(f"max: cannot take the max over an empty axis (shape {x.shape}, axis {axis})")
    y = x.data.max(axis=axes, keepdims=keepdims)

    def backward(g):
        y_kept = _restore_axes(np.asarray(y), axes, keepdims)
        mask = x.data == y_kept
        count = mask.sum(axis=axes, keepdims=True)
        return (_restore_axes(g, axes, keepdims) * mask / count.astype(g.dtype),)   # mask, count: arrays

    return make_result("max", y, (x,), backward)
