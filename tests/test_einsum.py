"""tn.einsum: forward vs np.einsum, float32 kept, gradcheck (random upstream gradient) on named equations and on
random equations that Hypothesis builds (repeated letters, letters summed in one operand only, size-1
broadcasting, '...'), implicit output, errors that name einsum, and the backward rule run on a Tensor g.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet.testing import broadcastable_shapes, check_op, random_array, seeds

NAMED = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),            # matrix product
    ("ij,jk", [(2, 3), (3, 4)]),                # the same, implicit output
    ("ii->i", [(3, 3)]),                        # diagonal: the gradient goes on the diagonal
    ("ii->", [(3, 3)]),                         # trace
    ("ii", [(3, 3)]),                           # trace, implicit
    ("iii->i", [(2, 2, 2)]),                    # a letter three times
    ("iij->ji", [(2, 2, 3)]),
    ("ij->ji", [(2, 3)]),                       # transpose
    ("ij->i", [(2, 3)]),                        # j summed in one operand only
    ("ij->", [(2, 3)]),
    ("ba", [(2, 3)]),                           # implicit output is alphabetical: "ab"
    ("Ba,ab", [(2, 3), (3, 4)]),                # upper case sorts first, as NumPy's
    ("i,j->ij", [(3,), (4,)]),                  # outer product
    ("i,i->", [(3,), (3,)]),                    # dot product
    ("i,i,i->i", [(3,), (3,), (3,)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),   # batched matrix product
    ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
    ("...ij,...jk", [(2, 1, 2, 3), (4, 3, 2)]),  # ellipsis axes broadcast
    ("i...->...", [(3, 2, 2)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("ij,ij->ij", [(2, 1), (2, 4)]),            # a size-1 axis broadcasts
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("i,->i", [(3,), ()]),                      # a 0-d operand
    ("", [()]),
    ("ij , jk -> ik", [(2, 3), (3, 4)]),         # spaces between subscripts
]


@pytest.mark.parametrize("equation, shapes", NAMED, ids=[e or "empty" for e, _ in NAMED])
def test_named_equations(equation, shapes):
    operands = [random_array(shape, k) for k, shape in enumerate(shapes)]
    check_op(lambda *ts: tn.einsum(equation, *ts), lambda *arrays: np.einsum(equation, *arrays), *operands)


@st.composite
def equations(draw):
    """A random valid equation with shapes: 1-3 operands over up to 4 letters (sizes 1-3), letters repeated
    inside an operand, summed letters, and size-1 axes where another operand has the full size."""
    letters = draw(st.lists(st.sampled_from("abcdAB"), min_size=1, max_size=4, unique=True))
    sizes = {letter: draw(st.integers(1, 3)) for letter in letters}
    n_operands = draw(st.integers(1, 3))
    terms = [draw(st.lists(st.sampled_from(letters), max_size=3)) for _ in range(n_operands)]
    present = sorted({letter for term in terms for letter in term})
    output = draw(st.permutations(present).flatmap(lambda p: st.integers(0, len(p)).map(lambda n: p[:n])))
    shapes = []
    for term in terms:
        seen = {}
        for letter in term:        # a repeated letter must keep its size inside one operand
            seen.setdefault(letter, 1 if draw(st.integers(0, 4)) == 0 else sizes[letter])
        shapes.append(tuple(seen[letter] for letter in term))
    equation = ",".join("".join(term) for term in terms) + "->" + "".join(output)
    return equation, shapes


@given(case=equations(), seed=seeds())
def test_random_equations(case, seed):
    equation, shapes = case
    operands = [random_array(shape, seed + k) for k, shape in enumerate(shapes)]
    full = [np.broadcast_to(a, _full_shape(equation, k, shapes)) for k, a in enumerate(operands)]
    expected = np.einsum(equation, *full)       # NumPy with every size-1 axis broadcast first
    check_op(lambda *ts: tn.einsum(equation, *ts), lambda *arrays: expected, *operands)


def _full_shape(equation, k, shapes):
    terms = equation.split("->")[0].split(",")
    size = {}
    for term, shape in zip(terms, shapes):
        for letter, n in zip(term, shape):
            size[letter] = max(size.get(letter, 1), n)
    return tuple(size[letter] for letter in terms[k])


@given(batches=broadcastable_shapes(max_dims=2, max_side=3), n=st.integers(1, 3), k=st.integers(1, 3),
       m=st.integers(1, 3), seed=seeds())
def test_batched_matrix_product_with_ellipsis_matches_matmul(batches, n, k, m, seed):
    a = random_array(batches[0] + (n, k), seed)
    b = random_array(batches[1] + (k, m), seed + 1)
    check_op(lambda s, t: tn.einsum("...nk,...km->...nm", s, t), np.matmul, a, b)


def test_an_ellipsis_missing_from_the_output_is_summed_as_pytorch():
    x = random_array((4, 2, 3), 0)
    check_op(lambda t: tn.einsum("...ij->ij", t), lambda a: a.sum(axis=0), x)


def test_diagonal_gradient_lands_on_the_diagonal():
    x = tn.tensor(random_array((3, 3), 1), requires_grad=True)
    tn.einsum("ii->i", x).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, np.diag([1.0, 2.0, 3.0]))


def test_operands_as_a_list_dtype_and_the_same_tensor_twice():
    a32 = tn.tensor(random_array((2, 3), 2, dtype=np.float32))
    b32 = tn.tensor(random_array((3,), 3, dtype=np.float32))
    y = tn.einsum("ij,j->i", [a32, b32])
    assert y.dtype == np.float32
    mixed = tn.einsum("ij,j->i", a32, tn.tensor(np.array([1, 0, 2])))
    assert mixed.dtype == np.float32
    np.testing.assert_allclose(mixed.data, a32.data @ np.array([1, 0, 2]), rtol=1e-6)
    x = tn.tensor(random_array((4,), 4), requires_grad=True)
    tn.einsum("i,i->", x, x).backward()                      # x·x: both uses contribute, d/dx = 2x
    np.testing.assert_allclose(x.grad, 2 * x.data)


@pytest.mark.parametrize("equation, shapes, message", [
    ("ij,jk->ik", [(2, 3)], "has 2 operand term"),
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript 'j' has size 3 in one operand and 4"),
    ("ij->k", [(2, 3)], "output subscript 'k' .* appears in no operand"),
    ("ij->ii", [(2, 2)], "output subscript 'i' appears more than once"),
    ("i1->i", [(2, 2)], "invalid subscript '1'"),
    ("i..j->ij", [(2, 3)], "invalid subscript '.' outside an ellipsis"),
    ("ij->i->j", [(2, 2)], "at most one '->'"),
    (". . .i->i", [(2, 2)], "without spaces inside"),
    ("ijk->i", [(2, 3)], r"operand 0 has shape \(2, 3\) \(2 axes\) but its term 'ijk'"),
    ("i->i", [(2, 3)], "names 1"),
    ("ii->i", [(2, 3)], "repeats subscript 'i' with sizes 2 and 3"),
    ("...i,...i->...", [(2, 3), (4, 3)], r"an ellipsis \('\.\.\.'\) axis has size 2 in one operand and 4"),
])
def test_bad_equations_and_shapes_name_einsum(equation, shapes, message):
    operands = [tn.tensor(np.ones(shape)) for shape in shapes]
    with pytest.raises(ValueError, match=f"einsum: .*{message}"):
        tn.einsum(equation, *operands)


def test_bad_argument_types():
    with pytest.raises(TypeError, match="einsum: the equation must be a string"):
        tn.einsum(tn.tensor(np.ones(2)), "i->")
    with pytest.raises(ValueError, match="einsum: needs at least one operand"):
        tn.einsum("->")


# ---- the backward rule on a Tensor g: einsum again, so differentiable again -------------------------------------
@pytest.mark.parametrize("equation, shapes", NAMED, ids=[e or "empty" for e, _ in NAMED])
def test_rule_returns_tensors_for_a_tensor_g(equation, shapes):
    operands = [tn.tensor(random_array(shape, k), requires_grad=True) for k, shape in enumerate(shapes)]
    y = tn.einsum(equation, *operands)
    g = random_array(y.shape, 9)
    from_array = y._entry.backward(g)
    with tn.enable_grad():
        from_tensor = y._entry.backward(tn.Tensor(g, requires_grad=True))
    for a, t in zip(from_array, from_tensor):
        assert isinstance(a, np.ndarray) and isinstance(t, tn.Tensor)
        assert t.requires_grad and t.dtype == a.dtype and t.shape == a.shape
        np.testing.assert_allclose(t.data, a, rtol=1e-12, atol=1e-12)


def test_second_derivative_of_a_bilinear_form():
    """y = xᵀ A x: dy/dx = (A + Aᵀ) x, and its derivative (the Hessian) is A + Aᵀ, through the recorded einsum."""
    a = random_array((3, 3), 10)
    x = tn.tensor(random_array((3,), 11), requires_grad=True)
    y = tn.einsum("i,ij,j->", x, tn.tensor(a), x)
    with tn.enable_grad():
        first, _, second = y._entry.backward(tn.Tensor(np.array(1.0)))
    dx = first + second                                        # x appears twice: the two uses add up
    np.testing.assert_allclose(dx.data, (a + a.T) @ x.data)
    direction = random_array((3,), 12)
    dx.backward(direction)
    np.testing.assert_allclose(x.grad, (a + a.T) @ direction)


# ---- second derivatives: tn.gradgradcheck (finite differences of the recorded first derivative) --------------
@pytest.mark.parametrize("equation, shapes", NAMED, ids=[e or "empty" for e, _ in NAMED])
def test_gradgradcheck_named_equations(equation, shapes):
    operands = [random_array(shape, k) for k, shape in enumerate(shapes)]
    tn.gradgradcheck(lambda *ts: tn.einsum(equation, *ts) * tn.einsum(equation, *ts), operands)


@given(case=equations(), seed=seeds())
def test_gradgradcheck_random_equations(case, seed):
    equation, shapes = case
    operands = [random_array(shape, seed + k) for k, shape in enumerate(shapes)]
    tn.gradgradcheck(lambda *ts: tn.einsum(equation, *ts), operands)


def test_a_letter_broadcast_from_size_1_is_differentiable_twice():
    """'a,a->' with shapes (1,) and (2,): the first operand's gradient sums over the broadcast a, and its
    differentiable form must repeat g along a's full size first (a Hypothesis-found case)."""
    a, b = np.array([0.3]), np.array([0.5, -0.2])
    assert tn.gradcheck(lambda x, y: tn.einsum("a,a->", x, y), [a, b])
    assert tn.gradgradcheck(lambda x, y: tn.einsum("a,a->", x, y), [a, b])
    assert tn.gradgradcheck(lambda x, y: tn.einsum("ab,b->a", x, y), [np.ones((2, 1)) * 0.7, b])
