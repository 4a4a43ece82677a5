"""``tinynet.nn``: layers as Modules that own their Parameters, as ``torch.nn``.

Where to read each idea:
  module.py, parameter.py   Module (the tree of layers, state_dict) and Parameter
  container.py              Sequential
  residual.py               Residual(block): x + block(x)
  init.py                   Xavier / Kaiming initialisation
  linear.py, activation.py  Linear, ReLU, Tanh, Sigmoid, GELU
  conv.py, pooling.py       Conv2d, DepthwiseConv2d, PointwiseConv2d, SeparableConv2d; pooling layers
  conv_transpose.py         ConvTranspose2d (upsampling: the transpose of a Conv2d)
  flatten.py                Flatten
  attention.py              MultiHeadAttention and attention blocks
  normalization.py          LayerNorm
  batch_norm.py             BatchNorm1d, BatchNorm2d (running statistics are buffers)
  dropout.py                Dropout (train() / eval() switch it)
  embedding.py              Embedding
  utils.py                  nn.utils.clip_grad_norm_, clip_grad_value_
  transformer.py            pre-norm Transformer encoder blocks
"""
from . import init
from . import activation, attention, container, conv, flatten, linear, module, normalization, parameter
from . import batch_norm, conv_transpose, dropout, embedding, pooling, residual, transformer, utils
from .activation import *      # noqa: F401,F403
from .attention import *       # noqa: F401,F403
from .batch_norm import *      # noqa: F401,F403
from .container import *       # noqa: F401,F403
from .conv import *            # noqa: F401,F403
from .conv_transpose import *  # noqa: F401,F403
from .dropout import *         # noqa: F401,F403
from .embedding import *       # noqa: F401,F403
from .flatten import *         # noqa: F401,F403
from .linear import *          # noqa: F401,F403
from .module import *          # noqa: F401,F403
from .normalization import *   # noqa: F401,F403
from .parameter import *       # noqa: F401,F403
from .pooling import *         # noqa: F401,F403
from .residual import *        # noqa: F401,F403
from .transformer import *     # noqa: F401,F403
