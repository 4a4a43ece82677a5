"""min/amin/amax, var, std, logsumexp, prod, cumsum and concatenate(axis=None).

Each op: forward vs NumPy/SciPy, float32 kept, gradcheck (random upstream gradient) over Hypothesis shapes and
axes, the special cases PyTorch defines (ties, zeros in prod, -inf rows in logsumexp, a constant slice in std),
bad input, and its backward rule called with a Tensor g agreeing with the array rule.
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st
from scipy.special import logsumexp as scipy_logsumexp

import tinynet as tn
from tinynet.testing import arrays, check_op, random_array, seeds, separated_array, shapes


@st.composite
def shape_and_axis(draw, min_dims=0):
    """A shape and an axis argument for it: None, one int (possibly negative) or a tuple of distinct ints."""
    shape = draw(shapes(min_dims=min_dims))
    ndim = len(shape)
    if ndim == 0:
        return shape, draw(st.sampled_from([None, 0, -1, ()]))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return shape, tuple(axes)


def numpy_axis(axis, shape=None):
    """The same axis for NumPy/SciPy (which refuse axis 0 of a 0-d array, where PyTorch and tinynet accept it)."""
    if shape == ():
        return None
    return tuple(axis) if isinstance(axis, (tuple, list)) else axis


def backward_on_tensor_g(y, seed=0):
    """y's backward rule run with an array g and with a Tensor g (recording on): the same numbers, and the
    Tensor version is a Tensor on the tape."""
    g = random_array(y.shape, seed)
    from_array = y._entry.backward(g)
    with tn.enable_grad():
        from_tensor = y._entry.backward(tn.Tensor(g, requires_grad=True))
    assert len(from_array) == len(from_tensor) == len(y._entry.inputs)
    for a, t in zip(from_array, from_tensor):
        assert isinstance(a, np.ndarray)
        assert isinstance(t, tn.Tensor), f"the rule returned {type(t).__name__} for a Tensor g"
        assert t.requires_grad
        assert t.dtype == a.dtype
        np.testing.assert_allclose(t.data, a, rtol=1e-12, atol=1e-12)
    return from_tensor


# ---- min / amin / amax -----------------------------------------------------------------------------------------
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=seeds())
def test_min(case, keepdims, seed):
    shape, axis = case
    x = separated_array(shape, seed)                              # no ties: a tie is a kink
    check_op(lambda t: t.min(axis, keepdims), lambda a: np.min(a, axis=numpy_axis(axis, shape), keepdims=keepdims), x)


@given(case=shape_and_axis(), seed=seeds())
def test_amin_and_amax(case, seed):
    shape, axis = case
    x = separated_array(shape, seed)
    check_op(lambda t: t.amin(axis), lambda a: np.amin(a, axis=numpy_axis(axis, shape)), x)
    check_op(lambda t: t.amax(axis, keepdims=True),
             lambda a: np.amax(a, axis=numpy_axis(axis, shape), keepdims=True), x)


def test_min_ties_split_the_gradient_like_max():
    x = tn.tensor(np.array([[1.0, 1.0, 3.0], [2.0, 0.0, 0.0]]), requires_grad=True)
    x.min(axis=1).backward(np.array([4.0, 6.0]))
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0, 0.0], [0.0, 3.0, 3.0]])
    x.grad = None
    x.max(axis=1).backward(np.array([4.0, 6.0]))                 # the mirror image, for comparison
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0, 4.0], [6.0, 0.0, 0.0]])


def test_min_integer_tensor_and_bad_input():
    labels = tn.tensor(np.array([[3, 1], [0, 7]]))
    assert labels.min().item() == 0 and labels.min(axis=0).dtype == np.int64
    with pytest.raises(ValueError, match="min: cannot reduce over an empty axis"):
        tn.tensor(np.ones((2, 0))).min(axis=1)
    with pytest.raises(ValueError, match="min: axis 2 is out of range"):
        tn.tensor(np.ones((2, 3))).min(axis=2)
    with pytest.raises(TypeError, match="min: axis must be None, an int or a tuple of ints"):
        tn.tensor(np.ones(3)).min(axis=1.0)


# ---- var / std -----------------------------------------------------------------------------------------------
@given(case=shape_and_axis(), keepdims=st.booleans(), correction=st.sampled_from([0, 1, 2, 0.5]),
       x_seed=seeds())
def test_var_and_std(case, keepdims, correction, x_seed):
    shape, axis = case
    x = random_array(shape, x_seed)
    n = x.size if axis is None else int(np.prod([shape[a] for a in np.atleast_1d(axis)]) if shape else 1)
    assume(n - correction > 0)
    for op, reference in [("var", np.var), ("std", np.std)]:
        check_op(lambda t: getattr(t, op)(axis, correction=correction, keepdims=keepdims),
                 lambda a: reference(a, axis=numpy_axis(axis, shape), ddof=correction, keepdims=keepdims), x)


def test_var_default_is_the_unbiased_sample_variance_as_pytorch():
    x = tn.tensor(np.array([1.0, 2.0, 4.0]))
    assert np.isclose(x.var().item(), np.var([1, 2, 4], ddof=1))
    assert np.isclose(x.std(correction=0).item(), np.std([1, 2, 4]))


def test_std_of_a_constant_slice_has_zero_gradient_as_pytorch():
    x = tn.tensor(np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]), requires_grad=True)
    with np.errstate(all="raise"):
        y = x.std(axis=1)
        y.backward(np.array([1.0, 1.0]))
        backward_on_tensor_g(x.std(axis=1))
    assert y.data[0] == 0.0
    np.testing.assert_array_equal(x.grad[0], [0.0, 0.0, 0.0])
    assert np.all(np.isfinite(x.grad))


def test_var_with_no_degrees_of_freedom_is_nan_or_inf_as_pytorch():
    one = tn.tensor(np.array([3.0]))
    assert np.isnan(one.var().item())                           # 0 / 0
    assert np.isinf(tn.tensor(np.array([1.0, 2.0])).var(correction=2).item())


def test_var_std_bad_input():
    x = tn.tensor(np.ones((2, 3)))
    with pytest.raises(TypeError, match="var: correction must be a number"):
        x.var(correction=True)
    with pytest.raises(TypeError, match="std: needs a floating-point tensor"):
        tn.tensor(np.array([1, 2])).std()
    with pytest.raises(ValueError, match="var: cannot take the var over an empty axis"):
        tn.tensor(np.ones((2, 0))).var(axis=1)
    with pytest.raises(TypeError):
        x.var(0, True)                                        # keepdims and correction are keyword-only


# ---- logsumexp -------------------------------------------------------------------------------------------------
@given(case=shape_and_axis(), keepdims=st.booleans(), x=st.data())
def test_logsumexp(case, keepdims, x):
    shape, axis = case
    values = x.draw(arrays(shape))

    def reference(a):
        result = scipy_logsumexp(a, axis=numpy_axis(axis, shape), keepdims=keepdims)
        return result.reshape(()) if shape == () else result     # SciPy gives (1,) for a 0-d input with keepdims

    check_op(lambda t: t.logsumexp(axis, keepdims), reference, values)


def test_logsumexp_is_stable_for_large_inputs():
    x = tn.tensor(np.array([[1000.0, 1000.0], [-1000.0, -1001.0]]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        y = x.logsumexp(axis=1)
        y.backward(np.ones(2))
    np.testing.assert_allclose(y.data, [1000 + np.log(2), -1000 + np.log1p(np.exp(-1))])
    np.testing.assert_allclose(x.grad.sum(axis=1), [1.0, 1.0])


def test_logsumexp_minus_infinity_rows():
    """An all -inf slice gives -inf (as PyTorch) and gradient 0; a single -inf entry gets gradient 0."""
    x = tn.tensor(np.array([[-np.inf, -np.inf], [-np.inf, 0.0]]), requires_grad=True)
    with np.errstate(invalid="raise"):
        y = x.logsumexp(axis=1)
        y.backward(np.array([1.0, 1.0]))
        backward_on_tensor_g(x.logsumexp(axis=1))
    np.testing.assert_array_equal(y.data, [-np.inf, 0.0])
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0], [0.0, 1.0]])
    assert tn.tensor(np.array([1.0, np.inf])).logsumexp().item() == np.inf


def test_logsumexp_bad_input():
    with pytest.raises(TypeError, match="logsumexp: needs a floating-point tensor"):
        tn.tensor(np.array([1, 2])).logsumexp()
    with pytest.raises(ValueError, match="logsumexp: axis 1 is out of range"):
        tn.tensor(np.ones(3)).logsumexp(1)


# ---- prod ------------------------------------------------------------------------------------------------------
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=seeds())
def test_prod(case, keepdims, seed):
    shape, axis = case
    x = random_array(shape, seed, away_from_zero=0.3)
    check_op(lambda t: t.prod(axis, keepdims), lambda a: np.prod(a, axis=numpy_axis(axis, shape), keepdims=keepdims), x)


def test_prod_with_zeros_is_exact_and_never_divides():
    """One zero: its gradient is the product of the others, every other gradient 0. Two zeros: all 0."""
    x = tn.tensor(np.array([[2.0, 0.0, 3.0, 5.0], [0.0, 4.0, 0.0, 7.0]]), requires_grad=True)
    with np.errstate(all="raise"):                              # a division by zero would raise here
        y = x.prod(axis=1)
        y.backward(np.array([1.0, 1.0]))
        backward_on_tensor_g(x.prod(axis=1))
    np.testing.assert_array_equal(y.data, [0.0, 0.0])
    np.testing.assert_array_equal(x.grad, [[0.0, 30.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])


@given(seed=seeds(), zero_at=st.integers(0, 5))
def test_prod_gradcheck_through_a_zero(seed, zero_at):
    """prod is a polynomial, so finite differences are valid at an exact zero too."""
    x = random_array((2, 3), seed, away_from_zero=0.3)
    x.flat[zero_at] = 0.0
    check_op(lambda t: t.prod(axis=(0, 1)), lambda a: np.prod(a), x)
    check_op(lambda t: t.prod(axis=0), lambda a: np.prod(a, axis=0), x)


def test_prod_bad_input():
    with pytest.raises(ValueError, match="prod: axis 2 is out of range"):
        tn.tensor(np.ones((2, 3))).prod(axis=2)
    with pytest.raises(ValueError, match=r"prod: repeated axis in \(0, 0\)"):
        tn.tensor(np.ones((2, 3))).prod(axis=(0, 0))
    with pytest.raises(TypeError, match="prod: needs a numeric tensor, got dtype <U1"):
        tn.ops.reductions.prod(np.array(["a"]))
    with pytest.raises(TypeError, match="cumsum: expected a Tensor or numbers, got str"):
        tn.ops.reductions.cumsum("abc", 0)


def test_prod_over_an_empty_axis_is_one():
    x = tn.tensor(np.ones((2, 0)), requires_grad=True)
    y = x.prod(axis=1)
    np.testing.assert_array_equal(y.data, [1.0, 1.0])
    y.backward(np.ones(2))
    assert x.grad.shape == (2, 0)


# ---- cumsum ----------------------------------------------------------------------------------------------------
@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds())
def test_cumsum(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_op(lambda t: t.cumsum(axis), lambda a: np.cumsum(a, axis=axis), random_array(shape, seed))


def test_cumsum_backward_is_the_reverse_running_sum():
    x = tn.tensor(np.zeros(4), requires_grad=True)
    x.cumsum(0).backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad, [10.0, 9.0, 7.0, 4.0])


def test_cumsum_zero_d_and_integers_and_bad_input():
    scalar = tn.tensor(np.array(2.5), requires_grad=True)
    y = scalar.cumsum(0)
    assert y.shape == () and y.item() == 2.5
    y.backward()
    assert scalar.grad == 1.0
    counts = tn.Tensor(np.array([True, False, True])).cumsum(0)
    assert counts.dtype == np.int64 and list(counts.data) == [1, 1, 2]
    with pytest.raises(ValueError, match="cumsum: axis 2 is out of range"):
        tn.tensor(np.ones((2, 2))).cumsum(2)
    with pytest.raises(TypeError, match="cumsum: axis must be an int"):
        tn.tensor(np.ones(2)).cumsum(None)


# ---- concatenate(axis=None) ------------------------------------------------------------------------------------
@given(first=shapes(), second=shapes(), seed=seeds())
def test_concatenate_axis_none_flattens_as_numpy(first, second, seed):
    a, b = random_array(first, seed), random_array(second, seed + 1)
    check_op(lambda s, t: tn.concatenate([s, t], axis=None), lambda s, t: np.concatenate([s, t], axis=None), a, b)


# ---- every rule also runs on a Tensor g (the path that gradients of gradients take) ---------------------------
@pytest.mark.parametrize("op", [
    lambda x: x.min(axis=1), lambda x: x.amin(keepdims=True), lambda x: x.var(axis=0),
    lambda x: x.std(axis=(0, 1), correction=0), lambda x: x.logsumexp(axis=-1, keepdims=True),
    lambda x: x.prod(axis=1), lambda x: x.prod(), lambda x: x.cumsum(1), lambda x: x.cumsum(0),
], ids=["min", "amin", "var", "std", "logsumexp", "prod_axis", "prod_all", "cumsum_1", "cumsum_0"])
def test_rules_return_tensors_for_a_tensor_g(op):
    x = tn.tensor(separated_array((3, 4), 5), requires_grad=True)
    backward_on_tensor_g(op(x))


def test_tensor_g_of_var_records_its_dependence_on_x():
    """d/dx_j Σ_i g_i · 2(x_i - m)/(N - 1) = 2 (g_j - mean(g)) / (N - 1): differentiate the recorded gradient."""
    x = tn.tensor(random_array((4,), 6), requires_grad=True)
    g = random_array((), 7)
    weights = random_array((4,), 8)
    with tn.enable_grad():
        (dx,) = x.var()._entry.backward(tn.Tensor(g))
    (dx * weights).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * (weights - weights.mean()) / 3 * g, rtol=1e-12)


def test_tensor_g_of_prod_records_the_second_derivative():
    """∂²(x₀x₁x₂)/∂x_i∂x_j = x_k (k the third index) off the diagonal, 0 on it."""
    values = np.array([2.0, 3.0, 5.0])
    x = tn.tensor(values, requires_grad=True)
    with tn.enable_grad():
        (dx,) = x.prod()._entry.backward(tn.Tensor(np.array(1.0)))
    np.testing.assert_allclose(dx.data, [15.0, 10.0, 6.0])
    dx.backward(np.array([1.0, 0.0, 0.0]))                      # row 0 of the Hessian
    np.testing.assert_allclose(x.grad, [0.0, 5.0, 3.0])


# ---- second derivatives: tn.gradgradcheck (finite differences of the recorded first derivative) --------------
@st.composite
def small_shape_and_axis(draw):
    shape, axis = draw(shape_and_axis())
    return tuple(s if s <= 3 else 3 for s in shape[:2]), None if not isinstance(axis, int) or axis >= 2 or \
        axis < -min(len(shape), 2) else axis


@given(case=small_shape_and_axis(), keepdims=st.booleans(), seed=seeds())
def test_gradgradcheck_min_var_std_logsumexp(case, keepdims, seed):
    shape, axis = case
    x = separated_array(shape, seed)
    tn.gradgradcheck(lambda t: t.min(axis, keepdims) * t.sum(), [x])
    tn.gradgradcheck(lambda t: t.logsumexp(axis, keepdims), [x])
    n = x.size if axis is None or shape == () else shape[axis]
    if n > 1:
        tn.gradgradcheck(lambda t: t.var(axis, keepdims=keepdims), [x])
        tn.gradgradcheck(lambda t: t.std(axis, correction=0, keepdims=keepdims), [x])


@given(case=small_shape_and_axis(), keepdims=st.booleans(), seed=seeds(), zero=st.booleans())
def test_gradgradcheck_prod(case, keepdims, seed, zero):
    shape, axis = case
    x = random_array(shape, seed, away_from_zero=0.3)
    if zero:
        x.flat[0] = 0.0                                        # prod is a polynomial: smooth through a zero
    tn.gradgradcheck(lambda t: t.prod(axis, keepdims), [x])


@given(shape=shapes(min_dims=1, max_dims=2, max_side=3), data=st.data(), seed=seeds())
def test_gradgradcheck_cumsum(shape, data, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    tn.gradgradcheck(lambda t: t.cumsum(axis) * t, [random_array(shape, seed)])


def test_mean_over_an_empty_axis_is_nan_as_in_pytorch():
    x = tn.tensor(np.zeros((3, 0)), requires_grad=True)
    y = x.mean(axis=1)
    assert y.shape == (3,) and np.all(np.isnan(y.data))
    y.backward(np.ones(3))
    assert x.grad.shape == (3, 0)
    assert np.isnan(tn.tensor(np.zeros(0)).mean().item())
