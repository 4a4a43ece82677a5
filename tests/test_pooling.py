"""max_pool2d, avg_pool2d, global_avg_pool2d and their layers.

References are direct loops over windows, written here independently of tinynet's tap walk: the window of
output (r, q) is the padded input's rows r·s .. r·s+kh−1 and columns q·s .. q·s+kw−1. Max-pool inputs come from
``separated_array`` (distinct values spaced apart), so no window holds a tie and finite differences are valid;
the tie rule is tested on its own with deliberately tied inputs.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet import nn
from tinynet.testing import check_op, random_array, seeds, separated_array

WIDE = settings(max_examples=max(40, settings.default.max_examples))   # cheap examples, a large space


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def windows(x, kernel, stride, padding, fill):
    """All windows of the padded x: (N, C, H', W', kh·kw), row-major within a window."""
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    Ho, Wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.empty(x.shape[:2] + (Ho, Wo, kh * kw))
    for r in range(Ho):
        for q in range(Wo):
            out[:, :, r, q] = xp[:, :, r * sh:r * sh + kh, q * sw:q * sw + kw].reshape(x.shape[:2] + (-1,))
    return out


def reference_max_pool(x, kernel, stride=None, padding=0):
    return windows(x, kernel, kernel if stride is None else stride, padding, -np.inf).max(axis=-1)


def reference_avg_pool(x, kernel, stride=None, padding=0):
    return windows(x, kernel, kernel if stride is None else stride, padding, 0.0).mean(axis=-1)


def reference_max_pool_grad(x, g, kernel, stride=None, padding=0):
    """dx: each window's g goes to its first arg-max (np.argmax returns the first occurrence)."""
    (kh, kw), (ph, pw) = pair(kernel), pair(padding)
    (sh, sw) = pair(kernel if stride is None else stride)
    win = windows(x, kernel, (sh, sw), padding, -np.inf)
    dxp = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))
    first = win.argmax(axis=-1)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for r in range(win.shape[2]):
                for q in range(win.shape[3]):
                    i, j = divmod(first[n, c, r, q], kw)
                    dxp[n, c, r * sh + i, q * sw + j] += g[n, c, r, q]
    return dxp[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]


@st.composite
def pool_cases(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.sampled_from([None, 1, 2, 3, (1, 2)]))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             max(1, kernel[0] - 2 * padding[0]) + draw(st.integers(0, 4)),
             max(1, kernel[1] - 2 * padding[1]) + draw(st.integers(0, 4)))
    return shape, kernel, stride, padding, draw(seeds())


@given(case=pool_cases())
@WIDE
def test_max_pool2d_matches_loops_and_gradchecks(case):
    shape, kernel, stride, padding, seed = case
    x = separated_array(shape, seed)                     # no ties anywhere: the arg-max is unique
    check_op(lambda t: F.max_pool2d(t, kernel, stride, padding),
             lambda a: reference_max_pool(a, kernel, stride, padding), x, mode="directional")


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 1, 1), ((2, 3), (1, 2), (1, 1))])
def test_max_pool2d_full_gradcheck(kernel, stride, padding):
    x = separated_array((2, 2, 5, 6), 0)
    check_op(lambda t: F.max_pool2d(t, kernel, stride, padding),
             lambda a: reference_max_pool(a, kernel, stride, padding), x, mode="full")


@given(case=pool_cases(), levels=st.integers(1, 3))
@WIDE
def test_max_pool2d_ties_send_the_gradient_to_the_first_maximum(case, levels):
    """With only 1-3 distinct values, most windows hold ties; the rule is: the first maximum in row-major order."""
    shape, kernel, stride, padding, seed = case
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, size=shape).astype(np.float64)
    g = random_array(shape[:2] + F.max_pool2d(x, kernel, stride, padding).shape[2:], seed + 1)
    t = tn.Tensor(x, requires_grad=True)
    y = F.max_pool2d(t, kernel, stride, padding)
    y.backward(g)
    np.testing.assert_array_equal(y.data, reference_max_pool(x, kernel, stride, padding))
    np.testing.assert_allclose(t.grad, reference_max_pool_grad(x, g, kernel, stride, padding), rtol=1e-12, atol=0)
    assert np.isclose(t.grad.sum(), g.sum())             # every window's gradient lands somewhere, once


def test_max_pool2d_nan_wins_its_window():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y = F.max_pool2d(x, 2).data
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1:, :]).any() and y[0, 0, 0, 1] == 7


@given(case=pool_cases())
@WIDE
def test_avg_pool2d_matches_loops_and_gradchecks(case):
    shape, kernel, stride, padding, seed = case
    check_op(lambda t: F.avg_pool2d(t, kernel, stride, padding),
             lambda a: reference_avg_pool(a, kernel, stride, padding), random_array(shape, seed), mode="directional")


def test_avg_pool2d_full_gradcheck():
    check_op(lambda t: F.avg_pool2d(t, 3, 2, 1), lambda a: reference_avg_pool(a, 3, 2, 1),
             random_array((2, 2, 5, 6), 0), mode="full")


@given(case=pool_cases())
def test_avg_pool2d_equals_a_conv_with_a_constant_kernel(case):
    """Identity: avg_pool2d == depthwise conv (== conv2d with groups=C) whose kernel is 1/(kh·kw) everywhere."""
    shape, kernel, stride, padding, seed = case
    kh, kw = pair(kernel)
    C = shape[1]
    constant = np.full((C, 1, kh, kw), 1.0 / (kh * kw))
    stride_ = kernel if stride is None else stride
    g = None
    results = []
    for fn in (lambda t: F.avg_pool2d(t, kernel, stride, padding),
               lambda t: F.depthwise_conv2d(t, constant, stride=stride_, padding=padding),
               lambda t: F.conv2d(t, constant, stride=stride_, padding=padding, groups=C)):
        t = tn.Tensor(random_array(shape, seed), requires_grad=True)
        y = fn(t)
        g = random_array(y.shape, seed + 1) if g is None else g
        y.backward(g)
        results.append((y.data, t.grad))
    for y, dx in results[1:]:
        np.testing.assert_allclose(y, results[0][0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, results[0][1], rtol=1e-12, atol=1e-12)


@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 5), w=st.integers(1, 5), seed=seeds())
def test_global_avg_pool2d_is_adaptive_avg_pool_to_1x1(n, c, h, w, seed):
    x = random_array((n, c, h, w), seed)
    out = check_op(F.global_avg_pool2d, lambda a: a.mean(axis=(2, 3), keepdims=True), x)
    assert out.shape == (n, c, 1, 1)


def test_pooling_keeps_float32_and_stride_defaults_to_the_kernel():
    x = random_array((2, 3, 6, 6), 0, dtype=np.float32)
    for fn in (F.max_pool2d, F.avg_pool2d):
        y = fn(x, 3)
        assert y.dtype == np.float32 and y.shape == (2, 3, 2, 2)
    assert F.global_avg_pool2d(x).dtype == np.float32


def test_pooling_errors():
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half the kernel size \(3, 3\)"):
        F.max_pool2d(np.zeros((1, 1, 5, 5)), 3, padding=2)
    with pytest.raises(ValueError, match=r"too small.*size 2 \+ padding 0\+0 = 2.*spans 3"):
        F.avg_pool2d(np.zeros((1, 1, 2, 5)), 3)
    with pytest.raises(ValueError, match="4-D"):
        F.max_pool2d(np.zeros((5, 5)), 2)
    with pytest.raises(ValueError, match="4-D"):
        F.global_avg_pool2d(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="padding must be an int or a pair"):
        F.avg_pool2d(np.zeros((1, 1, 4, 4)), 2, padding="same")
    with pytest.raises(TypeError, match="floating-point"):
        F.max_pool2d(np.zeros((1, 1, 4, 4), dtype=np.int64), 2)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        F.max_pool2d(np.zeros((1, 1, 4, 4)), 2, stride=0)


# ---- layers ------------------------------------------------------------------------------------------------
def test_pool_layers_call_the_functions_and_show_their_arguments():
    x = separated_array((2, 3, 6, 7), 0)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).data, F.max_pool2d(x, 2, 2).data)
    np.testing.assert_array_equal(nn.AvgPool2d(3, 1, 1)(x).data, F.avg_pool2d(x, 3, 1, 1).data)
    np.testing.assert_array_equal(nn.GlobalAvgPool2d()(x).data, F.global_avg_pool2d(x).data)
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.AvgPool2d(3, 1, 1)) == "AvgPool2d(kernel_size=3, stride=1, padding=1)"
    assert repr(nn.GlobalAvgPool2d()) == "GlobalAvgPool2d()"
    assert list(nn.MaxPool2d(2).parameters()) == []


def test_max_pool2d_all_minus_inf_window_sends_its_gradient_to_its_first_real_pixel():
    """With padding, a window's first tap may fall on padding; a window of −∞ pixels must still give its
    gradient to its first real pixel (as PyTorch does), not drop it on the padding."""
    x = tn.Tensor(np.full((1, 1, 4, 4), -np.inf), requires_grad=True)
    F.max_pool2d(x, 3, 2, 1).backward(np.ones((1, 1, 2, 2)))
    expected = np.zeros((4, 4))
    expected[0, 0] = expected[0, 1] = expected[1, 0] = expected[1, 1] = 1.0   # windows start at (−1|1, −1|1)
    np.testing.assert_array_equal(x.grad[0, 0], expected)
