"""``tinynet.functional`` (import as ``F``): stateless functions on Tensors, PyTorch's ``torch.nn.functional``.

Where to read each idea:
  activations.py    relu, tanh, sigmoid, gelu, leaky_relu, softplus, elu
  linear.py         linear: y = x Wᵀ + b
  softmax.py        softmax, log_softmax (stable, with the VJP derived)
  conv.py           im2col / col2im, conv2d, depthwise_conv2d, pointwise_conv2d
  conv_transpose.py conv_transpose2d: y = col2im(Wᵀ x), conv2d's backward as a layer
  pooling.py        max_pool2d, avg_pool2d, global_avg_pool2d
  attention.py      scaled_dot_product_attention
  normalization.py  layer_norm, batch_norm
  reference.py      R: the textbook version of every fused op, from differentiable ops only
  losses.py         cross_entropy, mse_loss
  dropout.py        dropout
  embedding.py      embedding
"""
# The modules first (under private names: ``F.linear`` and ``F.softmax`` are the functions, not the files).
from . import activations as _activations, attention as _attention, conv as _conv, linear as _linear
from . import losses as _losses, normalization as _normalization, pooling as _pooling, softmax as _softmax
from . import conv_transpose as _conv_transpose, dropout as _dropout, embedding as _embedding
from .activations import *      # noqa: F401,F403,E402
from .attention import *        # noqa: F401,F403
from .conv import *             # noqa: F401,F403
from .conv_transpose import *   # noqa: F401,F403
from .dropout import *          # noqa: F401,F403
from .embedding import *        # noqa: F401,F403
from .linear import *           # noqa: F401,F403
from .losses import *           # noqa: F401,F403
from .normalization import *    # noqa: F401,F403
from .pooling import *          # noqa: F401,F403
from .softmax import *          # noqa: F401,F403

__all__ = (_activations.__all__ + _linear.__all__ + _softmax.__all__ + _conv.__all__ + _pooling.__all__
           + _attention.__all__ + _normalization.__all__ + _losses.__all__ + _dropout.__all__
           + _embedding.__all__ + _conv_transpose.__all__)
