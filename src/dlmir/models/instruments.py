"""Instrument recognisers: the practicum's multilayer perceptron on designed features (:class:`InstrumentMLP`) and a
CNN learned end to end from the CQT (:class:`InstrumentCNN`).

Both answer :meth:`log_probs`: input -> class log-probabilities ``(batch, n_classes)`` over ``model.classes``
(default: the 15 classes of :data:`dlmir.data.instruments.INSTRUMENTS`, in that order); :meth:`loss` is the
negative log-likelihood of the softmax, for class indices ``(batch,)`` or class distributions
``(batch, n_classes)`` (mixtures of notes are trained with soft targets).

:class:`InstrumentMLP` (Humphrey, Bello & LeCun's practicum network): standardised designed features
``(batch, 120)`` (:mod:`dlmir.instruments.features`) -> dense 256 -> rectifier -> dense 256 -> rectifier ->
dense ``n_classes`` -> softmax. The standardisation (feature means and scales of the training set) is part of
the model (buffers, saved with the weights): :meth:`InstrumentMLP.set_standardization`.

:class:`InstrumentCNN`: CQT magnitude ``(batch, n_bins, frames)`` (the note CQT, 192 bins at 24 per octave from
C1, hop 512 at 22050 Hz: 87 frames for a 2 s note) -> dB relative to the item's loudest bin, floored at -80 dB
and mapped to [0, 1] (:class:`PeakDB`: the model does not see the recording level) -> mean pooling over
``input_pool`` (frames, bins) -> blocks of 3 x 3 convolutions over (time, pitch) with batch norm, rectifier and max
pooling over both axes -> a convolution over the whole remaining pitch axis (a per-frame embedding, so the
register is kept) -> pooling over time (mean and max, concatenated) -> dropout -> dense softmax. Any number of
frames works (short inputs are padded with silence to :attr:`InstrumentCNN.min_frames`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlmir.errors import ParameterError
from dlmir.frontends.presets import C1_HZ
from dlmir.layers import Cascade, Conv2d, Dense, HalfWaveRectify, Stage, TimePool

__all__ = ["InstrumentCNN", "InstrumentMLP", "PeakDB", "Standardize", "default_classes", "note_loss"]


def default_classes() -> list[str]:
    """The 15 instrument classes of :data:`dlmir.data.instruments.INSTRUMENTS`, in table order."""
    from dlmir.data.instruments import INSTRUMENTS

    return list(INSTRUMENTS)


def _check_classes(classes: list[str] | tuple[str, ...] | None) -> list[str]:
    classes = default_classes() if classes is None else [str(c) for c in classes]
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ParameterError(f"classes must name at least two distinct classes, got {classes}")
    return classes


def note_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of ``softmax(logits)`` ``(batch, n_classes)``: ``target`` is class indices
    ``(batch,)`` (int) or class distributions ``(batch, n_classes)`` (float, rows summing to 1)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    if target.ndim == 1:
        return F.nll_loss(logp, target.long())
    if target.shape != logp.shape:
        raise ParameterError(f"soft targets must have the logits' shape {tuple(logp.shape)}, got {tuple(target.shape)}")
    return -(target.float() * logp).sum(-1).mean()


class Standardize(Stage):
    """``(x - mean) / scale`` per feature of ``(batch, features, frames)``; ``mean``/``scale`` are buffers."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(int(n_features)))
        self.register_buffer("scale", torch.ones(int(n_features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)[:, None]) / self.scale.to(x.dtype)[:, None]

    def extra_repr(self) -> str:
        return f"n_features={self.mean.shape[0]}"


class PeakDB(Stage):
    """CQT magnitude ``(batch, n_bins, frames)`` -> ``1 + 20 log10(x / max(x)) / top_db`` floored at 0, the max
    taken per item: [0, 1], 1 at the item's loudest bin, 0 at ``top_db`` dB below it (and for silence)."""

    def __init__(self, top_db: float = 80.0) -> None:
        super().__init__()
        if not top_db > 0:
            raise ParameterError(f"top_db must be > 0 dB, got {top_db}")
        self.top_db = float(top_db)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ref = x.flatten(1).amax(dim=1).clamp_min(1e-10).reshape(-1, *([1] * (x.ndim - 1)))
        floor = 10.0 ** (-self.top_db / 20.0)
        db = 20.0 * torch.log10((x / ref).clamp_min(floor))
        return 1.0 + db / self.top_db

    def extra_repr(self) -> str:
        return f"top_db={self.top_db:g}"


class _Pool2d(Stage):
    """Max (or mean) pooling of ``(batch, channels, frames, bins)`` by ``kernel_size`` (stride = kernel, partial
    windows at the end kept)."""

    def __init__(self, kernel_size: tuple[int, int], kind: str = "max") -> None:
        super().__init__()
        self.kernel_size, self.kind = (int(kernel_size[0]), int(kernel_size[1])), kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size == (1, 1):
            return x
        if self.kind == "mean":
            return F.avg_pool2d(x, self.kernel_size, ceil_mode=True, count_include_pad=False)
        return F.max_pool2d(x, self.kernel_size, ceil_mode=True)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, kind={self.kind!r}"


class _ToPatches(Stage):
    """``(batch, n_bins, frames)`` -> ``(batch, 1, frames, n_bins)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).unsqueeze(1)


class _ToFeatures(Stage):
    """``(batch, channels, frames, 1)`` -> ``(batch, channels, frames)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1)


class _MeanMax(Stage):
    """Pool ``(batch, features, frames)`` over all frames by mean and by max: ``(batch, 2 features, 1)``."""

    def __init__(self) -> None:
        super().__init__()
        self.mean, self.max = TimePool("mean"), TimePool("max")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mean(x), self.max(x)], dim=1)


def _seeds(seed: int | None):  # noqa: ANN202 - callable
    return (lambda k: None) if seed is None else (lambda k: int(seed) + k)


class InstrumentMLP(nn.Module):
    """The practicum's network: designed features -> 256 -> 256 -> classes (rectifiers, softmax).

    Parameters
    ----------
    n_features : length of the feature vector (120: :data:`dlmir.instruments.features.N_FEATURES`).
    hidden : units of the hidden layers (the practicum's ``(256, 256)``).
    classes : class names in output order (default: :func:`default_classes`).
    dropout : dropout after each hidden layer while training.
    seed : seed of the random initialisation.

    Input ``(batch, n_features)`` features (or ``(n_features,)``); :meth:`forward` returns logits
    ``(batch, n_classes)``.
    """

    input_kind = "features"

    def __init__(
        self,
        n_features: int = 120,
        hidden: tuple[int, ...] | list[int] = (256, 256),
        *,
        classes: list[str] | tuple[str, ...] | None = None,
        dropout: float = 0.2,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        classes = _check_classes(classes)
        hidden = tuple(int(h) for h in hidden)
        if int(n_features) < 1 or not hidden or min(hidden) < 1:
            raise ParameterError(f"n_features and every hidden width must be >= 1, got {n_features}, {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout}")
        seed_of = _seeds(seed)
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        stages["standardize"] = Standardize(n_features)
        width = int(n_features)
        for k, h in enumerate(hidden, start=1):
            stages[f"dense{k}"] = Dense.random(width, h, std=float(np.sqrt(2.0 / width)), seed=seed_of(k))
            stages[f"rectify{k}"] = HalfWaveRectify()
            if dropout > 0:
                stages[f"dropout{k}"] = nn.Dropout(dropout)
            width = h
        stages["classify"] = Dense.random(width, len(classes), seed=seed_of(100))
        self.net = Cascade(stages)
        self.classes = classes
        self.config: dict[str, Any] = {
            "model": "InstrumentMLP",
            "n_features": int(n_features),
            "hidden": list(hidden),
            "classes": list(classes),
            "dropout": float(dropout),
            "seed": seed,
        }

    def set_standardization(self, mean: np.ndarray | torch.Tensor, scale: np.ndarray | torch.Tensor) -> None:
        """Set the feature standardisation (training-set means and standard deviations, ``(n_features,)``)."""
        stage = self.net["standardize"]
        mean_t = torch.as_tensor(np.asarray(mean), dtype=torch.float32).reshape(-1)
        scale_t = torch.as_tensor(np.asarray(scale), dtype=torch.float32).reshape(-1)
        if mean_t.shape != stage.mean.shape or scale_t.shape != stage.scale.shape:
            raise ParameterError(f"standardisation needs ({stage.mean.shape[0]},) means and scales")
        stage.mean.copy_(mean_t)
        stage.scale.copy_(torch.where(scale_t > 0, scale_t, torch.ones_like(scale_t)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(batch, n_features)`` -> logits ``(batch, n_classes)``."""
        if x.ndim == 1:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.shape[1] != self.config["n_features"]:
            raise ParameterError(
                f"InstrumentMLP expects features (batch, {self.config['n_features']}); got {tuple(x.shape)}"
            )
        return self.net(x.unsqueeze(-1)).squeeze(-1)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Class log-probabilities ``(batch, n_classes)``."""
        return F.log_softmax(self.forward(x).float(), dim=-1)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:func:`note_loss`."""
        return note_loss(logits, target)


class InstrumentCNN(nn.Module):
    """A CNN over the note CQT: convolutions over time and pitch, pooling over time, softmax over classes.

    Parameters
    ----------
    n_bins, bins_per_octave, fmin : shape of the input CQT (default: the note CQT, 192 bins at 24 per octave from C1).
    classes : class names in output order (default: :func:`default_classes`).
    channels : output channels of the 3 x 3 convolutions, one block per entry (conv -> batch norm -> rectifier
        -> max pooling).
    time_pool, pitch_pool : max-pooling factors over frames and over bins after each block.
    input_pool : mean pooling over ``(frames, bins)`` before the first block (``(2, 2)``: ~46 ms frames, 12 bins
        per octave).
    embedding : channels of the per-frame embedding (a convolution over the whole remaining pitch axis).
    dropout : dropout after the second and later blocks and before the classifier.
    top_db : dynamic range of the input (:class:`PeakDB`).
    seed : seed of the random initialisation.

    Input CQT magnitude ``(batch, n_bins, frames)`` (or ``(n_bins, frames)``); :meth:`forward` returns logits
    ``(batch, n_classes)``.
    """

    input_kind = "cqt"

    def __init__(
        self,
        n_bins: int = 192,
        bins_per_octave: int = 24,
        *,
        classes: list[str] | tuple[str, ...] | None = None,
        channels: tuple[int, ...] | list[int] = (16, 32, 48, 64),
        time_pool: tuple[int, ...] | list[int] = (2, 2, 2, 1),
        pitch_pool: tuple[int, ...] | list[int] = (2, 2, 2, 1),
        input_pool: tuple[int, int] | list[int] = (2, 2),
        embedding: int = 128,
        dropout: float = 0.3,
        top_db: float = 80.0,
        fmin: float = C1_HZ,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        classes = _check_classes(classes)
        channels = tuple(int(c) for c in channels)
        time_pool, pitch_pool = tuple(int(p) for p in time_pool), tuple(int(p) for p in pitch_pool)
        if not channels or min(channels) < 1:
            raise ParameterError(f"channels must list at least one block of >= 1 channels, got {channels}")
        if len(time_pool) != len(channels) or len(pitch_pool) != len(channels) or min(time_pool + pitch_pool) < 1:
            raise ParameterError(
                f"time_pool and pitch_pool need one factor >= 1 per block ({len(channels)}), got {time_pool}, "
                f"{pitch_pool}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout}")
        input_pool = (int(input_pool[0]), int(input_pool[1]))
        if min(input_pool) < 1 or embedding < 1:
            raise ParameterError(f"input_pool and embedding must be >= 1, got {input_pool}, {embedding}")
        width = -(-int(n_bins) // input_pool[1])
        for p in pitch_pool:
            width = -(-width // p)
        seed_of = _seeds(seed)
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        stages["db"] = PeakDB(top_db)
        stages["patches"] = _ToPatches()
        stages["input_pool"] = _Pool2d(input_pool, kind="mean")
        c_in = 1
        for k, (c, tp, pp) in enumerate(zip(channels, time_pool, pitch_pool, strict=True), start=1):
            stages[f"conv{k}"] = Conv2d.random(c_in, c, (3, 3), padding=(1, 1), seed=seed_of(k))
            stages[f"norm{k}"] = nn.BatchNorm2d(c)
            stages[f"rectify{k}"] = HalfWaveRectify()
            stages[f"pool{k}"] = _Pool2d((tp, pp))
            if dropout > 0 and k > 1:
                stages[f"dropout{k}"] = nn.Dropout(dropout / 2)
            c_in = c
        stages["embed"] = Conv2d.random(c_in, embedding, (1, width), seed=seed_of(100))
        stages["embed_norm"] = nn.BatchNorm2d(embedding)
        stages["embed_rectify"] = HalfWaveRectify()
        stages["to_features"] = _ToFeatures()
        stages["time_pool"] = _MeanMax()
        if dropout > 0:
            stages["dropout"] = nn.Dropout(dropout)
        stages["classify"] = Dense.random(2 * embedding, len(classes), seed=seed_of(200))
        self.net = Cascade(stages)
        self.classes = classes
        self.min_frames = input_pool[0] * int(np.prod(time_pool))
        self.config: dict[str, Any] = {
            "model": "InstrumentCNN",
            "n_bins": int(n_bins),
            "bins_per_octave": int(bins_per_octave),
            "classes": list(classes),
            "channels": list(channels),
            "time_pool": list(time_pool),
            "pitch_pool": list(pitch_pool),
            "input_pool": list(input_pool),
            "embedding": int(embedding),
            "dropout": float(dropout),
            "top_db": float(top_db),
            "fmin": float(fmin),
            "seed": seed,
        }

    def forward(self, cqt: torch.Tensor) -> torch.Tensor:
        """CQT magnitude ``(batch, n_bins, frames)`` -> logits ``(batch, n_classes)``."""
        if cqt.ndim == 2:
            cqt = cqt.unsqueeze(0)
        if cqt.ndim != 3 or cqt.shape[1] != self.config["n_bins"]:
            raise ParameterError(
                f"InstrumentCNN expects a CQT magnitude (batch, {self.config['n_bins']}, frames); "
                f"got {tuple(cqt.shape)}"
            )
        if cqt.shape[-1] < self.min_frames:  # silence (zeros) after the last frame
            cqt = F.pad(cqt, (0, self.min_frames - cqt.shape[-1]))
        return self.net(cqt).squeeze(-1)

    def log_probs(self, cqt: torch.Tensor) -> torch.Tensor:
        """Class log-probabilities ``(batch, n_classes)``."""
        return F.log_softmax(self.forward(cqt).float(), dim=-1)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """:func:`note_loss`."""
        return note_loss(logits, target)
