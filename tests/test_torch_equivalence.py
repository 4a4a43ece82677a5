"""tinynet against PyTorch, in float64: every public op and layer gives the same forward values and the same
gradients (for a random upstream gradient), every loss the same value and gradient, every optimizer the same
steps. Layers copy their tinynet state_dict into the PyTorch twin, which also checks that the parameter names
and layouts match. Skipped when torch is not installed (it is not a dependency of tinynet).

Deliberate differences (README, "Where tinynet differs from PyTorch") are left out: attention masks are
True = may attend (torch's nn.MultiheadAttention: True = blocked, so the twin gets ~mask), a fully masked
attention row (zeros vs NaN), the gradient split between tied maxima (inputs here have no ties), and
SelfAttention2d / SeparableConv2d, which have no single torch twin (they are composed from torch layers), and
dropout's random masks (each library has its own generator: dropout is compared in eval mode and at p = 1).
"""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RTOL, ATOL = 1e-9, 1e-11


def _rng(seed):
    return np.random.default_rng(seed)


def _away_from_zero(a, margin=0.05):
    return np.where(a >= 0, a + margin, a - margin)


def _compare(tn_fn, torch_fn, inputs, seed=0, grads=True):
    """Run tn_fn on Tensors and torch_fn on torch tensors made from the same float64 arrays; compare the outputs
    and, after backward with the same random upstream gradient, the gradient of every float input."""
    tn_inputs = [tn.Tensor(a, requires_grad=grads) if a.dtype == np.float64 else a for a in inputs]
    th_inputs = [torch.tensor(a, requires_grad=grads) if a.dtype == np.float64 else torch.tensor(a)
                 for a in inputs]
    out, expected = tn_fn(*tn_inputs), torch_fn(*th_inputs)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert out.dtype == np.float64
    if not grads:
        return
    g = _rng(seed + 1000).standard_normal(out.shape)
    out.backward(g)
    expected.backward(torch.tensor(g))
    for k, (a, b) in enumerate(zip(tn_inputs, th_inputs)):
        if isinstance(a, tn.Tensor) and a.requires_grad:
            assert a.grad is not None, f"input {k} got no gradient"
            np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"gradient of input {k}")


# ---- Tensor operators and methods ------------------------------------------------------------------------------
def _n(*shape, seed=0):
    return _rng(seed).standard_normal(shape)


def _positive(*shape, seed=0):
    return np.abs(_n(*shape, seed=seed)) + 0.5


TENSOR_OPS = {
    "add (broadcast)": (lambda a, b: a + b, lambda a, b: a + b, [_n(3, 4), _n(4, seed=1)]),
    "sub (broadcast)": (lambda a, b: a - b, lambda a, b: a - b, [_n(3, 1), _n(1, 4, seed=1)]),
    "mul (broadcast)": (lambda a, b: a * b, lambda a, b: a * b, [_n(2, 3, 4), _n(3, 1, seed=1)]),
    "div": (lambda a, b: a / b, lambda a, b: a / b, [_n(3, 4), _positive(3, 4, seed=1)]),
    "scalar ops": (lambda a: (2.0 - a) * 3.0 / 4.0 + 1.5, lambda a: (2.0 - a) * 3.0 / 4.0 + 1.5, [_n(3, 4)]),
    "rtruediv": (lambda a: 2.0 / a, lambda a: 2.0 / a, [_positive(5)]),
    "pow (scalar exponent)": (lambda a: a ** 3, lambda a: a ** 3, [_n(3, 4)]),
    "pow (fractional)": (lambda a: a ** 0.5, lambda a: a ** 0.5, [_positive(3, 4)]),
    "neg": (lambda a: -a, lambda a: -a, [_n(3, 4)]),
    "matmul 2-D": (lambda a, b: a @ b, lambda a, b: a @ b, [_n(3, 4), _n(4, 5, seed=1)]),
    "matmul batched, broadcast": (lambda a, b: a @ b, lambda a, b: a @ b, [_n(2, 3, 4), _n(4, 5, seed=1)]),
    "matmul vector": (lambda a, b: a @ b, lambda a, b: a @ b, [_n(3, 4), _n(4, seed=1)]),
    "exp": (lambda a: a.exp(), torch.exp, [_n(3, 4)]),
    "log": (lambda a: a.log(), torch.log, [_positive(3, 4)]),
    "sqrt": (lambda a: a.sqrt(), torch.sqrt, [_positive(3, 4)]),
    "abs": (lambda a: a.abs(), torch.abs, [_away_from_zero(_n(3, 4))]),
    "tanh": (lambda a: a.tanh(), torch.tanh, [_n(3, 4)]),
    "sigmoid": (lambda a: a.sigmoid(), torch.sigmoid, [_n(3, 4)]),
    "relu": (lambda a: a.relu(), torch.relu, [_away_from_zero(_n(3, 4))]),
    "sum all": (lambda a: a.sum(), torch.sum, [_n(3, 4)]),
    "sum axis keepdims": (lambda a: a.sum(axis=1, keepdims=True), lambda a: a.sum(dim=1, keepdim=True), [_n(3, 4, 2)]),
    "mean axis": (lambda a: a.mean(axis=(0, 2)), lambda a: a.mean(dim=(0, 2)), [_n(3, 4, 2)]),
    "max axis": (lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [_n(3, 4)]),
    "max all": (lambda a: a.max(), torch.amax, [_n(3, 4)]),
    "reshape": (lambda a: a.reshape(4, 3), lambda a: a.reshape(4, 3), [_n(3, 4)]),
    "reshape -1": (lambda a: a.reshape(-1), lambda a: a.reshape(-1), [_n(3, 4)]),
    "transpose 2-D": (lambda a: a.transpose(1, 0), lambda a: a.transpose(0, 1), [_n(3, 4)]),
    "T": (lambda a: a.T, lambda a: a.T, [_n(3, 4)]),
    "getitem basic": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], [_n(3, 4)]),
    "getitem int array (repeats)": (lambda a: a[np.array([0, 2, 0])], lambda a: a[torch.tensor([0, 2, 0])],
                                    [_n(3, 4)]),
    "getitem bool mask": (lambda a: a[np.array([True, False, True])], lambda a: a[torch.tensor([True, False, True])],
                          [_n(3, 4)]),
    "pos": (lambda a: +a, lambda a: +a, [_n(3, 4)]),
    "sin": (lambda a: a.sin(), torch.sin, [_n(3, 4)]),
    "cos": (lambda a: a.cos(), torch.cos, [_n(3, 4)]),
    "log1p": (lambda a: a.log1p(), torch.log1p, [_positive(3, 4) - 0.9]),
    "expm1": (lambda a: a.expm1(), torch.expm1, [_n(3, 4)]),
    "clip": (lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), [_n(4, 5)]),
    "clamp min only": (lambda a: a.clamp(min=0.2), lambda a: a.clamp(min=0.2), [_n(4, 5)]),
    "min axis": (lambda a: a.min(axis=0), lambda a: a.amin(dim=0), [_n(3, 4)]),
    "amin": (lambda a: a.amin(axis=1, keepdims=True), lambda a: a.amin(dim=1, keepdim=True), [_n(3, 4)]),
    "amax": (lambda a: a.amax(axis=(0, 1)), lambda a: a.amax(dim=(0, 1)), [_n(3, 4, 2)]),
    "var (unbiased)": (lambda a: a.var(axis=1), lambda a: a.var(dim=1), [_n(3, 4)]),
    "var correction 0, all": (lambda a: a.var(correction=0), lambda a: a.var(correction=0), [_n(3, 4)]),
    "std keepdims": (lambda a: a.std(axis=0, keepdims=True), lambda a: a.std(dim=0, keepdim=True), [_n(3, 4)]),
    "logsumexp": (lambda a: a.logsumexp(axis=1), lambda a: a.logsumexp(dim=1), [5 * _n(3, 4)]),
    "prod": (lambda a: a.prod(axis=1), lambda a: a.prod(dim=1), [_away_from_zero(_n(3, 4), 0.2)]),
    "prod all": (lambda a: a.prod(), torch.prod, [_away_from_zero(_n(2, 3), 0.2)]),
    "cumsum": (lambda a: a.cumsum(1), lambda a: a.cumsum(dim=1), [_n(3, 4)]),
    "transpose 3-D (swap two axes)": (lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), [_n(2, 3, 4)]),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [_n(2, 3, 4)]),
    "mT": (lambda a: a.mT, lambda a: a.mT, [_n(2, 3, 4)]),
    "tn.transpose": (lambda a: tn.transpose(a, 1, 2), lambda a: torch.transpose(a, 1, 2), [_n(2, 3, 4)]),
    "tn.permute": (lambda a: tn.permute(a, (1, 0, 2)), lambda a: torch.permute(a, (1, 0, 2)), [_n(2, 3, 4)]),
    "broadcast_to": (lambda a: tn.broadcast_to(a, (2, 3, 4)), lambda a: torch.broadcast_to(a, (2, 3, 4)),
                     [_n(3, 1)]),
    "maximum": (tn.maximum, torch.maximum, [_n(3, 4), _n(4, seed=1)]),
    "minimum": (tn.minimum, torch.minimum, [_n(3, 4), _n(3, 4, seed=1)]),
    "einsum": (lambda a, b: tn.einsum("bij,jk->bik", a, b), lambda a, b: torch.einsum("bij,jk->bik", a, b),
               [_n(2, 3, 4), _n(4, 5, seed=1)]),
    "einsum trace-like": (lambda a: tn.einsum("ii->i", a), lambda a: torch.einsum("ii->i", a), [_n(4, 4)]),
    "concatenate": (lambda a, b: tn.concatenate([a, b], axis=1), lambda a, b: torch.cat([a, b], dim=1),
                    [_n(2, 3), _n(2, 2, seed=1)]),
    "stack": (lambda a, b: tn.stack([a, b], axis=1), lambda a, b: torch.stack([a, b], dim=1),
              [_n(2, 3), _n(2, 3, seed=1)]),
    "where": (lambda a, b: tn.where(a.data > 0, a, b), lambda a, b: torch.where(a > 0, a, b),
              [_n(3, 4), _n(3, 4, seed=1)]),
}


@pytest.mark.parametrize("name", TENSOR_OPS)
def test_tensor_ops(name):
    tn_fn, torch_fn, inputs = TENSOR_OPS[name]
    _compare(tn_fn, torch_fn, inputs)


# ---- tinynet.functional ------------------------------------------------------------------------------------------
def _image(n=2, c=3, h=6, w=7, seed=0):
    return _n(n, c, h, w, seed=seed)


def _distinct_image(n=2, c=3, h=6, w=6, seed=0):
    """Values that are a permutation of well-separated levels: no ties in any pooling window."""
    rng = _rng(seed)
    return (rng.permutation(n * c * h * w).reshape(n, c, h, w) + rng.uniform(0, 0.3, (n, c, h, w))) / 10


FUNCTIONAL = {
    "relu": (F.relu, TF.relu, [_away_from_zero(_n(3, 4))]),
    "tanh": (F.tanh, torch.tanh, [_n(3, 4)]),
    "sigmoid": (F.sigmoid, torch.sigmoid, [_n(3, 4)]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), [_away_from_zero(_n(3, 4))]),
    "softplus": (lambda x: F.softplus(x, beta=2.0, threshold=5.0), lambda x: TF.softplus(x, beta=2.0, threshold=5.0),
                 [3 * _n(3, 4)]),
    "elu": (lambda x: F.elu(x, alpha=0.7), lambda x: TF.elu(x, alpha=0.7), [_away_from_zero(_n(3, 4))]),
    "gelu": (F.gelu, TF.gelu, [3 * _n(3, 4)]),
    "gelu tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), [3 * _n(3, 4)]),
    "softmax": (lambda x: F.softmax(x, axis=0), lambda x: TF.softmax(x, dim=0), [3 * _n(3, 4)]),
    "log_softmax": (F.log_softmax, lambda x: TF.log_softmax(x, dim=-1), [3 * _n(3, 4)]),
    "linear": (F.linear, TF.linear, [_n(2, 5, 3), _n(4, 3, seed=1), _n(4, seed=2)]),
    "linear no bias": (F.linear, TF.linear, [_n(5, 3), _n(4, 3, seed=1)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, dilation=1),
               lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1), [_image(), _n(4, 3, 3, 2, seed=1),
                                                                       _n(4, seed=2)]),
    "conv2d dilation, groups": (lambda x, w: F.conv2d(x, w, padding=(2, 1), dilation=2, groups=2),
                                lambda x, w: TF.conv2d(x, w, padding=(2, 1), dilation=2, groups=2),
                                [_image(c=4), _n(6, 2, 3, 3, seed=1)]),
    "conv2d same": (lambda x, w: F.conv2d(x, w, padding="same"), lambda x, w: TF.conv2d(x, w, padding="same"),
                    [_image(), _n(2, 3, 3, 4, seed=1)]),
    "depthwise_conv2d": (lambda x, w, b: F.depthwise_conv2d(x, w, b, stride=1, padding=1),
                         lambda x, w, b: TF.conv2d(x, w, b, padding=1, groups=3),
                         [_image(), _n(6, 1, 3, 3, seed=1), _n(6, seed=2)]),
    "pointwise_conv2d": (F.pointwise_conv2d, TF.conv2d, [_image(), _n(5, 3, 1, 1, seed=1), _n(5, seed=2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), [_distinct_image()]),
    "max_pool2d stride, padding": (lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
                                   lambda x: TF.max_pool2d(x, 3, stride=2, padding=1), [_distinct_image()]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), [_image()]),
    "avg_pool2d stride, padding": (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1),
                                   lambda x: TF.avg_pool2d(x, 3, stride=2, padding=1), [_image()]),
    "global_avg_pool2d": (F.global_avg_pool2d, lambda x: TF.adaptive_avg_pool2d(x, 1), [_image()]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (3, 4), w, b), lambda x, w, b: TF.layer_norm(x, (3, 4), w, b),
                   [_n(2, 3, 4), _n(3, 4, seed=1), _n(3, 4, seed=2)]),
    "layer_norm no affine": (lambda x: F.layer_norm(x, 4, eps=1e-3), lambda x: TF.layer_norm(x, (4,), eps=1e-3),
                             [_n(2, 3, 4)]),
    "scaled_dot_product_attention": (F.scaled_dot_product_attention, TF.scaled_dot_product_attention,
                                     [_n(2, 3, 4, 5), _n(2, 3, 6, 5, seed=1), _n(2, 3, 6, 2, seed=2)]),
    "sdpa causal": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                    lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
                    [_n(2, 4, 5), _n(2, 4, 5, seed=1), _n(2, 4, 3, seed=2)]),
    # a boolean mask means "may attend" in both F functions (torch.nn.MultiheadAttention is the opposite)
    "sdpa bool mask, scale": (lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, mask=m, scale=0.3),
                              lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
                              [_n(2, 4, 5), _n(2, 6, 5, seed=1), _n(2, 6, 3, seed=2),
                               (_rng(3).random((4, 6)) < 0.7) | np.eye(4, 6, dtype=bool)]),
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t), TF.cross_entropy, [3 * _n(5, 4), np.array([0, 3, 1, 1, 2])]),
    "cross_entropy sum": (lambda x, t: F.cross_entropy(x, t, reduction="sum"),
                          lambda x, t: TF.cross_entropy(x, t, reduction="sum"), [_n(5, 4), np.array([0, 3, 1, 1, 2])]),
    "cross_entropy none, smoothing": (lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2, reduction="none"),
                                      lambda x, t: TF.cross_entropy(x, t, label_smoothing=0.2, reduction="none"),
                                      [_n(5, 4), np.array([0, 3, 1, 1, 2])]),
    "mse_loss": (F.mse_loss, TF.mse_loss, [_n(3, 4), _n(3, 4, seed=1)]),
    "mse_loss sum": (lambda a, b: F.mse_loss(a, b, reduction="sum"), lambda a, b: TF.mse_loss(a, b, reduction="sum"),
                     [_n(3, 4), _n(3, 4, seed=1)]),
    "mse_loss none": (lambda a, b: F.mse_loss(a, b, reduction="none"),
                      lambda a, b: TF.mse_loss(a, b, reduction="none"), [_n(3, 4), _n(3, 4, seed=1)]),
    # batch norm: fresh running statistics on both sides for every call (training updates them in place)
    "batch_norm training": (lambda x, w, b: F.batch_norm(x, np.zeros(3), np.ones(3), w, b, training=True),
                            lambda x, w, b: TF.batch_norm(x, torch.zeros(3, dtype=torch.float64),
                                                          torch.ones(3, dtype=torch.float64), w, b, training=True),
                            [_image(), _n(3, seed=1), _n(3, seed=2)]),
    "batch_norm eval": (lambda x: F.batch_norm(x, np.arange(3.0), np.arange(1.0, 4.0), eps=1e-3),
                        lambda x: TF.batch_norm(x, torch.arange(3.0, dtype=torch.float64),
                                                torch.arange(1.0, 4.0, dtype=torch.float64), eps=1e-3),
                        [_n(5, 3, 2)]),
    "dropout eval": (lambda x: F.dropout(x, 0.5, training=False), lambda x: TF.dropout(x, 0.5, training=False),
                     [_n(3, 4)]),
    "dropout p=1": (lambda x: F.dropout(x, 1.0), lambda x: TF.dropout(x, 1.0), [_n(3, 4)]),
    "embedding": (lambda i, w: F.embedding(i, w, padding_idx=0), lambda i, w: TF.embedding(i, w, padding_idx=0),
                  [np.array([[0, 2, 2], [4, 1, 0]]), _n(5, 3)]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
                         lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
                         [_image(), _n(3, 4, 3, 2, seed=1), _n(4, seed=2)]),
    "conv_transpose2d groups, dilation": (
        lambda x, w: F.conv_transpose2d(x, w, stride=(1, 2), padding=(2, 0), groups=3, dilation=2),
        lambda x, w: TF.conv_transpose2d(x, w, stride=(1, 2), padding=(2, 0), groups=3, dilation=2),
        [_image(), _n(3, 2, 3, 2, seed=1)]),
}


@pytest.mark.filterwarnings("ignore:Using padding='same'")          # torch's note on its own speed
@pytest.mark.parametrize("name", FUNCTIONAL)
def test_functional(name):
    tn_fn, torch_fn, inputs = FUNCTIONAL[name]
    _compare(tn_fn, torch_fn, inputs)


def test_im2col_and_col2im_are_unfold_and_fold():
    """They work on NumPy arrays (no gradient), as the building blocks of conv2d."""
    x, cols = _image(), _n(2, 18, 28, seed=1)
    np.testing.assert_allclose(F.im2col(x, (2, 3), stride=(1, 2), padding=1),
                               TF.unfold(torch.tensor(x), (2, 3), stride=(1, 2), padding=1).numpy(), rtol=RTOL)
    np.testing.assert_allclose(F.col2im(cols, (2, 3, 6, 7), (2, 3), stride=(1, 2), padding=1),
                               TF.fold(torch.tensor(cols), (6, 7), (2, 3), stride=(1, 2), padding=1).numpy(),
                               rtol=RTOL, atol=ATOL)


def test_every_public_functional_is_compared():
    covered = {name.split()[0] for name in FUNCTIONAL} | {"im2col", "col2im", "conv_output_size"}
    assert set(F.__all__) - covered - {"sdpa"} == set()


# ---- nn layers: copy tinynet's state_dict into the torch twin ---------------------------------------------------
def _twin(layer, torch_layer, key_map=None):
    state = {(key_map or {}).get(k, k): torch.tensor(v) for k, v in layer.state_dict().items()}
    torch_layer.double().load_state_dict(state, strict=True)
    return torch_layer


def _compare_layer(layer, torch_layer, x, seed=0, key_map=None, **forward_kwargs):
    """Forward values, the input gradient and every parameter gradient."""
    tn.manual_seed(seed)
    torch_layer = _twin(layer, torch_layer, key_map)
    xt, xth = tn.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = layer(xt, **forward_kwargs)
    expected = torch_layer(xth)
    if isinstance(expected, tuple):                    # nn.MultiheadAttention returns (output, weights)
        expected = expected[0]
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = _rng(seed + 1).standard_normal(out.shape)
    out.backward(g)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(xt.grad, xth.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="input gradient")
    torch_params = dict(torch_layer.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, torch_params[(key_map or {}).get(name, name)].grad.numpy(), rtol=RTOL,
                                   atol=ATOL, err_msg=f"gradient of {name}")


def _mha_twin(embed_dim, heads, bias=True):
    return torch.nn.MultiheadAttention(embed_dim, heads, bias=bias, batch_first=True)


class _SelfAttention(torch.nn.Module):
    """torch's MHA as a function of one input (self-attention), no weights returned."""

    def __init__(self, mha, causal=False):
        super().__init__()
        self.mha = mha
        self.causal = causal

    def forward(self, x):
        mask = None
        if self.causal:                                # torch: True = blocked
            mask = torch.triu(torch.ones(x.shape[-2], x.shape[-2], dtype=torch.bool), diagonal=1)
        return self.mha(x, x, x, need_weights=False, attn_mask=mask, is_causal=self.causal)[0]


def _prefixed(prefix, keys):
    return {k: f"{prefix}{k}" for k in keys}


_TRANSFORMER_KEYS = {
    **{f"attn_block.attn.{k}": f"self_attn.{k}" for k in ("in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                          "out_proj.bias")},
    **{f"attn_block.norm.{k}": f"norm1.{k}" for k in ("weight", "bias")},
    **{f"ff_block.fc1.{k}": f"linear1.{k}" for k in ("weight", "bias")},
    **{f"ff_block.fc2.{k}": f"linear2.{k}" for k in ("weight", "bias")},
    **{f"ff_block.norm.{k}": f"norm2.{k}" for k in ("weight", "bias")},
}

LAYERS = {
    "Linear": (lambda: nn.Linear(3, 4), lambda: torch.nn.Linear(3, 4), (2, 5, 3), None),
    "Linear no bias": (lambda: nn.Linear(3, 4, bias=False), lambda: torch.nn.Linear(3, 4, bias=False), (5, 3), None),
    "Conv2d": (lambda: nn.Conv2d(3, 4, (3, 2), stride=2, padding=1), lambda: torch.nn.Conv2d(3, 4, (3, 2), 2, 1),
               (2, 3, 6, 7), None),
    "Conv2d groups, dilation, same": (lambda: nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2, bias=False),
                                      lambda: torch.nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2,
                                                              bias=False), (2, 4, 7, 7), None),
    "DepthwiseConv2d": (lambda: nn.DepthwiseConv2d(3, 3, padding=1, depth_multiplier=2),
                        lambda: torch.nn.Conv2d(3, 6, 3, padding=1, groups=3), (2, 3, 6, 6), None),
    "PointwiseConv2d": (lambda: nn.PointwiseConv2d(3, 5), lambda: torch.nn.Conv2d(3, 5, 1), (2, 3, 4, 4), None),
    "SeparableConv2d": (lambda: nn.SeparableConv2d(3, 5, 3, stride=2),
                        lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, stride=2, groups=3, bias=False),
                                                    torch.nn.Conv2d(3, 5, 1)),
                        (2, 3, 7, 7), {"depthwise.weight": "0.weight", "pointwise.weight": "1.weight",
                                       "pointwise.bias": "1.bias"}),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2), "distinct", None),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=2, padding=1), lambda: torch.nn.AvgPool2d(3, 2, 1), (2, 3, 6, 6),
                  None),
    "GlobalAvgPool2d": (lambda: nn.GlobalAvgPool2d(), lambda: torch.nn.AdaptiveAvgPool2d(1), (2, 3, 5, 4), None),
    "Flatten": (lambda: nn.Flatten(), lambda: torch.nn.Flatten(), (2, 3, 2, 2), None),
    "ReLU": (lambda: nn.ReLU(), lambda: torch.nn.ReLU(), "away from zero", None),
    "Tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh(), (3, 4), None),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid(), (3, 4), None),
    "GELU": (lambda: nn.GELU(), lambda: torch.nn.GELU(), (3, 4), None),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), lambda: torch.nn.LeakyReLU(0.1), "away from zero", None),
    "Softplus": (lambda: nn.Softplus(beta=0.5), lambda: torch.nn.Softplus(beta=0.5), (3, 4), None),
    "ELU": (lambda: nn.ELU(), lambda: torch.nn.ELU(), "away from zero", None),
    "LayerNorm": (lambda: nn.LayerNorm(4), lambda: torch.nn.LayerNorm(4), (2, 3, 4), None),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4, momentum=0.3), lambda: torch.nn.BatchNorm1d(4, momentum=0.3),
                    (5, 4, 3), None),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (2, 3, 4, 5), None),
    "BatchNorm2d eval": (lambda: nn.BatchNorm2d(3).eval(), lambda: torch.nn.BatchNorm2d(3).eval(), (2, 3, 4, 5),
                         None),
    "Dropout eval": (lambda: nn.Dropout(0.3).eval(), lambda: torch.nn.Dropout(0.3).eval(), (3, 4), None),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
                        lambda: torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
                        (2, 3, 4, 5), None),
    "MultiHeadAttention": (lambda: nn.MultiHeadAttention(6, 2), lambda: _SelfAttention(_mha_twin(6, 2)), (2, 5, 6),
                           _prefixed("mha.", ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(6, 2, 12),
                                lambda: torch.nn.TransformerEncoderLayer(6, 2, 12, dropout=0.0, activation="gelu",
                                                                         batch_first=True, norm_first=True),
                                (2, 5, 6), _TRANSFORMER_KEYS),
    "Sequential CNN": (lambda: nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                                             nn.Linear(12, 2)),
                       lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.Tanh(), torch.nn.AvgPool2d(2),
                                                   torch.nn.Flatten(), torch.nn.Linear(12, 2)), (2, 1, 6, 6), None),
}


def _layer_input(spec, seed):
    if spec == "distinct":
        return _distinct_image(seed=seed)
    if spec == "away from zero":
        return _away_from_zero(_n(3, 4, seed=seed))
    return _n(*spec, seed=seed)


@pytest.mark.parametrize("name", LAYERS)
def test_layers(name):
    make, make_twin, spec, key_map = LAYERS[name]
    tn.manual_seed(0)
    layer = make().double()
    _compare_layer(layer, make_twin(), _layer_input(spec, 0), key_map=key_map)


def test_residual_and_scale_match_the_same_sum_in_torch():
    tn.manual_seed(0)
    layer = nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Scale(0.5))).double()
    inner = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh())

    class TorchResidual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.block = inner

        def forward(self, x):
            return x + 0.5 * self.block(x)
    _compare_layer(layer, TorchResidual(), _n(3, 4))


def test_multi_head_attention_with_a_mask_is_torchs_with_the_inverted_mask():
    tn.manual_seed(0)
    layer = nn.MultiHeadAttention(6, 3).double()
    twin = _twin(layer, _mha_twin(6, 3))
    q, kv = _n(2, 4, 6), _n(2, 5, 6, seed=1)
    allowed = (_rng(2).random((4, 5)) < 0.6) | np.eye(4, 5, dtype=bool)
    out = layer(tn.Tensor(q), tn.Tensor(kv), mask=allowed)
    expected = twin(torch.tensor(q), torch.tensor(kv), torch.tensor(kv), attn_mask=torch.tensor(~allowed),
                    need_weights=False)[0]
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=RTOL, atol=ATOL)


def test_causal_self_attention_layer():
    tn.manual_seed(0)
    layer = nn.MultiHeadAttention(4, 2).double()
    _compare_layer(layer, _SelfAttention(_mha_twin(4, 2), causal=True), _n(2, 5, 4),
                   key_map=_prefixed("mha.", ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]),
                   is_causal=True)


def test_self_attention_2d_is_layernorm_attention_and_the_skip_composed_in_torch():
    tn.manual_seed(0)
    layer = nn.SelfAttention2d(4, num_heads=2).double()

    class TorchSelfAttention2d(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = torch.nn.LayerNorm(4)
            self.attn = _SelfAttention(_mha_twin(4, 2))

        def forward(self, x):
            n, c, h, w = x.shape
            tokens = x.reshape(n, c, h * w).transpose(1, 2)
            return x + self.attn(self.norm(tokens)).transpose(1, 2).reshape(n, c, h, w)
    key_map = {k: k.replace("attn.", "attn.mha.", 1) for k in layer.state_dict() if k.startswith("attn.")}
    _compare_layer(layer, TorchSelfAttention2d(), _n(2, 4, 3, 2), key_map=key_map)


def test_embedding_layer_and_batch_norm_running_statistics():
    """Embedding takes integer indices (no input gradient); batch norm's buffers after a training step match."""
    tn.manual_seed(0)
    layer = nn.Embedding(6, 3, padding_idx=2).double()
    twin = _twin(layer, torch.nn.Embedding(6, 3, padding_idx=2))
    indices = np.array([[1, 2, 5], [5, 0, 2]])
    out, expected = layer(indices), twin(torch.tensor(indices))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = _n(2, 3, 3, seed=1)
    out.backward(g)
    expected.backward(torch.tensor(g))
    np.testing.assert_allclose(layer.weight.grad, twin.weight.grad.numpy(), rtol=RTOL, atol=ATOL)
    bn = nn.BatchNorm2d(3, momentum=None).double()
    bn_twin = _twin(bn, torch.nn.BatchNorm2d(3, momentum=None))
    for seed in range(3):
        x = _image(seed=seed)
        bn(tn.Tensor(x))
        bn_twin(torch.tensor(x))
    for key, value in bn_twin.state_dict().items():
        np.testing.assert_allclose(bn.state_dict()[key], value.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)


def test_every_public_layer_is_compared():
    compared = {name.split()[0] for name in LAYERS} | {"Residual", "Scale", "SelfAttention2d", "Sequential",
                                                        "PreNormAttentionBlock", "FeedForwardBlock", "Embedding"}
    not_layers = {"Module", "Parameter"}
    public = {name for name in dir(nn) if isinstance(getattr(nn, name), type)
              and issubclass(getattr(nn, name), nn.Module)} - not_layers
    assert public - compared == set(), "add these layers to LAYERS (with their torch twin)"


# ---- optimizers: the same steps from the same gradients ---------------------------------------------------------
OPTIMIZERS = {
    "SGD": (lambda p: tn.optim.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    "SGD momentum, dampening, decay": (
        lambda p: tn.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    "SGD nesterov": (lambda p: tn.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True)),
    "Adam": (lambda p: tn.optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    "Adam L2 decay, betas, eps": (
        lambda p: tn.optim.Adam(p, lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    "AdamW": (lambda p: tn.optim.AdamW(p, lr=0.01, weight_decay=0.1),
              lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_steps(name):
    make, make_torch = OPTIMIZERS[name]
    start = [_n(3, 4), _n(4, seed=1)]
    ours = [nn.Parameter(a.copy()) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt, opt_torch = make(ours), make_torch(theirs)
    for step in range(3):
        grads = [_n(*a.shape, seed=10 * step + k) for k, a in enumerate(start)]
        for p, q, g in zip(ours, theirs, grads):
            p.grad = g.copy()
            q.grad = torch.tensor(g)
        opt.step()
        opt_torch.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-14)
