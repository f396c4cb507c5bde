"""The designed multi-pitch baseline: CQT -> log compression -> harmonic summation -> fundamental gate.

:class:`HarmonicSalience` is a :class:`~dlmir.frontends.base.FrontEnd` (a cascade of the layer vocabulary,
every parameter frozen at its designed value unless ``trainable=True``) mapping audio ``(batch, samples)`` to
a pitch salience ``(batch, 88, frames)`` over the piano's keys, MIDI 21 (A0) to 108 (C8):

1. ``"filterbank"``, ``"modulus"``: dlmir's :class:`~dlmir.frontends.CQT` magnitude, 36 bins per octave (3 per
   semitone, the middle one on the equal-tempered pitch), from a third of a semitone below A0 (27.5 Hz) up
   ``n_bins`` bins (312: to 10.75 kHz, the 8th harmonic of C6 and the 2nd of C8 at 22050 Hz), hop 256 samples
   (86.1 frames per second).
2. ``"compression"``: :class:`~dlmir.layers.LogCompression` ``log(1 + gain * C)``.
3. ``"harmonics"``: :class:`~dlmir.layers.Dense`, the harmonic summation as one fixed affine map
   (:func:`harmonic_matrix`; 176 x n_bins: 88 rows of sums, then 88 rows reading each pitch's fundamental
   alone). Pitch ``p`` with fundamental ``f0`` collects ``alpha ** (h - 1)`` of the compressed magnitude at
   ``h * f0`` for ``h = 1..n_harmonics`` (a triangle over +-1 bin around the fractional bin), and
   ``-beta * alpha ** (h - 1)`` at ``(h + 1/2) * f0``, between the harmonics, where a true note has no energy
   but the note an octave (or a fifth) below has partials. Summing *compressed* magnitudes (a sum of logs is
   the log of a product) lets a pitch score only when many of its partials sound, not one strong one.
4. ``"gate"``: :class:`FundamentalGate`, the rectified sums kept where the pitch's own fundamental is at least
   half as strong as the frame's strongest fundamental (the sub-octave of a note, or the root below a chord,
   collects partials but has no fundamental of its own).

Measured on 8 rendered pieces of random 1-4 note chords (TimGM6mb: piano, strings, guitar, organ, flute; MIDI
36-89), frame accuracy (mir_eval.multipitch) of the thresholded salience: 0.36 without the gate, 0.56 with it
(gain 10; gain 100: 0.51); with the octave/twelfth rule of :func:`salience_activations` and the note decoder,
0.58 and note F (onsets) 0.62.

Everything is per frame after the CQT, so the cascade streams in blocks like any front end
(:mod:`dlmir.frontends.streaming`). :func:`salience_activations` turns a salience into frame activations in
``[0, 1]`` for the note decoder (:func:`dlmir.transcription.decode.notes_from_activations`).
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

from dlmir import params
from dlmir.errors import ParameterError
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.cqt import make_filterbank
from dlmir.layers import Dense, LogCompression, Modulus
from dlmir.layers.stage import Stage

__all__ = [
    "MIN_PITCH",
    "N_PITCHES",
    "FundamentalGate",
    "HarmonicSalience",
    "harmonic_matrix",
    "salience_activations",
]

MIN_PITCH = 21
"""MIDI number of the first pitch row (A0)."""
N_PITCHES = 88
"""Pitch rows: the piano's keys, MIDI 21-108."""


def harmonic_matrix(
    frequencies: np.ndarray,
    *,
    bins_per_octave: int = 36,
    min_pitch: int = MIN_PITCH,
    n_pitches: int = N_PITCHES,
    n_harmonics: int = 8,
    alpha: float = 0.8,
    beta: float = 0.5,
    spread: float = 1.0,
) -> np.ndarray:
    """The harmonic-summation matrix ``(n_pitches, n_bins)``, float64, mapping CQT bins to pitches.

    Row ``i`` (MIDI ``min_pitch + i``, fundamental ``f0``) holds, for ``h = 1..n_harmonics`` with ``h * f0`` inside
    the CQT's range, ``alpha ** (h - 1)`` spread as a triangle of half-width ``spread`` bins around the fractional
    bin of ``h * f0``, and ``-beta * alpha ** (h - 1)`` the same way around ``(h + 1/2) * f0`` (between harmonics
    ``h`` and ``h + 1``). Each triangle's weights sum to its peak weight, so a sinusoid anywhere inside it counts
    about the same. ``frequencies`` are the CQT bins' centres in Hz (log-spaced at ``bins_per_octave``).
    """
    freqs = np.asarray(frequencies, dtype=np.float64)
    if freqs.ndim != 1 or freqs.size < 2:
        raise ParameterError(f"frequencies must be the 1-D centre frequencies of the CQT bins, got {freqs.shape}")
    n_harmonics = params.positive_int("n_harmonics", n_harmonics)
    if not 0.0 < alpha <= 1.0:
        raise ParameterError(f"alpha (weight decay per harmonic) must be in (0, 1], got {alpha}")
    if beta < 0:
        raise ParameterError(f"beta (weight between harmonics) must be >= 0, got {beta}")
    if not spread > 0:
        raise ParameterError(f"spread must be > 0 bins, got {spread}")
    f_lo, n_bins = freqs[0], freqs.size
    bins = np.arange(n_bins, dtype=np.float64)
    f0 = librosa.midi_to_hz(np.arange(n_pitches) + int(min_pitch))
    weights = np.zeros((n_pitches, n_bins), dtype=np.float64)

    def add(row: int, freq: float, weight: float) -> None:
        position = bins_per_octave * np.log2(freq / f_lo)
        if position > n_bins - 1 + spread or position < -spread:
            return
        tri = np.clip(1.0 - np.abs(bins - position) / spread, 0.0, None)
        if tri.sum() > 0:
            weights[row] += weight * tri / tri.sum()

    for i, f in enumerate(f0):
        for h in range(1, n_harmonics + 1):
            w = alpha ** (h - 1)
            add(i, h * f, w)
            if beta > 0:
                add(i, (h + 0.5) * f, -beta * w)
    return weights


class FundamentalGate(Stage):
    """Keep a pitch's salience only where its fundamental sounds: ``(batch, 2 n, frames)`` -> ``(batch, n, frames)``.

    The input stacks the harmonic sums ``S`` (rows ``0..n-1``) and the fundamentals' strengths ``F`` (rows
    ``n..2n-1``, the compressed magnitude at each pitch's own frequency). The output is ``max(S, 0)`` where ``F``
    is at least ``ratio`` times the frame's strongest fundamental, else 0: the sub-octave of a note (or the root
    below a chord) collects many of the sounding partials but has no fundamental of its own. Per frame, so it
    streams (no context).
    """

    def __init__(self, ratio: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= ratio <= 1.0:
            raise ParameterError(f"ratio (fundamental gate) must be in [0, 1], got {ratio}")
        self.ratio = float(ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 2:
            raise ParameterError(f"FundamentalGate expects 2 n rows (sums, fundamentals), got {x.shape[-2]}")
        n = x.shape[-2] // 2
        sums, fund = x[..., :n, :], x[..., n:, :]
        keep = fund >= self.ratio * fund.amax(dim=-2, keepdim=True)
        return torch.where(keep & (sums > 0), sums, torch.zeros_like(sums))

    def streaming_context(self, hop_length: int) -> tuple[int, int]:
        return 0, 0

    def extra_repr(self) -> str:
        return f"ratio={self.ratio:g}"


class HarmonicSalience(FrontEnd):
    """Designed pitch salience over the piano's 88 keys: CQT -> log -> harmonic summation -> rectification.

    See the module docstring for the stages. Input ``(samples,)`` or ``(batch, samples)`` audio at ``sr``;
    output ``(batch, 88, 1 + samples // hop_length)`` (row ``i`` = MIDI ``21 + i``), in the input's dtype.

    Parameters
    ----------
    sr : float
        Sampling rate of the input in Hz.
    hop_length : int
        Samples between frames (a multiple of 256 keeps the CQT fully multirate over its 9 octaves).
    n_bins : int
        CQT bins at 36 per octave from a third of a semitone below A0; 312 reaches 10.75 kHz.
    filter_scale : float
        The CQT's filter length factor (librosa's): below 1, shorter filters (sharper in time, blurrier in pitch).
    gain : float
        Gain of the log compression, ``log(1 + gain * C)``.
    n_harmonics, alpha, beta, spread : float
        The harmonic summation (:func:`harmonic_matrix`).
    gate : float
        The fundamental gate's ratio (:class:`FundamentalGate`); 0 keeps every pitch.
    tuning : float
        Tuning offset of the CQT in fractions of a bin (0 = A440). A number: the stages can be trained.
    trainable : bool
        Unfreeze the CQT kernels, the compression gain and the harmonic matrix.

    Examples
    --------
    >>> import numpy as np, librosa
    >>> from dlmir.transcription import HarmonicSalience
    >>> y = librosa.tone(440.0, sr=22050, duration=1.0)
    >>> S = HarmonicSalience()(y)
    >>> S.shape, 21 + int(S[0, :, 40].argmax())
    (torch.Size([1, 88, 87]), 69)
    """

    def __init__(
        self,
        *,
        sr: float = 22050,
        hop_length: int = 256,
        n_bins: int = 312,
        filter_scale: float = 1.0,
        gain: float = 10.0,
        n_harmonics: int = 8,
        alpha: float = 0.8,
        beta: float = 0.5,
        spread: float = 1.0,
        gate: float = 0.5,
        tuning: float = 0.0,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        bins_per_octave = 36
        fmin = float(librosa.midi_to_hz(MIN_PITCH)) * 2.0 ** (-1.0 / bins_per_octave)
        n_bins = params.positive_int("n_bins", n_bins)
        design = dict(sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave,
                      filter_scale=filter_scale)  # fmt: skip
        filterbank, frequencies = make_filterbank(design, tuning=float(tuning), trainable=trainable)
        self.append("filterbank", filterbank)
        self.append("modulus", Modulus())
        self.append("compression", LogCompression(params.positive_float("gain", gain), trainable=trainable))
        matrix = harmonic_matrix(
            frequencies, bins_per_octave=bins_per_octave, n_harmonics=n_harmonics, alpha=alpha, beta=beta,
            spread=spread,
        )  # fmt: skip
        fundamentals = harmonic_matrix(frequencies, bins_per_octave=bins_per_octave, n_harmonics=1, beta=0.0,
                                       spread=1.5)  # fmt: skip
        stacked = np.concatenate([matrix, fundamentals]).astype(np.float32)
        self.append("harmonics", Dense(stacked, trainable=trainable))
        self.append("gate", FundamentalGate(gate))
        self.min_samples = filterbank.min_samples()
        self.frequencies = frequencies
        self.min_pitch, self.n_pitches = MIN_PITCH, N_PITCHES
        self._remember(
            sr=float(sr),
            hop_length=int(hop_length),
            n_bins=n_bins,
            filter_scale=float(filter_scale),
            gain=float(gain),
            n_harmonics=int(n_harmonics),
            alpha=float(alpha),
            beta=float(beta),
            spread=float(spread),
            gate=float(gate),
            tuning=float(tuning),
            trainable=bool(trainable),
        )

    @property
    def frame_rate(self) -> float:
        """Frames per second, ``sr / hop_length``."""
        return self.sr / self.hop_length

    def cqt(self, y: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The CQT magnitude ``(batch, n_bins, frames)`` the salience is computed from (for plots)."""
        return self.run_until(torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y, "modulus")


def salience_activations(
    salience: np.ndarray,
    *,
    relative_threshold: float = 0.5,
    reference: float | None = None,
    peaks: bool = True,
    octave_ratio: float = 0.0,
    intervals: tuple[int, ...] = (12, 19),
    median_frames: int = 1,
) -> np.ndarray:
    """Frame activations ``(n_pitches, frames)`` in ``[0, 1]`` from a designed salience ``(n_pitches, frames)``.

    ``salience / reference`` (default reference: the salience's maximum over the whole recording), set to 0 where
    it is below ``relative_threshold`` times its frame's largest value, and (``peaks``) where it is not a local
    maximum over the pitch axis (``>=`` both neighbours), so a note's leakage into the next semitone does not
    sound; with ``octave_ratio`` > 0, also where it is weaker than ``octave_ratio`` times the activation of the pitch
    ``k`` semitones below for ``k`` in ``intervals`` (an octave, a twelfth: it is then most likely that note's
    2nd or 3rd harmonic; a real doubling as loud as its lower note survives). The decoder's ``frame_threshold``
    is then an absolute threshold relative to the recording's peak. Last, ``median_frames`` (odd) > 1 median-filters
    each pitch's activation over time, which closes one-frame gaps and removes one-frame blips.
    """
    s = np.asarray(salience, dtype=np.float32)
    if s.ndim != 2:
        raise ParameterError(f"salience must be (n_pitches, frames), got shape {s.shape}")
    if not 0.0 <= relative_threshold <= 1.0:
        raise ParameterError(f"relative_threshold must be in [0, 1], got {relative_threshold}")
    if int(median_frames) != median_frames or median_frames < 1 or median_frames % 2 == 0:
        raise ParameterError(f"median_frames must be an odd number of frames >= 1, got {median_frames}")
    top = float(s.max()) if s.size else 0.0
    ref = top if reference is None else float(reference)
    if ref <= 0 or s.shape[1] == 0:
        return np.zeros_like(s)
    act = np.clip(s / ref, 0.0, 1.0)
    frame_max = act.max(axis=0, keepdims=True)
    act = np.where(act >= relative_threshold * frame_max, act, 0.0)
    if peaks and act.shape[0] > 1:
        up = np.concatenate([act[1:], np.zeros_like(act[:1])])
        down = np.concatenate([np.zeros_like(act[:1]), act[:-1]])
        act = np.where((act >= up) & (act >= down), act, 0.0)
    if octave_ratio > 0:
        weaker = np.zeros(act.shape, dtype=bool)
        for k in intervals:
            if 0 < k < act.shape[0]:
                below = np.concatenate([np.zeros_like(act[:k]), act[:-k]])
                weaker |= (below > 0) & (act < octave_ratio * below)
        act = np.where(weaker, 0.0, act)
    if median_frames > 1:
        from scipy.ndimage import median_filter

        act = median_filter(act, size=(1, int(median_frames)), mode="nearest")
    return act.astype(np.float32)
