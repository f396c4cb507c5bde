"""Learned-chroma commands: ``train chroma``, ``search chroma``, ``evaluate chroma`` / ``chroma-table``,
``plot weights`` / ``chromagram`` / ``curves`` (``dlmir chroma`` lives in :mod:`dlmir.cli.chroma`).

Thin: every command parses its options and calls the library (:mod:`dlmir.train`, :mod:`dlmir.evaluate`,
:mod:`dlmir.display`, :mod:`dlmir.models`).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dlmir.cli.app import evaluate_app, plot_app, search_app, train_app
from dlmir.cli.app import fail as _fail


def _augment_list(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


@train_app.command("chroma")
def train_chroma(
    dataset: Path = typer.Argument(..., help="Dataset folder (manifest.csv, audio/, labels/)."),
    out: Path = typer.Option(Path("runs/chroma"), "--out", "-o", help="Run folder (model, checkpoint, history)."),
    layers: int = typer.Option(
        1, "--layers", help="Affine layers: 1 = one map to 12; L >= 2 = L-1 hidden layers + ReLU first."
    ),
    hidden: int = typer.Option(64, "--hidden", help="Width of each hidden layer (--layers >= 2)."),
    context: int = typer.Option(0, "--context", help="Frames of context on each side."),
    init: str = typer.Option("octave", "--init", help="octave (designed chroma) | random."),
    hidden_init: str = typer.Option("random", "--hidden-init", help="random | pca (data-driven, --layers >= 2)."),
    output: str = typer.Option("softmax_tanh", "--output", help="softmax_tanh | sigmoid | linear."),
    loss: str = typer.Option(
        "mse",
        "--loss",
        help="mse | bce (against the chord's pitch classes) | template (cross-entropy of the chord under the "
        "decoder's template scores).",
    ),
    weight_decay: float = typer.Option(0.0, "--weight-decay", help="AdamW weight decay."),
    l1: float = typer.Option(0.0, "--l1", help="L1 sparsity coefficient on the weights."),
    l1_activations: float = typer.Option(0.0, "--l1-activations", help="L1 sparsity on hidden activations."),
    max_norm: float = typer.Option(0.0, "--max-norm", help="Max L2 norm of each unit's weights (0: off)."),
    dropout: float = typer.Option(0.0, "--dropout", help="Input dropout probability."),
    hidden_dropout: float = typer.Option(0.0, "--hidden-dropout", help="Dropout after each hidden layer."),
    augment: str = typer.Option("", "--augment", help="Comma list of rotate,noise,codec."),
    devices: int = typer.Option(1, "--devices", help="Data-parallel processes (DDP; CPU uses gloo)."),
    epochs: int = typer.Option(20, "--epochs", help="Total epochs."),
    batch_size: int = typer.Option(256, "--batch-size", help="Frames per step."),
    lr: float = typer.Option(3e-3, "--lr", help="Learning rate."),
    schedule: str = typer.Option(
        "constant", "--schedule", help="Learning-rate schedule: constant | onecycle (warm-up, then cosine decay)."
    ),
    patience: int = typer.Option(5, "--patience", help="Early stopping patience in epochs (0: off)."),
    seed: int = typer.Option(0, "--seed", help="Seed for data order, init, dropout, augmentation."),
    frame_step: int = typer.Option(2, "--frame-step", help="Use every n-th frame of each item."),
    max_items: int = typer.Option(0, "--max-items", help="Use at most this many items per split (0: all)."),
    config: Path = typer.Option(None, "--config", help="best.json from `dlmir search chroma` (overrides options)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out."),
) -> None:
    """Train a learned chroma on DATASET; the best model (by validation loss) is saved in --out."""
    from dlmir.data.datasets import build_split
    from dlmir.errors import DlmirError
    from dlmir.models import LearnedChroma, set_frontend
    from dlmir.train.module import TrainConfig, read_state, train
    from dlmir.train.regularizers import Regularization

    try:
        aug = _augment_list(augment)
        model_kw = dict(
            layers=layers,
            hidden=hidden,
            context=context,
            init=init,
            hidden_init=hidden_init,
            output=output,
            dropout=dropout,
            hidden_dropout=hidden_dropout,
            seed=seed,
        )
        cfg = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            loss=loss,
            seed=seed,
            patience=patience,
            schedule=schedule,
            devices=devices,
            augment=aug,
        )
        reg = Regularization(weight_decay=weight_decay, l1=l1, l1_activations=l1_activations, max_norm=max_norm or None)
        if config is not None:
            doc = json.loads(Path(config).read_text())
            model_kw.update(doc.get("model", {}))
            cfg = TrainConfig(
                **{
                    **cfg.__dict__,
                    **{k: v for k, v in doc.get("train", {}).items() if k in ("lr", "loss", "batch_size")},
                }
            )
            reg = Regularization(**doc.get("reg", {}))
        if resume:
            state, _ = read_state(out)
            model_kw = {k: v for k, v in state["model"].items() if k != "model"}
            cfg = TrainConfig(**{**state["train"], "epochs": epochs, "devices": devices})
            reg = Regularization(**state["reg"])
            typer.echo(f"resuming {out} at epoch {state['epoch']} (step {state['step']})")
        n = max_items or None
        audio_aug = [a for a in cfg.augment if a != "rotate"]
        train_set = build_split(
            dataset,
            "train",
            context=model_kw["context"],
            frame_step=frame_step,
            augment=audio_aug,
            seed=seed,
            max_items=n,
            progress=True,
        )
        val_set = build_split(dataset, "valid", context=model_kw["context"], frame_step=frame_step, max_items=n)
        typer.echo(f"{len(train_set)} training frames, {len(val_set)} validation frames")
        fe = train_set.frontend  # the model is built for, and saved with, the front end of its training data
        dims = {k: fe.config[k] for k in ("n_bins", "bins_per_octave", "fmin")}
        net = set_frontend(LearnedChroma(**{**dims, **model_kw}), fe)
        summary = train(net, train_set, val_set, config=cfg, reg=reg, run_dir=out, resume=resume)
    except (DlmirError, OSError, json.JSONDecodeError) as exc:
        raise _fail(exc) from exc
    last = summary["history"][-1] if summary["history"] else {}
    typer.echo(f"epoch {summary['epoch']}, step {summary['step']}: {json.dumps(last)}")
    typer.echo(f"model saved in {out}")


@search_app.command("chroma")
def search_chroma(
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    trials: int = typer.Option(20, "--trials", "-n", help="Number of random trials."),
    out: Path = typer.Option(Path("runs/search"), "--out", "-o", help="Folder for trials.csv and best.json."),
    epochs: int = typer.Option(10, "--epochs", help="Epochs per trial."),
    seed: int = typer.Option(0, "--seed", help="Sampler and training seed."),
    frame_step: int = typer.Option(4, "--frame-step", help="Use every n-th frame."),
    max_items: int = typer.Option(0, "--max-items", help="At most this many items per split (0: all)."),
    loss: str = typer.Option("mse", "--loss", help="mse | bce | template (fixed for every trial)."),
    output: str = typer.Option("softmax_tanh", "--output", help="softmax_tanh | sigmoid | linear (fixed)."),
    context: int = typer.Option(0, "--context", help="Frames of context on each side (fixed)."),
) -> None:
    """Random search (optuna RandomSampler) over learning rate, width, dropout, weight decay and L1."""
    from dlmir.data.datasets import build_split
    from dlmir.errors import DlmirError
    from dlmir.train.module import TrainConfig
    from dlmir.train.search import random_search

    try:
        n = max_items or None
        cfg = TrainConfig(epochs=epochs, seed=seed, loss=loss, progress_bar=False)
        tr = build_split(dataset, "train", context=context, frame_step=frame_step, max_items=n, progress=True)
        va = build_split(dataset, "valid", context=context, frame_step=frame_step, max_items=n)
        model_defaults = {"output": output, "context": context}
        best = random_search(tr, va, out, trials=trials, seed=seed, config=cfg, model_defaults=model_defaults)
    except DlmirError as exc:
        raise _fail(exc) from exc
    typer.echo((out / "trials.csv").read_text())
    typer.echo(f"best: trial {best['trial']} val_loss {best['val_loss']:.5f}; config in {out / 'best.json'}")


def _variants(runs: list[str], designed: bool, reference: bool = False) -> dict[str, object]:
    from dlmir.evaluate import REFERENCE
    from dlmir.models import load, read_config

    variants: dict[str, object] = {}
    if reference:
        variants["reference templates (decoder ceiling)"] = REFERENCE
    if designed:
        variants["designed"] = "designed"
        variants["designed-log"] = "designed-log"
    for run in runs:
        name = Path(run).name if run != "default" else "default"
        doc = read_config(run)
        cfg = doc["model"]
        init = cfg["init"] if cfg["layers"] == 1 else f"hidden {cfg['hidden']}, {cfg['hidden_init']}"
        if cfg.get("output", "softmax_tanh") != "softmax_tanh":
            init += f", {cfg['output']}"
        loss = doc.get("extra", {}).get("train", {}).get("loss", "mse")
        if loss != "mse":
            init += f", {loss} loss"
        label = f"{name} ({cfg['layers']}-layer, {init}, context {cfg['context']})"
        variants[label] = load(run)
    return variants


def _write_table(rows: list[dict], out: Path | None) -> None:
    from dlmir.evaluate import markdown_table

    text = markdown_table(rows)
    typer.echo(text)
    if out is not None:
        import csv

        out.parent.mkdir(parents=True, exist_ok=True)
        with out.with_suffix(".csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        out.with_suffix(".md").write_text(text + "\n")
        typer.echo(f"written {out.with_suffix('.csv')} and {out.with_suffix('.md')}")


@evaluate_app.command("chroma")
def evaluate_chroma(
    run: str = typer.Argument(..., help="Run folder (or 'default')."),
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    split: str = typer.Option("test", "--split"),
    vocabulary: str = typer.Option("majmin", "--vocabulary", help="majmin (25) | full (157)."),
    method: str = typer.Option("viterbi", "--method", help="viterbi | median | none."),
    out: Path = typer.Option(None, "--out", "-o", help="Write OUT.csv and OUT.md."),
) -> None:
    """Chord recognition with one learned chroma vs the designed chroma, scored with mir_eval."""
    chroma_table_cmd(
        dataset, runs=[run], split=split, vocabulary=vocabulary, method=method, out=out, designed=True, reference=True
    )


@evaluate_app.command("chroma-table")
def chroma_table_cmd(
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    runs: list[str] = typer.Option([], "--runs", "-r", help="Run folders to compare (repeat)."),
    split: str = typer.Option("test", "--split"),
    vocabulary: str = typer.Option("majmin", "--vocabulary", help="majmin (25) | full (157)."),
    method: str = typer.Option("viterbi", "--method", help="viterbi | median | none."),
    out: Path = typer.Option(None, "--out", "-o", help="Write OUT.csv and OUT.md."),
    designed: bool = typer.Option(True, "--designed/--no-designed", help="Include the designed chroma rows."),
    reference: bool = typer.Option(
        True, "--reference/--no-reference", help="Include the annotation's own templates (the decoder's ceiling)."
    ),
) -> None:
    """One table: designed chroma vs each run's learned chroma (root, majmin, triads, sevenths, tetrads, in %)."""
    from dlmir.errors import DlmirError
    from dlmir.evaluate import chroma_table

    try:
        rows = chroma_table(
            dataset,
            _variants(runs, designed, reference),
            split=split,
            vocabulary=vocabulary,
            method=method,
            progress=True,
        )
    except DlmirError as exc:
        raise _fail(exc) from exc
    _write_table(rows, out)


@plot_app.command("weights")
def plot_weights_cmd(
    runs: list[str] = typer.Argument(..., help="Run folders (or 'default')."),
    out: Path = typer.Option(Path("weights.png"), "--out", "-o", help="PNG file."),
) -> None:
    """The 12 x CQT-bin weight matrices at the start (if saved) and end of training, side by side."""
    from dlmir.display import plot_weights, weight_matrix
    from dlmir.errors import DlmirError
    from dlmir.models import load

    panels = {}
    try:
        for run in runs:
            model = load(run)
            name = Path(run).name
            frames = 2 * int(model.config.get("context", 0)) + 1
            if frames > 1:
                name += f" (summed over its {frames} context frames)"
            if run != "default" and (Path(run) / "init" / "config.json").exists():
                panels[f"{name}: start"] = weight_matrix(load(Path(run) / "init"))
            panels[f"{name}: trained"] = weight_matrix(model)
    except DlmirError as exc:
        raise _fail(exc) from exc
    typer.echo(f"written {plot_weights(panels, out)}")


@plot_app.command("curves")
def plot_curves_cmd(
    runs: list[Path] = typer.Argument(..., help="Run folders."),
    out: Path = typer.Option(Path("curves.png"), "--out", "-o", help="PNG file."),
) -> None:
    """Training and validation loss per epoch of each run."""
    from dlmir.display import plot_curves
    from dlmir.errors import DlmirError
    from dlmir.train.module import read_state

    try:
        histories = {run.name: read_state(run)[0]["history"] for run in runs}
    except DlmirError as exc:
        raise _fail(exc) from exc
    typer.echo(f"written {plot_curves(histories, out)}")


@plot_app.command("chromagram")
def plot_chromagram_cmd(
    audio: Path = typer.Argument(..., help="Audio file."),
    runs: list[str] = typer.Option(["default"], "--runs", "-r", help="Run folders or 'default' (repeat)."),
    out: Path = typer.Option(Path("chromagram.png"), "--out", "-o", help="PNG file."),
    duration: float = typer.Option(30.0, "--duration", help="Seconds of audio to show."),
) -> None:
    """Designed vs learned chromagram of the same recording."""
    from dlmir.display import plot_chromagrams
    from dlmir.errors import DlmirError
    from dlmir.evaluate import chroma_of_audio
    from dlmir.frontends.presets import CHORD_CQT
    from dlmir.io import load as load_audio

    try:
        sr = CHORD_CQT["sr"]
        y, _ = load_audio(audio, sr=sr, duration=duration)
        panels = {"designed chroma (octave folding of the CQT)": chroma_of_audio("designed", y, sr=sr)[0]}
        for name, model in _variants(runs, False).items():
            panels[f"learned: {name}"] = chroma_of_audio(model, y, sr=sr)[0]
    except DlmirError as exc:
        raise _fail(exc) from exc
    typer.echo(f"written {plot_chromagrams(panels, out)}")
