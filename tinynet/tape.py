"""The tape: how tinynet records a computation and replays it backwards.

Reverse-mode autodiff in one paragraph
--------------------------------------
Every differentiable op that runs while gradients are enabled, on at least one input that requires grad,
records one **entry**: the op's name, its input tensors, and a small ``backward`` function that knows the
op's vector-Jacobian product (VJP). Given ``g = dL/d(output)`` it returns ``dL/d(input)`` for each input.
Each entry gets an increasing **index** when it is recorded. Because an op can only use tensors that already
exist, recording order is already a valid order for the chain rule: every entry comes after the entries that
produced its inputs. So ``y.backward(g)`` needs no graph search and no topological sort. It replays the
entries that lead to ``y`` in *reverse recording order* (largest index first), and each entry hands its
gradient to the entries that produced its inputs.

Contrast with micrograd-style engines
-------------------------------------
micrograd and most teaching libraries store a graph of nodes and, at backward time, run a recursive
depth-first search to build a topological order. That recursion costs one Python frame per graph level, so
a chain of a few thousand ops raises ``RecursionError``. Here the order comes from the index the op got when it
ran. The walk is a loop over a heap of entries ordered by index: no recursion, and any depth works (the tests
use a 10,000-op chain).

Who keeps the tape alive
------------------------
There is no global list of entries. An entry is owned by the tensor it produced (``tensor._entry``), and it
holds its inputs, so the part of the tape that leads to a tensor lives exactly as long as that tensor. A
metric computed with grad on and then dropped frees its entries at once, and memory stays flat across
training steps. ``with tn.Tape() as tape:`` also keeps a list of the entries recorded inside the block, so
a learner can ``print(tape)`` and see the computation as the engine saw it.

After ``backward`` an entry is *released*: its backward function and saved arrays are dropped to free
memory. A second backward through it raises an error that names ``retain_graph=True``, as PyTorch does.
"""
from __future__ import annotations

import functools
import inspect

import heapq
import itertools
import threading
import weakref

import numpy as np

__all__ = ["Tape", "no_grad", "enable_grad", "is_grad_enabled"]

class _ThreadState(threading.local):
    """What each thread sets for itself: its grad mode and the ``Tape`` objects it has open.

    Grad mode is per thread, as in PyTorch: an evaluation running under ``no_grad()`` in a second thread must
    not switch off recording in the thread that trains, and a ``Tape`` opened in one thread must list only the
    entries that thread records. A ``threading.local`` subclass gives every thread its own copy of these
    attributes, and a new thread starts from the class defaults: grad enabled, no open tapes.

    What stays shared by all threads: the entry index counter below (so a graph built across threads still
    replays in a valid order: indices keep increasing process-wide), ``tn.manual_seed``'s generator (as
    PyTorch's default generator), and ``tn.keep_freed_memory()``, which sets the C allocator for the process.
    """
    def __init__(self):           # runs once in every thread, at that thread's first use
        self.grad_enabled = True  # switched off inside ``no_grad()``
        self.open_tapes = ()      # ``Tape`` objects listening in this thread (usually none)


_state = _ThreadState()
_tapes_open = 0                   # Tapes open in any thread: a plain global, so Entry reads _state only when > 0
_next_index = itertools.count().__next__   # _next_index() gives 0, 1, 2, ... (process-wide, thread-safe in CPython)


# --------------------------------------------------------------------------------------------------------
# Grad mode
# --------------------------------------------------------------------------------------------------------
def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` (in this thread)."""
    return _state.grad_enabled


class no_grad:
    """Context manager: ops inside record nothing, and their outputs do not require grad.

    Use it for evaluation and for updating parameters, or, as in PyTorch, as a decorator::

        with tn.no_grad():
            preds = model(x)

        @tn.no_grad()
        def predict(x): ...

    The mode belongs to the thread that sets it (see ``_ThreadState``).
    """

    def __init__(self, function=None):
        if function is not None:
            raise TypeError(f"{type(self).__name__}: as a decorator write @tn.{type(self).__name__}() with "
                            f"parentheses")

    _mode = False                 # the grad mode inside the block

    def __enter__(self):
        self._previous = _state.grad_enabled
        _state.grad_enabled = self._mode
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self._previous
        return False

    def __call__(self, function):
        """Decorator form: ``function`` runs inside a fresh context of this kind on every call."""
        kind = type(self)
        if inspect.isgeneratorfunction(function):     # the mode would leak out at every yield
            raise TypeError(f"{kind.__name__}(): cannot decorate the generator function {function.__name__}; "
                            f"put `with tn.{kind.__name__}():` around the work inside it")

        @functools.wraps(function)
        def run_inside(*args, **kwargs):
            with kind():
                return function(*args, **kwargs)

        return run_inside


class enable_grad(no_grad):
    """Context manager that turns recording back on inside a ``no_grad()`` block."""

    _mode = True


# --------------------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------------------
class Entry:
    """One recorded op: ``output = op(*inputs)``.

    ``backward(g)`` takes ``g = dL/d(output)`` (same shape as the output) and returns a tuple with one item
    per input: ``dL/d(input)`` with that input's shape, or ``None`` for an input that needs no gradient.
    ``output`` (the output array) is only read for its shape when a ``Tape`` is open; the entry does not keep it
    (the output tensor owns the entry, not the other way round).
    """

    __slots__ = ("index", "op", "inputs", "backward", "reference", "retained", "description", "output_changed",
                 "__weakref__")

    def __init__(self, op, inputs, backward, output, reference=None):
        self.index = _next_index()
        self.op = op
        self.inputs = inputs
        self.backward = backward      # None once released
        self.reference = reference    # a fused op's textbook twin: reference(*inputs) recomputes the output
        self.retained = None          # weakref to the output tensor when it called .retain_grad()
        if _tapes_open and _state.open_tapes:     # a learner is watching: remember a line, keep the entry
            self.description = _describe(self, output.shape)
            for tape in _state.open_tapes:
                tape.entries.append(self)

    @property
    def released(self):
        """True once backward has used this entry and dropped its saved arrays."""
        return self.backward is None

    def release(self):
        """Drop what backward needed (saved arrays, inputs) so its memory can be reused."""
        self.backward = None
        self.inputs = None
        self.reference = None

    def __repr__(self):
        return f"<Entry {getattr(self, 'description', None) or f'{self.index} {self.op}'}>"


def _describe(entry, out_shape):
    shapes = ", ".join(str(tuple(t.shape)) for t in entry.inputs)
    return f"{entry.index:>5}  {entry.op:<12} {shapes} -> {tuple(out_shape)}"


class Tape:
    """Context manager that lets you *see* the tape.

    ::

        with tn.Tape() as tape:
            loss = ((x @ w).tanh() ** 2).mean()
        print(tape)          # one line per entry: index, op, input shapes -> output shape

    Entries are recorded whether or not a ``Tape`` is open; the ``Tape`` only keeps a list of those recorded
    inside its block (in recording order) and keeps them alive while the ``Tape`` object exists.
    """

    def __init__(self):
        self.entries = []

    def __enter__(self):
        global _tapes_open
        _state.open_tapes = _state.open_tapes + (self,)
        _tapes_open += 1
        return self

    def __exit__(self, *exc):
        global _tapes_open
        _state.open_tapes = tuple(tape for tape in _state.open_tapes if tape is not self)
        _tapes_open -= 1
        return False

    def __len__(self):
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __str__(self):
        lines = [f"Tape with {len(self.entries)} entries (index, op, input shapes -> output shape):"]
        for entry in self.entries:
            lines.append(entry.description + ("   [released by backward]" if entry.released else ""))
        return "\n".join(lines)

    __repr__ = __str__


# --------------------------------------------------------------------------------------------------------
# Replaying the tape backwards
# --------------------------------------------------------------------------------------------------------
def backward(root, grad, retain_graph=False):
    """Accumulate ``d(root)/d(leaf) · grad`` into ``leaf.grad`` for every leaf that requires grad.

    ``pending`` maps each waiting entry to the gradient of the loss with respect to its output, summed over
    every consumer seen so far. The heap holds ``(-index, entry)`` for the waiting entries, so it pops the
    largest index first. An entry is processed only after all its consumers (they have larger indices), so
    when it is popped its gradient is complete. ``pending`` and the heap belong to this call alone, so a
    backward rule may itself call ``backward()`` (and an error leaves nothing half-summed behind).
    """
    entry = root._entry
    if entry is None:                               # backward on a leaf: d(root)/d(root) = identity
        _accumulate_into(root, grad)
        return
    pending = {entry: grad}                         # entry -> dL/d(entry's output) so far
    heap = [(-entry.index, entry)]                  # heapq is a min-heap: -index pops the largest index
    pop, push = heapq.heappop, heapq.heappush       # (local names: this loop runs once per entry)
    while heap:
        entry = pop(heap)[1]
        grad_out = pending.pop(entry)
        backward_rule = entry.backward
        if backward_rule is None:
            check_not_released(entry)
        if _any_changes:
            check_not_modified(entry)
        if entry.retained is not None:
            tensor = entry.retained()
            if tensor is not None:
                _accumulate_into(tensor, grad_out)
        for tensor, g in zip(entry.inputs, backward_rule(grad_out)):
            if g is None or not tensor.requires_grad:
                continue
            data = tensor.data
            if g.shape != data.shape or (g.dtype is not data.dtype and g.dtype != data.dtype):
                g = _checked(g, tensor, entry)
            producer = tensor._entry
            if producer is None:                    # a leaf: gradients accumulate into .grad
                _accumulate_into(tensor, g)
                continue
            so_far = pending.get(producer)
            if so_far is None:                      # first gradient to reach this tensor
                pending[producer] = g
                push(heap, (-producer.index, producer))
            else:                                   # a tensor used twice: sum the contributions
                pending[producer] = so_far + g
        if not retain_graph:                        # release: free the saved arrays and the inputs
            entry.backward = None
            entry.inputs = None


def _checked(g, tensor, entry):
    """The engine's safety net: every rule must return a gradient with its input's shape and dtype."""
    if g.shape != tensor.data.shape:
        raise RuntimeError(
            f"backward rule of '{entry.op}' returned a gradient of shape {g.shape} for an input of shape "
            f"{tensor.data.shape}; a rule must reduce a broadcast gradient back to its input's shape "
            f"(see tinynet.broadcast.unbroadcast)")
    if g.dtype != tensor.data.dtype:
        g = g.astype(tensor.data.dtype)
    return g


def _accumulate_into(tensor, g):
    """``tensor.grad += g``, copying on the first store so no two tensors ever share a gradient array."""
    if tensor.grad is None:
        tensor.grad = np.array(g, dtype=tensor.data.dtype, copy=True)
    else:
        tensor.grad += g


# --------------------------------------------------------------------------------------------------------
# In-place changes: the version counter
# --------------------------------------------------------------------------------------------------------
# A backward rule reads the arrays its op saw in the forward pass (mul's rule reads b to compute da = g·b).
# Change b in place between the forward pass and backward (``with tn.no_grad(): b += 1``) and the rule would
# silently compute the gradient at the new b. PyTorch counts every in-place change of a tensor (its version)
# and refuses such a backward; so does tinynet. Every in-place change made through tinynet (the in-place
# operators, ``copy_``/``fill_``/``zero_``, an optimizer's step) calls ``mark_changed``, which records the
# tensor's version and the tape index at that moment. An entry recorded *before* that index read the old values,
# so backward through it raises. Writing into ``t.data`` directly is not seen (NumPy cannot tell us).
# The table is empty in ordinary training (an optimizer steps after backward), so backward pays one
# truth test per entry for it.
# Each changed tensor carries ``_change = (version, tape index at its latest in-place change)``; an entry whose
# output was changed carries ``output_changed = True``. Both are set only here, so everything else reads them
# with getattr(..., default).
_any_changes = False                     # True once anything was changed in place: until then backward skips it

# Ops whose backward rule reads neither its inputs' values nor its output's (only shapes, an index or a mask
# made in the forward pass): an in-place change of those tensors does not change their gradients.
_READS_NO_VALUES = frozenset({"add", "sub", "neg", "reshape", "transpose", "permute", "contiguous", "getitem",
                              "concatenate", "stack", "sum", "mean", "where", "broadcast_to",
                              "scatter_add", "cast"})


# Ops whose backward rule reads their own output (exp: dx = g·y): an in-place change of that output is an error.
_READS_OUTPUT = frozenset({"exp", "sqrt", "tanh", "sigmoid", "div", "pow", "max", "min", "logsumexp", "softmax",
                           "log_softmax", "scaled_dot_product_attention", "max_pool2d"})


def mark_changed(tensor):
    """Record that ``tensor``'s array was changed in place (its version goes up by one)."""
    global _any_changes
    _any_changes = True
    tensor._change = (version(tensor) + 1, _next_index())
    if tensor._entry is not None:        # a non-leaf: the entry that produced it may read it (exp reads y)
        tensor._entry.output_changed = True


def version(tensor):
    """How many times ``tensor`` was changed in place through tinynet (``t._version``, as in PyTorch)."""
    change = getattr(tensor, "_change", None)
    return 0 if change is None else change[0]


def check_not_modified(entry):
    """Raise if a tensor this entry's rule reads was changed in place after the entry was recorded."""
    if not _any_changes or entry.op in _READS_NO_VALUES:
        return
    for tensor in entry.inputs:
        change = getattr(tensor, "_change", None)
        if change is not None and change[1] > entry.index:
            raise RuntimeError(
                f"backward: a tensor of shape {tensor.shape} that '{entry.op}' (entry {entry.index}) needs for its "
                f"gradient was changed in place after the op ran (it is now at version {change[0]}); its "
                f"gradient would be computed at the new values. Change a copy instead (t = t.detach() + 0 or "
                f"x = x * 1 before the op), or run backward before the change")
    if entry.op in _READS_OUTPUT and getattr(entry, "output_changed", False):
        raise RuntimeError(
            f"backward: the output of '{entry.op}' (entry {entry.index}) was changed in place after the op ran, "
            f"and its backward rule reads it; change a copy instead (y = y * 1)")


def check_not_released(entry):
    if entry.backward is None:
        raise RuntimeError(
            f"backward: trying to backward through the tape a second time (entry {entry.index}, "
            f"op '{entry.op}'): its saved values were freed by an earlier backward(). Pass "
            f"retain_graph=True to the first backward() (or create_graph=True to tn.grad) to keep them, or "
            f"recompute the forward pass.")


def retain(entry, tensor):
    """Ask backward to store ``dL/d(tensor)`` in ``tensor.grad`` for a non-leaf tensor."""
    entry.retained = weakref.ref(tensor)
