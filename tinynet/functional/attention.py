"""Scaled dot-product attention: softmax(q kᵀ / √d_k) v, as one op with its backward written out.

Shapes (any number of leading batch axes "…", which broadcast like NumPy's matmul):
    q (…, L, d_k)   L queries          k (…, S, d_k)   S keys          v (…, S, d_v)   one value per key
    scores = q kᵀ/√d_k  (…, L, S)      p = softmax(scores) over S      out = p v  (…, L, d_v)

Each output row is a weighted average of the value rows; the weights p[i, :] say how much query i "attends" to
each key, and they sum to 1. In a multi-head layer "…" is (batch, heads).

Why divide by √d_k
------------------
Take q and k with independent entries of mean 0 and variance 1. Then q·k = Σ_{t=1..d_k} q_t k_t is a sum of
d_k independent terms of variance 1, so Var(q·k) = d_k: at d_k = 256 the logits have a standard deviation of 16.
Softmax of logits that far apart is almost one-hot (the largest logit takes nearly all the weight), and the
softmax Jacobian diag(p) - p pᵀ is then almost zero: every entry has a factor pᵢ(1 - pᵢ) or pᵢpⱼ, ≈ 0 when
each p is ≈ 0 or ≈ 1. So little gradient reaches the logits: the other keys get almost none, and the layer can
hardly learn to move its attention. Dividing by √d_k brings the logits back to variance 1 at every head size.
``tests/test_attention.py`` measures it at d_k = 256, 16 keys: without the scaling about half of the queries
put > 99 % of their weight on one key (none do with it), and the median query's gradient with respect to its
logits is 28-350 times smaller (over 40 seeds).

Masks
-----
``mask`` is boolean with True = "this query may attend to this key" (PyTorch's F.scaled_dot_product_attention
convention; careful: ``torch.nn.MultiheadAttention``'s ``attn_mask`` uses the opposite, True = blocked). It must
broadcast to (…, L, S). A blocked score is set to -inf before the softmax, so its weight is exactly 0.
``is_causal=True`` lets query i attend only to keys j ≤ i (the lower triangle, aligned top-left as in PyTorch);
given together with ``mask``, both must allow a pair.

**Fully masked rows.** A query that may attend to no key at all has no softmax: every score is -inf and the
textbook formula gives (-inf) - (-inf) = NaN. Here such a row is defined as **all-zero weights, a zero output
row and zero gradients** (never NaN): its maximum is replaced by 0 before the subtraction, so every e^{-inf} is
0, and its sum 0 is replaced by 1 before the division. PyTorch's own math path returns NaN there.
"""
from __future__ import annotations

import math

import numpy as np

from ..broadcast import unbroadcast
from ..tensor import Tensor, as_tensor, make_result
from . import reference as R
from .reference_mode import reference_is_on

__all__ = ["scaled_dot_product_attention"]


def _swap(a):
    return np.swapaxes(a, -1, -2)


def scaled_dot_product_attention(q, k, v, mask=None, is_causal=False, scale=None, return_weights=False):
    """out = softmax(q kᵀ · scale + mask) v,  scale = 1/√d_k by default (pass ``scale`` to override it).

    Reference: `R.scaled_dot_product_attention`.

    q (…, L, d_k), k (…, S, d_k), v (…, S, d_v)  →  out (…, L, d_v); the "…" axes broadcast.
    ``mask``: boolean, True = may attend, broadcastable to (…, L, S). ``is_causal``: query i sees keys j ≤ i.
    ``return_weights=True`` returns ``(out, weights)``, where ``weights`` is the (…, L, S) matrix p as a Tensor
    **cut from the tape** (for inspection and plots; no gradient flows through it).

    Forward, with s = q kᵀ · scale (blocked entries -inf) and m = the row max of s:
        p = e^{s - m} / Σ_S e^{s - m}          (the stable softmax; see softmax.py)
        out = p v

    Backward, for g = dL/d(out) of shape (…, L, d_v):
        dv = pᵀ g                              (…, S, L)·(…, L, d_v) = (…, S, d_v)
        dp = g vᵀ                              (…, L, d_v)·(…, d_v, S) = (…, L, S)
        ds = p ⊙ (dp - Σ_S dp ⊙ p)             the softmax VJP (softmax.py), row by row
        dq = ds k · scale                      (…, L, S)·(…, S, d_k) = (…, L, d_k)
        dk = dsᵀ q · scale                     (…, S, L)·(…, L, d_k) = (…, S, d_k)
    and each is summed back over broadcast batch axes (unbroadcast).
    One saving: the row sums Σ_S dp ⊙ p equal Σ_{d_v} g ⊙ out, because
        Σ_j dp_j p_j = Σ_j (Σ_c g_c v_jc) p_j = Σ_c g_c (Σ_j p_j v_jc) = Σ_c g_c out_c,
    a sum over d_v entries instead of S (the trick FlashAttention uses). Blocked entries have p = 0, so ds = 0
    there, and a fully masked row (p = 0, out = 0) gets exactly zero gradient.

    Speed and memory: the (…, L, S) array is made once and every later stage is written over it in place
    (scores, then s − m, then e^{s − m}, then p), each stage under its own name; q is scaled rather than the
    (…, L, S) scores.
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    _check_inputs(q, k, v)
    L, S = q.shape[-2], k.shape[-2]
    scores_shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]) + (L, S)
    allowed = _allowed(mask, is_causal, scores_shape, q.shape, k.shape)
    if scale is None:                             # d_k = 0: every score is an empty sum, 0 at any scale
        scale = 1.0 / math.sqrt(max(q.shape[-1], 1))
    scale = float(scale)                          # a Python float keeps float32 arrays float32
    if reference_is_on():
        return R.scaled_dot_product_attention(q, k, v, mask, is_causal, scale, return_weights)

    q_scaled = q.data * scale                     # (…, L, d_k): scaling q is cheaper than scaling (…, L, S)
    scores = np.matmul(q_scaled, _swap(k.data))  # s = q kᵀ · scale, (…, L, S)
    del q_scaled                                 # freed now: backward uses q and rescales dk instead
    if scores.shape != scores_shape:             # v's batch axes broadcast further than q's and k's
        scores = np.broadcast_to(scores, scores_shape).copy()
    if allowed is not None:
        np.copyto(scores, -np.inf, where=~allowed)   # blocked pairs: e^{-inf} = 0 below
    row_max = scores.max(axis=-1, keepdims=True)
    if allowed is not None:
        row_max[row_max == -np.inf] = 0          # fully masked row: avoid (-inf) - (-inf) = NaN
    shifted = np.subtract(scores, row_max, out=scores)   # s - m, written over s
    exps = np.exp(shifted, out=shifted)          # e^{s - m}, in (0, 1]; 0 where blocked; over s - m
    row_sum = exps.sum(axis=-1, keepdims=True)
    if allowed is not None:
        row_sum[row_sum == 0] = 1                # fully masked row: 0 / 1 = 0
    weights = np.multiply(exps, 1 / row_sum, out=exps)   # p: one reciprocal per row, then a multiply
    out = np.matmul(weights, v.data)             # (…, L, d_v)

    def backward(g):
        dq = dk = dv = None
        if v.requires_grad:
            dv = unbroadcast(np.matmul(_swap(weights), g), v.shape)
        if q.requires_grad or k.requires_grad:
            dweights = np.matmul(g, _swap(v.data))                # dp = g vᵀ, (…, L, S)
            row_dot = np.einsum("...ld,...ld->...l", g, out)[..., None]   # Σ_S dp ⊙ p  (= Σ_{d_v} g ⊙ out)
            centered = np.subtract(dweights, row_dot, out=dweights)   # dp - Σ dp ⊙ p, written over dp
            ds = np.multiply(centered, weights, out=centered)     # ds = p ⊙ (dp - Σ dp ⊙ p), over it again
            if q.requires_grad:
                dq = np.matmul(ds, k.data)
                dq *= scale                                       # in place: no second (…, L, d_k) array
                dq = unbroadcast(dq, q.shape)
            if k.requires_grad:
                dk = np.matmul(_swap(ds), q.data)
                dk *= scale                                       # dk = dsᵀ q · scale
                dk = unbroadcast(dk, k.shape)
        return dq, dk, dv

    mask_seen = None if allowed is None else allowed.copy()     # the mask as it was now, not as it may become
    result = make_result("scaled_dot_product_attention", out, (q, k, v), backward,
                         lambda q_, k_, v_: R.scaled_dot_product_attention(q_, k_, v_, mask_seen, False, scale))
    if return_weights:
        return result, Tensor._wrap(weights)
    return result


def _check_inputs(q, k, v):
    name = "scaled_dot_product_attention"
    for label, t in (("q", q), ("k", k), ("v", v)):
        if t.ndim < 2:
            raise ValueError(f"{name}: {label} must have at least 2 dimensions (…, length, features), got "
                             f"shape {t.shape}")
        if t.dtype.kind != "f":
            raise TypeError(f"{name}: {label} must be floating-point, got dtype {t.dtype}")
    if not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"{name}: q, k and v must share one dtype, got {q.dtype}, {k.dtype} and {v.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{name}: q {q.shape} and k {k.shape} must have the same last axis d_k "
                         f"({q.shape[-1]} != {k.shape[-1]})")
    if k.shape[-2] == 0:
        raise ValueError(f"{name}: needs at least one key, got k of shape {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{name}: k {k.shape} and v {v.shape} must have the same number of keys S on axis -2 "
                         f"({k.shape[-2]} != {v.shape[-2]})")
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"{name}: the batch axes of q {q.shape}, k {k.shape} and v {v.shape} (all but the last "
                         f"two) cannot be broadcast together") from None


def _allowed(mask, is_causal, scores_shape, q_shape, k_shape):
    """The boolean "may attend" array (broadcastable to scores_shape), or None when everything is allowed."""
    name = "scaled_dot_product_attention"
    allowed = None
    if mask is not None:
        allowed = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if allowed.dtype != np.bool_:
            raise TypeError(f"{name}: mask must be boolean (True = may attend), got dtype {allowed.dtype}; "
                            f"for a 0/1 array use mask.astype(bool)")
        try:
            fits = np.broadcast_shapes(allowed.shape, scores_shape) == scores_shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{name}: mask of shape {allowed.shape} does not broadcast to the attention "
                             f"scores' shape (…, L, S) = {scores_shape} (q {q_shape}, k {k_shape})")
    if is_causal:
        L, S = scores_shape[-2:]
        causal = np.tril(np.ones((L, S), dtype=bool))      # query i may see keys 0..i
        allowed = causal if allowed is None else (allowed & causal)
    return allowed
