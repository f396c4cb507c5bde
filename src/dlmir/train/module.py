"""Training learned chroma with Lightning: the :class:`ChromaModule` and :func:`train`.

Data: any ``torch.utils.data.Dataset`` whose items are ``(patch, class_index, template)`` with
``patch`` a raw CQT-magnitude patch ``(1, 2 * context + 1, n_bins)``, ``class_index`` an int of the
157-class vocabulary (156 = N) and ``template`` the chord's binary ``(12,)`` pitch-class vector
(N: zeros) -- what :class:`dlmir.data.datasets.ChordDataset` yields.

The pieces live in their own modules: targets and losses in :mod:`dlmir.train.losses`, learning-rate
schedules in :mod:`dlmir.train.schedules`, checkpoints in :mod:`dlmir.train.checkpoint`, the run's
settings in :mod:`dlmir.train.config` (:class:`TrainConfig`, re-exported here) and the regularisers in
:mod:`dlmir.train.regularizers`; the loop every run shares (data order, exact resume, checkpoints, best model,
early stopping, DDP) in :mod:`dlmir.train.base`, which :class:`ChromaModule` and :func:`train` build on.

Resume: after every epoch the checkpoint (:func:`~dlmir.train.checkpoint.save_state`) holds weights,
optimiser state, epoch, step and history; ``resume=True`` restarts from there. Each epoch's data order,
dropout masks and augmentation draws come from ``seed + epoch``, so N epochs in one go and N/2 +
resume + N/2 give the same weights (single process). The best model by validation loss is saved as
``RUN_DIR/config.json`` + ``RUN_DIR/model.safetensors`` (:func:`dlmir.models.load` reads it).

Data-parallel (``devices=k > 1``; CPU: ``ddp_spawn`` with gloo): each epoch's order is split by
stride, rank ``r`` taking items ``r, r + k, ...``, so step ``i`` averages the gradients of exactly the
``k * batch_size`` items that step ``i`` of one process with batch ``k * batch_size`` sees: the same
steps and, without dropout or augmentation (drawn per rank), the same weights up to float rounding.
The logged training loss is the mean over ranks. Each worker destroys its process group when ``fit``
ends, so no gloo threads outlive training.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import Dataset

from dlmir.train.base import EpochSampler, TornDownDDPStrategy, TrainModule, fit, resume_state
from dlmir.train.base import restore_early_stopping as _restore_early_stopping
from dlmir.train.checkpoint import read_state
from dlmir.train.config import TrainConfig
from dlmir.train.losses import chroma_loss, chroma_targets
from dlmir.train.regularizers import Regularization, activation_penalty, apply_max_norm, l1_penalty


class ChromaModule(TrainModule):
    """LightningModule training a :class:`~dlmir.models.LearnedChroma` (see the module docstring).

    The loop (data order, exact resume, checkpoints, best model) is :class:`~dlmir.train.base.TrainModule`'s;
    this class adds the chroma loss, rotation augmentation and the regularisers. Defined at module level so that
    ``ddp_spawn`` workers can unpickle it; the datasets must be picklable too (tensor datasets are).
    """

    def val_batch_size(self) -> int:
        return max(self.config.batch_size, 1024)

    def compute(self, batch, train: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[float, int]]]:
        loss, total = self._step(batch, train)
        return loss, total, {}

    def _step(self, batch, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x, _index, templates = batch
        if train and "rotate" in self.config.augment:
            from dlmir.data.augment import random_semitones, rotate

            shifts = random_semitones(x.shape[0], self.config.max_semitones).to(x.device)
            x, templates, _ = rotate(x, templates, shifts, bins_per_octave=self.model.config["bins_per_octave"])
        target = chroma_targets(templates, self.config.loss)
        penalty: torch.Tensor | float = 0.0
        if train and self.reg.l1_activations:
            stage = "rectify" if "rectify" in self.model.names else "chroma"
            acts = self.model(x, until=stage)
            penalty = self.reg.l1_activations * activation_penalty(acts)
        out = self.model(x)[..., 0]
        loss = chroma_loss(out.float(), target, self.config.loss)
        if train and self.reg.l1:
            penalty = penalty + self.reg.l1 * l1_penalty(self.model)
        return loss, loss + penalty

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.reg.max_norm:
            apply_max_norm(self.model, self.reg.max_norm)


def _sample_patches(dataset: Dataset, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=gen)[:n].tolist()
    return torch.stack([torch.as_tensor(dataset[i][0]) for i in idx]).float()


def train(
    model: torch.nn.Module,
    train_set: Dataset,
    val_set: Dataset | None = None,
    *,
    config: TrainConfig | None = None,
    reg: Regularization | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Train ``model`` (a :class:`~dlmir.models.LearnedChroma`) on ``train_set``; returns a summary dict.

    Parameters
    ----------
    model : the model to train (its input standardisation is fitted on up to
        ``config.max_standardize_frames`` training patches unless resuming).
    train_set, val_set : datasets of ``(patch, class_index, template)`` (module docstring).
    config, reg : :class:`TrainConfig` and :class:`~dlmir.train.regularizers.Regularization`.
    run_dir : folder for checkpoints and the best model (required for ``resume``).
    resume : continue from ``run_dir/checkpoint`` (weights, optimiser state, epoch, step, history);
        ``config.epochs`` is the total, so the run trains the remaining epochs.
    stop_after_epochs : stop after this many epochs of *this call* (simulates an interruption; tests).

    Returns
    -------
    dict with ``epoch`` (completed, in total), ``step``, ``history`` (per-epoch losses), ``model``.
    """
    config = config or TrainConfig()
    reg = reg or Regularization()
    run_path = Path(run_dir) if run_dir is not None else None
    start: tuple[int, int, dict[str, Any] | None, list[dict[str, float]] | None] = (0, 0, None, None)
    if resume:
        start = resume_state(model, run_path, ignore=("seed", "init", "hidden_init"))
    else:
        pl.seed_everything(config.seed, verbose=False)
        model.fit_standardization(_sample_patches(train_set, config.max_standardize_frames, config.seed))
        if run_path is not None:  # the starting point, for weight plots (start vs end of training)
            from dlmir.models import save

            save(model, run_path / "init", extra={"train": asdict(config), "reg": reg.to_dict()})
    cuda = torch.cuda.is_available() and config.accelerator in ("auto", "gpu", "cuda")
    n_params = sum(p.numel() for p in model.parameters())
    # small models: one intra-op thread per process is ~10x faster than several on a busy CPU;
    # large ones (deep, wide context) use the machine's threads
    threads = 1 if not cuda and (config.devices > 1 or n_params < 500_000) else None
    return fit(
        ChromaModule,
        model,
        train_set,
        val_set,
        config=config,
        reg=reg,
        run_path=run_path,
        start=start,
        stop_after_epochs=stop_after_epochs,
        threads=threads,
    )


__all__ = [
    "ChromaModule",
    "EpochSampler",
    "TornDownDDPStrategy",
    "TrainConfig",
    "_restore_early_stopping",
    "read_state",
    "train",
]
