"""Learning-rate schedulers against PyTorch's formulas (and against torch itself when installed), param_groups as
PyTorch's optimizers expose them, and fit's scheduler argument."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet import nn
from tinynet.nn import Parameter
from tinynet.optim import SGD, Adam
from tinynet.optim.lr_scheduler import CosineAnnealingLR, LinearLR, StepLR


def lrs_over(make_scheduler, epochs, lr=0.5):
    opt = SGD([Parameter(np.zeros(1))], lr=lr)
    sched = make_scheduler(opt)
    values = []
    for _ in range(epochs):
        values.append(opt.param_groups[0]["lr"])
        assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
        sched.step()
    return values


@given(step_size=st.integers(1, 4), gamma=st.sampled_from([0.1, 0.5, 0.9]))
def test_step_lr_formula(step_size, gamma):
    got = lrs_over(lambda o: StepLR(o, step_size, gamma), 12)
    np.testing.assert_allclose(got, [0.5 * gamma ** (e // step_size) for e in range(12)], rtol=1e-12)


@given(t_max=st.integers(1, 6), eta_min=st.sampled_from([0.0, 0.01]))
def test_cosine_annealing_formula(t_max, eta_min):
    got = lrs_over(lambda o: CosineAnnealingLR(o, t_max, eta_min), 2 * t_max + 2)
    expected = [eta_min + (0.5 - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2 for e in range(2 * t_max + 2)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert got[t_max] == pytest.approx(eta_min)


@given(start=st.sampled_from([0.1, 1 / 3, 1.0]), end=st.sampled_from([0.0, 0.5, 1.0]), total=st.integers(1, 5))
def test_linear_lr_formula(start, end, total):
    got = lrs_over(lambda o: LinearLR(o, start, end, total), total + 3)
    expected = [0.5 * (start + (end - start) * min(e, total) / total) for e in range(total + 3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_defaults_and_initial_lr_as_pytorch():
    opt = SGD([Parameter(np.zeros(1))], lr=0.3)
    sched = LinearLR(opt)
    assert (sched.start_factor, sched.end_factor, sched.total_iters) == (1 / 3, 1.0, 5)
    assert opt.param_groups[0]["initial_lr"] == 0.3 and sched.get_last_lr() == [pytest.approx(0.1)]
    assert StepLR(SGD([Parameter(np.zeros(1))], lr=1.0), 3).gamma == 0.1
    assert CosineAnnealingLR(SGD([Parameter(np.zeros(1))], lr=1.0), 3).eta_min == 0.0


@pytest.mark.parametrize("name, kwargs", [("StepLR", dict(step_size=2, gamma=0.3)),
                                          ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01)),
                                          ("LinearLR", dict(start_factor=0.2, total_iters=3))])
def test_matches_torch_over_epochs_with_two_groups(name, kwargs):
    torch = pytest.importorskip("torch")
    ours_opt = SGD([{"params": [Parameter(np.zeros(1))]}, {"params": [Parameter(np.zeros(1))], "lr": 0.05}], lr=0.5)
    theirs_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                                  {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.05}], lr=0.5)
    ours = getattr(tn.optim.lr_scheduler, name)(ours_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(theirs_opt, **kwargs)
    for _ in range(10):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-10, atol=1e-12)
        theirs_opt.step()                              # torch warns if the scheduler steps before the optimizer
        ours.step()
        theirs.step()


def test_bad_arguments():
    opt = SGD([Parameter(np.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max must be a positive int"):
        CosineAnnealingLR(opt, 0)
    with pytest.raises(ValueError, match=r"start_factor must be in \(0, 1\]"):
        LinearLR(opt, start_factor=0.0)
    with pytest.raises(TypeError, match="expected a tinynet optimizer"):
        StepLR("sgd", 2)
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(SGD([Parameter(np.zeros(1))], lr=0.1), 2, last_epoch=3)


# ---- param_groups ------------------------------------------------------------------------------------------
def test_param_groups_as_pytorch_and_edits_take_effect():
    p, q = Parameter(np.ones(1)), Parameter(np.ones(1))
    opt = SGD([{"params": [p]}, {"params": [q], "lr": 0.01}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[0]["params"] == [p] and opt.param_groups[1]["momentum"] == 0.0
    p.grad, q.grad = np.ones(1), np.ones(1)
    opt.step()
    np.testing.assert_allclose([p.data[0], q.data[0]], [0.9, 0.99])
    opt.param_groups[0]["lr"] = 0.5                      # an edit through param_groups is used by the next step
    opt.step()
    np.testing.assert_allclose(p.data[0], 0.4)
    opt.lr = 0.2                                         # the shorthand sets every group
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.2] and opt.lr == 0.2


def test_param_groups_errors_and_state_dict_round_trip():
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="unknown hyper-parameter 'lrr'"):
        SGD([{"params": [p], "lrr": 0.1}], lr=0.1)
    with pytest.raises(TypeError, match="'params' entry"):
        SGD([{"lr": 0.1}], lr=0.1)
    opt = Adam([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.02
    other = Adam([Parameter(np.ones(2))], lr=0.1)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.02


def test_fit_steps_the_scheduler_once_per_epoch_and_records_the_lr():
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    opt = SGD(model.parameters(), lr=0.1)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    history = tn.fit(model, F.cross_entropy, opt, x, np.arange(8) % 2, epochs=3, batch_size=4, verbose=0,
                     scheduler=sched)
    np.testing.assert_allclose(history["lr"], [0.1, 0.05, 0.025])
    assert sched.last_epoch == 3 and opt.lr == pytest.approx(0.0125)
