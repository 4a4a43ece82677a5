"""Pre-norm Transformer encoder blocks: every sub-layer is a residual branch  x + f(LayerNorm(x)).

    PreNormAttentionBlock     x + MHA(LN(x))                     tokens exchange information
    FeedForwardBlock          x + Linear(GELU(Linear(LN(x))))    each token is transformed on its own
    TransformerEncoderLayer   both, in that order

"Pre-norm" (the LayerNorm inside the branch, as in GPT-2 and ``torch.nn.TransformerEncoderLayer(...,
norm_first=True)``) keeps the skip path a pure identity: in backward dL/dx = g + (branch Jacobian)ᵀ g, so the
upstream gradient g reaches the first layer unchanged however deep the stack is (see nn/residual.py). The
original "post-norm" Transformer put LN(x + f(x)) after the add instead, which needs learning-rate warm-up.

Mapping to PyTorch (``torch.nn.TransformerEncoderLayer(E, H, hidden, dropout=0, activation="gelu",
batch_first=True, norm_first=True)``): self_attn.* = attn_block.attn.*, norm1.* = attn_block.norm.*,
linear1.* = ff_block.fc1.*, linear2.* = ff_block.fc2.*, norm2.* = ff_block.norm.* (same shapes).
"""
from __future__ import annotations

import numpy as np

from .activation import GELU
from .attention import MultiHeadAttention
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["PreNormAttentionBlock", "FeedForwardBlock", "TransformerEncoderLayer"]


class PreNormAttentionBlock(Module):
    """y = x + MHA(LN(x)) for x of shape (N, L, E) (batch first); children ``norm`` and ``attn``.

    ``forward(x, mask=None, is_causal=False)``: the mask (True = may attend) and is_causal go to the attention.
    """

    def __init__(self, embed_dim, num_heads, dtype=np.float32):
        super().__init__()
        self.norm = LayerNorm(embed_dim, dtype=dtype)
        self.attn = MultiHeadAttention(embed_dim, num_heads, dtype=dtype)

    def forward(self, x, mask=None, is_causal=False):
        return x + self.attn(self.norm(x), mask=mask, is_causal=is_causal)


class FeedForwardBlock(Module):
    """y = x + fc2(GELU(fc1(LN(x)))), with fc1: E → hidden_dim and fc2: hidden_dim → E (usually hidden = 4E).

    Children ``norm``, ``fc1``, ``act`` (GELU, exact), ``fc2``. It acts on each token separately.
    """

    def __init__(self, embed_dim, hidden_dim, dtype=np.float32):
        super().__init__()
        self.norm = LayerNorm(embed_dim, dtype=dtype)
        self.fc1 = Linear(embed_dim, hidden_dim, dtype=dtype)
        self.act = GELU()
        self.fc2 = Linear(hidden_dim, embed_dim, dtype=dtype)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class TransformerEncoderLayer(Module):
    """A pre-norm encoder layer: x ← x + MHA(LN(x)), then x ← x + FFN(LN(x)). Input and output (N, L, E).

    ``TransformerEncoderLayer(embed_dim, num_heads, hidden_dim)``; ``forward(x, mask=None, is_causal=False)``.
    Children ``attn_block`` (PreNormAttentionBlock) and ``ff_block`` (FeedForwardBlock). No dropout.
    """

    def __init__(self, embed_dim, num_heads, hidden_dim, dtype=np.float32):
        super().__init__()
        self.attn_block = PreNormAttentionBlock(embed_dim, num_heads, dtype=dtype)
        self.ff_block = FeedForwardBlock(embed_dim, hidden_dim, dtype=dtype)

    def forward(self, x, mask=None, is_causal=False):
        return self.ff_block(self.attn_block(x, mask=mask, is_causal=is_causal))
