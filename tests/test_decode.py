"""Chord decoding: template scores by hand, Viterbi/median smoothing, segments."""

from __future__ import annotations

import numpy as np
import pytest

from dlmir.chords.decode import decode, frames_to_segments, template_scores
from dlmir.errors import ParameterError

C_MAJ = np.zeros(12)
C_MAJ[[0, 4, 7]] = 1
A_MIN = np.zeros(12)
A_MIN[[9, 0, 4]] = 1
TEMPLATES = np.stack([C_MAJ, A_MIN, np.zeros(12)])
LABELS = ["C:maj", "A:min", "N"]


def test_template_scores_by_hand():
    chroma = np.stack([C_MAJ, np.zeros(12), np.ones(12), 5 * C_MAJ + 2], axis=1)  # (12, 4)
    s = template_scores(chroma, TEMPLATES, no_chord_threshold=0.3)
    # centred binary triads: variance 3 - 9/12 = 2.25; C:maj vs A:min share 2 notes: 2 - 9/12 = 1.25
    np.testing.assert_allclose(s[:, 0], [1.0, 1.25 / 2.25, 0.3])
    np.testing.assert_allclose(s[:, 1], [0.0, 0.0, 0.3])  # silence -> N wins
    np.testing.assert_allclose(s[:, 2], [0.0, 0.0, 0.3])  # flat -> N wins
    np.testing.assert_allclose(s[:, 3], s[:, 0])  # invariant to scale and offset


def test_frames_to_segments_places_changes_half_way_between_frame_centres():
    # hop 2 samples at 10 Hz: frames centred at 0, 0.2, 0.4, 0.6, 0.8 s (dlmir.frames); the change between
    # frames 1 and 2 is at their midpoint 0.3 s (not 0.4 s: a half-frame error), the last frame ends 0.1 s
    # after its centre
    intervals, labels = frames_to_segments(["N", "N", "C:maj", "C:maj", "C:maj"], sr=10, hop_length=2)
    np.testing.assert_allclose(intervals, [[0, 0.3], [0.3, 0.9]], rtol=0, atol=1e-12)
    assert labels == ["N", "C:maj"]
    intervals, _ = frames_to_segments(["N", "N", "C:maj", "C:maj", "C:maj"], sr=10, hop_length=2, duration=0.85)
    np.testing.assert_allclose(intervals, [[0, 0.3], [0.3, 0.85]], rtol=0, atol=1e-12)
    intervals, labels = frames_to_segments(["G:7"], sr=10, hop_length=2)
    np.testing.assert_allclose(intervals, [[0, 0.1]])


def test_frames_to_segments_hand_made_chord_changes_at_exact_seconds():
    # 22050 Hz, hop 512: a change at frame k is placed at (k - 1/2) * 512 / 22050 s; one frame off would
    # move it by 0.0232 s and half a frame by 0.0116 s, both far beyond the tolerance
    sr, hop = 22050, 512
    frames = ["N"] * 3 + ["C:maj"] * 40 + ["A:min"] * 17 + ["N"] * 2
    intervals, labels = frames_to_segments(frames, sr=sr, hop_length=hop, duration=61 * hop / sr)
    assert labels == ["N", "C:maj", "A:min", "N"]
    want = np.array([[0.0, 2.5], [2.5, 42.5], [42.5, 59.5], [59.5, 61.0]]) * hop / sr
    np.testing.assert_allclose(intervals, want, rtol=0, atol=1e-9)


def test_frame_labels_of_segments_is_identity():
    from dlmir.annotations import frame_labels

    rng = np.random.default_rng(0)
    for sr, hop in ((22050, 512), (44100, 441), (16000, 160), (10, 2)):
        labels = [
            ["N", "C:maj", "A:min", "G:7"][i] for i in np.repeat(rng.integers(4, size=30), rng.integers(1, 5, 30))
        ]
        intervals, seg_labels = frames_to_segments(labels, sr=sr, hop_length=hop)
        assert frame_labels(intervals, seg_labels, len(labels), sr=sr, hop_length=hop) == labels


@pytest.mark.parametrize("method", ["viterbi", "median"])
def test_smoothing_removes_isolated_frame_errors(method):
    frames = [C_MAJ] * 20 + [A_MIN] + [C_MAJ] * 20 + [A_MIN] * 20
    chroma = np.stack(frames, axis=1) + 0.05
    intervals, labels = decode(chroma, sr=22050, hop_length=512, templates=TEMPLATES, labels=LABELS, method=method)
    assert labels == ["C:maj", "A:min"]
    assert intervals[1, 0] == pytest.approx(40.5 * 512 / 22050)  # half-way between frames 40 and 41
    _, raw = decode(chroma, templates=TEMPLATES, labels=LABELS, method="none")
    assert raw == ["C:maj", "A:min", "C:maj", "A:min"]


def test_decode_errors():
    with pytest.raises(ParameterError):
        decode(np.zeros((11, 4)), templates=TEMPLATES, labels=LABELS)
    with pytest.raises(ParameterError):
        decode(np.zeros((12, 4)), templates=TEMPLATES, labels=LABELS, method="beam")
