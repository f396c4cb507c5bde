"""Chord domain knowledge: the vocabulary (labels, templates, transposition, reduction) and decoding."""

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

__all__ = [
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
    "reduce",
    "template",
    "transpose",
]
