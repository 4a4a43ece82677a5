"""``Parameter``: a Tensor that a Module owns and an optimizer updates."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor with ``requires_grad=True`` that a ``Module`` registers when you assign it as an attribute.

    A float NumPy array keeps its dtype; anything else becomes float32.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        data = np.array(data, copy=True)
        if data.dtype.kind != "f":
            data = data.astype(np.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()
