"""``python -m demos.second_order``: each section's numbers are what it claims."""
import numpy as np

import tinynet as tn
from demos import second_order as demo
from demos.deep_vs_residual import classifier, two_moons


def test_newton_converges_to_1_quadratically():
    xs = demo.newton()
    errors = [abs(x - 1) for x in xs]
    assert errors[-1] < 1e-10
    assert errors[4] < errors[3] ** 2 * 2        # the error (roughly) squares once close


def test_tanh_derivatives_match_their_closed_forms():
    derivatives, closed = demo.tanh_derivatives(np.linspace(-3, 3, 13))
    for d, c in zip(derivatives, closed):
        np.testing.assert_allclose(d, c, atol=1e-14)


def test_the_conv_attention_hessian_vector_product_matches_differences_of_gradients():
    n_params, hv_norm, error = demo.small_model_hvp(0)
    assert n_params > 500 and hv_norm > 0
    assert error < 1e-6


def test_power_iteration_finds_an_eigenpair_of_the_hessian():
    """λ and v from the demo satisfy Hv ≈ λv, checked with an independent Hessian-vector product."""
    x, y = two_moons(64, 0.1, 0)
    model = classifier(4, 8, "tanh", True, 0)
    estimates, vector = demo.top_eigenvalue(model, x, y, 60, 0)
    params = list(model.parameters())
    inputs = tn.Tensor(x)
    hv = demo.hessian_vector_product(lambda: tn.functional.cross_entropy(model(inputs), y), params, vector)
    residual = np.sqrt(sum(float(((h - estimates[-1] * v) ** 2).sum()) for h, v in zip(hv, vector)))
    assert estimates[-1] > 0 and residual < 1e-3 * estimates[-1]
    assert abs(sum(demo.eigenvector_share(model, vector)) - 1) < 1e-12


def test_the_demo_runs_and_prints_its_four_sections(capsys):
    demo.main(["--depth", "4", "--iterations", "5", "--seeds", "0,1"])
    out = capsys.readouterr().out
    for section in ("[1] Newton", "[2] tanh", "[3] Hessian-vector product", "[4] largest-magnitude Hessian"):
        assert section in out
    assert "stack curves" in out or "neither stack" in out
