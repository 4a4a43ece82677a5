"""``tinynet.functional`` (import as ``F``): stateless functions on Tensors, PyTorch's ``torch.nn.functional``.

Where to read each idea:
  activations.py    relu, tanh, sigmoid, gelu, leaky_relu, softplus, elu
  linear.py         linear: y = x Wᵀ + b
  softmax.py        softmax, log_softmax (stable, with the VJP derived)
  conv.py           im2col / col2im, conv2d, depthwise_conv2d, pointwise_conv2d
  pooling.py        max_pool2d, avg_pool2d, global_avg_pool2d
  attention.py      scaled_dot_product_attention
  normalization.py  layer_norm
  losses.py         cross_entropy, mse_loss
"""
# The modules first (under private names: ``F.linear`` and ``F.softmax`` are the functions, not the files).
from . import activations as _activations, attention as _attention, conv as _conv, linear as _linear
from . import losses as _losses, normalization as _normalization, pooling as _pooling, softmax as _softmax
from .activations import *      # noqa: F401,F403,E402
from .attention import *        # noqa: F401,F403
from .conv import *             # noqa: F401,F403
from .linear import *           # noqa: F401,F403
from .losses import *           # noqa: F401,F403
from .normalization import *    # noqa: F401,F403
from .pooling import *          # noqa: F401,F403
from .softmax import *          # noqa: F401,F403

__all__ = (_activations.__all__ + _linear.__all__ + _softmax.__all__ + _conv.__all__ + _pooling.__all__
           + _attention.__all__ + _normalization.__all__ + _losses.__all__)
