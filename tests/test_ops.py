"""Every core op through the one helper: forward vs NumPy, dtype kept, no mutation, gradcheck (random upstream
gradient). Hypothesis draws shapes (broadcasting pairs, 0-d, size-1 axes), seeds and scales."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet.testing import arrays, broadcastable_shapes, check_op, positive_arrays, random_array, seeds, shapes


# ---- broadcasting binary ops --------------------------------------------------------------------------------
@pytest.mark.parametrize("op, ref", [
    (lambda a, b: a + b, np.add),
    (lambda a, b: a - b, np.subtract),
    (lambda a, b: a * b, np.multiply),
])
@given(shape_pair=broadcastable_shapes(), seed=seeds())
def test_binary_ops_with_broadcasting(op, ref, shape_pair, seed):
    a = random_array(shape_pair[0], seed)
    b = random_array(shape_pair[1], seed + 1)
    check_op(op, ref, a, b)


@given(shape_pair=broadcastable_shapes(), seed=seeds())
def test_div_with_broadcasting(shape_pair, seed):
    a = random_array(shape_pair[0], seed)
    b = random_array(shape_pair[1], seed + 1, away_from_zero=0.5)   # keep 1/b and a/b² moderate
    check_op(lambda x, y: x / y, np.divide, a, b)


@pytest.mark.parametrize("a_shape, b_shape", [((3, 1), (1, 4)), ((5,), (2, 5)), ((), (2, 3)), ((2, 1, 3), (3,))])
def test_named_broadcast_pairs(a_shape, b_shape):
    a, b = random_array(a_shape, 0), random_array(b_shape, 1)
    check_op(lambda x, y: x * y + x, lambda x, y: x * y + x, a, b)


def test_python_scalars_on_either_side():
    x = random_array((2, 3), 0)
    check_op(lambda t: 2.0 * t - 1.5 + t / 4.0 - 3.0 / (t * t + 1.0), lambda t: 2 * t - 1.5 + t / 4 - 3 / (t * t + 1), x)


@given(x=arrays())
def test_neg(x):
    check_op(lambda t: -t, np.negative, x)


@given(x=positive_arrays(), p=st.sampled_from([-2, -0.5, 0.5, 1, 2, 3, 2.5]))
def test_pow_scalar_exponent(x, p):
    check_op(lambda t: t ** p, lambda a: a ** p, x)


@given(x=arrays(), p=st.sampled_from([2, 3]))
def test_pow_integer_exponent_negative_base(x, p):
    check_op(lambda t: t ** p, lambda a: a ** p, x)


@given(shape_pair=broadcastable_shapes(), seed=seeds())
def test_pow_tensor_exponent(shape_pair, seed):
    base = random_array(shape_pair[0], seed, positive=True, away_from_zero=0.2)
    exponent = random_array(shape_pair[1], seed + 1)
    check_op(lambda a, b: a ** b, np.power, base, exponent)


def test_rpow_scalar_base():
    x = random_array((3,), 0)
    check_op(lambda t: 2.0 ** t, lambda a: 2.0 ** a, x)


# ---- matmul -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("a_shape, b_shape", [
    ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((2, 2, 3), (3, 4)), ((3,), (2, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((4, 2, 3), (3,)),
])
def test_matmul_shapes(a_shape, b_shape):
    check_op(lambda a, b: a @ b, np.matmul, random_array(a_shape, 0), random_array(b_shape, 1))


@given(data=st.data(), n=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 3), seed=seeds())
def test_matmul_batched_broadcast(data, n, k, m, seed):
    batch_a, batch_b = data.draw(broadcastable_shapes(max_dims=2, max_side=3))
    a = random_array(batch_a + (n, k), seed)
    b = random_array(batch_b + (k, m), seed + 1)
    check_op(lambda x, y: x @ y, np.matmul, a, b)


def test_matmul_errors_name_both_shapes():
    a, b = tn.tensor(np.ones((2, 3))), tn.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match="batch axes"):
        tn.tensor(np.ones((2, 2, 3))) @ tn.tensor(np.ones((3, 3, 1)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        tn.tensor(np.ones(())) @ tn.tensor(np.ones(3))


def test_broadcast_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        tn.tensor(np.ones((2, 3))) + tn.tensor(np.ones(4))


# ---- elementwise --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, ref", [
    ("exp", np.exp), ("tanh", np.tanh), ("sigmoid", lambda a: 1 / (1 + np.exp(-a))),
    ("relu", lambda a: np.maximum(a, 0)), ("abs", np.abs),
])
@given(x=arrays())
def test_elementwise(name, ref, x):
    check_op(lambda t: getattr(t, name)(), ref, x)


@pytest.mark.parametrize("name, ref", [("log", np.log), ("sqrt", np.sqrt)])
@given(x=positive_arrays())
def test_elementwise_positive_domain(name, ref, x):
    check_op(lambda t: getattr(t, name)(), ref, x)


def test_kink_conventions_match_pytorch():
    """relu'(0) = 0 and |x|'(0) = 0, as in PyTorch (stated in the docstrings)."""
    x = tn.tensor(np.zeros(3), requires_grad=True)
    (x.relu() + x.abs()).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, np.zeros(3))


def test_relu_of_minus_infinity_is_zero():
    from tinynet import functional as F
    x = tn.tensor([-np.inf, -1.0, 0.0, 2.0, np.inf], requires_grad=True)
    y = F.relu(x)
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 0.0, 2.0, np.inf])     # not -inf * 0 = NaN
    assert y.dtype == np.float32 and not np.signbit(y.data[1])
    y.backward(np.ones(5, dtype=np.float32))
    np.testing.assert_array_equal(x.grad, [0, 0, 0, 1, 1])
    assert np.isnan(F.relu(tn.tensor([np.nan])).data[0])                     # NaN propagates, as in PyTorch


def test_stable_at_plus_minus_1000():
    x = tn.tensor([-1000.0, -30.0, 0.0, 30.0, 1000.0], requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is fine
        s = x.sigmoid()
        t = x.tanh()
        (s + t).backward(np.ones(5))
    np.testing.assert_allclose(s.data, [0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1], rtol=1e-6)
    np.testing.assert_allclose(t.data, [-1, -1, 0, 1, 1], rtol=1e-6)
    assert np.all(np.isfinite(x.grad))


# ---- reductions ---------------------------------------------------------------------------------------------
@st.composite
def array_and_axis(draw, separated=False):
    shape = draw(shapes(min_dims=0, max_dims=3))
    x = draw(arrays(shape, separated=separated))
    choice = draw(st.sampled_from(["none", "int", "tuple"]))
    if choice == "none" or x.ndim == 0:
        axis = None
    elif choice == "int":
        axis = draw(st.integers(-x.ndim, x.ndim - 1))
    else:
        axis = tuple(draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True)))
    return x, axis, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(case=array_and_axis())
def test_sum_and_mean(name, case):
    x, axis, keepdims = case
    ref = getattr(np, name)
    check_op(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
             lambda a: np.asarray(ref(a, axis=axis, keepdims=keepdims)), x)


@given(case=array_and_axis(separated=True))
def test_max_without_ties(case):
    x, axis, keepdims = case
    check_op(lambda t: t.max(axis=axis, keepdims=keepdims), lambda a: np.asarray(np.max(a, axis=axis, keepdims=keepdims)), x)


def test_max_splits_the_gradient_between_ties():
    x = tn.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.max(axis=1).backward(np.array([1.0, 1.0], dtype=np.float32))
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


def test_bad_axis_is_a_clear_error():
    with pytest.raises(ValueError, match="sum: axis 2 is out of range for a tensor with 2 dimensions"):
        tn.tensor(np.ones((2, 3))).sum(axis=2)


# ---- shaping ------------------------------------------------------------------------------------------------
@given(x=arrays(shapes(min_dims=1)))
def test_reshape_and_transpose(x):
    check_op(lambda t: t.reshape(-1), lambda a: a.reshape(-1), x)
    check_op(lambda t: t.T, lambda a: a.T, x)
    axes = tuple(int(a) for a in np.random.default_rng(x.size).permutation(x.ndim))
    check_op(lambda t: t.permute(*axes), lambda a: a.transpose(axes), x)
    dim0, dim1 = axes[0], axes[-1]
    check_op(lambda t: t.transpose(dim0, dim1), lambda a: np.swapaxes(a, dim0, dim1), x)


def test_transpose_swaps_two_axes_as_pytorch():
    x = tn.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.transpose(0, 1).shape == (3, 2, 4)                   # NumPy's transpose(0, 1) would be an error
    np.testing.assert_array_equal(tn.tensor(np.arange(6.0).reshape(2, 3)).transpose(0, 1).data,
                                  np.arange(6.0).reshape(2, 3).T)  # a matrix: its transpose, not the identity
    np.testing.assert_array_equal(x.mT.data, np.swapaxes(x.data, -1, -2))
    np.testing.assert_array_equal(x.permute(2, 0, 1).data, x.data.transpose(2, 0, 1))
    assert x.T.shape == (4, 3, 2)
    assert tn.tensor(1.0).transpose(0, -1).shape == ()


def test_a_0d_tensor_does_not_outrank_a_dimensioned_one_of_the_same_kind():
    """PyTorch's promotion: float32 x times a 0-d float64 tensor stays float32 (NumPy would give float64), and the
    0-d tensor still gets its gradient, in its own dtype."""
    x = tn.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    scale = tn.tensor(np.array(2.0), requires_grad=True)
    for y in (x * scale, scale * x, x + scale, x - scale, x / scale, x ** scale):
        assert y.dtype == np.float32
    (x * scale).sum().backward()
    assert scale.grad.dtype == np.float64 and scale.grad == 6.0 and x.grad.dtype == np.float32
    assert (tn.tensor(np.ones(2)) * tn.tensor(np.float32(2))).dtype == np.float64    # a float64 x stays float64
    assert (tn.tensor(np.array(1.0)) * tn.tensor(np.float32(2))).dtype == np.float64  # two 0-d: NumPy's rule


@pytest.mark.parametrize("index, shape", [([], (0, 3)), ((slice(None), []), (2, 0)), (([], 0), (0,))])
def test_empty_integer_index_lists_give_empty_results_and_zero_gradients(index, shape):
    x = tn.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x[index]
    assert y.shape == shape
    y.backward(np.zeros(shape))
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))


@pytest.mark.parametrize("call, message", [
    (lambda x: x.transpose(0, 2), "transpose: dimension 2 is out of range"),
    (lambda x: x.transpose(0, 1, 2), "transpose: expected two dimensions"),
    (lambda x: x.transpose((1, 0)), "transpose: expected two dimensions"),
    (lambda x: x.permute(0, 0), "permute: dims"),
    (lambda x: x.permute(0), "permute: dims"),
    (lambda x: tn.tensor([1.0]).mT, "mT: needs at least 2"),
])
def test_transpose_and_permute_reject_bad_dims_at_the_public_call(call, message):
    x = tn.tensor(np.ones((3, 4)))
    with pytest.raises((ValueError, TypeError), match=message):
        call(x)


@given(x=arrays(shapes(min_dims=2)))
def test_contiguous_of_a_transposed_view(x):
    check_op(lambda t: t.T.contiguous(), lambda a: np.ascontiguousarray(a.T), x)
    t = tn.tensor(x, requires_grad=True)
    view = t.T
    y = view.contiguous()
    assert y.data.flags.c_contiguous and np.array_equal(y.data, x.T)
    assert not np.shares_memory(y.data, x) or x.T.flags.c_contiguous   # a copy unless the view already was C-order


def test_contiguous_of_a_contiguous_tensor_is_itself():
    t = tn.tensor(np.ones((2, 3)), requires_grad=True)
    assert t.contiguous() is t


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        tn.tensor(np.ones((2, 3))).reshape(4, 2)


@pytest.mark.parametrize("index", [
    (slice(1, None), 0), (Ellipsis, slice(None, None, 2)), (None, 1), 2,
    np.array([0, 0, 2, 1]), (np.array([1, 1]), np.array([0, 0])), (slice(None), np.array([3, 0, 3])),
])
def test_getitem_basic_and_integer_arrays(index):
    x = random_array((3, 4), 0)
    check_op(lambda t: t[index], lambda a: np.asarray(a[index]), x)


def test_getitem_repeated_indices_accumulate():
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].backward(np.ones(4, dtype=np.float32))
    np.testing.assert_array_equal(x.grad, [3, 0, 1])


def test_getitem_boolean_mask():
    x = random_array((3, 4), 1)
    mask = x > 0
    check_op(lambda t: t[mask], lambda a: a[mask], x)


@given(seed=seeds(), axis=st.integers(-2, 1))
def test_concatenate_and_stack(seed, axis):
    a, b, c = random_array((2, 3), seed), random_array((2, 3), seed + 1), random_array((2, 3), seed + 2)
    check_op(lambda *t: tn.concatenate(t, axis=axis), lambda *a: np.concatenate(a, axis=axis), a, b, c)
    stack_axis = axis if axis >= 0 else axis - 1
    check_op(lambda *t: tn.stack(t, axis=stack_axis), lambda *a: np.stack(a, axis=stack_axis), a, b, c)


def test_stack_axis_out_of_range_is_a_clear_error():
    a = tn.tensor(np.ones(3))
    with pytest.raises(ValueError, match="stack: axis 3 is out of range"):
        tn.stack([a, a], axis=3)
    assert tn.stack([a, a], axis=-2).shape == (2, 3)


def test_concatenate_and_stack_errors():
    with pytest.raises(ValueError, match="concatenate: cannot join shapes"):
        tn.concatenate([tn.tensor(np.ones((2, 3))), tn.tensor(np.ones((3, 2)))], axis=0)
    with pytest.raises(ValueError, match="stack: all tensors must have the same shape"):
        tn.stack([tn.tensor(np.ones(2)), tn.tensor(np.ones(3))])


@given(shape_pair=broadcastable_shapes(num_shapes=3), seed=seeds())
def test_where_condition_carries_no_gradient(shape_pair, seed):
    cond = random_array(shape_pair[0], seed) > 0
    x, y = random_array(shape_pair[1], seed + 1), random_array(shape_pair[2], seed + 2)
    check_op(lambda a, b: tn.where(cond, a, b), lambda a, b: np.where(cond, a, b), x, y)


def test_where_needs_a_boolean_condition():
    x, y = tn.tensor([1.0, 2.0]), tn.tensor([3.0, 4.0])
    with pytest.raises(TypeError, match="where: condition must be boolean .* got dtype float32"):
        tn.where(tn.tensor([0.5, 0.0]), x, y)
    np.testing.assert_array_equal(tn.where([True, False], x, y).data, [1.0, 4.0])   # a list of bools is fine


def test_comparisons_give_bool_tensors_without_grad():
    x = tn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for result in (x > 0, x >= 1, x < 0, x <= 1, x == 3, x != 3):
        assert result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal((x > 0).data, [True, False, True])


@pytest.mark.parametrize("exponent", [np.float64(2.0), np.float64(0.5), np.float32(3.0), 2.0, 3])
def test_pow_with_a_numpy_scalar_exponent_keeps_float32(exponent):
    x = tn.tensor([1.5, 2.0, 3.0], requires_grad=True)          # float32
    y = x ** exponent
    assert y.dtype == np.float32
    y.backward(np.ones(3, dtype=np.float32))
    assert x.grad.dtype == np.float32
    p = float(exponent)
    np.testing.assert_allclose(x.grad, p * x.data.astype(np.float64) ** (p - 1), rtol=1e-6)


@pytest.mark.parametrize("zero", [0, 0.0, np.int64(0), np.float32(0), "tensor"])
def test_gradient_of_x_to_the_power_zero_is_zero_also_at_zero(zero):
    """x**0 = 1 is constant; the rule p·x**(p−1) would give 0·inf = NaN at x = 0 (PyTorch gives 0)."""
    x = tn.tensor(np.array([0.0, 1.0, -2.0]), requires_grad=True)
    exponent = tn.tensor(np.float64(0.0)) if zero == "tensor" else zero
    (x ** exponent).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_max_over_a_non_empty_axis_of_an_empty_tensor_is_empty_as_in_pytorch():
    x = tn.tensor(np.zeros((0, 3)), requires_grad=True)
    y = x.max(axis=1)
    assert y.shape == (0,)
    y.sum().backward()
    assert x.grad.shape == (0, 3)
    with pytest.raises(ValueError, match=r"max: cannot take the max over an empty axis \(shape \(0, 3\), axis 0\)"):
        x.max(axis=0)


@pytest.mark.parametrize("op", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [1.0, "0", True, [0, 1.5], (True,)])
def test_reduction_axis_of_the_wrong_type_is_a_clear_error(op, axis):
    with pytest.raises(TypeError, match=rf"{op}: axis must be None, an int or a tuple of ints"):
        getattr(tn.tensor(np.ones((2, 2))), op)(axis=axis)
