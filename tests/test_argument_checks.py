"""Common mistakes in calling tinynet get errors that say what was expected (PyTorch's checks, clearer words):
a path given to load_state_dict, betas given as one number, out-of-range hyper-parameters, a Sequential
index past its end."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import nn
from tinynet.nn import Parameter
from tinynet.optim import SGD, Adam, AdamW


@pytest.mark.parametrize("state", ["model.npz", b"model.npz"])
def test_load_state_dict_of_a_path_points_to_tn_load(state, tmp_path):
    with pytest.raises(TypeError, match=r"got a (str|bytes); to read a file, use model.load_state_dict\(tn.load"):
        nn.Linear(2, 2).load_state_dict(state)
    with pytest.raises(TypeError, match=r"got a PosixPath.*tn.load"):
        nn.Linear(2, 2).load_state_dict(tmp_path / "model.npz")
    with pytest.raises(TypeError, match="expected a dict name -> array"):
        nn.Linear(2, 2).load_state_dict([np.ones((2, 2))])


@pytest.mark.parametrize("optimizer", [Adam, AdamW])
def test_betas_must_be_a_pair(optimizer):
    p = [Parameter(np.ones(2))]
    for betas in (0.9, (0.9,), (0.9, 0.99, 0.999), "ab"):
        with pytest.raises(TypeError, match=r"betas must be a pair \(beta1, beta2\)"):
            optimizer(p, betas=betas)


@pytest.mark.parametrize("optimizer", [Adam, AdamW])
@pytest.mark.parametrize("kwargs, message", [
    (dict(betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\), got 1.0"),
    (dict(betas=(-0.1, 0.9)), r"betas\[0\] must be in \[0, 1\)"),
    (dict(betas=(float("nan"), 0.9)), r"betas\[0\] must be in \[0, 1\), got nan"),
    (dict(lr=-1e-3), "lr must be >= 0"),
    (dict(lr=float("nan")), "lr must be >= 0, got nan"),
    (dict(eps=-1e-8), "eps must be >= 0"),
    (dict(weight_decay=-0.1), "weight_decay must be >= 0"),
])
def test_adam_value_ranges_are_pytorchs(optimizer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        optimizer([Parameter(np.ones(2))], **kwargs)


def test_adam_accepts_the_edges_of_the_ranges():
    Adam([Parameter(np.ones(2))], lr=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    AdamW([Parameter(np.ones(2))], betas=[0.5, 0.99])


def test_hyperparameters_must_be_numbers():
    with pytest.raises(TypeError, match="SGD: lr must be a number, got NoneType"):
        SGD([Parameter(np.ones(2))], lr=None)
    with pytest.raises(TypeError, match="Adam: lr must be a number, got str"):
        Adam([Parameter(np.ones(2))], lr="1e-3")
    with pytest.raises(ValueError, match="SGD: momentum must be >= 0"):
        SGD([Parameter(np.ones(2))], lr=0.1, momentum=-0.9)


def test_adam_refuses_the_ranges_pytorch_refuses():
    torch = pytest.importorskip("torch")
    p = [torch.zeros(2, requires_grad=True)]
    for kwargs in (dict(betas=(0.9, 1.0)), dict(lr=-1e-3), dict(eps=-1e-8), dict(weight_decay=-0.1)):
        for name in ("Adam", "AdamW"):
            with pytest.raises(ValueError):
                getattr(torch.optim, name)(p, **kwargs)
            with pytest.raises(ValueError, match=name):
                getattr(tn.optim, name)([Parameter(np.ones(2))], **kwargs)


def test_sequential_index_past_the_end_says_the_length():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with pytest.raises(IndexError, match=r"index 5 is out of range for a Sequential of length 3 \(valid: -3 .. 2\)"):
        model[5]
    with pytest.raises(IndexError, match="index -4 is out of range"):
        model[-4]
    with pytest.raises(IndexError, match="length 0 .*empty"):
        nn.Sequential()[0]
    with pytest.raises(TypeError, match="index with an int or a slice, got str"):
        model["0"]
    assert model[-1] is model[2] and model[np.int64(1)] is model[1]
    assert len(model[1:10]) == 2                                   # a slice past the end is fine, as in Python


def test_a_refused_parameter_group_changes_nothing_and_groups_are_checked_like_the_constructor():
    a, b = tn.tensor([1.0], requires_grad=True), tn.tensor([2.0], requires_grad=True)
    opt = tn.optim.SGD([a], lr=0.1)
    with pytest.raises(TypeError, match="parameter 2 is a str"):
        opt.add_param_group({"params": [b, "oops"]})
    with pytest.raises(ValueError, match="unknown hyper-parameter 'lrr'"):
        opt.add_param_group({"params": [b], "lrr": 0.1})
    with pytest.raises(TypeError, match="momentum must be a number"):
        opt.add_param_group({"params": [b], "momentum": "0.9"})
    with pytest.raises(TypeError, match="betas must be a pair"):
        tn.optim.Adam([{"params": [a], "betas": 0.9}])
    assert len(opt.params) == len(opt.state) == 1 and len(opt.param_groups) == 1
    opt.add_param_group({"params": [b], "momentum": 0.9})                # b can still be added
    assert opt.param_groups[1]["momentum"] == 0.9 and len(opt.state) == 2


def test_a_group_that_a_scheduler_annotated_makes_a_new_optimizer():
    w = tn.tensor([1.0], requires_grad=True)
    opt = tn.optim.SGD([w], lr=0.1)
    tn.optim.lr_scheduler.StepLR(opt, step_size=1)                     # writes initial_lr into the group
    again = tn.optim.SGD(opt.param_groups, lr=0.1)
    assert again.param_groups[0]["initial_lr"] == 0.1
