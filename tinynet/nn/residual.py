"""``Residual``: the skip connection y = x + block(x).

Why it helps gradients: dy/dx = I + d block/dx, so in backward  dL/dx = g + (d block/dx)ᵀ g.  The identity
term passes ``g`` through unchanged, however small the block's Jacobian is, which is why deep residual stacks
keep their gradients where plain stacks multiply many small Jacobians together (see demos/deep_vs_residual.py).
"""
from __future__ import annotations

from .module import Module

__all__ = ["Residual", "Scale"]


class Residual(Module):
    """``Residual(block)(x) = x + block(x)``; the block must keep the shape of x."""

    def __init__(self, block):
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: block must be a Module, got {type(block).__name__}")
        self.block = block

    def forward(self, x):
        out = self.block(x)
        if out.shape != x.shape:
            raise ValueError(f"Residual: the block maps shape {x.shape} to {out.shape}; x + block(x) needs the "
                             f"block to keep the shape (use a projection, e.g. a 1x1 conv, to change it)")
        return x + out


class Scale(Module):
    """``Scale(alpha)(x) = alpha * x``: scales a residual branch, as in ``Residual(Sequential(block, Scale(alpha)))``.

    Why: the gradient through x + α·f(x) is g + α·(Df)ᵀg. With L blocks and α = 1/√L (or 1/L) the branches'
    contributions stay bounded as L grows, where unscaled branches add up and the gradient explodes (see
    ``tinynet/diagnostics.py`` for the bounds). Backward: dx = α·g (the multiply's rule).
    """

    def __init__(self, alpha):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return x * self.alpha

    def extra_repr(self):
        return f"alpha={self.alpha:g}"
