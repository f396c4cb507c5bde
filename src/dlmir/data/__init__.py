"""Data in, tensors out: dataset manifests, the feature cache, torch datasets, augmentations.

Submodules are imported on first use, so ``import dlmir.data`` stays cheap:

- :mod:`dlmir.data.manifest` -- ``manifest.csv`` read/write/validate, :func:`summarize` (``dlmir data check``)
- :mod:`dlmir.data.cache` -- :class:`FeatureCache`, features computed once per front end and stored as ``.npy``
- :mod:`dlmir.data.datasets` -- :class:`ChordDataset` (the one chord pipeline: training, search, evaluation),
  :func:`build_split`, :func:`chord_tracks`, :class:`InstrumentDataset`
- :mod:`dlmir.data.excerpts` -- :class:`Excerpts`, whole chord tracks cut into fixed-length excerpts (sequence
  models; optional per-epoch jitter)
- :mod:`dlmir.data.frames` -- per-frame chord targets and templates, context windows
- :mod:`dlmir.data.augment` -- semitone rotation, noise, MP3 round trip
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ManifestRow": "manifest",
    "read_manifest": "manifest",
    "write_manifest": "manifest",
    "validate_manifest": "manifest",
    "summarize": "manifest",
    "FeatureCache": "cache",
    "ChordDataset": "datasets",
    "InstrumentDataset": "datasets",
    "find_pairs": "datasets",
    "chord_tracks": "datasets",
    "build_split": "datasets",
    "Excerpts": "excerpts",
    "excerpt_frames_for": "excerpts",
    "frame_targets": "frames",
    "frame_templates": "frames",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"dlmir.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'dlmir.data' has no attribute {name!r}")
