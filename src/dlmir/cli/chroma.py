"""``dlmir chroma``: learned chroma of audio files with a trained model, streamed in bounded memory."""

from __future__ import annotations

from pathlib import Path

import typer

from dlmir.cli.app import app


@app.command("chroma")
def chroma_cmd(
    audio: list[Path] = typer.Argument(..., help="Audio files."),
    model: str = typer.Option("default", "--model", "-m", help="Run folder or 'default' (shipped model)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for <stem>.npy (12, frames) and optional PNG."),
    plot: bool = typer.Option(False, "--plot", help="Also draw <stem>.png."),
    block_seconds: float = typer.Option(
        60.0, "--block-seconds", help="Seconds of audio per block (memory is bounded by this, not the file)."
    ),
) -> None:
    """Learned chroma (12 x frames, at the model's front end's hop) of each AUDIO file, with a trained model.

    Long files are streamed in overlapping blocks (the model's context frames included), so memory does not grow
    with their length; the result equals one pass over the whole file.
    """
    import numpy as np

    from dlmir.errors import DlmirError
    from dlmir.frontends.streaming import write_frames
    from dlmir.models import load, model_frontend

    try:
        net = load(model)
        fe = model_frontend(net)
    except DlmirError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    net.eval()
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    for path in audio:
        try:
            target = out / f"{path.stem}.npy"
            shape = write_frames(fe, path, target, block_seconds=block_seconds, head=net)
            if plot:
                from dlmir.display import plot_chromagrams

                chroma = np.load(target, mmap_mode="r")
                plot_chromagrams({f"learned chroma: {path.name}": chroma}, out / f"{path.stem}.png")
            typer.echo(f"{path} -> {target} {shape}")
        except DlmirError as exc:
            message = str(exc)
            failed.append(message if str(path) in message else f"{path}: {message}")
    if failed:
        typer.echo("failed:\n" + "\n".join(failed), err=True)
        raise typer.Exit(1)
