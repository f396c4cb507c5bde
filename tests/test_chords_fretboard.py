"""dlmir.chords.fretboard: canonical shapes, one-hot templates, pitch classes, tablature (hand-derived values)."""

from __future__ import annotations

import numpy as np
import pytest

from dlmir.chords import VOCAB, ChordVocabulary, parse, pitch_classes
from dlmir.chords.fretboard import (
    MAX_FRET,
    fretboard_shape,
    fretboard_templates,
    frets_to_pitch_classes,
    onehot_to_shape,
    shape_to_onehot,
    tab,
)
from dlmir.chords.voicings import GUITAR_TUNING
from dlmir.errors import ParameterError


def test_templates_are_valid_fretboards():
    t = fretboard_templates()
    assert t.shape == (157, 6, MAX_FRET + 2) and t.dtype == np.float32
    assert set(np.unique(t)) == {0.0, 1.0}
    np.testing.assert_array_equal(t.sum(axis=2), 1.0)  # exactly one state per string
    np.testing.assert_array_equal(t[VOCAB.no_chord, :, 0], 1.0)  # N: every string muted
    assert fretboard_templates(max_fret=15).shape == (157, 6, 17)
    assert fretboard_templates("majmin").shape == (25, 6, MAX_FRET + 2)


def test_templates_play_the_chord_fifth_may_drop_only_from_sevenths():
    t = fretboard_templates()
    for k, label in enumerate(VOCAB.labels):
        got = set(frets_to_pitch_classes(t[k]))
        want = set(pitch_classes(label))
        if got != want:
            quality = label.split(":")[1]
            fifth = (parse(label)[0] + 7) % 12
            assert quality in ("maj7", "min7", "7") and got == want - {fifth}, (label, got, want)
        if label != "N":  # the root is in the bass
            shape = onehot_to_shape(t[k])
            lowest = next(s for s in range(6) if shape[s] is not None)
            assert (GUITAR_TUNING[lowest] + shape[lowest]) % 12 == parse(label)[0], label


def test_templates_distinct_where_pitch_class_sets_differ():
    t = fretboard_templates().reshape(157, -1)
    for i in range(157):
        for j in range(i + 1, 157):
            if set(pitch_classes(VOCAB.labels[i])) != set(pitch_classes(VOCAB.labels[j])):
                assert not np.array_equal(t[i], t[j]), (VOCAB.labels[i], VOCAB.labels[j])
    assert len({row.tobytes() for row in t}) == 157  # with the root in the bass, all of them differ


@pytest.mark.parametrize(
    ("label", "shape", "pcs"),
    [
        ("C:maj", (None, 3, 2, 0, 1, 0), (0, 4, 7)),
        ("G:maj", (3, 2, 0, 0, 0, 3), (2, 7, 11)),
        ("A:min", (None, 0, 2, 2, 1, 0), (0, 4, 9)),
        ("E:min", (0, 2, 2, 0, 0, 0), (4, 7, 11)),
        ("D:maj", (None, None, 0, 2, 3, 2), (2, 6, 9)),
        ("C:7", (None, 3, 2, 3, 1, 0), (0, 4, 10)),  # the open C7: no G
        ("N", (None,) * 6, ()),
    ],
)
def test_hand_values(label, shape, pcs):
    assert fretboard_shape(label) == shape
    assert frets_to_pitch_classes(shape) == pcs
    onehot = fretboard_templates()[VOCAB.index(label)]
    np.testing.assert_array_equal(onehot, shape_to_onehot(shape))
    assert frets_to_pitch_classes(onehot) == pcs


def test_sixth_chords_keep_their_fifth_where_dropping_it_names_another_chord():
    # C:maj6 without G is {C, E, A} = A:min; C:min6 without G is {C, Eb, A} = A:dim
    assert set(frets_to_pitch_classes(fretboard_shape("C:maj6"))) == {0, 4, 7, 9}
    assert set(frets_to_pitch_classes(fretboard_shape("C:min6"))) == {0, 3, 7, 9}


def test_labels_are_reduced_first():
    assert fretboard_shape("C:maj/3") == fretboard_shape("C:maj")
    assert fretboard_shape("C:9") == fretboard_shape("C:7")
    assert ChordVocabulary("full").labels[0] == "C:maj"


def test_onehot_round_trip_and_state_layout():
    onehot = shape_to_onehot((None, 3, 2, 0, 1, 0))
    assert onehot[0, 0] == 1  # low E muted: state 0
    assert onehot[1, 4] == 1  # A string, fret 3: state 4
    assert onehot[3, 1] == 1  # G string open: state 1
    assert onehot_to_shape(onehot) == (None, 3, 2, 0, 1, 0)


def test_tab_of_c_to_g():
    expected = (
        "    C:maj     G:maj\n"
        "e|----0----|----3----|\n"
        "B|----1----|----0----|\n"
        "G|----0----|----0----|\n"
        "D|----2----|----0----|\n"
        "A|----3----|----2----|\n"
        "E|----x----|----3----|"
    )
    assert tab(["C:maj", "G:maj"]) == expected
    shapes = [fretboard_shape("C:maj"), fretboard_shape("G:maj")]
    assert tab(shapes, labels=["C:maj", "G:maj"]) == expected
    assert tab([shape_to_onehot(s) for s in shapes], labels=["C:maj", "G:maj"]) == expected


def test_tab_two_digit_frets_and_no_labels():
    assert tab([(None, None, 10, 8, 7, 8)]).split("\n") == [
        "",
        "e|--8---|",  # width = 2 digits + 4; the odd dash goes right
        "B|--7---|",
        "G|--8---|",
        "D|--10--|",
        "A|--x---|",
        "E|--x---|",
    ]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: fretboard_shape("X"), "X"),
        (lambda: fretboard_shape("C:maj", max_fret=2), "max_fret"),
        (lambda: shape_to_onehot((0, 1, 2)), "6 frets"),
        (lambda: shape_to_onehot((0, 0, 0, 0, 0, 13)), "outside"),
        (lambda: frets_to_pitch_classes((0, 1)), "6 frets"),
        (lambda: tab(["C:maj"], labels=["C", "G"]), "labels"),
        (lambda: onehot_to_shape(np.zeros((5, 14))), "fretboard"),
    ],
)
def test_invalid_input_raises(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
