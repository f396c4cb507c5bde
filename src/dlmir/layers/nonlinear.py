"""Pointwise nonlinearities: rectification, complex modulus, log compression and decibels.

All act elementwise, so they keep the input's shape.
"""

from __future__ import annotations

import torch

from dlmir.errors import ParameterError
from dlmir.layers.stage import Stage, as_parameter


class HalfWaveRectify(Stage):
    """``max(x, 0)``: half-wave rectification (ReLU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


class FullWaveRectify(Stage):
    """``|x|`` for real input: full-wave rectification."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


class _SafeAbs(torch.autograd.Function):
    """``|z|`` of a complex tensor whose gradient is 0 (not NaN) where ``z == 0``."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        mag = z.abs()
        ctx.save_for_backward(z, mag)
        return mag

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        z, mag = ctx.saved_tensors
        safe = torch.where(mag > 0, mag, torch.ones_like(mag))
        unit = torch.where(mag > 0, z / safe, torch.zeros_like(z))
        return grad * unit


class Modulus(Stage):
    """Complex modulus ``|z| ** power``: power 1 gives magnitude, 2 gives power.

    Input is a complex tensor (e.g. from :class:`dlmir.frontends.STFT`); real input is treated as
    having zero imaginary part. The gradient is finite everywhere, also at ``z == 0``.
    """

    def __init__(self, power: float = 1.0) -> None:
        super().__init__()
        if power <= 0:
            raise ParameterError(f"Modulus power must be > 0, got {power}")
        self.power = float(power)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_complex(x):
            x = torch.complex(x, torch.zeros_like(x))
        if self.power == 2.0:
            return x.real.square() + x.imag.square()
        mag = _SafeAbs.apply(x)
        return mag if self.power == 1.0 else mag.pow(self.power)

    def extra_repr(self) -> str:
        return f"power={self.power}"


class LogCompression(Stage):
    """``log(1 + C x)``: log compression with a (optionally trainable) gain ``C`` > 0."""

    def __init__(self, gain: float = 1.0, *, trainable: bool = False) -> None:
        super().__init__()
        if gain <= 0:
            raise ParameterError(f"LogCompression gain C must be > 0, got {gain}")
        self.gain = as_parameter(torch.tensor(float(gain)), trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log1p(self.gain.to(x.dtype) * x)

    def extra_repr(self) -> str:
        return f"gain={float(self.gain):g}"


class AmplitudeToDB(Stage):
    """Decibels as in :func:`librosa.power_to_db` / :func:`librosa.amplitude_to_db`.

    ``10 * log10(max(amin, x) / ref)`` for power input (``kind='power'``), ``20 * log10`` for
    amplitude; with ``top_db``, values are clipped to ``max - top_db`` per item of the batch
    (librosa clips over the whole array it is given).
    """

    def __init__(
        self, *, kind: str = "power", ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0
    ) -> None:
        super().__init__()
        if kind not in ("power", "amplitude"):
            raise ParameterError(f"kind must be 'power' or 'amplitude', got {kind!r}")
        if amin <= 0:
            raise ParameterError(f"amin must be strictly positive, got {amin}")
        if top_db is not None and top_db < 0:
            raise ParameterError(f"top_db must be non-negative, got {top_db}")
        self.kind, self.ref, self.amin, self.top_db = kind, float(ref), float(amin), top_db

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amin, ref = self.amin, abs(self.ref)
        if self.kind == "amplitude":
            x, amin, ref = x.square(), amin**2, ref**2
        db = 10.0 * torch.log10(torch.clamp(x, min=amin)) - 10.0 * torch.log10(
            torch.tensor(max(amin, ref), dtype=x.dtype)
        )
        if self.top_db is not None:
            peak = db.flatten(1).amax(dim=1) if db.ndim > 1 else db.max()
            floor = (peak - self.top_db).reshape(-1, *([1] * (db.ndim - 1))) if db.ndim > 1 else peak - self.top_db
            db = torch.maximum(db, floor)
        return db

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, ref={self.ref}, amin={self.amin}, top_db={self.top_db}"


class Softmax(Stage):
    """Softmax over ``dim`` (default the feature axis, -2)."""

    def __init__(self, dim: int = -2) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=self.dim)


class Tanh(Stage):
    """Hyperbolic tangent."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x)


class Sigmoid(Stage):
    """Logistic sigmoid."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


__all__ = [
    "AmplitudeToDB",
    "FullWaveRectify",
    "HalfWaveRectify",
    "LogCompression",
    "Modulus",
    "Sigmoid",
    "Softmax",
    "Tanh",
]
