"""Gradients of gradients: ``tn.grad`` (torch.autograd.grad's semantics), ``create_graph``, ``gradgradcheck``."""
import gc
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet.tensor import make_result
from tinynet.testing import arrays, positive_arrays, random_array, separated_array, shapes


def leaf(array):
    return tn.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


# ---- tn.grad: semantics ---------------------------------------------------------------------------------------
def test_grad_returns_tensors_and_leaves_dot_grad_alone():
    x = leaf([1.0, -2.0, 3.0])
    y = (x * x * x).sum()
    (gx,) = tn.grad(y, [x])
    assert isinstance(gx, tn.Tensor) and not gx.requires_grad
    np.testing.assert_allclose(gx.data, 3 * x.data ** 2)
    assert x.grad is None


def test_grad_of_an_intermediate_and_of_several_outputs():
    x = leaf([0.5, -1.5])
    h = x.tanh()
    y1, y2 = (h * h).sum(), (h * x).sum()
    gh, gx = tn.grad([y1, y2], [h, x], retain_graph=True)
    np.testing.assert_allclose(gh.data, 2 * h.data + x.data)              # d(y1 + y2)/dh, holding x fixed
    total = 2 * h.data * (1 - h.data ** 2) + (1 - h.data ** 2) * x.data + h.data
    np.testing.assert_allclose(gx.data, total)                            # through h and directly


def test_grad_with_grad_outputs_is_a_vector_jacobian_product():
    rng = np.random.default_rng(0)
    w = leaf(rng.standard_normal((3, 4)))
    v = rng.standard_normal((2, 4))
    x = rng.standard_normal((2, 3))
    (gw,) = tn.grad(tn.Tensor(x) @ w, [w], grad_outputs=v)
    np.testing.assert_allclose(gw.data, x.T @ v)


def test_grad_errors_are_clear():
    x, unused = leaf([1.0, 2.0]), leaf([3.0])
    with pytest.raises(RuntimeError, match="was not used"):
        tn.grad((x * 2).sum(), [x, unused])
    gx, none = tn.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert none is None and np.allclose(gx.data, 2)
    with pytest.raises(RuntimeError, match="grad_outputs can be left out only for one-element"):
        tn.grad(x * 2, [x])
    with pytest.raises(ValueError, match=r"grad_outputs\[0\] has shape \(3,\)"):
        tn.grad(x * 2, [x], grad_outputs=np.ones(3))
    with pytest.raises(TypeError, match="dtype float32"):
        tn.grad(x * 2, [x], grad_outputs=np.ones(2, np.float32))
    with pytest.raises(RuntimeError, match=r"inputs\[0\] .* does not require grad"):
        tn.grad((x * 2).sum(), [tn.tensor([1.0])])
    with pytest.raises(RuntimeError, match="use gx, = tn.grad"):
        (x * x).sum().backward(create_graph=True)


def test_retain_graph_defaults_to_create_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    tn.grad(y, [x], create_graph=True)
    tn.grad(y, [x])                                   # still there: create_graph retained it
    with pytest.raises(RuntimeError, match="second time"):
        tn.grad(y, [x])


def test_an_op_with_an_array_only_rule_is_a_clear_error_under_create_graph():
    def cube(x):                                      # a user's op: rule on arrays only, no reference
        return make_result("my_cube", x.data ** 3, (x,), lambda g: (3 * g * x.data ** 2,))

    x = leaf([1.0, 2.0])
    np.testing.assert_allclose(tn.grad(cube(x).sum(), [x])[0].data, 3 * x.data ** 2)   # first order works
    with pytest.raises(RuntimeError, match="'my_cube' .* arrays only"):
        tn.grad(cube(x).sum(), [x], create_graph=True)


# ---- closed forms ----------------------------------------------------------------------------------------------
def test_newton_on_x4_minus_2x2_converges_to_1():
    x = 2.0
    for _ in range(8):
        t = leaf([x])
        f = t ** 4 - 2 * t ** 2
        (d1,) = tn.grad(f.sum(), [t], create_graph=True)
        (d2,) = tn.grad(d1.sum(), [t])
        np.testing.assert_allclose(d2.data, 12 * x ** 2 - 4)
        x = x - d1.item() / d2.item()
    assert abs(x - 1) < 1e-12


@given(x=arrays(shapes(max_dims=2), scale=1.5))
def test_the_first_three_derivatives_of_tanh(x):
    t = leaf(x)
    ones = np.ones_like(x)
    (d1,) = tn.grad(t.tanh(), [t], ones, create_graph=True)
    (d2,) = tn.grad(d1, [t], ones, create_graph=True)
    (d3,) = tn.grad(d2, [t], ones)
    y = np.tanh(x)
    np.testing.assert_allclose(d1.data, 1 - y ** 2, atol=1e-14)
    np.testing.assert_allclose(d2.data, -2 * y * (1 - y ** 2), atol=1e-14)
    np.testing.assert_allclose(d3.data, -2 * (1 - y ** 2) * (1 - 3 * y ** 2), atol=1e-13)


@given(x=arrays(shapes(min_dims=1, max_dims=2)))
def test_relu_and_max_have_zero_second_derivative(x):
    """d/dx of relu, max, abs is a mask (or a sign) times g: constant in x, so the first derivative does not even
    depend on x, and the second derivative of (d1 · x) is just d1 itself."""
    for fn in (lambda t: t.relu(), lambda t: t.max(axis=-1), lambda t: t.abs()):
        t = leaf(x)
        y = fn(t)
        g = random_array(y.shape, 1)
        (d1,) = tn.grad(y, [t], g, create_graph=True)
        assert not d1.requires_grad                    # nothing in d1 depends on x: the second derivative is 0
        u = random_array(x.shape, 2)
        (d2,) = tn.grad((d1 * tn.Tensor(u) + t * d1).sum(), [t])   # d/dx of Σ (u + x) ⊙ d1 = d1, as d1' = 0
        np.testing.assert_allclose(d2.data, d1.data, rtol=1e-12, atol=1e-15)


def test_hessian_vector_product_equals_differences_of_gradients():
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((4, 3))
    x = tn.Tensor(rng.standard_normal((5, 4)))
    v = rng.standard_normal(w0.shape)

    def loss_of(w):
        return ((x @ w).tanh() ** 2).sum() + (w * w).sum() * 0.1

    w = leaf(w0)
    (gw,) = tn.grad(loss_of(w), [w], create_graph=True)
    (hv,) = tn.grad((gw * tn.Tensor(v)).sum(), [w])
    eps = 1e-5
    plus, minus = leaf(w0 + eps * v), leaf(w0 - eps * v)
    numeric = (tn.grad(loss_of(plus), [plus])[0].data - tn.grad(loss_of(minus), [minus])[0].data) / (2 * eps)
    np.testing.assert_allclose(hv.data, numeric, rtol=1e-6, atol=1e-8)


# ---- gradgradcheck over the primitive ops --------------------------------------------------------------------
@given(ab=st.data())
def test_gradgradcheck_arithmetic(ab):
    a = ab.draw(arrays(shapes(max_dims=2)))
    b = ab.draw(positive_arrays(a.shape, low=0.5))
    for fn in (lambda s, t: s + t, lambda s, t: s - t, lambda s, t: s * t, lambda s, t: s / t, lambda s, t: -s * t,
               lambda s, t: t ** s, lambda s, t: (s * s + 1) ** 1.5 * t, lambda s, t: s ** 0 * t ** 2):
        tn.gradgradcheck(fn, [a, b])


@given(x=arrays(shapes(max_dims=2)))
def test_gradgradcheck_elementwise(x):
    for fn in (lambda t: t.exp(), lambda t: (t * t + 0.5).log(), lambda t: (t * t + 0.5).sqrt(), lambda t: t.tanh(),
               lambda t: t.sigmoid(), lambda t: t.relu() * t, lambda t: t.abs() * t):
        tn.gradgradcheck(fn, [x])


@given(data=st.data())
def test_gradgradcheck_matmul_and_reductions(data):
    n, k, m = (data.draw(st.integers(1, 3)) for _ in range(3))
    a = random_array((2, n, k), data.draw(st.integers(0, 99)))
    b = random_array((k, m), data.draw(st.integers(0, 99)))
    tn.gradgradcheck(lambda s, t: (s @ t) * (s @ t), [a, b])
    tn.gradgradcheck(lambda s, t: (s[0, 0, :] @ t[:, 0]) * s.sum(), [a, b])     # 1-D operands
    x = separated_array((3, 4), data.draw(st.integers(0, 99)))
    tn.gradgradcheck(lambda t: (t * t).sum(axis=1) * t.mean(axis=0, keepdims=True).sum(), [x])
    tn.gradgradcheck(lambda t: t.max(axis=0) * t.exp().max(), [x])


@given(x=arrays(shapes(min_dims=2, max_dims=3)))
def test_gradgradcheck_shaping(x):
    cube = lambda t: t * t * t                                                   # noqa: E731
    tn.gradgradcheck(lambda t: cube(t).reshape(-1), [x])
    tn.gradgradcheck(lambda t: cube(t).transpose(0, 1), [x])
    tn.gradgradcheck(lambda t: cube(t).permute(*reversed(range(t.ndim))).mT, [x])
    tn.gradgradcheck(lambda t: cube(t)[[0, 0, -1]], [x])                         # a repeated index adds
    tn.gradgradcheck(lambda t: cube(t)[..., :1], [x])
    tn.gradgradcheck(lambda t: tn.concatenate([cube(t), t.exp()], axis=-1), [x])
    tn.gradgradcheck(lambda t: tn.stack([cube(t), t.exp()], axis=1), [x])
    tn.gradgradcheck(lambda t: tn.where(x > 0, cube(t), t.exp()), [x])
    tn.gradgradcheck(lambda t: tn.broadcast_to(cube(t), (2,) + t.shape), [x])
    tn.gradgradcheck(lambda t: cube(t.T.contiguous()), [x])


def test_gradgradcheck_catches_a_wrong_second_derivative():
    """A rule that works on Tensors but treats its saved output as a constant has the right first derivative
    and a wrong second one: gradcheck passes, gradgradcheck must not."""
    from tinynet.autograd import differentiable_rules

    def bad_exp(x):
        y = np.exp(x.data)
        return make_result("bad_exp", y, (x,), lambda g: (g * y,))              # y stays an array: wrong

    differentiable_rules("bad_exp")
    x = random_array((3,), 0)
    assert tn.gradcheck(bad_exp, [x])
    with pytest.raises(tn.GradcheckError, match="first derivative of bad_exp"):
        tn.gradgradcheck(bad_exp, [x])


# ---- memory -----------------------------------------------------------------------------------------------------
def test_a_gradient_penalty_loop_keeps_flat_memory():
    """A graph built by create_graph belongs to the tensors that use it: dropped, it is freed."""
    rng = np.random.default_rng(0)
    w = leaf(rng.standard_normal((8, 8)))
    x = tn.Tensor(rng.standard_normal((16, 8)))

    def step():
        loss = ((x @ w).tanh() ** 2).mean()
        (gw,) = tn.grad(loss, [w], create_graph=True)
        (loss + (gw * gw).sum()).backward()
        w.grad = None

    for _ in range(20):
        step()
    gc.collect()
    tracemalloc.start()
    for _ in range(50):
        step()
    gc.collect()
    after_50 = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        step()
    gc.collect()
    after_1050 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after_1050 - after_50 < 64 * 1024, (after_50, after_1050)


def test_gradgradcheck_of_a_0d_input_in_saturation():
    """At x = −7.16 tanh'' is tiny and rounding dominates, so gradcheck measures the round-off of that entry;
    with a 0-d input its tolerance was a NumPy scalar that could not be updated (a Hypothesis-found case)."""
    assert tn.gradgradcheck(lambda t: t.tanh(), [np.array(-7.159729)])
    assert tn.gradgradcheck(lambda t: t.sigmoid(), [np.array(-7.159729)])


def test_a_fused_op_given_one_tensor_in_several_slots_differentiates_it_once():
    """sdpa(x, x, x) under create_graph: the reference's total gradient for x goes to one slot, not to all three."""
    rng = np.random.default_rng(0)
    x = leaf(rng.standard_normal((2, 3, 4)))
    v = rng.standard_normal((2, 3, 4))
    (ordinary,) = tn.grad(F.scaled_dot_product_attention(x, x, x), [x], grad_outputs=v)
    (recorded,) = tn.grad(F.scaled_dot_product_attention(x, x, x), [x], grad_outputs=v, create_graph=True)
    np.testing.assert_allclose(recorded.data, ordinary.data, rtol=1e-12)
    assert tn.gradgradcheck(lambda t: F.scaled_dot_product_attention(t, t, t), [x.data], mode="directional")


def test_gradients_of_a_0d_input_are_arrays_in_its_dtype():
    scale = tn.Tensor(np.array(2.0), requires_grad=True)           # float64 0-d, meeting float32 data
    data = tn.Tensor(np.ones(3, np.float32))
    for create_graph in (False, True):
        (g,) = tn.grad((data * scale).sum(), [scale], create_graph=create_graph)
        assert type(g.data) is np.ndarray and g.dtype == np.float64 and g.item() == 3.0


def test_released_entries_off_the_path_do_not_stop_grad():
    w = leaf(np.ones((2, 2)))
    z = tn.Tensor(np.ones((1, 2))) @ w
    z.sum().backward()                                             # frees z's entry
    v = leaf(np.full((1, 2), 3.0))
    (gv,) = tn.grad((z * v).sum(), [v])                            # only z's value is needed, as in PyTorch
    np.testing.assert_array_equal(gv.data, z.data)
    with pytest.raises(RuntimeError, match="second time"):
        tn.grad((z * v).sum(), [w])                                # the path to w runs through the freed entry


def test_gradgradcheck_refuses_a_tensor_rule_that_computes_another_formula():
    """First order right, the rule's Tensor form wrong everywhere (2·cos): differences of that wrong form are
    consistent with its own second derivative, so only comparing it with the array form catches it."""
    from tinynet.autograd import differentiable_rules

    def two_faced_sin(x):
        def backward(g):
            return (g * 2 * x.cos(),) if isinstance(g, tn.Tensor) else (g * np.cos(x.data),)
        return make_result("two_faced_sin", np.sin(x.data), (x,), backward)

    differentiable_rules("two_faced_sin")
    x = random_array((3,), 0)
    assert tn.gradcheck(two_faced_sin, [x])
    with pytest.raises(tn.GradcheckError, match="differs from the ordinary backward"):
        tn.gradgradcheck(two_faced_sin, [x])


def test_pow_with_a_tensor_exponent_at_base_0_as_pytorch():
    a, b = leaf([0.0, 0.5, 2.0]), leaf([1.5, 2.0, 0.7])
    (a ** b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.0, 1.0, 0.7 * 2.0 ** -0.3])
    np.testing.assert_allclose(b.grad, [0.0, 0.25 * np.log(0.5), 2.0 ** 0.7 * np.log(2.0)])
    with pytest.raises(ValueError, match="every base must be >= 0"):
        leaf([-1.0]) ** leaf([2.0])
