"""Hypothesis profiles.

* ``ci`` (chosen when the CI environment variable is set): derandomized, so every CI run draws the same examples;
  no deadline (finite differences are slow and timing is noisy); a small example count.
* ``dev`` (the default locally): random examples, no deadline.
* ``TINYNET_EXAMPLES=N`` sets the example count under either profile, e.g. a soak run:
  ``TINYNET_EXAMPLES=2000 python -m pytest tests/test_residual_property.py``.
"""
import os

from hypothesis import HealthCheck, settings

_examples = os.environ.get("TINYNET_EXAMPLES")
_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

settings.register_profile("ci", derandomize=True, database=None, print_blob=True,
                          max_examples=int(_examples or 15), **_common)
settings.register_profile("dev", max_examples=int(_examples or 30), **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
