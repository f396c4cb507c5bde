"""The ``dlmir`` command line: thin wrappers over the library (nothing is implemented only here).

Each command group lives in its own module and registers itself on the apps in
:mod:`dlmir.cli.app`; :func:`main` imports them all and runs.
"""

from __future__ import annotations

import importlib

from dlmir.cli.app import app

_COMMAND_MODULES = [
    "demo",
    "features",
    "data_build",
    "data_inspect",
    "learn",
    "learn_chords",
    "learn_tempo",
    "chroma",
    "chords",
    "search_chords",
    "tempo",
    "rhythm",
    "instruments",
    "transcribe",
    "learn_transcription",
    "pretrain",
    "analyze",
]


def main() -> None:
    """Entry point of the ``dlmir`` console script."""
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"dlmir.cli.{name}")
        except ModuleNotFoundError as exc:  # a command module not written yet
            if exc.name != f"dlmir.cli.{name}":
                raise
    app()


__all__ = ["app", "main"]
