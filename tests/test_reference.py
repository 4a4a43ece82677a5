"""Every fused op equals its textbook reference (tinynet.functional.reference, R), forward and backward.

One property-test factory: for each (F op, R op) pair, Hypothesis draws the arguments (shapes, strides,
paddings, dilations, groups, masks, causal, N = 0 where the op allows it); both ops run in float64 on the same
inputs and get the same random upstream gradient, and the outputs and every input's gradient must agree to
~1e-10 relative. The fused op's gradient comes from its hand-written rule, the reference's from the tape, so a
wrong rule (or a wrong reference) fails here. Each example also checks the two ways the reference is wired in:
the fused op's tape entry carries it (``make_result(..., reference)``), and ``tn.use_reference()`` makes the
fused op return the reference's computation.
"""
import threading

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import tinynet as tn
import tinynet.functional as F
import tinynet.functional.reference as R
from tinynet.functional.geometry import padding_sides, pair
from tinynet.testing import random_array, scales, seeds, separated_array

RTOL = 1e-10


# ---- the factory -------------------------------------------------------------------------------------------
class Fixed:
    """An array argument that is not differentiated (e.g. batch norm's running statistics): each run gets its own
    copy, so an op that updates it in place cannot change what the next run sees."""

    def __init__(self, array):
        self.array = array


def prepared(args):
    """The arguments as an op receives them: every float64 array as a (new) Tensor that requires grad, a
    ``Fixed`` one as a plain copy, anything else as it is."""
    return [tn.Tensor(a.copy(), requires_grad=True) if is_differentiable(a)
            else a.array.copy() if isinstance(a, Fixed) else a for a in args]


def run(op, args, kwargs, seed):
    """op(*args, **kwargs) on ``prepared(args)``, then backward with a random upstream gradient.
    Returns (output Tensor, [gradient of each differentiable argument])."""
    tensors = prepared(args)
    out = op(*tensors, **kwargs)
    out.backward(random_array(out.shape, seed, away_from_zero=0))
    grads = [t.grad if t.grad is not None else np.zeros(t.shape) for t in tensors if isinstance(t, tn.Tensor)]
    return out, grads


def is_differentiable(a):
    return isinstance(a, np.ndarray) and a.dtype == np.float64


def assert_close(actual, expected, what):
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = np.max(np.abs(expected[np.isfinite(expected)]), initial=1.0)      # (±inf must match exactly)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def assert_twins_agree(name, args, kwargs, seed, fused=True):
    f_out, f_grads = run(getattr(F, name), args, kwargs, seed)
    r_out, r_grads = run(getattr(R, name), args, kwargs, seed)
    assert f_out.dtype == r_out.dtype == np.float64
    assert_close(f_out.data, r_out.data, f"{name}: forward")
    for k, (f_grad, r_grad) in enumerate(zip(f_grads, r_grads)):
        assert_close(f_grad, r_grad, f"{name}: gradient of differentiable argument {k}")
    if fused:
        assert f_out._entry.op == name
    with tn.use_reference():               # the fused op now runs its reference
        mode_out, mode_grads = run(getattr(F, name), args, kwargs, seed)
    assert mode_out._entry.op != name, f"{name} ignores tn.use_reference()"
    np.testing.assert_array_equal(mode_out.data, r_out.data)
    for mode_grad, r_grad in zip(mode_grads, r_grads):
        np.testing.assert_array_equal(mode_grad, r_grad)


def assert_entry_reference_recomputes(name, args, kwargs):
    """The entry's reference, called on the entry's inputs, gives the fused op's output (before backward frees
    the entry)."""
    out = getattr(F, name)(*prepared(args), **kwargs)
    entry = out._entry
    assert_close(entry.reference(*entry.inputs).data, out.data, f"{name}: the tape entry's reference")


# ---- what each op is given ---------------------------------------------------------------------------------
def window_sizes(draw, kernel, dilation, padding, stride):
    """(H, W) large enough for the dilated kernel with this padding."""
    sides = padding_sides("test", padding, kernel, pair("test", "stride", stride, 1), dilation)
    return tuple(max(1, d * (k - 1) + 1 - lo - hi) + draw(st.integers(0, 3))
                 for k, d, (lo, hi) in zip(kernel, dilation, sides))


def window_arguments(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.sampled_from([1, 2, (1, 2), (2, 1)]))
    dilation = draw(st.sampled_from([1, 2, (2, 1)]))
    padding = draw(st.sampled_from([0, 1, (0, 2), "valid"] + (["same"] if stride == 1 else [])))
    return kernel, stride, padding, dilation


@st.composite
def conv2d_case(draw):
    kernel, stride, padding, dilation = window_arguments(draw)
    groups, per_group_in, per_group_out = draw(st.sampled_from([1, 2, 3])), draw(st.integers(1, 2)), draw(
        st.integers(1, 2))
    size = window_sizes(draw, kernel, pair("t", "d", dilation, 1), padding, stride)
    n, seed = draw(st.integers(0, 2)), draw(seeds())
    x = random_array((n, groups * per_group_in) + size, seed)
    w = random_array((groups * per_group_out, per_group_in) + kernel, seed + 1)
    b = random_array((groups * per_group_out,), seed + 2) if draw(st.booleans()) else None
    return [x, w, b], dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@st.composite
def depthwise_conv2d_case(draw):
    kernel, stride, padding, dilation = window_arguments(draw)
    channels, multiplier = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    size = window_sizes(draw, kernel, pair("t", "d", dilation, 1), padding, stride)
    n, seed = draw(st.integers(0, 2)), draw(seeds())
    x = random_array((n, channels) + size, seed)
    w = random_array((channels * multiplier, 1) + kernel, seed + 1)
    b = random_array((channels * multiplier,), seed + 2) if draw(st.booleans()) else None
    return [x, w, b], dict(stride=stride, padding=padding, dilation=dilation)


@st.composite
def pointwise_conv2d_case(draw):
    n, c, o, h, w, seed = (draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)),
                           draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(seeds()))
    bias = random_array((o,), seed + 2) if draw(st.booleans()) else None
    return [random_array((n, c, h, w), seed), random_array((o, c, 1, 1), seed + 1), bias], {}


@st.composite
def pool_case(draw, separated):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.sampled_from([None, 1, 2, (1, 2)]))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    size = tuple(max(1, k - 2 * p) + draw(st.integers(0, 3)) for k, p in zip(kernel, padding))
    shape, seed = (draw(st.integers(0, 2)), draw(st.integers(1, 2))) + size, draw(seeds())
    x = separated_array(shape, seed) if separated else random_array(shape, seed)   # no ties for max
    return [x], dict(kernel_size=kernel, stride=stride, padding=padding)


@st.composite
def global_avg_pool2d_case(draw):
    shape = (draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return [random_array(shape, draw(seeds()))], {}


@st.composite
def softmax_case(draw):
    shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple))
    axis = draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    return [random_array(shape, draw(seeds()), draw(scales()))], dict(axis=axis)


@st.composite
def cross_entropy_case(draw):
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    n, c, seed = draw(st.integers(0 if reduction != "mean" else 1, 4)), draw(st.integers(1, 5)), draw(seeds())
    target = np.random.default_rng(seed).integers(0, c, size=n)
    smoothing = draw(st.sampled_from([0.0, 0.1, 0.5]))
    return ([random_array((n, c), seed, draw(scales())), target],
            dict(label_smoothing=smoothing, reduction=reduction))


@st.composite
def mse_loss_case(draw):
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    shape = draw(st.lists(st.integers(1 if reduction == "mean" else 0, 3), max_size=3).map(tuple))
    seed = draw(seeds())
    return [random_array(shape, seed), random_array(shape, seed + 1)], dict(reduction=reduction)


@st.composite
def gelu_case(draw):
    shape = draw(st.lists(st.integers(0, 4), max_size=3).map(tuple))
    return [random_array(shape, draw(seeds()), draw(scales()))], dict(approximate=draw(st.sampled_from(["none",
                                                                                                       "tanh"])))


@st.composite
def layer_norm_case(draw):
    normalized = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    batch = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    seed = draw(seeds())
    weight = random_array(normalized, seed + 1) if draw(st.booleans()) else None
    bias = random_array(normalized, seed + 2) if draw(st.booleans()) else None
    x = random_array(batch + normalized, seed, draw(scales()))
    return [x, normalized, weight, bias], dict(eps=draw(st.sampled_from([1e-5, 0.1])))


@st.composite
def linear_case(draw):
    batch = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    n_in, n_out, seed = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(seeds())
    bias = random_array((n_out,), seed + 2) if draw(st.booleans()) else None
    return [random_array(batch + (n_in,), seed), random_array((n_out, n_in), seed + 1), bias], {}


@st.composite
def attention_case(draw):
    batch = tuple(draw(st.lists(st.integers(0, 2), max_size=2)))
    L, S, d_k, d_v = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(0, 3)), draw(
        st.integers(1, 3))
    seed, scale = draw(seeds()), draw(scales())
    q, k, v = (random_array(batch + (L, d_k), seed, scale), random_array(batch[-1:] + (S, d_k), seed + 1, scale),
               random_array(batch + (S, d_v), seed + 2))
    mask = None
    if draw(st.booleans()):                          # some rows may end up fully masked
        mask_shape = draw(st.sampled_from([(L, S), batch + (L, S), (1, S)]))
        mask = np.random.default_rng(seed + 3).random(mask_shape) < draw(st.sampled_from([0.3, 0.7]))
    kwargs = dict(mask=mask, is_causal=draw(st.booleans()), scale=draw(st.sampled_from([None, 0.5])))
    return [q, k, v], kwargs


@st.composite
def batch_norm_case(draw):
    """Training (batch statistics; the running ones are updated in place, a fresh copy per run) or evaluation
    (running statistics), over (N, C), (N, C, L) or (N, C, H, W); N = 0 included."""
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    n, c, seed = draw(st.integers(0, 3)), draw(st.integers(1, 3)), draw(seeds())
    training = draw(st.booleans())
    if training and n * int(np.prod(spatial)) == 1:
        n = 2                                                       # one value per channel has no variance
    running_mean = Fixed(random_array((c,), seed + 3))
    running_var = Fixed(random_array((c,), seed + 4, positive=True, away_from_zero=0.5))
    weight = random_array((c,), seed + 1) if draw(st.booleans()) else None
    bias = random_array((c,), seed + 2) if draw(st.booleans()) else None
    x = random_array((n, c) + spatial, seed, draw(scales())) + draw(st.sampled_from([0.0, 3.0]))
    return [x, running_mean, running_var, weight, bias], dict(training=training, momentum=0.3,
                                                              eps=draw(st.sampled_from([1e-5, 0.1])))


@st.composite
def embedding_case(draw):
    V, D, seed = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(seeds())
    indices = np.random.default_rng(seed).integers(0, V, size=tuple(draw(st.lists(st.integers(0, 4), max_size=2))))
    padding_idx = draw(st.one_of(st.none(), st.integers(-V, V - 1)))
    return [indices, random_array((V, D), seed)], dict(padding_idx=padding_idx)


@st.composite
def conv_transpose2d_case(draw):
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 1)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    for h, k, s, p, d, extra in zip(size, kernel, stride, padding, dilation, output_padding):
        assume((h - 1) * s - 2 * p + d * (k - 1) + extra + 1 >= 1)
    groups, per_group_in, per_group_out = draw(st.sampled_from([1, 2])), draw(st.integers(1, 2)), draw(
        st.integers(1, 2))
    n, seed = draw(st.integers(0, 2)), draw(seeds())
    x = random_array((n, groups * per_group_in) + size, seed)
    w = random_array((groups * per_group_in, per_group_out) + kernel, seed + 1)
    b = random_array((groups * per_group_out,), seed + 2) if draw(st.booleans()) else None
    return [x, w, b], dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                           dilation=dilation)


CASES = {
    "conv2d": conv2d_case(),
    "depthwise_conv2d": depthwise_conv2d_case(),
    "pointwise_conv2d": pointwise_conv2d_case(),
    "max_pool2d": pool_case(separated=True),
    "avg_pool2d": pool_case(separated=False),
    "softmax": softmax_case(),
    "log_softmax": softmax_case(),
    "cross_entropy": cross_entropy_case(),
    "mse_loss": mse_loss_case(),
    "gelu": gelu_case(),
    "layer_norm": layer_norm_case(),
    "linear": linear_case(),
    "scaled_dot_product_attention": attention_case(),
    "batch_norm": batch_norm_case(),
    "embedding": embedding_case(),
    "conv_transpose2d": conv_transpose2d_case(),
}


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data(), seed=seeds())
def test_fused_op_equals_its_reference(name, data, seed):
    args, kwargs = data.draw(CASES[name], label="arguments")
    assert_twins_agree(name, args, kwargs, seed)


@given(args_kwargs=global_avg_pool2d_case(), seed=seeds())
def test_global_avg_pool2d_equals_its_reference(args_kwargs, seed):
    assert_twins_agree("global_avg_pool2d", *args_kwargs, seed, fused=False)   # already one ``mean``


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_the_tape_entry_of_a_fused_op_holds_its_reference(name, data):
    args, kwargs = data.draw(CASES[name], label="arguments")
    assert_entry_reference_recomputes(name, args, kwargs)


def test_every_fused_op_has_a_reference_and_a_case():
    """A new fused op needs its twin in R and a strategy in CASES above (then every test here covers it)."""
    assert set(R.__all__) == set(CASES) | {"global_avg_pool2d"}
    for name in R.__all__:
        assert getattr(F, name).__doc__.count(f"Reference: `R.{name}`") == 1, name


# ---- the edge cases the references must match exactly ------------------------------------------------------
EMPTY_BATCH = [
    ("conv2d", [np.ones((0, 2, 5, 5)), random_array((4, 1, 3, 3), 0), random_array((4,), 1)],
     dict(stride=2, padding=1, groups=2)),
    ("depthwise_conv2d", [np.ones((0, 2, 5, 5)), random_array((4, 1, 3, 3), 0), random_array((4,), 1)],
     dict(padding="same", dilation=2)),
    ("pointwise_conv2d", [np.ones((0, 2, 3, 3)), random_array((4, 2, 1, 1), 0), None], {}),
    ("max_pool2d", [np.ones((0, 2, 4, 4))], dict(kernel_size=2, padding=1)),
    ("avg_pool2d", [np.ones((0, 2, 4, 4))], dict(kernel_size=3, stride=1)),
    ("layer_norm", [np.ones((0, 3)), (3,), random_array((3,), 0), random_array((3,), 1)], {}),
    ("linear", [np.ones((0, 3)), random_array((2, 3), 0), random_array((2,), 1)], {}),
    ("cross_entropy", [np.ones((0, 3)), np.zeros(0, dtype=np.int64)], dict(reduction="sum")),
    ("softmax", [np.ones((2, 0))], dict(axis=1)),
    ("log_softmax", [np.ones((0, 3))], {}),
    ("scaled_dot_product_attention", [np.ones((0, 2, 3)), np.ones((0, 4, 3)), np.ones((0, 4, 2))],
     dict(is_causal=True)),
]


@pytest.mark.parametrize("name, args, kwargs", EMPTY_BATCH, ids=[case[0] for case in EMPTY_BATCH])
def test_an_empty_batch_gives_empty_results_and_zero_gradients_in_both_tiers(name, args, kwargs):
    assert_twins_agree(name, args, kwargs, 0)
    out = getattr(F, name)(*args, **kwargs)
    assert out.size == 0 or (name == "cross_entropy" and out.item() == 0)     # a sum over no rows is 0


def test_fully_masked_attention_rows_give_zeros_in_both_tiers():
    q, k, v = random_array((3, 2), 0), random_array((4, 2), 1), random_array((4, 2), 2)
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False                                  # query 1 may attend to nothing
    assert_twins_agree("scaled_dot_product_attention", [q, k, v], dict(mask=mask), 3)
    out = R.scaled_dot_product_attention(q, k, v, mask=mask)
    np.testing.assert_array_equal(out.data[1], 0)


def test_max_pool_windows_of_minus_infinity_agree_in_both_tiers():
    """A window whose pixels are all −∞ sends its gradient to its first real pixel, never to padding."""
    x = separated_array((1, 1, 3, 4), 0)
    x[0, 0, 0, :2] = -np.inf
    x[0, 0, 1, 0] = -np.inf
    assert_twins_agree("max_pool2d", [x], dict(kernel_size=2, stride=1, padding=1), 1)


def test_a_nan_wins_its_max_pool_window_in_both_tiers():
    x = separated_array((1, 1, 2, 2), 0)
    x[0, 0, 1, 1] = np.nan
    with np.errstate(invalid="ignore"):
        assert np.isnan(F.max_pool2d(x, 2).data).all() and np.isnan(R.max_pool2d(x, 2).data).all()


def test_softmax_of_a_fully_minus_infinite_row_is_nan_in_both_tiers():
    x = np.array([[0.0, 1.0], [-np.inf, -np.inf]])
    with np.errstate(invalid="ignore"):
        fused, textbook = F.softmax(x).data, R.softmax(x).data
    np.testing.assert_array_equal(np.isnan(fused), np.isnan(textbook))
    assert np.isnan(fused[1]).all()


def test_float32_in_float32_out_in_both_tiers():
    x = random_array((2, 3, 5, 5), 0, dtype=np.float32)
    w = random_array((4, 3, 3, 3), 1, dtype=np.float32)
    for fn in (lambda: F.conv2d(x, w, padding=1), lambda: R.conv2d(x, w, padding=1),
               lambda: R.max_pool2d(x, 2), lambda: R.gelu(x), lambda: R.layer_norm(x, (5,)),
               lambda: R.softmax(x), lambda: R.scaled_dot_product_attention(x, x, x, is_causal=True)):
        assert fn().dtype == np.float32


# ---- tn.use_reference() --------------------------------------------------------------------------------------
def test_use_reference_is_a_context_manager_and_a_decorator_and_restores_the_mode():
    x = tn.Tensor(random_array((2, 3), 0), requires_grad=True)
    assert F.softmax(x)._entry.op == "softmax"
    with tn.use_reference():
        assert F.softmax(x)._entry.op != "softmax"
        with tn.use_reference():
            pass
        assert F.softmax(x)._entry.op != "softmax"          # the inner block restored "on"
    assert F.softmax(x)._entry.op == "softmax"

    @tn.use_reference()
    def textbook(t):
        return F.softmax(t)

    assert textbook(x)._entry.op != "softmax" and F.softmax(x)._entry.op == "softmax"


def test_use_reference_refuses_the_bare_decorator_and_generators():
    with pytest.raises(TypeError, match="parentheses"):
        @tn.use_reference
        def f():
            pass
    with pytest.raises(TypeError, match="generator function"):
        @tn.use_reference()
        def g():
            yield 1


def test_use_reference_is_per_thread():
    x = tn.Tensor(random_array((2, 3), 0), requires_grad=True)
    ops_in_other_thread = []
    entered, checked = threading.Event(), threading.Event()

    def other():
        entered.wait()
        ops_in_other_thread.append(F.softmax(x)._entry.op)
        checked.set()

    thread = threading.Thread(target=other)
    thread.start()
    with tn.use_reference():
        entered.set()
        checked.wait(timeout=30)
        here = F.softmax(x)._entry.op
    thread.join()
    assert ops_in_other_thread == ["softmax"] and here != "softmax"


def test_the_seed_model_has_the_same_loss_and_gradients_in_both_tiers():
    """The seed article's model (conv, depthwise, pointwise, attention, layer norm, global pool, linear,
    cross-entropy with label smoothing) in float64: loss and every parameter gradient agree."""
    from demos.seed_model import SeedModel
    tn.manual_seed(0)
    model = SeedModel(num_classes=3, channels=4, stem_channels=2, num_heads=2).double()
    x = tn.Tensor(random_array((3, 1, 6, 6), 1))
    target = np.array([0, 2, 1])

    def loss_and_gradients():
        model.zero_grad()
        loss = F.cross_entropy(model(x), target, label_smoothing=0.1)
        loss.backward()
        return loss.item(), {name: p.grad.copy() for name, p in model.named_parameters()}

    fused_loss, fused_grads = loss_and_gradients()
    with tn.use_reference():
        textbook_loss, textbook_grads = loss_and_gradients()
    assert abs(fused_loss - textbook_loss) <= RTOL * abs(fused_loss)
    assert fused_grads.keys() == textbook_grads.keys()
    for name in fused_grads:
        assert_close(textbook_grads[name], fused_grads[name], name)


# ---- gradients of gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data(), seed=seeds())
def test_fused_op_is_differentiable_twice_through_its_reference(name, data, seed):
    """Under create_graph the engine differentiates the fused op's reference: that gradient equals the fused
    rule's, and its own derivatives pass tn.gradgradcheck (float64, random upstream gradients, central
    differences of the analytic gradient)."""
    args, kwargs = data.draw(CASES[name], label="arguments")
    with tn.no_grad():
        assume(getattr(F, name)(*prepared(args), **kwargs).size > 0)
    tensors = prepared(args)
    leaves = [t for t in tensors if isinstance(t, tn.Tensor)]
    out = getattr(F, name)(*tensors, **kwargs)
    g = random_array(out.shape, seed, away_from_zero=0)
    as_graph = tn.grad(out, leaves, tn.Tensor(g), retain_graph=True, create_graph=True, allow_unused=True)
    as_arrays = tn.grad(out, leaves, tn.Tensor(g), allow_unused=True)
    for k, (graph_grad, array_grad) in enumerate(zip(as_graph, as_arrays)):
        if array_grad is not None:
            assert_close(graph_grad.data, array_grad.data, f"{name}: create_graph gradient of argument {k}")
    # atol: a layer norm over 2 features is ±1 up to ε, so its first derivative can be ~1e-7 and its finite
    # differences are then mostly round-off; 1e-8 is far below the O(1) gradients of every other case.
    def op(*inputs):                       # a fresh copy of every Fixed argument at every call
        return getattr(F, name)(*[a.array.copy() if isinstance(a, Fixed) else x for a, x in zip(args, inputs)],
                                **kwargs)

    wrt = [i for i, a in enumerate(args) if is_differentiable(a)]
    assert tn.gradgradcheck(op, args, wrt=wrt, seed=seed, mode="directional", atol=1e-8, name=name)


def test_im2col_col2im_erf_and_erfc_are_differentiable_twice():
    x = random_array((2, 2, 4, 5), 0)
    window = dict(kernel_size=(2, 3), stride=(1, 2), padding=1, dilation=(2, 1))
    assert tn.gradgradcheck(lambda t: F.im2col(t, **window) ** 2, [x])
    cols = random_array(F.im2col(x, **window).shape, 1)
    assert tn.gradgradcheck(lambda t: F.col2im(t, x.shape, **window) ** 2, [cols])
    from tinynet.functional.erf import erf, erfc
    z = random_array((3, 4), 2, scale=1.5)
    assert tn.gradgradcheck(erf, [z]) and tn.gradgradcheck(erfc, [z])
