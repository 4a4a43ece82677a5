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


def test_accuracy_rejects_targets_that_would_broadcast():
    from tinynet.training import accuracy
    with pytest.raises(ValueError, match="accuracy"):
        accuracy(np.zeros((4, 1)), np.array([[0.0], [1.0], [2.0], [0.0]]))   # (4,) vs (4, 1) -> (4, 4)
    with pytest.raises(ValueError, match="accuracy"):
        accuracy(np.eye(3), np.array([0, 1]))
    assert accuracy(np.eye(3), np.array([0, 1, 1])) == pytest.approx(2 / 3)


def test_fit_regression_with_the_default_accuracy_metric_is_a_clear_error():
    from tinynet import functional as F, nn
    tn.manual_seed(0)
    model = nn.Linear(2, 1)
    x = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    y = x[:, :1] * 2
    with pytest.raises(ValueError, match="metrics=()"):
        tn.fit(model, F.mse_loss, tn.optim.SGD(model.parameters(), lr=0.1), x, y, verbose=0)
    history = tn.fit(model, F.mse_loss, tn.optim.SGD(model.parameters(), lr=0.1), x, y, metrics=(), verbose=0)
    assert np.isfinite(history["loss"][-1])


def test_truth_value_of_a_tensor_is_its_value_or_ambiguous():
    assert not (tn.tensor([-1.0]) > 0)               # was True: Python fell back to len() == 1
    assert not (tn.tensor(-1.0) > 0)                 # was TypeError "len() of a 0-d tensor"
    assert tn.tensor(2.0) > 1
    loss = (tn.tensor([0.5, 0.25], requires_grad=True) ** 2).sum()
    assert loss < 1
    a, b = tn.tensor([1.0, 2.0]), tn.tensor([5.0, 6.0])
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a == b)
    with pytest.raises(ValueError, match="ambiguous"):
        a in [b]                                     # was True for any two non-empty tensors
    assert a in [a]                                  # identity is checked first, as for lists of arrays


def test_gradcheck_names_a_rule_that_writes_into_g():
    from tinynet.tensor import make_result

    def twice(x):
        def backward(g):
            g *= 2                       # the correct value, but written into the caller's g
            return (g,)
        return make_result("twice", x.data * 2, (x,), backward)

    with pytest.raises(tn.GradcheckError, match="modified its upstream gradient g in place"):
        tn.gradcheck(twice, [np.array([0.3, 1.2, -0.7])])


def test_stack_axis_out_of_range_is_a_clear_error():
    a = tn.tensor(np.ones(3))
    with pytest.raises(ValueError, match="stack: axis 3 is out of range"):
        tn.stack([a, a], axis=3)
    assert tn.stack([a, a], axis=-2).shape == (2, 3)


def test_relu_of_minus_infinity_is_zero():
    from tinynet import functional as F
    x = tn.tensor([-np.inf, -1.0, 0.0, 2.0, np.inf], requires_grad=True)
    y = F.relu(x)
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 0.0, 2.0, np.inf])     # -inf * 0 gave NaN
    assert y.dtype == np.float32 and not np.signbit(y.data[1])
    y.backward(np.ones(5, dtype=np.float32))
    np.testing.assert_array_equal(x.grad, [0, 0, 0, 1, 1])
    assert np.isnan(F.relu(tn.tensor([np.nan])).data[0])                     # NaN propagates, as in PyTorch


def test_accuracy_takes_a_model_output_that_requires_grad():
    """A metric is never differentiated: accuracy reads the data of a tensor that is on the tape."""
    logits = tn.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]], requires_grad=True)
    assert tn.training.accuracy(logits * 1.0, np.array([0, 1, 1])) == pytest.approx(2 / 3)
