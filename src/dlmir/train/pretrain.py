"""Self-supervised pre-training of a convolutional trunk (:class:`~dlmir.pretrain.objective.MaskedCQT`) on unlabeled
audio, on the shared Lightning loop (:mod:`dlmir.train.base`).

Data: items ``(features,)`` with features ``(n_bins, frames)``: :class:`~dlmir.pretrain.data.AudioExcerpts` (any
folder of audio; map-style, so data-parallel training with ``devices > 1`` works) or
:class:`~dlmir.pretrain.data.UnlabeledStream` (renders; a stream, one device). Every step draws new masks from the
step's seed (``(seed, absolute step, rank)``, :class:`~dlmir.train.base.TrainModule`), so a resumed run continues
exactly. No validation: the model is saved after every epoch (``RUN_DIR/config.json`` + ``model.safetensors``,
read by :func:`dlmir.pretrain.init.init_from`), with the checkpoint in ``RUN_DIR/checkpoint``; each history row has
``train_loss`` (the masked cells' mean squared error of standardised targets: 1.0 is the item mean's).

Speed, measured on the shared 2-core development CPU (load 8-12 from other jobs), one thread: the chord trunk
(channels 8, 8, 16, 16, embedding 64) takes ~1.0 s per step of 8 x 6 s excerpts for the model alone, and 2.6 s with
reading and the CQT of the excerpts in the training process (240 steps in 10 min); the instrument trunk (channels
8, 16, 24, 32) ~0.17 s per step of 32 x 2 s excerpts, plus ~0.02 s per excerpt read (``num_workers`` moves reading
and the CQT into worker processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import Dataset

from dlmir.errors import ParameterError
from dlmir.train.base import TrainModule, fit_run, is_iterable
from dlmir.train.config import TrainConfig
from dlmir.train.regularizers import Regularization

__all__ = ["PretrainConfig", "PretrainModule", "pretrain"]


@dataclass
class PretrainConfig(TrainConfig):
    """:class:`~dlmir.train.config.TrainConfig` for pre-training (see it for the shared fields).

    Attributes
    ----------
    loss : ``"masked"`` (masked reconstruction, the only objective).
    steps_per_epoch : batches per epoch (required: the data is a fixed number of random excerpts, or a stream).
    threads : intra-op threads on CPU while training (default 1).
    data : how the data was made (sources, excerpt seconds, stream settings), recorded with the run so that a
        resume rebuilds the same data (the CLI fills it).
    """

    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-3
    loss: str = "masked"
    patience: int = 0
    schedule: str = "onecycle"
    steps_per_epoch: int = 100
    threads: int | None = 1
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps_per_epoch < 1:
            raise ParameterError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if self.threads is not None and self.threads < 1:
            raise ParameterError(f"threads must be >= 1 (or None), got {self.threads}")
        if self.augment:
            raise ParameterError(f"pre-training augments with its masks only; got augment={self.augment}")

    def _check_loss(self) -> None:
        if self.loss != "masked":
            raise ParameterError(f"pre-training trains with loss 'masked', got {self.loss!r}")


class PretrainModule(TrainModule):
    """LightningModule training a :class:`~dlmir.pretrain.objective.MaskedCQT`."""

    def compute(self, batch, train: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[float, int]]]:
        x = batch[0]
        loss, _ = self.model.loss(x)  # masks from the global generator, seeded per step by TrainModule
        return loss, loss, {}


def pretrain(
    model: torch.nn.Module,
    train_set: Dataset,
    *,
    config: PretrainConfig | None = None,
    reg: Regularization | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Pre-train a :class:`~dlmir.pretrain.objective.MaskedCQT` on unlabeled excerpts.

    Parameters
    ----------
    model : the :class:`~dlmir.pretrain.objective.MaskedCQT` (attach its front end with
        :func:`dlmir.models.set_frontend` so that the saved run records it).
    train_set : :class:`~dlmir.pretrain.data.AudioExcerpts` (map-style; ``devices > 1`` trains data-parallel) or
        :class:`~dlmir.pretrain.data.UnlabeledStream` (a stream), items ``(features (n_bins, frames),)``.
    config : :class:`PretrainConfig` (``steps_per_epoch`` batches per epoch). reg : weight decay.
    run_dir : folder for the checkpoint and the model (required for ``resume``).
    resume : continue from ``run_dir/checkpoint``; ``config.epochs`` is the total.
    stop_after_epochs : stop after this many epochs of this call (simulates an interruption; tests).

    Returns
    -------
    dict with ``epoch``, ``step``, ``history`` (``train_loss`` per epoch) and ``model``.
    """
    from dlmir.pretrain.objective import MaskedCQT

    config = config or PretrainConfig()
    if not isinstance(config, PretrainConfig):
        raise ParameterError(f"pre-training takes a PretrainConfig, got {type(config).__name__}")
    if not isinstance(model, MaskedCQT):
        raise ParameterError(f"pre-training trains a MaskedCQT, got {type(model).__name__}")
    if not is_iterable(train_set):
        n = len(train_set)  # type: ignore[arg-type]
        if n < 1:
            raise ParameterError("no training excerpts")
        x = train_set[0][0]
        if x.ndim != 2 or x.shape[0] != model.n_bins:
            raise ParameterError(f"items have shape {tuple(x.shape)}; the model expects ({model.n_bins}, frames)")
    reg = reg or Regularization(weight_decay=1e-4)
    return fit_run(
        PretrainModule,
        model,
        train_set,
        None,
        config=config,
        reg=reg,
        run_dir=run_dir,
        resume=resume,
        stop_after_epochs=stop_after_epochs,
    )
