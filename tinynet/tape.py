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
``with tn.Tape() as tape:`` also keeps a list of the entries recorded inside the block, so a learner can look
at the computation as the engine saw it. ``print(tape)`` gives one line per entry: its number on the tape
(0, 1, 2, ...), its op, and for each input where it came from, with its shape: ``#i`` for the output of entry
``i``, ``leaf0``, ``leaf1``, ... for a tensor no recorded op made (``const0``, ... when it does not require
grad), ``before0``, ... for the output of an op recorded before the tape opened. ``tape.to_dot()`` gives the
same graph as Graphviz DOT text (``dot -Tsvg``): a node per entry and per leaf, an edge from each producer to
each consumer. Under ``create_graph=True`` the backward rules run as ops, so a tape also shows the graph of
a gradient.

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
_next_index = itertools.count().__next__   # _next_index() gives 0, 1, 2, ... (process-wide, thread-safe in CPython)


# --------------------------------------------------------------------------------------------------------
# Grad mode
# --------------------------------------------------------------------------------------------------------
def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` (in this thread)."""
    return not _threads_without_grad or _state.grad_enabled


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
        _set_grad_mode(self._mode)
        return self

    def __exit__(self, *exc):
        _set_grad_mode(self._previous)
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

    def __init__(self, op, inputs, backward, output):
        self.index = _next_index()
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
        inputs = ", ".join(f"{_source_label(source)} {shape}"
                           for source, shape in zip(self.sources, self.input_shapes))
        return f"{self.index} {self.op}: {inputs} -> {self.output_shape}"


def _source_label(source):
    """``#i`` for the output of entry i; ``leaf``/``const`` for a tensor no recorded op produced."""
    if isinstance(source, int):
        return f"#{source}"
    return "leaf" if source.requires_grad else "const"


def _describe(entry, out_shape):
    """The ``EntryRecord`` of an entry that has just been recorded (its inputs are still at hand)."""
    sources = tuple(t._entry.index if t._entry is not None else t for t in entry.inputs)
    input_shapes = tuple(tuple(t.shape) for t in entry.inputs)
    return EntryRecord(entry.index, entry.op, sources, input_shapes, tuple(out_shape))


class Tape:
    """Context manager that lets you *see* the tape.

    ::

        with tn.Tape() as tape:
            loss = ((x @ w).tanh() ** 2).mean()
        print(tape)          # one line per entry: its number, op, where each input came from, output shape
        tape.to_dot()        # the same graph as Graphviz DOT text

    Entries are recorded whether or not a ``Tape`` is open; the ``Tape`` only keeps a list of those recorded
    inside its block (in recording order) and keeps them alive while the ``Tape`` object exists, together with
    the leaf tensors they read.

    A tape numbers its entries 0, 1, 2, ... in recording order (the engine's own ``entry.index`` counts every
    op recorded in the process; the order is the same). An input shows where it came from: ``#3`` is the output
    of entry 3 of this tape; ``leaf0``, ``leaf1``, ... are tensors that require grad but were made by no
    recorded op (parameters, inputs), numbered in order of first use; ``const0``, ... are tensors that do not
    require grad; ``before0``, ... are outputs of ops recorded before the tape opened.
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

    def _input_names(self):
        """``{source key: printed name}`` for every input of every entry on this tape.

        A source is an entry index (int) or a leaf tensor (see ``EntryRecord``); its key is ``("entry", index)``
        or ``("tensor", id(tensor))``. The entries' records hold their leaf tensors, so no id is reused while the
        tape exists.
        """
        position = {entry.index: number for number, entry in enumerate(self.entries)}
        names = {}
        counts = {"leaf": 0, "const": 0, "before": 0}
        for entry in self.entries:
            for source in entry.description.sources:
                key = _source_key(source)
                if key in names:
                    continue
                if isinstance(source, int) and source in position:
                    names[key] = f"#{position[source]}"
                    continue
                kind = "before" if isinstance(source, int) else _source_label(source)
                names[key] = f"{kind}{counts[kind]}"
                counts[kind] += 1
        return names

    def __str__(self):
        names = self._input_names()
        rows = [("entry", "op", "inputs (where from, shape)", "output", "")]
        for number, entry in enumerate(self.entries):
            record = entry.description
            inputs = ", ".join(f"{names[_source_key(source)]} {shape}"
                               for source, shape in zip(record.sources, record.input_shapes))
            output = f"-> {record.output_shape}"
            status = "[released by backward]" if entry.released else ""
            rows.append((str(number), record.op, inputs, output, status))
        # Column widths come from the longest cell, so a long op name ("scaled_dot_product_attention")
        # pushes its column wider instead of breaking the alignment.
        number_width = max(len(row[0]) for row in rows)
        op_width = max(len(row[1]) for row in rows)
        inputs_width = max(len(row[2]) for row in rows)
        output_width = max(len(row[3]) for row in rows)
        lines = [f"Tape with {len(self.entries)} entries (#i: made by entry i; leaf/const: made by no "
                 f"recorded op):"]
        for number, op, inputs, output, status in rows:
            line = (f"{number:>{number_width}}  {op:<{op_width}}  {inputs:<{inputs_width}}  "
                    f"{output:<{output_width}}  {status}")
            lines.append(line.rstrip())
        return "\n".join(lines)

    __repr__ = __str__

    def to_dot(self):
        """The recorded graph as Graphviz DOT text: render it with ``dot -Tsvg tape.dot -o tape.svg``.

        One box per leaf tensor (its name and shape), one ellipse per entry (its number, op and output shape),
        and an edge from each input's producer to the entry that consumed it, labelled with the input's
        position when an entry has several inputs. A producer recorded before the tape opened is drawn dashed.
        Node names are the printed names, with ``e3`` for entry ``#3``.
        """
        names = self._input_names()
        lines = ["digraph tape {", '    node [fontname="monospace"];']
        drawn = set()
        for number, entry in enumerate(self.entries):
            record = entry.description
            producers = []
            for source, shape in zip(record.sources, record.input_shapes):
                name = names[_source_key(source)]
                if name.startswith("#"):                    # an entry on this tape, already drawn
                    producers.append(f"e{name[1:]}")
                    continue
                producers.append(name)
                if name not in drawn:
                    style = "shape=ellipse, style=dashed" if isinstance(source, int) else "shape=box"
                    lines.append(f'    {name} [{style}, label="{name}\\n{shape}"];')
                    drawn.add(name)
            op = record.op.replace('"', '\\"')
            lines.append(f'    e{number} [shape=ellipse, label="#{number} {op}\\n-> {record.output_shape}"];')
            several = len(producers) > 1
            for position, producer in enumerate(producers):
                label = f' [label="{position}"]' if several else ""
                lines.append(f"    {producer} -> e{number}{label};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _source_key(source):
    """A dictionary key for an input's source: ``("entry", index)`` or ``("tensor", id(leaf))``."""
    return ("entry", source) if isinstance(source, int) else ("tensor", id(source))


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
    any_changes = _any_changes                      # anything changed in place so far (see mark_changed)
    while heap:
        entry = pop(heap)[1]
        grad_out = pending.pop(entry)
        backward_rule = entry.backward
        if backward_rule is None:
            check_not_released(entry)
        if any_changes:
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
