"""Weight initialisation, as ``torch.nn.init``. Each function fills a Parameter's array in place and returns it.

Why the scales: for y = W x with n inputs of unit variance, Var(y) = n·Var(W). Keeping activations (and, in
backward, gradients) at a steady size through many layers means Var(W) ≈ 1/n:
  * Xavier/Glorot (tanh, sigmoid):  Var(W) = 2 / (fan_in + fan_out)  — a compromise between forward and backward;
  * Kaiming/He (ReLU, which zeroes half its inputs):  Var(W) = 2 / fan_in  (gain² / fan_in in general).
A uniform U(-a, a) has variance a²/3, so a = √3 · std.

Draws come from ``tinynet.random.default_generator()``; seed it with ``tn.manual_seed``.
"""
from __future__ import annotations

import math

import numpy as np

from ..random import default_generator

__all__ = ["calculate_gain", "fan_in_and_fan_out", "uniform_", "normal_", "zeros_", "ones_", "constant_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity, as in PyTorch (relu √2, tanh 5/3, leaky_relu √(2/(1+a²)))."""
    if nonlinearity in ("linear", "sigmoid", "conv2d", "conv1d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity '{nonlinearity}'")


def fan_in_and_fan_out(shape):
    """fan_in = in_features × receptive field size; fan_out = out_features × receptive field size.

    For a Linear weight (out, in): (in, out). For a conv weight (O, C/groups, kh, kw): (C/groups·kh·kw, O·kh·kw).
    """
    if len(shape) < 2:
        raise ValueError(f"fan_in_and_fan_out: need at least 2 dimensions, got shape {tuple(shape)}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(param, values):
    param.data[...] = values.astype(param.data.dtype)
    return param


def uniform_(param, a=0.0, b=1.0):
    return _fill(param, default_generator().uniform(a, b, size=param.shape))


def normal_(param, mean=0.0, std=1.0):
    return _fill(param, default_generator().normal(mean, std, size=param.shape))


def constant_(param, value):
    param.data[...] = value
    return param


def zeros_(param):
    return constant_(param, 0.0)


def ones_(param):
    return constant_(param, 1.0)


def xavier_uniform_(param, gain=1.0):
    """U(-a, a) with a = gain·√(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(param.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(param, -bound, bound)


def xavier_normal_(param, gain=1.0):
    """N(0, std²) with std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(param.shape)
    return normal_(param, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(param, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(param.shape)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:                          # a zero-element weight (Linear(0, n)): nothing to draw, as in PyTorch
        return 0.0
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(param, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b) with b = √3·gain/√fan. PyTorch's Linear and Conv2d use a=√5, giving b = 1/√fan_in."""
    bound = math.sqrt(3.0) * _kaiming_std(param, a, mode, nonlinearity)
    return uniform_(param, -bound, bound)


def kaiming_normal_(param, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std²) with std = gain/√fan."""
    return normal_(param, 0.0, _kaiming_std(param, a, mode, nonlinearity))
