"""F.dropout and nn.Dropout: the mask formula, gradchecks, the keep rate, train/eval modes and their use by
fit / evaluate / predict."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet import nn
from tinynet.testing import arrays, check_op, random_array, seeds, shapes


def expected_dropout(x, p, seed):
    """The documented draw: keep where U(0, 1) >= p, from np.random.default_rng(seed), scale 1/(1 - p)."""
    keep = np.random.default_rng(seed).random(x.shape) >= p
    return np.where(keep, x / (1 - p), 0.0) if p < 1 else np.zeros_like(x)


@given(x=arrays(shapes(min_dims=1)), p=st.sampled_from([0.1, 0.5, 0.9, 1.0]), seed=seeds())
def test_matches_the_mask_formula_and_gradchecks(x, p, seed):
    def op(t):
        tn.manual_seed(seed)                          # the same mask on every call of the gradcheck
        return F.dropout(t, p)

    check_op(op, lambda a: expected_dropout(a, p, seed), x)


@given(p=st.sampled_from([0.2, 0.5, 0.8]), seed=seeds())
def test_keeps_a_fraction_one_minus_p_and_preserves_the_mean(p, seed):
    tn.manual_seed(seed)
    n = 20_000
    y = F.dropout(tn.Tensor(np.ones(n)), p).data
    kept = np.mean(y != 0)
    sigma = np.sqrt(p * (1 - p) / n)                  # binomial standard deviation of the kept fraction
    assert abs(kept - (1 - p)) < 5 * sigma
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p))


def test_identity_in_eval_or_with_p_zero_and_zeros_with_p_one():
    x = tn.Tensor(random_array((3, 4), 0), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)
    y.backward(random_array((3, 4), 1))
    assert np.all(y.data == 0) and np.all(x.grad == 0)


def test_float32_stays_float32_and_the_gradient_uses_the_forward_mask():
    x = tn.Tensor(random_array((50,), 0, dtype=np.float32), requires_grad=True)
    y = F.dropout(x, 0.3)
    y.backward(np.ones(50, dtype=np.float32))
    assert y.dtype == x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad != 0, y.data != 0)
    np.testing.assert_allclose(x.grad[x.grad != 0], 1 / 0.7, rtol=1e-6)


def test_bad_arguments():
    x = tn.Tensor(np.ones(3))
    for p in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="probability p has to be between 0 and 1"):
            F.dropout(x, p)
    with pytest.raises(ValueError, match="Dropout: probability p"):
        nn.Dropout(2)
    with pytest.raises(ValueError, match="inplace=True is not supported"):
        F.dropout(x, 0.5, inplace=True)
    with pytest.raises(TypeError, match="floating-point"):
        F.dropout(tn.Tensor(np.ones(3, dtype=np.int64)), 0.5)


def test_module_follows_train_and_eval():
    drop = nn.Dropout(0.5)
    assert repr(drop) == "Dropout(p=0.5)"
    model = nn.Sequential(nn.Linear(4, 4), drop)
    x = tn.Tensor(np.ones((8, 4), np.float32))
    model.eval()
    assert not drop.training
    np.testing.assert_array_equal(model(x).data, model(x).data)        # deterministic
    model.train()
    assert drop.training
    assert np.any(model(x).data == 0)


def test_fit_trains_in_train_mode_and_evaluate_predict_run_in_eval_mode_restoring_it():
    tn.manual_seed(0)
    seen = []
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    model[1].register_forward_hook(lambda m, args, out: seen.append(m.training))
    x = random_array((8, 3), 0, dtype=np.float32)
    y = np.arange(8) % 2
    model.eval()
    tn.fit(model, F.cross_entropy, tn.optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1, batch_size=4,
           verbose=0)
    assert seen == [True, True] and model.training                      # fit leaves the model training
    seen.clear()
    first = tn.predict(model, x)
    np.testing.assert_array_equal(first, tn.predict(model, x))          # no dropout: the same outputs
    tn.evaluate(model, F.cross_entropy, x, y)
    assert seen == [False, False, False] and model.training             # training mode restored
