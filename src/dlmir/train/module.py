"""Training learned chroma with Lightning: the :class:`ChromaModule` and :func:`train`.

Data: any ``torch.utils.data.Dataset`` whose items are ``(patch, class_index, template)`` with
``patch`` a raw CQT-magnitude patch ``(1, 2 * context + 1, n_bins)``, ``class_index`` an int of the
157-class vocabulary (156 = N) and ``template`` the chord's binary ``(12,)`` pitch-class vector
(N: zeros) -- what :class:`dlmir.data.datasets.ChordDataset` yields.

The pieces live in their own modules: targets and losses in :mod:`dlmir.train.losses`, learning-rate
schedules in :mod:`dlmir.train.schedules`, checkpoints in :mod:`dlmir.train.checkpoint`, the run's
settings in :mod:`dlmir.train.config` (:class:`TrainConfig`, re-exported here) and the regularisers in
:mod:`dlmir.train.regularizers`.

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

import math
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from dlmir.errors import ParameterError
from dlmir.train.checkpoint import model_weights, optimizer_from_tensors, read_state, save_state
from dlmir.train.config import TrainConfig
from dlmir.train.losses import chroma_loss, chroma_targets
from dlmir.train.regularizers import Regularization, activation_penalty, apply_max_norm, l1_penalty
from dlmir.train.schedules import OneCycle


class EpochSampler(Sampler[int]):
    """A shuffling sampler whose order depends only on ``seed + epoch`` (set :attr:`epoch` each epoch).

    With ``world > 1`` it yields this ``rank``'s share of that order: items ``rank, rank + world, ...``
    after padding the order with its first items to a multiple of ``world`` (as
    :class:`~torch.utils.data.distributed.DistributedSampler` pads), ``ceil(n / world)`` items per rank.
    """

    def __init__(self, n: int, seed: int, *, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.epoch, self.rank, self.world = n, seed, 0, rank, world

    def __iter__(self):  # type: ignore[override]
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.n, generator=gen).tolist()
        if self.world > 1:
            order = (order + order[: len(self) * self.world - self.n])[self.rank :: self.world]
        return iter(order)

    def __len__(self) -> int:
        return math.ceil(self.n / self.world)


class TornDownDDPStrategy(pl.strategies.DDPStrategy):
    """Lightning's DDP strategy, destroying the process group in :meth:`teardown` (after a barrier when
    fit ended normally).

    Lightning leaves a gloo process group alive until the worker exits; its threads are then torn
    down during interpreter shutdown, which can abort the process ("terminate called without an active
    exception") on a loaded machine. Defined at module level so that spawned workers can unpickle it.
    """

    def teardown(self) -> None:
        super().teardown()
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            trainer = self.lightning_module.trainer if self.lightning_module is not None else None
            if trainer is not None and not trainer.interrupted:
                dist.barrier()  # no rank leaves while another may still be in a collective
            dist.destroy_process_group()


class ChromaModule(pl.LightningModule):
    """LightningModule training a :class:`~dlmir.models.LearnedChroma` (see the module docstring).

    Defined at module level so that ``ddp_spawn`` workers can unpickle it; the datasets must be
    picklable too (tensor datasets are).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        train_set: Dataset,
        val_set: Dataset | None,
        config: TrainConfig,
        reg: Regularization,
        *,
        run_dir: Path | None = None,
        start_epoch: int = 0,
        start_step: int = 0,
        optimizer_state: dict[str, Any] | None = None,
        history: list[dict[str, float]] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.train_set, self.val_set, self.config, self.reg = train_set, val_set, config, reg
        self.run_dir, self.start_epoch, self.start_step = run_dir, start_epoch, start_step
        self.optimizer_state = optimizer_state
        self.sampler = EpochSampler(len(train_set), config.seed)
        self.history: list[dict[str, float]] = list(history or [])
        self._train_losses: list[float] = []
        self.best_val = min((h["val_loss"] for h in self.history if "val_loss" in h), default=float("inf"))

    @property
    def epoch(self) -> int:
        """Absolute epoch index (counting epochs done before a resume)."""
        return self.start_epoch + self.current_epoch

    def train_dataloader(self) -> DataLoader:
        self.sampler.rank, self.sampler.world = self.global_rank, self.trainer.world_size
        return DataLoader(
            self.train_set, batch_size=self.config.batch_size, sampler=self.sampler, num_workers=self.config.num_workers
        )

    def val_dataloader(self):
        if self.val_set is None:
            return []
        sampler = None
        if self.trainer.world_size > 1:  # each rank scores its share; val_loss is synced (mean over ranks)
            sampler = DistributedSampler(
                self.val_set, num_replicas=self.trainer.world_size, rank=self.global_rank, shuffle=False
            )
        return DataLoader(
            self.val_set,
            batch_size=max(self.config.batch_size, 1024),
            sampler=sampler,
            num_workers=self.config.num_workers,
        )

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.reg.weight_decay)
        if self.optimizer_state is not None:
            opt.load_state_dict(self.optimizer_state)
        if self.config.schedule == "constant":
            return opt
        for group in opt.param_groups:
            group["initial_lr"] = self.config.lr
        per_epoch = max(1, int(self.trainer.estimated_stepping_batches) // max(1, int(self.trainer.max_epochs)))
        factor = OneCycle(per_epoch * self.config.epochs, offset=self.start_step)
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_epoch_start(self) -> None:
        self.sampler.epoch = self.epoch
        pl.seed_everything(self.config.seed + 1000 * (self.epoch + 1) + self.global_rank, verbose=False)
        self._train_losses = []

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

    def training_step(self, batch, batch_idx):
        # dropout and augmentation draws depend only on (seed, absolute step, rank): exact resume
        torch.manual_seed(self.config.seed * 1_000_003 + 7919 * (self.start_step + self.global_step) + self.global_rank)
        loss, total = self._step(batch, True)
        self._train_losses.append(float(loss.detach()))
        self.log("train_loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)
        return total

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        if self.reg.max_norm:
            apply_max_norm(self.model, self.reg.max_norm)

    def validation_step(self, batch, batch_idx):
        loss, _ = self._step(batch, False)
        self.log("val_loss", loss, prog_bar=True, on_epoch=True, sync_dist=True, batch_size=len(batch[0]))

    def on_train_epoch_end(self) -> None:
        row: dict[str, float] = {"epoch": self.epoch + 1, "step": self.start_step + self.global_step}
        row["train_loss"] = float(np.mean(self._train_losses)) if self._train_losses else float("nan")
        if self.trainer.world_size > 1:  # every rank ran as many equal batches: the mean of rank means
            mean = torch.tensor(row["train_loss"], dtype=torch.float64, device=self.device)
            row["train_loss"] = float(self.trainer.strategy.reduce(mean, reduce_op="mean"))
        val = self.trainer.callback_metrics.get("val_loss")
        if val is not None and self.val_set is not None:
            row["val_loss"] = float(val)
        self.history.append(row)
        if self.run_dir is not None and self.trainer.is_global_zero:
            save_state(self.run_dir, self, self.config, self.reg, self.epoch + 1, self.start_step + self.global_step)
            if "val_loss" not in row or row["val_loss"] < self.best_val:
                self.best_val = row.get("val_loss", self.best_val)
                from dlmir.models import save

                extra = {"train": asdict(self.config), "reg": self.reg.to_dict(), "best": row}
                save(self.model, self.run_dir, extra=extra)


def _sample_patches(dataset: Dataset, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=gen)[:n].tolist()
    return torch.stack([torch.as_tensor(dataset[i][0]) for i in idx]).float()


def _restore_early_stopping(stopper, history: list[dict[str, float]]) -> None:
    """Set an ``EarlyStopping`` callback's best loss and wait count from a resumed run's history, so that
    an interrupted run stops at the same epoch as an uninterrupted one."""
    losses = [h["val_loss"] for h in history if "val_loss" in h]
    if not losses:
        return
    best = int(np.argmin(losses))
    stopper.best_score = torch.tensor(float(losses[best]))
    stopper.wait_count = len(losses) - 1 - best


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
    start_epoch, start_step, opt_state, history = 0, 0, None, None
    if resume:
        if run_path is None:
            raise ParameterError("resume=True needs run_dir (the folder the interrupted run wrote)")
        state, tensors = read_state(run_path)
        ignore = ("seed", "init", "hidden_init")
        diff = {
            k: (v, model.config.get(k))
            for k, v in state["model"].items()
            if k not in ignore and model.config.get(k) != v
        }
        if diff:
            raise ParameterError(
                f"{run_path}: the checkpoint was trained with a different model (checkpoint vs given: {diff}); "
                "rebuild the model from checkpoint/state.json's 'model' section"
            )
        model.load_state_dict(model_weights(tensors))
        opt_state = optimizer_from_tensors(tensors, state["param_groups"])
        start_epoch, start_step, history = int(state["epoch"]), int(state["step"]), state["history"]
    else:
        pl.seed_everything(config.seed, verbose=False)
        model.fit_standardization(_sample_patches(train_set, config.max_standardize_frames, config.seed))
        if run_path is not None:  # the starting point, for weight plots (start vs end of training)
            from dlmir.models import save

            save(model, run_path / "init", extra={"train": asdict(config), "reg": reg.to_dict()})
    remaining = config.epochs - start_epoch
    if stop_after_epochs is not None:
        remaining = min(remaining, stop_after_epochs)
    summary: dict[str, Any] = {"epoch": start_epoch, "step": start_step, "history": history or [], "model": model}
    if remaining <= 0:
        return summary
    scratch = None
    if config.devices > 1 and run_path is None:
        # spawned workers train copies and report back through the checkpoint: give them a folder
        scratch = tempfile.TemporaryDirectory(prefix="dlmir-ddp-")
    module = ChromaModule(
        model,
        train_set,
        val_set,
        config,
        reg,
        run_dir=run_path if scratch is None else Path(scratch.name),
        start_epoch=start_epoch,
        start_step=start_step,
        optimizer_state=opt_state,
        history=history,
    )
    callbacks = []
    if config.patience and val_set is not None:
        stopper = pl.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, mode="min")
        _restore_early_stopping(stopper, history or [])
        callbacks.append(stopper)
    cuda = torch.cuda.is_available() and config.accelerator in ("auto", "gpu", "cuda")
    precision = config.precision or ("bf16-mixed" if cuda else "32-true")
    strategy: Any = "auto"
    if config.devices > 1:
        # GPUs: Lightning's default DDP launcher (re-runs the script per device, nccl); CPU: spawned
        # workers with gloo, which also work from a notebook or a test, where re-running the script would not
        strategy = (
            TornDownDDPStrategy() if cuda else TornDownDDPStrategy(process_group_backend="gloo", start_method="spawn")
        )
    trainer = pl.Trainer(
        max_epochs=remaining,
        accelerator="cpu" if (config.devices > 1 and not cuda) else config.accelerator,
        devices=config.devices,
        strategy=strategy,
        precision=precision,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=config.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
        use_distributed_sampler=False,  # EpochSampler shards by rank itself (module docstring)
    )
    threads = torch.get_num_threads()
    n_params = sum(p.numel() for p in model.parameters())
    if not cuda and (config.devices > 1 or n_params < 500_000):
        # small models: one intra-op thread per process is ~10x faster than several on a busy CPU;
        # large ones (deep, wide context) use the machine's threads
        torch.set_num_threads(1)
    try:
        trainer.fit(module)
        if config.devices > 1:
            # spawned workers trained copies; take rank 0's last state back into this process
            state, tensors = read_state(module.run_dir)
            model.load_state_dict(model_weights(tensors))
            module.history = state["history"]
    finally:
        torch.set_num_threads(threads)
        if scratch is not None:
            scratch.cleanup()
    last = module.history[-1] if module.history else {}
    summary.update(
        epoch=int(last.get("epoch", start_epoch)), step=int(last.get("step", start_step)), history=module.history
    )
    return summary


__all__ = ["ChromaModule", "EpochSampler", "TornDownDDPStrategy", "TrainConfig", "read_state", "train"]
