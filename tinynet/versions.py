"""In-place changes: the version counter.

A backward rule reads the arrays its op saw in the forward pass (mul's rule reads b to compute da = g·b).
Change b in place between the forward pass and backward (``with tn.no_grad(): b += 1``) and the rule would
silently compute the gradient at the new b. PyTorch counts every in-place change of a tensor (its version)
and refuses such a backward; so does tinynet. Every in-place change made through tinynet (the in-place
operators, ``copy_``/``fill_``/``zero_``, an optimizer's step) calls ``mark_changed``, which records the
tensor's version and the tape index at that moment. An entry recorded *before* that index read the old values,
so backward through it raises.

A rule's input made by a view op (``w.T``, ``a.reshape(...)``) is traced back to the tensor it views, so changing
w after ``x @ w.T`` is seen. What it does not see (PyTorch's views share one counter; tinynet's do not): writing
into ``t.data`` directly, and a change made *through* a view, e.g. ``y[0:2].fill_(5)`` or a change of
``y.detach()``, which alters y without raising y's version. Change the tensor itself, or a copy.

Until something is changed in place, backward pays one truth test per call for all this. After that it checks the
inputs of each entry whose rule reads values (a few attribute reads). Each changed tensor carries ``_change =
(version, tape index at its latest in-place change)``; an entry whose output was changed carries ``output_changed =
True``. Both are set only here, so everything else reads them with getattr(..., default).
"""
from __future__ import annotations

from . import tape

any_changes = False                      # True once anything was changed in place: until then backward skips it

# Ops whose backward rule reads neither its inputs' values nor its output's (only shapes, an index or a mask
# made in the forward pass): an in-place change of those tensors does not change their gradients.
_READS_NO_VALUES = frozenset({"add", "sub", "neg", "reshape", "transpose", "permute", "contiguous", "getitem",
                              "concatenate", "stack", "sum", "mean", "where", "broadcast_to",
                              "scatter_add", "cast", "cumsum"})


# Ops whose backward rule reads their own output (exp: dx = g·y): an in-place change of that output is an error.
_READS_OUTPUT = frozenset({"exp", "sqrt", "tanh", "sigmoid", "div", "pow", "max", "logsumexp", "softmax",
                           "log_softmax", "scaled_dot_product_attention", "max_pool2d"})


def mark_changed(tensor):
    """Record that ``tensor``'s array was changed in place (its version goes up by one)."""
    global any_changes
    any_changes = True
    tensor._change = (version(tensor) + 1, tape.next_index())
    if tensor._entry is not None:        # a non-leaf: the entry that produced it may read it (exp reads y)
        tensor._entry.output_changed = True


def version(tensor):
    """How many times ``tensor`` was changed in place through tinynet (``t._version``, as in PyTorch)."""
    change = getattr(tensor, "_change", None)
    return 0 if change is None else change[0]


# Ops whose output may share its input's memory (NumPy views): a change of the input shows through the output.
_VIEWS = frozenset({"reshape", "transpose", "permute", "getitem", "broadcast_to"})


def check_not_modified(entry):
    """Raise if a tensor this entry's rule reads was changed in place after the entry was recorded.

    An input made by a view op (``w.T``, ``a.reshape(...)``) is followed back to the tensor it views, so that
    ``loss = (x @ w.T).sum(); optimizer.step(); loss.backward()`` raises as in PyTorch.
    """
    if not any_changes or entry.op in _READS_NO_VALUES:
        return
    for tensor in entry.inputs:
        for seen in _viewed_tensors(tensor):
            change = getattr(seen, "_change", None)
            if change is not None and change[1] > entry.index:
                raise RuntimeError(
                    f"backward: a tensor of shape {seen.shape} that '{entry.op}' (entry {entry.index}) needs for its "
                    f"gradient was changed in place after the op ran (it is now at version {change[0]}); its "
                    f"gradient would be computed at the new values. Change a copy instead (t = t.detach() + 0 or "
                    f"x = x * 1 before the op), or run backward before the change")
    if entry.op in _READS_OUTPUT and getattr(entry, "output_changed", False):
        raise RuntimeError(
            f"backward: the output of '{entry.op}' (entry {entry.index}) was changed in place after the op ran, "
            f"and its backward rule reads it; change a copy instead (y = y * 1)")


def _viewed_tensors(tensor):
    """``tensor``, and the tensors it is a view of through recorded view ops (w.T -> w)."""
    while True:
        yield tensor
        producer = tensor._entry
        if producer is None or producer.op not in _VIEWS or producer.inputs is None:
            return
        tensor = producer.inputs[0]
