"""conv2d, depthwise_conv2d, pointwise_conv2d, im2col / col2im.

Forward checks use an independent reference: ``scipy.signal.correlate`` per (image, output channel, input
channel) on an explicitly padded input with an explicitly dilated kernel, then every s-th output. Hypothesis
draws batch, channels, groups, multiplier, sizes, kernel 1-5, stride 1-3, padding 0-2 / pairs / 'valid' /
'same', dilation 1-2; values come from seeded NumPy generators. ``check_op`` adds float32, no-mutation and a
gradcheck (float64, random upstream gradient) of input, weight and bias.
"""
import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings, strategies as st

import tinynet as tn
import tinynet.functional as F
import tinynet.functional.conv as conv_module
from tinynet import nn
from tinynet.testing import check_op, random_array, seeds

# The configuration space (groups x kernel x stride x padding x dilation) is large and each example is cheap
# (~10 ms), so the main property tests draw more examples than the profile's default (never fewer).
WIDE = settings(max_examples=max(60, settings.default.max_examples))


# ---- an independent reference ------------------------------------------------------------------------------
def resolve_padding(padding, kernel, dilation):
    """((top, bottom), (left, right)) as PyTorch defines it ('same': total d(k-1), the extra at the end)."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph), (pw, pw)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def reference_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation with scipy, one (n, o, c) plane at a time."""
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    pads = resolve_padding(padding, (kh, kw), (dh, dw))
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    kernel = np.zeros((O, Cg, dh * (kh - 1) + 1, dw * (kw - 1) + 1))
    kernel[:, :, ::dh, ::dw] = w                                  # the dilated kernel: zeros between the taps
    Og = O // groups
    planes = []
    for n in range(N):
        for o in range(O):
            g = o // Og
            acc = sum(scipy.signal.correlate(xp[n, g * Cg + c], kernel[o, c], mode="valid", method="direct")
                      for c in range(Cg))
            planes.append(acc[::sh, ::sw])
    y = np.array(planes).reshape((N, O) + planes[0].shape)
    if b is not None:
        y = y + b[:, None, None]
    return y


def out_size(size, k, s, lo, hi, d):
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


# ---- Hypothesis: conv configurations -----------------------------------------------------------------------
@st.composite
def conv_cases(draw, depthwise=False):
    n = draw(st.integers(1, 2))
    if depthwise:
        groups = draw(st.integers(1, 3))              # = channels
        cg, og = 1, draw(st.integers(1, 3))           # og = channel multiplier
    else:
        groups = draw(st.sampled_from([1, 1, 2, 3]))
        cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = draw(st.sampled_from([1, 2, 3, (1, 2), (3, 1)]))
    dilation = draw(st.sampled_from([1, 2, (1, 2), (2, 1)]))
    paddings = [0, 1, 2, (0, 1), (2, 1), "valid"] + (["same"] if stride == 1 else [])
    padding = draw(st.sampled_from(paddings))
    pads = resolve_padding(padding, kernel, pair(dilation))
    sizes = []
    for k, d, (lo, hi) in zip(kernel, pair(dilation), pads):
        smallest = max(1, d * (k - 1) + 1 - lo - hi)              # the window must fit
        sizes.append(smallest + draw(st.integers(0, 4)))
    seed = draw(seeds())
    x = random_array((n, groups * cg) + tuple(sizes), seed)
    fan_in = cg * kernel[0] * kernel[1]
    w = random_array((groups * og, cg) + kernel, seed + 1, scale=1 / np.sqrt(fan_in))
    b = random_array((groups * og,), seed + 2)
    return dict(x=x, w=w, b=b, groups=groups, stride=stride, padding=padding, dilation=dilation)


@given(case=conv_cases())
@WIDE
def test_conv2d_matches_scipy_and_gradchecks(case):
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    check_op(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: reference_conv2d(x, w, b, **kw),
             case["x"], case["w"], case["b"], mode="directional")


@given(case=conv_cases(), with_bias=st.booleans())
@WIDE
def test_conv2d_output_size_formula(case, with_bias):
    x, w = case["x"], case["w"]
    kh, kw = w.shape[2:]
    (sh, sw), (dh, dw) = pair(case["stride"]), pair(case["dilation"])
    (pt, pb), (pl, pr) = resolve_padding(case["padding"], (kh, kw), (dh, dw))
    expected = (x.shape[0], w.shape[0],
                out_size(x.shape[2], kh, sh, pt, pb, dh), out_size(x.shape[3], kw, sw, pl, pr, dw))
    y = F.conv2d(x, w, case["b"] if with_bias else None, case["stride"], case["padding"], case["dilation"],
                 case["groups"])
    assert y.shape == expected
    cols = F.im2col(x, (kh, kw), case["stride"], case["padding"], case["dilation"])
    assert cols.shape == (x.shape[0], x.shape[1] * kh * kw, expected[2] * expected[3])
    if isinstance(case["padding"], int):                  # the textbook formula with symmetric padding
        p = case["padding"]
        assert expected[2] == F.conv_output_size(x.shape[2], kh, sh, p, dh)
        assert expected[2] == (x.shape[2] + 2 * p - dh * (kh - 1) - 1) // sh + 1


@pytest.mark.parametrize("kwargs", [
    dict(stride=2, padding=1, groups=2),
    dict(stride=1, padding="same", dilation=2),
    dict(stride=(2, 1), padding=(0, 2), dilation=(1, 2)),
    dict(padding="same", kernel=(2, 4)),              # odd total padding: the extra row/column at the end
])
def test_conv2d_full_gradcheck_small(kwargs):
    kernel = kwargs.pop("kernel", (3, 2))
    x = random_array((2, 4, 5, 6), 0)
    w = random_array((6, 4 // kwargs.get("groups", 1), *kernel), 1, scale=0.3)
    b = random_array((6,), 2)
    check_op(lambda x, w, b: F.conv2d(x, w, b, **kwargs), lambda x, w, b: reference_conv2d(x, w, b, **kwargs),
             x, w, b, mode="full")


def test_conv2d_without_bias_and_partial_requires_grad():
    x, w = random_array((2, 3, 6, 5), 0), random_array((4, 3, 3, 3), 1)
    check_op(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: reference_conv2d(x, w, padding=1), x, w)
    g = random_array((2, 4, 6, 5), 2)
    full_x, full_w = tn.Tensor(x, requires_grad=True), tn.Tensor(w, requires_grad=True)
    F.conv2d(full_x, full_w, padding=1).backward(g)
    only_x = tn.Tensor(x, requires_grad=True)                  # frozen weight: dx only
    F.conv2d(only_x, tn.Tensor(w), padding=1).backward(g)
    only_w = tn.Tensor(w, requires_grad=True)                  # first layer: dW only, no col2im
    F.conv2d(tn.Tensor(x), only_w, padding=1).backward(g)
    np.testing.assert_array_equal(only_x.grad, full_x.grad)
    np.testing.assert_array_equal(only_w.grad, full_w.grad)


@pytest.mark.parametrize("stride", [2, 1])                    # stride 1: the same-size col2im, with its scratch
def test_conv2d_second_backward_rebuilds_the_columns(stride):
    """backward frees the columns after dW; a retained graph's second backward must rebuild them."""
    x = tn.Tensor(random_array((2, 3, 6, 6), 0), requires_grad=True)
    w = tn.Tensor(random_array((4, 3, 3, 3), 1), requires_grad=True)
    b = tn.Tensor(random_array((4,), 2), requires_grad=True)
    y = F.conv2d(x, w, b, stride=stride, padding=1)
    g = random_array(y.shape, 3)
    y.backward(g, retain_graph=True)
    first = [t.grad.copy() for t in (x, w, b)]
    y.backward(g)
    for t, once in zip((x, w, b), first):
        np.testing.assert_allclose(t.grad, 2 * once, rtol=1e-12)


def conv2d_input_gradient_by_col2im(x, w, g, stride, padding, dilation, groups):
    """dx = col2im(Wᵀ G) with the whole dcols built at once and the public (strided, per-tap) col2im."""
    N, C = x.shape[:2]
    O, Cg, kh, kw = w.shape
    G = g.reshape(N, groups, O // groups, -1)                          # (N, groups, O/g, H'W')
    w3 = w.reshape(groups, O // groups, Cg * kh * kw)                  # (groups, O/g, C/g·kh·kw)
    dcols = np.einsum("gok,ngol->ngkl", w3, G).reshape(N, C * kh * kw, -1)
    return F.col2im(dcols, x.shape, (kh, kw), stride, padding, dilation)


def assert_input_gradient_is_col2im(x, w, stride, padding, dilation, groups, seed):
    xt = tn.Tensor(x, requires_grad=True)
    y = F.conv2d(xt, tn.Tensor(w), stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = random_array(y.shape, seed)
    y.backward(g)
    expected = conv2d_input_gradient_by_col2im(x, w, g, stride, padding, dilation, groups)
    np.testing.assert_allclose(xt.grad, expected, rtol=1e-12, atol=1e-12)


@given(case=conv_cases(), seed=seeds())
@WIDE
def test_conv2d_input_gradient_equals_col2im_of_wt_g(case, seed):
    """conv2d's backward adds dcols back tap by tap (one long shifted add per image when the output has the
    input's size); it must equal the public col2im of the whole dcols = Wᵀ G."""
    assert_input_gradient_is_col2im(case["x"], case["w"], case["stride"], case["padding"], case["dilation"],
                                    case["groups"], seed)


@st.composite
def same_size_cases(draw):
    """Stride 1 and H' = H, W' = W: 'same', or symmetric padding d·(k − 1)/2 per axis (odd kernels)."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    kernel = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if all(k % 2 for k in kernel) and draw(st.booleans()):
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    else:
        padding = "same"
    size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))        # the kernel may be bigger than the image
    seed = draw(seeds())
    x = random_array((draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))) + size, seed)
    w = random_array((groups * draw(st.integers(1, 2)), x.shape[1] // groups) + kernel, seed + 1)
    return x, w, padding, dilation, groups, seed + 2


@given(case=same_size_cases())
@WIDE
def test_conv2d_input_gradient_on_same_size_outputs(case):
    """When the output has the input's size, conv2d adds each tap back with one shifted += over an image's
    flattened planes, after zeroing the entries whose tap falls outside the image (flattened, they would land
    in another row or plane); the result must equal the strided col2im of the whole Wᵀ G."""
    x, w, padding, dilation, groups, seed = case
    assert_input_gradient_is_col2im(x, w, 1, padding, dilation, groups, seed)


@pytest.mark.parametrize("kernel, kwargs", [
    ((3, 3), dict(padding=1)),                          # the usual 'same' conv
    ((2, 4), dict(padding="same")),                     # odd total padding: one more row/column at the end
    ((3, 3), dict(padding="same", dilation=(2, 3), groups=2)),
    ((5, 1), dict(padding=(4, 0), dilation=2)),         # a 1-wide kernel: no column ever falls outside
    ((3, 5), dict(padding=(1, 2), groups=4)),           # wider than the 3-pixel-wide image
    ((3, 3), dict(padding=(0, 1))),                     # W' = W but H' = H − 2: the general path
    ((3, 3), dict(padding=(1, 0))),                     # H' = H but W' = W − 2: the general path
])
def test_conv2d_input_gradient_on_same_size_geometries(kernel, kwargs):
    """Taps here reach past every edge of the image, across rows and across channel planes."""
    kwargs = dict(kwargs)                               # the parametrize dict is shared between runs
    groups = kwargs.pop("groups", 1)
    x = random_array((2, 4, 5, 3), 0)
    w = random_array((8, 4 // groups) + kernel, 1)
    assert_input_gradient_is_col2im(x, w, 1, kwargs.get("padding", 0), kwargs.get("dilation", 1), groups, 2)


def test_conv2d_input_gradient_when_a_tap_misses_a_tiny_image():
    """One 1x2 channel under a 3x3 kernel with padding 1: the corner taps shift past the whole flattened image."""
    assert_input_gradient_is_col2im(random_array((2, 1, 1, 2), 0), random_array((4, 1, 3, 3), 1), 1, 1, 1, 1, 2)


@pytest.mark.parametrize("padding, same_size", [(1, True), ("same", True), (0, False), ((1, 0), False)])
def test_conv2d_takes_the_same_size_path_exactly_when_the_output_has_the_input_size(monkeypatch, padding,
                                                                                   same_size):
    """The shifted-add col2im must really run for 'same' convolutions (and only for them), or the tests above
    would check the strided path twice."""
    calls = []
    original = conv_module.col2im_same_size
    monkeypatch.setattr(conv_module, "col2im_same_size", lambda *args: calls.append(1) or original(*args))
    x = tn.Tensor(random_array((2, 3, 5, 4), 0), requires_grad=True)
    F.conv2d(x, tn.Tensor(random_array((4, 3, 3, 3), 1)), padding=padding).sum().backward()
    assert bool(calls) == same_size


@pytest.mark.parametrize("x_dtype, w_dtype, g_dtype", [
    (np.float32, np.float32, np.float32), (np.float32, np.float64, np.float32), (np.float32, np.float32, np.float64),
])
def test_conv2d_same_size_input_gradient_in_float32_and_mixed_dtypes(x_dtype, w_dtype, g_dtype):
    """dx through the same-size path in float32, also with a float64 weight or upstream gradient mixed in (the
    products then run in float64), against float64; x.grad keeps x's dtype, as in PyTorch."""
    x, w = random_array((2, 3, 6, 5), 0), random_array((4, 3, 3, 3), 1)
    g = random_array((2, 4, 6, 5), 2)
    xt = tn.Tensor(x.astype(x_dtype), requires_grad=True)
    F.conv2d(xt, tn.Tensor(w.astype(w_dtype)), padding=1).backward(g.astype(g_dtype))
    expected = conv2d_input_gradient_by_col2im(x, w, g, 1, 1, 1, 1)
    assert xt.grad.dtype == x_dtype
    np.testing.assert_allclose(xt.grad, expected, rtol=1e-5, atol=1e-5)


def test_conv2d_on_an_empty_batch():
    """N = 0 (as PyTorch allows): empty output and gradients of the right shapes, on both col2im paths."""
    for padding in (1, 0):
        x = tn.Tensor(np.ones((0, 3, 5, 5)), requires_grad=True)
        w = tn.Tensor(np.ones((4, 3, 3, 3)), requires_grad=True)
        y = F.conv2d(x, w, padding=padding)
        y.backward(np.ones(y.shape))
        assert x.grad.shape == (0, 3, 5, 5)
        np.testing.assert_array_equal(w.grad, np.zeros((4, 3, 3, 3)))


# ---- depthwise ---------------------------------------------------------------------------------------------
@given(case=conv_cases(depthwise=True))
@WIDE
def test_depthwise_matches_scipy_and_gradchecks(case):
    C = case["x"].shape[1]
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    check_op(lambda x, w, b: F.depthwise_conv2d(x, w, b, **kw),
             lambda x, w, b: reference_conv2d(x, w, b, groups=C, **kw),
             case["x"], case["w"], case["b"], mode="directional")


@pytest.mark.parametrize("multiplier", [1, 2, 3])
def test_depthwise_full_gradcheck_stride2_padding1(multiplier):
    x = random_array((2, 3, 7, 6), 0)
    w = random_array((3 * multiplier, 1, 3, 3), 1, scale=0.3)
    b = random_array((3 * multiplier,), 2)
    check_op(lambda x, w, b: F.depthwise_conv2d(x, w, b, stride=2, padding=1),
             lambda x, w, b: reference_conv2d(x, w, b, stride=2, padding=1, groups=3), x, w, b, mode="full")


def test_depthwise_full_gradcheck_dilated_same_padding_no_bias():
    x = random_array((1, 2, 6, 7), 0)
    w = random_array((4, 1, 2, 3), 1, scale=0.3)            # 'same' totals: 1 (odd) along H, 4 along W
    check_op(lambda x, w: F.depthwise_conv2d(x, w, padding="same", dilation=(1, 2)),
             lambda x, w: reference_conv2d(x, w, padding="same", dilation=(1, 2), groups=2), x, w, mode="full")


@given(case=conv_cases(depthwise=True))
@settings(max_examples=10)
def test_depthwise_equals_conv2d_with_groups_equal_channels(case):
    """Identity: depthwise_conv2d == conv2d(groups=C), forward and every gradient."""
    C = case["x"].shape[1]
    kw = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    outs = []
    for fn in (lambda x, w, b: F.depthwise_conv2d(x, w, b, **kw), lambda x, w, b: F.conv2d(x, w, b, groups=C, **kw)):
        ts = [tn.Tensor(a, requires_grad=True) for a in (case["x"], case["w"], case["b"])]
        y = fn(*ts)
        y.backward(random_array(y.shape, 7))
        outs.append([y.data] + [t.grad for t in ts])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ---- pointwise ---------------------------------------------------------------------------------------------
@given(n=st.integers(1, 3), c=st.integers(1, 4), o=st.integers(1, 4), h=st.integers(1, 4), w=st.integers(1, 4),
       seed=seeds(), with_bias=st.booleans())
def test_pointwise_matches_reference_and_equals_1x1_conv(n, c, o, h, w, seed, with_bias):
    x = random_array((n, c, h, w), seed)
    weight = random_array((o, c, 1, 1), seed + 1)
    arrays = [x, weight] + ([random_array((o,), seed + 2)] if with_bias else [])

    def reference(x, weight, b=None):
        y = np.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x)
        return y if b is None else y + b[:, None, None]

    out = check_op(lambda *t: F.pointwise_conv2d(*t), reference, *arrays, mode="directional")
    as_conv = F.conv2d(*[tn.Tensor(a) for a in arrays]).data                 # identity: a 1x1 conv2d
    np.testing.assert_allclose(out, as_conv, rtol=1e-12, atol=1e-12)


def test_pointwise_full_gradcheck_and_gradients_equal_conv2d():
    arrays = [random_array((2, 3, 2, 3), 0), random_array((4, 3, 1, 1), 1), random_array((4,), 2)]
    check_op(lambda *t: F.pointwise_conv2d(*t), lambda *a: reference_conv2d(*a), *arrays, mode="full")
    grads = []
    for fn in (F.pointwise_conv2d, F.conv2d):
        ts = [tn.Tensor(a, requires_grad=True) for a in arrays]
        fn(*ts).backward(random_array((2, 4, 2, 3), 3))
        grads.append([t.grad for t in ts])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---- im2col / col2im ---------------------------------------------------------------------------------------
@st.composite
def window_cases(draw):
    case = draw(conv_cases())
    x = case["x"]
    return x, tuple(case["w"].shape[2:]), case["stride"], case["padding"], case["dilation"]


@given(case=window_cases())
@WIDE
def test_im2col_reads_the_documented_pixels(case):
    """cols[n, (c·kh + i)·kw + j, r·W' + q] = x[n, c, r·s_h + i·d_h − p_top, q·s_w + j·d_w − p_left] (0 outside)."""
    x, kernel, stride, padding, dilation = case
    cols = F.im2col(x, kernel, stride, padding, dilation)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, pair(stride), pair(dilation)
    (pt, pb), (pl, pr) = resolve_padding(padding, kernel, (dh, dw))
    Ho, Wo = out_size(H, kh, sh, pt, pb, dh), out_size(W, kw, sw, pl, pr, dw)
    expected = np.zeros((N, C * kh * kw, Ho * Wo))
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                for r in range(Ho):
                    for q in range(Wo):
                        u, v = r * sh + i * dh - pt, q * sw + j * dw - pl
                        if 0 <= u < H and 0 <= v < W:
                            expected[:, (c * kh + i) * kw + j, r * Wo + q] = x[:, c, u, v]
    np.testing.assert_array_equal(cols, expected)


@given(case=window_cases(), seed=seeds())
@WIDE
def test_col2im_is_the_adjoint_of_im2col(case, seed):
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for random x and c."""
    x, kernel, stride, padding, dilation = case
    cols_shape = F.im2col(x, kernel, stride, padding, dilation).shape
    c = random_array(cols_shape, seed)
    left = np.vdot(F.im2col(x, kernel, stride, padding, dilation), c)
    right = np.vdot(x, F.col2im(c, x.shape, kernel, stride, padding, dilation))
    np.testing.assert_allclose(left, right, rtol=1e-10, atol=1e-10)


def test_im2col_and_col2im_keep_float32():
    x = random_array((1, 2, 5, 5), 0, dtype=np.float32)
    cols = F.im2col(x, 3, padding=1)
    assert cols.dtype == np.float32
    assert F.col2im(cols, x.shape, 3, padding=1).dtype == np.float32


# ---- clear errors ------------------------------------------------------------------------------------------
def test_input_smaller_than_the_dilated_kernel():
    x, w = np.zeros((1, 2, 4, 9)), np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError,
                       match=r"too small.*along H: size 4 \+ padding 0\+0 = 4.*spans 5.*kernel 3, dilation 2"):
        F.conv2d(x, w, dilation=2)
    with pytest.raises(ValueError, match="spans 5"):
        F.depthwise_conv2d(np.zeros((1, 2, 4, 9)), np.zeros((2, 1, 3, 3)), dilation=2)
    with pytest.raises(ValueError, match="too small"):
        F.im2col(np.zeros((1, 1, 2, 2)), 3)


def test_channel_mismatch_and_groups_errors():
    with pytest.raises(ValueError, match=r"input has 3 channels.*\(4, 2, 3, 3\).*expects in_channels = .* = 2"):
        F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError,
                       match=r"groups=3 must divide both the input channels \(4\) and the output channels \(6"):
        F.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((6, 2, 3, 3)), groups=3)
    with pytest.raises(ValueError, match=r"groups=2 must divide .* output channels \(3"):
        F.conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2)
    with pytest.raises(ValueError, match=r"C = 3 input channels.*got weight \(4, 1, 3, 3\)"):
        F.depthwise_conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"\(out_channels, 3, 1, 1\).*got \(4, 3, 3, 3\)"):
        F.pointwise_conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 3, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"4-D \(N, C, H, W\), got shape \(3, 5, 5\)"):
        F.conv2d(np.zeros((3, 5, 5)), np.zeros((4, 3, 3, 3)))


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(stride=0), ValueError, "stride must be >= 1"),
    (dict(dilation=(1, 0)), ValueError, "dilation must be >= 1"),
    (dict(padding=-1), ValueError, "padding must be >= 0"),
    (dict(padding="full"), ValueError, "'valid' or 'same'"),
    (dict(padding="same", stride=2), ValueError, "padding='same' needs stride 1"),
    (dict(stride=1.5), TypeError, "stride must be an int or a pair"),
    (dict(padding=(1, 2, 3)), TypeError, "padding must be an int or a pair"),
    (dict(groups=0), ValueError, "groups must be a positive int"),
])
def test_bad_window_arguments(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        F.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((2, 2, 3, 3)), **kwargs)


def test_im2col_col2im_argument_errors():
    with pytest.raises(ValueError, match=r"cols has shape \(1, 4, 5\).*columns of shape \(1, 4, 4\)"):
        F.col2im(np.zeros((1, 4, 5)), (1, 1, 3, 3), 2)
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        F.im2col(np.zeros((1, 1, 3, 3)), None)


def test_depthwise_results_are_not_changed_by_a_later_call():
    """Outputs and gradients must own their memory, even where the layout would allow a view of an internal
    buffer (one channel, 1x1 kernel, no padding)."""
    x = tn.tensor(np.arange(6.0).reshape(1, 1, 2, 3), requires_grad=True)
    w = tn.tensor(np.full((1, 1, 1, 1), 2.0), requires_grad=True)
    y = F.depthwise_conv2d(x, w)
    g = np.arange(6.0).reshape(1, 1, 2, 3)
    y.backward(g)
    first_y, first_dx = y.data.copy(), x.grad.copy()
    y2 = F.depthwise_conv2d(tn.tensor(np.full((1, 1, 2, 3), 7.0), requires_grad=True), w)   # same shapes again
    y2.backward(np.ones((1, 1, 2, 3)))
    np.testing.assert_array_equal(y.data, first_y)
    np.testing.assert_array_equal(x.grad, first_dx)
    np.testing.assert_array_equal(first_y, 2 * x.data)


def test_depthwise_input_gradient_is_not_overwritten_by_a_later_depthwise_backward():
    """Two depthwise convs of one tensor: the first gradient waits in the engine while the second rule runs."""
    x = tn.tensor(np.arange(6.0).reshape(1, 1, 2, 3), requires_grad=True)
    h = x * 1.0
    w1, w2 = tn.tensor(np.full((1, 1, 1, 1), 2.0)), tn.tensor(np.full((1, 1, 1, 1), 3.0))
    (F.depthwise_conv2d(h, w1) + F.depthwise_conv2d(h, w2)).backward(np.ones((1, 1, 2, 3)))
    np.testing.assert_array_equal(x.grad, np.full((1, 1, 2, 3), 5.0))     # 2 + 3, not 2 + 2 or 3 + 3


@pytest.mark.parametrize("stride, padding, multiplier, with_bias", [(1, 1, 1, True), (2, 0, 2, False),
                                                                    (1, "same", 3, True)])
def test_depthwise_conv2d_on_an_empty_batch(stride, padding, multiplier, with_bias):
    """N = 0 (as PyTorch allows): an empty (0, C·m, H', W') result, an empty input gradient and zero weight and
    bias gradients, from the function and from the layer."""
    x = tn.Tensor(np.ones((0, 3, 5, 5)), requires_grad=True)
    w = tn.Tensor(np.ones((3 * multiplier, 1, 3, 3)), requires_grad=True)
    b = tn.Tensor(np.ones(3 * multiplier), requires_grad=True) if with_bias else None
    y = F.depthwise_conv2d(x, w, b, stride=stride, padding=padding)
    size = F.conv_output_size(5, 3, stride, 1 if padding == "same" else padding)
    assert y.shape == (0, 3 * multiplier, size, size)
    y.backward(np.ones(y.shape))
    assert x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(w.grad, np.zeros(w.shape))
    if with_bias:
        np.testing.assert_array_equal(b.grad, np.zeros(3 * multiplier))
    layer = nn.DepthwiseConv2d(3, 3, padding=1, depth_multiplier=multiplier)
    out = layer(np.zeros((0, 3, 4, 4), dtype=np.float32))
    assert out.shape == (0, 3 * multiplier, 4, 4) and out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    np.testing.assert_array_equal(layer.weight.grad, 0)
    np.testing.assert_array_equal(layer.bias.grad, 0)


# ---- im2col / col2im as differentiable ops -------------------------------------------------------------------
@given(case=window_cases(), seed=seeds())
def test_im2col_and_col2im_gradcheck(case, seed):
    """Both are ops on the tape: their gradients pass a gradcheck (float64, random upstream gradient)."""
    x, kernel, stride, padding, dilation = case
    check_op(lambda t: F.im2col(t, kernel, stride, padding, dilation),
             lambda a: F.im2col(a, kernel, stride, padding, dilation).data, x, seed=seed)
    cols = random_array(F.im2col(x, kernel, stride, padding, dilation).shape, seed)
    check_op(lambda t: F.col2im(t, x.shape, kernel, stride, padding, dilation), None, cols, seed=seed)


@given(case=window_cases(), seed=seeds())
def test_im2col_and_col2im_rules_take_a_tensor_gradient_and_record_the_other_op(case, seed):
    """Given a Tensor g (a gradient being differentiated), each rule calls the other *op*: the result is on the
    tape, with the values of the array rule."""
    x, kernel, stride, padding, dilation = case
    cols = F.im2col(tn.Tensor(x, requires_grad=True), kernel, stride, padding, dilation)
    image = F.col2im(tn.Tensor(random_array(cols.shape, seed), requires_grad=True), x.shape, kernel, stride,
                     padding, dilation)
    for out, other in ((cols, "col2im"), (image, "im2col")):
        g = random_array(out.shape, seed + 1)
        (from_array,) = out._entry.backward(g)
        g_tensor = tn.Tensor(g, requires_grad=True)
        (from_tensor,) = out._entry.backward(g_tensor)
        assert isinstance(from_tensor, tn.Tensor) and from_tensor._entry.op == other
        np.testing.assert_array_equal(from_tensor.data, from_array)
