"""Elementwise functions y = f(x). Each backward is  dx = g * f'(x),  with f'(x) written in terms of
whatever is cheapest to keep from the forward pass (often y itself). Shapes: x, y, g and dx are all the same.

When the gradient must itself be differentiable (g is a Tensor, ``create_graph=True``; see autograd.py), a
saved y is recomputed from the input Tensor (``exp(x)`` again), so that the tape sees how f'(x) depends on x.
Masks and signs stay arrays: their own derivative is 0 (almost everywhere), so relu'' = abs'' = 0.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import differentiable_rules
from ..broadcast import broadcast_shapes, unbroadcast
from ..tensor import Tensor, as_tensor, make_result
from .arithmetic import _operands


__all__ = ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sin", "cos", "log1p", "expm1", "clip", "clamp",
           "maximum", "minimum", "positive"]

# Every rule below also works on a Tensor g, so these ops can be differentiated twice (autograd.py).
differentiable_rules("exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sin", "cos", "log1p", "expm1", "clip",
                     "maximum", "minimum")


def exp(x):
    """y = eˣ.   f'(x) = eˣ = y,  so  dx = g * y."""
    y = np.exp(x.data)
    return make_result("exp", y, (x,), lambda g: (g * (exp(x) if isinstance(g, Tensor) else y),))


def log(x):
    """y = ln x (natural log).   f'(x) = 1/x,  so  dx = g / x."""
    return make_result("log", np.log(x.data), (x,), lambda g: (g / (x if isinstance(g, Tensor) else x.data),))


def sqrt(x):
    """y = √x.   f'(x) = 1/(2√x),  so  dx = g / (2y)  (infinite at x = 0, as in PyTorch)."""
    y = np.sqrt(x.data)
    return make_result("sqrt", y, (x,), lambda g: (g / (2 * (sqrt(x) if isinstance(g, Tensor) else y)),))


def abs(x):
    """y = |x|.   f'(x) = sign(x), and at the kink x = 0 we use 0 (PyTorch's choice): dx = g * sign(x)."""
    return make_result("abs", np.abs(x.data), (x,), lambda g: (g * np.sign(x.data),))


def tanh(x):
    """y = tanh x.   f'(x) = 1 - tanh²x = 1 - y²,  so  dx = g * (1 - y²).  (np.tanh never overflows.)

    The rule computes it as g - g*y*y: the same number from three array operations and no Python scalar
    (NumPy converts a Python ``1`` on every call, which costs about as much as the arithmetic on small arrays).
    """
    y = np.tanh(x.data)

    def backward(g):
        y_ = tanh(x) if isinstance(g, Tensor) else y
        return (g - g * y_ * y_,)

    return make_result("tanh", y, (x,), backward)


def sigmoid(x):
    """y = σ(x) = 1 / (1 + e⁻ˣ).   f'(x) = σ(x)(1 - σ(x)) = y(1 - y),  so  dx = g * y * (1 - y).

    Stable form: with e = e^(-|x|) (never overflows), σ(x) = 1/(1+e) for x ≥ 0 and e/(1+e) for x < 0.
    The naive 1/(1 + exp(-x)) overflows (with a warning) at x = -1000.
    """
    e = np.exp(-np.abs(x.data))
    y = np.where(x.data >= 0, 1, e) / (1 + e)

    def backward(g):
        y_ = sigmoid(x) if isinstance(g, Tensor) else y
        return (g * y_ * (1 - y_),)

    return make_result("sigmoid", y, (x,), backward)


def relu(x):
    """y = max(x, 0).   f'(x) = 1 if x > 0 else 0 (0 at the kink x = 0, as in PyTorch),  so  dx = g * (x > 0)."""
    is_positive = x.data > 0
    y = np.maximum(x.data, 0)          # not x * (x > 0): that gives -inf * 0 = NaN at x = -inf (and -0.0 for x < 0)
    return make_result("relu", y, (x,), lambda g: (g * is_positive,))


# ---- sin, cos, log1p, expm1, clip, maximum / minimum, unary + --------------------------------------------------
def _float_tensor(op, x):
    """``x`` as a floating-point Tensor: integers and bools compute in float32, as PyTorch's float functions do."""
    try:
        x = as_tensor(x)              # lists and numbers become float32
    except (TypeError, ValueError) as error:
        raise TypeError(f"{op}: expected a Tensor or numbers, got {type(x).__name__} ({error})") from None
    if x.data.dtype.kind in "biu":
        return Tensor._wrap(x.data.astype(np.float32))
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.data.dtype}")
    return x


def _is_array(g):
    """True when g is a NumPy array or scalar (ordinary backward); False for a Tensor g (a gradient to record)."""
    return not isinstance(g, Tensor)


def sin(x):
    """y = sin x.   f'(x) = cos x,  so  dx = g * cos x."""
    x = _float_tensor("sin", x)

    def backward(g):
        cos_x = np.cos(x.data) if _is_array(g) else cos(x)
        return (g * cos_x,)

    return make_result("sin", np.sin(x.data), (x,), backward)


def cos(x):
    """y = cos x.   f'(x) = -sin x,  so  dx = -(g * sin x)."""
    x = _float_tensor("cos", x)

    def backward(g):
        sin_x = np.sin(x.data) if _is_array(g) else sin(x)
        return (-(g * sin_x),)

    return make_result("cos", np.cos(x.data), (x,), backward)


def log1p(x):
    """y = ln(1 + x), accurate for tiny x (where 1 + x would round to 1 and lose x's digits).

    f'(x) = 1 / (1 + x),  so  dx = g / (1 + x).  Defined for x > -1: x = -1 gives -inf and x < -1 NaN, as in
    PyTorch.
    """
    x = _float_tensor("log1p", x)

    def backward(g):
        one_plus_x = 1 + x.data if _is_array(g) else 1 + x
        return (g / one_plus_x,)

    return make_result("log1p", np.log1p(x.data), (x,), backward)


def expm1(x):
    """y = eˣ - 1, accurate for tiny x (where eˣ - 1 would cancel to 0).

    f'(x) = eˣ,  so  dx = g * eˣ  (eˣ is recomputed from x rather than taken as y + 1, so a later in-place change
    of y cannot change the gradient; for a Tensor g it is tinynet's exp(x), whose own derivative is recorded).
    """
    x = _float_tensor("expm1", x)

    def backward(g):
        exp_x = np.exp(x.data) if _is_array(g) else exp(x)
        return (g * exp_x,)

    return make_result("expm1", np.expm1(x.data), (x,), backward)


def _bound(op, name, value, x):
    """A clip bound as a 0-d array of x's dtype (None stays None); a clear error for anything but a number."""
    if value is None:
        return None
    if isinstance(value, Tensor) or isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number or None, got {type(value).__name__} {value!r} (for "
                        f"elementwise tensor bounds use tn.maximum(tn.minimum(x, high), low))")
    if x.data.dtype.kind in "iu" and not float(value).is_integer():
        raise TypeError(f"{op}: {name}={value!r} is not a whole number, but x is an integer tensor (dtype "
                        f"{x.data.dtype}); convert x to float first")
    return np.asarray(value, dtype=x.data.dtype)


def clip(x, min=None, max=None):
    """y = min(max(x, min), max): x clipped to [min, max]; either bound may be None (no bound on that side).

    f'(x) = 1 where min <= x <= max, else 0 (the output is a constant bound there). **At a bound** (x == min or
    x == max) the gradient passes, as in PyTorch; when min > max every output is max and no gradient passes.
    So  dx = g * mask,  mask = (x >= min) & (x <= max), a piecewise-constant array in both kinds of backward.
    ``clamp`` is the same function under PyTorch's other name. Bounds are numbers; at least one must be given.
    """
    x = as_tensor(x)
    if x.data.dtype.kind not in "iuf":
        raise TypeError(f"clip: expected a tensor of numbers (float or integer), got dtype {x.data.dtype}")
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given (a number), got min=None and max=None")
    low, high = _bound("clip", "min", min, x), _bound("clip", "max", max, x)
    y = x.data
    mask = np.ones(x.shape, dtype=bool)
    if low is not None:
        y = np.maximum(y, low)
        mask &= x.data >= low
    if high is not None:
        y = np.minimum(y, high)
        mask &= x.data <= high

    def backward(g):
        return (g * mask,)

    return make_result("clip", y, (x,), backward)


clamp = clip


def _binary_extreme(op, a, b):
    """Both operands of maximum/minimum as Tensors of one dtype (at least one must be a Tensor)."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected Tensors, got {type(a).__name__} and {type(b).__name__}")
    a, b = _operands(op, a, b)
    broadcast_shapes(op, a.shape, b.shape)
    return a, b


def _tie_split_backward(a, b, a_wins):
    """Backward of maximum/minimum: each output entry came from a (where a wins) or b, or from both at a tie.

        da = unbroadcast(g * wa, a.shape),   db = unbroadcast(g * wb, b.shape),
        wa = 1 where a wins, 1/2 at a tie, 0 else;   wb = 1 - wa  (as PyTorch: a tie splits the gradient in half).

    The weights are piecewise constant, so they stay arrays for a Tensor g too.
    """
    dtype = np.result_type(a.data.dtype, b.data.dtype)
    tie = a.data == b.data
    weight_a = np.where(tie, 0.5, a_wins).astype(dtype)
    weight_b = np.where(tie, 0.5, ~a_wins & ~tie).astype(dtype)

    def backward(g):
        da = unbroadcast(g * weight_a, a.shape) if a.requires_grad else None
        db = unbroadcast(g * weight_b, b.shape) if b.requires_grad else None
        return da, db

    return backward


def maximum(a, b):
    """y = max(a, b) elementwise, a and b broadcast together (``torch.maximum``).

    Backward: ∂y/∂a = 1 where a > b, 0 where a < b; at a tie a = b the gradient is split in half between a and
    b (PyTorch's choice; the function has a kink there). Each gradient is summed back to its input's shape:
        da = unbroadcast(g * wa, a.shape),  db = unbroadcast(g * (1 - wa), b.shape),  wa ∈ {0, 1/2, 1}.
    NaN in either operand gives NaN, as in PyTorch.
    """
    a, b = _binary_extreme("maximum", a, b)
    return make_result("maximum", np.maximum(a.data, b.data), (a, b),
                       _tie_split_backward(a, b, a.data > b.data))


def minimum(a, b):
    """y = min(a, b) elementwise, a and b broadcast together (``torch.minimum``).

    Backward: ∂y/∂a = 1 where a < b, 0 where a > b, and 1/2 at a tie (as PyTorch), so
        da = unbroadcast(g * wa, a.shape),  db = unbroadcast(g * (1 - wa), b.shape),  wa ∈ {0, 1/2, 1}.
    """
    a, b = _binary_extreme("minimum", a, b)
    return make_result("minimum", np.minimum(a.data, b.data), (a, b),
                       _tie_split_backward(a, b, a.data < b.data))


def positive(x):
    """y = +x: x itself, as PyTorch's ``+x`` / ``torch.positive`` (no copy, nothing recorded, so the gradient
    reaches x unchanged: dx = g). A bool tensor is refused, as in PyTorch."""
    if not isinstance(x, Tensor):
        raise TypeError(f"positive: expected a Tensor, got {type(x).__name__}")
    if x.data.dtype == bool:
        raise TypeError("positive: unary + is not supported for bool tensors (as in PyTorch)")
    return x
