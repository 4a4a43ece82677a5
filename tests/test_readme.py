"""The documentation's examples run as printed.

Every ```python block of README.md, and of each docs/*.md file, runs in order in one namespace per file. A block
whose first line is ``# requires: torch`` (or another module name) is skipped when that module is missing.
The example in ``tinynet.testing``'s docstring runs too.
"""
import functools
import importlib.util
import pathlib
import re
import textwrap

import numpy as np
import pytest

import tinynet.testing

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def missing_requirements(block):
    """The modules named on a first line ``# requires: a, b`` that cannot be imported here."""
    first_line = block.split("\n", 1)[0]
    match = re.fullmatch(r"# requires: (.+)", first_line.strip())
    if not match:
        return []
    names = [name.strip() for name in match.group(1).split(",")]
    return [name for name in names if importlib.util.find_spec(name) is None]


@functools.lru_cache(maxsize=None)
def run_blocks(path):
    """Run a file's python blocks in order; returns the namespace and the blocks skipped for a missing module.

    Each file runs once per pytest run; the tests below read the namespace it leaves.
    """
    namespace = {"__name__": f"doc_{path.stem}"}
    blocks = python_blocks(path)
    skipped = []
    for number, block in enumerate(blocks):
        missing = missing_requirements(block)
        if missing:
            skipped.append((number, missing))
            continue
        exec(compile(block, f"{path.name}, python block {number}", "exec"), namespace)
    return namespace, skipped


def test_readme_python_examples_run_in_order(capsys):
    namespace, skipped = run_blocks(README)
    assert python_blocks(README) and not skipped, "README examples must run with the test extra alone"
    quick = namespace["x"].grad, namespace["w"].grad.ravel()
    np.testing.assert_allclose(quick[0], [-0.382, -0.076, 0.229], atol=1e-3)
    np.testing.assert_allclose(quick[1], [-0.764, 1.529, -2.293], atol=1e-3)


def test_readme_tape_example_makes_dot_text():
    namespace, _ = run_blocks(README)
    assert namespace["dot"].startswith("digraph tape {") and "leaf0 -> e0" in namespace["dot"]


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda path: path.name)
def test_links_point_to_files_that_exist(page):
    for link in re.findall(r"\]\(([^)#]+)\)", page.read_text(encoding="utf-8")):
        if "://" not in link:
            assert (page.parent / link).exists(), f"{page.name} links to {link}, which does not exist"


def test_readme_shows_the_two_fresh_machine_commands():
    text = README.read_text(encoding="utf-8")
    assert "pip install -e . && python -m demos.deep_vs_residual" in text
    assert 'pip install -e ".[test]" && python -m pytest' in text


@pytest.mark.parametrize("path", DOCS, ids=[path.name for path in DOCS])
def test_docs_python_examples_run_in_order(path, capsys):
    _, skipped = run_blocks(path)
    if skipped:
        pytest.skip(f"{path.name}: blocks {[number for number, _ in skipped]} need {skipped[0][1]}")


SHOWS_A_TAPE = [path for path in [README, *DOCS] if "```text\nTape with" in path.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", SHOWS_A_TAPE, ids=[path.name for path in SHOWS_A_TAPE])
def test_a_printed_tape_in_the_docs_is_what_print_prints(path, capsys):
    """A page that shows ``print(tape)``'s output shows it as this tinynet prints it (before backward)."""
    text = path.read_text(encoding="utf-8")
    namespace, _ = run_blocks(path)
    lines = str(namespace["tape"]).splitlines()
    printed = "\n".join(line.replace("[released by backward]", "").rstrip() for line in lines)
    assert f"```text\n{printed}\n```" in text


def test_requires_line_names_the_missing_module():
    assert missing_requirements("# requires: numpy\nimport numpy") == []
    assert missing_requirements("# requires: numpy, no_such_module_here\n") == ["no_such_module_here"]
    assert missing_requirements("import numpy\n# requires: no_such_module_here") == []


def test_the_example_in_tinynet_testing_runs():
    """The docstring's indented example (after its "::") is a complete program: imports, test, call."""
    docstring = tinynet.testing.__doc__
    example = textwrap.dedent(docstring.split("::\n", 1)[1])
    assert "def test_my_tanh" in example and "test_my_tanh()" in example
    namespace = {}
    exec(compile(example, "tinynet.testing docstring", "exec"), namespace)
    # the example's test can fail: a wrong reference makes it raise
    broken = example.replace("np.tanh, x", "np.sin, x")
    with pytest.raises(AssertionError):
        exec(compile(broken, "tinynet.testing docstring (broken)", "exec"), {})
