"""How parameters are found: Lightning training, regularisers, random hyper-parameter search."""

from __future__ import annotations

from dlmir.train.module import TrainConfig, chroma_loss, chroma_targets, read_state, train
from dlmir.train.regularizers import Regularization, activation_penalty, apply_max_norm, l1_penalty

__all__ = [
    "Regularization",
    "TrainConfig",
    "activation_penalty",
    "apply_max_norm",
    "chroma_loss",
    "chroma_targets",
    "l1_penalty",
    "read_state",
    "train",
]
