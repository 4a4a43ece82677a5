"""The Tensor's dtype policy and conveniences, matching PyTorch."""
import numpy as np
import pytest

import tinynet as tn


@pytest.mark.parametrize("data", [[1.0, 2.0], [1, 2], 3.0, 7])
def test_python_numbers_and_lists_become_float32(data):
    assert tn.tensor(data).dtype == np.float32


def test_arrays_keep_their_dtype_and_dtype_argument_wins():
    assert tn.tensor(np.ones(2)).dtype == np.float64
    assert tn.tensor(np.ones(2, dtype=np.int64)).dtype == np.int64
    assert tn.tensor([1, 2], dtype=np.int64).dtype == np.int64
    assert tn.Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ops_keep_the_dtype(dtype):
    x = tn.tensor(np.linspace(0.1, 1, 6, dtype=dtype).reshape(2, 3), requires_grad=True)
    w = tn.tensor(np.ones((3, 2), dtype=dtype), requires_grad=True)
    y = ((x @ w).tanh() * 2.0 + 1 - x.sum() / 3.0) ** 2
    y = y.mean(axis=0).exp().log().sqrt().sigmoid().relu().abs().max()
    assert y.dtype == dtype
    y.backward()
    assert x.grad.dtype == dtype and w.grad.dtype == dtype


def test_mixed_precision_gradients_keep_each_inputs_dtype():
    a = tn.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    b = tn.tensor(np.ones(2, dtype=np.float64), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_properties_item_numpy_repr():
    x = tn.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    assert x.shape == (1, 3) and x.ndim == 2 and x.size == 3 and len(x) == 1 and x.is_leaf
    assert x.numpy() is x.data
    assert x.sum().item() == 6.0
    assert repr(x) == "tensor([[1., 2., 3.]], requires_grad=True)"
    assert "dtype=float64" in repr(tn.tensor(np.zeros(2)))
    with pytest.raises(ValueError, match=r"only one-element tensors.*\(1, 3\)"):
        x.item()


def test_numpy_array_on_the_left_defers_to_the_tensor():
    x = tn.tensor(np.ones(3), requires_grad=True)
    y = np.arange(3.0) * x
    assert isinstance(y, tn.Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 2.0])


def test_tensors_hash_by_identity():
    a, b = tn.tensor([1.0]), tn.tensor([1.0])
    assert len({a, b}) == 2


def test_float_of_a_one_element_tensor():
    assert float(tn.tensor([2.5])) == 2.5
    with pytest.raises(ValueError, match="one-element"):
        float(tn.tensor([1.0, 2.0]))


@pytest.mark.parametrize("data, error, words", [
    ("abc", TypeError, "expected numbers"), ([None, 1.0], TypeError, "dtype object"),
    ([[1.0, 2.0], [3.0]], ValueError, "rectangular"),
])
def test_non_numeric_or_ragged_data_is_a_clear_error(data, error, words):
    with pytest.raises(error, match=words):
        tn.tensor(data)


def test_numpy_conversion_shares_data_and_refuses_tensors_that_require_grad():
    t = tn.tensor([1.0, 2.0])
    a = np.asarray(t)
    assert a.dtype == np.float32 and np.shares_memory(a, t.data)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert not np.shares_memory(np.array(t, copy=True), t.data)
    assert not np.shares_memory(np.array(t), t.data)                  # np.array copies by default
    with pytest.raises(ValueError, match="without a copy"):            # NumPy 2: copy=False means never copy
        np.array(t, dtype=np.float64, copy=False)
    with pytest.raises(RuntimeError, match="requires grad .* t.detach"):
        np.asarray(tn.tensor([1.0], requires_grad=True))
    np.testing.assert_array_equal(np.asarray(tn.tensor([1.0], requires_grad=True).detach()), [1.0])


def test_tensor_copies_its_data_as_torch_tensor_does_and_Tensor_wraps():
    """An optimizer step on tn.tensor(w0) must not change the caller's w0 (nor another tensor made from it)."""
    w0 = np.ones(3)
    a, b = tn.tensor(w0, requires_grad=True), tn.tensor(w0, requires_grad=True)
    (a * 2).sum().backward()
    tn.optim.SGD([a], lr=0.5).step()
    np.testing.assert_array_equal(w0, np.ones(3))
    np.testing.assert_array_equal(b.data, np.ones(3))
    np.testing.assert_array_equal(a.data, np.zeros(3))
    assert tn.Tensor(w0).data is w0                                   # the wrapper shares, on purpose
    with pytest.raises(TypeError, match="dtype <U1"):
        tn.tensor(np.array(["a"]))


def test_in_place_update_inside_no_grad_changes_the_leaf_itself():
    """p -= lr * p.grad under no_grad (the manual SGD loop) updates p in place and keeps its dtype and flags."""
    p = tn.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (p * p).sum().backward()
    same = p
    with tn.no_grad():
        p -= 0.25 * p.grad
        p *= 2.0
    assert p is same and p.dtype == np.float32 and p.requires_grad
    np.testing.assert_allclose(p.data, [1.0, 2.0])                   # (x − x/2)·2 = x
    counts = tn.tensor([1, 2], dtype=np.int64)
    with tn.no_grad():
        counts += 1
    np.testing.assert_array_equal(counts.data, [2, 3])


def test_in_place_operator_while_recording_is_an_ordinary_op():
    """loss += term and h += w * 3 record an add, as PyTorch records its in-place add: the gradients are those
    of loss = loss + term. Only a leaf that requires grad is refused (PyTorch refuses it too)."""
    w = tn.tensor([1.0, 2.0], requires_grad=True)
    loss = 0.0
    for _ in range(3):
        loss += (w * w).sum()
    loss.backward()
    np.testing.assert_array_equal(w.grad, [6.0, 12.0])                # d/dw of 3·Σw²
    w.grad = None
    h = tn.tensor(np.zeros(2))
    h += w * 3
    ((h * w).sum() + w.sum()).backward()                              # Σ 3w² + Σ w
    np.testing.assert_array_equal(w.grad, [7.0, 13.0])
    with pytest.raises(RuntimeError, match=r"-=: a leaf tensor that requires grad can only be updated in place "
                                           r"inside tn.no_grad\(\)"):
        w -= 1.0
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_in_place_update_of_tensors_without_gradients_changes_them_in_place():
    """Nothing to record: t's own array changes, so every name for it sees the change (as in PyTorch); inside
    no_grad this holds for a tensor made by a recorded op too, which stays on the tape."""
    counts = tn.tensor([1, 2], dtype=np.int64)
    alias = counts
    counts += 1
    assert alias is counts
    np.testing.assert_array_equal(alias.data, [2, 3])
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    same = y
    with tn.no_grad():
        y += 1                                                       # y = 2x + 1, still on the tape
    assert same is y and y.requires_grad
    (y * y).sum().backward()                                         # the rule uses y's new value: 2·y·2
    np.testing.assert_array_equal(x.grad, [12.0, 20.0])
    small = tn.tensor(np.ones(2, np.float32))
    small += tn.tensor(np.ones(2))                                   # a float64 value: the float32 array stays
    assert small.dtype == np.float32
    wrapped = tn.tensor([1, 2], dtype=np.uint8)
    wrapped += 1000                                                  # wraps around, as in PyTorch
    np.testing.assert_array_equal(wrapped.data, [233, 234])


def test_in_place_update_that_cannot_be_done_is_a_clear_error():
    counts = tn.tensor([1, 2], dtype=np.int64)
    with tn.no_grad():
        with pytest.raises(TypeError, match=r"\+=: cannot update a tensor of shape \(2,\) and dtype int64 in place"):
            counts += 1.5
        with pytest.raises(ValueError, match=r"\*=: cannot update a tensor of shape \(2,\) .* of shape \(3,\)"):
            counts *= np.ones(3, dtype=np.int64)
    w = tn.tensor([1.0, 2.0], requires_grad=True)
    h = tn.tensor(np.zeros(2))
    with pytest.raises(ValueError, match=r"\+=: the result has shape \(3, 2\) but the tensor \(2,\)"):
        h += tn.tensor(np.ones((3, 2))) * w


def test_integer_tensor_with_a_python_int_keeps_its_integer_dtype():
    """labels + 1 stays int64 (as in PyTorch), so it can still index and still be a cross_entropy target."""
    labels = tn.tensor([0, 1, 2], dtype=np.int64)
    for shifted in (labels + 1, 1 + labels, labels * 2, labels - 1):
        assert shifted.dtype == np.int64
    np.testing.assert_array_equal(tn.tensor(np.arange(6.0))[labels * 2].data, [0.0, 2.0, 4.0])
    assert (tn.tensor([1, 2], dtype=np.uint8) + 1).dtype == np.uint8
    np.testing.assert_array_equal((tn.tensor([1, 2], dtype=np.uint8) + (-1)).data, [0, 1])   # wraps, as torch
    np.testing.assert_array_equal((tn.tensor([1, 2], dtype=np.int8) + 1000).data, [-23, -22])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_tensor_with_an_integer_or_bool_tensor_keeps_the_float_dtype(dtype):
    """float32 * int64 is float32 in PyTorch (NumPy would give float64): the GUIDE's "float32 in, float32 out"."""
    x = tn.tensor(np.ones(3, dtype), requires_grad=True)
    mask = tn.tensor([1, 0, 1], dtype=np.int64)
    for y in (x * mask, mask * x, x + tn.tensor([True, False, True]), x - mask, x / (mask + 1)):
        assert y.dtype == dtype
    (x * mask).sum().backward()
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 1.0])


def test_truth_value_of_a_tensor_is_its_value_or_ambiguous():
    assert not (tn.tensor([-1.0]) > 0)               # its value, not len() == 1
    assert not (tn.tensor(-1.0) > 0)                 # a 0-d tensor has a truth value too (it has no len())
    assert tn.tensor(2.0) > 1
    loss = (tn.tensor([0.5, 0.25], requires_grad=True) ** 2).sum()
    assert loss < 1
    a, b = tn.tensor([1.0, 2.0]), tn.tensor([5.0, 6.0])
    with pytest.raises(ValueError, match="ambiguous"):
        bool(a == b)
    with pytest.raises(ValueError, match="ambiguous"):
        a in [b]                                     # not True for any two non-empty tensors
    assert a in [a]                                  # identity is checked first, as for lists of arrays
