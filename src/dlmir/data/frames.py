"""Frame targets and frame windows: what a chord dataset serves per frame, shared by training and evaluation.

- :func:`frame_targets`: the vocabulary class of the chord sounding at each frame's centre
  (:func:`dlmir.annotations.frame_labels`, the :mod:`dlmir.frames` convention; N outside the annotation),
  -1 for frames whose label reduces to X (unknown), which datasets skip.
- :func:`frame_templates`: the same frames as ``(12,)`` binary pitch-class templates of those classes.
- :func:`pad_context` / :func:`context_patch`: zero-padded windows of ``2 * context + 1`` frames around a
  centre frame, cut on access.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from dlmir.chords.vocabulary import UNKNOWN, ChordVocabulary, reduce

__all__ = ["context_patch", "frame_targets", "frame_templates", "pad_context"]


def _vocabulary(vocabulary: str | ChordVocabulary) -> ChordVocabulary:
    return vocabulary if isinstance(vocabulary, ChordVocabulary) else ChordVocabulary(vocabulary)


def frame_targets(
    intervals: np.ndarray,
    labels: Sequence[str],
    n_frames: int,
    *,
    sr: float,
    hop_length: int,
    vocabulary: str | ChordVocabulary = "full",
) -> tuple[np.ndarray, list[str]]:
    """Class index per frame of the chord at its centre, after :func:`dlmir.chords.reduce` to ``vocabulary``.

    Parameters
    ----------
    intervals : ``(n, 2)`` seconds; labels : ``n`` Harte labels.
    n_frames : frames of the features; sr (Hz), hop_length (samples) : their frame rate.
    vocabulary : ``"full"`` (157 classes), ``"majmin"`` (25) or a :class:`~dlmir.chords.ChordVocabulary`.

    Returns
    -------
    classes : ``(n_frames,)`` int64, the class index, or -1 where the label reduces to X (skip these frames).
    frame_labels : the ``n_frames`` raw labels at the frame centres (N outside the annotation).
    """
    from dlmir.annotations import frame_labels

    vocab = _vocabulary(vocabulary)
    per_frame = frame_labels(intervals, labels, n_frames, sr=sr, hop_length=hop_length)
    lookup: dict[str, int] = {}
    for lab in set(per_frame):
        reduced = reduce(lab, vocab.name)
        lookup[lab] = -1 if reduced == UNKNOWN else vocab.index(reduced)
    return np.array([lookup[lab] for lab in per_frame], dtype=np.int64), per_frame


def frame_templates(
    intervals: np.ndarray,
    labels: Sequence[str],
    n_frames: int,
    *,
    sr: float,
    hop_length: int,
    vocabulary: str | ChordVocabulary = "full",
) -> tuple[np.ndarray, np.ndarray]:
    """Templates ``(n_frames, 12)`` float32 of the classes of :func:`frame_targets` (N and X frames: zeros)
    and a ``(n_frames,)`` bool mask, False for X frames."""
    vocab = _vocabulary(vocabulary)
    classes, _ = frame_targets(intervals, labels, n_frames, sr=sr, hop_length=hop_length, vocabulary=vocab)
    valid = classes >= 0
    templates = np.zeros((n_frames, 12), dtype=np.float32)
    templates[valid] = np.asarray(vocab.templates, dtype=np.float32)[classes[valid]]
    return templates, valid


def pad_context(features: np.ndarray, context: int) -> np.ndarray:
    """Features ``(n_bins, frames)`` -> frame-major ``(frames + 2 * context, n_bins)`` float32 with
    ``context`` zero frames at each end, so that :func:`context_patch` can cut any frame's window."""
    padded = np.zeros((features.shape[1] + 2 * context, features.shape[0]), dtype=np.float32)
    padded[context : context + features.shape[1]] = features.T
    return padded


def context_patch(padded: np.ndarray, frame: int, context: int) -> torch.Tensor:
    """The patch ``(1, 2 * context + 1, n_bins)`` centred on ``frame`` of :func:`pad_context`'s output."""
    return torch.from_numpy(padded[frame : frame + 2 * context + 1].copy()).unsqueeze(0)
