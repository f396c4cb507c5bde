"""Affine transforms: dense maps over the feature axis, and 1-D / 2-D convolutions.

Feature tensors follow librosa's layout ``(batch, features, frames)``; CNN patches are
``(batch, channels, frames, bins)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from dlmir.errors import ParameterError
from dlmir.layers.stage import Stage, as_parameter


class Dense(Stage):
    """``y[b, o, t] = sum_f W[o, f] x[b, f, t] + bias[o]``: a dense affine map over features.

    Parameters
    ----------
    weight : array, shape ``(out_features, in_features)``
        Initial (designed) weights, e.g. a mel filterbank or a DCT matrix. May be complex.
    bias : array, shape ``(out_features,)`` or None
        Initial bias; None for a purely linear map (no bias parameter).
    trainable : bool
        Whether the parameters start unfrozen.

    Input ``(batch, in_features, frames)`` (or ``(in_features, frames)``), output
    ``(batch, out_features, frames)``.
    """

    def __init__(
        self,
        weight: np.ndarray | torch.Tensor,
        bias: np.ndarray | torch.Tensor | None = None,
        *,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        if np.ndim(weight) != 2:
            raise ParameterError(f"Dense weight must be 2-D (out, in); got shape {np.shape(weight)}")
        self.weight = as_parameter(weight, trainable)
        self.bias = None if bias is None else as_parameter(bias, trainable)

    @classmethod
    def random(
        cls,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        std: float | None = None,
        seed: int | None = None,
    ) -> Dense:
        """A trainable dense layer with Gaussian weights (std ``1/sqrt(in_features)`` unless given)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        std = (1.0 / np.sqrt(in_features)) if std is None else std
        w = torch.randn(out_features, in_features, generator=gen) * std
        return cls(w, torch.zeros(out_features) if bias else None, trainable=True)

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] != self.in_features:
            raise ParameterError(
                f"Dense expects {self.in_features} features on axis -2, got input of shape {tuple(x.shape)}"
            )
        w = self.weight if self.weight.dtype == x.dtype else self.weight.to(x.dtype)
        y = torch.matmul(w, x)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)[:, None]
        return y

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv1d(Stage):
    """1-D convolution over time with designed (or random) kernels.

    ``weight`` has shape ``(out_channels, in_channels, kernel_size)``; input ``(batch, in_channels, samples)``,
    output ``(batch, out_channels, frames)`` with ``frames = floor((samples - kernel_size) / stride) + 1``.
    """

    def __init__(
        self,
        weight: np.ndarray | torch.Tensor,
        bias: np.ndarray | torch.Tensor | None = None,
        *,
        stride: int = 1,
        padding: int | str = 0,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        if np.ndim(weight) != 3:
            raise ParameterError(f"Conv1d weight must be 3-D (out, in, kernel); got {np.shape(weight)}")
        if stride < 1:
            raise ParameterError(f"stride must be >= 1, got {stride}")
        self.weight = as_parameter(weight, trainable)
        self.bias = None if bias is None else as_parameter(bias, trainable)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.conv1d(x, self.weight.to(x.dtype), bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k = self.weight.shape
        return f"{i} -> {o}, kernel_size={k}, stride={self.stride}"


class Conv2d(Stage):
    """2-D convolution over ``(frames, bins)`` patches: input ``(batch, in_channels, frames, bins)``.

    ``weight`` has shape ``(out_channels, in_channels, kh, kw)``. Use :meth:`random` for a learned layer.
    """

    def __init__(
        self,
        weight: np.ndarray | torch.Tensor,
        bias: np.ndarray | torch.Tensor | None = None,
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        if np.ndim(weight) != 4:
            raise ParameterError(f"Conv2d weight must be 4-D (out, in, kh, kw); got {np.shape(weight)}")
        self.weight = as_parameter(weight, trainable)
        self.bias = None if bias is None else as_parameter(bias, trainable)
        self.stride = stride
        self.padding = padding

    @classmethod
    def random(
        cls,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        *,
        padding: int | tuple[int, int] | str = 0,
        seed: int | None = None,
    ) -> Conv2d:
        """A trainable convolution with He-normal weights and zero bias."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        fan_in = in_channels * kernel_size[0] * kernel_size[1]
        w = torch.randn(out_channels, in_channels, *kernel_size, generator=gen) * np.sqrt(2.0 / fan_in)
        return cls(w, torch.zeros(out_channels), padding=padding, trainable=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.conv2d(x, self.weight.to(x.dtype), bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, kh, kw = self.weight.shape
        return f"{i} -> {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


__all__ = ["Conv1d", "Conv2d", "Dense"]
