"""Module, Parameter, Sequential, Linear and the activation layers."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet import nn
from tinynet.testing import check_op, random_array, seeds


@given(seed=seeds(), lead=st.sampled_from([(), (3,), (2, 3)]), bias=st.booleans())
def test_linear_function_against_numpy(seed, lead, bias):
    x = random_array(lead + (4,), seed)
    w = random_array((5, 4), seed + 1)
    b = random_array((5,), seed + 2)
    if bias:
        check_op(F.linear, lambda x, w, b: x @ w.T + b, x, w, b)
    else:
        check_op(F.linear, lambda x, w: x @ w.T, x, w)


def test_linear_errors_name_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) does not match weight of shape \(5, 4\)"):
        F.linear(tn.tensor(np.ones((2, 3))), tn.tensor(np.ones((5, 4))))
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        F.linear(tn.tensor(np.ones((2, 4))), tn.tensor(np.ones((5, 4))), tn.tensor(np.ones(4)))


def test_linear_layer_init_like_pytorch_and_names():
    tn.manual_seed(0)
    layer = nn.Linear(100, 20)
    bound = 1 / np.sqrt(100)
    assert layer.weight.shape == (20, 100) and layer.bias.shape == (20,)
    assert layer.weight.dtype == np.float32
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.9 * bound          # it is U(-bound, bound), not smaller
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert repr(layer) == "Linear(in_features=100, out_features=20, bias=True)"
    assert nn.Linear(3, 2, bias=False).bias is None


def test_manual_seed_makes_models_reproducible():
    tn.manual_seed(3)
    a = nn.Linear(4, 4).weight.data.copy()
    tn.manual_seed(3)
    np.testing.assert_array_equal(a, nn.Linear(4, 4).weight.data)


def test_sequential_names_and_state_dict_like_pytorch():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.Tanh()), nn.Linear(4, 2))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.0.weight", "2.0.bias", "3.weight", "3.bias"]
    assert list(model.state_dict()) == names
    assert len(model) == 4 and isinstance(model[1], nn.ReLU)
    assert "(2): Sequential(" in repr(model) and "(1): Tanh()" in repr(model)


def test_state_dict_round_trip_and_shape_error():
    tn.manual_seed(0)
    a = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2))
    b = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2))
    x = tn.tensor(np.ones((5, 3), dtype=np.float32))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).data, b(x).data)
    state = a.state_dict()
    state["0.weight"] = np.ones((4, 4))
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(4, 4\) in the state dict but \(4, 3\)"):
        b.load_state_dict(state)
    with pytest.raises(KeyError, match="missing keys"):
        b.load_state_dict({"0.weight": np.ones((4, 3))})


def test_state_dict_is_a_copy():
    layer = nn.Linear(2, 2)
    state = layer.state_dict()
    state["weight"][...] = 0
    assert np.any(layer.weight.data != 0)


def test_train_eval_and_double():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    model.eval()
    assert not model.training and not model[0].training
    model.train()
    assert model[1].training
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())


def test_residual_adds_the_skip_and_checks_shapes():
    tn.manual_seed(0)
    block = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    res = nn.Residual(block).double()
    x = random_array((2, 3), 0)
    check_op(lambda t: res(t), lambda a: a + np.tanh(a @ block[0].weight.data.T + block[0].bias.data), x,
             float32=False)
    with pytest.raises(ValueError, match=r"Residual: the block maps shape \(2, 3\) to \(2, 4\)"):
        nn.Residual(nn.Linear(3, 4))(tn.tensor(np.ones((2, 3), dtype=np.float32)))


@pytest.mark.parametrize("layer, ref", [
    (nn.ReLU(), lambda a: np.maximum(a, 0)), (nn.Tanh(), np.tanh), (nn.Sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
])
def test_activation_layers(layer, ref):
    check_op(layer, ref, random_array((3, 4), 1))


def test_parameters_require_grad_and_modules_need_super_init():
    p = nn.Parameter(np.ones(3, dtype=np.int64))
    assert p.requires_grad and p.dtype == np.float32

    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))
    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Broken()


def test_scale_layer_multiplies_and_shows_alpha():
    layer = nn.Scale(0.25)
    check_op(layer, lambda a: 0.25 * a, random_array((2, 3), 5))
    assert repr(layer) == "Scale(alpha=0.25)"


def test_assigning_a_plain_tensor_to_a_parameter_is_a_clear_error():
    """PyTorch refuses it too: the weight would silently drop out of parameters(), state_dict() and zero_grad()."""
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"Linear.weight is a parameter: assign an nn.Parameter \(or None\), got Tensor"):
        lin.weight = tn.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    lin.weight = nn.Parameter(np.ones((2, 2), np.float32))            # a Parameter replaces it
    assert [name for name, _ in lin.named_parameters()] == ["weight", "bias"]


def test_sequential_slice_keeps_the_child_names():
    """As in PyTorch, model[1:] names its children "1", "2", ..., so its state_dict keys match the model's."""
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    tail = model[1:]
    assert list(tail.state_dict()) == ["2.weight", "2.bias"]
    assert tail[-1] is model[2] and len(tail) == 2
    x = tn.tensor(np.ones((4, 3), np.float32))
    np.testing.assert_array_equal(tail(x).data, model[2](x.relu()).data)


def test_linear_with_zero_features_works_as_in_pytorch_and_bad_sizes_are_clear_errors():
    layer = nn.Linear(0, 2)                                           # torch: bias bound 0, weight (2, 0)
    np.testing.assert_array_equal(layer.bias.data, [0.0, 0.0])
    x = tn.tensor(np.ones((3, 0), np.float32), requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert y.shape == (3, 2) and x.grad.shape == (3, 0) and layer.weight.grad.shape == (2, 0)
    np.testing.assert_array_equal(layer.bias.grad, [3.0, 3.0])
    assert nn.Linear(3, 0)(tn.tensor(np.ones((4, 3), np.float32))).shape == (4, 0)
    for bad in (-1, 2.0):
        with pytest.raises(ValueError, match=rf"Linear: in_features must be an int >= 0, got {bad!r}"):
            nn.Linear(bad, 2)


def test_a_parameter_set_to_none_keeps_its_slot():
    """As in PyTorch: after lin.bias = None (or bias=False) only a Parameter may fill the slot again, and it
    comes back in its old place in state_dict()."""
    lin = nn.Linear(2, 2)
    lin.weight = None
    assert [name for name, _ in lin.named_parameters()] == ["bias"]
    with pytest.raises(TypeError, match=r"Linear.weight is a parameter"):
        lin.weight = tn.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    lin.weight = nn.Parameter(np.ones((2, 2), np.float32))
    assert list(lin.state_dict()) == ["weight", "bias"]
    without_bias = nn.Linear(2, 2, bias=False)
    with pytest.raises(TypeError, match=r"Linear.bias is a parameter"):
        without_bias.bias = tn.tensor(np.ones(2, np.float32))


def test_register_parameter_refuses_the_name_of_a_submodule():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(KeyError, match=r"'0' is already a submodule of Sequential"):
        model.register_parameter("0", None)
    assert isinstance(model[0], nn.Linear)
