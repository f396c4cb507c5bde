"""``dlmir train chords``: train a chord model (ChordNet or ChordCNN on excerpts, FretboardNet on frame patches).

Thin: parses the options, builds the data (:class:`dlmir.data.excerpts.Excerpts` for training and validation
excerpts, :func:`dlmir.data.datasets.build_split` for patches, ``dlmir.data.render_stream.RenderStream`` for
training on rendered audio) and the model, and calls :func:`dlmir.train.chords.train_chords`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from dlmir.cli.app import fail as _fail
from dlmir.cli.app import train_app

MODELS = {"chordnet": "ChordNet", "cnn": "ChordCNN", "fretboard": "FretboardNet"}
DEFAULT_BATCH = {"ChordNet": 16, "ChordCNN": 16, "FretboardNet": 256}
EXCERPT_MODELS = ("ChordNet", "ChordCNN")  # = dlmir.train.chords.EXCERPT_MODELS (not imported: keeps the CLI light)


def _render_stream(data: dict[str, Any]):
    """The training stream (``dlmir.data.render_stream.RenderStream``) for the recorded data settings."""
    from dlmir.errors import ParameterError

    try:
        from dlmir.data.render_stream import RenderStream
    except ModuleNotFoundError as exc:
        raise ParameterError("'stream' needs dlmir.data.render_stream, which this installation lacks") from exc
    return RenderStream(
        data["soundfonts"] or None,
        production=data["production"],
        seed=data["seed"],
        excerpt_seconds=data["excerpt_seconds"],
    )


def train_data(kind: str, data: dict[str, Any], context: int, *, progress: bool = True):
    """The training set for a model class ``kind`` and the data settings of a run: a rendered stream
    (``data["dataset"] == "stream"``), excerpts of ``data["excerpt_seconds"]`` of the dataset's train split
    (jittered cuts; ChordNet, ChordCNN), or its frame patches (FretboardNet)."""
    from dlmir.data.datasets import build_split
    from dlmir.data.excerpts import Excerpts
    from dlmir.errors import ParameterError

    source, n = data["dataset"], data["max_items"] or None
    if source == "stream":
        if not data["valid"]:
            raise ParameterError("'stream' trains on rendered audio; give a validation dataset folder with --valid")
        return _render_stream(data)
    if kind in EXCERPT_MODELS:
        seconds = data["excerpt_seconds"]
        return Excerpts.from_folder(
            source, "train", seconds=seconds, jitter=True, seed=data["seed"], max_items=n, progress=progress
        )
    step = data["frame_step"]
    return build_split(source, "train", context=context, frame_step=step, max_items=n, progress=progress)


def valid_data(kind: str, data: dict[str, Any], context: int):
    """The validation set: the valid split of ``data["valid"]`` (else of the dataset; a folder without a manifest:
    all of it), as excerpts of ``data["valid_seconds"]`` (default ``data["excerpt_seconds"]``) for excerpt models
    and for streams, else as frame patches."""
    from dlmir.data.datasets import build_split
    from dlmir.data.excerpts import Excerpts
    from dlmir.data.manifest import MANIFEST

    source, valid = data["dataset"], data["valid"]
    n = data["max_items"] or None
    val_root = Path(valid or source)
    val_split = "valid" if (val_root / MANIFEST).is_file() else None
    if kind in EXCERPT_MODELS or source == "stream":
        seconds = data.get("valid_seconds") or data["excerpt_seconds"]
        return Excerpts.from_folder(val_root, val_split, seconds=seconds, max_items=n, progress=True)
    return build_split(val_root, val_split, context=context, frame_step=data["frame_step"], max_items=n)


def build_data(kind: str, data: dict[str, Any], context: int):
    """``(train_set, val_set, frontend)`` for a model class ``kind`` and the data settings of a run."""
    tr, va = train_data(kind, data, context), valid_data(kind, data, context)
    frontend = getattr(tr, "frontend", None) or va.frontend
    return tr, va, frontend


def searched_config(path: Path, *, lr: float, excerpt_seconds: float) -> tuple[dict[str, Any], float, float]:
    """``(architecture, lr, excerpt_seconds)`` from a ``best.json`` of ``dlmir search chords``: the model config
    without its input dimensions (taken from the data) and seed (``--seed``), the trial's learning rate and
    training excerpt length (the given ones where the file has none)."""
    from dlmir.errors import ParameterError

    doc = json.loads(Path(path).read_text())
    if not isinstance(doc.get("model"), dict) or "model" not in doc["model"]:
        raise ParameterError(f"{path}: no 'model' section naming a model class (a best.json of dlmir search chords?)")
    arch = {k: v for k, v in doc["model"].items() if k not in ("n_bins", "bins_per_octave", "fmin", "seed")}
    train = doc.get("train", {})
    return arch, float(train.get("lr", lr)), float(train.get("data", {}).get("excerpt_seconds", excerpt_seconds))


@train_app.command("chords")
def train_chords_cmd(
    dataset: str = typer.Argument(
        ..., help="Dataset folder (its train split trains, its valid split validates), or 'stream' (render on the fly)."
    ),
    model: str = typer.Option("chordnet", "--model", "-m", help="chordnet (BiGRU) | cnn (plain CNN) | fretboard."),
    out: Path = typer.Option(Path("runs/chords"), "--out", "-o", help="Run folder (model, checkpoint, history)."),
    epochs: int = typer.Option(20, "--epochs", help="Total epochs."),
    steps_per_epoch: int = typer.Option(0, "--steps-per-epoch", help="Batches per epoch (0: the whole dataset)."),
    batch_size: int = typer.Option(0, "--batch-size", help="Excerpts or patches (fretboard) per step (0: 16 | 256)."),
    excerpt_seconds: float = typer.Option(12.0, "--excerpt-seconds", help="Seconds per training excerpt."),
    lr: float = typer.Option(1e-3, "--lr", help="Learning rate (AdamW)."),
    schedule: str = typer.Option("onecycle", "--schedule", help="constant | onecycle (warm-up, then cosine decay)."),
    loss: str = typer.Option("auto", "--loss", help="auto | structured | chord (chordnet, cnn) | mse | ce | mse+ce."),
    augment: str = typer.Option("", "--augment", help="'rotate': random transposition of every item."),
    patience: int = typer.Option(5, "--patience", help="Early stopping patience in epochs (0: off)."),
    seed: int = typer.Option(0, "--seed", help="Seed of init, data order, excerpt cuts, dropout, augmentation."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out."),
    production: str = typer.Option("realistic", "--production", help="stream: realistic | clean (| heavy)."),
    soundfonts: str = typer.Option("", "--soundfonts", help="stream: comma list of soundfonts (default: all)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes (the stream renders in them)."),
    valid: Path = typer.Option(None, "--valid", help="Validation dataset folder (required with 'stream')."),
    frame_step: int = typer.Option(2, "--frame-step", help="fretboard: every n-th frame of each item."),
    max_items: int = typer.Option(0, "--max-items", help="At most this many tracks per split (0: all)."),
    threads: int = typer.Option(1, "--threads", help="CPU threads while training (1 is fastest on a busy CPU)."),
    stop_after: int = typer.Option(
        0, "--stop-after", help="Stop after this many epochs of this call; the schedule still spans --epochs (0: off)."
    ),
    config: Path = typer.Option(
        None, "--config", help="best.json of `dlmir search chords`: its architecture, --lr and --excerpt-seconds."
    ),
    init: Path = typer.Option(
        None, "--init", help="RUN_DIR of `dlmir pretrain` (chordnet/cnn): start from its pre-trained trunk."
    ),
) -> None:
    """Train a chord model on DATASET (or a rendered stream); the best model by validation loss is saved in --out."""
    from dlmir.errors import DlmirError, ParameterError
    from dlmir.models import build, set_frontend
    from dlmir.train.checkpoint import read_state
    from dlmir.train.chords import ChordTrainConfig, train_chords

    try:
        arch: dict[str, Any] = {}
        if config is not None:
            arch, lr, excerpt_seconds = searched_config(config, lr=lr, excerpt_seconds=excerpt_seconds)
            model = {v: k for k, v in MODELS.items()}.get(arch["model"], arch["model"])
        if model not in MODELS:
            raise ParameterError(f"--model must be one of {sorted(MODELS)}, got {model!r}")
        kind = MODELS[model]
        data = {
            "dataset": dataset,
            "model": model,
            "valid": str(valid) if valid else None,
            "excerpt_seconds": excerpt_seconds,
            "production": production,
            "soundfonts": [s.strip() for s in soundfonts.split(",") if s.strip()],
            "seed": seed,
            "frame_step": frame_step,
            "max_items": max_items,
        }
        cfg = ChordTrainConfig(
            epochs=epochs,
            batch_size=batch_size or DEFAULT_BATCH[kind],
            lr=lr,
            loss=loss,
            seed=seed,
            patience=patience,
            schedule=schedule,
            augment=[a.strip() for a in augment.split(",") if a.strip()],
            num_workers=workers,
            steps_per_epoch=steps_per_epoch or None,
            frame_step=frame_step,
            threads=threads,
            data=data,
        )
        model_config: dict[str, Any] = {**arch, "model": kind, "seed": seed}
        if resume:
            state, _ = read_state(out)
            model_config = state["model"]
            kind = model_config["model"]
            train = {**state["train"], "epochs": epochs, "num_workers": workers, "threads": threads}
            cfg = ChordTrainConfig(**train)
            data = cfg.data
            typer.echo(f"resuming {out} at epoch {state['epoch']} (step {state['step']})")
        if data["dataset"] == "stream" and not cfg.steps_per_epoch:
            raise ParameterError("'stream' needs --steps-per-epoch (a stream has no end)")
        context = int(build(model_config).config.get("context", 0)) if kind == "FretboardNet" else 0
        train_set, val_set, frontend = build_data(kind, data, context)
        dims = {k: frontend.config[k] for k in ("n_bins", "bins_per_octave", "fmin")}
        net = set_frontend(build({**model_config, **dims}), frontend)
        what = "excerpts" if kind in EXCERPT_MODELS or data["dataset"] == "stream" else "frames"
        size = "a stream" if data["dataset"] == "stream" else f"{len(train_set)} training {what}"
        typer.echo(f"{kind}: {size}, {len(val_set)} validation {what}")
        summary = train_chords(
            net,
            train_set,
            val_set,
            config=cfg,
            run_dir=out,
            resume=resume,
            stop_after_epochs=stop_after or None,
            init=init,
        )
    except (DlmirError, OSError, json.JSONDecodeError) as exc:
        raise _fail(exc) from exc
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(f"epoch {summary['epoch']}, step {summary['step']}: {json.dumps(last)}")
    typer.echo(f"model saved in {out}")
