"""gradcheck must catch wrong rules (including one a .sum()-based check would pass), pass right ones,
be deterministic, and refuse inputs where finite differences mean nothing."""
import re

import numpy as np
import pytest
from hypothesis import given

import tinynet as tn
import tinynet.functional as F
from tinynet.tensor import make_result
from tinynet.testing import arrays, random_array


# Deliberately wrong backward rules, written the way a user writes their own op.
def square_missing_factor_two(x):
    return make_result("bad_square", x.data ** 2, (x,), lambda g: (g * x.data,))


def softmax_with_zero_backward(x):
    """Forward is a correct softmax; backward returns zeros. Since Σ softmax = 1, the true gradient of
    softmax(x).sum() is 0, so a check seeded with ones (or of .sum()) cannot tell this rule from the right one."""
    e = np.exp(x.data - x.data.max(axis=-1, keepdims=True))
    s = e / e.sum(axis=-1, keepdims=True)
    return make_result("bad_softmax", s, (x,), lambda g: (np.zeros_like(g),))


def tanh_wrong_at_one_entry(x):
    y = np.tanh(x.data)

    def backward(g):
        dx = g * (1 - y * y)
        dx = dx.copy()
        dx.flat[0] *= 1.01
        return (dx,)
    return make_result("bad_tanh", y, (x,), backward)


def test_catches_a_missing_factor_and_reports_values():
    with pytest.raises(tn.GradcheckError) as info:
        tn.gradcheck(square_missing_factor_two, [random_array((3, 4), 0)])
    message = str(info.value)
    assert "input 0 (shape (3, 4))" in message and "analytic" in message and "numeric" in message
    assert "12 of 12 entries" in message


def test_catches_zero_backward_that_a_sum_based_check_passes():
    x = random_array((2, 5), 1)
    # The trap: with an all-ones upstream gradient the numeric gradient is ~0 too, and the wrong rule passes.
    assert tn.gradcheck(softmax_with_zero_backward, [x], grad_output=np.ones((2, 5)))
    # With gradcheck's default random upstream gradient the same rule is caught.
    with pytest.raises(tn.GradcheckError, match="analytic gradient is exactly zero"):
        tn.gradcheck(softmax_with_zero_backward, [x])


def test_directional_mode_catches_and_localises_with_a_full_recheck():
    with pytest.raises(tn.GradcheckError) as info:
        tn.gradcheck(square_missing_factor_two, [random_array((20, 30), 2)], mode="directional")
    message = str(info.value)
    assert "random direction" in message and "full recheck of input 0" in message


def test_full_mode_catches_a_one_percent_error_in_a_single_entry():
    with pytest.raises(tn.GradcheckError, match="1 of 12 entries") as info:
        tn.gradcheck(tanh_wrong_at_one_entry, [random_array((3, 4), 3)], mode="full")
    assert "index (0, 0)" in str(info.value)


@given(x=arrays())
def test_correct_rules_pass(x):
    assert tn.gradcheck(lambda t: (t.tanh() * t).exp(), [x])


def test_multiple_outputs_and_non_float_inputs():
    x, idx = random_array((4, 3), 4), np.array([2, 0])
    assert tn.gradcheck(lambda t, i: (t[i].sigmoid(), t.sum(axis=0)), [x, idx])


def test_nan_and_inf_inputs_are_refused():
    with pytest.raises(ValueError, match="input 1 contains NaN or inf"):
        tn.gradcheck(lambda a, b: a * b, [np.ones(2), np.array([1.0, np.nan])])


def test_float32_loss_of_precision_is_reported():
    with pytest.raises(TypeError, match="has dtype float32 for float64 inputs"):
        tn.gradcheck(lambda t: tn.Tensor(t.data.astype(np.float32), requires_grad=True), [np.ones(2)])


def test_nondeterministic_backward_is_caught():
    calls = []

    def noisy(x):
        calls.append(1)
        return make_result("noisy", x.data * 2, (x,), lambda g: (g * 2 + 1e-3 * len(calls),))
    with pytest.raises(tn.GradcheckError, match="not deterministic"):
        tn.gradcheck(noisy, [np.ones(3)])


def test_mutating_an_input_is_caught():
    def mutating(x):
        x.data[0] += 0.0 if x.requires_grad else 1e-3
        return x * 2
    with pytest.raises(tn.GradcheckError, match="modified input 0 in place"):
        tn.gradcheck(mutating, [np.ones(3)])


def test_same_seed_same_verdict_and_report():
    x = random_array((6, 7), 5)
    reports = []
    for _ in range(2):
        with pytest.raises(tn.GradcheckError) as info:
            tn.gradcheck(square_missing_factor_two, [x], mode="directional", seed=7)
        reports.append(str(info.value))
    assert reports[0] == reports[1]


# ---- round-off: a small f computed from large values -----------------------------------------------------------
def _cross_entropy_with_factor(factor):
    """cross_entropy(s, [0]) for one row, with a backward rule scaled by ``factor`` (1 = right)."""
    def op(s):
        z = s.data - s.data.max()
        log_p = z - np.log(np.exp(z).sum())
        p = np.exp(log_p)
        onehot = np.eye(s.shape[-1])[0]
        return make_result("ce", np.asarray(-log_p[0, 0]), (s,), lambda g: (factor * g * (p - onehot),))
    return op


def test_large_logits_pass_with_an_exact_gradient_as_in_pytorch():
    """loss = log(1 + e⁻¹³) ≈ 2.3e-6, but it is computed as log of 1 + 2.3e-6: rounded at the size of the 1, so
    the central difference carries an error of ~1e-11 that ε_mach·|f| (5e-22) cannot explain; the measured
    round-off of f near x does."""
    logits = np.array([[14.0, 1.0]])
    assert tn.gradcheck(lambda s: F.cross_entropy(s, np.array([0])), [logits])
    assert tn.gradcheck(lambda s: F.cross_entropy(s, np.array([0])), [logits], mode="directional")
    assert tn.gradcheck(_cross_entropy_with_factor(1.0), [logits])


def test_pytorch_passes_the_same_check():
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[14.0, 1.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: torch.nn.functional.cross_entropy(s, torch.tensor([0])), [logits])


@pytest.mark.parametrize("mode", ["full", "directional"])
@pytest.mark.parametrize("factor", [2 / 3, 3 / 2])
def test_a_wrong_factor_is_still_caught_where_round_off_is_large(mode, factor):
    with pytest.raises(tn.GradcheckError) as info:
        tn.gradcheck(_cross_entropy_with_factor(factor), [np.array([[14.0, 1.0]])], mode=mode)
    ratios = [float(r) for r in re.findall(r"analytic/numeric =? ?(-?[0-9.]+)", str(info.value))]
    assert ratios and np.allclose(ratios, factor, rtol=1e-3)       # the report shows the factor


@pytest.mark.parametrize("factor", [2 / 3, 3 / 2])
def test_a_wrong_factor_is_caught_at_ordinary_logits(factor):
    with pytest.raises(tn.GradcheckError, match=f"analytic/numeric = {factor:.4g} wherever"):
        tn.gradcheck(_cross_entropy_with_factor(factor), [random_array((1, 5), 8)])


def add_bias_with_mean_instead_of_sum(x, b):
    """x (N, C) + b (C,): b's gradient must sum g over the rows it was broadcast to; this rule averages them
    (a missing unbroadcast, patched to the right shape)."""
    return make_result("bad_add", x.data + b.data, (x, b), lambda g: (g, g.mean(axis=0)))


def test_a_missing_unbroadcast_is_caught_and_the_ratio_shows_one_over_n():
    x, b = random_array((4, 3), 9), random_array((3,), 10)
    with pytest.raises(tn.GradcheckError) as info:
        tn.gradcheck(add_bias_with_mean_instead_of_sum, [x, b])
    message = str(info.value)
    assert "input 1 (shape (3,))" in message and "input 0" not in message
    assert "analytic/numeric = 0.25 wherever the check fails" in message


def test_a_loss_rounded_to_a_constant_is_explained():
    """At a logit gap of 40, 1 + e⁻⁴⁰ == 1 in float64: the loss is exactly 0 at x ± ε, so no finite difference
    can see its 4e-18 gradient; the report says so instead of blaming the backward rule."""
    with pytest.raises(tn.GradcheckError, match="numeric value is exactly 0 wherever the check fails"):
        tn.gradcheck(lambda s: F.cross_entropy(s, np.array([0])), [np.array([[41.0, 1.0]])])
    assert tn.gradcheck(lambda s: F.cross_entropy(s, np.array([0])), [np.array([[41.0, 1.0]])], atol=1e-12)


def test_gradcheck_names_a_rule_that_writes_into_g():
    def twice(x):
        def backward(g):
            g *= 2                       # the correct value, but written into the caller's g
            return (g,)
        return make_result("twice", x.data * 2, (x,), backward)

    with pytest.raises(tn.GradcheckError, match="modified its upstream gradient g in place"):
        tn.gradcheck(twice, [np.array([0.3, 1.2, -0.7])])
