"""Tests for dlmir.chords.voicings: pitch classes against the vocabulary, hand-known guitar shapes."""

from __future__ import annotations

import pytest

from dlmir.chords import VOCAB, parse, pitch_classes
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
