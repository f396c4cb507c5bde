"""Training the tempo cascade (:class:`dlmir.frontends.tempo.Tempo`) from its designed initialisation.

The model is the designed cascade with its stages unfrozen (by default all but the DFT and the mel filterbank,
which stay the designed front end): sub-band matrix, band weights, smoothing, comb gains and the tempo prior.
Its output, the tempo spectrum ``s (batch, n_tempi)`` over :attr:`~dlmir.frontends.tempo.Tempo.tempi`, becomes
log-probabilities ``log_softmax(sharpness * log(s / max s))`` (``sharpness`` 1: the spectrum normalised to sum
1) and the loss is the cross-entropy against a target
distribution over the same grid: a Gaussian in log-tempo (``sigma`` octaves) at the true BPM of the excerpt,
plus smaller Gaussians at its metrical relatives (``relatives``, e.g. ``{2: 0.1, 0.5: 0.1}``), normalised.

Items are ``(audio (samples,), beats (max_beats,), bpm ())`` from :class:`dlmir.data.beat_stream.BeatStream`
(rendered on the fly) or :class:`~dlmir.data.beat_stream.BeatExcerpts` (a folder with ``.beats``). Validation
logs ``val_acc1`` (the spectrum's peak within 4 % of the truth) and ``val_acc2`` (also x2, x3, 1/2, 1/3).
Everything else (checkpoints, exact resume, schedules, best model with its config) is the shared loop of
:mod:`dlmir.train.base`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from dlmir.errors import ParameterError
from dlmir.train.base import TrainModule, fit_run
from dlmir.train.config import TrainConfig
from dlmir.train.regularizers import Regularization

__all__ = ["FROZEN_STAGES", "TempoModule", "TempoTrainConfig", "tempo_accuracy", "tempo_target", "train_tempo"]

FROZEN_STAGES = ("stft", "modulus", "mel")
"""Stages kept at their designed values by default (the designed mel front end)."""


@dataclass
class TempoTrainConfig(TrainConfig):
    """:class:`~dlmir.train.config.TrainConfig` for tempo, plus:

    sigma : width in octaves of the target Gaussians in log-tempo (0.03: ~2 %).
    relatives : weight of the target at each metrical relative of the true tempo (factor -> weight; the true
        tempo has weight 1).
    sharpness : ``beta`` of ``log_softmax(beta * log(s / max s))``.
    frozen : stage names kept at their designed values.
    steps_per_epoch : batches per epoch (required for a stream). threads : CPU threads while training.
    data : the data settings, recorded for ``--resume``.
    """

    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-2
    loss: str = "mse"  # unused (TrainConfig requires a known name); the loss is the cross-entropy above
    schedule: str = "onecycle"
    patience: int = 0
    sigma: float = 0.03
    relatives: dict[str, float] = field(default_factory=lambda: {"2": 0.1, "0.5": 0.1})
    sharpness: float = 1.0
    frozen: list[str] = field(default_factory=lambda: list(FROZEN_STAGES))
    steps_per_epoch: int | None = None
    threads: int | None = 1
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sigma > 0:
            raise ParameterError(f"sigma must be > 0 octaves, got {self.sigma}")
        if not self.sharpness > 0:
            raise ParameterError(f"sharpness must be > 0, got {self.sharpness}")
        for k, w in self.relatives.items():
            if not float(k) > 0 or w < 0:
                raise ParameterError(f"relatives maps factors > 0 to weights >= 0, got {k!r}: {w}")


def tempo_target(
    bpm: torch.Tensor,
    tempi: np.ndarray | torch.Tensor,
    *,
    sigma: float = 0.03,
    relatives: dict[str, float] | None = None,
) -> torch.Tensor:
    """Target distributions ``(batch, n_tempi)`` over ``tempi`` (BPM) for true tempi ``bpm (batch,)`` (BPM).

    A Gaussian in ``log2`` tempo of width ``sigma`` octaves at each ``bpm``, plus ``weight`` times one at each
    ``factor * bpm`` of ``relatives``, normalised to sum 1 per row.
    """
    log_t = torch.log2(torch.as_tensor(tempi, dtype=torch.float32, device=bpm.device))
    out = torch.zeros(bpm.shape[0], log_t.shape[0], device=bpm.device)
    for factor, weight in [(1.0, 1.0), *((float(k), float(w)) for k, w in (relatives or {}).items())]:
        if weight <= 0:
            continue
        centre = torch.log2(bpm.float() * factor)[:, None]
        out = out + weight * torch.exp(-0.5 * ((log_t[None, :] - centre) / sigma) ** 2)
    total = out.sum(dim=1, keepdim=True)
    if bool((total <= 0).any()):
        raise ParameterError("a true tempo lies outside the model's tempo range: no target mass on its grid")
    return out / total


def tempo_accuracy(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-item Acc1 (within 4 %) and Acc2 (within 4 % of x1, x2, x3, 1/2, 1/3 the reference), as 0/1 arrays."""
    estimate, reference = np.asarray(estimate, dtype=float), np.asarray(reference, dtype=float)
    acc1 = np.abs(estimate - reference) <= 0.04 * reference
    acc2 = np.zeros_like(acc1)
    for f in (1.0, 2.0, 3.0, 0.5, 1.0 / 3.0):
        acc2 |= np.abs(estimate - f * reference) <= 0.04 * f * reference
    return acc1.astype(float), acc2.astype(float)


def spectrum_log_probs(spectrum: torch.Tensor, sharpness: float) -> torch.Tensor:
    """``log_softmax(sharpness * log(s / max s))`` of a non-negative tempo spectrum ``(batch, n_tempi)``."""
    s = spectrum.float().clamp_min(0)
    peak = s.amax(dim=1, keepdim=True).clamp_min(1e-12)
    return F.log_softmax(sharpness * torch.log(s / peak + 1e-6), dim=1)


class TempoModule(TrainModule):
    """LightningModule training a :class:`~dlmir.frontends.tempo.Tempo` (see the module docstring)."""

    def compute(self, batch, train: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[float, int]]]:
        audio, _beats, bpm = batch[0], batch[1], batch[2]
        model = self.model
        cfg: TempoTrainConfig = self.config  # type: ignore[assignment]
        spectrum = model(audio)
        logp = spectrum_log_probs(spectrum, cfg.sharpness)
        target = tempo_target(bpm, model.tempi, sigma=cfg.sigma, relatives=cfg.relatives)
        loss = -(target * logp).sum(dim=1).mean()
        peak = torch.as_tensor(model.tempi, device=spectrum.device)[spectrum.argmax(dim=1)]
        acc1, acc2 = tempo_accuracy(peak.detach().cpu().numpy(), bpm.detach().cpu().numpy())
        n = len(acc1)
        return loss, loss, {"acc1": (float(acc1.mean()), n), "acc2": (float(acc2.mean()), n)}


def train_tempo(
    model: torch.nn.Module,
    train_set: Dataset,
    val_set: Dataset | None = None,
    *,
    config: TempoTrainConfig | None = None,
    reg: Regularization | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Train a :class:`~dlmir.frontends.tempo.Tempo` (built with ``trainable=True``) on ``(audio, beats, bpm)``.

    Parameters
    ----------
    model : the cascade; the stages in ``config.frozen`` are frozen here, the others keep their ``requires_grad``.
    train_set : :class:`~dlmir.data.beat_stream.BeatStream` (set ``config.steps_per_epoch``) or a map-style set
        of the same items, at the model's sample rate. val_set : fixed items (``BeatExcerpts``), or ``None``.
    config : :class:`TempoTrainConfig`. reg : weight decay etc. run_dir : checkpoint and best-model folder.
    resume : continue ``run_dir``'s checkpoint (``config.epochs`` is the total).
    stop_after_epochs : stop after this many epochs of this call (tests).

    Returns
    -------
    dict with ``epoch``, ``step``, ``history`` (per epoch ``train_loss``, ``val_loss``, ``val_acc1``, ``val_acc2``)
    and ``model``.
    """
    from dlmir.frontends.tempo import Tempo

    if not isinstance(model, Tempo):
        raise ParameterError(f"train_tempo trains a dlmir.frontends.Tempo, got {type(model).__name__}")
    config = config or TempoTrainConfig()
    if not isinstance(config, TempoTrainConfig):
        raise ParameterError(f"tempo training takes a TempoTrainConfig, got {type(config).__name__}")
    unknown = sorted(set(config.frozen) - set(model.names))
    if unknown:
        raise ParameterError(f"frozen names stages the model lacks: {unknown} (stages: {model.names})")
    for name in config.frozen:
        model[name].requires_grad_(False)
    if not any(p.requires_grad for p in model.parameters()):
        raise ParameterError("nothing to train: build the Tempo with trainable=True and leave some stage unfrozen")
    sr = getattr(train_set, "sr", None)
    if sr is not None and not math.isclose(float(sr), float(model.sr)):
        raise ParameterError(f"the training audio is at {sr} Hz, the model at {model.sr} Hz")
    reg = reg or Regularization()
    return fit_run(
        TempoModule,
        model,
        train_set,
        val_set,
        config=config,
        reg=reg,
        run_dir=run_dir,
        resume=resume,
        stop_after_epochs=stop_after_epochs,
    )
