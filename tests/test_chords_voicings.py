"""Tests for dlmir.chords.voicings: pitch classes against the vocabulary, hand-known guitar shapes."""

from __future__ import annotations

import numpy as np
import pytest

from dlmir.chords import QUALITIES, VOCAB, chord_label, parse, pitch_classes, template
from dlmir.chords.voicings import (
    GUITAR_TUNING,
    close_voicing,
    guitar_pitches,
    guitar_voicing,
    guitar_voicings,
    open_voicing,
)
from dlmir.errors import ParameterError

CHORDS = [lab for lab in VOCAB.labels if lab != "N"]


@pytest.mark.parametrize("label", CHORDS[::7])
def test_close_and_open_voicings_sound_exactly_the_chord(label: str) -> None:
    expected = set(pitch_classes(label))
    for inversion in range(4):
        close = close_voicing(label, inversion=inversion)
        assert {p % 12 for p in close} == expected
        assert max(close) - min(close) < 12 + 12 * (inversion > 0)
        spread = open_voicing(label, inversion=inversion)
        assert {p % 12 for p in spread} == expected
        assert max(spread) - min(spread) > 12


def test_close_voicing_hand_values() -> None:
    assert close_voicing("C:maj") == [60, 64, 67]
    assert close_voicing("C:maj7", inversion=1) == [64, 67, 71, 72]
    assert close_voicing("A:min", octave=3) == [57, 60, 64]
    assert open_voicing("C:maj") == [48, 55, 64]


@pytest.mark.parametrize(
    ("label", "shape"),
    [
        ("C:maj", (None, 3, 2, 0, 1, 0)),
        ("G:maj", (3, 2, 0, 0, 0, 3)),
        ("E:maj", (0, 2, 2, 1, 0, 0)),
        ("A:min", (None, 0, 2, 2, 1, 0)),
        ("D:maj", (None, None, 0, 2, 3, 2)),
        ("E:min", (0, 2, 2, 0, 0, 0)),
        ("A:7", (None, 0, 2, 0, 2, 0)),
    ],
)
def test_guitar_open_chords_match_the_chord_book(label: str, shape: tuple) -> None:
    assert guitar_voicing(label) == shape


def test_every_vocabulary_chord_has_a_playable_guitar_shape() -> None:
    for label in CHORDS:
        root, intervals, _ = parse(label)
        shapes = guitar_voicings(label)
        assert shapes, label
        for frets in shapes[:3]:
            pitches = guitar_pitches(frets)
            assert len(pitches) >= 4
            assert pitches[0] % 12 == root  # root in the bass
            pcs = {p % 12 for p in pitches}
            assert pcs <= set(pitch_classes(label))
            needed = {(root + i) % 12 for i in intervals if not (len(intervals) >= 4 and i == 7)}
            assert needed <= pcs
            fretted = [f for f in frets if f]
            assert not fretted or max(fretted) - min(fretted) < 4


def test_guitar_pitches_and_errors() -> None:
    assert guitar_pitches((None, 3, 2, 0, 1, 0)) == [48, 52, 55, 60, 64]
    assert guitar_pitches((0,) * 6) == list(GUITAR_TUNING)
    with pytest.raises(ParameterError, match="6 frets"):
        guitar_pitches((0, 1, 2))
    with pytest.raises(ParameterError):
        close_voicing("N")


def test_close_and_inversions_hand_values() -> None:
    assert close_voicing("C:maj") == [60, 64, 67]  # C4 E4 G4
    assert close_voicing("A:min7", inversion=1) == [72, 76, 79, 81]  # C5 E5 G5 A5
    assert close_voicing("G:7", octave=3, inversion=2) == [62, 65, 67, 71]  # D4 F4 G4 B4


def test_open_voicing_triad_spread() -> None:
    assert open_voicing("G:maj") == [55, 62, 71]  # G3 D4 B4: root, fifth, third + 12


def test_guitar_open_shapes_and_tuning() -> None:
    assert GUITAR_TUNING == (40, 45, 50, 55, 59, 64)
    assert guitar_voicing("C:maj") == (None, 3, 2, 0, 1, 0)
    assert guitar_voicing("E:min") == (0, 2, 2, 0, 0, 0)
    assert guitar_pitches((None, 3, 2, 0, 1, 0)) == [48, 52, 55, 60, 64]


@pytest.mark.parametrize("quality", list(QUALITIES))
def test_guitar_shapes_sound_the_template(quality: str) -> None:
    for root in (0, 4, 9):
        label = chord_label(root, quality)
        shapes = guitar_voicings(label)
        assert shapes, label
        want = template(label)
        for shape in shapes[:5]:
            pitches = guitar_pitches(shape)
            assert pitches[0] % 12 == root
            pcs = np.zeros(12, dtype=np.float32)
            pcs[[p % 12 for p in pitches]] = 1
            fifth = (root + 7) % 12
            if len(QUALITIES[quality]) == 4 and 7 in QUALITIES[quality]:
                pcs[fifth] = want[fifth]  # the fifth may be left out of 4-note chords
            np.testing.assert_array_equal(pcs, want)
