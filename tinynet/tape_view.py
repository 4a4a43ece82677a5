"""``tn.Tape()``: see the entries the tape records, printed as a table or drawn as a Graphviz graph.

The tape itself needs no ``Tape`` object: every entry belongs to the tensor it produced (tape.py). A ``Tape``
only keeps, while it is open, a list of what this thread records, so a learner can ``print(tape)`` and see the
computation as the engine saw it, or draw it with ``tape.to_dot()``.
"""
from __future__ import annotations

from . import tape

__all__ = ["Tape"]


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
    op recorded in the process; the order is the same). An input shows where it came from: ``e3`` is the output
    of entry 3 of this tape; ``leaf0``, ``leaf1``, ... are tensors that require grad but were made by no
    recorded op (parameters, inputs), numbered in order of first use; ``const0``, ... are tensors that do not
    require grad; ``before0``, ... are outputs of ops recorded before the tape opened.
    """

    def __init__(self):
        self.entries = []

    def __enter__(self):
        tape.listen(self)
        return self

    def __exit__(self, *exc):
        tape.stop_listening(self)
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
                    names[key] = f"e{position[source]}"
                    continue
                kind = "before" if isinstance(source, int) else tape.source_label(source)
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
        lines = [f"Tape with {len(self.entries)} entries (eN: output of entry N; leafN/constN: made by no "
                 f"recorded op, needing grad or not):"]
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
        Node names are the printed names (``e3`` for entry 3).
        """
        names = self._input_names()
        lines = ["digraph tape {", '    node [fontname="monospace"];']
        drawn = set()
        for number, entry in enumerate(self.entries):
            record = entry.description
            producers = []
            for source, shape in zip(record.sources, record.input_shapes):
                name = names[_source_key(source)]
                producers.append(name)                      # e3, or leaf0 / const0 / before0
                if name.startswith("e"):                    # an entry on this tape: drawn by its own line
                    continue
                if name not in drawn:
                    style = "shape=ellipse, style=dashed" if isinstance(source, int) else "shape=box"
                    lines.append(f'    {name} [{style}, label="{name}\\n{shape}"];')
                    drawn.add(name)
            op = record.op.replace('"', '\\"')
            lines.append(f'    e{number} [shape=ellipse, label="e{number} {op}\\n-> {record.output_shape}"];')
            several = len(producers) > 1
            for position, producer in enumerate(producers):
                label = f' [label="{position}"]' if several else ""
                lines.append(f"    {producer} -> e{number}{label};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _source_key(source):
    """A dictionary key for an input's source: ``("entry", index)`` or ``("tensor", id(leaf))``."""
    return ("entry", source) if isinstance(source, int) else ("tensor", id(source))
