"""``dlmir features``: compute one front end for many audio files, one ``.npy`` (and optional ``.png``) each."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from dlmir.cli.app import app


class Kind(StrEnum):
    stft = "stft"
    mel = "mel"
    mfcc = "mfcc"
    cqt = "cqt"
    chroma = "chroma"
    onset = "onset"


@app.command()
def features(
    audio: list[Path] = typer.Argument(..., help="Audio files (wav, flac, ogg, mp3, ...)."),
    kind: Kind = typer.Option(Kind.mel, "--kind", "-k", help="Which front end to compute."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for <stem>.npy (and <stem>.png with --plot)."),
    plot: bool = typer.Option(False, "--plot", help="Also draw each feature to <stem>.png."),
    sr: int = typer.Option(22050, "--sr", help="Sampling rate in Hz to load the audio at."),
    hop_length: int = typer.Option(512, "--hop-length", help="Samples between frames."),
) -> None:
    """Compute a designed front end for each AUDIO file; writes (features, frames) arrays to OUT.

    stft and cqt are saved as magnitudes. Failed files are named at the end (exit status 1); the rest still run.
    """
    from tqdm import tqdm

    from dlmir.errors import DlmirError
    from dlmir.frontends import extract_file, frontend

    try:
        fe = frontend(kind.value, sr=sr, hop_length=hop_length)  # built (and checked) once, before any file
    except DlmirError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    stems: dict[str, Path] = {}
    for path in audio:
        if path.stem in stems:
            typer.echo(f"error: {stems[path.stem]} and {path} would both write {path.stem}.npy; rename one", err=True)
            raise typer.Exit(2)
        stems[path.stem] = path
    failed: list[tuple[Path, str]] = []
    written = 0
    for path in tqdm(audio, desc=f"{kind.value} features", unit="file", disable=len(audio) < 2):
        try:
            extract_file(path, kind.value, out, sr=sr, hop_length=hop_length, plot=plot, fe=fe)
            written += 1
        except DlmirError as exc:
            message = str(exc)
            failed.append((path, message if str(path) in message else f"{path}: {message}"))
    typer.echo(f"wrote {kind.value} features for {written} of {len(audio)} file(s) to {out}")
    if failed:
        for _, message in failed:
            typer.echo(f"failed: {message}", err=True)
        raise typer.Exit(1)
