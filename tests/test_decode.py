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


def test_frames_to_segments():
    intervals, labels = frames_to_segments(["N", "N", "C:maj", "C:maj", "C:maj"], sr=10, hop_length=2)
    np.testing.assert_allclose(intervals, [[0, 0.4], [0.4, 1.0]])
    assert labels == ["N", "C:maj"]


@pytest.mark.parametrize("method", ["viterbi", "median"])
def test_smoothing_removes_isolated_frame_errors(method):
    frames = [C_MAJ] * 20 + [A_MIN] + [C_MAJ] * 20 + [A_MIN] * 20
    chroma = np.stack(frames, axis=1) + 0.05
    intervals, labels = decode(chroma, sr=22050, hop_length=512, templates=TEMPLATES, labels=LABELS, method=method)
    assert labels == ["C:maj", "A:min"]
    assert intervals[1, 0] == pytest.approx(41 * 512 / 22050)
    _, raw = decode(chroma, templates=TEMPLATES, labels=LABELS, method="none")
    assert raw == ["C:maj", "A:min", "C:maj", "A:min"]


def test_decode_errors():
    with pytest.raises(ParameterError):
        decode(np.zeros((11, 4)), templates=TEMPLATES, labels=LABELS)
    with pytest.raises(ParameterError):
        decode(np.zeros((12, 4)), templates=TEMPLATES, labels=LABELS, method="beam")
