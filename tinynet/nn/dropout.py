"""``Dropout``: randomly zero values while training (inverted dropout); the identity in evaluation."""
from __future__ import annotations

import numbers

from ..functional.dropout import dropout
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """y = x ⊙ m / (1 - p), m ~ Bernoulli(1 - p), in training mode; y = x after ``model.eval()``, as
    ``torch.nn.Dropout``. The math and its backward are in ``tinynet/functional/dropout.py``.

    ``tn.fit`` trains in training mode; ``tn.evaluate`` and ``tn.predict`` run in evaluation mode, so their
    results are deterministic.
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if inplace:
            raise ValueError("Dropout: inplace=True is not supported by tinynet (its output is always a new tensor)")
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p has to be between 0 and 1, but got {p!r}")
        self.p = float(p)

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
