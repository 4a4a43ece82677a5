"""Module additions: save/load through .npz (identical predictions, exact file name, dtype kept, clear errors),
forward hooks (PyTorch's register_forward_hook semantics), and the module tree helpers a training loop needs."""
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import serialization
from tinynet.testing import random_array, seeds

nn = tn.nn


def make_mlp(seed, hidden=5, dtype=np.float32):
    tn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Residual(nn.Sequential(nn.Linear(hidden, hidden),
                                                                                   nn.ReLU())),
                          nn.Linear(hidden, 2))
    return model.to(dtype)


@given(seed=seeds(), hidden=st.integers(1, 6), dtype=st.sampled_from([np.float32, np.float64]))
def test_save_load_round_trip_gives_identical_predictions(tmp_path_factory, seed, hidden, dtype):
    path = tmp_path_factory.mktemp("ckpt") / "model.npz"
    model = make_mlp(seed % 1000, hidden, dtype)
    model.save(path)
    other = make_mlp(seed % 1000 + 1, hidden, dtype)         # different initial weights
    x = random_array((4, 3), seed).astype(dtype)
    assert not np.array_equal(model(tn.Tensor(x)).data, other(tn.Tensor(x)).data)
    other.load(path)
    np.testing.assert_array_equal(model(tn.Tensor(x)).data, other(tn.Tensor(x)).data)
    for (k1, p1), (k2, p2) in zip(model.named_parameters(), other.named_parameters()):
        assert k1 == k2 and p2.dtype == dtype
        assert not np.shares_memory(p1.data, p2.data)


def test_functional_save_load_keeps_names_order_and_dtype(tmp_path):
    model = make_mlp(0)
    path = tmp_path / "weights"                              # no suffix: written under exactly this name
    assert serialization.save(model.state_dict(), path) == path
    assert os.path.exists(path) and not os.path.exists(str(path) + ".npz")
    state = serialization.load(path)
    assert list(state) == ["0.weight", "0.bias", "2.block.0.weight", "2.block.0.bias", "3.weight", "3.bias"]
    for name, value in model.state_dict().items():
        assert state[name].dtype == np.float32
        np.testing.assert_array_equal(state[name], value)
    with np.load(path) as plain:                             # any NumPy program can read it
        np.testing.assert_array_equal(plain["3.bias"], model.state_dict()["3.bias"])


def test_save_accepts_tensors_and_rejects_non_dicts(tmp_path):
    serialization.save({"w": tn.tensor([1.0, 2.0])}, tmp_path / "a.npz")
    np.testing.assert_array_equal(serialization.load(tmp_path / "a.npz")["w"], [1.0, 2.0])
    with pytest.raises(TypeError, match="dict of arrays"):
        serialization.save([np.zeros(2)], tmp_path / "b.npz")


def test_save_keeps_keys_that_are_numpy_savez_argument_names(tmp_path):
    """A parameter may be called "file" or "allow_pickle"; np.savez(f, **arrays) would take "file" as its own."""
    state = {"file": np.arange(3.0), "allow_pickle": np.ones((2, 2), dtype=np.float32), "a.b": np.zeros(1)}
    serialization.save(state, tmp_path / "k.npz")
    loaded = serialization.load(tmp_path / "k.npz")
    assert list(loaded) == list(state)
    for name, array in state.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == array.dtype
    assert sorted(np.load(tmp_path / "k.npz").files) == sorted(state)      # plain NumPy reads it too


def test_save_refuses_object_arrays_and_keeps_the_old_file(tmp_path):
    """Object arrays would need pickle to load; the refusal comes before the file is touched."""
    path = tmp_path / "o.npz"
    serialization.save({"good": np.ones(3)}, path)
    with pytest.raises(ValueError, match=r"save: 'bad' is an array of Python objects"):
        serialization.save({"w": np.ones(2), "bad": np.array([{"a": 1}], dtype=object)}, path)
    np.testing.assert_array_equal(serialization.load(path)["good"], np.ones(3))


def test_keys_that_differ_only_by_a_npy_suffix_load_back_apart(tmp_path):
    serialization.save({"a": np.zeros(2), "a.npy": np.ones(3)}, tmp_path / "s.npz")
    loaded = serialization.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded["a"], np.zeros(2))
    np.testing.assert_array_equal(loaded["a.npy"], np.ones(3))


def test_loading_a_wrong_shape_is_a_clear_error(tmp_path):
    make_mlp(0, hidden=5).save(tmp_path / "five.npz")
    model = make_mlp(0, hidden=4)
    before = model.state_dict()
    with pytest.raises(ValueError) as info:
        model.load(tmp_path / "five.npz")
    message = str(info.value)
    assert "load_state_dict" in message and "'0.weight'" in message and "(5, 3)" in message and "(4, 3)" in message
    # nothing half-loaded before the failing key changed the first layer
    np.testing.assert_array_equal(model.state_dict()["0.weight"], before["0.weight"])


def test_a_late_shape_mismatch_leaves_the_model_untouched(tmp_path):
    state = make_mlp(1).state_dict()
    state["3.weight"] = np.zeros((2, 7), dtype=np.float32)     # only the last layer is wrong
    model = make_mlp(0)
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"'3.weight' has shape \(2, 7\)"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_loading_other_keys_is_a_clear_error(tmp_path):
    tn.manual_seed(0)
    nn.Sequential(nn.Linear(3, 2)).save(tmp_path / "one.npz")
    with pytest.raises(KeyError, match="missing keys"):
        make_mlp(0).load(tmp_path / "one.npz")


# ---- forward hooks ---------------------------------------------------------------------------------------------
def test_forward_hook_sees_module_inputs_and_output_and_can_be_removed():
    model = make_mlp(0)
    calls = []
    handle = model[0].register_forward_hook(lambda m, args, out: calls.append((m, args, out)))
    x = tn.Tensor(random_array((2, 3), 1).astype(np.float32))
    y = model(x)
    assert len(calls) == 1
    module, args, out = calls[0]
    assert module is model[0] and args[0] is x and out.shape == (2, 5)
    handle.remove()
    np.testing.assert_array_equal(out.data, model[0](x).data)
    model(x)
    assert len(calls) == 1
    handle.remove()                                          # removing twice is harmless
    assert y.shape == (2, 2)


def test_forward_hook_return_value_replaces_the_output():
    layer = nn.Linear(2, 2)
    x = tn.Tensor(np.ones((1, 2), dtype=np.float32))
    with layer.register_forward_hook(lambda m, args, out: out * 0.0):
        np.testing.assert_array_equal(layer(x).data, np.zeros((1, 2)))
    assert np.any(layer(x).data != 0)                        # the context manager removed it


def test_hooks_fire_children_first_in_call_order():
    model = make_mlp(0)
    order = []
    for name, m in model.named_modules():
        m.register_forward_hook(lambda mod, args, out, name=name: order.append(name))
    model(tn.Tensor(np.ones((1, 3), dtype=np.float32)))
    assert order == ["0", "1", "2.block.0", "2.block.1", "2.block", "2", "3", ""]


def test_hook_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        nn.Linear(2, 2).register_forward_hook(3)


def test_gradients_still_flow_with_a_hook():
    model = make_mlp(0, dtype=np.float64)
    seen = []
    model[1].register_forward_hook(lambda m, args, out: seen.append(out.shape))
    x = random_array((3, 3), 2)
    assert tn.gradcheck(lambda t: model(t), [x])
    assert seen


def test_a_shared_parameter_appears_under_each_path_in_the_state_dict_as_in_pytorch():
    shared = tn.nn.Linear(3, 3)
    model = tn.nn.Sequential(shared, tn.nn.ReLU(), shared)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(model.parameters())) == 2                    # parameters() still lists each one once
    state = {k: v + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(state)                                 # strict: both paths are expected keys
    np.testing.assert_array_equal(shared.weight.data, state["2.weight"])


def test_load_reads_npz_members_without_the_npy_suffix(tmp_path):
    """np.load reads any .npz, including one written by other tools whose members lack ".npy"."""
    import zipfile
    with zipfile.ZipFile(tmp_path / "w.npz", "w") as archive, archive.open("w", "w") as member:
        np.lib.format.write_array(member, np.arange(3.0))
    np.testing.assert_array_equal(serialization.load(tmp_path / "w.npz")["w"], np.arange(3.0))
