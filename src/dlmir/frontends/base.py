"""``FrontEnd``: a designed :class:`~dlmir.layers.Cascade` that remembers its parameters."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

from dlmir.io import check_signal
from dlmir.layers import Cascade


class FrontEnd(Cascade):
    """A cascade started at designed parameters, frozen unless ``trainable=True``.

    Subclasses build their stages in ``__init__``, call :meth:`_remember` with their keyword
    arguments (librosa's names), and set ``self.min_samples`` (the shortest valid signal).
    ``forward`` accepts ``(samples,)`` or ``(batch, samples)`` audio (torch or numpy) and returns
    ``(batch, features, frames)``.
    """

    min_samples: int = 1

    def _remember(self, **params: Any) -> None:
        self.config: dict[str, Any] = {"frontend": type(self).__name__, **params}

    @property
    def sr(self) -> float:
        return float(self.config["sr"])

    @property
    def hop_length(self) -> int:
        return int(self.config["hop_length"])

    def cache_key(self) -> str:
        """A short hash of the front end's name and configuration (not its tensors; the feature cache keys its
        folders by :func:`dlmir.data.cache.feature_key`, which adds them)."""
        blob = json.dumps(self.config, sort_keys=True, default=str).encode()
        return hashlib.sha1(blob).hexdigest()[:16]

    def forward(self, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = check_signal(y, min_samples=self.min_samples)
        return super().forward(y)

    def extra_repr(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "frontend")
        return shown
