"""How parameters are found: Lightning training, regularisers, random hyper-parameter search.

Modules: ``config`` (:class:`TrainConfig`), ``losses`` (targets and losses), ``schedules``
(learning-rate schedules), ``checkpoint`` (safetensors + JSON resume state), ``regularizers``,
``base`` (the loop every run shares), ``module`` (learned chroma: the LightningModule and :func:`train`),
``chords`` (chord models: :func:`train_chords`), ``search`` (random search).

Attributes are imported lazily, so that importing one of them does not pay for importing them all
(Lightning, optuna). Training data comes from :mod:`dlmir.data` (the same pipeline inference uses).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Regularization": "dlmir.train.regularizers",
    "activation_penalty": "dlmir.train.regularizers",
    "apply_max_norm": "dlmir.train.regularizers",
    "l1_penalty": "dlmir.train.regularizers",
    "TrainConfig": "dlmir.train.config",
    "LOSSES": "dlmir.train.losses",
    "chroma_loss": "dlmir.train.losses",
    "chroma_targets": "dlmir.train.losses",
    "template_loss": "dlmir.train.losses",
    "OneCycle": "dlmir.train.schedules",
    "read_state": "dlmir.train.checkpoint",
    "save_state": "dlmir.train.checkpoint",
    "train": "dlmir.train.module",
    "ChordTrainConfig": "dlmir.train.chords",
    "train_chords": "dlmir.train.chords",
    "random_search": "dlmir.train.search",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dlmir.train' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
