"""``tn.use_reference()``: run every fused op as its textbook reference.

tinynet has two tiers. A *fused* op (``F.conv2d``, ``F.layer_norm``, ``F.scaled_dot_product_attention``, ...)
computes its result with NumPy and has one hand-written backward rule, for speed. Its *reference*
(``tinynet.functional.reference``, imported as R) computes the same function from small differentiable ops, so
the tape derives its backward. Inside ``with tn.use_reference():`` every fused op checks its arguments as usual
and then returns its reference's result instead: the tape then shows the textbook computation step by step, and
a learner can compare a model's loss and gradients in both modes (they agree to rounding).

The switch is per thread (a ``threading.local``), like PyTorch's grad mode: one thread's reference mode does not
change what another thread's ops do. As ``tn.no_grad``, it works as a context manager and as a decorator::

    with tn.use_reference():
        loss = F.cross_entropy(model(x), y)      # every fused op inside runs its R twin

    @tn.use_reference()
    def textbook_loss(x, y): ...
"""
from __future__ import annotations

import threading

from ..tape import ModeContext

__all__ = ["use_reference", "reference_is_on"]

_state = threading.local()          # _state.on: this thread's switch (absent means off)


def reference_is_on() -> bool:
    """True inside ``use_reference()`` (in this thread): fused ops then return their reference's result."""
    return getattr(_state, "on", False)


class use_reference(ModeContext):
    """Context manager (and decorator): inside it, every fused op in ``tinynet.functional`` runs its textbook
    reference from ``tinynet.functional.reference`` instead of its hand-written NumPy kernel. Per thread."""

    def __enter__(self):
        _state.__dict__.setdefault("saved", []).append(reference_is_on())   # per thread: objects can be shared
        _state.on = True
        return self

    def __exit__(self, *exc):
        _state.on = _state.saved.pop()
        return False
