"""Regression tests for bugs found in review: each fails without its fix."""
import numpy as np
import pytest

import tinynet as tn


@pytest.mark.parametrize("exponent", [np.float64(2.0), np.float64(0.5), np.float32(3.0), 2.0, 3])
def test_pow_with_a_numpy_scalar_exponent_keeps_float32(exponent):
    x = tn.tensor([1.5, 2.0, 3.0], requires_grad=True)          # float32
    y = x ** exponent
    assert y.dtype == np.float32
    y.backward(np.ones(3, dtype=np.float32))
    assert x.grad.dtype == np.float32
    p = float(exponent)
    np.testing.assert_allclose(x.grad, p * x.data.astype(np.float64) ** (p - 1), rtol=1e-6)
