"""Elementwise functions y = f(x). Each backward is  dx = g * f'(x),  with f'(x) written in terms of
whatever is cheapest to keep from the forward pass (often y itself). Shapes: x, y, g and dx are all the same.

When the gradient must itself be differentiable (g is a Tensor, ``create_graph=True``; see autograd.py), a
saved y is recomputed from the input Tensor (``exp(x)`` again), so that the tape sees how f'(x) depends on x.
Masks and signs stay arrays: their own derivative is 0 (almost everywhere), so relu'' = abs'' = 0.
"""
from __future__ import annotations

import numpy as np

from ..autograd import differentiable_rules
from ..tensor import Tensor, make_result


__all__ = ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu"]

# Every rule below also works on a Tensor g, so these ops can be differentiated twice (autograd.py).
differentiable_rules("exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu")


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
    positive = x.data > 0
    y = np.maximum(x.data, 0)          # not x * (x > 0): that gives -inf * 0 = NaN at x = -inf (and -0.0 for x < 0)
    return make_result("relu", y, (x,), lambda g: (g * positive,))
