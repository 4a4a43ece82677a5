"""Convolution layers: ``Conv2d``, ``DepthwiseConv2d``, ``PointwiseConv2d``, ``SeparableConv2d``.

Each layer owns its ``weight`` (and ``bias``) in PyTorch's layout and calls the function of the same name in
``tinynet/functional/`` (conv.py, depthwise.py), where the math lives. Attributes use PyTorch's names, with
``kernel_size``, ``stride`` and ``dilation`` stored as (h, w) pairs and ``padding`` as a pair or the string
'same'/'valid'.

Initialisation is PyTorch's: weight ~ U(−1/√fan_in, 1/√fan_in) (``kaiming_uniform_`` with a = √5) and
bias ~ U(−1/√fan_in, 1/√fan_in), with fan_in = (in_channels / groups) · kh · kw, the number of inputs each
output sums over.
"""
from __future__ import annotations

import math

import numpy as np

from ..functional.conv import conv2d, pointwise_conv2d
from ..functional.depthwise import depthwise_conv2d
from ..functional.geometry import pair, padding_sides
from . import init
from .module import Module, check_input_dtype
from .parameter import Parameter

__all__ = ["Conv2d", "DepthwiseConv2d", "PointwiseConv2d", "SeparableConv2d"]


def _check_positive(layer, name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return int(value)


def _window_args(layer, kernel_size, stride, padding, dilation):
    """Validate once, at construction (as PyTorch does): pairs, and padding as a pair or 'same'/'valid'."""
    kernel = pair(layer, "kernel_size", kernel_size, 1)
    stride = pair(layer, "stride", stride, 1)
    dilation = pair(layer, "dilation", dilation, 1)
    padding_sides(layer, padding, kernel, stride, dilation)        # raises on a bad value ('same' + stride 2, ...)
    padding = padding if isinstance(padding, str) else pair(layer, "padding", padding, 0)
    return kernel, stride, padding, dilation


def _init_conv_parameters(layer, weight_shape, out_channels, bias, dtype):
    """weight and bias ~ U(±1/√fan_in), fan_in = weight_shape[1] · kh · kw (PyTorch's conv initialisation)."""
    layer.weight = Parameter(np.empty(weight_shape, dtype=dtype))
    init.kaiming_uniform_(layer.weight, a=math.sqrt(5))
    if bias:
        fan_in, _ = init.fan_in_and_fan_out(weight_shape)
        bound = 1 / math.sqrt(fan_in)
        layer.bias = Parameter(np.empty(out_channels, dtype=dtype))
        init.uniform_(layer.bias, -bound, bound)
    else:
        layer.register_parameter("bias", None)


def _window_repr(layer):
    text = f"kernel_size={layer.kernel_size}, stride={layer.stride}"
    if layer.padding != (0, 0):
        text += f", padding={layer.padding!r}"
    if layer.dilation != (1, 1):
        text += f", dilation={layer.dilation}"
    return text


class Conv2d(Module):
    """y = conv2d(x, weight, bias, stride, padding, dilation, groups): x (N, in, H, W) -> y (N, out, H', W').

    ``weight`` (out_channels, in_channels/groups, kh, kw), ``bias`` (out_channels,) or None. ``groups`` must
    divide both channel counts; groups = in_channels is a depthwise conv (see ``DepthwiseConv2d``).
    Parameters: out·(in/groups)·kh·kw weights (+ out biases): 64 -> 128 with 3x3 costs 73,728 weights.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, dtype=np.float32):
        super().__init__()
        self.in_channels = _check_positive("Conv2d", "in_channels", in_channels)
        self.out_channels = _check_positive("Conv2d", "out_channels", out_channels)
        self.groups = _check_positive("Conv2d", "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide both in_channels ({in_channels}) and "
                             f"out_channels ({out_channels})")
        self.kernel_size, self.stride, self.padding, self.dilation = _window_args(
            "Conv2d", kernel_size, stride, padding, dilation)
        _init_conv_parameters(self, (out_channels, in_channels // groups) + self.kernel_size, out_channels,
                              bias, dtype)

    def forward(self, x):
        x = check_input_dtype(self, x, self.weight)
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, {_window_repr(self)}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class DepthwiseConv2d(Module):
    """One kh x kw filter per input channel (times ``depth_multiplier``): conv2d with groups = in_channels.

    x (N, C, H, W) -> y (N, C·m, H', W'); ``weight`` (C·m, 1, kh, kw), ``bias`` (C·m,) or None. Output channel
    c·m + k filters input channel c only. As a ``Conv2d`` it has in_channels = C, out_channels = C·m and
    groups = C (these attributes are set, so code that reads a Conv2d's attributes reads this one too).
    Parameters: C·m·kh·kw weights: 64 channels with 3x3 cost 576. Initialised as PyTorch initialises
    ``Conv2d(C, C·m, k, groups=C)`` (fan_in = kh·kw).
    """

    def __init__(self, in_channels, kernel_size, stride=1, padding=0, dilation=1, depth_multiplier=1, bias=True,
                 dtype=np.float32):
        super().__init__()
        self.in_channels = _check_positive("DepthwiseConv2d", "in_channels", in_channels)
        self.depth_multiplier = _check_positive("DepthwiseConv2d", "depth_multiplier", depth_multiplier)
        self.out_channels = in_channels * depth_multiplier
        self.groups = in_channels
        self.kernel_size, self.stride, self.padding, self.dilation = _window_args(
            "DepthwiseConv2d", kernel_size, stride, padding, dilation)
        _init_conv_parameters(self, (self.out_channels, 1) + self.kernel_size, self.out_channels, bias, dtype)

    def forward(self, x):
        x = check_input_dtype(self, x, self.weight)
        return depthwise_conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self):
        text = f"{self.in_channels}, {_window_repr(self)}"
        if self.depth_multiplier != 1:
            text += f", depth_multiplier={self.depth_multiplier}"
        return text + ("" if self.bias is not None else ", bias=False")


class PointwiseConv2d(Module):
    """A 1x1 convolution: the same (out, in) matrix applied to every pixel's channel vector.

    x (N, in, H, W) -> y (N, out, H, W); ``weight`` (out_channels, in_channels, 1, 1), ``bias`` (out,) or None.
    kernel_size, stride, dilation are (1, 1) and padding (0, 0). Parameters: in·out weights (+ out biases).
    """

    def __init__(self, in_channels, out_channels, bias=True, dtype=np.float32):
        super().__init__()
        self.in_channels = _check_positive("PointwiseConv2d", "in_channels", in_channels)
        self.out_channels = _check_positive("PointwiseConv2d", "out_channels", out_channels)
        self.kernel_size, self.stride, self.padding, self.dilation, self.groups = (1, 1), (1, 1), (0, 0), (1, 1), 1
        _init_conv_parameters(self, (out_channels, in_channels, 1, 1), out_channels, bias, dtype)

    def forward(self, x):
        x = check_input_dtype(self, x, self.weight)
        return pointwise_conv2d(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_channels}, {self.out_channels}" + ("" if self.bias is not None else ", bias=False")


class SeparableConv2d(Module):
    """A depthwise conv (space) followed by a pointwise conv (channels): ``pointwise(depthwise(x))``.

    x (N, in, H, W) -> y (N, out, H', W'). Children: ``depthwise`` = DepthwiseConv2d(in, kernel_size, stride,
    padding, dilation, depth_multiplier, bias=False) and ``pointwise`` = PointwiseConv2d(in·m, out, bias).
    Only the pointwise conv has a bias, as in Keras' SeparableConv2D: a depthwise bias would be redundant, since
    P(Dx + b₁) + b₂ = PDx + (Pb₁ + b₂).

    Why: a standard k x k conv mixes space and channels at once, with out·in·k² weights; the separable one
    filters each channel in space (in·m·k² weights), then mixes channels (in·m·out weights). For 64 -> 128
    channels with 3x3 kernels:

        standard conv:   128 · 64 · 3 · 3           = 73,728 weights
        separable conv:  64 · 3 · 3 + 64 · 128 = 576 + 8,192 = 8,768 weights      (8.4x fewer)

    and the multiply-accumulates per output pixel drop by the same factor (73,728 -> 8,768). Plus 128 biases
    in both when bias=True. It computes a restricted family of convolutions (a rank-constrained kernel), which
    in practice loses little accuracy (MobileNet, Xception).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, depth_multiplier=1,
                 bias=True, dtype=np.float32):
        super().__init__()
        self.depthwise = DepthwiseConv2d(in_channels, kernel_size, stride, padding, dilation, depth_multiplier,
                                         bias=False, dtype=dtype)
        self.pointwise = PointwiseConv2d(in_channels * depth_multiplier, out_channels, bias=bias, dtype=dtype)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = self.depthwise.kernel_size, self.depthwise.stride
        self.padding, self.dilation = self.depthwise.padding, self.depthwise.dilation
        self.depth_multiplier = depth_multiplier

    def forward(self, x):
        return self.pointwise(self.depthwise(x))

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, {_window_repr(self)}"
        if self.depth_multiplier != 1:
            text += f", depth_multiplier={self.depth_multiplier}"
        return text + ("" if self.pointwise.bias is not None else ", bias=False")
