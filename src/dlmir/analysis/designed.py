"""Designed against learned: how far training moved a model that starts at a designed cascade.

Two dlmir models start at a designed cascade: the learned chroma (:class:`~dlmir.models.LearnedChroma`, started at
the octave-equivalence matrix) and the Tempo cascade (:class:`~dlmir.frontends.tempo.Tempo`: uniform band weights,
Gaussian smoothing, comb gains of 2.5 periods, librosa's tempo prior). :func:`designed_reference` rebuilds the
designed model from the learned one's config; :func:`tensor_changes` measures, for every tensor the two share, the
relative Frobenius change ``||learned - designed||_F / ||designed||_F`` (0 for a tensor training did not move; for
a tensor designed as zeros, e.g. a bias, the absolute norm ``||learned||_F`` is given instead and ``relative`` is
``inf`` unless it is still 0). Any run folder with an ``init/`` model (the start of training, written by
``dlmir train chroma``) can also be compared with its own start (:func:`init_reference`), and a model whose config
has a ``seed`` with its seeded initialisation rebuilt from that config (:func:`seeded_reference`): how far each
tensor of a randomly started network moved in training.

For a chroma, :func:`octave_comparison` adds scale-free numbers on the ``(12, n_bins)`` map (its effective linear
map for deeper models, :func:`dlmir.display.weight_matrix`), both on the raw weights and on the *effective*
weights on ``log(1 + C x)`` (weights divided by the fitted standardisation's ``std``): the cosine with the
octave matrix, the octave-equivalence share (the fraction of the map's energy that is the same in every octave:
``||P W||^2 / ||W||^2`` with ``P`` the average over octaves; 1 for the designed matrix) and how many pitch
classes' rows are still closest to their own row of the octave matrix.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dlmir.errors import ParameterError


@dataclass
class TensorChange:
    """One tensor, designed against learned: ``name``, ``shape``, ``designed_norm`` (``||designed||_F``),
    ``change_norm`` (``||learned - designed||_F``) and ``relative`` (their ratio; ``inf`` when the designed tensor
    is 0 and the learned one is not, 0 when both are 0)."""

    name: str
    shape: tuple[int, ...]
    designed_norm: float
    change_norm: float
    relative: float


def relative_change(learned: torch.Tensor | np.ndarray, designed: torch.Tensor | np.ndarray) -> float:
    """``||learned - designed||_F / ||designed||_F`` (float64); ``inf`` if ``designed`` is 0 and ``learned`` is not,
    0 if both are 0.

    Raises
    ------
    ParameterError : the shapes differ.
    """
    a = torch.as_tensor(np.asarray(learned) if not isinstance(learned, torch.Tensor) else learned.detach().cpu())
    b = torch.as_tensor(np.asarray(designed) if not isinstance(designed, torch.Tensor) else designed.detach().cpu())
    if a.shape != b.shape:
        raise ParameterError(f"learned {tuple(a.shape)} and designed {tuple(b.shape)} tensors differ in shape")
    a, b = (
        a.to(torch.complex128 if a.is_complex() or b.is_complex() else torch.float64),
        b.to(torch.complex128 if a.is_complex() or b.is_complex() else torch.float64),
    )
    num, den = float(torch.linalg.vector_norm(a - b)), float(torch.linalg.vector_norm(b))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den


def tensor_changes(model: nn.Module, reference: nn.Module) -> list[TensorChange]:
    """:class:`TensorChange` of every floating-point tensor of ``model``'s state dict that ``reference`` has with
    the same shape (parameters and buffers such as a fitted standardisation), in state-dict order."""
    ref = reference.state_dict()
    out: list[TensorChange] = []
    for name, value in model.state_dict().items():
        if name not in ref or not (value.is_floating_point() or value.is_complex()) or ref[name].shape != value.shape:
            continue
        d = ref[name].detach().cpu()
        v = value.detach().cpu()
        dn = float(torch.linalg.vector_norm(d.to(torch.complex128 if d.is_complex() else torch.float64)))
        diff = v.to(torch.complex128 if v.is_complex() else torch.float64) - d.to(
            torch.complex128 if d.is_complex() else torch.float64
        )
        out.append(TensorChange(name, tuple(v.shape), dn, float(torch.linalg.vector_norm(diff)), relative_change(v, d)))
    return out


def designed_reference(model: nn.Module) -> nn.Module | None:
    """The designed model ``model`` started from, rebuilt from its config, or ``None`` for a model that starts at
    random weights.

    A :class:`~dlmir.frontends.tempo.Tempo`: the same config, freshly built (its designed parameters). A one-layer
    :class:`~dlmir.models.LearnedChroma`: the same config with ``init='octave'`` (the octave-equivalence matrix,
    bias 0, standardisation not fitted), whatever its own init was. A deeper chroma has no designed tensors (its
    map to 12 starts random); :func:`octave_comparison` still compares its effective map with the octave matrix.
    """
    from dlmir.frontends.tempo import Tempo
    from dlmir.models import LearnedChroma, build

    cfg = dict(getattr(model, "config", {}) or {})
    if isinstance(model, Tempo):
        ref = build({"model": "Tempo", **{k: v for k, v in cfg.items() if k != "frontend"}})
    elif isinstance(model, LearnedChroma) and int(cfg.get("layers", 1)) == 1:
        ref = build({**cfg, "init": "octave"})
    else:
        return None
    p = next(iter(model.parameters()), None)
    return ref.to(p.device) if p is not None else ref


def init_reference(run_dir: str | os.PathLike[str]) -> nn.Module | None:
    """The model saved at the start of training in ``run_dir/init`` (``dlmir train chroma`` writes it), or ``None``."""
    from dlmir.models import load

    folder = Path(run_dir) / "init"
    return load(folder) if (folder / "config.json").exists() else None


def seeded_reference(model: nn.Module) -> nn.Module | None:
    """The start of training rebuilt from ``model``'s config, whose ``seed`` fixes every random initialisation
    (dlmir's trainers build the model from that config before the first step), or ``None`` when the config has no
    seed. Not the start of a model fine-tuned from other weights (e.g. a pre-trained trunk)."""
    from dlmir.models import build

    cfg = dict(getattr(model, "config", {}) or {})
    if cfg.get("seed") is None or "model" not in cfg:
        return None
    try:
        ref = build(cfg)
    except ParameterError:
        return None
    p = next(iter(model.parameters()), None)
    return ref.to(p.device) if p is not None else ref


def octave_share(w: np.ndarray, bins_per_octave: int) -> float:
    """Fraction of the energy of ``w`` ``(rows, n_bins)`` that is octave-equivalent: ``||P w||^2 / ||w||^2`` where
    ``P`` replaces each bin by the mean of the bins an octave apart (over the whole octaves; the bins past the
    last whole octave are left out of both norms). 1 for a map that is the same in every octave."""
    w = np.asarray(w, dtype=np.float64)
    bpo = int(bins_per_octave)
    n_oct = w.shape[1] // bpo
    if n_oct < 1:
        raise ParameterError(f"need at least one whole octave ({bpo} bins), got {w.shape[1]} bins")
    v = w[:, : n_oct * bpo].reshape(w.shape[0], n_oct, bpo)
    total = float((v**2).sum())
    if total == 0.0:
        return 1.0
    folded = np.broadcast_to(v.mean(axis=1, keepdims=True), v.shape)
    return float((folded**2).sum()) / total


def octave_energy(w: np.ndarray, bins_per_octave: int) -> list[float]:
    """Share of ``||w||^2`` in each octave of the input (``bins_per_octave`` columns each, the last one possibly
    partial), low to high; uniform (``1 / n_octaves``) for the octave matrix on whole octaves."""
    w = np.asarray(w, dtype=np.float64)
    energy = (w**2).sum(0)
    total = float(energy.sum()) or 1.0
    return [float(energy[i : i + bins_per_octave].sum()) / total for i in range(0, energy.size, bins_per_octave)]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float((a * b).sum()) / (na * nb) if na and nb else 0.0


def _own_class(w: np.ndarray, octave: np.ndarray) -> int:
    """How many rows ``c`` of ``w`` ``(12, n_bins)`` are closer (cosine) to row ``c`` of the octave matrix than to
    any other pitch class's row: the pitch classes the map still detects as themselves."""
    unit = lambda m: m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-300)  # noqa: E731
    sim = unit(w) @ unit(octave).T  # (12 learned, 12 designed)
    return int(sum(int(np.argmax(sim[c]) == c) for c in range(12)))


def octave_comparison(model: nn.Module) -> dict[str, Any]:
    """Scale-free comparison of a chroma's ``(12, n_bins)`` map with the octave-equivalence matrix (module
    docstring): ``relative_change`` (``||W - O|| / ||O||``), ``cosine``, ``octave_share``, ``own_class`` (of 12),
    ``octave_energy`` (:func:`octave_energy`), and the same numbers on the effective weights on ``log(1 + C x)``
    (``effective_*``)."""
    from dlmir.display import weight_matrix
    from dlmir.filters import octave_matrix

    cfg = model.config
    n_bins, bpo = int(cfg["n_bins"]), int(cfg["bins_per_octave"])
    octave = np.asarray(octave_matrix(n_bins, bpo, n_chroma=12, fmin=cfg.get("fmin")), dtype=np.float64)
    w = weight_matrix(model).astype(np.float64)
    out: dict[str, Any] = {
        "relative_change": relative_change(w, octave),
        "cosine": _cosine(w, octave),
        "octave_share": octave_share(w, bpo),
        "own_class": _own_class(w, octave),
        "octave_energy": octave_energy(w, bpo),
    }
    std = model["standardize"].std.detach().cpu().double().numpy()
    frames = std.size // n_bins
    if frames >= 1 and std.size == frames * n_bins and int(cfg.get("layers", 1)) == 1:
        # W' = W / std per input, summed over the context blocks: the map applied to log(1 + C x) itself
        full = model["chroma"].weight.detach().cpu().double().numpy() / std[None, :]
        eff = full.reshape(12, frames, n_bins).sum(1)
        out.update(
            effective_cosine=_cosine(eff, octave),
            effective_octave_share=octave_share(eff, bpo),
            effective_own_class=_own_class(eff, octave),
        )
    return out


@dataclass
class DesignedComparison:
    """What :func:`compare` finds: ``reference`` (what the model is compared with: ``'designed'`` or ``'init'``),
    ``changes`` (:class:`TensorChange` per tensor) and ``numbers`` (model-specific key numbers)."""

    reference: str
    changes: list[TensorChange]
    numbers: dict[str, Any]
    reference_model: nn.Module | None = None


def compare(model: nn.Module, *, run_dir: str | os.PathLike[str] | None = None) -> DesignedComparison | None:
    """Designed (or start-of-training) against learned for ``model``: the designed reference when the model starts
    at a designed cascade (:func:`designed_reference`), else the run's ``init/`` model when ``run_dir`` has one,
    else the seeded initialisation rebuilt from the config (:func:`seeded_reference`), else ``None``."""
    from dlmir.frontends.tempo import Tempo
    from dlmir.models import LearnedChroma

    ref, kind = designed_reference(model), "designed"
    if ref is None and run_dir is not None:
        ref, kind = init_reference(run_dir), "init"
    if ref is None:
        ref, kind = seeded_reference(model), "seeded init"
        record = _pretrained_init(run_dir)
        if ref is not None and record:  # fine-tuned from a pre-trained trunk: that was the trunk's start
            from dlmir.pretrain.init import init_from

            if Path(str(record.get("run", ""))).is_dir():
                init_from(ref, record["run"])
                kind = "seeded init + pre-trained trunk"
            else:
                kind = "seeded init (pre-trained trunk not found)"
    numbers: dict[str, Any] = {}
    if isinstance(model, LearnedChroma):
        numbers.update(octave_comparison(model))
    if isinstance(model, Tempo):
        numbers.update(tempo_numbers(model))
    if ref is None:
        return DesignedComparison("octave matrix", [], numbers) if numbers else None
    return DesignedComparison(kind, tensor_changes(model, ref), numbers, ref)


def _pretrained_init(run_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The ``init`` record of a run fine-tuned from a ``dlmir pretrain`` trunk (``extra.train.init`` of its
    ``config.json``), or ``{}``."""
    if run_dir is None:
        return {}
    from dlmir.models import read_config

    try:
        record = read_config(run_dir).get("extra", {}).get("train", {}).get("init") or {}
    except ParameterError:
        return {}
    return dict(record) if isinstance(record, dict) else {}


def tempo_numbers(model: nn.Module) -> dict[str, Any]:
    """Key numbers of a Tempo cascade: its band weights, its prior's centre (BPM) and width (octaves), and the
    median half-energy time of its comb filters in periods (designed: 1/n_bands each, 120 BPM, 1 octave, 2.5)."""
    out: dict[str, Any] = {"band_weights": [round(float(v), 4) for v in model.band_weights()]}
    if "prior" in model.names:
        prior = model["prior"]
        out["prior_bpm"] = float(2.0 ** float(prior.centre.detach()))
        out["prior_octaves"] = float(prior.width.detach())
    if "periodicity" in model.names and hasattr(model["periodicity"], "gain"):
        a = model["periodicity"].gain.detach().double().clamp(1e-6, 1 - 1e-6).cpu().numpy()
        out["comb_half_energy_periods_median"] = float(np.median(-1.0 / (2.0 * np.log2(a))))
    return out


def plot_designed(model: nn.Module, path: str | os.PathLike[str], *, reference: nn.Module | None = None) -> Path | None:
    """Figure of designed against learned, or ``None`` when the model has none: for a chroma the octave matrix, the
    learned map and their difference (:func:`dlmir.display.plot_weights`); for a Tempo cascade the designed and
    learned cascades side by side (:func:`dlmir.rhythm.tempo.plot_tempo_model`)."""
    from dlmir.frontends.tempo import Tempo
    from dlmir.models import LearnedChroma

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(model, LearnedChroma):
        from dlmir.display import plot_weights, weight_matrix
        from dlmir.filters import octave_matrix

        cfg = model.config
        octave = octave_matrix(int(cfg["n_bins"]), int(cfg["bins_per_octave"]), n_chroma=12, fmin=cfg.get("fmin"))
        w = weight_matrix(model)
        panels = {"designed: octave-equivalence matrix": octave, "learned": w, "learned - designed": w - octave}
        if reference is not None and not isinstance(reference, LearnedChroma):
            reference = None
        if reference is not None and cfg.get("init") != "octave":
            panels = {"start of training": weight_matrix(reference), **panels}
        return plot_weights(panels, path, bins_per_octave=int(cfg["bins_per_octave"]))
    if isinstance(model, Tempo):
        from dlmir.rhythm.tempo import plot_tempo_model

        ref = reference if isinstance(reference, Tempo) else designed_reference(model)
        return plot_tempo_model({"designed": ref, "learned": model}, path)
    return None


__all__ = [
    "DesignedComparison",
    "TensorChange",
    "compare",
    "designed_reference",
    "init_reference",
    "octave_comparison",
    "octave_energy",
    "octave_share",
    "plot_designed",
    "relative_change",
    "seeded_reference",
    "tempo_numbers",
]
