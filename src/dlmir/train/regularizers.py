"""Regularisers for learned models, each a switch: weight decay, L1 sparsity, max-norm, dropout, data-driven init.

Weight decay is the optimiser's (``torch.optim.AdamW(weight_decay=...)``); dropout and the
data-driven (PCA) initialisation are options of the model (:class:`~dlmir.models.LearnedChroma`
``dropout=`` / ``hidden_init='pca'``). This module holds the penalties added to the loss and the
max-norm projection applied after each optimiser step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from dlmir.errors import ParameterError


@dataclass
class Regularization:
    """Regulariser switches; 0 (or None) turns one off.

    Attributes
    ----------
    weight_decay : float
        Decoupled L2 weight decay of AdamW (per step, relative to the learning rate).
    l1 : float
        Coefficient of the L1 norm of the affine weights (sparse weights), ``l1 * sum |W|``.
    l1_activations : float
        Coefficient of the mean absolute hidden activation (sparse codes; 2-layer models),
        or of the mean absolute pre-output chroma for 1-layer models.
    max_norm : float or None
        Largest L2 norm allowed for each unit's incoming weights (a row of a dense weight); rows
        above it are rescaled onto the ball after every optimiser step.
    """

    weight_decay: float = 0.0
    l1: float = 0.0
    l1_activations: float = 0.0
    max_norm: float | None = None

    def __post_init__(self) -> None:
        for name in ("weight_decay", "l1", "l1_activations"):
            if getattr(self, name) < 0:
                raise ParameterError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_norm is not None and not self.max_norm > 0:
            raise ParameterError(f"max_norm must be > 0 (or None to switch it off), got {self.max_norm}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def active(self) -> bool:
        return bool(self.weight_decay or self.l1 or self.l1_activations or self.max_norm)


def dense_weights(model: nn.Module) -> list[torch.Tensor]:
    """The trainable 2-D weight matrices of ``model`` (affine maps; biases excluded)."""
    return [p for name, p in model.named_parameters() if p.requires_grad and p.ndim == 2 and name.endswith("weight")]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """``sum |W|`` over the trainable dense weights of ``model`` (a scalar tensor)."""
    weights = dense_weights(model)
    if not weights:
        return torch.zeros(())
    return sum(w.abs().sum() for w in weights)  # type: ignore[return-value]


def activation_penalty(activations: torch.Tensor) -> torch.Tensor:
    """Mean absolute activation (L1 sparsity of a layer's outputs), a scalar tensor."""
    return activations.abs().mean()


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> int:
    """Rescale each row of every trainable dense weight to L2 norm <= ``max_norm``; returns rows changed."""
    changed = 0
    for w in dense_weights(model):
        norms = w.norm(dim=1, keepdim=True)
        over = norms > max_norm
        changed += int(over.sum())
        w.mul_(torch.where(over, max_norm / norms.clamp_min(1e-12), torch.ones_like(norms)))
    return changed


__all__ = ["Regularization", "activation_penalty", "apply_max_norm", "dense_weights", "l1_penalty"]
