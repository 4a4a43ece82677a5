"""Activation functions as functions of a Tensor. The math and backward rules live in
``tinynet/ops/elementwise.py``; these are the ``F.relu(x)`` spellings PyTorch users expect.
"""
from __future__ import annotations

from ..ops import elementwise
from ..tensor import as_tensor

__all__ = ["relu", "tanh", "sigmoid"]


def relu(x):
    """max(x, 0) elementwise (gradient 0 at x = 0)."""
    return elementwise.relu(as_tensor(x))


def tanh(x):
    """tanh(x) elementwise."""
    return elementwise.tanh(as_tensor(x))


def sigmoid(x):
    """1 / (1 + e⁻ˣ) elementwise, computed without overflow."""
    return elementwise.sigmoid(as_tensor(x))
