"""Training chord models: :class:`~dlmir.models.chords.ChordNet` and :class:`~dlmir.models.chords.ChordCNN` on
excerpts, :class:`~dlmir.models.fretboard.FretboardNet` on frame patches (or on excerpts, cut into patches on the
fly).

Data, two kinds of item (the batch decides which):

- **excerpts** ``(cqt, classes)``: ``cqt`` float32 ``(n_bins, frames)`` CQT magnitude, ``classes`` int64
  ``(frames,)`` class indices of the model's vocabulary (-1: ignore the frame). :class:`dlmir.data.excerpts.Excerpts`
  cuts them from a dlmir dataset folder (for training with per-epoch jittered cuts);
  ``dlmir.data.render_stream.RenderStream`` (an ``IterableDataset``) renders them on the fly, and an epoch is then
  ``config.steps_per_epoch`` batches. ChordNet and ChordCNN train on these only.
- **patches** ``(patch, class_index, template)`` as :class:`~dlmir.data.datasets.ChordDataset` yields them
  (``patch`` ``(1, 2 c + 1, n_bins)``): FretboardNet's native input. Given excerpts instead, FretboardNet is
  trained on the patches centred on every ``config.frame_step``-th labelled frame of each excerpt.

The loop is :class:`dlmir.train.base.TrainModule`'s, as for learned chroma: the same checkpoint files
(``RUN_DIR/checkpoint/state.safetensors`` + ``state.json``, exact resume), the best model by validation loss in
``RUN_DIR`` (``config.json`` with the front end + ``model.safetensors``, read by :func:`dlmir.models.load` and
:class:`dlmir.chords.recognition.ChordRecognizer`), early stopping, constant or one-cycle learning rate. Each
epoch's history row has ``train_loss``, ``val_loss`` and ``val_accuracy`` (frame accuracy: arg-max class equal
to the target over the frames not marked -1; mean over ranks with ``devices > 1``).

Speed: the GRU of ChordNet is many small matrix products, and on a busy CPU one intra-op thread is much faster
than several, so training on CPU uses ``config.threads`` threads (default 1). Measured on this 2-core CPU under a
load of 4-6 (forward + backward + AdamW, default models): ChordNet, batch 8 x 12 s (517 frames): 0.27 steps/s =
1,100 frames/s with 1 thread, 0.075 steps/s = 310 frames/s with 2; FretboardNet, batch 256 patches of 21 frames:
0.53 steps/s = 137 frames/s with 1 thread, 0.45 steps/s = 115 frames/s with 2.

On CUDA (``accelerator='auto'``) the models train in ``bf16-mixed`` unless ``config.precision`` says otherwise
(e.g. ``'32-true'``); the losses are computed in float32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from dlmir.errors import ParameterError
from dlmir.train.base import TrainModule, fit_run, is_iterable
from dlmir.train.config import TrainConfig
from dlmir.train.regularizers import Regularization

__all__ = [
    "CHORD_AUGMENTATIONS",
    "CHORD_LOSSES",
    "EXCERPT_MODELS",
    "ChordModule",
    "ChordTrainConfig",
    "frame_accuracy",
    "patches_from_excerpts",
    "rotate_batch",
    "train_chords",
]

CHORD_LOSSES: dict[str, tuple[str, ...]] = {
    "ChordNet": ("structured", "chord"),
    "ChordCNN": ("chord",),
    "FretboardNet": ("mse", "ce", "mse+ce"),
}
"""Losses per model class: ChordNet ``'structured'`` (every head, :data:`~dlmir.models.chords.HEAD_WEIGHTS`) or
``'chord'`` (the chord head only); ChordCNN ``'chord'`` (cross-entropy of its one softmax head); FretboardNet's
:meth:`~dlmir.models.fretboard.FretboardNet.loss` kinds."""

EXCERPT_MODELS = ("ChordNet", "ChordCNN")
"""Model classes that train on excerpts ``(cqt (n_bins, frames), classes (frames,))`` only."""

CHORD_AUGMENTATIONS = ("rotate",)


@dataclass
class ChordTrainConfig(TrainConfig):
    """:class:`~dlmir.train.config.TrainConfig` for chord models (see it for the shared fields).

    Attributes
    ----------
    loss : ``'auto'`` (ChordNet ``'structured'``, ChordCNN ``'chord'``, FretboardNet ``'mse'``) or one of
        :data:`CHORD_LOSSES`.
    batch_size : excerpts (ChordNet, ChordCNN) or patches (FretboardNet on patches) per step.
    steps_per_epoch : batches per epoch; required for a stream (``IterableDataset``), optional otherwise
        (``None``: the whole dataset).
    frame_step : FretboardNet on excerpts: train on every ``frame_step``-th labelled frame of each excerpt.
    threads : intra-op threads on CPU while training (``None``: leave torch's setting). Default 1: on a busy 2-core
        CPU one thread trained ChordNet 3.6x and FretboardNet 1.2x faster than two (module docstring).
    augment : ``['rotate']`` transposes every item by a random whole number of semitones (up to
        ``max_semitones``; the CQT shifts with zero fill, the chord classes rotate, ``N`` stays).
    data : how the data was made (dataset folder or stream, excerpt length, production, ...), recorded with the
        run so that a resume rebuilds the same data (the CLI fills it).
    init : where the trunk's initial weights came from (:func:`dlmir.pretrain.init.init_from`'s record; empty: a
        fresh initialisation). :func:`train_chords` fills it from its ``init`` argument.
    """

    batch_size: int = 16
    lr: float = 1e-3
    loss: str = "auto"
    steps_per_epoch: int | None = None
    frame_step: int = 1
    threads: int | None = 1
    data: dict[str, Any] = field(default_factory=dict)
    init: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ParameterError(
                f"steps_per_epoch must be >= 1 (or None: the whole dataset), got {self.steps_per_epoch}"
            )
        if self.frame_step < 1:
            raise ParameterError(f"frame_step must be >= 1 frame, got {self.frame_step}")
        if self.threads is not None and self.threads < 1:
            raise ParameterError(f"threads must be >= 1 (or None: torch's default), got {self.threads}")
        bad = [a for a in self.augment if a not in CHORD_AUGMENTATIONS]
        if bad:
            raise ParameterError(f"chord models augment on the fly with {CHORD_AUGMENTATIONS} only; got {bad}")

    def _check_loss(self) -> None:
        known = {k for kinds in CHORD_LOSSES.values() for k in kinds}
        if self.loss != "auto" and self.loss not in known:
            raise ParameterError(f"loss must be 'auto' or one of {CHORD_LOSSES}, got {self.loss!r}")

    def loss_for(self, model: torch.nn.Module) -> str:
        """The loss ``model`` trains with (``'auto'`` resolved), or raise if it does not fit the model."""
        kind = type(model).__name__
        if kind not in CHORD_LOSSES:
            raise ParameterError(f"chord training knows {sorted(CHORD_LOSSES)}, not {kind}")
        if self.loss == "auto":
            return CHORD_LOSSES[kind][0]
        if self.loss not in CHORD_LOSSES[kind]:
            raise ParameterError(f"{kind} trains with loss {CHORD_LOSSES[kind]}, not {self.loss!r}")
        return self.loss


def patches_from_excerpts(
    cqt: torch.Tensor, classes: torch.Tensor, context: int, *, frame_step: int = 1, offset: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The patches ``(n, 1, 2 context + 1, n_bins)`` centred on every ``frame_step``-th labelled frame (from
    ``offset``) of excerpts ``cqt`` ``(batch, n_bins, frames)`` with ``classes`` ``(batch, frames)``, zeros beyond
    the excerpt's ends (as :meth:`~dlmir.models.fretboard.FretboardNet.frames` pads), and their classes ``(n,)``."""
    batch, n_bins, n_frames = cqt.shape
    picked = torch.zeros_like(classes, dtype=torch.bool)
    picked[:, offset::frame_step] = True
    b, t = torch.nonzero(picked & (classes >= 0), as_tuple=True)
    padded = F.pad(cqt, (context, context))
    idx = t[:, None] + torch.arange(2 * context + 1, device=cqt.device)[None, :]  # (n, 2c + 1) padded frames
    patches = padded.permute(0, 2, 1)[b[:, None], idx]  # (n, 2c + 1, n_bins)
    return patches.unsqueeze(1), classes[b, t]


def rotate_batch(
    x: torch.Tensor, index: torch.Tensor, semitones: torch.Tensor, *, bins_per_octave: int, n_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transpose a batch by ``semitones`` ``(batch,)``: excerpts ``(batch, n_bins, frames)`` with classes
    ``(batch, frames)``, or patches ``(batch, 1, width, n_bins)`` with classes ``(batch,)``. The CQT shifts with
    zero fill (:func:`dlmir.data.augment.shift_bins`), classes rotate their root (N and -1 stay)."""
    from dlmir.data.augment import rotate_class_index, semitones_to_bins, shift_bins

    dim = 1 if x.ndim == 3 else -1
    shifted = shift_bins(x, semitones * semitones_to_bins(1, bins_per_octave), dim=dim)
    st = semitones.to(index.device).reshape(-1, *([1] * (index.ndim - 1)))
    rotated = rotate_class_index(index.clamp_min(0), st, n_classes=n_classes)
    return shifted, torch.where(index >= 0, rotated, index)


def frame_accuracy(logits: torch.Tensor, index: torch.Tensor, *, dim: int = 1) -> tuple[float, int]:
    """``(accuracy, frames)`` of the arg-max over ``dim`` of ``logits`` against ``index`` on frames ``>= 0``
    (accuracy 0 when there are none)."""
    valid = index >= 0
    count = int(valid.sum())
    if not count:
        return 0.0, 0
    hit = (logits.argmax(dim) == index) & valid
    return float(hit.sum()) / count, count


# -- the module -----------------------------------------------------------------------------------------
class ChordModule(TrainModule):
    """LightningModule training a ChordNet, a ChordCNN or a FretboardNet (see the module docstring)."""

    def compute(self, batch, train: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[float, int]]]:
        model = self.model
        kind = type(model).__name__
        x, index = batch[0], batch[1]
        if train and "rotate" in self.config.augment:
            from dlmir.data.augment import random_semitones

            shifts = random_semitones(x.shape[0], self.config.max_semitones).to(x.device)
            x, index = rotate_batch(
                x,
                index,
                shifts,
                bins_per_octave=int(model.config["bins_per_octave"]),
                n_classes=len(model.vocabulary),
            )
        loss_kind = self.config.loss_for(model)
        if kind in EXCERPT_MODELS:
            if x.ndim != 3:
                raise ParameterError(f"{kind} trains on excerpts (batch, n_bins, frames), got {tuple(x.shape)}")
            out = model(x)
            outputs = {k: v.float() for k, v in out.items()}
            if kind == "ChordCNN":
                loss = model.loss(outputs, index)
            else:
                weights = {"root": 0.0, "bass": 0.0, "pitch_classes": 0.0} if loss_kind == "chord" else None
                loss = model.loss(outputs, index, weights=weights)
            return loss, loss, {"accuracy": frame_accuracy(out["chord"], index, dim=1)}
        if x.ndim == 3:  # excerpts: the patches of their labelled frames
            step = self.config.frame_step
            offset = int(torch.randint(step, ())) if train and step > 1 else 0
            x, index = patches_from_excerpts(x, index, model.context, frame_step=step, offset=offset)
        out = model(x)
        out = type(out)(out.frets.float(), out.logits.float())
        loss = model.loss(out, index, kind=loss_kind)
        return loss, loss, {"accuracy": frame_accuracy(out.logits, index, dim=-1)}


def _check_items(model: torch.nn.Module, dataset: Dataset | None, name: str) -> None:
    """Raise early when a map-style dataset's items do not fit the model."""
    if dataset is None or is_iterable(dataset) or not len(dataset):  # type: ignore[arg-type]
        return
    item = dataset[0]
    kind = type(model).__name__
    x = torch.as_tensor(item[0])
    if kind in EXCERPT_MODELS and (len(item) != 2 or x.ndim != 2):
        raise ParameterError(
            f"{name}: {kind} trains on excerpts (cqt (n_bins, frames), classes (frames,)); the items are "
            f"{len(item)}-tuples with a {tuple(x.shape)} first element (use dlmir.data.excerpts.Excerpts or a "
            "RenderStream)"
        )
    n_bins = x.shape[0] if x.ndim == 2 else x.shape[-1]
    if n_bins != model.config["n_bins"]:
        raise ParameterError(f"{name}: items have {n_bins} CQT bins, the {kind} expects {model.config['n_bins']}")


def train_chords(
    model: torch.nn.Module,
    train_set: Dataset,
    val_set: Dataset | None = None,
    *,
    config: ChordTrainConfig | None = None,
    reg: Regularization | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    stop_after_epochs: int | None = None,
    init: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train a :class:`~dlmir.models.chords.ChordNet`, :class:`~dlmir.models.chords.ChordCNN` or
    :class:`~dlmir.models.fretboard.FretboardNet`.

    Parameters
    ----------
    model : the model (attach its front end with :func:`dlmir.models.set_frontend` so that the saved model
        records it; default: the chord CQT).
    train_set : excerpts or patches (module docstring), map-style or a stream (``IterableDataset``: set
        ``config.steps_per_epoch``).
    val_set : map-style validation data of the same kind (``None``: no validation, no early stopping; the
        model is then saved after every epoch).
    config : :class:`ChordTrainConfig`. reg : :class:`~dlmir.train.regularizers.Regularization` (weight decay).
    run_dir : folder for the checkpoint and the best model (required for ``resume``).
    resume : continue from ``run_dir/checkpoint``; ``config.epochs`` is the total.
    stop_after_epochs : stop after this many epochs of this call (simulates an interruption; tests).
    init : a ``dlmir pretrain`` run folder: copy its pre-trained trunk into ``model`` first
        (:func:`dlmir.pretrain.init.init_from`, ChordNet and ChordCNN; recorded in ``config.init``). Ignored when
        resuming (the checkpoint holds the weights).

    Returns
    -------
    dict with ``epoch`` (completed, in total), ``step``, ``history`` (per epoch: ``train_loss``, ``val_loss``,
    ``val_accuracy``), ``model``.
    """
    config = config or ChordTrainConfig()
    if not isinstance(config, ChordTrainConfig):
        raise ParameterError(f"chord training takes a ChordTrainConfig, got {type(config).__name__}")
    reg = reg or Regularization()
    config.loss_for(model)  # raise now if the loss does not fit
    _check_items(model, train_set, "training data")
    _check_items(model, val_set, "validation data")
    if init is not None and not resume:
        from dlmir.pretrain.init import init_from

        config.init = init_from(model, init)
    return fit_run(
        ChordModule,
        model,
        train_set,
        val_set,
        config=config,
        reg=reg,
        run_dir=run_dir,
        resume=resume,
        stop_after_epochs=stop_after_epochs,
    )
