"""F.layer_norm and nn.LayerNorm: forward vs a direct NumPy reference, gradchecks (x, weight, bias), the
normalisation properties and the two directions the input gradient cannot have."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet import nn
from tinynet.testing import check_op, random_array, scales, seeds


def reference(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)           # biased, as PyTorch
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


@st.composite
def layer_norm_case(draw):
    n_norm = draw(st.integers(1, 2))
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    norm_shape = tuple(draw(st.lists(st.integers(2, 4), min_size=n_norm, max_size=n_norm)))
    seed, scale = draw(seeds()), draw(scales())
    x = random_array(batch + norm_shape, seed, scale) + draw(st.sampled_from([0.0, 5.0]))
    return x, norm_shape, seed


@given(case=layer_norm_case(), affine=st.sampled_from(["none", "weight", "both"]))
def test_matches_reference_and_gradchecks(case, affine):
    x, shape, seed = case
    if affine == "none":
        check_op(lambda t: F.layer_norm(t, shape), lambda a: reference(a, shape), x)
        return
    w = random_array(shape, seed + 1)
    if affine == "weight":
        check_op(lambda t, w: F.layer_norm(t, shape, w), lambda a, w: reference(a, shape, w), x, w)
        return
    b = random_array(shape, seed + 2)
    check_op(lambda t, w, b: F.layer_norm(t, shape, w, b, eps=1e-3),
             lambda a, w, b: reference(a, shape, w, b, eps=1e-3), x, w, b)


def test_bias_without_weight_and_int_normalized_shape():
    x, b = random_array((3, 4), 0), random_array((4,), 1)
    check_op(lambda t, b: F.layer_norm(t, 4, bias=b), lambda a, b: reference(a, (4,), bias=b), x, b)


@given(case=layer_norm_case())
def test_each_row_has_mean_zero_and_variance_one(case):
    x, shape, _ = case
    eps = 1e-5
    y = F.layer_norm(tn.Tensor(x), shape, eps=eps).data
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    var = x.var(axis=axes)
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=axes), var / (var + eps), rtol=1e-9)     # = 1 when eps ≪ σ²


@given(case=layer_norm_case(), shift=st.sampled_from([-7.0, 0.5, 100.0]), factor=st.sampled_from([0.25, 3.0]))
def test_invariant_to_shifting_and_scaling_a_row(case, shift, factor):
    x, shape, _ = case
    y = F.layer_norm(tn.Tensor(x), shape, eps=0.0).data             # eps = 0: exactly scale-invariant
    y2 = F.layer_norm(tn.Tensor(x * factor + shift), shape, eps=0.0).data
    np.testing.assert_allclose(y2, y, rtol=1e-7, atol=1e-7)


@given(case=layer_norm_case())
def test_input_gradient_has_no_component_along_ones_or_along_x_hat(case):
    """dx = r (dx̂ - mean(dx̂) - x̂ mean(dx̂ x̂)): shifting or (with eps = 0) scaling a row does not change the
    output, so the gradient is orthogonal to those directions in every row."""
    x, shape, seed = case
    t = tn.Tensor(x, requires_grad=True)
    y = F.layer_norm(t, shape, eps=0.0)
    g = random_array(x.shape, seed + 3)
    y.backward(g)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    # the size of the gradient before the projections: r·|g| per row, r = 1/std (for n = 2 the true gradient
    # is exactly 0, since x̂ = ±1 whatever x is, so it cannot be the yardstick)
    size = np.sqrt((g * g).sum(axis=axes)) / x.std(axis=axes)
    np.testing.assert_array_less(np.abs(t.grad.sum(axis=axes)), 1e-10 * size)
    np.testing.assert_array_less(np.abs((t.grad * y.data).sum(axis=axes)), 1e-8 * size)


def test_constant_row_gives_bias_and_finite_gradient():
    x = np.full((2, 5), 3.0)
    x[1] = random_array((5,), 0)
    t = tn.Tensor(x, requires_grad=True)
    b = random_array((5,), 1)
    y = F.layer_norm(t, 5, bias=b)
    y.backward(random_array((2, 5), 2))
    np.testing.assert_allclose(y.data[0], b)                 # x̂ = 0 / √eps = 0
    assert np.all(np.isfinite(t.grad))


def test_float32_stays_float32():
    x = tn.Tensor(random_array((4, 6), 0, dtype=np.float32), requires_grad=True)
    w = tn.Tensor(random_array((6,), 1, dtype=np.float32), requires_grad=True)
    b = tn.Tensor(random_array((6,), 2, dtype=np.float32), requires_grad=True)
    y = F.layer_norm(x, (6,), w, b)
    y.backward(random_array((4, 6), 3, dtype=np.float32))
    assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_bad_arguments():
    x = tn.Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must be a non-empty match of the last axes"):
        F.layer_norm(x, (2,))
    with pytest.raises(ValueError, match="last axes"):
        F.layer_norm(x, (1, 2, 3))
    with pytest.raises(ValueError, match="weight must have shape"):
        F.layer_norm(x, 3, weight=np.ones(2))
    with pytest.raises(TypeError, match="normalized_shape must be an int or a tuple"):
        F.layer_norm(x, "3")


# ---- nn.LayerNorm -------------------------------------------------------------------------------------------
def test_module_parameters_and_init_as_pytorch():
    ln = nn.LayerNorm((3, 4))
    assert list(ln.state_dict()) == ["weight", "bias"]
    assert ln.weight.shape == ln.bias.shape == (3, 4) and ln.weight.dtype == np.float32
    assert np.all(ln.weight.data == 1) and np.all(ln.bias.data == 0)
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []
    assert list(nn.LayerNorm(4, bias=False).state_dict()) == ["weight"]
    assert repr(nn.LayerNorm(8)) == "LayerNorm((8,), eps=1e-05, elementwise_affine=True)"


def test_module_forward_backward_matches_functional():
    ln = nn.LayerNorm(6, eps=1e-4).double()
    ln.weight.data[...] = random_array((6,), 1)
    ln.bias.data[...] = random_array((6,), 2)
    x = random_array((2, 3, 6), 0)
    y = ln(tn.Tensor(x))
    np.testing.assert_allclose(y.data, reference(x, (6,), ln.weight.data, ln.bias.data, 1e-4), rtol=1e-12)
    y.backward(random_array(y.shape, 3))
    assert ln.weight.grad.shape == (6,) and ln.bias.grad.shape == (6,)
    tn.gradcheck(lambda t, w, b: F.layer_norm(t, 6, w, b, eps=1e-4), [x, ln.weight.data, ln.bias.data])


def test_module_rejects_bad_shapes():
    with pytest.raises(ValueError, match="LayerNorm: normalized_shape"):
        nn.LayerNorm(0)
    with pytest.raises(ValueError, match="last axes"):
        nn.LayerNorm(5)(tn.Tensor(np.zeros((2, 4), dtype=np.float32)))


def test_weight_and_bias_must_have_the_input_dtype():
    x = tn.tensor(np.ones((2, 3), dtype=np.float32))
    for weight, bias in ((np.ones(3), None), (None, np.zeros(3))):           # float64 parameters
        with pytest.raises(TypeError, match="layer_norm: (weight|bias) has dtype float64 but the input has dtype float32"):
            F.layer_norm(x, 3, weight, bias)
