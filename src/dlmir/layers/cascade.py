"""``Cascade``: named stages applied in order, each listable, replaceable, freezable."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import torch
from torch import nn

from dlmir.errors import ParameterError


class Cascade(nn.Module):
    """Apply named stages in order: ``affine -> nonlinearity -> pooling -> ...``.

    >>> from dlmir.layers import Cascade, Dense, HalfWaveRectify
    >>> net = Cascade(proj=Dense.random(4, 3), rect=HalfWaveRectify())
    >>> net.names
    ['proj', 'rect']

    A stage is any ``nn.Module``; ``net['proj']`` fetches one, ``net.replace('rect', m)`` swaps it,
    ``net.freeze('proj')`` / ``net.unfreeze('proj')`` toggle its parameters (no name: all of them).
    ``net.trainable_stages`` lists the stages that currently learn.
    """

    def __init__(self, stages: OrderedDict[str, nn.Module] | None = None, /, **named: nn.Module) -> None:
        super().__init__()
        self.stages = nn.ModuleDict()
        for name, module in list((stages or {}).items()) + list(named.items()):
            self.append(name, module)

    # -- listing -------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Stage names, in the order they are applied."""
        return list(self.stages.keys())

    def __getitem__(self, name: str) -> nn.Module:
        self._check(name)
        return self.stages[name]

    def __iter__(self) -> Iterator[tuple[str, nn.Module]]:
        return iter(self.stages.items())

    def __len__(self) -> int:
        return len(self.stages)

    def _check(self, name: str) -> None:
        if name not in self.stages:
            raise ParameterError(f"no stage named {name!r}; stages are {self.names}")

    # -- editing -------------------------------------------------------------------------------
    def append(self, name: str, module: nn.Module) -> Cascade:
        """Add a stage at the end; returns ``self``."""
        if name in self.stages:
            raise ParameterError(f"a stage named {name!r} already exists; use replace()")
        if not isinstance(module, nn.Module):
            raise ParameterError(f"stage {name!r} must be a torch.nn.Module, got {type(module).__name__}")
        self.stages[name] = module
        return self

    def replace(self, name: str, module: nn.Module) -> nn.Module:
        """Swap the stage called ``name`` for ``module``; returns the old stage."""
        self._check(name)
        old = self.stages[name]
        self.stages[name] = module
        return old

    def freeze(self, *names: str) -> Cascade:
        """Freeze the named stages (all stages when no name is given); returns ``self``."""
        for name in names or self.names:
            for p in self[name].parameters():
                p.requires_grad_(False)
        return self

    def unfreeze(self, *names: str) -> Cascade:
        """Unfreeze the named stages (all stages when no name is given); returns ``self``."""
        for name in names or self.names:
            for p in self[name].parameters():
                p.requires_grad_(True)
        return self

    @property
    def trainable_stages(self) -> list[str]:
        """Names of the stages with at least one parameter that requires a gradient."""
        return [n for n, m in self.stages.items() if any(p.requires_grad for p in m.parameters())]

    # -- running -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.stages.values():
            x = module(x)
        return x

    def run_until(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Apply the stages up to and including ``name``; returns that intermediate output."""
        self._check(name)
        for key, module in self.stages.items():
            x = module(x)
            if key == name:
                break
        return x
