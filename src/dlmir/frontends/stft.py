"""The short-time Fourier transform as an affine stage: windowed DFT kernels, frozen or learned.

The designed parameters are the real and imaginary DFT kernels with the analysis window folded in,

``real[k, n] = w[n] cos(2 pi k n / n_fft)``,  ``imag[k, n] = -w[n] sin(2 pi k n / n_fft)``,

so that ``X[k, t] = sum_n (real[k, n] + 1j imag[k, n]) y[t * hop_length + n]`` equals
:func:`librosa.stft`. While the kernels are frozen and still at their designed values, the stage takes
the fast path (:func:`torch.stft` with the designed window, an FFT); once they are trainable (or have been
changed) it applies them as a strided 1-D convolution, so gradients reach them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from dlmir import params
from dlmir.errors import ParameterError
from dlmir.filters import dft_kernels, stft_window
from dlmir.frontends.base import FrontEnd
from dlmir.layers.stage import Stage, as_parameter

_BLOCK_ELEMENTS = 2**19  # samples per FFT block on the CPU fast path (~2 MB of float32)
_TORCH_PAD = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}  # librosa name -> torch name


class DFT(Stage):
    """Short-time DFT stage: ``(batch, samples)`` real audio -> ``(batch, 1 + n_fft // 2, frames)`` complex.

    Parameters
    ----------
    window : np.ndarray, shape ``(n_fft,)``
        The (padded) analysis window folded into the kernels.
    hop_length : int
        Samples between frames.
    center : bool
        Pad ``n_fft // 2`` samples on both sides (librosa's ``center=True``), so frame ``t`` is centred
        on sample ``t * hop_length``.
    pad_mode : str
        Padding for ``center=True``: ``'constant'`` (zeros, librosa's default), ``'reflect'`` or ``'edge'``.
    trainable : bool
        Whether the kernels (``real``, ``imag``: ``(1 + n_fft // 2, n_fft)``) start unfrozen.

    Frames: ``1 + (samples + 2 * (n_fft // 2) - n_fft) // hop_length`` with ``center=True``,
    ``1 + (samples - n_fft) // hop_length`` otherwise.
    """

    def __init__(
        self,
        window: np.ndarray,
        *,
        hop_length: int,
        center: bool = True,
        pad_mode: str = "constant",
        trainable: bool = False,
    ) -> None:
        super().__init__()
        window = np.asarray(window, dtype=np.float64)
        self.n_fft = int(window.shape[0])
        self.hop_length = int(hop_length)
        self.center = bool(center)
        self.pad_mode = pad_mode
        real, imag = dft_kernels(window)
        dtype = torch.get_default_dtype()
        self.real = as_parameter(torch.as_tensor(real, dtype=dtype), trainable)
        self.imag = as_parameter(torch.as_tensor(imag, dtype=dtype), trainable)
        self.register_buffer("window", torch.as_tensor(window, dtype=torch.float64))  # small: kept exact
        self._designed_token: tuple | None = None
        self._designed = True

    # -- fast-path bookkeeping -----------------------------------------------------------------
    def _token(self) -> tuple:
        tensors = (self.real, self.imag, self.window)
        if any(t.is_inference() for t in tensors):  # built under inference_mode: no version counter, so only
            return tuple(t.data_ptr() for t in tensors)  # replaced tensors are seen (not in-place edits made there)
        return tuple(v for t in tensors for v in (t.data_ptr(), t._version))

    def is_designed(self) -> bool:
        """True when the kernels still equal the windowed DFT of ``self.window`` (checked once per change)."""
        token = self._token()
        if token != self._designed_token:
            with torch.no_grad():
                real, imag = self._kernels_from_window(self.real.dtype, self.real.device)
                tol = 1e-6  # designed kernels rounded to float32 still count as designed
                same_real = torch.allclose(self.real, real, rtol=0, atol=tol)
                self._designed = bool(same_real and torch.allclose(self.imag, imag, rtol=0, atol=tol))
            self._designed_token = token
        return self._designed

    def _kernels_from_window(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        real, imag = dft_kernels(self.window.detach().cpu().double().numpy())
        return torch.as_tensor(real, dtype=dtype, device=device), torch.as_tensor(imag, dtype=dtype, device=device)

    @property
    def uses_fast_path(self) -> bool:
        """Whether :meth:`forward` will use :func:`torch.stft` (frozen kernels at their designed values)."""
        return not (self.real.requires_grad or self.imag.requires_grad) and self.is_designed()

    # -- running -------------------------------------------------------------------------------
    def _pad(self, y: torch.Tensor) -> torch.Tensor:
        if not self.center:
            return y
        p = self.n_fft // 2
        mode = _TORCH_PAD[self.pad_mode]
        if mode == "reflect" and y.shape[-1] <= p:
            raise ParameterError(
                f"pad_mode='reflect' needs more than n_fft // 2 = {p} samples, got {y.shape[-1]}; "
                "use pad_mode='constant'"
            )
        if mode == "constant":
            return F.pad(y, (p, p))
        return F.pad(y.unsqueeze(1), (p, p), mode=mode).squeeze(1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim == 1:
            y = y.unsqueeze(0)
        if y.dtype not in (torch.float32, torch.float64):
            raise ParameterError(f"the STFT takes float32 or float64 audio, got {y.dtype}; convert it with y.float()")
        if self.uses_fast_path:
            return self._forward_fft(y)
        return self._forward_conv(y)

    def _forward_fft(self, y: torch.Tensor) -> torch.Tensor:
        window = self.window.to(device=y.device, dtype=y.dtype)
        if y.device.type != "cpu" or (torch.is_grad_enabled() and y.requires_grad):
            return torch.stft(
                self._pad(y), self.n_fft, hop_length=self.hop_length, window=window, center=False, return_complex=True
            )
        return self._blocked_rfft(y, window)

    def _blocked_rfft(self, y: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        """CPU fast path without autograd: FFT blocks of frames small enough to stay in cache.

        Writes each block's ``rfft`` straight into the output (as librosa does with ``MAX_MEM_BLOCK``);
        about 1.5-2x faster than one :func:`torch.stft` over a large batch on a 2-core CPU. With
        ``center=True`` only the few edge frames are cut from padded copies of the signal's ends; the
        interior frames are views of ``y`` itself (no padded copy of the whole signal).
        """
        n_fft, hop = self.n_fft, self.hop_length
        batch, n = y.shape
        pad = n_fft // 2 if self.center else 0
        n_frames = 1 + (n + 2 * pad - n_fft) // hop
        complex_dtype = torch.complex128 if y.dtype == torch.float64 else torch.complex64
        out = torch.empty(batch, n_frames, n_fft // 2 + 1, dtype=complex_dtype, device=y.device)
        block = max(1, _BLOCK_ELEMENTS // (batch * n_fft))
        for first, frames in self._frame_sources(y, n_frames):
            for start in range(0, frames.shape[1], block):
                stop = min(start + block, frames.shape[1])
                torch.fft.rfft(frames[:, start:stop] * window, dim=-1, out=out[:, first + start : first + stop])
        return out.transpose(-1, -2)

    def _frame_sources(self, y: torch.Tensor, n_frames: int) -> list[tuple[int, torch.Tensor]]:
        """``(first frame index, frames (batch, k, n_fft))`` pieces that together make all ``n_frames`` frames."""
        n_fft, hop, n = self.n_fft, self.hop_length, y.shape[-1]
        if not self.center:
            return [(0, y.unfold(-1, n_fft, hop))]
        pad = n_fft // 2
        # frame t covers y[t * hop - pad : t * hop - pad + n_fft]; interior frames need no padding
        t_lo = -(-pad // hop)  # ceil(pad / hop)
        t_hi = min(n_frames - 1, (n - n_fft + pad) // hop)
        if t_lo > t_hi:  # short signal: every frame touches an edge
            return [(0, self._pad(y).unfold(-1, n_fft, hop))]
        pieces = []
        if t_lo > 0:  # head: frames 0 .. t_lo - 1 cut from the padded start (+ pad samples so reflect works)
            head = self._pad(y[:, : (t_lo - 1) * hop + n_fft])
            pieces.append((0, head.unfold(-1, n_fft, hop)[:, :t_lo]))
        start = t_lo * hop - pad
        pieces.append((t_lo, y[:, start:].unfold(-1, n_fft, hop)[:, : t_hi - t_lo + 1]))
        if t_hi < n_frames - 1:  # tail: frames t_hi + 1 .. n_frames - 1 cut from the padded end
            begin = (t_hi + 1) * hop - pad  # sample of y where frame t_hi + 1 starts
            keep = max(0, begin - pad)  # keep some samples before it so reflect padding has enough signal
            tail = self._pad(y[:, keep:])[:, pad + begin - keep :]
            pieces.append((t_hi + 1, tail.unfold(-1, n_fft, hop)[:, : n_frames - 1 - t_hi]))
        return pieces

    def _forward_conv(self, y: torch.Tensor) -> torch.Tensor:
        x = self._pad(y).unsqueeze(1)  # (batch, 1, samples)
        kernels = torch.cat([self.real, self.imag], dim=0).to(x.dtype).unsqueeze(1)  # (2 * n_freq, 1, n_fft)
        out = F.conv1d(x, kernels, stride=self.hop_length)
        n_freq = self.real.shape[0]
        return torch.complex(out[:, :n_freq], out[:, n_freq:])

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, hop_length={self.hop_length}, center={self.center}, "
            f"pad_mode={self.pad_mode!r}, trainable={self.trainable}"
        )


def check_pad_mode(pad_mode: str) -> str:
    """Return ``pad_mode`` if dlmir supports it (librosa's names), else raise :class:`ParameterError`."""
    if pad_mode not in _TORCH_PAD:
        raise ParameterError(f"pad_mode={pad_mode!r} is not supported; use one of {sorted(_TORCH_PAD)}")
    return pad_mode


def make_dft(
    *,
    n_fft: int,
    hop_length: int | None,
    win_length: int | None,
    window: Any,
    center: bool,
    pad_mode: str,
    trainable: bool,
) -> tuple[DFT, int, int]:
    """Validate STFT parameters and build the :class:`DFT` stage; returns ``(stage, hop_length, win_length)``."""
    hop_length, win_length = params.hop_and_window(n_fft, hop_length, win_length)
    check_pad_mode(pad_mode)
    w = stft_window(window, n_fft=n_fft, win_length=win_length)
    stage = DFT(w, hop_length=hop_length, center=center, pad_mode=pad_mode, trainable=trainable)
    return stage, hop_length, win_length


class STFT(FrontEnd):
    """Short-time Fourier transform, matching :func:`librosa.stft`.

    A cascade with one affine stage, ``"stft"`` (:class:`DFT`), whose designed parameters are the windowed
    DFT kernels. Frozen (``trainable=False``, the default) it runs :func:`torch.stft`; trainable, it
    learns the kernels via a strided convolution. Both give the same numbers at initialisation.

    Parameters
    ----------
    n_fft : int
        FFT size in samples; ``1 + n_fft // 2`` frequency bins from 0 Hz to ``sr / 2``.
    hop_length : int or None
        Samples between frames; default ``win_length // 4``.
    win_length : int or None
        Window length in samples (``<= n_fft``), zero-padded to ``n_fft``; default ``n_fft``.
    window : str, tuple or array
        Any window :func:`librosa.filters.get_window` accepts; default ``'hann'``.
    center : bool
        Pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred on sample ``t * hop_length``.
    pad_mode : str
        ``'constant'`` (zeros; librosa 0.11's default), ``'reflect'`` or ``'edge'``.
    trainable : bool
        Unfreeze the DFT kernels.

    Input ``(samples,)`` or ``(batch, samples)`` float32/float64 audio (torch or numpy); output complex
    ``(batch, 1 + n_fft // 2, frames)``. Signals shorter than ``n_fft`` samples raise :class:`~dlmir.errors.AudioError`.

    Examples
    --------
    >>> import torch, dlmir.frontends as fe
    >>> X = fe.STFT(n_fft=512, hop_length=128)(torch.randn(22050))
    >>> X.shape, X.dtype
    (torch.Size([1, 257, 173]), torch.complex64)
    """

    def __init__(
        self,
        *,
        n_fft: int = 2048,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: Any = "hann",
        center: bool = True,
        pad_mode: str = "constant",
        trainable: bool = False,
    ) -> None:
        super().__init__()
        stage, hop_length, win_length = make_dft(
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window,
            center=center,
            pad_mode=pad_mode,
            trainable=trainable,
        )
        self.append("stft", stage)
        self.min_samples = n_fft
        self._remember(
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            window=window if isinstance(window, str | tuple) else "custom",
            center=center,
            pad_mode=pad_mode,
            trainable=trainable,
        )


__all__ = ["DFT", "STFT", "make_dft"]
