"""Random hyper-parameter search (Bergstra & Bengio 2012): optuna's ``RandomSampler``, not a grid.

Each trial samples

- learning rate, log-uniform in ``[1e-4, 3e-2]``;
- layers in {1, 2} and hidden width, log-uniform integer in ``[16, 256]`` (2-layer trials);
- dropout, uniform in ``[0, 0.5]``;
- weight decay, log-uniform in ``[1e-6, 1e-1]``;
- L1 sparsity of the weights, log-uniform in ``[1e-8, 1e-4]``,

trains a :class:`~dlmir.models.LearnedChroma` on the training split and scores it by its best
validation loss. Results go to ``OUT/trials.csv`` (one row per trial) and the best configuration to
``OUT/best.json`` (``model``, ``train`` and ``reg`` sections, as ``dlmir train chroma --config`` reads).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from dlmir.errors import ParameterError
from dlmir.train.config import TrainConfig
from dlmir.train.module import train
from dlmir.train.regularizers import Regularization


def sample_trial(trial) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(model kwargs, train-config overrides, regulariser kwargs) drawn from the search distributions."""
    lr = trial.suggest_float("lr", 1e-4, 3e-2, log=True)
    layers = trial.suggest_categorical("layers", [1, 2])
    hidden = trial.suggest_int("hidden", 16, 256, log=True)
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True)
    l1 = trial.suggest_float("l1", 1e-8, 1e-4, log=True)
    model = {"layers": layers, "hidden": hidden, "dropout": dropout, "init": "octave"}
    return model, {"lr": lr}, {"weight_decay": weight_decay, "l1": l1}


def random_search(
    train_set: Dataset,
    val_set: Dataset,
    out: str | os.PathLike[str],
    *,
    trials: int = 20,
    seed: int = 0,
    config: TrainConfig | None = None,
    model_defaults: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``trials`` random trials; write ``OUT/trials.csv`` and ``OUT/best.json``; return the best entry.

    ``config`` holds the fixed training settings (epochs, batch size, ...); each trial overrides the
    learning rate. ``model_defaults`` are fixed :class:`~dlmir.models.LearnedChroma` arguments
    (e.g. ``context``).
    """
    import optuna

    from dlmir.models import LearnedChroma

    if trials < 1:
        raise ParameterError(f"trials must be >= 1, got {trials}")
    config = config or TrainConfig(epochs=10, progress_bar=False)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: list[dict[str, Any]] = []

    def objective(trial) -> float:
        model_kw, train_kw, reg_kw = sample_trial(trial)
        model_kw = {**(model_defaults or {}), **model_kw, "seed": seed + trial.number}
        cfg = replace(config, **train_kw, seed=seed + trial.number)
        reg = Regularization(**reg_kw)
        summary = train(LearnedChroma(**model_kw), train_set, val_set, config=cfg, reg=reg)
        val = min(h.get("val_loss", float("inf")) for h in summary["history"])
        results.append(
            {
                "trial": trial.number,
                **trial.params,
                "val_loss": val,
                "epochs": summary["epoch"],
                "_model": model_kw,
                "_train": asdict(cfg),
                "_reg": reg.to_dict(),
            }
        )
        return val

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    columns = [k for k in results[0] if not k.startswith("_")]
    with (out_dir / "trials.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)
    best = min(results, key=lambda r: r["val_loss"])
    doc = {
        "trial": best["trial"],
        "val_loss": best["val_loss"],
        "model": best["_model"],
        "train": best["_train"],
        "reg": best["_reg"],
    }
    (out_dir / "best.json").write_text(json.dumps(doc, indent=2) + "\n")
    return doc


__all__ = ["random_search", "sample_trial"]
