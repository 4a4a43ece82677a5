"""``LayerNorm``: normalize each sample's last axes to mean 0 and variance 1, then scale and shift."""
from __future__ import annotations

import numpy as np

from ..functional.normalization import _normalized_shape, layer_norm
from . import init
from .module import Module, check_input_dtype
from .parameter import Parameter

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """y = (x - μ) / √(σ² + eps) · weight + bias over the last ``len(normalized_shape)`` axes, as
    ``torch.nn.LayerNorm``; the math and its backward are in ``tinynet/functional/normalization.py``.

    ``normalized_shape``: an int E (normalize over the last axis, size E) or a tuple of the last axes' sizes.
    ``elementwise_affine=True`` gives learnable ``weight`` (initialised to 1) and ``bias`` (initialised to 0),
    both of shape normalized_shape; ``bias=False`` keeps the weight only. The statistics μ and σ² are computed
    per sample, so unlike batch norm it behaves the same in training and evaluation and for batch size 1.
    State-dict keys ``weight`` and ``bias`` match PyTorch's.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=np.float32):
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape)
        if not self.normalized_shape or any(s < 1 for s in self.normalized_shape):
            raise ValueError(f"LayerNorm: normalized_shape must be non-empty with positive sizes, got "
                             f"{normalized_shape!r}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(np.empty(self.normalized_shape, dtype=dtype))
            init.ones_(self.weight)
            if bias:
                self.bias = Parameter(np.empty(self.normalized_shape, dtype=dtype))
                init.zeros_(self.bias)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        x = check_input_dtype(self, x, self.weight)          # no check without weights, as in PyTorch
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps:g}, elementwise_affine={self.elementwise_affine}"
                + ("" if not self.elementwise_affine or self.bias is not None else ", bias=False"))
