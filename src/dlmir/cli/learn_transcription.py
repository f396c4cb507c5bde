"""``dlmir train transcription``: train the note transcriber (thin; see :mod:`dlmir.train.transcription`).

Data: ``stream`` (``dlmir.data.note_stream.NoteStream``: pieces rendered on the fly with realistic production) or a
dataset folder whose items carry ``labels/<id>.notes.csv`` (its train split, cut into excerpts); validation on the
valid split of ``--valid`` (default: of the dataset).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from dlmir.cli.app import train_app


def _stream(data: dict[str, Any], sr: float):
    """The training stream for the recorded data settings."""
    from dlmir.errors import ParameterError

    try:
        from dlmir.data.note_stream import NoteStream
    except ModuleNotFoundError as exc:
        raise ParameterError("'stream' needs dlmir.data.note_stream, which this installation lacks") from exc
    return NoteStream(
        data["soundfonts"] or None,
        production=data["production"],
        seed=data["seed"],
        sr=int(sr),
        seconds=data["excerpt_seconds"],
        max_excerpts_per_piece=data.get("excerpts_per_piece") or None,
    )


def _valid_set(data: dict[str, Any], sr: float, hop: int):
    """The validation set: the valid split of ``data["valid"]`` (else of the dataset; a folder without a manifest:
    all of it), or with ``stream:N`` the first N excerpts of a stream seeded apart from the training stream."""
    from dlmir.data.manifest import MANIFEST
    from dlmir.train.transcription import NoteExcerpts, NoteItems

    valid = data["valid"] or data["dataset"]
    if valid.startswith("stream:"):
        n = int(valid.split(":", 1)[1])
        fixed = {**data, "seed": data["seed"] + 1_000_003, "excerpt_seconds": data["valid_seconds"],
                 "excerpts_per_piece": 2}  # fmt: skip
        return NoteItems.from_stream(_stream(fixed, sr), n)
    root = Path(valid)
    split = "valid" if (root / MANIFEST).is_file() else None
    return NoteExcerpts.from_folder(root, split, seconds=data["valid_seconds"], sr=sr, hop_length=hop,
                                    max_items=data["max_items"] or None)  # fmt: skip


@train_app.command("transcription")
def train_transcription_cmd(
    dataset: str = typer.Argument(
        ..., help="'stream' (pieces rendered on the fly) or a dataset folder with notes (its train split trains)."
    ),
    out: Path = typer.Option(Path("runs/transcription"), "--out", "-o", help="Run folder (model, checkpoint)."),
    valid: str = typer.Option(
        "", "--valid", help="Validation dataset folder (its valid split; required with 'stream'), or 'stream:N'."
    ),
    epochs: int = typer.Option(10, "--epochs", help="Total epochs."),
    steps_per_epoch: int = typer.Option(0, "--steps-per-epoch", help="Batches per epoch (0: the whole dataset)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Excerpts per step."),
    excerpt_seconds: float = typer.Option(4.0, "--excerpt-seconds", help="Seconds per training excerpt."),
    valid_seconds: float = typer.Option(8.0, "--valid-seconds", help="Seconds per validation excerpt."),
    lr: float = typer.Option(2e-3, "--lr", help="Learning rate (AdamW, one-cycle schedule)."),
    augment: str = typer.Option("", "--augment", help="'rotate': random transposition (CQT rotation) of every item."),
    production: str = typer.Option("realistic", "--production", help="stream: realistic | clean | heavy."),
    soundfonts: str = typer.Option("", "--soundfonts", help="stream: comma list of soundfonts (default: all)."),
    channels: str = typer.Option("16,32,32", "--channels", help="Trunk channels of the model (three numbers)."),
    seed: int = typer.Option(0, "--seed", help="Seed of init, stream, data order and augmentation."),
    workers: int = typer.Option(1, "--workers", help="DataLoader worker processes (the stream renders in them)."),
    threads: int = typer.Option(1, "--threads", help="CPU threads while training (1 is fastest on a busy CPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out."),
    max_items: int = typer.Option(0, "--max-items", help="At most this many tracks per folder split (0: all)."),
    stop_after: int = typer.Option(
        0, "--stop-after", help="Stop after this many epochs of this call; the schedule still spans --epochs (0: off)."
    ),
) -> None:
    """Train a Transcriber (frames, onsets, offsets of MIDI 21-108 from a CQT) on audio with exact notes; the best
    model by validation loss is saved in --out (use it with `dlmir transcribe --model OUT`)."""
    from dlmir.errors import DlmirError, ParameterError
    from dlmir.models import build
    from dlmir.train.checkpoint import read_state
    from dlmir.train.transcription import NoteExcerpts, TranscriptionTrainConfig, train_transcription

    try:
        data = {
            "dataset": dataset,
            "valid": valid or None,
            "excerpt_seconds": excerpt_seconds,
            "valid_seconds": valid_seconds,
            "production": production,
            "soundfonts": [s.strip() for s in soundfonts.split(",") if s.strip()],
            "seed": seed,
            "max_items": max_items,
        }
        cfg = TranscriptionTrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            augment=[a.strip() for a in augment.split(",") if a.strip()],
            num_workers=workers,
            steps_per_epoch=steps_per_epoch or None,
            threads=threads,
            data=data,
        )
        model_config: dict[str, Any] = {
            "model": "Transcriber",
            "channels": [int(c) for c in channels.split(",") if c.strip()],
            "seed": seed,
        }
        if resume:
            state, _ = read_state(out)
            model_config = state["model"]
            cfg = TranscriptionTrainConfig(**{**state["train"], "epochs": epochs, "num_workers": workers,
                                              "threads": threads})  # fmt: skip
            data = cfg.data
            typer.echo(f"resuming {out} at epoch {state['epoch']} (step {state['step']})")
        model = build(model_config)
        sr, hop = model.sr, model.hop_length
        n = data["max_items"] or None
        if data["dataset"] == "stream":
            if not data["valid"]:
                raise ParameterError("'stream' trains on rendered audio; give a validation dataset folder with --valid")
            if not cfg.steps_per_epoch:
                raise ParameterError("'stream' needs --steps-per-epoch (a stream has no end)")
            train_set = _stream(data, sr)
        else:
            train_set = NoteExcerpts.from_folder(
                data["dataset"],
                "train",
                seconds=data["excerpt_seconds"],
                sr=sr,
                hop_length=hop,
                jitter=True,
                seed=data["seed"],
                max_items=n,
            )
        val_set = _valid_set(data, sr, hop)
        size = "a stream" if data["dataset"] == "stream" else f"{len(train_set)} training excerpts"
        typer.echo(f"Transcriber: {size}, {len(val_set)} validation excerpts")
        summary = train_transcription(
            model, train_set, val_set, config=cfg, run_dir=out, resume=resume, stop_after_epochs=stop_after or None
        )
    except (DlmirError, OSError, json.JSONDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(f"epoch {summary['epoch']}, step {summary['step']}: {json.dumps(last)}")
    typer.echo(f"model saved in {out}")
