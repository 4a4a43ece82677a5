"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``GlobalAvgPool2d`` (no parameters; the math is in
``tinynet/functional/pooling.py``)."""
from __future__ import annotations

from ..functional.pooling import avg_pool2d, global_avg_pool2d, max_pool2d
from .module import Module

__all__ = ["MaxPool2d", "AvgPool2d", "GlobalAvgPool2d"]


class _Pool2d(Module):
    _function = None

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride      # PyTorch's default: windows do not overlap
        self.padding = padding

    def forward(self, x):
        return type(self)._function(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The max of each kh x kw window (``F.max_pool2d``): x (N, C, H, W) -> (N, C, H', W').
    The gradient goes to each window's arg-max (the first one on a tie)."""
    _function = staticmethod(max_pool2d)


class AvgPool2d(_Pool2d):
    """The mean of each kh x kw window (``F.avg_pool2d``; padded zeros count in the divisor, as PyTorch's default)."""
    _function = staticmethod(avg_pool2d)


class GlobalAvgPool2d(Module):
    """The mean of each channel over all pixels: x (N, C, H, W) -> (N, C, 1, 1), as PyTorch's
    ``AdaptiveAvgPool2d(1)``. Keras' ``GlobalAveragePooling2D`` gives (N, C): add ``Flatten()`` after this one."""

    def forward(self, x):
        return global_avg_pool2d(x)
