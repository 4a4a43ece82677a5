"""Reductions over axes: ``sum``, ``mean``, ``max`` with ``axis`` (int, tuple or None) and ``keepdims``.

Backward idea: a reduction maps many inputs to one output, so each input's gradient is the output's gradient
``g`` sent back to it. With ``keepdims=False`` the reduced axes are gone from ``g``; we first put them back as
size-1 axes (``expand_dims``) and then let broadcasting repeat ``g`` along them.

Under ``create_graph`` (g is a Tensor, see autograd.py) the same steps are ops on the tape: a reshape puts the
axes back and ``broadcast_to`` repeats g (its own backward is a sum: the two are each other's adjoint). max's
mask is piecewise constant, so it stays an array and max's second derivative is 0.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import differentiable_rules
from ..tensor import Tensor, as_tensor, make_result
from .elementwise import _is_array, exp
from .shaping import broadcast_to, permute, reshape, where


__all__ = ["sum", "mean", "max", "normalize_axis", "min", "amin", "amax", "var", "std", "logsumexp", "prod", "cumsum"]

# Every rule below also works on a Tensor g, so these ops can be differentiated twice (autograd.py).
differentiable_rules("sum", "mean", "max", "min", "var", "std", "logsumexp", "prod", "cumsum")


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
    """y = (1/n) Σ x over ``axis``, n = number of elements reduced.   dx = broadcast(g, x.shape) / n.

    Over an empty axis (n = 0) the mean is 0/0 = nan, as in PyTorch; x then has no elements to send a gradient to.
    """
    axes = normalize_axis("mean", axis, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    with np.errstate(invalid="ignore", divide="ignore"):     # n = 0: nan without NumPy's RuntimeWarning
        y = x.data.sum(axis=axes, keepdims=keepdims) / np.asarray(n, x.data.dtype) if n == 0 else \
            x.data.mean(axis=axes, keepdims=keepdims)

    def backward(g):
        return (_broadcast_to(_restore_axes(g, axes, keepdims) / (n or 1), x.shape),)   # (empty when n = 0)

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


# ---- min / amin / amax, var, std, logsumexp, prod, cumsum ---------------------------------------------------
# Each rule below works for both kinds of upstream gradient g: a NumPy array (ordinary backward) and a Tensor
# (a gradient that will itself be differentiated: then everything smooth is recomputed from the input Tensor x
# with tinynet ops, so the tape records it; masks and counts stay arrays). To give g back its reduced axes they
# use ``g.reshape(kept_shape)``, which arrays and Tensors both understand, instead of ``np.expand_dims``.


def _reduction_input(op, x, need_float=False):
    try:
        x = as_tensor(x)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{op}: expected a Tensor or numbers, got {type(x).__name__} ({error})") from None
    kinds = "f" if need_float else "biuf"
    if x.data.dtype.kind not in kinds:
        expected = "floating-point" if need_float else "numeric"
        raise TypeError(f"{op}: needs a {expected} tensor, got dtype {x.data.dtype}")
    return x


def _kept_shape(shape, axes):
    """``shape`` with every reduced axis kept as size 1 (the shape of a keepdims=True result)."""
    return tuple(1 if axis in axes else size for axis, size in enumerate(shape))


def _count(shape, axes):
    """How many elements each output entry reduces (1 when no axis is reduced)."""
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def _refuse_empty(op, x, axes, axis):
    if any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{op}: cannot reduce over an empty axis (shape {x.shape}, axis {axis})")


def min(x, axis=None, keepdims=False):
    """y = min x over ``axis`` (PyTorch's ``amin``: values only; tinynet's ``max`` is its mirror image).

    Backward: only the arg-min receives the gradient (nudging any other entry does not change y):
        dx = g * mask / count,  mask = (x == y broadcast), count = number of minima in that slice.
    **Ties** split the gradient equally among the tied entries (as ``torch.amin`` and tinynet's ``max``), so it
    still sums to g. mask and count are piecewise constant: arrays for either kind of g.
    """
    x = _reduction_input("min", x)
    axes = normalize_axis("min", axis, x.ndim)
    _refuse_empty("min", x, axes, axis)
    y = x.data.min(axis=axes, keepdims=keepdims)
    kept_shape = _kept_shape(x.shape, axes)
    mask = x.data == y.reshape(kept_shape)
    with np.errstate(invalid="ignore"):                             # a NaN slice has no minimum entry: NaN
        weight = mask / mask.sum(axis=axes, keepdims=True)          # 1/count on the minima, 0 elsewhere
    if x.data.dtype.kind == "f":
        weight = weight.astype(x.data.dtype)

    def backward(g):
        return (g.reshape(kept_shape) * weight,)

    return make_result("min", y, (x,), backward)


amin = min
amax = max


def _correction(op, correction):
    if isinstance(correction, bool) or not isinstance(correction, numbers.Real):
        raise TypeError(f"{op}: correction must be a number (1 for the sample variance, 0 for the population "
                        f"variance), got {type(correction).__name__} {correction!r}")
    return correction


def _centered(op, x, axis, correction):
    """The shared first half of var and std: axes, x - mean, and the divisor N - correction (at least 0)."""
    axes = normalize_axis(op, axis, x.ndim)
    n = _count(x.shape, axes)
    if n == 0:
        raise ValueError(f"{op}: cannot take the {op} over an empty axis (shape {x.shape}, axis {axis})")
    centered = x.data - x.data.mean(axis=axes, keepdims=True)
    divisor = np.float64(np.maximum(n - correction, 0))             # as PyTorch: N - correction <= 0 gives inf/NaN
    return axes, centered, divisor


def _centered_tensor(x, axes):
    """x - mean(x) with tinynet ops, for a backward rule called with a Tensor g."""
    return x - mean(x, axis=axes, keepdims=True)


def var(x, axis=None, *, correction=1, keepdims=False):
    """y = Σ (x - m)² / (N - correction) over ``axis``, m = mean of x over ``axis``, N = number of entries reduced.

    ``correction=1`` (PyTorch's default) is the unbiased sample variance; ``correction=0`` the population
    variance. N - correction <= 0 gives inf or NaN, as in PyTorch.
    Backward: ∂y/∂xᵢ = 2 (xᵢ - m) / (N - c) - (2 / (N - c)) Σⱼ (xⱼ - m) · ∂m/∂xᵢ, and the second term is 0 because
    the deviations sum to zero, so
        dx = g * 2 (x - m) / (N - c)     (g broadcast back over the reduced axes).
    For a Tensor g, x - m is recomputed with tinynet ops (its own derivative is then recorded).
    """
    x = _reduction_input("var", x, need_float=True)
    correction = _correction("var", correction)
    axes, centered, divisor = _centered("var", x, axis, correction)
    kept_shape = _kept_shape(x.shape, axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = (centered * centered).sum(axis=axes, keepdims=keepdims) / divisor.astype(x.data.dtype)
        scale = (2 / divisor).astype(x.data.dtype)

    def backward(g):
        deviation = centered if _is_array(g) else _centered_tensor(x, axes)
        return (g.reshape(kept_shape) * deviation * scale,)

    return make_result("var", y, (x,), backward)


def std(x, axis=None, *, correction=1, keepdims=False):
    """y = √var(x) over ``axis`` (same ``correction`` as ``var``).

    Backward: dy/dx = (1 / (2y)) · dvar/dx = (x - m) / ((N - c) y), so
        dx = g * (x - m) / ((N - c) · y).
    Where y = 0 (every entry of the slice equal) the formula is 0/0; the gradient there is 0, as in PyTorch.
    For a Tensor g, y and x - m are recomputed with tinynet ops; y is replaced by 1 where it is 0 before
    dividing, so no inf enters the recorded computation.
    """
    x = _reduction_input("std", x, need_float=True)
    correction = _correction("std", correction)
    axes, centered, divisor = _centered("std", x, axis, correction)
    kept_shape = _kept_shape(x.shape, axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        y_kept = np.sqrt((centered * centered).sum(axis=axes, keepdims=True) / divisor.astype(x.data.dtype))
        scale = (1 / divisor).astype(x.data.dtype)
    zero = y_kept == 0
    y_safe = np.where(zero, 1, y_kept)

    def backward(g):
        g_kept = g.reshape(kept_shape)
        if _is_array(g):
            return (np.where(zero, 0, g_kept / y_safe) * centered * scale,)
        y_tensor = where(zero, 1.0, std(x, axes, correction=correction, keepdims=True))
        return (where(zero, 0.0, g_kept / y_tensor) * _centered_tensor(x, axes) * scale,)

    return make_result("std", y_kept if keepdims else y_kept.reshape(_reduced_shape(x.shape, axes)), (x,),
                       backward)


def _reduced_shape(shape, axes):
    return tuple(size for axis, size in enumerate(shape) if axis not in axes)


def logsumexp(x, axis=None, keepdims=False):
    """y = log Σ eˣ over ``axis``, computed stably: y = m + log Σ e^{x - m}, m = max x over ``axis``.

    Every e^{x - m} is in (0, 1] and the largest is 1, so nothing overflows (the naive form gives inf for
    x = 1000). A slice that is entirely -inf gives -inf, and one holding +inf gives +inf, as in PyTorch (m is
    replaced by 0 where it is not finite, so -inf - (-inf) = NaN never appears).
    Backward: ∂y/∂xᵢ = eˣⁱ / Σ eˣ = e^{xᵢ - y} (the softmax of the slice), so
        dx = g * exp(x - y)   (g and y broadcast back over the reduced axes).
    In an all -inf slice every entry gets gradient 0 (PyTorch gives NaN there: -inf - (-inf)).
    For a Tensor g, y is recomputed with logsumexp and exp(x - y) with tinynet ops.
    """
    x = _reduction_input("logsumexp", x, need_float=True)
    axes = normalize_axis("logsumexp", axis, x.ndim)
    kept_shape = _kept_shape(x.shape, axes)
    if x.size == 0:
        y_kept = np.full(kept_shape, -np.inf, dtype=x.data.dtype)       # log of an empty sum, as PyTorch
    else:
        m = x.data.max(axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):                           # log(0) = -inf for an all -inf slice
            y_kept = m + np.log(np.exp(x.data - m).sum(axis=axes, keepdims=True))
    empty_slice = y_kept == -np.inf                                   # every entry -inf: gradient 0
    y_shift = np.where(empty_slice, 0, y_kept)

    def backward(g):
        g_kept = g.reshape(kept_shape)
        if _is_array(g):
            return (g_kept * np.exp(x.data - y_shift),)
        y_tensor = where(empty_slice, 0.0, logsumexp(x, axes, keepdims=True))
        return (g_kept * exp(x - y_tensor),)

    y = y_kept if keepdims else y_kept.reshape(_reduced_shape(x.shape, axes))
    return make_result("logsumexp", y, (x,), backward)


def _move_to_last(x, axes):
    """The permutation that moves ``axes`` to the end (keeping their order) and its inverse."""
    kept = [a for a in range(len(x.shape)) if a not in axes]
    order = tuple(kept) + tuple(axes)
    return order, tuple(np.argsort(order))


def _product_of_others(values):
    """others[..., i] = Π_{j ≠ i} values[..., j] along the last axis, with no division (exact with zeros):
    the product of everything left of i (an exclusive cumulative product) times everything right of i."""
    n = values.shape[-1]
    if n == 0:
        return np.ones_like(values)
    ones = np.ones(values.shape[:-1] + (1,), dtype=values.dtype)
    left = np.concatenate([ones, np.cumprod(values[..., :-1], axis=-1)], axis=-1)
    right = np.concatenate([np.cumprod(values[..., :0:-1], axis=-1)[..., ::-1], ones], axis=-1)
    return left * right


def _product_of_others_tensor(values):
    """The same with tinynet ops, for a Tensor g: row i of an (n, n) table is ``values`` with entry i replaced
    by 1, and its product is Π_{j ≠ i}. O(n²) work, used only when a gradient is to be differentiated again."""
    n = values.shape[-1]
    table = where(np.eye(n, dtype=bool), 1.0, reshape(values, values.shape[:-1] + (1, n)))
    return prod(table, axis=-1)


def prod(x, axis=None, keepdims=False):
    """y = Π x over ``axis`` (the product of the entries; 1 over an empty axis).

    Backward: ∂y/∂xᵢ = Π_{j ≠ i} xⱼ (the product of the *others*), so  dx = g * (product of the others).
    It is computed without dividing y by xᵢ, so zeros are exact: with one zero in a slice, that entry's
    gradient is the product of the others and every other entry's is 0; with two zeros, every gradient is 0.
    How: move the reduced axes to the end, flatten them into one axis of length n, and multiply the exclusive
    cumulative products from the left and from the right (O(n)). For a Tensor g the product of the others is
    built with tinynet ops (an n×n table with 1 on the diagonal, reduced with prod itself).
    """
    x = _reduction_input("prod", x)
    axes = normalize_axis("prod", axis, x.ndim)
    y = np.prod(x.data, axis=axes, keepdims=keepdims)
    kept_shape = _kept_shape(x.shape, axes)
    order, inverse = _move_to_last(x, axes)
    moved_shape = tuple(x.shape[a] for a in order)
    flat_shape = _reduced_shape(x.shape, axes) + (_count(x.shape, axes),)

    def backward(g):
        if _is_array(g):
            others = _product_of_others(x.data.transpose(order).reshape(flat_shape))
            others = others.reshape(moved_shape).transpose(inverse)
        else:
            others = _product_of_others_tensor(reshape(permute(x, order), flat_shape))
            others = permute(reshape(others, moved_shape), inverse)
        return (g.reshape(kept_shape) * others,)

    return make_result("prod", y, (x,), backward)


def _cumsum_axis(x, axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"cumsum: axis must be an int, got {axis!r}")
    ndim = x.ndim or 1                             # a 0-d tensor accepts axis 0 / -1, as in PyTorch
    if not -ndim <= axis < ndim:
        raise ValueError(f"cumsum: axis {axis} is out of range for a tensor of shape {x.shape} "
                         f"(valid: {-ndim} .. {ndim - 1})")
    return int(axis) % ndim


def _reverse(g, axis):
    """g flipped along ``axis`` (a view for an array, a recorded getitem for a Tensor)."""
    flip = (slice(None),) * axis + (slice(None, None, -1),)
    return g[flip]


def cumsum(x, axis):
    """y = running sum of x along ``axis``: yₖ = Σ_{i ≤ k} xᵢ (PyTorch's ``cumsum(dim)``; axis is required).

    Backward: xᵢ appears in every yₖ with k ≥ i, so dxᵢ = Σ_{k ≥ i} gₖ: the running sum of g taken from the
    other end,  dx = reverse(cumsum(reverse(g))).  For a Tensor g the same is built from tinynet's cumsum and
    slicing, so it is differentiable again (it is linear in g).
    Integer and bool input is summed as int64, as in PyTorch.
    """
    x = _reduction_input("cumsum", x)
    axis = _cumsum_axis(x, axis)
    if x.ndim == 0:
        return make_result("cumsum", x.data.copy(), (x,), lambda g: (g,))
    dtype = np.int64 if x.data.dtype.kind in "biu" else x.data.dtype
    y = np.cumsum(x.data, axis=axis, dtype=dtype)

    def backward(g):
        if _is_array(g):
            return (_reverse(np.cumsum(_reverse(g, axis), axis=axis), axis),)
        return (_reverse(cumsum(_reverse(g, axis), axis), axis),)

    return make_result("cumsum", y, (x,), backward)
