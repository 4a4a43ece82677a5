"""docs/moving-to-pytorch.md: its Python examples run in order (each asserts tinynet and PyTorch agree), and its
layer table names every public layer. Skipped without torch, like tests/test_torch_equivalence.py."""
import pathlib
import re

import pytest

from tinynet import nn

torch = pytest.importorskip("torch")
DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "moving-to-pytorch.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_examples_run_and_the_outputs_agree(capsys):
    namespace = {}
    blocks = python_blocks()
    assert len(blocks) >= 3, "the page should show the model, its torch twin and the file round trip"
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert float(capsys.readouterr().out) < 1e-5                 # the printed largest difference
    assert namespace["ours"].shape == (5, 3)


def test_the_layer_table_names_every_public_layer():
    text = DOC.read_text(encoding="utf-8")
    public = {name for name in dir(nn)
              if isinstance(getattr(nn, name), type) and issubclass(getattr(nn, name), nn.Module)}
    missing = {name for name in public - {"Module", "Sequential"} if f"`{name}" not in text}
    assert not missing, f"docs/moving-to-pytorch.md: add {sorted(missing)} to the layer table"
