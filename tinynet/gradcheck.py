"""``gradcheck``: compare a backward pass with central finite differences, and explain any mismatch.

The idea
--------
For an input x, a function y = f(x) and an upstream gradient v = dL/dy, backward computes ĝ = Jᵀv (J the
Jacobian of f). Finite differences estimate the same numbers without any backward rule:

    for a direction u:   u·(Jᵀv) = v·(J u) ≈ v·(f(x + εu) − f(x − εu)) / (2ε)

* **full** mode takes u = each unit vector e_j in turn: the whole gradient, entry by entry (2 forward passes per
  input element: for small inputs and golden tests).
* **directional** mode takes a few seeded random unit directions per input (2 forward passes each): cheap enough
  for conv and attention sizes, and a mismatch anywhere in ĝ shows up in almost every random direction.

Choices that make the check trustworthy (each measured on tinynet's own ops):

* **float64 copies** of the inputs. In float32 a central difference with ε = 1e-6 is 6-70 % wrong.
* **ε = 1e-6**, within a decade of the point where truncation (∝ ε²) and round-off (∝ 1/ε) balance.
* **A random upstream gradient v**, never all ones. softmax rows sum to 1, so ``softmax(x).sum()`` is constant:
  its true gradient is zero, and a backward that returns zeros would pass a ``.sum()``-based check.
* **A tolerance with three terms**, for a numeric value n and an analytic value a:
  ``|n − a| ≤ rtol·max(|n|, |a|) + ctol·‖ĝ‖·‖u‖ + K·max(ε_mach·Σ|v|(|f₊| + |f₋|), 2σ)/(2ε)``
  (``+ atol``).
  The first is relative error; the second allows for cancellation when n is tiny while ĝ is not; the third is
  the round-off of the difference f₊ − f₋ itself, which matters when outputs are large and gradients small
  (saturated tanh). Each of f₊ and f₋ carries a rounding error of at least ε_mach·|f|, but a small f computed
  from large intermediate values carries more: cross_entropy([[14, 1]], [0]) = log(1 + e⁻¹³) ≈ 2.3e-6 is
  rounded at the size of the 1 that e⁻¹³ is added to, not at its own size. So for a value that fails the a
  priori bound, the round-off σ actually present in φ(t) = v·f(x + tεu) is *measured* from 9 evaluations
  t = −4..4 (the fourth differences of a smooth φ are pure round-off: Moré & Wild's noise estimate) and the
  value is judged again. σ comes from the forward computation alone, so a wrong backward rule is still
  caught: it is judged as strictly as the floating-point evaluation of f allows, and no more loosely.
* **Determinism and no mutation**: backward is run twice and must agree bit for bit; the inputs must be
  unchanged afterwards.
"""
from __future__ import annotations

import numpy as np

from . import tape
from .autograd import grad
from .tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]

_EPS_MACH = np.finfo(np.float64).eps


class GradcheckError(AssertionError):
    """A backward rule disagrees with finite differences; the message says where and by how much."""


def gradcheck(fn, inputs, *, wrt=None, mode="auto", n_directions=3, seed=0, eps=1e-6, rtol=1e-5, ctol=1e-6,
              roundoff_k=64, atol=0.0, grad_output=None, max_full_elems=4096, check_determinism=True,
              name=None):
    """Check the gradients of ``fn(*inputs)`` with respect to its floating-point inputs.

    Parameters
    ----------
    fn : callable taking Tensors and returning a Tensor or a tuple of Tensors.
    inputs : sequence of Tensors or arrays. Floating-point ones are copied to float64; others are passed as is.
    wrt : indices of the inputs to check (default: every floating-point input).
    mode : "full" (every element), "directional" (``n_directions`` random directions per input) or "auto"
        (full when the checked inputs have at most 256 elements in all, else directional).
    seed : seeds the upstream gradient v and the directions, so a failure reproduces exactly.
    eps, rtol, ctol, roundoff_k, atol : the step and the tolerance terms described in the module docstring.
    grad_output : the upstream gradient(s) v to use instead of a seeded Gaussian one.
    max_full_elems : on a directional failure, an input this small is rechecked entry by entry for the report.

    Returns True, or raises ``GradcheckError`` with a report: the function, the input, analytic and numeric
    values, the tolerance, and (after a full recheck) the worst entries.
    Raises ``ValueError`` for NaN or inf inputs and ``TypeError`` for non-float outputs.
    """
    label = name or getattr(fn, "__name__", repr(fn))
    arrays = _float64_copies(inputs, label)
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype == np.float64]
    wrt = list(wrt)
    for i in wrt:
        if not (isinstance(arrays[i], np.ndarray) and arrays[i].dtype == np.float64):
            raise TypeError(f"gradcheck({label}): input {i} is not floating-point and cannot be checked")
    if mode == "auto":
        mode = "full" if sum(arrays[i].size for i in wrt) <= 256 else "directional"
    if mode not in ("full", "directional"):
        raise ValueError(f"gradcheck: mode must be 'full', 'directional' or 'auto', got {mode!r}")
    originals = [a.copy() if isinstance(a, np.ndarray) else a for a in arrays]
    rng = np.random.default_rng(seed)

    # Analytic gradients ĝ_i = J_iᵀ v, from the tape.
    outputs = _evaluate(fn, arrays, label)
    v = _upstream(outputs, grad_output, rng, label)
    v_before = [vk.copy() for vk in v]
    analytic = _analytic(fn, arrays, wrt, v, label)
    for k, (vk, before) in enumerate(zip(v, v_before)):
        if not np.array_equal(vk, before):
            raise GradcheckError(f"gradcheck({label}): a backward rule modified its upstream gradient g in place "
                                 f"(output {k}); rules must return new arrays, because the same g may also be "
                                 f"sent down another path (e.g. the skip of a residual block)")
    if check_determinism:
        again = _analytic(fn, arrays, wrt, v, label)
        for i in wrt:
            if not np.array_equal(analytic[i], again[i]):
                raise GradcheckError(f"gradcheck({label}): backward is not deterministic: two runs on the same "
                                     f"inputs gave different gradients for input {i}")

    # Numeric estimates, perturbing one input at a time.
    failures = []
    for i in wrt:
        if mode == "full":
            failures += _check_full(fn, arrays, i, v, analytic[i], eps, rtol, ctol, roundoff_k, atol, label)
        else:
            failures += _check_directions(fn, arrays, i, v, analytic[i], rng, n_directions, eps, rtol, ctol,
                                          roundoff_k, atol, label)

    for i, (now, before) in enumerate(zip(arrays, originals)):
        if isinstance(now, np.ndarray) and not np.array_equal(now, before):
            raise GradcheckError(f"gradcheck({label}): the function modified input {i} in place")
    if failures:
        raise GradcheckError(_report(label, mode, failures, fn, arrays, v, analytic, eps, rtol, ctol, roundoff_k,
                                     atol, max_full_elems))
    return True


# ------------------------------------------------------------------------------------------------------------
def _float64_copies(inputs, label):
    if isinstance(inputs, (Tensor, np.ndarray)):
        inputs = [inputs]
    arrays = []
    for i, x in enumerate(inputs):
        data = x.data if isinstance(x, Tensor) else x
        if isinstance(data, (np.ndarray, float, list)) and np.asarray(data).dtype.kind == "f":
            data = np.array(data, dtype=np.float64, copy=True)
            if not np.all(np.isfinite(data)):
                bad = np.argwhere(~np.isfinite(data))[0]
                raise ValueError(f"gradcheck({label}): input {i} contains NaN or inf (first at index "
                                 f"{tuple(bad)}); finite differences need finite inputs")
        arrays.append(data)
    return arrays


def _tensors(arrays, wrt=()):
    return [Tensor(a, requires_grad=(i in wrt)) if isinstance(a, np.ndarray) and a.dtype == np.float64
            else a for i, a in enumerate(arrays)]


def _as_tuple(out, label):
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck({label}): output {k} is a {type(o).__name__}, not a Tensor")
        if o.dtype != np.float64:
            raise TypeError(f"gradcheck({label}): output {k} has dtype {o.dtype} for float64 inputs; an op "
                            f"inside the function lost precision (every op must keep float64)")
    return outs


def _evaluate(fn, arrays, label):
    """The outputs as float64 arrays, with nothing recorded."""
    with tape.no_grad():
        return [o.data for o in _as_tuple(fn(*_tensors(arrays)), label)]


def _upstream(outputs, grad_output, rng, label):
    if grad_output is None:
        return [rng.standard_normal(o.shape) for o in outputs]
    given = grad_output if isinstance(grad_output, (tuple, list)) else [grad_output]
    given = [np.asarray(g.data if isinstance(g, Tensor) else g, dtype=np.float64) for g in given]
    if [g.shape for g in given] != [o.shape for o in outputs]:
        raise ValueError(f"gradcheck({label}): grad_output shapes {[g.shape for g in given]} do not match the "
                         f"output shapes {[o.shape for o in outputs]}")
    return given


def _analytic(fn, arrays, wrt, v, label):
    tensors = _tensors(arrays, wrt)
    outs = _as_tuple(fn(*tensors), label)
    for k, (o, vk) in enumerate(zip(outs, v)):
        if o.requires_grad:
            o.backward(vk, retain_graph=True)
    return {i: (tensors[i].grad if tensors[i].grad is not None else np.zeros_like(arrays[i])) for i in wrt}


def _perturbed_outputs(fn, arrays, i, step, label):
    """f(x_i + step) and f(x_i - step), every other input unchanged."""
    plus = list(arrays)
    plus[i] = np.asarray(arrays[i] + step)   # asarray: 0-d arithmetic returns a NumPy scalar
    minus = list(arrays)
    minus[i] = np.asarray(arrays[i] - step)
    return _evaluate(fn, plus, label), _evaluate(fn, minus, label)


def _numeric_and_roundoff(f_plus, f_minus, v, eps, roundoff_k):
    """n = v·(f₊ − f₋)/(2ε)  and the round-off bound K·ε_mach·Σ|v|(|f₊|+|f₋|)/(2ε)."""
    numeric = sum(float(np.vdot(vk, fp - fm)) for vk, fp, fm in zip(v, f_plus, f_minus)) / (2 * eps)
    scale = sum(float(np.vdot(np.abs(vk), np.abs(fp) + np.abs(fm))) for vk, fp, fm in zip(v, f_plus, f_minus))
    return numeric, roundoff_k * _EPS_MACH * scale / (2 * eps)


def _measured_noise(fn, arrays, i, v, step, label):
    """σ: the size of the round-off in φ(t) = v·f(x_i + t·step), measured from φ at t = −4, ..., 4.

    A smooth φ's fourth differences Δ⁴φ(t) = φ(t−2) − 4φ(t−1) + 6φ(t) − 4φ(t+1) + φ(t+2) equal
    φ⁽⁴⁾·|step|⁴ (about 1e-24 for |step| = 1e-6) plus round-off: they show the evaluations' rounding error.
    For independent errors of size σ, E[(Δ⁴φ)²] = (1 + 16 + 36 + 16 + 1)·σ² = 70σ², so
    σ ≈ √(mean((Δ⁴φ)²) / 70) over the five Δ⁴ that nine points give (Moré & Wild, "Estimating
    computational noise", 2011). Only values that fail the a priori bound pay these 9 forward passes.
    """
    phi = []
    for t in range(-4, 5):
        shifted = list(arrays)
        shifted[i] = np.asarray(arrays[i] + t * step)
        phi.append(sum(float(np.vdot(vk, fk)) for vk, fk in zip(v, _evaluate(fn, shifted, label))))
    fourth = np.diff(phi, 4)
    return float(np.sqrt(np.mean(fourth ** 2) / 70))


def _check_directions(fn, arrays, i, v, g_hat, rng, n_directions, eps, rtol, ctol, roundoff_k, atol, label):
    failures = []
    g_norm = float(np.linalg.norm(g_hat))
    for d in range(n_directions):
        u = rng.standard_normal(arrays[i].shape)
        u /= max(float(np.linalg.norm(u)), 1e-300)
        f_plus, f_minus = _perturbed_outputs(fn, arrays, i, eps * u, label)
        numeric, roundoff = _numeric_and_roundoff(f_plus, f_minus, v, eps, roundoff_k)
        analytic = float(np.vdot(u, g_hat))
        tol = rtol * max(abs(numeric), abs(analytic)) + ctol * g_norm + roundoff + atol
        if not abs(numeric - analytic) <= tol:        # judged again with the round-off measured, not bounded
            measured = roundoff_k * _measured_noise(fn, arrays, i, v, eps * u, label) / eps
            tol += max(measured - roundoff, 0.0)
        if not abs(numeric - analytic) <= tol:
            failures.append(dict(input=i, where=f"random direction {d}", analytic=analytic, numeric=numeric,
                                 tol=tol))
    return failures


def _full_numeric(fn, arrays, i, v, eps, roundoff_k, label):
    """Every entry of the numeric gradient of input i, and each entry's round-off bound."""
    x = arrays[i]
    numeric = np.zeros(x.shape)
    roundoff = np.zeros(x.shape)
    for j in np.ndindex(x.shape):
        step = np.zeros(x.shape)
        step[j] = eps
        f_plus, f_minus = _perturbed_outputs(fn, arrays, i, step, label)
        numeric[j], roundoff[j] = _numeric_and_roundoff(f_plus, f_minus, v, eps, roundoff_k)
    return numeric, roundoff


def _full_tolerance(fn, arrays, i, v, g_hat, eps, rtol, ctol, roundoff_k, atol, label):
    """The numeric gradient of input i entry by entry, each entry's tolerance, and the entries out of it.

    An entry that fails the a priori round-off bound is judged again with its round-off measured (see
    ``_measured_noise``), so only such entries cost extra forward passes."""
    numeric, roundoff = _full_numeric(fn, arrays, i, v, eps, roundoff_k, label)
    tol = np.array(rtol * np.maximum(np.abs(numeric), np.abs(g_hat)) + ctol * np.max(np.abs(g_hat), initial=0)
                   + roundoff + atol)                 # an array also for a 0-d input (NumPy would give a scalar)
    first_look = ~(np.abs(numeric - g_hat) <= tol)
    for j in np.ndindex(first_look.shape):
        if not first_look[j]:
            continue
        step = np.zeros(arrays[i].shape)
        step[j] = eps
        measured = roundoff_k * _measured_noise(fn, arrays, i, v, step, label) / eps
        tol[j] += max(measured - roundoff[j], 0.0)
    return numeric, tol, ~(np.abs(numeric - g_hat) <= tol)


def _check_full(fn, arrays, i, v, g_hat, eps, rtol, ctol, roundoff_k, atol, label):
    numeric, tol, bad = _full_tolerance(fn, arrays, i, v, g_hat, eps, rtol, ctol, roundoff_k, atol, label)
    if not bad.any():
        return []
    return [dict(input=i, where=f"{int(bad.sum())} of {bad.size} entries", analytic=g_hat, numeric=numeric,
                 tol=tol, full=True)]


def _report(label, mode, failures, fn, arrays, v, analytic, eps, rtol, ctol, roundoff_k, atol, max_full_elems):
    lines = [f"gradcheck({label}) failed: the backward pass disagrees with central finite differences.",
             f"  mode={mode}, eps={eps:g}, tolerance = {rtol:g}·max(|n|,|a|) + {ctol:g}·‖ĝ‖ + round-off "
             f"(K={roundoff_k}) + atol={atol:g}; upstream gradient v: seeded Gaussian"]
    reported_full = set()
    for f in failures:
        i = f["input"]
        x = arrays[i]
        lines.append(f"  input {i} (shape {x.shape}): mismatch in {f['where']}")
        if f.get("full"):
            worst = _worst_entries(f["analytic"], f["numeric"], f["tol"])
            lines += worst
            reported_full.add(i)
        else:
            lines.append(f"    analytic u·ĝ = {f['analytic']:.10g}   numeric = {f['numeric']:.10g}   "
                         f"analytic/numeric = {_ratio(f['analytic'], f['numeric'])}   "
                         f"|diff| = {abs(f['analytic'] - f['numeric']):.3g} > tol {f['tol']:.3g}")
            if i not in reported_full and x.size <= max_full_elems:
                g_hat = analytic[i]
                numeric, tol, _ = _full_tolerance(fn, arrays, i, v, g_hat, eps, rtol, ctol, roundoff_k, atol,
                                                  label)
                lines.append(f"    full recheck of input {i}:")
                lines += _worst_entries(g_hat, numeric, tol)
                reported_full.add(i)
    lines.append(_hint(analytic, failures))
    return "\n".join(lines)


def _worst_entries(g_hat, numeric, tol, k=5):
    diff = np.abs(g_hat - numeric)
    bad = diff > tol
    order = np.argsort(-(diff - tol).ravel())[:k]
    lines = [f"    {int(bad.sum())} of {bad.size} entries out of tolerance; worst:"]
    for flat in order:
        j = np.unravel_index(flat, g_hat.shape)
        lines.append(f"      index {tuple(int(t) for t in j)}: analytic {g_hat[j]:.10g}   numeric {numeric[j]:.10g}"
                     f"   analytic/numeric {_ratio(g_hat[j], numeric[j])}   |diff| {diff[j]:.3g}   tol {tol[j]:.3g}")
    return lines


def _ratio(analytic, numeric):
    return f"{analytic / numeric:.4g}" if numeric != 0 else "inf (numeric is 0)"


def _failing_pairs(failures):
    """(analytic, numeric) arrays of the values out of tolerance, over every failure."""
    a, n = [], []
    for f in failures:
        fa, fn_, ftol = (np.atleast_1d(f[k]) for k in ("analytic", "numeric", "tol"))
        bad = ~(np.abs(fa - fn_) <= ftol)
        a.append(fa[bad])
        n.append(fn_[bad])
    return np.concatenate(a), np.concatenate(n)


def _hint(analytic, failures):
    inputs = sorted({f["input"] for f in failures})
    if all(not np.any(analytic[i]) for i in inputs):
        return ("  hint: the analytic gradient is exactly zero: does the backward rule return zeros, or does the "
                "function not reach this input on the tape?")
    a, n = _failing_pairs(failures)
    if n.size and not np.any(n):
        return ("  hint: the numeric value is exactly 0 wherever the check fails: f took the same value at x ± eps, "
                "so the forward rounds this input's effect away entirely (e.g. log(1 + e⁻⁴⁰) = 0 in float64) and "
                "finite differences cannot check a gradient this small; move the input, or pass an atol above "
                f"the largest such |analytic| ({np.abs(a).max():.3g}) if it is negligible")
    ratios = a[n != 0] / n[n != 0]
    if ratios.size and np.all(np.abs(ratios - ratios[0]) <= 1e-3 * abs(ratios[0])):
        return (f"  hint: analytic/numeric = {ratios[0]:.4g} wherever the check fails: a constant factor in the "
                f"backward rule (2: a term counted twice or a missing 1/2; 0.5: a missing factor 2; −1: a wrong "
                f"sign)")
    return ("  hint: a consistent ratio between analytic and numeric suggests a missing factor; a sign flip, a "
            "wrong sign; errors only at some indices, a broadcasting or indexing bug. If the input sits on a kink "
            "(relu at 0, a tie in max), finite differences are not meaningful there: move the input away.")


# ------------------------------------------------------------------------------------------------------------
# Second derivatives
# ------------------------------------------------------------------------------------------------------------
def gradgradcheck(fn, inputs, *, wrt=None, seed=0, grad_output=None, name=None, **gradcheck_options):
    """Check the second derivatives of ``fn(*inputs)``: gradcheck applied to its first derivative.

    The first derivative is itself a function of the inputs and of the upstream gradient v:

        D(x, v) = Jᵀ(x) v = tn.grad(fn(x), x, grad_outputs=v, create_graph=True)

    With ``create_graph=True`` D's value is a Tensor on the tape, so backward through it gives the second
    derivatives (Hessian-vector products wᵀ ∂D/∂x for a random w, and ∂D/∂v = J). ``gradcheck(D, x + v)``
    compares them with central differences of D, the *analytic* first derivative, in float64, with a random
    v for the first pass (``seed``) and a random w for the second, exactly as it checks a first derivative.
    A failure report says which input's second derivative is off. Options are ``gradcheck``'s.
    """
    label = name or getattr(fn, "__name__", repr(fn))
    arrays = _float64_copies(inputs, label)
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype == np.float64]
    wrt = list(wrt)
    rng = np.random.default_rng(seed + 1)
    v = _upstream(_evaluate(fn, arrays, label), grad_output, rng, label)
    n_inputs = len(arrays)

    def first_derivative(*args):
        xs, vs = list(args[:n_inputs]), args[n_inputs:]
        with tape.enable_grad():
            for i in wrt:                    # the perturbed copies of the numeric side start as plain leaves
                if not xs[i].requires_grad:
                    xs[i] = Tensor(xs[i].data, requires_grad=True)
            outs = _as_tuple(fn(*xs), label)
            used = [(o, vk) for o, vk in zip(outs, vs) if o.requires_grad]
            if not used:
                return tuple(Tensor(np.zeros(xs[i].shape)) for i in wrt)
            grads = grad([o for o, _ in used], [xs[i] for i in wrt], [vk for _, vk in used], create_graph=True,
                         allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(xs[i].shape)) for g, i in zip(grads, wrt))

    first_derivative.__name__ = f"the first derivative of {label}"
    _check_same_first_derivative(fn, first_derivative, arrays, wrt, v, label)
    wrt_second = wrt + list(range(n_inputs, n_inputs + len(v)))
    return gradcheck(first_derivative, arrays + v, wrt=wrt_second, seed=seed, **gradcheck_options)


def _check_same_first_derivative(fn, first_derivative, arrays, wrt, v, label, rtol=1e-9):
    """D computed with create_graph (rules run on Tensors, fused ops through their reference) must equal the
    ordinary backward's gradient: differences of D would not notice a D that is wrong everywhere."""
    ordinary = _analytic(fn, arrays, wrt, v, label)
    with tape.no_grad():
        recorded = first_derivative(*_tensors(arrays), *[Tensor(vk) for vk in v])
    floor = 1e-12 * max(float(np.max(np.abs(vk), initial=0.0)) for vk in v)   # round-off of near-zero gradients
    for i, d in zip(wrt, recorded):
        expected, got = ordinary[i], d.data
        scale = float(np.max(np.abs(expected), initial=0.0))
        tol = rtol * scale + floor
        if got.shape != expected.shape or not np.all(np.abs(got - expected) <= tol):
            worst = float(np.max(np.abs(got - expected), initial=0.0)) if got.shape == expected.shape else None
            raise GradcheckError(
                f"gradgradcheck({label}): the gradient of input {i} computed with create_graph=True (its backward "
                f"rule run on Tensors, or a fused op's reference) differs from the ordinary backward's by up to "
                f"{worst} (tolerance {tol:.3g}, largest gradient entry {scale:.3g}): the rule's Tensor form does not "
                f"compute the same formula as its array form")
