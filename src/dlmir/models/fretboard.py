"""The fretboard network: a CNN that plays a chord on a guitar, and a template layer that names it.

Humphrey & Bello (2014), "From music audio to chord tablature: teaching deep convolutional networks to play
guitar": a CQT patch goes through convolutions and an affine layer to six softmaxes, one per string (muted, or
fret 0..F); a radial-basis layer then scores every chord class by how close the predicted fretboard is to the
class's fretboard template (:mod:`dlmir.chords.fretboard`): ``score_k = -||fretboard - template_k||^2``. Trained
with the mean squared error to the annotated chord's template (the paper's loss), the middle of the network is a
readable guitar tablature.

Stages (a :class:`~dlmir.layers.Cascade`; print the model to see them)::

    log(1 + C x) -> input batch norm -> [conv -> rectify -> max-pool] x 3 -> flatten -> dense -> rectify
    -> [dropout] -> dense (6 (F + 2)) -> per-string softmax ("frets") -> RBF templates ("rbf", class scores)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from dlmir.chords.fretboard import MAX_FRET, N_STRINGS, fretboard_templates
from dlmir.errors import ParameterError
from dlmir.frontends.presets import C1_HZ
from dlmir.layers import Cascade, Conv2d, Dense, HalfWaveRectify, LogCompression, Stage, as_parameter
from dlmir.models.chords import MaxPool2d, Reshape, check_cqt, check_vocabulary

__all__ = ["LOSSES", "FretboardNet", "FretboardOutput", "StringSoftmax", "TemplateRBF"]

LOSSES = ("mse", "ce", "mse+ce")


class FretboardOutput(NamedTuple):
    """What :class:`FretboardNet` returns: ``frets`` ``(batch, 6, F + 2)`` per-string probabilities (strings low
    E first, state 0 muted, ``f + 1`` fret f) and ``logits`` ``(batch, n_classes)`` RBF class scores."""

    frets: torch.Tensor
    logits: torch.Tensor


class StringSoftmax(Stage):
    """``(batch, 6 (F + 2), 1)`` -> ``(batch, 6, F + 2)``: a softmax over the states of each string."""

    def __init__(self, n_states: int) -> None:
        super().__init__()
        self.n_states = int(n_states)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x.reshape(x.shape[0], N_STRINGS, self.n_states), dim=-1)

    def extra_repr(self) -> str:
        return f"strings={N_STRINGS}, states={self.n_states}"


class TemplateRBF(Stage):
    """Radial-basis class scores: ``logits[b, k] = scale * -||x_b - T_k||^2`` over a ``(6, F + 2)`` fretboard.

    ``templates`` ``(n_classes, 6, F + 2)`` starts at the one-hot fretboard templates (frozen unless
    ``trainable``); ``scale = exp(log_scale)`` (trainable: it sets how peaked ``softmax(logits)`` is, and only the
    cross-entropy terms of :meth:`FretboardNet.loss` move it).
    """

    def __init__(self, templates: torch.Tensor, *, trainable: bool = False, scale: float = 2.0) -> None:
        super().__init__()
        if templates.ndim != 3:
            raise ParameterError(f"templates must be (n_classes, strings, states), got {tuple(templates.shape)}")
        if scale <= 0:
            raise ParameterError(f"rbf scale must be > 0, got {scale}")
        self.templates = as_parameter(templates.float(), trainable)
        self.log_scale = nn.Parameter(torch.tensor(float(scale)).log())

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """Squared distances ``(batch, n_classes)`` of fretboards ``(batch, 6, F + 2)`` to the templates."""
        flat = x.reshape(x.shape[0], -1)
        t = self.templates.reshape(self.templates.shape[0], -1).to(flat.dtype)
        d = (flat * flat).sum(1, keepdim=True) - 2.0 * flat @ t.T + (t * t).sum(1)[None, :]
        return d.clamp_min(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.log_scale.exp().to(x.dtype) * self.distances(x)

    def extra_repr(self) -> str:
        k, s, f = self.templates.shape
        return f"classes={k}, strings={s}, states={f}, trainable={self.templates.requires_grad}"


class FretboardNet(Cascade):
    """The fretboard network: CQT patch -> per-string fret probabilities -> chord class scores.

    Parameters
    ----------
    n_bins, bins_per_octave, fmin : shape of the input CQT magnitude (default: the chord CQT, 192 bins at 24 per
        octave from C1 = 32.7 Hz).
    context : frames on each side of the centre frame: patches are ``2 * context + 1`` frames (default 10: 21
        frames, 0.49 s at hop 512 / 22050 Hz).
    channels : output channels of the three convolutions.
    kernels : ``(frames, bins)`` kernel of each convolution ("valid": no padding).
    pools : ``(frames, bins)`` max pooling after each convolution.
    hidden : units of the dense layer before the string outputs.
    dropout : dropout before the string outputs.
    max_fret : ``F``: each string has ``F + 2`` states (muted, frets 0..F).
    trainable_templates : let training move the RBF templates (they start at the one-hot fretboard templates).
    log_gain : ``C`` of ``log(1 + C x)``.
    vocabulary : ``"full"`` (157 classes) or ``"majmin"`` (25), class order of
        :class:`~dlmir.chords.ChordVocabulary`.
    seed : seed of the random initialisation.

    Input and output
    ----------------
    :meth:`forward`: patches ``(batch, 1, 2 * context + 1, n_bins)`` of CQT magnitude (the items of
    :class:`~dlmir.data.datasets.ChordDataset`) -> :class:`FretboardOutput` ``(frets (batch, 6, F + 2), logits
    (batch, n_classes))``. :meth:`frames` / :meth:`frame_log_probs`: a whole CQT ``(batch, n_bins, frames)`` ->
    ``(batch, n_classes, frames)``, the patch centred on each frame (zeros beyond the ends), in chunks.
    """

    def __init__(
        self,
        n_bins: int = 192,
        bins_per_octave: int = 24,
        *,
        context: int = 10,
        channels: tuple[int, ...] | list[int] = (16, 32, 64),
        kernels: tuple[tuple[int, int], ...] | list[list[int]] = ((5, 13), (5, 13), (3, 9)),
        pools: tuple[tuple[int, int], ...] | list[list[int]] = ((1, 2), (2, 2), (2, 2)),
        hidden: int = 256,
        dropout: float = 0.25,
        max_fret: int = MAX_FRET,
        trainable_templates: bool = False,
        log_gain: float = 100.0,
        vocabulary: str = "full",
        fmin: float = C1_HZ,
        seed: int | None = None,
    ) -> None:
        channels = tuple(int(c) for c in channels)
        kernels = tuple((int(k[0]), int(k[1])) for k in kernels)
        pools = tuple((int(p[0]), int(p[1])) for p in pools)
        if context < 0:
            raise ParameterError(f"context must be >= 0 frames, got {context}")
        if not channels or len(kernels) != len(channels) or len(pools) != len(channels):
            raise ParameterError(
                f"channels, kernels and pools need one entry per convolution; got {len(channels)}, {len(kernels)}, "
                f"{len(pools)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {dropout}")
        vocab = check_vocabulary(vocabulary)
        n_states = int(max_fret) + 2
        templates = torch.as_tensor(fretboard_templates(vocabulary, max_fret=max_fret))
        gen_seed = (lambda k: None) if seed is None else (lambda k: seed + k)  # noqa: E731

        stages: OrderedDict[str, nn.Module] = OrderedDict()
        stages["log"] = LogCompression(log_gain)
        stages["input_norm"] = nn.BatchNorm2d(1)
        shape, c_in = (2 * int(context) + 1, int(n_bins)), 1
        for k, (c, kern, pool) in enumerate(zip(channels, kernels, pools, strict=True), start=1):
            shape = (shape[0] - kern[0] + 1, shape[1] - kern[1] + 1)
            shape = (shape[0] // pool[0], shape[1] // pool[1])
            if min(shape) < 1:
                raise ParameterError(
                    f"convolution {k} (kernel {kern}, pool {pool}) leaves no output for a patch of "
                    f"{2 * context + 1} x {n_bins}; raise context or shrink kernels/pools"
                )
            stages[f"conv{k}"] = Conv2d.random(c_in, c, kern, seed=gen_seed(k))
            stages[f"rectify{k}"] = HalfWaveRectify()
            stages[f"pool{k}"] = MaxPool2d(pool)
            c_in = c
        flat = c_in * shape[0] * shape[1]
        stages["flatten"] = Reshape(flat, 1)
        stages["hidden"] = Dense.random(flat, hidden, std=(2.0 / flat) ** 0.5, seed=gen_seed(10))
        stages["rectify_hidden"] = HalfWaveRectify()
        if dropout > 0:
            stages["dropout"] = nn.Dropout(dropout)
        stages["strings"] = Dense.random(hidden, N_STRINGS * n_states, seed=gen_seed(11))
        stages["frets"] = StringSoftmax(n_states)
        stages["rbf"] = TemplateRBF(templates, trainable=trainable_templates)
        super().__init__(stages)
        self.register_buffer("targets", templates.float().clone())  # fixed MSE targets, even if the RBF moves
        self.vocabulary = vocab
        self.config: dict[str, Any] = {
            "model": "FretboardNet",
            "n_bins": int(n_bins),
            "bins_per_octave": int(bins_per_octave),
            "context": int(context),
            "channels": list(channels),
            "kernels": [list(k) for k in kernels],
            "pools": [list(p) for p in pools],
            "hidden": int(hidden),
            "dropout": float(dropout),
            "max_fret": int(max_fret),
            "trainable_templates": bool(trainable_templates),
            "log_gain": float(log_gain),
            "vocabulary": vocabulary,
            "fmin": float(fmin),
            "seed": seed,
        }

    @property
    def n_bins(self) -> int:
        return int(self.config["n_bins"])

    @property
    def context(self) -> int:
        return int(self.config["context"])

    @property
    def labels(self) -> list[str]:
        """Class labels in output order (:class:`~dlmir.chords.ChordVocabulary`)."""
        return list(self.vocabulary.labels)

    def forward(self, patches: torch.Tensor) -> FretboardOutput:  # type: ignore[override]
        """Patches ``(batch, 1, 2 * context + 1, n_bins)`` -> ``FretboardOutput(frets, logits)``."""
        width = 2 * self.context + 1
        if patches.ndim != 4 or patches.shape[1:] != (1, width, self.n_bins):
            raise ParameterError(
                f"FretboardNet expects patches (batch, 1, {width}, {self.n_bins}) for context={self.context}; "
                f"got {tuple(patches.shape)} (whole CQTs go through frames())"
            )
        frets = self.run_until(patches, "frets")
        return FretboardOutput(frets, self["rbf"](frets))

    def loss(
        self,
        output: FretboardOutput,
        index: torch.Tensor,
        *,
        kind: str = "mse",
        ce_weight: float = 1.0,
        calibration: float = 0.01,
    ) -> torch.Tensor:
        """Training loss of a batch.

        Parameters
        ----------
        output : :meth:`forward`'s output.
        index : int64 ``(batch,)`` chord classes; -1 = ignore the item.
        kind : ``'mse'``: mean squared error of ``frets`` to the class's one-hot fretboard template (the paper's
            loss; the RBF scale is fitted by a cross-entropy on the detached distances, which moves nothing else);
            ``'ce'``: cross-entropy of the RBF logits; ``'mse+ce'``: ``mse + ce_weight * ce``.
        ce_weight : weight of the cross-entropy in ``'mse+ce'``.
        calibration : weight of the RBF-scale fit in ``'mse'`` (0: pure MSE; the scale then stays put). It only
            reaches ``rbf.log_scale``, so it changes how peaked :meth:`frame_log_probs` is, never the frets.

        Returns
        -------
        scalar tensor.
        """
        if kind not in LOSSES:
            raise ParameterError(f"loss kind must be one of {LOSSES}, got {kind!r}")
        index = torch.as_tensor(index, dtype=torch.int64, device=output.frets.device)
        valid = index >= 0
        if not bool(valid.any()):
            return output.frets.sum() * 0.0
        frets, logits, idx = output.frets[valid], output.logits[valid], index[valid]
        if kind == "ce":
            return F.cross_entropy(logits, idx)
        mse = F.mse_loss(frets, self.targets[idx].to(frets.dtype))
        if kind == "mse+ce":
            return mse + ce_weight * F.cross_entropy(logits, idx)
        if not calibration:
            return mse
        rbf = self["rbf"]
        fit = F.cross_entropy(-rbf.log_scale.exp() * rbf.distances(frets.detach()).detach(), idx)
        return mse + calibration * fit

    def frames(self, cqt: torch.Tensor, *, output: str = "log_probs", chunk_frames: int = 256) -> torch.Tensor:
        """Slide the network over a whole CQT: the patch centred on every frame, zero-padded at the ends.

        Parameters
        ----------
        cqt : CQT magnitude ``(batch, n_bins, frames)`` (or ``(n_bins, frames)``).
        output : ``'log_probs'`` (class log-probabilities, ``(batch, n_classes, frames)``), ``'logits'`` (RBF scores,
            same shape) or ``'frets'`` (``(batch, 6, F + 2, frames)``).
        chunk_frames : frames per forward pass (patches are cut with ``unfold`` per chunk; memory grows with it).

        Frame ``t`` of the result equals :meth:`forward` on the patch ``cqt[:, :, t - c : t + c + 1]`` (zeros
        beyond the ends), which is how :class:`~dlmir.data.datasets.ChordDataset` cuts its patches.
        """
        if output not in ("log_probs", "logits", "frets"):
            raise ParameterError(f"output must be 'log_probs', 'logits' or 'frets', got {output!r}")
        if chunk_frames < 1:
            raise ParameterError(f"chunk_frames must be >= 1, got {chunk_frames}")
        cqt = check_cqt(cqt, self.n_bins, "FretboardNet")
        c, (batch, n_bins, n_frames) = self.context, cqt.shape
        padded = F.pad(cqt, (c, c))
        results = []
        for t0 in range(0, n_frames, chunk_frames):
            t1 = min(t0 + chunk_frames, n_frames)
            windows = padded[:, :, t0 : t1 + 2 * c].unfold(-1, 2 * c + 1, 1)  # (batch, n_bins, t1 - t0, 2c + 1)
            patches = windows.permute(0, 2, 3, 1).reshape(batch * (t1 - t0), 1, 2 * c + 1, n_bins)
            out = self.forward(patches)
            if output == "frets":
                res = out.frets.reshape(batch, t1 - t0, *out.frets.shape[1:]).permute(0, 2, 3, 1)
            else:
                res = out.logits if output == "logits" else torch.log_softmax(out.logits, dim=-1)
                res = res.reshape(batch, t1 - t0, -1).transpose(1, 2)
            results.append(res)
        return torch.cat(results, dim=-1)

    def streaming_context(self, hop_length: int) -> tuple[int, int]:
        """Audio context (samples) each side that frame-exact block processing needs: ``context`` hops each way
        (:mod:`dlmir.frontends.streaming`)."""
        return self.context * int(hop_length), self.context * int(hop_length)

    def frame_log_probs(self, cqt: torch.Tensor, *, chunk_frames: int = 256) -> torch.Tensor:
        """Chord class log-probabilities ``(batch, n_classes, frames)`` of a CQT ``(batch, n_bins, frames)``."""
        return self.frames(cqt, output="log_probs", chunk_frames=chunk_frames)
