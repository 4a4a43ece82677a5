"""Binary arithmetic with NumPy broadcasting: ``+ - * /``, unary ``-`` and ``**``.

Every rule first computes the gradient as if the input had the output's (broadcast) shape, then calls
``unbroadcast`` to sum it back to the input's own shape (see ``tinynet/broadcast.py`` for why it is a sum).

Every rule is written once for two kinds of ``g`` (see ``tinynet/autograd.py``): a NumPy array in an ordinary
backward, or a Tensor when the gradient must itself be differentiable (``create_graph=True``). ``values(g, a, b)``
hands the rule what to multiply with: the input arrays in the first case, the input Tensors in the second, so
``g * b`` is the same formula either way.
"""
from __future__ import annotations

import numpy as np

from ..broadcast import broadcast_shapes, unbroadcast
from ..autograd import differentiable_rules
from ..tensor import Tensor, as_tensor, make_result, values


__all__ = ["add", "sub", "mul", "div", "neg", "pow", "cast"]

# Every rule below also works on a Tensor g, so these ops can be differentiated twice (autograd.py).
differentiable_rules("add", "sub", "mul", "div", "neg", "pow", "cast")


def _operands(op, a, b):
    """Both operands as Tensors; a Python number takes the other operand's float dtype (x32 * 2.0 stays float32)."""
    if type(b) is float or type(b) is int:          # the common case x * 2.0, made cheap
        if a.data.dtype.kind == "f":
            return a, Tensor._wrap(np.asarray(b, dtype=a.data.dtype))
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b)
    b = as_tensor(b, like=a)
    if a.data.dtype is not b.data.dtype:             # (identity: cheap; the helpers check the kinds)
        a, b = _float_wins(a, b), _float_wins(b, a)
        return _dimensioned_wins(a, b), _dimensioned_wins(b, a)
    return a, b


def _dimensioned_wins(t, other):
    """A 0-d float tensor meeting a float tensor with dimensions takes that tensor's dtype, as in PyTorch:
    float32 x times a 0-d float64 scale stays float32 (NumPy would give float64). The cast is an op on the tape,
    so a 0-d tensor that requires grad still gets its gradient, in its own dtype."""
    if (t.data.ndim == 0 and other.data.ndim > 0 and t.data.dtype.kind == "f" and other.data.dtype.kind == "f"
            and t.data.dtype != other.data.dtype):
        return cast(t, other.data.dtype)
    return t


def cast(x, dtype):
    """y = x in another floating dtype (float64 -> float32 or back).

    Backward: dy/dx = 1, so dx = g, in x's own dtype: dx = cast(g, x.dtype) (an op again, so differentiable).
    """
    dtype = np.dtype(dtype)
    return make_result("cast", x.data.astype(dtype), (x,), lambda g: (_in_dtype(g, x.data.dtype),))


def _in_dtype(g, dtype):
    return cast(g, dtype) if isinstance(g, Tensor) else np.asarray(g, dtype=dtype)


def _float_wins(t, other):
    """An integer or bool tensor meeting a float one takes the float's dtype, as in PyTorch (float32 * int64
    stays float32; NumPy would give float64). Integer tensors never require grad, so nothing is lost."""
    if t.data.dtype.kind in "biu" and other.data.dtype.kind == "f":
        return Tensor._wrap(t.data.astype(other.data.dtype))
    return t


def _number_operand(x, c):
    """For ``x ⊕ c`` with a float Tensor x and a Python number c: c as a 0-d array of x's dtype, else None.

    Then the op has one input (no constant Tensor, so less for the engine to record) and x's dtype is kept
    (float32 * 2.0 stays float32). It is also faster: NumPy combines a small array with a 0-d array of the same
    dtype about twice as fast as with a Python float, which it must first inspect and convert on every call.
    """
    if (type(c) is float or type(c) is int) and isinstance(x, Tensor) and x.data.dtype.kind == "f":
        return np.asarray(c, x.data.dtype)
    return None


def _pass_through(g):
    """The backward rule of an op whose output moves one-for-one with its input, in the same dtype (x + c, x - c,
    and ``contiguous`` in shaping.py): dy/dx = 1, so dx = g."""
    return (g,)


def _forward(op, ufunc, a, b):
    try:
        return ufunc(a.data, b.data)
    except ValueError:
        broadcast_shapes(op, a.shape, b.shape)   # raises a ValueError that names both shapes
        raise


def add(a, b):
    """y = a + b.   Shapes: a, b broadcast to y.

    Backward: dy/da = dy/db = 1, so  da = unbroadcast(g, a.shape),  db = unbroadcast(g, b.shape).
    With a Python number c:  y = x + c,  dx = g.
    """
    c = _number_operand(a, b)
    if c is not None:
        return make_result("add", a.data + c, (a,), _pass_through)
    c = _number_operand(b, a)
    if c is not None:
        return make_result("add", c + b.data, (b,), _pass_through)
    a, b = _operands("add", a, b)

    def backward(g):
        da = unbroadcast(g, a.shape) if a.requires_grad else None
        db = unbroadcast(g, b.shape) if b.requires_grad else None
        return da, db

    return make_result("add", _forward("add", np.add, a, b), (a, b), backward)


def sub(a, b):
    """y = a - b.   Backward: da = unbroadcast(g, a.shape),  db = unbroadcast(-g, b.shape).
    With a Python number c:  y = x - c,  dx = g."""
    c = _number_operand(a, b)
    if c is not None:
        return make_result("sub", a.data - c, (a,), _pass_through)
    a, b = _operands("sub", a, b)

    def backward(g):
        da = unbroadcast(g, a.shape) if a.requires_grad else None
        db = unbroadcast(-g, b.shape) if b.requires_grad else None
        return da, db

    return make_result("sub", _forward("sub", np.subtract, a, b), (a, b), backward)


def mul(a, b):
    """y = a * b (elementwise).

    Backward (product rule): da = unbroadcast(g * b, a.shape),  db = unbroadcast(g * a, b.shape).
    For ``x * x`` both inputs are the same tensor and the engine adds the two halves: d(x²)/dx = 2x.
    With a Python number c:  y = c·x,  dx = c·g.
    """
    c = _number_operand(a, b)
    if c is not None:
        return make_result("mul", a.data * c, (a,), lambda g: (g * c,))
    c = _number_operand(b, a)
    if c is not None:
        return make_result("mul", c * b.data, (b,), lambda g: (g * c,))
    a, b = _operands("mul", a, b)

    def backward(g):
        a_, b_ = values(g, a, b)
        da = unbroadcast(g * b_, a.shape) if a.requires_grad else None
        db = unbroadcast(g * a_, b.shape) if b.requires_grad else None
        return da, db

    return make_result("mul", _forward("mul", np.multiply, a, b), (a, b), backward)


def div(a, b):
    """y = a / b.

    Backward: dy/da = 1/b,  dy/db = -a/b² = -y/b,
    so  da = unbroadcast(g / b, a.shape),  db = unbroadcast(-g * y / b, b.shape).
    (Differentiable form: y is recomputed as a / b from the input Tensors.)
    """
    a, b = _operands("div", a, b)
    y = _forward("div", np.divide, a, b)

    def backward(g):
        a_, b_ = values(g, a, b)
        y_ = a_ / b_ if isinstance(g, Tensor) else y
        da = unbroadcast(g / b_, a.shape) if a.requires_grad else None
        db = unbroadcast(-g * y_ / b_, b.shape) if b.requires_grad else None
        return da, db

    return make_result("div", y, (a, b), backward)


def neg(a):
    """y = -a.   Backward: da = -g."""

    def backward(g):
        return (-g,)

    return make_result("neg", np.negative(a.data), (a,), backward)


def pow(a, b):
    """y = a ** b.

    Scalar exponent p (a Python number):  dy/da = p * a**(p-1),  so  da = g * p * a**(p-1).
    Tensor exponent (bases >= 0, since log(a) is needed):
        da = unbroadcast(g * b * a**(b-1), a.shape),   db = unbroadcast(g * y * log(a), b.shape).
    Where the exponent is 0, y = 1 does not depend on a, so da = 0 there (the formula would give 0 · a**-1,
    NaN at a = 0). Where the base is 0, y = 0 for every b > 0, so db = 0 there (the formula would give
    0 · log 0 = NaN), as in PyTorch; log(a) is taken of a with its zeros replaced by 1.
    Both choices are piecewise constant, so the mixed second derivative ∂²y/∂a∂b is 0 at b = 0 (the true
    value is 1/a), as in PyTorch.
    """
    if isinstance(b, (int, float, np.integer, np.floating)) and not isinstance(b, bool) and isinstance(a, Tensor):
        return _pow_scalar(a, b)
    a, b = _operands("pow", a, b)
    if b.requires_grad and np.any(a.data < 0):
        raise ValueError(f"pow: the gradient with respect to a tensor exponent needs log(base), so every base "
                         f"must be >= 0; got a base with minimum {a.data.min()} (shape {a.shape})")
    y = _forward("pow", np.power, a, b)

    def backward(g):
        a_, b_ = values(g, a, b)
        da = db = None
        if a.requires_grad:                       # where b = 0, y = 1 is constant in a: 0, not b·a**(b−1) = 0·inf
            with np.errstate(divide="ignore", invalid="ignore"):
                da = unbroadcast(_where(b.data == 0, 0, g * b_ * a_ ** (b_ - 1)), a.shape)
        if b.requires_grad:
            base_for_log = _where(a.data > 0, a_, 1.0)         # 0 -> 1: db = g · 0 · log 1 = 0 there
            log_a = base_for_log.log() if isinstance(g, Tensor) else np.log(base_for_log)
            y_ = a_ ** b_ if isinstance(g, Tensor) else y
            db = unbroadcast(g * y_ * log_a, b.shape)
        return da, db

    return make_result("pow", y, (a, b), backward)


def _where(condition, x, y):
    """np.where for arrays, tn.where when x is a Tensor (the differentiable form of a rule)."""
    if isinstance(x, Tensor) or isinstance(y, Tensor):
        from .shaping import where
        return where(condition, x, y)
    return np.where(condition, x, y)


def _pow_scalar(a, p):
    if isinstance(p, np.generic):     # np.float64(2.0) is not a "weak" scalar: x32 ** it would give float64
        p = p.item()

    def backward(g):
        if p == 0:                    # x**0 = 1 is constant: dy/dx = 0, also at x = 0 (where 0 · 0**-1 is NaN)
            return (g * 0,)
        (a_,) = values(g, a)
        return (g * p * a_ ** (p - 1),)

    return make_result("pow", a.data ** p, (a,), backward)
