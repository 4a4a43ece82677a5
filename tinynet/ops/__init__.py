"""The differentiable ops. Each function computes its forward result with NumPy and defines, right beside it,
the backward rule (its vector-Jacobian product) with the formula and shapes in the docstring.

Reading order: ``arithmetic`` (broadcasting binary ops), ``elementwise`` (exp, tanh, sin, clip, maximum, ...),
``reductions`` (sum, mean, max, min, var, std, logsumexp, prod, cumsum), ``matmul``, ``shaping`` (reshape,
transpose, indexing, concatenate, stack, where), ``einsum`` (Einstein summation; its backward is einsum again).

Conventions in every rule: ``g`` is dL/d(output), with the output's shape; a rule returns one gradient per
input, with that input's shape, or ``None`` for an input that needs none. Rules never write into ``g`` or into
saved forward arrays (a residual block sends the *same* ``g`` down two paths).
"""
