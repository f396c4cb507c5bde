"""From chroma to chord segments: template matching, then Viterbi (or median) smoothing.

Every chroma variant (designed, learned 1-layer, 2-layer, regularised) goes through the same
decoder, so the comparison isolates the chroma:

1. score each frame against each chord template by their correlation (cosine similarity of the
   mean-removed vectors, so the score ignores both the scale and the offset of a chroma: a designed
   chroma, a log-compressed one and a softmax output are scored alike); the no-chord class ``N``
   scores the constant ``no_chord_threshold``, so a frame is N when no chord correlates better,
   and a flat or silent frame (no variation across pitch classes) is N (:func:`correlations`, in torch
   and differentiable, so that a learned chroma can be trained through it: ``loss='template'`` in
   :mod:`dlmir.train.losses`);
2. turn scores into per-frame class probabilities ``softmax(beta * score)``;
3. smooth: ``'viterbi'`` runs a self-transition-biased HMM
   (:func:`librosa.sequence.viterbi_discriminative` with :func:`librosa.sequence.transition_loop`),
   ``'median'`` median-filters the scores over ``median_frames`` frames before the arg-max, ``'none'``
   takes the frame-wise arg-max;
4. merge runs of equal labels into ``(start, end)`` intervals in seconds, boundaries half-way between
   frame centres (:mod:`dlmir.frames`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlmir.errors import ParameterError

METHODS = ("viterbi", "median", "none")


def vocabulary_templates(vocabulary: str = "majmin") -> tuple[np.ndarray, list[str]]:
    """Templates ``(n_classes, 12)`` and labels of a :class:`dlmir.chords.ChordVocabulary` (``N`` row zeros)."""
    from dlmir.chords import ChordVocabulary

    vocab = ChordVocabulary(vocabulary)
    return np.asarray(vocab.templates, dtype=np.float64), list(vocab.labels)


NO_CHORD_THRESHOLD = 0.3
"""Default correlation a chord must beat to be chosen over N."""
BETA = 10.0
"""Default inverse temperature turning correlations into class probabilities."""


def correlations(chroma: torch.Tensor, templates: torch.Tensor, *, no_chord_threshold: float = NO_CHORD_THRESHOLD):
    """Differentiable scores of chroma rows against chord templates (the decoder's step 1, in torch).

    Parameters
    ----------
    chroma : tensor ``(frames, 12)``.
    templates : tensor ``(n_classes, 12)``; an all-zero row is the no-chord class.

    Returns
    -------
    scores : tensor ``(frames, n_classes)``: the Pearson correlation of each frame with each template
    across the 12 pitch classes (0 for a flat frame), and ``no_chord_threshold`` for N.
    """
    templates = templates.to(chroma.dtype)
    is_n = ~templates.bool().any(dim=1)
    t = templates - templates.mean(dim=1, keepdim=True)
    t_norm = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    t = t / torch.where(t_norm > 0, t_norm, torch.ones_like(t_norm))
    c = chroma - chroma.mean(dim=1, keepdim=True)
    c_norm = torch.linalg.vector_norm(c, dim=1, keepdim=True)
    scale = chroma.abs().amax(dim=1, keepdim=True).clamp_min(1e-30)
    c = c / torch.where(c_norm > 1e-6 * scale, c_norm, torch.full_like(c_norm, float("inf")))  # flat -> 0
    scores = c @ t.T
    return torch.where(is_n[None, :], torch.full_like(scores, no_chord_threshold), scores)


def template_scores(
    chroma: np.ndarray, templates: np.ndarray, *, no_chord_threshold: float = NO_CHORD_THRESHOLD
) -> np.ndarray:
    """Correlation of each chroma frame with each chord template (:func:`correlations`, in float64).

    Parameters
    ----------
    chroma : array ``(12, frames)``
    templates : array ``(n_classes, 12)``; an all-zero row is the no-chord class, which scores
        ``no_chord_threshold`` everywhere.
    no_chord_threshold : the correlation a chord must beat to be chosen over N.

    Returns
    -------
    scores : array ``(n_classes, frames)``: Pearson correlation in ``[-1, 1]`` across the 12 pitch
        classes (0 for a flat frame), or ``no_chord_threshold`` for N.
    """
    chroma = np.asarray(chroma, dtype=np.float64)
    templates = np.asarray(templates, dtype=np.float64)
    if chroma.ndim != 2 or chroma.shape[0] != 12:
        raise ParameterError(f"chroma must have shape (12, frames), got {chroma.shape}")
    if templates.ndim != 2 or templates.shape[1] != 12:
        raise ParameterError(f"templates must have shape (n_classes, 12), got {templates.shape}")
    scores = correlations(
        torch.from_numpy(np.ascontiguousarray(chroma.T)),
        torch.from_numpy(templates),
        no_chord_threshold=no_chord_threshold,
    )
    return scores.numpy().T.copy()


def frames_to_segments(
    labels: list[str] | np.ndarray, *, sr: float, hop_length: int, duration: float | None = None
) -> tuple[np.ndarray, list[str]]:
    """Merge runs of equal frame labels into intervals ``(n, 2)`` in seconds and their labels.

    Frames follow :mod:`dlmir.frames`: frame ``i`` is centred at ``i * hop_length / sr`` and spans
    ``[(i - 1/2), (i + 1/2)) * hop_length / sr``, so a change of label between frames ``i - 1`` and ``i``
    is placed at the midpoint ``(i - 1/2) * hop_length / sr``; the first segment starts at 0 and the last
    ends at ``(n_frames - 1/2) * hop_length / sr``, or at ``duration`` (seconds, e.g. the audio's length)
    when given. :func:`dlmir.annotations.frame_labels` of the result gives ``labels`` back.
    """
    from dlmir.frames import frame_edges

    if len(labels) == 0:
        raise ParameterError("cannot segment an empty label sequence (0 frames)")
    labels = list(labels)
    edges = frame_edges(len(labels), sr=sr, hop_length=hop_length, duration=duration)
    starts = [0] + [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
    ends = starts[1:] + [len(labels)]
    intervals = np.array([[edges[s], edges[e]] for s, e in zip(starts, ends, strict=True)], dtype=np.float64)
    return intervals, [labels[s] for s in starts]


_VITERBI_BLOCK = 4096
"""Frames of log-posteriors converted to float64 ``(frames, classes)`` at a time by :func:`viterbi_loop`."""


def viterbi_loop(log_probs: np.ndarray, p_self: float) -> np.ndarray:
    """Most likely state path ``(frames,)`` int64 of a loop HMM over log-posteriors ``(n_states, frames)``.

    The HMM of :func:`decode_frames` (:func:`librosa.sequence.transition_loop`): self-transition probability
    ``p_self``, the rest spread evenly over the other states, uniform initial and marginal state probabilities.
    Its structure makes each frame ``O(n_states)``: the best predecessor of state ``j`` is ``j`` itself or the best
    state of the previous frame, so::

        value[j] <- max(value[j] + log(p_self), max(value) + log((1 - p_self) / (n - 1))) + log_probs[j, t]

    (ties to the lower state index, as librosa's arg-max), computed in float64 with the same additions as the
    straightforward ``O(n_states)`` recursion, so the values and the path are the same to the bit. Per frame it
    keeps one bool per state (stayed or came from the best state) and the best state's index: 157 classes x
    155,000 frames (1 h at hop 512 / 22050 Hz) is 24 MB. The rare frame where the best state itself may not
    stay (``p_self`` below ``1 / n_states``, infinite or NaN values) takes the general step.
    """
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 2 or log_probs.shape[1] == 0:
        raise ParameterError(f"log_probs must have shape (n_states, frames) with frames >= 1, got {log_probs.shape}")
    if not 0.0 < p_self < 1.0:
        raise ParameterError(f"p_self (self-transition probability) must be in (0, 1), got {p_self}")
    n, t_max = log_probs.shape
    if n == 1:
        return np.zeros(t_max, dtype=np.int64)
    tiny = np.finfo(np.float64).tiny
    log_self = np.float64(np.log(p_self + tiny))
    log_move = np.float64(np.log((1.0 - p_self) / (n - 1) + tiny))
    stay = np.empty((t_max, n), dtype=bool)  # stay[t, j]: j's best predecessor at frame t is j
    best = np.zeros(t_max, dtype=np.int64)  # otherwise it is best[t], the best state of frame t - 1 ...
    other = np.zeros(t_max, dtype=np.int64)  # ... or, for best[t] itself, other[t] (the runner-up)
    value = log_probs[:, 0].astype(np.float64)
    self_val = np.empty(n, dtype=np.float64)
    add_self = np.full(n, log_self)
    # state j stays where value[j] + log_self > move, or >= move for j below the best state m1 (the lower index
    # wins a tie); ">= move" is "> the float just below move", so one comparison with bounds[n - m1 : 2 n - m1]
    # (m1 floats below move, then move) decides every state
    bounds = np.empty(2 * n, dtype=np.float64)
    below, at_or_above = bounds[:n], bounds[n:]
    for b0 in range(1, t_max, _VITERBI_BLOCK):
        block = log_probs[:, b0 : b0 + _VITERBI_BLOCK].T.astype(np.float64, order="C")  # (frames, n) rows
        for i in range(block.shape[0]):
            t = b0 + i
            m1 = value.argmax()  # np.intp: the first of equal maxima
            move = value[m1] + log_move
            np.add(value, add_self, out=self_val)
            best[t] = m1
            if self_val[m1] > move:  # the best state stays (always, for p_self > 1/n and finite values)
                below.fill(math.nextafter(move, -math.inf))
                at_or_above.fill(move)
                np.greater(self_val, bounds[n - m1 : 2 * n - m1], out=stay[t])
                np.maximum(self_val, at_or_above, out=value)
            else:
                value = _loop_step(value, self_val, m1, move, log_move, stay[t], other, t)
            np.add(value, block[i], out=value)
    path = np.empty(t_max, dtype=np.int64)
    p = int(value.argmax())
    path[-1] = p
    for t in range(t_max - 1, 0, -1):
        if not stay[t, p]:
            p = int(best[t]) if p != best[t] else int(other[t])
        path[t - 1] = p
    return path


def _loop_step(
    value: np.ndarray,
    self_val: np.ndarray,
    m1: int,
    move: np.float64,
    log_move: np.float64,
    row: np.ndarray,
    other: np.ndarray,
    t: int,
) -> np.ndarray:
    """One frame of :func:`viterbi_loop` in general: ``m1`` (the best state) may move to the runner-up."""
    n = value.shape[0]
    states = np.arange(n)
    v1 = value[m1]
    value[m1] = -np.inf
    m2 = int(np.argmax(value))
    v2 = value[m2]
    value[m1] = v1
    from_state = np.full(n, m1)
    from_state[m1] = m2
    from_val = np.full(n, move)
    from_val[m1] = v2 + log_move
    take_self = (self_val > from_val) | ((self_val == from_val) & (states < from_state))
    row[:] = take_self
    row[m1] = take_self[m1] or m2 == m1
    other[t] = m2
    return np.where(take_self, self_val, from_val)


def decode_frames(
    chroma: np.ndarray,
    templates: np.ndarray,
    *,
    method: str = "viterbi",
    p_self: float = 0.9,
    beta: float = BETA,
    median_frames: int = 9,
    no_chord_threshold: float = NO_CHORD_THRESHOLD,
) -> np.ndarray:
    """Class index per frame ``(frames,)`` for ``chroma`` ``(12, frames)`` and ``templates`` ``(n_classes, 12)``."""
    import librosa

    if method not in METHODS:
        raise ParameterError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 < p_self < 1.0:
        raise ParameterError(f"p_self (self-transition probability) must be in (0, 1), got {p_self}")
    if median_frames < 1 or median_frames % 2 == 0:
        raise ParameterError(f"median_frames must be an odd number of frames >= 1, got {median_frames}")
    scores = template_scores(chroma, templates, no_chord_threshold=no_chord_threshold)
    if method == "median":
        from scipy.ndimage import median_filter

        scores = median_filter(scores, size=(1, median_frames), mode="nearest")
    if method in ("median", "none"):
        return scores.argmax(axis=0)
    logits = beta * scores
    prob = np.exp(logits - logits.max(axis=0, keepdims=True))
    prob /= prob.sum(axis=0, keepdims=True)
    transition = librosa.sequence.transition_loop(len(templates), p_self)
    return librosa.sequence.viterbi_discriminative(prob, transition)


def decode(
    chroma: np.ndarray,
    *,
    sr: float = 22050,
    hop_length: int = 512,
    vocabulary: str = "majmin",
    templates: np.ndarray | None = None,
    labels: list[str] | None = None,
    method: str = "viterbi",
    p_self: float = 0.9,
    beta: float = BETA,
    median_frames: int = 9,
    no_chord_threshold: float = NO_CHORD_THRESHOLD,
    duration: float | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Chord segments from a chromagram.

    Parameters
    ----------
    chroma : array ``(12, frames)``, one frame every ``hop_length`` samples at ``sr`` Hz.
    vocabulary : ``'majmin'`` (25 classes) or ``'full'`` (157), from :class:`dlmir.chords.ChordVocabulary`;
        ignored when ``templates`` and ``labels`` are given.
    method : ``'viterbi'`` | ``'median'`` | ``'none'`` (see the module docstring).
    p_self : HMM self-transition probability (Viterbi).
    beta : inverse temperature turning cosine scores into probabilities (Viterbi).
    median_frames : median-filter length in frames (odd).
    duration : the audio's length in seconds; the last segment ends there (default: half a hop after the
        last frame's centre; see :func:`frames_to_segments`).

    Returns
    -------
    intervals : array ``(n_segments, 2)``, start and end in seconds
    labels : list of ``n_segments`` Harte labels
    """
    if (templates is None) != (labels is None):
        raise ParameterError("pass both templates and labels, or neither (to use a vocabulary)")
    if templates is None:
        templates, labels = vocabulary_templates(vocabulary)
    assert labels is not None
    if len(labels) != len(templates):
        raise ParameterError(f"{len(labels)} labels for {len(templates)} templates")
    idx = decode_frames(
        chroma,
        templates,
        method=method,
        p_self=p_self,
        beta=beta,
        median_frames=median_frames,
        no_chord_threshold=no_chord_threshold,
    )
    return frames_to_segments([labels[i] for i in idx], sr=sr, hop_length=hop_length, duration=duration)


__all__ = [
    "BETA",
    "METHODS",
    "NO_CHORD_THRESHOLD",
    "correlations",
    "decode",
    "decode_frames",
    "frames_to_segments",
    "template_scores",
    "viterbi_loop",
    "vocabulary_templates",
]
