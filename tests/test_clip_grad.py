"""nn.utils.clip_grad_norm_ and clip_grad_value_: the total norm of every order, the capped length and kept
direction, parameters without gradients, and agreement with PyTorch."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import nn
from tinynet.nn import Parameter
from tinynet.testing import random_array, seeds


def params_with_grads(seed, shapes=((3,), (2, 2), (1,)), scale=1.0):
    params = []
    for k, shape in enumerate(shapes):
        p = Parameter(np.zeros(shape))
        p.grad = random_array(shape, seed + k, scale)
        params.append(p)
    return params


@given(seed=seeds(), max_norm=st.sampled_from([0.1, 1.0, 100.0]), norm_type=st.sampled_from([1.0, 2.0, 3.0,
                                                                                               math.inf]))
def test_total_norm_and_clipping(seed, max_norm, norm_type):
    params = params_with_grads(seed, scale=3.0)
    before = np.concatenate([p.grad.ravel() for p in params])
    total = nn.utils.clip_grad_norm_(params, max_norm, norm_type)
    expected = np.max(np.abs(before)) if math.isinf(norm_type) else np.sum(np.abs(before) ** norm_type) ** (
        1 / norm_type)
    assert isinstance(total, tn.Tensor) and total.shape == ()
    np.testing.assert_allclose(float(total), expected, rtol=1e-12)            # measured before clipping
    after = np.concatenate([p.grad.ravel() for p in params])
    factor = min(1.0, max_norm / (expected + 1e-6))
    np.testing.assert_allclose(after, before * factor, rtol=1e-12)            # same direction, capped length
    new_norm = np.max(np.abs(after)) if math.isinf(norm_type) else np.sum(np.abs(after) ** norm_type) ** (
        1 / norm_type)
    assert new_norm <= max_norm * (1 + 1e-9)


def test_skips_parameters_without_grad_and_accepts_a_single_tensor():
    p, q = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    p.grad = np.array([3.0, 4.0])
    assert float(nn.utils.clip_grad_norm_([p, q], 1.0)) == 5.0 and q.grad is None
    np.testing.assert_allclose(p.grad, [0.6, 0.8], rtol=1e-5)
    assert float(nn.utils.clip_grad_norm_(q, 1.0)) == 0.0                     # no gradients: norm 0
    p.grad = np.array([3.0, 4.0], dtype=np.float32)
    assert nn.utils.clip_grad_norm_(p, 10.0).dtype == np.float32 and p.grad.dtype == np.float32


def test_nonfinite_norm():
    p = Parameter(np.zeros(2))
    p.grad = np.array([np.nan, 1.0])
    with pytest.raises(RuntimeError, match="total norm"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    nn.utils.clip_grad_norm_([p], 1.0)
    assert np.all(np.isnan(p.grad))                                             # as PyTorch


@given(seed=seeds(), clip=st.sampled_from([0.0, 0.5, 2.0]))
def test_clip_grad_value(seed, clip):
    params = params_with_grads(seed, scale=3.0)
    before = [p.grad.copy() for p in params]
    assert nn.utils.clip_grad_value_(params, clip) is None
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.grad, np.minimum(np.maximum(b, -clip), clip))


def test_bad_arguments():
    p = Parameter(np.zeros(2))
    p.grad = np.ones(2)
    with pytest.raises(ValueError, match="max_norm must be a number >= 0"):
        nn.utils.clip_grad_norm_([p], -1.0)
    with pytest.raises(ValueError, match="clip_value must be a number >= 0"):
        nn.utils.clip_grad_value_([p], -1.0)
    with pytest.raises(TypeError, match="item 0 is a ndarray"):
        nn.utils.clip_grad_norm_([np.ones(2)], 1.0)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_matches_pytorch(norm_type):
    torch = pytest.importorskip("torch")
    ours = params_with_grads(7, scale=3.0)
    theirs = [torch.zeros(p.shape, dtype=torch.float64, requires_grad=True) for p in ours]
    for t, p in zip(theirs, ours):
        t.grad = torch.from_numpy(p.grad.copy())
    total = nn.utils.clip_grad_norm_(ours, 0.5, norm_type)
    total_torch = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type)
    np.testing.assert_allclose(float(total), total_torch.item(), rtol=1e-12)
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


def test_inf_norm_sees_a_nan_in_any_gradient():
    a, b = tn.tensor([1.0, 1.0], requires_grad=True), tn.tensor([1.0, 1.0], requires_grad=True)
    a.grad, b.grad = np.array([3.0, 4.0]), np.array([np.nan, 1.0])
    assert np.isnan(nn.utils.clip_grad_norm_([a, b], 1.0, norm_type=float("inf")).item())
    with pytest.raises(RuntimeError, match="is nan"):
        nn.utils.clip_grad_norm_([a, b], 1.0, norm_type=float("inf"), error_if_nonfinite=True)
