"""setup.cfg's lowest NumPy and SciPy are the ones .ci/run tests, and NumPy's is one the code can run on."""
import configparser
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _lowest(requirement_lines, name):
    for line in requirement_lines.split("\n"):
        match = re.fullmatch(rf"{name}>=([0-9.]+)", line.strip())
        if match:
            return match.group(1)
    raise AssertionError(f"setup.cfg names no lower bound for {name}")


def test_the_lowest_supported_versions_are_the_ones_ci_runs():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    numpy_bound = _lowest(config["options"]["install_requires"], "numpy")
    scipy_bound = _lowest(config["options.extras_require"]["test"], "scipy")
    ci = (ROOT / ".ci" / "run").read_text()
    assert f'"numpy=={numpy_bound}.*"' in ci
    assert f'"scipy=={scipy_bound}.*"' in ci


def test_the_numpy_bound_covers_what_the_code_uses():
    """np.exceptions (NumPy 1.25), NEP 50 promotion and __array__(copy=...) (NumPy 2.0) are used."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    major, minor = (int(part) for part in _lowest(config["options"]["install_requires"], "numpy").split(".")[:2])
    assert (major, minor) >= (2, 0)
