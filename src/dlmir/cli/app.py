"""The Typer apps every command module registers on: ``app`` and its groups."""

from __future__ import annotations

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
