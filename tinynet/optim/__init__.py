"""``tinynet.optim``: optimizers that update parameters from their gradients, as ``torch.optim``.

  optimizer.py     Optimizer: param_groups, per-parameter state, step() / zero_grad()
  sgd.py           SGD with momentum, Nesterov and L2 weight decay
  adam.py          Adam (bias-corrected moments; L2 or decoupled weight decay) and AdamW
  lr_scheduler.py  StepLR, CosineAnnealingLR, LinearLR: the learning rate as a function of the epoch

Usage, as in PyTorch::

    opt = tn.optim.Adam(model.parameters(), lr=1e-3)
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
