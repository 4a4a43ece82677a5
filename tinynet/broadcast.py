"""Unbroadcasting: the one rule every op with broadcasting inputs uses in its backward pass.

NumPy broadcasting lets ``a + b`` combine shapes like ``(3, 1)`` and ``(1, 4)`` into ``(3, 4)``. In the forward
pass, a size-1 axis (or an axis that does not exist at all) is *repeated* to match the other operand. In the
backward pass, each repeated copy of an input element sent its own gradient contribution, and by the chain
rule the contributions of the copies **add up**. So the gradient of the broadcast input is the upstream
gradient **summed** over the axes that broadcasting created:

* leading axes that the input did not have at all, e.g. ``(5,)`` used as ``(2, 5)``: sum over axis 0;
* axes where the input had size 1 and the output has size n > 1: sum over that axis, keeping it as size 1.

Example: ``b`` of shape ``(4,)`` added to ``x`` of shape ``(3, 4)``. Each ``b[j]`` is used 3 times, once per
row, so ``dL/db[j] = sum_i dL/dy[i, j]`` and ``unbroadcast(g, (4,)) = g.sum(axis=0)``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["unbroadcast", "broadcast_shapes"]


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` (the shape of a broadcast result) back down to ``shape`` (the input's own shape)."""
    if grad.shape == shape:
        return grad
    n_new_axes = grad.ndim - len(shape)
    if n_new_axes > 0:                                    # axes the input never had
        grad = grad.sum(axis=tuple(range(n_new_axes)))
    stretched = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if stretched:                                         # size-1 axes that were repeated
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def broadcast_shapes(op: str, *shapes: tuple) -> tuple:
    """The broadcast shape of ``shapes``, or a ``ValueError`` naming the op and every shape."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} cannot be broadcast together (NumPy rules: align from the "
                         f"right; each pair of sizes must be equal or one of them 1)") from None
