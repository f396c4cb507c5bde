"""Notes from frame-level activations: onset-gated decoding with a minimum duration.

:func:`notes_from_activations` turns per-pitch activations ``(n_pitches, frames)`` (probabilities of a learned
transcriber, or a designed salience's activations in ``[0, 1]``) into a :class:`~dlmir.data.notes.NoteList`.
Frame ``k`` is centred at ``k / frame_rate`` seconds (librosa's centred frames), and a note sounding in frames
``a .. b - 1`` has onset ``a / frame_rate`` and offset ``b / frame_rate``: exactly the note that
:func:`dlmir.data.notes.piano_roll` rolls back into those frames.

The rule, per pitch:

1. **Onsets.** With an onset activation, each run of consecutive frames above ``onset_threshold`` gives one onset,
   at the run's (first) maximum: an onset peak. Without one (the designed baseline), onsets come from the rise of
   the frame activation ``f`` (set to 0 below ``frame_threshold``): each run of frames where ``f`` increases gives
   one onset, at its first frame when ``f`` crosses the threshold there, else (the note already sounds) at its
   steepest frame when ``f[t] - f[t-1]`` there exceeds ``onset_threshold`` (a repeated note).
2. **Sustain.** A note started at onset frame ``a`` continues over the following frames while the frame
   activation stays above ``frame_threshold`` (the onset frame itself counts even below it); it ends at the
   first frame below, at the next onset of its pitch, or (with an offset activation) at an offset peak above
   ``offset_threshold``, whichever comes first.
3. **Minimum duration.** Notes shorter than ``min_duration_s`` are dropped.
4. **Velocity.** The mean frame activation over the note's frames (clipped to ``[0, 1]``) times 127, at least 1.

Frames above the threshold that no onset opened stay silent: the decoder is onset-gated, as Onsets and Frames
(Hawthorne et al., 2018) and basic-pitch decode.
"""

from __future__ import annotations

import numpy as np

from dlmir.data.notes import NoteList
from dlmir.errors import ParameterError

__all__ = ["notes_from_activations", "onset_peaks"]


def _as_roll(name: str, value: object, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)  # type: ignore[union-attr]
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise ParameterError(f"{name} must be (n_pitches, frames), got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ParameterError(f"{name} has shape {arr.shape}, the frame activations {shape}; they must match")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} holds NaN or infinite values")
    return arr


def onset_peaks(activation: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean ``(n_pitches, frames)``: per pitch, one True per run of frames above ``threshold``, at the run's
    first maximum."""
    act = np.asarray(activation, dtype=np.float64)
    above = act > threshold
    out = np.zeros_like(above)
    for p in np.flatnonzero(above.any(axis=1)):
        row = above[p]
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        for s, e in zip(starts, stops, strict=True):
            out[p, s + int(np.argmax(act[p, s:e]))] = True
    return out


def _rise_onsets(f: np.ndarray, frame_threshold: float, onset_threshold: float) -> np.ndarray:
    """Onsets from the rise of the frame activation (``onsets=None``): per run of frames where the thresholded
    activation increases, one onset at its first frame when the run starts where the activation crosses the
    threshold, else at its steepest frame when that rise exceeds ``onset_threshold`` (a repeated note)."""
    gated = np.where(f > frame_threshold, f, 0.0)
    rise = np.diff(gated, axis=1, prepend=0.0)
    out = np.zeros(f.shape, dtype=bool)
    for p in np.flatnonzero((rise > 0).any(axis=1)):
        edges = np.diff(np.concatenate([[0], (rise[p] > 0).astype(np.int8), [0]]))
        for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            if s == 0 or gated[p, s - 1] == 0:  # the activation crosses the threshold here
                out[p, s] = True
            else:
                k = s + int(np.argmax(rise[p, s:e]))
                out[p, k] = rise[p, k] > onset_threshold
    return out


def notes_from_activations(
    frames: np.ndarray,
    onsets: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
    frame_rate: float = 22050 / 256,
    *,
    frame_threshold: float = 0.5,
    onset_threshold: float = 0.5,
    offset_threshold: float = 0.5,
    min_duration_s: float = 0.05,
    min_pitch: int = 21,
) -> NoteList:
    """Notes from activations (module docstring for the rule).

    Parameters
    ----------
    frames : array ``(n_pitches, n_frames)``
        Frame activations in ``[0, 1]`` (a learned model's sigmoid; a designed salience's activations). Row
        ``i`` is MIDI ``min_pitch + i``. Torch tensors are accepted.
    onsets, offsets : arrays of the same shape, or None
        Onset and offset activations in ``[0, 1]``. ``onsets=None`` derives onsets from the rise of ``frames``;
        ``offsets=None`` ends notes only where the frame activation falls.
    frame_rate : float
        Frames per second (``sr / hop_length``); frame ``k`` is centred at ``k / frame_rate`` s.
    frame_threshold, onset_threshold, offset_threshold : float
        Activations must be strictly above these.
    min_duration_s : float
        Shorter notes are dropped (seconds).
    min_pitch : int
        MIDI number of row 0 (21 = A0 for the piano's 88 keys).

    Returns
    -------
    NoteList, times in seconds from the first frame's centre (frame 0 = time 0).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.zeros((88, 10)); f[60 - 21, 2:7] = 0.9
    >>> n = notes_from_activations(f, frame_rate=10.0)
    >>> n.onset.tolist(), n.offset.tolist(), n.pitch.tolist(), n.velocity.tolist()
    ([0.2], [0.7], [60], [114])
    """
    f = _as_roll("frames", frames)
    if not frame_rate > 0:
        raise ParameterError(f"frame_rate must be > 0 frames per second, got {frame_rate}")
    for name, value in (("frame_threshold", frame_threshold), ("onset_threshold", onset_threshold),
                        ("offset_threshold", offset_threshold)):  # fmt: skip
        if not np.isfinite(value):
            raise ParameterError(f"{name} must be a finite number, got {value}")
    if min_duration_s < 0:
        raise ParameterError(f"min_duration_s must be >= 0 seconds, got {min_duration_s}")
    if onsets is None:
        on = _rise_onsets(f, frame_threshold, onset_threshold)
    else:
        on = onset_peaks(_as_roll("onsets", onsets, f.shape), onset_threshold)
    off = None if offsets is None else onset_peaks(_as_roll("offsets", offsets, f.shape), offset_threshold)
    sounding = f > frame_threshold
    n_frames = f.shape[1]
    min_frames = float(min_duration_s) * float(frame_rate)
    starts: list[int] = []
    stops: list[int] = []
    pitches: list[int] = []
    velocities: list[float] = []
    for p in np.flatnonzero(on.any(axis=1)):
        onset_frames = np.flatnonzero(on[p])
        # frames where a sounding note must stop: below threshold, or an offset peak
        stop_mask = ~sounding[p] if off is None else (~sounding[p] | off[p])
        stop_at = np.flatnonzero(stop_mask)
        for j, a in enumerate(onset_frames):
            nxt = onset_frames[j + 1] if j + 1 < len(onset_frames) else n_frames
            k = np.searchsorted(stop_at, a + 1)  # first stop strictly after the onset frame
            b = min(int(stop_at[k]) if k < len(stop_at) else n_frames, int(nxt))
            if b - a < min_frames - 1e-9:
                continue
            starts.append(int(a))
            stops.append(b)
            pitches.append(int(p) + int(min_pitch))
            velocities.append(float(np.clip(f[p, a:b], 0.0, 1.0).mean()))
    if not starts:
        return NoteList.empty()
    vel = np.maximum(1, np.rint(np.asarray(velocities) * 127.0))
    rate = float(frame_rate)
    return NoteList(np.asarray(starts) / rate, np.asarray(stops) / rate, np.asarray(pitches), vel.astype(np.int64))
