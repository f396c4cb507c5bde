"""dlmir: deep learning in music informatics.

Classic MIR features are shallow deep networks: cascades of affine transforms,
pointwise nonlinearities and pooling. dlmir builds them from that vocabulary
(:mod:`dlmir.layers`), starts them at their designed parameters
(:mod:`dlmir.frontends`) and lets you learn the parameters from data.
"""

from __future__ import annotations

from dlmir.errors import AnnotationError, AudioError, DependencyError, DlmirError, ParameterError

__version__ = "0.1.0"

_SUBMODULES = frozenset(
    {
        "analysis",
        "annotations",
        "chords",
        "data",
        "display",
        "evaluate",
        "examples",
        "filters",
        "frontends",
        "instruments",
        "io",
        "layers",
        "models",
        "pretrain",
        "rhythm",
        "train",
        "transcription",
    }
)


def __getattr__(name: str) -> object:
    """Import a submodule on first use, so ``import dlmir; dlmir.io.load(...)`` works without importing
    every submodule (and torch) up front."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"dlmir.{name}")
    raise AttributeError(f"module 'dlmir' has no attribute {name!r}")


__all__ = [
    "AnnotationError",
    "AudioError",
    "DependencyError",
    "DlmirError",
    "ParameterError",
    "__version__",
]
