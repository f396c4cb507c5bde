"""The Typer apps every command module registers on: ``app`` and its groups."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="dlmir: deep learning in music informatics.")
data_app = typer.Typer(no_args_is_help=True, help="Build, featurise and inspect datasets.")
train_app = typer.Typer(no_args_is_help=True, help="Train models.")
search_app = typer.Typer(no_args_is_help=True, help="Random hyperparameter search.")
plot_app = typer.Typer(no_args_is_help=True, help="Plots of trained models.")
evaluate_app = typer.Typer(no_args_is_help=True, help="Evaluate trained models with mir_eval.")
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")
app.add_typer(search_app, name="search")
app.add_typer(plot_app, name="plot")
app.add_typer(evaluate_app, name="evaluate")


def fail(message: object, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; return the ``typer.Exit`` to raise (exit code ``code``)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def report_file_error(bar: Any, failed: list[str], path: Path, exc: Exception) -> None:
    """One file of many failed: append a one-line message naming the file to ``failed`` and write it on stderr
    above the progress bar ``bar`` (a tqdm); the caller goes on with the next file."""
    message = str(exc)
    line = message if str(path) in message else f"{path}: {message}"
    failed.append(line)
    bar.write(f"error: {line}".replace("\n", " "), file=sys.stderr)
