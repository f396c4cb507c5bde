"""Chroma from the constant-Q transform: CQT -> (log compression) -> octave folding -> threshold -> normalise.

The designed cascade equals :func:`librosa.feature.chroma_cqt` (``cqt_mode='full'``): the CQT magnitude
(:class:`dlmir.frontends.CQT`), the octave-equivalence matrix of :func:`librosa.filters.cq_to_chroma` as a
:class:`~dlmir.layers.Dense` stage, librosa's ``threshold`` (values below it set to 0), and
:class:`~dlmir.layers.Normalize` over the chroma axis. :func:`dlmir.filters.octave_matrix` is the same matrix for
models that start from it (``init='octave'``). With ``tuning=None`` (the default, as librosa) each signal's
tuning is estimated and the CQT designed for it is used.
"""

from __future__ import annotations

import librosa
import numpy as np
import torch

from dlmir import params
from dlmir.errors import ParameterError
from dlmir.filters import check_tuning, octave_matrix
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.cqt import make_filterbank
from dlmir.layers import Dense, LogCompression, Modulus, Normalize
from dlmir.layers.stage import Stage


class Threshold(Stage):
    """librosa's chroma threshold: values below ``threshold`` become 0 (others pass unchanged)."""

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = float(threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x < self.threshold, torch.zeros_like(x), x)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold:g}"


class Chroma(FrontEnd):
    """Constant-Q chroma, matching :func:`librosa.feature.chroma_cqt` (its defaults, tuning estimated per signal).

    Stages: ``"filterbank"`` and ``"modulus"`` (the CQT of :class:`~dlmir.frontends.CQT`, ``n_octaves *
    bins_per_octave`` bins; with ``tuning=None`` the filterbank is a :class:`~dlmir.frontends.cqt.TunedFilterbank`
    that designs each signal's kernels for its estimated tuning), ``"compression"`` (``log(1 + log_gain * C)``,
    only when ``log_gain`` is given), ``"octave"`` (:class:`~dlmir.layers.Dense` with
    :func:`~dlmir.filters.octave_matrix`), ``"threshold"`` and, unless ``norm=None``, ``"normalize"``
    (:class:`~dlmir.layers.Normalize`). ``trainable=True`` unfreezes the CQT
    kernels (this needs a fixed ``tuning``), the octave matrix and the compression gain.

    Parameters
    ----------
    sr : float
        Sampling rate of the input in Hz.
    hop_length : int
        Samples between frames.
    fmin : float or None
        Lowest CQT frequency in Hz before tuning; ``None`` is C1 (32.70 Hz).
    norm : float or None
        Per-frame norm over the chroma axis (``inf``, 1 or 2); ``None`` leaves chroma unnormalised.
    threshold : float
        Chroma values below this are set to 0 before normalising (librosa's semantics).
    tuning : float or None
        Tuning offset in fractions of a CQT bin. ``None`` (the default, as ``librosa.feature.chroma_cqt``)
        estimates it for each signal of the batch with ``librosa.estimate_tuning(y=y, sr=sr,
        bins_per_octave=bins_per_octave)``, without gradient, and uses the CQT designed for it (designs are
        cached per tuning value). A number fixes it for every signal (``0.0`` = A440); ``trainable=True``
        needs a number.
    n_chroma : int
        Pitch classes per octave.
    n_octaves : int
        Octaves of CQT analysed, from ``fmin`` up.
    bins_per_octave : int
        CQT bins per octave (a multiple of ``n_chroma``).
    cqt_mode : str
        Only ``'full'`` (librosa's default) is supported.
    log_gain : float or None
        If given, insert a ``log(1 + log_gain * C)`` compression stage (trainable gain) after the CQT; off by
        default, so that the designed chroma equals librosa's.
    trainable : bool
        Unfreeze the designed parameters.

    Input ``(samples,)`` or ``(batch, samples)`` audio; output ``(batch, n_chroma, 1 + samples // hop_length)``.
    """

    def __init__(
        self,
        *,
        sr: float = 22050,
        hop_length: int = 512,
        fmin: float | None = None,
        norm: float | None = np.inf,
        threshold: float = 0.0,
        tuning: float | None = None,
        n_chroma: int = 12,
        n_octaves: int = 7,
        bins_per_octave: int = 36,
        cqt_mode: str = "full",
        log_gain: float | None = None,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        if cqt_mode != "full":
            raise ParameterError(f"cqt_mode={cqt_mode!r} is not supported; dlmir's Chroma uses cqt_mode='full'")
        n_octaves = params.positive_int("n_octaves", n_octaves)
        n_chroma = params.positive_int("n_chroma", n_chroma)
        bins_per_octave = params.positive_int("bins_per_octave", bins_per_octave)
        if bins_per_octave % n_chroma != 0:
            raise ParameterError(
                f"bins_per_octave={bins_per_octave} must be an integer multiple of n_chroma={n_chroma}"
            )
        if norm is not None and norm not in (1, 2, np.inf):
            raise ParameterError(f"norm must be 1, 2, np.inf or None, got {norm!r}")
        try:
            threshold = float(threshold)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"threshold must be a number, got {threshold!r}") from exc
        if tuning is not None:
            tuning = check_tuning(tuning, bins_per_octave=bins_per_octave)
        n_bins = n_octaves * bins_per_octave
        design = dict(sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave)
        filterbank, frequencies = make_filterbank(design, tuning=tuning, trainable=trainable)
        self.append("filterbank", filterbank)
        self.append("modulus", Modulus())
        if log_gain is not None:
            self.append("compression", LogCompression(params.positive_float("log_gain", log_gain), trainable=trainable))
        self.append(
            "octave",
            Dense(octave_matrix(n_bins, bins_per_octave, n_chroma=n_chroma, fmin=fmin), trainable=trainable),
        )
        self.append("threshold", Threshold(threshold))
        if norm is not None:
            self.append("normalize", Normalize(norm))
        self.min_samples = filterbank.min_samples()
        self.frequencies = frequencies
        self._remember(
            sr=float(sr),
            hop_length=int(hop_length),
            fmin=float(librosa.note_to_hz("C1")) if fmin is None else float(fmin),
            norm=None if norm is None else float(norm),
            threshold=threshold,
            tuning=tuning,
            n_chroma=n_chroma,
            n_octaves=n_octaves,
            bins_per_octave=bins_per_octave,
            cqt_mode=cqt_mode,
            log_gain=None if log_gain is None else float(log_gain),
            trainable=bool(trainable),
        )


__all__ = ["Chroma", "Threshold"]
