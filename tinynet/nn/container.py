"""``Sequential``: modules applied one after another."""
from __future__ import annotations

import numpy as np

from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """``Sequential(a, b, c)(x) == c(b(a(x)))``. Children are named "0", "1", ... as in PyTorch."""

    def __init__(self, *modules):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(module).__name__}, not a Module")
            self.add_module(str(i), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __len__(self):
        return len(self._modules)

    def __getitem__(self, i):
        if isinstance(i, slice):                     # keeps the children's names, as PyTorch does, so the slice's
            part = Sequential()                      # state_dict keys match the whole model's
            for name, module in list(self._modules.items())[i]:
                part.add_module(name, module)
            return part
        if not isinstance(i, (int, np.integer)) or isinstance(i, bool):
            raise TypeError(f"Sequential: index with an int or a slice, got {type(i).__name__} {i!r}")
        n = len(self)
        if not -n <= i < n:
            valid = f"valid: {-n} .. {n - 1}" if n else "it is empty"
            raise IndexError(f"Sequential: index {i} is out of range for a Sequential of length {n} ({valid})")
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())
