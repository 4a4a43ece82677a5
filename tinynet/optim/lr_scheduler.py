"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: ``StepLR``, ``CosineAnnealingLR``, ``LinearLR``.

A scheduler changes ``group["lr"]`` of every parameter group of an optimizer. Call ``scheduler.step()`` once per
epoch, after that epoch's ``optimizer.step()`` calls (``tn.fit(..., scheduler=s)`` does this for you)::

    opt = tn.optim.SGD(model.parameters(), lr=0.1)
    sched = tn.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()

Each schedule is a formula in the epoch counter ``last_epoch`` (0 when the scheduler is made, +1 per
``step()``) and the group's initial learning rate ``base_lr`` (PyTorch's closed forms). PyTorch's own ``step()``
applies each formula as a ratio to the current lr instead (its "chainable" form), which gives the same values
unless something else also changes the lr between steps.
"""
from __future__ import annotations

import math
import numbers

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "LinearLR"]


class LRScheduler:
    """Base class: a subclass writes ``lr_at(base_lr)``, the learning rate at epoch ``self.last_epoch``.

    Making a scheduler records each group's ``initial_lr`` (as PyTorch does) and sets the lr of epoch 0.
    ``last_epoch=-1`` starts a new schedule; to resume one, pass the last finished epoch (the groups must then
    already hold ``initial_lr``, as after an earlier scheduler).
    """

    def __init__(self, optimizer, last_epoch=-1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected a tinynet optimizer, got {type(optimizer).__name__}")
        if not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an int >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{name}: param 'initial_lr' is not specified in param_groups[{i}] when resuming a "
                               f"schedule (last_epoch={last_epoch}); start with last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self.step()                                        # epoch last_epoch + 1's learning rate, now

    def lr_at(self, base_lr):
        raise NotImplementedError

    def step(self):
        """Move to the next epoch and set every group's lr from the formula."""
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates the last ``step()`` set, one per parameter group (a list, as PyTorch's)."""
        return list(self._last_lr)

    def state_dict(self):
        """``last_epoch``, ``base_lrs`` and the schedule's settings (everything but the optimizer)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"


class StepLR(LRScheduler):
    """lr = base_lr · gamma^⌊epoch / step_size⌋: multiply the lr by ``gamma`` every ``step_size`` epochs.

    StepLR(optimizer, step_size, gamma=0.1, last_epoch=-1), as PyTorch's.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if not isinstance(step_size, numbers.Integral) or isinstance(step_size, bool) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        if not isinstance(gamma, numbers.Real) or gamma < 0:
            raise ValueError(f"StepLR: gamma must be a number >= 0, got {gamma!r}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr):
        return base_lr * self.gamma ** (self.last_epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = η_min + (base_lr − η_min) · (1 + cos(π · epoch / T_max)) / 2: half a cosine from base_lr down to
    η_min over ``T_max`` epochs (Loshchilov & Hutter's SGDR without restarts). Past T_max the formula continues,
    so the lr rises again, as in PyTorch.

    CosineAnnealingLR(optimizer, T_max, eta_min=0.0, last_epoch=-1), as PyTorch's.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if not isinstance(T_max, numbers.Integral) or isinstance(T_max, bool) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive int, got {T_max!r}")
        if not isinstance(eta_min, numbers.Real) or eta_min < 0:
            raise ValueError(f"CosineAnnealingLR: eta_min must be a number >= 0, got {eta_min!r}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2


class LinearLR(LRScheduler):
    """lr = base_lr · (start_factor + (end_factor − start_factor) · min(epoch, total_iters) / total_iters): a
    straight line from start_factor·base_lr to end_factor·base_lr over ``total_iters`` epochs, then constant.
    The usual use is a warm-up: start small, reach base_lr.

    LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5, last_epoch=-1), as PyTorch's.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if not isinstance(start_factor, numbers.Real) or not 0 < start_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if not isinstance(end_factor, numbers.Real) or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        if not isinstance(total_iters, numbers.Integral) or isinstance(total_iters, bool) or total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be a positive int, got {total_iters!r}")
        self.start_factor, self.end_factor, self.total_iters = float(start_factor), float(end_factor), int(total_iters)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr):
        progress = min(self.last_epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)
