"""Binary arithmetic with NumPy broadcasting: ``+ - * /``, unary ``-`` and ``**``.

Every rule first computes the gradient as if the input had the output's (broadcast) shape, then calls
``unbroadcast`` to sum it back to the input's own shape (see ``tinynet/broadcast.py`` for why it is a sum).
"""
from __future__ import annotations

import numpy as np

from ..broadcast import broadcast_shapes, unbroadcast
from ..tensor import Tensor, as_tensor, make_result

__all__ = ["add", "sub", "mul", "div", "neg", "pow"]


def _operands(op, a, b):
    """Both operands as Tensors; a Python number takes the other operand's float dtype (x32 * 2.0 stays float32)."""
    if type(b) is float or type(b) is int:          # the common case x * 2.0, made cheap
        if a.data.dtype.kind == "f":
            return a, Tensor._wrap(np.asarray(b, dtype=a.data.dtype))
    if not isinstance(a, Tensor):
        a = as_tensor(a, like=b)
    b = as_tensor(b, like=a)
    return a, b


def _is_number(x):
    return type(x) is float or type(x) is int


def _tensor_and_number(a, b):
    """For ``x ⊕ c`` with a float Tensor x and a Python number c: the pair, else None.

    Then the op has one input, and NumPy keeps x's dtype (float32 * 2.0 is float32). This shortcut is the
    common case in real code (scaling, shifting) and saves wrapping c in a constant Tensor.
    """
    if _is_number(b) and isinstance(a, Tensor) and a.data.dtype.kind == "f":
        return a, b
    return None


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
    pair = _tensor_and_number(a, b) or _tensor_and_number(b, a)
    if pair:
        x, c = pair
        return make_result("add", x.data + c, (x,), lambda g: (g,))
    a, b = _operands("add", a, b)

    def backward(g):
        da = unbroadcast(g, a.shape) if a.requires_grad else None
        db = unbroadcast(g, b.shape) if b.requires_grad else None
        return da, db

    return make_result("add", _forward("add", np.add, a, b), (a, b), backward)


def sub(a, b):
    """y = a - b.   Backward: da = unbroadcast(g, a.shape),  db = unbroadcast(-g, b.shape).
    With a Python number c:  y = x - c,  dx = g."""
    pair = _tensor_and_number(a, b)
    if pair:
        x, c = pair
        return make_result("sub", x.data - c, (x,), lambda g: (g,))
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
    pair = _tensor_and_number(a, b) or _tensor_and_number(b, a)
    if pair:
        x, c = pair
        return make_result("mul", x.data * c, (x,), lambda g: (g * c,))
    a, b = _operands("mul", a, b)

    def backward(g):
        da = unbroadcast(g * b.data, a.shape) if a.requires_grad else None
        db = unbroadcast(g * a.data, b.shape) if b.requires_grad else None
        return da, db

    return make_result("mul", _forward("mul", np.multiply, a, b), (a, b), backward)


def div(a, b):
    """y = a / b.

    Backward: dy/da = 1/b,  dy/db = -a/b² = -y/b,
    so  da = unbroadcast(g / b, a.shape),  db = unbroadcast(-g * y / b, b.shape).
    """
    a, b = _operands("div", a, b)
    y = _forward("div", np.divide, a, b)

    def backward(g):
        da = unbroadcast(g / b.data, a.shape) if a.requires_grad else None
        db = unbroadcast(-g * y / b.data, b.shape) if b.requires_grad else None
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
    Tensor exponent (positive bases only, since log(a) is needed):
        da = unbroadcast(g * b * a**(b-1), a.shape),   db = unbroadcast(g * y * log(a), b.shape).
    """
    if isinstance(b, (int, float)) and not isinstance(b, bool) and isinstance(a, Tensor):
        return _pow_scalar(a, b)
    a, b = _operands("pow", a, b)
    if b.requires_grad and np.any(a.data <= 0):
        raise ValueError(f"pow: the gradient with respect to a tensor exponent needs log(base), so every base "
                         f"must be > 0; got a base with minimum {a.data.min()} (shape {a.shape})")
    y = _forward("pow", np.power, a, b)

    def backward(g):
        da = unbroadcast(g * b.data * a.data ** (b.data - 1), a.shape) if a.requires_grad else None
        db = unbroadcast(g * y * np.log(a.data), b.shape) if b.requires_grad else None
        return da, db

    return make_result("pow", y, (a, b), backward)


def _pow_scalar(a, p):
    if isinstance(p, np.generic):     # np.float64(2.0) is not a "weak" scalar: x32 ** it would give float64
        p = p.item()

    def backward(g):
        return (g * p * a.data ** (p - 1),)

    return make_result("pow", a.data ** p, (a,), backward)
