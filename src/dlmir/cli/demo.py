"""``dlmir demo``: the main job on the bundled example (or your audio), no data or downloads needed."""

from __future__ import annotations

from pathlib import Path

import typer

from dlmir.cli.app import app


@app.command()
def demo(
    audio: Path = typer.Argument(None, help="Audio file to analyse (default: the bundled 12.75 s chord example)."),
    out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Folder for the figures, features and labels."),
) -> None:
    """Run every designed front end, learned chroma and chord recognition on one recording.

    Writes the features (.npy), a figure of all front ends, designed vs learned chroma, and the
    recognised chords (.lab and .jams); on the bundled example, also prints mir_eval's scores.
    """
    from dlmir.demo import run_demo
    from dlmir.errors import DlmirError

    try:
        report = run_demo(audio, out)
    except DlmirError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for line in report:
        typer.echo(line)
