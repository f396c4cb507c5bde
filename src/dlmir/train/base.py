"""What every dlmir training run shares: a base LightningModule and the loop around it.

:class:`TrainModule` holds the model, the data and the run's state (absolute epoch and step, history, best
validation loss) and does, for any model and loss (a subclass writes :meth:`TrainModule.compute`):

- data order from ``seed + epoch`` (:class:`EpochSampler`) for map-style datasets; an ``IterableDataset``
  (a stream rendering data on the fly) gets ``config.steps_per_epoch`` batches per epoch and, when it has a
  ``set_epoch(epoch)`` method, is told the epoch first (as a map-style dataset with ``set_epoch`` is);
- dropout and augmentation draws from ``(seed, absolute step, rank)``, so a resumed run continues exactly;
- AdamW with a constant or one-cycle schedule (:mod:`dlmir.train.schedules`), a function of the absolute step;
- after every epoch: a history row (``epoch``, ``step``, ``train_loss`` and every ``val_*`` metric logged by
  :meth:`TrainModule.validation_step`), the checkpoint (:func:`~dlmir.train.checkpoint.save_state`) and, when
  the validation loss is the lowest so far, the model (:func:`dlmir.models.save`, with its front end).

:func:`resume_state` reads a checkpoint back into a model; :func:`fit` builds the Lightning ``Trainer`` (early
stopping restored from the history, DDP on CPU with gloo or on GPUs, bf16 on CUDA, intra-op threads) and runs it.
:mod:`dlmir.train.module` (learned chroma) and :mod:`dlmir.train.chords` (chord models) are built on these.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from dlmir.errors import ParameterError
from dlmir.train.checkpoint import model_weights, optimizer_from_tensors, read_state, save_state
from dlmir.train.config import TrainConfig
from dlmir.train.regularizers import Regularization
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


def restore_early_stopping(stopper, history: list[dict[str, float]]) -> None:
    """Set an ``EarlyStopping`` callback's best loss and wait count from a resumed run's history, so that
    an interrupted run stops at the same epoch as an uninterrupted one."""
    losses = [h["val_loss"] for h in history if "val_loss" in h]
    if not losses:
        return
    best = int(np.argmin(losses))
    stopper.best_score = torch.tensor(float(losses[best]))
    stopper.wait_count = len(losses) - 1 - best


def is_iterable(dataset: object) -> bool:
    """Whether ``dataset`` is a stream (``IterableDataset``: no length, no index), not a map-style dataset."""
    return isinstance(dataset, IterableDataset)


class TrainModule(pl.LightningModule):
    """Base LightningModule of dlmir's training runs (see the module docstring).

    Subclasses implement :meth:`compute` and may override :meth:`val_batch_size`, :meth:`best_extra` and
    Lightning hooks (calling ``super()``). Defined at module level so that ``ddp_spawn`` workers can unpickle
    subclasses; the datasets must be picklable too.

    Parameters
    ----------
    model : the ``nn.Module`` trained (with a ``config`` dict, for :func:`dlmir.models.save`).
    train_set, val_set : map-style datasets or (``train_set`` only) an ``IterableDataset``.
    config : a :class:`~dlmir.train.config.TrainConfig` (``steps_per_epoch``, where it has one, bounds epochs).
    reg : :class:`~dlmir.train.regularizers.Regularization` (``weight_decay`` is AdamW's).
    run_dir : checkpoint and best-model folder (``None``: keep nothing on disk).
    start_epoch, start_step, optimizer_state, history : the state of a resumed run (:func:`resume_state`).
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
        self.sampler = None if is_iterable(train_set) else EpochSampler(len(train_set), config.seed)  # type: ignore[arg-type]
        self.history: list[dict[str, float]] = list(history or [])
        self._train_losses: list[float] = []
        self.best_val = min((h["val_loss"] for h in self.history if "val_loss" in h), default=float("inf"))

    # -- hooks for subclasses ------------------------------------------------------------------------
    def compute(self, batch: Any, train: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[float, int]]]:
        """``(loss, total, metrics)`` of a batch: the loss reported, the one minimised (loss + penalties), and
        extra validation metrics as ``name -> (value, weight)`` (logged as ``val_<name>``, weighted means)."""
        raise NotImplementedError

    def val_batch_size(self) -> int:
        """Items per validation batch."""
        return self.config.batch_size

    def best_extra(self, row: dict[str, float]) -> dict[str, Any]:
        """What the best model's ``config.json`` keeps under ``"extra"``."""
        return {"train": asdict(self.config), "reg": self.reg.to_dict(), "best": row}

    # -- Lightning --------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """Absolute epoch index (counting epochs done before a resume)."""
        return self.start_epoch + self.current_epoch

    def train_dataloader(self) -> DataLoader:
        workers = self.config.num_workers
        if self.sampler is None:  # a stream: it shards itself over DataLoader workers
            return DataLoader(self.train_set, batch_size=self.config.batch_size, num_workers=workers)
        self.sampler.rank, self.sampler.world = self.global_rank, self.trainer.world_size
        return DataLoader(self.train_set, batch_size=self.config.batch_size, sampler=self.sampler, num_workers=workers)

    def val_dataloader(self):
        if self.val_set is None:
            return []
        sampler = None
        if self.trainer.world_size > 1:  # each rank scores its share; val_loss is synced (mean over ranks)
            sampler = DistributedSampler(
                self.val_set, num_replicas=self.trainer.world_size, rank=self.global_rank, shuffle=False
            )
        return DataLoader(
            self.val_set, batch_size=self.val_batch_size(), sampler=sampler, num_workers=self.config.num_workers
        )

    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch (for the one-cycle schedule)."""
        if self.sampler is None:  # a stream: the fixed number of batches per epoch
            return int(self.trainer.limit_train_batches)
        # map-style: Lightning counts the batches (after limit_train_batches), for all of this call's epochs
        return max(1, int(self.trainer.estimated_stepping_batches) // max(1, int(self.trainer.max_epochs)))

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.reg.weight_decay)
        if self.optimizer_state is not None:
            opt.load_state_dict(self.optimizer_state)
        if self.config.schedule == "constant":
            return opt
        for group in opt.param_groups:
            group["initial_lr"] = self.config.lr
        factor = OneCycle(self.steps_per_epoch() * self.config.epochs, offset=self.start_step)
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_epoch_start(self) -> None:
        if self.sampler is not None:
            self.sampler.epoch = self.epoch
        for data in (self.train_set, self.val_set):
            if hasattr(data, "set_epoch"):
                data.set_epoch(self.epoch)  # type: ignore[union-attr]
        pl.seed_everything(self.config.seed + 1000 * (self.epoch + 1) + self.global_rank, verbose=False)
        self._train_losses = []

    def training_step(self, batch, batch_idx):
        # dropout and augmentation draws depend only on (seed, absolute step, rank): exact resume
        torch.manual_seed(self.config.seed * 1_000_003 + 7919 * (self.start_step + self.global_step) + self.global_rank)
        loss, total, _ = self.compute(batch, True)
        self._train_losses.append(float(loss.detach()))
        self.log("train_loss", loss.detach(), prog_bar=True, on_step=True, on_epoch=False)
        return total

    def validation_step(self, batch, batch_idx):
        loss, _, metrics = self.compute(batch, False)
        self.log("val_loss", loss, prog_bar=True, on_epoch=True, sync_dist=True, batch_size=len(batch[0]))
        for name, (value, weight) in metrics.items():
            if weight > 0:
                self.log(f"val_{name}", float(value), on_epoch=True, sync_dist=True, batch_size=int(weight))

    def on_train_epoch_end(self) -> None:
        row: dict[str, float] = {"epoch": self.epoch + 1, "step": self.start_step + self.global_step}
        row["train_loss"] = float(np.mean(self._train_losses)) if self._train_losses else float("nan")
        if self.trainer.world_size > 1:  # every rank ran as many equal batches: the mean of rank means
            mean = torch.tensor(row["train_loss"], dtype=torch.float64, device=self.device)
            row["train_loss"] = float(self.trainer.strategy.reduce(mean, reduce_op="mean"))
        if self.val_set is not None:
            for name, value in sorted(self.trainer.callback_metrics.items()):
                if name.startswith("val_"):
                    row[name] = float(value)
        self.history.append(row)
        if self.run_dir is not None and self.trainer.is_global_zero:
            save_state(self.run_dir, self, self.config, self.reg, self.epoch + 1, self.start_step + self.global_step)
            if "val_loss" not in row or row["val_loss"] < self.best_val:
                self.best_val = row.get("val_loss", self.best_val)
                from dlmir.models import save

                save(self.model, self.run_dir, extra=self.best_extra(row))


def resume_state(
    model: torch.nn.Module, run_path: Path | None, *, ignore: tuple[str, ...] = ("seed",)
) -> tuple[int, int, dict[str, Any], list[dict[str, float]]]:
    """Load ``run_path/checkpoint`` into ``model``; returns ``(epoch, step, optimizer_state, history)``.

    Raises :class:`~dlmir.errors.ParameterError` when there is no checkpoint, or when it was trained with a
    model whose config differs from ``model.config`` (keys in ``ignore`` aside).
    """
    if run_path is None:
        raise ParameterError("resume=True needs run_dir (the folder the interrupted run wrote)")
    state, tensors = read_state(run_path)
    diff = {
        k: (v, model.config.get(k)) for k, v in state["model"].items() if k not in ignore and model.config.get(k) != v
    }
    if diff:
        raise ParameterError(
            f"{run_path}: the checkpoint was trained with a different model (checkpoint vs given: {diff}); "
            "rebuild the model from checkpoint/state.json's 'model' section"
        )
    model.load_state_dict(model_weights(tensors))
    opt_state = optimizer_from_tensors(tensors, state["param_groups"])
    return int(state["epoch"]), int(state["step"]), opt_state, state["history"]


def start_state(
    model: torch.nn.Module, run_path: Path | None, *, resume: bool, seed: int
) -> tuple[int, int, dict[str, Any] | None, list[dict[str, float]] | None]:
    """Where a run starts: the checkpoint of ``run_path`` when ``resume`` (:func:`resume_state`), else a fresh start
    ``(0, 0, None, None)`` with every generator seeded from ``seed``."""
    if resume:
        return resume_state(model, run_path)
    pl.seed_everything(seed, verbose=False)
    return (0, 0, None, None)


def fit_run(
    module_class: type[TrainModule],
    model: torch.nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    *,
    config: TrainConfig,
    reg: Regularization,
    run_dir: str | Path | None,
    resume: bool,
    stop_after_epochs: int | None = None,
    **module_kw: Any,
) -> dict[str, Any]:
    """The shared tail of every ``train_*`` entry point: start where the run starts (:func:`start_state`: its
    checkpoint when ``resume``, else fresh with every generator seeded from ``config.seed``) and :func:`fit` with the
    config's CPU threads (``config.threads``) and batches per epoch (``config.steps_per_epoch``)."""
    if is_iterable(train_set) and not config.steps_per_epoch:  # before any seeding or checkpoint reading
        raise ParameterError("training on a stream (IterableDataset) needs config.steps_per_epoch")
    run_path = Path(run_dir) if run_dir is not None else None
    start = start_state(model, run_path, resume=resume, seed=config.seed)
    return fit(
        module_class,
        model,
        train_set,
        val_set,
        config=config,
        reg=reg,
        run_path=run_path,
        start=start,
        stop_after_epochs=stop_after_epochs,
        threads=config.threads,
        limit_train_batches=config.steps_per_epoch,
        **module_kw,
    )


def fit(
    module_class: type[TrainModule],
    model: torch.nn.Module,
    train_set: Dataset,
    val_set: Dataset | None,
    *,
    config: TrainConfig,
    reg: Regularization,
    run_path: Path | None,
    start: tuple[int, int, dict[str, Any] | None, list[dict[str, float]] | None] = (0, 0, None, None),
    stop_after_epochs: int | None = None,
    threads: int | None = None,
    limit_train_batches: int | None = None,
    **module_kw: Any,
) -> dict[str, Any]:
    """Train ``model`` with a ``module_class`` module for the epochs left; returns a summary dict.

    Parameters
    ----------
    module_class : the :class:`TrainModule` subclass; ``module_kw`` go to its constructor.
    start : ``(epoch, step, optimizer_state, history)`` of a resumed run (:func:`resume_state`).
    stop_after_epochs : stop after this many epochs of this call (simulates an interruption; tests).
    threads : intra-op threads while training on CPU (``None``: leave them).
    limit_train_batches : batches per epoch (required for an ``IterableDataset``).

    Returns
    -------
    dict with ``epoch`` (completed, in total), ``step``, ``history`` (per-epoch rows), ``model``.
    """
    start_epoch, start_step, opt_state, history = start
    remaining = config.epochs - start_epoch
    if stop_after_epochs is not None:
        remaining = min(remaining, stop_after_epochs)
    summary: dict[str, Any] = {"epoch": start_epoch, "step": start_step, "history": history or [], "model": model}
    if remaining <= 0:
        return summary
    if is_iterable(train_set) and not limit_train_batches:
        raise ParameterError("training on a stream (IterableDataset) needs steps_per_epoch: its epochs have no end")
    if is_iterable(train_set) and config.devices > 1:
        raise ParameterError("data-parallel training (devices > 1) needs a map-style dataset, not a stream")
    scratch = None
    if config.devices > 1 and run_path is None:
        # spawned workers train copies and report back through the checkpoint: give them a folder
        scratch = tempfile.TemporaryDirectory(prefix="dlmir-ddp-")
    module = module_class(
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
        **module_kw,
    )
    callbacks = []
    if config.patience and val_set is not None:
        stopper = pl.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, mode="min")
        restore_early_stopping(stopper, history or [])
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
        use_distributed_sampler=False,  # EpochSampler shards by rank itself
        limit_train_batches=limit_train_batches,
    )
    before = torch.get_num_threads()
    if threads is not None and not cuda:
        torch.set_num_threads(threads)
    try:
        trainer.fit(module)
        if config.devices > 1:
            # spawned workers trained copies; take rank 0's last state back into this process
            state, tensors = read_state(module.run_dir)
            model.load_state_dict(model_weights(tensors))
            module.history = state["history"]
    finally:
        torch.set_num_threads(before)
        if scratch is not None:
            scratch.cleanup()
    last = module.history[-1] if module.history else {}
    summary.update(
        epoch=int(last.get("epoch", start_epoch)), step=int(last.get("step", start_step)), history=module.history
    )
    return summary


__all__ = [
    "EpochSampler",
    "TornDownDDPStrategy",
    "TrainModule",
    "fit",
    "fit_run",
    "is_iterable",
    "restore_early_stopping",
    "resume_state",
]
