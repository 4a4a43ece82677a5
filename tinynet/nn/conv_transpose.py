"""``ConvTranspose2d``: the layer that goes up in resolution, the transpose of a ``Conv2d``.

The math (y = col2im(Wᵀ x), conv2d's backward with respect to its input) and its backward are in
``tinynet/functional/conv_transpose.py``.
"""
from __future__ import annotations

import numpy as np

from ..functional.conv_transpose import _pair, conv_transpose2d
from .conv import _check_positive, _init_conv_parameters
from .module import Module, check_input_dtype

__all__ = ["ConvTranspose2d"]


class ConvTranspose2d(Module):
    """y = conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation), as
    ``torch.nn.ConvTranspose2d``: x (N, in, H, W) -> y (N, out, H_out, W_out) with
    H_out = (H − 1)·stride − 2·padding + dilation·(kh − 1) + output_padding + 1 (a 2x upsampling for
    kernel_size=2, stride=2, or kernel_size=4, stride=2, padding=1).

    ``weight`` (in_channels, out_channels/groups, kh, kw) — the layout of the Conv2d it transposes — and
    ``bias`` (out_channels,) or None. Initialised as PyTorch does: U(±1/√fan_in) for both, where PyTorch takes
    fan_in from the weight's second axis: (out_channels/groups)·kh·kw.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, dtype=np.float32):
        super().__init__()
        name = "ConvTranspose2d"
        self.in_channels = _check_positive(name, "in_channels", in_channels)
        self.out_channels = _check_positive(name, "out_channels", out_channels)
        self.groups = _check_positive(name, "groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels ({in_channels}) and out_channels "
                             f"({out_channels})")
        self.kernel_size = _pair(name, "kernel_size", kernel_size, 1)
        self.stride = _pair(name, "stride", stride, 1)
        self.padding = _pair(name, "padding", padding, 0)
        self.output_padding = _pair(name, "output_padding", output_padding, 0)
        self.dilation = _pair(name, "dilation", dilation, 1)
        for extra, s, d in zip(self.output_padding, self.stride, self.dilation):
            if extra >= s and extra >= d:
                raise ValueError(f"{name}: output_padding must be smaller than either stride or dilation, got "
                                 f"output_padding {self.output_padding}, stride {self.stride}, dilation "
                                 f"{self.dilation}")
        weight_shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        _init_conv_parameters(self, weight_shape, self.out_channels, bias, dtype)

    def forward(self, x, output_size=None):
        """``output_size`` ((H_out, W_out), or a full (N, C, H_out, W_out)) picks the output_padding that gives
        that size, as PyTorch's ``forward(input, output_size)``: several sizes map back to x's size under the
        strided conv, e.g. to match the skip connection of a U-Net."""
        x = check_input_dtype(self, x, self.weight)
        output_padding = self.output_padding if output_size is None else self._padding_for(x, output_size)
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, output_padding,
                                self.groups, self.dilation)

    def _padding_for(self, x, output_size):
        """output_padding = output_size − smallest size, checked to lie in [0, stride) per axis (PyTorch's rule)."""
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        try:
            size = tuple(int(v) for v in output_size)[-2:]
        except TypeError:
            raise TypeError(f"ConvTranspose2d: output_size must be an int or a sequence ending with (H_out, W_out), "
                            f"got {output_size!r}") from None
        if len(size) != 2 or getattr(x, "ndim", 0) != 4:
            raise ValueError(f"ConvTranspose2d: output_size must end with (H_out, W_out) for a 4-D input, got "
                             f"{output_size!r}")
        padding = []
        for n, want, k, s, p, d in zip(x.shape[2:], size, self.kernel_size, self.stride, self.padding,
                                       self.dilation):
            smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= want < smallest + s:
                raise ValueError(f"ConvTranspose2d: requested an output size of {size}, but valid sizes for an "
                                 f"input of spatial size {tuple(x.shape[2:])} range from {smallest} to "
                                 f"{smallest + s - 1} along each axis (stride {s})")
            padding.append(want - smallest)
        return tuple(padding)

    def extra_repr(self):
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        for label, value, default in (("padding", self.padding, (0, 0)),
                                      ("output_padding", self.output_padding, (0, 0)),
                                      ("dilation", self.dilation, (1, 1))):
            if value != default:
                text += f", {label}={value}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text
