"""An empty batch (N = 0) runs through every layer and loss as in PyTorch: the output has N = 0 rows, and
backward gives empty input gradients and all-zero parameter gradients (nothing was summed)."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet import nn

# name: (layer, input shape with N = 0, the output shape PyTorch gives)
LAYERS = {
    "Linear": (lambda: nn.Linear(3, 2), (0, 3), (0, 2)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), (0, 2, 5, 5), (0, 3, 5, 5)),
    "Conv2d(stride 2)": (lambda: nn.Conv2d(2, 3, 3, stride=2), (0, 2, 5, 5), (0, 3, 2, 2)),
    "DepthwiseConv2d": (lambda: nn.DepthwiseConv2d(2, 3), (0, 2, 5, 5), (0, 2, 3, 3)),
    "PointwiseConv2d": (lambda: nn.PointwiseConv2d(2, 3), (0, 2, 5, 5), (0, 3, 5, 5)),
    "SeparableConv2d": (lambda: nn.SeparableConv2d(2, 3, 3), (0, 2, 5, 5), (0, 3, 3, 3)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (0, 2, 4, 4), (0, 2, 2, 2)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (0, 2, 4, 4), (0, 2, 2, 2)),
    "GlobalAvgPool2d": (lambda: nn.GlobalAvgPool2d(), (0, 2, 4, 4), (0, 2, 1, 1)),
    "Flatten": (lambda: nn.Flatten(), (0, 2, 4, 4), (0, 32)),
    "Flatten(0)": (lambda: nn.Flatten(0), (0, 2, 4, 4), (0,)),
    "Flatten(1, 2)": (lambda: nn.Flatten(1, 2), (0, 2, 4, 4), (0, 8, 4)),
    "ReLU": (lambda: nn.ReLU(), (0, 3), (0, 3)),
    "Tanh": (lambda: nn.Tanh(), (0, 3), (0, 3)),
    "Sigmoid": (lambda: nn.Sigmoid(), (0, 3), (0, 3)),
    "GELU": (lambda: nn.GELU(), (0, 3), (0, 3)),
    "LeakyReLU": (lambda: nn.LeakyReLU(), (0, 3), (0, 3)),
    "ELU": (lambda: nn.ELU(), (0, 3), (0, 3)),
    "Softplus": (lambda: nn.Softplus(), (0, 3), (0, 3)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (0, 3), (0, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(2), (0, 2, 4, 4), (0, 2, 4, 4)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2), (0, 2, 4, 4), (0, 3, 9, 9)),
    "Dropout": (lambda: nn.Dropout(0.5), (0, 3), (0, 3)),
    "LayerNorm": (lambda: nn.LayerNorm(4), (0, 4), (0, 4)),
    "MultiHeadAttention": (lambda: nn.MultiHeadAttention(4, 2), (0, 3, 4), (0, 3, 4)),
    "SelfAttention2d": (lambda: nn.SelfAttention2d(4, 2), (0, 4, 2, 2), (0, 4, 2, 2)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(4, 2, 8), (0, 3, 4), (0, 3, 4)),
    "Residual": (lambda: nn.Residual(nn.Linear(3, 3)), (0, 3), (0, 3)),
    "Sequential CNN": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                            nn.Linear(8, 3)), (0, 1, 6, 6), (0, 3)),
}
@pytest.mark.parametrize("name", list(LAYERS))
def test_every_layer_runs_forward_and_backward_on_an_empty_batch(name):
    make, in_shape, out_shape = LAYERS[name]
    tn.manual_seed(0)
    layer = make()
    x = tn.Tensor(np.zeros(in_shape, np.float32), requires_grad=True)
    y = layer(x)
    assert y.shape == out_shape and y.dtype == np.float32
    y.backward(np.zeros(out_shape, np.float32))
    assert x.grad.shape == in_shape
    for pname, p in layer.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and not p.grad.any(), pname


@pytest.mark.parametrize("name", list(LAYERS))
def test_empty_batch_output_shapes_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    make, in_shape, out_shape = LAYERS[name]
    tn.manual_seed(0)
    layer = make()
    twins = {"Linear": lambda: torch.nn.Linear(3, 2), "Flatten": lambda: torch.nn.Flatten(),
             "Flatten(0)": lambda: torch.nn.Flatten(0), "Flatten(1, 2)": lambda: torch.nn.Flatten(1, 2),
             "Conv2d(stride 2)": lambda: torch.nn.Conv2d(2, 3, 3, stride=2),
             "MaxPool2d": lambda: torch.nn.MaxPool2d(2), "AvgPool2d": lambda: torch.nn.AvgPool2d(2),
             "LayerNorm": lambda: torch.nn.LayerNorm(4)}
    if name in twins:
        assert tuple(twins[name]()(torch.zeros(in_shape)).shape) == out_shape
    assert layer(np.zeros(in_shape, np.float32)).shape == out_shape


def test_flatten_of_an_empty_batch_keeps_the_feature_count():
    out = nn.Flatten()(tn.Tensor(np.zeros((0, 3, 2, 2), np.float32)))
    assert out.shape == (0, 12)                      # reshape(0, -1) has no single answer: -1 could be anything


def _empty_logits():
    return tn.Tensor(np.zeros((0, 3)), requires_grad=True), np.zeros(0, np.int64)


def test_cross_entropy_sum_and_none_on_an_empty_batch():
    logits, target = _empty_logits()
    total = F.cross_entropy(logits, target, reduction="sum")
    assert total.item() == 0.0                       # PyTorch: tensor(0.)
    total.backward()
    assert logits.grad.shape == (0, 3)
    assert F.cross_entropy(logits, target, reduction="none").shape == (0,)


def test_cross_entropy_mean_on_an_empty_batch_is_nan_as_in_pytorch():
    logits, target = _empty_logits()
    with np.errstate(invalid="ignore"):
        loss = F.cross_entropy(logits, target)
        assert np.isnan(loss.item())
        loss.backward()
    assert logits.grad.shape == (0, 3)


def test_mse_loss_mean_on_an_empty_batch_is_nan_as_in_pytorch():
    x = tn.Tensor(np.zeros((0, 3)), requires_grad=True)
    with np.errstate(invalid="ignore"):
        loss = F.mse_loss(x, np.zeros((0, 3)))
        assert np.isnan(loss.item())
        loss.backward()
    assert x.grad.shape == (0, 3)


def test_mse_loss_sum_on_an_empty_batch_is_zero():
    x = tn.Tensor(np.zeros((0, 3)), requires_grad=True)
    loss = F.mse_loss(x, np.zeros((0, 3)), reduction="sum")
    assert loss.item() == 0.0
    loss.backward()
    assert x.grad.shape == (0, 3)


def test_losses_on_an_empty_batch_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    logits, target = torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)
    ours, classes = tn.tensor(np.zeros((0, 3), np.float32)), np.zeros(0, np.int64)
    for reduction in ("mean", "sum"):
        expected = torch.nn.functional.cross_entropy(logits, target, reduction=reduction).item()
        np.testing.assert_equal(F.cross_entropy(ours, classes, reduction=reduction).item(), expected)
    np.testing.assert_equal(F.mse_loss(ours, ours).item(), torch.nn.functional.mse_loss(logits, logits).item())
