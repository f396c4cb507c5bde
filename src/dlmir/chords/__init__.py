"""Chord domain knowledge: the vocabulary (labels, templates, transposition, reduction), decoding and recognition.

``recognize``, ``recognize_file`` and ``ChordRecognizer`` (:mod:`dlmir.chords.recognition`) are imported on first
use, so ``import dlmir.chords`` stays free of torch.
"""

from __future__ import annotations

from dlmir.chords.vocabulary import (
    MAJMIN,
    NO_CHORD,
    QUALITIES,
    ROOTS,
    UNKNOWN,
    VOCAB,
    VOCABULARIES,
    ChordVocabulary,
    chord_label,
    parse,
    pitch_classes,
    reduce,
    template,
    transpose,
)

_LAZY = {"ChordRecognizer", "recognize", "recognize_file"}


def __getattr__(name: str) -> object:
    """``recognize``, ``recognize_file``, ``ChordRecognizer``: from :mod:`dlmir.chords.recognition` (imports torch)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module("dlmir.chords.recognition"), name)
    raise AttributeError(f"module 'dlmir.chords' has no attribute {name!r}")


__all__ = [
    "ChordRecognizer",
    "MAJMIN",
    "NO_CHORD",
    "QUALITIES",
    "ROOTS",
    "UNKNOWN",
    "VOCAB",
    "VOCABULARIES",
    "ChordVocabulary",
    "chord_label",
    "parse",
    "pitch_classes",
    "recognize",
    "recognize_file",
    "reduce",
    "template",
    "transpose",
]
