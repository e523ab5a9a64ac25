"""tagsmith's machine-learning core: data, cleaning, models, evaluation, CLI."""

__version__ = "0.1.0"
