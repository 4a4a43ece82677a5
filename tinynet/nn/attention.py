"""``MultiHeadAttention`` (batch-first, PyTorch's projection layout) and ``SelfAttention2d`` for NCHW maps.

Multi-head attention in four steps, for x of shape (N, L, E) with H heads of size d = E / H:
  1. project:   q = x W_qᵀ + b_q,  k = x W_kᵀ + b_k,  v = x W_vᵀ + b_v          each (N, L, E)
  2. split:     (N, L, E) → (N, L, H, d) → (N, H, L, d): head h sees only features h·d .. (h+1)·d - 1
  3. attend:    o = softmax(q kᵀ / √d) v per (sample, head)                    (N, H, L, d); see F.scaled_dot_
                product_attention, which runs all N·H heads at once as batched matmuls (no Python loop)
  4. merge:     (N, H, L, d) → (N, L, H, d) → (N, L, E), then y = o W_oᵀ + b_o  (out_proj)
Each head can learn its own notion of which tokens are related; the output projection mixes them.
"""
from __future__ import annotations


import numpy as np

from ..functional.attention import scaled_dot_product_attention
from ..functional.linear import linear
from ..tensor import as_tensor
from . import init
from .linear import Linear
from .module import Module, check_input_dtype
from .normalization import LayerNorm
from .parameter import Parameter

__all__ = ["MultiHeadAttention", "SelfAttention2d"]


class MultiHeadAttention(Module):
    """Multi-head scaled dot-product attention, batch-first: inputs (N, L, E), output (N, L, E).

    ``MultiHeadAttention(embed_dim, num_heads, bias=True)``; ``embed_dim`` must be divisible by ``num_heads``.

    Parameters, in PyTorch's ``nn.MultiheadAttention`` layout (the same names and shapes, so its state_dict
    loads directly when ``kdim = vdim = embed_dim``, which is the only case here):
        in_proj_weight (3E, E)   rows [0, E) = W_q, [E, 2E) = W_k, [2E, 3E) = W_v
        in_proj_bias   (3E,)     b_q, b_k, b_v stacked the same way (absent when bias=False)
        out_proj.weight (E, E), out_proj.bias (E,)
    Mapping from PyTorch: ``tinynet_mha.load_state_dict({k: v.numpy() for k, v in torch_mha.state_dict().
    items()})`` for a ``torch.nn.MultiheadAttention(E, H, batch_first=True)``. Initialisation follows PyTorch
    too: Xavier-uniform in_proj_weight, zero biases, out_proj.weight as a Linear layer's.

    ``forward(query, key=None, value=None, mask=None, is_causal=False, return_weights=False)``
        query (N, L, E); key (N, S, E), defaults to query (self-attention); value (N, S, E), defaults to key.
        Any leading axes work in place of N, including none: (L, E).
        mask: boolean, **True = may attend**, broadcastable to (N, H, L, S), e.g. (L, S) for every sample and
        head, or (N, 1, 1, S) for key padding. This is F.scaled_dot_product_attention's convention and the
        OPPOSITE of ``torch.nn.MultiheadAttention``'s ``attn_mask``/``key_padding_mask`` (True = blocked):
        pass ``~torch_mask`` when porting. A query that may attend to nothing gets zeros (see F.sdpa).
        is_causal: query i attends to keys j ≤ i only.
        return_weights: also return the attention weights (N, H, L, S), one matrix per head (PyTorch averages
        over heads by default), cut from the tape.
    """

    def __init__(self, embed_dim, num_heads, bias=True, dtype=np.float32):
        super().__init__()
        if embed_dim < 1 or num_heads < 1 or embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim ({embed_dim}) must be a positive multiple of "
                             f"num_heads ({num_heads})")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        E = self.embed_dim
        self.in_proj_weight = Parameter(np.empty((3 * E, E), dtype=dtype))
        init.xavier_uniform_(self.in_proj_weight)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * E, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)

    def _project(self, x, which):
        """x W_whichᵀ + b_which, with W_which = in_proj_weight rows [which·E, (which+1)·E)."""
        E = self.embed_dim
        rows = slice(which * E, (which + 1) * E)
        bias = None if self.in_proj_bias is None else self.in_proj_bias[rows]
        return linear(x, self.in_proj_weight[rows], bias)

    def _split_heads(self, x):
        """(…, L, E) → (…, H, L, d)."""
        x = x.reshape(x.shape[:-1] + (self.num_heads, self.head_dim))          # (…, L, H, d)
        nb = x.ndim - 3
        return x.transpose(nb, nb + 1)                                             # swap L and H

    def _merge_heads(self, x):
        """(…, H, L, d) → (…, L, E)."""
        nb = x.ndim - 3
        x = x.transpose(nb, nb + 1)                                                 # (…, L, H, d)
        return x.reshape(x.shape[:-2] + (self.embed_dim,))

    def forward(self, query, key=None, value=None, mask=None, is_causal=False, return_weights=False):
        query = check_input_dtype(self, query, self.in_proj_weight)
        key = query if key is None else check_input_dtype(self, key, self.in_proj_weight)
        value = key if value is None else check_input_dtype(self, value, self.in_proj_weight)
        for label, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim < 2 or t.shape[-1] != self.embed_dim:
                raise ValueError(f"MultiHeadAttention: {label} must have shape (N, length, embed_dim="
                                 f"{self.embed_dim}) (batch first), got {t.shape}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiHeadAttention: key {key.shape} and value {value.shape} must have the same "
                             f"batch and length axes")
        q = self._split_heads(self._project(query, 0))
        k = self._split_heads(self._project(key, 1))
        v = self._split_heads(self._project(value, 2))
        o = scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal, return_weights=return_weights)
        if return_weights:
            o, weights = o
        out = self.out_proj(self._merge_heads(o))
        return (out, weights) if return_weights else out

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
                + ("" if self.in_proj_bias is not None else ", bias=False"))


class SelfAttention2d(Module):
    """Self-attention over the H·W positions of an NCHW feature map, **with the residual add included**:

        tokens = x viewed as (N, H·W, C)           each pixel is a token, its C channels its features
        y = x + reshape_NCHW( MHA( LayerNorm(tokens) ) )      (pre-norm; norm=False leaves out the LayerNorm)

    So the output has x's shape (N, C, H, W), and every pixel can gather information from every other pixel
    in one step (a conv sees only its kernel window). Cost grows with (H·W)², so use it on small maps
    (e.g. 4×4 or 7×7 after a few stride-2 blocks). The residual add means that at initialisation the layer is
    close to the identity and gradients reach earlier layers through the skip path unchanged.

    Children: ``norm`` (LayerNorm(C), when norm=True) and ``attn`` (MultiHeadAttention(C, num_heads)).
    """

    def __init__(self, channels, num_heads=1, norm=True, dtype=np.float32):
        super().__init__()
        self.channels = int(channels)
        if norm:
            self.norm = LayerNorm(self.channels, dtype=dtype)
        else:
            self.norm = None
        self.attn = MultiHeadAttention(self.channels, num_heads, dtype=dtype)

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SelfAttention2d: expected an NCHW input with C={self.channels} channels, got shape "
                             f"{x.shape}")
        n, c, h, w = x.shape
        # (N, H·W, C), copied once into token-major order: LayerNorm's row statistics and the q/k/v products
        # then read contiguous rows (on the transposed view each of them walked memory with a stride of H·W)
        tokens = x.reshape(n, c, h * w).transpose(1, 2).contiguous()
        if self.norm is not None:
            tokens = self.norm(tokens)
        out = self.attn(tokens)                                      # (N, H·W, C)
        out = out.transpose(1, 2).reshape(n, c, h, w)             # back to NCHW
        return x + out                                               # the residual add

    def extra_repr(self):
        return (f"channels={self.channels}, num_heads={self.attn.num_heads}"
                + ("" if self.norm is not None else ", norm=False"))
