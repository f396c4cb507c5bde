"""Onset strength (spectral flux) as a cascade, matching :func:`librosa.onset.onset_strength`.

``stft -> modulus -> mel -> db -> diff (time difference at lag) -> rectify -> mean (over bands) -> align``:
the spectral flux of the log-mel spectrogram is a shallow network whose last affine stage averages the
rectified band differences and whose ``align`` stage shifts the curve by librosa's framing offset.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from dlmir import params
from dlmir.errors import ParameterError
from dlmir.frontends.mel import _MelCascade
from dlmir.layers import AmplitudeToDB, Dense, HalfWaveRectify
from dlmir.layers.stage import Stage


class SpectralDifference(Stage):
    """``S[..., t] - ref[..., t - lag]`` over frames, ``ref`` = ``S`` max-filtered over ``max_size`` bands.

    Input ``(batch, bands, frames)``, output ``(batch, bands, frames - lag)``. ``max_size > 1`` applies a
    maximum filter over frequency (centred like :func:`scipy.ndimage.maximum_filter1d`) to the reference,
    as in SuperFlux / librosa's ``max_size``.
    """

    def __init__(self, *, lag: int = 1, max_size: int = 1) -> None:
        super().__init__()
        self.lag = params.positive_int("lag", lag)
        self.max_size = params.positive_int("max_size", max_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] <= self.lag:
            raise ParameterError(f"need more than lag={self.lag} frames for a time difference, got {x.shape[-1]}")
        ref = x
        if self.max_size > 1:
            left = self.max_size // 2
            right = self.max_size - 1 - left
            padded = F.pad(x.transpose(-1, -2), (left, right), value=float("-inf"))  # (batch, frames, bands + pad)
            ref = padded.unfold(-1, self.max_size, 1).amax(-1).transpose(-1, -2)
        return x[..., self.lag :] - ref[..., : -self.lag]

    def extra_repr(self) -> str:
        return f"lag={self.lag}, max_size={self.max_size}"


class FrameAlign(Stage):
    """Shift a ``(batch, 1, frames - lag)`` novelty curve right by ``pad`` frames (zeros) and trim.

    With ``center=True`` the output keeps the spectrogram's ``frames`` (librosa's trim); otherwise it has
    ``frames - lag + pad`` frames.
    """

    def __init__(self, *, pad: int, lag: int, center: bool) -> None:
        super().__init__()
        self.pad, self.lag, self.center = int(pad), int(lag), bool(center)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pad(x, (self.pad, 0))
        if self.center:
            out = out[..., : x.shape[-1] + self.lag]
        return out

    def extra_repr(self) -> str:
        return f"pad={self.pad}, lag={self.lag}, center={self.center}"


class OnsetStrength(_MelCascade):
    """Spectral-flux onset strength, matching :func:`librosa.onset.onset_strength`.

    Stages: ``"stft"`` -> ``"modulus"`` -> ``"mel"`` -> ``"db"`` (``power_to_db``, ``top_db=80``) -> ``"diff"``
    (:class:`SpectralDifference` at ``lag``) -> ``"rectify"`` (half-wave) -> ``"mean"`` (a
    :class:`~dlmir.layers.Dense` of weights ``1 / n_mels``: the mean over bands) -> ``"align"``
    (:class:`FrameAlign`: ``lag + n_fft // (2 * hop_length)`` leading zero frames with ``center=True``).

    Parameters
    ----------
    sr : float
        Sampling rate in Hz.
    hop_length, n_fft : int
        Hop and FFT size in samples.
    n_mels, fmin, fmax, htk, norm, window, win_length, pad_mode
        The log-mel spectrogram, as :class:`~dlmir.frontends.MelSpectrogram`.
    lag : int
        Time lag in frames for the difference.
    max_size : int
        Size (in bands) of the maximum filter over frequency applied to the reference spectrum.
    center : bool
        Align the curve to frame centres as librosa does (the STFT itself is always centred, as in librosa).
    top_db : float or None
        Dynamic range of the log-mel spectrogram in dB, per batch item (librosa: over the whole array).
    trainable : bool
        Unfreeze the DFT kernels, the mel filterbank and the band weights.

    Input ``(samples,)`` or ``(batch, samples)`` audio; output ``(batch, 1, frames)``, the same number of frames
    as :class:`~dlmir.frontends.MelSpectrogram` with ``center=True``.
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
        htk: bool = False,
        norm: Any = "slaney",
        window: Any = "hann",
        win_length: int | None = None,
        pad_mode: str = "constant",
        lag: int = 1,
        max_size: int = 1,
        center: bool = True,
        top_db: float | None = 80.0,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        diff = SpectralDifference(lag=lag, max_size=max_size)
        config = self._build_mel(
            sr=sr,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=True,
            pad_mode=pad_mode,
            power=2.0,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            htk=htk,
            norm=norm,
            trainable=trainable,
        )
        hop = config["hop_length"]
        self.append("db", AmplitudeToDB(kind="power", top_db=top_db))
        self.append("diff", diff)
        self.append("rectify", HalfWaveRectify())
        self.append("mean", Dense(np.full((1, n_mels), 1.0 / n_mels), trainable=trainable))
        pad = lag + (n_fft // (2 * hop) if center else 0)
        self.append("align", FrameAlign(pad=pad, lag=lag, center=center))
        # at least lag + 1 frames are needed; with the centred STFT that is lag * hop_length + 1 samples,
        # but we ask for one full frame like every other front end
        self.min_samples = max(n_fft, lag * hop + 1)
        config.pop("power")
        config["center"] = center
        self._remember(**config, lag=lag, max_size=max_size, top_db=top_db, trainable=trainable)


__all__ = ["FrameAlign", "OnsetStrength", "SpectralDifference"]
