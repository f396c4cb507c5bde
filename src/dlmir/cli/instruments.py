"""``dlmir instrument`` (which instrument plays each file), ``dlmir train instruments``, ``dlmir search instruments``
and ``dlmir evaluate instruments``.

Thin: :class:`dlmir.instruments.recognition.InstrumentRecognizer` classifies, :mod:`dlmir.train.instruments`
prepares the notes and trains, :mod:`dlmir.instruments.evaluate` scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dlmir.cli.app import app, evaluate_app, report_file_error, search_app, train_app
from dlmir.cli.app import fail as _fail

MODEL_KINDS = ("mlp", "cnn")


def _split_list(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


@app.command("instrument")
def instrument_cmd(
    audio: list[Path] = typer.Argument(..., help="Audio files: single notes or whole recordings."),
    model: str = typer.Option("default", "--model", "-m", help="'default', a model folder or a baseline .json."),
    top: int = typer.Option(3, "--top", "-k", help="How many classes to print per file."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of text."),
) -> None:
    """The most probable instruments of each AUDIO file, best first, with probabilities.

    A recording is cut into notes (onsets, and every second of a held sound); each is classified and the answer
    is the loudness-weighted mean of their probabilities. Below 0.5 for the best class the answer is marked
    '(low confidence)': several instruments at once, or one the model does not know. A file that fails (missing,
    undecodable, silent) is reported on one line and the others are still processed; the exit code is then 1.
    """
    from tqdm import tqdm

    from dlmir.errors import DlmirError
    from dlmir.instruments.recognition import InstrumentRecognizer

    if top < 1:
        raise _fail(f"--top must be >= 1, got {top}")
    try:
        rec = InstrumentRecognizer(model)
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    failed: list[str] = []
    bar = tqdm(audio, desc="instrument", unit="file", disable=len(audio) < 2)
    for path in bar:
        try:
            res = rec.analyze_file(path)
        except (DlmirError, OSError) as exc:
            report_file_error(bar, failed, path, exc)
            continue
        best = res.top(top)
        if as_json:
            doc = {"file": str(path), "top": [{"class": c, "probability": round(p, 4)} for c, p in best],
                   "confident": res.confident, "notes": len(res.weights)}  # fmt: skip
            bar.write(json.dumps(doc))
        else:
            text = ", ".join(f"{c} {p:.2f}" for c, p in best)
            bar.write(f"{path}: {text}" + ("" if res.confident else " (low confidence)"))
    if failed:
        typer.echo(f"failed: {len(failed)} of {len(audio)} file(s)", err=True)
        raise typer.Exit(1)


def _notes(dataset: Path, split: str, *, variants: int | None, augment: list[str], preset: str, seed: int,
           jobs: int, limit: int | None):  # fmt: skip
    from dlmir.train.instruments import prepare_notes

    return prepare_notes(dataset, split, variants=variants, augment=augment, preset=preset, seed=seed, jobs=jobs,
                         limit=limit)  # fmt: skip


def _note_augment(augment: str) -> tuple[list[str], list[str]]:
    """``--augment`` split into note (audio) and batch augmentations, or raise."""
    from dlmir.errors import ParameterError
    from dlmir.instruments.augment import NOTE_AUGMENTATIONS
    from dlmir.train.instruments import BATCH_AUGMENTATIONS

    names = _split_list(augment)
    bad = [a for a in names if a not in NOTE_AUGMENTATIONS + BATCH_AUGMENTATIONS]
    if bad:
        raise ParameterError(f"unknown augmentation(s) {bad}; choose from {NOTE_AUGMENTATIONS + BATCH_AUGMENTATIONS}")
    return [a for a in names if a in NOTE_AUGMENTATIONS], [a for a in names if a in BATCH_AUGMENTATIONS]


ALL_AUGMENT = "pitch,articulation,dynamics,production,shift,crop,legato,mix"


@train_app.command("instruments")
def train_instruments_cmd(
    dataset: Path = typer.Argument(
        ..., help="Note dataset (dlmir data instruments): train split trains, valid validates."
    ),
    model: str = typer.Option("cnn", "--model", "-m", help="mlp (designed features) | cnn (CQT)."),
    out: Path = typer.Option(Path("runs/instruments"), "--out", "-o", help="Run folder (model, checkpoint, history)."),
    augment: str = typer.Option(
        ALL_AUGMENT,
        "--augment",
        help="Comma list: note variations (pitch, articulation, dynamics, production) and CNN batch augmentations "
        "(shift, crop, legato, mix); '' for none.",
    ),
    variants: int = typer.Option(2, "--variants", help="Variations per training note (validation: 1)."),
    production: str = typer.Option("realistic", "--production", help="Production preset: realistic | heavy."),
    epochs: int = typer.Option(10, "--epochs", help="Total epochs."),
    steps_per_epoch: int = typer.Option(0, "--steps-per-epoch", help="Batches per epoch (0: the whole training set)."),
    batch_size: int = typer.Option(0, "--batch-size", help="Notes per step (0: 64 for cnn, 256 for mlp)."),
    lr: float = typer.Option(0.0, "--lr", help="Learning rate (0: 1e-3 for cnn, 2e-3 for mlp)."),
    weight_decay: float = typer.Option(1e-4, "--weight-decay", help="AdamW weight decay."),
    patience: int = typer.Option(0, "--patience", help="Early stopping patience in epochs (0: off)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation, data order and augmentation."),
    config: Path = typer.Option(None, "--config", help="best.json of dlmir search instruments (architecture, lr)."),
    baselines: bool = typer.Option(
        True,
        "--baselines/--no-baselines",
        help="Also fit the linear SVM and logistic regression on the same notes (OUT/baselines; once per run).",
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Processes preparing the notes (once; cached in DATASET)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its checkpoint."),
    max_items: int = typer.Option(0, "--max-items", help="Only the first N notes of each split (quick checks)."),
    init: Path = typer.Option(
        None,
        "--init",
        help="RUN_DIR of `dlmir pretrain --model instruments`: start the CNN from its pre-trained trunk.",
    ),
) -> None:
    """Train an instrument recogniser (the practicum's MLP on designed features, or a CNN on the CQT).

    The notes are prepared once (rendered + varied, reduced to CQT and features; cached in DATASET/features);
    the best model by validation loss is saved in OUT (config.json + model.safetensors), with the linear baselines
    fitted on the same training notes in OUT/baselines/ (JSON). Evaluate with `dlmir evaluate instruments OUT DIR`.
    """
    from dataclasses import asdict

    from dlmir.errors import DlmirError
    from dlmir.instruments.baselines import fit_baseline
    from dlmir.train.instruments import InstrumentTrainConfig, build_model, train_instruments
    from dlmir.train.regularizers import Regularization

    try:
        if model not in MODEL_KINDS:
            raise _fail(f"--model must be one of {', '.join(MODEL_KINDS)}, got {model!r}")
        note_aug, batch_aug = _note_augment(augment)
        arch: dict = {}
        if config is not None:
            doc = json.loads(Path(config).read_text())
            arch = {k: v for k, v in doc.get("model", {}).items() if k not in ("kind", "classes", "seed")}
            lr = lr or float(doc.get("train", {}).get("lr", 0.0))
            weight_decay = float(doc.get("reg", {}).get("weight_decay", weight_decay))
        limit = max_items or None
        kw = {"augment": note_aug, "preset": production, "seed": seed, "jobs": jobs, "limit": limit}
        train_notes = _notes(dataset, "train", variants=variants if note_aug else 0, **kw)
        val_notes = _notes(dataset, "valid", variants=1 if note_aug else 0, **kw)
        cfg = InstrumentTrainConfig(
            epochs=epochs,
            batch_size=batch_size or (64 if model == "cnn" else 256),
            lr=lr or (1e-3 if model == "cnn" else 2e-3),
            patience=patience,
            seed=seed,
            augment=batch_aug,
            steps_per_epoch=steps_per_epoch or None,
            data={"dataset": str(dataset), "variants": variants, "note_augment": note_aug, "production": production},
        )
        net = build_model(model, classes=list(train_notes.classes), seed=seed, **arch)
        out.mkdir(parents=True, exist_ok=True)
        summary = train_instruments(net, train_notes, val_notes, config=cfg, reg=Regularization(weight_decay),
                                    run_dir=out, resume=resume, init=init)  # fmt: skip
        fitted = all((out / "baselines" / f"{k}.json").is_file() for k in ("svm", "logreg"))
        if baselines and not (resume and fitted):
            labels = [train_notes.classes[i] for i in train_notes.label]
            for kind in ("svm", "logreg"):
                base = fit_baseline(train_notes.features, labels, kind=kind, classes=list(train_notes.classes))
                base.info["data"] = asdict(cfg)["data"]
                base.save(out / "baselines" / f"{kind}.json")
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    last = summary["history"][-1] if summary["history"] else {}
    loss, acc = last.get("val_loss", float("nan")), last.get("val_accuracy", float("nan"))
    typer.echo(
        f"trained {summary['epoch']} epochs ({summary['step']} steps); last val_loss {loss:.4f}, val_accuracy {acc:.3f}"
        f" -> {out}"
    )


@search_app.command("instruments")
def search_instruments_cmd(
    dataset: Path = typer.Argument(..., help="Note dataset (dlmir data instruments)."),
    model: str = typer.Option("mlp", "--model", "-m", help="mlp | cnn."),
    out: Path = typer.Option(Path("runs/search-instruments"), "--out", "-o", help="Folder of the trials."),
    trials: int = typer.Option(8, "--trials", help="Random trials."),
    epochs: int = typer.Option(10, "--epochs", help="Epochs per trial."),
    steps_per_epoch: int = typer.Option(0, "--steps-per-epoch", help="Batches per epoch (0: the whole set)."),
    augment: str = typer.Option(ALL_AUGMENT, "--augment", help="As for dlmir train instruments."),
    variants: int = typer.Option(2, "--variants", help="Variations per training note."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler and of trial k (seed + k)."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Processes preparing the notes."),
    max_items: int = typer.Option(0, "--max-items", help="Only the first N notes of each split (quick checks)."),
) -> None:
    """Random search over learning rate, dropout, width and weight decay; writes OUT/trials.csv and OUT/best.json
    (train it with `dlmir train instruments DATASET --config OUT/best.json`)."""
    from dlmir.errors import DlmirError
    from dlmir.train.instruments import InstrumentTrainConfig, random_search_instruments

    try:
        if model not in MODEL_KINDS:
            raise _fail(f"--model must be one of {', '.join(MODEL_KINDS)}, got {model!r}")
        note_aug, batch_aug = _note_augment(augment)
        kw = {"augment": note_aug, "preset": "realistic", "seed": seed, "jobs": jobs, "limit": max_items or None}
        train_notes = _notes(dataset, "train", variants=variants if note_aug else 0, **kw)
        val_notes = _notes(dataset, "valid", variants=1 if note_aug else 0, **kw)
        cfg = InstrumentTrainConfig(
            epochs=epochs, batch_size=64 if model == "cnn" else 256, augment=batch_aug, progress_bar=False,
            steps_per_epoch=steps_per_epoch or None, data={"dataset": str(dataset), "variants": variants},
        )  # fmt: skip
        best = random_search_instruments(model, train_notes, val_notes, out, trials=trials, seed=seed, config=cfg)
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"best trial {best['trial']}: val_loss {best['val_loss']:.4f}, val_accuracy {best['val_accuracy']:.3f}")
    typer.echo(f"written {out / 'trials.csv'} and {out / 'best.json'}")


@evaluate_app.command("instruments")
def evaluate_instruments_cmd(
    model: str = typer.Argument(..., help="Model folder, 'default' or a baseline .json."),
    source: Path = typer.Argument(..., help="Note dataset, or a folder with one sub-folder of audio per class."),
    also: list[str] = typer.Option([], "--also", "-a", help="Further models to compare (repeat)."),
    split: str = typer.Option("test", "--split", help="Split of a note dataset."),
    production: str = typer.Option(
        "", "--production", help="Also score produced notes: realistic | heavy (a second set of columns)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write OUT.md, OUT.json and OUT-<model>.png (confusion)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the production."),
    max_items: int = typer.Option(0, "--max-items", help="Only the first N files (quick checks)."),
) -> None:
    """Accuracy, top-3, balanced accuracy and per-class recall of MODEL on labelled notes, in one table with every
    model stored beside it (MODEL/baselines/*.json: the linear SVM and logistic regression; MODEL/<sub>/: e.g. the
    MLP) and each --also model, all on the same note windows.

    Class folders may use other names (double_bass, horn, sax, ...: dlmir.instruments.aliases).
    """
    from dlmir.errors import DlmirError
    from dlmir.instruments.evaluate import companions, evaluate_instruments, markdown_table, plot_confusion
    from dlmir.instruments.recognition import SHIPPED_DIR

    models: dict[str, object] = {}
    main_dir = SHIPPED_DIR if model == "default" else Path(model)
    models["default" if model == "default" else (Path(model).stem or model)] = model
    for name, path in companions(main_dir).items():
        models.setdefault(name, path)
    for m in also:
        name = Path(m).stem if m != "default" else "default"
        while name in models:
            name += "'"
        models[name] = m
    try:
        evals = [evaluate_instruments(models, source, split=split, progress=True, limit=max_items or None)]
        if production:
            evals.append(evaluate_instruments(models, source, split=split, production=production, seed=seed,
                                              progress=True, limit=max_items or None))  # fmt: skip
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    for path, message in evals[0].failed:
        line = message if path in message else f"{path}: {message}"
        typer.echo(f"skipped: {line}", err=True)
    text = markdown_table(evals)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text)
        doc = [{"condition": ev.condition, "source": ev.source, "failed": ev.failed,
                "scores": {n: s.to_dict() for n, s in ev.scores.items()}} for ev in evals]  # fmt: skip
        out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
        for name, scores in evals[0].scores.items():
            plot_confusion(scores, out.with_name(f"{out.name}-{name}.png"))
        typer.echo(f"written {out.with_suffix('.md')}, {out.with_suffix('.json')} and confusion matrices")
