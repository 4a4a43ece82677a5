"""``check_op``: the one helper that every op test goes through.

For an op written with tinynet and an independent reference written with NumPy/SciPy, it checks:

1. **forward**: the float64 result equals the reference's;
2. **dtype kept**: float32 inputs give a float32 output that matches the reference to float32 precision;
3. **no mutation**: the op leaves its input arrays unchanged;
4. **backward**: ``tn.gradcheck`` with a random upstream gradient (full or directional), which also checks that
   backward is deterministic;
5. **second derivatives**: ``tn.gradgradcheck`` (``second_order=True``, the default): the gradient computed with
   ``create_graph=True`` is differentiated again and checked against finite differences of the first derivative.
   An op whose backward rule works on NumPy arrays only (no reference, not declared twice differentiable) is
   first-order only: pass ``second_order=False`` for it.
"""
from __future__ import annotations

import numpy as np

from ..gradcheck import gradcheck, gradgradcheck
from ..tensor import Tensor

__all__ = ["check_op"]


def check_op(op, reference, *inputs, wrt=None, mode="auto", seed=0, rtol=1e-7, atol=1e-10, float32=True,
             gradcheck_kwargs=None, second_order=True):
    """Check ``op(*tensors)`` against ``reference(*arrays)`` and its gradients against finite differences.

    ``inputs`` are NumPy arrays (float64 for the ones to differentiate; integer arrays are passed through).
    ``reference`` may be ``None`` when no independent formula exists (then only gradients and dtype are checked).
    Returns the op's float64 output array.
    """
    arrays = [np.asarray(a) for a in inputs]
    originals = [a.copy() for a in arrays]

    out = op(*[Tensor(a) for a in arrays])
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for a, before in zip(arrays, originals):
        np.testing.assert_array_equal(a, before, err_msg="check_op: the op modified its input in place")
    if reference is not None:
        expected = reference(*arrays)
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        for k, (o, e) in enumerate(zip(outs, expected)):
            assert o.shape == np.shape(e), f"check_op: output {k} has shape {o.shape}, reference {np.shape(e)}"
            np.testing.assert_allclose(o.data, e, rtol=rtol, atol=atol,
                                       err_msg=f"check_op: output {k} differs from the reference")

    if float32:
        as32 = [a.astype(np.float32) if a.dtype == np.float64 else a for a in arrays]
        out32 = op(*[Tensor(a) for a in as32])
        outs32 = out32 if isinstance(out32, (tuple, list)) else (out32,)
        for k, (o32, o64) in enumerate(zip(outs32, outs)):
            assert o32.dtype == np.float32, f"check_op: float32 inputs gave a {o32.dtype} output {k}"
            scale = np.max(np.abs(o64.data), initial=1.0)
            np.testing.assert_allclose(o32.data, o64.data, rtol=1e-4, atol=1e-4 * scale,
                                       err_msg=f"check_op: float32 output {k} is far from the float64 one")

    gradcheck(op, arrays, wrt=wrt, mode=mode, seed=seed, **(gradcheck_kwargs or {}))
    if second_order:
        gradgradcheck(op, arrays, wrt=wrt, mode=mode, seed=seed, **(gradcheck_kwargs or {}))
    return outs[0].data if len(outs) == 1 else tuple(o.data for o in outs)
