"""The example shipped inside the package: 12.75 s of piano + bass chords with exact labels.

Rendered once through the FluidR3 GM soundfont (MIT licence) by ``scripts/make_example.py``; its
``.lab`` holds Harte labels (``C:maj``, ``A:min``, ``G:7``, ``D:min7``, ...) with times in seconds.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def example_audio() -> Path:
    """Path of the bundled example audio (FLAC, 22050 Hz mono, 12.75 s)."""
    return Path(str(resources.files("dlmir") / "assets" / "example.flac"))


def example_labels() -> Path:
    """Path of the bundled example's chord annotation (``start<TAB>end<TAB>label``, seconds)."""
    return Path(str(resources.files("dlmir") / "assets" / "example.lab"))
