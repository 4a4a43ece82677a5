"""``fit``, ``evaluate``, ``predict``: the Keras-style training loop, written out so you can read every step.

One training step is the five lines every PyTorch tutorial writes::

    optimizer.zero_grad()              # forget the previous batch's gradients
    out = model(x_batch)               # forward: records the tape
    loss = loss_fn(out, y_batch)       # a scalar Tensor
    loss.backward()                    # replay the tape backwards: p.grad for every parameter
    optimizer.step()                   # move every parameter against its gradient

``fit`` runs that over shuffled mini-batches for a number of epochs and keeps a ``History`` of the per-epoch
loss and metrics. ``evaluate`` and ``predict`` run the model in eval mode under ``no_grad`` (nothing is recorded
on the tape), in batches so memory stays bounded.

Progress: with ``verbose=1`` each epoch gets one line, rewritten in place with ``\\r`` while it trains
(batches done, running loss and metrics, examples per second) when the output is a terminal; when the output is
a file or a pipe only the finished line is written, so logs stay readable. ``verbose=0`` prints nothing.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from . import tape
from .tensor import Tensor

__all__ = ["fit", "evaluate", "predict", "History", "accuracy"]


class History:
    """Per-epoch records of ``fit``, as Keras' ``History``.

    ``history``: dict name -> list with one value per epoch, e.g. ``{"loss": [...], "accuracy": [...],
    "val_loss": [...], "val_accuracy": [...]}``; ``epoch``: the epoch numbers (0-based, as Keras);
    ``h["loss"]`` is ``h.history["loss"]``.
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def _record(self, epoch, logs):
        self.epoch.append(epoch)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)

    def __getitem__(self, name):
        return self.history[name]

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History({len(self.epoch)} epochs; last: {last})"


def accuracy(output, target):
    """The fraction of rows whose largest output is the target class: mean(argmax(output, 1) == target).

    ``output`` (N, C) array of scores (logits or probabilities), ``target`` (N,) integer classes.
    """
    output, target = _as_array("output", output, "accuracy"), _as_array("target", target, "accuracy")
    if output.ndim != 2:
        raise ValueError(f"accuracy: expected outputs of shape (N, C) (one score per class), got {output.shape}")
    if target.shape != (len(output),):       # (N, 1) targets would broadcast to an (N, N) comparison
        raise ValueError(f"accuracy: expected target of shape ({len(output)},) (one class index per row of the "
                         f"outputs {output.shape}), got {target.shape}; for a regression loss pass metrics=()")
    return float(np.mean(output.argmax(axis=1) == target))


_METRICS = {"accuracy": accuracy, "acc": accuracy}


def _metric_functions(metrics):
    result = []
    for m in metrics or ():
        if isinstance(m, str):
            if m not in _METRICS:
                raise ValueError(f"fit: unknown metric {m!r}; known: {sorted(_METRICS)} or pass a function "
                                 f"f(output_array, target_array) -> float")
            result.append(("accuracy" if m == "acc" else m, _METRICS[m]))
        elif callable(m):
            result.append((getattr(m, "__name__", "metric"), m))
        else:
            raise TypeError(f"fit: a metric must be a name or a function, got {type(m).__name__}")
    return result


def _as_array(name, a, where):
    a = a.data if isinstance(a, Tensor) else np.asarray(a)
    if a.dtype.kind not in "iufb":
        raise TypeError(f"{where}: {name} must be numeric, got dtype {a.dtype}")
    return a


def _model_dtype(model):
    """The dtype of the model's first floating-point parameter, or None for a model without any."""
    for p in model.parameters():
        if p.data.dtype.kind == "f":
            return p.data.dtype
    return None


def _in_model_dtype(a, dtype):
    """A NumPy array or Python list of floats in the model's parameter ``dtype``, so that float64 data (NumPy's
    default) trains a float32 model as float32, instead of each layer raising its dtype TypeError.

    Integer and bool data keep their dtype (class indices, token ids), and a Tensor is taken as it is: its
    dtype was chosen on purpose, so a mismatch there is the layer's clear error, not a silent copy.
    """
    if isinstance(a, Tensor) or dtype is None:
        return a
    a = np.asarray(a)
    return a.astype(dtype, copy=False) if a.dtype.kind == "f" else a


def _check_xy(x, y, where, dtype=None):
    x, y = _in_model_dtype(x, dtype), _in_model_dtype(y, dtype)
    x, y = _as_array("x", x, where), _as_array("y", y, where)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{where}: x and y need a batch axis first, got shapes {x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{where}: x has {len(x)} examples but y has {len(y)}; they must match")
    if len(x) == 0:
        raise ValueError(f"{where}: no examples (x is empty)")
    return x, y


def _check_batch_size(batch_size, where):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


class _Progress:
    """One line per epoch, rewritten in place with \\r on a terminal (at most ~10 times a second)."""

    def __init__(self, verbose, stream):
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.live = verbose and bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_update = 0.0
        self.width = 0

    def update(self, text, final=False):
        if not self.verbose:
            return
        now = time.perf_counter()
        if final:
            pad = " " * max(0, self.width - len(text))
            self.stream.write(("\r" + text + pad if self.live else text) + "\n")
            self.stream.flush()
            self.width = 0
        elif self.live and now - self.last_update >= 0.1:
            self.stream.write("\r" + text + " " * max(0, self.width - len(text)))
            self.stream.flush()
            self.width = len(text)
            self.last_update = now


def fit(model, loss_fn, optimizer, x, y, epochs=1, batch_size=32, validation_data=None, metrics=("accuracy",),
        shuffle=True, seed=None, verbose=1, stream=None, initial_epoch=0, scheduler=None):
    """Train ``model`` on ``(x, y)`` and return a ``History``.

    model: a Module; its output for a batch is passed to ``loss_fn(output, target)``, which returns a scalar
        Tensor (e.g. ``F.cross_entropy``); ``optimizer``: e.g. ``tn.optim.Adam(model.parameters())``.
    x, y: arrays, Python lists or Tensors with the examples along axis 0. Each batch reaches the model as a
        Tensor ``x[idx]`` and the loss as a Tensor ``y[idx]``. Floating-point NumPy arrays and lists are
        converted to the model's parameter dtype (float64 data trains a float32 model in float32); integer
        ones keep their dtype (class indices, token ids), and Tensors are used as they are (a Tensor of
        another floating dtype than the model's is the first layer's TypeError, as in PyTorch).
    epochs, batch_size: the last batch of an epoch may be smaller.
    validation_data: ``(x_val, y_val)``, evaluated after each epoch (``val_loss``, ``val_<metric>``).
    metrics: names ("accuracy") or functions ``f(output_array, target_array) -> float``; averaged over the
        epoch's batches weighted by batch size, from the outputs of the training forward passes themselves
        (so they lag the weights a little, as in Keras).
    shuffle, seed: a fresh permutation each epoch from ``np.random.default_rng(seed)``; fixed seed, same order.
    verbose: 1 prints one progress line per epoch, 0 nothing. ``stream``: where to print (default stdout).
    initial_epoch: as in Keras, to continue an earlier run: epochs ``initial_epoch .. epochs-1`` are trained
        (``fit(..., epochs=30, initial_epoch=25)`` trains 5 more, numbered 26/30 .. 30/30).
    scheduler: a learning-rate scheduler of ``optimizer`` (``tinynet.optim.lr_scheduler``), stepped once at the
        end of every epoch, as in PyTorch's loop; the history then also records each epoch's ``lr`` (the first
        parameter group's).

    The model is put in training mode (``model.train()``) for the epochs and left in training mode.
    """
    dtype = _model_dtype(model)
    x, y = _check_xy(x, y, "fit", dtype)
    batch_size = _check_batch_size(batch_size, "fit")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
    if not isinstance(initial_epoch, (int, np.integer)) or not 0 <= initial_epoch <= epochs:
        raise ValueError(f"fit: initial_epoch must be an integer in [0, epochs={epochs}], got {initial_epoch!r}")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
        validation_data = _check_xy(*validation_data, "fit (validation_data)", dtype)
    metric_fns = _metric_functions(metrics)
    rng = np.random.default_rng(seed)
    history = History()
    progress = _Progress(verbose, stream)
    n = len(x)
    n_batches = -(-n // batch_size)
    width = len(str(epochs))

    for epoch in range(initial_epoch, epochs):
        model.train()
        order = rng.permutation(n) if shuffle else np.arange(n)
        sums = {"loss": 0.0, **{name: 0.0 for name, _ in metric_fns}}
        seen = 0
        start = time.perf_counter()
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            xb, yb = Tensor(x[idx]), Tensor(y[idx])

            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            if not isinstance(loss, Tensor) or loss.size != 1:
                raise ValueError(f"fit: loss_fn must return a scalar Tensor, got "
                                 f"{getattr(loss, 'shape', type(loss).__name__)}")
            loss.backward()
            optimizer.step()

            k = len(idx)
            value = float(loss.data)
            if not np.isfinite(value):
                raise FloatingPointError(f"fit: the loss became {value} at epoch {epoch + 1}, batch {b + 1}; "
                                         f"try a smaller learning rate")
            sums["loss"] += value * k
            for name, fn in metric_fns:
                sums[name] += fn(out.data, yb.data) * k
            seen += k
            elapsed = time.perf_counter() - start
            logs = {name: s / seen for name, s in sums.items()}
            progress.update(_line(epoch, epochs, width, b + 1, n_batches, logs, seen / max(elapsed, 1e-9)))

        logs = {name: s / seen for name, s in sums.items()}
        speed = seen / max(time.perf_counter() - start, 1e-9)
        if validation_data is not None:
            val = evaluate(model, loss_fn, *validation_data, batch_size=max(batch_size, 256), metrics=metrics)
            model.train()
            logs.update({f"val_{name}": value for name, value in val.items()})
        if scheduler is not None:
            logs["lr"] = scheduler.get_last_lr()[0]                  # the lr this epoch trained with
            scheduler.step()
        history._record(epoch, logs)
        progress.update(_line(epoch, epochs, width, n_batches, n_batches, logs, speed), final=True)
    return history


def _line(epoch, epochs, width, done, total, logs, speed):
    parts = [f"Epoch {epoch + 1:>{width}}/{epochs}", f"{done:>{len(str(total))}}/{total} batches"]
    parts += [f"{name} {value:.4g}" if name == "lr" else f"{name} {value:.4f}" for name, value in logs.items()]
    parts.append(f"{speed:,.0f} ex/s")
    return "  ".join(parts)


def evaluate(model, loss_fn, x, y, batch_size=256, metrics=("accuracy",)):
    """The mean loss and metrics of ``model`` on ``(x, y)``, in eval mode, under ``no_grad``, in batches.

    Returns a dict, e.g. ``{"loss": 0.08, "accuracy": 0.98}`` (averages over examples, weighted by batch size).
    ``loss_fn`` may be None (then only the metrics are returned). The model's training mode is restored.
    ``x`` and ``y`` are converted as in ``fit``: floating-point NumPy arrays and lists take the model's parameter
    dtype; integer ones and Tensors are kept.
    """
    x, y = _check_xy(x, y, "evaluate", _model_dtype(model))
    batch_size = _check_batch_size(batch_size, "evaluate")
    metric_fns = _metric_functions(metrics)
    sums = {**({"loss": 0.0} if loss_fn is not None else {}), **{name: 0.0 for name, _ in metric_fns}}
    with _eval_mode(model), tape.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = Tensor(x[start:start + batch_size]), Tensor(y[start:start + batch_size])
            out = model(xb)
            k = len(xb.data)
            if loss_fn is not None:
                sums["loss"] += float(loss_fn(out, yb).data) * k
            for name, fn in metric_fns:
                sums[name] += fn(out.data, yb.data) * k
    return {name: s / len(x) for name, s in sums.items()}


def predict(model, x, batch_size=256):
    """``model``'s outputs for every example of ``x`` as one NumPy array, in eval mode, under ``no_grad``
    (nothing is recorded on the tape), ``batch_size`` examples at a time. The training mode is restored.
    A floating-point NumPy array or list ``x`` takes the model's parameter dtype, as in ``fit``; an integer one
    and a Tensor are kept."""
    x = _as_array("x", _in_model_dtype(x, _model_dtype(model)), "predict")
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"predict: x needs a non-empty batch axis first, got shape {x.shape}")
    batch_size = _check_batch_size(batch_size, "predict")
    outputs = []
    with _eval_mode(model), tape.no_grad():
        for start in range(0, len(x), batch_size):
            out = model(Tensor(x[start:start + batch_size]))
            if not isinstance(out, Tensor):
                raise TypeError(f"predict: the model returned a {type(out).__name__}, expected a Tensor")
            outputs.append(out.data)
    return np.concatenate(outputs, axis=0)


class _eval_mode:
    """Put every sub-module in eval mode for the block, then restore each one's own previous mode."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc):
        for m, mode in self.modes:
            object.__setattr__(m, "training", mode)
        return False
