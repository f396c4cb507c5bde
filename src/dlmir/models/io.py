"""Models on disk: a folder with ``config.json`` (architecture, front end, version) and ``model.safetensors``.

Never pickled: weights are safetensors, everything else JSON. ``load("default")`` returns the
learned-chroma model shipped inside the package (``dlmir/assets/learned_chroma``).
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

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
DEFAULT_FRONTEND: dict[str, Any] = {
    "frontend": "CQT",
    "sr": 22050,
    "hop_length": 512,
    "fmin": 32.70319566257483,
    "n_bins": 192,
    "bins_per_octave": 24,
}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dlmir")
    except Exception:  # not installed as a distribution (e.g. run from a source tree)
        return "unknown"


def default_model_dir() -> Path:
    """Folder of the learned-chroma model shipped with the package."""
    return Path(str(resources.files("dlmir"))) / "assets" / "learned_chroma"


def save(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    frontend: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` to the folder ``path`` (created) as ``config.json`` + ``model.safetensors``.

    ``model`` must carry a ``config`` dict (as :class:`~dlmir.models.LearnedChroma` does).
    ``frontend`` records the feature parameters the model expects (default: the chord CQT);
    ``extra`` is stored under ``"extra"`` (training settings, scores, ...).
    """
    from safetensors.torch import save_file

    config = getattr(model, "config", None)
    if not isinstance(config, dict) or "model" not in config:
        raise ParameterError(f"cannot save a {type(model).__name__}: it has no config dict naming its 'model' class")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / f".{WEIGHTS_NAME}.part"
    save_file(state, str(tmp))
    os.replace(tmp, folder / WEIGHTS_NAME)
    doc = {
        "model": config,
        "frontend": frontend or DEFAULT_FRONTEND,
        "vocabulary": "pitch-class (12, C..B)",
        "dlmir_version": _version(),
        "extra": extra or {},
    }
    (folder / CONFIG_NAME).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return folder


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a saved model folder (or ``"default"``) as a dict."""
    folder = default_model_dir() if str(path) == "default" else Path(path)
    file = folder / CONFIG_NAME
    if not file.exists():
        raise ParameterError(f"{folder}: not a saved model folder (no {CONFIG_NAME}); pass a RUN_DIR or 'default'")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{file}: not valid JSON ({exc})") from exc


def build(config: dict[str, Any]) -> nn.Module:
    """Construct an untrained model from the ``"model"`` section of a config."""
    from dlmir.models.chroma import LearnedChroma

    kinds = {"LearnedChroma": LearnedChroma}
    params = dict(config)
    kind = params.pop("model", None)
    if kind not in kinds:
        raise ParameterError(f"unknown model class {kind!r} in config; known: {sorted(kinds)}")
    return kinds[kind](**params)


def load(path: str | os.PathLike[str] = "default", *, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a model folder written by :func:`save` (or ``"default"``: the shipped learned chroma), in eval mode."""
    from safetensors.torch import load_file

    folder = default_model_dir() if str(path) == "default" else Path(path)
    config = read_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.exists():
        raise ParameterError(f"{folder}: no {WEIGHTS_NAME}; the model folder is incomplete")
    model = build(config["model"])
    state = load_file(str(weights), device=str(map_location))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ParameterError(f"{weights}: weights do not match the config (missing {missing}, unexpected {unexpected})")
    model.frontend_config = config.get("frontend", DEFAULT_FRONTEND)  # type: ignore[attr-defined]
    return model.eval()


__all__ = ["build", "default_model_dir", "load", "read_config", "save"]
