"""Dropout: during training, zero each value with probability p and scale the survivors by 1/(1 - p)."""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import differentiable_rules
from ..random import default_generator
from ..tensor import as_tensor, make_result

__all__ = ["dropout"]

differentiable_rules("dropout")     # its rule, g ⊙ s with s a constant array, works for a Tensor g as well


def dropout(x, p=0.5, training=True, inplace=False):
    """Inverted dropout, as ``torch.nn.functional.dropout``: y = x ⊙ m / (1 - p) with m ~ Bernoulli(1 - p).

    Each value is kept with probability 1 - p, independently; dividing the kept ones by 1 - p keeps the
    expected value: E[y] = (1 - p)·x / (1 - p) = x. That is why nothing has to change at evaluation time:
    with ``training=False`` (or p = 0) dropout is the identity and returns ``x`` itself. p = 1 drops
    everything and gives zeros (and zero gradients), as in PyTorch.

    Shapes: y and the mask m have x's shape. The mask is drawn from tinynet's generator
    (``tinynet.random.default_generator()``), so ``tn.manual_seed(s)`` makes it reproducible.

    Backward: y is x times a constant (the scaled mask s = m / (1 - p)), so
        dx = g ⊙ s
    the same mask that chose the forward's survivors lets exactly their gradients through. The rule works for an
    array g and for a Tensor g alike (s is piecewise constant: it stays an array).

    ``inplace`` is there for PyTorch's signature; only ``False`` is supported (the result is a new tensor).
    """
    x = as_tensor(x)
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p has to be between 0 and 1, but got {p!r}")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"dropout: training must be True or False, got {training!r}")
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: needs floating-point input, got dtype {x.dtype}")
    if inplace:
        raise ValueError("dropout: inplace=True is not supported by tinynet (drop it: the result is a new tensor)")
    if not training or p == 0:
        return x
    keep = default_generator().random(x.shape) >= p                 # True with probability 1 - p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    scaled_mask = keep.astype(x.dtype) * x.dtype.type(scale)       # s = m / (1 - p), in x's dtype
    y = x.data * scaled_mask

    def backward(g):
        return (g * scaled_mask,)                                   # dx = g ⊙ s

    return make_result("dropout", y, (x,), backward)
