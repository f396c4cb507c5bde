"""How parameters are found: Lightning training, regularisers, random hyper-parameter search.

Attributes are imported lazily, so that ``dlmir.train.chord_data`` (used at inference time) does not
pay for importing Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Regularization": "dlmir.train.regularizers",
    "activation_penalty": "dlmir.train.regularizers",
    "apply_max_norm": "dlmir.train.regularizers",
    "l1_penalty": "dlmir.train.regularizers",
    "TrainConfig": "dlmir.train.module",
    "chroma_loss": "dlmir.train.module",
    "chroma_targets": "dlmir.train.module",
    "read_state": "dlmir.train.module",
    "template_loss": "dlmir.train.module",
    "train": "dlmir.train.module",
    "random_search": "dlmir.train.search",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dlmir.train' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
