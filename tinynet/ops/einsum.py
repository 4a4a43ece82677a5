"""``einsum``: Einstein summation, one notation for products, sums, traces, transposes and contractions.

The notation
------------
``einsum("ij,jk->ik", A, B)`` names every axis of every operand with a letter (a *subscript*). The output keeps
the letters after ``->``; every other letter is summed over. So this is

    y[i, k] = Σ_j A[i, j] B[j, k]          (the matrix product)

and in general  y[out] = Σ_{letters not in out} Π_operands  operand[its letters].  More examples:
``"ii->i"`` (the diagonal), ``"ii->"`` (the trace), ``"ij->ji"`` (a transpose), ``"bij,bjk->bik"`` (a batched
matrix product), ``"...ij,...jk->...ik"`` (``...`` stands for any number of leading axes, which broadcast as in
NumPy). Without ``->`` (*implicit* mode) the output is ``...`` followed by the letters that appear exactly once,
in alphabetical order (A-Z before a-z), as in NumPy and PyTorch: ``"ij,jk"`` means ``"ij,jk->ik"``.
An axis of size 1 broadcasts against the same letter of another operand; an ellipsis that the output does not
keep is summed over, as in PyTorch.

The backward rule is again an einsum
------------------------------------
y is linear in each operand A_k separately, so ∂y[out]/∂A_k[s_k] is the product of the *other* operands, and
the chain rule with g = dL/dy gives

    dA_k[s_k] = Σ_{letters not in s_k}  g[out] · Π_{j ≠ k} A_j[s_j]
              = einsum("out, s_j (j ≠ k) -> s_k", g, A_j (j ≠ k)).

Example: for "ij,jk->ik", dA = einsum("ik,jk->ij", g, B) = g Bᵀ and dB = einsum("ik,ij->jk", g, A) = Aᵀ g,
the matmul rules. Two details make the equation well formed for every forward equation:

* **A repeated letter** in s_k (``"ii->i"``): only the diagonal entries of A_k are read, so only they get a
  gradient. einsum cannot write a letter twice in its output, so the second occurrence gets a fresh letter I
  and a Kronecker delta δ[i, I] (the identity matrix) joins the operands: dA[i, I] = g[i] δ[i, I], the
  gradient on the diagonal and zero elsewhere. (A letter used three times gets two fresh letters and two deltas.)
* **A letter only in s_k** (``"ij->i"``: j is summed in A alone): every A[i, j] contributes with weight 1, so a
  vector of ones over j joins the operands: dA[i, j] = g[i] · 1[j].

An operand broadcast along a size-1 axis gets its gradient summed over that axis (the broadcasting rule of
``tinynet/broadcast.py``). With a Tensor g (a gradient to be differentiated again) the same equation is run
through ``einsum`` itself, on g and the input Tensors, so einsum is differentiable any number of times.

Speed note: the forward pass and the array backward call ``np.einsum`` with ``optimize=True`` for two or more
operands, which contracts pairwise with BLAS instead of one nested loop.
"""
from __future__ import annotations

import re
import string

import numpy as np

from ..autograd import differentiable_rules
from ..tensor import Tensor, as_tensor, make_result
from .shaping import broadcast_to

__all__ = ["einsum"]
differentiable_rules("einsum")              # its rule is einsum again, on a Tensor g as on an array g

_LETTERS = string.ascii_uppercase + string.ascii_lowercase     # the implicit output's order, as NumPy's


def einsum(equation, *operands):
    """y = einsum(equation, *operands): Σ over the letters not in the output of the product of the operands.

    ``equation`` as in ``np.einsum`` / ``torch.einsum``, e.g. ``"ij,jk->ik"``, ``"ii->"``, ``"...ij,...jk"``;
    the operands may also be given as one list, as PyTorch allows. Shapes: each term names its operand's axes
    (``...`` the leading ones that are left); y has one axis per output letter, of that letter's (broadcast) size.
    Backward (derived in the module docstring), with s_k the subscripts of operand A_k:
        dA_k = einsum("out, s_j (j ≠ k) -> s_k", g, the other operands),
    with a Kronecker delta for each repeated letter of s_k, a ones vector for each letter only s_k has, and a
    sum over the axes where A_k was broadcast.
    """
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string such as 'ij,jk->ik', got "
                        f"{type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])                           # einsum("ij,jk", [a, b]), as PyTorch allows
    operands = _common_dtype(tuple(as_tensor(t) for t in operands))
    terms, output, sizes = _parse(equation, [t.shape for t in operands])
    y = _contract(terms, output, [t.data for t in operands], sizes)

    def backward(g):
        return tuple(_operand_gradient(k, g, operands, terms, output, sizes) if operands[k].requires_grad
                     else None for k in range(len(operands)))

    return make_result("einsum", y, operands, backward)


def _common_dtype(operands):
    """Integer or bool operands meeting a floating one take the float dtype (as in PyTorch's promotion)."""
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    for t in operands:
        if t.data.dtype.kind not in "biuf":
            raise TypeError(f"einsum: operands must be numeric, got dtype {t.data.dtype}")
    floats = [t.data.dtype for t in operands if t.data.dtype.kind == "f"]
    if not floats:
        return operands
    dtype = np.result_type(*floats)
    return tuple(Tensor._wrap(t.data.astype(dtype)) if t.data.dtype.kind != "f" else t for t in operands)


# ---- parsing ------------------------------------------------------------------------------------------------
def _split_term(term, equation):
    """A term such as "b...ij" as (letters before ..., has ..., letters after ...), or a clear ValueError."""
    before, dots, after = term.partition("...")
    for char in before + after:
        if char not in _LETTERS:
            shown = "'.' outside an ellipsis '...'" if char == "." else f"{char!r}"
            raise ValueError(f"einsum: invalid subscript {shown} in the equation {equation!r}: subscripts are the "
                             f"letters a-z and A-Z, with at most one '...' per operand")
    return before, bool(dots), after


def _parse(equation, shapes):
    """The equation with every '...' replaced by letters: (one subscript string per operand, the output's
    subscripts, the size of every letter after broadcasting)."""
    if re.search(r"\.\s+\.", equation):
        raise ValueError(f"einsum: an ellipsis is written '...' without spaces inside, got {equation!r}")
    compact = equation.replace(" ", "")                         # spaces may stand between subscripts, as PyTorch
    lhs, arrow, rhs = compact.partition("->")
    if "->" in rhs:
        raise ValueError(f"einsum: the equation {equation!r} must have at most one '->' (inputs->output)")
    raw_terms = lhs.split(",")
    if len(raw_terms) != len(shapes):
        raise ValueError(f"einsum: the equation {equation!r} has {len(raw_terms)} operand term(s) but "
                         f"{len(shapes)} operand(s) were given")
    split = [_split_term(term, equation) for term in raw_terms]
    used = set(compact)
    fresh = [letter for letter in _LETTERS if letter not in used]

    ellipsis_ndims = []
    for k, ((before, has_dots, after), shape) in enumerate(zip(split, shapes)):
        named = len(before) + len(after)
        if (has_dots and named > len(shape)) or (not has_dots and named != len(shape)):
            raise ValueError(f"einsum: operand {k} has shape {shape} ({len(shape)} axes) but its term "
                             f"{raw_terms[k]!r} in {equation!r} names {named}")
        ellipsis_ndims.append(len(shape) - named if has_dots else 0)
    n_ellipsis = max(ellipsis_ndims, default=0)
    if n_ellipsis > len(fresh):
        raise ValueError(f"einsum: {equation!r} needs more distinct subscripts than the 52 letters")
    ellipsis_letters = "".join(fresh[:n_ellipsis])
    terms = [before + ellipsis_letters[n_ellipsis - e:] + after for (before, _, after), e in zip(split, ellipsis_ndims)]

    if arrow:
        before, has_dots, after = _split_term(rhs, equation)
        output = before + (ellipsis_letters if has_dots else "") + after
        inputs = set("".join(terms))
        for letter in before + after:
            if letter not in inputs:
                raise ValueError(f"einsum: output subscript {letter!r} in {equation!r} appears in no operand")
            if output.count(letter) > 1:
                raise ValueError(f"einsum: output subscript {letter!r} appears more than once in {equation!r}")
    else:
        counts = "".join(terms)
        once = [letter for letter in _LETTERS if counts.count(letter) == 1 and letter not in ellipsis_letters]
        output = ellipsis_letters + "".join(once)
    return terms, output, _sizes(terms, shapes, equation, ellipsis_letters)


def _sizes(terms, shapes, equation, ellipsis_letters):
    """Each letter's size: equal in every operand that has it, or 1 there (broadcast). Within one operand a
    repeated letter must have one size (it names a diagonal)."""
    sizes = {}
    for k, (term, shape) in enumerate(zip(terms, shapes)):
        own = {}
        for letter, size in zip(term, shape):
            label = "an ellipsis ('...') axis" if letter in ellipsis_letters else f"subscript {letter!r}"
            if own.setdefault(letter, size) != size:
                raise ValueError(f"einsum: operand {k} of shape {shape} repeats {label} with sizes "
                                 f"{own[letter]} and {size} in {equation!r}; a repeated subscript needs equal sizes")
            known = sizes.get(letter, 1)
            if size != known and size != 1 and known != 1:
                raise ValueError(f"einsum: {label} has size {known} in one operand and {size} in operand {k} "
                                 f"(shape {shape}) in {equation!r}; sizes must match or be 1")
            sizes[letter] = size if known == 1 else known
    return sizes


# ---- contraction and its gradient ---------------------------------------------------------------------------
def _contract(terms, output, arrays, sizes):
    """np.einsum on plain letters, each operand first broadcast (as a view) to its letters' full sizes."""
    full = []
    for term, array in zip(terms, arrays):
        target = tuple(sizes[letter] for letter in term)
        full.append(array if array.shape == target else np.broadcast_to(array, target))
    result = np.einsum(",".join(terms) + "->" + output, *full, optimize=len(full) > 1)
    return np.asarray(result)                                   # a 0-d result comes back as a NumPy scalar


def _operand_gradient(k, g, operands, terms, output, sizes):
    """dA_k = einsum(g and the other operands -> A_k's subscripts), with deltas and ones as the module docstring
    derives, summed back over the axes where A_k was broadcast. Works for an array g and for a Tensor g."""
    target = terms[k]
    unused = [letter for letter in _LETTERS if letter not in set("".join(terms) + output)]
    renamed, deltas, gradient_sizes = "", [], dict(sizes)
    for letter in target:
        if letter in renamed:                                   # a repeated letter: a fresh one plus δ[letter, fresh]
            if not unused:
                raise ValueError("einsum: the gradient needs more distinct subscripts than the 52 letters")
            fresh = unused.pop(0)
            deltas.append(letter + fresh)
            gradient_sizes[fresh] = sizes[letter]
            renamed += fresh
        else:
            renamed += letter
    in_terms = [output] + [terms[j] for j in range(len(terms)) if j != k] + deltas
    ones = [letter for letter in renamed if letter not in "".join(in_terms)]  # letters only A_k had
    dtype = g.dtype
    constants = [np.eye(sizes[d[0]], dtype=dtype) for d in deltas] + [np.ones(sizes[o], dtype=dtype) for o in ones]
    others = [operands[j] for j in range(len(operands)) if j != k]
    in_terms += ones
    if not isinstance(g, Tensor):                               # an array g: the ordinary backward
        grad = _contract(in_terms, renamed, [g] + [t.data for t in others] + constants, gradient_sizes)
    else:
        grad = einsum(",".join(in_terms) + "->" + renamed, g, *others, *constants)
        full_shape = tuple(gradient_sizes[letter] for letter in renamed)
        if grad.shape != full_shape:                            # a letter that only broadcast size-1 axes carry
            grad = broadcast_to(grad, full_shape)               # here: repeat to its full size, as _contract does
    shape = operands[k].shape
    broadcast_axes = tuple(axis for axis, letter in enumerate(target) if shape[axis] == 1 and sizes[letter] != 1)
    if broadcast_axes:
        grad = grad.sum(axis=broadcast_axes, keepdims=True)
    return grad
