"""cross_entropy and mse_loss: forward vs a direct SciPy/NumPy formula, float32 kept, gradcheck with a random
upstream gradient, stability at huge logits, PyTorch's label smoothing, and clear errors."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy.special import logsumexp, softmax

import tinynet as tn
from tinynet.functional.losses import cross_entropy, mse_loss
from tinynet.testing import check_op, random_array, seeds


def ce_reference(x, t, eps=0.0, reduction="mean"):
    """−Σⱼ qᵢⱼ log softmax(xᵢ)ⱼ with qᵢ = (1 − ε)·onehot(tᵢ) + ε/C, straight from the definition."""
    n, c = x.shape
    log_p = x - logsumexp(x, axis=1, keepdims=True)
    q = np.full((n, c), eps / c)
    q[np.arange(n), t] += 1 - eps
    per_row = -(q * log_p).sum(axis=1)
    return {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]


@given(n=st.integers(1, 4), c=st.integers(1, 5), seed=seeds(), scale=st.sampled_from([0.1, 1.0, 5.0]),
       eps=st.sampled_from([0.0, 0.1, 0.5]), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_matches_formula_and_gradcheck(n, c, seed, scale, eps, reduction):
    x = random_array((n, c), seed, scale)
    t = np.random.default_rng(seed).integers(0, c, size=n)
    check_op(lambda a, b: cross_entropy(a, b, label_smoothing=eps, reduction=reduction),
             lambda a, b: ce_reference(a, b, eps, reduction), x, t, rtol=1e-10, atol=1e-12)


@given(n=st.integers(1, 5), c=st.integers(2, 6), seed=seeds())
def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n(n, c, seed):
    x = random_array((n, c), seed)
    t = np.random.default_rng(seed + 1).integers(0, c, size=n)
    logits = tn.tensor(x, requires_grad=True)
    cross_entropy(logits, t).backward()
    expected = softmax(x, axis=1)
    expected[np.arange(n), t] -= 1
    np.testing.assert_allclose(logits.grad, expected / n, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_at_huge_logits(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    t = np.array([1, 2, 0])
    logits = tn.tensor(x, requires_grad=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):   # no overflow, log(0), 0/0
        loss = cross_entropy(logits, t)
        loss.backward()
    # row 0: −log p = 1e4 − (−1e4) = 2e4; row 1: p = 1, loss 0; row 2: two tied maxima, loss log 2.
    np.testing.assert_allclose(loss.item(), (2e4 + 0 + np.log(2)) / 3, rtol=1e-6)
    assert loss.dtype == dtype and logits.grad.dtype == dtype
    expected = np.array([[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0]]) / 3
    np.testing.assert_allclose(logits.grad, expected, atol=1e-7)
    smoothed = cross_entropy(tn.tensor(x), t, label_smoothing=0.1)
    assert np.isfinite(smoothed.item())
    np.testing.assert_allclose(smoothed.item(), ce_reference(x.astype(np.float64), t, 0.1), rtol=1e-6)


def test_cross_entropy_accepts_tensor_and_list_targets():
    x = random_array((3, 4), 0)
    expected = ce_reference(x, np.array([3, 0, 1]))
    for t in (np.array([3, 0, 1], dtype=np.int32), tn.tensor([3, 0, 1], dtype=np.int64), [3, 0, 1]):
        np.testing.assert_allclose(cross_entropy(tn.tensor(x), t).item(), expected, rtol=1e-12)


@pytest.mark.parametrize("logits_shape, target, error, words", [
    ((4,), np.array([0]), ValueError, "2-D (N, C)"),
    ((3, 4), np.array([0, 1]), ValueError, "target of shape (3,)"),
    ((3, 4), np.array([0, 1, 4]), ValueError, "[0, 4)"),
    ((3, 4), np.array([0, -1, 2]), ValueError, "[0, 4)"),
    ((3, 4), np.array([0.0, 1.0, 2.0]), TypeError, "dtype=np.int64"),
    ((3, 4), np.eye(4)[:3], TypeError, "integer class indices"),
])
def test_cross_entropy_errors_name_the_problem(logits_shape, target, error, words):
    with pytest.raises(error, match="cross_entropy") as info:
        cross_entropy(tn.tensor(np.zeros(logits_shape)), target)
    assert words in str(info.value)


def test_cross_entropy_rejects_bad_options():
    x, t = tn.tensor(np.zeros((2, 3))), np.array([0, 1])
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, t, reduction="avg")


@given(shape=st.sampled_from([(), (3,), (2, 3), (2, 1, 2)]), seed=seeds(),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_loss_matches_formula_and_gradcheck(shape, seed, reduction):
    x, y = random_array(shape, seed), random_array(shape, seed + 1)
    ref = {"mean": lambda a, b: np.mean((a - b) ** 2), "sum": lambda a, b: np.sum((a - b) ** 2),
           "none": lambda a, b: (a - b) ** 2}[reduction]
    check_op(lambda a, b: mse_loss(a, b, reduction=reduction), ref, x, y, rtol=1e-12, atol=1e-14)


def test_mse_loss_refuses_to_broadcast():
    with pytest.raises(ValueError, match=r"mse_loss: input has shape \(4,\) but target has shape \(4, 1\)"):
        mse_loss(tn.tensor(np.zeros(4)), tn.tensor(np.zeros((4, 1))))


def test_mse_loss_integer_target_keeps_float32():
    x = tn.tensor(np.array([1.5, 2.0], dtype=np.float32), requires_grad=True)
    loss = mse_loss(x, np.array([1, 3]))
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), (0.25 + 1.0) / 2)
    np.testing.assert_allclose(x.grad, [0.5, -1.0])


def test_cross_entropy_keeps_its_own_copy_of_the_target():
    logits = tn.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    target = np.array([0, 1, 2])
    expected = tn.grad(cross_entropy(logits, target.copy()), [logits])[0].data
    loss = cross_entropy(logits, target)
    target[:] = 3                                       # the caller reuses its buffer before backward
    for create_graph in (False, True):
        np.testing.assert_allclose(tn.grad(loss, [logits], create_graph=create_graph, retain_graph=True)[0].data,
                                   expected, rtol=1e-12)
