"""envlens: per-notebook reproducible Python environments."""

__version__ = "0.1.0"
