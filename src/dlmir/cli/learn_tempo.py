"""``dlmir train tempo``: train the tempo cascade from its designed initialisation (thin; see dlmir.train.tempo)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dlmir.cli.app import train_app


@train_app.command("tempo")
def train_tempo_cmd(
    dataset: str = typer.Argument(
        ..., help="'stream' (band excerpts rendered on the fly) or a folder of audio + .beats (its train split)."
    ),
    out: Path = typer.Option(Path("runs/tempo"), "--out", "-o", help="Run folder (model, checkpoint, history)."),
    valid: Path = typer.Option(None, "--valid", help="Validation folder (a `dlmir data band` set: its valid split)."),
    epochs: int = typer.Option(10, "--epochs", help="Total epochs."),
    steps_per_epoch: int = typer.Option(0, "--steps-per-epoch", help="Batches per epoch (0: the whole dataset)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Excerpts per step."),
    excerpt_seconds: float = typer.Option(12.0, "--excerpt-seconds", help="Seconds per excerpt."),
    lr: float = typer.Option(1e-2, "--lr", help="Learning rate (AdamW)."),
    production: str = typer.Option("realistic", "--production", help="stream: realistic | clean | heavy."),
    seed: int = typer.Option(0, "--seed", help="Seed of the stream, data order and dropout."),
    workers: int = typer.Option(1, "--workers", help="DataLoader worker processes (the stream renders in them)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out."),
    max_items: int = typer.Option(0, "--max-items", help="At most this many tracks per folder split (0: all)."),
) -> None:
    """Train a Tempo cascade (sub-band flux -> band weights -> comb resonators -> prior) on excerpts with exact
    beats; the best model by validation loss is saved in --out (use it with `dlmir tempo --model OUT`)."""
    from dlmir.data.beat_stream import BeatExcerpts, BeatStream
    from dlmir.errors import DlmirError, ParameterError
    from dlmir.frontends.tempo import Tempo
    from dlmir.train.checkpoint import read_state
    from dlmir.train.tempo import TempoTrainConfig, train_tempo

    try:
        data = {
            "dataset": dataset,
            "valid": str(valid) if valid else None,
            "excerpt_seconds": excerpt_seconds,
            "production": production,
            "seed": seed,
            "max_items": max_items,
        }
        cfg = TempoTrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            num_workers=workers,
            steps_per_epoch=steps_per_epoch or None,
            data=data,
        )
        model_config: dict = {"trainable": True}
        if resume:
            state, _ = read_state(out)
            model_config = {k: v for k, v in state["model"].items() if k not in ("model", "frontend")}
            cfg = TempoTrainConfig(**{**state["train"], "epochs": epochs, "num_workers": workers})
            data = cfg.data
            typer.echo(f"resuming {out} at epoch {state['epoch']} (step {state['step']})")
        model = Tempo(**model_config)
        sr = int(model.sr)
        n = data["max_items"] or None
        if data["dataset"] == "stream":
            if not data["valid"]:
                raise ParameterError("'stream' trains on rendered audio; give a validation folder with --valid")
            if not cfg.steps_per_epoch:
                raise ParameterError("'stream' needs --steps-per-epoch (a stream has no end)")
            train_set = BeatStream(
                production=data["production"], seed=data["seed"], sr=sr, excerpt_seconds=data["excerpt_seconds"]
            )
        else:
            train_set = BeatExcerpts.from_folder(
                data["dataset"], "train", sr=sr, excerpt_seconds=data["excerpt_seconds"], max_items=n
            )
        val_root = Path(data["valid"] or data["dataset"])
        val_split = "valid" if (val_root / "manifest.csv").is_file() else None
        val_set = BeatExcerpts.from_folder(
            val_root, val_split, sr=sr, excerpt_seconds=data["excerpt_seconds"], max_items=n
        )
        typer.echo(f"Tempo: {'a stream' if data['dataset'] == 'stream' else len(train_set)}, "
                   f"{len(val_set)} validation excerpts")  # fmt: skip
        summary = train_tempo(model, train_set, val_set, config=cfg, run_dir=out, resume=resume)
    except (DlmirError, OSError, json.JSONDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(f"epoch {summary['epoch']}, step {summary['step']}: {json.dumps(last)}")
    typer.echo(f"model saved in {out}")
