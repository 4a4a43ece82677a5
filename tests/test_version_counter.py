"""In-place changes after the forward pass: backward refuses to use the new values, as PyTorch does."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.optim as optim


def leaf(values):
    return tn.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_changing_a_saved_input_in_place_makes_backward_raise():
    a = leaf([1.0, 2.0])
    loss = (a * a).sum()
    with tn.no_grad():
        a += 1                                          # mul saved a: its gradient 2a would use the new a
    with pytest.raises(RuntimeError, match="'mul' .* was changed in place after the op ran"):
        loss.backward()


def test_the_version_counts_every_in_place_change_made_through_tinynet():
    t = tn.tensor(np.zeros(3))
    assert t._version == 0
    t += 1
    t *= 2
    t.copy_(np.arange(3.0))
    t.fill_(5.0)
    t.zero_()
    assert t._version == 5
    np.testing.assert_array_equal(t.data, 0.0)
    t.data += 1                                         # writes straight into .data are not seen
    assert t._version == 5


def test_an_optimizer_step_before_backward_through_an_older_graph_raises():
    w = leaf([1.0, -1.0])
    opt = optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt.step()
    assert w._version == 1
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()


def test_ops_that_do_not_read_the_changed_tensor_still_backward():
    """add's rule reads no values (dx = g): as in PyTorch, changing its input afterwards is harmless."""
    a = leaf([1.0, 2.0])
    b = a * 1
    loss = (b + 3).sum()
    with tn.no_grad():
        b += 1
    loss.backward()
    np.testing.assert_array_equal(a.grad, [1.0, 1.0])


def test_changing_an_output_that_its_own_rule_reads_raises():
    x = leaf([0.5, 1.0])
    y = x.exp()                                        # exp's rule is dx = g·y: it reads its output
    loss = y.sum()
    with tn.no_grad():
        y.fill_(0.0)
    with pytest.raises(RuntimeError, match="output of 'exp'"):
        loss.backward()


def test_training_with_an_optimizer_is_unaffected():
    w = leaf(np.ones(3))
    opt = optim.Adam([w], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        ((w - 2) ** 2).sum().backward()
        opt.step()
    assert w._version == 3 and np.all(w.data > 1)


def test_copy_and_fill_refuse_while_recording_a_tensor_that_requires_grad():
    w = leaf([1.0])
    with pytest.raises(RuntimeError, match="copy_: cannot overwrite"):
        w.copy_(np.array([2.0]))
    with tn.no_grad():
        w.copy_(np.array([2.0]))
    assert w.data[0] == 2.0


def test_a_change_seen_through_a_view_the_rule_reads():
    """x @ w.T reads w through a transpose; an optimizer step on w before backward must raise, as in PyTorch."""
    w = leaf(np.ones((2, 2)))
    x = leaf(np.ones((1, 2)))
    loss = (x @ w.T).sum()
    loss.backward(retain_graph=True)
    optim.SGD([w], lr=0.5).step()
    with pytest.raises(RuntimeError, match="'matmul' .* changed in place"):
        loss.backward()
    a = leaf([1.0, 2.0])
    column = a.reshape(2, 1)
    loss = (column * column).sum()
    with tn.no_grad():
        a += 1
    with pytest.raises(RuntimeError, match="'mul' .* changed in place"):
        loss.backward()


def test_cumsum_reads_no_values_so_a_later_change_is_harmless():
    a = leaf([1.0, 2.0])
    b = a * 1
    loss = b.cumsum(0).sum()
    with tn.no_grad():
        b += 1
    loss.backward()                                    # d(Σ cumsum)/db does not depend on b's values
    np.testing.assert_array_equal(a.grad, [2.0, 1.0])
