"""``BatchNorm1d`` and ``BatchNorm2d``: normalize each channel with the batch's statistics while training and with
running averages of them in evaluation, as ``torch.nn.BatchNorm1d`` / ``torch.nn.BatchNorm2d``."""
from __future__ import annotations

import numbers

import numpy as np

from ..functional.normalization import batch_norm
from ..tensor import Tensor
from . import init
from .module import Module, check_input_dtype
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """y = (x - μ) / √(σ² + eps) · weight + bias per channel (axis 1); the math and its backward are in
    ``tinynet/functional/normalization.py`` (``batch_norm``).

    Training mode (``model.train()``): μ, σ² are the batch's mean and biased variance over every axis but the
    channels, and the running averages are updated with the *unbiased* variance:
        running = (1 - momentum)·running + momentum·batch statistic,
    or, with ``momentum=None``, the cumulative average over all batches seen: momentum = 1/num_batches_tracked.
    Evaluation mode (``model.eval()``): μ = running_mean, σ² = running_var, so a sample's output does not
    depend on the rest of its batch.

    ``affine=True`` gives learnable ``weight`` (initialised to 1) and ``bias`` (initialised to 0), shape (C,).
    ``track_running_stats=False`` keeps no running averages and uses batch statistics in both modes.
    State-dict keys, as PyTorch's: ``weight``, ``bias``, ``running_mean``, ``running_var``,
    ``num_batches_tracked`` (the last three are buffers: saved and loaded, never trained).
    """

    expected_dims = ()                 # the input ranks a subclass accepts
    input_layout = ""                  # how the error message names them

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_features, (int, np.integer)) or isinstance(num_features, bool) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, got {num_features!r}")
        if momentum is not None and (not isinstance(momentum, numbers.Real) or isinstance(momentum, bool)
                                     or not 0.0 <= momentum <= 1.0):
            raise ValueError(f"{name}: momentum must be a number in [0, 1] or None (cumulative average), got "
                             f"{momentum!r}")
        if not isinstance(eps, numbers.Real) or eps < 0:
            raise ValueError(f"{name}: eps must be a number >= 0, got {eps!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(np.empty(self.num_features, dtype=dtype))
            init.ones_(self.weight)
            self.bias = Parameter(np.empty(self.num_features, dtype=dtype))
            init.zeros_(self.bias)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(self.num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1, num_batches_tracked = 0 (in place)."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x):
        x = check_input_dtype(self, x, self.weight if self.weight is not None else self.running_mean)
        self._check_input(x)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1                       # in place: the saved buffer is this array
            if self.momentum is None:                                 # cumulative moving average
                momentum = 1.0 / int(self.num_batches_tracked.data)
        use_batch_stats = self.training or self.running_mean is None
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          training=use_batch_stats, momentum=momentum, eps=self.eps)

    def _check_input(self, x):
        name = type(self).__name__
        if x.ndim not in self.expected_dims:
            raise ValueError(f"{name}: expected {self.input_layout} input, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): the input has {x.shape[1]} channels (shape {x.shape}, "
                             f"channels on axis 1), expected num_features = {self.num_features}")

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs: statistics per channel C over the batch (and L)."""

    expected_dims = (2, 3)
    input_layout = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) images: statistics per channel over the batch and every pixel."""

    expected_dims = (4,)
    input_layout = "4-D (N, C, H, W)"
