"""``Optimizer``: the base class of SGD and Adam, as ``torch.optim.Optimizer``.

An optimizer holds its parameters in **parameter groups**, as PyTorch's do: ``optimizer.param_groups`` is a list
of dicts, each with the group's ``"params"`` (a list of Tensors) and its hyper-parameters (``"lr"``,
``"momentum"``, ...). Usually there is one group; pass a list of dicts to give groups their own values::

    opt = tn.optim.SGD([{"params": model[0].parameters()},
                        {"params": model[1].parameters(), "lr": 1e-3}], lr=1e-2, momentum=0.9)

A group without a value takes the optimizer's default (the keyword arguments). Editing a group's value, e.g.
``opt.param_groups[0]["lr"] = 1e-4``, takes effect at the next ``step()``; that is how learning-rate schedulers
(``tinynet.optim.lr_scheduler``) work. The shorthand ``opt.lr`` reads the first group's value, and
``opt.lr = x`` sets it in every group.

For each parameter the optimizer keeps a small ``state`` dict (momentum buffers, Adam's moments). ``step()``
reads each ``p.grad`` and updates ``p.data`` **in place**; ``zero_grad()`` forgets the gradients. Two rules keep
it safe to read:

* it never writes into ``p.grad`` (weight decay makes a new array ``g = p.grad + λ·p``), so a gradient you
  inspect after ``step()`` is exactly what backward produced;
* its state arrays are its own (made with ``np.zeros_like`` / ``np.array(..., copy=True)``), never a
  gradient array, so the next backward's ``+=`` into ``.grad`` cannot corrupt the momentum.

A parameter whose ``grad`` is ``None`` (it took no part in the loss) is skipped, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import versions
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class: subclasses pass their defaults to ``super().__init__`` and write ``_update``.

    ``params``: an iterable of Tensors that require grad (usually ``model.parameters()``), or a list of dicts,
    one per parameter group, each with a ``"params"`` entry and optional hyper-parameters.
    ``param_groups``: the list of group dicts; ``defaults``: the keyword arguments' values.
    ``params``: every parameter, group after group; ``state[i]`` is the dict of state arrays of ``params[i]``;
    ``step_count`` counts calls to ``step()``.
    """

    def __init__(self, params, **defaults):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors (e.g. model.parameters() or [w, b]), "
                            f"got a single Tensor; wrap it in a list")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list")
        object.__setattr__(self, "defaults", dict(defaults))   # first: __setattr__ below looks names up in it
        self.param_groups = []
        self.params = []
        self.state = []
        self.step_count = 0
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group (a dict with ``"params"`` and optional hyper-parameters), as PyTorch's method does."""
        name = type(self).__name__
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry, got "
                            f"{type(param_group).__name__}")
        group_params = param_group["params"]
        group_params = [group_params] if isinstance(group_params, Tensor) else list(group_params)
        seen = {id(p) for p in self.params}
        for k, p in enumerate(group_params):        # check everything first: a refused group changes nothing
            i = len(self.params) + k
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {i} has dtype {p.dtype}; only floating-point tensors can be "
                                f"optimised")
            # A frozen parameter (requires_grad=False) is accepted, as in PyTorch: it never gets a .grad, so
            # step() skips it.
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {i} (shape {p.shape}) appears twice")
            seen.add(id(p))
        for key in param_group:                     # initial_lr: what a learning-rate scheduler records
            if key not in self.defaults and key not in ("params", "initial_lr"):
                raise ValueError(f"{name}: unknown hyper-parameter {key!r} in a parameter group; known: "
                                 f"{sorted(self.defaults)}")
        values = {key: param_group.get(key, default) for key, default in self.defaults.items()}
        group = {"params": group_params, **self._checked_hyperparameters(values)}
        if "initial_lr" in param_group:
            group["initial_lr"] = param_group["initial_lr"]
        for p in group_params:
            self.params.append(p)
            self.state.append({})
        self.param_groups.append(group)

    def _checked_hyperparameters(self, values):
        """A group's hyper-parameters after the optimizer's checks (each subclass checks its own)."""
        return dict(values)

    # ---- the opt.lr shorthand: the first group's value; setting it sets every group ------------------------
    def __getattr__(self, name):
        """Called only when ordinary lookup fails: ``opt.lr`` is ``opt.param_groups[0]["lr"]``."""
        if name in self.__dict__.get("defaults", ()):
            return self.param_groups[0][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name, value):
        """``opt.lr = 1e-4`` sets the value in every parameter group; other attributes are ordinary."""
        if name in self.__dict__.get("defaults", ()):
            for group in self.param_groups:
                group[name] = value
        else:
            object.__setattr__(self, name, value)

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
        """Apply one update to every parameter that has a gradient, with its group's hyper-parameters."""
        self.step_count += 1
        position = 0                                   # params and state list the groups' parameters in order
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[position]
                position += 1
                if p.grad is None:
                    continue
                if p.grad.shape != p.data.shape:
                    raise RuntimeError(f"{type(self).__name__}.step: a parameter of shape {p.data.shape} has a "
                                       f"grad of shape {p.grad.shape}")
                self._update(p, p.grad, state, group)
                versions.mark_changed(p)         # p changed in place: a graph recorded before cannot backward

    def _update(self, p, grad, state, group):
        """Update ``p.data`` in place from ``grad``, its ``state`` dict and its ``group``'s hyper-parameters."""
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
        """Each group's hyper-parameters, the step count and copies of the state arrays (by parameter position)."""
        return {"param_groups": [{k: v for k, v in group.items() if k != "params"} for group in self.param_groups],
                "step_count": self.step_count,
                "state": [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                          for s in self.state]}

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` returned (for the same parameters in the same groups)."""
        name = type(self).__name__
        if len(state_dict["state"]) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: the state has {len(state_dict['state'])} parameters, this "
                             f"optimizer has {len(self.params)}")
        if len(state_dict["param_groups"]) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(state_dict['param_groups'])} parameter "
                             f"groups, this optimizer has {len(self.param_groups)}")
        for group, saved in zip(self.param_groups, state_dict["param_groups"]):
            group.update(saved)
        self.step_count = state_dict["step_count"]
        self.state = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                      for s in state_dict["state"]]

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.param_groups[0].items() if k != "params")
        groups = f"{len(self.param_groups)} groups, " if len(self.param_groups) > 1 else ""
        return f"{type(self).__name__}({len(self.params)} parameters, {groups}{args})"
