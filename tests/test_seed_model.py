"""The seed article's model (demos/seed_model.py): its forward and backward pass a directional gradcheck in
float64 at a tiny size (input and every parameter), its shapes and summary add up, and without scikit-learn the
demo explains how to install the extra and exits non-zero. No training run here (that is the demo's job)."""
import subprocess
import sys

import numpy as np
import pytest

import tinynet as tn
from demos import seed_model
from demos.seed_model import SeedModel
from tinynet.summary import summary
from tinynet.testing import random_array


def tiny_model(seed=0):
    tn.manual_seed(seed)
    return SeedModel(num_classes=3, channels=4, stem_channels=2, num_heads=2).double()


def test_forward_and_backward_pass_a_directional_gradcheck_wrt_the_input():
    model = tiny_model()
    x = random_array((2, 1, 4, 4), 1)                     # stem stride 2: attention over a 2x2 map
    assert tn.gradcheck(lambda t: model(t), [x], mode="directional", n_directions=4, seed=3)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_parameter_gradient_matches_a_directional_finite_difference(seed):
    """With L = Σ v·model(x) (v random), for each parameter p and a random direction u compare ⟨∂L/∂p, u⟩ with
    (L(p + εu) − L(p − εu)) / 2ε: one directional check per parameter, so a small layer's error is not hidden
    by a large one's."""
    model = tiny_model(seed)
    x = tn.Tensor(random_array((2, 1, 4, 4), seed + 10))
    v = random_array((2, 3), seed + 20)
    rng = np.random.default_rng(seed + 30)
    (model(x) * v).sum().backward()

    def loss():
        with tn.no_grad():
            return np.sum(model(x).data * v)

    eps = 1e-6
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} took no part in the loss"
        u = rng.standard_normal(p.shape)
        analytic = np.sum(p.grad * u)
        original = p.data
        p.data = original + eps * u
        plus = loss()
        p.data = original - eps * u
        minus = loss()
        p.data = original
        numeric = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9, err_msg=name)


def test_default_model_shapes_and_summary():
    tn.manual_seed(0)
    model = SeedModel()
    out = model(tn.Tensor(np.zeros((3, 1, 8, 8), dtype=np.float32)))
    assert out.shape == (3, 10) and out.dtype == np.float32
    s = summary(model, (1, 8, 8), depth=3, print_table=False)
    assert s.total_params == sum(p.size for p in model.parameters())
    rows = {r["name"]: r for r in s.rows}
    assert rows["attention"]["output_shape"] == ("N", 64, 4, 4)
    assert rows["head"]["output_shape"] == ("N", 10)
    assert [sep["name"] for sep in s.separable] == ["block1.block.0", "block2.block.0"]
    for sep in s.separable:                              # 64->64 3x3: 64·9 + 64·64 + 64 vs 64·64·9 + 64
        assert sep["params"] == 4736 and sep["standard_params"] == 36928


def test_without_scikit_learn_the_demo_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)    # makes `import sklearn...` raise ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert seed_model.main([]) == 1
    err = capsys.readouterr().err
    assert 'pip install -e ".[demos]"' in err and "scikit-learn" in err


def test_without_scikit_learn_the_command_exits_non_zero():
    code = ("import sys, runpy; sys.modules['sklearn'] = None; sys.modules['sklearn.datasets'] = None; "
            "runpy.run_module('demos.seed_model', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert ".[demos]" in result.stderr and result.stdout == ""


def test_the_fixed_split_is_80_20_and_stratified():
    pytest.importorskip("sklearn")
    x_train, y_train, x_test, y_test = seed_model.load_data()
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert np.all(np.bincount(y_test, minlength=10) >= 35)
    again = seed_model.load_data()
    np.testing.assert_array_equal(again[3], y_test)      # the same split every time
