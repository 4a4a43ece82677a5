"""F.embedding and nn.Embedding: lookup, gradchecks, repeated indices adding up, padding_idx, errors, and
agreement with the textbook reference and with PyTorch."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet import functional as F
from tinynet import nn
from tinynet.functional import reference as R
from tinynet.testing import check_op, random_array, seeds


@st.composite
def embedding_case(draw):
    """A table (V, D), integer indices of shape (*) that often repeat, and maybe a padding index."""
    V, D = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    index_shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    seed = draw(seeds())
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, V, size=index_shape)
    padding_idx = draw(st.one_of(st.none(), st.integers(-V, V - 1)))
    return random_array((V, D), seed), indices, padding_idx, seed


def loop_gradient(indices, g, V, padding_idx):
    """dW[v] = Σ_{k: indices[k] = v} g[k], one position at a time (the padding row stays 0)."""
    dw = np.zeros((V, g.shape[-1]))
    for k, v in enumerate(indices.reshape(-1)):
        dw[v] += g.reshape(-1, g.shape[-1])[k]
    if padding_idx is not None:
        dw[padding_idx % V] = 0
    return dw


@given(case=embedding_case())
def test_lookup_matches_indexing_and_gradchecks(case):
    """Without padding_idx (padding cuts the padding row's gradient on purpose, as detach() would, so finite
    differences see a derivative that backward deliberately drops: the next test checks that row)."""
    weight, indices, _, _ = case
    check_op(lambda w: F.embedding(indices, w), lambda w: w[indices], weight)


@given(case=embedding_case())
def test_repeated_indices_add_their_gradients_and_padding_gets_none(case):
    weight, indices, padding_idx, seed = case
    g = random_array(indices.shape + (weight.shape[1],), seed + 1)
    results = []
    for fn in (F.embedding, R.embedding):
        w = tn.Tensor(weight, requires_grad=True)
        y = fn(tn.Tensor(indices), w, padding_idx=padding_idx)
        y.backward(g)
        results.append((y.data, w.grad))
    expected = loop_gradient(indices, g, weight.shape[0], padding_idx)
    for values, grad in results:                       # the fused op and the reference, both against the loop
        np.testing.assert_array_equal(values, weight[indices])
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def test_errors_name_the_index_and_the_table():
    w = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"index 4 is out of range for a table of 4 rows.*\[0, 4\)"):
        F.embedding(np.array([0, 4]), w)
    with pytest.raises(ValueError, match="index -1 is out of range"):
        F.embedding(np.array([-1]), w)
    with pytest.raises(TypeError, match="indices must be integers"):
        F.embedding(tn.tensor([1.0, 2.0]), w)
    with pytest.raises(ValueError, match="weight must be 2-D"):
        F.embedding(np.array([0]), np.zeros(4))
    with pytest.raises(ValueError, match="padding_idx must be within"):
        F.embedding(np.array([0]), w, padding_idx=4)
    with pytest.raises(ValueError, match="num_embeddings must be a positive int"):
        nn.Embedding(0, 3)


def test_module_init_padding_row_and_float32():
    tn.manual_seed(0)
    emb = nn.Embedding(10, 3, padding_idx=-1)
    assert emb.padding_idx == 9 and repr(emb) == "Embedding(10, 3, padding_idx=9)"
    assert list(emb.state_dict()) == ["weight"] and emb.weight.dtype == np.float32
    assert np.all(emb.weight.data[9] == 0) and emb.weight.data[:9].std() > 0.5      # N(0, 1) elsewhere
    y = emb(np.array([[9, 1], [1, 2]]))
    y.backward(np.ones(y.shape, np.float32))
    assert y.dtype == emb.weight.grad.dtype == np.float32
    np.testing.assert_array_equal(emb.weight.grad[1], [2, 2, 2])
    np.testing.assert_array_equal(emb.weight.grad[9], [0, 0, 0])


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    weight = random_array((6, 4), 0)
    indices = np.array([[1, 5, 1], [0, 3, 0]])
    g = random_array((2, 3, 4), 1)
    w = tn.Tensor(weight, requires_grad=True)
    F.embedding(indices, w, padding_idx=0).backward(g)
    wt = torch.tensor(weight, requires_grad=True)
    torch.nn.functional.embedding(torch.from_numpy(indices), wt, padding_idx=0).backward(torch.from_numpy(g))
    np.testing.assert_allclose(w.grad, wt.grad.numpy(), rtol=1e-12)


@given(case=embedding_case())
def test_second_derivatives_through_the_reference(case):
    """The lookup is linear in the table, so its second derivative is 0: gradgradcheck through R.embedding, with
    the output multiplied by itself so that something nonzero has to come out right too."""
    weight, indices, padding_idx, _ = case
    tn.gradgradcheck(lambda w: F.embedding(indices, w, padding_idx=padding_idx) ** 2, [weight])


def test_backward_uses_the_indices_of_the_forward_pass():
    indices = np.array([0, 1])
    w = tn.Tensor(np.zeros((3, 2)), requires_grad=True)
    y = F.embedding(indices, w)
    indices[:] = 2                                        # the caller reuses its array before backward
    y.backward(np.ones((2, 2)))
    np.testing.assert_array_equal(w.grad, [[1, 1], [1, 1], [0, 0]])
