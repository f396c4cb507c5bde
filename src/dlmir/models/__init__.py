"""Learnable networks built from the layer vocabulary, and their on-disk format."""

from __future__ import annotations

from dlmir.models.chroma import LearnedChroma, octave_matrix
from dlmir.models.io import build, default_model_dir, load, model_frontend, read_config, save, set_frontend

__all__ = [
    "LearnedChroma",
    "build",
    "default_model_dir",
    "load",
    "model_frontend",
    "octave_matrix",
    "read_config",
    "save",
    "set_frontend",
]
