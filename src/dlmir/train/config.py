"""Settings of one training run: :class:`TrainConfig` (everything but the model and the regularisers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dlmir.errors import ParameterError
from dlmir.train.losses import LOSSES
from dlmir.train.schedules import SCHEDULES

AUGMENTATIONS = ("rotate", "noise", "codec")


@dataclass
class TrainConfig:
    """Settings of one training run (everything but the model and regularisers).

    Attributes
    ----------
    epochs : passes over the training set. batch_size : frames per step and process (with ``devices=k``
    each step averages the gradients of ``k`` batches: ``k * batch_size`` frames, the same step as one
    process with batch ``k * batch_size``). lr : AdamW learning rate.
    loss : one of :data:`~dlmir.train.losses.LOSSES`. seed : seeds data order, init, dropout and augmentation.
    patience : early stopping after this many epochs without a lower validation loss (0: off).
    devices : processes/devices for data-parallel training (``> 1``: DDP; on CPU ``ddp_spawn`` with gloo).
    accelerator : Lightning accelerator (``'auto'``: GPU when present). precision : ``None`` picks
    ``'bf16-mixed'`` on CUDA and ``'32-true'`` on CPU. augment : names from :data:`AUGMENTATIONS`
    (rotation is applied on the fly here; noise/codec are applied to audio when the dataset is built).
    max_semitones : largest random rotation. progress_bar : show Lightning's progress bar.
    max_standardize_frames : frames sampled to fit the input standardisation.
    num_workers : DataLoader worker processes (0: load in the training process).
    schedule : learning-rate schedule per step: ``'constant'`` (``lr`` throughout) or ``'onecycle'``
        (:class:`~dlmir.train.schedules.OneCycle`: cosine warm-up from ``lr / 25`` to ``lr`` over the first 10 % of all
        ``epochs``' steps, then cosine decay towards 0; a function of the absolute step, so resume
        continues it exactly as long as ``epochs`` is unchanged).
    """

    epochs: int = 20
    batch_size: int = 256
    lr: float = 3e-3
    loss: str = "mse"
    seed: int = 0
    patience: int = 5
    devices: int = 1
    accelerator: str = "auto"
    precision: str | None = None
    augment: list[str] = field(default_factory=list)
    max_semitones: int = 6
    progress_bar: bool = True
    max_standardize_frames: int = 20000
    num_workers: int = 0
    schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ParameterError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ParameterError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ParameterError(f"lr (learning rate) must be > 0, got {self.lr}")
        self._check_loss()
        if self.devices < 1:
            raise ParameterError(f"devices must be >= 1, got {self.devices}")
        if self.schedule not in SCHEDULES:
            raise ParameterError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        if bad:
            raise ParameterError(f"unknown augmentation(s) {bad}; choose from {AUGMENTATIONS}")

    def _check_loss(self) -> None:
        """Raise unless :attr:`loss` is one this run's models train with (subclasses check their own)."""
        if self.loss not in LOSSES:
            raise ParameterError(f"loss must be one of {LOSSES}, got {self.loss!r}")


__all__ = ["AUGMENTATIONS", "TrainConfig"]
