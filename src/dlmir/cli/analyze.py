"""``dlmir analyze``: what a trained (or shipped) network learned, as PNGs and a Markdown summary.

Thin: :func:`dlmir.analysis.analyze` does the work.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dlmir.cli.app import app


@app.command("analyze")
def analyze_cmd(
    run: str = typer.Argument(
        ...,
        help="A model/run folder (config.json + model.safetensors) or a shipped name: default, chordnet, tempo, "
        "instruments.",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Output folder (default: RUN/analysis for a folder, analysis-NAME for a shipped name).",
    ),
    audio: Path = typer.Option(None, "--audio", help="Audio file of the saliency map (default: the shipped example)."),
    target: str = typer.Option(
        None, "--class", help="Class of the saliency map, by name or index (default: the model's top class)."
    ),
    units: int = typer.Option(8, "--units", help="Units shown in the top-activations figure (the most active)."),
    top: int = typer.Option(5, "--top", help="Top activating excerpts per unit."),
    examples: Path = typer.Option(
        None,
        "--examples",
        help="Folder of audio to find top activating inputs in (default: dlmir's rendered examples).",
    ),
    seconds: float = typer.Option(2.0, "--seconds", help="Length of each excerpt in seconds."),
    duration: float = typer.Option(15.0, "--duration", help="Seconds of --audio used for the saliency map."),
    device: str = typer.Option("cpu", "--device", help="Where the model runs: cpu, cuda, cuda:1, ..."),
) -> None:
    """Analyse what a network learned: first-layer filters as spectra over pitch, designed vs learned (chroma,
    tempo; per-tensor relative change), top activating excerpts of its most active units, and an input-gradient
    saliency map; writes PNGs, summary.md and numbers.json into --out."""
    from dlmir.analysis import analyze
    from dlmir.errors import DlmirError
    from dlmir.models import SHIPPED

    folder = out or (Path(f"analysis-{run}") if run in SHIPPED else Path(run) / "analysis")
    try:
        report = analyze(run, folder, audio=audio, target=target, units=units, top=top, examples=examples,
                         seconds=seconds, duration=duration, device=device)  # fmt: skip
    except (DlmirError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for name, path in report.figures.items():
        typer.echo(f"written {path} ({name})")
    for part, why in report.skipped.items():
        typer.echo(f"skipped {part}: {why}")
    typer.echo(f"written {report.summary}")
