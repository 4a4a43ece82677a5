"""The README's Python examples run as printed, and the quick start prints what the README says."""
import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_python_examples_run_in_order(capsys):
    namespace = {}
    blocks = python_blocks()
    assert blocks, "the README should contain Python examples"
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    quick = namespace["x"].grad, namespace["w"].grad.ravel()
    np.testing.assert_allclose(quick[0], [-0.382, -0.076, 0.229], atol=1e-3)
    np.testing.assert_allclose(quick[1], [-0.764, 1.529, -2.293], atol=1e-3)


def test_readme_shows_the_two_fresh_machine_commands():
    text = README.read_text(encoding="utf-8")
    assert "pip install -e . && python -m demos.deep_vs_residual" in text
    assert 'pip install -e ".[test]" && python -m pytest' in text
