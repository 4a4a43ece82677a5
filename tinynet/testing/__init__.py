"""``tinynet.testing``: Hypothesis strategies and the one helper every op test uses.

Importing it imports Hypothesis (``pip install tinynet[test]``); ``import tinynet`` does not.
A property test of an op, forward against NumPy and backward against finite differences::

    import numpy as np
    from hypothesis import given
    from tinynet.testing import arrays, check_op, shapes

    @given(x=arrays(shapes()))
    def test_my_tanh(x):
        check_op(lambda t: t.tanh(), np.tanh, x)

    test_my_tanh()        # Hypothesis runs the test on many drawn arrays; pytest calls it the same way
"""
from .strategies import (arrays, broadcastable_shapes, positive_arrays, random_array, scales, seeds,  # noqa: F401
                         separated_array, shapes)
from .check import check_op  # noqa: F401

__all__ = ["check_op", "arrays", "positive_arrays", "shapes", "broadcastable_shapes", "seeds", "scales",
           "random_array", "separated_array"]
