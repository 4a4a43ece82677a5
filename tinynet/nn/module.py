"""``Module``: the base class of every layer and model, as ``torch.nn.Module``.

A Module is a Python object whose attributes may be ``Parameter``s (its own weights) or other Modules (its
children). Assigning one registers it, so ``parameters()`` can walk the tree and ``state_dict()`` can name
every weight by its path ("0.weight", "block.conv.bias"), exactly as PyTorch names them.

A module may also own **buffers** (``register_buffer``): Tensors that are part of its state but are not trained,
such as batch norm's running mean. They are saved in ``state_dict()`` beside the parameters, but
``parameters()`` (so an optimizer) never sees them.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from ..tensor import Tensor, as_tensor
from .parameter import Parameter

__all__ = ["Module", "check_input_dtype"]


def check_input_dtype(layer, x, param):
    """``x`` as a Tensor, after checking that its dtype is ``param``'s: the one dtype check every layer with
    parameters makes at the start of ``forward`` (Linear, the convolutions, LayerNorm, MultiHeadAttention).

    Why a layer refuses, as PyTorch's do ("mat1 and mat2 must have the same dtype"), instead of promoting:
    float64 data (NumPy's default) fed to a float32 model would make every layer after it compute in float64,
    twice as slowly and with float64 gradients for float32 weights, and nothing would say so. An integer input
    is refused too: a layer computes in floating point, and integer pixel values or features usually need
    scaling anyway. A Python list becomes a float32 tensor (as in PyTorch), so it suits a float32 model.
    """
    x = as_tensor(x)
    if param is None or x.data.dtype == param.data.dtype:
        return x
    got, want = x.data.dtype, param.data.dtype
    if got.kind == "f":
        fix = (f"convert the input (x.astype(np.{want}) for an array, tn.tensor(x, dtype=np.{want})) or the model "
               f"(model.to(np.{got}))")
    else:
        fix = f"layers compute in floating point: convert the input with x.astype(np.{want}) (scaled if need be)"
    raise TypeError(f"{type(layer).__name__}: the input has dtype {got} but the layer's parameters are {want}; "
                    f"{fix}")


class Module:
    """Subclass it, create parameters and sub-modules in ``__init__``, and write ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())     # buffers left out of state_dict
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ---- registration -------------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if name in self._parameters and value is not None and not isinstance(value, Parameter):
            raise TypeError(f"{type(self).__name__}.{name} is a parameter: assign an nn.Parameter (or None), got "
                            f"{type(value).__name__} (it would no longer be trained, saved or zeroed)")
        if name in self._buffers:                                    # a buffer stays a buffer (or None)
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}.{name} is a buffer: assign a Tensor (or None), got "
                                f"{type(value).__name__}")
            self._buffers[name] = value
        elif isinstance(value, Parameter) or (value is None and name in self._parameters):
            self._modules.pop(name, None)
            self._parameters[name] = value                           # None keeps the slot (and its place): as
        elif isinstance(value, Module):                              # in PyTorch, only a Parameter may fill it
            self._parameters.pop(name, None)
            self._modules[name] = value
        else:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``."""
        if name in self._modules:
            raise KeyError(f"register_parameter: {name!r} is already a submodule of {type(self).__name__}")
        if param is None:
            object.__setattr__(self, name, None)
            self._modules.pop(name, None)
            self._parameters[name] = None                            # an empty slot (e.g. bias=False)
        else:
            setattr(self, name, param)

    def register_buffer(self, name, tensor, persistent=True):
        """Register ``tensor`` (a Tensor or None) as a buffer: module state that is not a parameter, as PyTorch's.

        It is reachable as ``self.<name>``, listed by ``named_buffers()``, moved by ``to()``, and, if
        ``persistent``, saved in ``state_dict()`` (after the module's own parameters, as PyTorch orders them) and
        restored by ``load_state_dict``. Batch norm keeps ``running_mean``, ``running_var`` and
        ``num_batches_tracked`` this way.
        """
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: the name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules or (hasattr(self, name) and name not in self._buffers):
            raise KeyError(f"register_buffer: {name!r} is already an attribute (a parameter, submodule or other) of "
                           f"{type(self).__name__}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        if tensor is not None and tensor.requires_grad:
            raise ValueError(f"register_buffer: {name!r} requires grad; a buffer is not trained (use a Parameter)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, tensor)

    def named_buffers(self, prefix=""):
        """(path, Tensor) for every buffer in the tree, e.g. ("1.running_mean", ...)."""
        for path, module in self.named_modules(prefix):
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    yield (f"{path}.{name}" if path else name), buffer

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def add_module(self, name, module):
        """Register a child module under ``name``."""
        setattr(self, name, module)

    # ---- calling ------------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                result = hook(self, args, out)
                if result is not None:
                    out = result
        return out

    def register_forward_hook(self, hook):
        """Call ``hook(module, args, output)`` after every forward of this module, as in PyTorch.

        ``args`` is the tuple of positional inputs. If the hook returns something other than None, that value
        replaces the output. Returns a handle: ``handle.remove()`` unregisters the hook. ``tinynet.summary``
        uses hooks to see each layer's output shape; you can use one to record activations::

            acts = {}
            handle = model[0].register_forward_hook(lambda m, args, out: acts.__setitem__("0", out.data))
            model(x); handle.remove()
        """
        if not callable(hook):
            raise TypeError(f"register_forward_hook: hook must be callable, got {type(hook).__name__}")
        return _RemovableHandle(self._forward_hooks, hook)

    # ---- walking the tree ---------------------------------------------------------------------------
    def named_children(self):
        """(name, module) for each direct child."""
        return iter(self._modules.items())

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        """(path, module) for this module and every descendant, depth-first, parents first."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix=""):
        """(path, Parameter) for every parameter in the tree, each once, e.g. ("0.weight", ...)."""
        seen = set()
        for path, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{path}.{name}" if path else name), param

    def parameters(self):
        return (p for _, p in self.named_parameters())

    # ---- training helpers ---------------------------------------------------------------------------
    def zero_grad(self):
        """Forget accumulated gradients: ``p.grad = None`` for every parameter (PyTorch's default)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode=True):
        """Set training mode on this module and its descendants (affects layers such as dropout)."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def to(self, dtype):
        """Cast every parameter to ``dtype`` in place (e.g. ``np.float64`` for a gradient check)."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None
        for b in self.buffers():                                      # floating buffers follow; counters stay ints
            if b.data.dtype.kind == "f":
                b.data = b.data.astype(dtype)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # ---- saving -------------------------------------------------------------------------------------
    def state_dict(self):
        """OrderedDict path -> copy of the parameter's (or persistent buffer's) array, keyed as PyTorch keys it
        ("0.weight", "1.running_mean"): each module's parameters, then its buffers, then its children's.

        As in PyTorch, a parameter shared by two modules appears under both paths (``named_parameters`` lists it
        once), so state dicts of shared-weight models carry the same keys in both libraries.
        """
        return OrderedDict((name, p.data.copy()) for name, p in self._registered_state())

    def _registered_state(self, prefix=""):
        """(path, Tensor) for every place a parameter or persistent buffer is registered, shared ones under each
        of their paths (the entries of ``state_dict``)."""
        for name, param in self._parameters.items():
            if param is not None:
                yield prefix + name, param
        for name, buffer in self._buffers.items():                    # buffers are state too (not trained)
            if buffer is not None and name not in self._non_persistent_buffers:
                yield prefix + name, buffer
        for name, child in self._modules.items():
            yield from child._registered_state(f"{prefix}{name}.")

    def load_state_dict(self, state, strict=True):
        """Copy arrays from ``state`` into the parameters and buffers; shapes must match (and, if strict, the key
        sets). Each keeps its own dtype."""
        if not hasattr(state, "items"):
            hint = (f"; to read a file, use model.load_state_dict(tn.load({state!r})) or model.load({state!r})"
                    if isinstance(state, (str, bytes, os.PathLike)) else "")
            raise TypeError(f"load_state_dict: expected a dict name -> array (e.g. model.state_dict() or "
                            f"tn.load(path)), got a {type(state).__name__}{hint}")
        targets = dict(self._registered_state())          # parameters and persistent buffers, by path
        if strict:
            missing = sorted(set(targets) - set(state))
            unexpected = sorted(set(state) - set(targets))
            if missing or unexpected:
                raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        arrays = {}
        for name, value in state.items():                # check every shape first: no half-loaded model
            if name not in targets:
                continue
            value = np.asarray(value.data if isinstance(value, Tensor) else value)
            target = targets[name]
            if value.shape != target.shape:
                raise ValueError(f"load_state_dict: '{name}' has shape {value.shape} in the state dict but "
                                 f"{target.shape} in the model")
            arrays[name] = value
        for name, value in arrays.items():
            targets[name].data = value.astype(targets[name].dtype, copy=True)
        return self

    def save(self, path):
        """Write ``state_dict()`` to a NumPy ``.npz`` file at exactly ``path``; same as
        ``tinynet.serialization.save(module.state_dict(), path)``. Returns the path."""
        from ..serialization import save
        return save(self.state_dict(), path)

    def load(self, path, strict=True):
        """Load parameters saved by ``save`` (``load_state_dict(tinynet.serialization.load(path))``): keys
        and shapes must match, so a file from a different architecture is a clear error, not silent garbage."""
        from ..serialization import load
        return self.load_state_dict(load(path), strict=strict)

    # ---- printing -----------------------------------------------------------------------------------
    def extra_repr(self):
        """The arguments shown inside the parentheses of this module's repr."""
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        if len(lines) == 1:
            return lines[0] + ")"
        return "\n".join(lines) + "\n)"


class _RemovableHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` takes the hook out again."""

    _next_id = 0

    def __init__(self, hooks, hook):
        self._hooks = hooks
        self.id = _RemovableHandle._next_id
        _RemovableHandle._next_id += 1
        hooks[self.id] = hook

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False
