"""``Tensor``: a NumPy array plus what autograd needs (``requires_grad``, ``.grad`` and the tape entry).

The dtype policy, as in PyTorch:

* Python numbers and lists become **float32** unless a ``dtype`` is given (integers too: ``tn.tensor([1, 2])``
  is float32, so that ``requires_grad=True`` just works; pass ``dtype=np.int64`` for integer data).
* NumPy arrays keep their dtype (float64 stays float64; an int array stays int).
* Ops keep dtypes: float32 in, float32 out; float64 in, float64 out.
* Only floating-point tensors can require grad; asking for it on integer or bool data is a ``TypeError``.

The arithmetic lives in ``tinynet/ops/``, each op with its forward formula and backward rule side by side.
Tensor's operators and math methods (``x + y``, ``x.tanh()``, ``x.sum()``, ...) *are* those op functions: they
are bound to the class at the end of this file.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import tape, versions

__all__ = ["Tensor", "tensor", "make_result", "as_tensor", "values"]


class Tensor:
    """A NumPy array that can take part in reverse-mode autodiff.

    Attributes: ``data`` (the ``np.ndarray``), ``requires_grad``, ``grad`` (``np.ndarray`` or ``None``),
    and ``_entry`` (the tape entry that produced this tensor; ``None`` for a leaf).
    """

    __slots__ = ("data", "requires_grad", "grad", "_entry", "_change", "__weakref__")   # _change: versions.py
    __array_ufunc__ = None   # makes ``ndarray * Tensor`` call Tensor.__rmul__ instead of NumPy's loop

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _to_array(data, dtype)
        self.grad = None
        self._entry = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ---- basic properties -----------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="The shape tuple, as NumPy's.")
    dtype = property(lambda self: self.data.dtype, doc="The NumPy dtype.")
    ndim = property(lambda self: self.data.ndim, doc="Number of axes.")
    size = property(lambda self: self.data.size, doc="Number of elements.")
    is_leaf = property(lambda self: self._entry is None,
                       doc="True for tensors made by the user (not produced by a recorded op).")

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` in place (only floating-point leaf tensors can require grad)."""
        if flag and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad=True needs floating-point data, got dtype {self.data.dtype}: only "
                f"floating-point tensors have gradients (use dtype=np.float32 or np.float64)")
        if not flag and self._entry is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use .detach() instead")
        self.requires_grad = bool(flag)
        return self

    def numpy(self):
        """The underlying ``np.ndarray`` (shared, not copied)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python number, "
                             f"got shape {self.shape}")
        return self.data.item()

    def detach(self):
        """A new leaf tensor that shares ``data`` but is cut from the tape (no gradient flows through it)."""
        return Tensor._wrap(self.data)

    def __bool__(self):
        """``if t:`` / ``if loss < 1:``: the truth of a one-element tensor; ambiguous (an error) otherwise, as in
        NumPy and PyTorch. Without it Python would fall back to ``len()``, and ``if tn.tensor([-1.0]) > 0`` or
        ``a in [b]`` would be True for any non-empty tensors."""
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements (shape {self.shape}) is "
                             f"ambiguous: use t.data.any() or t.data.all()")
        return bool(self.data.item())

    def __float__(self):
        return float(self.item())

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: the data (shared, like ``t.numpy()``), for plotting and NumPy code. As in PyTorch, a
        tensor that requires grad refuses: NumPy would silently drop it from the tape."""
        if self.requires_grad:
            raise RuntimeError("can't convert a tensor that requires grad to a NumPy array (NumPy would compute "
                               "outside the tape): use t.detach().numpy(), or t.data")
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            if copy is False:                 # NumPy 2's protocol: copy=False means "never copy"
                raise ValueError(f"can't convert a {self.data.dtype} tensor to {np.dtype(dtype)} without a copy")
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = ""
        if self.data.dtype != np.float32:
            extras += f", dtype={self.data.dtype}"
        if self.requires_grad:
            extras += ", requires_grad=True"
        return f"tensor({body}{extras})"

    __hash__ = object.__hash__  # tensors are hashed by identity (``==`` is elementwise, as in NumPy)

    # ---- autograd -------------------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Compute ``dself/dleaf · grad`` and **accumulate** it into ``.grad`` of every leaf that requires grad.

        ``grad`` is ``dL/dself`` and must have this tensor's shape; it may be omitted only for a one-element
        tensor (then it is 1). Gradients accumulate across calls until you zero them (``x.grad = None`` or
        ``optimizer.zero_grad()``). The entries used are released afterwards unless ``retain_graph=True``.

        ``.grad`` is always a NumPy array, so ``create_graph=True`` is refused here: for gradients that can be
        differentiated again use ``tn.grad(y, inputs, create_graph=True)``, which returns them as Tensors.
        """
        if create_graph:
            raise RuntimeError("backward(create_graph=True): tinynet's .grad is a NumPy array, which cannot be "
                               "differentiated again; use gx, = tn.grad(y, [x], create_graph=True) to get the "
                               "gradient as a Tensor on the tape")
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad (no input had requires_grad=True, or it was "
                "computed inside no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for a one-element tensor, but this tensor "
                    f"has shape {self.shape}; pass grad=dL/dy with that shape (e.g. y.backward(np.ones_like"
                    f"(y.data))) or reduce y to a scalar first (y.sum().backward())")
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward: grad has shape {grad.shape} but the tensor has shape "
                                 f"{self.shape}; they must match exactly")
        tape.backward(self, grad, retain_graph=retain_graph)

    # ---- in-place changes (each one raises the version, see versions.py) -------------------------------
    _version = property(lambda self: versions.version(self),
                        doc="How many times this tensor was changed in place through tinynet, as in PyTorch.")

    def copy_(self, source):
        """Copy ``source``'s values into this tensor's array, in place (broadcasting; dtype and shape kept)."""
        return _update_in_place(self, "copy_", None, np.copyto, source)

    def fill_(self, value):
        """Set every element to ``value``, in place."""
        return _update_in_place(self, "fill_", None, np.copyto, value)

    def zero_(self):
        """Set every element to 0, in place."""
        return self.fill_(0)

    def retain_grad(self):
        """Keep ``dL/dself`` in ``.grad`` after backward even though this is an intermediate tensor."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        if self._entry is not None:
            tape.retain(self._entry, self)
        return self

    # ---- constructors used by ops ---------------------------------------------------------------------
    @classmethod
    def _wrap(cls, data):
        """A leaf tensor around an existing array, without conversion or copying."""
        t = cls.__new__(cls)
        t.data = data
        t.grad = None
        t._entry = None
        t.requires_grad = False
        return t

    # ---- operators and math methods: see tinynet/ops/ for the math ------------------------------------
    # x + y, x * y, x @ w, -x, x ** 2, x[i], x.tanh(), x.sum(), x.reshape(...) ... are the op functions
    # themselves, bound to Tensor at the end of this file. The reflected forms (2 + x, 2 * x) swap operands:
    def __radd__(self, other): return arithmetic.add(other, self)
    def __rsub__(self, other): return arithmetic.sub(other, self)
    def __rmul__(self, other): return arithmetic.mul(other, self)
    def __rtruediv__(self, other): return arithmetic.div(other, self)
    def __rpow__(self, base): return arithmetic.pow(base, self)
    def __rmatmul__(self, other): return matmul.matmul(other, self)

    # t += x updates t's array in place (p -= lr * p.grad inside no_grad, an optimizer's step); when a gradient
    # must flow through it, it is an ordinary op whose result Python binds to the name (loss += term); a leaf
    # that requires grad is refused outside no_grad, as in PyTorch (see _update_in_place).
    def __iadd__(self, other): return _update_in_place(self, "+=", arithmetic.add, np.add, other)
    def __isub__(self, other): return _update_in_place(self, "-=", arithmetic.sub, np.subtract, other)
    def __imul__(self, other): return _update_in_place(self, "*=", arithmetic.mul, np.multiply, other)
    def __itruediv__(self, other): return _update_in_place(self, "/=", arithmetic.div, np.true_divide, other)

    # comparisons give bool tensors and carry no gradient
    def __lt__(self, other): return Tensor._wrap(self.data < _data_of(other))
    def __le__(self, other): return Tensor._wrap(self.data <= _data_of(other))
    def __gt__(self, other): return Tensor._wrap(self.data > _data_of(other))
    def __ge__(self, other): return Tensor._wrap(self.data >= _data_of(other))
    def __eq__(self, other): return Tensor._wrap(self.data == _data_of(other))
    def __ne__(self, other): return Tensor._wrap(self.data != _data_of(other))

    T = property(lambda self: shaping.reverse_axes(self), doc="All axes reversed, as NumPy's ``.T``.")
    mT = property(lambda self: shaping.matrix_transpose(self), doc="The last two axes swapped, as PyTorch's.")


def tensor(data, requires_grad=False, dtype=None):
    """Make a leaf tensor, as ``torch.tensor``: lists and Python numbers become float32 unless ``dtype`` is given.

    Like ``torch.tensor`` it always copies ``data``, so later changes to the tensor (an optimizer step) never
    reach the caller's NumPy array. ``tn.Tensor(array)`` wraps the array itself, without a copy.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray) and dtype is None:
        if data.dtype.kind not in "biuf":
            raise TypeError(f"tensor: expected numbers, got a NumPy array of dtype {data.dtype}")
        data = data.copy()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _to_array(data, dtype):
    if dtype is not None:
        return np.array(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    try:
        array = np.array(data)
    except ValueError as error:      # e.g. a ragged nested list [[1, 2], [3]]
        raise ValueError(f"tensor: nested lists must be rectangular (every row the same length): {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"tensor: expected numbers (a number, a nested list of numbers or a NumPy array), got "
                        f"{type(data).__name__} data that NumPy reads as dtype {array.dtype}")
    if array.dtype.kind in "iuf":    # Python numbers and lists: float32 by default, as in PyTorch
        array = array.astype(np.float32)
    return array


def _data_of(x):
    return x.data if isinstance(x, Tensor) else x


def _update_in_place(t, symbol, op, ufunc, other):
    """``t ⊕= other``, as PyTorch does it where the tape allows.

    - When a gradient must flow through it (recording, and t or other requires grad): ``op(t, other)``, a new
      tensor on the tape that Python binds to t's name, so gradients are those of ``t = t ⊕ other``. A leaf that
      requires grad is refused, as in PyTorch (it is a parameter: the update would cut it off the tape).
    - Otherwise (inside no_grad, or nothing requires grad): t's own array is updated, dtype and shape kept;
      that is how an optimizer steps its parameters. The change raises t's version, so a backward through an op
      recorded earlier that reads t raises instead of using the new values (versions.py).
    """
    other_requires_grad = isinstance(other, Tensor) and other.requires_grad
    if op is None:                                    # copy_ / fill_: no recorded form, as in tinynet's no_grad
        if tape.is_grad_enabled() and (t.requires_grad or other_requires_grad):
            raise RuntimeError(f"{symbol}: cannot overwrite a tensor that requires grad (or with one that does) "
                               f"while recording; do it inside tn.no_grad()")
    elif tape.is_grad_enabled() and (t.requires_grad or other_requires_grad):
        if t.requires_grad and t._entry is None:
            raise RuntimeError(f"{symbol}: a leaf tensor that requires grad can only be updated in place inside "
                               f"tn.no_grad() (as an optimizer's step is); outside it write t = t {symbol[0]} x")
        result = op(t, other)
        if result.shape != t.shape:
            raise ValueError(f"{symbol}: the result has shape {result.shape} but the tensor {t.shape}; an update "
                             f"in place cannot change a tensor's shape")
        return result
    value = as_tensor(other, like=t).data                            # a Python int wraps around, as in PyTorch
    try:
        if op is None:
            ufunc(t.data, value, casting="same_kind")                # np.copyto(dst, src)
        else:
            ufunc(t.data, value, out=t.data, casting="same_kind")
    except (TypeError, ValueError) as error:          # dtype that cannot be cast back, shape, read-only array
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{symbol}: cannot update a tensor of shape {t.shape} and dtype {t.dtype} in place with a "
                   f"value of shape {value.shape} and dtype {value.dtype}: {error}") from None
    versions.mark_changed(t)
    return t


def values(g, *tensors):
    """What a backward rule computes with: the tensors' arrays when ``g`` is an array (an ordinary backward),
    the tensors themselves when ``g`` is a Tensor (``create_graph``: the rule's arithmetic is then recorded)."""
    if isinstance(g, Tensor):
        return tensors
    return tuple(t.data for t in tensors)


def as_tensor(x, like=None):
    """``x`` as a Tensor. A Python number takes ``like``'s floating dtype, so ``x32 * 2.0`` stays float32, and a
    Python int takes ``like``'s integer dtype, so ``labels + 1`` stays int64 (as in PyTorch)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and (type(x) is float or type(x) is int or isinstance(x, numbers.Number)):
        kind = like.data.dtype.kind
        if kind == "f":
            return Tensor._wrap(np.asarray(x, dtype=like.data.dtype))
        if kind in "iu" and isinstance(x, numbers.Integral) and not isinstance(x, bool):
            return Tensor._wrap(np.array(x).astype(like.data.dtype))  # wraps around out of range, as in PyTorch
    if isinstance(x, np.ndarray):
        return Tensor._wrap(x)
    return Tensor(x)


_new_tensor = Tensor.__new__                # a bare Tensor; make_result fills in its four fields
_state = tape._state                        # this thread's grad mode
_Entry = tape.Entry                         # (module-level names: make_result runs once per op)


def make_result(op, data, inputs, backward, reference=None):
    """Wrap an op's result in a Tensor and, if gradients are needed, record the op on the tape.

    ``inputs`` is the tuple of input Tensors; ``backward(g)`` returns one gradient (or None) per input.
    A fused op (one whose hand-written rule works on NumPy arrays only) also passes ``reference``: a function
    that recomputes the same output from the same input Tensors with differentiable ops, so that the tape can
    differentiate it when a gradient must itself be differentiable (``create_graph=True``).
    This is the only place where entries are created, and the extension point for a user's own op.
    It runs once per op, so it is kept lean: no keyword arguments, no property lookups.
    """
    if type(data) is not np.ndarray:        # NumPy reductions return scalars like np.float64(3.0)
        data = np.asarray(data)
    out = _new_tensor(Tensor)
    out.data = data
    out.grad = None
    if not tape._threads_without_grad or _state.grad_enabled:     # (see tape.is_grad_enabled)
        for t in inputs:
            if t.requires_grad:                                    # record: the output requires grad too
                out.requires_grad = True
                out._entry = entry = _Entry(op, inputs, backward, data)
                if reference is not None:
                    entry.reference = reference
                return out
    out.requires_grad = False                                      # nothing to record: a constant
    out._entry = None
    return out


# The op modules import Tensor from this module, so they are imported after the class exists ...
from .ops import arithmetic, elementwise, matmul, reductions, shaping  # noqa: E402

# ... and then the methods that are ops are bound to the op functions: ``x + y`` calls ``arithmetic.add(x, y)``
# directly, and ``help(Tensor.__add__)`` shows add's formula. (Binding, rather than a one-line method that
# calls the op, saves a Python call on every op: a few per cent of the engine's time in benchmarks/overhead.py.)
Tensor.__add__ = arithmetic.add
Tensor.__sub__ = arithmetic.sub
Tensor.__mul__ = arithmetic.mul
Tensor.__truediv__ = arithmetic.div
Tensor.__pow__ = arithmetic.pow
Tensor.__neg__ = arithmetic.neg
Tensor.__matmul__ = matmul.matmul
Tensor.__getitem__ = shaping.getitem
Tensor.exp = elementwise.exp
Tensor.log = elementwise.log
Tensor.sqrt = elementwise.sqrt
Tensor.abs = elementwise.abs
Tensor.tanh = elementwise.tanh
Tensor.sigmoid = elementwise.sigmoid
Tensor.relu = elementwise.relu
Tensor.sum = reductions.sum                  # x.sum(axis=None, keepdims=False), as the op's own signature
Tensor.mean = reductions.mean
Tensor.max = reductions.max
Tensor.reshape = shaping.reshape             # x.reshape(2, 3) or x.reshape((2, 3))
Tensor.transpose = shaping.transpose         # x.transpose(dim0, dim1) swaps two axes, as PyTorch
Tensor.permute = shaping.permute             # x.permute(2, 0, 1) or x.permute((2, 0, 1)): any order
Tensor.contiguous = shaping.contiguous
Tensor.__pos__ = elementwise.positive
Tensor.sin = elementwise.sin
Tensor.cos = elementwise.cos
Tensor.log1p = elementwise.log1p
Tensor.expm1 = elementwise.expm1
Tensor.clip = elementwise.clip               # x.clip(min=None, max=None); clamp is the same function
Tensor.clamp = elementwise.clamp
Tensor.min = reductions.min
Tensor.amin = reductions.amin
Tensor.amax = reductions.amax
Tensor.var = reductions.var                  # x.var(axis=None, *, correction=1, keepdims=False)
Tensor.std = reductions.std
Tensor.logsumexp = reductions.logsumexp
Tensor.prod = reductions.prod
Tensor.cumsum = reductions.cumsum            # x.cumsum(axis)
