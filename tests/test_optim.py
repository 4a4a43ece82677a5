"""SGD, momentum, Nesterov, Adam and AdamW: three steps against values computed by hand / from the textbook
formulas (written here independently of the library's in-place code), plus the safety rules: p.grad is never
written, state never aliases a gradient, params without grad are skipped, dtypes are kept."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet.nn import Parameter
from tinynet.optim import SGD, Adam, AdamW
from tinynet.testing import random_array, seeds

GRADS = [1.0, 2.0, 3.0]


def run_scalar(make_opt, grads=GRADS, theta0=1.0):
    p = Parameter(np.array([theta0]))
    opt = make_opt([p])
    history = []
    for g in grads:
        p.grad = np.array([g])
        opt.step()
        history.append(p.data[0])
    return history


# ---- numbers worked out by hand (θ₀ = 1, gradients 1, 2, 3) ---------------------------------------------------
def test_sgd_plain_by_hand():
    # θ ← θ − 0.1 g:  1 − 0.1 = 0.9,  0.9 − 0.2 = 0.7,  0.7 − 0.3 = 0.4
    np.testing.assert_allclose(run_scalar(lambda P: SGD(P, lr=0.1)), [0.9, 0.7, 0.4], rtol=1e-14)


def test_sgd_momentum_by_hand():
    # b₁ = 1 → θ = 0.9;  b₂ = 0.9·1 + 2 = 2.9 → θ = 0.61;  b₃ = 0.9·2.9 + 3 = 5.61 → θ = 0.049
    np.testing.assert_allclose(run_scalar(lambda P: SGD(P, lr=0.1, momentum=0.9)), [0.9, 0.61, 0.049], rtol=1e-12)


def test_sgd_weight_decay_by_hand():
    # g = ∇ + 0.5θ:  1.5 → 0.85;  2 + 0.425 = 2.425 → 0.6075;  3 + 0.30375 = 3.30375 → 0.277125
    np.testing.assert_allclose(run_scalar(lambda P: SGD(P, lr=0.1, weight_decay=0.5)), [0.85, 0.6075, 0.277125],
                               rtol=1e-12)


def test_sgd_nesterov_and_dampening_by_hand():
    # nesterov: b₁ = 1, step g + 0.9b = 1.9 → 0.81;  b₂ = 2.9, step 2 + 2.61 = 4.61 → 0.349;
    #           b₃ = 5.61, step 3 + 5.049 = 8.049 → −0.4559
    np.testing.assert_allclose(run_scalar(lambda P: SGD(P, lr=0.1, momentum=0.9, nesterov=True)),
                               [0.81, 0.349, -0.4559], rtol=1e-12)
    # dampening 0.5: b₁ = 1 (no dampening on the first step) → 0.9;  b₂ = 0.9 + 1 = 1.9 → 0.71;
    #                b₃ = 1.71 + 1.5 = 3.21 → 0.389
    np.testing.assert_allclose(run_scalar(lambda P: SGD(P, lr=0.1, momentum=0.9, dampening=0.5)),
                               [0.9, 0.71, 0.389], rtol=1e-12)


def test_adam_first_step_moves_each_coordinate_by_lr():
    # t = 1: m̂ = g and v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g), whatever the gradient's size.
    p = Parameter(np.array([1.0, 1.0, 1.0]))
    p.grad = np.array([1e-3, -50.0, 2.0])
    Adam([p], lr=0.1).step()
    g = np.array([1e-3, -50.0, 2.0])
    np.testing.assert_allclose(p.data, 1 - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-14)
    np.testing.assert_allclose(p.data, [0.9, 1.1, 0.9], rtol=2e-6)   # ≈ lr·sign(g): ε matters only for tiny g


def adam_reference(theta, grads, lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False):
    """Adam from the paper's pseudo-code (with m̂ and v̂), in plain Python floats."""
    m = v = 0.0
    out = []
    for t, grad in enumerate(grads, start=1):
        g = grad
        if weight_decay and decoupled:
            theta = theta * (1 - lr * weight_decay)
        elif weight_decay:
            g = grad + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        theta = theta - lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(theta)
    return out


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(betas=(0.5, 0.9), eps=1e-3),
    dict(weight_decay=0.3),
    dict(weight_decay=0.3, decoupled_weight_decay=True),
])
def test_adam_three_steps_match_the_formulas(kwargs):
    grads = [1.0, -2.0, 3.0]
    got = run_scalar(lambda P: Adam(P, lr=0.1, **kwargs), grads)
    beta1, beta2 = kwargs.get("betas", (0.9, 0.999))
    expected = adam_reference(1.0, grads, 0.1, beta1, beta2, kwargs.get("eps", 1e-8),
                              kwargs.get("weight_decay", 0.0), kwargs.get("decoupled_weight_decay", False))
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_adamw_is_adam_with_decoupled_decay():
    a = run_scalar(lambda P: AdamW(P, lr=0.1, weight_decay=0.3))
    b = run_scalar(lambda P: Adam(P, lr=0.1, weight_decay=0.3, decoupled_weight_decay=True))
    assert a == b
    assert AdamW([Parameter(np.zeros(1))]).weight_decay == 0.01        # PyTorch's default


def test_l2_and_decoupled_decay_differ():
    # With a large gradient, L2 decay is divided by √v̂ and almost vanishes; decoupled decay is not.
    l2 = run_scalar(lambda P: Adam(P, lr=0.1, weight_decay=0.3), [100.0] * 3)
    decoupled = run_scalar(lambda P: Adam(P, lr=0.1, weight_decay=0.3, decoupled_weight_decay=True), [100.0] * 3)
    assert abs(l2[-1] - decoupled[-1]) > 1e-3


# ---- arrays: each coordinate independently follows the scalar rule ----------------------------------------------
@given(seed=seeds(), momentum=st.sampled_from([0.0, 0.9]), wd=st.sampled_from([0.0, 0.01]))
def test_sgd_on_arrays_is_coordinatewise(seed, momentum, wd):
    theta0 = random_array((2, 3), seed)
    grads = [random_array((2, 3), seed + k + 1) for k in range(3)]
    p = Parameter(theta0)
    opt = SGD([p], lr=0.05, momentum=momentum, weight_decay=wd)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    for idx in np.ndindex(theta0.shape):
        expected = run_scalar(lambda P: SGD(P, lr=0.05, momentum=momentum, weight_decay=wd),
                              [g[idx] for g in grads], theta0[idx])[-1]
        np.testing.assert_allclose(p.data[idx], expected, rtol=1e-12, atol=1e-15)


@given(seed=seeds())
def test_adam_on_arrays_matches_the_formulas(seed):
    theta0 = random_array((3, 2), seed)
    grads = [random_array((3, 2), seed + k + 1) for k in range(3)]
    p = Parameter(theta0)
    opt = Adam([p], lr=0.01, weight_decay=0.1)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    for idx in np.ndindex(theta0.shape):
        expected = adam_reference(theta0[idx], [g[idx] for g in grads], 0.01, 0.9, 0.999, 1e-8, 0.1)[-1]
        np.testing.assert_allclose(p.data[idx], expected, rtol=1e-12)


# ---- safety rules -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_opt", [
    lambda P: SGD(P, lr=0.1, momentum=0.9, weight_decay=0.1),
    lambda P: Adam(P, lr=0.1, weight_decay=0.1),
    lambda P: AdamW(P, lr=0.1),
])
def test_step_never_writes_grad_and_state_never_aliases_it(make_opt):
    p = Parameter(random_array((4,), 0))
    opt = make_opt([p])
    for k in range(3):
        grad = random_array((4,), k + 1)
        p.grad = grad.copy()
        opt.step()
        np.testing.assert_array_equal(p.grad, grad)                    # p.grad untouched (weight decay too)
        for name, value in opt.state[0].items():
            if isinstance(value, np.ndarray):
                assert not np.shares_memory(value, p.grad), f"state '{name}' shares memory with p.grad"
                assert not np.shares_memory(value, p.data), f"state '{name}' shares memory with p.data"
        p.grad += 1.0                                                  # a later backward's += must not leak
        before = {n: v.copy() for n, v in opt.state[0].items() if isinstance(v, np.ndarray)}
        for name, value in before.items():
            np.testing.assert_array_equal(opt.state[0][name], value)


def test_params_without_grad_are_skipped_and_zero_grad_forgets():
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = Adam([a, b], lr=0.1)
    a.grad = np.array([1.0, -1.0])
    opt.step()
    np.testing.assert_array_equal(b.data, [1.0, 1.0])
    assert opt.state[1] == {}
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = np.ones(2)
    kept = a.grad
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, [0.0, 0.0])
    assert a.grad is kept and b.grad is None                  # zeroed in place; a missing grad stays missing


@pytest.mark.parametrize("make_opt", [lambda P: SGD(P, lr=0.1, momentum=0.9), lambda P: Adam(P, lr=0.1)])
def test_float32_parameters_stay_float32(make_opt):
    p = Parameter(np.ones((2, 2), dtype=np.float32))
    opt = make_opt([p])
    for _ in range(3):
        p.grad = np.full((2, 2), 0.5, dtype=np.float32)
        opt.step()
    assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[0].values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("make_opt", [lambda P: SGD(P, lr=0.1, momentum=0.5), lambda P: Adam(P, lr=0.1)])
def test_optimizers_minimise_a_quadratic_through_autograd(make_opt):
    target = np.array([3.0, -2.0])
    w = tn.tensor(np.zeros(2), requires_grad=True)
    opt = make_opt([w])
    for _ in range(300):
        opt.zero_grad()
        loss = ((w - target) ** 2).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(w.data, target, atol=1e-2)


def test_optimizer_state_dict_round_trip_continues_identically():
    grads = [random_array((3,), k) for k in range(4)]
    p1, p2 = Parameter(np.ones(3)), Parameter(np.ones(3))
    o1, o2 = Adam([p1], lr=0.1), Adam([p2], lr=0.1)
    for g in grads[:2]:
        p1.grad = g.copy()
        o1.step()
    p2.data = p1.data.copy()
    o2.load_state_dict(o1.state_dict())
    for g in grads[2:]:
        p1.grad, p2.grad = g.copy(), g.copy()
        o1.step()
        o2.step()
    np.testing.assert_array_equal(p1.data, p2.data)


def test_bad_arguments_are_clear_errors():
    p = Parameter(np.ones(2))
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(TypeError, match="only floating-point"):
        SGD([tn.tensor([1, 2], dtype=np.int64)], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        SGD([p], lr=-1)
    with pytest.raises(ValueError, match="betas"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)


def test_frozen_parameters_are_accepted_and_left_alone():
    frozen = tn.tensor(np.ones(2))                 # requires_grad=False, as after freezing a layer
    live = Parameter(np.ones(2))
    opt = SGD([frozen, live], lr=0.5)
    (live * 2).sum().backward()
    opt.step()
    np.testing.assert_array_equal(frozen.data, [1.0, 1.0])
    np.testing.assert_array_equal(live.data, [0.0, 0.0])
