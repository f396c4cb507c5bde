"""The chord vocabulary against mir_eval (the oracle for Harte parsing) and hand-derived answers."""

from __future__ import annotations

from pathlib import Path

import mir_eval
import numpy as np
import pytest

from dlmir.chords import MAJMIN, QUALITIES, VOCAB, ChordVocabulary, parse, reduce, template, transpose
from dlmir.errors import AnnotationError, ParameterError

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mir_eval_chord"


def test_sizes_and_order():
    assert len(VOCAB) == 157 and len(MAJMIN) == 25
    assert VOCAB.label(0) == "C:maj" and VOCAB.label(13 * 1 + 3) == "C#:min7" and VOCAB.label(156) == "N"
    assert MAJMIN.label(2 * 9 + 1) == "A:min" and MAJMIN.no_chord == 24
    assert len(set(VOCAB.labels)) == 157


@pytest.mark.parametrize("label", VOCAB.labels)
def test_every_label_parses_with_mir_eval_and_template_matches(label):
    root, bitmap, _ = mir_eval.chord.encode(label)
    expected = np.zeros(12) if root < 0 else np.roll(bitmap, root)
    np.testing.assert_array_equal(template(label), expected)
    np.testing.assert_array_equal(VOCAB.templates[VOCAB.index(label)], expected)


def test_quality_intervals_match_mir_eval():
    for quality, intervals in QUALITIES.items():
        _, bitmap, _ = mir_eval.chord.encode(f"C:{quality}")
        assert tuple(np.flatnonzero(bitmap)) == intervals, quality


@pytest.mark.parametrize(
    ("label", "full", "majmin"),
    [
        ("C:maj(9)", "C:maj", "C:maj"),
        ("A:min/b3", "A:min", "A:min"),
        ("G:7(#9)", "G:7", "G:maj"),
        ("D:sus4(b7)", "D:sus4", "X"),
        ("C:(3,5)", "C:maj", "C:maj"),
        ("C:9", "C:7", "C:maj"),
        ("C:min(9)", "C:min", "C:min"),
        ("Bb:hdim7", "Bb:hdim7", "X"),
        ("E:min7/b7", "E:min7", "E:min"),
        ("Db:maj", "C#:maj", "C#:maj"),
        ("C:5", "X", "X"),
        ("C:(1)", "X", "X"),
        ("N", "N", "N"),
        ("X", "X", "X"),
        ("not a chord", "X", "X"),
    ],
)
def test_reduce(label, full, majmin):
    assert reduce(label) == full
    assert reduce(label, "majmin") == majmin


def test_transpose_round_trip_and_spelling():
    for label in VOCAB.labels + ["A:min/b3", "G:7(#9)", "Bb:maj(9)/5"]:
        for k in range(-12, 13):
            assert reduce(transpose(transpose(label, k), -k)) == reduce(label)
            if label != "N":
                assert pitch_set(transpose(label, k)) == {(p + k) % 12 for p in pitch_set(label)}
    assert transpose("B:7/3", 1) == "C:7/3"
    assert transpose("N", 5) == "N" and transpose("X", 5) == "X"
    assert VOCAB.transpose_index(VOCAB.index("A:min"), 3) == VOCAB.index("C:min")


def pitch_set(label):
    return set(np.flatnonzero(template(label)))


def test_errors():
    with pytest.raises(AnnotationError, match="cannot parse"):
        parse("H:maj")
    with pytest.raises(AnnotationError, match="does not reduce"):
        VOCAB.index("C:5")
    with pytest.raises(ParameterError):
        ChordVocabulary("jazz")
    with pytest.raises(ParameterError):
        VOCAB.label(157)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/data/mir_eval_chord is absent")
def test_every_fixture_label_reduces():
    labels = set()
    for lab in FIXTURES.glob("*.lab"):
        _, file_labels = mir_eval.io.load_labeled_intervals(str(lab))
        labels.update(file_labels)
    reduced = {lab: reduce(lab) for lab in labels}
    assert len(labels) > 50
    for lab, red in reduced.items():
        assert red == "X" or red in VOCAB.labels, (lab, red)
        if red not in ("X", "N"):  # the reduced chord keeps the root
            assert mir_eval.chord.encode(lab)[0] == mir_eval.chord.encode(red)[0]
