"""Onset detection: an onset novelty curve (a cascade), then peak picking.

``audio -> novelty (batch, frames) -> pick_peaks -> frames -> seconds``. The novelty is the designed spectral
flux :class:`dlmir.frontends.onset.OnsetStrength` (the same numbers as :func:`librosa.onset.onset_strength`), or
any module mapping ``(batch, samples)`` audio to a ``(batch, frames)`` or ``(batch, 1, frames)`` novelty -- a
learned one plugs in here unchanged. The peak picker is librosa's (:func:`librosa.util.peak_pick`; madmom's
``OnsetPeakPickingProcessor`` is the same idea): a frame is an onset when it is the maximum of a short window
around it, exceeds the moving mean of a longer window by ``delta``, and comes at least ``wait`` after the last
onset. With ``post_max=0, interpolate=False, offset=0`` :func:`detect_onsets` returns exactly
``librosa.onset.onset_detect(units='time')``.

dlmir's defaults differ in three things, all about *where* in time an onset is reported:

- ``post_max = 0.03`` s (one frame of look-ahead): librosa's ``post_max = 0`` accepts a frame that is the maximum
  of the frames *before* it, so an onset whose flux spreads over two frames is reported on the rising one;
- ``interpolate``: a parabola through the peak frame and its neighbours places the peak between frames;
- ``offset``: the designed novelty peaks about one frame after the onset that caused it (librosa's alignment of
  the spectral difference, :class:`~dlmir.frontends.onset.FrameAlign`, centres the *later* frame of each
  difference), so ``-1`` frame (:data:`DESIGNED_OFFSET_FRAMES`) is added.

Measured (22050 Hz, hop 512): on click and note tracks with known onsets dlmir's onsets lie within 9 ms of them
(librosa's: 15-18 ms late on average, up to 32 ms); on the hand-annotated madmom sample both find all 15 onsets
within 50 ms, dlmir's within 18 ms (F-measure 1.0 at a 25 ms tolerance, librosa's 0.4).

Times follow :mod:`dlmir.frames`: frame ``i`` is centred at ``i * hop_length / sr`` seconds.

Silence (a novelty without variation, e.g. digital zeros) gives an empty array, like librosa; NaN or infinite
samples raise :class:`~dlmir.errors.AudioError`; audio shorter than one frame (``n_fft`` samples) too.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
import torch

from dlmir.errors import AudioError, ParameterError

__all__ = [
    "DESIGNED_OFFSET_FRAMES",
    "designed_novelty",
    "detect_onsets",
    "novelty_rate",
    "onset_novelty",
    "peak_times",
    "pick_peaks",
]

DESIGNED_OFFSET_FRAMES = -1.0
"""Shift (in frames) from a peak of the designed novelty to the onset that caused it (measured; see above)."""


@functools.lru_cache(maxsize=8)
def designed_novelty(sr: float = 22050, hop_length: int = 512, n_fft: int = 2048) -> torch.nn.Module:
    """The designed onset novelty: :class:`~dlmir.frontends.onset.OnsetStrength` at ``sr`` Hz (built once, cached).

    Input ``(batch, samples)``; output ``(batch, 1, frames)`` at ``sr / hop_length`` frames per second.
    """
    from dlmir.frontends.onset import OnsetStrength

    return OnsetStrength(sr=float(sr), hop_length=int(hop_length), n_fft=int(n_fft)).eval()


def novelty_rate(module: Any) -> tuple[float, int]:
    """``(sr, hop_length)`` of a novelty module: its ``config`` (dlmir front ends) or ``sr``/``hop_length``
    attributes. Raises :class:`ParameterError` when it has neither."""
    config = getattr(module, "config", None)
    if isinstance(config, dict) and "sr" in config and "hop_length" in config:
        return float(config["sr"]), int(config["hop_length"])
    sr, hop = getattr(module, "sr", None), getattr(module, "hop_length", None)
    if sr is None or hop is None:
        raise ParameterError(
            f"novelty module {type(module).__name__} says neither its sampling rate nor its hop: give it a "
            "`config` dict with 'sr' and 'hop_length' (dlmir front ends and models have one) or `sr` and "
            "`hop_length` attributes"
        )
    return float(sr), int(hop)


def _as_mono(y: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"y must be one mono signal of shape (samples,), got shape {tuple(y.shape)}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"y must be floating point (float32 or float64), got {y.dtype}")
    if y.size == 0:
        raise AudioError("y is empty (0 samples)")
    if not np.all(np.isfinite(y)):
        raise AudioError("y contains NaN or infinite samples")
    return y


def onset_novelty(
    y: np.ndarray | torch.Tensor,
    sr: float,
    *,
    novelty: torch.nn.Module | None = None,
    hop_length: int = 512,
) -> tuple[np.ndarray, float]:
    """Onset novelty of one signal and its frame rate.

    Parameters
    ----------
    y : float ``(samples,)`` mono audio.
    sr : its sampling rate in Hz.
    novelty : ``None`` for the designed spectral flux (:func:`designed_novelty` at ``sr`` Hz and ``hop_length``),
        or a module mapping ``(batch, samples)`` to ``(batch, frames)`` or ``(batch, 1, frames)``; it reads audio at
        its own rate (:func:`novelty_rate`), ``y`` is resampled to it when it differs.
    hop_length : hop in samples of the designed novelty.

    Returns
    -------
    novelty : float64 ``(frames,)``; frame ``i`` is centred at ``i / fps`` seconds (:mod:`dlmir.frames`).
    fps : frames per second (``sr / hop_length`` of the novelty).

    Raises
    ------
    AudioError : ``y`` is empty, holds NaN/inf, or is shorter than one frame of the novelty.
    ParameterError : ``y`` is not a 1-d float signal; the module's rate is unknown; its output has a wrong shape.
    """
    y = _as_mono(y)
    if not sr > 0:
        raise ParameterError(f"sr must be a positive sampling rate in Hz, got {sr}")
    if novelty is None:
        module = designed_novelty(float(sr), int(hop_length))
        module_sr, hop = float(sr), int(hop_length)
    else:
        module = novelty
        module_sr, hop = novelty_rate(module)
        if module_sr != float(sr):
            import librosa

            y = librosa.resample(y.astype(np.float32), orig_sr=float(sr), target_sr=module_sr)
    param = next(itertools.chain(module.parameters(), module.buffers()), None)  # run where the module lives
    device = param.device if param is not None else torch.device("cpu")
    with torch.inference_mode():
        out = module(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None].to(device))
    if out.ndim == 3 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 2 or out.shape[0] != 1:
        raise ParameterError(
            f"a novelty module must map (batch, samples) to (batch, frames) or (batch, 1, frames); "
            f"{type(module).__name__} returned shape {tuple(out.shape)}"
        )
    curve = out[0].double().cpu().numpy()
    if not np.all(np.isfinite(curve)):
        raise AudioError(f"the novelty ({type(module).__name__}) holds NaN or infinite values")
    return curve, module_sr / hop


def _window_max(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``max(x[max(0, n - before) : n + after])`` for every ``n`` (``after >= 1``)."""
    padded = np.concatenate([np.full(before, -np.inf), x, np.full(after - 1, -np.inf)])
    return np.lib.stride_tricks.sliding_window_view(padded, before + after).max(axis=-1)


def _window_mean(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """``mean(x[max(0, n - before) : min(n + after, len(x))])`` for every ``n`` (``after >= 1``)."""
    n = np.arange(len(x))
    lo, hi = np.maximum(n - before, 0), np.minimum(n + after, len(x))
    csum = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    return (csum[hi] - csum[lo]) / (hi - lo)


def pick_peaks(
    novelty: np.ndarray,
    *,
    pre_max: int = 1,
    post_max: int = 1,
    pre_avg: int = 4,
    post_avg: int = 5,
    delta: float = 0.07,
    wait: int = 1,
) -> np.ndarray:
    """Frames ``(n,)`` int64 of the peaks of a novelty curve ``(frames,)``, as :func:`librosa.util.peak_pick`.

    Frame ``n`` is a peak when (1) ``x[n] = max(x[n - pre_max : n + post_max])``, (2) ``x[n] >=
    mean(x[n - pre_avg : n + post_avg]) + delta`` (windows cut at the ends), and (3) it comes more than ``wait``
    frames after the previous peak (earlier peaks win). All sizes are in frames; ``post_max``, ``post_avg >= 1``
    (the window holds ``n`` itself). ``delta`` is in the novelty's units (:func:`detect_onsets` scales the
    novelty to ``[0, 1]`` first). librosa's :func:`~librosa.onset.onset_detect` uses ``pre_max=0.03 s,
    post_max=0 s + 1 frame, pre_avg=0.1 s, post_avg=0.1 s + 1 frame, wait=0.03 s`` (1, 1, 4, 5, 1 frames at
    22050 Hz and hop 512) and ``delta=0.07``: the defaults.
    """
    x = np.asarray(novelty, dtype=np.float64)
    if x.ndim != 1:
        raise ParameterError(f"novelty must have shape (frames,), got {tuple(x.shape)}")
    for name, value, low in (("pre_max", pre_max, 0), ("post_max", post_max, 1), ("pre_avg", pre_avg, 0),
                             ("post_avg", post_avg, 1), ("wait", wait, 0)):  # fmt: skip
        if isinstance(value, bool) or int(value) != value or value < low:
            raise ParameterError(f"{name} must be an integer >= {low} frames, got {value!r}")
    if x.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(np.isfinite(x)):
        raise ParameterError("novelty contains NaN or infinite values")
    pre_max, post_max, pre_avg, post_avg, wait = (int(v) for v in (pre_max, post_max, pre_avg, post_avg, wait))
    candidates = (x == _window_max(x, pre_max, post_max)) & (x >= _window_mean(x, pre_avg, post_avg) + delta)
    peaks: list[int] = []
    for n in np.flatnonzero(candidates):
        if not peaks or n > peaks[-1] + wait:
            peaks.append(int(n))
    return np.asarray(peaks, dtype=np.int64)


def peak_times(
    novelty: np.ndarray, peaks: np.ndarray, fps: float, *, interpolate: bool = True, offset: float = 0.0
) -> np.ndarray:
    """Seconds ``(n,)`` of peak frames ``peaks`` of ``novelty`` (``(frames,)`` at ``fps`` frames per second).

    Frame ``i`` is at ``i / fps`` (:mod:`dlmir.frames`). ``interpolate``: the vertex of the parabola through
    each peak and its two neighbours (moved by at most half a frame; plateaus and end frames stay put).
    ``offset``: added to every peak, in frames. Times are clipped at 0.
    """
    x = np.asarray(novelty, dtype=np.float64)
    pos = np.asarray(peaks, dtype=np.float64)
    if interpolate and len(pos):
        p = np.asarray(peaks, dtype=np.int64)
        inner = (p > 0) & (p < len(x) - 1)
        q = p[inner]
        left, mid, right = x[q - 1], x[q], x[q + 1]
        curv = left - 2.0 * mid + right
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(curv < 0, 0.5 * (left - right) / curv, 0.0)
        pos[inner] += np.clip(shift, -0.5, 0.5)
    return np.maximum((pos + offset) / float(fps), 0.0)


def _frames(seconds: float, fps: float, name: str) -> int:
    if not seconds >= 0:
        raise ParameterError(f"{name} must be >= 0 seconds, got {seconds!r}")
    return int(math.floor(seconds * fps))


def detect_onsets(
    y: np.ndarray | torch.Tensor,
    sr: float,
    *,
    novelty: torch.nn.Module | None = None,
    hop_length: int = 512,
    pre_max: float = 0.03,
    post_max: float = 0.03,
    pre_avg: float = 0.10,
    post_avg: float = 0.10,
    wait: float = 0.03,
    delta: float = 0.07,
    interpolate: bool = True,
    offset: float | None = None,
) -> np.ndarray:
    """Onset times in seconds of one signal: :func:`onset_novelty`, scaled to ``[0, 1]``, then :func:`pick_peaks`.

    Parameters
    ----------
    y : float ``(samples,)`` mono audio.
    sr : its sampling rate in Hz.
    novelty : ``None`` (the designed spectral flux at ``hop_length``) or a novelty module (see
        :func:`onset_novelty`).
    hop_length : hop in samples of the designed novelty.
    pre_max, post_max : seconds before / after a frame in which it must be the maximum (``post_max`` is
        rounded down to frames and the frame itself added, as librosa does; librosa's ``onset_detect`` has
        ``post_max=0``).
    pre_avg, post_avg : seconds before / after a frame of the moving mean it must exceed by ``delta``.
    wait : seconds after an onset in which no other is reported (the minimum distance between onsets).
    delta : threshold above the moving mean, on the novelty scaled to ``[0, 1]``.
    interpolate : place each peak between frames (parabolic interpolation; see :func:`peak_times`).
    offset : shift in frames from a novelty peak to its onset; ``None``: :data:`DESIGNED_OFFSET_FRAMES` for
        the designed novelty, ``0`` for a given module.

    Returns
    -------
    float64 ``(n_onsets,)`` seconds, increasing; empty for silence (a constant novelty).

    Raises
    ------
    AudioError : ``y`` is empty, holds NaN/inf, or is shorter than one frame (2048 samples for the designed
        novelty).
    ParameterError : a parameter is invalid.

    With ``post_max=0, interpolate=False, offset=0`` the result equals ``librosa.onset.onset_detect(y=y, sr=sr,
    hop_length=hop_length, units='time')``.
    """
    curve, fps = onset_novelty(y, sr, novelty=novelty, hop_length=hop_length)
    if offset is None:
        offset = DESIGNED_OFFSET_FRAMES if novelty is None else 0.0
    frames = {
        "pre_max": _frames(pre_max, fps, "pre_max"),
        "post_max": _frames(post_max, fps, "post_max") + 1,
        "pre_avg": _frames(pre_avg, fps, "pre_avg"),
        "post_avg": _frames(post_avg, fps, "post_avg") + 1,
        "wait": _frames(wait, fps, "wait"),
    }
    scaled = curve - curve.min()
    top = scaled.max()
    if not top > np.finfo(np.float64).tiny * 1e3:
        return np.zeros(0, dtype=np.float64)  # silence: nothing changes
    scaled /= top
    peaks = pick_peaks(scaled, delta=float(delta), **frames)
    return peak_times(scaled, peaks, fps, interpolate=interpolate, offset=float(offset))
