"""A layer given another dtype than its parameters raises a TypeError naming the layer, both dtypes and the fix
(as PyTorch's layers raise); fit / evaluate / predict convert NumPy arrays and lists to the model's dtype."""
import io

import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet import nn

RNG = np.random.default_rng(0)

# (layer, a float32 input it accepts): every layer that owns parameters
LAYERS = {
    "Linear": (lambda: nn.Linear(3, 2), (4, 3)),
    "Conv2d": (lambda: nn.Conv2d(1, 2, 3), (1, 1, 5, 5)),
    "DepthwiseConv2d": (lambda: nn.DepthwiseConv2d(2, 3), (1, 2, 5, 5)),
    "PointwiseConv2d": (lambda: nn.PointwiseConv2d(2, 3), (1, 2, 5, 5)),
    "SeparableConv2d": (lambda: nn.SeparableConv2d(2, 3, 3), (1, 2, 5, 5)),
    "LayerNorm": (lambda: nn.LayerNorm(4), (2, 4)),
    "MultiHeadAttention": (lambda: nn.MultiHeadAttention(4, 2), (2, 3, 4)),
    "SelfAttention2d": (lambda: nn.SelfAttention2d(4, 2), (1, 4, 2, 2)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(4, 2, 8), (2, 3, 4)),
}
# the layer that meets the input first and so names itself in the message
FIRST = {"SeparableConv2d": "DepthwiseConv2d", "SelfAttention2d": "LayerNorm", "TransformerEncoderLayer": "LayerNorm"}


@pytest.mark.parametrize("name", LAYERS)
def test_float64_data_into_a_float32_layer_is_a_clear_type_error(name):
    make, shape = LAYERS[name]
    layer = make()
    assert layer(RNG.standard_normal(shape).astype(np.float32)).dtype == np.float32       # the right dtype works
    with pytest.raises(TypeError) as info:
        layer(RNG.standard_normal(shape))                                                 # NumPy's float64
    message = str(info.value)
    assert message.startswith(FIRST.get(name, name) + ":")
    assert "float64" in message and "float32" in message and "astype(np.float32)" in message


@pytest.mark.parametrize("name", LAYERS)
def test_float32_data_into_a_float64_layer_is_a_clear_type_error(name):
    make, shape = LAYERS[name]
    layer = make().double()
    assert layer(RNG.standard_normal(shape)).dtype == np.float64
    with pytest.raises(TypeError, match="dtype float32 but the layer's parameters are float64.*model.to"):
        layer(tn.tensor(RNG.standard_normal(shape), dtype=np.float32))


def test_integer_input_into_linear_raises_as_in_pytorch():
    with pytest.raises(TypeError, match="Linear: the input has dtype int64 .* floating point.*astype"):
        nn.Linear(3, 2)(np.arange(12).reshape(4, 3))


def test_attention_checks_key_and_value_too():
    mha = nn.MultiHeadAttention(4, 2)
    q = np.zeros((1, 3, 4), dtype=np.float32)
    with pytest.raises(TypeError, match="MultiHeadAttention: the input has dtype float64"):
        mha(q, np.zeros((1, 3, 4)))


def test_a_list_is_float32_and_suits_the_default_model():
    assert nn.Linear(3, 2)([[1.0, 2.0, 3.0]]).dtype == np.float32


def test_layernorm_without_weights_accepts_any_float_dtype():
    assert nn.LayerNorm(4, elementwise_affine=False)(np.ones((2, 4))).dtype == np.float64


def test_linear_refuses_the_inputs_pytorch_refuses():
    torch = pytest.importorskip("torch")
    for dtype in (np.float64, np.int64):
        with pytest.raises(RuntimeError, match="same dtype"):
            torch.nn.Linear(3, 2)(torch.zeros(4, 3, dtype=getattr(torch, np.dtype(dtype).name)))
        with pytest.raises(TypeError, match="Linear"):
            nn.Linear(3, 2)(tn.tensor(np.zeros((4, 3)), dtype=dtype))


def _classifier():
    tn.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def test_fit_evaluate_predict_convert_float64_arrays_and_lists_to_the_model_dtype():
    model = _classifier()
    x = RNG.standard_normal((10, 3))                                   # float64
    y = (x[:, 0] > 0).astype(np.int64)
    opt = tn.optim.SGD(model.parameters(), lr=0.1)
    history = tn.fit(model, F.cross_entropy, opt, x, y, epochs=2, batch_size=4, verbose=0,
                     validation_data=(x.tolist(), y.tolist()))
    assert len(history["val_loss"]) == 2
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert set(tn.evaluate(model, F.cross_entropy, x.tolist(), y)) == {"loss", "accuracy"}
    out = tn.predict(model, x)
    assert out.dtype == np.float32 and out.shape == (10, 2)
    np.testing.assert_allclose(tn.predict(model, x.tolist()), out)


def test_fit_converts_float_regression_targets_and_keeps_integer_classes():
    model = _classifier()
    seen = []

    def loss_fn(out, target):
        seen.append(target.dtype)
        return F.mse_loss(out, target)
    tn.fit(model, loss_fn, tn.optim.SGD(model.parameters(), lr=0.1), RNG.standard_normal((6, 3)),
           RNG.standard_normal((6, 2)), batch_size=3, verbose=0, metrics=())
    assert seen == [np.float32, np.float32]


def test_fit_keeps_a_tensor_as_given_so_a_mismatch_is_the_layers_error():
    model = _classifier()
    x = tn.tensor(RNG.standard_normal((6, 3)))                         # an explicit float64 Tensor
    with pytest.raises(TypeError, match="Linear: the input has dtype float64"):
        tn.fit(model, F.cross_entropy, tn.optim.SGD(model.parameters(), lr=0.1), x, np.zeros(6, np.int64),
               verbose=0, stream=io.StringIO())
