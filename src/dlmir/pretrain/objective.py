"""The self-supervised objective: masked reconstruction of CQT patches through a model's own convolutional trunk.

:class:`MaskedCQT` holds the convolutional trunk of a chord model (:class:`~dlmir.models.ChordNet` and
:class:`~dlmir.models.ChordCNN` share it: ``model.features``, built by ``_conv_trunk``) or of an
:class:`~dlmir.models.InstrumentCNN` (the stages of ``model.net`` up to the per-frame embedding), built from that
model's config, plus a light decoder. A training step:

1. the input CQT magnitude ``x`` ``(batch, n_bins, frames)`` gets ``time_masks`` blocks of 1..``time_width`` frames
   and ``pitch_masks`` blocks of 1..``pitch_width`` bins set to zero (silence) per item (SpecAugment-style masks,
   :func:`draw_masks`);
2. the trunk turns the masked input into its per-frame embedding ``(batch, embedding, frames / stride)``
   (``stride`` 1 for the chord trunk; the instrument trunk pools time by ``input_pool[0] * prod(time_pool)``);
3. the decoder (a 3-frame convolution to ``hidden`` channels, a rectifier, and a 1 x 1 convolution to
   ``stride * n_bins`` outputs, unfolded back to ``(batch, n_bins, frames)``) predicts the *unmasked* input as the
   trunk itself first sees it (``log(1 + C x)`` for the chord trunk, the per-item :class:`~dlmir.models.PeakDB`
   scale for the instrument trunk), standardised per item (zero mean, unit variance over bins and frames);
4. the loss is the mean squared error over the masked cells only: 1.0 is what predicting the item's mean scores,
   so the loss reads as the fraction of the masked cells' variance left unexplained.

Why masked reconstruction rather than a contrastive objective (two augmented views, e.g. pitch shift by CQT
rotation, time shift, codec): it needs one forward pass per item instead of two, no negatives (a contrastive loss
wants large batches to have enough of them; the CPU budget here is batches of 8-16) and cannot collapse to a
constant embedding; the views' audio augmentation (codecs, rooms) would also cost more than the step itself. The
masks ask the trunk for what chords and instruments need: the missing partials of a note from the ones present
(pitch masks: harmonic structure, timbre) and the spectrum of a short gap from its neighbours (time masks:
continuity within the trunk's receptive field of ``len(channels)`` frames each side, hence the narrow default
``time_width`` of 8 frames, 0.19 s at the chord CQT's hop).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from dlmir.errors import ParameterError
from dlmir.layers import Cascade

__all__ = [
    "TRUNK_CONFIG_KEYS",
    "MaskedCQT",
    "draw_masks",
    "trunk_family",
    "trunk_module",
    "trunk_prefix",
]

TRUNK_CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "chord": ("n_bins", "bins_per_octave", "fmin", "channels", "pitch_pool", "embedding", "log_gain"),
    "instruments": (
        "n_bins", "bins_per_octave", "fmin", "channels", "time_pool", "pitch_pool", "input_pool", "embedding",
        "top_db",
    ),
}  # fmt: skip
"""Per trunk family, the model config entries that fix the trunk's tensors (and its input)."""

_FAMILIES = {"ChordNet": "chord", "ChordCNN": "chord", "InstrumentCNN": "instruments"}


def trunk_family(model: nn.Module | dict[str, Any]) -> str:
    """``'chord'`` (ChordNet, ChordCNN: the same ``_conv_trunk``) or ``'instruments'`` (InstrumentCNN) for a model or
    its config; raises :class:`~dlmir.errors.ParameterError` for a model without a convolutional trunk."""
    kind = model.get("model") if isinstance(model, dict) else type(model).__name__
    if kind not in _FAMILIES:
        raise ParameterError(
            f"{kind} has no convolutional trunk to pre-train or initialise; models with one: {sorted(_FAMILIES)}"
        )
    return _FAMILIES[str(kind)]


def trunk_prefix(model: nn.Module) -> str:
    """Prefix of the trunk's tensors in ``model.state_dict()``: ``'features.'`` (chord) or ``'net.'``
    (instruments; only the stages :func:`trunk_module` keeps)."""
    return "features." if trunk_family(model) == "chord" else "net."


def trunk_module(model: nn.Module) -> Cascade:
    """The convolutional trunk of ``model``, sharing its modules (not a copy).

    Chord models: ``model.features`` (``(batch, 1, frames, n_bins)`` -> ``(batch, embedding, frames)``).
    InstrumentCNN: a :class:`~dlmir.layers.Cascade` of the stages of ``model.net`` from the input scaling up to the
    per-frame embedding (``to_features``): ``(batch, n_bins, frames)`` -> ``(batch, embedding, frames')``.
    """
    if trunk_family(model) == "chord":
        return model.features
    stages = []
    for name, stage in model.net:
        stages.append((name, stage))
        if name == "to_features":
            break
    from collections import OrderedDict

    return Cascade(OrderedDict(stages))


def draw_masks(
    shape: tuple[int, int, int],
    *,
    time_masks: int,
    time_width: int,
    pitch_masks: int,
    pitch_width: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Boolean masks ``(batch, n_bins, frames)``: per item, ``time_masks`` blocks of 1..``time_width`` frames (all
    bins) and ``pitch_masks`` blocks of 1..``pitch_width`` bins (all frames), at uniform positions (a block may run
    past the edge and be cut). At least one cell per item is masked when any count is > 0."""
    batch, n_bins, frames = shape
    mask = torch.zeros(shape, dtype=torch.bool)
    g = generator
    for axis, count, width, size in ((2, time_masks, time_width, frames), (1, pitch_masks, pitch_width, n_bins)):
        if count < 1 or width < 1:
            continue
        widths = torch.randint(1, width + 1, (batch, count), generator=g)
        starts = torch.randint(0, size, (batch, count), generator=g)
        pos = torch.arange(size)
        hit = ((pos >= starts[..., None]) & (pos < (starts + widths)[..., None])).any(1)  # (batch, size)
        mask |= hit[:, None, :] if axis == 2 else hit[:, :, None]
    return mask.to(device) if device is not None else mask


class MaskedCQT(nn.Module):
    """A model's convolutional trunk with a reconstruction decoder, trained by masked reconstruction (module
    docstring).

    Parameters
    ----------
    trunk : the config of the model whose trunk is pre-trained (``{"model": "ChordNet" | "ChordCNN" |
        "InstrumentCNN", ...}``, as :func:`dlmir.models.build` takes; missing entries take the model's defaults).
        The whole model is built with it and only its trunk kept, so the trunk's tensors have exactly the names and
        shapes of that model's.
    hidden : channels of the decoder's 3-frame convolution.
    time_masks, time_width : blocks masked over time per item, and the widest one (frames).
    pitch_masks, pitch_width : blocks masked over pitch per item, and the widest one (bins).
    seed : seed of the decoder's initialisation (the trunk takes ``trunk["seed"]``, default the same seed).
    n_bins, bins_per_octave, fmin : the input CQT's dimensions, when given: set in ``trunk`` (default: the trunk's).

    Input and output
    ----------------
    :meth:`forward`: CQT magnitude ``(batch, n_bins, frames)`` -> reconstruction ``(batch, n_bins, frames)`` (of the
    standardised :meth:`target`). :meth:`loss`: masks drawn from ``generator`` (default: torch's global generator),
    then ``(loss, mask)``. :meth:`embed`: the trunk's embedding ``(batch, embedding, frames')``.
    """

    def __init__(
        self,
        trunk: dict[str, Any],
        *,
        hidden: int = 128,
        time_masks: int = 2,
        time_width: int = 8,
        pitch_masks: int = 2,
        pitch_width: int = 24,
        seed: int | None = 0,
        n_bins: int | None = None,
        bins_per_octave: int | None = None,
        fmin: float | None = None,
    ) -> None:
        super().__init__()
        from dlmir.models import build

        if hidden < 1:
            raise ParameterError(f"hidden must be >= 1 channel, got {hidden}")
        if (
            min(time_masks, time_width, pitch_masks, pitch_width) < 0
            or (time_masks * time_width) + (pitch_masks * pitch_width) < 1
        ):
            raise ParameterError(
                "masks: counts and widths must be >= 0 and mask something, got "
                f"time {time_masks} x {time_width}, pitch {pitch_masks} x {pitch_width}"
            )
        trunk = dict(trunk)
        self.family = trunk_family(trunk)
        for key, value in (("n_bins", n_bins), ("bins_per_octave", bins_per_octave), ("fmin", fmin)):
            if value is not None:  # the input's dimensions (the front end's), over the trunk's defaults
                trunk[key] = value
        trunk.setdefault("seed", seed)
        backbone = build(trunk)
        self.trunk = trunk_module(backbone)
        self.trunk_config: dict[str, Any] = dict(backbone.config)
        n_bins, embedding = int(backbone.config["n_bins"]), int(backbone.config["embedding"])
        if self.family == "chord":
            self.stride = 1
        else:
            pools = [int(backbone.config["input_pool"][0]), *(int(p) for p in backbone.config["time_pool"])]
            self.stride = int(torch.tensor(pools).prod())
            self.min_frames = int(backbone.min_frames)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(int(seed) + 500)
            self.decoder = nn.Sequential(
                nn.Conv1d(embedding, hidden, 3, padding=1), nn.ReLU(), nn.Conv1d(hidden, self.stride * n_bins, 1)
            )
        self.config: dict[str, Any] = {
            "model": "MaskedCQT",
            "trunk": self.trunk_config,
            "n_bins": n_bins,
            "bins_per_octave": int(backbone.config["bins_per_octave"]),
            "fmin": float(backbone.config["fmin"]),
            "hidden": int(hidden),
            "time_masks": int(time_masks),
            "time_width": int(time_width),
            "pitch_masks": int(pitch_masks),
            "pitch_width": int(pitch_width),
            "seed": seed,
        }

    @property
    def n_bins(self) -> int:
        return int(self.config["n_bins"])

    def _check(self, cqt: torch.Tensor) -> torch.Tensor:
        if cqt.ndim == 2:
            cqt = cqt.unsqueeze(0)
        if cqt.ndim != 3 or cqt.shape[1] != self.n_bins:
            raise ParameterError(
                f"MaskedCQT expects a CQT magnitude (batch, {self.n_bins}, frames); got {tuple(cqt.shape)}"
            )
        if self.family == "instruments" and cqt.shape[-1] < self.min_frames:
            cqt = F.pad(cqt, (0, self.min_frames - cqt.shape[-1]))
        return cqt

    def embed(self, cqt: torch.Tensor) -> torch.Tensor:
        """The trunk's per-frame embedding ``(batch, embedding, frames')`` of a CQT ``(batch, n_bins, frames)``."""
        cqt = self._check(cqt)
        if self.family == "chord":
            return self.trunk(cqt.transpose(1, 2).unsqueeze(1))
        return self.trunk(cqt)

    def forward(self, cqt: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``(batch, n_bins, frames)`` of the standardised :meth:`target` from (masked) ``cqt``."""
        cqt = self._check(cqt)
        z = self.embed(cqt)  # (batch, embedding, frames')
        y = self.decoder(z)  # (batch, stride * n_bins, frames')
        b, _, t = y.shape
        y = y.reshape(b, self.stride, self.n_bins, t).permute(0, 2, 3, 1).reshape(b, self.n_bins, t * self.stride)
        return y[..., : cqt.shape[-1]]

    def target(self, cqt: torch.Tensor) -> torch.Tensor:
        """What the trunk first makes of ``cqt`` (chord: ``log(1 + C x)``; instruments: the per-item dB scale of
        :class:`~dlmir.models.PeakDB`), standardised per item over bins and frames: ``(batch, n_bins, frames)``."""
        cqt = self._check(cqt)
        with torch.no_grad():
            first = self.trunk["log"] if self.family == "chord" else self.trunk["db"]
            t = first(cqt).float()
            mean = t.mean(dim=(1, 2), keepdim=True)
            std = t.std(dim=(1, 2), keepdim=True).clamp_min(1e-3)
            return (t - mean) / std

    def loss(
        self, cqt: torch.Tensor, *, generator: torch.Generator | None = None, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loss, mask)``: mean squared error of :meth:`forward` on the masked ``cqt`` against :meth:`target` of the
        unmasked one, over the masked cells ``mask`` ``(batch, n_bins, frames)`` (drawn with :func:`draw_masks` from
        ``generator`` unless given)."""
        cqt = self._check(cqt)
        if mask is None:
            c = self.config
            mask = draw_masks(
                tuple(cqt.shape), time_masks=c["time_masks"], time_width=c["time_width"],
                pitch_masks=c["pitch_masks"], pitch_width=c["pitch_width"], generator=generator, device=cqt.device,
            )  # fmt: skip
        target = self.target(cqt)
        pred = self.forward(cqt.masked_fill(mask, 0.0)).float()
        m = mask.to(pred.dtype)
        return ((pred - target) ** 2 * m).sum() / m.sum().clamp_min(1.0), mask
