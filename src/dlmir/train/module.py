"""Training learned chroma with Lightning: targets, loss, regularisers, augmentation, checkpoints, resume, DDP.

Data: any ``torch.utils.data.Dataset`` whose items are ``(patch, class_index, template)`` with
``patch`` a raw CQT-magnitude patch ``(1, 2 * context + 1, n_bins)``, ``class_index`` an int of the
157-class vocabulary (156 = N) and ``template`` the chord's binary ``(12,)`` pitch-class vector
(N: zeros) -- what :class:`dlmir.data.datasets.ChordDataset` yields.

Targets (:func:`chroma_targets`): for MSE, templates normalised to sum 1, N the uniform vector
1/12; for binary cross-entropy and the template loss, the binary templates (N: zeros). The loss
compares the model's 12-d output for the centre frame with the target (:func:`chroma_loss`); the
template loss instead scores the output against the 157 chord templates exactly as the decoder does
(:func:`template_loss`), training the chroma for the template matching it will be used with.

Checkpoints (never pickled): after every epoch ``RUN_DIR/checkpoint/state.safetensors`` holds the
model weights (``model.*``) and every optimiser state tensor (``optim.<param>.<name>``), and
``RUN_DIR/checkpoint/state.json`` the completed epoch, global step, seed, configs, optimiser
hyper-parameters and the loss history. ``resume=True`` restarts from there. Each epoch's data order,
dropout masks and augmentation draws come from ``seed + epoch``, so N epochs in one go and N/2 +
resume + N/2 give the same weights (single process). The best model by validation loss is saved as
``RUN_DIR/config.json`` + ``RUN_DIR/model.safetensors`` (:func:`dlmir.models.load` reads it).
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from dlmir.errors import ParameterError
from dlmir.train.regularizers import Regularization, activation_penalty, apply_max_norm, l1_penalty

LOSSES = ("mse", "bce", "template")
AUGMENTATIONS = ("rotate", "noise", "codec")
SCHEDULES = ("constant", "onecycle")


@dataclass
class TrainConfig:
    """Settings of one training run (everything but the model and regularisers).

    Attributes
    ----------
    epochs : passes over the training set. batch_size : frames per step. lr : AdamW learning rate.
    loss : ``'mse'`` or ``'bce'``. seed : seeds data order, init, dropout and augmentation.
    patience : early stopping after this many epochs without a lower validation loss (0: off).
    devices : processes/devices for data-parallel training (``> 1``: DDP; on CPU ``ddp_spawn`` with gloo).
    accelerator : Lightning accelerator (``'auto'``: GPU when present). precision : ``None`` picks
    ``'bf16-mixed'`` on CUDA and ``'32-true'`` on CPU. augment : names from :data:`AUGMENTATIONS`
    (rotation is applied on the fly here; noise/codec are applied to audio when the dataset is built).
    max_semitones : largest random rotation. progress_bar : show Lightning's progress bar.
    max_standardize_frames : frames sampled to fit the input standardisation.
    schedule : learning-rate schedule per step: ``'constant'`` (``lr`` throughout) or ``'onecycle'``
        (:class:`OneCycle`: cosine warm-up from ``lr / 25`` to ``lr`` over the first 10 % of all
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
        if self.loss not in LOSSES:
            raise ParameterError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.devices < 1:
            raise ParameterError(f"devices must be >= 1, got {self.devices}")
        if self.schedule not in SCHEDULES:
            raise ParameterError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        if bad:
            raise ParameterError(f"unknown augmentation(s) {bad}; choose from {AUGMENTATIONS}")


def chroma_targets(templates: torch.Tensor, loss: str = "mse") -> torch.Tensor:
    """``(batch, 12)`` binary templates -> training targets.

    ``loss='mse'``: templates normalised to sum 1 (all-zero N rows -> uniform 1/12), the practicum's
    target for a ``softmax(tanh(.))`` output. ``loss='bce'``: the binary templates themselves (N: all
    zeros), one independent pitch-class probability each, for a sigmoid output; ``loss='template'``:
    the binary templates too (:func:`template_loss` matches them to chord classes).
    """
    templates = templates.to(torch.float32)
    if loss in ("bce", "template"):
        return templates
    total = templates.sum(dim=1, keepdim=True)
    uniform = torch.full_like(templates, 1.0 / 12.0)
    return torch.where(total > 0, templates / total.clamp_min(1e-12), uniform)


def chroma_loss(output: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Loss between a ``(batch, 12)`` chroma output and its :func:`chroma_targets`.

    ``'mse'``: mean squared error; ``'bce'``: binary cross-entropy (output in ``(0, 1)``);
    ``'template'``: :func:`template_loss` (target: binary templates).
    """
    if kind == "mse":
        return torch.nn.functional.mse_loss(output, target)
    if kind == "bce":
        return torch.nn.functional.binary_cross_entropy(output.clamp(1e-6, 1 - 1e-6), target)
    if kind == "template":
        return template_loss(output, target)
    raise ParameterError(f"loss must be one of {LOSSES}, got {kind!r}")


@functools.lru_cache(maxsize=4)
def _vocabulary(name: str) -> np.ndarray:
    from dlmir.chords.decode import vocabulary_templates

    return vocabulary_templates(name)[0].astype(np.float32)


def template_loss(
    output: torch.Tensor,
    templates: torch.Tensor,
    *,
    vocabulary: str = "full",
    beta: float | None = None,
    no_chord_threshold: float | None = None,
) -> torch.Tensor:
    """Cross-entropy of the chord class under the decoder's template scores (a fixed template layer).

    Each output frame ``(batch, 12)`` is scored against the vocabulary's chord templates by
    :func:`dlmir.chords.decode.correlations` (N scores ``no_chord_threshold``), the scores become class
    probabilities ``softmax(beta * score)`` (the decoder's defaults), and the loss is the mean negative
    log probability of the reference chord. Chords with equal pitch classes (``C:maj6`` = ``A:min7``)
    score alike, so the reference is the set of classes whose template equals the frame's binary
    template (their probabilities summed). Frames whose template is in no class are left out.
    """
    from dlmir.chords.decode import BETA, NO_CHORD_THRESHOLD, correlations

    beta = BETA if beta is None else beta
    threshold = NO_CHORD_THRESHOLD if no_chord_threshold is None else no_chord_threshold
    vocab = torch.as_tensor(_vocabulary(vocabulary), device=output.device)
    templates = templates.to(output.device, torch.float32)
    logits = beta * correlations(output.float(), vocab, no_chord_threshold=threshold)
    size = templates.sum(dim=1, keepdim=True)
    match = ((templates @ vocab.T) == size) & (vocab.sum(dim=1)[None, :] == size)
    known = match.any(dim=1)
    match = match | ~known[:, None]  # unknown frames: every class, log(1) = 0, no gradient
    log_p = torch.log_softmax(logits, dim=1)
    nll = -torch.logsumexp(log_p.masked_fill(~match, float("-inf")), dim=1)
    return nll.sum() / known.sum().clamp_min(1)


class OneCycle:
    """Learning-rate factor of the one-cycle schedule at a step (``LambdaLR``'s ``lr_lambda``).

    ``factor(step)`` for the absolute step ``offset + step`` of ``total_steps``: a half-cosine rise
    from ``1 / div`` to 1 over the first ``warmup`` fraction of the steps, then a half-cosine fall
    from 1 to ``1 / final_div`` at the last step (held there beyond it).
    """

    def __init__(
        self, total_steps: int, *, offset: int = 0, warmup: float = 0.1, div: float = 25.0, final_div: float = 1e4
    ) -> None:
        if total_steps < 1:
            raise ParameterError(f"total_steps must be >= 1, got {total_steps}")
        self.total, self.offset, self.div, self.final_div = int(total_steps), int(offset), div, final_div
        self.warm = max(1, round(warmup * self.total))

    def __call__(self, step: int) -> float:
        s = self.offset + step
        if s < self.warm:
            lo, a = 1.0 / self.div, s / self.warm
            return lo + (1.0 - lo) * (1.0 - math.cos(math.pi * a)) / 2.0
        lo, a = 1.0 / self.final_div, min(1.0, (s - self.warm) / max(1, self.total - 1 - self.warm))
        return lo + (1.0 - lo) * (1.0 + math.cos(math.pi * a)) / 2.0


class EpochSampler(Sampler[int]):
    """A shuffling sampler whose order depends only on ``seed + epoch`` (set :attr:`epoch` each epoch)."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def __iter__(self):  # type: ignore[override]
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=gen).tolist())

    def __len__(self) -> int:
        return self.n


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Split an optimiser state into safetensors-ready tensors and JSON-ready param groups."""
    state = optimizer.state_dict()
    tensors = {}
    for pid, values in state["state"].items():
        for name, value in values.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim.{pid}.{name}"] = t.detach().cpu().contiguous()
    return tensors, state["param_groups"]


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], param_groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_to_tensors`: an optimiser ``state_dict``."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": param_groups}


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
        return DataLoader(
            self.train_set, batch_size=self.config.batch_size, sampler=self.sampler, num_workers=self.config.num_workers
        )

    def val_dataloader(self):
        if self.val_set is None:
            return []
        return DataLoader(
            self.val_set, batch_size=max(self.config.batch_size, 1024), num_workers=self.config.num_workers
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


def save_state(run_dir: Path, module, config: TrainConfig, reg: Regularization, epoch: int, step: int) -> Path:
    """Write ``RUN_DIR/checkpoint/state.safetensors`` + ``state.json`` (see the module docstring)."""
    from safetensors.torch import save_file

    folder = Path(run_dir) / "checkpoint"
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.model.state_dict().items()}
    optimizer = module.optimizers()
    optimizer = getattr(optimizer, "optimizer", optimizer)
    opt_tensors, groups = optimizer_to_tensors(optimizer)
    tensors.update(opt_tensors)
    save_file(tensors, str(folder / ".state.safetensors.part"))
    os.replace(folder / ".state.safetensors.part", folder / "state.safetensors")
    doc = {
        "epoch": epoch,
        "step": step,
        "seed": config.seed,
        "model": module.model.config,
        "train": asdict(config),
        "reg": reg.to_dict(),
        "param_groups": groups,
        "history": module.history,
    }
    (folder / ".state.json.part").write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(folder / ".state.json.part", folder / "state.json")
    return folder


def read_state(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The resume state of ``run_dir``: (``state.json`` dict, tensors)."""
    from safetensors.torch import load_file

    folder = Path(run_dir) / "checkpoint"
    if not (folder / "state.json").exists() or not (folder / "state.safetensors").exists():
        raise ParameterError(f"{run_dir}: no checkpoint to resume from (expected {folder}/state.json and .safetensors)")
    return json.loads((folder / "state.json").read_text()), load_file(str(folder / "state.safetensors"))


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
        model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(model_state)
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
    module = ChromaModule(
        model,
        train_set,
        val_set,
        config,
        reg,
        run_dir=run_path,
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
        strategy = "ddp" if cuda else pl.strategies.DDPStrategy(process_group_backend="gloo", start_method="spawn")
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
    )
    threads = torch.get_num_threads()
    n_params = sum(p.numel() for p in model.parameters())
    if not cuda and (config.devices > 1 or n_params < 500_000):
        # small models: one intra-op thread per process is ~10x faster than several on a busy CPU;
        # large ones (deep, wide context) use the machine's threads
        torch.set_num_threads(1)
    try:
        trainer.fit(module)
    finally:
        torch.set_num_threads(threads)
    if config.devices > 1 and run_path is not None:
        # spawned workers trained copies; take rank 0's last state back into this process
        state, tensors = read_state(run_path)
        model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
        module.history = state["history"]
    last = module.history[-1] if module.history else {}
    summary.update(
        epoch=int(last.get("epoch", start_epoch)), step=int(last.get("step", start_step)), history=module.history
    )
    return summary


__all__ = [
    "AUGMENTATIONS",
    "EpochSampler",
    "LOSSES",
    "OneCycle",
    "SCHEDULES",
    "TrainConfig",
    "chroma_loss",
    "chroma_targets",
    "ChromaModule",
    "optimizer_from_tensors",
    "optimizer_to_tensors",
    "read_state",
    "save_state",
    "template_loss",
    "train",
]
