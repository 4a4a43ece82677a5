"""``Adam`` and ``AdamW``: adaptive moment estimation, as ``torch.optim.Adam`` / ``torch.optim.AdamW``."""
from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False).

    PyTorch's update rule, for each parameter θ with gradient ∇; t counts this parameter's steps (1, 2, ...);
    m and v start at 0:

        g = ∇ + λ·θ                     (L2 weight decay, λ = weight_decay; only when not decoupled)
        θ = θ·(1 − lr·λ)                (decoupled weight decay = AdamW; only when decoupled)
        m = β₁·m + (1 − β₁)·g           (running mean of the gradient: the "first moment")
        v = β₂·v + (1 − β₂)·g²          (running mean of its square: the "second moment", elementwise)
        m̂ = m / (1 − β₁ᵗ)               (bias correction: m and v start at 0, so early averages are too small;
        v̂ = v / (1 − β₂ᵗ)                dividing by 1 − βᵗ makes them unbiased estimates)
        θ = θ − lr·m̂ / (√v̂ + ε)

    Each coordinate moves by about lr in the direction of its average gradient, whatever the gradient's scale:
    m̂/√v̂ is ±1 when the gradient is steady and small when it flips sign. (Coded as PyTorch codes it:
    θ −= (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε), the same formula.)

    L2 vs decoupled: with L2 decay, λθ goes through the division by √v̂, so parameters with large gradients are
    barely decayed; AdamW (Loshchilov & Hutter) shrinks every weight by the same factor 1 − lr·λ instead.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         decoupled_weight_decay=decoupled_weight_decay)

    def _checked_hyperparameters(self, values):
        """lr, eps, weight_decay >= 0; betas a pair in [0, 1) (as floats)."""
        checked = dict(values)
        for key in ("lr", "eps", "weight_decay"):
            checked[key] = self._check_hyperparameter(key, values[key])
        betas = values["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{type(self).__name__}: betas must be a pair (beta1, beta2), e.g. betas=(0.9, 0.999), "
                            f"got {betas!r}")
        checked["betas"] = (self._check_hyperparameter("betas[0]", betas[0], 0.0, 1.0),
                            self._check_hyperparameter("betas[1]", betas[1], 0.0, 1.0))
        checked["decoupled_weight_decay"] = bool(values["decoupled_weight_decay"])
        return checked

    def _update(self, p, grad, state, group):
        beta1, beta2 = group["betas"]
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)        # m  (owned arrays, never a view of a grad)
            state["exp_avg_sq"] = np.zeros_like(p.data)     # v
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        buf = self._buffer(state, "scratch", p.data)       # reused every step: no new arrays, no page faults
        # The formulas of the docstring, computed in place (``out=``) because allocating and freeing four
        # parameter-sized temporaries per step costs more than the arithmetic for large layers.
        g = grad
        if weight_decay:
            if group["decoupled_weight_decay"]:
                p.data *= 1 - lr * weight_decay                             # θ = θ·(1 − lr·λ)
            else:
                g = self._buffer(state, "decayed_grad", p.data)
                np.multiply(p.data, weight_decay, out=g)
                g += grad                                                   # g = ∇ + λθ  (p.grad untouched)
        m *= beta1
        np.multiply(g, 1 - beta1, out=buf)
        m += buf                                                            # m = β₁m + (1 − β₁)g
        v *= beta2
        np.multiply(g, g, out=buf)
        buf *= 1 - beta2
        v += buf                                                            # v = β₂v + (1 − β₂)g²
        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        np.sqrt(v, out=buf)
        buf /= math.sqrt(bias_correction2)
        buf += eps                                                          # √v̂ + ε
        np.divide(m, buf, out=buf)
        buf *= lr / bias_correction1                                        # lr·m̂ / (√v̂ + ε)
        p.data -= buf


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2): ``Adam`` with decoupled weight
    decay θ ← θ·(1 − lr·λ) (see ``Adam``'s docstring), as ``torch.optim.AdamW`` (same default λ = 0.01)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         decoupled_weight_decay=True)
