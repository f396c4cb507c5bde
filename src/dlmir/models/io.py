"""Models on disk: a folder with ``config.json`` (architecture, front end, version) and ``model.safetensors``.

Never pickled: weights are safetensors, everything else JSON. ``load("default")`` returns the
learned-chroma model shipped inside the package (``dlmir/assets/learned_chroma``).

A model carries its front end: :func:`set_frontend` attaches one (``model.frontend``, a
:class:`~dlmir.frontends.base.FrontEnd`, and ``model.frontend_config``, its config dict), :func:`save` records
its config in ``config.json`` under ``"frontend"``, and :func:`load` rebuilds it from there
(:func:`dlmir.frontends.presets.frontend_from_config`), so a loaded model computes exactly the features it
was trained on: ``model(model.frontend(y))``. The front end is held outside the module tree (it is not in
``state_dict()`` and ``.to()`` does not move it).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dlmir.errors import ParameterError
from dlmir.frontends.base import FrontEnd
from dlmir.frontends.presets import CHORD_CQT, frontend_from_config

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dlmir")
    except Exception:  # not installed as a distribution (e.g. run from a source tree)
        return "unknown"


SHIPPED: dict[str, str] = {
    "default": "learned_chroma",
    "chordnet": "chordnet",
    "tempo": "tempo",
    "instruments": "instruments",
    "transcriber": "transcriber",
}
"""Models shipped inside the package, by name: ``"default"`` (the learned chroma) and ``"chordnet"`` (the
:class:`~dlmir.models.chords.ChordNet` chord recogniser trained on rendered band arrangements); ``"instruments"`` is
the instrument recogniser of ``dlmir instrument`` (:mod:`dlmir.instruments`); ``"transcriber"`` is the
:class:`~dlmir.models.transcriber.Transcriber` of ``dlmir transcribe`` (:mod:`dlmir.transcription`)."""


def default_model_dir() -> Path:
    """Folder of the learned-chroma model shipped with the package."""
    return shipped_model_dir("default")


def shipped_model_dir(name: str) -> Path:
    """Folder of the shipped model ``name`` (a key of :data:`SHIPPED`)."""
    if name not in SHIPPED:
        raise ParameterError(f"no shipped model named {name!r}; shipped: {sorted(SHIPPED)}")
    return Path(str(resources.files("dlmir"))) / "assets" / SHIPPED[name]


def _model_dir(path: str | os.PathLike[str]) -> Path:
    """A model folder, or the folder of a shipped model's name (``"default"``, ``"chordnet"``)."""
    return shipped_model_dir(str(path)) if str(path) in SHIPPED else Path(path)


def set_frontend(model: nn.Module, frontend: FrontEnd | dict[str, Any]) -> nn.Module:
    """Attach the front end ``model`` reads its input from; returns ``model``.

    ``frontend`` is a :class:`~dlmir.frontends.base.FrontEnd` or its config dict (built with
    :func:`~dlmir.frontends.presets.frontend_from_config`). Sets ``model.frontend`` (kept out of the module
    tree: not saved with the weights, not moved by ``.to()``) and ``model.frontend_config``, which
    :func:`save` writes to ``config.json``.

    Raises
    ------
    ParameterError : the config is unknown, or the front end's ``n_bins`` / ``bins_per_octave`` / ``fmin``
        differ from the model's (its input would not be the features it expects).
    """
    fe = frontend if isinstance(frontend, FrontEnd) else frontend_from_config(frontend)
    mine = getattr(model, "config", {}) or {}
    diff = {k: (mine[k], fe.config[k]) for k in ("n_bins", "bins_per_octave") if k in mine and k in fe.config
            and mine[k] != fe.config[k]}  # fmt: skip
    if "fmin" in mine and "fmin" in fe.config and abs(float(mine["fmin"]) - float(fe.config["fmin"])) > 1e-6:
        diff["fmin"] = (mine["fmin"], fe.config["fmin"])
    if diff:
        raise ParameterError(
            f"front end {fe.config.get('frontend')} does not fit the {type(model).__name__} (model vs front end: "
            f"{diff}); build the model with the front end's n_bins, bins_per_octave and fmin"
        )
    model.frontend_config = dict(fe.config)  # type: ignore[assignment]
    model.__dict__["frontend"] = fe  # a plain attribute, not a submodule: keeps it out of state_dict()
    return model


def model_frontend(model: object, default: FrontEnd | None = None) -> FrontEnd:
    """The front end a model reads (``model.frontend``, from :func:`set_frontend` / :func:`load`); for a model
    without one (or a designed variant such as ``'designed'``): ``default``, else the chord CQT."""
    fe = getattr(model, "frontend", None) if not isinstance(model, str) else None
    if isinstance(fe, FrontEnd):
        return fe
    if default is not None:
        return default
    return frontend_from_config(CHORD_CQT)


def save(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    frontend: FrontEnd | dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to the folder ``path`` (created) as ``config.json`` + ``model.safetensors``.

    ``model`` must carry a ``config`` dict (as :class:`~dlmir.models.LearnedChroma` does).
    ``frontend`` (a front end or its config) records the features the model expects; default: the front end
    attached to the model (:func:`set_frontend`; training attaches its dataset's), else the chord CQT
    (:data:`~dlmir.frontends.presets.CHORD_CQT`). ``extra`` is stored under ``"extra"`` (training settings,
    scores, ...).
    """
    from safetensors.torch import save_file

    config = getattr(model, "config", None)
    if isinstance(model, FrontEnd) and isinstance(config, dict) and "model" not in config:
        # a learned front end (e.g. a Tempo cascade) reads audio itself: it is its own front end
        config = {"model": config["frontend"], **{k: v for k, v in config.items() if k != "frontend"}}
        frontend = model if frontend is None else frontend
    if not isinstance(config, dict) or "model" not in config:
        raise ParameterError(f"cannot save a {type(model).__name__}: it has no config dict naming its 'model' class")
    if frontend is None:
        frontend = getattr(model, "frontend_config", None) or CHORD_CQT
    fe_config = dict(frontend.config if isinstance(frontend, FrontEnd) else frontend)
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    designed: list[str] = []
    if isinstance(model, FrontEnd):
        # designed = initialised: tensors still at their designed values (a frozen DFT, mel filterbank, ...) are
        # rebuilt from the config on load instead of being stored (a learned Tempo: 34 KB instead of 18 MB)
        fresh = build(config).state_dict()
        designed = sorted(k for k, v in state.items() if k in fresh and torch.equal(fresh[k].to(v.dtype), v))
        state = {k: v for k, v in state.items() if k not in designed}
    tmp = folder / f".{WEIGHTS_NAME}.part"
    save_file(state, str(tmp))
    os.replace(tmp, folder / WEIGHTS_NAME)
    doc = {
        "model": config,
        "frontend": fe_config,
        "vocabulary": f"chords ({config['vocabulary']}, dlmir.chords.ChordVocabulary order)"
        if "vocabulary" in config
        else f"instruments ({len(config['classes'])}, the model's 'classes' order)"
        if "classes" in config
        else "tempi (BPM, dlmir.layers.resonator.bpm_grid order)"
        if "min_bpm" in config
        else "pitches (MIDI 21..108: frames, onsets, offsets rows)"
        if config.get("model") == "Transcriber"
        else "none (self-supervised pre-training: masked CQT reconstruction, dlmir.pretrain)"
        if config.get("model") == "MaskedCQT"
        else "pitch-class (12, C..B)",
        "dlmir_version": _version(),
        "extra": extra or {},
    }
    if designed:
        doc["designed"] = designed
    (folder / CONFIG_NAME).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return folder


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a saved model folder (or a shipped model's name, :data:`SHIPPED`) as a dict."""
    folder = _model_dir(path)
    file = folder / CONFIG_NAME
    if not file.exists():
        raise ParameterError(f"{folder}: not a saved model folder (no {CONFIG_NAME}); pass a RUN_DIR or 'default'")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{file}: not valid JSON ({exc})") from exc


def build(config: dict[str, Any]) -> nn.Module:
    """Construct an untrained model from the ``"model"`` section of a config."""
    from dlmir.frontends.tempo import Tempo
    from dlmir.models.chords import ChordCNN, ChordNet
    from dlmir.models.chroma import LearnedChroma
    from dlmir.models.fretboard import FretboardNet
    from dlmir.models.instruments import InstrumentCNN, InstrumentMLP
    from dlmir.models.transcriber import Transcriber
    from dlmir.pretrain.objective import MaskedCQT

    kinds = {"LearnedChroma": LearnedChroma, "FretboardNet": FretboardNet, "ChordNet": ChordNet, "ChordCNN": ChordCNN,
             "InstrumentMLP": InstrumentMLP, "InstrumentCNN": InstrumentCNN, "Tempo": Tempo,
             "Transcriber": Transcriber, "MaskedCQT": MaskedCQT}  # fmt: skip
    params = dict(config)
    kind = params.pop("model", None)
    if kind not in kinds:
        raise ParameterError(f"unknown model class {kind!r} in config; known: {sorted(kinds)}")
    return kinds[kind](**params)


def load(path: str | os.PathLike[str] = "default", *, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a model folder written by :func:`save`, or a shipped model by name (:data:`SHIPPED`: ``"default"``, the
    learned chroma; ``"chordnet"``, the chord recogniser), in eval mode.

    The returned model carries the front end of its ``config.json`` (``model.frontend``, see
    :func:`set_frontend`; the chord CQT for configs without one).
    """
    from safetensors.torch import load_file

    folder = _model_dir(path)
    config = read_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.exists():
        raise ParameterError(f"{folder}: no {WEIGHTS_NAME}; the model folder is incomplete")
    model = build(config["model"])
    state = load_file(str(weights), device=str(map_location))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in set(config.get("designed", []))]  # rebuilt from the config
    if missing or unexpected:
        raise ParameterError(f"{weights}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    if not isinstance(model, FrontEnd):  # a learned front end (Tempo) is its own front end
        set_frontend(model, config.get("frontend", CHORD_CQT))
    return model.eval()


__all__ = [
    "SHIPPED",
    "build",
    "default_model_dir",
    "load",
    "shipped_model_dir",
    "model_frontend",
    "read_config",
    "save",
    "set_frontend",
]
