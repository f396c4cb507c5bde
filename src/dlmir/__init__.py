"""dlmir: deep learning in music informatics.

Classic MIR features are shallow deep networks: cascades of affine transforms,
pointwise nonlinearities and pooling. dlmir builds them from that vocabulary
(:mod:`dlmir.layers`), starts them at their designed parameters
(:mod:`dlmir.frontends`) and lets you learn the parameters from data.
"""

from __future__ import annotations

from dlmir.errors import AnnotationError, AudioError, DependencyError, DlmirError, ParameterError

__version__ = "0.1.0"

__all__ = [
    "AnnotationError",
    "AudioError",
    "DependencyError",
    "DlmirError",
    "ParameterError",
    "__version__",
]
