"""Runnable demos: ``python -m demos.deep_vs_residual`` and ``python -m demos.seed_model``."""
