"""``python -m demos.deep_vs_residual --quick``: the printed numbers are consistent with the theorem and with each
other (not a timing test). The bounds are checked on the *printed* text, which is safe because rounding is
monotone: a ≤ b implies round(a) ≤ round(b)."""
import contextlib
import io
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from demos import deep_vs_residual as demo

ROOT = Path(__file__).resolve().parents[1]
NUM = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
TABLE_ROW = re.compile(rf"^\s+(\d+)\s+({NUM})\s+≤ ({NUM})\s+({NUM})\s+\[({NUM}), ({NUM})\]$")


def run(argv):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        results = demo.main(argv)
    return buffer.getvalue(), results


@pytest.fixture(scope="module")
def quick():
    return run(["--quick"])


def section(text, number):
    """The lines of section [number], up to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"[{number}]"))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def table_rows(lines):
    rows = []
    for line in lines:
        m = TABLE_ROW.match(line)
        if m:
            depth, plain, bound, residual, lo, hi = m.groups()
            rows.append((int(depth), float(plain), float(bound), float(residual), float(lo), float(hi)))
    return rows


def test_prints_the_seven_sections_and_finishes(quick):
    text, results = quick
    for number in range(1, 8):
        assert any(line.startswith(f"[{number}]") for line in text.splitlines()), f"section [{number}] missing"
    assert re.search(r"^done in \d+\.\d s$", text, re.M)
    assert text.splitlines() == results["lines"]


def test_gradcheck_line_reports_a_small_error(quick):
    text, results = quick
    lines = section(text, 1)
    m = re.search(rf"worst relative error .* = ({NUM})", " ".join(lines))
    assert m and float(m.group(1)) < 1e-6
    assert math.isclose(float(m.group(1)), results["gradcheck"]["worst_error"], rel_tol=0.05)


def test_depth_table_obeys_the_theorem(quick):
    text, results = quick
    lines = section(text, 2)
    rows = table_rows(lines)
    assert [r[0] for r in rows] == list(demo.QUICK_DEPTHS)
    for depth, plain, bound, residual, lo, hi in rows:
        assert plain <= bound, f"depth {depth}: plain {plain} > bound {bound}"
        assert lo <= residual <= hi, f"depth {depth}: residual {residual} outside [{lo}, {hi}]"
        assert residual > plain
    assert rows[-1][3] > 1e10 * rows[-1][1]          # depth 32: more than ten decades apart
    # sigmoid with Xavier init: the bound itself (so every seed) is tiny at depth 32, and shrinks with depth
    bounds = [r[2] for r in rows]
    assert bounds == sorted(bounds, reverse=True) and bounds[-1] < 1e-8
    assert rows[-1][4] > 0.01                        # the residual lower bound stays far from 0
    assert lines[-1].endswith(": yes")
    # the printed numbers are the computed ones
    for (depth, plain, bound, residual, lo, hi), r in zip(rows, results["depth"]["rows"]):
        assert f"{r['plain'].ratio:.1e}" == f"{plain:.1e}" and r["depth"] == depth


def test_profile_decays_layer_by_layer_for_plain_only(quick):
    text, _ = quick
    rows = []
    for line in section(text, 3)[2:]:
        m = re.match(rf"^\s+(\d+)\s+({NUM}) .*?\s({NUM})\s", line)
        rows.append((int(m.group(1)), float(m.group(2)), float(m.group(3))))
    assert rows[0][0] == 0 and rows[-1][0] == 32 and rows[-1][1] == 0.0
    plain = [r[1] for r in rows]
    assert plain == sorted(plain) and plain[0] < -10       # each sigmoid layer shrinks the gradient (s‖W‖ < 1)
    assert all(abs(r[2]) < 0.5 for r in rows)              # residual: within a factor ~3 of the top everywhere


def test_training_race_plain_is_stuck_and_residual_learns(quick):
    text, results = quick
    lines = section(text, 4)
    final = {}
    for line in lines:
        m = re.match(rf"^\s+(plain|residual):\s+loss ({NUM}) -> ({NUM})\s+train accuracy\s+({NUM})%", line)
        if m:
            final[m.group(1)] = (float(m.group(2)), float(m.group(3)), float(m.group(4)))
    assert set(final) == {"plain", "residual"}
    assert abs(final["plain"][1] - math.log(2)) < 0.01 and final["plain"][2] <= 60
    assert final["residual"][1] < 0.5 and final["residual"][2] >= 85
    t = results["training"]
    assert t["plain"]["first_layer_grad"] < 1e-10 < t["residual"]["first_layer_grad"]
    assert sum(line.count("p") for line in lines if "|" in line) > 0     # the chart shows both curves
    assert sum(line.count("r") for line in lines if "|" in line) > 0


def test_conv_table_obeys_the_theorem(quick):
    text, results = quick
    lines = section(text, 5)
    rows = table_rows(lines)
    assert [r[0] for r in rows] == [d for d in demo.QUICK_DEPTHS if d <= 8]
    for depth, plain, bound, residual, lo, hi in rows:
        assert plain <= bound and lo <= residual <= hi
    assert rows[-1][3] > 1e3 * rows[-1][1]
    assert [r["plain"] for r in results["conv"]["rows"]] == sorted(r["plain"] for r in results["conv"]["rows"])[::-1]


def test_caveats_are_measured(quick):
    text, results = quick
    lines = section(text, 6)
    medians = {}
    for line in lines:
        m = re.match(rf"^\s+(.+?)\s+width\s+\d+:\s+({NUM}) \[\s*({NUM}),\s+({NUM})\]", line)
        if m:
            medians[m.group(1)] = float(m.group(2))
            assert float(m.group(3)) <= float(m.group(2)) <= float(m.group(4))
    assert len(medians) == 5
    assert medians["sigmoid, plain, Xavier"] < -30
    assert -5 < medians["tanh, plain, Xavier"] < 0
    assert abs(medians["relu, plain, He"]) < 2
    assert medians["relu, residual α = 1, He"] > 8
    assert medians["relu, residual α = 1/√L, He"] < medians["relu, residual α = 1, He"] - 5
    assert "He et al." in " ".join(lines) and "optimisation" in " ".join(lines)


def test_clipping_caps_the_exploding_gradient_but_scaling_the_branches_is_what_trains(quick):
    """[6]: clip_grad_norm_ returns the (huge) total norm and leaves norm 1; clipped SGD stays finite but does not
    learn, the scaled net does (what the demo prints is what was computed)."""
    text, results = quick
    clipping = results["caveats"]["clipping"]
    assert clipping["norm_before"] > 1e10 and abs(clipping["norm_after"] - 1.0) < 1e-5
    unclipped, clipped, scaled = clipping["runs"].values()
    assert math.isnan(unclipped["final"])                              # diverged
    assert math.isfinite(clipped["final"]) and clipped["final"] > 10   # bounded steps, exploded forward signal
    assert clipped["accuracy"] <= 0.6
    assert scaled["final"] < 0.5 and scaled["accuracy"] >= 0.85
    lines = " ".join(section(text, 6))
    assert f"{clipping['norm_before']:.1e}" in lines and "clip_grad_norm_" in lines and "no longer diverges" in lines


BN_ROW = re.compile(rf"^\s+(\d+)\s+({NUM})\s+({NUM})\s+({NUM})$")


def test_batchnorm_keeps_the_plain_gradient_and_trains(quick):
    """[7]: with BatchNorm (training mode) the plain sigmoid stack's gradient ratio stays within a decade of 1
    where the plain one has vanished, relu + BN explodes, and the BN plain net trains like the residual one."""
    text, results = quick
    lines = section(text, 7)
    rows = [tuple(float(v) for v in m.groups()) for m in map(BN_ROW.match, lines) if m]
    assert [int(r[0]) for r in rows] == list(demo.QUICK_DEPTHS)
    depth, plain, batchnorm, residual = rows[-1]
    assert plain < 1e-15 and 0.1 < batchnorm < 10 and 0.5 < residual < 2
    assert results["batchnorm"]["relu_ratio"] > 10 and "EXPLODE" in " ".join(lines)
    race = results["batchnorm"]["training"]
    assert race["batchnorm"]["losses"][-1] < 0.1 and race["batchnorm"]["accuracy"] >= 0.95
    assert race["batchnorm"]["eval_accuracy"] >= 0.95                  # running statistics work in eval mode too
    assert race["plain"]["losses"][-1] > 0.6
    for (d, p, b, r), row in zip(rows, results["batchnorm"]["rows"]):
        assert f"{row['batchnorm']:.2e}" == f"{b:.2e}" and row["depth"] == d


@given(depth=st.integers(2, 32), width=st.sampled_from([8, 16, 32]), batch=st.sampled_from([8, 64]),
       seed=st.integers(0, 2**16))
def test_batchnorm_keeps_the_sigmoid_stack_gradient_within_a_factor_20(depth, width, batch, seed):
    """What [7] shows, as a property over random stacks (measured, not a theorem: 0.19 to 7 over a sweep of
    96 stacks): with BatchNorm in training mode the plain sigmoid stack's ‖∂L/∂x_0‖ / ‖∂L/∂x_L‖ stays in
    [1/20, 20], whatever the depth, where without it the ratio is below Π s‖W_l‖₂."""
    linears = demo.make_linears(depth, width, "sigmoid", seed)
    rng = np.random.default_rng(seed)
    x, g = rng.standard_normal((batch, width)), rng.standard_normal((batch, width))
    ratio = demo.gradient_flow(demo.batchnorm_stack(linears, "sigmoid"), x, grad_output=g).ratio
    assert 1 / 20 < ratio < 20


def test_options_change_what_is_run():
    text, results = run(["--quick", "--depths", "3,5", "--width", "6", "--activation", "tanh", "--seed", "3"])
    rows = table_rows(section(text, 2))
    assert [r[0] for r in rows] == [3, 5]
    assert "tanh" in text.splitlines()[0] and "width 6" in text.splitlines()[0] and "seed 3" in text.splitlines()[0]
    for depth, plain, bound, residual, lo, hi in rows:
        assert plain <= bound and lo <= residual <= hi
    assert results["profile"]["depth"] == 5


def test_bad_options_are_rejected(capsys):
    for argv in (["--depths", "a,b"], ["--depths", "0"], ["--activation", "gelu"], ["--width", "0"]):
        with pytest.raises(SystemExit):
            demo.parse_args(argv)
    assert "--depths" in capsys.readouterr().err


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "flow.png"
    text, results = run(["--quick", "--depths", "2,4", "--plot", str(path)])
    assert results["plot"] is True and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {path}" in text


def test_plot_without_matplotlib_says_so_and_completes(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # makes `import matplotlib` raise ImportError
    path = tmp_path / "flow.png"
    text, results = run(["--quick", "--depths", "2,4", "--plot", str(path)])
    assert results["plot"] is False and not path.exists()
    assert "matplotlib is not installed" in text and "pip install" in text
    assert text.splitlines()[-1].startswith("done in")


def test_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "demos.deep_vs_residual", "--quick", "--depths", "2"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[6]" in done.stdout and done.stdout.rstrip().splitlines()[-1].startswith("done in")
