"""Pooling: summaries over time (max, mean, median, std, histogram) and octave folding over pitch.

Inputs are ``(batch, features, frames)``. Time pooling with ``kernel_size=None`` pools all frames
into one, giving ``(batch, features, 1)``; otherwise windows of ``kernel_size`` frames with
``stride`` (default ``kernel_size``) give ``(batch, features, n_windows)``.
"""

from __future__ import annotations

import torch

from dlmir.errors import ParameterError
from dlmir.layers.stage import Stage

_KINDS = ("max", "mean", "median", "std", "sum")


class TimePool(Stage):
    """Pool over the frame axis with ``kind`` in ``max | mean | median | std | sum``."""

    def __init__(self, kind: str = "mean", *, kernel_size: int | None = None, stride: int | None = None) -> None:
        super().__init__()
        if kind not in _KINDS:
            raise ParameterError(f"pooling kind must be one of {_KINDS}, got {kind!r}")
        if kernel_size is not None and kernel_size < 1:
            raise ParameterError(f"kernel_size must be >= 1 frame, got {kernel_size}")
        if stride is not None and stride < 1:
            raise ParameterError(f"stride must be >= 1 frame, got {stride}")
        self.kind, self.kernel_size, self.stride = kind, kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size is None:
            windows = x.unsqueeze(-1)  # (..., frames, 1): one window of all frames
            windows = windows.transpose(-1, -2)
        else:
            if x.shape[-1] < self.kernel_size:
                raise ParameterError(f"cannot pool {x.shape[-1]} frames with kernel_size={self.kernel_size}")
            windows = x.unfold(-1, self.kernel_size, self.stride or self.kernel_size)
        if self.kind == "max":
            return windows.amax(-1)
        if self.kind == "mean":
            return windows.mean(-1)
        if self.kind == "sum":
            return windows.sum(-1)
        if self.kind == "median":
            return windows.median(-1).values
        return windows.std(-1, unbiased=False)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, kernel_size={self.kernel_size}, stride={self.stride}"


class HistogramPool(Stage):
    """Soft (differentiable) histogram of each feature over time.

    Each value casts triangular votes onto ``n_bins`` equally spaced centres spanning
    ``[low, high]``; counts are normalised by the number of frames. Output
    ``(batch, features, n_bins)``: the fraction of frames near each centre.
    """

    def __init__(self, n_bins: int = 10, *, low: float = 0.0, high: float = 1.0) -> None:
        super().__init__()
        if n_bins < 2:
            raise ParameterError(f"n_bins must be >= 2, got {n_bins}")
        if not high > low:
            raise ParameterError(f"need high > low, got low={low}, high={high}")
        self.n_bins, self.low, self.high = n_bins, float(low), float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centres = torch.linspace(self.low, self.high, self.n_bins, dtype=x.dtype, device=x.device)
        width = (self.high - self.low) / (self.n_bins - 1)
        clipped = x.clamp(self.low, self.high).unsqueeze(-1)  # (..., frames, 1)
        votes = torch.relu(1.0 - (clipped - centres).abs() / width)  # (..., frames, n_bins)
        return votes.mean(dim=-2)

    def extra_repr(self) -> str:
        return f"n_bins={self.n_bins}, low={self.low}, high={self.high}"


class OctaveFold(Stage):
    """Fold pitch bins into one octave by pooling bins an octave apart.

    Input ``(batch, n_bins, frames)`` with ``bins_per_octave`` bins per octave starting at a pitch
    class offset ``start_bin`` (the bin of the first input row inside the folded octave). Output
    ``(batch, bins_per_octave, frames)``; ``kind='sum'`` or ``'max'``. For the designed chroma map
    that also merges neighbouring bins (librosa's ``cq_to_chroma``), use an affine
    :class:`~dlmir.layers.affine.Dense` stage instead, as :class:`dlmir.frontends.Chroma` does.
    """

    def __init__(self, bins_per_octave: int = 12, *, start_bin: int = 0, kind: str = "sum") -> None:
        super().__init__()
        if bins_per_octave < 1:
            raise ParameterError(f"bins_per_octave must be >= 1, got {bins_per_octave}")
        if kind not in ("sum", "max", "mean"):
            raise ParameterError(f"OctaveFold kind must be 'sum', 'max' or 'mean', got {kind!r}")
        self.bins_per_octave, self.start_bin, self.kind = bins_per_octave, start_bin % bins_per_octave, kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.bins_per_octave
        n = x.shape[-2]
        total = self.start_bin + n
        pad_after = (-total) % b
        padded = torch.nn.functional.pad(x, (0, 0, self.start_bin, pad_after))
        octaves = padded.reshape(*x.shape[:-2], (total + pad_after) // b, b, x.shape[-1])
        if self.kind == "sum":
            return octaves.sum(-3)
        if self.kind == "mean":
            counts = torch.nn.functional.pad(torch.ones(n, dtype=x.dtype, device=x.device), (self.start_bin, pad_after))
            return octaves.sum(-3) / counts.reshape(-1, b).sum(0)[:, None]
        return octaves.amax(-3)

    def extra_repr(self) -> str:
        return f"bins_per_octave={self.bins_per_octave}, start_bin={self.start_bin}, kind={self.kind!r}"


class Normalize(Stage):
    """Normalise each frame over the feature axis (-2) by its ``norm`` (``inf``, 1 or 2).

    Matches :func:`librosa.util.normalize` with ``axis=-2`` and ``threshold``: frames whose norm
    is below ``threshold`` (default the dtype's tiny) are left unscaled.
    """

    def __init__(self, norm: float = float("inf"), *, threshold: float | None = None) -> None:
        super().__init__()
        if norm not in (1, 2, float("inf")):
            raise ParameterError(f"norm must be 1, 2 or inf, got {norm}")
        self.norm, self.threshold = float(norm), threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mag = x.abs()
        if self.norm == float("inf"):
            length = mag.amax(dim=-2, keepdim=True)
        elif self.norm == 1.0:
            length = mag.sum(dim=-2, keepdim=True)
        else:
            length = mag.square().sum(dim=-2, keepdim=True).sqrt()
        threshold = self.threshold if self.threshold is not None else torch.finfo(x.dtype).tiny
        length = torch.where(length < threshold, torch.ones_like(length), length)
        return x / length

    def extra_repr(self) -> str:
        return f"norm={self.norm}"


__all__ = ["HistogramPool", "Normalize", "OctaveFold", "TimePool"]
