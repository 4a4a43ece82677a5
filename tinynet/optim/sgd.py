"""``SGD``: stochastic gradient descent with optional momentum and weight decay, as ``torch.optim.SGD``."""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD(params, lr, momentum=0, weight_decay=0, dampening=0, nesterov=False).

    PyTorch's update rule, for each parameter θ with gradient ∇ at step t = 1, 2, ...:

        g = ∇ + λ·θ                                  (L2 weight decay λ = weight_decay; skipped when λ = 0)
        if μ ≠ 0 (momentum):
            b = g                       at t = 1     (the buffer starts at the first gradient, not at 0)
            b = μ·b + (1 − τ)·g         at t > 1     (τ = dampening)
            g = g + μ·b  if nesterov  else  b
        θ = θ − lr·g

    With μ = 0 this is plain gradient descent θ ← θ − lr·(∇ + λθ). With momentum, b is a running sum of past
    gradients, so steps grow along directions where the gradients agree and cancel where they oscillate.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, dampening=dampening,
                         nesterov=nesterov)

    def _checked_hyperparameters(self, values):
        """lr, momentum, weight_decay, dampening >= 0 (as floats); nesterov needs momentum and no dampening."""
        checked = dict(values)
        for key in ("lr", "momentum", "weight_decay", "dampening"):
            checked[key] = self._check_hyperparameter(key, values[key])
        checked["nesterov"] = bool(values["nesterov"])
        if checked["nesterov"] and (checked["momentum"] <= 0 or checked["dampening"] != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        return checked

    def _update(self, p, grad, state, group):
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        g = grad
        if weight_decay:
            g = self._buffer(state, "decayed_grad", p.data)
            np.multiply(p.data, weight_decay, out=g)
            g += grad                                             # g = ∇ + λθ, in our buffer: p.grad untouched
        if momentum:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = np.array(g, copy=True)         # owned, never the grad itself
            else:
                b *= momentum
                b += (1 - group["dampening"]) * g if group["dampening"] else g  # b = μb + (1 − τ)g
            if group["nesterov"]:
                lookahead = self._buffer(state, "nesterov", p.data)
                np.multiply(b, momentum, out=lookahead)
                lookahead += g                                                # g + μb
                g = lookahead
            else:
                g = b
        step = self._buffer(state, "step", p.data)
        np.multiply(g, lr, out=step)
        p.data -= step                                                        # θ = θ − lr·g
