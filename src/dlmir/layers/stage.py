"""Base class shared by every stage of the vocabulary: parameters that can be frozen or trained."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def as_parameter(value: np.ndarray | torch.Tensor, trainable: bool) -> nn.Parameter:
    """Wrap a designed array as a parameter, frozen (``requires_grad=False``) unless ``trainable``.

    Designed parameters are always :class:`torch.nn.Parameter`, so they appear in ``state_dict``,
    move with ``.to(device)`` and can be unfrozen later; freezing only toggles ``requires_grad``.
    Numpy arrays keep their precision (float64 stays float64 until the module is cast).
    """
    tensor = torch.as_tensor(np.asarray(value)) if not isinstance(value, torch.Tensor) else value
    return nn.Parameter(tensor.detach().clone(), requires_grad=trainable)


class Stage(nn.Module):
    """A module whose parameters can be frozen or unfrozen as a whole.

    ``stage.trainable`` is True when any parameter requires a gradient.
    """

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def freeze(self) -> Stage:
        """Stop gradients to every parameter of this stage; returns ``self``."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def unfreeze(self) -> Stage:
        """Let every parameter of this stage be trained; returns ``self``."""
        for p in self.parameters():
            p.requires_grad_(True)
        return self
