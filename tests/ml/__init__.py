"""Tests of the machine-learning core: data, models, evaluation and the ``python -m ml`` commands."""
