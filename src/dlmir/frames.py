"""The one frame-to-time convention of dlmir, stated once (as :func:`librosa.frames_to_time`).

Every dlmir front end is *centred* (librosa's ``center=True``): frame ``i`` is centred at

    ``t_i = i * hop_length / sr`` seconds

and stands for the half-open span ``[t_i - hop_length / (2 sr), t_i + hop_length / (2 sr))``, clipped to
``[0, duration]``. So frame 0 covers ``[0, hop / (2 sr))``, the boundary between frames ``i - 1`` and ``i``
is the midpoint ``(i - 1/2) * hop_length / sr``, and ``n`` frames cover ``[0, (n - 1/2) * hop_length / sr)``
(or ``[0, duration)`` when the audio's duration is known).

Users of the convention: :func:`dlmir.annotations.frame_labels` (each frame takes the label sounding at its
centre :func:`frame_times`), :func:`dlmir.chords.decode.frames_to_segments` (segments start and end at
:func:`frame_edges`), and hence every ``.lab`` / JAMS file dlmir writes from frame-wise decisions. With it,
``frame_labels(*frames_to_segments(labels))`` returns ``labels`` unchanged.
"""

from __future__ import annotations

import numpy as np

from dlmir.errors import ParameterError

__all__ = ["frame_edges", "frame_times", "time_to_frames"]


def _check(sr: float, hop_length: int) -> None:
    if not sr > 0 or not hop_length > 0:
        raise ParameterError(f"sr and hop_length must be positive, got sr={sr}, hop_length={hop_length}")


def frame_times(n_frames: int, *, sr: float, hop_length: int) -> np.ndarray:
    """Centres ``(n_frames,)`` float64 of frames ``0 .. n_frames - 1`` in seconds: ``i * hop_length / sr``.

    Same numbers as ``librosa.frames_to_time(np.arange(n_frames), sr=sr, hop_length=hop_length)``.
    """
    if n_frames < 0:
        raise ParameterError(f"n_frames must be >= 0, got {n_frames}")
    _check(sr, hop_length)
    return np.arange(n_frames) * hop_length / float(sr)


def frame_edges(n_frames: int, *, sr: float, hop_length: int, duration: float | None = None) -> np.ndarray:
    """Boundaries ``(n_frames + 1,)`` float64 in seconds of the spans frames stand for.

    ``edges[0] = 0``, ``edges[i] = (i - 1/2) * hop_length / sr`` between frames ``i - 1`` and ``i``, and
    ``edges[n] = (n - 1/2) * hop_length / sr``, or ``duration`` when given. Every edge is clipped to
    ``[0, duration]``. Frame ``i`` spans ``[edges[i], edges[i + 1])``.
    """
    if n_frames < 1:
        raise ParameterError(f"n_frames must be >= 1, got {n_frames}")
    _check(sr, hop_length)
    edges = (np.arange(n_frames + 1) - 0.5) * hop_length / float(sr)
    edges[0] = 0.0
    if duration is not None:
        if not duration > 0:
            raise ParameterError(f"duration must be > 0 seconds, got {duration}")
        edges[-1] = float(duration)
        edges = np.minimum(edges, float(duration))
    return edges


def time_to_frames(times: np.ndarray | float, *, sr: float, hop_length: int) -> np.ndarray:
    """Index of the frame whose span holds each time (seconds): ``floor(t * sr / hop_length + 1/2)``, int64."""
    _check(sr, hop_length)
    return np.floor(np.asarray(times, dtype=np.float64) * float(sr) / hop_length + 0.5).astype(np.int64)
