"""Learnable networks built from the layer vocabulary, and their on-disk format."""

from __future__ import annotations

from dlmir.models.chroma import LearnedChroma, octave_matrix
from dlmir.models.io import build, default_model_dir, load, read_config, save

__all__ = ["LearnedChroma", "build", "default_model_dir", "load", "octave_matrix", "read_config", "save"]
