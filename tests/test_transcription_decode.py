"""Tests for dlmir.transcription.decode: onset-gated note decoding on hand-made activation matrices."""

from __future__ import annotations

import numpy as np
import pytest

from dlmir.data.notes import NoteList, piano_roll
from dlmir.errors import ParameterError
from dlmir.transcription.decode import notes_from_activations, onset_peaks

FR = 100.0  # frames per second: frame k is centred at k / 100 s


def _rows(n_frames: int = 20) -> np.ndarray:
    return np.zeros((88, n_frames))


def _tuples(notes: NoteList) -> list[tuple[float, float, int, int]]:
    return [(round(a, 6), round(b, 6), int(p), int(v)) for a, b, p, v in
            zip(notes.onset, notes.offset, notes.pitch, notes.velocity, strict=True)]  # fmt: skip


def test_frames_only_one_block_is_one_note() -> None:
    f = _rows()
    f[60 - 21, 3:12] = 0.8
    notes = notes_from_activations(f, frame_rate=FR, min_duration_s=0.0)
    # frames 3..11 sound: onset 3/100 s, offset 12/100 s, velocity round(0.8 * 127) = 102
    assert _tuples(notes) == [(0.03, 0.12, 60, 102)]


def test_onset_gated_frames_without_onset_stay_silent() -> None:
    f, on = _rows(), _rows()
    f[64 - 21, 2:15] = 0.9  # sounding from frame 2 ...
    on[64 - 21, 5] = 0.7  # ... but the onset is at frame 5
    f[40 - 21, 4:10] = 0.9  # frames with no onset at all: no note
    notes = notes_from_activations(f, on, frame_rate=FR, min_duration_s=0.0)
    assert _tuples(notes) == [(0.05, 0.15, 64, round(0.9 * 127))]


def test_onset_peak_is_the_maximum_of_its_run() -> None:
    on = _rows()
    on[0, 4:8] = [0.6, 0.9, 0.95, 0.7]
    on[0, 12:14] = [0.8, 0.8]  # plateau: the first frame
    on[1, 3] = 0.4  # below threshold
    peaks = onset_peaks(on, 0.5)
    assert np.flatnonzero(peaks[0]).tolist() == [6, 12]
    assert not peaks[1].any()


def test_repeated_onset_splits_a_sustained_note() -> None:
    f, on = _rows(), _rows()
    f[50 - 21, 2:16] = 1.0
    on[50 - 21, [2, 9]] = 1.0
    notes = notes_from_activations(f, on, frame_rate=FR, min_duration_s=0.0)
    assert _tuples(notes) == [(0.02, 0.09, 50, 127), (0.09, 0.16, 50, 127)]


def test_offset_peak_ends_the_note() -> None:
    f, on, off = _rows(), _rows(), _rows()
    f[70 - 21, 2:18] = 1.0
    on[70 - 21, 2] = 1.0
    off[70 - 21, 10] = 0.9
    notes = notes_from_activations(f, on, off, frame_rate=FR, min_duration_s=0.0)
    assert _tuples(notes) == [(0.02, 0.10, 70, 127)]
    # without offsets the note lasts as long as the frames
    assert _tuples(notes_from_activations(f, on, frame_rate=FR, min_duration_s=0.0)) == [(0.02, 0.18, 70, 127)]


def test_onset_frame_counts_below_the_frame_threshold() -> None:
    f, on = _rows(), _rows()
    f[60 - 21, 4] = 0.2  # the onset frame itself is quiet
    f[60 - 21, 5:9] = 0.8
    on[60 - 21, 4] = 0.9
    notes = notes_from_activations(f, on, frame_rate=FR, min_duration_s=0.0)
    assert _tuples(notes) == [(0.04, 0.09, 60, round(np.mean([0.2, 0.8, 0.8, 0.8, 0.8]) * 127))]


def test_minimum_duration_drops_short_notes() -> None:
    f = _rows()
    f[60 - 21, 2:6] = 1.0  # 4 frames = 40 ms
    f[62 - 21, 8:14] = 1.0  # 6 frames = 60 ms
    notes = notes_from_activations(f, frame_rate=FR, min_duration_s=0.05)
    assert notes.pitch.tolist() == [62]
    assert len(notes_from_activations(f, frame_rate=FR, min_duration_s=0.04)) == 2


def test_rise_onsets_without_onset_activation() -> None:
    f = _rows(30)
    # a note, a dip below threshold, the note again: two notes
    f[60 - 21, 2:8] = 0.9
    f[60 - 21, 8] = 0.1
    f[60 - 21, 9:14] = 0.9
    # a sustained note whose activation jumps by 0.5 at frame 20 (a repeated note): split there
    f[67 - 21, 15:20] = 0.4
    f[67 - 21, 20:26] = 0.9
    # a slow rise (0.4, 0.5, 0.6) is one note, started where it crosses the threshold
    f[72 - 21, 3:10] = [0.2, 0.4, 0.5, 0.6, 0.6, 0.6, 0.6]
    notes = notes_from_activations(f, frame_rate=FR, frame_threshold=0.3, onset_threshold=0.3, min_duration_s=0.0)
    got = [(round(a, 6), round(b, 6), int(p)) for a, b, p in zip(notes.onset, notes.offset, notes.pitch, strict=True)]
    assert got == [(0.02, 0.08, 60), (0.04, 0.10, 72), (0.09, 0.14, 60), (0.15, 0.20, 67), (0.20, 0.26, 67)]
    # a jump smaller than onset_threshold keeps one note
    notes = notes_from_activations(f, frame_rate=FR, frame_threshold=0.3, onset_threshold=0.6, min_duration_s=0.0)
    assert [(round(a, 6), round(b, 6)) for a, b, p in zip(notes.onset, notes.offset, notes.pitch, strict=True)
            if p == 67] == [(0.15, 0.26)]  # fmt: skip


def test_piano_roll_round_trip_is_exact() -> None:
    """Notes on the frame grid -> piano_roll (dlmir.data.notes) -> decoder: the same notes back."""
    rng = np.random.default_rng(0)
    n = 40
    pitch = rng.integers(21, 109, n)
    start = rng.integers(0, 400, n)
    length = rng.integers(5, 40, n)
    # keep notes of one pitch apart (a gap of at least one frame)
    keep = []
    for i in np.argsort(start):
        if all(pitch[j] != pitch[i] or start[i] > start[j] + length[j] for j in keep):
            keep.append(i)
    keep = np.asarray(keep)
    ref = NoteList(start[keep] / FR, (start[keep] + length[keep]) / FR, pitch[keep], np.full(len(keep), 127))
    roll = piano_roll(ref, 460, FR)
    est = notes_from_activations(roll["frames"], roll["onsets"], frame_rate=FR, min_duration_s=0.0)
    assert len(est) == len(ref)
    np.testing.assert_allclose(est.onset, ref.onset, atol=1e-9)
    np.testing.assert_allclose(est.offset, ref.offset, atol=1e-9)
    np.testing.assert_array_equal(est.pitch, ref.pitch)
    np.testing.assert_array_equal(est.velocity, ref.velocity)


def test_torch_input_and_empty_result() -> None:
    torch = pytest.importorskip("torch")
    f = torch.zeros(88, 10)
    assert len(notes_from_activations(f, frame_rate=FR)) == 0
    f[0, 1:9] = 1.0
    assert notes_from_activations(f, frame_rate=FR).pitch.tolist() == [21]


def test_bad_input_raises() -> None:
    with pytest.raises(ParameterError, match="n_pitches, frames"):
        notes_from_activations(np.zeros(10), frame_rate=FR)
    with pytest.raises(ParameterError, match="must match"):
        notes_from_activations(np.zeros((88, 10)), np.zeros((88, 9)), frame_rate=FR)
    with pytest.raises(ParameterError, match="frame_rate"):
        notes_from_activations(np.zeros((88, 10)), frame_rate=0.0)
    with pytest.raises(ParameterError, match="NaN"):
        notes_from_activations(np.full((88, 10), np.nan), frame_rate=FR)
