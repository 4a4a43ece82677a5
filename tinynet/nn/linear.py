"""``Linear``: the fully connected layer y = x Wᵀ + b."""
from __future__ import annotations

import math

import numpy as np

from ..functional.linear import linear
from . import init
from .module import Module, check_input_dtype
from .parameter import Parameter

__all__ = ["Linear"]


class Linear(Module):
    """y = x Wᵀ + b with ``weight`` (out_features, in_features) and ``bias`` (out_features,).

    Initialised as PyTorch does: W and b ~ U(-1/√in, 1/√in) (``kaiming_uniform_`` with a=√5).
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32):
        super().__init__()
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 0:
                raise ValueError(f"Linear: {name} must be an int >= 0, got {size!r}")
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if bias:
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0    # PyTorch's rule, also for 0 inputs
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        x = check_input_dtype(self, x, self.weight)
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
