"""Gradient-flow diagnostics: how big is ∂L/∂x_l at every layer of a network, and why residual stacks keep it.

What you get
------------
``gradient_flow(model, x, ...)`` runs a ``Sequential`` one child at a time, calls ``retain_grad()`` on every
child's output (as you would in PyTorch), runs one backward pass, and returns a ``GradientFlow`` record:

* ``grad_norms[l] = ‖∂L/∂x_l‖`` for l = 0…L, where x_0 is the input and x_l the output of child l−1;
* ``grads[l]``: the arrays themselves;
* ``param_grad_norms``: {parameter name: ‖∂L/∂p‖}, named as ``model.named_parameters()`` names them;
* ``layer_param_grad_norms[l]``: the norm of all of child l's parameter gradients together (what an optimiser
  sees at that depth);
* ``ratio = ‖∂L/∂x_0‖ / ‖∂L/∂x_L‖``: how much of the gradient survives the trip from the top to the bottom.

::

    flow = gradient_flow(model, x, loss_fn=lambda out: F.cross_entropy(out, y))
    print(flow)                  # one line per layer: ‖∂L/∂x_l‖ and the layer's parameter-gradient norm
    flow.ratio                   # ‖∂L/∂x_0‖ / ‖∂L/∂x_L‖

Everything comes from tinynet's own tape: the helper only calls the public ``retain_grad`` and ``backward``.
The demo ``python -m demos.deep_vs_residual`` is built on it.

The theorem these numbers obey
------------------------------
Write g_l = ∂L/∂x_l, ‖·‖ for the Euclidean norm and ‖A‖₂ for the spectral norm (largest singular value).
Each layer is x_{l+1} = F_l(x_l) with Jacobian J_l, and the chain rule is g_l = J_lᵀ g_{l+1}.

1. **Plain stacks vanish.** If x_{l+1} = φ(W_l x_l + b_l) and |φ'| ≤ s (sigmoid s = 1/4, tanh and relu s = 1),
   then for every input, bias and upstream gradient   ‖g_0‖ ≤ Π_l (s‖W_l‖₂) · ‖g_L‖.

2. **Residual stacks preserve.** If x_{l+1} = x_l + f_l(x_l) and ‖Df_l‖₂ ≤ c_l, then
   Π_l (1 − c_l) · ‖g_L‖ ≤ ‖g_0‖ ≤ Π_l (1 + c_l) · ‖g_L‖   (the left side needs c_l ≤ 1).
   With c_l = γ/L (γ < 1) the ratio stays in [1 − γ, e^γ] at *every* depth L.

Proof. (1) J_lᵀ g = W_lᵀ D_l g with D_l = diag(φ'(z_l)), ‖D_l‖₂ ≤ s, so ‖J_lᵀ g‖ ≤ s‖W_l‖₂‖g‖; induct on l.
(2) J_l = I + A_l with ‖A_l‖₂ ≤ c_l, and the triangle inequality gives
(1 − c_l)‖g‖ ≤ ‖g‖ − ‖A_lᵀ g‖ ≤ ‖(I + A_l)ᵀ g‖ ≤ ‖g‖ + ‖A_lᵀ g‖ ≤ (1 + c_l)‖g‖; induct on l. With c_l = γ/L,
Π(1 − c_l) ≥ 1 − Σ c_l = 1 − γ (Weierstrass) and Π(1 + c_l) ≤ exp Σ c_l = e^γ. ∎

Both bounds are sharp (orthogonal weights with pre-activations at 0 attain them), so the property tests in
``tests/test_residual_property.py`` check them with only round-off slack. For a branch f(x) = α·φ(Wx + b),
‖Df‖₂ ≤ α s ‖W‖₂ (``spectral_norm``); for a zero-padded depthwise conv, ‖DW‖₂ ≤ max_c ‖k_c‖₁
(``depthwise_norm_bound``), since it is a sum of shifted copies of the input, each shift of norm ≤ 1.
"""
from __future__ import annotations

import numpy as np

from .nn.container import Sequential
from .nn.module import Module
from .tensor import Tensor

__all__ = ["GradientFlow", "gradient_flow", "layer_grad_norms", "grad_norm", "spectral_norm",
           "depthwise_norm_bound"]


def grad_norm(a):
    """The Euclidean norm of an array (or Tensor), computed in float64 without underflow or overflow.

    ``np.linalg.norm`` squares the entries first: a float32 gradient of size 1e-20 squares to 0. Dividing by
    the largest magnitude first keeps every square in [0, 1].
    """
    a = np.asarray(a.data if isinstance(a, Tensor) else a, dtype=np.float64)
    biggest = float(np.max(np.abs(a), initial=0.0))
    if biggest == 0.0 or not np.isfinite(biggest):
        return biggest
    return biggest * float(np.sqrt(np.sum(np.square(a / biggest))))


def layer_grad_norms(model):
    """After your own ``loss.backward()``: {layer path: ‖gradient of that layer's own parameters‖}.

    Works on any Module tree (not only ``Sequential``) and runs nothing: it reads the ``.grad`` arrays that the
    backward pass left on each layer's parameters (children's parameters count for the child, not the parent).
    A layer whose parameters received no gradient reports 0.0; layers without parameters are left out::

        loss.backward()
        for name, norm in layer_grad_norms(model).items():
            print(f"{name:<20} {norm:.2e}")
    """
    norms = {}
    for path, module in model.named_modules():
        own = [p for p in module._parameters.values() if p is not None]
        if own:
            grads = [p.grad for p in own if p.grad is not None]
            norms[path or type(model).__name__] = grad_norm(np.concatenate([g.ravel() for g in grads])) if grads else 0.0
    return norms


def spectral_norm(weight):
    """‖W‖₂, the largest singular value of a 2-D weight (e.g. ``Linear.weight`` or a (O, C, 1, 1) pointwise
    kernel, which is reshaped to (O, C)): the most that W can stretch any vector."""
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=np.float64)
    if w.ndim == 4 and w.shape[2:] == (1, 1):
        w = w[:, :, 0, 0]
    if w.ndim != 2:
        raise ValueError(f"spectral_norm: expected a 2-D matrix or a (O, C, 1, 1) kernel, got shape {w.shape}")
    if w.size == 0:
        return 0.0
    return float(np.linalg.norm(w, 2))


def depthwise_norm_bound(weight):
    """max_c ‖k_c‖₁ for a depthwise kernel of shape (C, 1, kh, kw): a bound on the operator norm of the
    zero-padded depthwise convolution (stride 1), which is Σ_taps k_c[tap]·(a shift of channel c)."""
    k = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=np.float64)
    if k.ndim != 4 or k.shape[1] != 1:
        raise ValueError(f"depthwise_norm_bound: expected a (C, 1, kh, kw) kernel, got shape {k.shape}")
    return float(np.abs(k).sum(axis=(1, 2, 3)).max(initial=0.0))


class GradientFlow:
    """The result of ``gradient_flow``: per-layer gradient norms after one backward pass.

    Attributes
    ----------
    loss : float, the loss that was differentiated.
    layer_names : names of the model's children ("0", "1", ...), one per layer.
    grads : [∂L/∂x_0, ..., ∂L/∂x_L] as float arrays (x_0 is the input, x_{l+1} the output of layer l).
    grad_norms : [‖∂L/∂x_0‖, ..., ‖∂L/∂x_L‖].
    param_grad_norms : {name: ‖∂L/∂p‖} for every parameter (0.0 for a parameter the loss does not reach).
    layer_param_grad_norms : [norm of all of layer l's parameter gradients together], one per layer.
    """

    def __init__(self, loss, layer_names, grads, param_grad_norms, layer_param_grad_norms):
        self.loss = loss
        self.layer_names = layer_names
        self.grads = grads
        self.grad_norms = [grad_norm(g) for g in grads]
        self.param_grad_norms = param_grad_norms
        self.layer_param_grad_norms = layer_param_grad_norms

    @property
    def ratio(self):
        """‖∂L/∂x_0‖ / ‖∂L/∂x_L‖ (nan if the top gradient is zero)."""
        top = self.grad_norms[-1]
        return self.grad_norms[0] / top if top > 0 else float("nan")

    def __repr__(self):
        lines = [f"GradientFlow(loss={self.loss:.6g}, ratio ‖∂L/∂x_0‖/‖∂L/∂x_L‖ = {self.ratio:.3e})",
                 "   layer   ‖∂L/∂(its input)‖   ‖∂L/∂(its parameters)‖"]
        for l, name in enumerate(self.layer_names):
            lines.append(f"  {name:>6}   {self.grad_norms[l]:>17.3e}   {self.layer_param_grad_norms[l]:>22.3e}")
        lines.append(f"  {'output':>6}   {self.grad_norms[-1]:>17.3e}")
        return "\n".join(lines)


def gradient_flow(model, x, grad_output=None, loss_fn=None):
    """Run ``model`` child by child, backpropagate once, and report ‖∂L/∂x_l‖ at every layer.

    Parameters
    ----------
    model : a ``Sequential`` (each child is one "layer": put a block such as Linear + Sigmoid, or a
        ``Residual``, in one child to see block-level gradients), a list of Modules, or a single Module.
    x : the input (Tensor or array, floating point). A fresh leaf that shares x's data is used, so ``x`` itself
        is not modified; ∂L/∂x comes back as ``grads[0]``.
    grad_output : ∂L/∂x_L, the upstream gradient at the output (array of the output's shape): the loss is then
        L = Σ x_L * grad_output.
    loss_fn : alternatively, a function of the output returning a scalar Tensor, e.g.
        ``lambda out: F.cross_entropy(out, y)``. If neither is given, L = Σ x_L (grad_output all ones).

    The model's parameter gradients are zeroed first (as ``optimizer.zero_grad()`` would), so the norms
    describe this one backward pass; afterwards each parameter's ``.grad`` holds this pass's gradient.
    """
    if grad_output is not None and loss_fn is not None:
        raise ValueError("gradient_flow: pass grad_output or loss_fn, not both")
    layers = _layers(model)
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if data.dtype.kind != "f":
        raise TypeError(f"gradient_flow: the input must be floating point to have a gradient, got {data.dtype}")
    for layer in layers:
        layer.zero_grad()

    x0 = Tensor(data).requires_grad_(True)
    outputs = [x0]
    out = x0
    for layer in layers:
        out = layer(out)
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise RuntimeError("gradient_flow: a layer's output does not require grad (is it computed inside "
                               "no_grad(), or does it not depend on its input?)")
        out.retain_grad()
        outputs.append(out)

    if loss_fn is not None:
        loss = loss_fn(out)
        if not isinstance(loss, Tensor) or loss.size != 1:
            raise ValueError(f"gradient_flow: loss_fn must return a one-element Tensor, got "
                             f"{getattr(loss, 'shape', type(loss).__name__)}")
    else:
        g = np.ones_like(out.data) if grad_output is None else np.asarray(
            grad_output.data if isinstance(grad_output, Tensor) else grad_output, dtype=out.dtype)
        if g.shape != out.shape:
            raise ValueError(f"gradient_flow: grad_output has shape {g.shape} but the output has shape {out.shape}")
        loss = (out * Tensor(g)).sum()
    loss.backward()

    grads = [o.grad if o.grad is not None else np.zeros_like(o.data) for o in outputs]
    named = _named(model, layers)
    names = [name or type(layer).__name__ for name, layer in named]
    param_norms, layer_norms = {}, []
    for name, layer in named:
        squares = 0.0
        for pname, p in layer.named_parameters():
            full = f"{name}.{pname}" if name else pname      # the names model.named_parameters() uses
            norm = grad_norm(p.grad) if p.grad is not None else 0.0
            param_norms[full] = norm
            squares += norm * norm
        layer_norms.append(float(np.sqrt(squares)))
    return GradientFlow(float(loss.data), names, grads, param_norms, layer_norms)


def _layers(model):
    if isinstance(model, Sequential):
        return list(model)
    if isinstance(model, Module):
        return [model]
    layers = list(model)
    for i, layer in enumerate(layers):
        if not isinstance(layer, Module):
            raise TypeError(f"gradient_flow: layer {i} is a {type(layer).__name__}, not a Module")
    return layers


def _named(model, layers):
    """(prefix, layer) pairs; the prefix makes parameter names match ``model.named_parameters()``."""
    if isinstance(model, Sequential):
        return list(model.named_children())
    if isinstance(model, Module):
        return [("", model)]
    return [(str(i), layer) for i, layer in enumerate(layers)]
