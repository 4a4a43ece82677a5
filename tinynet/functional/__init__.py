"""``tinynet.functional`` (import as ``F``): stateless functions on Tensors, PyTorch's ``torch.nn.functional``.

Where to read each idea:
  activations.py    relu, tanh, sigmoid, gelu, leaky_relu, softplus, elu   (erf.py: erf/erfc, for the exact gelu)
  linear.py         linear: y = x Wᵀ + b
  softmax.py        softmax, log_softmax (stable, with the VJP derived)
  geometry.py       sliding windows: stride, padding ('same'/'valid'), dilation, output size (conv_output_size)
  im2col.py         im2col / col2im: every window as a column, and back (each the other's adjoint)
  conv.py           conv2d (im2col + one matrix product), pointwise_conv2d (1x1)
  depthwise.py      depthwise_conv2d (one filter per channel, tap by tap)
  conv_transpose.py conv_transpose2d: y = col2im(Wᵀ x), conv2d's backward as a layer
  pooling.py        max_pool2d, avg_pool2d, global_avg_pool2d
  attention.py      scaled_dot_product_attention
  normalization.py  layer_norm, batch_norm
  losses.py         cross_entropy, mse_loss
  dropout.py        dropout
  embedding.py      embedding

Two tiers: each op above whose backward rule is written on NumPy arrays only ("fused", for speed) has a twin in
reference.py (``tinynet.functional.reference``, import as R), built from differentiable ops only and proven equal
by tests/test_reference.py; ``tn.use_reference()`` (reference_mode.py) runs the twins instead. The others (dropout,
leaky_relu, softplus, elu, im2col, col2im, erf) have one short rule that also works on a Tensor g.
"""
# The modules first (under private names: ``F.linear`` and ``F.softmax`` are the functions, not the files).
from . import activations as _activations, attention as _attention, conv as _conv, depthwise as _depthwise
from . import im2col as _im2col, linear as _linear, losses as _losses, normalization as _normalization
from . import pooling as _pooling, reference, softmax as _softmax  # noqa: F401
from . import conv_transpose as _conv_transpose, dropout as _dropout, embedding as _embedding
from .activations import *      # noqa: F401,F403,E402
from .attention import *        # noqa: F401,F403
from .conv import *             # noqa: F401,F403
from .conv_transpose import *   # noqa: F401,F403
from .depthwise import *        # noqa: F401,F403
from .dropout import *          # noqa: F401,F403
from .embedding import *        # noqa: F401,F403
from .geometry import conv_output_size  # noqa: F401
from .im2col import *           # noqa: F401,F403
from .linear import *           # noqa: F401,F403
from .losses import *           # noqa: F401,F403
from .normalization import *    # noqa: F401,F403
from .pooling import *          # noqa: F401,F403
from .softmax import *          # noqa: F401,F403

__all__ = (_activations.__all__ + _linear.__all__ + _softmax.__all__ + _im2col.__all__ + _conv.__all__
           + _depthwise.__all__ + ["conv_output_size"] + _pooling.__all__ + _attention.__all__
           + _normalization.__all__ + _losses.__all__ + _conv_transpose.__all__ + _dropout.__all__
           + _embedding.__all__)
