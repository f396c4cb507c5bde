"""``dlmir search chords``: random hyper-parameter search over chord models (ChordNet, ChordCNN).

Thin: builds the data as ``dlmir train chords`` does (:func:`dlmir.cli.learn_chords.train_data` /
:func:`~dlmir.cli.learn_chords.valid_data`: a dataset folder, or ``stream`` with ``--valid``) and calls
:func:`dlmir.train.search.random_search_chords`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from dlmir.cli.app import search_app
from dlmir.cli.learn_chords import DEFAULT_BATCH, _fail, train_data, valid_data

SEARCH_MODELS = {"chordnet": "ChordNet", "cnn": "ChordCNN"}


def _range(text: str, name: str) -> tuple[float, float]:
    from dlmir.errors import ParameterError

    parts = [p.strip() for p in text.split(",")]
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ParameterError(f"{name} takes LOW,HIGH (two numbers), got {text!r}") from None
    if not 0 < lo <= hi:
        raise ParameterError(f"{name} needs 0 < LOW <= HIGH, got {text!r}")
    return lo, hi


@search_app.command("chords")
def search_chords_cmd(
    dataset: str = typer.Argument(
        ..., help="Dataset folder (train split trains, valid split scores), or 'stream' (render on the fly)."
    ),
    model: str = typer.Option("chordnet", "--model", "-m", help="chordnet (BiGRU) | cnn (plain CNN)."),
    trials: int = typer.Option(20, "--trials", "-n", help="Number of random trials."),
    out: Path = typer.Option(Path("runs/search-chords"), "--out", "-o", help="Folder: trials.csv, best.json, trials."),
    epochs: int = typer.Option(3, "--epochs", help="Epochs per trial."),
    steps_per_epoch: int = typer.Option(50, "--steps-per-epoch", help="Batches per epoch (0: the whole dataset)."),
    batch_size: int = typer.Option(0, "--batch-size", help="Excerpts per step (0: 16)."),
    excerpt_seconds: float = typer.Option(12.0, "--excerpt-seconds", help="Seconds per validation excerpt."),
    seconds: str = typer.Option("4,16", "--seconds", help="LOW,HIGH: range of the training excerpts' seconds."),
    lr: str = typer.Option("1e-4,1e-2", "--lr", help="LOW,HIGH: range of the learning rate (log-uniform)."),
    objective: str = typer.Option("val_loss", "--objective", help="val_loss (minimised) | val_accuracy (maximised)."),
    schedule: str = typer.Option("onecycle", "--schedule", help="constant | onecycle (fixed for every trial)."),
    loss: str = typer.Option("auto", "--loss", help="auto | structured | chord (fixed)."),
    augment: str = typer.Option("", "--augment", help="'rotate': random transposition of every item."),
    seed: int = typer.Option(0, "--seed", help="Sampler seed; trial n initialises and trains with seed + n."),
    production: str = typer.Option("realistic", "--production", help="stream: realistic | clean (| heavy)."),
    soundfonts: str = typer.Option("", "--soundfonts", help="stream: comma list of soundfonts (default: all)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes (the stream renders in them)."),
    valid: Path = typer.Option(None, "--valid", help="Validation dataset folder (required with 'stream')."),
    max_items: int = typer.Option(0, "--max-items", help="At most this many tracks per split (0: all)."),
    threads: int = typer.Option(1, "--threads", help="CPU threads while training (1 is fastest on a busy CPU)."),
) -> None:
    """Random search (optuna RandomSampler) over learning rate, dropout, channel width, embedding and hidden
    sizes and training excerpt length; each trial is a short `dlmir train chords` run in OUT/trial-NNN, scored on
    the same validation excerpts. Writes OUT/trials.csv and OUT/best.json (`dlmir train chords --config`)."""
    from dlmir.errors import DlmirError, ParameterError
    from dlmir.train.chords import ChordTrainConfig
    from dlmir.train.search import random_search_chords

    try:
        if model not in SEARCH_MODELS:
            raise ParameterError(f"--model must be one of {sorted(SEARCH_MODELS)}, got {model!r}")
        kind = SEARCH_MODELS[model]
        if dataset == "stream" and not steps_per_epoch:
            raise ParameterError("'stream' needs --steps-per-epoch (a stream has no end)")
        if dataset == "stream" and not valid:
            raise ParameterError("'stream' trains on rendered audio; give a validation dataset folder with --valid")
        space = {"excerpt_seconds": _range(seconds, "--seconds"), "lr": _range(lr, "--lr")}
        data: dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "valid": str(valid) if valid else None,
            "excerpt_seconds": excerpt_seconds,
            "valid_seconds": excerpt_seconds,
            "production": production,
            "soundfonts": [s.strip() for s in soundfonts.split(",") if s.strip()],
            "seed": seed,
            "frame_step": 1,
            "max_items": max_items,
        }
        cfg = ChordTrainConfig(
            epochs=epochs,
            batch_size=batch_size or DEFAULT_BATCH[kind],
            loss=loss,
            seed=seed,
            patience=0,
            schedule=schedule,
            augment=[a.strip() for a in augment.split(",") if a.strip()],
            num_workers=workers,
            steps_per_epoch=steps_per_epoch or None,
            threads=threads,
            progress_bar=False,
            data=data,
        )
        val_set = valid_data(kind, data, 0)

        def make_train(secs: float):
            return train_data(kind, {**data, "excerpt_seconds": secs}, 0, progress=False)

        typer.echo(f"{kind}: {trials} trials, {len(val_set)} validation excerpts of {excerpt_seconds:g} s")
        best = random_search_chords(
            make_train,
            val_set,
            out,
            model=kind,
            trials=trials,
            seed=seed,
            config=cfg,
            frontend=val_set.frontend,  # the features every trial's model is built for and saved with
            space=space,
            objective=objective,
        )
    except (DlmirError, OSError, json.JSONDecodeError) as exc:
        raise _fail(exc) from exc
    typer.echo((out / "trials.csv").read_text())
    typer.echo(
        f"best: trial {best['trial']} ({out / best['run']}) val_loss {best['val_loss']:.4f} "
        f"val_accuracy {best['val_accuracy']:.4f}; config in {out / 'best.json'}"
    )
