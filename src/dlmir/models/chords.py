"""Chord recognisers: a convolutional-recurrent network with structured outputs (:class:`ChordNet`), a plain
convolutional baseline with one softmax head (:class:`ChordCNN`), and the pieces every chord model of dlmir shares.

Every chord model answers :meth:`frame_log_probs`: a CQT magnitude ``(batch, n_bins, frames)`` (the chord CQT of
:data:`~dlmir.frontends.presets.CHORD_CQT` unless the model was built for another) -> class log-probabilities
``(batch, n_classes, frames)`` in :class:`~dlmir.chords.ChordVocabulary` order (157 classes for ``"full"``, ``N``
last), the input of the decoder (:mod:`dlmir.chords.decode`).

:class:`ChordNet` follows the structured chord models of crema (McFee & Bello, 2017) and the CNN + RNN
recognisers of madmom: log-compressed CQT -> 2-D convolutions over (time, pitch) with batch norm, pitch pooling
and dropout -> a per-frame embedding (a convolution over the whole pitch axis) -> a bidirectional GRU over time
-> four heads per frame: root (13: 12 pitch classes + no root), bass (13), pitch classes (12, independent
sigmoids) and the chord class (softmax), which (``structured=True``) also reads the three structured heads'
probabilities.

:class:`ChordCNN` is the simple baseline: the same convolutional trunk, a few convolutions over time (about 0.8 s
of context) in place of the GRU, and a single dense softmax over the 157 (or 25) classes per frame.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dlmir.chords.vocabulary import VOCABULARIES, ChordVocabulary, parse
from dlmir.errors import ParameterError
from dlmir.frontends.presets import C1_HZ
from dlmir.layers import Cascade, Conv1d, Conv2d, Dense, HalfWaveRectify, LogCompression, Stage

__all__ = [
    "HEAD_WEIGHTS",
    "ChordCNN",
    "ChordNet",
    "MaxPool2d",
    "Reshape",
    "check_cqt",
    "structured_targets",
]

HEAD_WEIGHTS: dict[str, float] = {"chord": 1.0, "root": 0.5, "bass": 0.5, "pitch_classes": 0.5}
"""Default loss weight of each head of :class:`ChordNet`."""


class MaxPool2d(Stage):
    """Max pooling over ``(frames, bins)`` of ``(batch, channels, frames, bins)`` patches (stride = kernel)."""

    def __init__(self, kernel_size: tuple[int, int]) -> None:
        super().__init__()
        self.kernel_size = (int(kernel_size[0]), int(kernel_size[1]))
        if min(self.kernel_size) < 1:
            raise ParameterError(f"pooling kernel must be >= 1 in both axes, got {kernel_size}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size == (1, 1):
            return x
        return F.max_pool2d(x, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


class Reshape(Stage):
    """Reshape every item of the batch: ``(batch, ...)`` -> ``(batch, *shape)``."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def check_cqt(cqt: torch.Tensor, n_bins: int, model: str) -> torch.Tensor:
    """``cqt`` as ``(batch, n_bins, frames)`` (a single ``(n_bins, frames)`` gets a batch axis), or raise."""
    if cqt.ndim == 2:
        cqt = cqt.unsqueeze(0)
    if cqt.ndim != 3 or cqt.shape[1] != n_bins:
        raise ParameterError(
            f"{model} expects a CQT magnitude of shape (batch, {n_bins}, frames); got {tuple(cqt.shape)}"
        )
    return cqt


def check_vocabulary(vocabulary: str) -> ChordVocabulary:
    if vocabulary not in VOCABULARIES:
        raise ParameterError(f"vocabulary must be one of {VOCABULARIES}, got {vocabulary!r}")
    return ChordVocabulary(vocabulary)


@lru_cache(maxsize=len(VOCABULARIES))
def _class_tables(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Root (12 = no root) and pitch-class template of every class: ``(n_classes,)`` int64, ``(n_classes, 12)``."""
    vocab = ChordVocabulary(name)
    roots = [12 if parse(lab)[0] is None else int(parse(lab)[0]) for lab in vocab.labels]
    return torch.tensor(roots, dtype=torch.int64), torch.as_tensor(np.asarray(vocab.templates), dtype=torch.float32)


def structured_targets(
    index: torch.Tensor, vocabulary: str | ChordVocabulary = "full", *, bass: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Targets of the structured heads from chord class indices.

    Parameters
    ----------
    index : int64 tensor of class indices (any shape, e.g. ``(batch, frames)``); ``-1`` marks frames to ignore.
    vocabulary : the vocabulary of ``index``.
    bass : optional bass pitch classes of the same shape (12 = no bass, -1 ignore); default: the root
        (vocabulary classes are in root position).

    Returns
    -------
    ``{"chord": index, "root": (...) int64 in 0..12 (12 = N), "bass": (...) int64, "pitch_classes":
    (..., 12) float32 binary}``; ignored frames carry -1 (root, bass) and zeros (pitch classes).
    """
    vocab = vocabulary if isinstance(vocabulary, ChordVocabulary) else check_vocabulary(vocabulary)
    roots, templates = _class_tables(vocab.name)
    index = torch.as_tensor(index, dtype=torch.int64)
    if index.numel() and (int(index.max()) >= len(vocab) or int(index.min()) < -1):
        raise ParameterError(f"class indices must be in -1..{len(vocab) - 1} for {vocab!r}")
    valid = index >= 0
    safe = index.clamp_min(0).cpu()
    root = torch.where(valid, roots[safe].to(index.device), torch.full_like(index, -1))
    pcs = templates[safe].to(index.device) * valid.unsqueeze(-1)
    return {"chord": index, "root": root, "bass": root.clone() if bass is None else bass, "pitch_classes": pcs}


SeedFn = Callable[[int], "int | None"]


def _conv_trunk(
    n_bins: int,
    channels: tuple[int, ...] | list[int],
    pitch_pool: tuple[int, ...] | list[int],
    *,
    embedding: int,
    dropout: float,
    log_gain: float,
    seed: SeedFn,
) -> tuple[Cascade, tuple[int, ...], tuple[int, ...]]:
    """The convolutional trunk shared by :class:`ChordNet` and :class:`ChordCNN`, and its checked settings.

    ``(batch, 1, frames, n_bins)`` CQT patches -> ``log(1 + C x)`` -> batch norm -> one block per entry of
    ``channels`` (3 x 3 conv -> batch norm -> rectifier, then ``(1, p)`` max pooling over pitch and dropout where
    ``p > 1``) -> a convolution over the whole remaining pitch axis (the per-frame embedding) -> batch norm ->
    rectifier -> ``(batch, embedding, frames)`` -> dropout. ``seed(k)`` seeds the k-th random layer (``None``:
    unseeded). Its receptive field is ``len(channels)`` frames each side.
    """
    channels, pitch_pool = tuple(int(c) for c in channels), tuple(int(p) for p in pitch_pool)
    if not channels or min(channels) < 1:
        raise ParameterError(f"channels must list at least one block of >= 1 channels, got {channels}")
    if len(pitch_pool) != len(channels) or min(pitch_pool) < 1:
        raise ParameterError(f"pitch_pool needs one factor >= 1 per block ({len(channels)}), got {pitch_pool}")
    if not 0.0 <= dropout < 1.0:
        raise ParameterError(f"dropout must be in [0, 1), got {dropout}")
    width = int(n_bins)
    for p in pitch_pool:
        width //= p
    if width < 1:
        raise ParameterError(f"pitch_pool {pitch_pool} pools {n_bins} bins to nothing")
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    stages["log"] = LogCompression(log_gain)
    stages["input_norm"] = nn.BatchNorm2d(1)
    c_in = 1
    for k, (c, p) in enumerate(zip(channels, pitch_pool, strict=True), start=1):
        stages[f"conv{k}"] = Conv2d.random(c_in, c, (3, 3), padding=(1, 1), seed=seed(k))
        stages[f"norm{k}"] = nn.BatchNorm2d(c)
        stages[f"rectify{k}"] = HalfWaveRectify()
        if p > 1:
            stages[f"pool{k}"] = MaxPool2d((1, p))
            if dropout > 0:
                stages[f"dropout{k}"] = nn.Dropout(dropout)
        c_in = c
    # the whole remaining pitch axis in one convolution: a dense map per frame
    stages["embed"] = Conv2d.random(c_in, embedding, (1, width), seed=seed(100))
    stages["embed_norm"] = nn.BatchNorm2d(embedding)
    stages["embed_rectify"] = HalfWaveRectify()
    stages["to_features"] = _ToFeatures()
    if dropout > 0:
        stages["embed_dropout"] = nn.Dropout(dropout)
    return Cascade(stages), channels, pitch_pool


def _run_chunked(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, halo: int, chunk_frames: int | None
) -> torch.Tensor:
    """``fn`` (frames on the last axis in and out, ``halo`` frames of receptive field each side) on overlapping
    chunks of ``chunk_frames`` frames of ``x``, written into one output: equal to ``fn(x)`` for a frame-local
    ``fn``."""
    frames = x.shape[-1]
    if chunk_frames is None or frames <= chunk_frames:
        return fn(x)
    if chunk_frames < 1:
        raise ParameterError(f"chunk_frames must be >= 1 frame (or None), got {chunk_frames}")
    out: torch.Tensor | None = None
    for t0 in range(0, frames, chunk_frames):
        t1 = min(t0 + chunk_frames, frames)
        a, b = max(t0 - halo, 0), min(t1 + halo, frames)
        y = fn(x[..., a:b])[..., t0 - a : t0 - a + (t1 - t0)]
        if out is None:  # preallocated once the first chunk gives the shape: no list of chunks, no concatenation
            out = y.new_empty((*y.shape[:-1], frames))
        out[..., t0:t1] = y
    assert out is not None
    return out


def _gru_direction(
    gru: nn.GRU, x: torch.Tensor, h: torch.Tensor, *, reverse: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """One direction of the one-layer bidirectional ``gru`` on ``x`` ``(batch, frames, features)`` from the hidden
    state ``h`` ``(1, batch, hidden)``: the states ``(batch, frames, hidden)`` in time order and the last state.

    ``reverse`` runs the backward direction (the ``_reverse`` weights) from the last frame of ``x`` to the first,
    so ``h`` is the state after the frames to the right of ``x``. The same kernel as ``nn.GRU.forward`` with the
    same parameters, so chunks carrying ``h`` give the states of the one-shot call.
    """
    suffix = "_reverse" if reverse else ""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if gru.bias else ("weight_ih", "weight_hh")
    params = [getattr(gru, f"{name}_l0{suffix}") for name in names]
    if reverse:
        x = x.flip(1)
    out, h = torch._VF.gru(x, h, params, gru.bias, 1, 0.0, False, False, True)  # one layer, eval, batch first
    return (out.flip(1) if reverse else out), h


class _ChordModel(nn.Module):
    """What the excerpt chord models share: ``config`` (with ``n_bins``) and ``vocabulary`` set by the subclass."""

    config: dict[str, Any]
    vocabulary: ChordVocabulary

    @property
    def n_bins(self) -> int:
        return int(self.config["n_bins"])

    @property
    def labels(self) -> list[str]:
        """Class labels in output order (:class:`~dlmir.chords.ChordVocabulary`)."""
        return list(self.vocabulary.labels)


class ChordNet(_ChordModel):
    """A convolutional-recurrent chord recogniser with structured heads (root, bass, pitch classes, chord).

    Parameters
    ----------
    n_bins, bins_per_octave, fmin : shape of the input CQT magnitude (default: the chord CQT, 192 bins at 24 per
        octave from C1).
    channels : output channels of the 3 x 3 convolutions, one block per entry; each block is conv -> batch norm ->
        rectifier, followed by ``pitch_pool`` max pooling over pitch where given.
    pitch_pool : max-pooling factor over pitch after each block (``1``: none); the default halves the pitch axis
        after the second and the fourth block (192 bins at 24/octave -> 48 at 6/octave).
    embedding : width of the per-frame embedding (a convolution over the whole remaining pitch axis).
    hidden : GRU units per direction.
    dropout : dropout after each pooled block, on the embedding and on the GRU output.
    structured : the chord head reads the root / bass / pitch-class probabilities as well as the GRU state.
    log_gain : ``C`` of the input compression ``log(1 + C x)``.
    vocabulary : ``"full"`` (157 classes) or ``"majmin"`` (25).
    seed : seed of the random initialisation.

    Input and output
    ----------------
    :meth:`forward`: CQT magnitude ``(batch, n_bins, frames)`` (train on excerpts of 8-16 s, ~350-700 frames)
    -> dict of per-frame logits: ``"chord"`` ``(batch, n_classes, frames)``, ``"root"`` and ``"bass"``
    ``(batch, 13, frames)`` (index 12 = none), ``"pitch_classes"`` ``(batch, 12, frames)`` (before the sigmoid).
    :meth:`frame_log_probs`: ``(batch, n_classes, frames)`` log-probabilities; in eval mode the whole network
    runs in chunks of ``chunk_frames`` (the convolutions on chunks overlapping by their receptive field, the GRU
    one direction at a time carrying its state across chunks, then the heads), equal to the one-shot call, so a
    long input needs, besides its output, only the embedding and the forward GRU states of every frame
    (``(frames, embedding + hidden)``).

    Speed: the GRU is many small matrix products; on a CPU shared with other work, ``torch.set_num_threads(1)``
    can make it an order of magnitude faster (measured on a busy 2-core machine: 3.5 s instead of 15-30 s per
    training step of 8 x 16 s).
    """

    def __init__(
        self,
        n_bins: int = 192,
        bins_per_octave: int = 24,
        *,
        channels: tuple[int, ...] | list[int] = (16, 16, 32, 32),
        pitch_pool: tuple[int, ...] | list[int] = (1, 2, 1, 2),
        embedding: int = 128,
        hidden: int = 128,
        dropout: float = 0.2,
        structured: bool = True,
        log_gain: float = 100.0,
        vocabulary: str = "full",
        fmin: float = C1_HZ,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if embedding < 1 or hidden < 1:
            raise ParameterError(f"embedding and hidden must be >= 1 unit, got {embedding}, {hidden}")
        vocab = check_vocabulary(vocabulary)
        gen_seed = (lambda k: None) if seed is None else (lambda k: seed + k)  # noqa: E731
        self.features, channels, pitch_pool = _conv_trunk(
            n_bins, channels, pitch_pool, embedding=embedding, dropout=dropout, log_gain=log_gain, seed=gen_seed
        )
        with torch.random.fork_rng(devices=[]):  # the GRU draws its initialisation from the global generator
            if seed is not None:
                torch.manual_seed(seed)
            self.gru = nn.GRU(embedding, hidden, batch_first=True, bidirectional=True)
        self.gru_dropout = nn.Dropout(dropout)
        state = 2 * hidden
        n_classes = len(vocab)
        self.heads = nn.ModuleDict(
            {
                "root": Dense.random(state, 13, seed=gen_seed(201)),
                "bass": Dense.random(state, 13, seed=gen_seed(202)),
                "pitch_classes": Dense.random(state, 12, seed=gen_seed(203)),
                "chord": Dense.random(state + (38 if structured else 0), n_classes, seed=gen_seed(204)),
            }
        )
        self.receptive_halo = len(channels)  # frames each side seen by the 3 x 3 convolutions
        self.vocabulary = vocab
        self.config: dict[str, Any] = {
            "model": "ChordNet",
            "n_bins": int(n_bins),
            "bins_per_octave": int(bins_per_octave),
            "channels": list(channels),
            "pitch_pool": list(pitch_pool),
            "embedding": int(embedding),
            "hidden": int(hidden),
            "dropout": float(dropout),
            "structured": bool(structured),
            "log_gain": float(log_gain),
            "vocabulary": vocabulary,
            "fmin": float(fmin),
            "seed": seed,
        }

    def embed(self, cqt: torch.Tensor, *, chunk_frames: int | None = None) -> torch.Tensor:
        """Per-frame embedding ``(batch, embedding, frames)`` of a CQT ``(batch, n_bins, frames)``.

        With ``chunk_frames`` (eval mode only: batch norm then uses its running statistics), the convolutions run
        on overlapping chunks; the result equals the one-shot call.
        """
        cqt = check_cqt(cqt, self.n_bins, "ChordNet")
        trunk = lambda c: self.features(c.transpose(1, 2).unsqueeze(1))  # noqa: E731  (batch, 1, frames, n_bins)
        return _run_chunked(trunk, cqt, self.receptive_halo, None if self.training else chunk_frames)

    def forward(self, cqt: torch.Tensor, *, chunk_frames: int | None = None) -> dict[str, torch.Tensor]:
        """CQT magnitude ``(batch, n_bins, frames)`` -> per-frame logits of every head (see the class docstring)."""
        z = self.embed(cqt, chunk_frames=chunk_frames)
        h, _ = self.gru(z.transpose(1, 2))  # (batch, frames, 2 hidden)
        h = self.gru_dropout(h).transpose(1, 2)  # (batch, 2 hidden, frames)
        out = {name: self.heads[name](h) for name in ("root", "bass", "pitch_classes")}
        if self.config["structured"]:
            side = [out["root"].softmax(1), out["bass"].softmax(1), out["pitch_classes"].sigmoid()]
            h = torch.cat([h, *side], dim=1)
        out["chord"] = self.heads["chord"](h)
        return out

    def _chord_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Chord logits ``(batch, n_classes, frames)`` of GRU states ``(batch, 2 hidden, frames)`` (eval mode)."""
        if not self.config["structured"]:
            return self.heads["chord"](h)
        side = [
            self.heads["root"](h).softmax(1),
            self.heads["bass"](h).softmax(1),
            self.heads["pitch_classes"](h).sigmoid(),
        ]
        return self.heads["chord"](torch.cat([h, *side], dim=1))

    def frame_log_probs(self, cqt: torch.Tensor, *, chunk_frames: int | None = 2048) -> torch.Tensor:
        """Chord class log-probabilities ``(batch, n_classes, frames)`` of a CQT ``(batch, n_bins, frames)``.

        In eval mode, an input longer than ``chunk_frames`` runs in chunks of ``chunk_frames`` frames throughout:
        the convolutions on overlapping chunks (:meth:`embed`), the GRU one direction at a time carrying its
        hidden state from chunk to chunk (forward: left to right, keeping its states; backward: right to left),
        and the heads and the log-softmax of each chunk as soon as its backward states are known, written into one
        output. The result equals the one-shot call (to float rounding); the memory beyond the input and the
        output is the embedding and the forward states, ``(batch, frames, embedding + hidden)``, instead of the
        one-shot GRU's gates and states over every frame. ``chunk_frames=None``: one shot.
        """
        cqt = check_cqt(cqt, self.n_bins, "ChordNet")
        frames = cqt.shape[-1]
        if self.training or chunk_frames is None or frames <= chunk_frames:
            return torch.log_softmax(self.forward(cqt, chunk_frames=chunk_frames)["chord"], dim=1)
        if chunk_frames < 1:
            raise ParameterError(f"chunk_frames must be >= 1 frame (or None), got {chunk_frames}")
        z = self.embed(cqt, chunk_frames=chunk_frames).transpose(1, 2)  # (batch, frames, embedding)
        batch, hidden = z.shape[0], self.gru.hidden_size
        starts = range(0, frames, chunk_frames)
        ahead = z.new_empty((batch, frames, hidden))  # the forward direction's states
        h = z.new_zeros((1, batch, hidden))
        for t0 in starts:
            t1 = min(t0 + chunk_frames, frames)
            ahead[:, t0:t1], h = _gru_direction(self.gru, z[:, t0:t1], h, reverse=False)
        out: torch.Tensor | None = None
        h = z.new_zeros((1, batch, hidden))
        for t0 in reversed(starts):
            t1 = min(t0 + chunk_frames, frames)
            backward, h = _gru_direction(self.gru, z[:, t0:t1], h, reverse=True)
            states = torch.cat([ahead[:, t0:t1], backward], dim=2).transpose(1, 2)  # (batch, 2 hidden, chunk)
            lp = torch.log_softmax(self._chord_logits(self.gru_dropout(states)), dim=1)
            if out is None:
                out = lp.new_empty((batch, lp.shape[1], frames))
            out[..., t0:t1] = lp
        assert out is not None
        return out

    def loss(
        self,
        outputs: Mapping[str, torch.Tensor],
        index: torch.Tensor,
        *,
        bass: torch.Tensor | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> torch.Tensor:
        """Weighted sum of the heads' losses over the valid frames.

        Parameters
        ----------
        outputs : :meth:`forward`'s dict (logits ``(batch, classes, frames)``).
        index : int64 ``(batch, frames)`` chord classes; -1 = ignore the frame (padding, unknown labels).
        bass : optional int64 ``(batch, frames)`` bass pitch classes (12 = none; default the root).
        weights : per head (``chord``, ``root``, ``bass``, ``pitch_classes``), default :data:`HEAD_WEIGHTS`.

        Returns
        -------
        scalar: ``w_chord CE(chord) + w_root CE(root) + w_bass CE(bass) + w_pc BCE(pitch classes)``, each a mean
        over valid frames (BCE also over the 12 pitch classes).
        """
        w = {**HEAD_WEIGHTS, **(weights or {})}
        unknown = set(w) - set(HEAD_WEIGHTS)
        if unknown:
            raise ParameterError(f"unknown heads {sorted(unknown)} in loss weights; heads are {list(HEAD_WEIGHTS)}")
        t = structured_targets(index, self.vocabulary, bass=bass)
        valid = (t["chord"] >= 0).unsqueeze(1).to(outputs["chord"].dtype)  # (batch, 1, frames)
        total = outputs["chord"].new_zeros(())
        for name in ("chord", "root", "bass"):
            if w[name]:
                total = total + w[name] * F.cross_entropy(outputs[name], t[name], ignore_index=-1)
        if w["pitch_classes"]:
            bce = F.binary_cross_entropy_with_logits(
                outputs["pitch_classes"], t["pitch_classes"].transpose(-1, -2), reduction="none"
            )
            total = total + w["pitch_classes"] * (bce * valid).sum() / (valid.sum() * 12).clamp_min(1.0)
        return total


class ChordCNN(_ChordModel):
    """A plain convolutional chord recogniser: one softmax over the chord classes per frame (the simple baseline).

    The same convolutional trunk as :class:`ChordNet` (log-compressed CQT -> 3 x 3 convolutions with batch norm,
    pitch pooling and dropout -> a per-frame embedding), then, in place of the recurrent layer, ``temporal_layers``
    convolutions over time (kernel ``temporal_kernel`` frames, ``hidden`` channels, batch norm, rectifier, dropout)
    and one dense softmax head over the vocabulary's classes. No structured heads, no recurrence: every output
    frame sees a fixed window of ``2 * receptive_halo + 1`` frames (default 33 frames, 0.77 s at the chord CQT's
    hop of 512 samples at 22,050 Hz), so the model runs in bounded memory on audio of any length and streams
    block by block (:meth:`streaming_context`).

    Parameters
    ----------
    n_bins, bins_per_octave, fmin : shape of the input CQT magnitude (default: the chord CQT, 192 bins at 24 per
        octave from C1).
    channels, pitch_pool, embedding, dropout, log_gain : the trunk, as for :class:`ChordNet`.
    hidden : channels of each temporal convolution.
    temporal_kernel : frames spanned by each temporal convolution (odd, >= 1).
    temporal_layers : number of temporal convolutions (>= 0; 0: the head reads the embedding directly).
    vocabulary : ``"full"`` (157 classes) or ``"majmin"`` (25).
    seed : seed of the random initialisation.

    Input and output
    ----------------
    :meth:`forward`: CQT magnitude ``(batch, n_bins, frames)`` -> ``{"chord": (batch, n_classes, frames)}``
    logits. :meth:`frame_log_probs`: ``(batch, n_classes, frames)`` log-probabilities; in eval mode the whole
    network runs on chunks of ``chunk_frames`` frames overlapping by ``receptive_halo`` (exact).
    """

    def __init__(
        self,
        n_bins: int = 192,
        bins_per_octave: int = 24,
        *,
        channels: tuple[int, ...] | list[int] = (16, 16, 32, 32),
        pitch_pool: tuple[int, ...] | list[int] = (1, 2, 1, 2),
        embedding: int = 128,
        hidden: int = 128,
        temporal_kernel: int = 13,
        temporal_layers: int = 2,
        dropout: float = 0.2,
        log_gain: float = 100.0,
        vocabulary: str = "full",
        fmin: float = C1_HZ,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if embedding < 1 or hidden < 1:
            raise ParameterError(f"embedding and hidden must be >= 1 unit, got {embedding}, {hidden}")
        if temporal_kernel < 1 or temporal_kernel % 2 == 0:
            raise ParameterError(f"temporal_kernel must be an odd number of frames >= 1, got {temporal_kernel}")
        if temporal_layers < 0:
            raise ParameterError(f"temporal_layers must be >= 0, got {temporal_layers}")
        vocab = check_vocabulary(vocabulary)
        gen_seed = (lambda k: None) if seed is None else (lambda k: seed + k)  # noqa: E731
        self.features, channels, pitch_pool = _conv_trunk(
            n_bins, channels, pitch_pool, embedding=embedding, dropout=dropout, log_gain=log_gain, seed=gen_seed
        )
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        c_in, half = int(embedding), int(temporal_kernel) // 2
        for k in range(1, int(temporal_layers) + 1):
            gen = torch.Generator().manual_seed(seed + 300 + k) if seed is not None else None
            w = torch.randn(hidden, c_in, temporal_kernel, generator=gen) * np.sqrt(2.0 / (c_in * temporal_kernel))
            stages[f"tconv{k}"] = Conv1d(w, torch.zeros(hidden), padding=half, trainable=True)
            stages[f"tnorm{k}"] = nn.BatchNorm1d(hidden)
            stages[f"trectify{k}"] = HalfWaveRectify()
            if dropout > 0:
                stages[f"tdropout{k}"] = nn.Dropout(dropout)
            c_in = int(hidden)
        self.temporal = Cascade(stages) if stages else nn.Identity()
        self.head = Dense.random(c_in, len(vocab), seed=gen_seed(204))
        self.receptive_halo = len(channels) + int(temporal_layers) * half  # input frames each side of an output
        self.vocabulary = vocab
        self.config: dict[str, Any] = {
            "model": "ChordCNN",
            "n_bins": int(n_bins),
            "bins_per_octave": int(bins_per_octave),
            "channels": list(channels),
            "pitch_pool": list(pitch_pool),
            "embedding": int(embedding),
            "hidden": int(hidden),
            "temporal_kernel": int(temporal_kernel),
            "temporal_layers": int(temporal_layers),
            "dropout": float(dropout),
            "log_gain": float(log_gain),
            "vocabulary": vocabulary,
            "fmin": float(fmin),
            "seed": seed,
        }

    def _logits(self, cqt: torch.Tensor) -> torch.Tensor:
        z = self.features(cqt.transpose(1, 2).unsqueeze(1))  # (batch, embedding, frames)
        return self.head(self.temporal(z))

    def forward(self, cqt: torch.Tensor, *, chunk_frames: int | None = None) -> dict[str, torch.Tensor]:
        """CQT magnitude ``(batch, n_bins, frames)`` -> ``{"chord": logits (batch, n_classes, frames)}``.

        With ``chunk_frames`` (eval mode only: batch norm then uses its running statistics), the network runs on
        chunks overlapping by :attr:`receptive_halo` frames; the result equals the one-shot call.
        """
        cqt = check_cqt(cqt, self.n_bins, "ChordCNN")
        return {"chord": _run_chunked(self._logits, cqt, self.receptive_halo, None if self.training else chunk_frames)}

    def frame_log_probs(self, cqt: torch.Tensor, *, chunk_frames: int = 2048) -> torch.Tensor:
        """Chord class log-probabilities ``(batch, n_classes, frames)`` of a CQT ``(batch, n_bins, frames)``."""
        return torch.log_softmax(self.forward(cqt, chunk_frames=chunk_frames)["chord"], dim=1)

    def streaming_context(self, hop_length: int) -> tuple[int, int]:
        """Audio context (samples) each side that exact block processing needs: :attr:`receptive_halo` hops each
        way (:mod:`dlmir.frontends.streaming`)."""
        return self.receptive_halo * int(hop_length), self.receptive_halo * int(hop_length)

    def loss(self, outputs: Mapping[str, torch.Tensor], index: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the chord logits ``outputs["chord"]`` ``(batch, n_classes, frames)`` against the int64
        classes ``index`` ``(batch, frames)``, mean over the frames not marked -1 (0 when there are none)."""
        index = torch.as_tensor(index, dtype=torch.int64, device=outputs["chord"].device)
        if not bool((index >= 0).any()):
            return outputs["chord"].sum() * 0.0
        return F.cross_entropy(outputs["chord"], index, ignore_index=-1)


class _ToFeatures(Stage):
    """``(batch, channels, frames, 1)`` -> ``(batch, channels, frames)``: back to the feature layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1)
