"""Learned chroma: a shallow network started at (or away from) the designed octave-folding map.

The thesis' point: chroma is a one-layer network. ``log(1 + C x)`` of a CQT frame, an affine map
from ``n_bins`` pitch bins to 12 pitch classes, and a pointwise output nonlinearity. The designed
chroma is this network with the octave-equivalence matrix as its weights; a learned chroma is the
same :class:`~dlmir.layers.Cascade` with weights found by training.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmir.errors import ParameterError
from dlmir.filters import octave_matrix
from dlmir.frontends.presets import C1_HZ
from dlmir.layers import Cascade, Dense, HalfWaveRectify, LogCompression, Sigmoid, Softmax, Stage, Tanh

OUTPUTS = ("softmax_tanh", "sigmoid", "linear")
INITS = ("octave", "random")
HIDDEN_INITS = ("random", "pca")


class Context(Stage):
    """Stack ``2 * context + 1`` neighbouring frames: ``(batch, n_bins, frames)`` -> ``(batch, (2c+1) n_bins, frames)``.

    Row ``k * n_bins + f`` of the output holds bin ``f`` of frame ``t + k - context``; frames
    beyond the edges are zeros (after log compression, zero means silence).
    """

    def __init__(self, context: int = 0) -> None:
        super().__init__()
        if context < 0:
            raise ParameterError(f"context must be >= 0 frames, got {context}")
        self.context = int(context)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.context
        if c == 0:
            return x
        padded = torch.nn.functional.pad(x, (c, c))
        windows = padded.unfold(-1, 2 * c + 1, 1)  # (batch, n_bins, frames, 2c+1)
        windows = windows.permute(0, 3, 1, 2)  # (batch, 2c+1, n_bins, frames)
        return windows.reshape(x.shape[0], -1, x.shape[-1])

    def extra_repr(self) -> str:
        return f"context={self.context}"


class Standardize(Stage):
    """``(x - mean) / std`` per input feature, with ``mean`` and ``std`` as buffers (identity until fitted).

    Fit with :meth:`LearnedChroma.fit_standardization` on training frames.
    """

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)[:, None]) / self.std.to(x.dtype)[:, None]


class FeatureDropout(Stage):
    """Dropout over the feature axis (active only in training mode)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ParameterError(f"dropout must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SoftmaxTanh(Stage):
    """``softmax(tanh(z))`` over the pitch-class axis (-2): the thesis' chroma output."""

    def __init__(self) -> None:
        super().__init__()
        self.tanh, self.softmax = Tanh(), Softmax(dim=-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.tanh(x))


class LearnedChroma(Cascade):
    """A learnable chroma: ``log(1 + C x)`` -> [context] -> standardise -> [dropout] -> [hidden + ReLU] -> 12 -> output.

    Parameters
    ----------
    n_bins, bins_per_octave : int
        Shape of the input CQT magnitude (default 192 bins, 24 per octave, from C1 = 32.7 Hz: eight
        octaves, so the one-layer weight matrix is 12 x 192 as in the practicum).
    layers : int >= 1
        Affine layers in all. 1: one affine map to 12 pitch classes. ``L >= 2``: ``L - 1`` hidden affine
        layers of ``hidden`` units, each followed by a half-wave rectifier (stages ``hidden``/``rectify``,
        ``hidden2``/``rectify2``, ...), before the map to 12 (``layers=2`` is the practicum's 2-layer
        chroma network; ``layers=4`` with ``context=7`` is a deep chroma extractor in the manner of
        Korzeniowski and Widmer, 2016).
    hidden : int
        Width of each hidden layer (``layers >= 2``).
    context : int
        Frames of temporal context on each side (the input to the affine map is ``2 * context + 1``
        stacked frames).
    init : {'octave', 'random'}
        Start of the map to 12 (``layers=1``): ``'octave'`` is the designed octave-equivalence matrix
        (librosa's ``cq_to_chroma``) on the centre frame and zeros on the context frames, bias 0;
        ``'random'`` small Gaussian weights (std 0.01). With ``layers >= 2`` the map to 12 is always random
        and the first hidden layer starts from ``hidden_init`` (deeper ones: He-initialised Gaussian).
    hidden_init : {'random', 'pca'}
        Start of the hidden layer: Gaussian (std ``1/sqrt(inputs)``), or ``'pca'``: the hidden units
        are the leading principal directions of the (standardised) training frames, set by
        :meth:`fit_standardization` (data-driven initialisation).
    output : {'softmax_tanh', 'sigmoid', 'linear'}
        Output nonlinearity over the 12 pitch classes; ``'linear'`` is the identity (used to compare
        with the designed chroma).
    log_gain : float
        ``C`` in ``log(1 + C x)``.
    dropout : float
        Dropout probability on the (standardised) input features.
    hidden_dropout : float
        Dropout probability after each hidden rectifier (``layers >= 2``).
    seed : int or None
        Seed for the random initialisation.

    Input and output
    ----------------
    ``(batch, n_bins, frames)`` CQT magnitude (librosa layout; ``(n_bins, frames)`` is accepted too)
    -> ``(batch, 12, frames)``. Dataset patches ``(batch, 1, 2 * context + 1, n_bins)`` (raw CQT
    magnitude, centre frame in the middle) -> ``(batch, 12, 1)``: the chroma of the centre frame.

    "Designed chroma", precisely: with ``init='octave'``, ``output='linear'``, ``context=0``, ``layers=1``
    and standardisation not fitted, ``model(X) == octave_matrix(n_bins, bins_per_octave) @ log(1 + C X)``:
    the Chroma front end with ``log_gain=C`` and no normalisation.
    """

    def __init__(
        self,
        n_bins: int = 192,
        bins_per_octave: int = 24,
        *,
        layers: int = 1,
        hidden: int = 64,
        context: int = 0,
        init: str = "octave",
        hidden_init: str = "random",
        output: str = "softmax_tanh",
        log_gain: float = 100.0,
        dropout: float = 0.0,
        hidden_dropout: float = 0.0,
        fmin: float = C1_HZ,
        seed: int | None = None,
    ) -> None:
        if layers < 1:
            raise ParameterError(f"layers must be >= 1 (affine layers, the map to 12 included), got {layers}")
        if init not in INITS:
            raise ParameterError(f"init must be one of {INITS}, got {init!r}")
        if hidden_init not in HIDDEN_INITS:
            raise ParameterError(f"hidden_init must be one of {HIDDEN_INITS}, got {hidden_init!r}")
        if output not in OUTPUTS:
            raise ParameterError(f"output must be one of {OUTPUTS}, got {output!r}")
        if n_bins < 12 or bins_per_octave < 12 or bins_per_octave % 12:
            raise ParameterError(
                f"need n_bins >= 12 and bins_per_octave a multiple of 12; got n_bins={n_bins}, "
                f"bins_per_octave={bins_per_octave}"
            )
        if hidden < 1:
            raise ParameterError(f"hidden must be >= 1 unit, got {hidden}")
        n_in = (2 * context + 1) * n_bins
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        stages["log"] = LogCompression(log_gain)
        stages["context"] = Context(context)
        stages["standardize"] = Standardize(n_in)
        if dropout > 0:
            stages["dropout"] = FeatureDropout(dropout)
        if layers >= 2:
            width = n_in
            for k in range(1, layers):
                suffix = "" if k == 1 else str(k)
                # first hidden layer: unit-variance Gaussian rows (or PCA, set by fit_standardization);
                # deeper ones: He initialisation for the rectifier
                std = 1.0 / np.sqrt(width) if k == 1 else np.sqrt(2.0 / width)
                w = torch.randn(hidden, width, generator=gen) * std
                stages[f"hidden{suffix}"] = Dense(w, torch.zeros(hidden), trainable=True)
                stages[f"rectify{suffix}"] = HalfWaveRectify()
                if hidden_dropout > 0:
                    stages[f"hidden_dropout{suffix}"] = FeatureDropout(hidden_dropout)
                width = hidden
            w_out = torch.randn(12, hidden, generator=gen) / np.sqrt(hidden)
        elif init == "octave":
            w_out = torch.zeros(12, n_in)
            centre = torch.as_tensor(
                octave_matrix(n_bins, bins_per_octave, n_chroma=12, fmin=fmin), dtype=torch.float32
            )
            w_out[:, context * n_bins : (context + 1) * n_bins] = centre
        else:
            w_out = torch.randn(12, n_in, generator=gen) * 0.01
        stages["chroma"] = Dense(w_out, torch.zeros(12), trainable=True)
        if output == "softmax_tanh":
            stages["output"] = SoftmaxTanh()
        elif output == "sigmoid":
            stages["output"] = Sigmoid()
        super().__init__(stages)
        self.config: dict[str, Any] = {
            "model": "LearnedChroma",
            "n_bins": n_bins,
            "bins_per_octave": bins_per_octave,
            "layers": layers,
            "hidden": hidden,
            "context": context,
            "init": init,
            "hidden_init": hidden_init,
            "output": output,
            "log_gain": float(log_gain),
            "dropout": float(dropout),
            "hidden_dropout": float(hidden_dropout),
            "fmin": float(fmin),
            "seed": seed,
        }

    @property
    def n_bins(self) -> int:
        return int(self.config["n_bins"])

    @property
    def context(self) -> int:
        return int(self.config["context"])

    @property
    def weight(self) -> torch.Tensor:
        """The map to 12 pitch classes, ``(12, inputs)``; for ``layers >= 2`` the effective linear map
        ``W_out @ ... @ W_hidden`` (ignoring the rectifiers), ``(12, (2c+1) n_bins)``."""
        hidden = [m for name, m in self if isinstance(m, Dense) and name != "chroma"]
        w = self["chroma"].weight
        for layer in reversed(hidden):
            w = w @ layer.weight
        return w

    def patches_to_stacked(self, patches: torch.Tensor) -> torch.Tensor:
        """``(batch, 1, 2c+1, n_bins)`` patches -> ``(batch, (2c+1) n_bins, 1)`` in the :class:`Context` layout."""
        width = 2 * self.context + 1
        if patches.shape[1:] != (1, width, self.n_bins):
            raise ParameterError(
                f"patches must have shape (batch, 1, {width}, {self.n_bins}) for context={self.context}; "
                f"got {tuple(patches.shape)}"
            )
        return patches.reshape(patches.shape[0], width * self.n_bins, 1)

    def forward(self, x: torch.Tensor, *, until: str | None = None) -> torch.Tensor:
        """``(batch, n_bins, frames)`` or patches ``(batch, 1, 2c+1, n_bins)`` -> ``(batch, 12, frames)``.

        ``until`` stops after the named stage and returns its output (e.g. ``'rectify'``: the hidden
        activations of a 2-layer model).
        """
        if until is not None:
            self._check(until)
        if x.ndim == 2:
            x = x.unsqueeze(0)
        if x.ndim == 4:
            x = self.patches_to_stacked(x)
            skip: tuple[str, ...] = ("context",)
        elif x.ndim == 3:
            if x.shape[1] != self.n_bins:
                raise ParameterError(f"expected {self.n_bins} CQT bins on axis 1, got input of shape {tuple(x.shape)}")
            skip = ()
        else:
            raise ParameterError(
                f"input must be (batch, n_bins, frames) or (batch, 1, frames, n_bins); got {tuple(x.shape)}"
            )
        for name, module in self:
            if name not in skip:
                x = module(x)
            if name == until:
                break
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The standardised network input ``(batch, inputs, frames)`` for ``x`` as in :meth:`forward`."""
        if x.ndim == 4:
            return self["standardize"](self["log"](self.patches_to_stacked(x)))
        if x.ndim == 2:
            x = x.unsqueeze(0)
        return self.run_until(x, "standardize")

    @torch.no_grad()
    def fit_standardization(self, x: torch.Tensor, *, pca: bool | None = None) -> LearnedChroma:
        """Set the input mean/std from training data (and the PCA hidden init when ``hidden_init='pca'``).

        ``x`` is CQT magnitude ``(batch, n_bins, frames)`` or patches ``(batch, 1, 2c+1, n_bins)``.
        Returns ``self``.
        """
        std_stage = self["standardize"]
        std_stage.mean.zero_()
        std_stage.std.fill_(1.0)
        feats = self.features(x.to(std_stage.mean.device, std_stage.mean.dtype))
        flat = feats.transpose(1, 2).reshape(-1, feats.shape[1])  # (n_frames, inputs)
        std_stage.mean.copy_(flat.mean(0))
        std_stage.std.copy_(flat.std(0).clamp_min(1e-3))
        use_pca = (self.config["hidden_init"] == "pca") if pca is None else pca
        if use_pca and "hidden" in self.names:
            z = (flat - std_stage.mean) / std_stage.std
            _, s, vh = torch.linalg.svd(z - z.mean(0), full_matrices=False)
            hidden = self["hidden"].weight
            k = min(hidden.shape[0], vh.shape[0])
            # unit-norm principal directions, scaled so each unit's output has roughly unit variance
            scale = np.sqrt(max(flat.shape[0] - 1, 1)) / s[:k].clamp_min(1e-6)
            hidden[:k] = (vh[:k] * scale[:, None]).to(hidden.dtype)
        return self


__all__ = ["Context", "FeatureDropout", "LearnedChroma", "SoftmaxTanh", "Standardize", "octave_matrix"]
