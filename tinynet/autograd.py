"""``tn.grad``: gradients returned as Tensors, and gradients of gradients (``create_graph=True``).

``loss.backward()`` (tape.py) accumulates plain NumPy arrays into the leaves' ``.grad``: the fast path, used by
every training step. ``tn.grad(outputs, inputs)`` is ``torch.autograd.grad``: it returns ``d(outputs)/d(inputs)``
as a tuple of Tensors and leaves every ``.grad`` alone. With ``create_graph=True`` those Tensors are themselves
recorded on the tape, so they can be differentiated again, to any order: Hessian-vector products, Newton's
method, gradient penalties.

How a backward rule becomes differentiable
------------------------------------------
A backward rule is a function of ``g = dL/dy`` and of the op's inputs: for ``y = a * b`` it is
``da = g * b``. Written with NumPy arrays it computes a number and forgets how. Written with Tensors it is just
more ops, and the tape records them like any forward computation. So every rule in ``tinynet/ops/`` is
written once, for both cases: the engine calls it with

* ``g`` a NumPy array (``backward()``, or ``tn.grad`` without ``create_graph``): the rule works on arrays, as
  fast as before; nothing is recorded;
* ``g`` a Tensor, with recording on (``create_graph=True``): the rule works on the input *Tensors*, so its
  result is a Tensor on the tape that depends on ``g`` and on the inputs. A value the rule saved from the
  forward pass as an array (``y = eˣ`` in ``exp``'s rule ``dx = g·y``) is recomputed from the input Tensor,
  because the second derivative must see how it depends on x. Factors that are piecewise constant (the
  mask ``x > 0`` of ``relu``, the sign of ``abs``, which entry of a window is the max) stay arrays: their
  derivative is zero almost everywhere, so relu's, max's and max-pooling's second derivatives are zero.

Fused ops (``conv2d``, ``layer_norm``, attention, ...) have long hand-written rules on arrays. Instead of a
second hand-written rule, each one keeps its textbook reference on its tape entry (``tinynet.functional.
reference``: the same function written with differentiable ops). Under ``create_graph`` the engine reruns the
reference on the same inputs and differentiates *that*, so the gradient is again a graph of ordinary ops.
PyTorch does much the same: its backward formulas are written with differentiable ops, and its fused
attention kernels fall back to a differentiable math path when a double backward is needed.

Which entries the walk visits
-----------------------------
``tn.grad(y, [x])`` needs only the entries on some path from x to y; the rest of the tape (for instance the
whole network below an input h in ``tn.grad(loss, [h])``) is not touched. ``_entries_leading_to`` finds them
in one pass over the entries that y depends on, in recording order: an entry leads to an input if one of its
own inputs is that input or comes from an entry that leads there.
"""
from __future__ import annotations

import heapq

import numpy as np

from . import tape, versions
from .tensor import Tensor

__all__ = ["grad", "differentiable_rules"]

# Ops whose backward rule is written for a Tensor g too (every op in tinynet/ops/ declares its own here). An op
# that is in neither this set nor has a reference cannot be differentiated twice, and the engine says so
# instead of treating its saved arrays as constants (which would give a silently wrong second derivative).
_DIFFERENTIABLE_RULES = set()


def differentiable_rules(*ops):
    """Declare that the backward rules of ``ops`` (op names) accept a Tensor g and return Tensors."""
    _DIFFERENTIABLE_RULES.update(ops)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """``d(outputs)/d(inputs)``, weighted by ``grad_outputs``: a tuple with one Tensor per input.

    ``outputs``: a Tensor or a sequence of Tensors. ``inputs``: a Tensor or a sequence of Tensors that the
    outputs depend on (leaves or intermediate results). ``grad_outputs``: ``dL/d(output)`` for each output, of
    its shape and dtype; it may be omitted for one-element outputs (then it is 1). The result for input x is
    ``Σ_outputs grad_output · d(output)/dx``, i.e. what ``backward`` would add to ``x.grad``, but returned
    instead of accumulated: no ``.grad`` is changed.

    ``create_graph=True``: the returned Tensors are on the tape (they require grad when anything they depend on
    does), so ``tn.grad`` or ``backward`` can differentiate them again. ``retain_graph`` (default: the value of
    ``create_graph``, as in PyTorch) keeps the entries used, so the same graph can be walked again.
    ``allow_unused=True`` returns None for an input the outputs do not depend on (otherwise an error).
    """
    outputs = _as_tensor_tuple("grad", "outputs", outputs)
    inputs = _as_tensor_tuple("grad", "inputs", inputs)
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"grad: inputs[{i}] (shape {x.shape}) does not require grad, so no gradient "
                               f"flows to it; create it with requires_grad=True")
    seeds = _seeds(outputs, grad_outputs, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    found, released = walk(seeds, inputs, retain_graph, create_graph)
    result = []
    for i, x in enumerate(inputs):
        g = found.get(id(x))
        if g is None:
            if released:                             # the path to x may run through entries already freed
                tape.check_not_released(released[0])
            if not allow_unused:
                raise RuntimeError(f"grad: inputs[{i}] (shape {x.shape}) was not used to compute the outputs; "
                                   f"pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor._wrap(np.asarray(g, dtype=x.dtype)))
    return tuple(result)


def _as_tensor_tuple(op, name, value):
    if isinstance(value, Tensor):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{op}: {name} must be a Tensor or a list/tuple of Tensors, got {type(value).__name__}")
    items = tuple(value)
    if not items:
        raise ValueError(f"{op}: {name} is empty")
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name}[{i}] must be a Tensor, got {type(t).__name__}")
    return items


def _seeds(outputs, grad_outputs, create_graph):
    """Pairs (output, dL/d(output)): arrays, or Tensors when the result must be differentiable."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = (grad_outputs,)
    elif not isinstance(grad_outputs, (list, tuple)):
        raise TypeError(f"grad: grad_outputs must be a Tensor, a NumPy array or a list/tuple of them (one per "
                        f"output), got {type(grad_outputs).__name__}")
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    seeds = []
    for i, (y, g) in enumerate(zip(outputs, grad_outputs)):
        if not y.requires_grad:
            raise RuntimeError(f"grad: outputs[{i}] does not require grad (no input had requires_grad=True, or "
                               f"it was computed inside no_grad())")
        if g is None:
            if y.size != 1:
                raise RuntimeError(f"grad: outputs[{i}] has shape {y.shape}; grad_outputs can be left out only "
                                   f"for one-element outputs: pass grad_outputs with the output's shape")
            g = np.ones_like(y.data)
        else:
            g_data = g.data if isinstance(g, Tensor) else np.asarray(g)
            if g_data.shape != y.shape:
                raise ValueError(f"grad: grad_outputs[{i}] has shape {g_data.shape} but outputs[{i}] has shape "
                                 f"{y.shape}; they must match")
            if g_data.dtype != y.dtype:
                raise TypeError(f"grad: grad_outputs[{i}] has dtype {g_data.dtype} but outputs[{i}] has dtype "
                                f"{y.dtype}; they must match")
        if create_graph:
            g = g if isinstance(g, Tensor) else Tensor._wrap(g)
        else:
            g = g.data if isinstance(g, Tensor) else g
        seeds.append((y, g))
    return seeds


def _entries_leading_to(roots, targets):
    """The entries on a path from one of ``targets`` (tensors) to one of ``roots`` (tensors), and the released
    entries met on the way (an earlier backward freed them, so what lies behind them cannot be seen)."""
    target_ids = {id(t) for t in targets}
    seen, released, stack = set(), [], [t._entry for t in roots if t._entry is not None]
    while stack:                                     # every entry the roots depend on (no recursion)
        entry = stack.pop()
        if entry in seen:
            continue
        seen.add(entry)
        if entry.inputs is None:
            released.append(entry)
            continue
        stack.extend(t._entry for t in entry.inputs if t._entry is not None and t._entry not in seen)
    leading = set()
    for entry in sorted(seen, key=lambda e: e.index):    # producers before consumers
        if entry.inputs is not None and any(id(t) in target_ids or t._entry in leading for t in entry.inputs):
            leading.add(entry)
    return leading, released


def walk(seeds, targets, retain_graph, create_graph):
    """The reverse walk of ``backward`` restricted to the entries that lead to ``targets``.

    Returns ``{id(target): dL/d(target)}`` for the targets reached, and the released entries met (see
    ``_entries_leading_to``). With ``create_graph`` every gradient is a Tensor and each rule runs with recording
    on; otherwise they are arrays and nothing is recorded.
    """
    target_ids = {id(t) for t in targets}
    leading, released = _entries_leading_to([y for y, _ in seeds], targets)
    found, pending, heap = {}, {}, []

    def send(tensor, g):                             # hand g = dL/d(tensor) on, summing with earlier ones
        if id(tensor) in target_ids:
            found[id(tensor)] = g if id(tensor) not in found else found[id(tensor)] + g
        producer = tensor._entry
        if producer in leading:
            if producer in pending:
                pending[producer] = pending[producer] + g
            else:
                pending[producer] = g
                heapq.heappush(heap, (-producer.index, producer))

    with tape.enable_grad() if create_graph else tape.no_grad():
        for y, g in seeds:
            send(y, g)
        while heap:
            entry = heapq.heappop(heap)[1]
            grad_out = pending.pop(entry)
            versions.check_not_modified(entry)
            if not create_graph:
                grads = entry.backward(grad_out)
            elif getattr(entry, "reference", None) is not None:
                grads = _through_reference(entry, grad_out)
            elif entry.op in _DIFFERENTIABLE_RULES:
                grads = entry.backward(grad_out)
            else:
                raise RuntimeError(
                    f"grad(create_graph=True): '{entry.op}' (entry {entry.index}) has a backward rule for NumPy "
                    f"arrays only, so its gradient cannot be differentiated again. Give the op a reference "
                    f"(make_result(..., reference=...): the same function written with differentiable ops), or "
                    f"write its rule for a Tensor g and declare it with tinynet.autograd.differentiable_rules")
            for tensor, g in zip(entry.inputs, grads):
                if g is not None and tensor.requires_grad:
                    send(tensor, _checked(g, tensor, entry))
            if not retain_graph:
                entry.release()
    return found, released


def _through_reference(entry, g):
    """A fused op's input gradients as a graph: rerun its reference on the same inputs, differentiate that.

    ``found`` holds each input tensor's *total* gradient. A tensor that fills several slots (self-attention's
    ``sdpa(x, x, x)``) gets it in its first slot only: the engine adds up what the slots return.
    """
    inputs = entry.inputs
    output = entry.reference(*inputs)
    wanted = [x for x in inputs if x.requires_grad]
    found, _ = walk([(output, g)], wanted, retain_graph=True, create_graph=True)
    grads, given = [], set()
    for x in inputs:
        grads.append(None if id(x) in given else found.get(id(x)))
        given.add(id(x))
    return tuple(grads)


def _checked(g, tensor, entry):
    """Every rule must return a gradient with its input's shape and dtype (a Tensor g is cast on the tape)."""
    if g.shape != tensor.shape:
        raise RuntimeError(f"backward rule of '{entry.op}' returned a gradient of shape {g.shape} for an input "
                           f"of shape {tensor.shape}")
    if isinstance(g, Tensor):
        if g.dtype == tensor.dtype:
            return g
        from .ops.arithmetic import cast            # (ops import this module, so not at the top)
        return cast(g, tensor.dtype)
    if type(g) is not np.ndarray or g.dtype != tensor.dtype:   # NumPy reductions can give a scalar for shape ()
        g = np.asarray(g, dtype=tensor.dtype)
    return g


