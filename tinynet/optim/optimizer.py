"""``Optimizer``: the base class of SGD and Adam, as ``torch.optim.Optimizer``.

An optimizer holds a list of parameters and, for each one, a small ``state`` dict (momentum buffers, Adam's
moments). ``step()`` reads each ``p.grad`` and updates ``p.data`` **in place**; ``zero_grad()`` forgets the
gradients. Two rules keep it safe to read:

* it never writes into ``p.grad`` (weight decay makes a new array ``g = p.grad + λ·p``), so a gradient you
  inspect after ``step()`` is exactly what backward produced;
* its state arrays are its own (made with ``np.zeros_like`` / ``np.array(..., copy=True)``), never a
  gradient array, so the next backward's ``+=`` into ``.grad`` cannot corrupt the momentum.

A parameter whose ``grad`` is ``None`` (it took no part in the loss) is skipped, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import tape
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class: subclasses set ``self.defaults`` (via ``super().__init__``) and write ``_update``.

    ``params`` is an iterable of Tensors that require grad (usually ``model.parameters()``).
    ``state[i]`` is the dict of state arrays of the i-th parameter; ``step_count`` counts calls to ``step()``.
    Hyper-parameters are plain attributes (``opt.lr = 1e-4`` changes the learning rate for the next step).
    """

    def __init__(self, params, **defaults):
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors (e.g. "
                            f"model.parameters() or [w, b]), got a single Tensor; wrap it in a list")
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        seen = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__}: parameter {i} has dtype {p.dtype}; only floating-point "
                                f"tensors can be optimised")
            # A frozen parameter (requires_grad=False) is accepted, as in PyTorch: it never gets a .grad, so
            # step() skips it.
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) appears twice")
            seen.add(id(p))
        self.params = params
        self.state = [dict() for _ in params]
        self.step_count = 0
        for name, value in defaults.items():
            setattr(self, name, value)
        self._defaults = defaults

    def _check_hyperparameter(self, name, value, low=0.0, high=None):
        """``value`` as a float, after checking low <= value (< high): PyTorch's checks of lr, eps, betas, ...
        Written ``not low <= value`` so that NaN, which fails every comparison, is refused too."""
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{type(self).__name__}: {name} must be a number, got {type(value).__name__} {value!r}")
        if not low <= value or (high is not None and not value < high):
            interval = f"in [{low:g}, {high:g})" if high is not None else f">= {low:g}"
            raise ValueError(f"{type(self).__name__}: {name} must be {interval}, got {value}")
        return float(value)

    def zero_grad(self, set_to_none=True):
        """Forget the accumulated gradients: ``p.grad = None`` (PyTorch's default), or with ``set_to_none=False``
        fill the existing arrays with 0 in place (PyTorch's ``grad.zero_()``), so the next backward adds into
        them without allocating new arrays. (This is the one place an optimizer writes into ``p.grad``, because
        you asked it to; ``step()`` never does.)"""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.fill(0)

    def step(self):
        """Apply one update to every parameter that has a gradient."""
        self.step_count += 1
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            if p.grad.shape != p.data.shape:
                raise RuntimeError(f"{type(self).__name__}.step: a parameter of shape {p.data.shape} has a grad "
                                   f"of shape {p.grad.shape}")
            self._update(p, p.grad, state)
            tape.mark_changed(p)             # p changed in place: a graph recorded before cannot backward

    def _update(self, p, grad, state):
        raise NotImplementedError

    @staticmethod
    def _buffer(state, name, like):
        """A parameter-sized work array kept in ``state`` and reused every step (made on first use). Reusing it
        instead of allocating temporaries matters for speed: freeing and re-allocating large arrays makes the
        OS hand out fresh pages, and those page faults can cost more than the update's arithmetic."""
        buf = state.get(name)
        if buf is None:
            buf = state[name] = np.empty_like(like)
        return buf

    def state_dict(self):
        """The hyper-parameters, the step count and copies of the state arrays (by parameter position)."""
        return {"hyperparameters": {k: getattr(self, k) for k in self._defaults},
                "step_count": self.step_count,
                "state": [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                          for s in self.state]}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` returned (for the same parameter list)."""
        if len(state_dict["state"]) != len(self.params):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state has {len(state_dict['state'])} "
                             f"parameters, this optimizer has {len(self.params)}")
        for k, v in state_dict["hyperparameters"].items():
            setattr(self, k, v)
        self.step_count = state_dict["step_count"]
        self.state = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                      for s in state_dict["state"]]

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._defaults)
        return f"{type(self).__name__}({len(self.params)} parameters, {args})"
