"""softmax / log_softmax: forward vs SciPy, gradients with a random upstream gradient, stability at ±1e4, and
the properties (rows sum to 1, invariance to adding a constant to a row)."""
import warnings

import numpy as np
import pytest
import scipy.special
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet.testing import check_op, random_array, scales, seeds, shapes


@st.composite
def array_and_axis(draw, max_dims=3):
    shape = draw(shapes(min_dims=1, max_dims=max_dims, max_side=5))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    x = random_array(shape, draw(seeds()), scale=draw(scales()))
    return x, axis


@given(case=array_and_axis())
def test_softmax_matches_scipy_and_gradchecks(case):
    x, axis = case
    check_op(lambda t: F.softmax(t, axis=axis), lambda a: scipy.special.softmax(a, axis=axis), x)


@given(case=array_and_axis())
def test_log_softmax_matches_scipy_and_gradchecks(case):
    x, axis = case
    check_op(lambda t: F.log_softmax(t, axis=axis), lambda a: scipy.special.log_softmax(a, axis=axis), x)


@given(case=array_and_axis(), shift=st.sampled_from([-100.0, -3.5, 0.25, 7.0, 1e3]))
def test_rows_sum_to_one_and_adding_a_constant_to_a_row_changes_nothing(case, shift):
    x, axis = case
    s = F.softmax(tn.Tensor(x), axis=axis).data
    np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=0, atol=1e-12)
    assert np.all(s >= 0)
    # a different constant for every row: shape of x with the softmax axis reduced to 1
    c = shift * (1 + random_array(np.sum(x, axis=axis, keepdims=True).shape, 7, scale=0.5))
    shifted = F.softmax(tn.Tensor(x + c), axis=axis).data
    np.testing.assert_allclose(shifted, s, rtol=1e-9, atol=1e-12 * max(1.0, abs(shift)))
    log_shifted = F.log_softmax(tn.Tensor(x + c), axis=axis).data
    np.testing.assert_allclose(log_shifted, F.log_softmax(tn.Tensor(x), axis=axis).data,
                               rtol=1e-9, atol=1e-12 * max(1.0, abs(shift)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_do_not_overflow(dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4 - 1.0, -1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # an overflow in exp would warn
        s = F.softmax(tn.Tensor(x)).data
        log_s = F.log_softmax(tn.Tensor(x)).data
    assert s.dtype == dtype and log_s.dtype == dtype
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(log_s))
    e = np.exp(-1.0)
    expected = np.array([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [1 / (1 + e), e / (1 + e), 0]])
    np.testing.assert_allclose(s, expected, rtol=1e-6, atol=1e-30)
    # log-softmax stays exact where softmax underflows to 0: x - max - log Σ e^{x - max}
    np.testing.assert_allclose(log_s[0], [0.0, -2e4, -1e4], rtol=1e-6)
    np.testing.assert_allclose(log_s[1], np.log(1 / 3), rtol=1e-6)


def test_gradcheck_at_large_logits():
    x = random_array((3, 6), 3, scale=30.0)
    tn.gradcheck(lambda t: F.softmax(t), [x], mode="full")
    tn.gradcheck(lambda t: F.log_softmax(t), [x], mode="full")


def test_sum_of_softmax_has_zero_gradient_which_is_why_checks_use_a_random_upstream_gradient():
    x = tn.Tensor(random_array((4, 5), 0), requires_grad=True)
    F.softmax(x).sum().backward()
    np.testing.assert_allclose(x.grad, 0.0, atol=1e-15)
    y = F.softmax(x)
    x.grad = None
    y.backward(random_array((4, 5), 1))
    assert np.abs(x.grad).max() > 1e-3                  # a random g reaches x


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_float32_stays_float32_including_gradients(fn):
    x = tn.Tensor(random_array((3, 4), 0, dtype=np.float32), requires_grad=True)
    y = fn(x, axis=0)
    y.backward(random_array((3, 4), 1, dtype=np.float32))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_backward_matches_the_explicit_jacobian():
    """dx = s ⊙ (g - Σ g ⊙ s) is Jᵀg with J = diag(s) - s sᵀ, built here entry by entry."""
    x, g = random_array((5,), 0), random_array((5,), 1)
    t = tn.Tensor(x, requires_grad=True)
    s = F.softmax(t)
    s.backward(g)
    sv = s.data
    jacobian = np.diag(sv) - np.outer(sv, sv)
    np.testing.assert_allclose(t.grad, jacobian.T @ g, rtol=1e-12, atol=1e-15)


def test_zero_dim_input_is_one_row():
    assert F.softmax(tn.tensor(3.0)).item() == 1.0
    assert F.log_softmax(tn.tensor(3.0)).item() == 0.0


def test_bad_arguments():
    x = tn.Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="softmax: axis 2 is out of range"):
        F.softmax(x, axis=2)
    with pytest.raises(TypeError, match="log_softmax: axis must be an int"):
        F.log_softmax(x, axis=(0, 1))
    with pytest.raises(TypeError, match="floating-point"):
        F.softmax(tn.Tensor(np.arange(3)))


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("shape, axis", [((0,), 0), ((2, 0), 1), ((2, 0), -1), ((0, 3), 1), ((3, 0, 2), 1)])
def test_an_empty_axis_gives_an_empty_result_as_in_pytorch(fn, shape, axis):
    x = tn.Tensor(np.ones(shape), requires_grad=True)
    y = fn(x, axis=axis)
    assert y.shape == shape and y.dtype == np.float64
    y.backward(np.ones(shape))
    assert x.grad.shape == shape
    assert fn(np.ones(shape, dtype=np.float32), axis=axis).dtype == np.float32
