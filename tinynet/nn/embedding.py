"""``Embedding``: a learned table with one row per index (a word, a token, a category)."""
from __future__ import annotations

import numpy as np

from ..functional.embedding import _padding_index, embedding
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """y = weight[indices], as ``torch.nn.Embedding``; the math and its backward are in
    ``tinynet/functional/embedding.py``.

    ``weight`` (num_embeddings, embedding_dim) is initialised from N(0, 1), as PyTorch does. With ``padding_idx``
    that row starts at zeros and never receives a gradient, so it stays zero: a padding token adds nothing.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32):
        super().__init__()
        for name, size in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
                raise ValueError(f"Embedding: {name} must be a positive int, got {size!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = _padding_index("Embedding", padding_idx, self.num_embeddings)
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dtype))
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices):
        return embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
