"""tinynet's random numbers: one seeded NumPy ``Generator`` used for parameter initialisation.

``tn.manual_seed(0)`` makes model construction reproducible, as ``torch.manual_seed`` does.
"""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "default_generator"]

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the generator that layers use for their initial weights; returns it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that initialisers draw from (see ``manual_seed``)."""
    return _generator
