"""``summary(model, input_shape)``: the table Keras' ``model.summary()`` prints, for a tinynet Module.

It runs one forward pass on a small random batch (under ``no_grad``, nothing is recorded) with a forward hook on
every sub-module (``Module.register_forward_hook``), and reports for each layer:

* its name (the path ``named_modules()`` gives it, indented by depth) and type;
* its output shape, with the batch axis written ``N``;
* its parameter count (the layer's own parameters plus its children's);
* its multiply-accumulate count (MACs) for **one example**, the usual measure of compute (1 MAC = one a·b + c,
  i.e. 2 FLOPs). Counted:
    - Linear:          (output elements) × in_features           each output is a dot product of length in
    - convolutions:    (output elements) × C/groups × kh × kw    any layer with a 4-D ``weight`` (O, C/g, kh, kw),
                                                                 so Conv2d, depthwise and pointwise convs alike
    - ConvTranspose2d: (input elements) × C_out/groups × kh × kw   each input pixel stamps its scaled kernel
    - MultiHeadAttention: the q, k, v projections (L·E² + 2·S·E²) plus QKᵀ and PV (2·L·S·E)
                          (its out_proj is a Linear and counts itself)
  Activations, normalisation, pooling and additions cost no multiply-accumulates of weights and count 0.

Below the table: totals (the parameter total is Σ p.size over ``model.parameters()``), and for every separable
convolution (a layer with ``in_channels``/``out_channels``/``kernel_size`` whose weights live in its children)
what a standard ``Conv2d`` with the same channels and kernel would cost instead.
"""
from __future__ import annotations

import numpy as np

from . import tape
from .tensor import Tensor

__all__ = ["summary", "Summary"]


class Summary:
    """What ``summary`` returns. ``rows``: one dict per layer (name, type, depth, output_shape, params, macs);
    ``total_params``, ``trainable_params``, ``total_macs``; ``separable``: standard-conv comparisons.
    ``str(s)`` is the table."""

    def __init__(self, model, input_shape, rows, total_params, trainable_params, total_macs, separable, dtype):
        self.model_name = type(model).__name__
        self.input_shape = tuple(input_shape)
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_macs = total_macs
        self.separable = separable
        self.dtype = np.dtype(dtype)

    def __str__(self):
        header = ("Layer (type)", "Output shape", "Params", "MACs")
        body = [(("  " * (r["depth"] - 1)) + f"{r['name']} ({r['type']})", _shape_text(r["output_shape"]),
                 f"{r['params']:,}", f"{r['macs']:,}") for r in self.rows]
        widths = [max(len(line[k]) for line in [header] + body) for k in range(4)]
        total_width = sum(widths) + 3 * 2

        def fmt(line):
            return (f"{line[0]:<{widths[0]}}  {line[1]:<{widths[1]}}  {line[2]:>{widths[2]}}  "
                    f"{line[3]:>{widths[3]}}")

        out = [f"{self.model_name} summary: input (N, {', '.join(map(str, self.input_shape))}), "
               f"counts per example", "=" * total_width, fmt(header), "=" * total_width]
        out += [fmt(line) for line in body]
        out.append("=" * total_width)
        out.append(f"Total params: {self.total_params:,} ({_bytes_text(self.total_params * self.dtype.itemsize)} "
                   f"as {self.dtype})")
        out.append(f"Trainable params: {self.trainable_params:,}")
        out.append(f"Non-trainable params: {self.total_params - self.trainable_params:,}")
        out.append(f"Multiply-accumulates per example: {self.total_macs:,} ({_si(self.total_macs)} MACs)")
        if self.separable:
            out.append("-" * total_width)
            out.append("Separable convolutions vs a standard Conv2d with the same channels and kernel:")
            for s in self.separable:
                out.append(f"  {s['name']} ({s['type']} {s['in_channels']}->{s['out_channels']}, "
                           f"{s['kernel_size'][0]}x{s['kernel_size'][1]}): {s['params']:,} params, "
                           f"{s['macs']:,} MACs; standard: {s['standard_params']:,} params, "
                           f"{s['standard_macs']:,} MACs ({s['standard_macs'] / max(s['macs'], 1):.1f}x the MACs)")
        return "\n".join(out)

    def __repr__(self):
        return (f"<Summary of {self.model_name}: {len(self.rows)} layers, {self.total_params:,} params, "
                f"{self.total_macs:,} MACs per example>")


def summary(model, input_shape, dtype=np.float32, batch_size=2, depth=None, print_table=True, seed=0):
    """Print (unless ``print_table=False``) and return the ``Summary`` of ``model`` for inputs of shape
    ``(N,) + input_shape``.

    ``input_shape`` is the shape of **one example**, without the batch axis (as Keras' and torchsummary's), e.g.
    ``(1, 8, 8)`` for 8x8 grey images or ``(784,)`` for flattened MNIST. ``depth`` limits how deep the tree of
    layers is shown (None = every layer; totals always count everything). The forward pass uses ``batch_size``
    seeded random examples in ``dtype``; the model's parameters and training mode are left as they were.
    """
    from .nn.module import Module
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be a tinynet.nn.Module, got {type(model).__name__}")
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    input_shape = tuple(int(d) for d in input_shape)
    if any(d <= 0 for d in input_shape):
        raise ValueError(f"summary: input_shape must be positive sizes (one example, no batch axis), got "
                         f"{input_shape}")

    named = [(name, m) for name, m in model.named_modules() if name]
    records = {id(m): {"output_shape": None, "macs": 0} for _, m in named}
    records[id(model)] = {"output_shape": None, "macs": 0}

    def hook(module, args, output):
        record = records[id(module)]
        record["output_shape"] = _shapes_of(output)
        record["macs"] += _own_macs(module, args, output)

    handles = [m.register_forward_hook(hook) for _, m in named] + [model.register_forward_hook(hook)]
    was_training = [(m, m.training) for m in model.modules()]
    x = np.random.default_rng(seed).standard_normal((batch_size,) + input_shape).astype(dtype)
    try:
        model.eval()
        with tape.no_grad():
            model(Tensor(x))
    finally:
        for h in handles:
            h.remove()
        for m, mode in was_training:
            object.__setattr__(m, "training", mode)

    macs_per_example = {k: v["macs"] // batch_size for k, v in records.items()}
    subtree_macs = {}
    for name, m in sorted(named, key=lambda item: -item[0].count(".")):   # deepest first
        subtree_macs[id(m)] = macs_per_example[id(m)] + sum(subtree_macs[id(c)] for c in m.children())
    rows = []
    for name, m in named:
        level = name.count(".") + 1
        if depth is not None and level > depth:
            continue
        rows.append({"name": name, "type": type(m).__name__, "depth": level,
                     "output_shape": _batchless(records[id(m)]["output_shape"], batch_size),
                     "params": sum(p.size for p in m.parameters()), "macs": subtree_macs[id(m)]})
    params = list(model.parameters())
    total_params = sum(p.size for p in params)
    trainable = sum(p.size for p in params if p.requires_grad)
    total_macs = sum(macs_per_example.values())

    separable = []
    for name, m in named:
        if _is_composite_conv(m):
            k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
            out_shape = records[id(m)]["output_shape"]
            if out_shape is None or not isinstance(out_shape, tuple):
                continue
            out_elems = int(np.prod(out_shape[1:]))
            has_bias = any(n.endswith("bias") for n, _ in m.named_parameters())
            separable.append({
                "name": name, "type": type(m).__name__, "in_channels": m.in_channels,
                "out_channels": m.out_channels, "kernel_size": k,
                "params": sum(p.size for p in m.parameters()), "macs": subtree_macs[id(m)],
                "standard_params": m.out_channels * m.in_channels * k[0] * k[1] + (m.out_channels if has_bias else 0),
                "standard_macs": out_elems * m.in_channels * k[0] * k[1]})
    result = Summary(model, input_shape, rows, total_params, trainable, total_macs, separable, dtype)
    if print_table:
        print(result)
    return result


# ---- counting ------------------------------------------------------------------------------------------------
def _own_macs(module, args, output):
    """Multiply-accumulates done by this module's *own* parameters (children count themselves), whole batch."""
    from .nn.attention import MultiHeadAttention
    from .nn.conv_transpose import ConvTranspose2d
    from .nn.linear import Linear
    if not isinstance(output, Tensor):
        return 0
    weight = module._parameters.get("weight")
    if isinstance(module, Linear):
        return output.size * module.in_features                 # each output = dot product of length in
    if isinstance(module, ConvTranspose2d) and args:            # weight (C_in, C_out/groups, kh, kw)
        return int(np.prod(args[0].shape)) * int(np.prod(weight.shape[1:]))   # per input pixel: one kernel stamp
    if weight is not None and weight.ndim == 4:                  # conv: weight (O, C/groups, kh, kw)
        return output.size * int(np.prod(weight.shape[1:]))     # each output sums C/groups · kh · kw products
    if isinstance(module, MultiHeadAttention) and args:
        query = args[0]
        key = args[1] if len(args) > 1 and args[1] is not None else query
        e = module.embed_dim
        batch = int(np.prod(query.shape[:-2]))
        length_q, length_k = query.shape[-2], key.shape[-2]
        projections = batch * (length_q + 2 * length_k) * e * e     # q, k, v = x W_qᵀ, x W_kᵀ, x W_vᵀ
        attention = 2 * batch * length_q * length_k * e            # Q Kᵀ and P V over all heads
        return projections + attention
    return 0


def _is_composite_conv(module):
    """A conv-shaped layer (in/out channels, kernel size) whose weights live in its children: a separable conv."""
    if not all(hasattr(module, a) for a in ("in_channels", "out_channels", "kernel_size")):
        return False
    if "weight" in module._parameters:
        return False
    return any(p.ndim == 4 for p in module.parameters())


def _shapes_of(output):
    if isinstance(output, Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return [_shapes_of(o) for o in output]
    return None


def _batchless(shape, batch_size):
    if isinstance(shape, list):
        return [_batchless(s, batch_size) for s in shape]
    if shape and shape[0] == batch_size:
        return ("N",) + shape[1:]
    return shape


def _shape_text(shape):
    if shape is None:
        return "-"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _si(n):
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)


def _bytes_text(n):
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
