"""``Flatten``: merge a range of axes into one, as ``torch.nn.Flatten``."""
from __future__ import annotations

import math

from ..tensor import as_tensor
from .module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Reshape axes ``start_dim`` .. ``end_dim`` (inclusive) into one: (N, C, H, W) -> (N, C·H·W) by default.

    The batch axis 0 is kept (start_dim=1), so ``Flatten()`` turns a conv feature map into the (N, features)
    rows a ``Linear`` takes. Backward is the reshape back (ops/shaping.py).
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        x = as_tensor(x)
        ndim = max(x.ndim, 1)
        start, end = self.start_dim % ndim, self.end_dim % ndim
        if not (-ndim <= self.start_dim < ndim and -ndim <= self.end_dim < ndim) or start > end:
            raise ValueError(f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} do not name a range of "
                             f"axes of an input with shape {x.shape}")
        merged = math.prod(x.shape[start:end + 1])     # not -1: with a 0-size batch, -1 has no single answer
        return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
