"""nn.MultiHeadAttention, nn.SelfAttention2d and the pre-norm Transformer blocks: forward vs NumPy references,
gradchecks with respect to inputs AND every parameter (float64), the attention properties (one head = single-head
attention, permutation equivariance, causality, masks), the residual adds, and float32 kept."""
import math

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet import nn
from tinynet.testing import random_array, seeds


# ---- helpers -----------------------------------------------------------------------------------------------
def module_gradcheck(module, inputs, call=None, mode="auto", seed=0):
    """gradcheck ``call(module, *inputs)`` (default ``module(*inputs)``) with respect to the inputs and every
    parameter, in float64: each parameter is temporarily replaced by the Tensor that gradcheck perturbs."""
    module.double()
    call = call or (lambda m, *xs: m(*xs))
    modules = dict(module.named_modules())
    owners, values = [], []
    for path, param in module.named_parameters():
        owner_path, _, attr = path.rpartition(".")
        owners.append((modules[owner_path], attr))
        values.append(param.data)
    n_in = len(inputs)

    def fn(*tensors):
        saved = [getattr(owner, attr) for owner, attr in owners]
        for (owner, attr), t in zip(owners, tensors[n_in:]):
            object.__setattr__(owner, attr, t)          # bypass registration: a plain swap for this call
        try:
            return call(module, *tensors[:n_in])
        finally:
            for (owner, attr), p in zip(owners, saved):
                object.__setattr__(owner, attr, p)

    return tn.gradcheck(fn, list(inputs) + values, mode=mode, seed=seed, name=type(module).__name__)


def randomize(module, seed, scale=0.5):
    """Give every parameter random values (biases and LayerNorm weights are otherwise 0 and 1)."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.standard_normal(p.shape) * scale
    return module


def softmax_attention(q, k, v, allowed=None):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if allowed is None:
        return scipy.special.softmax(scores, axis=-1) @ v
    with np.errstate(invalid="ignore"):
        p = scipy.special.softmax(np.where(allowed, scores, -np.inf), axis=-1)
    return np.where(allowed.any(-1, keepdims=True), p, 0.0) @ v


def mha_reference(m, query, key, value, allowed=None):
    """Multi-head attention in NumPy with a Python loop over heads (clear, slow), from m's parameters."""
    E, H = m.embed_dim, m.num_heads
    d = E // H
    W, b = m.in_proj_weight.data, (m.in_proj_bias.data if m.in_proj_bias is not None else np.zeros(3 * E))
    q = query @ W[:E].T + b[:E]
    k = key @ W[E:2 * E].T + b[E:2 * E]
    v = value @ W[2 * E:].T + b[2 * E:]
    heads = []
    for h in range(H):
        cols = slice(h * d, (h + 1) * d)
        a = None if allowed is None else np.broadcast_to(allowed, q.shape[:-2] + (H,) + allowed.shape[-2:])[
            ..., h, :, :]
        heads.append(softmax_attention(q[..., cols], k[..., cols], v[..., cols], a))
    out = np.concatenate(heads, axis=-1)
    out = out @ m.out_proj.weight.data.T
    return out if m.out_proj.bias is None else out + m.out_proj.bias.data


def layer_norm_ref(x, w, b, eps=1e-5):
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


# ---- MultiHeadAttention: layout and init ---------------------------------------------------------------------
def test_mha_parameters_use_pytorch_names_shapes_and_init():
    tn.manual_seed(0)
    m = nn.MultiHeadAttention(8, 2)
    shapes = {name: p.shape for name, p in m.named_parameters()}
    assert shapes == {"in_proj_weight": (24, 8), "in_proj_bias": (24,), "out_proj.weight": (8, 8),
                      "out_proj.bias": (8,)}                   # torch.nn.MultiheadAttention(8, 2)'s state_dict
    assert all(p.dtype == np.float32 for p in m.parameters())
    assert np.all(m.in_proj_bias.data == 0) and np.all(m.out_proj.bias.data == 0)
    bound = math.sqrt(6 / (8 + 24))                             # Xavier-uniform over the (3E, E) matrix
    assert np.abs(m.in_proj_weight.data).max() <= bound and np.abs(m.in_proj_weight.data).max() > bound / 2
    assert list(nn.MultiHeadAttention(8, 2, bias=False).state_dict()) == ["in_proj_weight", "out_proj.weight"]
    assert repr(m).startswith("MultiHeadAttention(embed_dim=8, num_heads=2")


# ---- MultiHeadAttention: forward against a per-head NumPy reference ------------------------------------------
@given(seed=seeds(), n=st.integers(1, 2), L=st.integers(1, 4), S=st.integers(1, 4),
       heads=st.sampled_from([1, 2, 3]), head_dim=st.integers(1, 3), bias=st.booleans(),
       masking=st.sampled_from(["none", "mask", "causal", "padding"]))
def test_mha_matches_per_head_reference(seed, n, L, S, heads, head_dim, bias, masking):
    E = heads * head_dim
    m = randomize(nn.MultiHeadAttention(E, heads, bias=bias).double(), seed)
    query, kv = random_array((n, L, E), seed + 1), random_array((n, S, E), seed + 2)
    mask, causal, allowed = None, False, None
    if masking == "mask":
        mask = allowed = np.random.default_rng(seed).random((L, S)) < 0.6
    elif masking == "causal":
        causal, allowed = True, np.tril(np.ones((L, S), dtype=bool))
    elif masking == "padding":                               # key padding: (N, 1, 1, S)
        mask = allowed = np.random.default_rng(seed).random((n, 1, 1, S)) < 0.7
    out = m(tn.Tensor(query), tn.Tensor(kv), mask=mask, is_causal=causal)
    np.testing.assert_allclose(out.data, mha_reference(m, query, kv, kv, allowed), rtol=1e-10, atol=1e-12)


def test_mha_with_one_head_equals_single_head_attention_through_the_same_projections():
    m = randomize(nn.MultiHeadAttention(6, 1).double(), 0)
    x = tn.Tensor(random_array((2, 5, 6), 1))
    W, b, E = m.in_proj_weight, m.in_proj_bias, 6
    q, k, v = (F.linear(x, W[i * E:(i + 1) * E], b[i * E:(i + 1) * E]) for i in range(3))
    expected = m.out_proj(F.scaled_dot_product_attention(q, k, v))
    np.testing.assert_allclose(m(x).data, expected.data, rtol=1e-13, atol=1e-14)


def test_mha_defaults_key_and_value():
    m = randomize(nn.MultiHeadAttention(4, 2).double(), 0)
    x, kv = tn.Tensor(random_array((2, 3, 4), 1)), tn.Tensor(random_array((2, 5, 4), 2))
    np.testing.assert_array_equal(m(x).data, m(x, x, x).data)
    np.testing.assert_array_equal(m(x, kv).data, m(x, kv, kv).data)


def test_mha_accepts_unbatched_input():
    m = randomize(nn.MultiHeadAttention(4, 2).double(), 0)
    x = random_array((3, 4), 1)
    np.testing.assert_allclose(m(tn.Tensor(x)).data, m(tn.Tensor(x[None])).data[0], rtol=1e-13)


@given(seed=seeds(), n_tokens=st.integers(2, 6))
def test_self_attention_is_permutation_equivariant(seed, n_tokens):
    m = randomize(nn.MultiHeadAttention(4, 2).double(), seed)
    layer = randomize(nn.TransformerEncoderLayer(4, 2, 8).double(), seed + 1)
    x = random_array((2, n_tokens, 4), seed + 2)
    perm = np.random.default_rng(seed).permutation(n_tokens)
    for f in (m, layer):
        np.testing.assert_allclose(f(tn.Tensor(x[:, perm])).data, f(tn.Tensor(x)).data[:, perm],
                                   rtol=1e-11, atol=1e-12)


def test_padding_mask_makes_padded_tokens_irrelevant():
    m = randomize(nn.MultiHeadAttention(4, 2).double(), 0)
    x = random_array((2, 5, 4), 1)
    valid = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=bool)
    mask = valid[:, None, None, :]                          # (N, 1, 1, S): True = a real token
    changed = x.copy()
    changed[~valid] = 100.0                                 # garbage in the padding
    out = m(tn.Tensor(x), mask=mask).data
    out_changed = m(tn.Tensor(x), tn.Tensor(changed), mask=mask).data
    np.testing.assert_allclose(out_changed, out, rtol=1e-12)


def test_return_weights_per_head():
    m = nn.MultiHeadAttention(6, 3)
    out, weights = m(tn.Tensor(random_array((2, 4, 6), 0, dtype=np.float32)), is_causal=True, return_weights=True)
    assert out.shape == (2, 4, 6) and weights.shape == (2, 3, 4, 4)
    np.testing.assert_allclose(weights.data.sum(-1), 1.0, rtol=1e-6)
    assert np.all(np.triu(weights.data[0, 0], 1) == 0)


def test_mha_float32_forward_and_gradients():
    m = nn.MultiHeadAttention(8, 4)
    x = tn.Tensor(random_array((2, 5, 8), 0, dtype=np.float32), requires_grad=True)
    y = m(x, is_causal=True)
    y.backward(random_array(y.shape, 1, dtype=np.float32))
    assert y.dtype == x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 and p.grad.shape == p.shape for p in m.parameters())


# ---- gradchecks of the modules (inputs and parameters) -------------------------------------------------------
@pytest.mark.parametrize("masking", ["none", "mask", "causal"])
def test_mha_gradcheck_self_attention(masking):
    m = randomize(nn.MultiHeadAttention(4, 2), 0)
    x = random_array((2, 3, 4), 1)
    mask = np.array([[True, False, True], [False, False, False], [True, True, False]]) if masking == "mask" else None
    module_gradcheck(m, [x], call=lambda m, x: m(x, mask=mask, is_causal=masking == "causal"), mode="full")


def test_mha_gradcheck_cross_attention_without_bias():
    m = randomize(nn.MultiHeadAttention(4, 2, bias=False), 0)
    module_gradcheck(m, [random_array((1, 3, 4), 1), random_array((1, 2, 4), 2), random_array((1, 2, 4), 3)],
                     mode="full")


def test_prenorm_attention_block_gradcheck_and_value():
    block = randomize(nn.PreNormAttentionBlock(4, 2), 0)
    x = random_array((2, 3, 4), 1)
    module_gradcheck(block, [x], call=lambda b, x: b(x, is_causal=True))
    ln = layer_norm_ref(x, block.norm.weight.data, block.norm.bias.data)
    expected = x + mha_reference(block.attn, ln, ln, ln, np.tril(np.ones((3, 3), dtype=bool)))
    np.testing.assert_allclose(block(tn.Tensor(x), is_causal=True).data, expected, rtol=1e-10, atol=1e-12)


def test_feed_forward_block_gradcheck_and_value():
    block = randomize(nn.FeedForwardBlock(4, 6), 0)
    x = random_array((2, 3, 4), 1)
    module_gradcheck(block, [x])
    h = layer_norm_ref(x, block.norm.weight.data, block.norm.bias.data) @ block.fc1.weight.data.T + block.fc1.bias.data
    h = h * scipy.special.ndtr(h)                                       # exact GELU
    expected = x + h @ block.fc2.weight.data.T + block.fc2.bias.data
    np.testing.assert_allclose(block(tn.Tensor(x)).data, expected, rtol=1e-10, atol=1e-12)


def test_encoder_layer_gradcheck_and_composition():
    layer = randomize(nn.TransformerEncoderLayer(4, 2, 8), 0)
    x = random_array((2, 3, 4), 1)
    module_gradcheck(layer, [x], call=lambda m, x: m(x, is_causal=True), mode="directional")
    expected = layer.ff_block(layer.attn_block(tn.Tensor(x), is_causal=True))
    np.testing.assert_array_equal(layer(tn.Tensor(x), is_causal=True).data, expected.data)


def test_self_attention_2d_gradcheck():
    m = randomize(nn.SelfAttention2d(4, num_heads=2), 0)
    module_gradcheck(m, [random_array((2, 4, 2, 3), 1)], mode="directional")


# ---- causality and residual adds ---------------------------------------------------------------------------
def test_causal_encoder_layer_ignores_later_tokens():
    layer = randomize(nn.TransformerEncoderLayer(4, 2, 8).double(), 0)
    x = random_array((2, 6, 4), 1)
    changed = x.copy()
    changed[:, 4:] = random_array((2, 2, 4), 2, scale=10.0)
    out = layer(tn.Tensor(x), is_causal=True).data
    out_changed = layer(tn.Tensor(changed), is_causal=True).data
    np.testing.assert_allclose(out_changed[:, :4], out[:, :4], rtol=1e-12, atol=1e-13)
    assert not np.allclose(out_changed[:, 4:], out[:, 4:])


def test_with_zero_branches_every_block_is_the_identity_and_passes_the_gradient_unchanged():
    """Each block is x + branch(x). With the last layer of each branch zeroed the branch outputs 0, so y = x and,
    through the skip path, dL/dx = g exactly."""
    layer = randomize(nn.TransformerEncoderLayer(4, 2, 8).double(), 0)
    attn2d = randomize(nn.SelfAttention2d(4, 2).double(), 1)
    for linear in (layer.attn_block.attn.out_proj, layer.ff_block.fc2, attn2d.attn.out_proj):
        linear.weight.data[...] = 0
        linear.bias.data[...] = 0
    for module, shape in ((layer, (2, 3, 4)), (attn2d, (2, 4, 3, 3))):
        x = tn.Tensor(random_array(shape, 2), requires_grad=True)
        g = random_array(shape, 3)
        y = module(x)
        y.backward(g)
        np.testing.assert_array_equal(y.data, x.data)
        np.testing.assert_array_equal(x.grad, g)


# ---- SelfAttention2d ---------------------------------------------------------------------------------------
def test_self_attention_2d_is_x_plus_attention_over_pixels():
    m = randomize(nn.SelfAttention2d(6, num_heads=2).double(), 0)
    x = random_array((2, 6, 3, 4), 1)
    tokens = x.reshape(2, 6, 12).transpose(0, 2, 1)                       # (N, H·W, C)
    ln = layer_norm_ref(tokens, m.norm.weight.data, m.norm.bias.data)
    expected = x + mha_reference(m.attn, ln, ln, ln).transpose(0, 2, 1).reshape(2, 6, 3, 4)
    np.testing.assert_allclose(m(tn.Tensor(x)).data, expected, rtol=1e-10, atol=1e-12)
    no_norm = randomize(nn.SelfAttention2d(6, num_heads=3, norm=False).double(), 0)
    expected = x + mha_reference(no_norm.attn, tokens, tokens, tokens).transpose(0, 2, 1).reshape(2, 6, 3, 4)
    np.testing.assert_allclose(no_norm(tn.Tensor(x)).data, expected, rtol=1e-10, atol=1e-12)


def test_self_attention_2d_is_equivariant_to_moving_pixels():
    m = randomize(nn.SelfAttention2d(4, num_heads=2).double(), 0)
    x = random_array((2, 4, 3, 3), 1)
    perm = np.random.default_rng(0).permutation(9)
    moved = x.reshape(2, 4, 9)[..., perm].reshape(2, 4, 3, 3)
    np.testing.assert_allclose(m(tn.Tensor(moved)).data, m(tn.Tensor(x)).data.reshape(2, 4, 9)[..., perm]
                               .reshape(2, 4, 3, 3), rtol=1e-11, atol=1e-12)


def test_self_attention_2d_seed_model_shape_float32():
    m = nn.SelfAttention2d(32, num_heads=2)
    x = tn.Tensor(random_array((8, 32, 4, 4), 0, dtype=np.float32), requires_grad=True)
    y = m(x)
    y.backward(random_array(y.shape, 1, dtype=np.float32))
    assert y.shape == x.shape and y.dtype == x.grad.dtype == np.float32
    assert all(p.grad is not None and p.grad.dtype == np.float32 for p in m.parameters())
    assert list(m.state_dict()) == ["norm.weight", "norm.bias", "attn.in_proj_weight", "attn.in_proj_bias",
                                    "attn.out_proj.weight", "attn.out_proj.bias"]


# ---- it learns ---------------------------------------------------------------------------------------------
def test_a_small_encoder_learns_a_task_that_needs_attention():
    """Target for every token: the mean of the L = 4 tokens of its sequence. A layer that treats tokens
    separately can at best predict x/L (its share of the mean); that leaves the loss mean((x/L - target)²).
    The encoder must get well below it, which only attention (moving information between tokens) allows.
    Measured: 0.21-0.22 of that bound after 400 steps for seeds 0-2."""
    tn.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4, 8)).astype(np.float32)
    target = np.broadcast_to(x.mean(axis=1, keepdims=True), x.shape)
    best_without_attention = float(np.mean((x / 4 - target) ** 2))
    params = list(layer.parameters())
    m_ = [np.zeros_like(p.data) for p in params]
    v_ = [np.zeros_like(p.data) for p in params]
    for step in range(1, 401):                                          # a hand-written Adam, lr 1e-2
        layer.zero_grad()
        diff = layer(tn.Tensor(x)) - tn.Tensor(target)
        loss = (diff * diff).mean()
        loss.backward()
        for p, m1, m2 in zip(params, m_, v_):
            m1[...] = 0.9 * m1 + 0.1 * p.grad
            m2[...] = 0.999 * m2 + 0.001 * p.grad ** 2
            p.data -= 1e-2 * (m1 / (1 - 0.9 ** step)) / (np.sqrt(m2 / (1 - 0.999 ** step)) + 1e-8)
    assert loss.item() < 0.5 * best_without_attention


# ---- errors ------------------------------------------------------------------------------------------------
def test_bad_arguments():
    with pytest.raises(ValueError, match=r"embed_dim \(6\) must be a positive multiple of num_heads \(4\)"):
        nn.MultiHeadAttention(6, 4)
    m = nn.MultiHeadAttention(4, 2)
    with pytest.raises(ValueError, match="query must have shape"):
        m(tn.Tensor(np.zeros((2, 3, 5), np.float32)))
    with pytest.raises(ValueError, match="key .* and value .* must have the same batch and length"):
        m(tn.Tensor(np.zeros((2, 3, 4), np.float32)), tn.Tensor(np.zeros((2, 3, 4), np.float32)),
          tn.Tensor(np.zeros((2, 5, 4), np.float32)))
    with pytest.raises(ValueError, match="SelfAttention2d: expected an NCHW input with C=4"):
        nn.SelfAttention2d(4)(tn.Tensor(np.zeros((2, 3, 4, 4), np.float32)))
