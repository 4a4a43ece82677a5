"""``tinynet.nn.utils``: gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

Call either one between ``loss.backward()`` and ``optimizer.step()``; both change ``p.grad`` in place::

    loss.backward()
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    optimizer.step()
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Rescale all gradients together so that their total norm is at most ``max_norm``; return the total norm
    (measured before clipping) as a 0-d Tensor, as PyTorch does.

    The total norm treats every parameter's gradient as one long vector g (the parameters' gradients one after
    another):

        ‖g‖_q = (Σ_p ‖g_p‖_q^q)^(1/q)        (q = norm_type; q = inf: max_p max |g_p|)

    and every gradient is multiplied by the same factor

        c = min(1, max_norm / (‖g‖_q + 1e-6))

    so the *direction* of the step is kept and only its length is capped (the 1e-6 is PyTorch's, against a
    division by zero). This is the usual remedy for exploding gradients: one bad batch can no longer throw the
    weights far away. Parameters whose ``grad`` is None are skipped. ``error_if_nonfinite=True`` raises when the
    total norm is NaN or infinite (otherwise the gradients become NaN too, as in PyTorch). ``foreach`` is
    accepted for PyTorch's signature and ignored (there is one NumPy code path).
    """
    grads = _gradients("clip_grad_norm_", parameters)
    if not isinstance(max_norm, numbers.Real) or isinstance(max_norm, bool) or max_norm < 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0, got {max_norm!r}")
    q = float(norm_type)
    if not q > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type!r}")
    dtype = grads[0].dtype if grads else np.float32
    if not grads:
        return Tensor(np.zeros((), dtype=dtype))
    if math.isinf(q):
        total = float(np.max([np.abs(g).max(initial=0.0) for g in grads]))     # np.max: a NaN anywhere wins
    else:
        total = sum(float(np.sum(np.abs(g.astype(np.float64)) ** q)) for g in grads) ** (1.0 / q)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
                           f"pass error_if_nonfinite=False to clip anyway (the gradients then become NaN)")
    factor = float(max_norm) / (total + 1e-6)
    if not factor >= 1.0:                                                # (a NaN total gives NaN, as PyTorch)
        for g in grads:
            g *= factor                                                  # in place: p.grad itself changes
    return Tensor(np.array(total, dtype=dtype))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clip every gradient entry into [-clip_value, clip_value], in place, as PyTorch's ``clip_grad_value_``.

    Unlike ``clip_grad_norm_`` this changes the direction of the step (each entry is capped on its own).
    ``foreach`` is accepted for PyTorch's signature and ignored.
    """
    grads = _gradients("clip_grad_value_", parameters)
    if not isinstance(clip_value, numbers.Real) or isinstance(clip_value, bool) or clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be a number >= 0, got {clip_value!r}")
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)


def _gradients(op, parameters):
    """The gradient arrays of ``parameters`` (a Tensor or an iterable of Tensors), skipping those without one."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: parameters must be Tensors (e.g. model.parameters()), item {i} is a "
                            f"{type(p).__name__}")
        if p.grad is not None:
            grads.append(p.grad)
    return grads
