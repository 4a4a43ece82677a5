"""tinynet.diagnostics: gradient_flow against hand-written NumPy backprop, the norm helpers against NumPy/SciPy,
and the helper's contract (names, zeroing, no mutation, errors)."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy.signal import correlate2d

import tinynet as tn
from tinynet import nn
from tinynet.diagnostics import GradientFlow, depthwise_norm_bound, grad_norm, gradient_flow, spectral_norm
from tinynet.testing import random_array, seeds


def sigmoid_mlp(depth, width, seed, residual=False):
    tn.manual_seed(seed)
    blocks = []
    for _ in range(depth):
        block = nn.Sequential(nn.Linear(width, width), nn.Sigmoid())
        blocks.append(nn.Residual(block) if residual else block)
    return nn.Sequential(*blocks).double()


def numpy_backprop(model, x, g, residual):
    """Reference: the chain rule written out in NumPy, g_l = g_{l+1} + (σ'(z) ⊙ g_{l+1}) W (or without the skip)."""
    xs, zs = [x], []
    for block in model:
        lin = (block.block if residual else block)[0]
        z = xs[-1] @ lin.weight.data.T + lin.bias.data
        y = 1 / (1 + np.exp(-z))
        zs.append(y)
        xs.append(xs[-1] + y if residual else y)
    grads, weight_grads = [g], []
    for l in reversed(range(len(zs))):
        lin = (model[l].block if residual else model[l])[0]
        dz = grads[0] * zs[l] * (1 - zs[l])
        weight_grads.insert(0, (dz.T @ xs[l], dz.sum(axis=0)))
        grads.insert(0, dz @ lin.weight.data + (grads[0] if residual else 0))
    return grads, weight_grads


@given(depth=st.integers(1, 8), width=st.integers(1, 6), batch=st.integers(1, 3), seed=seeds(),
       residual=st.booleans())
def test_gradient_flow_matches_numpy_backprop(depth, width, batch, seed, residual):
    model = sigmoid_mlp(depth, width, seed % 1000, residual)
    x = random_array((batch, width), seed)
    g = random_array((batch, width), seed + 1)
    flow = gradient_flow(model, x, grad_output=g)
    grads, weight_grads = numpy_backprop(model, x, g, residual)
    assert len(flow.grads) == len(flow.grad_norms) == depth + 1
    for ours, ref in zip(flow.grads, grads):
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-14)
    for ours, ref in zip(flow.grad_norms, grads):
        assert math.isclose(ours, np.linalg.norm(ref), rel_tol=1e-10, abs_tol=1e-300)
    assert math.isclose(flow.ratio, np.linalg.norm(grads[0]) / np.linalg.norm(g), rel_tol=1e-10)
    assert math.isclose(flow.loss, float(np.sum(model(tn.Tensor(x)).data * g)), rel_tol=1e-12)
    # parameter gradients: named as named_parameters() names them, values from the same backward pass
    assert list(flow.param_grad_norms) == [name for name, _ in model.named_parameters()]
    for l, (dw, db) in enumerate(weight_grads):
        prefix = f"{l}.block.0" if residual else f"{l}.0"
        assert math.isclose(flow.param_grad_norms[f"{prefix}.weight"], np.linalg.norm(dw), rel_tol=1e-10)
        assert math.isclose(flow.param_grad_norms[f"{prefix}.bias"], np.linalg.norm(db), rel_tol=1e-10)
        both = math.sqrt(np.sum(dw ** 2) + np.sum(db ** 2))
        assert math.isclose(flow.layer_param_grad_norms[l], both, rel_tol=1e-10)
    # afterwards each parameter's .grad holds this pass's gradient (e.g. for an optimizer step)
    np.testing.assert_allclose(model[0][0].weight.grad if not residual else model[0].block[0].weight.grad,
                               weight_grads[0][0], rtol=1e-10)


def test_gradient_flow_zeroes_parameter_gradients_first_and_leaves_the_input_alone():
    model = sigmoid_mlp(3, 4, 0)
    x = tn.Tensor(random_array((2, 4), 1))
    before = x.data.copy()
    first = gradient_flow(model, x)
    second = gradient_flow(model, x)           # would double if gradients accumulated across calls
    assert first.param_grad_norms == second.param_grad_norms
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None and not x.requires_grad


def test_default_loss_and_loss_fn_agree_with_grad_output():
    model = sigmoid_mlp(4, 3, 2)
    x = random_array((2, 3), 3)
    ones = gradient_flow(model, x, grad_output=np.ones((2, 3)))
    default = gradient_flow(model, x)
    assert default.grad_norms == ones.grad_norms
    out = model(tn.Tensor(x)).data
    half_square = gradient_flow(model, x, loss_fn=lambda y: (y * y).sum() * 0.5)   # dL/dy = y
    with_out = gradient_flow(model, x, grad_output=out)
    np.testing.assert_allclose(half_square.grad_norms, with_out.grad_norms, rtol=1e-12)
    assert math.isclose(half_square.loss, 0.5 * float(np.sum(out ** 2)), rel_tol=1e-12)


def test_plain_stack_vanishes_and_residual_does_not():
    """The behaviour the demo shows, through the helper: sigmoid, Xavier init, depth 32, width 16."""
    ratios = {}
    for residual in (False, True):
        tn.manual_seed(0)
        blocks = []
        for _ in range(32):
            lin = nn.Linear(16, 16, dtype=np.float64)
            nn.init.xavier_normal_(lin.weight)
            block = nn.Sequential(lin, nn.Sigmoid())
            blocks.append(nn.Residual(block) if residual else block)
        flow = gradient_flow(nn.Sequential(*blocks), random_array((1, 16), 0), grad_output=random_array((1, 16), 1))
        bound = math.prod(0.25 * spectral_norm(b.block[0].weight if residual else b[0].weight) for b in blocks)
        ratios[residual] = (flow.ratio, bound)
    assert ratios[False][0] <= ratios[False][1] < 1e-8          # the theorem's bound, from these weights
    assert ratios[True][0] > 0.5


def test_single_module_and_list_of_modules():
    tn.manual_seed(0)
    lin = nn.Linear(3, 2).double()
    x = random_array((4, 3), 0)
    flow = gradient_flow(lin, x)
    assert len(flow.grads) == 2 and flow.layer_names == ["Linear"]
    assert set(flow.param_grad_norms) == {"weight", "bias"}
    np.testing.assert_allclose(flow.grads[0], np.ones((4, 2)) @ lin.weight.data)
    layers = [nn.Linear(3, 3).double(), nn.Tanh(), nn.Linear(3, 1).double()]
    flow = gradient_flow(layers, x)
    assert flow.layer_names == ["0", "1", "2"] and len(flow.grad_norms) == 4
    assert set(flow.param_grad_norms) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert flow.layer_param_grad_norms[1] == 0.0


def test_repr_lists_every_layer():
    flow = gradient_flow(sigmoid_mlp(3, 2, 0), random_array((1, 2), 0))
    assert isinstance(flow, GradientFlow)
    text = repr(flow)
    assert "ratio" in text and f"{flow.ratio:.3e}" in text
    assert len(text.splitlines()) == 2 + 3 + 1


def test_errors_name_the_problem():
    model = sigmoid_mlp(2, 3, 0)
    x = random_array((1, 3), 0)
    with pytest.raises(ValueError, match="grad_output or loss_fn"):
        gradient_flow(model, x, grad_output=np.ones((1, 3)), loss_fn=lambda y: y.sum())
    with pytest.raises(ValueError, match=r"grad_output has shape \(3,\)"):
        gradient_flow(model, x, grad_output=np.ones(3))
    with pytest.raises(ValueError, match="one-element"):
        gradient_flow(model, x, loss_fn=lambda y: y * 2)
    with pytest.raises(TypeError, match="floating point"):
        gradient_flow(model, np.ones((1, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="not a Module"):
        gradient_flow([nn.Tanh(), "relu"], x)
    with tn.no_grad(), pytest.raises(RuntimeError, match="does not require grad"):
        gradient_flow(model, x)


# ---- the norm helpers ------------------------------------------------------------------------------------------
def test_grad_norm_does_not_underflow_or_overflow():
    tiny = np.full(4, 1e-30, dtype=np.float32)
    assert np.linalg.norm(tiny) == 0.0                      # the naive way loses it
    assert math.isclose(grad_norm(tiny), 2e-30, rel_tol=1e-6)
    assert math.isclose(grad_norm(np.full(9, 1e200)), 3e200, rel_tol=1e-12)
    assert grad_norm(np.zeros((2, 2))) == 0.0
    assert grad_norm(tn.Tensor(np.array([3.0, 4.0]))) == 5.0


@given(rows=st.integers(1, 6), cols=st.integers(1, 6), seed=seeds())
def test_spectral_norm_is_the_largest_singular_value(rows, cols, seed):
    w = random_array((rows, cols), seed)
    assert math.isclose(spectral_norm(w), np.linalg.svd(w, compute_uv=False)[0], rel_tol=1e-12)
    assert math.isclose(spectral_norm(w.reshape(rows, cols, 1, 1)), spectral_norm(w), rel_tol=1e-15)
    v = random_array(cols, seed + 1)
    assert np.linalg.norm(w @ v) <= spectral_norm(w) * np.linalg.norm(v) * (1 + 1e-12)


def test_norm_helpers_reject_wrong_shapes():
    with pytest.raises(ValueError, match="spectral_norm"):
        spectral_norm(np.ones((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="depthwise_norm_bound"):
        depthwise_norm_bound(np.ones((2, 2, 3, 3)))


@given(channels=st.integers(1, 3), size=st.integers(1, 5), k=st.sampled_from([1, 3]), seed=seeds())
def test_depthwise_norm_bound_bounds_the_operator_norm(channels, size, k, seed):
    """Build the zero-padded depthwise convolution as a dense matrix with SciPy and compare its spectral norm."""
    kernel = random_array((channels, 1, k, k), seed)
    n = channels * size * size
    matrix = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        img = e.reshape(channels, size, size)
        out = np.stack([correlate2d(img[c], kernel[c, 0], mode="same") for c in range(channels)])
        matrix[:, j] = out.ravel()
    assert np.linalg.norm(matrix, 2) <= depthwise_norm_bound(kernel) * (1 + 1e-12)
    assert math.isclose(depthwise_norm_bound(kernel), max(np.abs(kernel[c]).sum() for c in range(channels)))


def test_layer_grad_norms_after_a_users_own_backward():
    import tinynet as tn
    from tinynet import nn
    from tinynet.diagnostics import layer_grad_norms

    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Residual(nn.Linear(4, 4)), nn.Linear(4, 2, bias=False))
    x = tn.tensor(np.random.default_rng(0).standard_normal((5, 3)), dtype=np.float32)
    model(x).sum().backward()
    norms = layer_grad_norms(model)
    assert list(norms) == ["0", "2.block", "3"]          # layers without parameters are left out
    for name, module in model.named_modules():
        if name in norms:
            expected = np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in module._parameters.values()
                                   if p is not None))
            np.testing.assert_allclose(norms[name], expected, rtol=1e-6)
    model.zero_grad()
    assert all(v == 0.0 for v in layer_grad_norms(model).values())
