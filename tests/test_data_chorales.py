"""Chorales: BWV 66.6 beat labels against a hand-checked list; MIDI timing equals label timing."""

from __future__ import annotations

import numpy as np
import pytest

from dlmir.data.chorales import (
    chorale_ids,
    chorale_labels,
    chorale_tune,
    generate_chorale,
    load_chorale,
    reduce_slice,
)
from dlmir.errors import ParameterError

# BWV 66.6 (F# minor), first 16 quarter-note beats, from its chordified slices (lowest note first):
# 0: A3 E4 C#5 | G#3 B3 E4 B4 (A, E, half each -> first)  1: F#3 C#4 F#4 A4  2: G#3 B3 E4 B4
# 3: A3 E4 C#5  4: G#3 B3 E4 E5  5: A-E-C# | C#3 E4 A4 C#5  6: E3 E4 G#4 B4 | E3 D4 G#4 B4 (E, E7 -> first)
# 7: A2 C#4 E4 A4  8: E#3 C#4 G#4 C#5 (C# major)  9: F#3 C#4 F#4 A4 | B2 D4 G#4 B4 (F#m, G#dim -> first)
# 10: C#3 C#4 E#4 G#4 | C#3 B3 E#4 G#4 (C#, C#7 -> first)  11-12: F# minor
# 13: G#3 B3 F#4 B4 (G#m7 without fifth) | F#3 B3 F#4 B4 (dyad: unreducible)
# 14: G#3 B3 E4 B4 | A3 B3 E4 B4 (E, A:sus2 -> first)  15: B3 D#4 F#4 | B2 A3 D#4 F#4 (B, B7 -> first)
BWV66_6 = [
    ((0, 1), "A:maj"),
    ((1, 2), "F#:min"),
    ((2, 3), "E:maj"),
    ((3, 4), "A:maj"),
    ((4, 5), "E:maj"),
    ((5, 6), "A:maj"),
    ((6, 7), "E:maj"),
    ((7, 8), "A:maj"),
    ((8, 9), "C#:maj"),
    ((9, 10), "F#:min"),
    ((10, 11), "C#:maj"),
    ((11, 13), "F#:min"),
    ((13, 14), "Ab:min7"),
    ((14, 15), "E:maj"),
    ((15, 16), "B:maj"),
]


def test_corpus_has_371_chorales() -> None:
    assert len(chorale_ids()) == 371


def test_bwv66_6_hand_checked_labels() -> None:
    intervals, labels = chorale_labels(load_chorale("bach/bwv66.6"), max_beats=16)
    assert labels == [lab for _, lab in BWV66_6]
    np.testing.assert_array_equal(intervals, np.array([iv for iv, _ in BWV66_6], dtype=float))


def test_reduce_slice_rules() -> None:
    assert reduce_slice([57, 64, 73]) == "A:maj"
    assert reduce_slice([57, 61, 64, 67]) == "A:7"
    assert reduce_slice([46, 62, 65, 67]) == "Bb:maj6"  # = G:min7; the bass picks the root
    assert reduce_slice([43, 58, 62, 65]) == "G:min7"
    assert reduce_slice([54, 59, 66, 71]) is None  # dyad
    assert reduce_slice([57, 61, 64, 71]) is None  # A C# E B: passing tone, not in the vocabulary


def test_midi_timing_matches_labels() -> None:
    p = generate_chorale("bach/bwv66.6", seed=[0, 1], max_beats=16)
    bpm = p.midi.get_tempo_changes()[1][0]
    spq = 60.0 / bpm
    assert 60 <= bpm <= 96
    np.testing.assert_allclose(p.intervals[:-1], np.array([iv for iv, _ in BWV66_6]) * spq, atol=1e-3)
    starts = sorted({round(n.start / spq, 6) for inst in p.midi.instruments for n in inst.notes})
    assert starts[0] == 0.0 and max(starts) < 16
    assert p.labels[-1] == "N" and p.duration == pytest.approx(16 * spq + 1.0, abs=1e-3)
    assert len(p.midi.instruments) == 4


# The Passion chorale ("Herzlich tut mich verlangen"), set by Bach under three titles (music21's
# ChoraleListRKBWV): 21 "Herzlich tut mich verlangen" (BWV 153.5); 74, 80, 89, 98, 345 "O Haupt voll
# Blut und Wunden" (BWV 244.54, 244.44, 244.62, 244.15, 248.5); 270, 286, 340, 367 "Befiehl du deine
# Wege" (BWV 161.6, 270, 272, 271).
PASSION_CHORALE = (21, 74, 80, 89, 98, 270, 286, 340, 345, 367)


def test_settings_of_one_tune_share_a_family() -> None:
    assert {chorale_tune(n) for n in PASSION_CHORALE} == {"tune-021"}
    assert chorale_tune(1) != chorale_tune(2)  # "Aus meines Herzens Grunde" vs "Ich dank' dir, lieber Herre"
    assert len({chorale_tune(n) for n in range(1, 372)}) == 195
    with pytest.raises(ParameterError):
        chorale_tune(372)


def test_chorale_splits_group_every_setting_of_a_tune() -> None:
    from dlmir.data.build import plan_chords

    specs = [s for s in plan_chords("default") if s.source == "chorale"]
    splits: dict[str, set[str]] = {}
    for s in specs:
        assert s.piece == chorale_tune(s.params["number"])
        splits.setdefault(s.piece, set()).add(s.split)
    assert all(len(v) == 1 for v in splits.values())
    passion = {s.split for s in specs if s.params["number"] in PASSION_CHORALE}
    assert len(passion) == 1
