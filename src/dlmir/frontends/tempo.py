"""Tempo as a cascade: sub-band onset detection, band weighting, comb-filter resonators, pooling, a tempo prior.

``stft -> modulus -> mel -> db -> diff -> rectify -> bands -> weights -> smooth -> standardize -> periodicity
-> pool -> spectrum -> prior``

* ``stft``, ``modulus``, ``mel``: the mel power spectrogram (affine, nonlinearity, affine), as
  :class:`~dlmir.frontends.MelSpectrogram`;
* ``db``, ``diff``, ``rectify``: onset detection in every mel band (log compression, time difference,
  half-wave rectification), as :class:`~dlmir.frontends.OnsetStrength`;
* ``bands``: the sub-band decomposition, a :class:`~dlmir.layers.Dense` averaging contiguous groups of mel bands
  into ``n_bands`` bands (affine);
* ``weights``: the band weighting, a :class:`~dlmir.layers.Dense` ``(1, n_bands)``, designed uniform
  (``1 / n_bands``): the weighted sum is then exactly librosa's onset strength (the mean flux over mel bands);
* ``smooth``: a Gaussian :class:`~dlmir.layers.Conv1d` (``smooth`` frames; affine), which removes the content near
  the frame rate's Nyquist frequency that no fractional delay can carry (without it, resonators at fractional
  periods lose energy to interpolation at every echo and the slower, near-integer ones win);
* ``standardize``: :class:`TimeStandardize`, zero mean and unit variance over time (pooling statistics);
* ``periodicity``: :class:`~dlmir.layers.CombResonators` (Scheirer's comb-filter bank, a recurrent layer, one
  filter per candidate tempo, log-spaced from ``min_bpm`` to ``max_bpm``, ``output='resonance'``: each frame of
  the input times the resonator's prediction of it) or :class:`~dlmir.layers.Autocorrelation` (librosa's
  tempogram) with ``periodicity='autocorrelation'``;
* ``pool``: :class:`~dlmir.layers.TimePool`, the mean over frames;
* ``spectrum``: :class:`TempoSpectrum`, half-wave rectified and summed over channels: ``(batch, n_tempi)``;
* ``prior``: :class:`TempoPrior`, a log-normal weighting (librosa's: 120 BPM, one octave), unless ``prior=False``.

The output is the tempo spectrum ``(batch, n_tempi)`` over :attr:`Tempo.tempi` (BPM); :meth:`Tempo.bpm` and
:meth:`Tempo.estimate` pick its peaks (:func:`pick_tempi`). Every stage is a member of the layer vocabulary;
``trainable=True`` unfreezes the DFT, mel and band matrices, the band weights, the smoothing kernel, the comb
gains (or the autocorrelation window) and the prior's centre and width.

Why the resonance and not the comb's energy (Scheirer's choice): pooled over time, the resonance is
``(1 - a) / a * sum_{m >= 1} a^m R(m T)``, a comb-weighted sum of the onset curve's autocorrelation ``R`` at
every multiple of the period, whose expected value for noise is 0 at any length; the energy adds a baseline
``(1 - a) / (1 + a) R(0)`` that differs between tempi and, over the first seconds, between signal lengths. On
the synthetic sets of ``tests/test_rhythm_tempo.py`` the two agree on long clips and the resonance is better on
3 s clips.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlmir import params
from dlmir.errors import AudioError, ParameterError
from dlmir.frontends.mel import _MelCascade
from dlmir.frontends.onset import SpectralDifference
from dlmir.io import check_signal
from dlmir.layers import AmplitudeToDB, Cascade, Conv1d, Dense, HalfWaveRectify, TimePool
from dlmir.layers.resonator import Autocorrelation, CombResonators, bpm_grid, bpm_to_delay, comb_gains
from dlmir.layers.stage import Stage, as_parameter

PERIODICITY = ("comb", "autocorrelation")
SILENCE = 1e-10
"""A tempo spectrum whose maximum is at most this (digital silence gives exactly 0) has no tempo."""
_CHUNK_SAMPLES = 2**19


def band_matrix(n_bands: int, n_mels: int) -> np.ndarray:
    """``(n_bands, n_mels)`` averaging contiguous groups of mel bands (as equal as possible, low to high)."""
    if not 1 <= n_bands <= n_mels:
        raise ParameterError(f"n_bands must be between 1 and n_mels={n_mels}, got {n_bands}")
    out = np.zeros((n_bands, n_mels))
    for b, group in enumerate(np.array_split(np.arange(n_mels), n_bands)):
        out[b, group] = 1.0 / len(group)
    return out


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A unit-sum Gaussian of standard deviation ``sigma`` frames, ``2 * ceil(3 sigma) + 1`` taps."""
    half = int(math.ceil(3 * params.positive_float("smooth", sigma)))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    return k / k.sum()


class TimeStandardize(Stage):
    """``(x - mean) / std`` over frames, per batch item and channel: ``(batch, channels, frames)``, same shape.

    A curve with (numerically) no variation, e.g. from digital silence, becomes zeros.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(-1, keepdim=True)
        std = centred.square().mean(-1, keepdim=True).sqrt()
        tiny = torch.finfo(x.dtype).eps * (x.abs().amax(-1, keepdim=True) + torch.finfo(x.dtype).tiny)
        return torch.where(std > tiny, centred / torch.where(std > tiny, std, torch.ones_like(std)), 0.0 * centred)


class TempoSpectrum(Stage):
    """Pooled periodicity ``(batch, channels, n_tempi, 1)`` -> tempo spectrum ``(batch, n_tempi)``: half-wave
    rectified (a tempo the input anti-correlates with has no evidence, not negative evidence), summed over
    channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-1] != 1:
            raise ParameterError(f"TempoSpectrum expects (batch, channels, n_tempi, 1), got {tuple(x.shape)}")
        return torch.relu(x[..., 0]).sum(1)


class TempoPrior(Stage):
    """Multiply a tempo spectrum ``(batch, n_tempi)`` by a log-normal prior over its tempi (librosa's).

    ``w(bpm) = exp(-0.5 ((log2 bpm - log2 start_bpm) / std_bpm) ** 2)``: ``start_bpm`` in BPM, ``std_bpm`` in
    octaves (librosa's ``start_bpm=120``, ``std_bpm=1``). Parameters: ``centre`` (``log2 start_bpm``) and
    ``width`` (``std_bpm``).
    """

    def __init__(self, tempi: np.ndarray, *, start_bpm: float = 120.0, std_bpm: float = 1.0,
                 trainable: bool = False) -> None:  # fmt: skip
        super().__init__()
        params.positive_float("start_bpm", start_bpm)
        params.positive_float("std_bpm", std_bpm)
        self.register_buffer("log2_tempi", torch.as_tensor(np.log2(np.asarray(tempi, dtype=np.float64))))
        self.centre = as_parameter(torch.tensor(math.log2(start_bpm), dtype=torch.float64), trainable)
        self.width = as_parameter(torch.tensor(float(std_bpm), dtype=torch.float64), trainable)

    def weights(self) -> torch.Tensor:
        """The prior ``(n_tempi,)`` (in the parameters' dtype, peak 1)."""
        z = (self.log2_tempi.to(self.centre.dtype) - self.centre) / self.width.abs().clamp(min=1e-3)
        return torch.exp(-0.5 * z.square())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights().to(x.dtype)

    def extra_repr(self) -> str:
        return f"start_bpm={2 ** float(self.centre.detach()):.1f}, std_bpm={float(self.width.detach()):.2f}"


def pick_tempi(
    spectrum: np.ndarray | torch.Tensor, tempi: np.ndarray, *, exclusion: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two strongest tempi of tempo spectra and the relative strength of the first (MIREX style).

    Parameters
    ----------
    spectrum : ``(batch, n_tempi)`` or ``(n_tempi,)``, non-negative, over ``tempi``.
    tempi : ``(n_tempi,)`` BPM, log-spaced and increasing (:func:`~dlmir.layers.resonator.bpm_grid`).
    exclusion : the second tempo differs from the first by more than this fraction (5 %).

    Returns
    -------
    ``(bpm1, bpm2, strength)``, each ``(batch,)`` (or a float for 1-D input): ``bpm1`` the global maximum and
    ``bpm2`` the highest local maximum more than ``exclusion`` away from it (if there is none: the highest value
    there), both refined by a parabola through the peak and its neighbours in log-BPM; ``strength =
    s1 / (s1 + s2)``, in ``[0.5, 1]``. A spectrum with no energy (maximum <= :data:`SILENCE`, e.g. digital silence)
    or with NaN has no tempo: all three are NaN.
    """
    s = spectrum.detach().cpu().double().numpy() if isinstance(spectrum, torch.Tensor) else np.asarray(spectrum, float)
    single = s.ndim == 1
    s = np.atleast_2d(s)
    tempi = np.asarray(tempi, dtype=np.float64)
    if s.shape[-1] != tempi.size:
        raise ParameterError(f"spectrum has {s.shape[-1]} tempi, the grid {tempi.size}")
    log_t = np.log2(tempi)
    out = np.full((3, s.shape[0]), np.nan)
    for b, row in enumerate(s):
        if not np.all(np.isfinite(row)) or row.max() <= SILENCE:
            continue
        i1 = int(np.argmax(row))
        far = np.abs(log_t - log_t[i1]) > math.log2(1.0 + exclusion)
        peaks = np.zeros_like(far)
        peaks[1:-1] = (row[1:-1] > row[:-2]) & (row[1:-1] >= row[2:])
        pool = far & peaks if np.any(far & peaks) else far
        if not np.any(pool):  # the grid is narrower than the exclusion zone
            out[:, b] = (_refine(row, log_t, i1), np.nan, 1.0)
            continue
        i2 = int(np.flatnonzero(pool)[np.argmax(row[pool])])
        s1, s2 = row[i1], row[i2]
        out[:, b] = (_refine(row, log_t, i1), _refine(row, log_t, i2), s1 / (s1 + s2) if s1 + s2 > 0 else 1.0)
    if single:
        return out[0, 0], out[1, 0], out[2, 0]
    return out[0], out[1], out[2]


def _refine(row: np.ndarray, log_t: np.ndarray, i: int) -> float:
    """The tempo (BPM) at the vertex of the parabola through ``row[i-1:i+2]`` (``log_t`` evenly spaced)."""
    if 0 < i < row.size - 1:
        left, mid, right = row[i - 1], row[i], row[i + 1]
        curvature = left - 2 * mid + right
        if curvature < 0:
            delta = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
            step = log_t[i + 1] - log_t[i] if delta > 0 else log_t[i] - log_t[i - 1]
            return float(2.0 ** (log_t[i] + delta * step))
    return float(2.0 ** log_t[i])


class Tempo(_MelCascade):
    """Tempo spectrum of audio: a cascade started at designed parameters (Scheirer 1998; librosa's onset flux).

    Stages (names): ``stft``, ``modulus``, ``mel``, ``db``, ``diff``, ``rectify``, ``bands``, ``weights``,
    ``periodicity``, ``pool``, ``spectrum``, ``prior`` (see :mod:`dlmir.frontends.tempo`).

    Parameters
    ----------
    sr : float
        Sampling rate in Hz.
    hop_length, n_fft : int
        Hop and FFT size in samples; the novelty curve has ``sr / hop_length`` frames per second.
    n_mels, fmin, fmax : int, float, float
        The mel spectrogram (Hz), as :class:`~dlmir.frontends.MelSpectrogram`.
    n_bands : int
        Sub-bands: contiguous groups of mel bands, each with its own onset curve and weight.
    lag, top_db
        The onset detection, as :class:`~dlmir.frontends.OnsetStrength`.
    min_bpm, max_bpm : float
        Range of candidate tempi in BPM; ``bins_per_octave`` candidates per octave, log-spaced
        (:func:`~dlmir.layers.resonator.bpm_grid`; 48 per octave: 1.45 % apart, 160 tempi from 30 to 300 BPM).
    periodicity : ``'comb'`` or ``'autocorrelation'``
        Comb-filter resonators (pooled by their standard deviation over time) or a windowed autocorrelation
        (pooled by its mean, as :func:`librosa.feature.tempo`).
    half_energy, half_energy_unit : float, ``'periods'`` or ``'seconds'``
        Half-energy time of the comb filters (:func:`~dlmir.layers.resonator.comb_gains`). The design: 2.5 periods
        of each filter (every gain ``a = 0.871``); Scheirer's constant time (e.g. 1.5 seconds) is the alternative.
        On synthetic rhythms (``tests/test_rhythm_tempo.py``) the constant number of periods is more often right
        about the metrical level: a slow comb filter needs longer to build up, which counters the slower
        tempi's extra evidence (a comb at twice the period resonates with the same beats).
    smooth : float
        Standard deviation in frames of the Gaussian smoothing of the onset curve (0: no ``smooth`` stage).
    interpolation : ``'cubic'`` or ``'linear'``
        Fractional delays of the comb filters (:func:`~dlmir.layers.resonator.interpolation_taps`).
    ac_size : float
        Autocorrelation window in seconds (librosa's ``ac_size``).
    prior : bool
        Weight the spectrum with a log-normal prior centred at ``start_bpm`` (BPM) with ``std_bpm`` octaves.
    trainable : bool
        Unfreeze every stage's parameters.

    Input ``(samples,)`` or ``(batch, samples)`` audio of at least ``60 / min_bpm`` seconds (one period of the
    slowest tempo); output ``(batch, n_tempi)``, the tempo spectrum over :attr:`tempi` (BPM).

    Raises
    ------
    AudioError : the audio is empty, NaN/inf, or shorter than ``60 / min_bpm`` seconds.
    """

    def __init__(
        self,
        *,
        sr: float = 22050,
        hop_length: int = 512,
        n_fft: int = 2048,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        n_bands: int = 8,
        lag: int = 1,
        top_db: float | None = 80.0,
        min_bpm: float = 30.0,
        max_bpm: float = 300.0,
        bins_per_octave: int = 48,
        periodicity: str = "comb",
        half_energy: float = 2.5,
        half_energy_unit: str = "periods",
        smooth: float = 1.0,
        interpolation: str = "cubic",
        ac_size: float = 8.0,
        prior: bool = True,
        start_bpm: float = 120.0,
        std_bpm: float = 1.0,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        if periodicity not in PERIODICITY:
            raise ParameterError(f"periodicity must be one of {PERIODICITY}, got {periodicity!r}")
        config = self._build_mel(
            sr=sr,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=None,
            window="hann",
            center=True,
            pad_mode="constant",
            power=2.0,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            htk=False,
            norm="slaney",
            trainable=trainable,
        )
        frame_rate = float(sr) / config["hop_length"]
        self.tempi: np.ndarray = bpm_grid(min_bpm, max_bpm, bins_per_octave=bins_per_octave)
        """Candidate tempi in BPM, ``(n_tempi,)``: the columns of the tempo spectrum."""
        delays = bpm_to_delay(self.tempi, frame_rate=frame_rate)
        if delays.min() < 1:
            raise ParameterError(
                f"max_bpm={max_bpm} is faster than one beat per frame ({60 * frame_rate:.0f} BPM at sr={sr}, "
                f"hop_length={hop_length}); lower max_bpm or hop_length"
            )
        self.append("db", AmplitudeToDB(kind="power", top_db=top_db))
        self.append("diff", SpectralDifference(lag=lag))
        self.append("rectify", HalfWaveRectify())
        self.append("bands", Dense(band_matrix(n_bands, n_mels), trainable=trainable))
        self.append("weights", Dense(np.full((1, n_bands), 1.0 / n_bands), trainable=trainable))
        if smooth > 0:
            self.append("smooth", Conv1d(gaussian_kernel(smooth)[None, None, :], padding="same", trainable=trainable))
        if periodicity == "comb":
            gains = comb_gains(delays, frame_rate=frame_rate, half_energy=half_energy, unit=half_energy_unit)
            self.append("standardize", TimeStandardize())
            comb = CombResonators(delays, gains, interpolation=interpolation, output="resonance", trainable=trainable)
            self.append("periodicity", comb)
            self.append("pool", TimePool("mean"))
        else:
            win = int(round(params.positive_float("ac_size", ac_size) * frame_rate))
            if win < delays.max() + 2:
                raise ParameterError(f"ac_size={ac_size} s is shorter than the slowest period {60 / min_bpm:.2f} s")
            self.append("periodicity", Autocorrelation(delays, win_length=win, trainable=trainable))
            self.append("pool", TimePool("mean"))
        self.append("spectrum", TempoSpectrum())
        if prior:
            self.append("prior", TempoPrior(self.tempi, start_bpm=start_bpm, std_bpm=std_bpm, trainable=trainable))
        self.min_samples = max(n_fft, int(math.ceil(60.0 / min_bpm * sr)))
        self._remember(
            sr=sr,
            hop_length=config["hop_length"],
            n_fft=n_fft,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            n_bands=n_bands,
            lag=lag,
            top_db=top_db,
            min_bpm=min_bpm,
            max_bpm=max_bpm,
            bins_per_octave=bins_per_octave,
            periodicity=periodicity,
            half_energy=half_energy,
            half_energy_unit=half_energy_unit,
            smooth=smooth,
            interpolation=interpolation,
            ac_size=ac_size,
            prior=prior,
            start_bpm=start_bpm,
            std_bpm=std_bpm,
            trainable=trainable,
        )

    @property
    def frame_rate(self) -> float:
        """Frames per second of the onset curve: ``sr / hop_length``."""
        return self.sr / self.hop_length

    @property
    def min_seconds(self) -> float:
        """The shortest audio accepted, in seconds: one period of the slowest tempo, ``60 / min_bpm``."""
        return self.min_samples / self.sr

    def forward(self, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Tempo spectrum ``(batch, n_tempi)`` of ``(samples,)`` or ``(batch, samples)`` audio at :attr:`sr` Hz."""
        y = check_signal(y, min_samples=1)
        if y.shape[-1] < self.min_samples:
            raise AudioError(
                f"the audio is {y.shape[-1] / self.sr:.2f} s long; tempo estimation from {self.config['min_bpm']:g} "
                f"BPM needs at least {self.min_seconds:.2f} s (one beat period of the slowest tempo): pass a "
                "longer signal or a higher min_bpm"
            )
        step = max(1, _CHUNK_SAMPLES // y.shape[-1])
        if y.shape[0] <= step:
            return Cascade.forward(self, y)
        return torch.cat([Cascade.forward(self, y[i : i + step]) for i in range(0, y.shape[0], step)])

    def bpm(self, y: torch.Tensor | np.ndarray) -> np.ndarray:
        """The tempo of each signal in BPM, ``(batch,)`` float64 (NaN: no tempo, e.g. silence)."""
        return self.estimate(y)[0]

    def estimate(self, y: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MIREX-style ``(bpm1, bpm2, strength)`` of each signal, each ``(batch,)`` (see :func:`pick_tempi`).

        Runs without gradients; NaN everywhere for a signal with no tempo (digital silence).
        """
        with torch.inference_mode():
            spectrum = self(y)
        return pick_tempi(spectrum, self.tempi)

    def band_weights(self) -> np.ndarray:
        """The band weighting ``(n_bands,)`` (designed: ``1 / n_bands`` each)."""
        return self["weights"].weight.detach().cpu().double().numpy()[0]


__all__ = [
    "PERIODICITY",
    "SILENCE",
    "Tempo",
    "TempoPrior",
    "TempoSpectrum",
    "TimeStandardize",
    "band_matrix",
    "pick_tempi",
]
