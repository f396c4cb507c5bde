"""Learnable networks built from the layer vocabulary, and their on-disk format."""

from __future__ import annotations

from dlmir.models.chords import ChordCNN, ChordNet
from dlmir.models.chroma import LearnedChroma, octave_matrix
from dlmir.models.fretboard import FretboardNet
from dlmir.models.instruments import InstrumentCNN, InstrumentMLP
from dlmir.models.io import (
    SHIPPED,
    build,
    default_model_dir,
    load,
    model_frontend,
    read_config,
    save,
    set_frontend,
    shipped_model_dir,
)
from dlmir.models.transcriber import Transcriber

Fretboard = FretboardNet
"""Alias of :class:`~dlmir.models.fretboard.FretboardNet`, the fretboard network (same class, same saved name)."""

__all__ = [
    "SHIPPED",
    "ChordCNN",
    "ChordNet",
    "Fretboard",
    "FretboardNet",
    "InstrumentCNN",
    "InstrumentMLP",
    "LearnedChroma",
    "Transcriber",
    "build",
    "default_model_dir",
    "load",
    "model_frontend",
    "octave_matrix",
    "read_config",
    "save",
    "set_frontend",
    "shipped_model_dir",
]
