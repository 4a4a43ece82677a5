"""F.batch_norm and nn.BatchNorm1d / nn.BatchNorm2d: the fused op against its textbook reference (values and
gradients), gradchecks in both modes, the running statistics, buffers in the state dict, PyTorch agreement."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet import nn
from tinynet.functional import reference as R
from tinynet.testing import check_op, random_array, scales, seeds


def numpy_batch_norm(x, mean, var, weight=None, bias=None, eps=1e-5):
    """The formula with NumPy, per channel (axis 1)."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def batch_stats(x):
    axes = (0,) + tuple(range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes)


@st.composite
def batch_norm_case(draw):
    """x (N, C, *spatial) with more than one value per channel, its seed, and the affine choice."""
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    n = draw(st.integers(2, 4)) if not spatial else draw(st.integers(1, 3))
    c = draw(st.integers(1, 3))
    seed, scale = draw(seeds()), draw(scales())
    x = random_array((n, c) + spatial, seed, scale) + draw(st.sampled_from([0.0, 5.0]))
    if x[:, 0].size == 1:                                   # one value per channel: no batch variance
        x = np.concatenate([x, x + 1.0], axis=0)
    return x, seed


def affine_args(c, seed, affine):
    w = random_array((c,), seed + 1) if affine in ("weight", "both") else None
    b = random_array((c,), seed + 2) if affine == "both" else None
    return w, b


@given(case=batch_norm_case(), affine=st.sampled_from(["none", "weight", "both"]), training=st.booleans())
def test_matches_numpy_formula_and_gradchecks(case, affine, training):
    x, seed = case
    c = x.shape[1]
    w, b = affine_args(c, seed, affine)
    rm, rv = random_array((c,), seed + 3), random_array((c,), seed + 4, positive=True, away_from_zero=0.5)
    params = [p for p in (w, b) if p is not None]

    def op(t, *wb):
        wb = list(wb)
        return F.batch_norm(t, rm.copy(), rv.copy(), wb.pop(0) if w is not None else None,
                            wb.pop(0) if b is not None else None, training=training, eps=1e-3)

    def expected(a, *wb):
        wb = list(wb)
        mean, var = batch_stats(a) if training else (rm, rv)
        return numpy_batch_norm(a, mean, var, wb.pop(0) if w is not None else None,
                                wb.pop(0) if b is not None else None, eps=1e-3)

    check_op(op, expected, x, *params)


@given(case=batch_norm_case(), affine=st.sampled_from(["none", "weight", "both"]), training=st.booleans())
def test_fused_equals_reference_values_and_gradients(case, affine, training):
    """F.batch_norm and R.batch_norm: same output, same gradients for a random upstream gradient (float64)."""
    x, seed = case
    c = x.shape[1]
    w, b = affine_args(c, seed, affine)
    rm, rv = random_array((c,), seed + 3), random_array((c,), seed + 4, positive=True, away_from_zero=0.5)
    g = random_array(x.shape, seed + 5)
    results = []
    for fn in (F.batch_norm, R.batch_norm):
        leaves = [tn.Tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
        y = fn(leaves[0], rm.copy(), rv.copy(), leaves[1], leaves[2], training=training, eps=1e-3)
        y.backward(g)
        results.append([y.data] + [t.grad for t in leaves if t is not None])
    for fused, textbook in zip(*results):
        np.testing.assert_allclose(fused, textbook, rtol=1e-9, atol=1e-10)


@given(case=batch_norm_case(), momentum=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_running_statistics_update_with_the_unbiased_variance(case, momentum):
    x, seed = case
    c = x.shape[1]
    rm, rv = random_array((c,), seed + 3), random_array((c,), seed + 4, positive=True)
    rm0, rv0 = rm.copy(), rv.copy()
    F.batch_norm(tn.Tensor(x), rm, rv, training=True, momentum=momentum)
    axes = (0,) + tuple(range(2, x.ndim))
    np.testing.assert_allclose(rm, (1 - momentum) * rm0 + momentum * x.mean(axis=axes), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rv, (1 - momentum) * rv0 + momentum * x.var(axis=axes, ddof=1), rtol=1e-12,
                               atol=1e-12)


@given(case=batch_norm_case())
def test_training_output_has_per_channel_mean_zero_and_gradient_orthogonal_to_shifts(case):
    x, seed = case
    axes = (0,) + tuple(range(2, x.ndim))
    t = tn.Tensor(x, requires_grad=True)
    y = F.batch_norm(t, None, None, training=True, eps=0.0)
    np.testing.assert_allclose(y.data.mean(axis=axes), 0.0, atol=1e-9)
    y.backward(random_array(x.shape, seed + 7))
    # shifting one channel's values by a constant does not change y, so the gradient sums to 0 per channel
    np.testing.assert_allclose(t.grad.sum(axis=axes), 0.0, atol=1e-8 * (1 + np.abs(t.grad).max()) * x.size)


def test_float32_stays_float32_and_inputs_are_not_modified():
    x = tn.Tensor(random_array((4, 3, 2, 2), 0, dtype=np.float32), requires_grad=True)
    w = tn.Tensor(random_array((3,), 1, dtype=np.float32), requires_grad=True)
    b = tn.Tensor(random_array((3,), 2, dtype=np.float32), requires_grad=True)
    before = x.data.copy()
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y = F.batch_norm(x, rm, rv, w, b, training=True)
    y.backward(random_array(y.shape, 3, dtype=np.float32))
    assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == rm.dtype == rv.dtype == np.float32
    np.testing.assert_array_equal(x.data, before)


def test_bad_arguments():
    x = tn.Tensor(np.zeros((4, 3)))
    ones = np.ones(3)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(C,\) = \(3,\).*got \(2,\)"):
        F.batch_norm(x, np.zeros(2), ones)
    with pytest.raises(ValueError, match="weight must have shape"):
        F.batch_norm(x, ones, ones, weight=np.ones(4))
    with pytest.raises(ValueError, match="training=False normalizes with running_mean"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(tn.Tensor(np.zeros((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match="at least 2 axes"):
        F.batch_norm(tn.Tensor(np.zeros(3)), ones, ones)
    with pytest.raises(ValueError, match="momentum"):
        F.batch_norm(x, ones, ones, training=True, momentum=2.0)
    with pytest.raises(TypeError, match="weight has dtype float32 but the input has dtype float64"):
        F.batch_norm(x, ones, ones, weight=np.ones(3, np.float32))
    with pytest.raises(TypeError, match="floating-point input"):
        F.batch_norm(tn.Tensor(np.zeros((2, 3), dtype=np.int64)), ones, ones)


# ---- nn.BatchNorm1d / nn.BatchNorm2d ------------------------------------------------------------------------
def test_module_state_dict_keys_and_init_as_pytorch():
    bn = nn.BatchNorm2d(3)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [name for name, _ in bn.named_parameters()] == ["weight", "bias"]       # buffers are not trained
    assert np.all(bn.running_mean.data == 0) and np.all(bn.running_var.data == 1)
    assert bn.num_batches_tracked.data.dtype == np.int64 and bn.num_batches_tracked.data == 0
    assert list(nn.BatchNorm1d(3, affine=False).state_dict()) == ["running_mean", "running_var",
                                                                   "num_batches_tracked"]
    assert list(nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]
    assert repr(bn) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"


def test_train_uses_batch_statistics_eval_uses_running_ones():
    bn = nn.BatchNorm1d(3).double()
    x = random_array((6, 3, 2), 0) * 2 + 1
    y_train = bn(tn.Tensor(x)).data
    np.testing.assert_allclose(y_train, numpy_batch_norm(x, *batch_stats(x)), rtol=1e-10)
    assert bn.num_batches_tracked.data == 1
    bn.eval()
    y_eval = bn(tn.Tensor(x)).data
    np.testing.assert_allclose(y_eval, numpy_batch_norm(x, bn.running_mean.data, bn.running_var.data), rtol=1e-10)
    assert bn.num_batches_tracked.data == 1                                        # eval changes nothing


def test_momentum_none_is_the_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None).double()
    batches = [random_array((5, 2), s) + s for s in range(4)]
    for xb in batches:
        bn(tn.Tensor(xb))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([xb.mean(0) for xb in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, np.mean([xb.var(0, ddof=1) for xb in batches], axis=0),
                               rtol=1e-12)


def test_without_running_stats_batch_statistics_are_used_in_eval_too():
    bn = nn.BatchNorm2d(2, track_running_stats=False).double().eval()
    x = random_array((3, 2, 2, 2), 0)
    np.testing.assert_allclose(bn(tn.Tensor(x)).data, numpy_batch_norm(x, *batch_stats(x)), rtol=1e-10)


def test_buffers_are_saved_and_loaded(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    for s in range(3):
        model(tn.Tensor(random_array((8, 3), s, dtype=np.float32)))
    path = tn.save(model.state_dict(), tmp_path / "bn.npz")
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    fresh.load_state_dict(tn.load(path))
    for key in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        np.testing.assert_array_equal(fresh.state_dict()[key], model.state_dict()[key])
    assert fresh[1].num_batches_tracked.data == 3 and fresh[1].num_batches_tracked.dtype == np.int64
    x = tn.Tensor(random_array((2, 3), 9, dtype=np.float32))
    np.testing.assert_array_equal(fresh.eval()(x).data, model.eval()(x).data)


def test_module_errors_name_the_channel_count_and_layout():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): the input has 4 channels"):
        nn.BatchNorm2d(3)(tn.Tensor(np.zeros((2, 4, 2, 2), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2-D \(N, C\) or 3-D \(N, C, L\) input"):
        nn.BatchNorm1d(3)(tn.Tensor(np.zeros((2, 3, 2, 2), np.float32)))
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        nn.BatchNorm1d(0)
    with pytest.raises(TypeError, match="the input has dtype float64 but the layer's parameters are float32"):
        nn.BatchNorm1d(3)(tn.Tensor(np.zeros((2, 3))))


def test_register_buffer_rules():
    m = nn.Module()
    m.register_buffer("count", tn.Tensor(np.zeros(2)))
    m.register_buffer("scratch", tn.Tensor(np.ones(1)), persistent=False)
    assert list(m.state_dict()) == ["count"] and [n for n, _ in m.named_buffers()] == ["count", "scratch"]
    m.count = tn.Tensor(np.ones(2))                   # assigning a Tensor replaces the buffer
    assert m.state_dict()["count"][0] == 1
    with pytest.raises(TypeError, match="is a buffer"):
        m.count = 3.0
    with pytest.raises(ValueError, match="requires grad"):
        m.register_buffer("w", tn.Tensor(np.ones(1), requires_grad=True))
    assert m.double().count.dtype == np.float64


def test_module_matches_pytorch_over_train_and_eval_steps():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm2d(3, momentum=0.3), torch.nn.BatchNorm2d(3, momentum=0.3)
    ours.weight.data[...] = random_array((3,), 1, dtype=np.float32)
    ours.bias.data[...] = random_array((3,), 2, dtype=np.float32)
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    for s in range(3):
        x = random_array((4, 3, 3, 2), s, dtype=np.float32) * 2 + 1
        g = random_array(x.shape, s + 10, dtype=np.float32)
        xt = tn.Tensor(x.copy(), requires_grad=True)
        ours(xt).backward(g)
        x_torch = torch.tensor(x, requires_grad=True)
        theirs(x_torch).backward(torch.from_numpy(g))
        np.testing.assert_allclose(xt.grad, x_torch.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
        ours.zero_grad()
        theirs.zero_grad()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    ours.eval(), theirs.eval()
    x = random_array((2, 3, 3, 2), 5, dtype=np.float32)
    np.testing.assert_allclose(ours(tn.Tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-5)


def test_register_buffer_refuses_a_name_in_use():
    m = nn.Linear(2, 2)
    m.note = "text"
    for name in ("weight", "note"):
        with pytest.raises(KeyError, match="already an attribute"):
            m.register_buffer(name, tn.Tensor(np.zeros(1)))


def test_an_empty_batch_gives_an_empty_result_and_leaves_the_running_statistics_as_pytorch():
    x = tn.Tensor(np.zeros((0, 3, 2)), requires_grad=True)
    w = tn.Tensor(random_array((3,), 0), requires_grad=True)
    rm, rv = random_array((3,), 1), random_array((3,), 2, positive=True)
    before = rm.copy(), rv.copy()
    y = F.batch_norm(x, rm, rv, w, training=True)
    y.backward(np.zeros(y.shape))
    assert y.shape == (0, 3, 2) and x.grad.shape == (0, 3, 2)
    np.testing.assert_array_equal(w.grad, 0.0)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    bn = nn.BatchNorm1d(3)
    assert bn(tn.Tensor(np.zeros((0, 3), np.float32))).shape == (0, 3) and bn.num_batches_tracked.item() == 1


def test_running_statistics_that_cannot_be_updated_in_place_are_refused_when_training():
    x = tn.tensor(np.random.default_rng(0).standard_normal((4, 2)))
    with pytest.raises(TypeError, match="running_mean is updated in place"):
        F.batch_norm(x, [0.0, 0.0], [1.0, 1.0], training=True)
    F.batch_norm(x, [0.0, 0.0], [1.0, 1.0], training=False)       # read only: a list is fine
