"""F.conv_transpose2d and nn.ConvTranspose2d: against a direct NumPy scatter formula (a loop over kernel taps),
gradchecks, the fused op against its textbook reference, the adjoint identity with conv2d, and PyTorch."""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet import nn
from tinynet.functional import reference as R
from tinynet.testing import check_op, random_array, seeds


def scatter_reference(x, w, b, stride, padding, output_padding, groups, dilation):
    """Every input pixel stamps its kernel onto the output: for each tap (i, j),
    y[n, o, r·s + i·d − p, q·s + j·d − p] += Σ_c x[n, c, r, q] · W[c, o, i, j] (within a group)."""
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = stride, padding, output_padding, dilation
    N, C_in, H, W = x.shape
    _, Og, kh, kw = w.shape
    Cg = C_in // groups
    H_out = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oh + 1
    W_out = (W - 1) * sw - 2 * pw + dw * (kw - 1) + ow + 1
    canvas = np.zeros((N, groups * Og, H_out + 2 * ph, W_out + 2 * pw))        # output before removing padding
    for g in range(groups):
        xg, wg = x[:, g * Cg:(g + 1) * Cg], w[g * Cg:(g + 1) * Cg]
        for i in range(kh):
            for j in range(kw):
                stamp = np.einsum("nchw,co->nohw", xg, wg[:, :, i, j])
                rows = slice(i * dh, i * dh + (H - 1) * sh + 1, sh)
                cols = slice(j * dw, j * dw + (W - 1) * sw + 1, sw)
                canvas[:, g * Og:(g + 1) * Og, rows, cols] += stamp
    y = canvas[:, :, ph:ph + H_out, pw:pw + W_out]
    return y if b is None else y + b.reshape(-1, 1, 1)


@st.composite
def transpose_case(draw):
    groups = draw(st.integers(1, 2))
    N, Cg, Og = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    H, W = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    for n, k, s, p, d, extra in zip((H, W), kernel, stride, padding, dilation, output_padding):
        assume((n - 1) * s - 2 * p + d * (k - 1) + extra + 1 >= 1)
    seed = draw(seeds())
    x = random_array((N, groups * Cg, H, W), seed)
    w = random_array((groups * Cg, Og) + kernel, seed + 1)
    b = random_array((groups * Og,), seed + 2) if draw(st.booleans()) else None
    settings = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    return x, w, b, settings, seed


@given(case=transpose_case())
def test_matches_the_scatter_formula_and_gradchecks(case):
    x, w, b, settings, _ = case
    order = (settings["stride"], settings["padding"], settings["output_padding"], settings["groups"],
             settings["dilation"])
    if b is None:
        check_op(lambda t, u: F.conv_transpose2d(t, u, **settings),
                 lambda a, u: scatter_reference(a, u, None, *order), x, w)
    else:
        check_op(lambda t, u, c: F.conv_transpose2d(t, u, c, **settings),
                 lambda a, u, c: scatter_reference(a, u, c, *order), x, w, b)


@given(case=transpose_case())
def test_fused_equals_reference_values_and_gradients(case):
    """F.conv_transpose2d (col2im of Wᵀx) and R.conv_transpose2d (zero-stuffing, padding, a conv with the
    flipped kernel): same output, same gradients for a random upstream gradient."""
    x, w, b, settings, seed = case
    results = []
    for fn in (F.conv_transpose2d, R.conv_transpose2d):
        leaves = [tn.Tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
        y = fn(*leaves, **settings) if b is not None else fn(*leaves, None, **settings)
        y.backward(random_array(y.shape, seed + 3))
        results.append([y.data] + [t.grad for t in leaves])
    for fused, textbook in zip(*results):
        np.testing.assert_allclose(fused, textbook, rtol=1e-10, atol=1e-10)


@given(case=transpose_case())
def test_is_the_adjoint_of_conv2d(case):
    """⟨conv_transpose2d(x, W), z⟩ = ⟨x, conv2d(z, W)⟩ for every z of the output's shape: the defining property,
    and why dx of a transposed conv is conv2d(g, W)."""
    x, w, _, settings, seed = case
    y = F.conv_transpose2d(tn.Tensor(x), tn.Tensor(w), **settings).data
    z = random_array(y.shape, seed + 4)
    conv_z = F.conv2d(tn.Tensor(z), tn.Tensor(w), stride=settings["stride"], padding=settings["padding"],
                      dilation=settings["dilation"], groups=settings["groups"]).data
    H, W = x.shape[2:]
    conv_z = conv_z[:, :, :H, :W]              # with output_padding >= stride conv2d has extra outputs: unused
    np.testing.assert_allclose(np.sum(y * z), np.sum(x * conv_z), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("settings", [dict(stride=2, padding=1, output_padding=1),
                                      dict(stride=(1, 2), padding=(0, 1), dilation=(2, 1), output_padding=(1, 0)),
                                      dict(stride=2, groups=2)])
def test_matches_pytorch(settings):
    torch = pytest.importorskip("torch")
    groups = settings.get("groups", 1)
    x, w, b = random_array((2, 4, 3, 4), 0), random_array((4, 3, 3, 2), 1), random_array((3 * groups,), 2)
    g_shape = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                                   **settings).shape
    g = random_array(tuple(g_shape), 3)
    leaves = [tn.Tensor(a, requires_grad=True) for a in (x, w, b)]
    F.conv_transpose2d(*leaves, **settings).backward(g)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = torch.nn.functional.conv_transpose2d(*theirs, **settings)
    y.backward(torch.from_numpy(g))
    np.testing.assert_allclose(F.conv_transpose2d(x, w, b, **settings).data, y.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    for ours, t in zip(leaves, theirs):
        np.testing.assert_allclose(ours.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_stays_float32():
    x = tn.Tensor(random_array((1, 2, 3, 3), 0, dtype=np.float32), requires_grad=True)
    layer = nn.ConvTranspose2d(2, 3, 2, stride=2)
    y = layer(x)
    y.backward(np.ones(y.shape, np.float32))
    assert y.shape == (1, 3, 6, 6)
    assert y.dtype == x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32


def test_errors():
    x = tn.Tensor(np.zeros((1, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"the input has 4 channels.*weight \(3, 2, 3, 3\)"):
        F.conv_transpose2d(x, np.zeros((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="output_padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(x, np.zeros((4, 2, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="the output would have size"):
        F.conv_transpose2d(x, np.zeros((4, 2, 1, 1)), padding=2)
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        F.conv_transpose2d(x, np.zeros((4, 2, 3, 3)), bias=np.zeros(3))
    with pytest.raises(TypeError, match="same floating dtype"):
        F.conv_transpose2d(x, np.zeros((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="input must be 4-D"):
        F.conv_transpose2d(tn.Tensor(np.zeros((4, 3, 3))), np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="groups=3 must divide"):
        nn.ConvTranspose2d(4, 6, 3, groups=3)


def test_module_layout_init_and_repr_as_pytorch():
    tn.manual_seed(0)
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert layer.weight.shape == (4, 3, 3, 3) and layer.bias.shape == (6,)
    assert list(layer.state_dict()) == ["weight", "bias"]
    bound = 1 / np.sqrt(3 * 3 * 3)                    # fan_in from the weight's second axis, as PyTorch
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert repr(layer) == ("ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                           "output_padding=(1, 1), groups=2)")
    assert layer(tn.Tensor(np.zeros((1, 4, 5, 5), np.float32))).shape == (1, 6, 10, 10)   # 2x upsampling


def test_summary_counts_one_kernel_stamp_per_input_pixel():
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, groups=2)
    table = tn.summary(layer, (4, 5, 5), print_table=False)
    assert table.total_macs == (4 * 5 * 5) * (6 // 2) * 3 * 3          # input elements × C_out/groups × kh × kw


def test_output_size_picks_the_output_padding_as_pytorch():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    x = random_array((1, 2, 4, 5), 0)
    assert layer(tn.Tensor(x)).shape == (1, 3, 7, 9)
    assert layer(tn.Tensor(x), output_size=(8, 10)).shape == (1, 3, 8, 10)      # output_padding (1, 1)
    assert layer(tn.Tensor(x), output_size=(1, 3, 8, 9)).shape == (1, 3, 8, 9)
    with pytest.raises(ValueError, match="valid sizes .* range from 7 to 8"):
        layer(tn.Tensor(x), output_size=(9, 9))
    torch = pytest.importorskip("torch")
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    expected = theirs(torch.from_numpy(x), output_size=(8, 10)).detach().numpy()
    np.testing.assert_allclose(layer(tn.Tensor(x), output_size=(8, 10)).data, expected, rtol=1e-12, atol=1e-12)


def test_an_empty_batch_gives_an_empty_output_and_zero_weight_gradient():
    x = tn.Tensor(np.zeros((0, 2, 3, 3)), requires_grad=True)
    w = tn.Tensor(random_array((2, 3, 2, 2), 0), requires_grad=True)
    y = F.conv_transpose2d(x, w, stride=2)
    y.backward(np.zeros(y.shape))
    assert y.shape == (0, 3, 6, 6) and x.grad.shape == (0, 2, 3, 3)
    np.testing.assert_array_equal(w.grad, 0.0)


def test_output_size_may_be_an_int_and_a_wrong_kind_is_a_clear_error():
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2)
    x = tn.tensor(np.ones((1, 1, 4, 4), np.float32))
    assert layer(x, output_size=10).shape == (1, 1, 10, 10)
    with pytest.raises(TypeError, match="output_size must be an int or a sequence"):
        layer(x, output_size=10.5)
