"""``dlmir onsets`` / ``dlmir beats``: onset and beat times of audio files; ``dlmir evaluate onsets|beats``.

Thin: :func:`dlmir.rhythm.onsets.detect_onsets`, :func:`dlmir.rhythm.beats.track_beats` and
:mod:`dlmir.rhythm.evaluate` do the work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import typer

from dlmir.cli.app import app, evaluate_app, report_file_error
from dlmir.cli.app import fail as _fail

SR = 22050
"""The rate (Hz) audio files are loaded at."""


def _times_of_files(audio: list[Path], out: Path | None, suffix: str, estimate: Callable[[np.ndarray, float],
                    np.ndarray]) -> None:  # fmt: skip
    """Run ``estimate(y, sr) -> seconds`` on every file: print the times (a ``# FILE`` line before each file's when
    there are several) or write ``OUT/<stem>.<suffix>``; a failing file is one stderr line, the rest go on, exit 1."""
    from tqdm import tqdm

    from dlmir.errors import DlmirError
    from dlmir.io import load
    from dlmir.rhythm.evaluate import write_events

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    bar = tqdm(audio, desc=suffix, unit="file", disable=len(audio) < 2)
    for path in bar:
        try:
            y, sr = load(path, sr=SR)
            times = estimate(y, sr)
        except (DlmirError, OSError) as exc:
            report_file_error(bar, failed, path, exc)
            continue
        if out is None:
            if len(audio) > 1:
                typer.echo(f"# {path}")
            if len(times):
                typer.echo("\n".join(f"{t:.3f}" for t in times))
            continue
        target = write_events(out / f"{path.stem}.{suffix}", times)
        bar.write(f"{path} -> {target} ({len(times)} {suffix})")
    if failed:
        typer.echo(f"failed: {len(failed)} of {len(audio)} file(s)", err=True)
        raise typer.Exit(1)


@app.command("onsets")
def onsets_cmd(
    audio: list[Path] = typer.Argument(..., help="Audio files (any format soundfile or librosa reads)."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for <stem>.onsets; default: print the times."),
    delta: float = typer.Option(0.07, "--delta", help="Peak threshold above the moving mean (novelty in [0, 1])."),
    wait: float = typer.Option(0.03, "--wait", help="Minimum seconds between onsets."),
) -> None:
    """Onset times of each AUDIO file in seconds, one per line (3 decimals): peaks of the spectral-flux novelty.

    Without -o the times are printed (a ``# FILE`` line before each file's when there are several); with -o each
    file gets OUT/<stem>.onsets. Silence has no onsets (an empty list). A file that fails is reported on one line
    and the others are still processed; the exit code is then 1.
    """
    from dlmir.rhythm.onsets import detect_onsets

    if not delta >= 0 or not wait >= 0:
        raise _fail(f"--delta and --wait must be >= 0, got {delta} and {wait}")
    _times_of_files(audio, out, "onsets", lambda y, sr: detect_onsets(y, sr, delta=delta, wait=wait))


@app.command("beats")
def beats_cmd(
    audio: list[Path] = typer.Argument(..., help="Audio files (any format soundfile or librosa reads)."),
    out: Path = typer.Option(None, "--out", "-o", help="Folder for <stem>.beats; default: print the times."),
    bpm: float = typer.Option(None, "--bpm", help="The tempo in BPM (default: estimated per file)."),
    tightness: float = typer.Option(100.0, "--tightness", help="How strictly beats follow the tempo."),
    tempo_model: str = typer.Option(
        "tempo",
        "--tempo-model",
        help="Tempo estimator without --bpm: tempo (the shipped learned one) | designed | novelty | a model folder.",
    ),
) -> None:
    """Beat times of each AUDIO file in seconds, one per line (3 decimals): dynamic-programming beat tracking on the
    onset novelty at the tempo of --bpm, or else of the --tempo-model estimator (dlmir's tempo estimator by default).

    Without -o the times are printed (a ``# FILE`` line before each file's when there are several); with -o each
    file gets OUT/<stem>.beats. Silence has no beats (an empty list). A file that fails is reported on one line and
    the others are still processed; the exit code is then 1.
    """
    from dlmir.rhythm.beats import track_beats

    if bpm is not None and not (np.isfinite(bpm) and bpm > 0):
        raise _fail(f"--bpm must be a positive tempo in beats per minute, got {bpm}")
    if not tightness > 0:
        raise _fail(f"--tightness must be > 0, got {tightness}")
    if tempo_model not in ("designed", "novelty"):
        from dlmir.errors import DlmirError
        from dlmir.rhythm.tempo import load_tempo_model

        try:
            tempo_model = load_tempo_model(tempo_model)  # type: ignore[assignment]
        except DlmirError as exc:
            raise _fail(f"--tempo-model: {exc}") from exc
    _times_of_files(
        audio, out, "beats", lambda y, sr: track_beats(y, sr, bpm=bpm, tightness=tightness, tempo_model=tempo_model)
    )


def _evaluate(task: str, dataset: Path, split: str | None, out: Path | None, **kwargs: float) -> None:
    import csv

    from dlmir.errors import DlmirError
    from dlmir.rhythm.evaluate import evaluate_beats, evaluate_onsets, find_rhythm_pairs, rhythm_table

    run = evaluate_beats if task == "beats" else evaluate_onsets
    try:
        pairs = find_rhythm_pairs(dataset, task, split=split)
        scores = run(pairs, progress=True, **kwargs)
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    for line in scores.failed:
        typer.echo(f"error: {line}".replace("\n", " "), err=True)
    text = rhythm_table(scores)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(text + "\n")
        rows = scores.file_rows() + [{"file": "mean", **row} for row in scores.rows()]
        fields = ["file", "estimator", "items", *scores.columns]
        with out.with_suffix(".csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)
        typer.echo(f"written {out.with_suffix('.md')} and {out.with_suffix('.csv')}")
    if scores.failed:
        typer.echo(f"failed: {len(scores.failed)} of {len(pairs)} file(s)", err=True)
        raise typer.Exit(1)


@evaluate_app.command("beats")
def evaluate_beats_cmd(
    dataset: Path = typer.Argument(..., help="A band dataset (dlmir data band), or a folder of audio + .beats files."),
    split: str = typer.Option(None, "--split", help="Split of a dlmir dataset (default: test)."),
    min_beat_time: float = typer.Option(5.0, "--min-beat-time", help="Ignore beats before this (s), as MIREX."),
    out: Path = typer.Option(None, "--out", "-o", help="Write OUT.md (the table) and OUT.csv (per-file scores)."),
) -> None:
    """Beat F-measure, CMLt and AMLt (mir_eval, in %, mean over files) of dlmir's tracker and librosa's
    beat_track, run on the same audio in one run. A file that fails is reported on one line, the table shows the
    rest and the exit code is 1."""
    _evaluate("beats", dataset, split, out, min_beat_time=min_beat_time)


@evaluate_app.command("onsets")
def evaluate_onsets_cmd(
    dataset: Path = typer.Argument(..., help="A folder of audio + .onsets files of the same stem."),
    split: str = typer.Option(None, "--split", help="Split of a dlmir dataset (default: test)."),
    window: float = typer.Option(0.05, "--window", help="Tolerance in seconds (MIREX: 0.05)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write OUT.md (the table) and OUT.csv (per-file scores)."),
) -> None:
    """Onset F-measure, precision and recall (mir_eval, within --window, in %, mean over files) of dlmir's detector
    and librosa's onset_detect, run on the same audio in one run. A file that fails is reported on one line, the
    table shows the rest and the exit code is 1."""
    _evaluate("onsets", dataset, split, out, window=window)
