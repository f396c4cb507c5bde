"""Periodicity stages over a novelty curve: a bank of comb-filter resonators (recurrent) and autocorrelation.

Both map a ``(batch, channels, frames)`` novelty (onset strength) to ``(batch, channels, n_tempi, frames')``:
one row per candidate period, in frames. Pool over the last axis to get a tempo spectrum.

* :class:`CombResonators` is Scheirer's (1998) bank of feedback comb filters,
  ``y_k[t] = (1 - a_k) x[t] + a_k y_k[t - T_k]``, written as a recurrent (IIR) layer. The delays ``T_k`` may be
  fractional (cubic Lagrange or linear interpolation between neighbouring frames), so a BPM grid is met exactly; the
  gains ``a_k`` are a trainable parameter, designed by :func:`comb_gains` from one half-energy time.
* :class:`Autocorrelation` is the alternative: a windowed autocorrelation (librosa's tempogram) read at the
  same (fractional) lags, with the analysis window as its parameter.

Designing the parameters (:func:`bpm_grid`, :func:`bpm_to_delay`, :func:`comb_gains`) is kept apart from
applying them (:func:`comb_filter`, the modules).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal
import torch
from torch.nn import functional as F

from dlmir.errors import ParameterError
from dlmir.layers.stage import Stage, as_parameter

MAX_GAIN = 0.9999
"""Gains are clipped to ``[0, MAX_GAIN]`` when applied, so a trained comb filter stays stable."""


# -- design --------------------------------------------------------------------------------------------------------
def bpm_grid(min_bpm: float = 30.0, max_bpm: float = 300.0, *, bins_per_octave: int = 48) -> np.ndarray:
    """Candidate tempi in BPM, log-spaced at ``bins_per_octave`` per octave from ``min_bpm`` up to ``max_bpm``.

    Returns an increasing float64 array ``(n_tempi,)`` starting at ``min_bpm``; the last value is the largest
    grid point ``<= max_bpm`` (``max_bpm`` itself when the range is a whole number of bins). 48 bins per octave
    are steps of 1.45 %.
    """
    if not 0 < min_bpm < max_bpm:
        raise ParameterError(f"need 0 < min_bpm < max_bpm, got min_bpm={min_bpm}, max_bpm={max_bpm}")
    if isinstance(bins_per_octave, bool) or not isinstance(bins_per_octave, int) or bins_per_octave < 1:
        raise ParameterError(f"bins_per_octave must be a positive integer, got {bins_per_octave!r}")
    n = int(math.floor(bins_per_octave * math.log2(max_bpm / min_bpm) + 1e-9)) + 1
    return float(min_bpm) * 2.0 ** (np.arange(n) / bins_per_octave)


def bpm_to_delay(bpm: np.ndarray | float, *, frame_rate: float) -> np.ndarray:
    """The period of ``bpm`` (beats per minute) in frames at ``frame_rate`` frames per second: ``60 fps / bpm``."""
    bpm = np.asarray(bpm, dtype=np.float64)
    if frame_rate <= 0 or np.any(bpm <= 0):
        raise ParameterError(f"frame_rate and bpm must be positive, got frame_rate={frame_rate}, bpm={bpm}")
    return 60.0 * float(frame_rate) / bpm


HALF_ENERGY_UNITS = ("periods", "seconds")


def comb_gains(delays: np.ndarray, *, frame_rate: float, half_energy: float = 2.5, unit: str = "periods") -> np.ndarray:
    """Feedback gains ``a_k`` giving every comb filter the same half-energy time, in periods or in seconds.

    The impulse response of ``y[t] = (1 - a) x[t] + a y[t - T]`` is ``(1 - a) a^m`` at ``t = m T``: its echoes
    lose half their energy (``a^(2m) = 1/2``) after ``m = 1 / (2 log2(1 / a))`` periods.

    * ``unit='periods'``: after ``half_energy`` periods of each filter, ``a = 2^(-1 / (2 h))`` for every tempo (the
      same number of echoes, a constant relative bandwidth: 2.5 periods is ``a = 0.871``);
    * ``unit='seconds'``: after ``half_energy`` seconds, ``a = 2^(-T / (2 h fps))`` (Scheirer, 1998: fast tempi
      get more echoes, hence sharper resonances, than slow ones).

    Parameters
    ----------
    delays : array ``(n_tempi,)``, periods in frames.
    frame_rate : frames per second of the novelty curve.
    half_energy : the half-energy time ``h``, in ``unit``.
    unit : ``'periods'`` or ``'seconds'``.

    Returns
    -------
    float64 array ``(n_tempi,)`` in ``(0, 1)``.
    """
    if unit not in HALF_ENERGY_UNITS:
        raise ParameterError(f"unit must be one of {HALF_ENERGY_UNITS}, got {unit!r}")
    if not half_energy > 0:
        raise ParameterError(f"half_energy must be a positive time (in {unit}), got {half_energy}")
    delays = np.asarray(delays, dtype=np.float64)
    if unit == "periods":
        return np.full_like(delays, 2.0 ** (-1.0 / (2.0 * half_energy)))
    return 2.0 ** (-delays / (2.0 * half_energy * float(frame_rate)))


INTERPOLATIONS = ("linear", "cubic")


def interpolation_taps(delays: np.ndarray, interpolation: str = "cubic") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How each comb filter reads ``y[t - T]`` for a fractional period ``T = d + f`` (``d = floor(T)``).

    ``y[t - T] ~ sum_j c_j y[t - d - o_j]``: ``'linear'`` interpolation uses offsets ``o = (0, 1)`` with
    ``c = (1 - f, f)``; ``'cubic'`` the 4-point Lagrange interpolator on offsets ``(-1, 0, 1, 2)``, whose
    magnitude response stays <= 1 (passive: the filter remains stable) and which smears a recirculating pulse far
    less than linear interpolation does (at ``f = 1/2`` and a period of 8 frames: gain 0.99 per echo against
    0.92). Integer delays read one tap exactly in both.

    Returns
    -------
    whole : int64 ``(n_tempi,)``, ``d``; offsets : int64 ``(n_taps,)``; coefficients : float64 ``(n_tempi, n_taps)``.
    """
    if interpolation not in INTERPOLATIONS:
        raise ParameterError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    delays = np.asarray(delays, dtype=np.float64)
    whole = np.floor(delays)
    f = (delays - whole)[:, None]
    if interpolation == "linear":
        return whole.astype(np.int64), np.array([0, 1]), np.hstack([1.0 - f, f])
    coef = np.hstack([-f * (f - 1) * (f - 2) / 6, (f + 1) * (f - 1) * (f - 2) / 2, -(f + 1) * f * (f - 2) / 2,
                      (f + 1) * f * (f - 1) / 6])  # fmt: skip
    return whole.astype(np.int64), np.array([-1, 0, 1, 2]), coef


def comb_impulse_response(delay: float, gain: float, n: int, *, interpolation: str = "cubic") -> np.ndarray:
    """The closed form: the first ``n`` samples of the impulse response of one comb filter (float64).

    ``H(z) = (1 - a) / (1 - a z^-d sum_j c_j z^-o_j)`` (:func:`interpolation_taps`), run by
    :func:`scipy.signal.lfilter`; for an integer period ``T`` that is ``h[m T] = (1 - a) a^m``, zeros elsewhere.
    """
    whole, offsets, coef = interpolation_taps(np.array([delay]), interpolation)
    d = int(whole[0])
    den = np.zeros(d + int(offsets.max()) + 1)
    den[0] = 1.0
    for o, c in zip(offsets, coef[0], strict=True):
        den[d + o] -= gain * c
    x = np.zeros(n)
    x[0] = 1.0
    return scipy.signal.lfilter([1.0 - gain], den, x)


# -- application ---------------------------------------------------------------------------------------------------
def comb_filter(
    x: torch.Tensor,
    delays: torch.Tensor | np.ndarray,
    gain: torch.Tensor,
    *,
    interpolation: str = "cubic",
    return_prediction: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Run a bank of feedback comb filters ``y_k[t] = (1 - a_k) x[t] + a_k y_k[t - T_k]`` over ``x``.

    Parameters
    ----------
    x : ``(batch, channels, frames)``, the input (e.g. an onset-strength curve); zero before frame 0.
    delays : ``(n_tempi,)`` periods ``T_k`` in frames, each >= 2; a fractional ``T`` reads ``y[t - T]`` by
        ``interpolation`` (:func:`interpolation_taps`).
    gain : ``(n_tempi,)`` feedback gains ``a_k``, clipped to ``[0, MAX_GAIN]``.
    interpolation : ``'cubic'`` (4-point Lagrange) or ``'linear'``.
    return_prediction : also return the fed-back signal ``p_k[t] = y_k[t - T_k]`` (the filter's prediction of
        frame ``t`` from the past; ``y = (1 - a) x + a p``).

    Returns
    -------
    ``y``, ``(batch, channels, n_tempi, frames)`` in ``x``'s dtype (and ``p``, the same shape, with
    ``return_prediction``); differentiable in ``x`` and ``gain``.

    Notes
    -----
    The recurrence runs in blocks of ``L = min_k floor(T_k) - 1`` frames (``min_k floor(T_k)`` with linear
    interpolation or integer periods): every output of a block depends only on outputs of earlier blocks, since
    each tap of ``y[t - T_k]`` reads at least ``L`` frames back. So each block is one vectorised step over all
    filters, batch items and channels: one ``index_select`` of every tap, the interpolation (a weighted sum of the
    taps), and a multiply-add with the input. Outputs are kept frame-major, ``(n_tempi, frames, batch *
    channels)``, written in place into one buffer (or, when gradients are needed, concatenated to a history of the
    last ``max_k ceil(T_k) + 2`` frames). Work is ``O(n_tempi * frames * batch * channels * taps)``, in
    ``frames / L`` sequential steps (30 s at 43 frames/s with tempi up to 300 BPM: L = 7, 185 steps of four tensor
    operations). No FFT and no truncation are involved: the output is the IIR filter's, to rounding.
    """
    if x.ndim != 3:
        raise ParameterError(f"comb_filter expects x of shape (batch, channels, frames), got {tuple(x.shape)}")
    delays_np = delays.detach().cpu().double().numpy() if isinstance(delays, torch.Tensor) else np.asarray(delays)
    if delays_np.ndim != 1 or delays_np.size == 0 or np.any(delays_np < 2):
        raise ParameterError(f"delays must be a non-empty 1-D array of periods >= 2 frames, got {delays_np}")
    whole, offsets, coef = interpolation_taps(delays_np, interpolation)
    if np.all(delays_np == whole):  # integer periods: one exact tap
        offsets, coef = offsets[:1] * 0, np.ones((whole.size, 1))
    batch, channels, frames = x.shape
    n_tempi = whole.size
    block = int(whole.min() + min(0, offsets.min()))  # every tap of a block lies before the block
    hist_len = int(whole.max() + offsets.max())
    n_taps = offsets.size
    a = gain.to(x.dtype).clamp(0.0, MAX_GAIN)[:, None, None]  # (K, 1, 1)
    taps = torch.as_tensor(coef.T, dtype=x.dtype, device=x.device)[:, :, None, None]  # (taps, K, 1, 1)
    series = x.reshape(batch * channels, frames).transpose(0, 1)  # (frames, B * C)
    drive = (1.0 - a) * series  # (K, frames, B * C): the feed-forward term, all at once
    # frame j of a block reads y[t - d_k - o], at row k, column (window start) + hist_len + j - d_k - o of a
    # (K, columns, B * C) buffer; as flat row indices (tap, k, j) into its (K * columns, B * C) view
    rel = hist_len + np.arange(block)[None, None, :] - whole[None, :, None] - offsets[:, None, None]  # (taps, K, L)
    tempo_row = np.arange(n_tempi)[None, :, None]

    def flat(columns: int, length: int) -> torch.Tensor:
        return torch.as_tensor((tempo_row * columns + rel[:, :, :length]).reshape(-1), device=x.device)

    def interpolate(rows: torch.Tensor, length: int) -> torch.Tensor:  # (taps * K * length, BC) -> (K, length, BC)
        taps_rows = rows.view(n_taps, n_tempi, length, -1)
        return taps_rows[0] * taps[0] if n_taps == 1 else (taps_rows * taps).sum(0)

    if torch.is_grad_enabled() and (x.requires_grad or gain.requires_grad):
        history = x.new_zeros(n_tempi, hist_len, batch * channels)
        index = flat(hist_len, block)
        outputs, predictions = [], []
        for part in drive.split(block, dim=1):  # one split: its backward is one concatenation
            length = part.shape[1]
            idx = index if length == block else flat(hist_len, length)
            past = interpolate(history.reshape(-1, batch * channels).index_select(0, idx), length)
            out = torch.addcmul(part, a, past)  # (K, length, B * C)
            outputs.append(out)
            predictions.append(past)
            history = torch.cat([history[:, length:], out], dim=1)
        y = torch.cat(outputs, dim=1)
        pred = torch.cat(predictions, dim=1) if return_prediction else None
    else:  # no autograd: write each block into one preallocated buffer
        columns = hist_len + frames
        buffer = x.new_zeros(n_tempi, columns, batch * channels)
        rows = buffer.view(-1, batch * channels)
        index = flat(columns, block)
        pred = x.new_empty(n_tempi, frames, batch * channels) if return_prediction else None
        for start in range(0, frames, block):
            length = min(block, frames - start)
            idx = index + start if length == block else flat(columns, length) + start
            past = interpolate(rows.index_select(0, idx), length)
            if pred is not None:
                pred[:, start : start + length] = past
            window = buffer[:, hist_len + start : hist_len + start + length]
            torch.addcmul(drive[:, start : start + length], a, past, out=window)
        y = buffer[:, hist_len:]

    def unfold(z: torch.Tensor) -> torch.Tensor:  # (K, frames, B * C) -> (B, C, K, frames)
        return z.permute(2, 0, 1).reshape(batch, channels, n_tempi, frames)

    return (unfold(y), unfold(pred)) if pred is not None else unfold(y)


OUTPUTS = ("comb", "resonance")


class CombResonators(Stage):
    """A bank of comb-filter resonators, one per candidate tempo: a recurrent (IIR) layer (Scheirer, 1998).

    ``y_k[t] = (1 - a_k) x[t] + a_k y_k[t - T_k]`` for every channel of ``x``. A comb filter resonates with
    inputs of period ``T_k`` (and its multiples). See :func:`comb_filter` for the algorithm and its cost.

    ``output='comb'`` returns ``y`` itself (its energy over time, e.g. :class:`~dlmir.layers.TimePool` with
    ``kind='std'``, is Scheirer's tempo spectrum). ``output='resonance'`` returns ``x[t] * y_k[t - T_k]``: each
    frame of the input times what the resonator predicted for it from the past; pooled by its mean over time it
    is ``(1 - a) / a * sum_{m >= 1} a^m R(m T_k)`` in the steady state (``R``: the input's autocorrelation), a
    comb-weighted sum of the autocorrelation at every multiple of the period. For a zero-mean input its expected
    value is 0 for noise, at any signal length, where the comb's energy has a baseline that depends on ``a_k`` and
    on how far the filter has built up.

    Parameters
    ----------
    delays : array ``(n_tempi,)``
        Periods in frames (>= 2, fractional allowed: see :func:`interpolation_taps`), e.g.
        ``bpm_to_delay(bpm_grid(), frame_rate=sr / hop_length)``. Fixed (a buffer): they name the output rows.
    gain : array ``(n_tempi,)``
        Feedback gains ``a_k`` in ``[0, 1)``, e.g. :func:`comb_gains`; a parameter (clipped to
        ``[0, MAX_GAIN]`` when applied).
    interpolation : ``'cubic'`` or ``'linear'``
        How fractional delays are read (:func:`interpolation_taps`).
    output : ``'comb'`` or ``'resonance'``
        What the layer returns (above).
    trainable : bool
        Whether the gains start unfrozen.

    Input ``(batch, channels, frames)`` (or ``(channels, frames)``), output ``(batch, channels, n_tempi, frames)``.
    """

    def __init__(
        self,
        delays: np.ndarray | torch.Tensor,
        gain: np.ndarray | torch.Tensor,
        *,
        interpolation: str = "cubic",
        output: str = "comb",
        trainable: bool = False,
    ) -> None:
        super().__init__()
        delays_t = torch.as_tensor(np.asarray(delays, dtype=np.float64))
        if delays_t.ndim != 1 or delays_t.numel() == 0 or bool((delays_t < 2).any()):
            raise ParameterError(f"delays must be a non-empty 1-D array of periods >= 2 frames, got {np.shape(delays)}")
        if interpolation not in INTERPOLATIONS:
            raise ParameterError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        if output not in OUTPUTS:
            raise ParameterError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.interpolation, self.output = interpolation, output
        gain_np = np.asarray(gain.detach().cpu() if isinstance(gain, torch.Tensor) else gain, dtype=np.float64)
        if gain_np.shape != tuple(delays_t.shape):
            raise ParameterError(f"gain must have one value per delay {tuple(delays_t.shape)}, got {gain_np.shape}")
        if np.any(gain_np < 0) or np.any(gain_np >= 1):
            raise ParameterError("comb gains must lie in [0, 1) for a stable filter")
        self.register_buffer("delays", delays_t)
        self.gain = as_parameter(gain_np, trainable)

    @classmethod
    def from_bpm(
        cls,
        bpm: np.ndarray,
        *,
        frame_rate: float,
        half_energy: float = 2.5,
        unit: str = "periods",
        interpolation: str = "cubic",
        output: str = "comb",
        trainable: bool = False,
    ) -> CombResonators:
        """Resonators at the tempi ``bpm`` (BPM) for a novelty curve at ``frame_rate`` frames per second,
        all with the half-energy time ``half_energy`` (in ``unit``: periods or seconds; :func:`comb_gains`)."""
        delays = bpm_to_delay(bpm, frame_rate=frame_rate)
        gains = comb_gains(delays, frame_rate=frame_rate, half_energy=half_energy, unit=unit)
        return cls(delays, gains, interpolation=interpolation, output=output, trainable=trainable)

    @property
    def n_tempi(self) -> int:
        return int(self.delays.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeeze = x.ndim == 2
        if squeeze:
            x = x.unsqueeze(0)
        if self.output == "comb":
            y = comb_filter(x, self.delays, self.gain, interpolation=self.interpolation)
        else:
            _, prediction = comb_filter(x, self.delays, self.gain, interpolation=self.interpolation,
                                        return_prediction=True)  # fmt: skip
            y = x[:, :, None, :] * prediction
        return y[0] if squeeze else y

    def extra_repr(self) -> str:
        lo, hi = float(self.delays.min()), float(self.delays.max())
        return (
            f"n_tempi={self.n_tempi}, delays={lo:.2f}..{hi:.2f} frames, interpolation={self.interpolation!r}, "
            f"output={self.output!r}"
        )


class Autocorrelation(Stage):
    """Windowed autocorrelation of a novelty curve at (fractional) lags: librosa's tempogram as a stage.

    Each window of ``win_length`` frames (centred on every ``hop_length``-th frame, zero-padded at the edges) is
    multiplied by the analysis ``window``, autocorrelated (by FFT), normalised by its lag-0 value
    (``normalize=True``, as :func:`librosa.feature.tempogram` with ``norm=inf``) and read at ``lags`` by linear
    interpolation between integer lags.

    Parameters
    ----------
    lags : array ``(n_tempi,)``
        Lags in frames (``0 < lag < win_length``), e.g. :func:`bpm_to_delay` of a BPM grid.
    win_length : int
        Frames per analysis window (librosa: 384, i.e. ``ac_size=8`` s at 22050 Hz / 512).
    hop_length : int
        Frames between windows.
    window : str
        The analysis window (:func:`scipy.signal.get_window`, periodic); a parameter, trainable if asked.
    normalize : bool
        Divide each window's autocorrelation by its lag-0 value.

    Input ``(batch, channels, frames)``, output ``(batch, channels, n_tempi, n_windows)`` with
    ``n_windows = ceil(frames / hop_length)``.
    """

    def __init__(
        self,
        lags: np.ndarray | torch.Tensor,
        *,
        win_length: int = 384,
        hop_length: int = 1,
        window: str = "hann",
        normalize: bool = True,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        lags_np = np.asarray(lags.detach().cpu() if isinstance(lags, torch.Tensor) else lags, dtype=np.float64)
        if isinstance(win_length, bool) or not isinstance(win_length, int) or win_length < 2:
            raise ParameterError(f"win_length must be an integer >= 2 frames, got {win_length!r}")
        if isinstance(hop_length, bool) or not isinstance(hop_length, int) or hop_length < 1:
            raise ParameterError(f"hop_length must be a positive integer (frames), got {hop_length!r}")
        if lags_np.ndim != 1 or lags_np.size == 0 or np.any(lags_np <= 0) or np.any(lags_np >= win_length - 1):
            raise ParameterError(f"lags must be a 1-D array in (0, win_length - 1) = (0, {win_length - 1}) frames")
        self.register_buffer("lags", torch.as_tensor(lags_np))
        self.window = as_parameter(scipy.signal.get_window(window, win_length, fftbins=True), trainable)
        self.win_length, self.hop_length, self.normalize = win_length, hop_length, bool(normalize)
        self.window_name = window

    @property
    def n_tempi(self) -> int:
        return int(self.lags.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeeze = x.ndim == 2
        if squeeze:
            x = x.unsqueeze(0)
        if x.ndim != 3:
            raise ParameterError(f"Autocorrelation expects (batch, channels, frames), got {tuple(x.shape)}")
        frames = x.shape[-1]
        w = self.win_length
        padded = F.pad(x, (w // 2, w // 2))
        windows = padded.unfold(-1, w, 1)[..., : frames : self.hop_length, :]  # (B, C, n_windows, w)
        windows = windows * self.window.to(x.dtype)
        n_fft = 2 * w
        spectrum = torch.fft.rfft(windows, n=n_fft, dim=-1)
        ac = torch.fft.irfft(spectrum.real.square() + spectrum.imag.square(), n=n_fft, dim=-1)[..., :w]
        if self.normalize:
            ac = ac / torch.clamp(ac[..., :1].abs(), min=torch.finfo(ac.dtype).tiny)
        lags = self.lags.to(x.device)
        lo = torch.floor(lags).to(torch.long)
        frac = (lags - lo).to(x.dtype)
        out = ac[..., lo] + frac * (ac[..., lo + 1] - ac[..., lo])  # (B, C, n_windows, K)
        out = out.transpose(-1, -2)
        return out[0] if squeeze else out

    def extra_repr(self) -> str:
        return f"n_tempi={self.n_tempi}, win_length={self.win_length}, hop_length={self.hop_length}, " \
               f"window={self.window_name!r}, normalize={self.normalize}"  # fmt: skip


__all__ = [
    "HALF_ENERGY_UNITS",
    "INTERPOLATIONS",
    "MAX_GAIN",
    "OUTPUTS",
    "Autocorrelation",
    "CombResonators",
    "bpm_grid",
    "bpm_to_delay",
    "comb_filter",
    "comb_gains",
    "comb_impulse_response",
    "interpolation_taps",
]
