"""tinynet: a small, readable deep-learning framework in pure NumPy.

Reading order for a learner:
  tensor.py       Tensor: a NumPy array plus requires_grad / .grad, and the dtype policy
  tape.py         the tape: how ops are recorded and replayed backwards (no recursion, no toposort)
  tape_view.py    tn.Tape(): print the recorded entries, or draw them (to_dot)
  versions.py     the version counter: an in-place change after the forward pass makes backward refuse
  broadcast.py    unbroadcast: why a broadcast input's gradient is a sum
  ops/            every differentiable op, forward and backward side by side
  gradcheck.py    checking backward rules against finite differences (gradgradcheck: second derivatives)
  autograd.py     tn.grad: gradients as Tensors, and gradients of gradients (create_graph)
  functional/     F.relu, F.conv2d, F.scaled_dot_product_attention, losses, ...; functional/reference.py: the
                  textbook twin of every fused op (tn.use_reference() runs the twins instead)
  nn/             Modules: Linear, Conv2d, MultiHeadAttention, Residual, ...
  optim/          SGD, Adam, AdamW, param_groups, lr_scheduler
  training.py     fit / evaluate / predict;  summary.py: the model table;  serialization.py: save / load (.npz)
  diagnostics.py  gradient flow: per-layer gradient norms, and the residual theorem
  memory.py       why a NumPy training step page-faults, and keep_freed_memory(), the opt-in fix
"""
from .tensor import Tensor, tensor  # first: tensor.py binds Tensor's methods to the op modules it then loads
from . import diagnostics, functional, memory, nn, optim, training  # noqa: E402
from .autograd import grad
from .functional.reference_mode import use_reference
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .memory import keep_freed_memory
from .ops.einsum import einsum
from .ops.elementwise import maximum, minimum
from .ops.shaping import broadcast_to, concatenate, permute, stack, transpose, where
from .random import manual_seed
from .serialization import load, save
from .summary import summary
from .tape import enable_grad, is_grad_enabled, no_grad
from .tape_view import Tape
from .training import evaluate, fit, predict

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "grad", "no_grad", "enable_grad", "is_grad_enabled", "Tape", "gradcheck",
           "gradgradcheck", "GradcheckError", "concatenate", "stack", "where", "transpose", "permute", "broadcast_to",
           "maximum", "minimum", "einsum", "manual_seed", "save", "load", "summary", "fit", "evaluate", "predict",
           "keep_freed_memory", "use_reference", "functional", "nn", "optim", "training", "diagnostics", "memory"]
