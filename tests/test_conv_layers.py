"""Conv2d, DepthwiseConv2d, PointwiseConv2d, SeparableConv2d and Flatten as Modules: PyTorch's attribute names,
initialisation and parameter counts, the separable identity, reprs, and gradchecks through a small stack."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet import nn
from tinynet.testing import random_array, seeds


# ---- attributes that other code (summary(), users coming from PyTorch) reads -----------------------------------
def test_conv2d_attributes_and_shapes_are_pytorchs():
    conv = nn.Conv2d(6, 4, (3, 5), stride=2, padding=(1, 2), dilation=(1, 2), groups=2)
    assert (conv.in_channels, conv.out_channels, conv.groups) == (6, 4, 2)
    assert conv.kernel_size == (3, 5) and conv.stride == (2, 2) and conv.padding == (1, 2) and conv.dilation == (1, 2)
    assert conv.weight.shape == (4, 3, 3, 5) and conv.bias.shape == (4,)
    assert conv.weight.dtype == np.float32 and conv.weight.requires_grad
    assert nn.Conv2d(3, 3, 3, padding="same").padding == "same"
    assert nn.Conv2d(3, 3, 3, bias=False).bias is None
    assert [name for name, _ in nn.Conv2d(3, 3, 3).named_parameters()] == ["weight", "bias"]


def test_depthwise_and_pointwise_attributes():
    dw = nn.DepthwiseConv2d(8, 3, stride=2, padding=1, depth_multiplier=3)
    assert (dw.in_channels, dw.out_channels, dw.groups, dw.depth_multiplier) == (8, 24, 8, 3)
    assert dw.kernel_size == (3, 3) and dw.stride == (2, 2) and dw.padding == (1, 1) and dw.dilation == (1, 1)
    assert dw.weight.shape == (24, 1, 3, 3) and dw.bias.shape == (24,)
    pw = nn.PointwiseConv2d(8, 5)
    assert (pw.in_channels, pw.out_channels, pw.groups) == (8, 5, 1)
    assert pw.kernel_size == pw.stride == pw.dilation == (1, 1) and pw.padding == (0, 0)
    assert pw.weight.shape == (5, 8, 1, 1) and pw.bias.shape == (5,)


def test_separable_children_and_attributes():
    sep = nn.SeparableConv2d(4, 6, 3, stride=1, padding=1, depth_multiplier=2)
    assert isinstance(sep.depthwise, nn.DepthwiseConv2d) and isinstance(sep.pointwise, nn.PointwiseConv2d)
    assert (sep.in_channels, sep.out_channels, sep.kernel_size, sep.padding) == (4, 6, (3, 3), (1, 1))
    assert sep.depthwise.weight.shape == (8, 1, 3, 3) and sep.depthwise.bias is None
    assert sep.pointwise.weight.shape == (6, 8, 1, 1) and sep.pointwise.bias.shape == (6,)
    assert list(sep.state_dict()) == ["depthwise.weight", "pointwise.weight", "pointwise.bias"]


# ---- parameter counts (the README's numbers; also in SeparableConv2d's docstring) -----------------------------
def test_parameter_counts_standard_vs_separable():
    standard = nn.Conv2d(64, 128, 3, bias=False)
    separable = nn.SeparableConv2d(64, 128, 3, bias=False)
    assert sum(p.size for p in standard.parameters()) == 73_728
    assert separable.depthwise.weight.size == 576 and separable.pointwise.weight.size == 8_192
    assert sum(p.size for p in separable.parameters()) == 8_768
    assert round(73_728 / 8_768, 1) == 8.4
    assert sum(p.size for p in nn.SeparableConv2d(64, 128, 3).parameters()) == 8_768 + 128   # one bias vector
    assert "73,728" in nn.SeparableConv2d.__doc__ and "8,768" in nn.SeparableConv2d.__doc__


# ---- initialisation: as PyTorch (kaiming_uniform_ a=√5 and bias U(±1/√fan_in)) -------------------------------
@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Conv2d(16, 32, 3, groups=4), 4 * 9),
    (lambda: nn.DepthwiseConv2d(64, 5, depth_multiplier=2), 25),
    (lambda: nn.PointwiseConv2d(48, 64), 48),
])
def test_initialisation_is_uniform_within_one_over_sqrt_fan_in(make, fan_in):
    tn.manual_seed(0)
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    w, b = layer.weight.data, layer.bias.data
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound                       # it uses the range, not a smaller one
    assert abs(w.std() - bound / math.sqrt(3)) < 0.15 * bound / math.sqrt(3)   # U(-a, a) has std a/√3
    tn.manual_seed(0)
    np.testing.assert_array_equal(make().weight.data, w)       # reproducible from the seed


# ---- forward = the functional form; separable = depthwise then pointwise -------------------------------------------
def test_layers_call_the_functions_with_their_parameters():
    x = random_array((2, 4, 7, 6), 0, dtype=np.float32)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    np.testing.assert_array_equal(conv(x).data, F.conv2d(x, conv.weight, conv.bias, 2, 1, 1, 2).data)
    dw = nn.DepthwiseConv2d(4, 3, padding="same", depth_multiplier=2)
    np.testing.assert_array_equal(dw(x).data, F.depthwise_conv2d(x, dw.weight, dw.bias, 1, "same").data)
    pw = nn.PointwiseConv2d(4, 3)
    np.testing.assert_array_equal(pw(x).data, F.pointwise_conv2d(x, pw.weight, pw.bias).data)
    assert conv(x).dtype == dw(x).dtype == pw(x).dtype == np.float32


@given(c=st.integers(1, 3), o=st.integers(1, 3), k=st.integers(1, 3), m=st.integers(1, 2), stride=st.integers(1, 2),
       seed=seeds())
@settings(max_examples=10)
def test_separable_equals_depthwise_then_pointwise(c, o, k, m, stride, seed):
    tn.manual_seed(seed % 1000)
    sep = nn.SeparableConv2d(c, o, k, stride=stride, padding=k // 2, depth_multiplier=m).double()
    x = random_array((2, c, 5, 6), seed)
    g = None
    grads = []
    def two_steps(t):
        hidden = F.depthwise_conv2d(t, sep.depthwise.weight, None, stride, k // 2)
        return F.pointwise_conv2d(hidden, sep.pointwise.weight, sep.pointwise.bias)

    for forward in (sep, two_steps):
        sep.zero_grad()
        t = tn.Tensor(x, requires_grad=True)
        y = forward(t)
        g = random_array(y.shape, seed + 1) if g is None else g
        y.backward(g)
        grads.append([y.data, t.grad] + [p.grad for p in sep.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_gradcheck_through_a_small_conv_stack_in_float64():
    """Input and all 9 parameters of a stack using every layer here, perturbed by gradcheck (directional)."""
    tn.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
                          nn.SeparableConv2d(4, 3, 3, padding="same", depth_multiplier=2), nn.Tanh(),
                          nn.AvgPool2d(2, 1), nn.DepthwiseConv2d(3, 2, stride=2, padding=1), nn.GlobalAvgPool2d(),
                          nn.Flatten(), nn.Linear(3, 2)).double()
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == 9

    def forward(x, *params):              # run the model with gradcheck's tensors in place of the parameters
        originals = [_swap(model, name, value) for name, value in zip(names, params)]
        try:
            return model(x)
        finally:
            for name, p in zip(names, originals):
                _swap(model, name, p)

    inputs = [random_array((2, 2, 8, 8), 2)] + [p.data.copy() for p in model.parameters()]
    tn.gradcheck(forward, inputs, mode="directional", n_directions=2, seed=3)


def _swap(model, dotted, value):
    """Set the attribute at a dotted parameter path (bypassing registration); return what was there."""
    *path, attr = dotted.split(".")
    owner = model
    for part in path:
        owner = getattr(owner, part)
    old = getattr(owner, attr)
    object.__setattr__(owner, attr, value)
    return old


# ---- Flatten ------------------------------------------------------------------------------------------------
def test_flatten():
    x = random_array((2, 3, 4, 5), 0)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0)(x).shape == (120,)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    assert nn.Flatten(-2)(x).shape == (2, 3, 20)
    np.testing.assert_array_equal(nn.Flatten()(x).data, x.reshape(2, -1))
    t = tn.Tensor(x, requires_grad=True)
    g = random_array((2, 60), 1)
    nn.Flatten()(t).backward(g)
    np.testing.assert_array_equal(t.grad, g.reshape(x.shape))
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    with pytest.raises(ValueError, match=r"start_dim=2, end_dim=1 .* shape \(2, 3, 4, 5\)"):
        nn.Flatten(2, 1)(x)
    with pytest.raises(ValueError, match="start_dim=4"):
        nn.Flatten(4)(x)


# ---- reprs and construction errors -------------------------------------------------------------------------
def test_reprs_show_the_arguments():
    assert repr(nn.Conv2d(3, 16, 3, padding=1)) == "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert repr(nn.Conv2d(4, 8, (3, 2), stride=2, dilation=2, groups=2, bias=False)) == (
        "Conv2d(4, 8, kernel_size=(3, 2), stride=(2, 2), dilation=(2, 2), groups=2, bias=False)")
    assert repr(nn.DepthwiseConv2d(8, 3, padding="same", depth_multiplier=2)) == (
        "DepthwiseConv2d(8, kernel_size=(3, 3), stride=(1, 1), padding='same', depth_multiplier=2)")
    assert repr(nn.PointwiseConv2d(3, 4, bias=False)) == "PointwiseConv2d(3, 4, bias=False)"
    assert repr(nn.SeparableConv2d(64, 128, 3, padding=1)) == (
        "SeparableConv2d(64, 128, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)\n"
        "  (depthwise): DepthwiseConv2d(64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
        "  (pointwise): PointwiseConv2d(64, 128)\n)")


def test_construction_errors():
    with pytest.raises(ValueError, match=r"groups=4 must divide both in_channels \(4\) and out_channels \(6\)"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        nn.Conv2d(4, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        nn.Conv2d(4, 4, 0)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        nn.DepthwiseConv2d(0, 3)
    with pytest.raises(ValueError, match="depth_multiplier must be a positive int"):
        nn.SeparableConv2d(4, 4, 3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"input has 3 channels"):
        nn.Conv2d(4, 4, 3)(np.zeros((1, 3, 5, 5), dtype=np.float32))


def test_summary_reads_the_layers():
    """summary() (tinynet/summary.py) counts a conv's MACs from its weight and compares separable vs standard."""
    from tinynet.summary import summary
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.SeparableConv2d(8, 16, 3, padding=1, bias=False))
    s = summary(model, (1, 8, 8), print_table=False)
    assert s.total_params == 8 * 9 + 8 + 8 * 9 + 8 * 16
    assert s.total_macs == 64 * 8 * 9 + 64 * 8 * 9 + 64 * 16 * 8
    assert s.separable and s.separable[0]["standard_params"] == 16 * 8 * 9
