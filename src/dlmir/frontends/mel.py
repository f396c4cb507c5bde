"""Mel spectrogram and MFCC as cascades: STFT -> modulus -> mel filterbank (-> decibels -> DCT).

Each stage is a member of the layer vocabulary (:mod:`dlmir.layers`): the STFT, the mel filterbank and
the DCT are affine maps whose designed parameters come from :func:`librosa.filters.mel` and
:func:`scipy.fft.dct`; the modulus and the decibel conversion are pointwise nonlinearities.
"""

from __future__ import annotations

from typing import Any

import torch

from dlmir import params
from dlmir.filters import dct_matrix, mel_filterbank
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.stft import make_dft
from dlmir.io import check_signal
from dlmir.layers import AmplitudeToDB, Cascade, Dense, Modulus

_CHUNK_SAMPLES = 2**19  # audio samples per chunk of batch items (~24 s at 22050 Hz)


class _MelCascade(FrontEnd):
    """Builds ``stft -> modulus -> mel`` and remembers the parameters (shared by the mel front ends).

    A batch of long signals runs a few items at a time (about ``2**19`` samples per chunk) and the outputs
    are concatenated: every stage acts per item, so the result is the same, and the spectrogram of a chunk
    stays in cache (2-3x faster than the whole batch at once for 16 x 30 s on a 2-core CPU).
    """

    def forward(self, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = check_signal(y, min_samples=self.min_samples)
        step = max(1, _CHUNK_SAMPLES // y.shape[-1])
        if y.shape[0] <= step:
            return Cascade.forward(self, y)  # the signal is checked already
        return torch.cat([Cascade.forward(self, y[i : i + step]) for i in range(0, y.shape[0], step)])

    def _build_mel(
        self,
        *,
        sr: float,
        n_fft: int,
        hop_length: int | None,
        win_length: int | None,
        window: Any,
        center: bool,
        pad_mode: str,
        power: float,
        n_mels: int,
        fmin: float,
        fmax: float | None,
        htk: bool,
        norm: Any,
        trainable: bool,
    ) -> dict[str, Any]:
        params.positive_float("power", power)
        dft, hop_length, win_length = make_dft(
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            trainable=trainable,
        )
        basis = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
        self.append("stft", dft)
        self.append("modulus", Modulus(power))
        self.append("mel", Dense(basis, trainable=trainable))
        self.min_samples = n_fft
        return dict(
            sr=sr,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window if isinstance(window, str | tuple) else "custom",
            center=center,
            pad_mode=pad_mode,
            power=power,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            htk=htk,
            norm=norm,
        )


class MelSpectrogram(_MelCascade):
    """Mel-scaled spectrogram, matching :func:`librosa.feature.melspectrogram`.

    Stages: ``"stft"`` (:class:`~dlmir.frontends.stft.DFT`, affine) -> ``"modulus"`` (``|X| ** power``)
    -> ``"mel"`` (:class:`~dlmir.layers.Dense` holding :func:`librosa.filters.mel`, affine).

    Parameters
    ----------
    sr : float
        Sampling rate of the input in Hz.
    n_fft, hop_length, win_length, window, center, pad_mode
        As :class:`~dlmir.frontends.STFT` (samples); ``hop_length`` defaults to 512 as in librosa.
    power : float
        Exponent of the magnitude: 1 for energy (amplitude), 2 for power.
    n_mels : int
        Number of mel bands.
    fmin, fmax : float
        Lowest and highest frequency in Hz (``fmax=None``: ``sr / 2``).
    htk : bool
        HTK mel formula instead of Slaney's.
    norm : {'slaney', None} or number
        Filter normalisation, as :func:`librosa.filters.mel`.
    trainable : bool
        Unfreeze the DFT kernels and the mel filterbank.

    Input ``(samples,)`` or ``(batch, samples)`` audio; output ``(batch, n_mels, frames)`` (real, same dtype).
    """

    def __init__(
        self,
        *,
        sr: float = 22050,
        n_fft: int = 2048,
        hop_length: int = 512,
        win_length: int | None = None,
        window: Any = "hann",
        center: bool = True,
        pad_mode: str = "constant",
        power: float = 2.0,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        htk: bool = False,
        norm: Any = "slaney",
        trainable: bool = False,
    ) -> None:
        super().__init__()
        config = self._build_mel(
            sr=sr,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            power=power,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            htk=htk,
            norm=norm,
            trainable=trainable,
        )
        self._remember(**config, trainable=trainable)


class MFCC(_MelCascade):
    """Mel-frequency cepstral coefficients, matching :func:`librosa.feature.mfcc`.

    Stages: ``"stft"`` -> ``"modulus"`` (power 2) -> ``"mel"`` -> ``"db"``
    (:class:`~dlmir.layers.AmplitudeToDB`, as :func:`librosa.power_to_db` with ``top_db``) -> ``"dct"``
    (:class:`~dlmir.layers.Dense` holding the DCT matrix, with the lifter folded in).

    Parameters
    ----------
    sr : float
        Sampling rate in Hz.
    n_mfcc : int
        Number of coefficients (``<= n_mels``).
    dct_type : {1, 2, 3}
        DCT type, as :func:`scipy.fft.dct`.
    norm : {'ortho', None}
        DCT normalisation.
    lifter : float
        Cepstral liftering (0: none).
    mel_norm : {'slaney', None} or number
        Mel filter normalisation (librosa's ``mel_norm``).
    top_db : float or None
        Dynamic range of the log-mel spectrogram in dB. librosa clips over the whole array it is given;
        dlmir clips each batch item on its own (identical for a batch of one).
    n_fft, hop_length, win_length, window, center, pad_mode, power, n_mels, fmin, fmax, htk
        As :class:`MelSpectrogram`.
    trainable : bool
        Unfreeze the DFT kernels, the mel filterbank and the DCT.

    Input ``(samples,)`` or ``(batch, samples)`` audio; output ``(batch, n_mfcc, frames)``.
    """

    def __init__(
        self,
        *,
        sr: float = 22050,
        n_mfcc: int = 20,
        dct_type: int = 2,
        norm: str | None = "ortho",
        lifter: float = 0,
        mel_norm: Any = "slaney",
        top_db: float | None = 80.0,
        n_fft: int = 2048,
        hop_length: int = 512,
        win_length: int | None = None,
        window: Any = "hann",
        center: bool = True,
        pad_mode: str = "constant",
        power: float = 2.0,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        htk: bool = False,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        dct = dct_matrix(n_mfcc, n_mels, dct_type=dct_type, norm=norm, lifter=lifter)
        config = self._build_mel(
            sr=sr,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            power=power,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            htk=htk,
            norm=mel_norm,
            trainable=trainable,
        )
        self.append("db", AmplitudeToDB(kind="power", top_db=top_db))
        self.append("dct", Dense(dct, trainable=trainable))
        config["mel_norm"] = config.pop("norm")
        self._remember(
            **config, n_mfcc=n_mfcc, dct_type=dct_type, norm=norm, lifter=lifter, top_db=top_db, trainable=trainable
        )


__all__ = ["MFCC", "MelSpectrogram"]
