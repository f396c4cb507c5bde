"""The constant-Q transform as a multirate affine stage followed by the complex modulus.

The designed parameters mirror librosa 0.11's ``librosa.cqt`` (``librosa/core/constantq.py``) step for step:

1. *Early downsampling* when the filters sit far below Nyquist (``librosa``'s ``__early_downsample``).
2. For each octave, from the top: a rectangular-window STFT of the (decimated) signal with ``n_fft`` the
   filters' power-of-two length, then a complex matrix product with the octave's frequency-domain wavelet
   basis (:func:`librosa.filters.wavelet`, re-normalised by ``lengths / n_fft``, FFT, rows sparsified with
   :func:`librosa.util.sparsify_rows` at ``sparsity``, times ``sqrt(sr / sr_octave)``, and divided by
   ``sqrt(lengths)`` when ``scale=True``).
3. Between octaves the signal is halved in rate with the FIR that ``librosa.resample(res_type='soxr_hq',
   scale=True)`` applies, measured once and run in torch (:mod:`dlmir.frontends.resample`).

The basis of each octave is kept only over the FFT bins where librosa's sparsified basis is nonzero (a band
of 20-50% of the bins), as two real parameters ``real[o]``, ``imag[o]`` of shape ``(n_filters, band)``;
``trainable=True`` learns them (in that band). The decimation FIR is a buffer: it is anti-aliasing, not a
feature, and stays fixed.

Measured against ``np.abs(librosa.cqt(...))`` on 30 s clips of real music (relative Frobenius error, float32;
``benchmarks/cqt.py``): 4.6e-7 overall / 5.4e-7 in the lowest octave for 84 bins at 12 per octave, 4.7e-7 /
5.5e-7 for 252 at 36, 5.4e-7 / 6.3e-7 for 192 at 24. Speed, batch of 16 x 30 s at 22050 Hz on the 2-core
development CPU (quiet machine): 0.14-0.23 s for 84 bins against 0.8-1.1 s for librosa looping over the clips.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import librosa
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlmir.errors import AudioError, ParameterError
from dlmir.filters import CQTDesign, check_tuning, design_cqt
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.resample import decimate, decimation_kernel
from dlmir.frontends.stft import check_pad_mode
from dlmir.layers import Modulus
from dlmir.layers.stage import Stage, as_parameter

_CHUNK_ELEMENTS = 2**23  # STFT samples per chunk (frames x n_fft x batch): 32 MB of float32
_TORCH_PAD = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


class MultirateFilterbank(Stage):
    """The CQT's affine stage: ``(batch, samples)`` real audio -> ``(batch, n_bins, frames)`` complex.

    Built from a :class:`CQTDesign`. Parameters: ``real[o]``, ``imag[o]`` (float64, ``(n_filters, band)``),
    the frequency-domain kernels of octave ``o`` (0 = top) over rFFT bins ``[lo, hi)``. Buffers: the
    decimation FIRs. ``pad_mode`` pads each octave's STFT frames (``n_fft // 2`` samples per side).
    Frames: ``1 + samples // hop_length``, as :func:`librosa.cqt`.
    """

    def __init__(self, design: CQTDesign, *, pad_mode: str = "constant", trainable: bool = False) -> None:
        super().__init__()
        self.pad_mode = check_pad_mode(pad_mode)
        self.early_factor = design.early_factor
        res_type = design.res_type
        if design.early_factor > 1:
            early = decimation_kernel(design.early_factor, res_type, scale=True)
            if not design.scale:  # librosa compensates here when it will not length-normalise later
                early = early * math.sqrt(design.early_factor)
            self.register_buffer("early_kernel", torch.as_tensor(early))
        else:
            self.register_buffer("early_kernel", None)
        self.register_buffer("half_kernel", torch.as_tensor(decimation_kernel(2, res_type, scale=True)))
        self.real = nn.ParameterList([as_parameter(o.basis.real.copy(), trainable) for o in design.octaves])
        self.imag = nn.ParameterList([as_parameter(o.basis.imag.copy(), trainable) for o in design.octaves])
        self.n_fft = [o.n_fft for o in design.octaves]
        self.hops = [o.hop_length for o in design.octaves]
        self.bands = [(o.lo, o.hi) for o in design.octaves]
        self.decimate_after = [o.decimate_after for o in design.octaves]
        self.n_bins = int(design.frequencies.shape[0])

    def min_samples(self) -> int:
        """Shortest signal (samples) the STFT padding accepts: 1, or enough for ``pad_mode='reflect'``."""
        if self.pad_mode != "reflect":
            return 1
        need = 1
        for n_fft, halve in zip(reversed(self.n_fft), reversed(self.decimate_after), strict=True):
            need = 2 * (need - 1) + 1 if halve else need
            need = max(need, n_fft // 2 + 1)
        return self.early_factor * (need - 1) + 1

    def _response(self, y: torch.Tensor, octave: int, kernel: torch.Tensor) -> torch.Tensor:
        """One octave: rectangular-window STFT of ``y``, band ``[lo, hi)``, times ``kernel.T``.

        Returns complex ``(batch, n_filters, frames)``; frames are processed in chunks.
        """
        n_fft, hop, (lo, hi) = self.n_fft[octave], self.hops[octave], self.bands[octave]
        p = n_fft // 2
        mode = _TORCH_PAD[self.pad_mode]
        if mode == "constant":
            padded = F.pad(y, (p, p))
        else:
            padded = F.pad(y.unsqueeze(1), (p, p), mode=mode).squeeze(1)
        frames = padded.unfold(-1, n_fft, hop)  # (batch, frames, n_fft), a view
        per_chunk = max(1, _CHUNK_ELEMENTS // (n_fft * y.shape[0]))
        pieces = [
            torch.matmul(kernel, torch.fft.rfft(frames[:, s : s + per_chunk], dim=-1)[..., lo:hi].transpose(-1, -2))
            for s in range(0, frames.shape[1], per_chunk)
        ]
        return torch.cat(pieces, dim=-1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim == 1:
            y = y.unsqueeze(0)
        if y.device != self.half_kernel.device:
            raise ParameterError(
                f"input is on {y.device} but the CQT's filters are on {self.half_kernel.device}; "
                "move one with .to(device)"
            )
        if self.early_kernel is not None:
            y = decimate(y, self.early_kernel, self.early_factor)
        cdtype = torch.complex128 if y.dtype == torch.float64 else torch.complex64
        outputs = []
        for o in range(len(self.n_fft)):
            kernel = torch.complex(self.real[o].to(y.dtype), self.imag[o].to(y.dtype)).to(cdtype)
            outputs.append(self._response(y, o, kernel))  # (batch, n_filters, frames)
            if self.decimate_after[o]:
                y = decimate(y, self.half_kernel, 2)
        frames = min(out.shape[-1] for out in outputs)
        return torch.cat([out[..., :frames] for out in reversed(outputs)], dim=-2)

    def time_kernels(self, octave: int) -> np.ndarray:
        """The octave's kernels in the time domain, complex ``(n_filters, n_fft)`` samples at that octave's rate.

        The inverse DFT of the (one-sided) frequency-domain kernels: for the designed top octave with
        ``sparsity=0`` and ``scale=False`` this is :func:`librosa.filters.wavelet` times ``lengths / n_fft`` up
        to its negligible negative-frequency content (6e-5 relative for 12 bins per octave). Useful to plot
        what a trained filterbank has learned.
        """
        lo, hi = self.bands[octave]
        n_fft = self.n_fft[octave]
        spec = np.zeros((self.real[octave].shape[0], n_fft // 2 + 1), dtype=np.complex128)
        spec[:, lo:hi] = (
            self.real[octave].detach().cpu().double().numpy() + 1j * self.imag[octave].detach().cpu().double().numpy()
        )
        full = np.zeros((spec.shape[0], n_fft), dtype=np.complex128)
        full[:, : n_fft // 2 + 1] = spec
        return np.fft.ifft(full, axis=1)

    def extra_repr(self) -> str:
        return (
            f"n_bins={self.n_bins}, octaves={len(self.n_fft)}, n_fft={self.n_fft[0]}, "
            f"early_factor={self.early_factor}, pad_mode={self.pad_mode!r}, trainable={self.trainable}"
        )


@lru_cache(maxsize=64)
def _cached_design(key: tuple[tuple[str, Any], ...]) -> CQTDesign:
    return design_cqt(**dict(key))


def _design(design: dict[str, Any], tuning: float) -> CQTDesign:
    """:func:`~dlmir.filters.design_cqt` for ``tuning``, cached process-wide when the parameters are hashable."""
    kwargs = {**design, "tuning": tuning}
    key = tuple(sorted(kwargs.items()))
    try:
        hash(key)
    except TypeError:  # e.g. a window given as an array
        return design_cqt(**kwargs)
    return _cached_design(key)


class TunedFilterbank(Stage):
    """The CQT's affine stage for ``tuning=None``: each signal gets the filterbank designed for its own tuning.

    For every batch item the tuning (fractions of a bin) is estimated exactly as ``librosa.cqt(tuning=None)``
    and ``librosa.feature.chroma_cqt`` do, ``librosa.estimate_tuning(y=y, sr=sr,
    bins_per_octave=bins_per_octave)``, in numpy on the item's samples and without gradient; the items are
    then run through the :class:`MultirateFilterbank` of :func:`~dlmir.filters.design_cqt` at that tuning.
    Estimates fall on librosa's 0.01-bin grid, so designs are cached per tuning value (process-wide, and the
    built filterbanks per stage: at most ``cache_size``); a repeated call costs the estimate and the transform.

    ``(batch, samples)`` real audio -> ``(batch, n_bins, 1 + samples // hop_length)`` complex, like
    :class:`MultirateFilterbank`; the output is differentiable with respect to the audio (the tuning choice
    is not). The stage has no parameters: its kernels are redesigned per signal, so there is nothing to
    train; build the front end with a number for ``tuning`` to learn the kernels.

    Parameters
    ----------
    design : dict
        Keyword arguments of :func:`~dlmir.filters.design_cqt` except ``tuning``.
    pad_mode : str
        As :class:`MultirateFilterbank`.
    cache_size : int
        Filterbanks (one per tuning value) kept by this stage.
    """

    def __init__(self, design: dict[str, Any], *, pad_mode: str = "constant", cache_size: int = 32) -> None:
        super().__init__()
        self.design = {k: v for k, v in design.items() if k != "tuning"}
        self.pad_mode = check_pad_mode(pad_mode)
        self.cache_size = int(cache_size)
        self._banks: OrderedDict[float, MultirateFilterbank] = OrderedDict()  # not submodules: no state
        self.sr = float(self.design.get("sr", 22050))  # design_cqt's defaults
        self.bins_per_octave = int(self.design.get("bins_per_octave", 12))
        reference = self.filterbank(0.0)  # designs once now, so bad parameters raise here
        self.n_bins = reference.n_bins
        self.frequencies = _design(self.design, 0.0).frequencies.copy()  # untuned (A440) centres, Hz
        if self.pad_mode == "reflect":  # the FFT lengths (hence the padding) can change with the tuning
            self._min_samples = max(self.filterbank(t).min_samples() for t in (-0.5, 0.0, 0.49))
        else:
            self._min_samples = reference.min_samples()

    def min_samples(self) -> int:
        """Shortest signal (samples) the STFT padding accepts, for any tuning in ``[-0.5, 0.5)`` bins."""
        return self._min_samples

    def filterbank(self, tuning: float, device: torch.device | str | None = None) -> MultirateFilterbank:
        """The (frozen) :class:`MultirateFilterbank` designed for ``tuning`` (fractions of a bin), cached."""
        tuning = check_tuning(tuning, bins_per_octave=self.bins_per_octave)
        bank = self._banks.pop(tuning, None)
        if bank is None:
            bank = MultirateFilterbank(_design(self.design, tuning), pad_mode=self.pad_mode)
        self._banks[tuning] = bank
        while len(self._banks) > self.cache_size:
            self._banks.popitem(last=False)
        if device is not None and bank.half_kernel.device != torch.device(device):
            bank.to(device)
        return bank

    def estimate_tuning(self, y: torch.Tensor | np.ndarray) -> np.ndarray:
        """Tuning of each signal in ``y`` (``(samples,)`` or ``(batch, samples)``), float64 ``(batch,)`` bins.

        ``librosa.estimate_tuning(y=y[i], sr=sr, bins_per_octave=bins_per_octave)`` per item, as librosa.
        """
        audio = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
        audio = audio.reshape(-1, audio.shape[-1])
        with warnings.catch_warnings():  # silence (no pitches) gives librosa's warning and tuning 0.0
            warnings.filterwarnings("ignore", message=".*empty frequency set.*")
            return np.array(
                [librosa.estimate_tuning(y=a, sr=self.sr, bins_per_octave=self.bins_per_octave) for a in audio],
                dtype=np.float64,
            )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim == 1:
            y = y.unsqueeze(0)
        tunings = self.estimate_tuning(y)
        values = np.unique(tunings)
        if values.size == 1:
            return self.filterbank(float(values[0]), y.device)(y)
        order, outputs = [], []
        for t in values:
            idx = np.nonzero(tunings == t)[0]
            order.extend(idx.tolist())
            outputs.append(self.filterbank(float(t), y.device)(y[torch.as_tensor(idx, device=y.device)]))
        inverse = torch.as_tensor(np.argsort(order), device=y.device)
        return torch.cat(outputs, dim=0)[inverse]

    def extra_repr(self) -> str:
        return f"n_bins={self.n_bins}, tuning=estimated per signal, pad_mode={self.pad_mode!r}"


def make_filterbank(
    design: dict[str, Any], *, tuning: float | None, pad_mode: str = "constant", trainable: bool = False
) -> tuple[MultirateFilterbank | TunedFilterbank, np.ndarray]:
    """The CQT's affine stage for ``tuning`` and the bins' centre frequencies in Hz (tuned; untuned for ``None``).

    A number gives a :class:`MultirateFilterbank` designed once; ``None`` gives a :class:`TunedFilterbank`
    (tuning estimated per signal, as librosa), which cannot be ``trainable``.
    """
    if tuning is None:
        if trainable:
            raise ParameterError(
                "trainable=True learns the CQT kernels, which need one fixed tuning, but tuning=None estimates it "
                "per signal; pass a number, e.g. tuning=0.0 (A440), to train the kernels"
            )
        stage = TunedFilterbank(design, pad_mode=pad_mode)
        return stage, stage.frequencies
    built = design_cqt(**design, tuning=tuning)
    return MultirateFilterbank(built, pad_mode=pad_mode, trainable=trainable), built.frequencies


class CQT(FrontEnd):
    """Constant-Q transform magnitude, matching ``np.abs(librosa.cqt(y, ...))``.

    A cascade of two stages: ``"filterbank"`` (:class:`MultirateFilterbank`, affine with complex kernels,
    multirate exactly as librosa; :class:`TunedFilterbank` for ``tuning=None``) and ``"modulus"``
    (:class:`~dlmir.layers.Modulus`). Frozen by default;
    ``trainable=True`` learns the frequency-domain kernels of every octave.

    Parameters
    ----------
    sr : float
        Sampling rate of the input in Hz.
    hop_length : int
        Samples between frames. Each octave below the top halves it while it is even (librosa's rule), so use
        a multiple of ``2 ** (n_octaves - 1)`` for a fully multirate transform.
    fmin : float or None
        Centre frequency of the lowest bin in Hz (before tuning); ``None`` is C1 = 32.70 Hz.
    n_bins : int
        Number of frequency bins; 84 at 12 per octave spans 7 octaves C1-B7.
    bins_per_octave : int
        Bins per octave.
    tuning : float or None
        Tuning offset in fractions of a bin (``0.0`` = A440, librosa.cqt's default). ``None`` estimates it per
        signal as ``librosa.cqt(tuning=None)`` does (the ``"filterbank"`` stage is then a
        :class:`TunedFilterbank`, which has no trainable kernels).
    filter_scale, norm, sparsity, window, scale, pad_mode : as :func:`librosa.cqt`.
    res_type : str
        Resampler whose FIR dlmir mirrors between octaves: ``'soxr_hq'`` (librosa's default), ``'soxr_vhq'``,
        ``'soxr_mq'``, ``'soxr_lq'`` or ``'polyphase'``.
    trainable : bool
        Unfreeze the filterbank's kernels.

    Input ``(samples,)`` or ``(batch, samples)`` float32/float64 audio (torch or numpy); output real
    ``(batch, n_bins, 1 + samples // hop_length)`` in the input's dtype. Like librosa with zero padding, any
    signal length >= 1 is accepted (``pad_mode='reflect'`` needs more; :class:`~dlmir.errors.AudioError` says
    how many).

    Examples
    --------
    >>> import torch, dlmir.frontends as fe
    >>> C = fe.CQT(n_bins=84, bins_per_octave=12)(torch.randn(22050))
    >>> C.shape
    torch.Size([1, 84, 44])
    """

    def __init__(
        self,
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
        pad_mode: str = "constant",
        res_type: str = "soxr_hq",
        trainable: bool = False,
    ) -> None:
        super().__init__()
        if tuning is not None:
            tuning = check_tuning(tuning, bins_per_octave=bins_per_octave)
        design = dict(
            sr=sr,
            hop_length=hop_length,
            fmin=fmin,
            n_bins=n_bins,
            bins_per_octave=bins_per_octave,
            filter_scale=filter_scale,
            norm=norm,
            sparsity=sparsity,
            window=window,
            scale=scale,
            res_type=res_type,
        )
        filterbank, self.frequencies = make_filterbank(design, tuning=tuning, pad_mode=pad_mode, trainable=trainable)
        self.append("filterbank", filterbank)
        self.append("modulus", Modulus())
        self.min_samples = filterbank.min_samples()
        self._remember(
            sr=float(sr),
            hop_length=int(hop_length),
            fmin=float(librosa.note_to_hz("C1")) if fmin is None else float(fmin),
            n_bins=int(n_bins),
            bins_per_octave=int(bins_per_octave),
            tuning=tuning,
            filter_scale=float(filter_scale),
            norm=None if norm is None else float(norm),
            sparsity=float(sparsity),
            window=window if isinstance(window, str | tuple) else "custom",
            scale=bool(scale),
            pad_mode=pad_mode,
            res_type=res_type,
            trainable=bool(trainable),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        try:
            return super().forward(y)
        except AudioError as exc:
            if self.min_samples > 1 and "shorter than one frame" in str(exc):
                raise AudioError(
                    f"{exc}: pad_mode={self.config['pad_mode']!r} needs at least {self.min_samples} samples for "
                    f"this CQT; use pad_mode='constant' for short signals"
                ) from exc
            raise


__all__ = ["CQT", "MultirateFilterbank", "TunedFilterbank", "make_filterbank"]
