"""``dlmir tempo``: the tempo of audio files; ``dlmir evaluate tempo``; ``dlmir plot tempo-model``.

Thin: :func:`dlmir.rhythm.tempo.estimate_tempo` does the work, :func:`dlmir.rhythm.tempo.evaluate_tempo` the
evaluation and :func:`dlmir.rhythm.tempo.plot_tempo_model` the figure.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dlmir.cli.app import app, evaluate_app, plot_app, report_file_error
from dlmir.cli.app import fail as _fail


@app.command("tempo")
def tempo_cmd(
    audio: list[Path] = typer.Argument(..., help="Audio files (any format soundfile or librosa reads)."),
    model: str = typer.Option(
        "tempo", "--model", "-m", help="'tempo' (the shipped learned cascade), 'designed', or a Tempo model folder."
    ),
    designed: bool = typer.Option(False, "--designed", help="The untrained cascade (same as --model designed)."),
) -> None:
    """Tempo of each AUDIO file, MIREX style: one line ``bpm1 bpm2 strength`` (two tempi in BPM and the relative
    strength of the first, in [0, 1]); ``nan nan nan`` when there is no tempo (digital silence).

    With several files a ``# FILE`` line comes before each. A file that fails (unreadable, NaN, shorter than one
    period of the slowest tempo) is reported on one line and the others are still processed; the exit code is then 1.
    """
    from tqdm import tqdm

    from dlmir.errors import DlmirError
    from dlmir.io import load
    from dlmir.rhythm.tempo import estimate_tempo, load_tempo_model

    try:
        fe = load_tempo_model("designed" if designed else model)
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    failed: list[str] = []
    bar = tqdm(audio, desc="tempo", unit="file", disable=len(audio) < 2)
    for path in bar:
        try:
            y, sr = load(path, sr=fe.sr)
            est = estimate_tempo(y, sr, model=fe)
        except (DlmirError, OSError) as exc:
            report_file_error(bar, failed, path, exc)
            continue
        if len(audio) > 1:
            typer.echo(f"# {path}")
        typer.echo(est.line())
    if failed:
        typer.echo(f"failed: {len(failed)} of {len(audio)} file(s)", err=True)
        raise typer.Exit(1)


@evaluate_app.command("tempo")
def evaluate_tempo_cmd(
    folder: Path = typer.Argument(
        ..., help="Folder of audio files with .tempo or .bpm files of the same stem, or a dlmir band dataset."
    ),
    model: str = typer.Option(
        "tempo", "--model", "-m", help="The 'dlmir learned' row: 'tempo' (shipped), a model folder, or 'none'."
    ),
    split: str = typer.Option("test", "--split", help="Split of a dlmir dataset (tempo from its exact .beats)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write OUT.md (the table) and OUT.csv (per file)."),
) -> None:
    """One table, one run, the same audio: dlmir's designed tempo estimator, a learned one (--model; the shipped
    one by default) and librosa.feature.tempo; Acc1 and Acc2 (4 %, Acc2 also at 2, 3, 1/2, 1/3 times the
    reference) and mir_eval's P-score (8 %), in %, averaged over files."""
    from dlmir.errors import DlmirError
    from dlmir.rhythm.tempo import evaluate_tempo, find_tempo_pairs

    try:
        learned = None if model in ("none", "") else model
        report = evaluate_tempo(find_tempo_pairs(folder, split=split), model=learned, progress=True)
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    for line in report.failed:
        typer.echo(f"error: {line}".replace("\n", " "), err=True)
    text = report.markdown()
    typer.echo(text)
    if out is not None:
        import csv

        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text + "\n")
        if report.per_file:
            with out.with_suffix(".csv").open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(report.per_file[0]))
                writer.writeheader()
                writer.writerows(report.per_file)
        typer.echo(f"written {out.with_suffix('.md')} and {out.with_suffix('.csv')}")
    if report.failed:
        raise typer.Exit(1)


@plot_app.command("tempo-model")
def plot_tempo_model_cmd(
    model: str = typer.Argument(None, help="A trained Tempo model folder (omit: the designed estimator alone)."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
) -> None:
    """Designed against learned: band weights, comb-filter gains (as half-energy times), the tempo prior, and
    both estimators' tempo spectra of a 120 BPM click track."""
    from dlmir.errors import DlmirError
    from dlmir.rhythm.tempo import load_tempo_model, plot_tempo_model

    try:
        models = {"designed": load_tempo_model("designed")}
        if model is not None:
            models["learned"] = load_tempo_model(model)
        path = plot_tempo_model(models, out)
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"written {path}")
