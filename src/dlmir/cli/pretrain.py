"""``dlmir pretrain``: self-supervised pre-training of a chord or instrument CNN trunk on unlabeled audio.

Thin: finds the audio (:func:`dlmir.pretrain.data.find_audio`) or sets up the render stream, builds the
:class:`~dlmir.pretrain.objective.MaskedCQT` and calls :func:`dlmir.train.pretrain.pretrain`. Fine-tune from the run
with ``dlmir train chords|instruments ... --init RUN_DIR``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from dlmir.cli.app import app
from dlmir.cli.app import fail as _fail

TRUNKS = {"chordnet": "ChordNet", "cnn": "ChordCNN", "instruments": "InstrumentCNN"}
DEFAULT_SECONDS = {"ChordNet": 6.0, "ChordCNN": 6.0, "InstrumentCNN": 2.0}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.replace(" ", "").split(",") if v]


def build_data(data: dict[str, Any], frontend):  # noqa: ANN201 - a Dataset
    """The training data of a run's recorded ``data`` settings: :class:`~dlmir.pretrain.data.AudioExcerpts` of the
    sources, or :class:`~dlmir.pretrain.data.UnlabeledStream` for ``["stream"]``."""
    from dlmir.pretrain.data import AudioExcerpts, UnlabeledStream

    if data["sources"] == ["stream"]:
        return UnlabeledStream(
            soundfonts=data["soundfonts"] or None, production=data["production"], seed=data["seed"],
            excerpt_seconds=data["excerpt_seconds"], frontend=frontend,
        )  # fmt: skip
    return AudioExcerpts(
        data["sources"], frontend=frontend, seconds=data["excerpt_seconds"], items=data["items"], seed=data["seed"]
    )


@app.command("pretrain")
def pretrain_cmd(
    sources: list[str] = typer.Argument(
        ..., help="Folders (searched recursively) or files of unlabeled audio (wav, flac, mp3, ogg), or 'stream'."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (model, checkpoint, history)."),
    model: str = typer.Option(
        "chordnet", "--model", "-m", help="Whose trunk: chordnet | cnn (the same) | instruments."
    ),
    epochs: int = typer.Option(10, "--epochs", help="Total epochs."),
    steps_per_epoch: int = typer.Option(100, "--steps-per-epoch", help="Batches per epoch."),
    batch_size: int = typer.Option(16, "--batch-size", help="Excerpts per step (and device)."),
    excerpt_seconds: float = typer.Option(0.0, "--excerpt-seconds", help="Seconds per excerpt (0: 6 chord, 2 notes)."),
    lr: float = typer.Option(1e-3, "--lr", help="Learning rate (AdamW, one-cycle)."),
    channels: str = typer.Option("", "--channels", help="Trunk channels, e.g. 16,16,32,32 (default: the model's)."),
    embedding: int = typer.Option(0, "--embedding", help="Trunk embedding width (0: the model's)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes (decode + CQT in them)."),
    devices: int = typer.Option(1, "--devices", help="Data-parallel processes / GPUs (folders only, not 'stream')."),
    threads: int = typer.Option(1, "--threads", help="CPU threads while training."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation, excerpt draws and masks."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out."),
    production: str = typer.Option("realistic", "--production", help="stream: realistic | clean | heavy."),
    soundfonts: str = typer.Option("", "--soundfonts", help="stream: comma list of soundfonts (default: all)."),
    stop_after: int = typer.Option(0, "--stop-after", help="Stop after this many epochs of this call (0: off)."),
) -> None:
    """Pre-train the convolutional trunk of a chord model (chordnet, cnn) or of the instrument CNN by masked
    reconstruction of CQT patches of unlabeled audio (SOURCES: folders of any audio, read as random excerpts without
    loading whole files; or 'stream': dlmir's renders without labels). Writes OUT/model.safetensors + config.json
    after every epoch and OUT/checkpoint (--resume)."""
    from dlmir.errors import DlmirError, ParameterError
    from dlmir.frontends.presets import CHORD_CQT, frontend_from_config
    from dlmir.instruments.features import NOTE_CQT
    from dlmir.models import set_frontend
    from dlmir.pretrain.objective import MaskedCQT
    from dlmir.train.checkpoint import read_state
    from dlmir.train.pretrain import PretrainConfig, pretrain

    try:
        if model not in TRUNKS:
            raise ParameterError(f"--model must be one of {sorted(TRUNKS)}, got {model!r}")
        kind = TRUNKS[model]
        trunk: dict[str, Any] = {"model": kind, "seed": seed}
        if channels:
            trunk["channels"] = _ints(channels)
            if kind in ("ChordNet", "ChordCNN") and len(trunk["channels"]) != 4:
                trunk["pitch_pool"] = [2 if k % 2 else 1 for k in range(len(trunk["channels"]))]
        if embedding:
            trunk["embedding"] = embedding
        data = {
            "sources": [s if s == "stream" else str(Path(s)) for s in sources],
            "excerpt_seconds": excerpt_seconds or DEFAULT_SECONDS[kind],
            "items": steps_per_epoch * batch_size * devices,
            "seed": seed,
            "production": production,
            "soundfonts": [s.strip() for s in soundfonts.split(",") if s.strip()],
        }
        if "stream" in data["sources"] and len(data["sources"]) > 1:
            raise ParameterError("give either 'stream' or folders of audio, not both")
        cfg = PretrainConfig(
            epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, steps_per_epoch=steps_per_epoch,
            num_workers=workers, devices=devices, threads=threads, data=data,
        )  # fmt: skip
        model_config: dict[str, Any] = {"model": "MaskedCQT", "trunk": trunk, "seed": seed}
        if resume:
            state, _ = read_state(out)
            model_config = state["model"]
            train = {**state["train"], "epochs": epochs, "num_workers": workers, "threads": threads}
            cfg = PretrainConfig(**train)
            data = cfg.data
            typer.echo(f"resuming {out} at epoch {state['epoch']} (step {state['step']})")
        # the front end the fine-tuned model reads: the note CQT (instruments) or the chord CQT
        frontend = frontend_from_config(NOTE_CQT if model_config["trunk"]["model"] == "InstrumentCNN" else CHORD_CQT)
        dims = {k: frontend.config[k] for k in ("n_bins", "bins_per_octave", "fmin")}
        params = {k: v for k, v in model_config.items() if k != "model"}
        net = set_frontend(MaskedCQT(**{**params, **dims}), frontend)
        train_set = build_data(data, frontend)
        typer.echo(f"pre-training the {net.trunk_config['model']} trunk on {train_set!r}")
        summary = pretrain(net, train_set, config=cfg, run_dir=out, resume=resume, stop_after_epochs=stop_after or None)
    except (DlmirError, OSError, json.JSONDecodeError) as exc:
        raise _fail(exc) from exc
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(f"epoch {summary['epoch']}, step {summary['step']}: {json.dumps(last)}")
    typer.echo(f"model saved in {out}; fine-tune with --init {out}")
