"""The frame-to-time convention (dlmir.frames) against librosa and hand-derived seconds."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from dlmir.errors import ParameterError
from dlmir.frames import frame_edges, frame_times, time_to_frames


@pytest.mark.parametrize(("sr", "hop"), [(22050, 512), (44100, 441), (16000, 160), (8000, 1)])
def test_frame_times_are_librosas(sr, hop):
    want = librosa.frames_to_time(np.arange(37), sr=sr, hop_length=hop)
    np.testing.assert_array_equal(frame_times(37, sr=sr, hop_length=hop), want)


def test_frame_edges_by_hand():
    # hop 2 at 10 Hz: centres 0, 0.2, 0.4; frame spans [0, 0.1), [0.1, 0.3), [0.3, 0.5)
    np.testing.assert_allclose(frame_edges(3, sr=10, hop_length=2), [0, 0.1, 0.3, 0.5], atol=1e-12)
    np.testing.assert_allclose(frame_edges(3, sr=10, hop_length=2, duration=0.42), [0, 0.1, 0.3, 0.42], atol=1e-12)
    # a duration shorter than the frames' spans clips them
    np.testing.assert_allclose(frame_edges(3, sr=10, hop_length=2, duration=0.2), [0, 0.1, 0.2, 0.2], atol=1e-12)
    np.testing.assert_allclose(frame_edges(1, sr=10, hop_length=2), [0, 0.1])


def test_time_to_frames_is_the_frame_whose_span_holds_the_time():
    centres = frame_times(50, sr=22050, hop_length=512)
    np.testing.assert_array_equal(time_to_frames(centres, sr=22050, hop_length=512), np.arange(50))
    edges = frame_edges(50, sr=22050, hop_length=512)
    inside = (edges[:-1] + edges[1:]) / 2
    np.testing.assert_array_equal(time_to_frames(inside, sr=22050, hop_length=512), np.arange(50))
    assert int(time_to_frames(0.0116, sr=22050, hop_length=512)) == 0  # just before the 0.01161 s edge
    assert int(time_to_frames(0.0117, sr=22050, hop_length=512)) == 1


def test_bad_arguments_raise():
    with pytest.raises(ParameterError):
        frame_times(-1, sr=22050, hop_length=512)
    with pytest.raises(ParameterError):
        frame_edges(0, sr=22050, hop_length=512)
    with pytest.raises(ParameterError):
        frame_edges(3, sr=0, hop_length=512)
    with pytest.raises(ParameterError):
        frame_edges(3, sr=10, hop_length=2, duration=0)
