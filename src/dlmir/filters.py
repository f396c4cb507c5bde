"""Filter design: the designed parameters of every front end, computed in numpy, apart from the modules that apply them.

The front ends (:mod:`dlmir.frontends`) and the learned models start from these arrays; as Kymatio keeps its
filter banks apart from its scattering core, dlmir keeps *designing* parameters here and *applying* them (torch
stages) in :mod:`dlmir.frontends` and :mod:`dlmir.layers`.

- :func:`stft_window`, :func:`dft_kernels`: the windowed DFT of :func:`librosa.stft`;
- :func:`mel_filterbank`: :func:`librosa.filters.mel`, parameters checked;
- :func:`dct_matrix`: the DCT (and lifter) of :func:`librosa.feature.mfcc` as a matrix;
- :func:`octave_matrix`: the octave-equivalence matrix :func:`librosa.filters.cq_to_chroma`;
- :func:`design_cqt` (-> :class:`CQTDesign` of :class:`OctaveDesign`): the multirate constant-Q filterbank of
  :func:`librosa.cqt`, for one ``tuning``.

Every function validates its parameters and raises :class:`~dlmir.errors.ParameterError` early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np
import scipy.fft

from dlmir import params
from dlmir.errors import ParameterError

#: The ``res_type`` values whose integer-factor decimation is a fixed FIR that dlmir mirrors
#: (measured by :func:`dlmir.frontends.resample.decimation_kernel`).
RES_TYPES = ("soxr_vhq", "soxr_hq", "soxr_mq", "soxr_lq", "polyphase")


def stft_window(window: Any, *, n_fft: int, win_length: int) -> np.ndarray:
    """The analysis window of length ``win_length`` zero-padded (centred) to ``n_fft`` samples, float64.

    Uses :func:`librosa.filters.get_window` (any name, tuple or array librosa accepts) and
    :func:`librosa.util.pad_center`, exactly as :func:`librosa.stft` does.
    """
    try:
        w = librosa.filters.get_window(window, win_length, fftbins=True)
    except Exception as exc:  # librosa/scipy raise ValueError/ParameterError for unknown windows
        raise ParameterError(f"window={window!r} is not a valid window for win_length={win_length}: {exc}") from exc
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (win_length,):
        raise ParameterError(f"window has {w.shape} samples, expected win_length={win_length}")
    return librosa.util.pad_center(w, size=n_fft)


def dft_kernels(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Real and imaginary windowed DFT kernels, each ``(1 + n_fft // 2, n_fft)`` float64.

    ``window`` has ``n_fft`` samples (already padded); the sign convention is ``exp(-2j pi k n / n_fft)``.
    """
    n_fft = window.shape[0]
    k = np.arange(1 + n_fft // 2)[:, None]
    n = np.arange(n_fft)[None, :]
    phase = 2.0 * np.pi * ((k * n) % n_fft) / n_fft  # reduce k*n mod n_fft first: exact phases
    return window * np.cos(phase), -window * np.sin(phase)


def mel_filterbank(
    *, sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool, norm: Any
) -> np.ndarray:
    """Mel filterbank ``(n_mels, 1 + n_fft // 2)`` float64 from :func:`librosa.filters.mel`, parameters checked."""
    params.positive_float("sr", sr)
    params.positive_int("n_mels", n_mels)
    fmin, fmax = params.frequency_range(sr, fmin, fmax)
    try:
        return librosa.filters.mel(
            sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=np.float64
        )
    except librosa.util.exceptions.ParameterError as exc:
        raise ParameterError(f"invalid mel filterbank parameter: {exc}") from exc


def dct_matrix(
    n_mfcc: int, n_mels: int, *, dct_type: int = 2, norm: str | None = "ortho", lifter: float = 0
) -> np.ndarray:
    """DCT (and cepstral lifter) as a ``(n_mfcc, n_mels)`` float64 matrix: ``D @ S == dct(S, axis=-2)[:n_mfcc]``.

    Built by applying :func:`scipy.fft.dct` to the identity; with ``lifter > 0`` row ``i`` (0-based) is scaled
    by ``1 + (lifter / 2) sin(pi (i + 1) / lifter)``, as in :func:`librosa.feature.mfcc`.
    """
    params.positive_int("n_mfcc", n_mfcc)
    if n_mfcc > n_mels:
        raise ParameterError(f"n_mfcc={n_mfcc} must be <= n_mels={n_mels} (the DCT has n_mels coefficients)")
    if dct_type not in (1, 2, 3):
        raise ParameterError(f"dct_type must be 1, 2 or 3, got {dct_type!r}")
    if norm not in (None, "ortho"):
        raise ParameterError(f"DCT norm must be None or 'ortho', got {norm!r}")
    if dct_type == 1 and n_mels < 2:
        raise ParameterError("dct_type=1 needs n_mels >= 2")
    if lifter < 0:
        raise ParameterError(f"MFCC lifter={lifter} must be a non-negative number")
    d = scipy.fft.dct(np.eye(n_mels), type=dct_type, norm=norm, axis=0)[:n_mfcc]
    if lifter > 0:
        d = d * (1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter))[:, None]
    return d


def octave_matrix(n_bins: int, bins_per_octave: int, *, n_chroma: int = 12, fmin: float | None = None) -> np.ndarray:
    """The octave-equivalence (CQT-to-chroma) matrix, :func:`librosa.filters.cq_to_chroma`.

    Parameters
    ----------
    n_bins : int
        Number of CQT bins (rows of the CQT).
    bins_per_octave : int
        CQT bins per octave; a multiple of ``n_chroma``.
    n_chroma : int
        Number of chroma bins (pitch classes), 12 by default.
    fmin : float or None
        Centre frequency of the lowest CQT bin in Hz, used to rotate the matrix so that row 0 is C;
        ``None`` is C1 (32.70 Hz).

    Returns
    -------
    np.ndarray, float32, shape ``(n_chroma, n_bins)``
        Entries 0 or 1: each CQT bin adds to the pitch class it belongs to (``bins_per_octave / n_chroma``
        neighbouring bins, centred, per pitch class).

    Raises
    ------
    ParameterError : ``bins_per_octave`` is not a multiple of ``n_chroma``, or a count is not positive.
    """
    n_bins = params.positive_int("n_bins", n_bins)
    bins_per_octave = params.positive_int("bins_per_octave", bins_per_octave)
    n_chroma = params.positive_int("n_chroma", n_chroma)
    if bins_per_octave % n_chroma != 0:
        raise ParameterError(f"bins_per_octave={bins_per_octave} must be an integer multiple of n_chroma={n_chroma}")
    if fmin is not None:
        params.positive_float("fmin", fmin)
    return librosa.filters.cq_to_chroma(n_bins, bins_per_octave=bins_per_octave, n_chroma=n_chroma, fmin=fmin)


@dataclass(frozen=True)
class OctaveDesign:
    """The designed filters of one octave (``octave`` 0 is the top octave).

    ``basis`` is complex, shape ``(n_filters, hi - lo)``: the frequency-domain kernels over rFFT bins
    ``[lo, hi)`` of an ``n_fft``-point rectangular-window STFT with hop ``hop_length`` samples at ``sr`` Hz.
    ``decimate_after``: the signal is halved in rate before the next octave.
    """

    octave: int
    sr: float
    hop_length: int
    n_fft: int
    lo: int
    hi: int
    basis: np.ndarray
    decimate_after: bool


@dataclass(frozen=True)
class CQTDesign:
    """Everything the multirate filterbank needs, computed in numpy from librosa's constructors.

    ``frequencies`` (Hz, ascending, tuned), ``lengths`` (filter lengths in samples at the original ``sr``),
    ``early_factor`` (1 = no early downsampling), ``octaves`` (top first), ``res_type``.
    """

    frequencies: np.ndarray
    lengths: np.ndarray
    early_factor: int
    octaves: tuple[OctaveDesign, ...]
    res_type: str
    scale: bool


def _two_factors(x: int) -> int:
    count = 0
    while x > 0 and x % 2 == 0:
        count, x = count + 1, x // 2
    return count


def _early_downsample_count(nyquist: float, filter_cutoff: float, hop_length: int, n_octaves: int) -> int:
    """librosa's ``__early_downsample_count``: how many times to halve the rate before the first octave."""
    count1 = max(0, int(np.ceil(np.log2(nyquist / filter_cutoff)) - 1) - 1)
    count2 = max(0, _two_factors(hop_length) - n_octaves + 1)
    return min(count1, count2)


def check_tuning(tuning: float | None, *, bins_per_octave: int) -> float:
    """Return ``tuning`` (fractions of a bin) as a float; ``None`` is refused with advice.

    A design is for one tuning; ``tuning=None`` (estimate per signal) is the front ends' job
    (:class:`dlmir.frontends.cqt.TunedFilterbank`).
    """
    if tuning is None:
        raise ParameterError(
            "a filter design needs a number for tuning (fractions of a bin, 0.0 = A440), got None; estimate one "
            f"with librosa.estimate_tuning(y=y, sr=sr, bins_per_octave={bins_per_octave}), or use the CQT/Chroma "
            "front ends with tuning=None, which estimate it per signal"
        )
    try:
        value = float(tuning)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value):
        raise ParameterError(f"tuning must be a finite number of bins (e.g. 0.0), got {tuning!r}")
    return value


def design_cqt(
    *,
    sr: float = 22050,
    hop_length: int = 512,
    fmin: float | None = None,
    n_bins: int = 84,
    bins_per_octave: int = 12,
    tuning: float | None = 0.0,
    filter_scale: float = 1,
    norm: float | None = 1,
    sparsity: float = 0.01,
    window: Any = "hann",
    scale: bool = True,
    res_type: str = "soxr_hq",
) -> CQTDesign:
    """Validate librosa's CQT parameters and design the multirate filterbank (numpy, float64/complex128).

    Parameters follow :func:`librosa.cqt`; ``fmin=None`` is C1 (32.70 Hz), ``tuning`` is in fractions of a bin.

    Raises
    ------
    ParameterError : a parameter is invalid, or the top filter reaches above Nyquist (the message gives both
        frequencies in Hz).
    """
    sr = params.positive_float("sr", sr)
    hop_length = params.positive_int("hop_length", hop_length)
    n_bins = params.positive_int("n_bins", n_bins)
    bins_per_octave = params.positive_int("bins_per_octave", bins_per_octave)
    filter_scale = params.positive_float("filter_scale", filter_scale)
    fmin = float(librosa.note_to_hz("C1")) if fmin is None else params.positive_float("fmin", fmin)
    tuning = check_tuning(tuning, bins_per_octave=bins_per_octave)
    if norm is not None and not (isinstance(norm, int | float) and norm > 0):
        raise ParameterError(f"norm must be a positive number, np.inf or None, got {norm!r}")
    if not (isinstance(sparsity, int | float) and 0 <= sparsity < 1):
        raise ParameterError(f"sparsity must be in [0, 1), got {sparsity!r}")
    if res_type not in RES_TYPES:
        raise ParameterError(f"res_type={res_type!r} is not supported by dlmir's resampler; use one of {RES_TYPES}")
    try:
        librosa.filters.get_window(window, 16)
    except Exception as exc:
        raise ParameterError(f"window={window!r} is not a window librosa knows: {exc}") from exc

    n_octaves = int(np.ceil(float(n_bins) / bins_per_octave))
    n_filters = min(bins_per_octave, n_bins)
    fmin_tuned = fmin * 2.0 ** (tuning / bins_per_octave)
    freqs = librosa.cqt_frequencies(n_bins=n_bins, fmin=fmin_tuned, bins_per_octave=bins_per_octave)
    r = 2.0 ** (1.0 / bins_per_octave)
    alpha = np.full(n_bins, (r**2 - 1) / (r**2 + 1))  # equal-tempered relative bandwidth, as librosa's

    _, filter_cutoff = librosa.filters.wavelet_lengths(
        freqs=freqs, sr=sr, window=window, filter_scale=filter_scale, gamma=0, alpha=alpha
    )
    nyquist = sr / 2.0
    if filter_cutoff > nyquist:
        raise ParameterError(
            f"the top CQT filter (centre {freqs[-1]:.1f} Hz) reaches {filter_cutoff:.1f} Hz, above the Nyquist "
            f"frequency {nyquist:.1f} Hz for sr={sr:g}; lower fmin ({fmin:.2f} Hz) or n_bins ({n_bins})"
        )

    count = _early_downsample_count(nyquist, filter_cutoff, hop_length, n_octaves)
    early_factor = 2**count
    sr_work, hop_work = sr / early_factor, hop_length // early_factor

    lengths, _ = librosa.filters.wavelet_lengths(
        freqs=freqs, sr=sr_work, window=window, filter_scale=filter_scale, gamma=0, alpha=alpha
    )
    octaves = []
    my_sr, my_hop = sr_work, hop_work
    for i in range(n_octaves):
        sl = slice(-n_filters, None) if i == 0 else slice(-n_filters * (i + 1), -n_filters * i)
        basis, oct_lengths = librosa.filters.wavelet(
            freqs=freqs[sl],
            sr=my_sr,
            filter_scale=filter_scale,
            norm=norm,
            pad_fft=True,
            window=window,
            gamma=0,
            alpha=alpha[sl],
            dtype=np.complex128,
        )
        n_fft = basis.shape[1]
        basis = basis * (oct_lengths[:, None] / float(n_fft))
        fft_basis = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
        fft_basis = librosa.util.sparsify_rows(fft_basis, quantile=sparsity, dtype=np.complex128).toarray()
        fft_basis *= np.sqrt(sr_work / my_sr)
        if scale:
            fft_basis /= np.sqrt(lengths[sl])[:, None]
        cols = np.nonzero(np.any(fft_basis != 0, axis=0))[0]
        lo, hi = (int(cols.min()), int(cols.max()) + 1) if cols.size else (0, 1)
        halve = my_hop % 2 == 0 and i < n_octaves - 1
        octaves.append(OctaveDesign(i, my_sr, my_hop, n_fft, lo, hi, fft_basis[:, lo:hi], halve))
        if my_hop % 2 == 0:
            my_hop //= 2
            my_sr /= 2.0
    return CQTDesign(freqs, lengths, early_factor, tuple(octaves), res_type, bool(scale))


__all__ = [
    "RES_TYPES",
    "CQTDesign",
    "OctaveDesign",
    "check_tuning",
    "dct_matrix",
    "design_cqt",
    "dft_kernels",
    "mel_filterbank",
    "octave_matrix",
    "stft_window",
]
