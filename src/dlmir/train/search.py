"""Random hyper-parameter search (Bergstra & Bengio 2012): optuna's ``RandomSampler``, not a grid.

Two searches share one loop (:func:`run_study`: a seeded random sampler, one row per trial in ``OUT/trials.csv``
rewritten after every trial, the best trial in ``OUT/best.json``).

:func:`random_search` (``dlmir search chroma``) trains a :class:`~dlmir.models.LearnedChroma` per trial, sampling

- learning rate, log-uniform in ``[1e-4, 3e-2]``;
- layers in {1, 2} and hidden width, log-uniform integer in ``[16, 256]`` (2-layer trials);
- dropout, uniform in ``[0, 0.5]``;
- weight decay, log-uniform in ``[1e-6, 1e-1]``;
- L1 sparsity of the weights, log-uniform in ``[1e-8, 1e-4]``,

and scores it by its best validation loss; ``OUT/best.json`` has ``model``, ``train`` and ``reg`` sections, as
``dlmir train chroma --config`` reads.

:func:`random_search_chords` (``dlmir search chords``) trains a :class:`~dlmir.models.chords.ChordNet` or
:class:`~dlmir.models.chords.ChordCNN` per trial with :func:`~dlmir.train.chords.train_chords` (a full run folder
``OUT/trial-NNN``: checkpoint, history, best model), sampling from :data:`CHORD_SPACE` (learning rate, dropout,
a width multiplier of the convolution channels, embedding and hidden sizes, training excerpt length), and scores
it by its best validation loss (or the validation frame accuracy of that epoch, ``objective='val_accuracy'``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from dlmir.errors import ParameterError
from dlmir.train.config import TrainConfig
from dlmir.train.module import train
from dlmir.train.regularizers import Regularization

OBJECTIVES = {"val_loss": "minimize", "val_accuracy": "maximize"}
"""What a search can score trials by, and in which direction."""


def run_study(
    objective: Callable[[Any], dict[str, Any]],
    out: str | os.PathLike[str],
    *,
    trials: int,
    seed: int,
    key: str = "val_loss",
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``trials`` trials of ``objective`` under optuna's seeded ``RandomSampler``; return ``(rows, best)``.

    ``objective(trial)`` trains one configuration and returns its row: public columns (``trial``, the sampled
    parameters, scores, ...) and private ones (names starting with ``_``, e.g. the full configs) that go to
    ``best.json`` but not to the table. The row's ``key`` (one of :data:`OBJECTIVES`) is what the study
    minimises (``val_loss``) or maximises (``val_accuracy``); a trial whose value is not finite (a diverged run)
    counts as failed and is never the best. ``OUT/trials.csv`` (public columns, one row per trial) is rewritten
    after every trial, so an interrupted search keeps its finished trials.

    Raises
    ------
    ParameterError : ``trials < 1`` or an unknown ``key``; no trial finished with a finite ``key``.
    """
    import optuna

    if trials < 1:
        raise ParameterError(f"trials must be >= 1, got {trials}")
    if key not in OBJECTIVES:
        raise ParameterError(f"objective must be one of {sorted(OBJECTIVES)}, got {key!r}")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows: list[dict[str, Any]] = []

    def run(trial) -> float:
        row = objective(trial)
        rows.append(row)
        _write_trials(rows, out_dir / "trials.csv")
        value = float(row[key])
        return value if math.isfinite(value) else float("nan")  # optuna marks a NaN trial as failed

    sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(direction=OBJECTIVES[key], sampler=sampler)
    study.optimize(run, n_trials=trials)
    finite = [r for r in rows if math.isfinite(float(r[key]))]
    if not finite:
        raise ParameterError(f"no trial of {trials} finished with a finite {key}; see {out_dir / 'trials.csv'}")
    pick = min if OBJECTIVES[key] == "minimize" else max
    return rows, pick(finite, key=lambda r: float(r[key]))


def _write_trials(rows: list[dict[str, Any]], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if not k.startswith("_") and k not in columns]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# -- learned chroma ---------------------------------------------------------------------------------------
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
    from dlmir.models import LearnedChroma

    config = config or TrainConfig(epochs=10, progress_bar=False)

    def objective(trial) -> dict[str, Any]:
        model_kw, train_kw, reg_kw = sample_trial(trial)
        model_kw = {**(model_defaults or {}), **model_kw, "seed": seed + trial.number}
        cfg = replace(config, **train_kw, seed=seed + trial.number)
        reg = Regularization(**reg_kw)
        summary = train(LearnedChroma(**model_kw), train_set, val_set, config=cfg, reg=reg)
        val = min(h.get("val_loss", float("inf")) for h in summary["history"])
        return {
            "trial": trial.number,
            **trial.params,
            "val_loss": val,
            "epochs": summary["epoch"],
            "_model": model_kw,
            "_train": asdict(cfg),
            "_reg": reg.to_dict(),
        }

    _, best = run_study(objective, out, trials=trials, seed=seed)
    doc = {
        "trial": best["trial"],
        "val_loss": best["val_loss"],
        "model": best["_model"],
        "train": best["_train"],
        "reg": best["_reg"],
    }
    (Path(out) / "best.json").write_text(json.dumps(doc, indent=2) + "\n")
    return doc


# -- chord models -----------------------------------------------------------------------------------------
CHORD_SPACE: dict[str, tuple[float, float]] = {
    "lr": (1e-4, 1e-2),
    "dropout": (0.0, 0.5),
    "width": (0.5, 2.0),
    "embedding": (32, 256),
    "hidden": (32, 256),
    "excerpt_seconds": (4.0, 16.0),
}
"""Ranges of :func:`sample_chord_trial`: learning rate (log-uniform), dropout (uniform), width multiplier of the
convolution channels (log-uniform), embedding and hidden units (log-uniform integers), seconds per training
excerpt (uniform)."""

CHORD_SEARCH_MODELS = ("ChordNet", "ChordCNN")


def sample_chord_trial(
    trial, space: Mapping[str, tuple[float, float]] | None = None, *, seconds: bool = True
) -> dict[str, float | int]:
    """One draw from ``space`` (default :data:`CHORD_SPACE`; a partial mapping overrides its ranges):
    ``{"lr", "dropout", "width", "embedding", "hidden"}`` and, with ``seconds``, ``"excerpt_seconds"``."""
    rng = {**CHORD_SPACE, **(space or {})}
    unknown = set(rng) - set(CHORD_SPACE)
    if unknown:
        raise ParameterError(f"unknown search dimensions {sorted(unknown)}; known: {list(CHORD_SPACE)}")
    draw: dict[str, float | int] = {
        "lr": trial.suggest_float("lr", *rng["lr"], log=True),
        "dropout": trial.suggest_float("dropout", *rng["dropout"]),
        "width": trial.suggest_float("width", *rng["width"], log=True),
        "embedding": trial.suggest_int("embedding", int(rng["embedding"][0]), int(rng["embedding"][1]), log=True),
        "hidden": trial.suggest_int("hidden", int(rng["hidden"][0]), int(rng["hidden"][1]), log=True),
    }
    if seconds:
        draw["excerpt_seconds"] = trial.suggest_float("excerpt_seconds", *rng["excerpt_seconds"])
    return draw


def scaled_channels(channels: tuple[int, ...] | list[int], width: float) -> list[int]:
    """Channels of every convolution block times ``width``, rounded, at least 1: ``([16, 32], 1.5) -> [24, 48]``."""
    return [max(1, round(int(c) * float(width))) for c in channels]


def random_search_chords(
    train_data: Dataset | Callable[[float], Dataset],
    val_set: Dataset,
    out: str | os.PathLike[str],
    *,
    model: str = "ChordNet",
    trials: int = 20,
    seed: int = 0,
    config: Any = None,
    model_defaults: dict[str, Any] | None = None,
    frontend: Any = None,
    space: Mapping[str, tuple[float, float]] | None = None,
    objective: str = "val_loss",
) -> dict[str, Any]:
    """Random search over chord models: each trial a :func:`~dlmir.train.chords.train_chords` run in
    ``OUT/trial-NNN``; writes ``OUT/trials.csv`` and ``OUT/best.json``; returns the best entry.

    Parameters
    ----------
    train_data : the training excerpts (``(cqt (n_bins, frames), classes (frames,))`` items, map-style or a
        stream), or a function ``seconds -> dataset`` making them for a trial's sampled excerpt length (only then
        is ``excerpt_seconds`` searched).
    val_set : validation excerpts, the same for every trial (so that their scores compare).
    model : ``"ChordNet"`` or ``"ChordCNN"``.
    trials : number of trials. seed : seed of the sampler; trial ``n`` initialises and trains with ``seed + n``.
    config : :class:`~dlmir.train.chords.ChordTrainConfig`, the fixed settings (epochs, ``steps_per_epoch``,
        batch size, schedule, ...); each trial overrides ``lr`` and ``seed`` (and ``data["excerpt_seconds"]``).
        Default: 3 epochs, no early stopping, no progress bar.
    model_defaults : fixed model arguments; their ``channels`` (default: the class's) are scaled by each trial's
        width multiplier (:func:`scaled_channels`).
    frontend : the front end of the data (recorded with every trial's model, and its ``n_bins``,
        ``bins_per_octave``, ``fmin`` build the model); default ``val_set.frontend``, else the chord CQT.
    space : ranges overriding :data:`CHORD_SPACE`'s.
    objective : ``"val_loss"`` (minimised: the best epoch's validation loss) or ``"val_accuracy"`` (maximised:
        the validation frame accuracy of the best-loss epoch, the model kept in the trial's folder).

    Returns
    -------
    ``best.json``'s dict: ``trial``, ``run`` (the trial's folder name), ``objective``, ``val_loss``,
    ``val_accuracy``, ``params`` (the draw), ``model`` (the model's full config, as ``dlmir.models.build``
    reads), ``train`` (the trial's training config).
    """
    from dlmir.frontends.presets import CHORD_CQT
    from dlmir.models import build, set_frontend
    from dlmir.train.chords import ChordTrainConfig, train_chords

    if model not in CHORD_SEARCH_MODELS:
        raise ParameterError(f"chord search trains {CHORD_SEARCH_MODELS}, not {model!r}")
    if val_set is None:
        raise ParameterError("a search scores trials on validation data: val_set is required")
    if objective not in OBJECTIVES:
        raise ParameterError(f"objective must be one of {sorted(OBJECTIVES)}, got {objective!r}")
    config = config or ChordTrainConfig(epochs=3, patience=0, progress_bar=False)
    if not isinstance(config, ChordTrainConfig):
        raise ParameterError(f"chord search takes a ChordTrainConfig, got {type(config).__name__}")
    fe = frontend if frontend is not None else getattr(val_set, "frontend", None)
    fe_config = dict(CHORD_CQT if fe is None else getattr(fe, "config", fe))
    dims = {k: fe_config[k] for k in ("n_bins", "bins_per_octave", "fmin") if k in fe_config}
    defaults = dict(model_defaults or {})
    base_channels = list(defaults.pop("channels", None) or build({"model": model}).config["channels"])
    search_seconds = callable(train_data) and not isinstance(train_data, Dataset)
    out_dir = Path(out)

    def run(trial) -> dict[str, Any]:
        n = trial.number
        draw = sample_chord_trial(trial, space, seconds=search_seconds)
        kw = {**defaults, "dropout": draw["dropout"], "embedding": draw["embedding"], "hidden": draw["hidden"]}
        kw["channels"] = scaled_channels(base_channels, float(draw["width"]))
        net = set_frontend(build({"model": model, **dims, **kw, "seed": seed + n}), fe_config)
        data = dict(config.data)
        if search_seconds:
            data["excerpt_seconds"] = float(draw["excerpt_seconds"])
            train_set = train_data(float(draw["excerpt_seconds"]))  # type: ignore[operator]
        else:
            train_set = train_data
        cfg = replace(config, lr=float(draw["lr"]), seed=seed + n, data=data)
        t0 = time.perf_counter()
        summary = train_chords(net, train_set, val_set, config=cfg, run_dir=out_dir / f"trial-{n:03d}")
        scored = [h for h in summary["history"] if math.isfinite(h.get("val_loss", float("nan")))]
        best = min(scored, key=lambda h: h["val_loss"]) if scored else {}
        return {
            "trial": n,
            **trial.params,
            "channels": " ".join(str(c) for c in kw["channels"]),
            "val_loss": float(best.get("val_loss", float("nan"))),
            "val_accuracy": float(best.get("val_accuracy", float("nan"))),
            "best_epoch": int(best.get("epoch", 0)),
            "epochs": summary["epoch"],
            "steps": summary["step"],
            "wall_s": round(time.perf_counter() - t0, 1),
            "run": f"trial-{n:03d}",
            "_model": net.config,
            "_train": asdict(cfg),
        }

    _, best = run_study(run, out_dir, trials=trials, seed=seed, key=objective)
    doc = {
        "trial": best["trial"],
        "run": best["run"],
        "objective": objective,
        "val_loss": best["val_loss"],
        "val_accuracy": best["val_accuracy"],
        "params": {k: best[k] for k in CHORD_SPACE if k in best},
        "model": best["_model"],
        "train": best["_train"],
    }
    (out_dir / "best.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return doc


__all__ = [
    "CHORD_SEARCH_MODELS",
    "CHORD_SPACE",
    "OBJECTIVES",
    "random_search",
    "random_search_chords",
    "run_study",
    "sample_chord_trial",
    "sample_trial",
    "scaled_channels",
]
