"""GELU and the NumPy erf/erfc behind it: erf and erfc vs SciPy, gelu vs x·Φ(x) from SciPy (also relative
accuracy in the far left tail), gradchecks of both forms, float32 kept, extreme inputs."""
import warnings

import numpy as np
import pytest
import scipy.special
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet import nn
from tinynet.functional.erf import erf_array as erf, erfc_array as erfc
from tinynet.testing import arrays, check_op, random_array, seeds


def test_erf_float64_matches_scipy_to_1e_15_everywhere():
    x = np.concatenate([np.linspace(-7, 7, 140001), np.geomspace(1e-300, 1e300, 600),
                        -np.geomspace(1e-300, 1e300, 600), [0.0, -0.0, 1.0, -1.0, np.nextafter(1, 0)]])
    np.testing.assert_allclose(erf(x), scipy.special.erf(x), rtol=1e-15, atol=2.3e-16)


@given(seed=seeds(), scale=st.sampled_from([0.3, 1.0, 3.0, 30.0]))
def test_erf_float64_random_inputs(seed, scale):
    x = random_array((1000,), seed, scale, away_from_zero=0)
    np.testing.assert_allclose(erf(x), scipy.special.erf(x), rtol=1e-15, atol=2.3e-16)


def test_erfc_keeps_relative_accuracy_in_the_tail():
    x = np.linspace(-10, 26, 72001)                  # erfc(26) ≈ 6e-296; beyond, float64 goes subnormal
    np.testing.assert_allclose(erfc(x), scipy.special.erfc(x), rtol=2e-15, atol=0)
    assert erfc(np.array(30.0)) < 1e-300 and erfc(np.array(-30.0)) == 2


def test_erf_float32_is_float32_and_accurate_to_float32_precision():
    x = np.linspace(-8, 8, 40001, dtype=np.float32)
    y = erf(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, scipy.special.erf(x.astype(np.float64)), rtol=0, atol=3e-7)


def test_erf_special_values_and_odd_symmetry():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = erf(np.array([np.inf, -np.inf, np.nan, 0.0, 3e38], dtype=np.float32))
        yc = erfc(np.array([np.inf, -np.inf, np.nan, 0.0, 3e38], dtype=np.float32))
    assert y[0] == 1 and y[1] == -1 and np.isnan(y[2]) and y[3] == 0 and y[4] == 1
    assert yc[0] == 0 and yc[1] == 2 and np.isnan(yc[2]) and yc[3] == 1 and yc[4] == 0
    assert yc.dtype == np.float32
    x = random_array((100,), 0, 2.0)
    np.testing.assert_array_equal(erf(-x), -erf(x))
    assert erf(np.float64(0.5)).shape == ()


def gelu_exact_reference(x):
    return x * scipy.special.ndtr(x)          # Φ = the normal CDF, from SciPy


def gelu_tanh_reference(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


@given(x=arrays())
def test_gelu_exact_matches_scipy_and_gradchecks(x):
    check_op(lambda t: F.gelu(t), gelu_exact_reference, x, rtol=1e-14, atol=1e-15)


@given(x=arrays())
def test_gelu_tanh_matches_formula_and_gradchecks(x):
    check_op(lambda t: F.gelu(t, approximate="tanh"), gelu_tanh_reference, x, rtol=1e-13, atol=1e-15)


def test_gelu_exact_has_relative_accuracy_in_the_left_tail():
    """Φ(x) = ½ erfc(-x/√2): at x = -10, Φ = 7.6e-24, where ½ (1 + erf(x/√2)) would round to 0."""
    x = np.linspace(-37, 0, 3701) - 0.01
    np.testing.assert_allclose(F.gelu(tn.Tensor(x)).data, gelu_exact_reference(x), rtol=1e-13, atol=0)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient_against_finite_differences_over_a_wide_range(approximate):
    x = np.linspace(-12, 6, 181) + 0.013
    tn.gradcheck(lambda t: F.gelu(t, approximate=approximate), [x], mode="full")


def test_tanh_form_is_close_to_exact():
    x = np.linspace(-6, 6, 1001)
    exact = F.gelu(tn.Tensor(x)).data
    approx = F.gelu(tn.Tensor(x), approximate="tanh").data
    assert np.max(np.abs(exact - approx)) < 1e-3


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_dtype_and_no_warnings(approximate, dtype):
    x = tn.Tensor(np.array([-1e4, -40.0, -1e-30, 0.0, 1e-30, 40.0, 1e4], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.gelu(x, approximate=approximate)
        y.backward(np.ones(7, dtype=dtype))
    assert y.dtype == x.grad.dtype == dtype
    np.testing.assert_allclose(y.data, [0, 0, -0.5e-30, 0, 0.5e-30, 40, 1e4], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(x.grad, [0, 0, 0.5, 0.5, 0.5, 1, 1], rtol=1e-6, atol=1e-30)


def test_module_and_bad_argument():
    x = random_array((3, 4), 0)
    np.testing.assert_array_equal(nn.GELU()(tn.Tensor(x)).data, F.gelu(tn.Tensor(x)).data)
    np.testing.assert_array_equal(nn.GELU(approximate="tanh")(tn.Tensor(x)).data,
                                  F.gelu(tn.Tensor(x), approximate="tanh").data)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(tn.Tensor(x), approximate="erf")
    with pytest.raises(TypeError, match="gelu: needs floating-point"):
        F.gelu(tn.Tensor(np.arange(3)))


# ---- erf and erfc as differentiable ops (the exact GELU's reference is built from erfc) --------------------
@given(x=arrays(scale=1.5))
def test_erf_and_erfc_ops_match_scipy_and_gradcheck(x):
    from tinynet.functional.erf import erf as erf_op, erfc as erfc_op
    check_op(erf_op, scipy.special.erf, x, rtol=1e-14, atol=1e-15)
    check_op(erfc_op, scipy.special.erfc, x, rtol=1e-14, atol=1e-15)


@given(x=arrays(scale=1.5), seed=seeds())
def test_erf_rules_take_a_tensor_gradient_and_record_it(x, seed):
    """With a Tensor g the rule recomputes (2/√π) e^{-x²} from the input Tensor, so the tape records it."""
    from tinynet.functional.erf import erf as erf_op, erfc as erfc_op
    for op in (erf_op, erfc_op):
        out = op(tn.Tensor(x, requires_grad=True))
        g = random_array(out.shape, seed)
        (from_array,) = out._entry.backward(g)
        (from_tensor,) = out._entry.backward(tn.Tensor(g, requires_grad=True))
        assert isinstance(from_tensor, tn.Tensor) and from_tensor.requires_grad
        np.testing.assert_allclose(from_tensor.data, from_array, rtol=1e-14, atol=1e-300)
