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

DeZero's generations, and why a heap suffices
---------------------------------------------
DeZero (Koki Saito's *Deep Learning from Scratch 3*) avoids the recursive search another way: every function
gets a **generation** (the largest generation among its input variables; its outputs get one more), and
backward keeps a list of waiting functions sorted by generation, always taking the largest next. A consumer's
generation is larger than each of its producers', so it is processed before them, and a producer's gradient
is complete when its turn comes. tinynet keeps that idea and gets the number for free: the recording index
also grows from producer to consumer (an op runs after the ops that made its inputs), and it is unique, so no
two waiting entries ever tie and nothing has to be computed from the inputs. A binary heap keyed by ``-index``
then hands out the next entry in O(log n), where DeZero re-sorts its list whenever it adds a function.

Who keeps the tape alive
------------------------
There is no global list of entries. An entry is owned by the tensor it produced (``tensor._entry``), and it
holds its inputs, so the part of the tape that leads to a tensor lives exactly as long as that tensor. A
metric computed with grad on and then dropped frees its entries at once, and memory stays flat across
training steps.

Seeing the tape
---------------
``with tn.Tape() as tape:`` (tape_view.py) also keeps a list of the entries recorded inside the block, so a learner
can look at the computation as the engine saw it. ``print(tape)`` gives one line per entry: its number on the tape
(0, 1, 2, ...), its op, and for each input where it came from, with its shape: ``eN`` for the output of entry ``N``,
``leaf0``, ``leaf1``, ... for a tensor no recorded op made (``const0``, ... when it does not require grad),
``before0``, ... for the output of an op recorded before the tape opened. ``tape.to_dot()`` gives the same graph as
Graphviz DOT text (``dot -Tsvg``): a node per entry and per leaf, an edge from each producer to each consumer. Under
``create_graph=True`` the backward rules run as ops, so a tape also shows the graph of a gradient.

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

from . import versions

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "Entry", "backward"]

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
        self.saved_modes = []     # the mode before each open no_grad()/enable_grad() block, innermost last
        self.open_tapes = ()      # ``Tape`` objects listening in this thread (usually none)


_state = _ThreadState()
_tapes_open = 0                   # Tapes open in any thread: a plain global, so Entry reads _state only when > 0
# How many threads are now in no_grad mode. Every op asks "is grad enabled in this thread?"; while no thread has
# switched it off (the common case) a plain global answers, and only otherwise the thread's own state is read
# (a threading.local lookup costs several per cent of a tiny op). Changed under a lock, on mode changes only.
_threads_without_grad = 0
_mode_lock = threading.Lock()


def _set_grad_mode(enabled):
    """Set this thread's grad mode and keep the count of threads without grad right."""
    global _threads_without_grad
    with _mode_lock:
        if _state.grad_enabled and not enabled:
            _threads_without_grad += 1
        elif enabled and not _state.grad_enabled:
            _threads_without_grad -= 1
        _state.grad_enabled = enabled
next_index = itertools.count().__next__    # next_index() gives 0, 1, 2, ... (process-wide, thread-safe in CPython)


# --------------------------------------------------------------------------------------------------------
# Grad mode
# --------------------------------------------------------------------------------------------------------
def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` (in this thread)."""
    return not _threads_without_grad or _state.grad_enabled


class ModeContext:
    """A per-thread switch usable as ``with switch():`` and as the decorator ``@switch()``, as PyTorch's grad
    mode is. Subclasses say what ``__enter__`` and ``__exit__`` switch (no_grad here, use_reference in
    functional/reference_mode.py)."""

    def __init__(self, function=None):
        if function is not None:
            raise TypeError(f"{type(self).__name__}: as a decorator write @tn.{type(self).__name__}() with "
                            f"parentheses")

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


class no_grad(ModeContext):
    """Context manager: ops inside record nothing, and their outputs do not require grad.

    Use it for evaluation and for updating parameters, or, as in PyTorch, as a decorator::

        with tn.no_grad():
            preds = model(x)

        @tn.no_grad()
        def predict(x): ...

    The mode belongs to the thread that sets it (see ``_ThreadState``).
    """

    _mode = False                 # the grad mode inside the block

    def __enter__(self):
        _state.saved_modes.append(_state.grad_enabled)   # per thread, so one no_grad object can be shared
        _set_grad_mode(self._mode)
        return self

    def __exit__(self, *exc):
        _set_grad_mode(_state.saved_modes.pop())
        return False


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

    def __init__(self, op, inputs, backward, output):
        self.index = next_index()
        self.op = op
        self.inputs = inputs
        self.backward = backward      # None once released
        # self.reference: set by make_result for a fused op only (its textbook twin: reference(*inputs) recomputes
        # the output with differentiable ops); read with getattr(entry, "reference", None)
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


class EntryRecord:
    """What a ``Tape`` shows of one entry, taken when the entry is recorded.

    Backward later drops an entry's inputs, so the graph is remembered here: for each input, ``sources[k]`` is
    the index of the entry that produced it, or the input tensor itself when no recorded op produced it (a
    *leaf*: a parameter, a data batch, or a constant that does not require grad). Keeping the leaf tensor, not
    a number, is how two entries that read the same leaf are seen to read the same leaf.
    """

    __slots__ = ("index", "op", "sources", "input_shapes", "output_shape")

    def __init__(self, index, op, sources, input_shapes, output_shape):
        self.index = index
        self.op = op
        self.sources = sources                # int (producer's index) or Tensor (a leaf), one per input
        self.input_shapes = input_shapes      # tuple of shape tuples, one per input
        self.output_shape = output_shape

    def __str__(self):
        inputs = ", ".join(f"{source_label(source)} {shape}"
                           for source, shape in zip(self.sources, self.input_shapes))
        return f"{self.index} {self.op}: {inputs} -> {self.output_shape}"


def source_label(source):
    """``entry N`` for the output of the entry with tape index N (process-wide; ``print(tape)`` renumbers them
    e0, e1, ... per tape); ``leaf``/``const`` for a tensor no recorded op produced."""
    if isinstance(source, int):
        return f"entry {source}"
    return "leaf" if source.requires_grad else "const"


def _describe(entry, out_shape):
    """The ``EntryRecord`` of an entry that has just been recorded (its inputs are still at hand)."""
    sources = tuple(t._entry.index if t._entry is not None else t for t in entry.inputs)
    input_shapes = tuple(tuple(t.shape) for t in entry.inputs)
    return EntryRecord(entry.index, entry.op, sources, input_shapes, tuple(out_shape))


def listen(tape):
    """``Tape.__enter__``: ``tape`` collects the entries this thread records from now on."""
    global _tapes_open
    _state.open_tapes = _state.open_tapes + (tape,)
    with _mode_lock:
        _tapes_open += 1


def stop_listening(tape):
    """``Tape.__exit__``."""
    global _tapes_open
    _state.open_tapes = tuple(t for t in _state.open_tapes if t is not tape)
    with _mode_lock:
        _tapes_open -= 1


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
    any_changes = versions.any_changes              # anything changed in place so far (see versions.py)
    while heap:
        entry = pop(heap)[1]
        grad_out = pending.pop(entry)
        backward_rule = entry.backward
        if backward_rule is None:
            check_not_released(entry)
        if any_changes:
            versions.check_not_modified(entry)
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
