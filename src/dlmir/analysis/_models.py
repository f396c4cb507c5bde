"""How the analysis reads each kind of model: its input representation, its class scores and its units.

:func:`view` wraps a model (any model :func:`dlmir.models.load` returns) in a :class:`ModelView`:

* ``kind``: ``'chroma'`` (:class:`~dlmir.models.LearnedChroma`), ``'chord'`` (:class:`~dlmir.models.ChordNet`,
  :class:`~dlmir.models.ChordCNN`), ``'fretboard'`` (:class:`~dlmir.models.FretboardNet`), ``'instruments'``
  (:class:`~dlmir.models.InstrumentCNN`), ``'instruments_mlp'`` (:class:`~dlmir.models.InstrumentMLP`: designed
  features in, so only its weights are analysed), ``'tempo'`` (:class:`~dlmir.frontends.tempo.Tempo`),
  ``'transcriber'`` (:class:`~dlmir.models.transcriber.Transcriber`: its classes are the 88 pitches' frame
  logits, its units the channels of its last trunk convolution), ``'pretrain'``
  (:class:`~dlmir.pretrain.objective.MaskedCQT`, a ``dlmir pretrain`` run: no classes, so its trunk's embedding
  units serve as both) or ``'generic'`` (anything else: weights only);
* :meth:`ModelView.input_of`: audio -> the representation the analysis differentiates and plots, ``(features,
  frames)``: the CQT magnitude of the model's own front end, or for a Tempo model its mel power spectrogram (the
  output of its ``mel`` stage, which the learned part of the cascade reads);
* :meth:`ModelView.scores`: that representation ``(1, features, frames)`` -> class scores, differentiable:
  ``(n_classes, frames)`` for frame-wise models (logits; the chroma's output), ``(n_classes,)`` for clip-wise ones;
* :meth:`ModelView.units`: the same input -> the activations of the analysed units ``(n_units, frames')`` and the
  input frames per output frame (``stride``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmir.display import PITCH_CLASSES
from dlmir.errors import ParameterError

KINDS = (
    "chroma",
    "chord",
    "fretboard",
    "instruments",
    "instruments_mlp",
    "tempo",
    "transcriber",
    "pretrain",
    "generic",
)
STRINGS = ("E", "A", "D", "G", "B", "e")


@dataclass
class Axis:
    """The feature axis of the analysed input: ``freqs`` (Hz, one per row, ``None`` for non-spectral features),
    ``kind`` (``'cqt'``, ``'mel'`` or ``'features'``) and, for a CQT, ``bins_per_octave``."""

    kind: str
    n: int
    freqs: np.ndarray | None = None
    bins_per_octave: int | None = None

    @property
    def label(self) -> str:
        return {"cqt": "CQT bin", "mel": "mel band", "features": "feature"}.get(self.kind, "input")


@dataclass
class ModelView:
    """A model seen by the analysis (see the module docstring)."""

    model: nn.Module
    kind: str
    name: str
    axis: Axis
    sr: float | None = None
    hop_length: int | None = None
    classes: list[str] = field(default_factory=list)
    unit_layer: str = ""
    unit_names: list[str] = field(default_factory=list)

    @property
    def has_input(self) -> bool:
        """Whether the model reads audio through a representation the analysis can compute (not a designed feature
        vector, not an unknown model)."""
        return self.kind not in ("instruments_mlp", "generic")

    @property
    def frontend(self) -> Any:
        return getattr(self.model, "frontend", None)

    @property
    def device(self) -> torch.device:
        p = next(iter(self.model.parameters()), None)
        return p.device if p is not None else torch.device("cpu")

    # -- the input ----------------------------------------------------------------------------------
    def input_of(self, y: np.ndarray) -> np.ndarray:
        """The analysed representation ``(features, frames)`` (float32) of mono audio ``y`` at :attr:`sr` Hz."""
        return self.inputs_of([y])[0]

    def inputs_of(self, ys: list[np.ndarray]) -> list[np.ndarray]:
        """:meth:`input_of` of several signals; signals of equal length go through the front end as one batch."""
        if not self.has_input:
            raise ParameterError(f"a {type(self.model).__name__} does not read audio through a CQT or mel front end")
        out: list[np.ndarray | None] = [None] * len(ys)
        by_length: dict[int, list[int]] = {}
        for i, y in enumerate(ys):
            by_length.setdefault(int(np.asarray(y).shape[-1]), []).append(i)
        for idx in by_length.values():
            batch = torch.as_tensor(np.stack([np.asarray(ys[i], dtype=np.float32) for i in idx]))
            with torch.inference_mode():
                if self.kind == "tempo":
                    x = self.model.run_until(batch.to(self.device, torch.float32), "mel")
                else:
                    x = self.frontend(batch)
                    x = x.abs() if torch.is_complex(x) else x
            for j, i in enumerate(idx):
                out[i] = x[j].float().cpu().numpy()
        return [o for o in out if o is not None]

    def _tensor(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.ndim == 2:
            x = x.unsqueeze(0)
        dtype = torch.float64 if self.kind == "tempo" else torch.float32
        return x.to(self.device, dtype)

    # -- scores and units ---------------------------------------------------------------------------
    def scores(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Class scores of the representation ``x`` ``(features, frames)`` or ``(1, features, frames)``:
        ``(n_classes, frames)`` (chroma output, chord logits) or ``(n_classes,)`` (instrument logits, tempo
        spectrum); differentiable with respect to ``x`` when it requires a gradient."""
        m, x = self.model, self._tensor(x) if not isinstance(x, torch.Tensor) or x.ndim == 2 else x
        if self.kind == "chroma":
            return m(x)[0]
        if self.kind == "chord":
            return m(x)["chord"][0]
        if self.kind == "fretboard":
            return m.frames(x, output="logits")[0]
        if self.kind == "instruments":
            return m(x)[0]
        if self.kind == "tempo":
            return _after(m, x, "mel")[0]
        if self.kind == "transcriber":
            return m(x)["frames"][0]
        if self.kind == "pretrain":  # no classes: the trunk's embedding units play their part
            return m.embed(x)[0]
        raise ParameterError(f"no class scores for a {type(m).__name__}")

    def units(self, x: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, int]:
        """Activations ``(n_units, frames')`` of the analysed units (:attr:`unit_layer`) for the representation
        ``x``, and the input frames per output frame."""
        m, x = self.model, self._tensor(x) if not isinstance(x, torch.Tensor) or x.ndim == 2 else x
        if self.kind == "chroma":
            return m(x, until=self.unit_layer)[0], 1
        if self.kind == "chord":
            return m.features(x.transpose(1, 2).unsqueeze(1))[0], 1
        if self.kind == "fretboard":
            frets = m.frames(x, output="frets")[0]  # (6, F + 2, frames)
            return frets.reshape(-1, frets.shape[-1]), 1
        if self.kind == "instruments":
            if x.shape[-1] < m.min_frames:
                x = torch.nn.functional.pad(x, (0, m.min_frames - x.shape[-1]))
            z = m.net.run_until(x, "embed_rectify")[0, :, :, 0]  # (embedding, frames')
            return z, int(m.min_frames)
        if self.kind == "tempo":
            return _between(m, x, "mel", "bands")[0], 1
        if self.kind == "transcriber":  # the trunk's last convolution (batch, channels, frames, 88), max over pitch
            seen: list[torch.Tensor] = []
            hook = m.conv3.register_forward_hook(lambda _m, _i, out: seen.append(out))
            try:
                m(x)
            finally:
                hook.remove()
            return seen[0][0].amax(dim=-1), 1
        if self.kind == "pretrain":
            return m.embed(x)[0], int(m.stride)
        raise ParameterError(f"no units to analyse in a {type(m).__name__}")


def _after(cascade: Any, x: torch.Tensor, name: str) -> torch.Tensor:
    """Apply the stages of ``cascade`` that come after the stage ``name``."""
    return _between(cascade, x, name, None)


def _between(cascade: Any, x: torch.Tensor, start: str, stop: str | None) -> torch.Tensor:
    """Apply the stages after ``start`` up to and including ``stop`` (``None``: to the end)."""
    names = cascade.names
    for n in names[names.index(start) + 1 :]:
        x = cascade[n](x)
        if n == stop:
            break
    return x


def _cqt_axis(config: dict[str, Any], n_bins: int) -> Axis:
    from dlmir.frontends.presets import C1_HZ

    bpo = int(config.get("bins_per_octave", 24))
    fmin = float(config.get("fmin", C1_HZ) or C1_HZ)
    return Axis("cqt", n_bins, fmin * 2.0 ** (np.arange(n_bins) / bpo), bpo)


def view(model: nn.Module, name: str = "") -> ModelView:
    """The :class:`ModelView` of ``model`` (``name``: how the report calls it)."""
    from dlmir.frontends.tempo import Tempo
    from dlmir.models import ChordCNN, ChordNet, FretboardNet, InstrumentCNN, InstrumentMLP, LearnedChroma

    model = model.eval()
    name = name or type(model).__name__
    cfg = dict(getattr(model, "config", {}) or {})
    fe_cfg = dict(getattr(model, "frontend_config", None) or {})
    sr = fe_cfg.get("sr")
    hop = fe_cfg.get("hop_length")
    if isinstance(model, Tempo):
        import librosa

        mel = model.config
        fmax = mel.get("fmax") or model.sr / 2
        freqs = librosa.mel_frequencies(int(mel["n_mels"]), fmin=float(mel["fmin"]), fmax=float(fmax))
        edges = [g for g in np.array_split(np.arange(int(mel["n_mels"])), int(mel["n_bands"]))]
        names = [f"band {b + 1} ({freqs[g[0]]:.0f}-{freqs[g[-1]]:.0f} Hz)" for b, g in enumerate(edges)]
        return ModelView(
            model,
            "tempo",
            name,
            Axis("mel", len(freqs), freqs),
            model.sr,
            model.hop_length,
            [f"{t:.1f} BPM" for t in model.tempi],
            "bands",
            names,
        )
    if isinstance(model, InstrumentMLP):
        from dlmir.instruments.features import FEATURE_NAMES

        n = int(cfg["n_features"])
        feats = list(FEATURE_NAMES) if len(FEATURE_NAMES) == n else [f"feature {i}" for i in range(n)]
        return ModelView(
            model, "instruments_mlp", name, Axis("features", n), classes=list(model.classes), unit_names=feats
        )
    n_bins = int(cfg.get("n_bins", fe_cfg.get("n_bins", 0)) or 0)
    axis = _cqt_axis({**fe_cfg, **cfg}, n_bins) if n_bins else Axis("features", 0)
    if isinstance(model, LearnedChroma):
        if int(cfg["layers"]) == 1:
            return ModelView(model, "chroma", name, axis, sr, hop, list(PITCH_CLASSES), "chroma", list(PITCH_CLASSES))
        units = [f"hidden {i}" for i in range(int(cfg["hidden"]))]
        return ModelView(model, "chroma", name, axis, sr, hop, list(PITCH_CLASSES), "rectify", units)
    if isinstance(model, (ChordNet, ChordCNN)):
        units = [f"embedding {i}" for i in range(int(cfg["embedding"]))]
        return ModelView(model, "chord", name, axis, sr, hop, list(model.labels), "features (embedding)", units)
    if isinstance(model, FretboardNet):
        states = int(cfg["max_fret"]) + 2
        units = [f"{s} {'muted' if f == 0 else f'fret {f - 1}'}" for s in STRINGS for f in range(states)]
        return ModelView(model, "fretboard", name, axis, sr, hop, list(model.labels), "frets", units)
    from dlmir.models.transcriber import Transcriber
    from dlmir.pretrain.objective import MaskedCQT

    if isinstance(model, Transcriber):
        import librosa

        pitches = [librosa.midi_to_note(int(p), unicode=False) for p in model.pitches]
        units = [f"conv3 channel {i}" for i in range(int(cfg["channels"][2]))]
        return ModelView(model, "transcriber", name, axis, sr, hop, pitches, "conv3 (max over pitch)", units)
    if isinstance(model, MaskedCQT):
        units = [f"embedding {i}" for i in range(int(cfg["trunk"]["embedding"]))]
        return ModelView(model, "pretrain", name, axis, sr, hop, units, "trunk embedding", units)
    if isinstance(model, InstrumentCNN):
        units = [f"embedding {i}" for i in range(int(cfg["embedding"]))]
        return ModelView(model, "instruments", name, axis, sr, hop, list(model.classes), "net.embed_rectify", units)
    return ModelView(model, "generic", name, axis, sr, hop)


__all__ = ["KINDS", "Axis", "ModelView", "view"]
