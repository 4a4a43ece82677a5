"""sin, cos, log1p, expm1, clip/clamp, tn.maximum/tn.minimum, unary +, F.leaky_relu/softplus/elu and their layers.

Each op: forward vs a direct NumPy formula, float32 kept, gradcheck (random upstream gradient) over Hypothesis
shapes with values kept away from kinks, the kink conventions PyTorch uses (tested on purpose), bad input, and
its backward rule called with a Tensor g (the gradient-of-gradient path) agreeing with the array rule.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet import nn
from tinynet.ops import elementwise
from tinynet.testing import arrays, broadcastable_shapes, check_op, random_array, seeds, separated_array, shapes


def backward_on_tensor_g(y, g):
    """Run y's backward rule with an array g and with a Tensor g (recording on); return both results."""
    from_array = y._entry.backward(np.asarray(g))
    with tn.enable_grad():
        from_tensor = y._entry.backward(tn.Tensor(np.asarray(g), requires_grad=True))
    return from_array, from_tensor


def assert_tensor_rule_matches(y, seed=0):
    g = random_array(y.shape, seed)
    from_array, from_tensor = backward_on_tensor_g(y, g)
    assert len(from_array) == len(from_tensor)
    for a, t in zip(from_array, from_tensor):
        if a is None:
            assert t is None
            continue
        assert isinstance(a, np.ndarray)
        assert isinstance(t, tn.Tensor), f"the rule returned {type(t).__name__} for a Tensor g"
        assert t.requires_grad                     # g requires grad, so the recorded gradient does too
        assert t.dtype == a.dtype
        np.testing.assert_allclose(t.data, a, rtol=1e-12, atol=1e-12)


# ---- sin, cos, log1p, expm1 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, reference", [("sin", np.sin), ("cos", np.cos), ("expm1", np.expm1)])
@given(x=arrays())
def test_smooth_elementwise(name, reference, x):
    check_op(lambda t: getattr(t, name)(), reference, x)


@given(x=arrays(positive=True, away_from_zero=0.1))
def test_log1p_on_its_domain(x):
    shifted = x - 0.9                                        # x > -0.8: away from the pole at -1
    check_op(lambda t: t.log1p(), np.log1p, shifted)


def test_log1p_and_expm1_keep_the_digits_of_tiny_x():
    """Two-term Taylor series (exact to 1e-30 here); the naive log(1 + x) and exp(x) - 1 are off by ~1e-4."""
    x = np.array([1e-12, -3e-15])
    tiny = tn.tensor(x)
    np.testing.assert_allclose(tiny.log1p().data, x - x * x / 2, rtol=1e-14)
    np.testing.assert_allclose(tiny.expm1().data, x + x * x / 2, rtol=1e-14)
    assert not np.allclose(np.log(1 + x), x - x * x / 2, rtol=1e-6, atol=0)


def test_log1p_edge_of_domain_as_pytorch():
    with np.errstate(divide="ignore", invalid="ignore"):
        y = tn.tensor(np.array([-1.0, -2.0])).log1p()
    assert y.data[0] == -np.inf and np.isnan(y.data[1])


def test_integer_input_computes_in_float32():
    y = tn.tensor(np.array([0, 1, 2])).sin()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, np.sin([0, 1, 2]), rtol=1e-6)


@pytest.mark.parametrize("op", [elementwise.sin, elementwise.cos, elementwise.log1p, elementwise.expm1])
def test_smooth_elementwise_refuse_non_numbers(op):
    with pytest.raises(TypeError, match=f"{op.__name__}: expected a Tensor or numbers, got str"):
        op("a string")
    with pytest.raises(TypeError, match=f"{op.__name__}: expected a floating-point tensor, got dtype <U1"):
        op(np.array(["a", "b"]))


# ---- clip / clamp ---------------------------------------------------------------------------------------------
@given(shape=shapes(min_dims=1), seed=seeds(), data=st.data())
def test_clip_between_grid_bounds(shape, seed, data):
    """separated_array puts the values on a grid (k - n/2)·0.2 + u with one shift |u| <= 0.05; each bound sits
    halfway between two grid levels, so no value is within 0.05 of a bound (no kink inside the finite-difference
    step). Either bound may be None, and min > max is allowed (then every output is max)."""
    x = separated_array(shape, seed, gap=0.2)
    n = x.size
    level = st.one_of(st.none(), st.integers(-1, n))
    low_k, high_k = data.draw(level), data.draw(level)
    if low_k is None and high_k is None:
        low_k = n // 2
    low = None if low_k is None else (low_k + 0.5 - n / 2) * 0.2
    high = None if high_k is None else (high_k + 0.5 - n / 2) * 0.2
    check_op(lambda t: t.clip(low, high), lambda a: np.clip(a, low, high), x)


def test_clip_gradient_passes_at_the_bounds_as_pytorch():
    x = tn.tensor(np.array([-1.0, -0.5, 0.0, 0.5, 1.0]), requires_grad=True)
    x.clamp(min=-0.5, max=0.5).backward(np.arange(1.0, 6.0))
    np.testing.assert_array_equal(x.grad, [0, 2, 3, 4, 0])


def test_clip_min_above_max_gives_max_and_no_gradient():
    x = tn.tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    y = x.clip(1.0, 0.5)
    np.testing.assert_array_equal(y.data, [0.5, 0.5, 0.5])
    y.backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0, 0, 0])


def test_clip_dtypes_and_names():
    assert tn.Tensor.clamp is tn.Tensor.clip
    x32 = tn.tensor(np.array([-2.0, 0.3, 2.0], dtype=np.float32))
    assert x32.clip(-1, 1.0).dtype == np.float32
    labels = tn.tensor(np.array([-3, 1, 7]))
    clipped = labels.clip(0, 5)
    assert clipped.dtype == np.int64
    np.testing.assert_array_equal(clipped.data, [0, 1, 5])


def test_clip_bad_input():
    x = tn.tensor(np.ones(3))
    with pytest.raises(ValueError, match="clip: at least one of min and max"):
        x.clip()
    with pytest.raises(TypeError, match="clip: min must be a number"):
        x.clip(tn.tensor(np.zeros(3)))
    with pytest.raises(TypeError, match="clip: max must be a number"):
        x.clip(max="1")
    with pytest.raises(TypeError, match="clip: min=0.5 is not a whole number"):
        tn.tensor(np.array([1, 2])).clip(0.5)
    with pytest.raises(TypeError, match="clip: expected a tensor of numbers"):
        tn.Tensor(np.array([True, False])).clip(0)


# ---- maximum / minimum ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("op, reference", [(tn.maximum, np.maximum), (tn.minimum, np.minimum)])
@given(shape_pair=broadcastable_shapes(), seed=seeds())
def test_maximum_minimum_with_broadcasting(op, reference, shape_pair, seed):
    """a and b take their values from one separated set: no two entries are closer than 0.15 (no ties)."""
    a_shape, b_shape = shape_pair
    n_a = int(np.prod(a_shape))
    values = separated_array((n_a + int(np.prod(b_shape)),), seed)
    a, b = values[:n_a].reshape(a_shape), values[n_a:].reshape(b_shape)
    check_op(op, reference, a, b)


@pytest.mark.parametrize("op", [tn.maximum, tn.minimum])
def test_ties_split_the_gradient_in_half_as_pytorch(op):
    a = tn.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = tn.tensor(np.array([1.0, 5.0, 0.0]), requires_grad=True)
    op(a, b).backward(np.array([4.0, 4.0, 4.0]))
    winner_a = [2.0, 0.0, 4.0] if op is tn.maximum else [2.0, 4.0, 0.0]
    np.testing.assert_array_equal(a.grad, winner_a)
    np.testing.assert_array_equal(b.grad, 4.0 - np.array(winner_a))


def test_maximum_with_a_number_and_broadcast_gradient():
    x = tn.tensor(np.array([[-1.0, 2.0], [3.0, -4.0]], dtype=np.float32), requires_grad=True)
    y = tn.maximum(x, 0.0)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.data, [[0, 2], [3, 0]])
    row = tn.tensor(np.array([0.0, 1.0]), requires_grad=True)
    tn.minimum(row, tn.tensor(np.array([[1.0, 0.5], [-1.0, 3.0]]))).backward(np.ones((2, 2)))
    np.testing.assert_array_equal(row.grad, [1.0, 1.0])         # summed over the broadcast axis


def test_maximum_bad_input():
    with pytest.raises(ValueError, match=r"maximum: shapes \(2,\) and \(3,\) cannot be broadcast"):
        tn.maximum(tn.tensor(np.ones(2)), tn.tensor(np.ones(3)))
    with pytest.raises(TypeError, match="minimum: expected Tensors"):
        tn.minimum(1.0, 2.0)


# ---- unary + ---------------------------------------------------------------------------------------------------
def test_unary_plus_is_the_tensor_itself():
    x = tn.tensor(np.array([1.0, -2.0]), requires_grad=True)
    assert +x is x
    (+x * 3.0).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    with pytest.raises(TypeError, match="bool"):
        +tn.Tensor(np.array([True]))


# ---- leaky_relu, softplus, elu ---------------------------------------------------------------------------------
@given(x=arrays(away_from_zero=1e-3), slope=st.sampled_from([0.01, 0.2, -0.5, 2.0]))
def test_leaky_relu(x, slope):
    check_op(lambda t: F.leaky_relu(t, slope), lambda a: np.where(a > 0, a, slope * a), x)


@given(x=arrays(), beta=st.sampled_from([0.5, 1.0, 2.0, -1.0]), threshold=st.sampled_from([20.0, 1.5]))
def test_softplus(x, beta, threshold):
    z = beta * x
    x = np.where(np.abs(z - threshold) < 0.01, x + 0.05 / beta, x)    # keep βx off the threshold's small step

    def reference(a):
        return np.where(beta * a > threshold, a, np.logaddexp(0, beta * a) / beta)

    check_op(lambda t: F.softplus(t, beta, threshold), reference, x)


def test_softplus_is_stable_and_linear_above_the_threshold():
    x = tn.tensor(np.array([-1000.0, 1000.0, 0.5, 3.0]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = F.softplus(x, threshold=2.0)
        y.backward(np.ones(4))
    np.testing.assert_allclose(y.data, [0.0, 1000.0, np.log1p(np.exp(0.5)), 3.0], atol=1e-300)
    np.testing.assert_allclose(x.grad, [0.0, 1.0, 1 / (1 + np.exp(-0.5)), 1.0])


@given(x=arrays(away_from_zero=1e-3), alpha=st.sampled_from([1.0, 0.5, 2.0]))
def test_elu(x, alpha):
    check_op(lambda t: F.elu(t, alpha), lambda a: np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0))), x)


def test_kink_conventions_match_pytorch():
    """At x = 0: leaky_relu' = negative_slope, elu' = alpha (both take the x <= 0 branch, as PyTorch)."""
    x = tn.tensor(np.zeros(2), requires_grad=True)
    F.leaky_relu(x, 0.1).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [0.1, 0.1])
    x.grad = None
    F.elu(x, 0.7).backward(np.ones(2))
    np.testing.assert_allclose(x.grad, [0.7, 0.7])


def test_elu_large_positive_input_is_finite_everywhere():
    x = tn.tensor(np.array([1000.0, -1000.0]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        y = F.elu(x)
        y.backward(np.ones(2))
        assert_tensor_rule_matches(F.elu(x))
    np.testing.assert_array_equal(y.data, [1000.0, -1.0])
    np.testing.assert_array_equal(x.grad, [1.0, 0.0])


def test_activation_layers_match_the_functions():
    x = tn.tensor(random_array((2, 3), 0))
    for layer, function in [(nn.LeakyReLU(0.2), lambda t: F.leaky_relu(t, 0.2)),
                            (nn.Softplus(beta=2.0, threshold=10.0), lambda t: F.softplus(t, 2.0, 10.0)),
                            (nn.ELU(alpha=0.5), lambda t: F.elu(t, 0.5))]:
        np.testing.assert_array_equal(layer(x).data, function(x).data)
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"


def test_activations_bad_input():
    ints = tn.tensor(np.array([1, 2]))
    for function in (F.leaky_relu, F.softplus, F.elu):
        with pytest.raises(TypeError, match="needs floating-point input"):
            function(ints)
    x = tn.tensor(np.ones(2))
    with pytest.raises(ValueError, match="softplus: beta must be non-zero"):
        F.softplus(x, beta=0)
    with pytest.raises(TypeError, match="leaky_relu: negative_slope must be a number"):
        F.leaky_relu(x, "0.1")
    with pytest.raises(TypeError, match="elu: alpha must be a number"):
        F.elu(x, None)


# ---- every rule also runs on a Tensor g (the path that gradients of gradients take) ---------------------------
def _pair(shape_a, shape_b, seed):
    values = separated_array((int(np.prod(shape_a)) + int(np.prod(shape_b)),), seed)
    n_a = int(np.prod(shape_a))
    return tn.tensor(values[:n_a].reshape(shape_a), requires_grad=True), \
        tn.tensor(values[n_a:].reshape(shape_b), requires_grad=True)


@pytest.mark.parametrize("name, op", [
    ("sin", lambda x: x.sin()), ("cos", lambda x: x.cos()), ("log1p", lambda x: (x * x).log1p()),
    ("expm1", lambda x: x.expm1()), ("clip", lambda x: x.clip(-0.5, 0.5)), ("clip_low", lambda x: x.clamp(min=0.1)),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.3)), ("softplus", lambda x: F.softplus(x, 2.0, 2.0)),
    ("elu", lambda x: F.elu(x, 0.5)),
])
def test_unary_rules_return_tensors_for_a_tensor_g(name, op):
    x = tn.tensor(random_array((3, 4), 1, scale=2.0), requires_grad=True)
    assert_tensor_rule_matches(op(x))


@pytest.mark.parametrize("op", [tn.maximum, tn.minimum])
def test_binary_rules_return_tensors_for_a_tensor_g(op):
    a, b = _pair((3, 1), (4,), 2)
    assert_tensor_rule_matches(op(a, b))


def test_tensor_g_of_a_smooth_rule_records_its_dependence_on_x():
    """d/dx [g cos x] = -g sin x: differentiating the recorded gradient of sin gives it."""
    x = tn.tensor(random_array((5,), 3), requires_grad=True)
    g = random_array((5,), 4)
    with tn.enable_grad():
        (dx,) = x.sin()._entry.backward(tn.Tensor(g))
    dx.backward(np.ones(5))
    np.testing.assert_allclose(x.grad, -g * np.sin(x.data), rtol=1e-12)


# ---- second derivatives: tn.gradgradcheck (finite differences of the recorded first derivative) --------------
UNARY = [
    ("sin", lambda t: t.sin()), ("cos", lambda t: t.cos()), ("log1p", lambda t: (t * t).log1p()),
    ("expm1", lambda t: t.expm1()), ("clip", lambda t: t.clip(-0.5, 0.5) * t),
    ("clamp_max", lambda t: t.clamp(max=0.3) * t.sin()),
    ("leaky_relu", lambda t: F.leaky_relu(t, 0.2) * t), ("softplus", lambda t: F.softplus(t, 2.0, 2.0)),
    ("softplus_default", lambda t: F.softplus(t)), ("elu", lambda t: F.elu(t, 0.5)),
]


@pytest.mark.parametrize("name, op", UNARY, ids=[name for name, _ in UNARY])
@given(x=arrays(shapes(max_dims=2, max_side=3), away_from_zero=1e-2))
def test_gradgradcheck_unary(name, op, x):
    x = np.where(np.abs(np.abs(x) - 0.5) < 1e-2, x * 1.1, x)       # clip's bounds: no kink within the step
    x = np.where(np.abs(x - 0.3) < 1e-2, x + 0.05, x)
    x = np.where(np.abs(x - 1.0) < 1e-2, x + 0.05, x)               # softplus(β=2, threshold=2) switches at 1
    tn.gradgradcheck(op, [x])


@pytest.mark.parametrize("op", [tn.maximum, tn.minimum])
@given(shape_pair=broadcastable_shapes(max_dims=2, max_side=3), seed=seeds())
def test_gradgradcheck_maximum_minimum(op, shape_pair, seed):
    a, b = _pair(*shape_pair, seed)
    tn.gradgradcheck(lambda s, t: op(s, t) * s, [a.data, b.data])


def test_an_in_place_change_of_an_input_is_caught_at_backward():
    """The version counter covers the new ops: their rules read x, so changing x after the op is an error."""
    x = tn.tensor(random_array((3,), 13), requires_grad=True)
    h = x * 1.0
    y = h.expm1()
    with tn.no_grad():
        h += 1.0
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward(np.ones(3))
